package temporal

// Scan, export and load runs (MODE SCAN, OBJECT jobs) under the Temporal
// engine: the ScanRun workflow runs the whole run as one activity on a
// worker (Data.ScanAttempt, the embedded engine's attempt code with a
// scan.Accumulator for a recorder); its heartbeats carry the cumulative
// scan.Record, which the gateway applies to the catalog as it comes
// (Engine.ExecuteScan) and once more at the end (Gateway.EndScan). A
// worker that dies stops heartbeating and Temporal runs the attempt again
// on another: the target's checkpoint (watermark, objects loaded) makes
// the second attempt go on where the first committed.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/scan"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names registered with Temporal (part of the workflow contract).
const (
	WorkflowScanRun     = "flowgate.ScanRun"
	ActivityBeginScan   = "flowgate.BeginScan"
	ActivityScanAttempt = "flowgate.ScanAttempt"
	ActivityEndScan     = "flowgate.EndScan"
)

// ScanRunInput starts a ScanRun workflow.
type ScanRunInput struct {
	RunID        string `json:"run_id"`
	Job          string `json:"job"`
	Note         string `json:"note"`
	GatewayQueue string `json:"gateway_queue"`
	DataQueue    string `json:"data_queue"`
}

// ScanBegin is what the gateway hands the attempt: the run's plan (names
// and options, no secret), its datasources sealed, and what the attempt
// reads of the catalog.
type ScanBegin struct {
	Ended  bool              `json:"ended"` // the run is no longer active
	Plan   []byte            `json:"plan"`
	Source SealedEndpoint    `json:"source"`
	Target SealedEndpoint    `json:"target"`
	State  scan.AttemptState `json:"state"`
}

// ScanAttemptInput is the worker's activity.
type ScanAttemptInput struct {
	RunID string    `json:"run_id"`
	Begin ScanBegin `json:"begin"`
}

// ScanEndInput ends the run in the catalog: the attempt's Record, or the
// workflow's own outcome when the attempt gave none.
type ScanEndInput struct {
	RunID   string       `json:"run_id"`
	Job     string       `json:"job"`
	Note    string       `json:"note"`
	Record  *scan.Record `json:"record,omitempty"`
	Status  string       `json:"status,omitempty"`
	Message string       `json:"message,omitempty"`
}

// ScanRun is a scan, export or load run: BeginScan in the gateway, the
// attempt on a worker, EndScan in the gateway. Cancelling the workflow is
// STOP SYNC JOB: the attempt ends at once (a scan's upsert transaction
// rolls back; the watermark stays where the target committed it).
func ScanRun(ctx workflow.Context, in ScanRunInput) (RunResult, error) {
	keep, _ := workflow.NewDisconnectedContext(ctx)
	gw := gatewayActivity(keep, in.GatewayQueue)
	var begin ScanBegin
	if err := workflow.ExecuteActivity(gw, ActivityBeginScan, in.RunID).Get(gw, &begin); err != nil {
		return RunResult{}, err
	}
	if begin.Ended {
		return RunResult{Status: "ended"}, nil
	}
	end := ScanEndInput{RunID: in.RunID, Job: in.Job, Note: in.Note}
	var rec scan.Record
	// A partition copy's options: a dead worker stops heartbeating and the
	// attempt runs again on another; what the run itself refuses (data,
	// SQL) ends in its Record, not in a retry.
	err := workflow.ExecuteActivity(partitionActivity(ctx, in.DataQueue, "scan"), ActivityScanAttempt, ScanAttemptInput{RunID: in.RunID, Begin: begin}).Get(keep, &rec)
	switch {
	case err == nil:
		end.Record = &rec
	default:
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.HasDetails() && app.Details(&rec) == nil {
			end.Record = &rec
		}
		end.Status, end.Message = catalog.RunFailed, failureMessage(err)
		if ctx.Err() != nil {
			end.Status, end.Message = catalog.RunTerminated, scan.ErrStopped.Error()
		}
	}
	var res RunResult
	err = workflow.ExecuteActivity(gw, ActivityEndScan, end).Get(gw, &res)
	return res, err
}

