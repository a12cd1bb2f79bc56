package tests

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	_ "github.com/mattn/go-sqlite3"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// waitFor polls cond every 100ms until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func runStatus(t testing.TB, c *pgx.Conn, runID string) string {
	t.Helper()
	var s string
	if err := c.QueryRow(context.Background(), "SELECT status FROM dataflow.runs WHERE run_id = $1", runID).Scan(&s); err != nil {
		t.Fatalf("run %s: %v", runID, err)
	}
	return s
}

// slowTarget makes every row loaded into table cost about ms milliseconds.
func slowTarget(t testing.TB, c *pgx.Conn, table string, ms int) {
	mustPG(t, c, fmt.Sprintf(`CREATE OR REPLACE FUNCTION slow_%s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(%f); RETURN NEW; END $$`, table, float64(ms)/1000),
		fmt.Sprintf(`CREATE TRIGGER slow BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION slow_%s()`, table, table))
}

func TestKill9DuringImportThenRetry(t *testing.T) {
	rig := newPGRig(t, "ksrc", "kdst")
	src, dst := rig.src, rig.dst
	mustPG(t, src, ordersDDL, "INSERT INTO orders (id, customer, note) SELECT i, i, 'row ' || i FROM generate_series(1, 2000) i")
	mustPG(t, dst, ordersDDL)
	slowTarget(t, dst, "orders", 2) // ~4s of import in 20 files
	g, c := rig.start(t, pgx.QueryExecModeExec)
	mustExec(t, c, "CREATE SYNC JOB k FROM src.orders TO dst.orders MODE BATCH WITH (export_batch_rows = 100, algorithm = 'hashdiff', bisection_threshold = 200, bisection_factor = 4)")
	r := runJob(t, c, "RUN SYNC JOB k")
	if r.Status != "running" && r.Status != "created" {
		t.Fatalf("RUN without WAIT = %+v", r)
	}
	waitFor(t, 30*time.Second, "three imported files", func() bool {
		return count(t, c, "SELECT count(*) FROM dataflow.export_files WHERE run_id = $1 AND imported", r.RunID) >= 3
	})
	g.kill9()
	g.restart()
	c = g.connect(t, "admin", pgx.QueryExecModeExec)
	var status, msg string
	mustScan(t, c.QueryRow(context.Background(), "SELECT status, message FROM dataflow.runs WHERE run_id = $1", r.RunID), &status, &msg)
	if status != "failed" || msg != "interrupted by restart" {
		t.Fatalf("after restart: %s %q", status, msg)
	}
	loaded := count(t, dst, "SELECT count(*) FROM orders")
	if loaded == 0 || loaded == 2000 || loaded%100 != 0 {
		t.Fatalf("rows in the target after kill -9 = %d: want whole files only, part of the table", loaded)
	}
	r2 := runJob(t, c, "RETRY RUN '"+r.RunID+"'")
	if r2.Status != "completed" {
		t.Fatalf("retry = %+v %s\n%s", r2, deref(r2.Message), g.logs())
	}
	if n := count(t, dst, "SELECT count(*) FROM orders"); n != 2000 {
		t.Fatalf("rows after retry = %d", n)
	}
	if n := count(t, dst, "SELECT count(DISTINCT id) FROM orders"); n != 2000 {
		t.Fatalf("distinct ids after retry = %d", n)
	}
}

