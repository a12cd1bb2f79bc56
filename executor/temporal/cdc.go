package temporal

// CDC runs under the Temporal engine: the CDCRun workflow (workflow.go)
// runs the pipeline as one long activity on a worker (Data.CDCPipeline,
// the same attempt code as the embedded engine's, cdc.Engine.RunAttempt);
// its heartbeats carry the attempt's cumulative cdc.Record, which the
// gateway follows into the catalog (Engine.ExecuteCDC), and the gateway's
// activities begin, restart and end the run in the catalog.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/cdc"
	"github.com/flowgate/flowgate/executor/runopts"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// BeginCDC hands an attempt the job and its datasources, sealed; Ended
// when the run is no longer active (ended while the workflow waited).
func (g *Gateway) BeginCDC(ctx context.Context, runID string) (CDCBegin, error) {
	r, err := g.Catalog.GetRun(ctx, runID)
	if err != nil {
		return CDCBegin{}, fmt.Errorf("load run %s: %w", runID, err)
	}
	active := false
	for _, s := range catalog.ActiveRunStatuses {
		active = active || r.Status == s
	}
	if !active {
		return CDCBegin{Ended: true}, nil
	}
	j, err := g.Catalog.GetJob(ctx, r.Job)
	if err != nil {
		return CDCBegin{}, fmt.Errorf("load job %s: %w", r.Job, err)
	}
	out := CDCBegin{Job: *j, Options: runopts.SyncJob.Resolve(j.Options)}
	if out.Source, err = g.seal(ctx, j.Source); err != nil {
		return out, err
	}
	if out.Target, err = g.seal(ctx, j.Target); err != nil {
		return out, err
	}
	out.BadCount, err = g.Catalog.CountRunErrors(ctx, runID)
	return out, err
}

// CDCRestarting records a failed attempt and the wait before the next.
func (g *Gateway) CDCRestarting(ctx context.Context, in CDCEndInput) error {
	return g.CDC.RestartingRemote(ctx, in.RunID, in.Job, in.Note, in.Record, in.Delay, in.Message)
}

// EndCDC records the last attempt's Record and ends the run.
func (g *Gateway) EndCDC(ctx context.Context, in CDCEndInput) (RunResult, error) {
	if err := g.CDC.FinishRemote(ctx, in.RunID, in.Job, in.Note, in.Record, in.Status, in.Message); err != nil {
		return RunResult{}, err
	}
	return RunResult{Status: in.Status, Message: in.Message}, nil
}

// cdcStopGrace is how long a stopping pipeline may take to apply what it
// read and checkpoint before it is cancelled.
const cdcStopGrace = 20 * time.Second

// CDCPipeline runs one attempt of a CDC run's pipeline until the workflow
// cancels it (STOP: it ends at a checkpoint and returns its Record) or
// it fails (a non-retryable error carrying the Record: the workflow
// decides on restarting). It heartbeats its Record every second; a
// worker killed mid-stream stops heartbeating, and Temporal retries the
// activity on another worker, which goes on from the target's checkpoint.
func (d *Data) CDCPipeline(ctx context.Context, in CDCAttemptInput) (cdc.Record, error) {
	info := activity.GetInfo(ctx)
	acc := cdc.NewAccumulator(cdcAttemptKey(info.WorkflowExecution.RunID, info.ActivityID, info.Attempt), in.BadCount)
	fromSnapshot := in.FromSnapshot
	if fromSnapshot && info.Attempt > 1 && activity.HasHeartbeatDetails(ctx) {
		// A retry after a worker died: the snapshot it took stands.
		var prev cdc.Record
		if activity.GetHeartbeatDetails(ctx, &prev) == nil && prev.Snapshot != nil {
			fromSnapshot = false
		}
	}
	// Heartbeat at once: opening the datasources and the slot can be slow.
	activity.RecordHeartbeat(ctx, acc.Record())
	open := d.opener(in.Source, in.Target)
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	eng := cdc.New(cdc.Config{Open: open, Logger: log.With("run", in.RunID)})
	// The pipeline outlives the activity's context by the grace it needs
	// to stop at a checkpoint.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := make(chan struct{})
	finished := make(chan struct{})
	var shutdown atomic.Bool
	go func() {
		select {
		case <-finished:
			return
		case <-ctx.Done():
			// A worker that stops cancels its activities too: that is
			// not STOP SYNC JOB.
			select {
			case <-activity.GetWorkerStopChannel(ctx):
				shutdown.Store(true)
			default:
			}
		case <-activity.GetWorkerStopChannel(ctx):
			shutdown.Store(true)
		}
		close(stop)
		select {
		case <-finished:
		case <-time.After(cdcStopGrace):
			cancel()
		}
	}()
	stopHB := heartbeatEvery(ctx, time.Second, func() any { return acc.Record() })
	err := eng.RunAttempt(pctx, cdc.AttemptInput{RunID: in.RunID, Job: &in.Job, FromSnapshot: fromSnapshot, Recorder: acc, Stop: stop})
	close(finished)
	stopHB()
	rec := acc.Record()
	switch {
	case shutdown.Load():
		// Retried at once elsewhere, from the checkpoint just written.
		return rec, temporal.NewApplicationError("the worker shut down", "worker-shutdown", rec)
	case err == nil, ctx.Err() != nil && errors.Is(err, context.Canceled):
		return rec, nil
	}
	typ := failureTransient
	if cdc.Permanent(err) {
		typ = failurePermanent
	}
	return rec, temporal.NewNonRetryableApplicationError(eng.Message(err), typ, nil, rec)
}