// BeginScan hands the attempt the run's plan and datasources; Ended when
// the run is no longer active.
func (g *Gateway) BeginScan(ctx context.Context, runID string) (ScanBegin, error) {
	r, err := g.Catalog.GetRun(ctx, runID)
	if err != nil {
		return ScanBegin{}, fmt.Errorf("load run %s: %w", runID, err)
	}
	if !catalog.IsActiveRunStatus(r.Status) {
		return ScanBegin{Ended: true}, nil
	}
	plan, err := scan.DecodePlan(r.Plan)
	if err != nil {
		return ScanBegin{}, err
	}
	out := ScanBegin{Plan: r.Plan}
	if out.Source, err = g.seal(ctx, plan.Source); err != nil {
		return out, err
	}
	if out.Target, err = g.seal(ctx, plan.Target); err != nil {
		return out, err
	}
	out.State, err = g.Scan.BeginState(ctx, runID, r.Job)
	return out, err
}

// EndScan applies the attempt's last Record and ends the run.
func (g *Gateway) EndScan(ctx context.Context, in ScanEndInput) (RunResult, error) {
	if err := g.Scan.FinishRemote(ctx, in.RunID, in.Job, in.Record, in.Status, in.Message, in.Note); err != nil {
		return RunResult{}, err
	}
	r, err := g.Catalog.GetRun(ctx, in.RunID)
	if err != nil {
		return RunResult{}, fmt.Errorf("load run %s: %w", in.RunID, err)
	}
	return RunResult{Status: r.Status, Message: r.Message}, nil
}

