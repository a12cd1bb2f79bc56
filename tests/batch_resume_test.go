package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
)

// Batch runs resume from any point: a kill -9 (or SIGTERM) in any stage,
// then RETRY, ends with exactly the source's rows, and the retry reads
// again only the partitions that were not in the target.

// retryInBackground starts RETRY RUN on its own session; the session ends
// with the gateway, so the result is not waited for.
func retryInBackground(t *testing.T, g *gateway, runID string) {
	t.Helper()
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	go func() {
		var s string
		_ = c.QueryRow(context.Background(), "RETRY RUN '"+runID+"'").Scan(&s, new(string), new(string), new(string), new(time.Time), new(*time.Time),
			new(int64), new(int64), new(int64), new(*string))
	}()
}

// importedPartitions is how many partitions the catalog records as in the
// target.
func importedPartitions(t *testing.T, c *pgx.Conn, runID string) int64 {
	return count(t, c, "SELECT count(*) FROM dataflow.run_partitions WHERE run_id = $1 AND imported", runID)
}

func stageStatus(t *testing.T, c *pgx.Conn, runID, stage string) string {
	t.Helper()
	var s string
	mustScan(t, c.QueryRow(context.Background(), "SELECT status FROM dataflow.run_stages WHERE run_id = $1 AND stage = $2", runID, stage), &s)
	return s
}

// wholePartitions checks that the target holds whole partitions of size
// rows, each once, and returns the row count.
func wholePartitions(t *testing.T, dst *pgx.Conn, table string, size int64) int64 {
	t.Helper()
	n := count(t, dst, "SELECT count(*) FROM "+table)
	if d := count(t, dst, "SELECT count(DISTINCT id) FROM "+table); d != n {
		t.Fatalf("%s: %d rows but %d distinct ids: a partition loaded twice", table, n, d)
	}
	if n%size != 0 {
		t.Fatalf("%s: %d rows, not whole partitions of %d", table, n, size)
	}
	return n
}

// killAndRestart kills the gateway with SIGKILL (or stops it with SIGTERM)
// and starts it again; the run must then be failed, saying why.
func killAndRestart(t *testing.T, g *gateway, runID string, sigterm bool) *pgx.Conn {
	t.Helper()
	if sigterm {
		g.stop()
	} else {
		g.kill9()
	}
	g.restart()
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	var status, msg string
	mustScan(t, c.QueryRow(context.Background(), "SELECT status, message FROM dataflow.runs WHERE run_id = $1", runID), &status, &msg)
	want := "interrupted by restart"
	if sigterm {
		want = "interrupted by gateway shutdown"
	}
	if status != "failed" || !strings.Contains(msg, want) {
		t.Fatalf("after the restart the run is %s %q, want failed %q", status, msg, want)
	}
	return c
}

func stageMessage(t *testing.T, c *pgx.Conn, runID, stage string) string {
	t.Helper()
	var m *string
	mustScan(t, c.QueryRow(context.Background(), "SELECT message FROM dataflow.run_stages WHERE run_id = $1 AND stage = $2", runID, stage), &m)
	return deref(m)
}

