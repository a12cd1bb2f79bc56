package pgcatalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/catalog/pgquery"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

const schema = `
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL);
INSERT INTO users VALUES (1, 'admin', 'admin'), (2, 'ann', 'readonly');
CREATE TABLE jobs (name TEXT, mode TEXT, created_at TEXT);
INSERT INTO jobs VALUES ('nightly', 'BATCH', '2024-05-01 10:00:00.000000'), ('hourly', 'SCAN', '2024-05-01 11:00:00.000000');
CREATE VIEW dataflow_jobs AS SELECT name, mode, created_at FROM jobs;
CREATE VIEW dataflow_users AS SELECT name, role FROM users;
`

var env = pgquery.Env{
	CurrentUser: "admin", Database: "flowgate", Version: "PostgreSQL 16.0",
	Setting: func(n string) (string, bool) {
		if n == "search_path" {
			return "dataflow, pg_catalog", true
		}
		return "", false
	},
	Settings: func() []pgquery.Setting {
		return []pgquery.Setting{{Name: "search_path", Value: "dataflow, pg_catalog"}, {Name: "server_version", Value: "16.0", ReadOnly: true}}
	},
}

type fixture struct {
	db  *sql.DB
	cat *Catalog
}

// newFixture builds the catalog the way the executor does: from the
// dataflow views, each with its OID and typed columns.
func newFixture(t *testing.T, extra ...View) *fixture {
	t.Helper()
	db, err := sql.Open(pgquery.DriverName, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	defs, err := ViewDefinitions(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	views := []View{
		{Rel: &pgquery.Relation{Schema: "dataflow", Name: "jobs", SQLiteName: "dataflow_jobs", OID: 20001, Columns: []pgquery.Column{
			{Name: "name", TypeOID: pgtype.TextOID, TypeMod: -1}, {Name: "mode", TypeOID: pgtype.TextOID, TypeMod: -1},
			{Name: "created_at", TypeOID: pgtype.TimestamptzOID, TypeMod: -1}}}, Definition: defs["dataflow_jobs"]},
		{Rel: &pgquery.Relation{Schema: "dataflow", Name: "users", SQLiteName: "dataflow_users", OID: 20002, Columns: []pgquery.Column{
			{Name: "name", TypeOID: pgtype.TextOID, TypeMod: -1}, {Name: "role", TypeOID: pgtype.TextOID, TypeMod: -1}}}, Definition: defs["dataflow_users"]},
	}
	cat, err := New(append(views, extra...))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, cat: cat}
}

// query translates and runs sql, returning the query and rows as text
// ("NULL" for NULL).
func (f *fixture) query(t *testing.T, sql string, args ...any) (*pgquery.Query, [][]string) {
	t.Helper()
	q, err := pgquery.TranslateSQL(sql, f.cat, env, nil)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var params [][]byte
	for _, a := range args {
		params = append(params, []byte(fmt.Sprint(a)))
	}
	vals, err := q.Args(params)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.db.Query(q.SQL, vals...)
	if err != nil {
		t.Fatalf("%s: %v\nSQLite: %s", sql, pgquery.SQLiteError(err), q.SQL)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		raw := make([]any, len(q.Columns))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(raw))
		for i, v := range raw {
			b, err := q.Format(i, v)
			if err != nil {
				t.Fatal(err)
			}
			if b == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(b)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, pgquery.SQLiteError(err))
	}
	return q, out
}

func (f *fixture) one(t *testing.T, sql string, args ...any) string {
	t.Helper()
	_, rows := f.query(t, sql, args...)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("%s: want one value, got %v", sql, rows)
	}
	return rows[0][0]
}

func flat(rows [][]string) string {
	var parts []string
	for _, r := range rows {
		parts = append(parts, strings.Join(r, "|"))
	}
	return strings.Join(parts, "; ")
}

