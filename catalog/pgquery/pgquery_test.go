package pgquery

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	_ "github.com/mattn/go-sqlite3"
)

// testTables is the SQLite side: tables and the dataflow_* views the
// resolver names.
const testTables = `
CREATE TABLE datasources (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL,
    options JSON NOT NULL, comment TEXT, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
CREATE VIEW dataflow_datasources AS
SELECT id, name, type, status, options, comment, created_at, updated_at FROM datasources;
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY, at TIMESTAMPTZ NOT NULL, user_name TEXT NOT NULL, statement TEXT NOT NULL,
    sqlstate TEXT NOT NULL, duration_ms FLOAT8 NOT NULL);
CREATE VIEW dataflow_audit_log AS
SELECT id, at, user_name, statement, sqlstate, duration_ms FROM audit_log;
CREATE TABLE users (name TEXT, role TEXT, has_password INTEGER, created_at TIMESTAMPTZ);
CREATE VIEW dataflow_users AS SELECT name, role, has_password, created_at FROM users;
`

// testRows fills both the SQLite tables and their PostgreSQL twins
// (oracle_test.go): it is valid in both dialects.
const testRows = `
INSERT INTO datasources VALUES
 (1, 'pg1', 'postgres', 'normal', '{"host":"db1.local","port":5432,"ssl":true}', 'Main DB', '2024-01-01 10:00:00.000000', '2024-01-01 10:00:00.000000'),
 (2, 'pg2', 'postgres', 'recycled', '{"host":"db2.local","ssl":false}', NULL, '2024-02-15 08:30:00.500000', '2024-02-16 08:30:00.000000'),
 (3, 'my1', 'mysql', 'normal', '{"host":"MySQL.local","port":3306}', 'Orders', '2024-03-01 00:00:00.000000', '2024-03-01 00:00:00.000000'),
 (4, 's3a', 's3', 'normal', '{"bucket":"b"}', NULL, '2024-04-30 23:59:59.999999', '2024-04-30 23:59:59.999999');
INSERT INTO audit_log VALUES
 (1, '2024-05-01 11:59:00.000000', 'admin', 'SELECT 1', '00000', 1.5),
 (2, '2024-05-01 11:30:10.250000', 'admin', 'select * from x', '42P01', 0.25),
 (3, '2024-05-01 11:30:50.000000', 'bob', 'CREATE DATASOURCE pg1', '00000', 120),
 (4, '2024-05-01 10:00:00.000000', 'bob', 'DROP DATASOURCE x', '00000', 3),
 (5, '2024-04-30 12:00:00.000000', 'admin', 'TEST DATASOURCE pg1', '08006', 1e20);
INSERT INTO users VALUES ('admin', 'admin', TRUE, '2024-01-01 00:00:00.000000'), ('bob', 'readonly', FALSE, '2024-02-01 00:00:00.000000');
`

const (
	oidDatasources = 16401
	oidAudit       = 16402
	oidUsers       = 16403
)

type testResolver map[string]*Relation

func (r testResolver) Relation(schema, name string) (*Relation, bool) {
	if schema != "" && schema != "dataflow" {
		return nil, false
	}
	rel, ok := r[name]
	return rel, ok
}

func (r testResolver) Relations() []string {
	var out []string
	for k := range r {
		out = append(out, "dataflow."+k)
	}
	return out
}

var resolver = testResolver{
	"datasources": {Schema: "dataflow", Name: "datasources", SQLiteName: "dataflow_datasources", OID: oidDatasources, Columns: []Column{
		{"id", pgtype.Int8OID, -1}, {"name", pgtype.TextOID, -1}, {"type", pgtype.TextOID, -1},
		{"status", pgtype.TextOID, -1}, {"options", pgtype.JSONOID, -1}, {"comment", pgtype.TextOID, -1},
		{"created_at", pgtype.TimestamptzOID, -1}, {"updated_at", pgtype.TimestamptzOID, -1}}},
	"audit_log": {Schema: "dataflow", Name: "audit_log", SQLiteName: "dataflow_audit_log", OID: oidAudit, Columns: []Column{
		{"id", pgtype.Int8OID, -1}, {"at", pgtype.TimestamptzOID, -1}, {"user_name", pgtype.TextOID, -1},
		{"statement", pgtype.TextOID, -1}, {"sqlstate", pgtype.TextOID, -1}, {"duration_ms", pgtype.Float8OID, -1}}},
	"users": {Schema: "dataflow", Name: "users", SQLiteName: "dataflow_users", OID: oidUsers, Columns: []Column{
		{"name", pgtype.TextOID, -1}, {"role", pgtype.TextOID, -1}, {"has_password", pgtype.BoolOID, -1},
		{"created_at", pgtype.TimestamptzOID, -1}}},
}

var testEnv = Env{
	CurrentUser: "admin", Database: "flowgate", ApplicationName: "test",
	Version: "PostgreSQL 16.0 (flowgate 0.1.0) on x86_64-pc-linux-gnu, compiled by Go",
	Setting: func(name string) (string, bool) {
		v, ok := map[string]string{"server_version_num": "160000", "server_version": "16.0", "timezone": "UTC"}[name]
		return v, ok
	},
	BackendPID: 4242,
}

var testNow = time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	nowFunc = func() time.Time { return testNow }
	t.Cleanup(func() { nowFunc = time.Now })
	db, err := sql.Open(DriverName, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one in-memory database
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(testTables + testRows); err != nil {
		t.Fatal(err)
	}
	openOracle(t, db)
	return db
}

type result struct {
	q    *Query
	cols []ResultColumn
	rows [][]string // "NULL" for NULL
}

func (r result) names() []string {
	var out []string
	for _, c := range r.cols {
		out = append(out, c.Name)
	}
	return out
}

func (r result) oids() []uint32 {
	var out []uint32
	for _, c := range r.cols {
		out = append(out, c.TypeOID)
	}
	return out
}

