package temporal

import (
	"errors"
	"fmt"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/cdc"
	"github.com/flowgate/flowgate/executor/runopts"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names registered with Temporal: part of the workflow contract (renaming
// one strands histories recorded under the old name).
const (
	WorkflowBatchRun     = "flowgate.BatchRun"
	ActivityBeginRun     = "flowgate.BeginRun"
	ActivityPartitionRun = "flowgate.CopyPartition"
	ActivityPartitionMk  = "flowgate.PartitionCopied"
	ActivityEndRun       = "flowgate.EndRun"
	// A staged run's partition: ExportTable into its file, the file
	// recorded in the catalog, ImportTable from it.
	ActivityStagePartition = "flowgate.StagePartition"
	ActivityFileStaged     = "flowgate.FileStaged"
	ActivityLoadStaged     = "flowgate.LoadStaged"
	// A streamed run's partitions of one task, copied in turn by one
	// activity (workflow version copyPartitionsVersion on), and their
	// record in the catalog.
	ActivityCopyPartitions = "flowgate.CopyPartitions"
	ActivityPartitionsMk   = "flowgate.PartitionsCopied"
)

// RunInput starts a BatchRun workflow: ids and queue names only.
type RunInput struct {
	RunID        string `json:"run_id"`
	Note         string `json:"note"` // appended to the run's message
	GatewayQueue string `json:"gateway_queue"`
	DataQueue    string `json:"data_queue"`
}

// RunResult is the run's outcome as recorded in the catalog.
type RunResult struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// SealedEndpoint is a datasource as workers need it: its options sealed
// with the catalog key.
type SealedEndpoint struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Options []byte `json:"options"`
}

// BeginResult is what the gateway hands the workflow at the start.
type BeginResult struct {
	Plan   batch.RemotePlan `json:"plan"`
	Source SealedEndpoint   `json:"source"`
	Target SealedEndpoint   `json:"target"`
	// Staging is the staging datasource of a run staged in one (s3, or a
	// shared file directory).
	Staging *SealedEndpoint `json:"staging,omitempty"`
}

// CopyInput is one partition copy.
type CopyInput struct {
	Work    batch.PartitionWork `json:"work"`
	Source  SealedEndpoint      `json:"source"`
	Target  SealedEndpoint      `json:"target"`
	Staging *SealedEndpoint     `json:"staging,omitempty"`
}

// CopyResult is a partition copy's outcome.
type CopyResult struct {
	Rows   int64 `json:"rows"`
	Loaded bool  `json:"loaded"` // false: an earlier attempt had committed it
	// StagedOnly: the partition's file was staged, and its import left
	// for RETRY (the task's import had failed).
	StagedOnly bool `json:"staged_only,omitempty"`
}

// Progress is a partition copy's heartbeat.
type Progress struct {
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
	// Done: the partitions a CopyPartitions step has finished.
	Done []PartDone `json:"done,omitempty"`
}

// CopyBatchInput is a CopyPartitions step: partitions of one task.
type CopyBatchInput struct {
	Works  []batch.PartitionWork `json:"works"`
	Source SealedEndpoint        `json:"source"`
	Target SealedEndpoint        `json:"target"`
}

// PartDone is a partition a CopyPartitions step finished: its rows (0
// when an attempt not known to this one had loaded it).
type PartDone struct {
	Seq  int64 `json:"seq"`
	Rows int64 `json:"rows"`
}

// CopyBatchResult is a CopyPartitions step's outcome.
type CopyBatchResult struct {
	Done []PartDone `json:"done"`
}

// EndInput finishes a run.
type EndInput struct {
	RunID   string             `json:"run_id"`
	Results []batch.TaskResult `json:"results"`
	Stopped bool               `json:"stopped"`
	Note    string             `json:"note"`
}

// gatewayActivity options: the catalog's activities wait in the queue
// while the gateway is down (no schedule-to-start limit), and one a
// gateway died running (it stops heartbeating) is retried by the next.
func gatewayActivity(ctx workflow.Context, queue string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           queue,
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    20 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 10},
	})
}

