package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/scanner"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/window"
)

// applyChunk is the rows handed to the applier at once; without a
// pre-action each chunk commits with the watermark of its last row.
const applyChunk = 10000

// checkpointKey names a job's position in the target's checkpoint table.
func checkpointKey(job string) string { return "flowgate-scan:" + job }

// fullCopy is the position of a scan without INCREMENTAL ON.
const fullCopy = "full-copy"

// tableSide is a scan's source and target resolved for one run.
type tableSide struct {
	st, tt  schema.Table
	pairs   []batch.ColumnPair
	target  *cdc.TargetTable
	applier cdc.ChangeApplier
	spec    cdc.ApplySpec
	inc     *schema.Column // source incremental column
	incAt   int            // its position among the exported columns
}

func (r *run) resolveTables(ctx context.Context) (*tableSide, error) {
	p := r.plan
	ts := &tableSide{}
	var err error
	if ts.st, err = r.e.sourceTable(ctx, p, r.src); err != nil {
		return nil, err
	}
	if ts.tt, err = r.e.targetTable(ctx, p, r.dst); err != nil {
		return nil, err
	}
	if ts.pairs, err = batch.PairColumns(ts.st, ts.tt, p.Columns); err != nil {
		return nil, err
	}
	ts.target = &cdc.TargetTable{Table: cdc.TableRef{Schema: p.TargetSchema, Name: p.TargetTable}}
	for i, pr := range ts.pairs {
		ts.target.Columns = append(ts.target.Columns, pr.Dst)
		for _, k := range ts.tt.PrimaryKey {
			if pr.Dst.Name == k {
				ts.target.Key = append(ts.target.Key, i)
			}
		}
		if p.Incremental != "" && pr.Src.Name == p.Incremental {
			c := pr.Src
			ts.inc, ts.incAt = &c, i
		}
	}
	ts.applier, _ = connectors.As[cdc.ChangeApplier](r.dst.Conn)
	ts.spec = cdc.ApplySpec{Job: p.checkpointKey(), TimeZone: p.Options["source_timezone"]}
	return ts, nil
}

