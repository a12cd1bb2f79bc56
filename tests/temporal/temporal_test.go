package temporal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"
)

// A 2,000,000-row database job of 4 tables runs its partitions on 2
// workers; one is killed (-9) mid-run; its copies are retried on the
// other and the target ends with exactly the source's rows, verified.
func TestTemporalPartitionsOnTwoWorkersSurviveKill9(t *testing.T) {
	pg := testbed.Postgres(t)
	srcDB, dstDB := shop(t, pg, 4, 500_000)
	c := newCluster(t)
	g := c.gateway()
	w1, w2 := c.worker(""), c.worker("")
	conn := g.connect()
	exec1(t, conn, pgDatasource("src", pg, srcDB))
	exec1(t, conn, pgDatasource("dst", pg, dstDB))
	exec1(t, conn, `CREATE SYNC JOB big FROM DATABASE src TO DATABASE dst MODE BATCH
		WITH (staging = 'none', export_batch_rows = 50000, parallel_export = 2, batch_parallel_size = 2, algorithm = 'hashdiff')`)
	// The target's tables stay locked until both workers hold copies, so
	// a fast machine cannot finish the run before the kill.
	release := lockTables(t, pg, dstDB, "t1", "t2", "t3", "t4")
	exec1(t, conn, `RUN SYNC JOB big`)
	runID := lastRun(t, conn, "big")

	// Both workers must be copying before one dies.
	seen := waitWorkersBusy(t, conn, []*proc{w1, w2}, 3*time.Minute)
	var imported int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*) FROM dataflow.run_partitions WHERE run_id = '%s' AND imported`, runID), &imported)
	var total int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*) FROM dataflow.run_partitions WHERE run_id = '%s'`, runID), &total)
	if total < 40 || imported >= total {
		t.Fatalf("want the kill mid-run: %d of %d partitions imported", imported, total)
	}
	w1.kill9()
	release()
	t.Logf("killed worker %d with %d of %d partitions imported (busy seen: %v)", seen[0], imported, total, seen)

	status, msg := waitRun(t, conn, runID, 8*time.Minute)
	if status != "completed" {
		t.Fatalf("run %s: %s\ngateway:\n%s\nworker 2:\n%s", status, msg, g.logs(), w2.logs())
	}
	if !strings.Contains(msg, "temporal workflow flowgate-run-"+runID) {
		t.Errorf("run message does not name its workflow: %s", msg)
	}
	s, d := pg.Connect(t, srcDB), pg.Connect(t, dstDB)
	for i := 1; i <= 4; i++ {
		table := fmt.Sprintf("t%d", i)
		if want, got := fingerprint(t, s, table), fingerprint(t, d, table); want != got {
			t.Errorf("%s: target %s, source %s", table, got, want)
		}
	}
	var verified int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*) FROM dataflow.run_stages WHERE run_id = '%s' AND stage = 'TableDataDiff' AND status = 'completed'`, runID), &verified)
	if verified != 4 {
		t.Errorf("%d of 4 TableDataDiff stages completed", verified)
	}
	var workers int64
	queryRow(t, conn, `SELECT count(*) FROM dataflow.workers WHERE identity LIKE '%@flowgate-worker'`, &workers)
	if workers < 2 {
		t.Errorf("dataflow.workers lists %d workers, want both", workers)
	}
}

// lockTables holds a SHARE lock on tables of db, which lets the run
// plan and read but holds its writes, until release is called (or the
// test ends).
func lockTables(t testing.TB, pg *testbed.PG, db string, tables ...string) (release func()) {
	t.Helper()
	conn := pg.Connect(t, db)
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), "LOCK TABLE "+strings.Join(tables, ", ")+" IN SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if err := tx.Commit(context.Background()); err != nil {
				t.Errorf("release table locks: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// waitWorkersBusy waits until every worker has been seen running copies
// in dataflow.workers; it returns their pids.
func waitWorkersBusy(t testing.TB, conn *pgx.Conn, ws []*proc, within time.Duration) []int {
	t.Helper()
	pids := make([]int, len(ws))
	busy := map[int]bool{}
	for i, w := range ws {
		pids[i] = w.pid()
	}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && len(busy) < len(ws) {
		for pid := range busyPIDs(t, conn) {
			if slices.Contains(pids, pid) {
				busy[pid] = true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(busy) < len(ws) {
		t.Fatalf("workers seen copying: %v of %v", busy, pids)
	}
	return pids
}

// busyPIDs are the pids of the workers dataflow.workers shows running
// activities.
func busyPIDs(t testing.TB, conn *pgx.Conn) map[int]bool {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT identity FROM dataflow.workers WHERE activities_running > 0`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{}
	for _, id := range ids {
		var pid int
		if _, err := fmt.Sscanf(id, "%d@", &pid); err == nil {
			out[pid] = true
		}
	}
	return out
}