// partitionActivity options: a worker killed mid-copy stops heartbeating,
// and the copy is retried on another worker; the partition's mark makes a
// copy that committed count once.
func partitionActivity(ctx workflow.Context, queue, id string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           queue,
		ActivityID:          id,
		StartToCloseTimeout: 24 * time.Hour,
		HeartbeatTimeout:    15 * time.Second,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 15 * time.Second, MaximumAttempts: 5},
	})
}

// BatchRun is a batch run's attempt: BeginRun in the gateway, the
// partitions' copies on workers (parallel as the job's options allow,
// each recorded in the catalog as it ends), EndRun in the gateway
// (verification, foreign keys, status). Cancelling the workflow is STOP
// SYNC JOB: copies in flight are cancelled (their transactions roll
// back) and the run ends terminated.
func BatchRun(ctx workflow.Context, in RunInput) (RunResult, error) {
	// The catalog's steps run whether or not the run is being stopped.
	keep, _ := workflow.NewDisconnectedContext(ctx)
	gw := gatewayActivity(keep, in.GatewayQueue)
	var begin BeginResult
	if err := workflow.ExecuteActivity(gw, ActivityBeginRun, in.RunID, in.Note).Get(gw, &begin); err != nil {
		return RunResult{}, err
	}
	if begin.Plan.Ended {
		return RunResult{Status: "failed"}, nil
	}
	chunked := workflow.GetVersion(ctx, copyPartitionsChange, workflow.DefaultVersion, copyPartitionsVersion) == copyPartitionsVersion
	results := make([]batch.TaskResult, len(begin.Plan.Tasks))
	index := map[int64]int{}
	var queue []batch.PartitionWork
	for i, t := range begin.Plan.Tasks {
		results[i] = batch.TaskResult{TaskID: t.TaskID, Copy: t.Copy, Failed: t.Failed, FailedStage: t.FailedStage}
		index[t.TaskID] = i
		if t.Failed == "" || t.FailedStage == batch.StageImport {
			queue = append(queue, t.Parts...)
		}
	}
	// As in the embedded engine: parallel_export partitions of a table at
	// once, batch_parallel_size tables at once.
	perTask := max(1, begin.Plan.PerTask)
	var marks []workflow.Future
	running := 0
	busy := map[int64]int{}
	sel := workflow.NewSelector(ctx)
	for {
		for i := 0; i < len(queue) && running < max(1, begin.Plan.Parallel) && ctx.Err() == nil; {
			w := queue[i]
			r := &results[index[w.Task.ID]]
			if r.Failed != "" && (r.FailedStage != batch.StageImport || !w.IsStaged() || w.Staged != nil) {
				// The task failed: its other partitions wait for RETRY
				// (a staged run whose import failed still stages them).
				queue = append(queue[:i], queue[i+1:]...)
				continue
			}
			if busy[w.Task.ID] >= perTask {
				i++
				continue
			}
			queue = append(queue[:i], queue[i+1:]...)
			if chunked && !w.IsStaged() {
				ws := []batch.PartitionWork{w}
				n := copyChunk(queue, w.Task.ID, perTask)
				for j := i; j < len(queue) && len(ws) < n; {
					if queue[j].Task.ID == w.Task.ID {
						ws = append(ws, queue[j])
						queue = append(queue[:j], queue[j+1:]...)
						continue
					}
					j++
				}
				running++
				busy[w.Task.ID]++
				f := workflow.ExecuteActivity(partitionActivity(ctx, in.DataQueue, chunkID(ws)), ActivityCopyPartitions,
					CopyBatchInput{Works: ws, Source: begin.Source, Target: begin.Target})
				sel.AddFuture(f, func(f workflow.Future) {
					running--
					busy[w.Task.ID]--
					var out CopyBatchResult
					if err := f.Get(ctx, &out); err != nil {
						out.Done = doneOf(err)
						if ctx.Err() == nil {
							if r.Failed == "" {
								r.Failed = failureMessage(err)
							}
							r.FailedStage = ""
						}
					}
					if len(out.Done) > 0 {
						marks = append(marks, workflow.ExecuteActivity(gw, ActivityPartitionsMk, in.RunID, w.Task.ID, out.Done))
					}
				})
				continue
			}
			var f workflow.Future
			if w.IsStaged() {
				f = stagedCopy(ctx, in, begin, w, func() bool { return r.Failed != "" })
			} else {
				f = workflow.ExecuteActivity(partitionActivity(ctx, in.DataQueue, w.ID()), ActivityPartitionRun,
					CopyInput{Work: w, Source: begin.Source, Target: begin.Target})
			}
			running++
			busy[w.Task.ID]++
			sel.AddFuture(f, func(f workflow.Future) {
				running--
				busy[w.Task.ID]--
				var out CopyResult
				if err := f.Get(ctx, &out); err != nil {
					var imp importFailure
					switch {
					case ctx.Err() != nil:
					case errors.As(err, &imp):
						if r.Failed == "" {
							r.Failed, r.FailedStage = failureMessage(err), batch.StageImport
						}
					default:
						if r.Failed == "" {
							r.Failed = failureMessage(err)
						}
						r.FailedStage = ""
					}
					return
				}
				if out.StagedOnly {
					return
				}
				marks = append(marks, workflow.ExecuteActivity(gw, ActivityPartitionMk, in.RunID, w.Task.ID, w.Part.Seq, out.Rows))
			})
		}
		if running == 0 {
			break
		}
		sel.Select(ctx)
	}
	for _, m := range marks {
		if err := m.Get(gw, nil); err != nil {
			return RunResult{}, err
		}
	}
	var res RunResult
	end := EndInput{RunID: in.RunID, Results: results, Stopped: ctx.Err() != nil, Note: in.Note}
	if err := workflow.ExecuteActivity(gw, ActivityEndRun, end).Get(gw, &res); err != nil {
		return RunResult{}, err
	}
	return res, nil
}

