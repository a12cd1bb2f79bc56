package cdc

// What a run's attempt records about itself goes through a Recorder: the
// catalog in the gateway (embedded engine), or, on a Temporal worker, an
// Accumulator whose bounded, cumulative Record travels as the activity's
// heartbeat and result and is applied to the catalog by the gateway
// (ApplyRecord). The pipeline code is the same either way.

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/flowgate/flowgate/catalog"
)

// Recorder takes an attempt's writes about its run.
type Recorder interface {
	StartCDCState(ctx context.Context, job, runID, slot, publication string, fromSnapshot bool) error
	SetCDCSetup(ctx context.Context, job string, createdSlot, createdPublication bool) error
	SetSnapshotDone(ctx context.Context, job, pos string, rows int64) error
	StartStage(ctx context.Context, runID string, taskID int64, stage string) (int64, error)
	StageProgress(ctx context.Context, runID string, taskID int64, stage string, rows, bytes int64) error
	FinishStage(ctx context.Context, runID string, taskID int64, stage, status string, rows, bytes int64, message string) error
	// SkipPendingStage marks the stage skipped if it has not begun.
	SkipPendingStage(ctx context.Context, runID string, taskID int64, stage string) error
	SetTaskStatus(ctx context.Context, runID string, taskID int64, status, message string) error
	SetRunStatus(ctx context.Context, runID, status, message string) error
	AddOperation(ctx context.Context, o catalog.Operation) error
	RecordCDCProgress(ctx context.Context, job string, p catalog.CDCProgress) error
	AddRunError(ctx context.Context, e catalog.RunError) (added bool, err error)
	CountRunErrors(ctx context.Context, runID string) (int64, error)
	RecordMQOffsets(ctx context.Context, job string, offs []catalog.MQOffset) error
}

// catalogRecorder records straight into the catalog.
type catalogRecorder struct{ *catalog.Catalog }

func (c catalogRecorder) SkipPendingStage(ctx context.Context, runID string, taskID int64, stage string) error {
	return skipPending(ctx, c.Catalog, runID, taskID, stage)
}

func skipPending(ctx context.Context, cat *catalog.Catalog, runID string, taskID int64, stage string) error {
	stages, err := cat.Stages(ctx, runID)
	if err != nil {
		return err
	}
	for _, s := range stages {
		if s.TaskID == taskID && s.Stage == stage && s.Status == catalog.StagePending {
			return cat.FinishStage(ctx, runID, taskID, stage, catalog.StageSkipped, 0, 0, "")
		}
	}
	return nil
}

var (
	_ Recorder = catalogRecorder{}
	_ Recorder = (*Accumulator)(nil)
)

// Record is what one attempt recorded so far, cumulative: counters since
// the attempt began, the latest positions and statuses. Applying it again
// (or an older Record of the same attempt) changes nothing.
type Record struct {
	// Attempt names the attempt (one activity execution): the gateway
	// applies each attempt's increments once.
	Attempt  string              `json:"attempt"`
	Seq      int64               `json:"seq"`
	Start    *RecordStart        `json:"start,omitempty"`
	Setup    [2]bool             `json:"setup"` // created slot, created publication
	Snapshot *RecordSnapshot     `json:"snapshot,omitempty"`
	Stages   []RecordStage       `json:"stages,omitempty"`
	Tasks    map[int64]string    `json:"tasks,omitempty"`
	Status   string              `json:"status,omitempty"`
	Message  string              `json:"message,omitempty"`
	Progress catalog.CDCProgress `json:"progress"`
	Reports  int64               `json:"reports"`
	Errors   []catalog.RunError  `json:"errors,omitempty"`
	Ops      []catalog.Operation `json:"ops,omitempty"`
	Offsets  []catalog.MQOffset  `json:"offsets,omitempty"`
	OffSeq   int64               `json:"off_seq"`
}

// RecordStart is StartCDCState's arguments.
type RecordStart struct {
	Slot         string `json:"slot"`
	Publication  string `json:"publication"`
	FromSnapshot bool   `json:"from_snapshot"`
}

// RecordSnapshot is SetSnapshotDone's arguments.
type RecordSnapshot struct {
	Position string `json:"position"`
	Rows     int64  `json:"rows"`
}

