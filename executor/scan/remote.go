package scan

// Runs on a remote engine (Temporal workers): the gateway follows the run
// (follow) while a worker runs the attempt code of the embedded engine
// with an Accumulator (RunAttempt); the gateway applies the worker's
// Records to the catalog as they come (ApplyRecord) and at the end
// (FinishRemote).

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/executor/batch"
)

// Remote runs scan, export and load runs elsewhere.
type Remote interface {
	// ExecuteScan runs the run (or follows it, when it is already
	// running there after a gateway restart) until it ends, reporting
	// progress. Cancelling ctx with cause ErrStopped stops the run; any
	// other cause leaves it running there.
	ExecuteScan(ctx context.Context, runID, job string, report func(batch.Progress)) error
	// Check tells whether a run could start now.
	Check(ctx context.Context) error
}

// ErrStopped is the cause of a run's context when STOP SYNC JOB ends it.
var ErrStopped = errStopped

// ErrWorkerShutdown is the cause of an attempt's context when its worker
// shuts down: the attempt is taken over by another worker.
var ErrWorkerShutdown = errors.New("the worker shut down")

// checkRemote refuses, under a remote engine, a run that workers cannot
// do: one that reads or writes a file datasource (a directory on the
// gateway's disk) unless SharedStaging, or one started while the remote
// engine does not answer.
func (e *Engine) checkRemote(ctx context.Context, plan *Plan) error {
	if e.cfg.Remote == nil {
		return nil
	}
	for _, name := range []string{plan.Source, plan.Target} {
		d, err := e.cfg.Catalog.GetDatasource(ctx, name)
		if err != nil {
			return fmt.Errorf("datasource %q: %w", name, err)
		}
		if d.Type == "file" && !e.cfg.SharedStaging {
			return &batch.PlanError{Code: "55000",
				Message: fmt.Sprintf("job %s reads or writes file datasource %s, a directory on the gateway's disk, which flowgate workers on other machines cannot reach", plan.Job, name),
				Hint:    "Use an s3 datasource, or start the gateway with --shared-staging if every worker mounts that directory at the same path."}
		}
	}
	if err := e.cfg.Remote.Check(ctx); err != nil {
		return &batch.PlanError{Code: "08006", Message: "cannot start the run: " + err.Error(),
			Hint: "Runs already started wait for it and go on; start this one when it is back, or run the gateway with --engine embedded."}
	}
	return nil
}

// follow runs a on the remote engine until it ends, or until this
// process shuts down (the run goes on there and is followed again at the
// next start).
func (e *Engine) follow(ctx context.Context, id string, plan *Plan, a *activeRun) {
	err := e.cfg.Remote.ExecuteScan(ctx, id, plan.Job, a.report)
	if errors.Is(context.Cause(ctx), errShutdown) {
		return
	}
	bg := context.WithoutCancel(ctx)
	if err != nil {
		e.cfg.Logger.Error("scan run on the remote engine failed", "job", plan.Job, "run", id, "err", err)
		e.cfg.Catalog.SetRunStatus(bg, id, catalog.RunFailed, err.Error())
		a.report(batch.Progress{RunID: id, Done: true, Message: catalog.RunFailed + ": " + err.Error()})
		return
	}
	if r, err := e.cfg.Catalog.GetRun(bg, id); err == nil {
		a.report(batch.Progress{RunID: id, Done: true, Message: r.Status + ": " + r.Message})
	}
}

// Attach follows a run the remote engine went on with while the gateway
// was away.
func (e *Engine) Attach(job, id string, plan *Plan) *Handle {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.launch(job, id, plan)
}

// RunAttempt runs one attempt of a run on a worker, recording through
// rec; the caller cancels ctx with ErrStopped (STOP) or ErrWorkerShutdown.
func (e *Engine) RunAttempt(ctx context.Context, runID string, plan *Plan, rec Recorder) {
	e.attempt(ctx, runID, plan, rec, func(batch.Progress) {})
}

// BeginState is what a worker's attempt needs of the catalog: the run's
// bad records so far, its export files and the objects the job loaded
// (nil when there are too many to carry: the target's checkpoints
// decide then).
func (e *Engine) BeginState(ctx context.Context, runID, job string) (AttemptState, error) {
	st := AttemptState{Job: job}
	var err error
	if st.BadCount, err = e.cfg.Catalog.CountRunErrors(ctx, runID); err != nil {
		return st, err
	}
	if st.Files, err = e.cfg.Catalog.ExportFiles(ctx, runID, 1); err != nil {
		return st, err
	}
	if st.Objects, err = e.cfg.Catalog.ScanObjects(ctx, job); err != nil {
		return st, err
	}
	if len(st.Objects) > maxRecordItems {
		st.Objects = nil
	}
	return st, nil
}

