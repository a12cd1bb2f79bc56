package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/internal/tick"
)

// workers runs fn for each item, n at a time, stopping at the first
// error (which cancels ctx for the others through fail).
func workers[T any](ctx context.Context, n int, items []T, fn func(T) error, fail func(error)) {
	work := make(chan T)
	var wg sync.WaitGroup
	for range max(1, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if ctx.Err() != nil {
					continue
				}
				if err := fn(it); err != nil {
					fail(err)
				}
			}
		}()
	}
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
}

// done tells whether a partition's rows are in the target: the catalog
// says so, or the target holds its mark.
func partitionDone(p catalog.Partition, marked map[string]bool, task int64) bool {
	return p.Imported || marked[partitionID(task, p.Seq)]
}

// export stages every partition that is neither imported nor staged yet,
// parallel_export at once, one file per partition, telling feed (when
// set) about each file. Partitions done before (an earlier attempt) only
// count.
func (tc *taskCtx) export(ctx context.Context, feed *fileFeed, parts []catalog.Partition) (err error) {
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
	bg := context.WithoutCancel(ctx)
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
	files, err := cat.ExportFiles(bg, tc.rc.id, tc.t.ID)
	if err != nil {
		return st.end(ctx, err)
	}
	staged := map[int64]catalog.ExportFile{}
	for _, f := range files {
		if f.State == "present" || f.Imported {
			staged[f.Seq] = f
		}
	}
	marked, err := tc.importedMarks(sctx)
	if err != nil {
		return st.end(ctx, err)
	}
	var todo []catalog.Partition
	for _, p := range parts {
		f, ok := staged[p.Seq]
		switch {
		case ok:
			st.rows.Add(f.Rows)
			st.bytes.Add(f.Bytes)
		case partitionDone(p, marked, tc.t.ID):
			st.rows.Add(p.Rows)
		default:
			todo = append(todo, p)
		}
	}
	snap, release, err := tc.snapshot(sctx, len(todo))
	if err != nil {
		return st.end(ctx, err)
	}
	defer release()
	var (
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; st.cancel(err) })
	}
	one := func(p catalog.Partition) error {
		f, err := tc.stagePartition(sctx, p, snap, &st.rows)
		if err == nil {
			if err = cat.AddExportFile(bg, tc.rc.id, f); err != nil {
				st.rows.Add(-f.Rows)
				err = fmt.Errorf("partition %d: %w", p.Seq, err)
			}
		}
		if err != nil {
			return err
		}
		st.bytes.Add(f.Bytes)
		if feed != nil {
			feed.signal()
		}
		return nil
	}
	workers(sctx, int(tc.rc.opts.Int("parallel_export")), todo, one, fail)
	st.setNote(partitionNote("exported", len(todo), len(parts), parts))
	err = firstErr
	if err == nil && sctx.Err() != nil {
		err = context.Cause(sctx)
	}
	if err == nil {
		tc.rc.operation(ctx, tc, "export", st)
	}
	return st.end(ctx, err)
}

// stagePartition exports partition p into one staged file of the run's
// store, counting its rows into rows as they go (taken back on failure).
// The file is not in the catalog yet.
func (tc *taskCtx) stagePartition(ctx context.Context, p catalog.Partition, snap string, rows *atomic.Int64) (catalog.ExportFile, error) {
	compression := tc.rc.opts["compression"]
	asParquet := tc.rc.opts["batch_file_format"] == "parquet"
	suffix := fileSuffix(compression)
	if asParquet {
		suffix = ".parquet"
	}
	var buf bytes.Buffer
	lc := &liveCounter{w: &buf, stageRows: rows}
	n, err := tc.exporter.Export(ctx, tc.partitionSpec(p, snap), lc)
	if err == nil && n != lc.rows {
		err = fmt.Errorf("exporter reported %d rows but %d were written", n, lc.rows)
	}
	if err != nil {
		lc.undo()
		return catalog.ExportFile{}, fmt.Errorf("partition %d: %w", p.Seq, err)
	}
	var packed []byte
	if asParquet {
		cols := make([]string, len(tc.pairs))
		for i, p := range tc.pairs {
			cols[i] = p.Src.Name
		}
		packed, err = csvToParquet(buf.Bytes(), cols, compression)
	} else {
		packed, err = compress(compression, buf.Bytes())
	}
	if err != nil {
		lc.undo()
		return catalog.ExportFile{}, fmt.Errorf("partition %d: compress: %w", p.Seq, err)
	}
	buf = bytes.Buffer{}
	uri, err := tc.rc.store.put(ctx, partitionFileName(tc.rc.plan.Job, tc.rc.id, tc.t.ID, p.Seq, suffix), packed)
	if err != nil {
		lc.undo()
		return catalog.ExportFile{}, fmt.Errorf("partition %d: %w", p.Seq, err)
	}
	return catalog.ExportFile{TaskID: tc.t.ID, Seq: p.Seq, URI: uri, Rows: n, Bytes: int64(len(packed))}, nil
}

