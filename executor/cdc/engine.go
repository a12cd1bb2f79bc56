// Package cdc runs CDC sync jobs: per job one pipeline that snapshots the
// tables (stage Snapshot) inside the source's consistent snapshot, then
// streams committed changes (stage Stream) into the target, committing
// each batch together with its source position in the target and only
// then acknowledging the position to the source. A crash anywhere re-reads
// from the target's checkpoint and re-applies idempotently (upserts and
// deletes by key), so nothing is lost or applied twice with another effect.
// The pipeline knows sources and targets only through connectors/cdc.
package cdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flowgate/flowgate/catalog"
	change "github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/executor/batch"
)

// Stage names.
const (
	StageSnapshot = "Snapshot"
	StageStream   = "Stream"
)

// Stages in order.
var Stages = []string{StageSnapshot, StageStream}

// Config wires an Engine.
type Config struct {
	Catalog *catalog.Catalog
	Open    batch.Opener
	Logger  *slog.Logger
	Metrics *Metrics
	// Remote, when set, runs the pipelines on other processes (--engine
	// temporal); this Engine keeps the runs' bookkeeping and follows them.
	Remote Remote
}

// Remote runs a CDC run's pipeline elsewhere (executor/temporal).
type Remote interface {
	// ExecuteCDC runs the run (or follows it, when it already runs there)
	// until it ends, recording it in the catalog (ApplyRecord,
	// FinishRemote). Cancelling ctx with cause ErrStopped stops the run;
	// another cause leaves it running without this process. ready is
	// called once the run streams; report gets its progress.
	ExecuteCDC(ctx context.Context, runID, job string, fromSnapshot bool, report func(batch.Progress), ready func()) error
	// Check says whether runs can start there now.
	Check(ctx context.Context) error
}

// Engine starts, stops and resumes CDC runs.
type Engine struct {
	cfg    Config
	mu     sync.Mutex
	active map[string]*activeRun // by job
	wg     sync.WaitGroup

	applyMu sync.Mutex
	applied map[string]*applied // by run: Records of remote attempts
}

// New makes an Engine.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Engine{cfg: cfg, active: map[string]*activeRun{}, applied: map[string]*applied{}}
}

// Errors of Start and Stop.
var (
	ErrBusy       = batch.ErrBusy
	ErrStopped    = errors.New("terminated by STOP SYNC JOB")
	errShutdown   = errors.New("gateway shutdown")
	errRestream   = errors.New("restream from the checkpoint")
	stopGraceTime = 10 * time.Second
)

type activeRun struct {
	id, job   string
	rec       Recorder                // where the attempt's writes go
	cancel    context.CancelCauseFunc // hard stop, after a graceful one timed out
	stop      chan struct{}           // closed by STOP or shutdown
	stopOnce  sync.Once
	stopCause error
	done      chan struct{}
	ready     chan struct{} // closed once streaming began (or the run ended)
	readyOnce sync.Once
	mu        sync.Mutex
	watchers  map[int]func(batch.Progress)
	nextW     int
	// resub asks the stream to commit and read its (changed) subscription
	// again (ALTER SYNC JOB ... SET TOPICS).
	resub chan struct{}
	// careful is set while a failed target transaction is read again one
	// source transaction at a time, up to and past this position, to find
	// the records the target rejects (error_limit).
	careful change.Position
}

func (a *activeRun) requestStop(cause error) {
	a.stopOnce.Do(func() {
		a.stopCause = cause
		close(a.stop)
	})
}

func (a *activeRun) stopping() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

func (a *activeRun) markReady() { a.readyOnce.Do(func() { close(a.ready) }) }

func (a *activeRun) report(p batch.Progress) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.watchers {
		w(p)
	}
}

