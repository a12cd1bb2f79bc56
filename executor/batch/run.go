package batch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/runopts"
)

// runCtx is what every task of a run shares.
type runCtx struct {
	e       *Engine
	id      string
	plan    *RunPlan
	opts    runopts.Values
	src     *Endpoint
	dst     *Endpoint
	store   store
	watch   *activeRun
	started time.Time
}

// taskOutcome is how one task ended.
type taskOutcome struct {
	status  string
	message string
}

// execute runs every task and sets the run's final status.
func (e *Engine) execute(ctx context.Context, id string, plan *RunPlan, a *activeRun) {
	cat := e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	started := time.Now()
	finish := func(status, msg string) {
		if err := cat.SetRunStatus(bg, id, status, msg); err != nil {
			e.cfg.Logger.Error("record run end", "run", id, "err", err)
		}
		if e.cfg.Metrics != nil {
			e.cfg.Metrics.runDone(plan.Job, status, time.Since(started))
		}
		a.report(Progress{RunID: id, Done: true, Message: status + ": " + msg})
	}
	if err := cat.SetRunStatus(bg, id, catalog.RunRunning, ""); err != nil {
		e.cfg.Logger.Error("start run", "run", id, "err", err)
		return
	}
	rc := &runCtx{e: e, id: id, plan: plan, opts: runopts.Values(plan.Options), watch: a, started: started}
	var err error
	if rc.src, err = e.cfg.Open(ctx, plan.Source); err != nil {
		finish(catalog.RunFailed, "open source: "+err.Error())
		return
	}
	defer rc.src.Close()
	if rc.dst, err = e.cfg.Open(ctx, plan.Target); err != nil {
		finish(catalog.RunFailed, "open target: "+err.Error())
		return
	}
	defer rc.dst.Close()
	if st := plan.Options["staging"]; st != "" && st != "none" {
		sep, err := e.cfg.Open(ctx, st)
		if err != nil {
			finish(catalog.RunFailed, "open staging: "+err.Error())
			return
		}
		defer sep.Close()
		if rc.store, err = storeFor(sep.Conn, ""); err != nil {
			finish(catalog.RunFailed, err.Error())
			return
		}
	} else if st == "" {
		rc.store = localStore{dir: e.cfg.StagingDir}
	}

	outcomes := make([]taskOutcome, len(plan.Tasks))
	sem := make(chan struct{}, max(1, int(rc.opts.Int("batch_parallel_size"))))
	var wg sync.WaitGroup
	for i, t := range plan.Tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
			}
			outcomes[i] = rc.runTask(ctx, t)
		}()
	}
	wg.Wait()

	status, msg := catalog.RunCompleted, fmt.Sprintf("%d of %d tables copied and verified", len(plan.Tasks), len(plan.Tasks))
	var failed, inconsistent []string
	for i, o := range outcomes {
		switch o.status {
		case catalog.RunFailed, catalog.RunTerminated:
			failed = append(failed, fmt.Sprintf("%s: %s", plan.Tasks[i].SourceTable, o.message))
		case catalog.RunDataInconsistent:
			inconsistent = append(inconsistent, plan.Tasks[i].SourceTable)
		}
	}
	switch {
	case errors.Is(context.Cause(ctx), ErrStopped):
		status, msg = catalog.RunTerminated, ErrStopped.Error()
	case errors.Is(context.Cause(ctx), errShutdown):
		status, msg = catalog.RunFailed, errShutdown.Error()+"; RETRY RUN '"+id+"' resumes it"
	case len(failed) > 0:
		status, msg = catalog.RunFailed, strings.Join(failed, "; ")
	case len(inconsistent) > 0:
		status, msg = catalog.RunDataInconsistent, "differences found in "+strings.Join(inconsistent, ", ")+"; see dataflow.run_diffs"
	case len(plan.Tasks) == 0:
		msg = "no tables to copy"
	}
	finish(status, msg)
}