// RecordStage is one stage as the attempt left it.
type RecordStage struct {
	TaskID  int64  `json:"task_id"`
	Stage   string `json:"stage"`
	Status  string `json:"status"` // "" = only SkipIfPending
	Starts  int64  `json:"starts"`
	Rows    int64  `json:"rows"`
	Bytes   int64  `json:"bytes"`
	Message string `json:"message,omitempty"`
	Skip    bool   `json:"skip,omitempty"` // SkipPendingStage
}

// maxRecordErrors bounds the bad records a Record carries; the others
// are counted (CountRunErrors) but not kept in dataflow.run_errors.
const maxRecordErrors = 100

// Accumulator is the Recorder of an attempt on a worker.
type Accumulator struct {
	mu      sync.Mutex
	r       Record
	baseBad int64
	seen    map[string]bool // bad records' positions
}

// NewAccumulator starts an attempt's Record; badCount is the run's bad
// records so far (for error_limit).
func NewAccumulator(attempt string, badCount int64) *Accumulator {
	return &Accumulator{r: Record{Attempt: attempt, Tasks: map[int64]string{}}, baseBad: badCount, seen: map[string]bool{}}
}

// Record returns a copy of what was recorded so far.
func (a *Accumulator) Record() Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.r
	r.Stages = slices.Clone(r.Stages)
	r.Tasks = make(map[int64]string, len(a.r.Tasks))
	for k, v := range a.r.Tasks {
		r.Tasks[k] = v
	}
	r.Progress.Tables = slices.Clone(r.Progress.Tables)
	r.Errors = slices.Clone(r.Errors)
	r.Ops = slices.Clone(r.Ops)
	r.Offsets = slices.Clone(r.Offsets)
	return r
}

func (a *Accumulator) change(f func(r *Record)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.r)
	a.r.Seq++
	return nil
}

func (a *Accumulator) stage(taskID int64, stage string) *RecordStage {
	for i := range a.r.Stages {
		if a.r.Stages[i].TaskID == taskID && a.r.Stages[i].Stage == stage {
			return &a.r.Stages[i]
		}
	}
	a.r.Stages = append(a.r.Stages, RecordStage{TaskID: taskID, Stage: stage})
	return &a.r.Stages[len(a.r.Stages)-1]
}

func (a *Accumulator) StartCDCState(_ context.Context, _, _, slot, publication string, fromSnapshot bool) error {
	return a.change(func(r *Record) {
		r.Start = &RecordStart{Slot: slot, Publication: publication, FromSnapshot: fromSnapshot}
	})
}

func (a *Accumulator) SetCDCSetup(_ context.Context, _ string, createdSlot, createdPublication bool) error {
	return a.change(func(r *Record) {
		r.Setup[0] = r.Setup[0] || createdSlot
		r.Setup[1] = r.Setup[1] || createdPublication
	})
}

func (a *Accumulator) SetSnapshotDone(_ context.Context, _, pos string, rows int64) error {
	return a.change(func(r *Record) { r.Snapshot = &RecordSnapshot{Position: pos, Rows: rows} })
}

func (a *Accumulator) StartStage(_ context.Context, _ string, taskID int64, stage string) (int64, error) {
	var n int64
	a.change(func(r *Record) {
		s := a.stage(taskID, stage)
		s.Starts++
		s.Status, s.Message = catalog.StageRunning, ""
		n = s.Starts
	})
	return n, nil
}

func (a *Accumulator) StageProgress(_ context.Context, _ string, taskID int64, stage string, rows, bytes int64) error {
	return a.change(func(r *Record) {
		s := a.stage(taskID, stage)
		s.Rows, s.Bytes = rows, bytes
	})
}

func (a *Accumulator) FinishStage(_ context.Context, _ string, taskID int64, stage, status string, rows, bytes int64, message string) error {
	return a.change(func(r *Record) {
		s := a.stage(taskID, stage)
		s.Status, s.Rows, s.Bytes, s.Message = status, rows, bytes, message
	})
}

func (a *Accumulator) SkipPendingStage(_ context.Context, _ string, taskID int64, stage string) error {
	return a.change(func(r *Record) {
		s := a.stage(taskID, stage)
		if s.Status == "" {
			s.Skip = true
		}
	})
}

func (a *Accumulator) SetTaskStatus(_ context.Context, _ string, taskID int64, status, _ string) error {
	return a.change(func(r *Record) { r.Tasks[taskID] = status })
}

func (a *Accumulator) SetRunStatus(_ context.Context, _, status, message string) error {
	return a.change(func(r *Record) { r.Status, r.Message = status, message })
}

