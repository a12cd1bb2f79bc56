// Package pgquery answers read-only PostgreSQL SELECTs from the SQLite
// catalog. It checks a pg_query_go parse tree, translates it to SQLite SQL
// and reports PostgreSQL result and parameter types, so clients and BI tools
// see the catalog as if it were PostgreSQL.
//
// Storage conventions the catalog follows (the translation relies on them):
//   - timestamps are TEXT 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, always with
//     six fraction digits, so that text order is time order;
//   - dates are TEXT 'YYYY-MM-DD'; booleans INTEGER 0/1; json TEXT;
//   - text columns use the default BINARY collation (= is case-sensitive).
package pgquery

import (
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// Relation is a queryable relation (a SQLite view) with PostgreSQL typing.
type Relation struct {
	Schema, Name string
	SQLiteName   string // name of the SQLite view or table
	// SQL, when set, is a SQLite SELECT that produces the relation
	// (Columns in order) instead of SQLiteName; Dynamic builds it per
	// session (pg_settings).
	SQL     string
	Dynamic func(Env) string
	OID     uint32 // reported as TableOID of its columns
	Columns []Column
}

// Column is one column of a Relation, typed with a PostgreSQL type OID.
type Column struct {
	Name    string
	TypeOID uint32
	TypeMod int32 // -1 when none
}

// Resolver finds relations. Schema "" means the search path
// (dataflow, then pg_catalog).
type Resolver interface {
	Relation(schema, name string) (*Relation, bool)
}

// RelationLister may be implemented by a Resolver to name the relations in
// the hint of a "relation does not exist" error.
type RelationLister interface {
	Relations() []string
}

// Env holds the session facts that functions such as current_user and
// current_setting() report.
type Env struct {
	CurrentUser, Database, ApplicationName string
	// Setting returns a configuration parameter for current_setting().
	Setting func(name string) (string, bool)
	// Version is the full text of version().
	Version string
	// BackendPID is reported by pg_backend_pid().
	BackendPID int32
	// Settings lists the session's settings for pg_settings.
	Settings func() []Setting
}

// Setting is one row of pg_settings.
type Setting struct {
	Name, Value, Description string
	ReadOnly                 bool
}

// ResultColumn describes one output column.
type ResultColumn struct {
	Name     string
	TypeOID  uint32
	TypeMod  int32
	TableOID uint32 // set when the column is a plain column of a relation
	AttrNum  int16  // 1-based position in that relation, else 0

	dscale int16 // numeric display scale plus one when no typmod gives one (expr.dscale)
}

// Query is a translated statement, ready to run on the catalog.
type Query struct {
	// SQL is SQLite text; ?1..?n are the client's $1..$n, higher numbers
	// are hidden parameters Args fills in (statement time, LIKE patterns).
	SQL       string
	Columns   []ResultColumn
	ParamOIDs []uint32

	hidden []hiddenParam
}

// Translate checks and translates one parsed statement. src is the text the
// parse tree's locations point into; error positions are 1-based character
// offsets into src. declared holds the client's parameter types (0 = not
// given) and may be shorter than the number of parameters used.
func Translate(src string, stmt *pg_query.RawStmt, r Resolver, env Env, declared []uint32) (*Query, error) {
	t := newTranslator(src, r, env, declared)
	return t.translateTop(stmt)
}

// TranslateSQL parses sql, which must hold exactly one statement, and
// translates it.
func TranslateSQL(sql string, r Resolver, env Env, declared []uint32) (*Query, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, syntaxError(err)
	}
	stmts := tree.GetStmts()
	if len(stmts) != 1 {
		return nil, pgErr("0A000", 0, "flowgate expects exactly one statement here, got %d", len(stmts))
	}
	return Translate(sql, stmts[0], r, env, declared)
}

// syntaxError turns a pg_query parse error into 42601 with its position.
func syntaxError(err error) error {
	e := pgErr("42601", 0, "%s", err.Error())
	var pe *parser.Error
	if errors.As(err, &pe) {
		e.Message = pe.Message
		// libpg_query already reports a 1-based character position.
		e.Position = int32(pe.Cursorpos)
	}
	return e
}

// charPos converts a 0-based byte offset into a 1-based character position.
func charPos(src string, byteOff int) int {
	if byteOff < 0 {
		return 0
	}
	if byteOff > len(src) {
		byteOff = len(src)
	}
	return len([]rune(src[:byteOff])) + 1
}

// quoteIdent quotes a SQLite identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteString renders a SQLite string literal.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