// runTask runs the pending stages of one table.
func (rc *runCtx) runTask(ctx context.Context, t TaskPlan) taskOutcome {
	cat := rc.e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	setTask := func(o taskOutcome) taskOutcome {
		if err := cat.SetTaskStatus(bg, rc.id, t.ID, o.status, o.message); err != nil {
			rc.e.cfg.Logger.Error("record task", "run", rc.id, "task", t.ID, "err", err)
		}
		return o
	}
	if ctx.Err() != nil {
		return setTask(stoppedOutcome(ctx))
	}
	setTask(taskOutcome{status: catalog.RunRunning})
	stages, err := cat.Stages(bg, rc.id)
	if err != nil {
		return setTask(taskOutcome{catalog.RunFailed, err.Error()})
	}
	tc, err := rc.prepareTask(ctx, t)
	if err != nil {
		msg := scrub(rc.src, err)
		cat.StartStage(bg, rc.id, t.ID, StageExport)
		cat.FinishStage(bg, rc.id, t.ID, StageExport, catalog.StageFailed, 0, 0, msg)
		return setTask(taskOutcome{catalog.RunFailed, StageExport + ": " + msg})
	}
	pending := func(name string) bool {
		s := findStage(stages, t.ID, name).Status
		return s != catalog.StageCompleted && s != catalog.StageSkipped
	}
	if rc.opts["staging"] == "none" {
		if pending(StageExport) || pending(StageImport) {
			if err := tc.streamCopy(ctx); err != nil {
				return setTask(failOutcome(ctx, err))
			}
		}
	} else if pending(StageExport) {
		// Files are imported as they are staged; an import failure leaves
		// the export running to the end so RETRY resumes at ImportTable.
		feed := newFileFeed()
		exported := make(chan error, 1)
		go func() { exported <- tc.export(ctx, feed) }()
		ierr := tc.importFiles(ctx, feed)
		eerr := <-exported
		if eerr != nil {
			return setTask(failOutcome(ctx, eerr))
		}
		if ierr != nil {
			return setTask(failOutcome(ctx, ierr))
		}
	} else if pending(StageImport) {
		if err := tc.importFiles(ctx, nil); err != nil {
			return setTask(failOutcome(ctx, err))
		}
	}
	if pending(StageDiff) {
		consistent, err := tc.verify(ctx)
		if err != nil {
			return setTask(failOutcome(ctx, err))
		}
		if !consistent {
			return setTask(taskOutcome{catalog.RunDataInconsistent, "source and target differ; see dataflow.run_diffs"})
		}
	}
	return setTask(taskOutcome{status: catalog.RunCompleted})
}

func stoppedOutcome(ctx context.Context) taskOutcome {
	if errors.Is(context.Cause(ctx), ErrStopped) {
		return taskOutcome{catalog.RunTerminated, ErrStopped.Error()}
	}
	return taskOutcome{catalog.RunFailed, context.Cause(ctx).Error()}
}

func failOutcome(ctx context.Context, err error) taskOutcome {
	if ctx.Err() != nil {
		return stoppedOutcome(ctx)
	}
	return taskOutcome{catalog.RunFailed, err.Error()}
}

// taskCtx is one task's resolved columns and capabilities.
type taskCtx struct {
	rc       *runCtx
	t        TaskPlan
	srcTable schema.Table
	dstTable schema.Table
	pairs    []ColumnPair
	exporter data.Exporter
	importer data.Importer
}

func (rc *runCtx) prepareTask(ctx context.Context, t TaskPlan) (*taskCtx, error) {
	sin, err := as[schema.Introspector](rc.src, "read table structure")
	if err != nil {
		return nil, err
	}
	din, err := as[schema.Introspector](rc.dst, "read table structure")
	if err != nil {
		return nil, err
	}
	tc := &taskCtx{rc: rc, t: t}
	if tc.srcTable, err = DescribeOne(ctx, sin, t.SourceSchema, t.SourceTable, "source", rc.plan.Source); err != nil {
		return nil, err
	}
	if tc.dstTable, err = DescribeOne(ctx, din, t.TargetSchema, t.TargetTable, "target", rc.plan.Target); err != nil {
		return nil, err
	}
	if tc.pairs, err = PairColumns(tc.srcTable, tc.dstTable, t.Columns); err != nil {
		return nil, err
	}
	if tc.exporter, err = as[data.Exporter](rc.src, "export rows"); err != nil {
		return nil, err
	}
	if tc.importer, err = as[data.Importer](rc.dst, "import rows"); err != nil {
		return nil, err
	}
	return tc, nil
}

