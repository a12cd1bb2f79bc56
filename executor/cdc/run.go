package cdc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	change "github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/runopts"
	"github.com/flowgate/flowgate/internal/tick"
	"github.com/jackc/pgx/v5/pgconn"
)

// execute runs attempts until the run is stopped, fails, or the gateway
// shuts down, restarting after failures as restart_strategy says.
func (e *Engine) execute(ctx context.Context, a *activeRun, fromSnapshot bool) {
	cat := e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	var failures []time.Time
	for attempt := 0; ; attempt++ {
		j, err := cat.GetJob(bg, a.job)
		if err != nil {
			e.finish(bg, a, catalog.RunFailed, fmt.Sprintf("load job: %v", err))
			return
		}
		opts := runopts.SyncJob.Resolve(j.Options)
		err = e.attempt(ctx, a, j, opts, fromSnapshot && attempt == 0)
		switch {
		case err == nil || (a.stopping() && errors.Is(err, context.Canceled)):
			if errors.Is(a.stopCause, errShutdown) {
				cat.SetRunStatus(bg, a.id, catalog.RunRestarting, "gateway shut down: the run continues from its checkpoint at the next start")
				return
			}
			e.finish(bg, a, catalog.RunTerminated, "execution terminated gracefully")
			return
		case errors.Is(err, errRestream):
			continue
		}
		msg := e.message(err)
		if permanent(err) {
			e.finish(bg, a, catalog.RunFailed, msg)
			return
		}
		now := time.Now()
		failures = append(failures, now)
		delay, ok := restartDelay(opts, failures, now)
		if !ok || a.stopping() {
			e.finish(bg, a, catalog.RunFailed, msg)
			return
		}
		e.cfg.Logger.Warn("CDC run failed; restarting", "job", a.job, "run", a.id, "in", delay, "err", msg)
		cat.SetRunStatus(bg, a.id, catalog.RunRestarting, fmt.Sprintf("restarting in %s after: %s", delay, msg))
		cat.CountCDCRestart(bg, a.job)
		select {
		case <-time.After(delay):
		case <-a.stop:
			e.finish(bg, a, catalog.RunTerminated, "execution terminated gracefully")
			return
		}
	}
}

// restartDelay applies restart_strategy to the failures so far.
func restartDelay(o runopts.Values, failures []time.Time, now time.Time) (time.Duration, bool) {
	delay := time.Duration(o.Int("restart_delay")) * time.Second
	switch o["restart_strategy"] {
	case "fixed-delay":
		n := o.Int("restart_attempts")
		return delay, n < 0 || int64(len(failures)) <= n
	case "failure-rate":
		window := time.Duration(o.Int("failure_rate_interval")) * time.Second
		recent := 0
		for _, f := range failures {
			if now.Sub(f) <= window {
				recent++
			}
		}
		return delay, int64(recent) <= o.Int("max_failures_per_interval")
	}
	return 0, false
}

// permanent errors fail the run at once: restarting cannot fix them.
func permanent(err error) bool {
	var pe *batch.PlanError
	var sc *schemaChangeError
	var br *badRecordsError
	var pg *pgconn.PgError
	switch {
	case errors.As(err, &pe), errors.As(err, &sc), errors.As(err, &br), errors.Is(err, change.ErrPositionLost):
		return true
	case errors.As(err, &pg):
		switch pg.Code[:2] {
		case "42", "0A", "22", "23": // access/syntax, unsupported, bad data, constraints
			return true
		}
		return pg.Code == "55000"
	}
	return false
}