func runQ(t *testing.T, db *sql.DB, query string, declared []uint32, params ...string) result {
	t.Helper()
	q, err := TranslateSQL(query, resolver, testEnv, declared)
	if err != nil {
		t.Fatalf("translate %q: %v", query, err)
	}
	var raw [][]byte
	for _, p := range params {
		if p == "NULL" {
			raw = append(raw, nil)
		} else {
			raw = append(raw, []byte(p))
		}
	}
	args, err := q.Args(raw)
	if err != nil {
		t.Fatalf("args %q: %v", query, err)
	}
	res := result{q: q, cols: q.Columns}
	err = Run(context.Background(), db, q, args, func(row [][]byte) error {
		var r []string
		for _, v := range row {
			if v == nil {
				r = append(r, "NULL")
			} else {
				r = append(r, string(v))
			}
		}
		res.rows = append(res.rows, r)
		return nil
	})
	if err != nil {
		t.Fatalf("run %q\nSQL: %s\n%v", query, q.SQL, err)
	}
	compareWithPostgres(t, db, query, declared, params, res)
	return res
}

func rows(rs ...[]string) [][]string { return rs }
func row(vs ...string) []string      { return vs }

func check(t *testing.T, got result, names []string, oids []uint32, want [][]string) {
	t.Helper()
	if names != nil && !reflect.DeepEqual(got.names(), names) {
		t.Errorf("names = %q, want %q\nSQL: %s", got.names(), names, got.q.SQL)
	}
	if oids != nil && !reflect.DeepEqual(got.oids(), oids) {
		t.Errorf("oids = %v, want %v\nSQL: %s", got.oids(), oids, got.q.SQL)
	}
	if !reflect.DeepEqual(got.rows, want) {
		t.Errorf("rows = %q\nwant   %q\nSQL: %s", got.rows, want, got.q.SQL)
	}
}

func expectErr(t *testing.T, query, code string, pos int32, msgPart string) *pgconn.PgError {
	t.Helper()
	_, err := TranslateSQL(query, resolver, testEnv, nil)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("%q: want PgError %s, got %v", query, code, err)
	}
	if pe.Code != code {
		t.Errorf("%q: code %s (%s), want %s", query, pe.Code, pe.Message, code)
	}
	if pos >= 0 && pe.Position != pos {
		t.Errorf("%q: position %d, want %d (%s)", query, pe.Position, pos, pe.Message)
	}
	if !strings.Contains(pe.Message, msgPart) {
		t.Errorf("%q: message %q lacks %q", query, pe.Message, msgPart)
	}
	compareErrWithPostgres(t, query, pe)
	return pe
}

const (
	i4   = pgtype.Int4OID
	i8   = pgtype.Int8OID
	txt  = pgtype.TextOID
	f8   = pgtype.Float8OID
	num  = pgtype.NumericOID
	tstz = pgtype.TimestamptzOID
	bl   = pgtype.BoolOID
	js   = pgtype.JSONOID
	nm   = pgtype.NameOID
)

func TestGroupByOrdinal(t *testing.T) {
	db := openDB(t)
	r := runQ(t, db, `SELECT type, count(*) FROM dataflow.datasources GROUP BY type ORDER BY 2 DESC, 1`, nil)
	check(t, r, []string{"type", "count"}, []uint32{txt, i8},
		rows(row("postgres", "2"), row("mysql", "1"), row("s3", "1")))
	if c := r.cols[0]; c.TableOID != oidDatasources || c.AttrNum != 3 {
		t.Errorf("type column origin = %d/%d", c.TableOID, c.AttrNum)
	}
	if c := r.cols[1]; c.TableOID != 0 || c.AttrNum != 0 {
		t.Errorf("count origin = %d/%d", c.TableOID, c.AttrNum)
	}
}

func TestStarRecentAudit(t *testing.T) {
	db := openDB(t)
	r := runQ(t, db, `SELECT * FROM dataflow.audit_log WHERE at > now() - interval '1 hour' ORDER BY at DESC LIMIT 5`, nil)
	check(t, r, []string{"id", "at", "user_name", "statement", "sqlstate", "duration_ms"},
		[]uint32{i8, tstz, txt, txt, txt, f8},
		rows(
			row("1", "2024-05-01 11:59:00+00", "admin", "SELECT 1", "00000", "1.5"),
			row("3", "2024-05-01 11:30:50+00", "bob", "CREATE DATASOURCE pg1", "00000", "120"),
			row("2", "2024-05-01 11:30:10.25+00", "admin", "select * from x", "42P01", "0.25"),
		))
	for i, c := range r.cols {
		if c.TableOID != oidAudit || c.AttrNum != int16(i+1) {
			t.Errorf("col %d origin %d/%d", i, c.TableOID, c.AttrNum)
		}
	}
	// other interval spellings
	for _, q := range []string{
		`SELECT id FROM audit_log WHERE at >= current_timestamp - '1 hour'::interval ORDER BY id`,
		`SELECT id FROM audit_log WHERE at + interval '60 minutes' > now() ORDER BY id`,
		`SELECT id FROM audit_log WHERE at > now() - interval '0.5 hours' - interval '30 mins' ORDER BY id`,
		`SELECT id FROM audit_log WHERE now() - at < interval '1 hour' ORDER BY id`,
		`SELECT id FROM audit_log WHERE at > now() - interval '1 day' + interval '23 hours' ORDER BY id`,
	} {
		check(t, runQ(t, db, q, nil), nil, nil, rows(row("1"), row("2"), row("3")))
	}
	check(t, runQ(t, db, `SELECT count(*) FROM audit_log WHERE at > now() - interval '1 day 1 hour'`, nil), nil, nil, rows(row("5")))
	check(t, runQ(t, db, `SELECT count(*) FROM audit_log WHERE at > now() - interval '1 day'`, nil), nil, nil, rows(row("4")))
	check(t, runQ(t, db, `SELECT count(*) FROM audit_log WHERE at > now() - '7 days'::interval`, nil), nil, nil, rows(row("5")))
}