func (tc *taskCtx) exportSpec() data.ExportSpec {
	cols := make([]schema.Column, len(tc.pairs))
	for i, p := range tc.pairs {
		cols[i] = ExportColumn(p)
	}
	return data.ExportSpec{Schema: tc.t.SourceSchema, Table: tc.t.SourceTable, Columns: cols, Where: tc.rc.plan.SourceWhere,
		OrderBy: splitList(tc.rc.opts["import_order_by"]), TimeZone: tc.rc.opts["source_timezone"]}
}

func (tc *taskCtx) importSpec(mark *data.Marker) data.ImportSpec {
	cols := make([]schema.Column, len(tc.pairs))
	for i, p := range tc.pairs {
		cols[i] = p.Dst
	}
	return data.ImportSpec{Schema: tc.t.TargetSchema, Table: tc.t.TargetTable, Columns: cols, TimeZone: tc.rc.opts["source_timezone"], Mark: mark}
}

// stage tracks one running stage: counters, catalog heartbeats, progress
// reports, and the heartbeat_timeout watchdog.
type stage struct {
	tc       *taskCtx
	name     string
	attempt  int64
	rows     atomic.Int64
	bytes    atomic.Int64
	beats    atomic.Int64 // progress that is neither rows nor bytes (waiting on a moving export)
	total    atomic.Int64
	started  time.Time
	ctx      context.Context
	cancel   context.CancelCauseFunc
	stopOnce sync.Once
	stopped  chan struct{}
	wg       sync.WaitGroup
}

func (tc *taskCtx) startStage(ctx context.Context, name string, total int64) (*stage, context.Context, error) {
	attempt, err := tc.rc.e.cfg.Catalog.StartStage(context.WithoutCancel(ctx), tc.rc.id, tc.t.ID, name)
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	s := &stage{tc: tc, name: name, attempt: attempt, started: time.Now(), ctx: sctx, cancel: cancel, stopped: make(chan struct{})}
	s.total.Store(total)
	if total > 0 {
		tc.rc.e.cfg.Catalog.SetStageTotal(context.WithoutCancel(ctx), tc.rc.id, tc.t.ID, name, total)
	}
	timeout := time.Duration(tc.rc.opts.Int("heartbeat_timeout")) * time.Second
	s.wg.Add(1)
	go s.heartbeat(sctx, timeout)
	return s, sctx, nil
}

// heartbeat writes progress every second and fails the stage when nothing
// moved for timeout.
func (s *stage) heartbeat(ctx context.Context, timeout time.Duration) {
	defer s.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastMove := int64(-1), time.Now()
	for {
		select {
		case <-s.stopped:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rows, bytes := s.rows.Load(), s.bytes.Load()
		if moved := rows + bytes + s.beats.Load(); moved != last {
			last, lastMove = moved, time.Now()
		} else if time.Since(lastMove) > timeout {
			s.cancel(fmt.Errorf("%s made no progress for %s (heartbeat_timeout = %d)", s.name, timeout, int(timeout.Seconds())))
			return
		}
		s.tc.rc.e.cfg.Catalog.StageProgress(context.WithoutCancel(ctx), s.tc.rc.id, s.tc.t.ID, s.name, rows, bytes)
		s.tc.rc.watch.report(s.progress(false))
	}
}

func (s *stage) progress(done bool) Progress {
	rows := s.rows.Load()
	return Progress{RunID: s.tc.rc.id, TaskID: s.tc.t.ID, Table: s.tc.t.SourceTable, Stage: s.name, Rows: rows, Total: s.total.Load(),
		RowsPerSec: float64(rows) / elapsed(s.started), Done: done}
}

// end records the stage's outcome; err is nil for success.
func (s *stage) end(ctx context.Context, err error) error {
	s.stopOnce.Do(func() { close(s.stopped) })
	s.wg.Wait()
	bg := context.WithoutCancel(ctx)
	cat := s.tc.rc.e.cfg.Catalog
	rows, bytes := s.rows.Load(), s.bytes.Load()
	if err == nil {
		if ferr := cat.FinishStage(bg, s.tc.rc.id, s.tc.t.ID, s.name, catalog.StageCompleted, rows, bytes, ""); ferr != nil {
			return ferr
		}
		s.tc.rc.watch.report(s.progress(true))
		return nil
	}
	// The watchdog's or STOP's cause says more than "context canceled".
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if c := context.Cause(s.ctx); c != nil {
			err = c
		}
	}
	msg := connectors.ScrubError(err, append(s.tc.rc.src.Secrets, s.tc.rc.dst.Secrets...)...).Error()
	cat.FinishStage(bg, s.tc.rc.id, s.tc.t.ID, s.name, catalog.StageFailed, rows, bytes, msg)
	s.tc.rc.watch.report(Progress{RunID: s.tc.rc.id, TaskID: s.tc.t.ID, Table: s.tc.t.SourceTable, Stage: s.name, Message: "failed: " + msg})
	return fmt.Errorf("%s: %s", s.name, msg)
}

