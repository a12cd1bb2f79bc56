package scan

// What a run records about itself mid-run goes through a Recorder: the
// catalog in the gateway, or, on a Temporal worker, an Accumulator whose
// cumulative Record travels as the activity's heartbeat and result; the
// gateway applies it (Engine.ApplyRecord). Everything a Record carries
// except operations is applied as an upsert, so applying a Record twice,
// or an older one, changes nothing.

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/flowgate/flowgate/catalog"
)

// Recorder takes a run's writes about itself and answers the reads the
// run makes of its own records.
type Recorder interface {
	StartStage(ctx context.Context, runID string, taskID int64, stage string) (int64, error)
	StageProgress(ctx context.Context, runID string, taskID int64, stage string, rows, bytes int64) error
	SetStageTotal(ctx context.Context, runID string, taskID int64, stage string, total int64) error
	FinishStage(ctx context.Context, runID string, taskID int64, stage, status string, rows, bytes int64, message string) error
	Stages(ctx context.Context, runID string) ([]catalog.StageState, error)
	SetTaskStatus(ctx context.Context, runID string, taskID int64, status, message string) error
	SetRunStatus(ctx context.Context, runID, status, message string) error
	AddOperation(ctx context.Context, o catalog.Operation) error
	AddRunError(ctx context.Context, e catalog.RunError) (added bool, err error)
	CountRunErrors(ctx context.Context, runID string) (int64, error)
	SetWatermark(ctx context.Context, job, runID string, w catalog.Watermark) error
	AddDiffs(ctx context.Context, runID string, taskID int64, diffs []catalog.Diff) error
	AddExportFile(ctx context.Context, runID string, f catalog.ExportFile) error
	ClearExportFiles(ctx context.Context, runID string, taskID int64) error
	ExportFiles(ctx context.Context, runID string, taskID int64) ([]catalog.ExportFile, error)
	ScanObjects(ctx context.Context, job string) (map[string]catalog.ScanObject, error)
	RecordScanObject(ctx context.Context, job, runID string, o catalog.ScanObject) error
}

var (
	_ Recorder = (*catalog.Catalog)(nil)
	_ Recorder = (*Accumulator)(nil)
)

// Bounds of what a Record carries, so heartbeats stay small: bad records
// past maxRecordErrors are counted but not kept in dataflow.run_errors;
// files and objects past maxRecordItems are not listed in the catalog
// (the objects themselves are written or loaded, and the target's
// checkpoint still decides what a later run loads again).
const (
	maxRecordErrors = 100
	maxRecordItems  = 2000
)

// Record is what one attempt on a worker recorded so far.
type Record struct {
	Seq        int64                    `json:"seq"`
	Stages     []RecordStage            `json:"stages,omitempty"`
	Tasks      map[int64]RecordTask     `json:"tasks,omitempty"`
	Status     string                   `json:"status,omitempty"`
	Message    string                   `json:"message,omitempty"`
	Watermarks []catalog.Watermark      `json:"watermarks,omitempty"` // latest per source table
	Diffs      map[int64][]catalog.Diff `json:"diffs,omitempty"`
	Errors     []catalog.RunError       `json:"errors,omitempty"`
	Bad        int64                    `json:"bad"` // the run's bad records, with the earlier attempts'
	Ops        []catalog.Operation      `json:"ops,omitempty"`
	// Files are task 1's export files; ClearedFiles says the attempt
	// removed the earlier attempts' files, so only Files stand.
	Files        []catalog.ExportFile `json:"files,omitempty"`
	ClearedFiles bool                 `json:"cleared_files,omitempty"`
	Objects      []catalog.ScanObject `json:"objects,omitempty"`
}

// RecordStage is one stage as the attempt left it.
type RecordStage struct {
	TaskID  int64  `json:"task_id"`
	Stage   string `json:"stage"`
	Status  string `json:"status"`
	Rows    int64  `json:"rows"`
	Bytes   int64  `json:"bytes"`
	Total   int64  `json:"total,omitempty"`
	Message string `json:"message,omitempty"`
	// Started and Finished are the worker's clock.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitempty"`
}

// RecordTask is a task's status and message.
type RecordTask struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// Accumulator is the Recorder of an attempt on a worker.
type Accumulator struct {
	mu      sync.Mutex
	r       Record
	job     string
	prior   []catalog.ExportFile          // the earlier attempts' files
	objects map[string]catalog.ScanObject // loaded before this attempt
	seen    map[string]bool               // bad records' positions
}

// AttemptState is what an attempt starts from: what the catalog knew at
// the start of the run's workflow, and the last Record of the attempt
// before it (nil for the first), whose worker died.
type AttemptState struct {
	Job      string
	BadCount int64
	Files    []catalog.ExportFile
	Objects  map[string]catalog.ScanObject
	Previous *Record
}

// NewAccumulator starts an attempt's Record.
func NewAccumulator(st AttemptState) *Accumulator {
	a := &Accumulator{job: st.Job, prior: st.Files, objects: st.Objects, seen: map[string]bool{},
		r: Record{Tasks: map[int64]RecordTask{}, Diffs: map[int64][]catalog.Diff{}, Bad: st.BadCount}}
	if a.objects == nil {
		a.objects = map[string]catalog.ScanObject{}
	}
	if p := st.Previous; p != nil {
		if p.ClearedFiles {
			a.prior = nil
		}
		a.prior = append(slices.Clone(a.prior), p.Files...)
		a.r.Bad = max(a.r.Bad, p.Bad)
		for _, o := range p.Objects {
			a.objects[o.Key] = o
		}
	}
	return a
}