func (r *run) scanTable(ctx context.Context) error {
	p := r.plan
	ts, err := r.resolveTables(ctx)
	if err != nil {
		return err
	}
	if p.Incremental != "" && ts.inc == nil {
		// INCREMENTAL ON a column that is not moved: read it too.
		c, _ := ts.st.Column(p.Incremental)
		ts.inc, ts.incAt = c, -1
	}
	tz := p.Options["source_timezone"]
	var where []string
	if p.Where != "" {
		where = append(where, "("+window.ExpandWhere(p.Where, window.Vars{Window: p.window(), Table: p.SourceTable, Job: p.Job, RunID: r.id})+")")
	}
	wm, upper := "", ""
	if ts.inc != nil {
		src, _ := connectors.As[scanner.Source](r.src.Conn)
		if pos, ok, err := ts.applier.Checkpoint(ctx, ts.spec); err != nil {
			return fmt.Errorf("read the watermark from the target: %w", err)
		} else if ok && string(pos) != fullCopy {
			wm = string(pos)
		}
		u, ok, err := src.ScanUpper(ctx, p.SourceSchema, p.SourceTable, *ts.inc, delaySeconds(p), tz)
		if err != nil {
			return err
		}
		if !ok {
			u = wm // an empty table: nothing to read
		}
		upper = u
		col := src.ScanIdent(ts.inc.Name)
		if upper == "" {
			where = append(where, "1 = 0")
		} else if wm == "" {
			where = append(where, col+" <= "+src.ScanLiteral(*ts.inc, upper, tz))
		} else {
			where = append(where, col+" >= "+src.ScanLiteral(*ts.inc, wm, tz)+" AND "+col+" <= "+src.ScanLiteral(*ts.inc, upper, tz))
		}
	}
	spec := data.ExportSpec{Schema: p.SourceSchema, Table: p.SourceTable, Where: strings.Join(where, " AND "), TimeZone: tz}
	for _, pr := range ts.pairs {
		spec.Columns = append(spec.Columns, batch.ExportColumn(pr))
	}
	if ts.inc != nil {
		if ts.incAt < 0 {
			spec.Columns = append(spec.Columns, *ts.inc)
			ts.incAt = len(spec.Columns) - 1
		}
		spec.OrderBy = []string{ts.inc.Name}
	}

	// PreAction: in the scan's transaction where the target allows it.
	action := p.Options["pre_action"]
	oneTx := action == "truncate" || action == "rename_create"
	var tx cdc.ApplyTx
	if !oneTx {
		r.skip(ctx, StagePreAction, "pre_action = 'none'")
	} else {
		pre, err := r.begin(ctx, StagePreAction, p.TargetTable)
		if err != nil {
			return err
		}
		note, perr := r.preAction(ctx, ts, action, &tx)
		if err := pre.end(ctx, perr, note); err != nil {
			if tx != nil {
				tx.Rollback()
			}
			return err
		}
	}

	st, err := r.begin(ctx, StageScan, p.SourceTable)
	if err != nil {
		return err
	}
	exp, err := connectors.As[data.Exporter](r.src.Conn)
	if err != nil {
		return st.end(ctx, err, "")
	}
	pr, pw := io.Pipe()
	expDone := make(chan error, 1)
	go func() {
		_, err := exp.Export(ctx, spec, r.thr.writer(ctx, pw, &st.bytes))
		pw.CloseWithError(err)
		expDone <- err
	}()
	rd := data.NewReader(pr)
	// Rows read again past a watermark, or a whole table copied again
	// onto last fire's rows, mostly exist at the target: write them as
	// upserts at once. Into an emptied target, or on a first scan, they
	// go as plain inserts (the applier falls back to upserts on a key it
	// finds).
	op := cdc.Insert
	if !oneTx && (wm != "" || ts.inc == nil) {
		op = cdc.Update
	}
	var (
		chunk   []cdc.MappedChange
		last    string // the largest incremental value read
		pending int64
	)
	commit := func(final bool) error {
		if tx == nil {
			if len(chunk) == 0 && !final {
				return nil
			}
			var err error
			if tx, err = ts.applier.Begin(ctx, ts.spec); err != nil {
				return err
			}
		}
		if len(chunk) > 0 {
			if err := tx.Apply(ctx, chunk); err != nil {
				return err
			}
			chunk = chunk[:0]
		}
		if oneTx && !final {
			return nil
		}
		pos := fullCopy
		if ts.inc != nil {
			pos = last
			if pos == "" {
				pos = wm
			}
		}
		if pos == "" && oneTx {
			pos = fullCopy
		}
		if pos == "" {
			// Nothing read yet and no watermark: nothing to record.
			err := tx.Rollback()
			tx = nil
			return err
		}
		err := tx.Commit(ctx, cdc.Position(pos))
		tx = nil
		if err != nil {
			return err
		}
		st.rows.Add(pending)
		pending = 0
		if ts.inc != nil {
			r.rec.SetWatermark(context.WithoutCancel(ctx), p.Job, r.id, catalog.Watermark{SourceTable: qualify(p.SourceSchema, p.SourceTable), Column: ts.inc.Name, Value: pos, Rows: st.rows.Load()})
		}
		return nil
	}
	// Without a pre-action (one transaction) rows go over import_parallel
	// transactions at once; SQLite has one writer at a time.
	var ln *lanes
	if n := runoptsInt(p.Options, "import_parallel"); !oneTx && n > 1 && r.dst.Type != "sqlite" {
		prev := wm
		if ts.inc == nil {
			prev = fullCopy
		}
		ln = newLanes(ts, int(n), prev, func(pos string, rows int64) {
			st.rows.Add(rows)
			if ts.inc != nil {
				r.rec.SetWatermark(context.WithoutCancel(ctx), p.Job, r.id, catalog.Watermark{SourceTable: qualify(p.SourceSchema, p.SourceTable), Column: ts.inc.Name, Value: pos, Rows: st.rows.Load()})
			}
		})
	}
	lanePos := func() string {
		if ts.inc == nil {
			return fullCopy
		}
		if last == "" {
			return wm
		}
		return last
	}
	var serr error
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			serr = err
			break
		}
		if ts.inc != nil && rec[ts.incAt] != nil {
			last = string(rec[ts.incAt])
		}
		// The reader reuses rec; the row's values are copied into one
		// buffer of their own (two allocations a row, not one a value).
		size := 0
		for i := range ts.pairs {
			size += len(rec[i])
		}
		buf := make([]byte, 0, size)
		vals := make([][]byte, len(ts.pairs))
		for i := range ts.pairs {
			if rec[i] != nil {
				start := len(buf)
				buf = append(buf, rec[i]...)
				vals[i] = buf[start:len(buf):len(buf)]
			}
		}
		c := cdc.MappedChange{Target: ts.target, Op: op, New: cdc.Row{Values: vals}}
		if ln != nil {
			ln.add(c)
			if ln.full() {
				if serr = ln.flush(ctx, lanePos()); serr != nil {
					break
				}
			}
			continue
		}
		chunk = append(chunk, c)
		pending++
		if len(chunk) >= applyChunk {
			if serr = commit(false); serr != nil {
				break
			}
		}
	}
	pr.CloseWithError(errors.New("scan ended"))
	eerr := <-expDone
	if serr == nil && eerr != nil {
		serr = eerr
	}
	switch {
	case ln != nil && serr == nil:
		if pos := lanePos(); pos != "" {
			serr = ln.flush(ctx, pos)
		}
		serr = errors.Join(serr, ln.wait())
	case ln != nil:
		ln.wait()
	case serr == nil:
		serr = commit(true)
	}
	if tx != nil {
		tx.Rollback()
		if oneTx && serr != nil {
			r.rec.FinishStage(context.WithoutCancel(ctx), r.id, r.task, StagePreAction, catalog.StageFailed, 0, 0, "rolled back with ScanTable")
		}
	}
	if serr != nil {
		return st.end(ctx, serr, "")
	}
	msg := fmt.Sprintf("%d rows upserted", st.rows.Load())
	if ts.inc != nil {
		if wm == "" {
			msg += fmt.Sprintf(", %s <= %s", ts.inc.Name, upper)
		} else {
			msg += fmt.Sprintf(", %s from %s to %s", ts.inc.Name, wm, upper)
		}
		if last == "" && wm == "" {
			// The first scan found nothing: keep no watermark.
			r.rec.SetWatermark(context.WithoutCancel(ctx), p.Job, r.id, catalog.Watermark{SourceTable: qualify(p.SourceSchema, p.SourceTable), Column: ts.inc.Name, Rows: 0})
		} else if st.rows.Load() == 0 {
			r.rec.SetWatermark(context.WithoutCancel(ctx), p.Job, r.id, catalog.Watermark{SourceTable: qualify(p.SourceSchema, p.SourceTable), Column: ts.inc.Name, Value: wm, Rows: 0})
		}
	}
	if err := st.end(ctx, nil, msg); err != nil {
		return err
	}
	r.operation(ctx, r.src, qualify(p.SourceSchema, p.SourceTable), "export", st)
	r.operation(ctx, r.dst, qualify(p.TargetSchema, p.TargetTable), "import", st)
	r.msg = msg
	return r.verify(ctx, ts, spec.Where, wm, upper)
}

