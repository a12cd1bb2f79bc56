package pgquery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// The differential test: every query runQ runs through the translator is
// also run on a real PostgreSQL (the testbed's) holding the same rows in
// tables shaped like the resolver's relations, and the two answers must
// agree: column names, result types, parameter types and every value as
// text. What PostgreSQL cannot reproduce (its clock, the session's user and
// version) is listed in oracleSkip; deliberate differences are in
// docs/sql-reference.md, "Differences from PostgreSQL".

func TestMain(m *testing.M) { testbed.Main(m) }

// oracles maps an openDB database to its PostgreSQL twin; byTest maps a
// test to its twin (one per test, dropped when it ends).
var oracles, byTest sync.Map // *sql.DB or *testing.T -> *pgx.Conn

// oracleSkip lists the queries of the pgquery tests that are not compared
// with PostgreSQL, and why: their answers depend on the session, not on
// the translation. TestOracleSkipsAreUsed keeps the list honest.
var oracleSkip = map[string]string{
	`SELECT version()`: "the version string is flowgate's",
	`SELECT current_setting('server_version_num')::int/100`:                                                                            "flowgate reports 16, the testbed runs its own version",
	`SELECT current_user, session_user, user, current_schema, current_schema(), current_database(), current_catalog, pg_backend_pid()`: "user, database and backend pid are the session's",
	`SELECT "user", user FROM (SELECT user_name AS "user" FROM audit_log WHERE id = 3) s`:                                              "bare user is the session's user",
}

// oracleNumericByValue lists queries whose numeric results PostgreSQL
// prints with a display scale that depends on the values (7/2.0 is
// 3.5000000000000000, avg of integers 2.5000000000000000): flowgate
// computes numeric as double precision and prints the shortest form. For
// these, numeric columns are compared by value (docs/sql-reference.md,
// "Differences from PostgreSQL").
var oracleNumericByValue = map[string]string{
	`SELECT 1::int, 'a'::text, 2.50, 3000000000, true, 7/2, 7/2.0, 1 = 1, NULL, 'x' || 1 || true`:                                                                                                  "7/2.0",
	`SELECT count(*), count(comment), count(DISTINCT type), sum(id), avg(id), min(created_at), max(name), bool_and(id > 0), bool_or(id > 3), string_agg(name, ',' ORDER BY name) FROM datasources`: "avg(id)",
}