func (e *Engine) message(err error) string {
	var pe *batch.PlanError
	if errors.As(err, &pe) && pe.Hint != "" {
		return pe.Message + ". " + pe.Hint
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Hint != "" && !strings.Contains(err.Error(), pg.Hint) {
		return err.Error() + ". " + pg.Hint
	}
	return err.Error()
}

// finish ends the run and its open stages.
func (e *Engine) finish(ctx context.Context, a *activeRun, status, msg string) {
	e.finishRun(ctx, a.id, status, msg)
	a.report(batch.Progress{RunID: a.id, Message: status + ": " + msg})
}

// finishRun ends a run and its open stages in the catalog.
func (e *Engine) finishRun(ctx context.Context, runID, status, msg string) {
	cat := e.cfg.Catalog
	stages, _ := cat.Stages(ctx, runID)
	stageStatus := catalog.StageCompleted
	if status == catalog.RunFailed {
		stageStatus = catalog.StageFailed
	}
	for _, s := range stages {
		switch s.Status {
		case catalog.StageRunning:
			smsg := ""
			if stageStatus == catalog.StageFailed {
				smsg = msg
			}
			cat.FinishStage(ctx, runID, s.TaskID, s.Stage, stageStatus, s.Rows, s.Bytes, smsg)
		case catalog.StagePending:
			cat.FinishStage(ctx, runID, s.TaskID, s.Stage, catalog.StageSkipped, 0, 0, "")
		}
	}
	tasks, _ := cat.RunTasks(ctx, runID)
	for _, t := range tasks {
		cat.SetTaskStatus(ctx, runID, t.ID, status, "")
	}
	if err := cat.SetRunStatus(ctx, runID, status, msg); err != nil {
		e.cfg.Logger.Error("record CDC run end", "run", runID, "err", err)
	}
}

// attempt opens both sides, snapshots when the target has no checkpoint,
// and streams until stopped or an error.
func (e *Engine) attempt(ctx context.Context, a *activeRun, j *catalog.Job, opts runopts.Values, clearFirst bool) error {
	cat := a.rec
	bg := context.WithoutCancel(ctx)
	ep, err := e.open(ctx, j)
	if err != nil {
		return err
	}
	defer ep.close()
	plan, tables, err := e.plan(ctx, j, ep)
	if err != nil {
		return err
	}
	spec := applySpec(plan)
	if clearFirst {
		if err := ep.applier.ClearCheckpoint(ctx, spec); err != nil {
			return remote(ep.dst, err)
		}
	}
	cp, ok, err := ep.applier.Checkpoint(ctx, spec)
	if err != nil {
		return remote(ep.dst, err)
	}
	refs := make([]change.TableRef, len(tables))
	for i, tb := range tables {
		refs[i] = tb.src
	}
	sspec := change.StreamSpec{Job: j.Name, Tables: refs, Slot: plan.Slot, Publication: plan.Publication, ServerID: plan.ServerID,
		Subscription: j.Definition.Topics, Options: opts}
	if err := cat.StartCDCState(bg, j.Name, a.id, plan.Slot, plan.Publication, !ok); err != nil {
		return err
	}
	if ok {
		sspec.From = cp
	}
	stream, setup, err := ep.source.OpenStream(ctx, sspec)
	if serr := cat.SetCDCSetup(bg, j.Name, setup.CreatedSlot, setup.CreatedPublication); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		if errors.Is(err, change.ErrPositionLost) {
			return fmt.Errorf("%w: %v; RESTART SYNC JOB %s FROM SNAPSHOT starts over with a new snapshot", change.ErrPositionLost, connectors.ScrubError(err, ep.src.Secrets...), j.Name)
		}
		return remote(ep.src, err)
	}
	defer stream.Close()
	if !ok {
		var rows int64
		if opts.Bool("snapshot") && ep.exporter != nil {
			if rows, err = e.snapshot(ctx, a, plan, tables, ep, stream.SnapshotID()); err != nil {
				return err
			}
		} else {
			e.skipSnapshot(bg, a, tables)
		}
		cp = stream.StartPosition()
		tx, err := ep.applier.Begin(ctx, spec)
		if err != nil {
			return remote(ep.dst, err)
		}
		if err := tx.Commit(ctx, cp); err != nil {
			tx.Rollback()
			return remote(ep.dst, err)
		}
		if err := cat.SetSnapshotDone(bg, j.Name, string(cp), rows); err != nil {
			return err
		}
	} else {
		e.skipSnapshot(bg, a, tables)
	}
	if err := stream.Start(ctx); err != nil {
		return remote(ep.src, err)
	}
	for _, tb := range tables {
		if _, err := cat.StartStage(bg, a.id, tb.task.ID, StageStream); err != nil {
			return err
		}
		cat.SetTaskStatus(bg, a.id, tb.task.ID, catalog.RunRunning, "")
	}
	if err := cat.SetRunStatus(bg, a.id, catalog.RunRunning, "streaming from "+string(cp)); err != nil {
		return err
	}
	a.report(batch.Progress{RunID: a.id, Message: "streaming from " + string(cp)})
	a.markReady()
	s := &streamer{e: e, a: a, job: j.Name, opts: opts, ep: ep, stream: stream, spec: spec,
		tables: map[string]*table{}, committed: cp, uncommitted: map[tableOp]int64{},
		interval: time.Duration(opts.Int("checkpoint_interval")) * time.Millisecond,
		strict:   !ep.describes, errorLimit: opts.Int("error_limit"), careful: a.careful != ""}
	if b, ok := stream.(change.Batcher); ok {
		s.maxTxBytes, s.interval = b.Batching()
	}
	if s.interval <= 0 {
		s.interval = time.Second
	}
	if s.strict {
		// The messages' columns are not a source table's: columns the
		// target lacks are left out, never added.
		s.opts = maps.Clone(opts)
		s.opts["schema_changes"] = "ignore"
	}
	if s.strict || s.errorLimit > 0 {
		if s.badCount, err = cat.CountRunErrors(bg, a.id); err != nil {
			return err
		}
	}
	for _, tb := range tables {
		s.tables[tb.src.String()] = tb
		s.byTask = append(s.byTask, tb)
	}
	return s.run(ctx)
}

