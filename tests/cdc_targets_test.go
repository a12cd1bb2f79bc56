package tests

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
	_ "github.com/mattn/go-sqlite3"
)

// typesDDL is a PostgreSQL table with the values the batch fidelity tests
// move, for CDC into MySQL and SQLite.
const typesDDL = `CREATE TABLE kinds (id bigint PRIMARY KEY, n numeric(38,10), f float8, ts timestamptz(6), d date,
	b bytea, j jsonb, arr int[], txt text, flag boolean)`

var typesRows = []string{
	`(1, 1234567890123456789012345678.0123456789, 1.5, '2024-02-29 23:59:59.123456+00', '0001-01-01', '\x00ff10', '{"a": 1}', '{1,2,NULL}', '', true)`,
	`(2, -0.0000000001, -0.25, '1999-12-31 00:00:00.000001+05', '9999-12-31', '\x', '[1, "x"]', '{}', NULL, false)`,
	`(3, 0, 0, '2000-01-01 00:00:00+00', '2000-01-01', NULL, NULL, NULL, 'emoji 😀 and ümlaut', NULL)`,
}

// kindsQuery renders the PostgreSQL source rows in the form the target
// queries below produce; arrays go to MySQL as json and to SQLite as text.
func kindsQuery(arr string) string {
	return `SELECT id, n::text, f::text, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), d::text,
	encode(b, 'hex'), j::text, ` + arr + `, txt, flag::int FROM kinds ORDER BY id`
}

// sqliteNumeric rewrites field 1 (numeric(38,10)) to 14 significant
// digits: SQLite keeps 15 significant digits of non-integers, as
// docs/type-mapping.md says, so only those can be compared.
func sqliteNumeric(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		f := strings.Split(r, "|")
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			f[1] = strconv.FormatFloat(v, 'e', 13, 64)
		}
		out[i] = strings.Join(f, "|")
	}
	return out
}