func TestStopHeartbeatAndSchedules(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "ssrc", "sdst")
	src, dst := rig.src, rig.dst
	mustPG(t, src, ordersDDL, "INSERT INTO orders (id, customer) SELECT i, i FROM generate_series(1, 3000) i")
	mustPG(t, dst, ordersDDL, strings.Replace(ordersDDL, "orders", "hb", 1), strings.Replace(ordersDDL, "orders", "sched", 1))
	slowTarget(t, dst, "orders", 2)
	g, c := rig.start(t, pgx.QueryExecModeSimpleProtocol)

	// STOP terminates a running run.
	mustExec(t, c, "CREATE SYNC JOB stopme FROM src.orders TO dst.orders MODE BATCH WITH (export_batch_rows = 100)")
	r := runJob(t, c, "RUN SYNC JOB stopme")
	_, err := c.Exec(ctx, "RUN SYNC JOB stopme")
	wantCode(t, err, "55006")
	waitFor(t, 20*time.Second, "ImportTable running", func() bool {
		return count(t, c, "SELECT count(*) FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'ImportTable' AND status = 'running'", r.RunID) == 1
	})
	_, err = c.Exec(ctx, "CLEAN EXPORT FILES FOR RUN '"+r.RunID+"'")
	wantCode(t, err, "55006")
	_, err = c.Exec(ctx, "CLEAN SOURCE DATA FOR RUN '"+r.RunID+"' FORCE")
	wantCode(t, err, "55006")
	s := runJob(t, c, "STOP SYNC JOB stopme")
	// The run may already have ended by the time STOP reads it back.
	if (s.Status != "terminating" && s.Status != "terminated") || s.RunID != r.RunID {
		t.Fatalf("STOP = %+v", s)
	}
	waitFor(t, 20*time.Second, "terminated", func() bool { return runStatus(t, c, r.RunID) == "terminated" })
	var taskStatus string
	mustScan(t, c.QueryRow(ctx, "SELECT status FROM dataflow.run_tasks WHERE run_id = $1", r.RunID), &taskStatus)
	if taskStatus != "terminated" {
		t.Fatalf("task status = %s", taskStatus)
	}

	// A stage with no progress for heartbeat_timeout fails saying so.
	mustExec(t, c, `CREATE SYNC JOB hb FROM src.orders TO dst.hb MODE BATCH WHERE 'id = 1 AND pg_sleep(4) IS NOT NULL' WITH (heartbeat_timeout = 1, staging = 'none')`)
	r = runJob(t, c, "RUN SYNC JOB hb WAIT")
	if r.Status != "failed" || !strings.Contains(deref(r.Message), "heartbeat_timeout") {
		t.Fatalf("heartbeat run = %+v %s", r, deref(r.Message))
	}

	// Schedules: fires, next fire times, pause and resume.
	mustExec(t, c, `CREATE SYNC JOB sched FROM src.orders TO dst.sched MODE BATCH WHERE 'id < 0' SCHEDULE EVERY '1 second' WITH (algorithm = 'countdiff')`)
	waitFor(t, 15*time.Second, "two scheduled runs", func() bool {
		return count(t, c, "SELECT count(*) FROM dataflow.runs WHERE job = 'sched' AND trigger = 'schedule' AND status = 'completed'") >= 2
	})
	var state, expr string
	var fires []string
	if err := c.QueryRow(ctx, "SELECT state, expr, next_fires::text FROM dataflow.schedules WHERE job = 'sched'").Scan(&state, &expr, new(string)); err != nil {
		t.Fatal(err)
	}
	var firesJSON string
	mustScan(t, c.QueryRow(ctx, "SELECT state, expr, next_fires::text FROM dataflow.schedules WHERE job = 'sched'"), &state, &expr, &firesJSON)
	fires = strings.Split(strings.Trim(firesJSON, "[]"), ",")
	if state != "active" || expr != "1 second" || len(fires) != 10 {
		t.Fatalf("schedule row: %s %s %s", state, expr, firesJSON)
	}
	mustExec(t, c, "PAUSE SYNC JOB sched")
	time.Sleep(1500 * time.Millisecond) // a fire in flight may still finish
	before := count(t, c, "SELECT count(*) FROM dataflow.runs WHERE job = 'sched'")
	time.Sleep(2500 * time.Millisecond)
	if after := count(t, c, "SELECT count(*) FROM dataflow.runs WHERE job = 'sched'"); after != before {
		t.Fatalf("paused job fired: %d -> %d runs", before, after)
	}
	mustScan(t, c.QueryRow(ctx, "SELECT state, next_fires::text FROM dataflow.schedules WHERE job = 'sched'"), &state, &firesJSON)
	if state != "paused" || firesJSON != "[]" {
		t.Fatalf("paused schedule row: %s %s", state, firesJSON)
	}
	mustExec(t, c, "RESUME SYNC JOB sched")
	waitFor(t, 10*time.Second, "a run after RESUME", func() bool {
		return count(t, c, "SELECT count(*) FROM dataflow.runs WHERE job = 'sched'") > before
	})
	mustExec(t, c, "ALTER SYNC JOB sched SCHEDULE CRON '*/5 * * * *'")
	mustScan(t, c.QueryRow(ctx, "SELECT expr, next_fires::text FROM dataflow.schedules WHERE job = 'sched'"), &expr, &firesJSON)
	fires = strings.Split(strings.Trim(firesJSON, "[]"), ",")
	if expr != "*/5 * * * *" || len(fires) != 10 {
		t.Fatalf("cron schedule row: %s %s", expr, firesJSON)
	}
	for _, f := range fires {
		ts, err := time.Parse("2006-01-02 15:04:05.000000", strings.Trim(f, `" `))
		if err != nil || ts.Minute()%5 != 0 || ts.Second() != 0 {
			t.Fatalf("fire time %q (%v)", f, err)
		}
	}
	// ONCE fires one run right after creation, and never again.
	mustExec(t, c, `CREATE SYNC JOB once FROM src.orders TO dst.sched MODE BATCH WHERE 'id < 0' SCHEDULE ONCE WITH (algorithm = 'countdiff')`)
	waitFor(t, 10*time.Second, "the ONCE run", func() bool {
		return count(t, c, "SELECT count(*) FROM dataflow.runs WHERE job = 'once' AND trigger = 'schedule' AND status = 'completed'") == 1
	})
	var lastFire *time.Time
	mustScan(t, c.QueryRow(ctx, "SELECT last_fire, next_fires::text FROM dataflow.schedules WHERE job = 'once'"), &lastFire, &firesJSON)
	if lastFire == nil || firesJSON != "[]" {
		t.Fatalf("ONCE schedule row: %v %s", lastFire, firesJSON)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := count(t, c, "SELECT count(*) FROM dataflow.runs WHERE job = 'once'"); n != 1 {
		t.Fatalf("ONCE fired %d times", n)
	}
	// ALTER ... SCHEDULE ONCE fires once more (it never fired again).
	mustExec(t, c, "ALTER SYNC JOB once SCHEDULE ONCE")
	waitFor(t, 10*time.Second, "the second ONCE run", func() bool {
		return count(t, c, "SELECT count(*) FROM dataflow.runs WHERE job = 'once' AND status = 'completed'") == 2
	})
	// A paused job stays paused when its schedule changes (it started
	// firing every second).
	mustExec(t, c, "PAUSE SYNC JOB once")
	mustExec(t, c, "ALTER SYNC JOB once SCHEDULE EVERY '1 second'")
	mustScan(t, c.QueryRow(ctx, "SELECT state, next_fires::text FROM dataflow.schedules WHERE job = 'once'"), &state, &firesJSON)
	if state != "paused" || firesJSON != "[]" {
		t.Fatalf("paused job after a new schedule: %s %s", state, firesJSON)
	}
	time.Sleep(2500 * time.Millisecond)
	if n := count(t, c, "SELECT count(*) FROM dataflow.runs WHERE job = 'once'"); n != 2 {
		t.Fatalf("a paused job with a new schedule ran: %d runs", n)
	}
	mustExec(t, c, "RESUME SYNC JOB once")
	waitFor(t, 10*time.Second, "a run after RESUME with the new schedule", func() bool {
		return count(t, c, "SELECT count(*) FROM dataflow.runs WHERE job = 'once'") > 2
	})
	mustExec(t, c, "ALTER SYNC JOB once SCHEDULE NONE")
	mustExec(t, c, "ALTER SYNC JOB sched SCHEDULE NONE")
	if n := count(t, c, "SELECT count(*) FROM dataflow.schedules WHERE job = 'sched'"); n != 0 {
		t.Fatalf("schedule still listed after SCHEDULE NONE")
	}
	// The job metrics are there.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", g.metrics))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, want := range []string{`flowgate_run_duration_seconds_count{job="stopme",status="terminated"} 1`, `flowgate_job_rows_total{job="sched",operation="import"} 0`, `flowgate_run_duration_seconds_count{job="sched",status="completed"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestDatabaseJobsAcrossMySQLPostgresSQLiteAndS3(t *testing.T) {
	ctx := context.Background()
	my := testbed.MySQL(t)
	pg := testbed.Postgres(t)
	s3 := testbed.S3(t)
	myDB := my.NewDatabase(t, "shop")
	m := my.Open(t, myDB)
	for _, s := range []string{
		"CREATE TABLE a (id int PRIMARY KEY, name varchar(20), paid tinyint(1), at datetime(6))",
		"CREATE TABLE b (id int PRIMARY KEY, v double)",
		"CREATE TABLE c (id int PRIMARY KEY, body text)",
		"INSERT INTO a VALUES (1, 'x', 1, '2024-01-02 03:04:05.123456'), (2, '', 0, NULL), (3, NULL, 1, '1999-12-31 23:59:59')",
		"INSERT INTO b VALUES (1, 1.5), (2, -0.25)",
		"INSERT INTO c VALUES (1, 'line\\nwith \"quotes\", commas'), (2, 'ünïcødé 🚀')",
	} {
		if _, err := m.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	dwDB := pg.NewDatabase(t, "dw")
	dw := pg.Connect(t, dwDB)
	mustPG(t, dw, "CREATE TABLE a (id int PRIMARY KEY, name varchar(20), paid boolean, at timestamp(6))",
		"CREATE TABLE b (id int PRIMARY KEY, v double precision)", "CREATE TABLE c_copy (id int PRIMARY KEY, body text)")
	g := startGateway(t)
	c, notices := g.noticeConn(t)
	mustExec(t, c, mysqlDatasourceSQL("shop", my, my.Password, myDB))
	mustExec(t, c, pgDS("dw", pg, dwDB))
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE stage TYPE s3 OPTIONS (endpoint %s, region %s, bucket %s, access_key %s, secret_key %s, path_style 'true', prefix 'runs')",
		sqlString(s3.Endpoint), sqlString(s3.Region), sqlString(s3.Bucket), sqlString(s3.AccessKey), sqlString(s3.SecretKey)))

	// TABLES with a rename and EXCLUDE; staged through S3.
	mustExec(t, c, "CREATE SYNC JOB db FROM DATABASE shop TO DATABASE dw SCHEMA public TABLES (a, b, c AS c_copy) EXCLUDE (b) MODE BATCH WITH (batch_parallel_size = 2, staging = 'stage', algorithm = 'hashdiff')")
	r := runJob(t, c, "RUN SYNC JOB db WAIT")
	if r.Status != "completed" || r.RowsWritten != 5 {
		t.Fatalf("database run = %+v %s\n%s", r, deref(r.Message), g.logs())
	}
	rows, err := c.Query(ctx, "SELECT source_table || '>' || target_table || ':' || status FROM dataflow.run_tasks WHERE run_id = $1 ORDER BY task_id", r.RunID)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tasks, " ") != "a>public.a:completed c>public.c_copy:completed" {
		t.Fatalf("tasks = %v", tasks)
	}
	var uri string
	mustScan(t, c.QueryRow(ctx, "SELECT uri FROM dataflow.export_files WHERE run_id = $1 LIMIT 1", r.RunID), &uri)
	if !strings.HasPrefix(uri, "s3://"+s3.Bucket+"/runs/") {
		t.Fatalf("staged uri = %s", uri)
	}
	var name *string
	var paid bool
	var at *time.Time
	mustScan(t, dw.QueryRow(ctx, "SELECT name, paid, at FROM a WHERE id = 1"), &name, &paid, &at)
	if deref(name) != "x" || !paid || at == nil || at.Nanosecond() != 123456000 {
		t.Fatalf("row 1 = %v %v %v", deref(name), paid, at)
	}
	mustScan(t, dw.QueryRow(ctx, "SELECT name FROM a WHERE id = 2"), &name)
	if name == nil || *name != "" {
		t.Fatalf("empty string became %v", name)
	}
	mustScan(t, dw.QueryRow(ctx, "SELECT name FROM a WHERE id = 3"), &name)
	if name != nil {
		t.Fatalf("NULL became %q", *name)
	}
	var body string
	mustScan(t, dw.QueryRow(ctx, "SELECT body FROM c_copy WHERE id = 2"), &body)
	if body != "ünïcødé 🚀" {
		t.Fatalf("utf-8 body = %q", body)
	}
	// CLEAN EXPORT FILES removes the objects and says so.
	mustExec(t, c, "CLEAN EXPORT FILES FOR RUN '"+r.RunID+"'")
	if n := count(t, c, "SELECT count(*) FROM dataflow.export_files WHERE run_id = $1 AND state = 'present'", r.RunID); n != 0 {
		t.Fatalf("files still present: %d", n)
	}
	if objs, err := s3.Backend.ListBucket(s3.Bucket, nil, gofakes3.ListBucketPage{}); err != nil || len(objs.Contents) != 0 {
		t.Fatalf("objects left in the bucket: %v %v", objs, err)
	}
	var host string
	mustScan(t, c.QueryRow(ctx, "SELECT host FROM dataflow.cleanup_history WHERE run_id = $1 AND kind = 'export_files'", r.RunID), &host)
	if !strings.HasPrefix(host, "s3://") {
		t.Fatalf("cleanup host = %q", host)
	}

	// Whole database, same-name matching: c has no target of that name.
	before := len(notices())
	mustPG(t, dw, "TRUNCATE a, b")
	mustExec(t, c, "CREATE SYNC JOB whole FROM DATABASE shop TO DATABASE dw MODE BATCH WITH (algorithm = 'md5diff')")
	if got := strings.Join(notices()[before:], "\n"); !strings.Contains(got, "c") || !strings.Contains(got, "same-name") {
		t.Fatalf("no notice about the unmatched table: %q", got)
	}
	r = runJob(t, c, "RUN SYNC JOB whole WAIT")
	if r.Status != "completed" || r.RowsWritten != 5 {
		t.Fatalf("whole database = %+v %s", r, deref(r.Message))
	}

	// PostgreSQL to MySQL and to SQLite, verified.
	back := my.NewDatabase(t, "back")
	mb := my.Open(t, back)
	if _, err := mb.Exec("CREATE TABLE a (id int PRIMARY KEY, name varchar(20), paid tinyint(1), at datetime(6))"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, mysqlDatasourceSQL("back", my, my.Password, back))
	mustExec(t, c, "CREATE SYNC JOB pg2my FROM dw.a TO back.a MODE BATCH WITH (algorithm = 'hashdiff')")
	if r := runJob(t, c, "RUN SYNC JOB pg2my WAIT"); r.Status != "completed" || r.RowsWritten != 3 {
		t.Fatalf("PG -> MySQL = %+v %s", r, deref(r.Message))
	}
	// The rows as MySQL itself has them.
	sameRows(t, "PG -> MySQL target vs source",
		myTextRows(t, mb, `SELECT id, name, paid, DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f') FROM a ORDER BY id`),
		pgTextRows(t, dw, `SELECT id::text, name, paid::int::text, to_char(at, 'YYYY-MM-DD HH24:MI:SS.US') FROM a x ORDER BY x.id`))
	litePath := filepath.Join(t.TempDir(), "lite.db")
	ldb, err := sql.Open("sqlite3", litePath)
	if err != nil {
		t.Fatal(err)
	}
	defer ldb.Close()
	if _, err := ldb.Exec("CREATE TABLE a (id integer PRIMARY KEY, name varchar(20), paid boolean, at timestamp)"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE lite TYPE sqlite OPTIONS (path %s)", sqlString(litePath)))
	mustExec(t, c, "CREATE SYNC JOB pg2lite FROM dw.a TO lite.a MODE BATCH WITH (algorithm = 'hashdiff')")
	if r := runJob(t, c, "RUN SYNC JOB pg2lite WAIT"); r.Status != "completed" || r.RowsWritten != 3 {
		t.Fatalf("PG -> SQLite = %+v %s", r, deref(r.Message))
	}
	mustPG(t, dw, "CREATE TABLE a_back (id int PRIMARY KEY, name varchar(20), paid boolean, at timestamp(6))")
	mustExec(t, c, "CREATE SYNC JOB lite2pg FROM lite.a TO dw.a_back MODE BATCH WITH (algorithm = 'hashdiff')")
	if r := runJob(t, c, "RUN SYNC JOB lite2pg WAIT"); r.Status != "completed" || r.RowsWritten != 3 {
		t.Fatalf("SQLite -> PG = %+v %s", r, deref(r.Message))
	}
	var same bool
	mustScan(t, dw.QueryRow(ctx, "SELECT (SELECT array_agg(x ORDER BY id)::text FROM a x) = (SELECT array_agg(y ORDER BY id)::text FROM a_back y)"), &same)
	if !same {
		t.Fatalf("PG -> SQLite -> PG changed the rows")
	}

	// CLEAN SOURCE DATA deletes only the source rows the target holds, for
	// each pair of dialects: MySQL -> PostgreSQL (the whole-database run),
	// SQLite -> PostgreSQL and PostgreSQL -> MySQL; a row added since stays.
	runOf := func(job string) string {
		var id string
		mustScan(t, c.QueryRow(ctx, "SELECT run_id FROM dataflow.runs WHERE job = $1 AND status = 'completed' ORDER BY started_at DESC LIMIT 1", job), &id)
		return id
	}
	sqlN := func(db *sql.DB, q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if _, err := m.Exec("INSERT INTO a VALUES (9, 'late', 0, NULL)"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "CLEAN SOURCE DATA FOR RUN '"+runOf("whole")+"' BATCH 2")
	if a, b := sqlN(m, "SELECT COUNT(*) FROM a"), sqlN(m, "SELECT COUNT(*) FROM b"); a != 1 || b != 0 || sqlN(m, "SELECT COUNT(*) FROM a WHERE id = 9") != 1 {
		t.Fatalf("MySQL source after CLEAN: a %d rows, b %d rows; want the late row only", a, b)
	}
	if _, err := ldb.Exec("INSERT INTO a VALUES (7, 'late', 0, NULL)"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "CLEAN SOURCE DATA FOR RUN '"+runOf("lite2pg")+"' BATCH 2")
	if n := sqlN(ldb, "SELECT COUNT(*) FROM a"); n != 1 || sqlN(ldb, "SELECT COUNT(*) FROM a WHERE id = 7") != 1 {
		t.Fatalf("SQLite source after CLEAN: %d rows; want the late row only", n)
	}
	mustPG(t, dw, "INSERT INTO a VALUES (8, 'late', false, NULL)")
	mustExec(t, c, "CLEAN SOURCE DATA FOR RUN '"+runOf("pg2my")+"' BATCH 2")
	if n := count(t, dw, "SELECT count(*) FROM a"); n != 1 || count(t, dw, "SELECT count(*) FROM a WHERE id = 8") != 1 {
		t.Fatalf("PostgreSQL source after CLEAN: %d rows; want the late row only", n)
	}
}

func TestFiltersColumnsAndCleanSourceData(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "fsrc", "fdst")
	src, dst := rig.src, rig.dst
	mustPG(t, src, ordersDDL, "INSERT INTO orders (id, customer, amount, placed) SELECT i, i % 7, i, now() - i * interval '1 day' FROM generate_series(1, 1000) i")
	mustPG(t, dst, "CREATE TABLE recent (id bigint PRIMARY KEY, cust int, placed timestamptz, extra text DEFAULT 'untouched')")
	g, c := rig.start(t, pgx.QueryExecModeCacheStatement)
	mustExec(t, c, "CREATE SYNC JOB recent FROM src.orders TO dst.recent COLUMNS (id, customer AS cust, placed) MODE BATCH WHERE LAST 12 MONTHS ON placed WITH (algorithm = 'hashdiff')")
	r := runJob(t, c, "RUN SYNC JOB recent WAIT")
	want := count(t, src, "SELECT count(*) FROM orders WHERE placed >= now() - interval '12 months'")
	if r.Status != "completed" || r.RowsWritten != want || want < 360 || want > 370 {
		t.Fatalf("LAST 12 MONTHS run = %+v (want %d rows) %s", r, want, deref(r.Message))
	}
	if n := count(t, dst, "SELECT count(*) FROM recent WHERE extra = 'untouched'"); n != want {
		t.Fatalf("unmapped column touched: %d", n)
	}
	if n := count(t, dst, "SELECT count(*) FROM recent r WHERE cust <> id % 7"); n != 0 {
		t.Fatalf("customer -> cust mapping wrong in %d rows", n)
	}
	// Clean the migrated rows from the source in batches.
	rows, err := c.Query(ctx, "CLEAN SOURCE DATA FOR RUN '"+r.RunID+"' WHERE 'id <= 100' BATCH 30")
	if err != nil {
		t.Fatal(err)
	}
	type cleanRow struct {
		Table string
		Rows  int64
		SQL   string
	}
	cleaned, err := pgx.CollectRows(rows, pgx.RowToStructByPos[cleanRow])
	if err != nil || len(cleaned) != 1 || cleaned[0].Rows != 100 || !strings.Contains(cleaned[0].SQL, "DELETE") {
		t.Logf("left in source: %v; in target: %v", rowsOf(t, src, "SELECT string_agg(id::text, ',') FROM orders WHERE id <= 100"), rowsOf(t, dst, "SELECT count(*), min(id), max(id) FROM recent"))
		t.Fatalf("clean = %+v %v", cleaned, err)
	}
	if n := count(t, src, "SELECT count(*) FROM orders"); n != 900 {
		t.Fatalf("source rows after clean = %d", n)
	}
	// Only rows the target holds go: a row added to the source after the
	// run matches the filters but stays (a NOTICE says so).
	mustPG(t, src, "INSERT INTO orders (id, customer, placed) VALUES (1500, 1, now())")
	nc, notices := g.noticeConn(t)
	rows, err = nc.Query(ctx, "CLEAN SOURCE DATA FOR RUN '"+r.RunID+"' BATCH 70")
	if err != nil {
		t.Fatal(err)
	}
	cleaned, err = pgx.CollectRows(rows, pgx.RowToStructByPos[cleanRow])
	if err != nil || len(cleaned) != 1 || cleaned[0].Rows != want-100 {
		t.Fatalf("second clean = %+v %v, want %d rows", cleaned, err, want-100)
	}
	if n := count(t, src, "SELECT count(*) FROM orders WHERE id = 1500"); n != 1 {
		t.Fatalf("a source row the target never had was deleted")
	}
	if n := count(t, src, "SELECT count(*) FROM orders"); n != 900-(want-100)+1 {
		t.Fatalf("source rows after the second clean = %d, want %d", n, 900-(want-100)+1)
	}
	if got := strings.Join(notices(), "\n"); !strings.Contains(got, "kept 1 rows") {
		t.Errorf("notices %q lack the kept row", got)
	}
	// Without a primary key CLEAN cannot tell what the target holds:
	// refused unless FORCE, which deletes by the filters alone.
	mustPG(t, src, "CREATE TABLE nopk (id int, v text)", "INSERT INTO nopk SELECT i, 'v' FROM generate_series(1, 10) i")
	mustPG(t, dst, "CREATE TABLE nopk (id int, v text)")
	mustExec(t, c, "CREATE SYNC JOB nopk FROM src.nopk TO dst.nopk MODE BATCH WITH (algorithm = 'countdiff')")
	rn := runJob(t, c, "RUN SYNC JOB nopk WAIT")
	if rn.Status != "completed" {
		t.Fatalf("nopk run: %s %s", rn.Status, deref(rn.Message))
	}
	_, err = c.Exec(ctx, "CLEAN SOURCE DATA FOR RUN '"+rn.RunID+"'")
	if pe := wantCode(t, err, "55000"); !strings.Contains(pe.Message, "no primary key") || !strings.Contains(pe.Hint, "FORCE") {
		t.Errorf("nopk clean: %q hint %q", pe.Message, pe.Hint)
	}
	mustExec(t, c, "CLEAN SOURCE DATA FOR RUN '"+rn.RunID+"' WHERE 'id <= 4' FORCE")
	if n := count(t, src, "SELECT count(*) FROM nopk"); n != 6 {
		t.Fatalf("nopk rows after FORCE clean = %d", n)
	}
	var user, sqlText string
	var cleanedRows int64
	mustScan(t, c.QueryRow(ctx, `SELECT "user", sql, rows FROM dataflow.cleanup_history WHERE run_id = $1 AND kind = 'source_data'`, r.RunID), &user, &sqlText, &cleanedRows)
	if user != "admin" || cleanedRows != 100 || !strings.Contains(sqlText, "DELETE") {
		t.Fatalf("cleanup history: %s %d %s", user, cleanedRows, sqlText)
	}
	// Unverified runs are refused unless FORCE.
	mustExec(t, c, "CREATE SYNC JOB unverified FROM src.orders TO dst.recent COLUMNS (id, customer AS cust, placed) MODE BATCH WHERE 'id > 2000' WITH (algorithm = 'none')")
	r = runJob(t, c, "RUN SYNC JOB unverified WAIT")
	_, err = c.Exec(ctx, "CLEAN SOURCE DATA FOR RUN '"+r.RunID+"'")
	wantCode(t, err, "55000")
	mustExec(t, c, "CLEAN SOURCE DATA FOR RUN '"+r.RunID+"' FORCE")
	if n := count(t, src, "SELECT count(*) FROM orders"); n != 900-(want-100)+1 {
		t.Fatalf("FORCE clean with WHERE 'id > 2000' deleted rows: %d left", n)
	}
	_ = os.Getenv
}

