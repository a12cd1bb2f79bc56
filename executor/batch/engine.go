// Package batch runs BATCH sync jobs: per table, ExportTable (source to
// staged files, or straight to the target with staging = 'none'),
// ImportTable (files to the target, each in its own transaction, marked in
// the target so a crash never imports a file twice) and TableDataDiff
// (verification inside both databases). Every state change is written to
// the catalog first, so views show a run live and a restart can resume it.
package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/runopts"
)

// Stage names.
const (
	StageExport = "ExportTable"
	StageImport = "ImportTable"
	StageDiff   = "TableDataDiff"
)

// Stages in order.
var Stages = []string{StageExport, StageImport, StageDiff}

// Endpoint is an opened datasource.
type Endpoint struct {
	Name    string
	Type    string
	Conn    connectors.Connector
	Secrets []string
}

// Close closes the connection.
func (e *Endpoint) Close() {
	if e != nil && e.Conn != nil {
		e.Conn.Close()
	}
}

// Opener opens an active datasource by name.
type Opener func(ctx context.Context, name string) (*Endpoint, error)

// Progress is one progress report of a running stage.
type Progress struct {
	RunID      string
	TaskID     int64
	Table      string
	Stage      string
	Rows       int64
	Total      int64 // 0 when unknown
	RowsPerSec float64
	Done       bool
	Message    string
}

// Config wires an Engine.
type Config struct {
	Catalog    *catalog.Catalog
	Open       Opener
	StagingDir string
	Logger     *slog.Logger
	Metrics    *Metrics
	// Remote, when set, runs every run's partitions on workers.
	Remote Remote
	// SharedStaging says StagingDir (and file datasources used for
	// staging) are mounted at the same path on every worker.
	SharedStaging bool
}

// Engine starts, stops and retries runs.
type Engine struct {
	cfg    Config
	mu     sync.Mutex
	active map[string]*activeRun // by job name
	wg     sync.WaitGroup
}

type activeRun struct {
	id       string
	cancel   context.CancelCauseFunc
	done     chan struct{}
	mu       sync.Mutex
	watchers map[int]func(Progress)
	nextW    int
}

func (a *activeRun) report(p Progress) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.watchers {
		w(p)
	}
}

// ErrStopped is the cause of a run's cancellation by STOP SYNC JOB.
var ErrStopped = errors.New("terminated by STOP SYNC JOB")

// ErrBusy means the job has an active run.
var ErrBusy = errors.New("the job has a run in progress")

// New makes an Engine.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Engine{cfg: cfg, active: map[string]*activeRun{}}
}

// Wait blocks until every run goroutine has ended (shutdown).
func (e *Engine) Wait() { e.wg.Wait() }

// Handle is a started run.
type Handle struct {
	RunID string
	Done  <-chan struct{}
	run   *activeRun
	e     *Engine
	job   string
}