func TestParams(t *testing.T) {
	db := openDB(t)
	r := runQ(t, db, `SELECT name FROM dataflow.datasources WHERE type = $1 ORDER BY name`, nil, "postgres")
	check(t, r, []string{"name"}, []uint32{txt}, rows(row("pg1"), row("pg2")))
	if !reflect.DeepEqual(r.q.ParamOIDs, []uint32{txt}) {
		t.Errorf("ParamOIDs = %v", r.q.ParamOIDs)
	}
	r = runQ(t, db, `SELECT id FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2`, nil, "3", "1")
	check(t, r, nil, nil, rows(row("4")))
	if !reflect.DeepEqual(r.q.ParamOIDs, []uint32{i8, i8}) {
		t.Errorf("ParamOIDs = %v", r.q.ParamOIDs)
	}
	// parameter on the left, cast, IN, BETWEEN, timestamps
	r = runQ(t, db, `SELECT id FROM audit_log WHERE $1 < id AND id IN ($2, $3) AND at BETWEEN $4 AND $5 AND $6::int = 1`,
		nil, "1", "2", "3", "2024-05-01", "2024-05-01T11:31:00Z", "1")
	check(t, r, nil, nil, rows(row("2"), row("3")))
	if !reflect.DeepEqual(r.q.ParamOIDs, []uint32{i8, i8, i8, tstz, tstz, i4}) {
		t.Errorf("ParamOIDs = %v", r.q.ParamOIDs)
	}
	// declared types win; unused declared parameter keeps its type
	q, err := TranslateSQL(`SELECT $1 AS x`, resolver, testEnv, []uint32{i8, bl})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q.ParamOIDs, []uint32{i8, bl}) || q.Columns[0].TypeOID != i8 {
		t.Errorf("ParamOIDs = %v cols %v", q.ParamOIDs, q.Columns)
	}
	if _, err := q.Args([][]byte{[]byte("abc"), []byte("t")}); err == nil || err.(*pgconn.PgError).Code != "22P02" {
		t.Errorf("bad int8 param: %v", err)
	}
	// untyped with no context -> text
	r = runQ(t, db, `SELECT $1`, nil, "hello")
	check(t, r, []string{"?column?"}, []uint32{txt}, rows(row("hello")))
	// bool parameter compared to a bool column
	r = runQ(t, db, `SELECT name FROM users WHERE has_password = $1`, nil, "true")
	check(t, r, nil, nil, rows(row("admin")))
	if r.q.ParamOIDs[0] != bl {
		t.Errorf("bool param OID %v", r.q.ParamOIDs)
	}
	// LIKE with a parameter stays case-sensitive
	r = runQ(t, db, `SELECT name FROM datasources WHERE name LIKE $1 ORDER BY 1`, nil, "PG%")
	check(t, r, nil, nil, nil)
	r = runQ(t, db, `SELECT name FROM datasources WHERE name LIKE $1 ORDER BY 1`, nil, "pg_")
	check(t, r, nil, nil, rows(row("pg1"), row("pg2")))
	r = runQ(t, db, `SELECT name FROM datasources WHERE name ILIKE $1 ORDER BY 1`, nil, "PG%")
	check(t, r, nil, nil, rows(row("pg1"), row("pg2")))
}

func TestDateTruncGrouping(t *testing.T) {
	db := openDB(t)
	r := runQ(t, db, `SELECT date_trunc('minute', at) AS minute, count(*) FROM dataflow.audit_log
		WHERE at > now() - interval '1 hour' GROUP BY 1 ORDER BY 1`, nil)
	check(t, r, []string{"minute", "count"}, []uint32{tstz, i8},
		rows(row("2024-05-01 11:30:00+00", "2"), row("2024-05-01 11:59:00+00", "1")))
	r = runQ(t, db, `SELECT date_trunc('hour', at), count(*) FROM audit_log GROUP BY date_trunc('hour', at) ORDER BY date_trunc('hour', at) DESC`, nil)
	check(t, r, []string{"date_trunc", "count"}, nil,
		rows(row("2024-05-01 11:00:00+00", "3"), row("2024-05-01 10:00:00+00", "1"), row("2024-04-30 12:00:00+00", "1")))
	r = runQ(t, db, `SELECT date_trunc('day', created_at), date_trunc('month', created_at), date_trunc('year', created_at), date_trunc('week', created_at)
		FROM datasources WHERE id = 2`, nil)
	check(t, r, nil, nil, rows(row("2024-02-15 00:00:00+00", "2024-02-01 00:00:00+00", "2024-01-01 00:00:00+00", "2024-02-12 00:00:00+00")))
	r = runQ(t, db, `SELECT extract(epoch from created_at), extract(year from created_at), date_part('month', created_at), extract(second from created_at) FROM datasources WHERE id = 2`, nil)
	check(t, r, []string{"extract", "extract", "date_part", "extract"}, []uint32{num, num, f8, num},
		rows(row("1707985800.500000", "2024", "2", "0.500000")))
	r = runQ(t, db, `SELECT extract(milliseconds from created_at), extract(microseconds from created_at), extract(epoch from created_at::date), extract(second from updated_at) FROM datasources WHERE id = 4`, nil)
	check(t, r, nil, []uint32{num, num, num, num}, rows(row("59999.999", "59999999", "1714435200", "59.999999")))
}

func TestLikeCase(t *testing.T) {
	db := openDB(t)
	q := func(where string) [][]string {
		return runQ(t, db, `SELECT name FROM datasources WHERE `+where+` ORDER BY name`, nil).rows
	}
	if got := q(`comment LIKE 'main%'`); got != nil {
		t.Errorf("LIKE must be case-sensitive: %v", got)
	}
	if got := q(`comment LIKE 'Main%'`); !reflect.DeepEqual(got, rows(row("pg1"))) {
		t.Errorf("LIKE: %v", got)
	}
	if got := q(`comment ILIKE 'main%'`); !reflect.DeepEqual(got, rows(row("pg1"))) {
		t.Errorf("ILIKE: %v", got)
	}
	if got := q(`comment NOT ILIKE 'main%'`); !reflect.DeepEqual(got, rows(row("my1"))) {
		t.Errorf("NOT ILIKE: %v", got)
	}
	if got := q(`comment ~~ '_rders'`); !reflect.DeepEqual(got, rows(row("my1"))) {
		t.Errorf("~~: %v", got)
	}
	if got := q(`name NOT LIKE 'pg%'`); !reflect.DeepEqual(got, rows(row("my1"), row("s3a"))) {
		t.Errorf("NOT LIKE: %v", got)
	}
	// GLOB metacharacters in a LIKE pattern are literals; escapes work
	if got := q(`'a*b' LIKE 'a*%' AND 'a[b' LIKE 'a[%' AND '50%' LIKE '50\%' AND NOT ('505' LIKE '50\%') AND name = 'pg1'`); !reflect.DeepEqual(got, rows(row("pg1"))) {
		t.Errorf("escapes: %v", got)
	}
	if got := q(`name = 'PG1'`); got != nil {
		t.Errorf("= must be case-sensitive: %v", got)
	}
}