// Record returns a copy of what was recorded so far.
func (a *Accumulator) Record() Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.r
	r.Stages = slices.Clone(r.Stages)
	r.Tasks = maps.Clone(r.Tasks)
	r.Watermarks = slices.Clone(r.Watermarks)
	r.Diffs = maps.Clone(r.Diffs)
	r.Errors = slices.Clone(r.Errors)
	r.Ops = slices.Clone(r.Ops)
	r.Files = slices.Clone(r.Files)
	r.Objects = slices.Clone(r.Objects)
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

func (a *Accumulator) StartStage(_ context.Context, _ string, taskID int64, stage string) (int64, error) {
	return 1, a.change(func(*Record) {
		s := a.stage(taskID, stage)
		s.Status, s.Rows, s.Bytes, s.Message = catalog.StageRunning, 0, 0, ""
		s.Started, s.Finished = time.Now(), time.Time{}
	})
}

func (a *Accumulator) StageProgress(_ context.Context, _ string, taskID int64, stage string, rows, bytes int64) error {
	return a.change(func(*Record) {
		s := a.stage(taskID, stage)
		s.Rows, s.Bytes = rows, bytes
	})
}

func (a *Accumulator) SetStageTotal(_ context.Context, _ string, taskID int64, stage string, total int64) error {
	return a.change(func(*Record) { a.stage(taskID, stage).Total = total })
}

func (a *Accumulator) FinishStage(_ context.Context, _ string, taskID int64, stage, status string, rows, bytes int64, message string) error {
	return a.change(func(*Record) {
		s := a.stage(taskID, stage)
		s.Status, s.Rows, s.Bytes, s.Message = status, rows, bytes, message
		s.Finished = time.Now()
		if s.Started.IsZero() {
			s.Started = s.Finished
		}
	})
}

func (a *Accumulator) Stages(context.Context, string) ([]catalog.StageState, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []catalog.StageState
	for _, s := range a.r.Stages {
		out = append(out, catalog.StageState{TaskID: s.TaskID, Stage: s.Stage, Status: s.Status, Attempts: 1, Rows: s.Rows, Bytes: s.Bytes, Message: s.Message})
	}
	return out, nil
}

func (a *Accumulator) SetTaskStatus(_ context.Context, _ string, taskID int64, status, message string) error {
	return a.change(func(r *Record) { r.Tasks[taskID] = RecordTask{Status: status, Message: message} })
}

func (a *Accumulator) SetRunStatus(_ context.Context, _, status, message string) error {
	return a.change(func(r *Record) { r.Status, r.Message = status, message })
}

func (a *Accumulator) AddOperation(_ context.Context, o catalog.Operation) error {
	return a.change(func(r *Record) { r.Ops = append(r.Ops, o) })
}

func (a *Accumulator) AddRunError(_ context.Context, e catalog.RunError) (bool, error) {
	added := false
	a.change(func(r *Record) {
		if a.seen[e.Position] {
			return
		}
		a.seen[e.Position], added = true, true
		r.Bad++
		if len(r.Errors) < maxRecordErrors {
			r.Errors = append(r.Errors, e)
		}
	})
	return added, nil
}

func (a *Accumulator) CountRunErrors(context.Context, string) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.r.Bad, nil
}

func (a *Accumulator) SetWatermark(_ context.Context, _, _ string, w catalog.Watermark) error {
	return a.change(func(r *Record) {
		i := slices.IndexFunc(r.Watermarks, func(x catalog.Watermark) bool { return x.SourceTable == w.SourceTable })
		if i < 0 {
			r.Watermarks = append(r.Watermarks, w)
			return
		}
		if w.Value == "" {
			w.Value = r.Watermarks[i].Value // as the catalog keeps it
		}
		r.Watermarks[i] = w
	})
}

func (a *Accumulator) AddDiffs(_ context.Context, _ string, taskID int64, diffs []catalog.Diff) error {
	return a.change(func(r *Record) { r.Diffs[taskID] = slices.Clone(diffs) })
}

func (a *Accumulator) AddExportFile(_ context.Context, _ string, f catalog.ExportFile) error {
	return a.change(func(r *Record) {
		f.State = "present"
		i := slices.IndexFunc(r.Files, func(x catalog.ExportFile) bool { return x.TaskID == f.TaskID && x.Seq == f.Seq })
		switch {
		case i >= 0:
			r.Files[i] = f
		case len(r.Files) < maxRecordItems:
			r.Files = append(r.Files, f)
		}
	})
}

func (a *Accumulator) ClearExportFiles(context.Context, string, int64) error {
	return a.change(func(r *Record) {
		a.prior, r.Files, r.ClearedFiles = nil, nil, true
	})
}

func (a *Accumulator) ExportFiles(context.Context, string, int64) ([]catalog.ExportFile, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append(slices.Clone(a.prior), a.r.Files...), nil
}

func (a *Accumulator) ScanObjects(context.Context, string) (map[string]catalog.ScanObject, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.objects), nil
}

func (a *Accumulator) RecordScanObject(_ context.Context, _, _ string, o catalog.ScanObject) error {
	return a.change(func(r *Record) {
		a.objects[o.Key] = o
		i := slices.IndexFunc(r.Objects, func(x catalog.ScanObject) bool { return x.Key == o.Key })
		switch {
		case i >= 0:
			r.Objects[i] = o
		case len(r.Objects) < maxRecordItems:
			r.Objects = append(r.Objects, o)
		}
	})
}
