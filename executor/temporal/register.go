package temporal

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register registers the workflows (the gateway runs them; the replay
// test too).
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(BatchRun, workflow.RegisterOptions{Name: WorkflowBatchRun})
	r.RegisterWorkflowWithOptions(CDCRun, workflow.RegisterOptions{Name: WorkflowCDCRun})
	r.RegisterWorkflowWithOptions(ScanRun, workflow.RegisterOptions{Name: WorkflowScanRun})
}

// RegisterGateway registers the catalog's activities.
func RegisterGateway(r worker.ActivityRegistry, g *Gateway) {
	r.RegisterActivityWithOptions(g.BeginRun, activity.RegisterOptions{Name: ActivityBeginRun})
	r.RegisterActivityWithOptions(g.PartitionCopied, activity.RegisterOptions{Name: ActivityPartitionMk})
	r.RegisterActivityWithOptions(g.PartitionsCopied, activity.RegisterOptions{Name: ActivityPartitionsMk})
	r.RegisterActivityWithOptions(g.EndRun, activity.RegisterOptions{Name: ActivityEndRun})
	r.RegisterActivityWithOptions(g.FileStaged, activity.RegisterOptions{Name: ActivityFileStaged})
	r.RegisterActivityWithOptions(g.BeginCDC, activity.RegisterOptions{Name: ActivityBeginCDC})
	r.RegisterActivityWithOptions(g.CDCRestarting, activity.RegisterOptions{Name: ActivityCDCRestarting})
	r.RegisterActivityWithOptions(g.EndCDC, activity.RegisterOptions{Name: ActivityEndCDC})
	r.RegisterActivityWithOptions(g.BeginScan, activity.RegisterOptions{Name: ActivityBeginScan})
	r.RegisterActivityWithOptions(g.EndScan, activity.RegisterOptions{Name: ActivityEndScan})
}

// RegisterData registers the activities workers run.
func RegisterData(r worker.ActivityRegistry, d *Data) {
	r.RegisterActivityWithOptions(d.CopyPartition, activity.RegisterOptions{Name: ActivityPartitionRun})
	r.RegisterActivityWithOptions(d.CopyPartitions, activity.RegisterOptions{Name: ActivityCopyPartitions})
	r.RegisterActivityWithOptions(d.StagePartition, activity.RegisterOptions{Name: ActivityStagePartition})
	r.RegisterActivityWithOptions(d.LoadStaged, activity.RegisterOptions{Name: ActivityLoadStaged})
	r.RegisterActivityWithOptions(d.CDCPipeline, activity.RegisterOptions{Name: ActivityCDCPipeline})
	r.RegisterActivityWithOptions(d.ScanAttempt, activity.RegisterOptions{Name: ActivityScanAttempt})
}
