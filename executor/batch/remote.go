package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/executor/runopts"
)

// Remote runs: the Temporal engine (executor/temporal) copies a run's
// partitions on worker processes. The gateway keeps the catalog:
// BeginRemote and EndRemote run in the gateway (as activities on its own
// task queue) around the partition copies, which run anywhere through
// CopyPartition. The work is the embedded engine's own: a partition is
// PipeTable of its key range into one target transaction with its mark,
// as in streamCopy, so a partition copied twice is loaded once.

// Remote executes runs elsewhere. Execute returns when the run has ended
// (its outcome is in the catalog) or ctx ended: with cause ErrStopped
// after the run ended terminated; with any other cause at once, leaving
// the run going on without this process (a gateway shutdown).
type Remote interface {
	Execute(ctx context.Context, runID string, plan *RunPlan, report func(Progress)) error
	// Check tells whether a run could start now.
	Check(ctx context.Context) error
}

// checkRemoteStaging refuses, under a Remote engine, a run whose files
// would be staged on the gateway's own disk (its staging directory or a
// file datasource), which workers on other machines cannot read, unless
// SharedStaging says every worker mounts it at the same path.
func (e *Engine) checkRemoteStaging(ctx context.Context, plan *RunPlan) error {
	st := plan.Options["staging"]
	if st == "none" || e.cfg.SharedStaging {
		return nil
	}
	where := "the gateway's staging directory " + e.cfg.StagingDir
	if st != "" {
		d, err := e.cfg.Catalog.GetDatasource(ctx, st)
		if err != nil {
			return fmt.Errorf("staging datasource %q: %w", st, err)
		}
		if d.Type == "s3" {
			return nil
		}
		where = "the directory of file datasource " + st
	}
	return planErr("55000", "Stage in object storage (ALTER SYNC JOB "+plan.Job+" SET (staging = '<an s3 datasource>')), stream with staging = 'none', or start the gateway with --shared-staging if every worker mounts that directory at the same path.",
		"job %s stages its files in %s, which flowgate workers on other machines cannot read", plan.Job, where)
}

// PartitionWork is one partition of a run to copy. It travels in workflow
// payloads (encrypted): names and a key range, never rows or secrets.
type PartitionWork struct {
	RunID       string            `json:"run_id"`
	Job         string            `json:"job"`
	Source      string            `json:"source"`
	Target      string            `json:"target"`
	Task        TaskPlan          `json:"task"`
	Part        catalog.Partition `json:"part"`
	Options     map[string]string `json:"options"`
	SourceWhere string            `json:"source_where,omitempty"`
	// Snapshot is the source snapshot the run's partitions read, held by
	// the gateway (HoldSnapshot); empty: each reads its own.
	Snapshot string `json:"snapshot,omitempty"`
	// Staged is the partition's file from an earlier attempt of a staged
	// run: only its import is left.
	Staged *catalog.ExportFile `json:"staged,omitempty"`
	// StagingDir is the gateway's staging directory (shared with the
	// workers) for runs staged there; a staging datasource travels
	// beside the work instead.
	StagingDir string `json:"staging_dir,omitempty"`
}

// IsStaged tells whether the partition goes through a staged file
// (ExportTable into the store, then ImportTable from it) rather than a
// stream.
func (w PartitionWork) IsStaged() bool { return w.Options["staging"] != "none" }

// ID is the partition's mark and its activity id.
func (w PartitionWork) ID() string { return partitionID(w.Task.ID, w.Part.Seq) }

// RemoteTask is what BeginRemote left to do for one task.
type RemoteTask struct {
	TaskID int64  `json:"task_id"`
	Copy   bool   `json:"copy"`   // its export/import stages started
	Failed string `json:"failed"` // BeginRemote recorded this failure
	// FailedStage is StageImport when only the import failed (a staged
	// run's partitions are still exported, so RETRY starts at the
	// import); "" is every stage.
	FailedStage string          `json:"failed_stage,omitempty"`
	Parts       []PartitionWork `json:"parts"` // partitions to copy
}