func TestJSON(t *testing.T) {
	db := openDB(t)
	r := runQ(t, db, `SELECT name, options->>'host' AS host, options->'port', options->>'ssl' FROM dataflow.datasources ORDER BY id`, nil)
	check(t, r, []string{"name", "host", "?column?", "?column?"}, []uint32{txt, txt, js, txt},
		rows(row("pg1", "db1.local", "5432", "true"), row("pg2", "db2.local", "NULL", "false"),
			row("my1", "MySQL.local", "3306", "NULL"), row("s3a", "NULL", "NULL", "NULL")))
	r = runQ(t, db, `SELECT name FROM datasources WHERE options->>'host' ILIKE 'mysql%'`, nil)
	check(t, r, nil, nil, rows(row("my1")))
	r = runQ(t, db, `SELECT options FROM datasources WHERE id = 4`, nil)
	check(t, r, nil, []uint32{js}, rows(row(`{"bucket":"b"}`)))
	// text || json is text (PostgreSQL's textanycat); json with json is not.
	r = runQ(t, db, `SELECT name || ' ' || options, options || name::varchar, options || '!' FROM datasources WHERE id = 4`, nil)
	check(t, r, nil, []uint32{txt, txt, txt}, rows(row(`s3a {"bucket":"b"}`, `{"bucket":"b"}s3a`, `{"bucket":"b"}!`)))
	expectErr(t, `SELECT options || options FROM datasources`, "42883", 16, "json || json")
	expectErr(t, `SELECT options || 1 FROM datasources`, "42883", 16, "json || integer")
}

func TestTimestampLiterals(t *testing.T) {
	db := openDB(t)
	r := runQ(t, db, `SELECT name FROM datasources WHERE created_at BETWEEN '2024-01-01' AND '2024-03-01 00:00:00+00' ORDER BY created_at`, nil)
	check(t, r, nil, nil, rows(row("pg1"), row("pg2"), row("my1")))
	r = runQ(t, db, `SELECT name FROM datasources WHERE created_at >= '2024-02-15 10:30:00+02' AND created_at < '2024-04-30T23:59:59.999999Z'`, nil)
	check(t, r, nil, nil, rows(row("pg2"), row("my1")))
	r = runQ(t, db, `SELECT created_at, created_at::date, created_at::text FROM datasources WHERE id = 4`, nil)
	check(t, r, []string{"created_at", "created_at", "created_at"}, []uint32{tstz, pgtype.DateOID, txt},
		rows(row("2024-04-30 23:59:59.999999+00", "2024-04-30", "2024-04-30 23:59:59.999999+00")))
	expectErr(t, `SELECT 1 FROM datasources WHERE created_at > 'yesterdayish'`, "22007", 46, "timestamp")
	r = runQ(t, db, `SELECT created_at + interval '1 month', created_at - interval '1 day 1 second', updated_at - created_at FROM datasources WHERE id = 2`, nil)
	check(t, r, nil, []uint32{tstz, tstz, pgtype.IntervalOID},
		rows(row("2024-03-15 08:30:00.5+00", "2024-02-14 08:29:59.5+00", "23:59:59.5")))
	r = runQ(t, db, `SELECT timestamptz '2024-01-31 10:00:00' + interval '1 month', interval '1 hour 30 minutes', '2 days'::interval`, nil)
	check(t, r, nil, []uint32{tstz, pgtype.IntervalOID, pgtype.IntervalOID},
		rows(row("2024-02-29 10:00:00+00", "01:30:00", "2 days")))
	r = runQ(t, db, `SELECT now(), current_timestamp, current_date, now() - interval '90 seconds' + interval '0.5 seconds'`, nil)
	check(t, r, []string{"now", "current_timestamp", "current_date", "?column?"}, nil,
		rows(row("2024-05-01 12:00:00.123456+00", "2024-05-01 12:00:00.123456+00", "2024-05-01", "2024-05-01 11:58:30.623456+00")))
}

