package temporal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/johannesboyne/gofakes3"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// Scan, load and export runs go to the workers as ScanRun workflows. A
// throttled scan's worker is killed (-9) mid-scan: the attempt is run
// again on the other worker, which goes on from the watermark the target
// committed, and the target ends equal to the source, verified. Then an
// incremental scan, STOP, a load of CSV objects from S3 and an export to
// S3, each on a worker; a job writing a file datasource (the gateway's
// disk) is refused without --shared-staging; and a scan whose gateway is
// killed (-9) goes on and is followed by the restarted gateway.
func TestTemporalScanRunsOnWorkers(t *testing.T) {
	pg := testbed.Postgres(t)
	s3 := testbed.S3(t)
	srcDB, dstDB := shop(t, pg, 1, 200_000)
	c := newCluster(t)
	g := c.gateway()
	w1, w2 := c.worker(""), c.worker("")
	conn, notices := g.connectNotices()
	ctx := context.Background()
	exec1(t, conn, pgDatasource("src", pg, srcDB))
	exec1(t, conn, pgDatasource("dst", pg, dstDB))
	exec1(t, conn, fmt.Sprintf(`CREATE DATASOURCE lake TYPE s3 OPTIONS (endpoint '%s', region '%s', bucket '%s', access_key '%s', secret_key '%s', path_style 'true')`,
		s3.Endpoint, s3.Region, s3.Bucket, s3.AccessKey, s3.SecretKey))
	exec1(t, conn, fmt.Sprintf(`CREATE DATASOURCE disk TYPE file OPTIONS (path '%s')`, t.TempDir()))
	s, d := pg.Connect(t, srcDB), pg.Connect(t, dstDB)
	raw, err := client.Dial(client.Options{HostPort: server.GetFrontendHostPort(), Namespace: server.GetDefaultNamespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	// A directory on the gateway's disk is not for workers elsewhere.
	exec1(t, conn, `CREATE SYNC JOB todisk FROM src.t1 TO disk OBJECT 'out/t1' MODE BATCH`)
	_, err = conn.Exec(ctx, `RUN SYNC JOB todisk`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "55000" || !strings.Contains(pe.Message, "file datasource disk") || !strings.Contains(pe.Hint, "--shared-staging") {
		t.Fatalf("RUN of a job writing a file datasource: want 55000 naming it, hint --shared-staging; got %v (hint %q)", err, hintOf(pe))
	}

	// A scan whose worker dies mid-scan.
	exec1(t, conn, `CREATE SYNC JOB sc FROM src.t1 TO dst.t1 MODE SCAN INCREMENTAL ON at WITH (algorithm = 'hashdiff', throttle_mbps = 1)`)
	exec1(t, conn, `RUN SYNC JOB sc`)
	runID := lastRun(t, conn, "sc")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var rows int64
		queryRow(t, conn, fmt.Sprintf(`SELECT coalesce(max(rows), 0) FROM dataflow.run_stages WHERE run_id = '%s' AND stage = 'ScanTable' AND status = 'running'`, runID), &rows)
		if rows > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ScanTable progress from the worker within 2 minutes\n%s\n%s\n%s", g.logs(), w1.logs(), w2.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	holder := waitCDCHolder(t, conn, []*proc{w1, w2}, time.Minute)
	survivor := w1
	if holder == w1 {
		survivor = w2
	}
	var before int64
	queryRow(t, d, `SELECT count(*) FROM t1`, &before)
	killed := holder.pid()
	holder.kill9()
	t.Logf("killed worker %d with %d of 200000 rows in the target", killed, before)
	status, msg := waitRun(t, conn, runID, 5*time.Minute)
	if status != "completed" {
		t.Fatalf("scan run %s: %s\ngateway:\n%s\nsurvivor:\n%s", status, msg, g.logs(), survivor.logs())
	}
	if before == 0 || before == 200_000 {
		t.Errorf("the kill came with %d rows in the target: want part of the table", before)
	}
	if want, got := fingerprint(t, s, "t1"), fingerprint(t, d, "t1"); want != got {
		t.Fatalf("after the scan: target %s, source %s", got, want)
	}
	var verified int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*) FROM dataflow.run_stages WHERE run_id = '%s' AND stage = 'TableDataDiff' AND status = 'completed'`, runID), &verified)
	if verified != 1 {
		t.Errorf("TableDataDiff not completed for run %s", runID)
	}
	var wm string
	queryRow(t, conn, `SELECT value FROM dataflow.watermarks WHERE job = 'sc'`, &wm)
	if !strings.HasPrefix(wm, "2024-01-03 07:33:20") {
		t.Errorf("watermark %q, want the source's latest at (2024-01-03 07:33:20)", wm)
	}
	wid := runWorkflow(t, conn, runID, "flowgate-scan-")
	attempt, identity := scanAttemptOf(t, raw, wid)
	if attempt < 2 || !strings.HasPrefix(identity, fmt.Sprintf("%d@", survivor.pid())) {
		t.Errorf("the scan's last attempt was %d by %s: want a second attempt, by worker %d", attempt, identity, survivor.pid())
	}
	if os.Getenv("FLOWGATE_RECORD_HISTORY") != "" {
		recordHistory(t, raw, wid, "", "scanrun-worker-kill.json")
	}

	// Incremental: only rows past the watermark.
	exec1(t, s, `UPDATE t1 SET name = 'changed', at = at + interval '10 days' WHERE id % 20000 = 0`)
	exec1(t, conn, `ALTER SYNC JOB sc SET (throttle_mbps = 0)`)
	var waitStatus string
	var written int64
	queryRow(t, conn, `RUN SYNC JOB sc WAIT`, nil, nil, &waitStatus, nil, nil, nil, nil, &written, nil, nil)
	if waitStatus != "completed" || written != 10 {
		t.Fatalf("incremental scan: %s, %d rows written (want 10)\n%s", waitStatus, written, g.logs())
	}
	if want, got := fingerprint(t, s, "t1"), fingerprint(t, d, "t1"); want != got {
		t.Fatalf("after the incremental scan: target %s, source %s", got, want)
	}
	if n := strings.Join(notices(), "\n"); !strings.Contains(n, "ScanTable") {
		t.Errorf("WAIT sent no ScanTable progress: %s", n)
	}

	// STOP ends the worker's attempt.
	exec1(t, s, `UPDATE t1 SET at = at + interval '30 days'`)
	exec1(t, conn, `ALTER SYNC JOB sc SET (throttle_mbps = 1)`)
	exec1(t, conn, `RUN SYNC JOB sc`)
	stopID := lastRun(t, conn, "sc")
	waitCDCHolder(t, conn, []*proc{survivor}, time.Minute)
	exec1(t, conn, `STOP SYNC JOB sc`)
	if status, msg := waitRun(t, conn, stopID, time.Minute); status != "terminated" {
		t.Fatalf("stopped scan: %s %s", status, msg)
	}
	// RETRY RUN of the stopped run: a new workflow, from the watermark.
	stoppedWID := runWorkflow(t, conn, stopID, "flowgate-scan-")
	exec1(t, conn, `ALTER SYNC JOB sc SET (throttle_mbps = 0)`)
	exec1(t, conn, fmt.Sprintf(`RETRY RUN '%s'`, stopID))
	if status, msg := waitRun(t, conn, stopID, 2*time.Minute); status != "completed" {
		t.Fatalf("RETRY RUN of the stopped scan: %s %s", status, msg)
	}
	if want, got := fingerprint(t, s, "t1"), fingerprint(t, d, "t1"); want != got {
		t.Fatalf("after RETRY RUN of the stopped scan: target %s, source %s", got, want)
	}
	if retried := runWorkflow(t, conn, stopID, "flowgate-scan-"); retried == stoppedWID {
		t.Errorf("RETRY RUN reused workflow %s", retried)
	}

	// A load of CSV objects, on a worker.
	exec1(t, d, `CREATE TABLE landed (id bigint PRIMARY KEY, name text)`)
	for i := 1; i <= 3; i++ {
		body := "id,name\n"
		for j := 0; j < 1000; j++ {
			body += fmt.Sprintf("%d,n%d\n", i*1000+j, j)
		}
		if _, err := s3.Backend.PutObject(s3.Bucket, fmt.Sprintf("in/part%d.csv", i), map[string]string{}, strings.NewReader(body), int64(len(body)), nil); err != nil {
			t.Fatal(err)
		}
	}
	exec1(t, conn, `CREATE SYNC JOB ld FROM lake OBJECT 'in/' FORMAT csv TO dst.landed MODE SCAN WITH (header = on)`)
	queryRow(t, conn, `RUN SYNC JOB ld WAIT`, nil, nil, &waitStatus, nil, nil, nil, nil, nil, nil, nil)
	var landed, objects int64
	queryRow(t, d, `SELECT count(*) FROM landed`, &landed)
	queryRow(t, conn, `SELECT count(*) FROM dataflow.scan_objects WHERE job = 'ld'`, &objects)
	if waitStatus != "completed" || landed != 3000 || objects != 3 {
		t.Fatalf("load: %s, %d rows, %d objects remembered\n%s", waitStatus, landed, objects, g.logs())
	}
	runWorkflow(t, conn, lastRun(t, conn, "ld"), "flowgate-scan-")

	// An export into S3, on a worker.
	exec1(t, conn, `CREATE SYNC JOB ex FROM src.t1 TO lake OBJECT 'out/t1' MODE BATCH WITH (export_batch_rows = 50000)`)
	queryRow(t, conn, `RUN SYNC JOB ex WAIT`, nil, nil, &waitStatus, nil, nil, nil, nil, nil, nil, nil)
	exID := lastRun(t, conn, "ex")
	var files, fileRows int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*), coalesce(sum(rows), 0) FROM dataflow.export_files WHERE run_id = '%s'`, exID), &files, &fileRows)
	if waitStatus != "completed" || files != 4 || fileRows != 200_000 {
		t.Fatalf("export: %s, %d files of %d rows\n%s", waitStatus, files, fileRows, g.logs())
	}
	listed, err := s3.Backend.ListBucket(s3.Bucket, &gofakes3.Prefix{Prefix: "out/", HasPrefix: true}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.Contents) != 4 {
		t.Errorf("%d objects under out/, want 4", len(listed.Contents))
	}
	runWorkflow(t, conn, exID, "flowgate-scan-")

	// The gateway is killed (-9) mid-scan: the scan goes on on the worker,
	// and the restarted gateway follows it to its end.
	exec1(t, s, `UPDATE t1 SET at = at + interval '30 days'`)
	exec1(t, conn, `ALTER SYNC JOB sc SET (throttle_mbps = 1)`)
	exec1(t, conn, `RUN SYNC JOB sc`)
	lateID := lastRun(t, conn, "sc")
	waitCDCHolder(t, conn, []*proc{survivor}, time.Minute)
	g.kill9()
	time.Sleep(2 * time.Second)
	g.startAndWait()
	conn = g.connect()
	if status, msg := waitRun(t, conn, lateID, 3*time.Minute); status != "completed" {
		t.Fatalf("scan across a gateway kill: %s %s\n%s", status, msg, g.logs())
	}
	if want, got := fingerprint(t, s, "t1"), fingerprint(t, d, "t1"); want != got {
		t.Fatalf("after the scan across a gateway kill: target %s, source %s", got, want)
	}
	var scanned int64
	queryRow(t, conn, fmt.Sprintf(`SELECT rows FROM dataflow.run_stages WHERE run_id = '%s' AND stage = 'ScanTable' AND status = 'completed'`, lateID), &scanned)
	if scanned != 200_000 {
		t.Errorf("ScanTable of the run across the gateway kill: %d rows, want 200000", scanned)
	}
}

// scanAttemptOf is the attempt number and worker identity of a ScanRun
// workflow's ScanAttempt as its history records them (the last attempt).
func scanAttemptOf(t testing.TB, c client.Client, wid string) (attempt int32, identity string) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]bool{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "flowgate.ScanAttempt" {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] {
			attempt, identity = a.GetAttempt(), a.GetIdentity()
		}
	}
	return attempt, identity
}