func TestParquetStagedFiles(t *testing.T) {
	ctx := context.Background()
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	srcDB := pg.NewDatabase(t, "pqsrc")
	src := pg.Connect(t, srcDB)
	mustPG(t, src, ordersDDL, `INSERT INTO orders SELECT i, i, i / 3.0, CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE E'a,"b"\n' || i END,
		'2024-05-06 07:08:09.123456+00', i % 2 = 0 FROM generate_series(1, 1000) i`)
	dstDB := my.NewDatabase(t, "pqdst")
	if _, err := my.Open(t, dstDB).Exec("CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount decimal(12,2), note text, placed timestamp(6) NULL, flag tinyint(1))"); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, pgDS("src", pg, srcDB))
	mustExec(t, c, mysqlDatasourceSQL("dst", my, my.Password, dstDB))
	mustExec(t, c, "CREATE SYNC JOB pq FROM src.orders TO dst.orders MODE BATCH WITH (batch_file_format = 'parquet', export_batch_rows = 300, algorithm = 'hashdiff', bisection_threshold = 100, bisection_factor = 4)")
	r := runJob(t, c, "RUN SYNC JOB pq WAIT")
	if r.Status != "completed" || r.RowsWritten != 1000 {
		t.Fatalf("parquet run = %+v %s", r, deref(r.Message))
	}
	rows, err := c.Query(ctx, "SELECT uri FROM dataflow.export_files WHERE run_id = $1 ORDER BY uri", r.RunID)
	if err != nil {
		t.Fatal(err)
	}
	uris, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(uris) != 4 {
		t.Fatalf("files = %v %v", uris, err)
	}
	// The source's rows in flowgate's canonical text forms, by PostgreSQL.
	mustPG(t, src, "SET TimeZone = 'UTC'")
	want := pgTextRows(t, src, `SELECT id::text, customer::text, amount::text, note, placed::text, CASE WHEN flag THEN 't' ELSE 'f' END FROM orders o ORDER BY o.id`)
	// A second reader: parquet-go's generic reader over each file's own
	// schema, which must declare six optional UTF-8 string columns named
	// in the key-value metadata.
	var got [][]*string
	for _, u := range uris {
		if !strings.HasSuffix(u, ".parquet") {
			t.Fatalf("%s is not a .parquet file", u)
		}
		got = append(got, readParquetFile(t, strings.TrimPrefix(u, "file://"), []string{"id", "customer", "amount", "note", "placed", "flag"})...)
	}
	sort.Slice(got, func(i, j int) bool { return atoiPtr(got[i][0]) < atoiPtr(got[j][0]) })
	sameRows(t, "parquet files vs source", got, want)

	// The MySQL target's rows, read by MySQL itself.
	want = pgTextRows(t, src, `SELECT id::text, customer::text, amount::text, note, extract(epoch from placed)::text, flag::int::text FROM orders o ORDER BY o.id`)
	got = myTextRows(t, my.Open(t, dstDB), `SELECT id, customer, amount, note, UNIX_TIMESTAMP(placed), flag FROM orders ORDER BY id`)
	sameRows(t, "MySQL target vs source", got, want)
}