// Watch forwards progress to f until the returned stop is called.
func (h *Handle) Watch(f func(Progress)) (stop func()) {
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

// Plan resolves a job into a run plan, checking both sides: tables exist,
// columns map, types fit, filters are valid. It is used at CREATE (to
// reject a bad job early) and at every run.
func (e *Engine) Plan(ctx context.Context, j *catalog.Job) (*RunPlan, []string, error) {
	src, err := e.cfg.Open(ctx, j.Source)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	dst, err := e.cfg.Open(ctx, j.Target)
	if err != nil {
		return nil, nil, err
	}
	defer dst.Close()
	sin, err := as[schema.Introspector](src, "read table structure")
	if err != nil {
		return nil, nil, err
	}
	din, err := as[schema.Introspector](dst, "read table structure")
	if err != nil {
		return nil, nil, err
	}
	tasks, unmatched, err := TasksFor(ctx, j, sin, din)
	if err != nil {
		return nil, nil, wrapRemote(src, err)
	}
	opts := runopts.SyncJob.Resolve(j.Options)
	plan := &RunPlan{Job: j.Name, Source: j.Source, Target: j.Target, Tasks: tasks, Options: opts,
		SourceWhere: j.Definition.Where, TargetWhere: j.Definition.TargetWhere}
	sfc, _ := connectors.As[filterChecker](src.Conn)
	dfc, _ := connectors.As[filterChecker](dst.Conn)
	if w := j.Definition.WhereLast; w != nil && sfc != nil {
		plan.SourceWhere = sfc.LastWindow(w.Column, w.N, w.Unit)
	}
	for _, t := range tasks {
		st, err := DescribeOne(ctx, sin, t.SourceSchema, t.SourceTable, "source", j.Source)
		if err != nil {
			return nil, nil, wrapRemote(src, err)
		}
		dt, err := DescribeOne(ctx, din, t.TargetSchema, t.TargetTable, "target", j.Target)
		if err != nil {
			return nil, nil, wrapRemote(dst, err)
		}
		pairs, err := PairColumns(st, dt, t.Columns)
		if err != nil {
			return nil, nil, err
		}
		alg := opts["algorithm"]
		if alg == "hashdiff" || alg == "md5diff" {
			if _, err := keyPairs(pairs, st, opts["key_columns"]); err != nil && alg == "hashdiff" {
				return nil, nil, err
			}
		}
		if plan.SourceWhere != "" && sfc != nil {
			if err := sfc.CheckFilter(ctx, t.SourceSchema, t.SourceTable, plan.SourceWhere); err != nil {
				return nil, nil, planErr("42601", "The WHERE text is sent to the source as is; write it in the source's SQL dialect.",
					"source %q rejects WHERE %q on %s: %s", j.Source, plan.SourceWhere, t.SourceTable, scrub(src, err))
			}
		}
		// Verification compares the same rows on both sides: without
		// TARGET WHERE the source's filter selects the target's rows too,
		// so it must make sense there (checked now, not after the load).
		verified := alg != "none"
		derived := verified && j.Definition.TargetWhere == ""
		if w := j.Definition.WhereLast; w != nil && dfc != nil && derived {
			col := ""
			for _, p := range pairs {
				if p.Src.Name == w.Column {
					col = p.Dst.Name
				}
			}
			if col == "" {
				return nil, nil, planErr("42703", fmt.Sprintf("Copy the column (COLUMNS (..., %s AS <target column>)), give TARGET WHERE 'expr' selecting the same rows in the target, or set algorithm = 'none'.", w.Column),
					"WHERE LAST %d %s ON %s: verification selects the same rows in the target, but column %q is not copied to %s", w.N, w.Unit, w.Column, w.Column, t.TargetTable)
			}
			plan.TargetWhere = dfc.LastWindow(col, w.N, w.Unit)
		}
		switch {
		case dfc == nil:
		case j.Definition.TargetWhere != "":
			if err := dfc.CheckFilter(ctx, t.TargetSchema, t.TargetTable, j.Definition.TargetWhere); err != nil {
				return nil, nil, planErr("42601", "TARGET WHERE is sent to the target as is; write it in the target's SQL dialect.",
					"target %q rejects TARGET WHERE %q on %s: %s", j.Target, j.Definition.TargetWhere, t.TargetTable, scrub(dst, err))
			}
		case !verified:
		case plan.TargetWhere != "":
			if err := dfc.CheckFilter(ctx, t.TargetSchema, t.TargetTable, plan.TargetWhere); err != nil {
				return nil, nil, planErr("42601", "Give TARGET WHERE 'expr' selecting the same rows in the target, or set algorithm = 'none'.",
					"target %q rejects %q on %s (the window of WHERE LAST, which verification selects in the target too): %s", j.Target, plan.TargetWhere, t.TargetTable, scrub(dst, err))
			}
		case j.Definition.Where != "":
			if err := dfc.CheckFilter(ctx, t.TargetSchema, t.TargetTable, j.Definition.Where); err != nil {
				return nil, nil, planErr("42601", "Give TARGET WHERE 'expr' selecting the same rows in the target, in its dialect and column names, or set algorithm = 'none'.",
					"target %q rejects WHERE %q on %s (verification selects the target's rows with it too): %s", j.Target, j.Definition.Where, t.TargetTable, scrub(dst, err))
			}
		}
	}
	if j.Definition.Where != "" && j.Definition.TargetWhere == "" && plan.TargetWhere == "" {
		plan.TargetWhere = j.Definition.Where
	}
	return plan, unmatched, nil
}

type filterChecker interface {
	CheckFilter(ctx context.Context, schema, table, where string) error
	LastWindow(column string, n int, unit string) string
}

func as[T any](e *Endpoint, what string) (T, error) {
	v, err := connectors.As[T](e.Conn)
	if err != nil {
		var zero T
		return zero, planErr("0A000", "", "datasource %q of type %s cannot %s", e.Name, e.Type, what)
	}
	return v, nil
}

func scrub(e *Endpoint, err error) string {
	return connectors.ScrubError(err, e.Secrets...).Error()
}

// wrapRemote leaves PlanErrors alone and scrubs the rest.
func wrapRemote(e *Endpoint, err error) error {
	var pe *PlanError
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("datasource %q: %s", e.Name, scrub(e, err))
}

// Start plans and starts a run of job in the background.
func (e *Engine) Start(ctx context.Context, j *catalog.Job, trigger string) (*Handle, error) {
	plan, _, err := e.Plan(ctx, j)
	if err != nil {
		return nil, err
	}
	if e.cfg.Remote != nil {
		if err := e.checkRemoteStaging(ctx, plan); err != nil {
			return nil, err
		}
		if err := e.cfg.Remote.Check(ctx); err != nil {
			return nil, planErr("08006", "Runs already started wait for it and go on; start this one when it is back, or run the gateway with --engine embedded.",
				"cannot start the run: %s", err.Error())
		}
	}
	tasks := make([]catalog.RunTask, len(plan.Tasks))
	for i, t := range plan.Tasks {
		tasks[i] = catalog.RunTask{ID: t.ID, SourceTable: qualify(t.SourceSchema, t.SourceTable), TargetTable: qualify(t.TargetSchema, t.TargetTable)}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, busy := e.active[j.Name]; busy {
		return nil, ErrBusy
	}
	id, err := e.cfg.Catalog.CreateRun(ctx, j.Name, trigger, plan, tasks, Stages)
	if errors.Is(err, catalog.ErrBusy) {
		return nil, ErrBusy
	}
	if err != nil {
		return nil, err
	}
	return e.launch(j.Name, id, plan), nil
}

func qualify(s, t string) string {
	if s == "" {
		return t
	}
	return s + "." + t
}

// launch runs plan as run id; e.mu is held.
func (e *Engine) launch(job, id string, plan *RunPlan) *Handle {
	ctx, cancel := context.WithCancelCause(context.Background())
	a := &activeRun{id: id, cancel: cancel, done: make(chan struct{}), watchers: map[int]func(Progress){}}
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
		if e.cfg.Remote != nil {
			e.executeRemote(ctx, id, plan, a)
			return
		}
		e.execute(ctx, id, plan, a)
	}()
	return &Handle{RunID: id, Done: a.done, run: a, e: e, job: job}
}

// executeRemote hands the run to the Remote engine and reports its end.
func (e *Engine) executeRemote(ctx context.Context, id string, plan *RunPlan, a *activeRun) {
	started := time.Now()
	bg := context.WithoutCancel(ctx)
	err := e.cfg.Remote.Execute(ctx, id, plan, a.report)
	if errors.Is(context.Cause(ctx), errShutdown) {
		return // the run goes on without the gateway
	}
	if err != nil {
		msg := err.Error()
		if serr := e.cfg.Catalog.SetRunStatus(bg, id, catalog.RunFailed, msg); serr != nil {
			e.cfg.Logger.Error("record run end", "run", id, "err", serr)
		}
	}
	r, err := e.cfg.Catalog.GetRun(bg, id)
	if err != nil {
		e.cfg.Logger.Error("read run end", "run", id, "err", err)
		return
	}
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.runDone(plan.Job, r.Status, time.Since(started))
	}
	a.report(Progress{RunID: id, Done: true, Message: r.Status + ": " + r.Message})
}