func TestJoinsSubqueriesCTEUnion(t *testing.T) {
	db := openDB(t)
	r := runQ(t, db, `SELECT d.name, u.role FROM dataflow.datasources d JOIN dataflow.users u ON u.name = 'admin' WHERE d.id < 3 ORDER BY d.name`, nil)
	check(t, r, []string{"name", "role"}, nil, rows(row("pg1", "admin"), row("pg2", "admin")))
	r = runQ(t, db, `SELECT u.name, count(a.id) FROM users u LEFT JOIN audit_log a ON a.user_name = u.name AND a.sqlstate <> '00000' GROUP BY u.name ORDER BY u.name`, nil)
	check(t, r, nil, []uint32{txt, i8}, rows(row("admin", "2"), row("bob", "0")))
	r = runQ(t, db, `SELECT name FROM users u JOIN (SELECT user_name AS name, max(at) AS last FROM audit_log GROUP BY user_name) l USING (name) ORDER BY l.last DESC`, nil)
	check(t, r, nil, nil, rows(row("admin"), row("bob")))
	r = runQ(t, db, `SELECT name FROM datasources WHERE id IN (SELECT id FROM audit_log WHERE user_name = 'bob') AND EXISTS (SELECT 1 FROM users WHERE users.name = 'bob') ORDER BY 1`, nil)
	check(t, r, nil, nil, rows(row("my1"), row("s3a")))
	r = runQ(t, db, `SELECT name, (SELECT count(*) FROM audit_log a WHERE a.user_name = u.name) AS n FROM users u ORDER BY n DESC`, nil)
	check(t, r, []string{"name", "n"}, []uint32{txt, i8}, rows(row("admin", "3"), row("bob", "2")))
	r = runQ(t, db, `WITH recent AS (SELECT * FROM audit_log WHERE at > now() - interval '1 hour'), per AS (SELECT user_name, sum(duration_ms) AS total FROM recent GROUP BY 1)
		SELECT * FROM per ORDER BY total`, nil)
	check(t, r, []string{"user_name", "total"}, []uint32{txt, f8}, rows(row("admin", "1.75"), row("bob", "120")))
	r = runQ(t, db, `SELECT name FROM datasources WHERE type = 'postgres' UNION SELECT name FROM users UNION ALL SELECT 'x' ORDER BY 1`, nil)
	check(t, r, []string{"name"}, []uint32{txt}, rows(row("admin"), row("bob"), row("pg1"), row("pg2"), row("x")))
	// INTERSECT binds tighter than EXCEPT, as in PostgreSQL
	r = runQ(t, db, `SELECT id FROM audit_log EXCEPT SELECT id FROM datasources INTERSECT SELECT 5 ORDER BY 1`, nil)
	check(t, r, nil, nil, rows(row("1"), row("2"), row("3"), row("4"), row("5")))
	r = runQ(t, db, `(SELECT id FROM audit_log EXCEPT SELECT id FROM datasources) INTERSECT SELECT 5`, nil)
	check(t, r, nil, nil, rows(row("5")))
	r = runQ(t, db, `SELECT * FROM (SELECT type, count(*) AS n FROM datasources GROUP BY type) s WHERE s.n > 1`, nil)
	check(t, r, []string{"type", "n"}, []uint32{txt, i8}, rows(row("postgres", "2")))
	r = runQ(t, db, `SELECT a.name, b.name FROM datasources a CROSS JOIN users b WHERE a.id = 1 ORDER BY 2 DESC`, nil)
	check(t, r, []string{"name", "name"}, nil, rows(row("pg1", "bob"), row("pg1", "admin")))
	r = runQ(t, db, `SELECT u.*, d.id FROM users u FULL JOIN datasources d ON false WHERE d.id IS NULL OR d.id = 1 ORDER BY 1 NULLS FIRST`, nil)
	check(t, r, []string{"name", "role", "has_password", "created_at", "id"}, []uint32{txt, txt, bl, tstz, i8},
		rows(row("NULL", "NULL", "NULL", "NULL", "1"), row("admin", "admin", "t", "2024-01-01 00:00:00+00", "NULL"), row("bob", "readonly", "f", "2024-02-01 00:00:00+00", "NULL")))
}

func TestSessionAndConstants(t *testing.T) {
	db := openDB(t)
	check(t, runQ(t, db, `SELECT 1`, nil), []string{"?column?"}, []uint32{i4}, rows(row("1")))
	check(t, runQ(t, db, `SELECT version()`, nil), []string{"version"}, []uint32{txt}, rows(row(testEnv.Version)))
	check(t, runQ(t, db, `SELECT current_setting('server_version_num')::int/100`, nil), []string{"?column?"}, []uint32{i4}, rows(row("1600")))
	check(t, runQ(t, db, `SELECT current_user, session_user, user, current_schema, current_schema(), current_database(), current_catalog, pg_backend_pid()`, nil),
		[]string{"current_user", "session_user", "user", "current_schema", "current_schema", "current_database", "current_catalog", "pg_backend_pid"},
		[]uint32{nm, nm, nm, nm, nm, nm, nm, i4},
		rows(row("admin", "admin", "admin", "dataflow", "dataflow", "flowgate", "flowgate", "4242")))
	check(t, runQ(t, db, `SELECT 1::int, 'a'::text, 2.50, 3000000000, true, 7/2, 7/2.0, 1 = 1, NULL, 'x' || 1 || true`, nil),
		[]string{"int4", "text", "?column?", "?column?", "?column?", "?column?", "?column?", "?column?", "?column?", "?column?"},
		[]uint32{i4, txt, num, i8, bl, i4, num, bl, txt, txt},
		rows(row("1", "a", "2.50", "3000000000", "t", "3", "3.5", "t", "NULL", "x1true")))
	check(t, runQ(t, db, `SELECT 1e20::float8, 'Infinity'::float8, 0.1::float8 + 0.2::float8, 1.5e-7::float8, 123456789012345::float8, 1e15::float8`, nil), nil,
		[]uint32{f8, f8, f8, f8, f8, f8},
		rows(row("1e+20", "Infinity", "0.30000000000000004", "1.5e-07", "123456789012345", "1e+15")))
	check(t, runQ(t, db, `SELECT current_setting('nope', true), coalesce(NULL, 2), greatest(1, NULL, 3), least(2, 5), nullif(1, 1), CASE WHEN 1 > 2 THEN 'a' ELSE 'b' END`, nil),
		[]string{"current_setting", "coalesce", "greatest", "least", "nullif", "case"}, []uint32{txt, i4, i4, i4, i4, txt},
		rows(row("NULL", "2", "3", "2", "NULL", "b")))
	check(t, runQ(t, db, `SELECT lower('AbC'), upper('x'), length('héllo'), substr('hello', 2, 3), substring('hello' from 2 for 2), trim('  x '), replace('aXb', 'X', '-'),
		concat('a', NULL, 1), concat_ws(',', 'a', NULL, 'b'), left('hello', 2), right('hello', 3), position('l' in 'hello'), strpos('hello', 'lo'), split_part('a,b,c', ',', 2)`, nil), nil, nil,
		rows(row("abc", "X", "5", "ell", "el", "x", "a-b", "a1", "a,b", "he", "llo", "3", "4", "b")))
	check(t, runQ(t, db, `SELECT abs(-3), round(2.567, 2), ceil(1.2), floor(-1.2), round(2.5::float8), 10 % 3`, nil), nil,
		[]uint32{i4, num, num, num, f8, i4}, rows(row("3", "2.57", "2", "-2", "2", "1")))
}