// skipSnapshot marks pending Snapshot stages skipped.
func (e *Engine) skipSnapshot(ctx context.Context, a *activeRun, tables []*table) {
	for _, tb := range tables {
		a.rec.SkipPendingStage(ctx, a.id, tb.task.ID, StageSnapshot)
	}
}

// snapshot copies every table as of the stream's start, parallelism tables
// at a time, each into an emptied target table in one transaction.
func (e *Engine) snapshot(ctx context.Context, a *activeRun, plan *Plan, tables []*table, ep *endpoints, id string) (int64, error) {
	sem := make(chan struct{}, max(1, int(plan.Options.Int("parallelism"))))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		total atomic.Int64
	)
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for _, tb := range tables {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-sctx.Done():
				return
			}
			defer func() { <-sem }()
			n, err := e.snapshotTable(sctx, a, plan, tb, ep, id)
			total.Add(n)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel(err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	if err := ctx.Err(); err != nil {
		return 0, context.Cause(ctx)
	}
	return total.Load(), nil
}

func (e *Engine) snapshotTable(ctx context.Context, a *activeRun, plan *Plan, tb *table, ep *endpoints, id string) (int64, error) {
	cat := a.rec
	bg := context.WithoutCancel(ctx)
	if _, err := cat.StartStage(bg, a.id, tb.task.ID, StageSnapshot); err != nil {
		return 0, err
	}
	cat.SetTaskStatus(bg, a.id, tb.task.ID, catalog.RunRunning, "")
	srcCols := make([]schema.Column, len(tb.pairs))
	dstCols := make([]schema.Column, len(tb.pairs))
	for i, p := range tb.pairs {
		srcCols[i] = batch.ExportColumn(p)
		dstCols[i] = p.Dst
	}
	tz := plan.Options["source_timezone"]
	es := data.ExportSpec{Schema: tb.task.SourceSchema, Table: tb.task.SourceTable, Columns: srcCols, TimeZone: tz, Snapshot: id}
	is := data.ImportSpec{Schema: tb.task.TargetSchema, Table: tb.task.TargetTable, Columns: dstCols, TimeZone: tz, Replace: true}
	var rows, bytes atomic.Int64
	started := time.Now()
	stopProgress := tick.Every(ctx, time.Second, func() {
		n := rows.Load()
		cat.StageProgress(bg, a.id, tb.task.ID, StageSnapshot, n, bytes.Load())
		a.report(batch.Progress{RunID: a.id, TaskID: tb.task.ID, Table: tb.src.String(), Stage: StageSnapshot, Rows: n,
			RowsPerSec: float64(n) / time.Since(started).Seconds()})
	})
	n, eerr, ierr := batch.PipeTable(ctx, ctx, ep.exporter, es, ep.importer, is, &rows, &bytes)
	stopProgress()
	err := ierr
	if eerr != nil && !errors.Is(eerr, context.Canceled) {
		err = fmt.Errorf("export %s: %w", tb.src, remote(ep.src, eerr))
	} else if ierr != nil {
		err = fmt.Errorf("import %s: %w", tb.dst, remote(ep.dst, ierr))
	}
	if err != nil {
		cat.FinishStage(bg, a.id, tb.task.ID, StageSnapshot, catalog.StageFailed, rows.Load(), bytes.Load(), e.message(err))
		return 0, err
	}
	cat.FinishStage(bg, a.id, tb.task.ID, StageSnapshot, catalog.StageCompleted, n, bytes.Load(), "")
	finished := time.Now()
	for _, op := range []struct {
		ep        *batch.Endpoint
		table, op string
	}{{ep.src, tb.src.String(), "export"}, {ep.dst, tb.dst.String(), "import"}} {
		cat.AddOperation(bg, catalog.Operation{RunID: a.id, Job: plan.Job, Datasource: op.ep.Name, DatasourceType: op.ep.Type, Table: op.table,
			Operation: op.op, Started: started, Finished: finished, Records: n, Bytes: bytes.Load()})
	}
	a.report(batch.Progress{RunID: a.id, TaskID: tb.task.ID, Table: tb.src.String(), Stage: StageSnapshot, Rows: n, Done: true,
		RowsPerSec: float64(n) / max(finished.Sub(started).Seconds(), 1e-9)})
	return n, nil
}