func (a *Accumulator) AddOperation(_ context.Context, o catalog.Operation) error {
	return a.change(func(r *Record) { r.Ops = append(r.Ops, o) })
}

// RecordCDCProgress adds p's counters to the attempt's and keeps its
// latest positions.
func (a *Accumulator) RecordCDCProgress(_ context.Context, _ string, p catalog.CDCProgress) error {
	return a.change(func(r *Record) {
		c := &r.Progress
		if p.SourcePosition != "" {
			c.SourcePosition = p.SourcePosition
		}
		if p.CheckpointPosition != "" {
			c.CheckpointPosition, c.CheckpointAt = p.CheckpointPosition, p.CheckpointAt
		}
		if !p.LastEventAt.IsZero() {
			c.LastEventAt = p.LastEventAt
		}
		c.LagMS = p.LagMS
		c.Inserts += p.Inserts
		c.Updates += p.Updates
		c.Deletes += p.Deletes
		for _, t := range p.Tables {
			i := slices.IndexFunc(c.Tables, func(x catalog.CDCTableCounts) bool { return x.SourceTable == t.SourceTable })
			if i < 0 {
				c.Tables = append(c.Tables, catalog.CDCTableCounts{SourceTable: t.SourceTable})
				i = len(c.Tables) - 1
			}
			x := &c.Tables[i]
			x.TargetTable = t.TargetTable
			x.Inserts += t.Inserts
			x.Updates += t.Updates
			x.Deletes += t.Deletes
			if !t.LastEventAt.IsZero() {
				x.LastEventAt = t.LastEventAt
			}
		}
		r.Reports++
	})
}

func (a *Accumulator) AddRunError(_ context.Context, e catalog.RunError) (bool, error) {
	added := false
	a.change(func(r *Record) {
		if a.seen[e.Position] {
			return
		}
		a.seen[e.Position], added = true, true
		if len(r.Errors) < maxRecordErrors {
			r.Errors = append(r.Errors, e)
		}
	})
	return added, nil
}

func (a *Accumulator) CountRunErrors(context.Context, string) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.baseBad + int64(len(a.seen)), nil
}

func (a *Accumulator) RecordMQOffsets(_ context.Context, _ string, offs []catalog.MQOffset) error {
	return a.change(func(r *Record) {
		r.Offsets = slices.Clone(offs)
		r.OffSeq++
	})
}

// applied is what the gateway applied of a run's Records.
type applied struct {
	last Record
	old  map[string]bool // attempts that ended
}

// ApplyRecord writes what r adds to what this process applied of the
// same attempt before: a Record seen twice, or an older one of an
// attempt, changes nothing. note is appended to the run's message.
func (e *Engine) ApplyRecord(ctx context.Context, runID, job, note string, r Record) (changed bool, err error) {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	st := e.applied[runID]
	if st == nil {
		st = &applied{old: map[string]bool{}}
		e.applied[runID] = st
	}
	if r.Attempt == "" || st.old[r.Attempt] {
		return false, nil
	}
	var p Record
	if st.last.Attempt == r.Attempt {
		if r.Seq <= st.last.Seq {
			return false, nil
		}
		p = st.last
	} else if st.last.Attempt != "" {
		st.old[st.last.Attempt] = true
	}
	if err := e.apply(ctx, runID, job, note, &p, &r); err != nil {
		return true, err
	}
	st.last = r
	return true, nil
}

// Baseline applies the first Record a restarted gateway sees of a run it
// follows again. It cannot know what its predecessor applied of that
// attempt: what is idempotent (the stream's state, positions, stages,
// statuses, bad records, offsets) is applied again; the attempt's
// counters and operations so far are taken as applied (what the dead
// gateway had not applied of them is not counted, rather than counted
// twice), and the counters go on from there.
func (e *Engine) Baseline(ctx context.Context, runID, job, note string, r Record) error {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	if _, ok := e.applied[runID]; ok {
		return nil
	}
	p := Record{Attempt: r.Attempt, Ops: r.Ops, Reports: r.Reports - 1}
	p.Progress.Inserts, p.Progress.Updates, p.Progress.Deletes = r.Progress.Inserts, r.Progress.Updates, r.Progress.Deletes
	p.Progress.Tables = r.Progress.Tables
	again := r
	if r.Start != nil {
		// Never reset the counters the dead gateway may have added to.
		start := *r.Start
		start.FromSnapshot = false
		again.Start = &start
	}
	if err := e.apply(ctx, runID, job, note, &p, &again); err != nil {
		return err
	}
	e.applied[runID] = &applied{last: r, old: map[string]bool{}}
	return nil
}