// RemotePlan is BeginRemote's answer.
type RemotePlan struct {
	Ended    bool         `json:"ended"`    // the run failed before any copy; its status is set
	Parallel int          `json:"parallel"` // partition copies at once in all
	PerTask  int          `json:"per_task"` // ... and of one table
	Tasks    []RemoteTask `json:"tasks"`
}

// TaskResult is how a task's partition copies went.
type TaskResult struct {
	TaskID      int64  `json:"task_id"`
	Copy        bool   `json:"copy"`
	Failed      string `json:"failed"`
	FailedStage string `json:"failed_stage,omitempty"` // as in RemoteTask
}

func (e *Engine) loadRun(ctx context.Context, runID string) (*runCtx, error) {
	r, err := e.cfg.Catalog.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	plan, err := DecodePlan(r.Plan)
	if err != nil {
		return nil, err
	}
	// The operations' times (dataflow.overview) count from the run's start.
	started, err := time.Parse(catalog.TimeFormat, r.StartedAt)
	if err != nil {
		started = time.Now()
	}
	// Progress goes to the run's watchers (RUN ... WAIT) when this
	// gateway follows the run.
	e.mu.Lock()
	watch := e.active[plan.Job]
	e.mu.Unlock()
	if watch == nil || watch.id != runID {
		watch = &activeRun{watchers: map[int]func(Progress){}}
	}
	return &runCtx{e: e, id: runID, plan: plan, opts: runopts.Values(plan.Options), watch: watch, started: started}, nil
}

// BeginRemote starts a run's attempt in the gateway: status running with
// note as message, pre_action and foreign keys, each task's partitions
// (derived once, as in the embedded engine) and its export and import
// stages. Partitions already in the target are settled, not returned.
// Calling it again for the same attempt is harmless.
func (e *Engine) BeginRemote(ctx context.Context, runID, note string) (*RemotePlan, error) {
	cat := e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	rc, err := e.loadRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	if err := cat.SetRunStatus(bg, runID, catalog.RunRunning, note); err != nil {
		return nil, err
	}
	perTask := max(1, int(rc.opts.Int("parallel_export")))
	if rc.opts["staging"] != "none" && len(splitList(rc.opts["import_order_by"])) > 0 {
		perTask = 1 // staged files load one at a time in key order, as in the embedded engine
	}
	out := &RemotePlan{Parallel: max(1, int(rc.opts.Int("batch_parallel_size"))) * perTask, PerTask: perTask}
	release, err := rc.open(ctx)
	if err != nil {
		out.Ended = true
		return out, cat.SetRunStatus(bg, runID, catalog.RunFailed, withNote(err.Error(), note))
	}
	defer release()
	if _, err := rc.prepare(ctx); err != nil {
		out.Ended = true
		return out, cat.SetRunStatus(bg, runID, catalog.RunFailed, withNote(err.Error(), note))
	}
	stages, err := cat.Stages(bg, runID)
	if err != nil {
		return nil, err
	}
	for _, t := range rc.plan.Tasks {
		rt, err := rc.beginTask(ctx, t, stages)
		if err != nil {
			return nil, err
		}
		out.Tasks = append(out.Tasks, rt)
	}
	return out, nil
}