// The BatchRun change that copies a streamed run's partitions in
// CopyPartitions steps: runs begun before it replay one CopyPartition per
// partition.
const (
	copyPartitionsChange  = "copy-partitions"
	copyPartitionsVersion = 1
	// maxChunk bounds the partitions of one CopyPartitions step, so a
	// retry after a worker's death redoes little and work spreads over
	// workers.
	maxChunk = 8
)

// copyChunk is how many partitions of task the next CopyPartitions step
// takes, counting the one already taken off queue: guided, the partitions
// left over twice the task's parallel steps, so steps start long and
// end short and a task's last steps finish together.
func copyChunk(queue []batch.PartitionWork, task int64, perTask int) int {
	left := 1
	for _, q := range queue {
		if q.Task.ID == task {
			left++
		}
	}
	return min(maxChunk, max(1, (left+2*perTask-1)/(2*perTask)))
}

// chunkID names a CopyPartitions step by its first partition and how
// many follow: "t0001-p000003+4".
func chunkID(ws []batch.PartitionWork) string {
	return fmt.Sprintf("%s+%d", ws[0].ID(), len(ws)-1)
}

// doneOf is the partitions a failed or cancelled CopyPartitions step
// finished (see withDone).
func doneOf(err error) []PartDone {
	var done []PartDone
	var app *temporal.ApplicationError
	var cancelled *temporal.CanceledError
	switch {
	case errors.As(err, &app) && app.HasDetails():
		if app.Details(&done) != nil {
			return nil
		}
	case errors.As(err, &cancelled) && cancelled.HasDetails():
		if cancelled.Details(&done) != nil {
			return nil
		}
	}
	return done
}

