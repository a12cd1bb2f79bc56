package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/fileformat"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/window"
)

// objectName is the export's name for this run: OBJECT with its variables
// filled in.
func (r *run) objectName() string {
	p := r.plan
	return window.ExpandName(p.Object, window.Vars{Window: p.window(), Table: p.SourceTable, Job: p.Job, RunID: r.id})
}

// partName names part n (1-based) of an export: name_0001.csv; with
// write_mode append the run id comes first, so a run never overwrites
// another's parts.
func (r *run) partName(name string, n int, o fileformat.Options) string {
	if r.plan.Options["write_mode"] == "append" {
		return fmt.Sprintf("%s_%s_%04d%s", name, r.id, n, o.Suffix())
	}
	return fmt.Sprintf("%s_%04d%s", name, n, o.Suffix())
}

// export writes the source table's rows in the window to objects.
func (r *run) export(ctx context.Context) error {
	p := r.plan
	cat := r.rec
	bg := context.WithoutCancel(ctx)
	store, err := storeOf(r.dst, r.e.cfg.StagingDir)
	if err != nil {
		return err
	}
	o, err := FileOptions(p.Options, p.Given, "")
	if err != nil {
		return err
	}
	name := r.objectName()

	// PreAction: a RETRY first removes what earlier attempts of this run
	// wrote, so the objects end as one clean run leaves them; then
	// write_mode.
	pre, err := r.begin(ctx, StagePreAction, name)
	if err != nil {
		return err
	}
	note, err := r.prepareObjects(ctx, store, name)
	if err := pre.end(ctx, err, note); err != nil {
		return err
	}

	st, err := r.begin(ctx, StageExport, p.SourceTable)
	if err != nil {
		return err
	}
	n, err := r.writeObjects(ctx, st, store, name, o)
	if err != nil {
		return st.end(ctx, err, "")
	}
	msg := fmt.Sprintf("%d rows in %d objects under %s (window %s to %s)", st.rows.Load(), n, store.uri(name),
		p.WindowStart.Format("2006-01-02 15:04:05"), p.WindowEnd.Format("2006-01-02 15:04:05"))
	if bad, _ := cat.CountRunErrors(bg, r.id); bad > 0 {
		msg += fmt.Sprintf("; %d bad records skipped (dataflow.run_errors)", bad)
	}
	if err := st.end(ctx, nil, msg); err != nil {
		return err
	}
	r.operation(ctx, r.src, qualify(p.SourceSchema, p.SourceTable), "export", st)
	r.operation(ctx, r.dst, name, "import", st)
	r.msg = msg
	return nil
}

func (r *run) prepareObjects(ctx context.Context, store objStore, name string) (string, error) {
	cat := r.rec
	bg := context.WithoutCancel(ctx)
	var notes []string
	if files, err := cat.ExportFiles(bg, r.id, 1); err != nil {
		return "", err
	} else if len(files) > 0 {
		for _, f := range files {
			if k, ok := store.keyOf(f.URI); ok && f.State == "present" {
				if err := store.remove(ctx, k); err != nil {
					return "", err
				}
			}
		}
		if err := cat.ClearExportFiles(bg, r.id, 1); err != nil {
			return "", err
		}
		notes = append(notes, fmt.Sprintf("removed %d objects of an earlier attempt", len(files)))
	}
	if n, err := store.cleanTemp(ctx, name); err != nil {
		return "", err
	} else if n > 0 {
		notes = append(notes, fmt.Sprintf("removed %d half-written temporary files", n))
	}
	existing, err := store.list(ctx, name)
	if err != nil {
		return "", err
	}
	switch mode := r.plan.Options["write_mode"]; mode {
	case "truncate":
		for _, ob := range existing {
			if err := store.remove(ctx, ob.Key); err != nil {
				return "", err
			}
		}
		notes = append(notes, fmt.Sprintf("write_mode truncate: deleted %d objects named %s*", len(existing), name))
	case "nonconflict":
		if len(existing) > 0 {
			return "", &batch.PlanError{Code: "58P02", Message: fmt.Sprintf("write_mode nonconflict: object %s already exists (%d objects named %s*)", store.uri(existing[0].Key), len(existing), name),
				Hint: "Remove them, or use write_mode 'truncate' (replace) or 'append' (add parts)."}
		}
		notes = append(notes, "write_mode nonconflict: no object named "+name+"*")
	default:
		notes = append(notes, fmt.Sprintf("write_mode append: %d objects named %s* kept", len(existing), name))
	}
	return strings.Join(notes, "; "), nil
}