// numericValue is a numeric's text without trailing fraction zeros.
func numericValue(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// pgTypeName is the PostgreSQL name of a relation column's type.
func pgTypeName(t *testing.T, oid uint32) string {
	typ, ok := pgtype.NewMap().TypeForOID(oid)
	if !ok {
		t.Fatalf("no PostgreSQL type for OID %d", oid)
	}
	return typ.Name
}

// openOracle creates the PostgreSQL twin of the SQLite database openDB
// made: schema dataflow with one table per relation (the resolver's
// columns and types), the same rows (testRows runs on both), and a clock
// stopped at testNow. PostgreSQL's now() is replaced through the search
// path (dataflow comes before pg_catalog); current_timestamp and
// current_date cannot be, so pgText rewrites them to now().
func openOracle(t *testing.T, db *sql.DB) {
	t.Helper()
	oracles.Store(db, oracleFor(t))
	t.Cleanup(func() { oracles.Delete(db) })
}

// oracleFor returns t's PostgreSQL twin, made on first use.
func oracleFor(t *testing.T) *pgx.Conn {
	t.Helper()
	if c, ok := byTest.Load(t); ok {
		return c.(*pgx.Conn)
	}
	pg := testbed.Postgres(t)
	c := pg.Connect(t, pg.NewDatabase(t, "pgquery"))
	for _, s := range oracleSetup(t) {
		if _, err := c.Exec(context.Background(), s); err != nil {
			t.Fatalf("oracle: %s: %v", s, err)
		}
	}
	byTest.Store(t, c)
	t.Cleanup(func() { byTest.Delete(t) })
	return c
}

// oracleSetup is what makes an empty PostgreSQL database the twin.
func oracleSetup(t *testing.T) []string {
	stmts := []string{"CREATE SCHEMA dataflow"}
	var rels []string
	for n := range resolver {
		rels = append(rels, n)
	}
	sort.Strings(rels)
	for _, n := range rels {
		var cols []string
		for _, col := range resolver[n].Columns {
			cols = append(cols, pgx.Identifier{col.Name}.Sanitize()+" "+pgTypeName(t, col.TypeOID))
		}
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE dataflow.%s (%s)", pgx.Identifier{n}.Sanitize(), strings.Join(cols, ", ")))
	}
	stmts = append(stmts,
		fmt.Sprintf(`CREATE FUNCTION dataflow.now() RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$ SELECT timestamptz '%s' $$`,
			testNow.Format("2006-01-02 15:04:05.999999Z07:00")),
		"SET search_path = dataflow, pg_catalog",
		"SET TimeZone = 'UTC'",
		testRows)
	return stmts
}

var clockWords = regexp.MustCompile(`(?i)\b(current_timestamp|current_date)\b`)

// pgText is what PostgreSQL runs for query: its clock words read now().
func pgText(query string) (string, bool) {
	out := clockWords.ReplaceAllStringFunc(query, func(w string) string {
		if strings.EqualFold(w, "current_date") {
			return "now()::date"
		}
		return "now()"
	})
	return out, out != query
}

// hasOrderBy reports whether the outermost SELECT sorts its rows.
func hasOrderBy(t *testing.T, query string) bool {
	tree, err := pg_query.Parse(query)
	if err != nil {
		t.Fatalf("parse %q: %v", query, err)
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	return sel != nil && len(sel.GetSortClause()) > 0
}

// compareWithPostgres runs query on the PostgreSQL twin of db and fails
// the test where its answer differs from got.
func compareWithPostgres(t *testing.T, db *sql.DB, query string, declared []uint32, params []string, got result) {
	t.Helper()
	if why, ok := oracleSkip[query]; ok {
		t.Logf("not compared with PostgreSQL (%s): %s", why, query)
		return
	}
	v, ok := oracles.Load(db)
	if !ok {
		t.Fatalf("no PostgreSQL twin for this database: open it with openDB")
	}
	c := v.(*pgx.Conn)
	ctx := context.Background()
	text, rewritten := pgText(query)
	desc, err := c.PgConn().Prepare(ctx, "", text, declared)
	if err != nil {
		t.Errorf("PostgreSQL refuses %q: %v", text, err)
		return
	}
	var raw [][]byte
	for _, p := range params {
		if p == "NULL" {
			raw = append(raw, nil)
		} else {
			raw = append(raw, []byte(p))
		}
	}
	res := c.PgConn().ExecPrepared(ctx, "", raw, nil, nil).Read()
	if res.Err != nil {
		t.Errorf("PostgreSQL fails %q: %v", text, res.Err)
		return
	}
	var names, wantNames []string
	var oids, wantOIDs []uint32
	for _, f := range desc.Fields {
		wantNames = append(wantNames, f.Name)
		wantOIDs = append(wantOIDs, f.DataTypeOID)
	}
	for _, col := range got.cols {
		names = append(names, col.Name)
		oids = append(oids, col.TypeOID)
	}
	if rewritten {
		// now() stands in for current_timestamp / current_date.
		for i, n := range wantNames {
			if i < len(names) && n == "now" && (names[i] == "current_timestamp" || names[i] == "current_date") {
				wantNames[i] = names[i]
			}
		}
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("%s\ncolumn names %q, PostgreSQL %q", query, names, wantNames)
	}
	if !slices.Equal(oids, wantOIDs) {
		t.Errorf("%s\ncolumn types %v, PostgreSQL %v", query, typeNames(oids), typeNames(wantOIDs))
	}
	if pOIDs := got.q.ParamOIDs; !(len(pOIDs) == 0 && len(desc.ParamOIDs) == 0) && !slices.Equal(pOIDs, desc.ParamOIDs) {
		t.Errorf("%s\nparameter types %v, PostgreSQL %v", query, typeNames(pOIDs), typeNames(desc.ParamOIDs))
	}
	var want [][]string
	for _, row := range res.Rows {
		var r []string
		for _, v := range row {
			if v == nil {
				r = append(r, "NULL")
			} else {
				r = append(r, string(v))
			}
		}
		want = append(want, r)
	}
	gotRows := got.rows
	if _, ok := oracleNumericByValue[query]; ok {
		gotRows, want = slices.Clone(gotRows), slices.Clone(want)
		for _, rows := range [][][]string{gotRows, want} {
			for i, row := range rows {
				row = slices.Clone(row)
				for j := range row {
					if j < len(oids) && oids[j] == pgtype.NumericOID {
						row[j] = numericValue(row[j])
					}
				}
				rows[i] = row
			}
		}
	}
	if !hasOrderBy(t, query) {
		gotRows, want = sortedRows(gotRows), sortedRows(want)
	}
	if len(gotRows) != 0 || len(want) != 0 {
		if !reflect.DeepEqual(gotRows, want) {
			t.Errorf("%s\nrows       %q\nPostgreSQL %q", query, gotRows, want)
		}
	}
}

func sortedRows(rows [][]string) [][]string {
	out := slices.Clone(rows)
	sort.Slice(out, func(i, j int) bool { return strings.Join(out[i], "\x00") < strings.Join(out[j], "\x00") })
	return out
}

func typeNames(oids []uint32) []string {
	m := pgtype.NewMap()
	var out []string
	for _, o := range oids {
		if typ, ok := m.TypeForOID(o); ok {
			out = append(out, typ.Name)
		} else {
			out = append(out, fmt.Sprint(o))
		}
	}
	return out
}

// Every skipped query is one the tests run.
func TestOracleSkipsAreUsed(t *testing.T) {
	src, err := os.ReadFile("pgquery_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for q := range oracleSkip {
		if !strings.Contains(string(src), q) {
			t.Errorf("oracleSkip names a query no test runs: %s", q)
		}
	}
	for q := range oracleErrDiff {
		if !strings.Contains(string(src), q) {
			t.Errorf("oracleErrDiff names a query no test runs: %s", q)
		}
	}
	for q := range oracleNumericByValue {
		if !strings.Contains(string(src), q) {
			t.Errorf("oracleNumericByValue names a query no test runs: %s", q)
		}
	}
}

// oracleErrDiff lists queries the translator refuses on purpose although
// PostgreSQL runs them (or refuses them for another reason), and why.
var oracleErrDiff = map[string]string{
	`SELECT pg_sleep(1)`:                    "refused: a catalog query must not hold the catalog",
	`SELECT * INTO newtab FROM datasources`: "0A000 (not supported); a read-only PostgreSQL says 25006",
	`SELECT * FROM datasources FOR UPDATE`:  "0A000 (not supported); a read-only PostgreSQL says 25006",
	`CREATE TABLE x (a int)`:                "0A000 (not supported); a read-only PostgreSQL says 25006",
	`SELECT sum(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM datasources`: "window frame clauses are not supported",
	`SELECT 'x'::regoper`:                    "types flowgate does not support in queries (regoper, bytea, uuid, inet, ...) are refused with 0A000",
	`SELECT name ~ '(a)\1' FROM datasources`: "regular expressions are RE2: no back-references (0A000)",
}

// compareErrWithPostgres checks a query the translator refuses with pe
// against PostgreSQL: it must refuse it too, with the same SQLSTATE, unless
// oracleErrDiff says why not.
func compareErrWithPostgres(t *testing.T, query string, pe *pgconn.PgError) {
	t.Helper()
	c := oracleFor(t)
	ctx := context.Background()
	text, _ := pgText(query)
	_, err := c.Exec(ctx, "BEGIN READ ONLY")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Exec(ctx, "ROLLBACK")
	_, err = c.Exec(ctx, text)
	var want *pgconn.PgError
	switch {
	case errors.As(err, &want):
	case err != nil:
		t.Fatalf("PostgreSQL: %s: %v", text, err)
	}
	why, listed := oracleErrDiff[query]
	if listed {
		t.Logf("%s: flowgate %s, PostgreSQL %v: %s", query, pe.Code, err, why)
		return
	}
	if want == nil {
		t.Errorf("%s\nflowgate refuses it (%s %s), PostgreSQL runs it", query, pe.Code, pe.Message)
		return
	}
	if want.Code != pe.Code {
		t.Errorf("%s\nSQLSTATE %s (%s), PostgreSQL %s (%s)", query, pe.Code, pe.Message, want.Code, want.Message)
	}
	if pe.Position != 0 && want.Position != 0 && pe.Position != want.Position {
		t.Errorf("%s\nerror position %d, PostgreSQL %d (%s)", query, pe.Position, want.Position, want.Message)
	}
}