func TestAggregatesAndTypes(t *testing.T) {
	db := openDB(t)
	r := runQ(t, db, `SELECT count(*), count(comment), count(DISTINCT type), sum(id), avg(id), min(created_at), max(name), bool_and(id > 0), bool_or(id > 3), string_agg(name, ',' ORDER BY name) FROM datasources`, nil)
	check(t, r, []string{"count", "count", "count", "sum", "avg", "min", "max", "bool_and", "bool_or", "string_agg"},
		[]uint32{i8, i8, i8, num, num, tstz, txt, bl, bl, txt},
		rows(row("4", "2", "3", "10", "2.5", "2024-01-01 10:00:00+00", "s3a", "t", "t", "my1,pg1,pg2,s3a")))
	r = runQ(t, db, `SELECT user_name, sum(duration_ms), avg(duration_ms), count(*) FILTER (WHERE sqlstate <> '00000') FROM audit_log GROUP BY user_name HAVING count(*) > 1 ORDER BY user_name`, nil)
	check(t, r, nil, []uint32{txt, f8, f8, i8}, rows(row("admin", "1e+20", formatFloat(1e20/3, 64), "2"), row("bob", "123", "61.5", "0")))
	r = runQ(t, db, `SELECT DISTINCT type FROM datasources WHERE status = 'normal' AND comment IS NOT NULL OR type IS DISTINCT FROM 'postgres' ORDER BY type LIMIT 10 OFFSET 1`, nil)
	check(t, r, nil, nil, rows(row("postgres"), row("s3")))
	r = runQ(t, db, `SELECT name, has_password IS TRUE, has_password IS NOT FALSE, NOT has_password FROM users ORDER BY 1`, nil)
	check(t, r, nil, []uint32{txt, bl, bl, bl}, rows(row("admin", "t", "t", "f"), row("bob", "f", "f", "t")))
	r = runQ(t, db, `SELECT CASE type WHEN 'postgres' THEN 1 WHEN 'mysql' THEN 2.5 END AS k FROM datasources ORDER BY id`, nil)
	check(t, r, []string{"k"}, []uint32{num}, rows(row("1"), row("1"), row("2.5"), row("NULL")))
	r = runQ(t, db, `SELECT id::text || '-' || name, created_at::date, 12.345::numeric(5,1), 'abcdef'::varchar(3) FROM datasources WHERE id = 1`, nil)
	check(t, r, []string{"?column?", "created_at", "numeric", "varchar"}, []uint32{txt, pgtype.DateOID, num, pgtype.VarcharOID},
		rows(row("1-pg1", "2024-01-01", "12.3", "abc")))
	if r.cols[2].TypeMod != (5<<16|1)+4 || r.cols[3].TypeMod != 7 {
		t.Errorf("typmods %d %d", r.cols[2].TypeMod, r.cols[3].TypeMod)
	}
	r = runQ(t, db, `VALUES (1, 'a'), (2, 'b')`, nil)
	check(t, r, []string{"column1", "column2"}, []uint32{i4, txt}, rows(row("1", "a"), row("2", "b")))
}

func TestRejections(t *testing.T) {
	pe := expectErr(t, `SELECT * FROM dataflow.nope`, "42P01", 15, `relation "dataflow.nope" does not exist`)
	if !strings.Contains(pe.Hint, "dataflow.datasources") {
		t.Errorf("hint %q", pe.Hint)
	}
	expectErr(t, `SELECT nope FROM datasources`, "42703", 8, `column "nope" does not exist`)
	expectErr(t, `SELECT d.nope FROM datasources d`, "42703", 8, `column d.nope does not exist`)
	expectErr(t, `SELECT x.name FROM datasources d`, "42P01", 8, `missing FROM-clause entry for table "x"`)
	expectErr(t, `SELECT name FROM datasources, users`, "42702", 8, `ambiguous`)
	expectErr(t, `SELECT sqlite_version()`, "42883", 8, `function sqlite_version() does not exist`)
	expectErr(t, `SELECT load_extension('x')`, "42883", 8, `function load_extension(unknown) does not exist`)
	expectErr(t, `SELECT randomblob(4)`, "42883", 8, `function randomblob(integer) does not exist`)
	expectErr(t, `SELECT printf('%d', 1)`, "42883", 8, `printf`)
	expectErr(t, `SELECT pg_sleep(1)`, "42883", 8, `pg_sleep`)
	expectErr(t, `SELECT name FROM  datasources WHERE lower(name, 1) = 'x'`, "42883", 37, `function lower(text, integer) does not exist`)
	expectErr(t, `WITH d AS (DELETE FROM datasources RETURNING *) SELECT * FROM d`, "25006", 6, `flowgate is read-only`)
	expectErr(t, `SELECT * INTO newtab FROM datasources`, "0A000", 15, `SELECT INTO`)
	expectErr(t, `SELECT * FROM datasources FOR UPDATE`, "0A000", -1, `FOR UPDATE`)
	expectErr(t, `DELETE FROM datasources`, "25006", 1, `read-only`)
	expectErr(t, `CREATE TABLE x (a int)`, "0A000", 1, `not supported`)
	expectErr(t, `SELECT sum(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM datasources`, "0A000", 8, `window frame`)
	expectErr(t, `SELECT current_setting('no_such_thing')`, "42704", 24, `unrecognized configuration parameter "no_such_thing"`)
	expectErr(t, `SELECT 1 FROM datasources WHERE id = 'abc'`, "22P02", 38, `invalid input syntax for type bigint`)
	expectErr(t, `SELECT 1 FROM datasources WHERE name = 1`, "42883", 38, `operator does not exist: text = integer`)
	expectErr(t, `SELECT 1 FROM datasources WHERE id`, "42804", 33, `argument of WHERE must be type boolean`)
	expectErr(t, `SELECT 1 FROM datasources WHERE count(*) > 1`, "42803", -1, `aggregate functions are not allowed`)
	expectErr(t, `SELECT 'x'::regclass`, "42P01", -1, `relation "x" does not exist`)
	expectErr(t, `SELECT 'x'::regoper`, "0A000", -1, `regoper`)
	expectErr(t, `SELECT 'x'::nosuchtype`, "42704", -1, `type "nosuchtype" does not exist`)
	expectErr(t, `SELEC 1`, "42601", 1, `syntax error`)
	expectErr(t, `SELECT name ~ '(a)\1' FROM datasources`, "0A000", -1, `regular expression`)
	expectErr(t, `SELECT 1 FROM datasources ORDER BY 5`, "42P10", 36, `ORDER BY position 5`)
	// positions count characters, not bytes
	expectErr(t, `SELECT 'é', nope FROM datasources`, "42703", 13, `column "nope"`)
}