// The case: MySQL to PostgreSQL, staged, killed three times while
// ExportTable runs and partitions are already in the target, then once
// while ImportTable runs alone and once during TableDataDiff; every
// restart's RETRY continues, and the end holds exactly the source's rows.
func TestBatchKill9InEveryStageMySQLToPostgres(t *testing.T) {
	ctx := context.Background()
	my := testbed.MySQL(t)
	myDB := my.NewDatabase(t, "kexp")
	m := my.Open(t, myDB)
	const rows, size = 2000, 100
	for _, s := range []string{
		"CREATE TABLE lineitem (id int PRIMARY KEY, qty int NOT NULL, note varchar(40))",
		fmt.Sprintf("INSERT INTO lineitem SELECT seq, seq %% 7, CONCAT('line ', seq) FROM seq_1_to_%d", rows),
	} {
		if _, err := m.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	pg := testbed.Postgres(t)
	pgDB := pg.NewDatabase(t, "kexp")
	dst := pg.Connect(t, pgDB)
	mustPG(t, dst, "CREATE TABLE lineitem (id int PRIMARY KEY, qty int NOT NULL, note varchar(40))")
	slowTarget(t, dst, "lineitem", 1) // ~0.1 s a partition
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, mysqlDatasourceSQL("my", my, my.Password, myDB))
	mustExec(t, c, pgDS("pg", pg, pgDB))
	// The export reads about 3 ms a row: 0.3 s a partition, two at once,
	// slower than the imports behind it (0.1 s a partition).
	mustExec(t, c, `CREATE SYNC JOB k FROM my.lineitem TO pg.lineitem MODE BATCH WHERE 'SLEEP(0.003) = 0' TARGET WHERE 'true'
		WITH (export_batch_rows = 100, parallel_export = 2, import_parallel = 1, algorithm = 'hashdiff', bisection_threshold = 200, bisection_factor = 4)`)
	r := runJob(t, c, "RUN SYNC JOB k")
	if n := count(t, c, "SELECT count(*) FROM dataflow.run_partitions WHERE run_id = $1", r.RunID); n != rows/size && n != 0 {
		t.Fatalf("partitions = %d", n)
	}
	// Three kills while ExportTable runs with partitions imported.
	last := int64(0)
	for kill := 1; kill <= 3; kill++ {
		waitFor(t, 60*time.Second, fmt.Sprintf("kill %d: more partitions imported while ExportTable runs", kill), func() bool {
			return importedPartitions(t, c, r.RunID) >= last+3
		})
		if s := stageStatus(t, c, r.RunID, "ExportTable"); s != "running" {
			t.Fatalf("kill %d: ExportTable is %s, want running (the kill must hit the export)", kill, s)
		}
		c = killAndRestart(t, g, r.RunID, false)
		n := wholePartitions(t, dst, "lineitem", size)
		if n == 0 || n == rows {
			t.Fatalf("kill %d: %d rows in the target, want part of the table", kill, n)
		}
		// What the target holds is what the catalog (or the marks) says.
		last = importedPartitions(t, c, r.RunID)
		marks := count(t, dst, "SELECT count(*) FROM flowgate.import_marks WHERE run_id = $1", r.RunID)
		if marks*size != n || last > marks {
			t.Fatalf("kill %d: %d rows, %d marks, %d partitions imported in the catalog", kill, n, marks, last)
		}
		last = marks
		retryInBackground(t, g, r.RunID)
		waitFor(t, 20*time.Second, "the retry running", func() bool { return runStatus(t, c, r.RunID) == "running" })
	}
	// Kill during ImportTable once the export is done.
	waitFor(t, 60*time.Second, "ExportTable completed while ImportTable runs", func() bool {
		return stageStatus(t, c, r.RunID, "ExportTable") == "completed" && stageStatus(t, c, r.RunID, "ImportTable") == "running"
	})
	c = killAndRestart(t, g, r.RunID, false)
	if n := wholePartitions(t, dst, "lineitem", size); n == rows {
		t.Logf("the import finished before the kill landed")
	}
	// The export is complete: a RETRY imports the rest without exporting.
	retryInBackground(t, g, r.RunID)
	// Kill during TableDataDiff.
	waitFor(t, 60*time.Second, "TableDataDiff running", func() bool {
		return stageStatus(t, c, r.RunID, "TableDataDiff") == "running"
	})
	c = killAndRestart(t, g, r.RunID, false)
	if n := wholePartitions(t, dst, "lineitem", size); n != rows {
		t.Fatalf("rows once ImportTable completed = %d", n)
	}
	r2 := runJob(t, c, "RETRY RUN '"+r.RunID+"'")
	if r2.Status != "completed" {
		t.Fatalf("last retry = %+v %s\n%s", r2, deref(r2.Message), g.logs())
	}
	if n := wholePartitions(t, dst, "lineitem", size); n != rows {
		t.Fatalf("rows after the last retry = %d, want %d", n, rows)
	}
	var sum int64
	mustScan(t, dst.QueryRow(ctx, "SELECT sum(qty) FROM lineitem"), &sum)
	var want int64
	if err := m.QueryRow("SELECT SUM(qty) FROM lineitem").Scan(&want); err != nil || sum != want {
		t.Fatalf("sum(qty) target %d source %d (%v)", sum, want, err)
	}
	if n := count(t, dst, "SELECT count(*) FROM flowgate.import_marks WHERE run_id = $1", r.RunID); n != rows/size {
		t.Fatalf("marks = %d, want one per partition", n)
	}
	if n := count(t, dst, "SELECT count(*) FROM pg_tables WHERE tablename = 'flowgate_import_marks'"); n != 0 {
		t.Fatalf("a marks table among the user's tables")
	}
	// The export ran once per attempt until it completed, and never again.
	var exportAttempts, importAttempts, diffAttempts int64
	mustScan(t, c.QueryRow(ctx, `SELECT max(attempts) FILTER (WHERE stage = 'ExportTable'), max(attempts) FILTER (WHERE stage = 'ImportTable'),
		max(attempts) FILTER (WHERE stage = 'TableDataDiff') FROM dataflow.run_stages WHERE run_id = $1`, r.RunID), &exportAttempts, &importAttempts, &diffAttempts)
	if exportAttempts < 4 || diffAttempts != 2 {
		t.Fatalf("attempts: export %d import %d diff %d", exportAttempts, importAttempts, diffAttempts)
	}
}