// stagedCopy copies a partition of a staged run: ExportTable into its
// file on a worker (unless an earlier attempt staged it), the file
// recorded by the gateway, then ImportTable from the file on a worker
// (any worker: the store is shared). Its future ends as a copy's does.
func stagedCopy(ctx workflow.Context, in RunInput, begin BeginResult, w batch.PartitionWork, importFailed func() bool) workflow.Future {
	f, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		// Blocking calls here take this coroutine's context; the file is
		// recorded even while the run is being stopped.
		keep, _ := workflow.NewDisconnectedContext(ctx)
		gw := gatewayActivity(keep, in.GatewayQueue)
		if w.Staged == nil {
			var file catalog.ExportFile
			err := workflow.ExecuteActivity(partitionActivity(ctx, in.DataQueue, w.ID()+"-export"), ActivityStagePartition,
				CopyInput{Work: w, Source: begin.Source, Target: begin.Target, Staging: begin.Staging}).Get(ctx, &file)
			if err == nil {
				err = workflow.ExecuteActivity(gw, ActivityFileStaged, in.RunID, file).Get(gw, nil)
			}
			if err != nil {
				set.Set(nil, err)
				return
			}
			w.Staged = &file
		}
		if importFailed() {
			set.Set(CopyResult{StagedOnly: true}, nil)
			return
		}
		var out CopyResult
		if err := workflow.ExecuteActivity(partitionActivity(ctx, in.DataQueue, w.ID()+"-import"), ActivityLoadStaged,
			CopyInput{Work: w, Source: begin.Source, Target: begin.Target, Staging: begin.Staging}).Get(ctx, &out); err != nil {
			set.Set(nil, importFailure{err})
			return
		}
		set.Set(out, nil)
	})
	return f
}

// importFailure is a staged partition's failed ImportTable: its export
// stands, and the other partitions are still staged.
type importFailure struct{ err error }

func (e importFailure) Error() string { return e.err.Error() }
func (e importFailure) Unwrap() error { return e.err }

// failureMessage is the cause a user should read: the innermost
// application error's message, not Temporal's wrapping.
func failureMessage(err error) string {
	var app *temporal.ApplicationError
	for e := err; e != nil; {
		if a, ok := e.(*temporal.ApplicationError); ok {
			app = a
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if app != nil {
		return app.Message()
	}
	return err.Error()
}

// CDC runs: one CDCRun workflow per run; its pipeline is one long
// activity on the data queue; the catalog's steps are gateway activities.
const (
	WorkflowCDCRun        = "flowgate.CDCRun"
	ActivityBeginCDC      = "flowgate.BeginCDC"
	ActivityCDCPipeline   = "flowgate.CDCPipeline"
	ActivityCDCRestarting = "flowgate.CDCRestarting"
	ActivityEndCDC        = "flowgate.EndCDC"
)

// CDCRunInput starts (or continues as new) a CDCRun workflow.
type CDCRunInput struct {
	RunID        string `json:"run_id"`
	Job          string `json:"job"`
	Note         string `json:"note"`
	GatewayQueue string `json:"gateway_queue"`
	DataQueue    string `json:"data_queue"`
	// FromSnapshot: the first attempt forgets the target's checkpoint.
	FromSnapshot bool `json:"from_snapshot"`
	// Failures are the attempts' failure times (restart_strategy), at
	// most maxFailures of the latest; Attempts counts the pipelines begun.
	Failures []time.Time `json:"failures,omitempty"`
	Attempts int         `json:"attempts"`
	// HistoryLimit is the history length past which the run continues
	// as new at its next restart (0: continueAfter).
	HistoryLimit int `json:"history_limit,omitempty"`
}

// CDCBegin is what the gateway hands an attempt: the job's definition
// (names, tables, options: no secret) and its datasources sealed.
type CDCBegin struct {
	Ended    bool           `json:"ended"` // the run is no longer active
	Job      catalog.Job    `json:"job"`
	Options  runopts.Values `json:"options"`
	Source   SealedEndpoint `json:"source"`
	Target   SealedEndpoint `json:"target"`
	BadCount int64          `json:"bad_count"`
}

// CDCAttemptInput is one pipeline activity.
type CDCAttemptInput struct {
	RunID        string         `json:"run_id"`
	Job          catalog.Job    `json:"job"`
	Source       SealedEndpoint `json:"source"`
	Target       SealedEndpoint `json:"target"`
	FromSnapshot bool           `json:"from_snapshot"`
	BadCount     int64          `json:"bad_count"`
}

// CDCEndInput records a step's outcome in the catalog.
type CDCEndInput struct {
	RunID   string        `json:"run_id"`
	Job     string        `json:"job"`
	Note    string        `json:"note"`
	Record  *cdc.Record   `json:"record,omitempty"`
	Status  string        `json:"status"`
	Message string        `json:"message"`
	Delay   time.Duration `json:"delay"` // CDCRestarting
}

// Failure types of the pipeline activity: it never retries by itself
// (the workflow applies restart_strategy); a worker's death (heartbeat
// timeout) is retried by Temporal at once, on any worker.
const (
	failurePermanent = "cdc-permanent"
	failureTransient = "cdc-transient"
	maxFailures      = 64
	// continueAfter is the history length past which a run continues as
	// a new workflow at its next restart.
	continueAfter = 2000
)

func cdcActivity(ctx workflow.Context, queue, id string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           queue,
		ActivityID:          id,
		StartToCloseTimeout: 100 * 365 * 24 * time.Hour,
		HeartbeatTimeout:    10 * time.Second,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 1, MaximumInterval: time.Second,
			NonRetryableErrorTypes: []string{failurePermanent, failureTransient}},
	})
}