// fileID names a staged file uniquely per export attempt, so a re-export
// never collides with marks of an earlier one.
func fileName(job, run string, task, attempt, seq int64, suffix string) string {
	return path.Join(job, run, fmt.Sprintf("t%04d-a%d-%06d%s", task, attempt, seq, suffix))
}

// countInBackground counts the rows to export for progress percentages
// while the export runs, so the count never delays it; a failed count only
// leaves the percentage out.
func (tc *taskCtx) countInBackground(ctx context.Context, spec data.ExportSpec, stages ...*stage) {
	go func() {
		n, err := tc.exporter.Count(ctx, spec)
		if err != nil {
			return
		}
		for _, st := range stages {
			st.total.Store(n)
			// Stored for dataflow.run_progress (the dashboard's bars).
			tc.rc.e.cfg.Catalog.SetStageTotal(context.WithoutCancel(ctx), tc.rc.id, tc.t.ID, st.name, n)
		}
	}()
}

// fileFeed tells a concurrent import that files were staged.
type fileFeed struct {
	wake   chan struct{}
	done   atomic.Bool // the export finished and every file is recorded
	failed atomic.Bool
	export atomic.Pointer[stage] // the export stage, once started
}

func newFileFeed() *fileFeed { return &fileFeed{wake: make(chan struct{}, 1)} }

func (f *fileFeed) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// export streams the source table into staged files, telling feed (when
// set) about each one.
func (tc *taskCtx) export(ctx context.Context, feed *fileFeed) (err error) {
	if feed != nil {
		defer func() {
			if err != nil {
				feed.failed.Store(true)
			} else {
				feed.done.Store(true)
			}
			feed.signal()
		}()
	}
	cat := tc.rc.e.cfg.Catalog
	spec := tc.exportSpec()
	st, sctx, err := tc.startStage(ctx, StageExport, 0)
	if err != nil {
		return err
	}
	tc.countInBackground(sctx, spec, st)
	if feed != nil {
		feed.export.Store(st)
		feed.signal()
	}
	if err := cat.ClearExportFiles(context.WithoutCancel(ctx), tc.rc.id, tc.t.ID); err != nil {
		return st.end(sctx, err)
	}
	compression := tc.rc.opts["compression"]
	asParquet := tc.rc.opts["batch_file_format"] == "parquet"
	names := make([]string, len(tc.pairs))
	for i, p := range tc.pairs {
		names[i] = p.Src.Name
	}
	pack := func(raw []byte) ([]byte, error) {
		if asParquet {
			return csvToParquet(raw, names, compression)
		}
		return compress(compression, raw)
	}
	suffix := fileSuffix(compression)
	if asParquet {
		suffix = ".parquet"
	}
	type chunk struct {
		seq  int64
		raw  []byte
		rows int64
	}
	work := make(chan chunk)
	var (
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; st.cancel(err) })
	}
	for range max(1, int(tc.rc.opts.Int("export_compress_parallel"))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				if sctx.Err() != nil {
					continue
				}
				packed, err := pack(c.raw)
				if err != nil {
					fail(fmt.Errorf("compress: %w", err))
					continue
				}
				uri, err := tc.rc.store.put(sctx, fileName(tc.rc.plan.Job, tc.rc.id, tc.t.ID, st.attempt, c.seq, suffix), packed)
				if err != nil {
					fail(err)
					continue
				}
				if err := cat.AddExportFile(context.WithoutCancel(ctx), tc.rc.id, catalog.ExportFile{TaskID: tc.t.ID, Seq: c.seq, URI: uri, Rows: c.rows, Bytes: int64(len(packed))}); err != nil {
					fail(err)
					continue
				}
				st.bytes.Add(int64(len(packed)))
				if feed != nil {
					feed.signal()
				}
			}
		}()
	}
	var seq int64
	ch := newChunker(max(1, tc.rc.opts.Int("export_batch_rows")), func(b []byte, rows int64) error {
		seq++
		select {
		case work <- chunk{seq: seq, raw: b, rows: rows}:
			st.rows.Add(rows)
			return nil
		case <-sctx.Done():
			return context.Cause(sctx)
		}
	})
	n, err := tc.exporter.Export(sctx, spec, ch)
	if err == nil {
		err = ch.Close()
	}
	close(work)
	wg.Wait()
	if err == nil && firstErr != nil {
		err = firstErr
	}
	if err == nil && n != st.rows.Load() {
		err = fmt.Errorf("exporter reported %d rows but %d were staged", n, st.rows.Load())
	}
	if err != nil && sctx.Err() != nil {
		err = context.Cause(sctx)
	}
	if err == nil {
		tc.rc.operation(ctx, tc, "export", st)
	}
	return st.end(ctx, err)
}