func (rc *runCtx) beginTask(ctx context.Context, t TaskPlan, stages []catalog.StageState) (RemoteTask, error) {
	cat := rc.e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	rt := RemoteTask{TaskID: t.ID}
	pending := func(name string) bool {
		s := findStage(stages, t.ID, name).Status
		return s != catalog.StageCompleted && s != catalog.StageSkipped
	}
	if err := cat.SetTaskStatus(bg, rc.id, t.ID, catalog.RunRunning, ""); err != nil {
		return rt, err
	}
	if !pending(StageExport) && !pending(StageImport) {
		return rt, nil
	}
	rt.Copy = true
	staging := rc.opts["staging"] != "none"
	for _, name := range []string{StageExport, StageImport} {
		if staging && !pending(name) {
			continue // a staged run's export done before: only the import is left
		}
		if _, err := cat.StartStage(bg, rc.id, t.ID, name); err != nil {
			return rt, err
		}
	}
	tc, err := rc.prepareTask(ctx, t)
	var parts []catalog.Partition
	if err == nil {
		parts, err = tc.loadPartitions(ctx, true)
	}
	var marked map[string]bool
	if err == nil {
		marked, err = tc.importedMarks(ctx)
	}
	var staged map[int64]catalog.ExportFile
	var stagingDir string
	if err == nil && staging {
		staged, stagingDir, err = rc.stagedFiles(bg, t, parts)
	}
	if err != nil {
		rt.Failed = scrub(rc.src, err)
		return rt, nil
	}
	anyDone := false
	for _, p := range parts {
		if partitionDone(p, marked, t.ID) {
			anyDone = true
			if !p.Imported {
				if err := cat.MarkPartitionImported(bg, rc.id, t.ID, p.Seq, 0); err != nil {
					return rt, err
				}
			}
			continue
		}
		w := PartitionWork{RunID: rc.id, Job: rc.plan.Job, Source: rc.plan.Source, Target: rc.plan.Target,
			Task: t, Part: p, Options: rc.plan.Options, SourceWhere: rc.plan.SourceWhere, StagingDir: stagingDir}
		if f, ok := staged[p.Seq]; ok {
			w.Staged = &f
		}
		rt.Parts = append(rt.Parts, w)
	}
	if !anyDone && rc.opts.Bool("enable_pk_duplicate_detect") {
		if err := tc.detectDuplicates(ctx); err != nil {
			rt.Failed = err.Error()
			if staging {
				// As in the embedded engine, the files are still staged.
				rt.FailedStage = StageImport
			} else {
				rt.Parts = nil
			}
			return rt, nil
		}
	}
	// The total for percentages comes when counted; the copies do not
	// wait for it.
	if n := max(tc.counted, tc.estimated); n > 0 || tc.counted == 0 { // deriving the partitions counted (or estimated) the rows
		cat.SetStageTotal(bg, rc.id, t.ID, StageExport, n)
		cat.SetStageTotal(bg, rc.id, t.ID, StageImport, n)
		return rt, nil
	}
	spec := tc.exportSpec()
	go func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		src, err := rc.e.cfg.Open(cctx, rc.plan.Source)
		if err != nil {
			return
		}
		defer src.Close()
		if exp, err := as[data.Exporter](src, "export rows"); err == nil {
			if n, err := exp.Count(cctx, spec); err == nil {
				cat.SetStageTotal(cctx, rc.id, t.ID, StageExport, n)
				cat.SetStageTotal(cctx, rc.id, t.ID, StageImport, n)
			}
		}
	}()
	return rt, nil
}

// stagedFiles are a staged task's files still in the store, by
// partition, and the staging directory workers use (when the run stages
// in the gateway's own, shared with them).
func (rc *runCtx) stagedFiles(ctx context.Context, t TaskPlan, parts []catalog.Partition) (map[int64]catalog.ExportFile, string, error) {
	if parts == nil {
		return nil, "", planErr("55000", "Retry it under --engine embedded.", "run %s staged %s before runs had partitions; workers cannot import such files", rc.id, t.SourceTable)
	}
	files, err := rc.e.cfg.Catalog.ExportFiles(ctx, rc.id, t.ID)
	if err != nil {
		return nil, "", err
	}
	staged := map[int64]catalog.ExportFile{}
	for _, f := range files {
		if f.State == "present" {
			staged[f.Seq] = f
		}
	}
	var dir string
	if rc.opts["staging"] == "" {
		dir, err = filepath.Abs(rc.e.cfg.StagingDir)
	}
	return staged, dir, err
}

