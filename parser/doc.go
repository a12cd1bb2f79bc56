// Package parser turns SQL text into statements for the executor.
//
// Split cuts a simple-query message into statements; Parse parses one. Statements
// starting with flowgate's keywords (see rules in parse.go) go through our own
// recursive-descent grammar over a PostgreSQL-compatible lexer; everything else goes
// to PostgreSQL's grammar via pg_query and is kept only if flowgate answers it (Std).
// Every error is a *pgconn.PgError; positions are 1-based characters of the text
// given to Parse (ShiftPosition makes them relative to the whole message). Redact
// masks secrets for logs.
//
// Adding a statement: write `func parseX(p *parser) (Statement, error)` using the
// helpers in grammar.go (expectKeyword, optionalKeyword, identifier, qualifiedName,
// stringLiteral, value, list, optionList, withList, identList), define its node in
// ast.go, and set parse in its rules entry.
package parser
