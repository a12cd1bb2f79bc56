package scan

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors/fileformat"
)

// A worker's Records reach the catalog through ApplyRecord (each
// heartbeat) and FinishRemote (the end). Applying a Record again, or an
// older one, must change nothing: the gateway may see a heartbeat twice,
// and EndScan runs again after a gateway restart.
func TestApplyRecordTwiceChangesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flowgate.db")
	cat, err := catalog.Open(ctx, path, catalog.Options{SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	for _, name := range []string{"src", "dst"} {
		if err := cat.CreateDatasource(ctx, catalog.Datasource{Name: name, Type: "postgres", Options: map[string]string{"host": "h"}}, func(string) bool { return false }); err != nil {
			t.Fatal(err)
		}
	}
	if err := cat.CreateJob(ctx, catalog.Job{Name: "j", Mode: "scan", Kind: "table", Source: "src", SourceTable: "t", Target: "dst", TargetTable: "t",
		ScheduleKind: catalog.ScheduleNone, ScheduleState: catalog.ScheduleActive}); err != nil {
		t.Fatal(err)
	}
	run, err := cat.CreateRun(ctx, "j", "manual", Plan{Kind: KindScan, Job: "j"}, []catalog.RunTask{{ID: 1, SourceTable: "t", TargetTable: "t"}}, stagesOf(KindScan))
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{Catalog: cat})

	// The worker's attempt: PreAction skipped, ScanTable running, a
	// watermark, two bad records (one seen twice), two objects; then an
	// earlier attempt's file cleared and one written.
	acc := NewAccumulator(AttemptState{Job: "j", BadCount: 1, Files: []catalog.ExportFile{{TaskID: 1, Seq: 7, URI: "s3://b/old_0007.csv"}}})
	acc.StartStage(ctx, run, 1, StagePreAction)
	acc.FinishStage(ctx, run, 1, StagePreAction, catalog.StageSkipped, 0, 0, "pre_action = 'none'")
	acc.StartStage(ctx, run, 1, StageScan)
	acc.StageProgress(ctx, run, 1, StageScan, 500, 4000)
	acc.SetWatermark(ctx, "j", run, catalog.Watermark{SourceTable: "t", Column: "at", Value: "2024-01-01 00:00:05", Rows: 500})
	bad := &badRecords{cat: acc, run: run, task: 1, limit: 10}
	for _, pos := range []string{"obj:1", "obj:2", "obj:1"} {
		if err := bad.add(ctx, &fileformat.BadRecord{Position: pos, Err: fmt.Errorf("not an integer"), Excerpt: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := acc.CountRunErrors(ctx, run); n != 3 {
		t.Errorf("bad records counted %d, want 3 (1 before, 2 new)", n)
	}
	acc.RecordScanObject(ctx, "j", run, catalog.ScanObject{Key: "in/a.csv", Size: 10, Rows: 2})
	acc.RecordScanObject(ctx, "j", run, catalog.ScanObject{Key: "in/b.csv", Size: 20, Rows: 3})
	if files, _ := acc.ExportFiles(ctx, run, 1); len(files) != 1 || files[0].Seq != 7 {
		t.Errorf("files before the clear: %+v", files)
	}
	acc.ClearExportFiles(ctx, run, 1)
	acc.AddExportFile(ctx, run, catalog.ExportFile{TaskID: 1, Seq: 1, URI: "s3://b/new_0001.csv", Rows: 5, Bytes: 50})
	// The gateway knew the old file.
	if err := cat.AddExportFile(ctx, run, catalog.ExportFile{TaskID: 1, Seq: 7, URI: "s3://b/old_0007.csv"}); err != nil {
		t.Fatal(err)
	}

	rec := acc.Record()
	snapshot := func() string {
		t.Helper()
		stages, err := cat.Stages(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		files, _ := cat.ExportFiles(ctx, run, 1)
		objs, _ := cat.ScanObjects(ctx, "j")
		bad, _ := cat.CountRunErrors(ctx, run)
		wm, _ := cat.GetWatermark(ctx, "j", "t")
		return fmt.Sprintf("stages %+v\nfiles %+v\nobjects %d bad %d watermark %s", stages, files, len(objs), bad, wm)
	}
	if _, err := e.ApplyRecord(ctx, run, "j", rec); err != nil {
		t.Fatal(err)
	}
	first := snapshot()
	news, err := e.ApplyRecord(ctx, run, "j", rec)
	if err != nil {
		t.Fatal(err)
	}
	if again := snapshot(); again != first {
		t.Errorf("applied twice:\n%s\nonce:\n%s", again, first)
	}
	if len(news) != 0 {
		t.Errorf("a Record applied again reported %d stages as moved", len(news))
	}
	for _, want := range []string{"{TaskID:1 Stage:ScanTable Status:running Attempts:1 Rows:500 Bytes:4000", "Status:skipped",
		"files [{TaskID:1 Seq:1 URI:s3://b/new_0001.csv Rows:5 Bytes:50 State:present", "objects 2 bad 2 watermark 2024-01-01 00:00:05"} {
		if !strings.Contains(first, want) {
			t.Errorf("catalog after the Record lacks %q:\n%s", want, first)
		}
	}

	// The attempt ends; EndScan applies the last Record and may run twice.
	time.Sleep(10 * time.Millisecond)
	acc.FinishStage(ctx, run, 1, StageScan, catalog.StageCompleted, 800, 6400, "800 rows upserted")
	acc.StartStage(ctx, run, 1, StageDiff)
	acc.FinishStage(ctx, run, 1, StageDiff, catalog.StageCompleted, 800, 0, "verified")
	acc.AddOperation(ctx, catalog.Operation{RunID: run, Job: "j", Datasource: "dst", DatasourceType: "postgres", Table: "t", Operation: "import", Started: time.Now(), Finished: time.Now(), Records: 800})
	acc.SetTaskStatus(ctx, run, 1, catalog.RunCompleted, "800 rows upserted")
	acc.SetRunStatus(ctx, run, catalog.RunCompleted, "800 rows upserted")
	last := acc.Record()
	for i := 0; i < 2; i++ {
		if err := e.FinishRemote(ctx, run, "j", &last, "", "", "temporal workflow w"); err != nil {
			t.Fatal(err)
		}
	}
	r, err := cat.GetRun(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != catalog.RunCompleted || r.Message != "800 rows upserted; temporal workflow w" {
		t.Errorf("run %s %q", r.Status, r.Message)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ops int
	if err := db.QueryRow(`SELECT count(*) FROM operations WHERE run_id = ?`, run).Scan(&ops); err != nil {
		t.Fatal(err)
	}
	if ops != 1 {
		t.Errorf("%d operations recorded, want 1 (EndScan ran twice)", ops)
	}
	stages, _ := cat.Stages(ctx, run)
	for _, s := range stages {
		if s.Stage == StageScan && (s.Status != catalog.StageCompleted || s.Rows != 800 || s.Attempts != 1) {
			t.Errorf("ScanTable after the end: %+v", s)
		}
	}
}