// ScanAttempt runs the run on this worker, heartbeating its Record every
// second. STOP (the workflow cancelled) ends it terminated; a worker that
// shuts down hands it to another.
func (d *Data) ScanAttempt(ctx context.Context, in ScanAttemptInput) (scan.Record, error) {
	st := in.Begin.State
	if activity.GetInfo(ctx).Attempt > 1 && activity.HasHeartbeatDetails(ctx) {
		var prev scan.Record
		if activity.GetHeartbeatDetails(ctx, &prev) == nil {
			st.Previous = &prev // the dead worker's files and objects
		}
	}
	acc := scan.NewAccumulator(st)
	activity.RecordHeartbeat(ctx, acc.Record())
	plan, err := scan.DecodePlan(in.Begin.Plan)
	if err != nil {
		return acc.Record(), temporal.NewNonRetryableApplicationError(err.Error(), "plan", nil)
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	eng := scan.New(scan.Config{Open: d.opener(in.Begin.Source, in.Begin.Target), Logger: log.With("run", in.RunID)})
	actx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	finished := make(chan struct{})
	go func() {
		select {
		case <-finished:
		case <-ctx.Done():
			cause := scan.ErrStopped
			select {
			case <-activity.GetWorkerStopChannel(ctx):
				cause = scan.ErrWorkerShutdown
			default:
			}
			cancel(cause)
		case <-activity.GetWorkerStopChannel(ctx):
			cancel(scan.ErrWorkerShutdown)
		}
	}()
	stopHB := heartbeatEvery(ctx, time.Second, func() any { return acc.Record() })
	eng.RunAttempt(actx, in.RunID, plan, acc)
	close(finished)
	stopHB()
	rec := acc.Record()
	if errors.Is(context.Cause(actx), scan.ErrWorkerShutdown) {
		return rec, temporal.NewApplicationError(scan.ErrWorkerShutdown.Error(), "worker-shutdown", rec)
	}
	return rec, nil
}

// ExecuteScan implements scan.Remote: it starts the run's ScanRun
// workflow (or follows the one running, after a gateway restart) and
// applies the attempt's heartbeats to the catalog until it ends.
func (g *Engine) ExecuteScan(ctx context.Context, runID, job string, report func(batch.Progress)) error {
	bg := context.WithoutCancel(ctx)
	wid, err := g.cat.RunWorkflow(bg, runID)
	if err != nil {
		return err
	}
	if wid == "" || !g.running(bg, wid) {
		wid = fmt.Sprintf("flowgate-scan-%s-%d", runID, time.Now().UnixMilli())
		if err := g.cat.SetRunWorkflow(bg, runID, wid); err != nil {
			return err
		}
		if err := g.cat.SetRunStatus(bg, runID, catalog.RunRunning, "temporal workflow "+wid); err != nil {
			return fmt.Errorf("record run workflow: %w", err)
		}
		in := ScanRunInput{RunID: runID, Job: job, Note: "temporal workflow " + wid, GatewayQueue: g.o.GatewayQueue(), DataQueue: g.o.DataQueue()}
		if _, err := g.c.ExecuteWorkflow(bg, client.StartWorkflowOptions{ID: wid, TaskQueue: g.o.GatewayQueue()}, WorkflowScanRun, in); err != nil {
			return fmt.Errorf("start temporal workflow %s: %w", wid, err)
		}
	}
	defer func() {
		g.mu.Lock()
		delete(g.busy, runID)
		g.mu.Unlock()
	}()
	f := &scanFollow{runID: runID, job: job, wid: wid, report: report, started: time.Now(), done: map[[2]string]bool{}}
	err = g.await(ctx, wid, scan.ErrStopped, func() { g.scanProgress(bg, f) })
	if err == nil {
		g.scanEnded(bg, f)
	}
	return err
}

// scanEnded tells WAIT of the stages that ended after the last heartbeat
// it saw (a short run may end between two).
func (g *Engine) scanEnded(ctx context.Context, f *scanFollow) {
	stages, err := g.cat.Stages(ctx, f.runID)
	if err != nil {
		return
	}
	for _, s := range stages {
		if s.Status == catalog.StagePending || s.Status == catalog.StageRunning || f.done[[2]string{fmt.Sprint(s.TaskID), s.Stage}] {
			continue
		}
		p := batch.Progress{RunID: f.runID, TaskID: s.TaskID, Stage: s.Stage, Rows: s.Rows, Done: true}
		if s.Status == catalog.StageFailed {
			p.Message = "failed: " + s.Message
		}
		g.scanReport(ctx, f, p)
	}
}

// scanReport sends p to WAIT with the task's table and the rate.
func (g *Engine) scanReport(ctx context.Context, f *scanFollow, p batch.Progress) {
	if f.tables == nil {
		f.tables = map[int64]string{}
		if tasks, err := g.cat.RunTasks(ctx, f.runID); err == nil {
			for _, t := range tasks {
				f.tables[t.ID] = t.SourceTable
			}
		}
	}
	if p.Done {
		f.done[[2]string{fmt.Sprint(p.TaskID), p.Stage}] = true
	}
	p.Table = f.tables[p.TaskID]
	p.RowsPerSec = float64(p.Rows) / max(time.Since(f.started).Seconds(), 1e-3)
	f.report(p)
}

// scanFollow is what the gateway follows of a scan run.
type scanFollow struct {
	runID, job, wid string
	report          func(batch.Progress)
	started         time.Time
	tables          map[int64]string
	done            map[[2]string]bool // task/stage WAIT heard end
	last            string             // the last Record applied: attempt/seq
}

// scanProgress applies the attempt's last heartbeat to the catalog,
// tells WAIT what moved and counts the worker running it.
func (g *Engine) scanProgress(ctx context.Context, f *scanFollow) {
	d, err := g.c.DescribeWorkflowExecution(ctx, f.wid, "")
	if err != nil {
		return
	}
	busy := map[string]int64{}
	for _, pa := range d.GetPendingActivities() {
		if pa.GetActivityType().GetName() != ActivityScanAttempt {
			continue
		}
		if pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && pa.GetLastWorkerIdentity() != "" {
			busy[pa.GetLastWorkerIdentity()]++
		}
		var rec scan.Record
		if pa.GetHeartbeatDetails() == nil || g.dc.FromPayloads(pa.GetHeartbeatDetails(), &rec) != nil {
			continue
		}
		key := fmt.Sprintf("%d/%d", pa.GetAttempt(), rec.Seq)
		if key == f.last {
			continue
		}
		f.last = key
		news, err := g.scan.ApplyRecord(ctx, f.runID, f.job, rec)
		if err != nil {
			g.log.Warn("record scan progress", "run", f.runID, "err", err)
			continue
		}
		for _, p := range news {
			g.scanReport(ctx, f, p)
		}
	}
	g.mu.Lock()
	g.busy[f.runID] = busy
	g.mu.Unlock()
}