func TestFormatValue(t *testing.T) {
	cases := []struct {
		oid  uint32
		mod  int32
		in   any
		want string
	}{
		{bl, -1, int64(1), "t"}, {bl, -1, int64(0), "f"},
		{i8, -1, int64(-5), "-5"},
		{f8, -1, 1e20, "1e+20"}, {f8, -1, 2.5, "2.5"}, {f8, -1, float64(100), "100"}, {f8, -1, -0.0001, "-0.0001"}, {f8, -1, 0.00001, "1e-05"},
		{num, -1, 2.5, "2.5"}, {num, -1, int64(6), "6"}, {num, (10<<16 | 2) + 4, 2.5, "2.50"}, {num, -1, 1e20, "100000000000000000000"},
		{tstz, -1, "2024-01-02 03:04:05.100000", "2024-01-02 03:04:05.1+00"},
		{tstz, -1, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "2024-01-02 03:04:05+00"},
		{pgtype.TimestampOID, -1, "2024-01-02 03:04:05.000000", "2024-01-02 03:04:05"},
		{js, -1, `{"a": 1}`, `{"a": 1}`},
		{pgtype.IntervalOID, -1, 90061.5, "1 day 01:01:01.5"},
		{pgtype.IntervalOID, -1, -3600.0, "-01:00:00"},
		{txt, -1, []byte("x"), "x"},
	}
	for _, c := range cases {
		got, err := FormatValue(c.oid, c.mod, c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("FormatValue(%d, %v) = %q, %v; want %q", c.oid, c.in, got, err, c.want)
		}
	}
	if got, _ := FormatValue(txt, -1, nil); got != nil {
		t.Errorf("nil -> %q", got)
	}
}

func TestArgsConversion(t *testing.T) {
	q := &Query{ParamOIDs: []uint32{i8, bl, tstz, f8, txt, pgtype.DateOID}}
	got, err := q.Args([][]byte{[]byte("42"), []byte("yes"), []byte("2024-01-01 10:00:00+02"), []byte("1.5"), nil, []byte("2024-03-04")})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{int64(42), int64(1), "2024-01-01 08:00:00.000000", 1.5, nil, "2024-03-04"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Args = %#v", got)
	}
	for _, bad := range []struct {
		oid  uint32
		in   string
		code string
	}{{i8, "x", "22P02"}, {bl, "maybe", "22P02"}, {tstz, "not a time", "22007"}, {f8, "1.2.3", "22P02"}} {
		q := &Query{ParamOIDs: []uint32{bad.oid}}
		_, err := q.Args([][]byte{[]byte(bad.in)})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != bad.code {
			t.Errorf("Args(%d, %q) err = %v, want %s", bad.oid, bad.in, err, bad.code)
		}
	}
	if _, err := q.Args(nil); err == nil {
		t.Error("wrong parameter count accepted")
	}
}

