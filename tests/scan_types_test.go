package tests

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/internal/testbed"
)

// TestScanIncrementalTypesAndTargets: INCREMENTAL ON an auto-increment id,
// a date, a datetime(6) and a timestamp(3) of a MariaDB table, into
// PostgreSQL, SQLite and MariaDB targets; the second scan brings exactly
// the new and changed rows and re-reading the boundary doubles nothing.
func TestScanIncrementalTypesAndTargets(t *testing.T) {
	my := testbed.MySQL(t)
	srcDB := my.NewDatabase(t, "stsrc")
	dstDB := my.NewDatabase(t, "stdst")
	mdb, mdst := my.Open(t, srcDB), my.Open(t, dstDB)
	mustMy(t, mdb, `CREATE TABLE events (id int AUTO_INCREMENT PRIMARY KEY, d date NOT NULL, dt datetime(6) NOT NULL, ts timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), note varchar(40))`)
	var vals []string
	for i := 1; i <= 50; i++ {
		vals = append(vals, fmt.Sprintf("('2024-01-%02d', '2024-01-01 10:00:%02d.%06d', '2024-01-01 10:00:%02d.%03d', 'n%d')", 1+i%20, i, i*7, i, i, i))
	}
	mustMy(t, mdb, `INSERT INTO events (d, dt, ts, note) VALUES `+strings.Join(vals, ","))
	mustMy(t, mdst, `CREATE TABLE events (id int PRIMARY KEY, d date NOT NULL, dt datetime(6) NOT NULL, ts timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), note varchar(40))`)
	pg := testbed.Postgres(t)
	pgDB := pg.NewDatabase(t, "stpg")
	pdst := pg.Connect(t, pgDB)
	mustPG(t, pdst, `CREATE TABLE ev_id (id int PRIMARY KEY, d date, dt timestamp(6), ts timestamptz(3), note text)`,
		`CREATE TABLE ev_ts (id int PRIMARY KEY, d date, dt timestamp(6), ts timestamptz(3), note text)`)
	litePath := filepath.Join(t.TempDir(), "st.db")
	ldb, err := sql.Open("sqlite3", litePath)
	if err != nil {
		t.Fatal(err)
	}
	defer ldb.Close()
	if _, err := ldb.Exec(`CREATE TABLE events (id integer PRIMARY KEY, d date, dt datetime, ts timestamp, note text)`); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)
	mustExec(t, c, mysqlDatasourceSQL("mys", my, my.Password, srcDB))
	mustExec(t, c, mysqlDatasourceSQL("myd", my, my.Password, dstDB))
	mustExec(t, c, pgDS("pgd", pg, pgDB))
	mustExec(t, c, "CREATE DATASOURCE lite TYPE sqlite OPTIONS (path "+sqlString(litePath)+")")
	jobs := map[string]string{
		"by_id": `CREATE SYNC JOB by_id FROM mys.events TO pgd.public.ev_id MODE SCAN INCREMENTAL ON id WITH (algorithm = 'md5diff')`,
		"by_ts": `CREATE SYNC JOB by_ts FROM mys.events TO pgd.public.ev_ts MODE SCAN INCREMENTAL ON ts`,
		"by_dt": `CREATE SYNC JOB by_dt FROM mys.events TO lite.events MODE SCAN INCREMENTAL ON dt`,
		"by_d":  `CREATE SYNC JOB by_d FROM mys.events TO myd.events MODE SCAN INCREMENTAL ON d WITH (algorithm = 'countdiff')`,
	}
	for _, j := range []string{"by_id", "by_ts", "by_dt", "by_d"} {
		mustExec(t, c, jobs[j])
		if r := runJob(t, c, `RUN SYNC JOB `+j+` WAIT`); r.Status != "completed" || r.RowsWritten != 50 {
			t.Fatalf("%s first scan: %s %s, %d rows", j, r.Status, deref(r.Message), r.RowsWritten)
		}
	}
	// New rows (later ids, dates, times) and an update that moves dt, d and ts forward.
	mustMy(t, mdb, `INSERT INTO events (d, dt, ts, note) VALUES ('2024-02-01', '2024-01-01 11:00:00.5', '2024-01-01 11:00:00.5', 'new1'), ('2024-02-01', '2024-01-01 11:00:01', '2024-01-01 11:00:01', 'new2')`,
		`UPDATE events SET note = 'upd', d = '2024-02-02', dt = '2024-01-01 12:00:00.000001', ts = '2024-01-01 12:00:00.001' WHERE id = 3`)
	want := map[string]int64{"by_id": 3, "by_ts": 4, "by_dt": 4, "by_d": 5} // new rows + the boundary value's rows (+ the update where it moves the column)
	for _, j := range []string{"by_id", "by_ts", "by_dt", "by_d"} {
		r := runJob(t, c, `RUN SYNC JOB `+j+` WAIT`)
		if r.Status != "completed" || r.RowsRead != want[j] {
			t.Errorf("%s second scan: %s %s, read %d, want %d", j, r.Status, deref(r.Message), r.RowsRead, want[j])
		}
	}
	srcRows := sqlRows(t, mdb, `SELECT concat(id, '|', d, '|', note) FROM events ORDER BY id`)
	for name, got := range map[string][]string{
		"by_ts (PostgreSQL)": rowsOf(t, pdst, `SELECT id || '|' || d || '|' || note FROM ev_ts ORDER BY id`),
		"by_dt (SQLite)":     sqlRows(t, ldb, `SELECT id || '|' || d || '|' || note FROM events ORDER BY id`),
		"by_d (MariaDB)":     sqlRows(t, mdst, `SELECT concat(id, '|', d, '|', note) FROM events ORDER BY id`),
	} {
		if strings.Join(got, "\n") != strings.Join(srcRows, "\n") {
			t.Errorf("%s differs: %s", name, firstDiff(srcRows, got))
		}
	}
	// INCREMENTAL ON id does not see the update of an old row (documented).
	if n := count(t, pdst, `SELECT count(*) FROM ev_id`); n != 52 {
		t.Errorf("by_id has %d rows, want 52", n)
	}
	if v := rowsOf(t, c, `SELECT value FROM dataflow.watermarks WHERE job = 'by_id'`); len(v) != 1 || v[0] != "52" {
		t.Errorf("by_id watermark %v", v)
	}
	if v := rowsOf(t, c, `SELECT value FROM dataflow.watermarks WHERE job = 'by_dt'`); len(v) != 1 || !strings.HasPrefix(v[0], "2024-01-01 12:00:00.000001") {
		t.Errorf("by_dt watermark %v", v)
	}
}
