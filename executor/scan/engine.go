// Package scan runs the jobs of FEATURES.md sections 5a and 5b: scheduled
// scans between tables (MODE SCAN: stages PreAction, ScanTable,
// TableDataDiff), exports of a table into files or object storage (TO
// store OBJECT '...': stages PreAction, ExportTable) and loads of files
// into a table (FROM store OBJECT 'prefix' MODE SCAN: stages PreAction,
// ScanTable, TableDataDiff).
//
// Rows reach a table target through the target's cdc.ChangeApplier:
// upserts by primary key in one transaction that also records the scan's
// position (the watermark, or which object was loaded) as the job's
// checkpoint in the target. A crash anywhere therefore loses nothing and
// doubles nothing: the next fire (or RETRY) continues from the position
// the target committed, and re-reading rows after it is harmless.
package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/internal/tick"
)

// Stage names.
const (
	StagePreAction = "PreAction"
	StageScan      = "ScanTable"
	StageExport    = "ExportTable"
	StageDiff      = "TableDataDiff"
)

// Run kinds.
const (
	KindScan   = "scan"   // table to table, MODE SCAN
	KindExport = "export" // table TO store OBJECT
	KindLoad   = "load"   // FROM store OBJECT to table
)

// Handles reports whether the engine runs j: MODE SCAN jobs and jobs with
// an OBJECT end.
func Handles(j *catalog.Job) bool {
	return j.Mode == "scan" || j.Definition.ObjectSide != ""
}

// KindOf is the run kind of a job the engine handles.
func KindOf(j *catalog.Job) string {
	switch j.Definition.ObjectSide {
	case "target":
		return KindExport
	case "source":
		return KindLoad
	}
	return KindScan
}

func stagesOf(kind string) []string {
	if kind == KindExport {
		return []string{StagePreAction, StageExport}
	}
	return []string{StagePreAction, StageScan, StageDiff}
}

// Config wires an Engine.
type Config struct {
	Catalog *catalog.Catalog
	Open    batch.Opener
	Remote  Remote // runs elsewhere (Temporal workers); nil runs here
	// SharedStaging says file datasources' directories are mounted at the
	// same path on every worker.
	SharedStaging bool
	StagingDir    string // temporary files of s3 uploads and downloads
	Logger        *slog.Logger
}

// Engine starts, stops and retries scan, export and load runs.
type Engine struct {
	cfg    Config
	mu     sync.Mutex
	active map[string]*activeRun
	wg     sync.WaitGroup
}

type activeRun struct {
	id       string
	cancel   context.CancelCauseFunc
	done     chan struct{}
	mu       sync.Mutex
	watchers map[int]func(batch.Progress)
	nextW    int
}

func (a *activeRun) report(p batch.Progress) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.watchers {
		w(p)
	}
}

// New makes an Engine.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Engine{cfg: cfg, active: map[string]*activeRun{}}
}

// Handle is a started run.
type Handle struct {
	RunID string
	Done  <-chan struct{}
	run   *activeRun
}

// Watch forwards progress to f until the returned stop is called.
func (h *Handle) Watch(f func(batch.Progress)) (stop func()) {
	h.run.mu.Lock()
	id := h.run.nextW
	h.run.nextW++
	h.run.watchers[id] = f
	h.run.mu.Unlock()
	return func() {
		h.run.mu.Lock()
		delete(h.run.watchers, id)
		h.run.mu.Unlock()
	}
}

var (
	errStopped  = errors.New("terminated by STOP SYNC JOB")
	errShutdown = errors.New("interrupted by gateway shutdown")
)