// Attach follows a run that a Remote engine is executing without this
// process (the gateway restarted): it becomes the job's active run again,
// so STOP, WAIT and progress work as before the restart.
func (e *Engine) Attach(job, id string, plan *RunPlan) *Handle {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.launch(job, id, plan)
}

// Stop asks the active run of job to terminate; it returns the run id.
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
	a.cancel(ErrStopped)
	return a.id, nil
}

// Retry resumes a failed, terminated or inconsistent run from its first
// unfinished stage, or from stage when given.
func (e *Engine) Retry(ctx context.Context, runID, stage string) (*Handle, error) {
	r, err := e.cfg.Catalog.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	switch r.Status {
	case catalog.RunCompleted:
		return nil, planErr("55000", "Start a new run with RUN SYNC JOB "+r.Job+".", "run %s completed; there is nothing to retry", runID)
	case catalog.RunFailed, catalog.RunTerminated, catalog.RunDataInconsistent:
	default:
		return nil, planErr("55006", "Wait for it to end, or STOP SYNC JOB "+r.Job+".", "run %s is %s", runID, r.Status)
	}
	var plan RunPlan
	if err := json.Unmarshal(r.Plan, &plan); err != nil {
		return nil, fmt.Errorf("run %s: decode plan: %w", runID, err)
	}
	if e.cfg.Remote != nil {
		if err := e.checkRemoteStaging(ctx, &plan); err != nil {
			return nil, err
		}
		if err := e.cfg.Remote.Check(ctx); err != nil {
			return nil, planErr("08006", "Retry when it is back, or run the gateway with --engine embedded.", "cannot retry the run: %s", err.Error())
		}
	}
	stages, err := e.cfg.Catalog.Stages(ctx, runID)
	if err != nil {
		return nil, err
	}
	from := -1
	if stage != "" {
		for i, s := range Stages {
			if s == stage {
				from = i
			}
		}
		if from < 0 {
			return nil, planErr("22023", "Stages are ExportTable, ImportTable and TableDataDiff.", "unknown stage %q", stage)
		}
	}
	files, err := e.cfg.Catalog.ExportFiles(ctx, runID, -1)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, busy := e.active[r.Job]; busy {
		return nil, ErrBusy
	}
	for _, t := range plan.Tasks {
		var reset []string
		for i, name := range Stages {
			st := findStage(stages, t.ID, name)
			if (from >= 0 && i >= from) || (from < 0 && st.Status != catalog.StageCompleted && st.Status != catalog.StageSkipped) {
				reset = append(reset, name)
			}
		}
		if slices.Contains(reset, StageExport) && plan.Options["staging"] != "none" {
			// A run staged before partitions existed cannot export again
			// once a file is in (partitioned runs re-export only the
			// partitions that are not).
			parts, err := e.cfg.Catalog.Partitions(ctx, runID, t.ID)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				if len(parts) == 0 && f.TaskID == t.ID && f.Imported {
					return nil, planErr("55000", "Retry from ImportTable instead (imported files are skipped), or empty the target table first and start a new run.",
						"run %s already imported files of %s; exporting again would load those rows twice", runID, t.SourceTable)
				}
			}
		}
		if err := e.cfg.Catalog.ResetStages(ctx, runID, t.ID, reset); err != nil {
			return nil, err
		}
	}
	if err := e.cfg.Catalog.SetRunStatus(ctx, runID, catalog.RunRestarting, "retry requested"); err != nil {
		return nil, err
	}
	return e.launch(r.Job, runID, &plan), nil
}