// readParquetFile reads a staged parquet file with parquet-go's generic
// reader (not flowgate's), checks that its schema has one optional UTF-8
// string column per name (c0000, c0001, ... holding the names in the
// file's metadata) and returns its rows as text (nil = NULL).
func readParquetFile(t *testing.T, path string, names []string) [][]*string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	fields := pf.Schema().Fields()
	if len(fields) != len(names) {
		t.Fatalf("%s: %d columns, want %d", path, len(fields), len(names))
	}
	for i, fl := range fields {
		col := fmt.Sprintf("c%04d", i)
		logical := "none"
		isString := false
		if lt := fl.Type().LogicalType(); lt != nil && lt.Value != nil {
			logical = lt.String()
			_, isString = lt.Value.(*format.StringType)
		}
		if fl.Name() != col || !fl.Optional() || fl.Type().Kind() != parquet.ByteArray || !isString {
			t.Fatalf("%s: column %d is %s optional=%v %s logical type %s, want %s optional BYTE_ARRAY (STRING)", path, i, fl.Name(), fl.Optional(), fl.Type().Kind(), logical, col)
		}
		if v, ok := pf.Lookup(col); !ok || v != names[i] {
			t.Fatalf("%s: metadata %s = %q, want %q", path, col, v, names[i])
		}
	}
	r := parquet.NewGenericReader[map[string]any](f, pf.Schema())
	defer r.Close()
	var out [][]*string
	buf := make([]map[string]any, 64)
	for {
		for i := range buf {
			buf[i] = map[string]any{}
		}
		n, err := r.Read(buf)
		for _, m := range buf[:n] {
			row := make([]*string, len(names))
			for i := range names {
				switch v := m[fmt.Sprintf("c%04d", i)].(type) {
				case nil:
				case string:
					row[i] = &v
				case []byte:
					s := string(v)
					row[i] = &s
				default:
					t.Fatalf("%s: column c%04d holds a %T", path, i, v)
				}
			}
			out = append(out, row)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: read: %v", path, err)
		}
	}
	if int64(len(out)) != pf.NumRows() {
		t.Fatalf("%s: read %d rows, the file says %d", path, len(out), pf.NumRows())
	}
	return out
}

