package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// waitStageRows waits until a stage of the job's active run reports at
// least n rows.
func waitStageRows(t testing.TB, c *pgx.Conn, job, stage string, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var rows int64
		err := c.QueryRow(context.Background(), `SELECT coalesce(max(s.rows), 0) FROM dataflow.run_stages s JOIN dataflow.runs r ON r.run_id = s.run_id
			WHERE r.job = $1 AND r.status = 'running' AND s.stage = $2`, job, stage).Scan(&rows)
		if err == nil && rows >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s of %s never reached %d rows", stage, job, n)
}

// TestScanKill9ContinuesFromWatermark: a gateway killed mid-scan leaves
// the target at a committed watermark; the next run continues there and
// the target ends equal to the source, each row once.
func TestScanKill9ContinuesFromWatermark(t *testing.T) {
	rig := newPGRig(t, "skill", "skilld")
	src, dst := rig.src, rig.dst
	const total = 200000
	mustPG(t, src, scanOrdersDDL, `CREATE INDEX ON orders (updated_at)`,
		fmt.Sprintf(`INSERT INTO orders SELECT i, i %% 7, i, repeat('x', 40), '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 millisecond' FROM generate_series(1, %d) i`, total))
	mustPG(t, dst, scanOrdersDDL)
	g, c := rig.start(t, pgx.QueryExecModeSimpleProtocol)
	// About 2 MB/s: the scan takes several seconds, committing every 10,000 rows.
	mustExec(t, c, `CREATE SYNC JOB k FROM src.orders TO dst.orders MODE SCAN INCREMENTAL ON updated_at WITH (throttle_mbps = 2)`)
	runJob(t, c, `RUN SYNC JOB k`)
	waitStageRows(t, c, "k", "ScanTable", 30000)
	// STOP ends the run terminated; the next run goes on from the watermark.
	mustExec(t, c, `STOP SYNC JOB k`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st string
		mustScan(t, c.QueryRow(context.Background(), `SELECT status FROM dataflow.runs WHERE job = 'k' ORDER BY started_at DESC LIMIT 1`), &st)
		if st == "terminated" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("STOP: run is %s", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopped := count(t, dst, `SELECT count(*) FROM orders`)
	runJob(t, c, `RUN SYNC JOB k`)
	waitStageRows(t, c, "k", "ScanTable", 30000)
	g.kill9()
	committed := count(t, dst, `SELECT count(*) FROM orders`)
	if committed <= stopped {
		t.Errorf("the run after STOP committed nothing new (%d, then %d)", stopped, committed)
	}
	if committed < 30000 || committed >= total {
		t.Fatalf("%d rows committed at the kill", committed)
	}
	var wm string
	mustScan(t, dst.QueryRow(context.Background(), `SELECT "position" FROM flowgate.cdc_checkpoints WHERE job = 'flowgate-scan:k'`), &wm)
	// The watermark commits with the last lane of a round (import_parallel
	// transactions): it is at most one round (10,000 rows) behind the
	// rows committed, never ahead of them.
	var maxTS string
	var above int64
	mustScan(t, dst.QueryRow(context.Background(), `SELECT max(updated_at)::text, count(*) FILTER (WHERE updated_at > $1::timestamptz) FROM orders`, wm), &maxTS, &above)
	if !strings.HasPrefix(strings.TrimSuffix(wm, "+00"), strings.TrimSuffix(maxTS, "+00")) && above == 0 {
		t.Errorf("checkpoint %s is ahead of the committed rows' max %s", wm, maxTS)
	}
	if above > 10000 {
		t.Errorf("checkpoint %s is %d rows behind the committed rows (max %s); one round is 10000", wm, above, maxTS)
	}
	g.restart()
	c = g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)
	var status, msg string
	mustScan(t, c.QueryRow(context.Background(), `SELECT status, message FROM dataflow.runs WHERE job = 'k' ORDER BY started_at DESC LIMIT 1`), &status, &msg)
	if status != "failed" || !strings.Contains(msg, "interrupted by restart") {
		t.Errorf("killed run: %s %s", status, msg)
	}
	mustExec(t, c, `ALTER SYNC JOB k SET (throttle_mbps = 0)`)
	r := runJob(t, c, `RUN SYNC JOB k WAIT`)
	if r.Status != "completed" {
		t.Fatalf("run after the kill: %s %s", r.Status, deref(r.Message))
	}
	if due := total - committed + 1 + above; r.RowsRead > due {
		t.Errorf("the run after the kill read %d rows; %d were committed before, %d of them above the watermark, so at most %d were due", r.RowsRead, committed, above, due)
	}
	if n := count(t, dst, `SELECT count(*) FROM orders`); n != total {
		t.Fatalf("target has %d rows, want %d", n, total)
	}
	if n := count(t, dst, `SELECT count(*) FROM orders o WHERE amount <> id`); n != 0 {
		t.Errorf("%d rows differ", n)
	}
}

// TestFilesExportRetryAfterKill: a RETRY of an export killed mid-way
// leaves exactly the objects a clean run writes, none half-written.
func TestFilesExportRetryAfterKill(t *testing.T) {
	rig := newPGRig(t, "fkill", "fkilld")
	src := rig.src
	mustPG(t, src, filesOrdersDDL, `INSERT INTO orders SELECT i, i % 5, i, repeat('y', 60), '2023-04-23 17:00:00'::timestamp + i * interval '1 millisecond', date '2023-04-23' FROM generate_series(1, 150000) i`)
	g, c := rig.start(t, pgx.QueryExecModeSimpleProtocol)
	dir := filepath.Join("/var/tmp", fmt.Sprintf("flowgate-fkill-%d", os.Getpid()))
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	mustExec(t, c, "CREATE DATASOURCE disk TYPE file OPTIONS (path "+sqlString(dir)+")")
	mustExec(t, c, `CREATE SYNC JOB ex FROM src.orders TO disk OBJECT 'out/orders_${startTime}' WHERE 'updated_at >= ${startTime} AND updated_at < ${endTime}' MODE BATCH
		WITH (export_batch_rows = 20000, throttle_mbps = 3, write_mode = 'append')`)
	r := runJob(t, c, `RUN SYNC JOB ex WITH (start_time = '2023-04-23 17:00:00', end_time = '2023-04-23 18:00:00')`)
	waitStageRows(t, c, "ex", "ExportTable", 50000)
	g.kill9()
	g.restart()
	c = g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)
	before := listFiles(t, dir)
	if len(before) == 0 {
		t.Fatalf("nothing was written before the kill")
	}
	mustExec(t, c, `ALTER SYNC JOB ex SET (throttle_mbps = 0)`)
	if rr := runJob(t, c, `RETRY RUN '`+r.RunID+`'`); rr.Status != "completed" {
		t.Fatalf("RETRY: %s %s", rr.Status, deref(rr.Message))
	}
	after := listFiles(t, dir)
	want := []string{}
	for i := 1; i <= 8; i++ {
		want = append(want, fmt.Sprintf("out/orders_20230423170000_%s_%04d.csv", r.RunID, i))
	}
	if strings.Join(after, "\n") != strings.Join(want, "\n") {
		t.Fatalf("objects after RETRY:\n%s\nwant\n%s\n(before: %v)", strings.Join(after, "\n"), strings.Join(want, "\n"), before)
	}
	lines := 0
	for _, f := range after {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		lines += strings.Count(string(b), "\n")
	}
	if lines != 150000 {
		t.Errorf("%d rows in the objects, want 150000", lines)
	}
}