// writeObjects streams the export into parts of export_batch_rows rows.
func (r *run) writeObjects(ctx context.Context, st *stage, store objStore, name string, o fileformat.Options) (int, error) {
	p := r.plan
	cat := r.rec
	bg := context.WithoutCancel(ctx)
	src, err := r.e.sourceTable(ctx, p, r.src)
	if err != nil {
		return 0, err
	}
	var cols []fileformat.Column
	spec := data.ExportSpec{Schema: p.SourceSchema, Table: p.SourceTable, TimeZone: p.Options["source_timezone"]}
	if len(p.Columns) == 0 {
		for _, c := range src.Columns {
			spec.Columns = append(spec.Columns, c)
			cols = append(cols, fileformat.Column{Name: c.Name, Type: c.Type})
		}
	} else {
		for _, m := range p.Columns {
			c, ok := src.Column(m.Source)
			if !ok {
				return 0, fmt.Errorf("column %q does not exist in source table %s", m.Source, src.Name)
			}
			spec.Columns = append(spec.Columns, *c)
			cols = append(cols, fileformat.Column{Name: m.Target, Type: c.Type})
		}
	}
	if p.Where != "" {
		spec.Where = window.ExpandWhere(p.Where, window.Vars{Window: p.window(), Table: p.SourceTable, Job: p.Job, RunID: r.id})
	}
	exp, err := connectors.As[data.Exporter](r.src.Conn)
	if err != nil {
		return 0, err
	}
	// The total is for progress only: counted beside the export, never
	// before it.
	countCtx, stopCount := context.WithCancel(ctx)
	defer stopCount()
	go func() {
		if n, err := exp.Count(countCtx, spec); err == nil {
			st.total.Store(n)
			cat.SetStageTotal(bg, r.id, 1, StageExport, n)
		}
	}()
	per := runoptsInt(p.Options, "export_batch_rows")
	if fileformat.IsCanonical(o) {
		return r.writeCanonical(ctx, st, store, name, o, exp, spec, per)
	}
	pr, pw := io.Pipe()
	var read = &st.bytes
	read.Store(0)
	expDone := make(chan error, 1)
	go func() {
		_, err := exp.Export(ctx, spec, r.thr.writer(ctx, pw, nil))
		pw.CloseWithError(err)
		expDone <- err
	}()
	defer pr.CloseWithError(errors.New("export ended"))
	rd := data.NewReader(pr)
	var (
		ow     objWriter
		fw     fileformat.RecordWriter
		parts  int
		inPart int64
		size   int64
	)
	closePart := func() error {
		if fw == nil {
			return nil
		}
		if err := fw.Close(); err != nil {
			ow.Abort()
			return err
		}
		uri, n, err := ow.Commit(ctx)
		fw, ow = nil, nil
		if err != nil {
			return err
		}
		size += n
		st.bytes.Store(size)
		return cat.AddExportFile(bg, r.id, catalog.ExportFile{TaskID: 1, Seq: int64(parts), URI: uri, Rows: inPart, Bytes: n})
	}
	abort := func() {
		if ow != nil {
			ow.Abort()
		}
	}
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			abort()
			return parts, err
		}
		if fw == nil {
			parts++
			inPart = 0
			if ow, err = store.create(ctx, r.partName(name, parts, o)); err != nil {
				return parts, err
			}
			if fw, err = fileformat.NewWriter(ow, cols, o); err != nil {
				abort()
				return parts, err
			}
		}
		if err := fw.Write(rec); err != nil {
			var br *fileformat.BadRecord
			if errors.As(err, &br) {
				br.Position = fmt.Sprintf("%s row %d", qualify(p.SourceSchema, p.SourceTable), st.rows.Load()+int64(bad(r))+1)
				if err := r.bad.add(ctx, br); err != nil {
					abort()
					return parts, err
				}
				continue
			}
			abort()
			return parts, err
		}
		inPart++
		st.rows.Add(1)
		if inPart >= per {
			if err := closePart(); err != nil {
				return parts, err
			}
		}
	}
	if err := <-expDone; err != nil {
		abort()
		return parts, err
	}
	if err := closePart(); err != nil {
		return parts, err
	}
	return parts, nil
}

