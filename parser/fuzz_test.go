package parser

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/.

func FuzzSplit(f *testing.F) {
	f.Add("SELECT 1; SELECT ';' -- ;\n; /* ; */")
	f.Fuzz(func(t *testing.T, sql string) {
		for _, p := range Split(sql) {
			if p.Offset < 0 || p.Offset+len(p.Text) > len(sql) || sql[p.Offset:p.Offset+len(p.Text)] != p.Text {
				t.Fatalf("Split(%q): piece %+v is not a slice of the input", sql, p)
			}
			if p.Text == "" {
				t.Fatalf("Split(%q): empty piece", sql)
			}
		}
		_ = Redact(sql, func(string) bool { return true })
		_ = Classify(sql)
	})
}

func FuzzParse(f *testing.F) {
	f.Add("CREATE DATASOURCE a TYPE postgres OPTIONS (host 'h') COMMENT 'c'")
	f.Fuzz(func(t *testing.T, sql string) {
		checkLexerAgainstPostgres(t, sql)
		st, err := Parse(sql)
		if err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): %T %v is not a *pgconn.PgError", sql, err, err)
			}
			if pe.Position < 0 || int(pe.Position) > utf8.RuneCountInString(sql)+1 {
				t.Fatalf("Parse(%q): position %d out of range", sql, pe.Position)
			}
			if pe.Code == "" || pe.Message == "" {
				t.Fatalf("Parse(%q): incomplete error %#v", sql, pe)
			}
			return
		}
		if st.Text() != sql || st.Kind() == "" {
			t.Fatalf("Parse(%q): text %q kind %q", sql, st.Text(), st.Kind())
		}
	})
}

// pgRejects reports why PostgreSQL refuses sql before its grammar does:
// its scanner fails, or the parser fails with something other than a
// syntax error, or the server refuses the bytes (not UTF-8). Unicode escapes (U&'...', U&"...") are decoded after
// scanning, by the parser's token filter as the grammar reaches each
// token, so a syntax error before one hides a bad escape: each is also
// parsed on its own.
func pgRejects(sql string) (string, bool) {
	if !utf8.ValidString(sql) {
		return "server: invalid byte sequence for encoding \"UTF8\" (checked on every query message)", true
	}
	res, err := pg_query.Scan(sql)
	if err != nil {
		return "scanner: " + err.Error(), true
	}
	if _, err := pg_query.Parse(sql); err != nil && !strings.HasPrefix(err.Error(), "syntax error") {
		return "parser: " + err.Error(), true
	}
	toks := res.Tokens
	for i, x := range toks {
		if x.Token != pg_query.Token_USCONST && x.Token != pg_query.Token_UIDENT {
			continue
		}
		text := sql[x.Start:x.End]
		if i+2 < len(toks) && toks[i+1].Token == pg_query.Token_UESCAPE && toks[i+2].Token == pg_query.Token_SCONST {
			text += " UESCAPE " + sql[toks[i+2].Start:toks[i+2].End]
		}
		if _, err := pg_query.Parse("SELECT " + text); err != nil && !strings.HasPrefix(err.Error(), "syntax error") {
			return "parser: " + err.Error(), true
		}
	}
	return "", false
}

// paramJunk reports the one known difference of versions: PostgreSQL 15
// and 16 (and our lexer) refuse an identifier glued to a parameter ($1a:
// "trailing junk after parameter"); the scanner of pg_query_go (PostgreSQL
// 17) returns PARAM and IDENT.
func paramJunk(sql string, lexErr error) bool {
	var pe *pgconn.PgError
	if !errors.As(lexErr, &pe) || !strings.HasPrefix(pe.Message, "trailing junk after parameter") {
		return false
	}
	res, err := pg_query.Scan(sql)
	if err != nil {
		return false
	}
	for i := 0; i+1 < len(res.Tokens); i++ {
		x, y := res.Tokens[i], res.Tokens[i+1]
		if x.Token == pg_query.Token_PARAM && y.Start == x.End && pgKind(y) == tkIdent {
			return true
		}
	}
	return false
}

// pgKind is the class of our tokens a PostgreSQL token belongs to.
func pgKind(x *pg_query.ScanToken) tokKind {
	switch x.Token {
	case pg_query.Token_IDENT, pg_query.Token_UIDENT:
		return tkIdent
	case pg_query.Token_SCONST, pg_query.Token_USCONST:
		return tkString
	case pg_query.Token_BCONST, pg_query.Token_XCONST:
		return tkBits
	case pg_query.Token_ICONST, pg_query.Token_FCONST:
		return tkNumber
	case pg_query.Token_PARAM:
		return tkParam
	}
	if x.KeywordKind != pg_query.KeywordKind_NO_KEYWORD {
		return tkIdent // our grammar reserves nothing: keywords are identifiers
	}
	return tkOp
}

