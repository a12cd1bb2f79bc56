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

// A staged run (staging in an s3 datasource) runs on the workers: each
// partition's ExportTable writes its file to the bucket on one worker,
// the gateway records it, and ImportTable loads it on any worker. One
// worker is killed (-9) with imports held up; the run completes on the
// other with the source's rows, verified, and every file imported. A job
// staging in the gateway's own directory is refused until the gateway
// says the directory is shared (--shared-staging); then it runs on the
// workers too.
func TestTemporalStagedRunsOnWorkers(t *testing.T) {
	pg := testbed.Postgres(t)
	s3 := testbed.S3(t)
	srcDB, dstDB := shop(t, pg, 2, 300_000)
	c := newCluster(t)
	g := c.gateway()
	w1, w2 := c.worker(""), c.worker("")
	conn := g.connect()
	exec1(t, conn, pgDatasource("src", pg, srcDB))
	exec1(t, conn, pgDatasource("dst", pg, dstDB))
	exec1(t, conn, fmt.Sprintf(`CREATE DATASOURCE bucket TYPE s3 OPTIONS (endpoint '%s', region '%s', bucket '%s', access_key '%s', secret_key '%s', path_style 'true', prefix 'staging')`,
		s3.Endpoint, s3.Region, s3.Bucket, s3.AccessKey, s3.SecretKey))

	// The gateway's own staging directory is not for workers elsewhere.
	exec1(t, conn, `CREATE SYNC JOB local FROM DATABASE src TO DATABASE dst MODE BATCH WITH (pre_action = 'truncate', algorithm = 'countdiff')`)
	_, err := conn.Exec(context.Background(), `RUN SYNC JOB local`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "55000" || !strings.Contains(pe.Message, "staging directory") ||
		!strings.Contains(pe.Hint, "s3") || !strings.Contains(pe.Hint, "--shared-staging") {
		t.Fatalf("RUN of a job staged in the gateway's directory: want 55000 naming the directory, hint s3 and --shared-staging; got %v (hint %q)", err, hintOf(pe))
	}

	exec1(t, conn, `CREATE SYNC JOB big FROM DATABASE src TO DATABASE dst MODE BATCH
		WITH (staging = 'bucket', compression = 'zstd', export_batch_rows = 30000, parallel_export = 2, batch_parallel_size = 2, algorithm = 'hashdiff')`)
	// Imports wait on the target's lock, so both workers hold partition
	// steps (exports run on) when one dies.
	release := lockTables(t, pg, dstDB, "t1", "t2")
	exec1(t, conn, `RUN SYNC JOB big`)
	runID := lastRun(t, conn, "big")
	seen := waitWorkersBusy(t, conn, []*proc{w1, w2}, 3*time.Minute)
	var imported, total int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*) FILTER (WHERE imported), count(*) FROM dataflow.run_partitions WHERE run_id = '%s'`, runID), &imported, &total)
	if total < 10 || imported > 0 {
		t.Fatalf("want the kill before any import: %d of %d partitions imported", imported, total)
	}
	w1.kill9()
	release()
	t.Logf("killed worker %d with %d partitions (busy seen: %v)", seen[0], total, seen)

	status, msg := waitRun(t, conn, runID, 8*time.Minute)
	if status != "completed" {
		t.Fatalf("run %s: %s\ngateway:\n%s\nworker 2:\n%s", status, msg, g.logs(), w2.logs())
	}
	s, d := pg.Connect(t, srcDB), pg.Connect(t, dstDB)
	sameTables := func(when string) {
		t.Helper()
		for _, table := range []string{"t1", "t2"} {
			if want, got := fingerprint(t, s, table), fingerprint(t, d, table); want != got {
				t.Errorf("%s, %s: target %s, source %s", when, table, got, want)
			}
		}
	}
	sameTables("after the staged run")
	var verified int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*) FROM dataflow.run_stages WHERE run_id = '%s' AND stage = 'TableDataDiff' AND status = 'completed'`, runID), &verified)
	if verified != 2 {
		t.Errorf("%d of 2 TableDataDiff stages completed", verified)
	}
	// One file per partition, in the bucket, each imported.
	var files, filesImported, inBucket, fileRows int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE imported), count(*) FILTER (WHERE uri LIKE 's3://%s/staging/big/%%.csv.zst'), coalesce(sum(rows), 0)
		FROM dataflow.export_files WHERE run_id = '%s'`, s3.Bucket, runID), &files, &filesImported, &inBucket, &fileRows)
	if files != total || filesImported != total || inBucket != total || fileRows != 600_000 {
		t.Errorf("export_files: %d files (%d imported, %d in the bucket, %d rows) for %d partitions of 600000 rows", files, filesImported, inBucket, fileRows, total)
	}
	objects, err := s3.Backend.ListBucket(s3.Bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(objects.Contents)) != total {
		t.Errorf("the bucket holds %d objects, want %d staged files", len(objects.Contents), total)
	}

	// The history says where the work ran: every partition exported and
	// imported by a worker activity, on both workers.
	raw, err := client.Dial(client.Options{HostPort: server.GetFrontendHostPort(), Namespace: server.GetDefaultNamespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	wid := runWorkflow(t, conn, runID, "flowgate-run-")
	kinds, identities := activitiesOf(t, raw, wid)
	if kinds["flowgate.StagePartition"] < int(total) || kinds["flowgate.LoadStaged"] < int(total) || kinds["flowgate.FileStaged"] < int(total) || kinds["flowgate.CopyPartition"] != 0 {
		t.Errorf("activities scheduled for %d partitions: %v", total, kinds)
	}
	if len(identities) < 2 {
		t.Errorf("partition steps ran on %v, want both workers", identities)
	}
	if os.Getenv("FLOWGATE_RECORD_HISTORY") != "" {
		recordHistory(t, raw, wid, "", "batchrun-staged-kill.json")
	}

	// Said shared, the gateway's directory stages runs on the workers.
	g.kill9()
	g.args = append(g.args, "--shared-staging")
	g.startAndWait()
	conn = g.connect()
	var waitStatus string
	queryRow(t, conn, `RUN SYNC JOB local WAIT`, nil, nil, &waitStatus, nil, nil, nil, nil, nil, nil, nil)
	if waitStatus != "completed" {
		t.Fatalf("RUN SYNC JOB local WAIT under --shared-staging: %s\n%s", waitStatus, g.logs())
	}
	sameTables("after the run staged in the shared directory")
	localRun := lastRun(t, conn, "local")
	var localFiles int64
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*) FROM dataflow.export_files WHERE run_id = '%s' AND imported AND uri LIKE 'file://%s/%%'`, localRun, c.dir), &localFiles)
	if localFiles < 2 {
		t.Errorf("run %s: %d imported files in %s/staging", localRun, localFiles, c.dir)
	}
	kinds, _ = activitiesOf(t, raw, runWorkflow(t, conn, localRun, "flowgate-run-"))
	if kinds["flowgate.StagePartition"] < int(localFiles) || kinds["flowgate.LoadStaged"] < int(localFiles) {
		t.Errorf("run %s: activities %v for %d files", localRun, kinds, localFiles)
	}
}

// activitiesOf counts a workflow's scheduled activities by type and names
// the identities that started its partition steps.
func activitiesOf(t testing.TB, c client.Client, wid string) (kinds map[string]int, identities map[string]bool) {
	t.Helper()
	kinds, identities = map[string]int{}, map[string]bool{}
	scheduled := map[int64]string{}
	it := c.GetWorkflowHistory(context.Background(), wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			kinds[a.GetActivityType().GetName()]++
			scheduled[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			if k := scheduled[a.GetScheduledEventId()]; k == "flowgate.StagePartition" || k == "flowgate.LoadStaged" {
				identities[a.GetIdentity()] = true
			}
		}
	}
	return kinds, identities
}

func hintOf(pe *pgconn.PgError) string {
	if pe == nil {
		return ""
	}
	return pe.Hint
}