// bad is how many bad records the run kept so far.
func bad(r *run) int64 {
	n, _ := r.rec.CountRunErrors(context.Background(), r.id)
	return n
}

// RemoveFiles deletes an export run's objects that are still present
// (CLEAN EXPORT FILES) and returns how many went and where.
func (e *Engine) RemoveFiles(ctx context.Context, runID string, p *Plan) (int64, string, error) {
	if p.Kind != KindExport {
		return 0, "", &batch.PlanError{Code: "55000", Message: fmt.Sprintf("run %s wrote no export files", runID)}
	}
	ep, err := e.cfg.Open(ctx, p.Target)
	if err != nil {
		return 0, p.Target, err
	}
	defer ep.Close()
	store, err := storeOf(ep, e.cfg.StagingDir)
	if err != nil {
		return 0, p.Target, err
	}
	files, err := e.cfg.Catalog.ExportFiles(ctx, runID, -1)
	if err != nil {
		return 0, p.Target, err
	}
	var n int64
	for _, f := range files {
		if f.State != "present" {
			continue
		}
		if k, ok := store.keyOf(f.URI); ok {
			if err := store.remove(ctx, k); err != nil {
				return n, p.Target, err
			}
		}
		if err := e.cfg.Catalog.SetFileState(context.WithoutCancel(ctx), runID, f.TaskID, f.Seq, "deleted"); err != nil {
			return n, p.Target, err
		}
		n++
	}
	return n, "datasource " + p.Target, nil
}

// writeCanonical copies the exporter's flowgate CSV through when the
// files are in exactly that form (fileformat.IsCanonical): no record is
// parsed, parts are cut at record boundaries.
func (r *run) writeCanonical(ctx context.Context, st *stage, store objStore, name string, o fileformat.Options, exp data.Exporter, spec data.ExportSpec, per int64) (int, error) {
	cat := r.rec
	bg := context.WithoutCancel(ctx)
	var (
		ow    objWriter
		bw    *bufio.Writer
		parts int
		size  int64
	)
	sw := &data.SplitWriter{
		N: per,
		Open: func(seq int) (io.WriteCloser, error) {
			var err error
			if ow, err = store.create(ctx, r.partName(name, seq+1, o)); err != nil {
				return nil, err
			}
			parts = seq + 1
			bw = bufio.NewWriterSize(ow, 256<<10)
			return flushCloser{bw}, nil
		},
		Done: func(seq int, records, n int64) error {
			uri, sz, err := ow.Commit(ctx)
			ow = nil
			if err != nil {
				return err
			}
			size += sz
			st.bytes.Store(size)
			st.rows.Add(records)
			return cat.AddExportFile(bg, r.id, catalog.ExportFile{TaskID: 1, Seq: int64(seq + 1), URI: uri, Rows: records, Bytes: sz})
		},
	}
	_, err := exp.Export(ctx, spec, r.thr.writer(ctx, sw, nil))
	if err == nil {
		err = sw.Close()
	}
	if err != nil && ow != nil {
		ow.Abort()
	}
	return parts, err
}

type flushCloser struct{ *bufio.Writer }

func (f flushCloser) Close() error { return f.Flush() }
