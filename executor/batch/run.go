package batch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	release, err := rc.open(ctx)
	if err != nil {
		finish(catalog.RunFailed, err.Error())
		return
	}
	defer release()
	keys, err := rc.prepare(ctx)
	if err != nil {
		if ctx.Err() != nil {
			o := stoppedOutcome(ctx)
			finish(o.status, o.message)
			return
		}
		finish(catalog.RunFailed, err.Error())
		return
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

	finish(rc.conclude(bg, context.Cause(ctx), outcomes, keys))
}

// open connects the run's source and target, and its staging store.
func (rc *runCtx) open(ctx context.Context) (release func(), err error) {
	e, plan := rc.e, rc.plan
	var closers []func()
	release = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(what string, err error) (func(), error) {
		release()
		return func() {}, fmt.Errorf("%s: %w", what, err)
	}
	if rc.src, err = e.cfg.Open(ctx, plan.Source); err != nil {
		return fail("open source", err)
	}
	closers = append(closers, rc.src.Close)
	if rc.dst, err = e.cfg.Open(ctx, plan.Target); err != nil {
		return fail("open target", err)
	}
	closers = append(closers, rc.dst.Close)
	if st := plan.Options["staging"]; st != "" && st != "none" {
		sep, err := e.cfg.Open(ctx, st)
		if err != nil {
			return fail("open staging", err)
		}
		closers = append(closers, sep.Close)
		if rc.store, err = storeFor(sep.Conn, ""); err != nil {
			release()
			return func() {}, err
		}
	} else if st == "" {
		rc.store = localStore{dir: e.cfg.StagingDir}
	}
	return release, nil
}

// prepare runs pre_action and takes the foreign keys off. recreate builds
// the tables (keys included) before the keys are taken off; truncate
// empties them after, so keys between the run's tables (a cycle too) do
// not stand in the way. On failure the keys are back.
func (rc *runCtx) prepare(ctx context.Context) ([]catalog.SuspendedKey, error) {
	bg := context.WithoutCancel(ctx)
	stages, err := rc.e.cfg.Catalog.Stages(bg, rc.id)
	if err != nil {
		return nil, err
	}
	var keys []catalog.SuspendedKey
	if rc.opts["pre_action"] == "recreate" {
		err = rc.preActions(ctx, stages)
	}
	if err == nil {
		keys, err = rc.suspendKeys(ctx)
	}
	if err == nil && rc.opts["pre_action"] != "recreate" {
		err = rc.preActions(ctx, stages)
	}
	if err != nil {
		if f, inv := rc.restoreKeys(bg, keys); len(f)+len(inv) > 0 {
			err = fmt.Errorf("%w; %s", err, strings.Join(append(f, inv...), "; "))
		}
		return nil, err
	}
	return keys, nil
}