// ExecuteCDC implements cdc.Remote: it starts the run's CDCRun workflow
// (or follows the one running, after a gateway restart) and applies the
// pipeline's heartbeats to the catalog until the workflow ends.
func (g *Engine) ExecuteCDC(ctx context.Context, runID, job string, fromSnapshot bool, report func(batch.Progress), ready func()) error {
	bg := context.WithoutCancel(ctx)
	wid, err := g.cat.RunWorkflow(bg, runID)
	if err != nil {
		return err
	}
	resumed := wid != "" && g.running(bg, wid)
	if !resumed {
		wid = fmt.Sprintf("flowgate-cdc-%s-%d", runID, time.Now().UnixMilli())
		if err := g.cat.SetRunWorkflow(bg, runID, wid); err != nil {
			return err
		}
		r, err := g.cat.GetRun(bg, runID)
		if err != nil {
			return fmt.Errorf("load run %s: %w", runID, err)
		}
		if err := g.cat.SetRunStatus(bg, runID, r.Status, "temporal workflow "+wid); err != nil {
			return fmt.Errorf("record run workflow: %w", err)
		}
		in := CDCRunInput{RunID: runID, Job: job, Note: "temporal workflow " + wid, GatewayQueue: g.o.GatewayQueue(), DataQueue: g.o.DataQueue(),
			FromSnapshot: fromSnapshot, HistoryLimit: g.o.CDCHistoryLimit}
		if _, err := g.c.ExecuteWorkflow(bg, client.StartWorkflowOptions{ID: wid, TaskQueue: g.o.GatewayQueue()}, WorkflowCDCRun, in); err != nil {
			return fmt.Errorf("start temporal workflow %s: %w", wid, err)
		}
	}
	note := "temporal workflow " + wid
	defer func() {
		g.mu.Lock()
		delete(g.busy, runID)
		g.mu.Unlock()
	}()
	f := &cdcFollow{runID: runID, job: job, wid: wid, note: note, report: report, ready: ready, baseline: resumed, started: time.Now()}
	return g.await(ctx, wid, cdc.ErrStopped, func() { g.cdcProgress(bg, f) })
}

// cdcRetrying says in the run's message why the pipeline's activity is
// being retried (its worker died, or failed the activity: e.g. it holds
// another secret key) until the new attempt reports from a worker.
func (g *Engine) cdcRetrying(ctx context.Context, f *cdcFollow, wfRun string, pa *workflowpb.PendingActivityInfo, rec cdc.Record) {
	attempt := pa.GetAttempt()
	if attempt <= 1 || pa.GetLastFailure() == nil || attempt == f.retried || f.baseline ||
		rec.Attempt == cdcAttemptKey(wfRun, pa.GetActivityId(), attempt) {
		return
	}
	f.retried = attempt
	err := newFailureConverter(g.dc).FailureToError(pa.GetLastFailure())
	msg := err.Error()
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		msg = app.Message() // the attempt's own words, with the key ids when it is a key
	}
	if err := g.cat.SetRunStatus(ctx, f.runID, catalog.RunRestarting,
		fmt.Sprintf("the pipeline's attempt %d failed (%s); retrying on any worker; %s", attempt-1, msg, f.note)); err != nil {
		g.log.Warn("record CDC retry", "run", f.runID, "err", err)
	}
}

