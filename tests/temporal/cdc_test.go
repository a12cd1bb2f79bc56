package temporal

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
)

// itemsPair makes a source database whose table items has rows rows
// and a target database with an empty items.
func itemsPair(t testing.TB, pg *testbed.PG, rows int) (srcDB, dstDB string, src, dst *pgx.Conn) {
	t.Helper()
	const ddl = `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty int, price numeric(12,2), at timestamptz)`
	srcDB, dstDB = pg.NewDatabase(t, "csrc"), pg.NewDatabase(t, "cdst")
	src, dst = pg.Connect(t, srcDB), pg.Connect(t, dstDB)
	exec1(t, src, ddl)
	exec1(t, dst, ddl)
	exec1(t, src, fmt.Sprintf(`INSERT INTO items SELECT g, 'item-' || g, g %% 13, g * 0.5, now() FROM generate_series(1, %d) g`, rows))
	return srcDB, dstDB, src, dst
}

// A CDC job runs as one long activity on a worker. kill -9 of that worker
// while the source changes: the heartbeat times out, the other worker
// takes the pipeline over from the target's checkpoint, and the target
// ends exactly equal to the source (inserts, updates, a primary key
// change, deletes, during and after the kill). dataflow.cdc_status
// follows the stream; STOP ends the run terminated.
func TestTemporalCDCWorkerKill9TakenOver(t *testing.T) {
	pg := testbed.Postgres(t)
	srcDB, dstDB, src, dst := itemsPair(t, pg, 20000)
	c := newCluster(t)
	g := c.gateway()
	w1, w2 := c.worker(""), c.worker("")
	conn := g.connect()
	exec1(t, conn, pgDatasource("src", pg, srcDB))
	exec1(t, conn, pgDatasource("dst", pg, dstDB))
	exec1(t, conn, `CREATE SYNC JOB feed FROM src.public.items TO dst.public.items MODE CDC WITH (checkpoint_interval = 200)`)
	defer func() {
		// The slot must go with the job, or the server keeps its WAL.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := conn.Exec(ctx, `DROP SYNC JOB feed`); err != nil {
			t.Errorf("DROP SYNC JOB feed: %v", err)
		}
	}()

	// RUN ... WAIT returns once the snapshot is on the target and the
	// pipeline streams on a worker.
	var runID, status string
	wc, notices := g.connectNotices()
	queryRow(t, wc, `RUN SYNC JOB feed WAIT`, &runID, nil, &status, nil, nil, nil, nil, nil, nil, nil)
	if status != "running" {
		t.Fatalf("RUN ... WAIT returned %s\n%s", status, g.logs())
	}
	if joined := strings.Join(notices(), "\n"); !strings.Contains(joined, "public.items: Snapshot done, 20000 rows") ||
		!strings.Contains(joined, "run "+runID+" streaming from ") {
		t.Errorf("RUN ... WAIT NOTICEs lack the snapshot or the stream:\n%s", joined)
	}
	var msg string
	wid := runWorkflow(t, conn, runID, "flowgate-cdc-")
	var stored string
	queryRow(t, dst, `SELECT count(*)::text FROM items`, &stored)
	if stored != "20000" {
		t.Fatalf("after the snapshot the target has %s rows", stored)
	}

	// Sessions change the source all along.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var nextID sync.Mutex
	next := int64(1_000_000)
	for s := 0; s < 2; s++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			wc := pg.Connect(t, srcDB)
			r := rand.New(rand.NewSource(seed))
			ctx := context.Background()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := int64(1 + r.Intn(20000))
				var err error
				switch r.Intn(4) {
				case 0:
					nextID.Lock()
					next++
					n := next
					nextID.Unlock()
					_, err = wc.Exec(ctx, `INSERT INTO items VALUES ($1, 'new', 1, 1.5, now())`, n)
				case 1:
					_, err = wc.Exec(ctx, `UPDATE items SET qty = qty + 1, name = name || '+' WHERE id = $1`, id)
				case 2:
					_, err = wc.Exec(ctx, `DELETE FROM items WHERE id = $1`, id)
				case 3:
					// A primary key change: the old row goes, the new one comes.
					nextID.Lock()
					next++
					n := next
					nextID.Unlock()
					_, err = wc.Exec(ctx, `UPDATE items SET id = $2 WHERE id = $1`, id, n)
				}
				if err != nil {
					t.Errorf("source change: %v", err)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}(int64(s + 1))
	}
	stopWrites := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopWrites()

	// Kill the worker that holds the pipeline.
	holder := waitCDCHolder(t, conn, []*proc{w1, w2}, time.Minute)
	other := w2
	if holder == w2 {
		other = w1
	}
	time.Sleep(2 * time.Second)
	before := getStatus(t, conn, "feed")
	pid := holder.pid()
	holder.kill9()
	t.Logf("killed worker %d holding the pipeline at checkpoint %s", pid, before.checkpoint)
	waitCDCHolder(t, conn, []*proc{other}, 90*time.Second)
	time.Sleep(3 * time.Second)
	stopWrites()

	// After the writers: one of each kind, then the target must match.
	exec1(t, src, `UPDATE items SET id = 5000000 WHERE id = (SELECT min(id) FROM items)`)
	exec1(t, src, `DELETE FROM items WHERE id = (SELECT max(id) FROM items WHERE id < 1000000)`)
	exec1(t, src, `INSERT INTO items VALUES (6000000, 'last', 7, 7.5, now())`)
	exec1(t, src, `UPDATE items SET price = price * 2 WHERE id % 97 = 0`)
	waitEqual(t, src, dst, "items", 90*time.Second)

	// dataflow.cdc_status follows the stream on the worker.
	var st cdcStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		st = getStatus(t, conn, "feed")
		if st.checkpoint != "" && st.checkpoint != before.checkpoint && st.inserts > 0 && st.updates > 0 && st.deletes > 0 && st.lag != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cdc_status does not follow the stream: %+v (before the kill %+v)", st, before)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if st.run != runID || st.status != "running" || st.snapshotRows != 20000 {
		t.Errorf("cdc_status: %+v, want run %s running with 20000 snapshot rows", st, runID)
	}

	// The source ends the replication connection: the pipeline fails, the
	// workflow waits restart_delay (a timer) and starts the next attempt,
	// which goes on from the checkpoint.
	endWalsender(t, src)
	deadline = time.Now().Add(60 * time.Second)
	for {
		st = getStatus(t, conn, "feed")
		if st.restarts >= 1 && st.status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no restart after the walsender ended: %+v\n%s", st, g.logs())
		}
		time.Sleep(300 * time.Millisecond)
	}
	exec1(t, src, `INSERT INTO items VALUES (6000001, 'after restart', 1, 1, now())`)

	// kill -9 of the gateway: the pipeline goes on; the restarted gateway
	// follows the workflow again (no local run of its own) and the
	// catalog catches up.
	g.kill9()
	exec1(t, src, `UPDATE items SET qty = -1 WHERE id % 10 = 3`)
	exec1(t, src, `INSERT INTO items VALUES (6000002, 'gateway down', 1, 1, now())`)
	g.startAndWait()
	conn = g.connect()
	waitEqual(t, src, dst, "items", 60*time.Second)
	cpBefore := getStatus(t, conn, "feed").checkpoint
	exec1(t, src, `DELETE FROM items WHERE id = 6000002`)
	waitEqual(t, src, dst, "items", 60*time.Second)
	deadline = time.Now().Add(30 * time.Second)
	for {
		st = getStatus(t, conn, "feed")
		if st.checkpoint != cpBefore && st.run == runID && st.status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted gateway does not follow the stream: %+v (checkpoint before %s)\n%s", st, cpBefore, g.logs())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if strings.Contains(g.logs(), "CDC run continues from its checkpoint") {
		t.Errorf("the restarted gateway ran the pipeline itself:\n%s", g.logs())
	}

	// SIGTERM of the worker holding the pipeline: it checkpoints and hands
	// the pipeline over at once (no heartbeat timeout); the run goes on.
	w3 := c.worker("")
	if err := other.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-other.exited:
		other.cmd = nil
	case <-time.After(time.Minute):
		t.Fatalf("worker did not exit within a minute of SIGTERM\n%s", other.logs())
	}
	termAt := time.Now()
	waitCDCHolder(t, conn, []*proc{w3}, time.Minute)
	t.Logf("the third worker holds the pipeline %s after the second exited", time.Since(termAt).Round(time.Millisecond))
	exec1(t, src, `UPDATE items SET name = 'after sigterm' WHERE id % 10 = 4`)
	waitEqual(t, src, dst, "items", 60*time.Second)
	if st = getStatus(t, conn, "feed"); st.run != runID || st.status != "running" {
		t.Fatalf("after the worker's SIGTERM: %+v", st)
	}

	// STOP: the pipeline checkpoints and the run ends terminated.
	exec1(t, conn, `STOP SYNC JOB feed`)
	status, msg = waitRun(t, conn, runID, 2*time.Minute)
	if status != "terminated" || !strings.Contains(msg, wid) {
		t.Fatalf("after STOP: %s: %s", status, msg)
	}
	var stages string
	queryRow(t, conn, fmt.Sprintf(`SELECT string_agg(stage || ' ' || status, ', ' ORDER BY stage) FROM dataflow.run_stages WHERE run_id = '%s'`, runID), &stages)
	if stages != "Snapshot completed, Stream completed" {
		t.Errorf("stages after STOP: %s", stages)
	}
	// RESTART continues from the checkpoint on a worker; the gateway is
	// killed (-9) as soon as the run has its workflow, before it applied
	// anything the pipeline recorded: the restarted gateway catches up
	// (the stream's state names the new run).
	exec1(t, src, `INSERT INTO items VALUES (6000003, 'while stopped', 1, 1, now())`)
	exec1(t, conn, `RESTART SYNC JOB feed`)
	run2 := lastRun(t, conn, "feed")
	deadline = time.Now().Add(30 * time.Second)
	for {
		var m string
		queryRow(t, conn, fmt.Sprintf(`SELECT coalesce(message, '') FROM dataflow.runs WHERE run_id = '%s'`, run2), &m)
		if strings.Contains(m, "temporal workflow flowgate-cdc-") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RESTART's run names no workflow after 30s: %s", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the workflow starts; the gateway's first look is 1 s away
	g.kill9()
	g.startAndWait()
	conn = g.connect()
	waitEqual(t, src, dst, "items", 60*time.Second)
	deadline = time.Now().Add(30 * time.Second)
	for {
		st = getStatus(t, conn, "feed")
		if st.run == run2 && st.status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after RESTART and a gateway kill: cdc_status %+v, want run %s running\n%s", st, run2, g.logs())
		}
		time.Sleep(300 * time.Millisecond)
	}
	exec1(t, conn, `STOP SYNC JOB feed`)
	if status, msg := waitRun(t, conn, run2, 2*time.Minute); status != "terminated" || !strings.Contains(msg, "temporal workflow flowgate-cdc-"+run2) {
		t.Fatalf("RESTART's run after STOP: %s: %s", status, msg)
	}
	queryRow(t, conn, fmt.Sprintf(`SELECT string_agg(stage || ' ' || status, ', ' ORDER BY stage) FROM dataflow.run_stages WHERE run_id = '%s'`, run2), &stages)
	if stages != "Snapshot skipped, Stream completed" {
		t.Errorf("stages of RESTART's run: %s", stages)
	}
	// The history, read raw (no codec), names no table, database or
	// password; it went through a failed attempt, a restart timer and a
	// cancellation.
	raw, err := client.Dial(client.Options{HostPort: server.GetFrontendHostPort(), Namespace: server.GetDefaultNamespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	blob, kinds := rawHistory(t, raw, wid, "")
	for _, secret := range []string{pg.Password, srcDB, dstDB, "public.items", "price"} {
		if secret != "" && strings.Contains(string(blob), secret) {
			t.Errorf("workflow history holds %q in clear", secret)
		}
	}
	if h := strings.Join(kinds, " "); !strings.Contains(h, "TimerFired") || !strings.Contains(h, "ActivityTaskFailed") || !strings.Contains(h, "CancelRequested") {
		t.Errorf("history of %s lacks the restart or the STOP: %s", wid, h)
	}
	if os.Getenv("FLOWGATE_RECORD_HISTORY") != "" {
		recordHistory(t, raw, wid, "", "cdcrun-kill-stop.json")
	}
}

// cdcStatus is one row of dataflow.cdc_status.
type cdcStatus struct {
	run, status, checkpoint   string
	lag                       *int64
	inserts, updates, deletes int64
	snapshotRows, restarts    int64
}

func getStatus(t testing.TB, conn *pgx.Conn, job string) cdcStatus {
	t.Helper()
	var s cdcStatus
	var run, status, cp *string
	queryRow(t, conn, fmt.Sprintf(`SELECT run_id, status, checkpoint_position, lag_ms, inserts, updates, deletes, snapshot_rows,
		restarts FROM dataflow.cdc_status WHERE job = '%s'`, job), &run, &status, &cp, &s.lag, &s.inserts, &s.updates, &s.deletes, &s.snapshotRows, &s.restarts)
	for _, p := range []struct {
		dst *string
		src *string
	}{{&s.run, run}, {&s.status, status}, {&s.checkpoint, cp}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	return s
}

// waitCDCHolder waits until one of ws is seen in dataflow.workers running
// an activity, and returns it.
func waitCDCHolder(t testing.TB, conn *pgx.Conn, ws []*proc, within time.Duration) *proc {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		busy := busyPIDs(t, conn)
		for _, w := range ws {
			if w.cmd != nil && busy[w.pid()] {
				return w
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no worker of %d seen running the pipeline within %s", len(ws), within)
	return nil
}

// waitEqual waits until table has the same rows at both ends.
func waitEqual(t testing.TB, src, dst *pgx.Conn, table string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		want, got := fingerprint(t, src, table), fingerprint(t, dst, table)
		if want == got {
			t.Logf("target equals source: %s", got)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: target %s, source %s after %s", table, got, want, within)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// endWalsender ends the replication connections of src's database, as
// a source restart would.
func endWalsender(t testing.TB, src *pgx.Conn) {
	t.Helper()
	var n int
	queryRow(t, src, `SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots WHERE database = current_database() AND active_pid IS NOT NULL`, &n)
	if n == 0 {
		t.Fatal("no walsender to end")
	}
}

// A worker holding another secret key cannot run a CDC pipeline: the run
// says so (its message names the key) and waits; a worker with the
// gateway's key then takes the pipeline and the target follows the source.
// With a short history limit, the restart after a source failure
// continues the workflow as new, and the run goes on.
func TestTemporalCDCWorkerWithWrongKey(t *testing.T) {
	pg := testbed.Postgres(t)
	srcDB, dstDB, src, dst := itemsPair(t, pg, 500)
	c := newCluster(t)
	c.gatewayEnv = []string{"FLOWGATE_TEMPORAL_CDC_HISTORY_LIMIT=10"}
	g := c.gateway()
	c.worker(c.otherKey())
	conn := g.connect()
	exec1(t, conn, pgDatasource("src", pg, srcDB))
	exec1(t, conn, pgDatasource("dst", pg, dstDB))
	exec1(t, conn, `CREATE SYNC JOB wkc FROM src.public.items TO dst.public.items MODE CDC`)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := conn.Exec(ctx, `DROP SYNC JOB wkc`); err != nil {
			t.Errorf("DROP SYNC JOB wkc: %v", err)
		}
	}()
	exec1(t, conn, `RUN SYNC JOB wkc`)
	runID := lastRun(t, conn, "wkc")
	deadline := time.Now().Add(time.Minute)
	for {
		var status, msg string
		queryRow(t, conn, fmt.Sprintf(`SELECT status, coalesce(message, '') FROM dataflow.runs WHERE run_id = '%s'`, runID), &status, &msg)
		if status == "restarting" && strings.Contains(msg, "wrong secret key") && strings.Contains(msg, "--secret-key-file") {
			t.Logf("run says: %s", msg)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run does not say why its pipeline does not run: %s: %s", status, msg)
		}
		time.Sleep(300 * time.Millisecond)
	}
	c.worker("")
	exec1(t, src, `UPDATE items SET qty = 2 WHERE id <= 100`)
	waitEqual(t, src, dst, "items", 90*time.Second)

	// The source fails: the restart continues the workflow as new.
	wid := runWorkflow(t, conn, runID, "flowgate-cdc-")
	raw, err := client.Dial(client.Options{HostPort: server.GetFrontendHostPort(), Namespace: server.GetDefaultNamespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	first, err := raw.DescribeWorkflowExecution(context.Background(), wid, "")
	if err != nil {
		t.Fatal(err)
	}
	firstRun := first.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	endWalsender(t, src)
	deadline = time.Now().Add(time.Minute)
	for {
		d, err := raw.DescribeWorkflowExecution(context.Background(), wid, "")
		if err != nil {
			t.Fatal(err)
		}
		if d.GetWorkflowExecutionInfo().GetExecution().GetRunId() != firstRun {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workflow did not continue as new after a restart\n%s", g.logs())
		}
		time.Sleep(300 * time.Millisecond)
	}
	_, kinds := rawHistory(t, raw, wid, firstRun)
	if len(kinds) == 0 || kinds[len(kinds)-1] != "WorkflowExecutionContinuedAsNew" {
		t.Errorf("first run's history: %v", kinds)
	}
	exec1(t, src, `DELETE FROM items WHERE id > 400`)
	exec1(t, src, `UPDATE items SET id = id + 10000 WHERE id <= 10`)
	waitEqual(t, src, dst, "items", 90*time.Second)
	exec1(t, conn, `STOP SYNC JOB wkc`)
	if status, msg := waitRun(t, conn, runID, 2*time.Minute); status != "terminated" || !strings.Contains(msg, wid) {
		t.Fatalf("after STOP: %s: %s", status, msg)
	}
	if st := getStatus(t, conn, "wkc"); st.restarts < 1 || st.deletes < 100 {
		t.Errorf("cdc_status after the continued run: %+v", st)
	}
	if os.Getenv("FLOWGATE_RECORD_HISTORY") != "" {
		recordHistory(t, raw, wid, firstRun, "cdcrun-continue-as-new.json")
	}
}