func TestMoreShapes(t *testing.T) {
	db := openDB(t)
	check(t, runQ(t, db, `SELECT true, false AS f, NOT true`, nil), []string{"?column?", "f", "?column?"}, []uint32{bl, bl, bl}, rows(row("t", "f", "f")))
	// a column named "user" must be quoted; bare user is the session user
	check(t, runQ(t, db, `SELECT "user", user FROM (SELECT user_name AS "user" FROM audit_log WHERE id = 3) s`, nil),
		[]string{"user", "user"}, []uint32{txt, nm}, rows(row("bob", "admin")))
	check(t, runQ(t, db, `SELECT id FROM audit_log ORDER BY id LIMIT ALL OFFSET 3`, nil), nil, nil, rows(row("4"), row("5")))
	check(t, runQ(t, db, `SELECT id FROM audit_log ORDER BY id OFFSET 4 ROWS FETCH FIRST 1 ROW ONLY`, nil), nil, nil, rows(row("5")))
	check(t, runQ(t, db, `SELECT comment FROM datasources ORDER BY comment NULLS FIRST, id`, nil), nil, nil,
		rows(row("NULL"), row("NULL"), row("Main DB"), row("Orders")))
	check(t, runQ(t, db, `SELECT comment FROM datasources ORDER BY comment DESC`, nil), nil, nil,
		rows(row("NULL"), row("NULL"), row("Orders"), row("Main DB")))
	check(t, runQ(t, db, `SELECT name FROM datasources WHERE comment IS NOT DISTINCT FROM NULL AND coalesce(comment, 'none') = 'none' ORDER BY 1`, nil), nil, nil,
		rows(row("pg2"), row("s3a")))
	check(t, runQ(t, db, `SELECT d.name, u.name FROM users u RIGHT JOIN datasources d ON d.name = u.name || '1' ORDER BY d.id`, nil), nil, nil,
		rows(row("pg1", "NULL"), row("pg2", "NULL"), row("my1", "NULL"), row("s3a", "NULL")))
	check(t, runQ(t, db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT i, i * 2 AS d FROM n`, nil),
		[]string{"i", "d"}, []uint32{i4, i4}, rows(row("1", "2"), row("2", "4"), row("3", "6")))
	check(t, runQ(t, db, `SELECT id FROM audit_log WHERE id = ANY(ARRAY[1, 5]) AND user_name <> ALL(ARRAY['bob']) ORDER BY 1`, nil), nil, nil,
		rows(row("1"), row("5")))
	check(t, runQ(t, db, `SELECT count(*) AS n, max(at)::date FROM audit_log HAVING count(*) > 1`, nil), []string{"n", "max"}, nil,
		rows(row("5", "2024-05-01")))
	check(t, runQ(t, db, `SELECT name, CASE WHEN has_password THEN 'yes' END AS pw, CAST(has_password AS int) FROM users ORDER BY 1`, nil),
		[]string{"name", "pw", "has_password"}, []uint32{txt, txt, i4}, rows(row("admin", "yes", "1"), row("bob", "NULL", "0")))
	check(t, runQ(t, db, `SELECT to_timestamp(0), '2024-01-01'::date + 1, date '2024-03-01' - date '2024-02-01', extract(epoch from interval '1 day')`, nil), nil,
		[]uint32{tstz, pgtype.DateOID, i4, num}, rows(row("1970-01-01 00:00:00+00", "2024-01-02", "29", "86400.000000")))
}

// Division by zero is PostgreSQL's error 22012, where SQLite would answer
// NULL; PostgreSQL agrees on each query.
func TestDivisionByZero(t *testing.T) {
	db := openDB(t)
	c := oracleFor(t)
	for _, query := range []string{
		`SELECT 1/0`,
		`SELECT 7 % 0`,
		`SELECT 1.5/0`,
		`SELECT 2.0::float8 / 0`,
		`SELECT id / (id - id) FROM datasources`,
		`SELECT sum(id) / count(*) FILTER (WHERE id < 0) FROM datasources`,
	} {
		q, err := TranslateSQL(query, resolver, testEnv, nil)
		if err != nil {
			t.Fatalf("translate %q: %v", query, err)
		}
		err = SQLiteError(Run(context.Background(), db, q, nil, func([][]byte) error { return nil }))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "22012" || pe.Message != "division by zero" {
			t.Errorf("%s: err = %v, want 22012 division by zero", query, err)
		}
		text, _ := pgText(query)
		_, err = c.Exec(context.Background(), text)
		if !errors.As(err, &pe) || pe.Code != "22012" {
			t.Errorf("%s: PostgreSQL says %v", query, err)
		}
	}
	// A divisor that is not zero still divides.
	check(t, runQ(t, db, `SELECT 7/2, 7 % 3, 7.0::float8/2`, nil), nil, nil, rows(row("3", "1", "3.5")))
}

// to_char of dates and times, compared with PostgreSQL by the oracle.
func TestToChar(t *testing.T) {
	db := openDB(t)
	for _, f := range []string{
		"YYYY-MM-DD HH24:MI:SS", "YYYY-MM-DD\"T\"HH24:MI:SS.US", "Dy, DD Mon YYYY HH12:MI:SS AM", "FMDay, FMDDth FMMonth YYYY",
		"DAY day Day MONTH month Month MON mon", "HH hh12 a.m. P.M. pm", "Q WW W IW IYYY ID D DDD IDDD J CC",
		"MS US FF1 FF3 FF6 SSSS", "YYY YY Y Y,YYY", "TZ OF tz", "FMMM/FMDD/YY", "DDTH ddth Mon\\\"x\\\"", "RM rm FMRM", "\"quoted YYYY\" YYYY",
	} {
		r := runQ(t, db, "SELECT to_char(created_at, '"+f+"'), to_char(created_at::date, '"+f+"') FROM datasources ORDER BY id", nil)
		if len(r.rows) == 0 || r.rows[0][0] == "NULL" {
			t.Errorf("%s: %v", f, r.rows)
		}
	}
	all := "YYYY Y,YYY YYY YY Y IYYY IYY IY I CC Q MM Mon Month RM DD DDD IDDD D ID W WW IW J HH HH12 HH24 MI SS SSSS MS US AM a.m. Day Dy FMDDth FMMMTH AD bc A.D. b.c."
	for _, ts := range []string{"0001-01-01 00:00:00", "2020-02-29 12:00:00", "2020-12-31 23:59:59.999999", "2021-01-01 00:00:00.000001", "2022-01-02 11:59:59", "2023-11-12 13:14:15.5"} {
		runQ(t, db, "SELECT to_char(timestamp '"+ts+"', '"+all+"'), to_char(timestamptz '"+ts+"+00', '"+all+" TZ OF')", nil)
	}
	r := runQ(t, db, `SELECT to_char(timestamp '2024-01-01 00:00:00', 'IYYY-IW-ID HH12 AM'), to_char(timestamptz '2021-01-03 13:05:09.5+00', 'FMHH12:MI pm Dy IW')`, nil)
	check(t, r, nil, []uint32{txt, txt}, rows(row("2024-01-1 12 AM", "1:05 pm Sun 53")))
}

// DISTINCT ON keeps each group's first row in ORDER BY order, compared
// with PostgreSQL by the oracle.
func TestDistinctOn(t *testing.T) {
	db := openDB(t)
	for _, q := range []string{
		`SELECT DISTINCT ON (type) type, name, id FROM datasources ORDER BY type, id DESC`,
		`SELECT DISTINCT ON (type, status) name, type FROM datasources ORDER BY status, type, created_at`,
		`SELECT DISTINCT ON (1) type, name FROM datasources ORDER BY 1, name LIMIT 2 OFFSET 1`,
		`SELECT DISTINCT ON (type) name FROM datasources ORDER BY type, created_at DESC`,
		`SELECT DISTINCT ON (upper(type)) upper(type) AS t, name FROM datasources WHERE id > 1 ORDER BY upper(type), name DESC`,
		`WITH x AS (SELECT * FROM datasources) SELECT DISTINCT ON (type) type, id FROM x ORDER BY type, id`,
		`SELECT DISTINCT ON (type) type, status, count(*) FROM datasources GROUP BY type, status ORDER BY type, count(*) DESC, status`,
		`SELECT * FROM (SELECT DISTINCT ON (type) type, name FROM datasources ORDER BY type, name) s ORDER BY name`,
	} {
		r := runQ(t, db, q, nil)
		if len(r.rows) == 0 {
			t.Errorf("%s: no rows", q)
		}
	}
	expectErr(t, `SELECT DISTINCT ON (type) name FROM datasources ORDER BY name`, "42P10", 0, "DISTINCT ON")
}