// Handle is a started run.
type Handle struct {
	RunID string
	// Done closes when the run ends; Ready when it streams (or ended).
	Done, Ready <-chan struct{}
	// Continued is set when RUN found a checkpoint and continues from it
	// instead of taking a new snapshot.
	Continued bool
	run       *activeRun
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

// StartMode says how a run begins.
type StartMode int

const (
	// Run is RUN SYNC JOB: a snapshot, or the checkpoint when there is one.
	Run StartMode = iota
	// Restart is RESTART SYNC JOB: the checkpoint, which must exist.
	Restart
	// FromSnapshot is RESTART ... FROM SNAPSHOT: forget the position.
	FromSnapshot
)

// Start checks j and starts a run of it in the background.
func (e *Engine) Start(ctx context.Context, j *catalog.Job, trigger string, mode StartMode) (*Handle, error) {
	ep, err := e.open(ctx, j)
	if err != nil {
		return nil, err
	}
	plan, _, err := e.plan(ctx, j, ep)
	if err != nil {
		ep.close()
		return nil, err
	}
	_, hasCheckpoint, err := ep.applier.Checkpoint(ctx, applySpec(plan))
	ep.close()
	if err != nil {
		return nil, remote(ep.dst, err)
	}
	if mode == Restart && !hasCheckpoint {
		return nil, planErr("55000", fmt.Sprintf("RUN SYNC JOB %s starts it with a snapshot.", j.Name),
			"sync job %q has no checkpoint at its target to continue from", j.Name)
	}
	if e.cfg.Remote != nil {
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
	h := e.launch(j.Name, id, mode == FromSnapshot)
	h.Continued = mode == Run && hasCheckpoint
	return h, nil
}

// Resume continues the runs a previous process left active, each from its
// checkpoint (or its snapshot, when that had not finished).
func (e *Engine) Resume(ctx context.Context) error {
	runs, err := e.cfg.Catalog.InterruptedCDCRuns(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for job, id := range runs {
		if _, busy := e.active[job]; busy {
			continue
		}
		if e.cfg.Remote != nil {
			// Its workflow went on without this process (or continues
			// it); the workflow counts its own restarts.
			e.cfg.Logger.Info("CDC run followed on the remote engine", "job", job, "run", id)
			e.launch(job, id, false)
			continue
		}
		e.cfg.Logger.Info("CDC run continues from its checkpoint", "job", job, "run", id)
		if err := e.cfg.Catalog.CountCDCRestart(ctx, job); err != nil {
			return err
		}
		e.launch(job, id, false)
	}
	return nil
}

func qualify(s, t string) string {
	if s == "" {
		return t
	}
	return s + "." + t
}

// launch runs the job in the background; e.mu is held.
func (e *Engine) launch(job, id string, fromSnapshot bool) *Handle {
	ctx, cancel := context.WithCancelCause(context.Background())
	a := newActiveRun(id, job, catalogRecorder{e.cfg.Catalog})
	a.cancel = cancel
	e.active[job] = a
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(a.done)
		defer a.markReady()
		defer func() {
			e.mu.Lock()
			delete(e.active, job)
			e.mu.Unlock()
			cancel(nil)
		}()
		if e.cfg.Remote != nil {
			e.follow(ctx, a, fromSnapshot)
			return
		}
		e.execute(ctx, a, fromSnapshot)
	}()
	return &Handle{RunID: id, Done: a.done, Ready: a.ready, run: a}
}

func newActiveRun(id, job string, rec Recorder) *activeRun {
	return &activeRun{id: id, job: job, rec: rec, stop: make(chan struct{}), done: make(chan struct{}),
		ready: make(chan struct{}), watchers: map[int]func(batch.Progress){}, resub: make(chan struct{}, 1)}
}

// Stop asks the job's run to apply what it read, checkpoint and end
// terminated; it returns the run id.
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
	a.requestStop(ErrStopped)
	return a.id, nil
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

// StopAll ends every run at a checkpoint for shutdown; the runs stay
// active in the catalog and continue at the next start.
func (e *Engine) StopAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.active {
		a.requestStop(errShutdown)
	}
}

// Wait blocks until every run goroutine ended.
func (e *Engine) Wait() { e.wg.Wait() }

// Drop removes what flowgate created at the source for job (slot and
// publication) and the checkpoint at the target; the caller deletes the
// job afterwards.
func (e *Engine) Drop(ctx context.Context, j *catalog.Job) error {
	st, ok, err := e.cfg.Catalog.GetCDCState(ctx, j.Name)
	if err != nil || !ok {
		return err
	}
	if !st.CreatedSlot && !st.CreatedPublication && st.CheckpointPosition == "" {
		return nil
	}
	ep, err := e.open(ctx, j)
	if err != nil {
		return err
	}
	defer ep.close()
	spec := change.StreamSpec{Job: j.Name, Slot: st.Slot, Publication: st.Publication}
	if err := ep.source.DropCDC(ctx, spec, change.Setup{CreatedSlot: st.CreatedSlot, CreatedPublication: st.CreatedPublication}); err != nil {
		return remote(ep.src, fmt.Errorf("drop replication slot/publication: %w", err))
	}
	if err := e.cfg.Catalog.ClearCDCSetup(ctx, j.Name); err != nil {
		return err
	}
	var plan Plan
	plan.Job = j.Name
	plan.Tasks = []batch.TaskPlan{{TargetSchema: j.TargetSchema}}
	if j.Kind == "table" {
		plan.Tasks[0].TargetSchema = j.TargetSchema
	}
	if err := ep.applier.ClearCheckpoint(ctx, applySpec(&plan)); err != nil {
		return remote(ep.dst, fmt.Errorf("forget the checkpoint: %w", err))
	}
	return nil
}

// applySpec is where the job's checkpoint lives at the target.
func applySpec(p *Plan) change.ApplySpec {
	spec := change.ApplySpec{Job: p.Job, TimeZone: p.Options["source_timezone"]}
	if len(p.Tasks) > 0 {
		spec.Schema = p.Tasks[0].TargetSchema
	}
	return spec
}

// DecodePlan reads a run's stored plan.
func DecodePlan(raw []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode CDC plan: %w", err)
	}
	return &p, nil
}