// HoldSnapshot exports one source snapshot for the partitions of plan
// (when there are at least two and the source can hold one) and names it
// in each; release closes it. Every table of the run reads as of that
// moment. Workers whose snapshot is gone read their own.
func (e *Engine) HoldSnapshot(ctx context.Context, runID string, plan *RemotePlan) (release func(), err error) {
	none := func() {}
	parts := 0
	for _, t := range plan.Tasks {
		parts += len(t.Parts)
	}
	if parts < 2 {
		return none, nil
	}
	rc, err := e.loadRun(ctx, runID)
	if err != nil {
		return none, err
	}
	src, err := e.cfg.Open(ctx, rc.plan.Source)
	if err != nil {
		return none, err
	}
	se, err := connectors.As[data.SnapshotExporter](src.Conn)
	if err != nil {
		src.Close()
		return none, nil
	}
	id, rel, err := se.ExportSnapshot(ctx)
	if err != nil {
		src.Close()
		return none, fmt.Errorf("source snapshot: %s", scrub(src, err))
	}
	for i := range plan.Tasks {
		for j := range plan.Tasks[i].Parts {
			plan.Tasks[i].Parts[j].Snapshot = id
		}
	}
	return func() {
		rel()
		src.Close()
	}, nil
}

// PartitionCopied records a partition copied by a worker (and its staged
// file imported, for a staged run).
func (e *Engine) PartitionCopied(ctx context.Context, runID string, taskID, seq, rows int64) error {
	if err := e.cfg.Catalog.MarkFileImported(ctx, runID, taskID, seq); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	return e.cfg.Catalog.MarkPartitionImported(ctx, runID, taskID, seq, rows)
}

// FileStaged records a partition's file staged by a worker.
func (e *Engine) FileStaged(ctx context.Context, runID string, f catalog.ExportFile) error {
	return e.cfg.Catalog.AddExportFile(ctx, runID, f)
}

// EndRemote finishes a run's attempt in the gateway: the tasks' copy
// stages from their results, the verification (TableDataDiff, inside both
// databases), the foreign keys back, and the run's status, with note
// appended to its message. cause is ErrStopped for STOP SYNC JOB.
func (e *Engine) EndRemote(ctx context.Context, runID string, results []TaskResult, cause error, note string) (status, message string, err error) {
	cat := e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	rc, err := e.loadRun(ctx, runID)
	if err != nil {
		return "", "", err
	}
	release, err := rc.open(ctx)
	if err != nil {
		msg := withNote(err.Error(), note)
		return catalog.RunFailed, msg, cat.SetRunStatus(bg, runID, catalog.RunFailed, msg)
	}
	defer release()
	byTask := map[int64]TaskResult{}
	for _, r := range results {
		byTask[r.TaskID] = r
	}
	stages, err := cat.Stages(bg, runID)
	if err != nil {
		return "", "", err
	}
	outcomes := make([]taskOutcome, len(rc.plan.Tasks))
	for i, t := range rc.plan.Tasks {
		outcomes[i] = rc.endTask(ctx, t, byTask[t.ID], stages, cause)
		if err := cat.SetTaskStatus(bg, runID, t.ID, outcomes[i].status, outcomes[i].message); err != nil {
			return "", "", err
		}
	}
	saved, err := cat.SuspendedKeys(bg, runID)
	if err != nil {
		return "", "", err
	}
	var keys []catalog.SuspendedKey
	for _, k := range saved {
		if !k.Restored {
			keys = append(keys, k)
		}
	}
	status, message = rc.conclude(bg, cause, outcomes, keys)
	message = withNote(message, note)
	return status, message, cat.SetRunStatus(bg, runID, status, message)
}