// CDCRun runs a CDC run: per attempt BeginCDC in the gateway, the
// pipeline on a worker until STOP (cancelling the workflow) or a failure,
// then restart_strategy's wait (a workflow timer) and the next attempt,
// or the run's end (EndCDC). The history stays short: past continueAfter
// events the run continues as a new workflow of the same id.
func CDCRun(ctx workflow.Context, in CDCRunInput) (RunResult, error) {
	keep, _ := workflow.NewDisconnectedContext(ctx)
	gw := gatewayActivity(keep, in.GatewayQueue)
	end := func(rec *cdc.Record, status, msg string) (RunResult, error) {
		var res RunResult
		err := workflow.ExecuteActivity(gw, ActivityEndCDC, CDCEndInput{RunID: in.RunID, Job: in.Job, Note: in.Note, Record: rec,
			Status: status, Message: msg}).Get(gw, &res)
		return res, err
	}
	for {
		if ctx.Err() != nil {
			return end(nil, catalog.RunTerminated, "execution terminated gracefully")
		}
		var begin CDCBegin
		if err := workflow.ExecuteActivity(gw, ActivityBeginCDC, in.RunID).Get(gw, &begin); err != nil {
			return RunResult{}, err
		}
		if begin.Ended {
			return RunResult{Status: "ended"}, nil
		}
		f := workflow.ExecuteActivity(cdcActivity(ctx, in.DataQueue, fmt.Sprintf("cdc-%d", in.Attempts)), ActivityCDCPipeline,
			CDCAttemptInput{RunID: in.RunID, Job: begin.Job, Source: begin.Source, Target: begin.Target, FromSnapshot: in.FromSnapshot, BadCount: begin.BadCount})
		in.Attempts++
		var rec cdc.Record
		err := f.Get(keep, &rec)
		if err == nil {
			return end(&rec, catalog.RunTerminated, "execution terminated gracefully")
		}
		var last *cdc.Record
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.HasDetails() && app.Details(&rec) == nil {
			last = &rec
		}
		if ctx.Err() != nil {
			return end(last, catalog.RunTerminated, "execution terminated gracefully")
		}
		in.FromSnapshot = false
		msg := failureMessage(err)
		if app != nil && app.Type() == failurePermanent {
			return end(last, catalog.RunFailed, msg)
		}
		now := workflow.Now(ctx)
		in.Failures = append(in.Failures, now)
		if len(in.Failures) > maxFailures {
			in.Failures = in.Failures[len(in.Failures)-maxFailures:]
		}
		delay, ok := cdc.RestartDelay(begin.Options, in.Failures, now)
		if !ok {
			return end(last, catalog.RunFailed, msg)
		}
		if err := workflow.ExecuteActivity(gw, ActivityCDCRestarting, CDCEndInput{RunID: in.RunID, Job: in.Job, Note: in.Note, Record: last,
			Message: msg, Delay: delay}).Get(gw, nil); err != nil {
			return RunResult{}, err
		}
		if err := workflow.Sleep(ctx, delay); err != nil && ctx.Err() != nil {
			return end(nil, catalog.RunTerminated, "execution terminated gracefully")
		}
		limit := in.HistoryLimit
		if limit <= 0 {
			limit = continueAfter
		}
		if workflow.GetInfo(ctx).GetCurrentHistoryLength() > limit {
			return RunResult{}, workflow.NewContinueAsNewError(ctx, WorkflowCDCRun, in)
		}
	}
}
