package parser

import (
	"errors"
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
		checkLexerAgainstPostgres(t, sql)
	})
}

// checkLexerAgainstPostgres compares token boundaries with PostgreSQL's own scanner
// for input both accept.
func checkLexerAgainstPostgres(t *testing.T, sql string) {
	toks, err := lex(sql, false)
	if err != nil {
		return
	}
	res, err := pg_query.Scan(sql)
	if err != nil {
		return
	}
	var pg []*pg_query.ScanToken
	for _, x := range res.Tokens {
		if x.Token != pg_query.Token_SQL_COMMENT && x.Token != pg_query.Token_C_COMMENT {
			pg = append(pg, x)
		}
	}
	toks = toks[:len(toks)-1]
	for _, tk := range toks {
		if tk.kind == tkString && sql[tk.pos]|0x20 == 'n' {
			return // PostgreSQL scans N'x' as the keyword NCHAR and a string
		}
	}
	if len(pg) != len(toks) {
		t.Fatalf("lex(%q): %d tokens, PostgreSQL %d", sql, len(toks), len(pg))
	}
	for i, x := range pg {
		if int(x.Start) != toks[i].pos || int(x.End) != toks[i].end {
			t.Fatalf("lex(%q): token %d at [%d,%d), PostgreSQL [%d,%d)", sql, i, toks[i].pos, toks[i].end, x.Start, x.End)
		}
	}
}

func TestLexerMatchesPostgres(t *testing.T) {
	for _, sql := range []string{
		`SELECT a, "B""c", 'x''y', E'\'', $$a$$, $t$b$t$, $1, 1.5e3, .5, 1_000, 0x1f, a::int, a<>b, a=-1, @-1, x->>'y'`,
		"SELECT 'a'\n'b' -- c\n/* d /* e */ */ , ÄÖ, foo$bar, 1..2, a !~~* b, x := 1, f(a => 1), arr[1:2]",
		`SELECT U&"d\0061t", U&'\00e9', B'101', X'ff', N'n'`,
	} {
		checkLexerAgainstPostgres(t, sql)
	}
}