func (rc *runCtx) endTask(ctx context.Context, t TaskPlan, r TaskResult, stages []catalog.StageState, cause error) taskOutcome {
	cat := rc.e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	failed := r.Failed
	if failed == "" && cause != nil {
		failed = cause.Error()
	}
	if r.Copy {
		parts, err := cat.Partitions(bg, rc.id, t.ID)
		if err != nil {
			return taskOutcome{catalog.RunFailed, err.Error()}
		}
		var rows int64
		done := 0
		for _, p := range parts {
			if p.Imported {
				rows += p.Rows
				done++
			}
		}
		exportFailed, importFailed := failed, failed
		exportRows, exportNote := rows, partitionNote("copied", done, len(parts), parts)
		if rc.opts["staging"] != "none" {
			if r.FailedStage == StageImport {
				exportFailed = ""
			}
			files, err := cat.ExportFiles(bg, rc.id, t.ID)
			if err != nil {
				return taskOutcome{catalog.RunFailed, err.Error()}
			}
			fileRows := map[int64]int64{}
			for _, f := range files {
				if f.State == "present" || f.Imported {
					fileRows[f.Seq] = f.Rows
				}
			}
			exportRows = 0
			staged := 0
			for _, p := range parts {
				if n, ok := fileRows[p.Seq]; ok {
					exportRows += n
					staged++
				} else if p.Imported {
					exportRows += p.Rows
					staged++
				}
			}
			if exportFailed == "" && staged < len(parts) {
				exportFailed = fmt.Sprintf("%d of %d partitions are not staged", len(parts)-staged, len(parts))
			}
			exportNote = partitionNote("exported", staged, len(parts), parts)
		}
		if importFailed == "" && done < len(parts) {
			importFailed = fmt.Sprintf("%d of %d partitions are not in the target", len(parts)-done, len(parts))
		}
		failed = importFailed
		tc := &taskCtx{rc: rc, t: t, counted: -1}
		for _, s := range []struct {
			name, failed, note, op string
			rows                   int64
		}{{StageExport, exportFailed, exportNote, "export", exportRows}, {StageImport, importFailed, partitionNote("copied", done, len(parts), parts), "import", rows}} {
			if findStage(stages, t.ID, s.name).Status != catalog.StageRunning {
				continue // not part of this attempt
			}
			status, note := catalog.StageCompleted, s.note
			if s.failed != "" {
				status, note = catalog.StageFailed, s.failed
			}
			if err := cat.FinishStage(bg, rc.id, t.ID, s.name, status, s.rows, 0, note); err != nil {
				return taskOutcome{catalog.RunFailed, err.Error()}
			}
			if status == catalog.StageCompleted {
				tc.settleTotal(bg, s.name, s.rows)
			}
			p := Progress{RunID: rc.id, TaskID: t.ID, Table: t.SourceTable, Stage: s.name, Rows: s.rows, RowsPerSec: float64(s.rows) / elapsed(rc.started), Done: true}
			if s.failed != "" {
				p = Progress{RunID: rc.id, TaskID: t.ID, Table: t.SourceTable, Stage: s.name, Message: "failed: " + s.failed}
			} else {
				st := &stage{tc: tc, started: rc.started}
				st.rows.Store(s.rows)
				rc.operation(ctx, tc, s.op, st)
			}
			rc.watch.report(p)
		}
	}
	if failed != "" {
		if errors.Is(cause, ErrStopped) {
			return taskOutcome{catalog.RunTerminated, ErrStopped.Error()}
		}
		return taskOutcome{catalog.RunFailed, failed}
	}
	if s := findStage(stages, t.ID, StageDiff).Status; s == catalog.StageCompleted || s == catalog.StageSkipped {
		return taskOutcome{status: catalog.RunCompleted}
	}
	tc, err := rc.prepareTask(ctx, t)
	if err != nil {
		return taskOutcome{catalog.RunFailed, scrub(rc.src, err)}
	}
	consistent, err := tc.verify(ctx)
	if err != nil {
		return taskOutcome{catalog.RunFailed, err.Error()}
	}
	if !consistent {
		return taskOutcome{catalog.RunDataInconsistent, "source and target differ; see dataflow.run_diffs"}
	}
	return taskOutcome{status: catalog.RunCompleted}
}

