package temporal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/cdc"
	"github.com/flowgate/flowgate/executor/scan"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
)

// Engine is the gateway's side: batch.Remote (each run attempt is a
// BatchRun workflow), cdc.Remote (each CDC run a CDCRun workflow),
// scan.Remote (each scan, export or load run a ScanRun workflow), the
// gateway's worker for workflows and catalog
// activities, and the watch that turns workers' heartbeats into stage
// progress and dataflow.workers.
type Engine struct {
	c     client.Client
	dc    converter.DataConverter
	o     Options
	cat   *catalog.Catalog
	cdc   *cdc.Engine
	scan  *scan.Engine
	log   *slog.Logger
	w     worker.Worker
	mu    sync.Mutex
	busy  map[string]map[string]int64 // run -> worker identity -> copies running
	quit  chan struct{}
	wg    sync.WaitGroup
	bound bool
}

// NewEngine makes the gateway's engine. Start begins serving the gateway
// queue once the batch engine exists (the activities need it).
func NewEngine(c client.Client, codec *Codec, o Options, cat *catalog.Catalog) *Engine {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{c: c, dc: codec.DataConverter(), o: o, cat: cat, log: log, busy: map[string]map[string]int64{}, quit: make(chan struct{})}
}

// Start serves the gateway queue (BatchRun workflows and the catalog's
// activities) and starts recording workers.
func (g *Engine) Start(b *batch.Engine, c *cdc.Engine, s *scan.Engine) error {
	sealer, err := catalog.NewSealer(g.o.Key)
	if err != nil {
		return err
	}
	g.cdc, g.scan = c, s
	gw := &Gateway{Catalog: g.cat, Batch: b, CDC: c, Scan: s, Sealer: sealer}
	g.w = worker.New(g.c, g.o.GatewayQueue(), worker.Options{})
	Register(g.w)
	RegisterGateway(g.w, gw)
	if err := g.w.Start(); err != nil {
		return fmt.Errorf("start the gateway's temporal worker: %w", err)
	}
	g.bound = true
	g.wg.Add(1)
	go g.watchWorkers()
	return nil
}

// Stop stops the gateway's worker; runs go on and are followed again at
// the next start.
func (g *Engine) Stop() {
	close(g.quit)
	g.wg.Wait()
	if g.bound {
		g.w.Stop()
	}
}

// Execute implements batch.Remote: it starts the attempt's workflow (or
// follows the one already running, after a gateway restart) and reports
// its progress until it ends.
func (g *Engine) Execute(ctx context.Context, runID string, plan *batch.RunPlan, report func(batch.Progress)) error {
	bg := context.WithoutCancel(ctx)
	wid, err := g.cat.RunWorkflow(bg, runID)
	if err != nil {
		return err
	}
	if wid == "" || !g.running(bg, wid) {
		wid = fmt.Sprintf("flowgate-run-%s-%d", runID, time.Now().UnixMilli())
		if err := g.cat.SetRunWorkflow(bg, runID, wid); err != nil {
			return err
		}
		in := RunInput{RunID: runID, Note: "temporal workflow " + wid, GatewayQueue: g.o.GatewayQueue(), DataQueue: g.o.DataQueue()}
		if _, err := g.c.ExecuteWorkflow(bg, client.StartWorkflowOptions{ID: wid, TaskQueue: g.o.GatewayQueue()}, WorkflowBatchRun, in); err != nil {
			return fmt.Errorf("start temporal workflow %s: %w", wid, err)
		}
	}
	defer func() {
		g.mu.Lock()
		delete(g.busy, runID)
		g.mu.Unlock()
	}()
	started := time.Now()
	return g.await(ctx, wid, batch.ErrStopped, func() { g.progress(context.WithoutCancel(ctx), runID, wid, plan, started, report) })
}

// await waits for workflow wid to end, calling tick every second. A
// cancellation of ctx with cause stopped cancels the workflow (and waits
// for it to record its end); another cause returns at once and leaves the
// workflow running (the gateway shuts down).
func (g *Engine) await(ctx context.Context, wid string, stopped error, tick func()) error {
	bg := context.WithoutCancel(ctx)
	done := make(chan error, 1)
	get := func() {
		var res RunResult
		err := g.c.GetWorkflow(bg, wid, "").Get(bg, &res)
		select {
		case done <- err:
		default: // another Get answered first
		}
	}
	go get()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	stopCh := ctx.Done()
	ticks := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("temporal workflow %s: %s", wid, failureMessage(err))
			}
			return nil
		case <-stopCh:
			if !errors.Is(context.Cause(ctx), stopped) {
				return context.Cause(ctx) // shutdown: the workflow goes on
			}
			if err := g.c.CancelWorkflow(bg, wid, ""); err != nil {
				return fmt.Errorf("cancel temporal workflow %s: %w", wid, err)
			}
			stopCh = nil // wait for the workflow to record the end
		case <-t.C:
			tick()
			// Get's history long poll can miss the close event and then
			// answers only when the poll expires (seen: WAIT returning
			// 15 s after the run ended, at the server's 20 s expiry);
			// a second Get of a closed workflow answers at once.
			if ticks++; ticks%5 == 0 && g.closed(bg, wid) {
				go get()
			}
		}
	}
}