// pgTextRows runs q on PostgreSQL and returns its rows as text (nil = NULL).
func pgTextRows(t testing.TB, c *pgx.Conn, q string) [][]*string {
	t.Helper()
	rows, err := c.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]*string
	for rows.Next() {
		raw := rows.RawValues()
		row := make([]*string, len(raw))
		for i, b := range raw {
			if b != nil {
				s := string(b)
				row[i] = &s
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// myTextRows runs q on MySQL and returns its rows as text (nil = NULL).
func myTextRows(t testing.TB, db *sql.DB, q string) [][]*string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]*string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		row := make([]*string, len(cols))
		for i, v := range vals {
			if v.Valid {
				s := v.String
				row[i] = &s
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// sameRows fails at the first row that differs, showing both.
func sameRows(t testing.TB, what string, got, want [][]*string) {
	t.Helper()
	show := func(r []*string) string {
		var parts []string
		for _, v := range r {
			parts = append(parts, derefNull(v))
		}
		return strings.Join(parts, " | ")
	}
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			t.Fatalf("%s: %d rows, want %d; first missing: %s", what, len(got), len(want), show(want[i]))
		case i >= len(want):
			t.Fatalf("%s: %d rows, want %d; first extra: %s", what, len(got), len(want), show(got[i]))
		case show(got[i]) != show(want[i]):
			t.Fatalf("%s: row %d\n got  %s\n want %s", what, i, show(got[i]), show(want[i]))
		}
	}
	if len(want) == 0 {
		t.Fatalf("%s: no rows to compare", what)
	}
}

func derefNull(s *string) string {
	if s == nil {
		return "NULL"
	}
	return strconv.Quote(*s)
}

func atoiPtr(s *string) int {
	if s == nil {
		return -1
	}
	n, _ := strconv.Atoi(*s)
	return n
}

func TestGracefulShutdownDuringRunThenRetry(t *testing.T) {
	rig := newPGRig(t, "gsrc", "gdst")
	src, dst := rig.src, rig.dst
	mustPG(t, src, ordersDDL, "INSERT INTO orders (id, customer) SELECT i, i FROM generate_series(1, 2000) i")
	mustPG(t, dst, ordersDDL)
	slowTarget(t, dst, "orders", 3)
	g, c := rig.start(t, pgx.QueryExecModeExec)
	mustExec(t, c, "CREATE SYNC JOB g FROM src.orders TO dst.orders MODE BATCH WITH (export_batch_rows = 100, import_parallel = 1, algorithm = 'countdiff')")
	// A session waits on the run while the gateway is told to stop.
	waiter := g.connect(t, "admin", pgx.QueryExecModeExec)
	type waited struct {
		r   runRow
		err error
	}
	done := make(chan waited, 1)
	go func() {
		var w waited
		w.err = waiter.QueryRow(context.Background(), "RUN SYNC JOB g WAIT").Scan(&w.r.RunID, &w.r.Job, &w.r.Status, &w.r.Trigger,
			&w.r.StartedAt, &w.r.FinishedAt, &w.r.RowsRead, &w.r.RowsWritten, &w.r.Bytes, &w.r.Message)
		done <- w
	}()
	waitFor(t, 20*time.Second, "a file imported", func() bool {
		return count(t, c, "SELECT count(*) FROM dataflow.export_files WHERE imported") >= 1
	})
	started := time.Now()
	g.stop() // SIGTERM: must exit 0
	if d := time.Since(started); d > 20*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
	// The waiting session gets the run row (failed by the shutdown) or, if
	// the server closed it first, a connection error; never a hang.
	var w waited
	select {
	case w = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting session hung after shutdown")
	}
	if w.err == nil && (w.r.Status != "failed" || !strings.Contains(deref(w.r.Message), "shutdown")) {
		t.Fatalf("waiting session got %+v %s", w.r, deref(w.r.Message))
	}
	g.restart()
	c = g.connect(t, "admin", pgx.QueryExecModeExec)
	var runID, status, msg string
	if err := c.QueryRow(context.Background(), "SELECT run_id, status, message FROM dataflow.runs WHERE job = 'g'").Scan(&runID, &status, &msg); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || !(strings.Contains(msg, "shutdown") || strings.Contains(msg, "restart")) {
		t.Fatalf("run after restart: %s %q (waiter: %v)", status, msg, w.err)
	}
	r2 := runJob(t, c, "RETRY RUN '"+runID+"'")
	if r2.Status != "completed" {
		t.Fatalf("retry after shutdown = %+v %s", r2, deref(r2.Message))
	}
	if n := count(t, dst, "SELECT count(DISTINCT id) FROM orders"); n != 2000 || count(t, dst, "SELECT count(*) FROM orders") != 2000 {
		t.Fatalf("rows after retry = %d", n)
	}
}

func TestArraysIntoJSONAndTinyIntIntoInteger(t *testing.T) {
	ctx := context.Background()
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	pgDB := pg.NewDatabase(t, "arr")
	p := pg.Connect(t, pgDB)
	mustPG(t, p, "CREATE TABLE tags (id int PRIMARY KEY, labels text[], nums int[])",
		`INSERT INTO tags VALUES (1, '{a,"b c",NULL}', '{1,2}'), (2, '{}', NULL), (3, NULL, '{3}')`,
		"CREATE TABLE flags (id int PRIMARY KEY, f smallint)")
	myDB := my.NewDatabase(t, "arr")
	m := my.Open(t, myDB)
	for _, s := range []string{"CREATE TABLE tags (id int PRIMARY KEY, labels json, nums json)",
		"CREATE TABLE flags (id int PRIMARY KEY, f tinyint(1))", "INSERT INTO flags VALUES (1, 1), (2, 0), (3, NULL)"} {
		if _, err := m.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, pgDS("pg", pg, pgDB))
	mustExec(t, c, mysqlDatasourceSQL("my", my, my.Password, myDB))
	mustExec(t, c, "CREATE SYNC JOB tags FROM pg.tags TO my.tags MODE BATCH WITH (algorithm = 'hashdiff')")
	if r := runJob(t, c, "RUN SYNC JOB tags WAIT"); r.Status != "completed" || r.RowsWritten != 3 {
		t.Fatalf("arrays -> json = %+v %s", r, deref(r.Message))
	}
	// Every row as MySQL itself has it: JSON arrays, NULL kept.
	str := func(s string) *string { return &s }
	sameRows(t, "json on MySQL", myTextRows(t, m, "SELECT id, labels, nums FROM tags ORDER BY id"), [][]*string{
		{str("1"), str(`["a","b c",null]`), str("[1,2]")},
		{str("2"), str("[]"), nil},
		{str("3"), nil, str("[3]")},
	})
	mustExec(t, c, "CREATE SYNC JOB flags FROM my.flags TO pg.flags MODE BATCH WITH (algorithm = 'hashdiff')")
	if r := runJob(t, c, "RUN SYNC JOB flags WAIT"); r.Status != "completed" || r.RowsWritten != 3 {
		t.Fatalf("tinyint(1) -> smallint = %+v %s", r, deref(r.Message))
	}
	var got string
	mustScan(t, p.QueryRow(ctx, "SELECT string_agg(coalesce(f::text, 'null'), ',' ORDER BY id) FROM flags"), &got)
	if got != "1,0,null" {
		t.Fatalf("flags on PG: %s", got)
	}
}

func TestLockTimeoutOnTargetThenRetry(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "lsrc", "ldst")
	mustPG(t, rig.src, ordersDDL, "INSERT INTO orders (id, customer) SELECT i, i FROM generate_series(1, 500) i")
	mustPG(t, rig.dst, ordersDDL)
	_, c := rig.start(t, pgx.QueryExecModeExec)
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE locked TYPE postgres OPTIONS (host %s, port '%d', database %s, user %s, password %s, extparam 'lock_timeout=500')",
		sqlString(rig.pg.Host), rig.pg.Port, sqlString(rig.dstDB), sqlString(rig.pg.User), sqlString(rig.pg.Password)))
	mustExec(t, c, "CREATE SYNC JOB l FROM src.orders TO locked.orders MODE BATCH WITH (algorithm = 'md5diff')")
	holder := rig.pg.Connect(t, rig.dstDB)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	r := runJob(t, c, "RUN SYNC JOB l WAIT")
	if r.Status != "failed" || !strings.Contains(deref(r.Message), "lock timeout") {
		t.Fatalf("run against a locked table = %+v %s", r, deref(r.Message))
	}
	var stage, msg string
	mustScan(t, c.QueryRow(ctx, "SELECT stage, message FROM dataflow.run_stages WHERE run_id = $1 AND status = 'failed'", r.RunID), &stage, &msg)
	if stage != "ImportTable" || !strings.Contains(msg, "canceling statement due to lock timeout") {
		t.Fatalf("failed stage %s: %q", stage, msg)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	r = runJob(t, c, "RETRY RUN '"+r.RunID+"'")
	if r.Status != "completed" || count(t, rig.dst, "SELECT count(*) FROM orders") != 500 {
		t.Fatalf("retry after the lock went = %+v %s", r, deref(r.Message))
	}
}