// staging = 'none': each partition streams into its own transaction with
// its mark; kills and a SIGTERM mid-stream, each followed by RETRY, end
// with every row once, and each retry skips the partitions already in.
func TestBatchStreamResumesAfterKillAndSigterm(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "ssrc", "sdst")
	const rows, size = 4000, 100
	mustPG(t, rig.src, ordersDDL, fmt.Sprintf("INSERT INTO orders (id, customer, note) SELECT i, i %% 13, 'row ' || i FROM generate_series(1, %d) i", rows))
	mustPG(t, rig.dst, ordersDDL)
	slowTarget(t, rig.dst, "orders", 1)
	g, c := rig.start(t, pgx.QueryExecModeExec)
	// TARGET WHERE makes the verification slow enough to be killed
	// (0.5 ms a target row); it selects every row.
	mustExec(t, c, `CREATE SYNC JOB s FROM src.orders TO dst.orders MODE BATCH TARGET WHERE 'pg_sleep(0.0005) IS NOT NULL'
		WITH (staging = 'none', export_batch_rows = 100, parallel_export = 2, algorithm = 'hashdiff', bisection_threshold = 200, bisection_factor = 4)`)
	r := runJob(t, c, "RUN SYNC JOB s")
	last := int64(0)
	for i, sigterm := range []bool{false, true, false} {
		waitFor(t, 60*time.Second, fmt.Sprintf("stop %d: more rows streamed", i+1), func() bool {
			return count(t, rig.dst, "SELECT count(*) FROM orders") >= last+3*size
		})
		c = killAndRestart(t, g, r.RunID, sigterm)
		n := wholePartitions(t, rig.dst, "orders", size)
		if n == rows {
			t.Fatalf("stop %d: the stream finished before the stop", i+1)
		}
		if marks := count(t, rig.dst, "SELECT count(*) FROM flowgate.import_marks WHERE run_id = $1", r.RunID); marks*size != n {
			t.Fatalf("stop %d: %d rows but %d marks", i+1, n, marks)
		}
		last = n
		retryInBackground(t, g, r.RunID)
		waitFor(t, 20*time.Second, "the retry running", func() bool { return runStatus(t, c, r.RunID) == "running" })
	}
	// A kill during TableDataDiff: the rows are all in, the retry only
	// verifies.
	waitFor(t, 60*time.Second, "TableDataDiff running", func() bool {
		return stageStatus(t, c, r.RunID, "TableDataDiff") == "running"
	})
	c = killAndRestart(t, g, r.RunID, false)
	if n := wholePartitions(t, rig.dst, "orders", size); n != rows {
		t.Fatalf("rows once ImportTable completed = %d", n)
	}
	r2 := runJob(t, c, "RETRY RUN '"+r.RunID+"'")
	if r2.Status != "completed" {
		t.Fatalf("retry = %+v %s\n%s", r2, deref(r2.Message), g.logs())
	}
	if n := wholePartitions(t, rig.dst, "orders", size); n != rows {
		t.Fatalf("rows after the retry = %d", n)
	}
	msg := stageMessage(t, c, r.RunID, "ImportTable")
	var did, of, before int
	if _, err := fmt.Sscanf(msg, "imported %d of %d partitions (%d were done before)", &did, &of, &before); err != nil ||
		of != rows/size || int64(before*size) != last || did+before != of {
		t.Fatalf("last attempt's import message %q, want the %d partitions in before the retry skipped", msg, last/size)
	}
	var exportAttempts, diffAttempts int64
	mustScan(t, c.QueryRow(ctx, `SELECT max(attempts) FILTER (WHERE stage = 'ExportTable'), max(attempts) FILTER (WHERE stage = 'TableDataDiff')
		FROM dataflow.run_stages WHERE run_id = $1`, r.RunID), &exportAttempts, &diffAttempts)
	if exportAttempts != 4 || diffAttempts != 2 {
		t.Fatalf("attempts: export %d (want 4: the run and three retries), diff %d (want 2)", exportAttempts, diffAttempts)
	}
	var sum int64
	mustScan(t, rig.dst.QueryRow(ctx, "SELECT sum(customer) FROM orders"), &sum)
	if want := count(t, rig.src, "SELECT sum(customer) FROM orders"); sum != want {
		t.Fatalf("sum(customer) %d, want %d", sum, want)
	}
}