// checkLexerAgainstPostgres compares our tokens (boundaries and class) with
// PostgreSQL's own scanner for every input. A lexer error fails unless
// PostgreSQL rejects the input too, and the other way round.
func checkLexerAgainstPostgres(t *testing.T, sql string) {
	t.Helper()
	// PostgreSQL's scanner reads a C string, and no protocol message can
	// carry a NUL inside a query: compare what comes before one.
	if i := strings.IndexByte(sql, 0); i >= 0 {
		sql = sql[:i]
	}
	toks, lexErr := lex(sql, false)
	why, rejects := pgRejects(sql)
	if lexErr != nil {
		if !rejects && !paramJunk(sql, lexErr) {
			t.Fatalf("lex(%q): %v, but PostgreSQL accepts the input", sql, lexErr)
		}
		return
	}
	res, err := pg_query.Scan(sql)
	if err != nil {
		t.Fatalf("lex(%q) accepts the input, PostgreSQL's %s", sql, why)
	}
	var pg []*pg_query.ScanToken
	for i := 0; i < len(res.Tokens); i++ {
		x := res.Tokens[i]
		if x.Token == pg_query.Token_SQL_COMMENT || x.Token == pg_query.Token_C_COMMENT {
			continue
		}
		// N'x' is the keyword NCHAR (the one letter) and a string to
		// PostgreSQL's scanner, one national string constant to ours.
		if x.Token == pg_query.Token_NCHAR && x.End == x.Start+1 && i+1 < len(res.Tokens) &&
			res.Tokens[i+1].Token == pg_query.Token_SCONST && res.Tokens[i+1].Start == x.End {
			x = &pg_query.ScanToken{Start: x.Start, End: res.Tokens[i+1].End, Token: pg_query.Token_SCONST}
			i++
		}
		pg = append(pg, x)
	}
	toks = toks[:len(toks)-1] // EOF
	if len(pg) != len(toks) {
		t.Fatalf("lex(%q): %d tokens, PostgreSQL %d", sql, len(toks), len(pg))
	}
	for i, x := range pg {
		if int(x.Start) != toks[i].pos || int(x.End) != toks[i].end {
			t.Fatalf("lex(%q): token %d at [%d,%d), PostgreSQL [%d,%d)", sql, i, toks[i].pos, toks[i].end, x.Start, x.End)
		}
		kind := toks[i].kind
		if kind == tkJunk {
			kind = tkOp // a byte PostgreSQL returns as itself
		}
		if want := pgKind(x); kind != want {
			t.Fatalf("lex(%q): token %d %q is kind %d, PostgreSQL's %s is kind %d", sql, i, sql[x.Start:x.End], kind, x.Token, want)
		}
	}
}

func TestLexerMatchesPostgres(t *testing.T) {
	for _, sql := range []string{
		`SELECT a, "B""c", 'x''y', E'\'', $$a$$, $t$b$t$, $1, 1.5e3, .5, 1_000, 0x1f, a::int, a<>b, a=-1, @-1, x->>'y'`,
		"SELECT 'a'\n'b' -- c\n/* d /* e */ */ , ÄÖ, foo$bar, 1..2, a !~~* b, x := 1, f(a => 1), arr[1:2]",
		`SELECT U&"d\0061t", U&'\00e9', B'101', X'ff', N'n', n'x', nchar 'y'`,
		`SELECT U&'d!0061t' UESCAPE '!', E'\xZZ', B'12'`,
		// Both refuse these.
		`SELECT 'unterminated`,
		`SELECT U&'\00'`,
		`SELECT "unterminated`,
		`SELECT /* unterminated`,
		`SELECT $1a`, // see paramJunk
		// Found by FuzzParse once every input was compared.
		`SELECT B'''', X''''`,           // no doubled quote inside B'' and X''
		`SELECT $1$2`,                   // two parameters, no junk
		`SELECT 0o78, 0b12, 1_0$, 1e5$`, // junk: "0", then an identifier
		`SELECT 1e+5$, 0x1f + 1`,
		`SELECT E'\0'`, // an escape makes no NUL
		`SELECT 1 ` + strings.Repeat("!", 64) + ` 1`,
		`SELECT 0"0"U&'\'`, // a bad escape after a syntax error
	} {
		checkLexerAgainstPostgres(t, sql)
	}
}