// Start plans and starts a run of j. at is the fire time (schedule) or
// the time RUN was given; win, when set, is the window RUN was given.
func (e *Engine) Start(ctx context.Context, j *catalog.Job, trigger string, at time.Time, win *Window) (*Handle, error) {
	plan, err := e.Plan(ctx, j, at, win)
	if err != nil {
		return nil, err
	}
	if err := e.checkRemote(ctx, plan); err != nil {
		return nil, err
	}
	tasks := []catalog.RunTask{{ID: 1, SourceTable: plan.sourceName(), TargetTable: plan.targetName()}}
	if len(plan.Tables) > 0 {
		tasks = tasks[:0]
		for _, t := range plan.Tables {
			tasks = append(tasks, catalog.RunTask{ID: t.ID, SourceTable: qualify(t.SourceSchema, t.SourceTable), TargetTable: qualify(t.TargetSchema, t.TargetTable)})
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, busy := e.active[j.Name]; busy {
		return nil, batch.ErrBusy
	}
	id, err := e.cfg.Catalog.CreateRun(ctx, j.Name, trigger, plan, tasks, stagesOf(plan.Kind))
	if errors.Is(err, catalog.ErrBusy) {
		return nil, batch.ErrBusy
	}
	if err != nil {
		return nil, err
	}
	return e.launch(j.Name, id, plan), nil
}

func (e *Engine) launch(job, id string, plan *Plan) *Handle {
	ctx, cancel := context.WithCancelCause(context.Background())
	a := &activeRun{id: id, cancel: cancel, done: make(chan struct{}), watchers: map[int]func(batch.Progress){}}
	e.active[job] = a
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(a.done)
		defer func() {
			e.mu.Lock()
			delete(e.active, job)
			e.mu.Unlock()
			cancel(nil)
		}()
		e.execute(ctx, id, plan, a)
	}()
	return &Handle{RunID: id, Done: a.done, run: a}
}

// Stop asks the active run of job to end; it returns the run id.
func (e *Engine) Stop(ctx context.Context, job string) (string, error) {
	e.mu.Lock()
	a, ok := e.active[job]
	e.mu.Unlock()
	if !ok {
		return "", catalog.ErrNotFound
	}
	if err := e.cfg.Catalog.SetRunStatus(ctx, a.id, catalog.RunTerminating, "STOP SYNC JOB requested"); err != nil {
		return "", err
	}
	a.cancel(errStopped)
	return a.id, nil
}

// Active reports whether job has a run going.
func (e *Engine) Active(job string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.active[job]
	if !ok {
		return "", false
	}
	return a.id, true
}

// StopAll cancels every run (shutdown).
func (e *Engine) StopAll() {
	e.mu.Lock()
	for _, a := range e.active {
		a.cancel(errShutdown)
	}
	e.mu.Unlock()
}

// Wait blocks until every run has ended.
func (e *Engine) Wait() { e.wg.Wait() }

// Retry runs a failed or terminated run again with the same plan (the same
// window for exports). A scan continues from the watermark its target
// committed; an export first removes what the failed attempt wrote.
func (e *Engine) Retry(ctx context.Context, runID string) (*Handle, error) {
	r, err := e.cfg.Catalog.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	switch r.Status {
	case catalog.RunCompleted:
		return nil, &batch.PlanError{Code: "55000", Message: fmt.Sprintf("run %s completed; there is nothing to retry", runID), Hint: "Start a new run with RUN SYNC JOB " + r.Job + "."}
	case catalog.RunFailed, catalog.RunTerminated, catalog.RunDataInconsistent:
	default:
		return nil, &batch.PlanError{Code: "55006", Message: fmt.Sprintf("run %s is %s", runID, r.Status), Hint: "Wait for it to end, or STOP SYNC JOB " + r.Job + "."}
	}
	plan, err := DecodePlan(r.Plan)
	if err != nil {
		return nil, err
	}
	if err := e.checkRemote(ctx, plan); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, busy := e.active[r.Job]; busy {
		return nil, batch.ErrBusy
	}
	stages, err := e.cfg.Catalog.Stages(ctx, runID)
	if err != nil {
		return nil, err
	}
	var reset []string
	for _, s := range stages {
		if s.Status != catalog.StageCompleted && s.Status != catalog.StageSkipped || s.Stage != StagePreAction {
			reset = append(reset, s.Stage)
		}
	}
	for _, t := range plan.tasks() {
		if err := e.cfg.Catalog.ResetStages(ctx, runID, t.ID, reset); err != nil {
			return nil, err
		}
	}
	if err := e.cfg.Catalog.SetRunStatus(ctx, runID, catalog.RunRestarting, "retry requested"); err != nil {
		return nil, err
	}
	return e.launch(r.Job, runID, plan), nil
}

// run is one execution's shared state.
type run struct {
	e      *Engine
	id     string
	task   int64
	plan   *Plan
	rec    Recorder             // the catalog, or a worker's Accumulator
	report func(batch.Progress) // WAIT's NOTICEs
	src    *batch.Endpoint
	dst    *batch.Endpoint
	bad    *badRecords
	thr    *throttle
	msg    string // the completed run's message
	status string // set to data_inconsistent by verification
}

func (e *Engine) execute(ctx context.Context, id string, plan *Plan, a *activeRun) {
	if e.cfg.Remote != nil {
		e.follow(ctx, id, plan, a)
		return
	}
	e.attempt(ctx, id, plan, e.cfg.Catalog, a.report)
}

// attempt runs a run to its end and records it through rec: the same
// code in the gateway (rec is the catalog) and on a Temporal worker (an
// Accumulator).
func (e *Engine) attempt(ctx context.Context, id string, plan *Plan, rec Recorder, report func(batch.Progress)) {
	bg := context.WithoutCancel(ctx)
	r := &run{e: e, id: id, task: 1, plan: plan, rec: rec, report: report, status: catalog.RunCompleted}
	finish := func(status, msg string) {
		if len(plan.Tables) == 0 {
			rec.SetTaskStatus(bg, id, 1, status, msg)
		}
		if err := rec.SetRunStatus(bg, id, status, msg); err != nil {
			e.cfg.Logger.Error("record run end", "run", id, "err", err)
		}
		report(batch.Progress{RunID: id, Done: true, Message: status + ": " + msg})
	}
	if err := rec.SetRunStatus(bg, id, catalog.RunRunning, ""); err != nil {
		e.cfg.Logger.Error("start run", "run", id, "err", err)
		return
	}
	if len(plan.Tables) == 0 {
		rec.SetTaskStatus(bg, id, 1, catalog.RunRunning, "")
	}
	var err error
	if r.src, err = e.cfg.Open(ctx, plan.Source); err != nil {
		finish(catalog.RunFailed, "open source: "+err.Error())
		return
	}
	defer r.src.Close()
	if r.dst, err = e.cfg.Open(ctx, plan.Target); err != nil {
		finish(catalog.RunFailed, "open target: "+err.Error())
		return
	}
	defer r.dst.Close()
	r.bad = &badRecords{cat: rec, run: id, task: 1, limit: runoptsInt(plan.Options, "error_limit")}
	r.thr = newThrottle(runoptsInt(plan.Options, "throttle_mbps"))
	switch {
	case plan.Kind == KindScan && len(plan.Tables) > 0:
		err = r.scanTables(ctx)
	case plan.Kind == KindScan:
		err = r.scanTable(ctx)
	case plan.Kind == KindExport:
		err = r.export(ctx)
	case plan.Kind == KindLoad:
		err = r.load(ctx)
	default:
		err = fmt.Errorf("unknown run kind %q", plan.Kind)
	}
	switch {
	case errors.Is(context.Cause(ctx), errStopped):
		finish(catalog.RunTerminated, errStopped.Error())
	case errors.Is(context.Cause(ctx), errShutdown):
		finish(catalog.RunFailed, errShutdown.Error()+"; the next fire or RETRY RUN '"+id+"' continues")
	case err != nil:
		finish(catalog.RunFailed, r.scrub(err))
	default:
		finish(r.status, r.msg)
	}
}

// scanTables scans a database job's tables one after another, each as its
// task with its own stages and watermark. A table that fails does not
// stop the others; the run fails naming it.
func (r *run) scanTables(ctx context.Context) error {
	cat := r.rec
	bg := context.WithoutCancel(ctx)
	var failed []string
	var rows int64
	for _, t := range r.plan.Tables {
		if ctx.Err() != nil {
			break
		}
		sub := *r
		sub.task, sub.plan, sub.msg, sub.status = t.ID, r.plan.forTask(t), "", catalog.RunCompleted
		sub.bad = &badRecords{cat: cat, run: r.id, task: t.ID, limit: r.bad.limit}
		cat.SetTaskStatus(bg, r.id, t.ID, catalog.RunRunning, "")
		err := sub.scanTable(ctx)
		name := qualify(t.SourceSchema, t.SourceTable)
		switch {
		case err != nil:
			failed = append(failed, name+": "+r.scrub(err))
			cat.SetTaskStatus(bg, r.id, t.ID, catalog.RunFailed, r.scrub(err))
		default:
			if sub.status != catalog.RunCompleted {
				r.status = sub.status
			}
			cat.SetTaskStatus(bg, r.id, t.ID, sub.status, sub.msg)
		}
		if n, err := cat.Stages(bg, r.id); err == nil {
			for _, s := range n {
				if s.TaskID == t.ID && s.Stage == StageScan {
					rows += s.Rows
				}
			}
		}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d tables failed: %s", len(failed), len(r.plan.Tables), strings.Join(failed, "; "))
	}
	r.msg = fmt.Sprintf("%d tables scanned, %d rows upserted", len(r.plan.Tables), rows)
	if r.status != catalog.RunCompleted {
		r.msg += "; verification found differences (dataflow.run_diffs)"
	}
	return nil
}

func (r *run) scrub(err error) string {
	var secrets []string
	if r.src != nil {
		secrets = append(secrets, r.src.Secrets...)
	}
	if r.dst != nil {
		secrets = append(secrets, r.dst.Secrets...)
	}
	return connectors.ScrubError(err, secrets...).Error()
}

// stage tracks one running stage: counters, a heartbeat into the catalog
// every second and progress reports for WAIT.
type stage struct {
	r       *run
	name    string
	table   string
	rows    atomic.Int64
	bytes   atomic.Int64
	total   atomic.Int64
	started time.Time
	halt    func() // stops the heartbeat
}

func (r *run) begin(ctx context.Context, name, table string) (*stage, error) {
	if _, err := r.rec.StartStage(context.WithoutCancel(ctx), r.id, r.task, name); err != nil {
		return nil, err
	}
	s := &stage{r: r, name: name, table: table, started: time.Now()}
	s.halt = tick.Every(ctx, time.Second, func() {
		r.rec.StageProgress(context.WithoutCancel(ctx), r.id, r.task, name, s.rows.Load(), s.bytes.Load())
		r.report(s.progress(false))
	})
	return s, nil
}

func (s *stage) progress(done bool) batch.Progress {
	rows := s.rows.Load()
	secs := time.Since(s.started).Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	return batch.Progress{RunID: s.r.id, TaskID: s.r.task, Table: s.table, Stage: s.name, Rows: rows, Total: s.total.Load(), RowsPerSec: float64(rows) / secs, Done: done}
}

// end records the stage's outcome: completed with msg, or failed with err.
func (s *stage) end(ctx context.Context, err error, msg string) error {
	s.halt()
	bg := context.WithoutCancel(ctx)
	cat := s.r.rec
	if err == nil {
		cat.FinishStage(bg, s.r.id, s.r.task, s.name, catalog.StageCompleted, s.rows.Load(), s.bytes.Load(), msg)
		s.r.report(s.progress(true))
		return nil
	}
	if ctx.Err() != nil {
		if c := context.Cause(ctx); c != nil {
			err = c
		}
	}
	m := s.r.scrub(err)
	cat.FinishStage(bg, s.r.id, s.r.task, s.name, catalog.StageFailed, s.rows.Load(), s.bytes.Load(), m)
	s.r.report(batch.Progress{RunID: s.r.id, TaskID: s.r.task, Table: s.table, Stage: s.name, Message: "failed: " + m})
	return fmt.Errorf("%s: %s", s.name, m)
}

// skip marks a stage skipped.
func (r *run) skip(ctx context.Context, name, why string) {
	bg := context.WithoutCancel(ctx)
	r.rec.StartStage(bg, r.id, r.task, name)
	r.rec.FinishStage(bg, r.id, r.task, name, catalog.StageSkipped, 0, 0, why)
}

// operation records an import or export for dataflow.operations.
func (r *run) operation(ctx context.Context, ep *batch.Endpoint, table, op string, s *stage) {
	o := catalog.Operation{RunID: r.id, Job: r.plan.Job, Datasource: ep.Name, DatasourceType: ep.Type, Table: table,
		Operation: op, Started: s.started, Finished: time.Now(), Records: s.rows.Load(), Bytes: s.bytes.Load()}
	if err := r.rec.AddOperation(context.WithoutCancel(ctx), o); err != nil {
		r.e.cfg.Logger.Error("record operation", "err", err)
	}
}