// ApplyRecord writes what a worker's Record says to the catalog, and
// returns the progress WAIT should hear of (stages that moved).
func (e *Engine) ApplyRecord(ctx context.Context, runID, job string, r Record) ([]batch.Progress, error) {
	cat := e.cfg.Catalog
	have, err := cat.Stages(ctx, runID)
	if err != nil {
		return nil, err
	}
	var news []batch.Progress
	for _, s := range r.Stages {
		var cur catalog.StageState
		for _, h := range have {
			if h.TaskID == s.TaskID && h.Stage == s.Stage {
				cur = h
			}
		}
		if s.Total > 0 {
			if err := cat.SetStageTotal(ctx, runID, s.TaskID, s.Stage, s.Total); err != nil {
				return news, err
			}
		}
		if cur.Status == s.Status && cur.Rows == s.Rows && cur.Bytes == s.Bytes && cur.Message == s.Message {
			continue
		}
		if cur.Status != catalog.StageRunning {
			if _, err := cat.StartStage(ctx, runID, s.TaskID, s.Stage); err != nil {
				return news, err
			}
		}
		done := s.Status != catalog.StageRunning
		if done {
			err = cat.FinishStage(ctx, runID, s.TaskID, s.Stage, s.Status, s.Rows, s.Bytes, s.Message)
		} else {
			err = cat.StageProgress(ctx, runID, s.TaskID, s.Stage, s.Rows, s.Bytes)
		}
		if err != nil {
			return news, err
		}
		if err := cat.SetStageTimes(ctx, runID, s.TaskID, s.Stage, s.Started, s.Finished); err != nil {
			return news, err
		}
		p := batch.Progress{RunID: runID, TaskID: s.TaskID, Stage: s.Stage, Rows: s.Rows, Total: s.Total, Done: done}
		if s.Status == catalog.StageFailed {
			p.Message = "failed: " + s.Message
		}
		news = append(news, p)
	}
	for id, t := range r.Tasks {
		if err := cat.SetTaskStatus(ctx, runID, id, t.Status, t.Message); err != nil {
			return news, err
		}
	}
	for _, w := range r.Watermarks {
		if err := cat.SetWatermark(ctx, job, runID, w); err != nil {
			return news, err
		}
	}
	for id, d := range r.Diffs {
		if err := cat.AddDiffs(ctx, runID, id, d); err != nil {
			return news, err
		}
	}
	for _, x := range r.Errors {
		if _, err := cat.AddRunError(ctx, x); err != nil {
			return news, err
		}
	}
	if r.ClearedFiles {
		var keep []int64
		for _, f := range r.Files {
			keep = append(keep, f.Seq)
		}
		if err := cat.KeepExportFiles(ctx, runID, 1, keep); err != nil {
			return news, err
		}
	}
	for _, f := range r.Files {
		if err := cat.AddExportFile(ctx, runID, f); err != nil {
			return news, err
		}
	}
	for _, o := range r.Objects {
		if err := cat.RecordScanObject(ctx, job, runID, o); err != nil {
			return news, err
		}
	}
	return news, nil
}

// FinishRemote applies a run's last Record (nil when none came), its
// operations, and ends the run with status and msg; note is appended to
// the message. A run that has already ended is left as it is (the
// gateway's activity ran again after a restart).
func (e *Engine) FinishRemote(ctx context.Context, runID, job string, r *Record, status, msg, note string) error {
	cat := e.cfg.Catalog
	run, err := cat.GetRun(ctx, runID)
	if err != nil {
		return fmt.Errorf("load run %s: %w", runID, err)
	}
	if !catalog.IsActiveRunStatus(run.Status) {
		return nil
	}
	if r != nil {
		if _, err := e.ApplyRecord(ctx, runID, job, *r); err != nil {
			return err
		}
		for _, o := range r.Ops {
			if err := cat.AddOperation(ctx, o); err != nil {
				return err
			}
		}
		if status == "" {
			status, msg = r.Status, r.Message
		}
	}
	if status == "" || catalog.IsActiveRunStatus(status) {
		status = catalog.RunFailed
		if msg == "" {
			msg = "the run's attempt ended without an outcome"
		}
	}
	// Tasks and stages a dead attempt left going end with the run.
	if tasks, err := cat.RunTasks(ctx, runID); err == nil {
		for _, t := range tasks {
			if catalog.IsActiveRunStatus(t.Status) {
				cat.SetTaskStatus(ctx, runID, t.ID, status, msg)
			}
		}
	}
	if stages, err := cat.Stages(ctx, runID); err == nil {
		for _, s := range stages {
			if s.Status == catalog.StageRunning {
				cat.FinishStage(ctx, runID, s.TaskID, s.Stage, catalog.StageFailed, s.Rows, s.Bytes, msg)
			}
		}
	}
	if note != "" {
		msg += "; " + note
	}
	return cat.SetRunStatus(ctx, runID, status, msg)
}