// The gateway is killed (-9) while partitions run on a worker; the copies
// go on, and the restarted gateway follows the run to its end: the
// catalog catches up (status, stages, partitions) and the rows are exact.
func TestTemporalGatewayKill9RunGoesOn(t *testing.T) {
	pg := testbed.Postgres(t)
	srcDB, dstDB := shop(t, pg, 2, 300_000)
	c := newCluster(t)
	g := c.gateway()
	w := c.worker("")
	conn := g.connect()
	exec1(t, conn, pgDatasource("src", pg, srcDB))
	exec1(t, conn, pgDatasource("dst", pg, dstDB))
	exec1(t, conn, `CREATE SYNC JOB gk FROM DATABASE src TO DATABASE dst MODE BATCH
		WITH (staging = 'none', export_batch_rows = 30000, parallel_export = 2, batch_parallel_size = 2)`)
	release := lockTables(t, pg, dstDB, "t1", "t2")
	exec1(t, conn, `RUN SYNC JOB gk`)
	runID := lastRun(t, conn, "gk")
	waitWorkersBusy(t, conn, []*proc{w}, 3*time.Minute)
	g.kill9()
	release()
	// The worker keeps copying while the gateway is away.
	d := pg.Connect(t, dstDB)
	var before, after int64
	queryRow(t, d, `SELECT (SELECT count(*) FROM t1) + (SELECT count(*) FROM t2)`, &before)
	time.Sleep(4 * time.Second)
	queryRow(t, d, `SELECT (SELECT count(*) FROM t1) + (SELECT count(*) FROM t2)`, &after)
	if after <= before && after < 600_000 {
		t.Errorf("no rows arrived while the gateway was down (%d then %d)", before, after)
	}
	g.startAndWait()
	conn = g.connect()
	status, msg := waitRun(t, conn, runID, 6*time.Minute)
	if status != "completed" {
		t.Fatalf("run %s: %s\n%s", status, msg, g.logs())
	}
	s := pg.Connect(t, srcDB)
	for _, table := range []string{"t1", "t2"} {
		if want, got := fingerprint(t, s, table), fingerprint(t, d, table); want != got {
			t.Errorf("%s: target %s, source %s", table, got, want)
		}
	}
	var notDone int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*) FROM dataflow.run_partitions WHERE run_id = '%s' AND NOT imported`, runID), &notDone)
	var stagesDone int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*) FROM dataflow.run_stages WHERE run_id = '%s' AND status IN ('completed', 'skipped')`, runID), &stagesDone)
	if notDone != 0 || stagesDone != 6 {
		t.Errorf("catalog did not catch up: %d partitions not imported, %d of 6 stages done", notDone, stagesDone)
	}
}