// importFiles loads every staged file not yet in the target, in file
// order. Each file is one target transaction that also writes a mark; the
// catalog is updated after the commit, and a crash in between is settled by
// the mark. With feed, files are taken as the running export stages them.
func (tc *taskCtx) importFiles(ctx context.Context, feed *fileFeed) error {
	cat := tc.rc.e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	files, err := cat.ExportFiles(bg, tc.rc.id, tc.t.ID)
	if err != nil {
		return err
	}
	var total int64
	for _, f := range files {
		total += f.Rows
	}
	st, sctx, err := tc.startStage(ctx, StageImport, total)
	if err != nil {
		return err
	}
	marks, err := tc.importer.ImportedMarks(sctx, tc.t.TargetSchema, tc.rc.id)
	if err != nil {
		return st.end(ctx, fmt.Errorf("read import marks: %w", err))
	}
	marked := set(marks)
	anyImported := false
	for _, f := range files {
		anyImported = anyImported || f.Imported || marked[path.Base(f.URI)]
	}
	if !anyImported && tc.rc.opts.Bool("enable_pk_duplicate_detect") {
		if err := tc.detectDuplicates(sctx); err != nil {
			return st.end(ctx, err)
		}
	}
	// Files load import_parallel at a time (in file order, one at a time,
	// when import_order_by asks for sorted loading).
	workers := max(1, int(tc.rc.opts.Int("import_parallel")))
	if len(splitList(tc.rc.opts["import_order_by"])) > 0 {
		workers = 1
	}
	work := make(chan catalog.ExportFile)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() {
			firstErr = err
			st.cancel(err)
		})
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if sctx.Err() != nil {
					continue
				}
				if err := tc.importOne(sctx, st, f, marked[path.Base(f.URI)]); err != nil {
					fail(err)
				}
			}
		}()
	}
	dispatch := func() error {
		defer func() { close(work); wg.Wait() }()
		next := int64(1) // files go out in seq order; seq k+1 waits for k
		var lastExportRows int64
		for {
			if feed != nil {
				if files, err = cat.ExportFiles(bg, tc.rc.id, tc.t.ID); err != nil {
					return err
				}
			}
			for _, f := range files {
				if f.Seq != next {
					continue
				}
				select {
				case work <- f:
					next++
				case <-sctx.Done():
					return context.Cause(sctx)
				}
			}
			if feed == nil {
				return nil
			}
			if feed.failed.Load() {
				return errors.New("stopped: ExportTable failed")
			}
			if feed.done.Load() {
				// The export recorded every file before saying done; one
				// more pass picks up the last ones.
				if files, err = cat.ExportFiles(bg, tc.rc.id, tc.t.ID); err != nil {
					return err
				}
				if int64(len(files)) < next {
					return nil
				}
				continue
			}
			select {
			case <-feed.wake:
			case <-time.After(time.Second):
			case <-sctx.Done():
				return context.Cause(sctx)
			}
			if ex := feed.export.Load(); ex != nil {
				if r := ex.rows.Load(); r != lastExportRows {
					lastExportRows = r
					st.beats.Add(1)
				}
				st.total.Store(ex.total.Load())
			}
		}
	}
	err = dispatch()
	if firstErr != nil {
		err = firstErr
	}
	if err != nil {
		return st.end(ctx, err)
	}
	tc.rc.operation(ctx, tc, "import", st)
	return st.end(ctx, nil)
}