func withNote(msg, note string) string {
	if note == "" {
		return msg
	}
	return msg + "; " + note
}

// workTask is the task of w on a worker, with its staging store when w
// is staged (staging: the staging datasource, nil for the directory).
func workTask(ctx context.Context, src, dst, staging *Endpoint, w PartitionWork) (*taskCtx, error) {
	plan := &RunPlan{Job: w.Job, Source: w.Source, Target: w.Target, Tasks: []TaskPlan{w.Task}, Options: w.Options, SourceWhere: w.SourceWhere}
	rc := &runCtx{id: w.RunID, plan: plan, opts: runopts.Values(w.Options), src: src, dst: dst}
	if w.IsStaged() {
		var conn any
		if staging != nil {
			conn = staging.Conn
		} else if w.StagingDir == "" {
			return nil, fmt.Errorf("partition %s: staged run without a staging store", w.ID())
		}
		var err error
		if rc.store, err = storeFor(conn, w.StagingDir); err != nil {
			return nil, err
		}
	}
	tc, err := rc.prepareTask(ctx, w.Task)
	if err != nil {
		return nil, fmt.Errorf("partition %s: %s", w.ID(), scrub(src, err))
	}
	if err := tc.checkPartitionKey([]catalog.Partition{w.Part}); err != nil {
		return nil, err
	}
	return tc, nil
}

// unmarkedTask is workTask when w's partition is not in the target yet;
// nil (and no error) when its mark is: an earlier attempt loaded it.
func unmarkedTask(ctx context.Context, src, dst, staging *Endpoint, w PartitionWork) (*taskCtx, error) {
	tc, err := workTask(ctx, src, dst, staging, w)
	if err != nil {
		return nil, err
	}
	marked, err := tc.importedMarks(ctx)
	if err != nil {
		return nil, err
	}
	if marked[w.ID()] {
		return nil, nil
	}
	return tc, nil
}

// StagePartition exports one partition of a staged run into its file in
// the staging store (ExportTable on a worker), counting rows as it goes.
// The gateway records the file (FileStaged).
func StagePartition(ctx context.Context, src, dst, staging *Endpoint, w PartitionWork, rows *atomic.Int64) (catalog.ExportFile, error) {
	tc, err := workTask(ctx, src, dst, staging, w)
	if err != nil {
		return catalog.ExportFile{}, err
	}
	f, err := tc.stagePartition(ctx, w.Part, w.Snapshot, rows)
	if w.Snapshot != "" && errors.Is(err, data.ErrSnapshotGone) {
		f, err = tc.stagePartition(ctx, w.Part, "", rows) // as in CopyPartition
	}
	if err != nil {
		return f, fmt.Errorf("export: %w", connectors.ScrubError(err, src.Secrets...))
	}
	return f, nil
}

// LoadStaged imports a partition's staged file (w.Staged) in one target
// transaction with the partition's mark (ImportTable on a worker). A
// partition already marked in the target is not loaded again: done is
// false and n is 0.
func LoadStaged(ctx context.Context, src, dst, staging *Endpoint, w PartitionWork, rows, bytes *atomic.Int64) (n int64, done bool, err error) {
	if w.Staged == nil {
		return 0, false, fmt.Errorf("partition %s has no staged file", w.ID())
	}
	tc, err := unmarkedTask(ctx, src, dst, staging, w)
	if tc == nil || err != nil {
		return 0, false, err
	}
	n, err = tc.importFile(ctx, *w.Staged, w.ID(), rows, bytes)
	if isAlreadyImported(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("partition %d: import %s: %w", w.Part.Seq, w.Staged.URI, connectors.ScrubError(err, dst.Secrets...))
	}
	if n != w.Staged.Rows {
		return 0, false, fmt.Errorf("partition %d: imported %d rows from %s, exported %d", w.Part.Seq, n, w.Staged.URI, w.Staged.Rows)
	}
	return n, true, nil
}