func listFiles(t testing.TB, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestScanThrottle: throttle_mbps caps a run's bytes per second (measured
// on about 50 MB, within 20%).
func TestScanThrottle(t *testing.T) {
	rig := newPGRig(t, "sthr", "sthrd")
	src, dst := rig.src, rig.dst
	mustPG(t, src, `CREATE TABLE blobs (id bigint PRIMARY KEY, pad text)`,
		`INSERT INTO blobs SELECT i, repeat(md5(i::text), 31) FROM generate_series(1, 50000) i`)
	mustPG(t, dst, `CREATE TABLE blobs (id bigint PRIMARY KEY, pad text)`)
	_, c := rig.start(t, pgx.QueryExecModeSimpleProtocol)
	mustExec(t, c, `CREATE SYNC JOB thr FROM src.blobs TO dst.blobs MODE SCAN WITH (throttle_mbps = 5)`)
	r := runJob(t, c, `RUN SYNC JOB thr WAIT`)
	if r.Status != "completed" || r.RowsWritten != 50000 {
		t.Fatalf("throttled scan: %s %s %d", r.Status, deref(r.Message), r.RowsWritten)
	}
	var bytes int64
	var secs float64
	mustScan(t, c.QueryRow(context.Background(), `SELECT bytes, extract(epoch FROM finished_at - started_at) FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'ScanTable'`, r.RunID), &bytes, &secs)
	rate := float64(bytes) / secs / 1e6
	t.Logf("%d bytes in %.2f s = %.2f MB/s (cap 5)", bytes, secs, rate)
	if bytes < 45e6 || rate > 5*1.2 || rate < 5*0.8 {
		t.Errorf("%d bytes at %.2f MB/s, want about 50 MB at 5 MB/s (within 20%%)", bytes, rate)
	}
	if n := count(t, dst, `SELECT count(*) FROM blobs`); n != 50000 {
		t.Errorf("%d rows", n)
	}
}