func delaySeconds(p *Plan) time.Duration {
	return time.Duration(runoptsInt(p.Options, "scan_delay")) * time.Second
}

// nowStamp is the archive suffix: yyyymmddhhmmss, UTC.
func nowStamp() string { return time.Now().UTC().Format("20060102150405") }

// archiveName is <table>_arc_<yyyymmddhhmmss>, with _2, _3 ... after it
// when a run of the same second took that name already.
func (r *run) archiveName(ctx context.Context, ref cdc.TableRef) (string, error) {
	base := fmt.Sprintf("%s_arc_%s", ref.Name, nowStamp())
	in, err := connectors.As[schema.Introspector](r.dst.Conn)
	if err != nil {
		return base, nil
	}
	for i := 1; i <= 100; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		_, err := in.DescribeTables(ctx, ref.Schema, []string{name})
		if errors.Is(err, schema.ErrTableNotFound) {
			return name, nil
		}
		if err != nil {
			return "", fmt.Errorf("pre_action rename_create: look for %s: %w", name, err)
		}
	}
	return "", fmt.Errorf("pre_action rename_create: %s and 99 more archive names are taken", base)
}

// preAction runs pre_action; truncate and (PostgreSQL, SQLite)
// rename_create open the scan's transaction in *tx.
func (r *run) preAction(ctx context.Context, ts *tableSide, action string, tx *cdc.ApplyTx) (string, error) {
	t, err := ts.applier.Begin(ctx, ts.spec)
	if err != nil {
		return "", err
	}
	acts, ok := t.(scanner.TxActions)
	if !ok {
		t.Rollback()
		return "", fmt.Errorf("datasource %q of type %s cannot run pre_action %s", r.dst.Name, r.dst.Type, action)
	}
	ref := ts.target.Table
	if action == "truncate" {
		if err := acts.EmptyTable(ctx, ref); err != nil {
			t.Rollback()
			return "", err
		}
		*tx = t
		return "target emptied in the scan's transaction (readers see the old rows until it commits)", nil
	}
	archive, err := r.archiveName(ctx, ref)
	if err != nil {
		t.Rollback()
		return "", err
	}
	atomic, err := acts.RenameCreate(ctx, ref, archive)
	if err != nil {
		t.Rollback()
		return "", err
	}
	*tx = t
	if atomic {
		return fmt.Sprintf("renamed to %s and created again, in the scan's transaction", archive), nil
	}
	return fmt.Sprintf("renamed to %s and created again (RENAME TABLE swapped both in one step)", archive), nil
}