// conclude turns the tasks' outcomes into the run's status and message,
// putting the foreign keys back whatever happened: one that cannot be
// added fails the run (RETRY adds it); one the rows do not satisfy stays
// NOT VALID and is named in the message. cause is why the run's context
// ended, nil if it did not.
func (rc *runCtx) conclude(ctx context.Context, cause error, outcomes []taskOutcome, keys []catalog.SuspendedKey) (string, string) {
	plan := rc.plan
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
	case errors.Is(cause, ErrStopped):
		status, msg = catalog.RunTerminated, ErrStopped.Error()
	case errors.Is(cause, errShutdown):
		status, msg = catalog.RunFailed, errShutdown.Error()+"; RETRY RUN '"+rc.id+"' resumes it"
	case len(failed) > 0:
		status, msg = catalog.RunFailed, strings.Join(failed, "; ")
	case len(inconsistent) > 0:
		status, msg = catalog.RunDataInconsistent, "differences found in "+strings.Join(inconsistent, ", ")+"; see dataflow.run_diffs"
	case len(plan.Tasks) == 0:
		msg = "no tables to copy"
	}
	failedKeys, invalidKeys := rc.restoreKeys(ctx, keys)
	if len(failedKeys) > 0 && status == catalog.RunCompleted {
		status, msg = catalog.RunFailed, strings.Join(failedKeys, "; ")
	} else if len(failedKeys) > 0 {
		msg += "; " + strings.Join(failedKeys, "; ")
	}
	if len(invalidKeys) > 0 {
		msg += "; " + strings.Join(invalidKeys, "; ")
	}
	return status, msg
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
	var parts []catalog.Partition
	if pending(StageExport) || pending(StageImport) {
		if parts, err = tc.loadPartitions(ctx, pending(StageExport)); err != nil {
			msg := scrub(rc.src, err)
			cat.StartStage(bg, rc.id, t.ID, StageExport)
			cat.FinishStage(bg, rc.id, t.ID, StageExport, catalog.StageFailed, 0, 0, msg)
			return setTask(taskOutcome{catalog.RunFailed, StageExport + ": " + msg})
		}
		tc.parts = parts
	}
	if rc.opts["staging"] == "none" {
		if pending(StageExport) || pending(StageImport) {
			if err := tc.streamCopy(ctx, parts); err != nil {
				return setTask(failOutcome(ctx, err))
			}
		}
	} else if pending(StageExport) {
		// Files are imported as they are staged; an import failure leaves
		// the export running to the end so RETRY resumes at ImportTable.
		feed := newFileFeed()
		exported := make(chan error, 1)
		go func() { exported <- tc.export(ctx, feed, parts) }()
		ierr := tc.importFiles(ctx, feed, parts)
		eerr := <-exported
		if eerr != nil {
			return setTask(failOutcome(ctx, eerr))
		}
		if ierr != nil {
			return setTask(failOutcome(ctx, ierr))
		}
	} else if pending(StageImport) {
		if err := tc.importFiles(ctx, nil, parts); err != nil {
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
	parts    []catalog.Partition // this run's key ranges of the table
	// counted is the rows to export, when deriving the partitions just
	// counted them (-1: not counted); progress totals need no count then.
	counted int64
	// estimated is the source's estimate of its rows when the partitions
	// were cut without counting (0: none): the progress total until the
	// export's own count replaces it.
	estimated int64
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
	tc := &taskCtx{rc: rc, t: t, counted: -1}
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
	// Parents may load after children (parallel tasks and partitions,
	// cycles): targets that can skip the checks for a load do
	// (suspendKeys covers PostgreSQL).
	return data.ImportSpec{Schema: tc.t.TargetSchema, Table: tc.t.TargetTable, Columns: cols, TimeZone: tc.rc.opts["source_timezone"], Mark: mark,
		MarksSchema: tc.rc.opts["marks_schema"], NoForeignKeyChecks: true}
}

// stage tracks one running stage: counters, catalog heartbeats, progress
// reports, and the heartbeat_timeout watchdog.
type stage struct {
	tc      *taskCtx
	name    string
	attempt int64
	rows    atomic.Int64
	bytes   atomic.Int64
	// doneBytes are the bytes of finished partitions (staging = 'none').
	doneBytes atomic.Int64
	beats     atomic.Int64
	note      atomic.Pointer[string] // the completed stage's message // progress that is neither rows nor bytes (waiting on a moving export)
	total     atomic.Int64
	started   time.Time
	ctx       context.Context
	cancel    context.CancelCauseFunc
	stopOnce  sync.Once
	stopped   chan struct{}
	wg        sync.WaitGroup
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
		note := ""
		if p := s.note.Load(); p != nil {
			note = *p
		}
		if ferr := cat.FinishStage(bg, s.tc.rc.id, s.tc.t.ID, s.name, catalog.StageCompleted, rows, bytes, note); ferr != nil {
			return ferr
		}
		s.tc.settleTotal(bg, s.name, rows)
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

// settleTotal makes a completed copy stage's total the rows it copied: a
// total taken from an estimate (or a count the rows moved away from) is
// not left standing.
func (tc *taskCtx) settleTotal(ctx context.Context, stage string, rows int64) {
	if stage != StageExport && stage != StageImport {
		return
	}
	if err := tc.rc.e.cfg.Catalog.SetStageTotal(ctx, tc.rc.id, tc.t.ID, stage, rows); err != nil {
		tc.logger().Error("record stage total", "run", tc.rc.id, "task", tc.t.ID, "err", err)
	}
}

// countInBackground counts the rows to export for progress percentages
// while the export runs, so the count never delays it; a failed count only
// leaves the percentage out.
func (tc *taskCtx) countInBackground(ctx context.Context, spec data.ExportSpec, stages ...*stage) {
	go func() {
		n := tc.counted
		if n < 0 && tc.estimated > 0 {
			n = tc.estimated
		} else if n < 0 {
			var err error
			if n, err = tc.exporter.Count(ctx, spec); err != nil {
				return
			}
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

// importFile loads staged file f in one target transaction with mark id,
// counting into rows and bytes (rows taken back on failure).
func (tc *taskCtx) importFile(ctx context.Context, f catalog.ExportFile, id string, rows, bytesRead *atomic.Int64) (int64, error) {
	spec := tc.importSpec(&data.Marker{RunID: tc.rc.id, FileID: id})
	if enc, ok := tc.importer.(data.CSVEncoder); ok {
		if bspec, encode, ok := enc.CSVEncoding(spec); ok {
			var read atomic.Int64
			n, err := tc.importWith(ctx, f, func(r io.Reader) (int64, error) {
				return importEncoded(ctx, tc.importer, bspec, encode, &countingReader{r: r, n: &read, also: bytesRead})
			})
			if err == nil {
				rows.Add(n)
				tc.fileLoaded("binary")
				return n, nil
			}
			if isAlreadyImported(err) || ctx.Err() != nil {
				return n, err
			}
			// The load rolled back; the text goes in as it is, so that a
			// failure is always the database's word on the text.
			if !errors.Is(err, data.ErrNotEncodable) {
				tc.logger().Warn("loading a staged file in the target's own format failed; loading it as CSV",
					"run", tc.rc.id, "table", tc.t.TargetTable, "file", f.URI, "err", err)
			}
			bytesRead.Add(-read.Load())
		}
	}
	n, err := tc.importWith(ctx, f, func(r io.Reader) (int64, error) {
		return tc.importer.Import(ctx, spec, &countingReader{r: r, n: bytesRead})
	})
	if err == nil {
		rows.Add(n)
		tc.fileLoaded("csv")
	}
	return n, err
}

// fileLoaded counts a staged file loaded in format (the gateway's
// metrics; a Temporal worker, which runs without the engine, has none).
func (tc *taskCtx) fileLoaded(format string) {
	if tc.rc.e == nil {
		return
	}
	if m := tc.rc.e.cfg.Metrics; m != nil {
		m.fileLoaded(tc.rc.plan.Job, format)
	}
}

// logger is the engine's logger, or the process's on a Temporal worker
// (which runs shared code without the engine).
func (tc *taskCtx) logger() *slog.Logger {
	if tc.rc.e == nil {
		return slog.Default()
	}
	return tc.rc.e.cfg.Logger
}

// importWith opens staged file f as flowgate CSV for load.
func (tc *taskCtx) importWith(ctx context.Context, f catalog.ExportFile, load func(io.Reader) (int64, error)) (int64, error) {
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
	return load(dr)
}

// importEncoded streams csv, encoded on the way, into imp. When the
// encoding meets a value it cannot render exactly, the load is abandoned
// (its transaction rolls back) and the error is data.ErrNotEncodable.
func importEncoded(ctx context.Context, imp data.Importer, spec data.ImportSpec, encode func(io.Writer, io.Reader) (int64, error), csv io.Reader) (int64, error) {
	pr, pw := io.Pipe()
	encErr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, 256<<10)
		_, err := encode(bw, csv)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		encErr <- err
	}()
	n, err := imp.Import(ctx, spec, pr)
	pr.CloseWithError(errors.New("the import ended")) // stops an encoder the import left
	if eerr := <-encErr; errors.Is(eerr, data.ErrNotEncodable) {
		return 0, eerr
	}
	return n, err
}

type countingReader struct {
	r    io.Reader
	n    *atomic.Int64
	also *atomic.Int64 // counts too when set
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if c.also != nil {
		c.also.Add(int64(n))
	}
	return n, err
}

// PipeTable feeds an export into an import through a pipe: one target
// transaction, no files. rows and bytes count up what the export wrote
// (from where they stand: a caller may total several pipes); the
// import's row count is returned with both sides' errors.
func PipeTable(ectx, ictx context.Context, exp data.Exporter, es data.ExportSpec, imp data.Importer, is data.ImportSpec,
	rows, bytes *atomic.Int64) (imported int64, exportErr, importErr error) {
	rows0 := rows.Load()
	pr, pw := io.Pipe()
	// Drivers write a message (often one row) at a time; batching the
	// writes keeps the pipe and the target's COPY messages large.
	buf := bufio.NewWriterSize(pw, 256<<10)
	counter := &rowCounter{w: buf, rows: rows, bytes: bytes}
	if es.Binary {
		counter.bin = &pgBinaryCounter{}
	}
	expErr := make(chan error, 1)
	go func() {
		n, err := exp.Export(ectx, es, counter)
		if err == nil {
			err = buf.Flush()
		}
		if counted := rows.Load() - rows0; err == nil && n != counted {
			err = fmt.Errorf("exporter reported %d rows but %d were counted", n, counted)
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
	bin   *pgBinaryCounter // counts binary COPY tuples instead of CSV records
}

func (c *rowCounter) Write(p []byte) (int, error) {
	var n int64
	if c.bin != nil {
		var err error
		if n, err = c.bin.count(p); err != nil {
			return 0, err
		}
	} else {
		for i := c.scan.Next(p, 0); i >= 0; i = c.scan.Next(p, i) {
			n++
		}
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
