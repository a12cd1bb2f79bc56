package temporal

import (
	"time"

	"github.com/flowgate/flowgate/executor/batch"
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
}

// CopyInput is one partition copy.
type CopyInput struct {
	Work   batch.PartitionWork `json:"work"`
	Source SealedEndpoint      `json:"source"`
	Target SealedEndpoint      `json:"target"`
}

// CopyResult is a partition copy's outcome.
type CopyResult struct {
	Rows   int64 `json:"rows"`
	Loaded bool  `json:"loaded"` // false: an earlier attempt had committed it
}

// Progress is a partition copy's heartbeat.
type Progress struct {
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
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
	results := make([]batch.TaskResult, len(begin.Plan.Tasks))
	index := map[int64]int{}
	var queue []batch.PartitionWork
	for i, t := range begin.Plan.Tasks {
		results[i] = batch.TaskResult{TaskID: t.TaskID, Copy: t.Copy, Failed: t.Failed}
		index[t.TaskID] = i
		if t.Failed == "" {
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
			if r.Failed != "" {
				queue = append(queue[:i], queue[i+1:]...) // the task failed: its other partitions wait for RETRY
				continue
			}
			if busy[w.Task.ID] >= perTask {
				i++
				continue
			}
			queue = append(queue[:i], queue[i+1:]...)
			f := workflow.ExecuteActivity(partitionActivity(ctx, in.DataQueue, w.ID()), ActivityPartitionRun,
				CopyInput{Work: w, Source: begin.Source, Target: begin.Target})
			running++
			busy[w.Task.ID]++
			sel.AddFuture(f, func(f workflow.Future) {
				running--
				busy[w.Task.ID]--
				var out CopyResult
				if err := f.Get(ctx, &out); err != nil {
					if ctx.Err() == nil && r.Failed == "" {
						r.Failed = failureMessage(err)
					}
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