// forget drops what ApplyRecord kept of a run.
func (e *Engine) forget(runID string) {
	e.applyMu.Lock()
	delete(e.applied, runID)
	e.applyMu.Unlock()
}

func (e *Engine) apply(ctx context.Context, runID, job, note string, p, r *Record) error {
	cat := e.cfg.Catalog
	if r.Start != nil && p.Start == nil {
		if err := cat.StartCDCState(ctx, job, runID, r.Start.Slot, r.Start.Publication, r.Start.FromSnapshot); err != nil {
			return err
		}
	}
	if r.Setup != p.Setup {
		if err := cat.SetCDCSetup(ctx, job, r.Setup[0], r.Setup[1]); err != nil {
			return err
		}
	}
	for _, s := range r.Stages {
		var ps RecordStage
		if i := slices.IndexFunc(p.Stages, func(x RecordStage) bool { return x.TaskID == s.TaskID && x.Stage == s.Stage }); i >= 0 {
			ps = p.Stages[i]
		}
		if s.Skip && !ps.Skip {
			if err := skipPending(ctx, cat, runID, s.TaskID, s.Stage); err != nil {
				return err
			}
		}
		if s.Starts > ps.Starts {
			if _, err := cat.StartStage(ctx, runID, s.TaskID, s.Stage); err != nil {
				return err
			}
			ps.Status = catalog.StageRunning
		}
		switch {
		case s.Status == "" || s == ps:
		case s.Status == catalog.StageRunning:
			if err := cat.StageProgress(ctx, runID, s.TaskID, s.Stage, s.Rows, s.Bytes); err != nil {
				return err
			}
		default:
			if err := cat.FinishStage(ctx, runID, s.TaskID, s.Stage, s.Status, s.Rows, s.Bytes, s.Message); err != nil {
				return err
			}
		}
	}
	for id, status := range r.Tasks {
		if p.Tasks[id] != status {
			if err := cat.SetTaskStatus(ctx, runID, id, status, ""); err != nil {
				return err
			}
		}
	}
	if r.Snapshot != nil && p.Snapshot == nil {
		if err := cat.SetSnapshotDone(ctx, job, r.Snapshot.Position, r.Snapshot.Rows); err != nil {
			return err
		}
	}
	for _, o := range r.Ops[min(len(p.Ops), len(r.Ops)):] {
		if err := cat.AddOperation(ctx, o); err != nil {
			return err
		}
	}
	for _, x := range r.Errors[min(len(p.Errors), len(r.Errors)):] {
		if _, err := cat.AddRunError(ctx, x); err != nil {
			return err
		}
	}
	if r.Reports > p.Reports {
		d := r.Progress
		d.Inserts -= p.Progress.Inserts
		d.Updates -= p.Progress.Updates
		d.Deletes -= p.Progress.Deletes
		d.Tables = nil
		for _, t := range r.Progress.Tables {
			if i := slices.IndexFunc(p.Progress.Tables, func(x catalog.CDCTableCounts) bool { return x.SourceTable == t.SourceTable }); i >= 0 {
				o := p.Progress.Tables[i]
				t.Inserts -= o.Inserts
				t.Updates -= o.Updates
				t.Deletes -= o.Deletes
			}
			if t.Inserts+t.Updates+t.Deletes > 0 {
				d.Tables = append(d.Tables, t)
			}
		}
		if err := cat.RecordCDCProgress(ctx, job, d); err != nil {
			return err
		}
		e.cfg.Metrics.setLag(job, float64(d.LagMS)/1000)
		e.cfg.Metrics.applied(job, "insert", d.Inserts)
		e.cfg.Metrics.applied(job, "update", d.Updates)
		e.cfg.Metrics.applied(job, "delete", d.Deletes)
	}
	if r.OffSeq > p.OffSeq {
		if err := cat.RecordMQOffsets(ctx, job, r.Offsets); err != nil {
			return err
		}
	}
	if r.Status != "" && (r.Status != p.Status || r.Message != p.Message) {
		msg := r.Message
		if note != "" {
			msg += "; " + note
		}
		if err := cat.SetRunStatus(ctx, runID, r.Status, msg); err != nil {
			return fmt.Errorf("record CDC run status: %w", err)
		}
	}
	return nil
}