// A PostgreSQL source's partitions are all read from one snapshot, taken
// when the export starts, whether they are read one at a time or two at
// once: rows deleted at the source after that, while earlier partitions
// are still loading, are copied all the same (with one snapshot per
// partition they would be missing).
func TestBatchPartitionsReadOneSnapshot(t *testing.T) {
	rig := newPGRig(t, "snsrc", "sndst")
	const rows, size = 3000, 100
	mustPG(t, rig.src, ordersDDL)
	_, c := rig.start(t, pgx.QueryExecModeExec)
	for _, par := range []int{1, 2} {
		table := fmt.Sprintf("orders_p%d", par)
		mustPG(t, rig.src, "TRUNCATE orders", fmt.Sprintf("INSERT INTO orders (id, customer) SELECT i, i FROM generate_series(1, %d) i", rows))
		mustPG(t, rig.dst, strings.Replace(ordersDDL, "orders", table, 1))
		slowTarget(t, rig.dst, table, 1) // ~0.1 s a partition
		mustExec(t, c, fmt.Sprintf("CREATE SYNC JOB snap%d FROM src.orders TO dst.%s MODE BATCH WITH (staging = 'none', export_batch_rows = 100, parallel_export = %d, algorithm = 'none')",
			par, table, par))
		r := runJob(t, c, fmt.Sprintf("RUN SYNC JOB snap%d", par))
		waitFor(t, 30*time.Second, "the first partitions in", func() bool { return count(t, rig.dst, "SELECT count(*) FROM "+table) >= 2*size })
		mustPG(t, rig.src, "DELETE FROM orders WHERE id > 2000")
		if n := count(t, rig.dst, "SELECT count(*) FROM "+table); n >= 2000 {
			t.Fatalf("parallel_export %d: the copy was too far along (%d rows) when the rows were deleted", par, n)
		}
		waitFor(t, 60*time.Second, "the run to end", func() bool { s := runStatus(t, c, r.RunID); return s != "running" && s != "created" })
		if s := runStatus(t, c, r.RunID); s != "completed" {
			t.Fatalf("parallel_export %d: run %s", par, s)
		}
		if n := wholePartitions(t, rig.dst, table, size); n != rows {
			t.Fatalf("parallel_export %d: rows copied = %d, want all %d as of the snapshot", par, n, rows)
		}
	}
}