// A view added by a later migration shows up in every catalog relation
// with no code for it, and RowDescription points at its pg_class row.
func TestNewViewAppearsEverywhere(t *testing.T) {
	runs := View{Rel: &pgquery.Relation{Schema: "dataflow", Name: "runs", SQLiteName: "dataflow_jobs", OID: 20003, Columns: []pgquery.Column{
		{Name: "run_id", TypeOID: pgtype.TextOID, TypeMod: -1}, {Name: "rows_read", TypeOID: pgtype.Int8OID, TypeMod: -1},
		{Name: "started_at", TypeOID: pgtype.TimestamptzOID, TypeMod: -1}}}}
	f := newFixture(t, runs)
	checks := map[string]string{
		`SELECT c.oid, c.relkind, c.relnatts FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'dataflow' AND c.relname = 'runs'`: "20003|v|3",
		`SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'dataflow.runs'::regclass ORDER BY attnum`:                         "run_id|text; rows_read|bigint; started_at|timestamp with time zone",
		`SELECT table_type FROM information_schema.tables WHERE table_schema = 'dataflow' AND table_name = 'runs'`:                                              "VIEW",
		`SELECT column_name, data_type, ordinal_position FROM information_schema.columns WHERE table_name = 'runs' ORDER BY ordinal_position`:                   "run_id|text|1; rows_read|bigint|2; started_at|timestamp with time zone|3",
		`SELECT viewname, viewowner FROM pg_views WHERE schemaname = 'dataflow' ORDER BY 1`:                                                                     "jobs|admin; runs|admin; users|admin",
		`SELECT pg_table_is_visible('runs'::regclass), 'runs'::regclass, 'runs'::regclass::oid`:                                                                 "t|runs|20003",
		`SELECT 'pg_class'::regclass::oid, 'pg_catalog.pg_type'::regclass::oid, 'information_schema.tables'::regclass`:                                          "1259|1247|information_schema.tables",
	}
	for q, want := range checks {
		if _, rows := f.query(t, q); flat(rows) != want {
			t.Errorf("%s\n got %q\nwant %q", q, flat(rows), want)
		}
	}
	q, err := pgquery.TranslateSQL(`SELECT rows_read, run_id FROM dataflow.runs`, f.cat, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := q.Columns[0]; c.TableOID != 20003 || c.AttrNum != 2 {
		t.Errorf("RowDescription %+v, want table 20003 attnum 2", c)
	}
	if c := q.Columns[1]; c.TableOID != 20003 || c.AttrNum != 1 {
		t.Errorf("RowDescription %+v, want table 20003 attnum 1", c)
	}
	if got := f.one(t, `SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE c.oid = $1`, 20003); got != "3" {
		t.Errorf("attributes of runs: %s", got)
	}
}

func TestCatalogFunctionsAndSyntax(t *testing.T) {
	f := newFixture(t)
	for q, want := range map[string]string{
		`SELECT pg_get_userbyid(10), pg_get_userbyid(4242)`:                                                                                                                      "admin|unknown (OID=4242)",
		`SELECT format_type(1043, 24), format_type(1700, 655366), format_type(1009, -1), format_type(18, NULL)`:                                                                  `character varying(20)|numeric(10,2)|text[]|"char"`,
		`SELECT quote_ident('runs'), quote_ident('Runs'), quote_ident('select'), quote_ident('a"b')`:                                                                             `runs|"Runs"|"select"|"a""b"`,
		`SELECT format('%s.%I = %L', 'x', 'Y', 'it''s'), format('%2$s %1$s', 'a', 'b')`:                                                                                          `x."Y" = 'it''s'|b a`,
		`SELECT current_schemas(true), (current_schemas(false))[1], array_length(current_schemas(true), 1)`:                                                                      "{dataflow,pg_catalog}|dataflow|2",
		`SELECT string_to_array('a,b,,c', ','), array_to_string(ARRAY['x', NULL, 'z'], '-', '*')`:                                                                                "{a,b,\"\",c}|x-*-z",
		`SELECT ARRAY['a', 'b c', NULL], '{t,f}'::bool[], '{1,2}'::int4[] || 3`:                                                                                                  `{a,"b c",NULL}|{t,f}|{1,2,3}`,
		`SELECT 2 = ANY('{1,2}'::int4[]), 5 = ANY('{1,NULL}'::int4[]), 'x' <> ALL(ARRAY['a','b'])`:                                                                               "t|NULL|t",
		`SELECT 'pg_class' ~ '^pg_', 'PG' ~* '^pg', 'abc' !~ 'b', 'x' OPERATOR(pg_catalog.~) '^(x)$'`:                                                                            "t|t|f|t",
		`SELECT relname FROM pg_class WHERE relname ~ '^pg_(clas|nam)' COLLATE pg_catalog.default ORDER BY 1`:                                                                    "pg_class; pg_namespace",
		`SELECT has_table_privilege('dataflow.jobs', 'SELECT'), has_table_privilege(current_user, 'dataflow.jobs', 'INSERT, UPDATE'), has_schema_privilege('dataflow', 'USAGE')`: "t|f|t",
		`SELECT obj_description('dataflow'::regnamespace, 'pg_namespace') IS NOT NULL, col_description('dataflow.jobs'::regclass, 1)`:                                            "t|NULL",
		`SELECT 'int4'::regtype, 'character varying'::regtype::oid, 'pg_catalog.array_in'::regproc, pg_typeof(1.5)`:                                                              "integer|1043|array_in|numeric",
		`SELECT name, row_number() OVER (ORDER BY name) FROM dataflow.jobs ORDER BY 2`:                                                                                           "hourly|1; nightly|2",
		`SELECT g, g * 2 FROM generate_series(1, 3) AS g`:                                                                                                                        "1|2; 2|4; 3|6",
		`SELECT s.r FROM generate_series(5, 1, -2) AS s(r)`:                                                                                                                      "5; 3; 1",
		`SELECT u, o FROM unnest(ARRAY['p', 'q']) WITH ORDINALITY AS t(u, o)`:                                                                                                    "p|1; q|2",
		`SELECT unnest('{3,4}'::int2vector), generate_subscripts('{3,4}'::int2vector, 1)`:                                                                                        "3|0; 4|1",
		`SELECT (information_schema._pg_expandarray('{7,8}'::int2vector)).n, information_schema._pg_expandarray('{7,8}'::int2vector)`:                                            "1|(7,1); 2|(8,2)",
		`SELECT (s.k).x FROM (SELECT information_schema._pg_expandarray('{7,8}'::int2vector) AS k) s WHERE (s.k).n = 2`:                                                          "8",
		`SELECT count(*) > 400, count(*) FILTER (WHERE catcode = 'R') > 50 FROM pg_get_keywords()`:                                                                               "t|t",
		`SELECT array_agg(name ORDER BY name) FROM dataflow.jobs`:                                                                                                                "{hourly,nightly}",
		`SELECT ARRAY(SELECT nspname FROM pg_namespace ORDER BY 1)`:                                                                                                              "{dataflow,information_schema,pg_catalog}",
		`SELECT current_setting('search_path'), current_setting(name) FROM pg_settings WHERE name = 'server_version'`:                                                            "dataflow, pg_catalog|16.0",
		`SELECT datname, pg_encoding_to_char(encoding) FROM pg_database`:                                                                                                         "flowgate|UTF8",
		`SELECT rolname, rolsuper FROM pg_roles ORDER BY oid`:                                                                                                                    "admin|t; ann|f",
		`SELECT 5 & 4, 1 | 2, 1 << 3`:                                           "4|3|8",
		`SELECT pg_get_viewdef('dataflow.users'::regclass, true)`:               "SELECT name, role FROM users",
		`SELECT json_build_object('a', 1, 'b', true)`:                           `{"a":1,"b":true}`,
		`SELECT name FROM pg_settings WHERE name LIKE lower('SEARCH\_P%')`:      "search_path",
		`SELECT count(*) FROM pg_stat_user_tables`:                              "0",
		`SELECT nspname, tableoid FROM pg_namespace WHERE nspname = 'dataflow'`: "dataflow|2615",
	} {
		if _, rows := f.query(t, q); flat(rows) != want {
			t.Errorf("%s\n got %q\nwant %q", q, flat(rows), want)
		}
	}
	if got := f.one(t, `SELECT $1::regclass::oid`, "dataflow.jobs"); got != "20001" {
		t.Errorf("text parameter as regclass: %s", got)
	}
}

// Errors keep PostgreSQL's SQLSTATEs; what flowgate cannot answer is
// 0A000, never a wrong answer.
func TestCatalogErrors(t *testing.T) {
	f := newFixture(t)
	for q, code := range map[string]string{
		`SELECT * FROM pg_stat_activity`:         "0A000",
		`SELECT * FROM pg_catalog.pg_locks`:      "0A000",
		`SELECT 'nope'::regclass`:                "42P01",
		`SELECT 'nope'::regtype`:                 "42704",
		`SELECT relname ~ '(a)\1' FROM pg_class`: "0A000",
		`SELECT x FROM generate_series('2024-01-01'::timestamptz, '2024-01-02'::timestamptz, '1 hour') x`: "0A000",
		`SELECT (ARRAY[1,2,3])[1:2]`: "0A000",
		`SELECT sum(relnatts) OVER (ORDER BY oid ROWS 2 PRECEDING) FROM pg_class`: "0A000",
		`SELECT unnest(ARRAY[1]), unnest(ARRAY[2,3])`:                             "0A000",
		`SELECT relname FROM pg_class WHERE unnest(ARRAY[1]) = 1`:                 "0A000",
		`SELECT relname::regtype FROM pg_class`:                                   "0A000",
		`SELECT 'x'::regoper`:                                                     "0A000",
		`SELECT count(unnest(ARRAY[1,2]))`:                                        "0A000",
		`SELECT unnest(ARRAY[1,2]), count(*) FROM pg_class`:                       "0A000",
	} {
		_, err := pgquery.TranslateSQL(q, f.cat, env, nil)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Errorf("%s: want %s, got %v", q, code, err)
		}
	}
	// Run-time failures come back as PgErrors too.
	q, err := pgquery.TranslateSQL(`SELECT $1::text::regclass`, f.cat, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := q.Args([][]byte{[]byte("dataflow.nope")})
	var s any
	err = pgquery.SQLiteError(f.db.QueryRow(q.SQL, vals...).Scan(&s))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P01" {
		t.Errorf("runtime regclass: %v", err)
	}
}