// importOne imports one staged file unless the catalog or the target's
// marks say it is in already.
func (tc *taskCtx) importOne(ctx context.Context, st *stage, f catalog.ExportFile, marked bool) error {
	cat := tc.rc.e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	id := path.Base(f.URI)
	if f.Imported || marked {
		if !f.Imported {
			if err := cat.MarkFileImported(bg, tc.rc.id, tc.t.ID, f.Seq); err != nil {
				return err
			}
		}
		st.rows.Add(f.Rows)
		st.bytes.Add(f.Bytes)
		return nil
	}
	if f.State != "present" {
		return fmt.Errorf("staged file %s was deleted before it was imported; retry from ExportTable", f.URI)
	}
	n, err := tc.importFile(ctx, f, id, st)
	if err != nil {
		return fmt.Errorf("file %s: %w", f.URI, err)
	}
	if n != f.Rows {
		return fmt.Errorf("file %s: imported %d rows, exported %d", f.URI, n, f.Rows)
	}
	if err := cat.MarkFileImported(bg, tc.rc.id, tc.t.ID, f.Seq); err != nil {
		return err
	}
	if tc.rc.opts.Bool("verbose") {
		tc.rc.watch.report(Progress{RunID: tc.rc.id, TaskID: tc.t.ID, Table: tc.t.SourceTable, Stage: StageImport, Rows: st.rows.Load(), Total: st.total.Load(),
			Message: fmt.Sprintf("imported %s (%d rows)", id, n)})
	}
	return nil
}

func (tc *taskCtx) importFile(ctx context.Context, f catalog.ExportFile, id string, st *stage) (int64, error) {
	r, err := tc.rc.store.open(ctx, f.URI)
	if err != nil {
		return 0, err
	}
	var dr io.ReadCloser
	if strings.HasSuffix(f.URI, ".parquet") {
		raw, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return 0, err
		}
		csv, err := parquetToCSV(raw)
		if err != nil {
			return 0, err
		}
		dr = io.NopCloser(bytes.NewReader(csv))
	} else if dr, err = decompressed(f.URI, r); err != nil {
		return 0, err
	}
	defer dr.Close()
	counted := &countingReader{r: dr, n: &st.bytes}
	before := st.rows.Load()
	n, err := tc.importer.Import(ctx, tc.importSpec(&data.Marker{RunID: tc.rc.id, FileID: id}), counted)
	if err != nil {
		st.rows.Store(before)
		return 0, err
	}
	st.rows.Add(n)
	return n, nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// streamCopy is staging = 'none': the export feeds the import through a