// cdcAttemptKey names one execution of a pipeline activity (cdc.Record's
// Attempt).
func cdcAttemptKey(wfRun, activityID string, attempt int32) string {
	return fmt.Sprintf("%s/%s/%d", wfRun, activityID, attempt)
}

// reportCDC turns a Record's news into WAIT's NOTICEs, as the embedded
// engine words them: the snapshot's tables, then "streaming from".
func (g *Engine) reportCDC(ctx context.Context, f *cdcFollow, rec cdc.Record) {
	if f.tables == nil {
		f.tables, f.seen = map[int64]string{}, map[int64]cdc.RecordStage{}
		if tasks, err := g.cat.RunTasks(ctx, f.runID); err == nil {
			for _, t := range tasks {
				f.tables[t.ID] = t.SourceTable
			}
		}
	}
	for _, s := range rec.Stages {
		if s.Stage != cdc.StageSnapshot || s.Status == "" || s == f.seen[s.TaskID] {
			continue
		}
		f.seen[s.TaskID] = s
		secs := max(time.Since(f.started).Seconds(), 1e-3)
		f.report(batch.Progress{RunID: f.runID, TaskID: s.TaskID, Table: f.tables[s.TaskID], Stage: s.Stage, Rows: s.Rows,
			Done: s.Status != catalog.StageRunning, RowsPerSec: float64(s.Rows) / secs})
	}
	if rec.Status == catalog.RunRunning && rec.Message != f.message {
		f.message = rec.Message
		f.report(batch.Progress{RunID: f.runID, Message: rec.Message})
	}
}

// cdcFollow is what the gateway follows of a CDC run.
type cdcFollow struct {
	runID, job, wid, note string
	report                func(batch.Progress)
	ready                 func()
	started               time.Time
	// What WAIT was told: source tables by task, Snapshot stages, the
	// last "streaming from".
	tables  map[int64]string
	seen    map[int64]cdc.RecordStage
	message string
	retried int32 // the pipeline attempt whose predecessor's failure the message says
	// baseline: the gateway follows a run again after a restart; the
	// first Record seen is taken as applied (cdc.Engine.Baseline).
	baseline bool
}

// cdcProgress applies the pipeline's last heartbeat to the catalog and
// counts the worker running it.
func (g *Engine) cdcProgress(ctx context.Context, f *cdcFollow) {
	d, err := g.c.DescribeWorkflowExecution(ctx, f.wid, "")
	if err != nil {
		return
	}
	busy := map[string]int64{}
	for _, pa := range d.GetPendingActivities() {
		if pa.GetActivityType().GetName() != ActivityCDCPipeline {
			continue
		}
		if pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && pa.GetLastWorkerIdentity() != "" {
			busy[pa.GetLastWorkerIdentity()]++
		}
		var rec cdc.Record
		if pa.GetHeartbeatDetails() != nil && g.dc.FromPayloads(pa.GetHeartbeatDetails(), &rec) != nil {
			continue
		}
		g.cdcRetrying(ctx, f, d.GetWorkflowExecutionInfo().GetExecution().GetRunId(), pa, rec)
		if rec.Attempt == "" {
			continue
		}
		if f.baseline {
			if err := g.cdc.Baseline(ctx, f.runID, f.job, f.note, rec); err != nil {
				g.log.Warn("record CDC progress", "run", f.runID, "err", err)
				continue
			}
			f.baseline = false
			if rec.Status == catalog.RunRunning {
				f.ready()
			}
			continue
		}
		changed, err := g.cdc.ApplyRecord(ctx, f.runID, f.job, f.note, rec)
		if err != nil {
			g.log.Warn("record CDC progress", "run", f.runID, "err", err)
			continue
		}
		if !changed {
			continue
		}
		g.reportCDC(ctx, f, rec)
		if rec.Status == catalog.RunRunning {
			f.ready()
		}
	}
	g.mu.Lock()
	g.busy[f.runID] = busy
	g.mu.Unlock()
}