func findStage(stages []catalog.StageState, task int64, name string) catalog.StageState {
	for _, s := range stages {
		if s.TaskID == task && s.Stage == name {
			return s
		}
	}
	return catalog.StageState{TaskID: task, Stage: name, Status: catalog.StagePending}
}

// Active reports whether job has a run going in this process.
func (e *Engine) Active(job string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.active[job]
	if !ok {
		return "", false
	}
	return a.id, true
}

// StopAll cancels every run (shutdown); they end as failed with a message
// saying so, and RETRY RUN resumes them.
func (e *Engine) StopAll() {
	e.mu.Lock()
	for _, a := range e.active {
		a.cancel(errShutdown)
	}
	e.mu.Unlock()
}

var errShutdown = errors.New("interrupted by gateway shutdown")

// elapsed is seconds since t, never zero (for rates).
func elapsed(t time.Time) float64 {
	s := time.Since(t).Seconds()
	if s <= 0 {
		return 1e-9
	}
	return s
}

// DecodePlan reads a run's stored plan.
func DecodePlan(raw []byte) (*RunPlan, error) {
	var p RunPlan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode run plan: %w", err)
	}
	return &p, nil
}

// RemoveFiles deletes a run's staged files that are still present and
// returns how many went and where they were.
func (e *Engine) RemoveFiles(ctx context.Context, runID string, plan *RunPlan) (int64, string, error) {
	st, where := store(localStore{dir: e.cfg.StagingDir}), "local:"+e.cfg.StagingDir
	if name := plan.Options["staging"]; name != "" && name != "none" {
		ep, err := e.cfg.Open(ctx, name)
		if err != nil {
			return 0, name, err
		}
		defer ep.Close()
		if st, err = storeFor(ep.Conn, ""); err != nil {
			return 0, name, err
		}
		where = "datasource " + name
		if s3s, ok := st.(s3Store); ok {
			where = "s3://" + s3s.bucket + "/" + s3s.prefix
		}
	}
	files, err := e.cfg.Catalog.ExportFiles(ctx, runID, -1)
	if err != nil {
		return 0, where, err
	}
	var n int64
	for _, f := range files {
		if f.State != "present" {
			continue
		}
		if err := st.remove(ctx, f.URI); err != nil {
			return n, where, fmt.Errorf("remove %s: %w", f.URI, err)
		}
		if err := e.cfg.Catalog.SetFileState(context.WithoutCancel(ctx), runID, f.TaskID, f.Seq, "deleted"); err != nil {
			return n, where, err
		}
		n++
	}
	return n, where, nil
}