// sqlRows reads a database/sql query's rows as text lines.
func sqlRows(t testing.TB, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				parts[i] = "<null>"
			} else {
				parts[i] = string(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// changeKinds runs inserts, updates (one of the key), deletes on kinds.
func changeKinds(t testing.TB, src *pgx.Conn) {
	mustPG(t, src,
		`INSERT INTO kinds VALUES (10, 99999999999999999999999999.9999999999, 3.25, '2024-06-01 12:00:00.5+02', '2024-06-01', '\xdeadbeef', '{"k": [true, null]}', '{-5,7}', 'x', true)`,
		`UPDATE kinds SET txt = 'changed', flag = false, n = n + 1 WHERE id = 1`,
		`UPDATE kinds SET id = 20 WHERE id = 2`,
		`DELETE FROM kinds WHERE id = 3`,
		`BEGIN; INSERT INTO kinds (id, txt) VALUES (30, NULL); UPDATE kinds SET txt = '' WHERE id = 30; COMMIT`)
}

// CDC from PostgreSQL into PostgreSQL, MySQL and SQLite: the snapshot and then
// inserts, updates, key changes and deletes arrive with every value as the
// target's own query shows it (numeric extremes, microseconds in UTC,
// bytes, json, arrays into json, NULL vs ”, 4-byte UTF-8, booleans).
func TestCDCPostgresIntoMySQLAndSQLite(t *testing.T) {
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	srcDB := pg.NewDatabase(t, "cdckinds")
	dropSlotsAfter(t, pg, srcDB)
	src := pg.Connect(t, srcDB)
	mustPG(t, src, typesDDL)
	for _, r := range typesRows {
		mustPG(t, src, "INSERT INTO kinds VALUES "+r)
	}
	myDB := my.NewDatabase(t, "cdckinds")
	pgDW := pg.NewDatabase(t, "cdckindsdw")
	liteDir := t.TempDir()
	litePath := filepath.Join(liteDir, "dw.db")
	makeSQLiteDB(t, litePath, "CREATE TABLE placeholder (id INTEGER PRIMARY KEY)")

	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, pgDS("src", pg, srcDB))
	mustExec(t, c, mysqlDatasourceSQL("my", my, my.Password, myDB))
	mustExec(t, c, "CREATE DATASOURCE lite TYPE sqlite OPTIONS (path "+sqlString(litePath)+")")
	mustExec(t, c, pgDS("pgdw", pg, pgDW))
	for _, target := range []string{"my", "lite", "pgdw"} {
		mustExec(t, c, fmt.Sprintf("CREATE DDL TASK to_%s FROM src TO %s TABLES (kinds)", target, target))
		r := runDDLTask(t, c, "to_"+target)
		if r["kinds"].Status != "success" {
			t.Fatalf("DDL into %s: %+v", target, r["kinds"])
		}
		to := target + ".kinds"
		if target == "pgdw" {
			to = "pgdw.public.kinds"
		}
		mustExec(t, c, fmt.Sprintf("CREATE SYNC JOB cdc_%s FROM src.public.kinds TO %s MODE CDC", target, to))
		if run := runJob(t, c, fmt.Sprintf("RUN SYNC JOB cdc_%s WAIT", target)); run.Status != "running" {
			t.Fatalf("cdc_%s: %s %s", target, run.Status, deref(run.Message))
		}
	}
	mdb := my.Open(t, myDB)
	ldb, err := sql.Open("sqlite3", litePath)
	if err != nil {
		t.Fatal(err)
	}
	defer ldb.Close()
	myQuery := `SELECT id, CAST(n AS CHAR), CAST(f AS CHAR), DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), CAST(d AS CHAR),
		LOWER(HEX(b)), j, arr, txt, flag FROM kinds ORDER BY id`
	// SQLite spells a whole REAL as 0.0 and keeps timestamps without a
	// zero fraction; the query writes them as the PostgreSQL query does.
	liteQuery := `SELECT id, CAST(n AS TEXT),
		CASE WHEN f = CAST(f AS INTEGER) THEN CAST(CAST(f AS INTEGER) AS TEXT) ELSE CAST(f AS TEXT) END,
		CASE WHEN instr(ts, '.') = 0 THEN ts || '.000000' ELSE substr(ts || '000000', 1, 26) END, CAST(d AS TEXT),
		CASE WHEN b IS NULL THEN NULL ELSE lower(hex(b)) END, CAST(j AS TEXT), CAST(arr AS TEXT), txt, CAST(flag AS INTEGER)
		FROM kinds ORDER BY id`
	dw := pg.Connect(t, pgDW)
	check := func(stage string) {
		waitSame(t, 20*time.Second, stage+" into PostgreSQL", func() []string { return rowsOf(t, src, kindsQuery("arr::text")) },
			func() []string { return rowsOf(t, dw, kindsQuery("arr::text")) })
		waitSame(t, 20*time.Second, stage+" into MySQL", func() []string { return rowsOf(t, src, kindsQuery("array_to_json(arr)::text")) },
			func() []string { return sqlRows(t, mdb, myQuery) })
		waitSame(t, 20*time.Second, stage+" into SQLite", func() []string { return sqliteNumeric(rowsOf(t, src, kindsQuery("arr::text"))) },
			func() []string { return sqliteNumeric(sqlRows(t, ldb, liteQuery)) })
	}
	check("snapshot")
	changeKinds(t, src)
	check("stream")

	// A column added at the source mid-stream is added to every target
	// with the mapped type and filled from then on; one with a constant
	// default holds it in the rows that were there (the source filled
	// them without logging a change).
	mustPG(t, src, "ALTER TABLE kinds ADD COLUMN extra numeric(10,2), ADD COLUMN grade int DEFAULT 7", "INSERT INTO kinds (id, txt, extra) VALUES (40, 'new', 9.99)",
		"UPDATE kinds SET extra = 1.25 WHERE id = 1")
	want := func() []string { return rowsOf(t, src, "SELECT id, extra::text, grade FROM kinds ORDER BY id") }
	waitSame(t, 20*time.Second, "ADD COLUMN into PostgreSQL", want, func() []string {
		return rowsOrError(dw, "SELECT id, extra::text, grade FROM kinds ORDER BY id")
	})
	sqlOrError := func(db *sql.DB, q string) func() []string {
		return func() []string {
			if _, err := db.Exec("SELECT extra FROM kinds LIMIT 1"); err != nil {
				return []string{"error: " + err.Error()}
			}
			return sqlRows(t, db, q)
		}
	}
	waitSame(t, 20*time.Second, "ADD COLUMN into MySQL", want, sqlOrError(mdb, "SELECT id, CAST(extra AS CHAR), grade FROM kinds ORDER BY id"))
	waitSame(t, 20*time.Second, "ADD COLUMN into SQLite", want, sqlOrError(ldb, "SELECT id, CAST(extra AS TEXT), grade FROM kinds ORDER BY id"))
	var myType, liteType string
	if err := mdb.QueryRow("SELECT column_type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'kinds' AND column_name = 'extra'").Scan(&myType); err != nil {
		t.Fatal(err)
	}
	if err := ldb.QueryRow("SELECT type FROM pragma_table_info('kinds') WHERE name = 'extra'").Scan(&liteType); err != nil {
		t.Fatal(err)
	}
	if myType != "decimal(10,2)" || liteType != "NUMERIC(10,2)" {
		t.Fatalf("added column types: MySQL %s, SQLite %s", myType, liteType)
	}
	check("after ADD COLUMN")
	for _, job := range []string{"cdc_my", "cdc_lite", "cdc_pgdw"} {
		runJob(t, c, "STOP SYNC JOB "+job)
		mustExec(t, c, "DROP SYNC JOB "+job)
	}
}