// pipe, one target transaction, no files.
func (tc *taskCtx) streamCopy(ctx context.Context) error {
	spec := tc.exportSpec()
	est, ectx, err := tc.startStage(ctx, StageExport, 0)
	if err != nil {
		return err
	}
	ist, ictx, err := tc.startStage(ectx, StageImport, 0)
	if err != nil {
		return est.end(ctx, err)
	}
	tc.countInBackground(ectx, spec, est, ist)
	if tc.rc.opts.Bool("enable_pk_duplicate_detect") {
		if err := tc.detectDuplicates(ictx); err != nil {
			ist.end(ctx, err)
			return est.end(ctx, errors.New("not started: the import found duplicate keys"))
		}
	}
	stop := make(chan struct{})
	go func() {
		// The importer's row count arrives at the end; mirror the export's
		// so progress and the heartbeat see the import moving.
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ist.rows.Store(est.rows.Load())
				ist.bytes.Store(est.bytes.Load())
			}
		}
	}()
	n, eerr, ierr := PipeTable(ectx, ictx, tc.exporter, spec, tc.importer,
		tc.importSpec(&data.Marker{RunID: tc.rc.id, FileID: fmt.Sprintf("t%04d-stream", tc.t.ID)}), &est.rows, &est.bytes)
	close(stop)
	if ierr == nil {
		ist.rows.Store(n)
		ist.bytes.Store(est.bytes.Load())
	}
	if ierr != nil && eerr != nil && !errors.Is(eerr, io.ErrClosedPipe) {
		// The export's failure is the root cause.
		ierr = fmt.Errorf("export failed: %w", eerr)
	}
	if eerr != nil && ierr == nil {
		ierr = fmt.Errorf("export failed: %w", eerr)
	}
	if ierr == nil {
		tc.rc.operation(ctx, tc, "export", est)
		tc.rc.operation(ctx, tc, "import", ist)
	}
	if eerr != nil && errors.Is(eerr, io.ErrClosedPipe) {
		eerr = errors.New("stopped because the import failed")
	}
	errI := ist.end(ctx, ierr)
	errE := est.end(ctx, eerr)
	if errI != nil {
		return errI
	}
	return errE
}

// PipeTable feeds an export into an import through a pipe: one target
// transaction, no files. rows and bytes count what the export wrote; the
// import's row count is returned with both sides' errors.
func PipeTable(ectx, ictx context.Context, exp data.Exporter, es data.ExportSpec, imp data.Importer, is data.ImportSpec,
	rows, bytes *atomic.Int64) (imported int64, exportErr, importErr error) {
	pr, pw := io.Pipe()
	// Drivers write a message (often one row) at a time; batching the
	// writes keeps the pipe and the target's COPY messages large.
	buf := bufio.NewWriterSize(pw, 256<<10)
	counter := &rowCounter{w: buf, rows: rows, bytes: bytes}
	expErr := make(chan error, 1)
	go func() {
		n, err := exp.Export(ectx, es, counter)
		if err == nil {
			err = buf.Flush()
		}
		if err == nil && n != rows.Load() {
			err = fmt.Errorf("exporter reported %d rows but %d were counted", n, rows.Load())
		}
		pw.CloseWithError(err)
		expErr <- err
	}()
	imported, importErr = imp.Import(ictx, is, pr)
	pr.CloseWithError(errors.New("import ended"))
	return imported, <-expErr, importErr
}

// rowCounter counts bytes and CSV records written through it.
type rowCounter struct {
	w     io.Writer
	rows  *atomic.Int64
	bytes *atomic.Int64
	scan  data.RecordScanner
}

func (c *rowCounter) Write(p []byte) (int, error) {
	var n int64
	for i := c.scan.Next(p, 0); i >= 0; i = c.scan.Next(p, i) {
		n++
	}
	w, err := c.w.Write(p)
	c.rows.Add(n)
	c.bytes.Add(int64(w))
	return w, err
}

// operation records one export or import for the overview.
func (rc *runCtx) operation(ctx context.Context, tc *taskCtx, op string, st *stage) {
	ep, table := rc.src, qualify(tc.t.SourceSchema, tc.t.SourceTable)
	if op == "import" {
		ep, table = rc.dst, qualify(tc.t.TargetSchema, tc.t.TargetTable)
	}
	o := catalog.Operation{RunID: rc.id, Job: rc.plan.Job, Datasource: ep.Name, DatasourceType: ep.Type, Table: table,
		Operation: op, Started: st.started, Finished: time.Now(), Records: st.rows.Load(), Bytes: st.bytes.Load()}
	if err := rc.e.cfg.Catalog.AddOperation(context.WithoutCancel(ctx), o); err != nil {
		rc.e.cfg.Logger.Error("record operation", "err", err)
	}
	if m := rc.e.cfg.Metrics; m != nil {
		m.moved(rc.plan.Job, op, o.Records, o.Bytes)
	}
}
