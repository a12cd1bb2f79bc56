package parser

import (
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// rule maps leading keywords to an extension statement and its parse function.
type rule struct {
	words []string // leading keywords, lower case
	kind  string   // Kind() of the statement
	// parse is called with the parser positioned after words.
	parse func(p *parser) (Statement, error)
}

// rules is the dispatch table of extension statements (FEATURES.md sections 1-5).
var rules = []rule{
	// Section 1: users.
	{kw("create user"), "CREATE USER", parseCreateUser},
	{kw("alter user"), "ALTER USER", parseAlterUser},
	{kw("drop user"), "DROP USER", parseDropUser},
	// Section 2: data sources.
	{kw("create datasource"), "CREATE DATASOURCE", parseCreateDatasource},
	{kw("alter datasource"), "ALTER DATASOURCE", parseAlterDatasource},
	{kw("drop datasource"), "DROP DATASOURCE", parseDropDatasource},
	{kw("restore datasource"), "RESTORE DATASOURCE", parseRestoreDatasource},
	{kw("test datasource"), "TEST DATASOURCE", parseTestDatasource},
	// Section 3: table models.
	{kw("import tables"), "IMPORT TABLES", parseImportTables},
	{kw("refresh tables"), "REFRESH TABLES", parseRefreshTables},
	{kw("create table model"), "CREATE TABLE MODEL", parseCreateTableModel},
	{kw("alter table model"), "ALTER TABLE MODEL", parseAlterTableModel},
	{kw("drop table model"), "DROP TABLE MODEL", parseDropTableModel},
	{kw("associate table"), "ASSOCIATE TABLE", parseAssociateTable},
	{kw("dissociate table"), "DISSOCIATE TABLE", parseDissociateTable},
	// Section 4: DDL tasks.
	{kw("create ddl task"), "CREATE DDL TASK", parseCreateDDLTask},
	{kw("run ddl task"), "RUN DDL TASK", parseRunDDLTask},
	{kw("alter ddl task"), "ALTER DDL TASK", parseAlterDDLTask},
	{kw("drop ddl task"), "DROP DDL TASK", parseDropDDLTask},
	// Section 5: sync jobs.
	{kw("create sync job"), "CREATE SYNC JOB", parseCreateSyncJob},
	{kw("alter sync job"), "ALTER SYNC JOB", parseAlterSyncJob},
	{kw("drop sync job"), "DROP SYNC JOB", parseDropSyncJob},
	{kw("run sync job"), "RUN SYNC JOB", parseRunSyncJob},
	{kw("stop sync job"), "STOP SYNC JOB", parseStopSyncJob},
	{kw("restart sync job"), "RESTART SYNC JOB", parseRestartSyncJob},
	{kw("reset sync job"), "RESET SYNC JOB", parseResetSyncJob},
	{kw("pause sync job"), "PAUSE SYNC JOB", parsePauseSyncJob},
	{kw("resume sync job"), "RESUME SYNC JOB", parseResumeSyncJob},
	{kw("retry run"), "RETRY RUN", parseRetryRun},
	{kw("clean source data"), "CLEAN SOURCE DATA", parseCleanSourceData},
	{kw("clean export files"), "CLEAN EXPORT FILES", parseCleanExportFiles},
}

func kw(s string) []string { return strings.Fields(s) }

// sharedFirstWords start both PostgreSQL and extension statements; any other first
// word of a rule belongs to flowgate alone.
var sharedFirstWords = map[string]bool{"create": true, "alter": true, "drop": true, "reset": true}

// matchRule finds the rule whose words start toks, longest first. With none, it
// reports whether the first word is flowgate's alone (owned).
func matchRule(toks []token) (r *rule, owned bool) {
	for k := range rules {
		c := &rules[k]
		ok := len(toks) > len(c.words)
		for n := 0; ok && n < len(c.words); n++ {
			ok = isKeyword(toks[n], c.words[n])
		}
		if ok && (r == nil || len(c.words) > len(r.words)) {
			r = c
		}
		if len(toks) > 0 && isKeyword(toks[0], c.words[0]) && !sharedFirstWords[c.words[0]] {
			owned = true
		}
	}
	return r, owned
}

// Parse parses one statement. Extension statements go through our grammar, the rest
// through pg_query; see Std for the standard statements accepted. A text with only
// whitespace and comments yields *Empty. Every error is a *pgconn.PgError whose
// Position is a 1-based character position in text.
func Parse(text string) (Statement, error) {
	if !utf8.ValidString(text) || strings.IndexByte(text, 0) >= 0 {
		return nil, invalidEncoding(text)
	}
	pieces := Split(text)
	if len(pieces) == 0 {
		return &Empty{Source{text}}, nil
	}
	if len(pieces) > 1 {
		return nil, pgErr(CodeSyntaxError, "cannot insert multiple commands into a prepared statement", 0)
	}
	toks, lexErr := lex(text, false)
	if lexErr != nil {
		// Lex the head leniently so a statement with a bad literal is still routed.
		toks, _ = lex(text, true)
	}
	r, owned := matchRule(toks)
	if r == nil && !owned {
		return parseStd(text)
	}
	if lexErr != nil {
		return nil, lexErr
	}
	p := &parser{text: text, toks: toks}
	if r == nil {
		// An owned first word without a known continuation: if PostgreSQL knows the
		// statement (IMPORT FOREIGN SCHEMA, REFRESH MATERIALIZED VIEW) say it's
		// unsupported, else point at the word that doesn't fit.
		if _, err := parseStd(text); !isSyntaxError(err) {
			return nil, err
		}
		return nil, p.errAfterPrefix()
	}
	p.i = len(r.words)
	st, err := r.parse(p)
	if err == nil {
		err = p.expectEnd()
	}
	if err != nil {
		// CREATE TABLE model (...), DROP TABLE model: a PostgreSQL statement about a
		// table called "model" gets PostgreSQL's answer, not our syntax error.
		if len(r.words) == 3 && r.words[1] == "table" && r.words[2] == "model" && isSyntaxError(err) {
			if std, stdErr := parseStd(text); !isSyntaxError(stdErr) {
				return std, stdErr
			}
		}
		return nil, err
	}
	st.(interface{ setSQL(string) }).setSQL(text)
	return st, nil
}

// errAfterPrefix reports a syntax error at the first token that continues no rule,
// hinting the continuations that would.
func (p *parser) errAfterPrefix() error {
	depth := 0
	for {
		var next []string
		seen := map[string]bool{}
		for _, r := range rules {
			ok := len(r.words) > depth
			for n := 0; ok && n < depth; n++ {
				ok = isKeyword(p.toks[n], r.words[n])
			}
			if ok && !seen[r.words[depth]] {
				seen[r.words[depth]] = true
				next = append(next, strings.ToUpper(r.words[depth]))
			}
		}
		if len(next) == 0 || depth >= len(p.toks)-1 || !seen[p.toks[depth].val] || p.toks[depth].quoted {
			p.i = depth
			return p.errHere("expected " + strings.Join(next, " or "))
		}
		depth++
	}
}

func isSyntaxError(err error) bool {
	pe, ok := err.(*pgconn.PgError)
	return ok && pe.Code == CodeSyntaxError
}

func invalidEncoding(text string) error {
	off := strings.IndexByte(text, 0)
	for i := 0; i < len(text) && (off < 0 || i < off); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && size == 1 {
			off = i
			break
		}
		i += size
	}
	if off < 0 {
		off = 0
	}
	return pgErr(CodeInvalidEncoding, "invalid byte sequence for encoding \"UTF8\"", OffsetToPosition(text, off))
}

// Classify names the statement in text as Kind would, without fully parsing it
// (for metrics and logs when Parse fails): the rule's kind for extension
// statements, otherwise the upper-cased first word ("" for no tokens).
func Classify(text string) string {
	toks, _ := lex(text, true)
	if r, _ := matchRule(toks); r != nil {
		return r.kind
	}
	if len(toks) == 0 || toks[0].kind != tkIdent {
		return ""
	}
	w := strings.ToUpper(toks[0].val)
	switch w {
	case "WITH", "VALUES", "TABLE":
		return "SELECT"
	case "END":
		return "COMMIT"
	case "ABORT":
		return "ROLLBACK"
	}
	return w
}