// importFiles loads every staged partition not yet in the target. Each
// file is one target transaction that also writes its partition's mark;
// the catalog is updated after the commit, and a crash in between is
// settled by the mark. With feed, files are taken as the running export
// stages them; with import_order_by they load one at a time in key order.
// parts is nil for a run staged before partitions existed: its files are
// loaded as they are, each marked by its name.
func (tc *taskCtx) importFiles(ctx context.Context, feed *fileFeed, parts []catalog.Partition) error {
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
	marked, err := tc.importedMarks(sctx)
	if err != nil {
		return st.end(ctx, err)
	}
	// What must load: each partition not in the target yet (or, for an
	// old run, each file).
	var needOrder []int64
	anyImported := false
	if parts != nil {
		for _, p := range parts {
			if partitionDone(p, marked, tc.t.ID) {
				anyImported = true
				st.rows.Add(p.Rows)
				if !p.Imported {
					// Committed in the target, not yet in the catalog.
					if err := tc.settlePartition(bg, p.Seq, files); err != nil {
						return st.end(ctx, err)
					}
				}
				continue
			}
			needOrder = append(needOrder, p.Seq)
		}
	} else {
		for _, f := range files {
			if f.Imported || marked[markID(f)] {
				anyImported = true
				st.rows.Add(f.Rows)
				if !f.Imported {
					if err := cat.MarkFileImported(bg, tc.rc.id, tc.t.ID, f.Seq); err != nil {
						return st.end(ctx, err)
					}
				}
				continue
			}
			needOrder = append(needOrder, f.Seq)
		}
	}
	if !anyImported && tc.rc.opts.Bool("enable_pk_duplicate_detect") {
		if err := tc.detectDuplicates(sctx); err != nil {
			return st.end(ctx, err)
		}
	}
	// Files load import_parallel at a time (in key order, one at a time,
	// when import_order_by asks for sorted loading).
	nworkers := max(1, int(tc.rc.opts.Int("import_parallel")))
	ordered := len(splitList(tc.rc.opts["import_order_by"])) > 0
	if ordered {
		nworkers = 1
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
	for range nworkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if sctx.Err() != nil {
					continue
				}
				if err := tc.importOne(sctx, st, f, parts != nil); err != nil {
					fail(err)
				}
			}
		}()
	}
	dispatch := func() error {
		defer func() { close(work); wg.Wait() }()
		sent := map[int64]bool{}
		var lastExportRows int64
		for {
			if feed != nil {
				if files, err = cat.ExportFiles(bg, tc.rc.id, tc.t.ID); err != nil {
					return err
				}
			}
			bySeq := map[int64]catalog.ExportFile{}
			for _, f := range files {
				bySeq[f.Seq] = f
			}
			for _, seq := range needOrder {
				if sent[seq] {
					continue
				}
				f, ok := bySeq[seq]
				if !ok {
					if ordered {
						break // seq k+1 waits for k
					}
					continue
				}
				if f.State != "present" {
					return fmt.Errorf("staged file %s was deleted before it was imported; retry from ExportTable", f.URI)
				}
				select {
				case work <- f:
					sent[seq] = true
				case <-sctx.Done():
					return context.Cause(sctx)
				}
			}
			if len(sent) == len(needOrder) {
				return nil
			}
			if feed == nil {
				for _, seq := range needOrder {
					if !sent[seq] {
						return fmt.Errorf("partition %d has no staged file; retry from ExportTable", seq)
					}
				}
				return nil
			}
			if feed.failed.Load() {
				return errors.New("stopped: ExportTable failed")
			}
			if feed.done.Load() {
				// The export recorded every file before saying done; one
				// more pass picks up the last ones, then nothing is missing.
				if files, err = cat.ExportFiles(bg, tc.rc.id, tc.t.ID); err != nil {
					return err
				}
				if ex := feed.export.Load(); ex != nil && ex.total.Load() > 0 {
					st.total.Store(ex.total.Load())
				}
				feed = nil
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
	if parts != nil {
		st.setNote(partitionNote("imported", len(needOrder), len(parts), parts))
	}
	if err == nil && st.total.Load() == 0 {
		st.total.Store(st.rows.Load()) // every row is in: the total is what loaded
	}
	if err != nil {
		return st.end(ctx, err)
	}
	tc.rc.operation(ctx, tc, "import", st)
	return st.end(ctx, nil)
}

// settlePartition records in the catalog a partition whose mark is in the
// target (its rows committed, the process ended before the catalog knew).
func (tc *taskCtx) settlePartition(ctx context.Context, seq int64, files []catalog.ExportFile) error {
	cat := tc.rc.e.cfg.Catalog
	var rows int64
	for _, f := range files {
		if f.Seq == seq {
			rows = f.Rows
			if !f.Imported {
				if err := cat.MarkFileImported(ctx, tc.rc.id, tc.t.ID, f.Seq); err != nil {
					return err
				}
			}
		}
	}
	return cat.MarkPartitionImported(ctx, tc.rc.id, tc.t.ID, seq, rows)
}

// importOne imports one staged file with its partition's mark.
func (tc *taskCtx) importOne(ctx context.Context, st *stage, f catalog.ExportFile, partitioned bool) error {
	cat := tc.rc.e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	id := markID(f)
	n, err := tc.importFile(ctx, f, id, &st.rows, &st.bytes)
	if isAlreadyImported(err) {
		// Another attempt committed it after the marks were read.
		n, err = f.Rows, nil
		st.rows.Add(n)
	}
	if err != nil {
		return fmt.Errorf("file %s: %w", f.URI, err)
	}
	if n != f.Rows {
		return fmt.Errorf("file %s: imported %d rows, exported %d", f.URI, n, f.Rows)
	}
	if err := cat.MarkFileImported(bg, tc.rc.id, tc.t.ID, f.Seq); err != nil {
		return err
	}
	if partitioned {
		if err := cat.MarkPartitionImported(bg, tc.rc.id, tc.t.ID, f.Seq, n); err != nil {
			return err
		}
	}
	if tc.rc.opts.Bool("verbose") {
		tc.rc.watch.report(Progress{RunID: tc.rc.id, TaskID: tc.t.ID, Table: tc.t.SourceTable, Stage: StageImport, Rows: st.rows.Load(), Total: st.total.Load(),
			Message: fmt.Sprintf("imported %s (%d rows)", id, n)})
	}
	return nil
}

// streamCopy is staging = 'none': each partition's export feeds its import
// through a pipe, one target transaction per partition with its mark,
// parallel_export partitions at once. Partitions marked before are
// skipped, so a RETRY continues where the run stopped.
func (tc *taskCtx) streamCopy(ctx context.Context, parts []catalog.Partition) error {
	cat := tc.rc.e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	spec := tc.exportSpec()
	est, ectx, err := tc.startStage(ctx, StageExport, 0)
	if err != nil {
		return err
	}
	ist, ictx, err := tc.startStage(ectx, StageImport, 0)
	if err != nil {
		return est.end(ctx, err)
	}
	endBoth := func(ierr, eerr error) error {
		errI := ist.end(ctx, ierr)
		errE := est.end(ctx, eerr)
		if errI != nil {
			return errI
		}
		return errE
	}
	tc.countInBackground(ectx, spec, est, ist)
	marked, err := tc.importedMarks(ictx)
	if err != nil {
		return endBoth(err, errors.New("not started: the import could not read its marks"))
	}
	var (
		todo     []catalog.Partition
		doneRows atomic.Int64
		anyDone  bool
	)
	for _, p := range parts {
		if partitionDone(p, marked, tc.t.ID) {
			anyDone = true
			doneRows.Add(p.Rows)
			if !p.Imported {
				if err := cat.MarkPartitionImported(bg, tc.rc.id, tc.t.ID, p.Seq, 0); err != nil {
					return endBoth(err, err)
				}
			}
			continue
		}
		todo = append(todo, p)
	}
	if !anyDone && tc.rc.opts.Bool("enable_pk_duplicate_detect") {
		if err := tc.detectDuplicates(ictx); err != nil {
			return endBoth(err, errors.New("not started: the import found duplicate keys"))
		}
	}
	snap, release, err := tc.snapshot(ectx, len(todo))
	if err != nil {
		return endBoth(errors.New("not started: the export failed"), err)
	}
	defer release()
	// Progress: rows of finished partitions plus the live counts of the
	// running ones; the importer's own count arrives at each commit.
	var (
		mu   sync.Mutex
		live = map[int64]*[2]atomic.Int64{}
	)
	refresh := func() {
		mu.Lock()
		r, b := doneRows.Load(), int64(0)
		for _, c := range live {
			r += c[0].Load()
			b += c[1].Load()
		}
		mu.Unlock()
		est.rows.Store(r)
		ist.rows.Store(r)
		if b > 0 {
			est.bytes.Store(est.doneBytes.Load() + b)
			ist.bytes.Store(est.bytes.Load())
		}
	}
	refresh()
	stopRefresh := tick.Every(context.Background(), 500*time.Millisecond, refresh)
	var (
		errOnce      sync.Once
		eFirst, iErr error
	)
	fail := func(which string, err error) {
		errOnce.Do(func() {
			if which == "export" {
				eFirst = err
			} else {
				iErr = err
			}
			est.cancel(err)
		})
	}
	one := func(p catalog.Partition) error {
		c := new([2]atomic.Int64)
		mu.Lock()
		live[p.Seq] = c
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(live, p.Seq)
			mu.Unlock()
		}()
		es, is := tc.streamSpecs(p, snap)
		n, eerr, ierr := PipeTable(ectx, ictx, tc.exporter, es, tc.importer, is, &c[0], &c[1])
		if isAlreadyImported(ierr) {
			// Committed by another attempt after the marks were read.
			ierr, eerr, n = nil, nil, c[0].Load()
		}
		switch {
		case ierr != nil && eerr != nil && !errors.Is(eerr, io.ErrClosedPipe):
			fail("export", fmt.Errorf("partition %d: %w", p.Seq, eerr)) // the export's failure is the root cause
			return nil
		case ierr != nil:
			fail("import", fmt.Errorf("partition %d: %w", p.Seq, ierr))
			return nil
		case eerr != nil:
			fail("export", fmt.Errorf("partition %d: %w", p.Seq, eerr))
			return nil
		}
		if err := cat.MarkPartitionImported(bg, tc.rc.id, tc.t.ID, p.Seq, n); err != nil {
			fail("import", err)
			return nil
		}
		doneRows.Add(n)
		est.doneBytes.Add(c[1].Load())
		return nil
	}
	workers(ectx, int(tc.rc.opts.Int("parallel_export")), todo, one, func(err error) { fail("import", err) })
	stopRefresh()
	est.setNote(partitionNote("exported", len(todo), len(parts), parts))
	ist.setNote(partitionNote("imported", len(todo), len(parts), parts))
	refresh()
	ierr, eerr := iErr, eFirst
	if ierr == nil && eerr == nil && ectx.Err() != nil {
		ierr = context.Cause(ectx)
		eerr = ierr
	}
	switch {
	case eerr != nil && ierr == nil:
		ierr = fmt.Errorf("export failed: %w", eerr)
	case ierr != nil && eerr == nil:
		eerr = errors.New("stopped because the import failed")
	}
	if ierr == nil {
		tc.rc.operation(ctx, tc, "export", est)
		tc.rc.operation(ctx, tc, "import", ist)
	}
	return endBoth(ierr, eerr)
}

func (s *stage) setNote(n string) { s.note.Store(&n) }

// partitionNote says how much of the table a stage moved in this attempt,
// e.g. "exported 11 of 20 partitions (9 were done before)".
func partitionNote(verb string, did, of int, parts []catalog.Partition) string {
	if of == 1 && len(parts) == 1 {
		if parts[0].Note != "" {
			return verb + " as one stream: " + parts[0].Note
		}
		if did == 1 {
			return "" // a small table: nothing to say
		}
	}
	n := fmt.Sprintf("%s %d of %d partitions", verb, did, of)
	if did < of {
		n += fmt.Sprintf(" (%d were done before)", of-did)
	}
	return n
}