// RUN ... WAIT sends progress NOTICEs; STOP ends a run terminated; RETRY
// finishes it exactly; secrets and rows never reach Temporal's history in
// clear.
func TestTemporalWaitStopRetryAndSealedHistory(t *testing.T) {
	pg := testbed.Postgres(t)
	srcDB, dstDB := shop(t, pg, 1, 400_000)
	c := newCluster(t)
	g := c.gateway()
	c.worker("")
	conn := g.connect()
	exec1(t, conn, pgDatasource("src", pg, srcDB))
	exec1(t, conn, pgDatasource("dst", pg, dstDB))
	exec1(t, conn, `CREATE SYNC JOB one FROM src.public.t1 TO dst.public.t1 MODE BATCH WITH (staging = 'none', export_batch_rows = 20000, parallel_export = 1)`)

	// STOP while it copies.
	exec1(t, conn, `RUN SYNC JOB one`)
	runID := lastRun(t, conn, "one")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int64
		queryRow(t, conn, fmt.Sprintf(`SELECT count(*) FROM dataflow.run_partitions WHERE run_id = '%s' AND imported`, runID), &n)
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no partition imported within 2 minutes\n%s", g.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	exec1(t, conn, `STOP SYNC JOB one`)
	status, msg := waitRun(t, conn, runID, 2*time.Minute)
	if status != "terminated" {
		t.Fatalf("after STOP: %s: %s", status, msg)
	}
	d := pg.Connect(t, dstDB)
	var partial int64
	queryRow(t, d, `SELECT count(*) FROM t1`, &partial)
	if partial == 0 || partial >= 400_000 {
		t.Fatalf("want a partial copy after STOP, target has %d rows", partial)
	}

	// RETRY finishes it: exactly the source.
	exec1(t, conn, fmt.Sprintf(`RETRY RUN '%s'`, runID))
	status, msg = waitRun(t, conn, runID, 3*time.Minute)
	if status != "completed" {
		t.Fatalf("after RETRY: %s: %s\n%s", status, msg, g.logs())
	}
	s := pg.Connect(t, srcDB)
	if want, got := fingerprint(t, s, "t1"), fingerprint(t, d, "t1"); want != got {
		t.Errorf("t1: target %s, source %s", got, want)
	}
	// The catalog has every partition with its rows: those the stopped
	// step had finished came back with its cancellation.
	var parts, partRows int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*), coalesce(sum(rows), 0) FROM dataflow.run_partitions WHERE run_id = '%s' AND imported`, runID), &parts, &partRows)
	if parts != 20 || partRows != 400_000 {
		t.Errorf("catalog after RETRY: %d of 20 partitions imported holding %d rows, want 400000", parts, partRows)
	}

	// RUN ... WAIT sends the workers' progress as NOTICEs and returns the
	// completed run.
	wc, notices := g.connectNotices()
	exec1(t, d, `TRUNCATE t1`)
	var waitStatus string
	queryRow(t, wc, `RUN SYNC JOB one WAIT`, nil, nil, &waitStatus, nil, nil, nil, nil, nil, nil, nil)
	if waitStatus != "completed" {
		t.Fatalf("RUN ... WAIT returned %s\n%s", waitStatus, g.logs())
	}
	if want, got := fingerprint(t, s, "t1"), fingerprint(t, d, "t1"); want != got {
		t.Errorf("t1 after RUN ... WAIT: target %s, source %s", got, want)
	}
	joined := strings.Join(notices(), "\n")
	if !strings.Contains(joined, "ImportTable") || !strings.Contains(joined, "completed") {
		t.Errorf("RUN ... WAIT NOTICEs lack progress or the end:\n%s", joined)
	}
	t.Logf("NOTICEs:\n%s", joined)

	// The history, read raw (no codec), holds neither the password nor a
	// table's or datasource's name.
	raw, err := client.Dial(client.Options{HostPort: server.GetFrontendHostPort(), Namespace: server.GetDefaultNamespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	wid := runWorkflow(t, conn, runID, "flowgate-run-")
	blob, kinds := rawHistory(t, raw, wid, "")
	if events := len(kinds); events < 10 {
		t.Fatalf("history of %s has %d events", wid, events)
	}
	if !strings.Contains(string(blob), "binary/flowgate-sealed") {
		t.Errorf("no sealed payload in the history of %s", wid)
	}
	for _, secret := range []string{pg.Password, srcDB, "public.t1", "amount"} {
		if secret != "" && strings.Contains(string(blob), secret) {
			t.Errorf("workflow history holds %q in clear", secret)
		}
	}
	if os.Getenv("FLOWGATE_RECORD_HISTORY") != "" {
		recordHistory(t, raw, wid, "", "batchrun-stop-retry-chunks.json")
	}
}

// A worker holding another secret key cannot open the run's payloads: the
// run fails with a message naming the key, not with a hang.
func TestTemporalWorkerWithWrongKey(t *testing.T) {
	pg := testbed.Postgres(t)
	srcDB, dstDB := shop(t, pg, 1, 1000)
	c := newCluster(t)
	g := c.gateway()
	c.worker(c.otherKey())
	conn := g.connect()
	exec1(t, conn, pgDatasource("src", pg, srcDB))
	exec1(t, conn, pgDatasource("dst", pg, dstDB))
	exec1(t, conn, `CREATE SYNC JOB wk FROM src.public.t1 TO dst.public.t1 MODE BATCH WITH (staging = 'none')`)
	exec1(t, conn, `RUN SYNC JOB wk`)
	status, msg := waitRun(t, conn, lastRun(t, conn, "wk"), 3*time.Minute)
	if status != "failed" || !strings.Contains(msg, "secret key") {
		t.Fatalf("run %s: %s", status, msg)
	}
}

// Without a reachable Temporal the gateway exits at once, naming the
// address and the way out.
func TestTemporalUnreachableAtStart(t *testing.T) {
	c := newCluster(t)
	p := &proc{t: t, args: []string{"--engine", "temporal", "--temporal-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--catalog", c.dir + "/fg.db", "--metrics-listen", "", "--secret-key-file", c.key}}
	p.start()
	select {
	case err := <-p.exited:
		if err == nil || !strings.Contains(p.logs(), "cannot reach Temporal at") || !strings.Contains(p.logs(), "--engine embedded") {
			t.Fatalf("exit %v:\n%s", err, p.logs())
		}
	case <-time.After(40 * time.Second):
		p.kill9()
		t.Fatal("the gateway did not exit without Temporal")
	}
}

// Temporal going away after the start: a new run is refused with 08006
// and a message saying what to do; the session stays usable.
func TestTemporalUnreachableLater(t *testing.T) {
	own := temporaltest.NewServer(temporaltest.WithT(t))
	pg := testbed.Postgres(t)
	srcDB, dstDB := shop(t, pg, 1, 100)
	c := newCluster(t)
	c.address, c.namespace = own.GetFrontendHostPort(), own.GetDefaultNamespace()
	g := c.gateway()
	conn := g.connect()
	exec1(t, conn, pgDatasource("src", pg, srcDB))
	exec1(t, conn, pgDatasource("dst", pg, dstDB))
	exec1(t, conn, `CREATE SYNC JOB later FROM src.public.t1 TO dst.public.t1 MODE BATCH WITH (staging = 'none')`)
	exec1(t, conn, `CREATE SYNC JOB laterc FROM src.public.t1 TO dst.public.t1 MODE CDC`)
	own.Stop()
	for _, job := range []string{"later", "laterc"} {
		_, err := conn.Exec(context.Background(), `RUN SYNC JOB `+job)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "08006" || !strings.Contains(pe.Message, "Temporal at") || pe.Hint == "" {
			t.Fatalf("RUN %s without Temporal: %v", job, err)
		}
	}
	var one int
	queryRow(t, conn, `SELECT 1`, &one)
	var runs int64
	queryRow(t, conn, `SELECT count(*) FROM dataflow.runs WHERE job IN ('later', 'laterc')`, &runs)
	if one != 1 || runs != 0 {
		t.Fatalf("session after the refusal: %d, runs %d", one, runs)
	}
}