// Check implements batch.Remote: Temporal answers within 5 seconds.
func (g *Engine) Check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := g.c.CheckHealth(cctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("Temporal at %s does not answer: %w", g.o.Address, err)
	}
	return nil
}

func (g *Engine) running(ctx context.Context, wid string) bool {
	d, err := g.c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			g.log.Warn("describe temporal workflow", "workflow", wid, "err", err)
		}
		return false
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// closed says whether Temporal reports workflow wid as ended (false when
// it cannot tell).
func (g *Engine) closed(ctx context.Context, wid string) bool {
	d, err := g.c.DescribeWorkflowExecution(ctx, wid, "")
	return err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

var partitionActivityID = regexp.MustCompile(`^t(\d+)-p(\d+)(?:-export|-import|\+\d+)?$`)

// progress turns the partition steps' heartbeats into the stages' live
// counts (catalog and WAIT's NOTICEs) and counts steps per worker. A
// streamed copy counts for both stages; a staged run's export and import
// count for their own.
func (g *Engine) progress(ctx context.Context, runID, wid string, plan *batch.RunPlan, started time.Time, report func(batch.Progress)) {
	d, err := g.c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return
	}
	type live struct{ export, imp Progress }
	byTask := map[int64]*live{}
	busy := map[string]int64{}
	for _, pa := range d.GetPendingActivities() {
		kind := pa.GetActivityType().GetName()
		if kind != ActivityPartitionRun && kind != ActivityCopyPartitions && kind != ActivityStagePartition && kind != ActivityLoadStaged {
			continue
		}
		m := partitionActivityID.FindStringSubmatch(pa.GetActivityId())
		if m == nil {
			continue
		}
		task, _ := strconv.ParseInt(m[1], 10, 64)
		if pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && pa.GetLastWorkerIdentity() != "" {
			busy[pa.GetLastWorkerIdentity()]++
		}
		var hb Progress
		if pa.GetHeartbeatDetails() == nil || g.dc.FromPayloads(pa.GetHeartbeatDetails(), &hb) != nil {
			continue
		}
		l := byTask[task]
		if l == nil {
			l = &live{}
			byTask[task] = l
		}
		if kind != ActivityLoadStaged {
			l.export.Rows += hb.Rows
			l.export.Bytes += hb.Bytes
		}
		if kind != ActivityStagePartition {
			l.imp.Rows += hb.Rows
			l.imp.Bytes += hb.Bytes
		}
	}
	g.mu.Lock()
	g.busy[runID] = busy
	g.mu.Unlock()
	totals, _ := g.cat.StageTotals(ctx, runID)
	stages, err := g.cat.Stages(ctx, runID)
	if err != nil {
		return
	}
	staged := plan.Options["staging"] != "none"
	for _, t := range plan.Tasks {
		running := false
		for _, s := range stages {
			if s.TaskID == t.ID && s.Stage == batch.StageImport && s.Status == catalog.StageRunning {
				running = true
			}
		}
		if !running {
			continue
		}
		parts, err := g.cat.Partitions(ctx, runID, t.ID)
		if err != nil {
			continue
		}
		l := byTask[t.ID]
		if l == nil {
			l = &live{}
		}
		var imported int64
		for _, p := range parts {
			if p.Imported {
				imported += p.Rows
			}
		}
		exported := imported
		if staged {
			exported = 0
			files, _ := g.cat.ExportFiles(ctx, runID, t.ID)
			for _, f := range files {
				exported += f.Rows
			}
		}
		for _, st := range []struct {
			name string
			rows int64
			live Progress
		}{{batch.StageExport, exported + l.export.Rows, l.export}, {batch.StageImport, imported + l.imp.Rows, l.imp}} {
			g.cat.StageProgress(ctx, runID, t.ID, st.name, st.rows, st.live.Bytes)
			report(batch.Progress{RunID: runID, TaskID: t.ID, Table: t.SourceTable, Stage: st.name, Rows: st.rows, Total: totals[t.ID][st.name],
				RowsPerSec: float64(st.rows) / max(time.Since(started).Seconds(), 1e-3)})
		}
	}
}

// watchWorkers records the processes polling the data queue, with the
// copies each is running, for dataflow.workers.
func (g *Engine) watchWorkers() {
	defer g.wg.Done()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-g.quit:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := g.c.DescribeTaskQueue(ctx, g.o.DataQueue(), enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		cancel()
		if err != nil {
			continue
		}
		g.mu.Lock()
		busy := map[string]int64{}
		for _, byWorker := range g.busy {
			for id, n := range byWorker {
				busy[id] += n
			}
		}
		g.mu.Unlock()
		var ws []catalog.Worker
		for _, p := range resp.GetPollers() {
			ws = append(ws, catalog.Worker{Identity: p.GetIdentity(), TaskQueue: g.o.DataQueue(), Host: identityHost(p.GetIdentity()),
				LastSeen: p.GetLastAccessTime().AsTime(), ActivitiesRunning: busy[p.GetIdentity()]})
		}
		if err := g.cat.SaveWorkers(context.Background(), ws); err != nil {
			g.log.Warn("record workers", "err", err)
		}
	}
}

// identityHost is the host in a "pid@host@..." identity.
func identityHost(id string) string {
	parts := strings.Split(id, "@")
	if len(parts) >= 2 {
		return parts[1]
	}
	return ""
}