// CopyPartition copies one partition from src to dst in one target
// transaction with its mark, counting into rows and bytes as it goes. A
// partition already marked in the target (an earlier attempt committed
// it) is not loaded again: done is false and n is 0.
func CopyPartition(ctx context.Context, src, dst *Endpoint, w PartitionWork, rows, bytes *atomic.Int64) (n int64, done bool, err error) {
	tc, err := unmarkedTask(ctx, src, dst, nil, w)
	if tc == nil || err != nil {
		return 0, false, err
	}
	return tc.copyWork(ctx, w, rows, bytes)
}

// CopyPartitions copies partitions of one task in turn (staging = 'none'),
// as CopyPartition does each: the task is described and its marks read
// once for all. each is called as each partition commits (n, true) or is
// found marked by an earlier attempt (0, false); rows and bytes count up
// across the partitions.
func CopyPartitions(ctx context.Context, src, dst *Endpoint, works []PartitionWork, rows, bytes *atomic.Int64, each func(w PartitionWork, n int64, done bool)) error {
	if len(works) == 0 {
		return nil
	}
	tc, err := workTask(ctx, src, dst, nil, works[0])
	if err != nil {
		return err
	}
	marked, err := tc.importedMarks(ctx)
	if err != nil {
		return err
	}
	for _, w := range works {
		if w.Task.ID != works[0].Task.ID {
			return fmt.Errorf("partition %s is not of task %d", w.ID(), works[0].Task.ID)
		}
		if marked[w.ID()] {
			each(w, 0, false)
			continue
		}
		if err := tc.checkPartitionKey([]catalog.Partition{w.Part}); err != nil {
			return err
		}
		n, done, err := tc.copyWork(ctx, w, rows, bytes)
		if err != nil {
			return err
		}
		each(w, n, done)
	}
	return nil
}

// copyWork streams partition w into the target in one transaction with
// its mark, counting up rows and bytes; done is false when an earlier
// attempt had committed it.
func (tc *taskCtx) copyWork(ctx context.Context, w PartitionWork, rows, bytes *atomic.Int64) (n int64, done bool, err error) {
	src, dst := tc.rc.src, tc.rc.dst
	rows0, bytes0 := rows.Load(), bytes.Load()
	es, is := tc.streamSpecs(w.Part, w.Snapshot)
	n, eerr, ierr := PipeTable(ctx, ctx, tc.exporter, es, tc.importer, is, rows, bytes)
	if w.Snapshot != "" && errors.Is(eerr, data.ErrSnapshotGone) {
		// Its holder (the gateway) went away: this partition reads a
		// snapshot of its own, as the embedded engine's partitions do
		// after a restart.
		rows.Store(rows0)
		bytes.Store(bytes0)
		es.Snapshot = ""
		n, eerr, ierr = PipeTable(ctx, ctx, tc.exporter, es, tc.importer, is, rows, bytes)
	}
	if isAlreadyImported(ierr) {
		return 0, false, nil
	}
	secrets := append(append([]string{}, src.Secrets...), dst.Secrets...)
	switch {
	case eerr != nil && (ierr == nil || !errors.Is(eerr, io.ErrClosedPipe)):
		return 0, false, fmt.Errorf("partition %d: export: %w", w.Part.Seq, connectors.ScrubError(eerr, secrets...))
	case ierr != nil:
		return 0, false, fmt.Errorf("partition %d: import: %w", w.Part.Seq, connectors.ScrubError(ierr, secrets...))
	}
	return n, true, nil
}
