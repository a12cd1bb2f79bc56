package scan

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/fileformat"
	"github.com/flowgate/flowgate/connectors/scanner"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/window"
)

// signature identifies an object's content as listed: size, etag and
// modification time.
func signature(o objInfo) string {
	m := ""
	if !o.MTime.IsZero() {
		m = catalog.FormatTime(o.MTime)
	}
	return fmt.Sprintf("%d|%s|%s", o.Size, o.ETag, m)
}

// objectKey is the target checkpoint an object's load commits with its
// rows: flowgate-scan:<job>:<sha1 of the key>, holding the signature.
func objectKey(job, key string) string {
	h := sha1.Sum([]byte(key))
	return checkpointKey(job) + ":" + hex.EncodeToString(h[:10])
}

// load loads each new or changed object under the prefix, in key order,
// each in one target transaction with its checkpoint.
func (r *run) load(ctx context.Context) error {
	p := r.plan
	cat := r.rec
	bg := context.WithoutCancel(ctx)
	store, err := storeOf(r.src, r.e.cfg.StagingDir)
	if err != nil {
		return err
	}
	o, err := FileOptions(p.Options, p.Given, p.Format)
	if err != nil {
		return err
	}
	tt, err := r.e.targetTable(ctx, p, r.dst)
	if err != nil {
		return err
	}
	fileCol := p.Options["source_file_column"]
	target := &cdc.TargetTable{Table: cdc.TableRef{Schema: p.TargetSchema, Name: p.TargetTable}}
	var cols []fileformat.Column
	fileAt := -1
	add := func(src string, c schema.Column) {
		target.Columns = append(target.Columns, c)
		cols = append(cols, fileformat.Column{Name: src, Type: c.Type})
	}
	if len(p.Columns) == 0 {
		for _, c := range tt.Columns {
			if c.Name != fileCol {
				add(c.Name, c)
			}
		}
	} else {
		for _, m := range p.Columns {
			c, ok := tt.Column(m.Target)
			if !ok {
				return fmt.Errorf("column %q does not exist in target table %s", m.Target, tt.Name)
			}
			add(m.Source, *c)
		}
	}
	if fileCol != "" {
		c, _ := tt.Column(fileCol)
		target.Columns = append(target.Columns, *c)
		fileAt = len(target.Columns) - 1
	}
	for _, k := range tt.PrimaryKey {
		for i, c := range target.Columns {
			if c.Name == k {
				target.Key = append(target.Key, i)
			}
		}
	}
	if len(target.Key) != len(tt.PrimaryKey) {
		return fmt.Errorf("the files do not fill the primary key of %s", tt.Name)
	}
	applier, _ := connectors.As[cdc.ChangeApplier](r.dst.Conn)
	tz := p.Options["source_timezone"]

	truncate := p.Options["pre_action"] == "truncate"
	if truncate {
		pre, err := r.begin(ctx, StagePreAction, p.TargetTable)
		if err != nil {
			return err
		}
		pre.end(ctx, nil, "truncate: the rows of each object loaded again are deleted by "+fileCol+" in that object's transaction")
	} else {
		r.skip(ctx, StagePreAction, "pre_action = 'none'")
	}

	prefix := window.ExpandName(p.Object, window.Vars{Window: p.window(), Job: p.Job, RunID: r.id, Table: p.TargetTable})
	st, err := r.begin(ctx, StageScan, prefix)
	if err != nil {
		return err
	}
	objs, err := store.list(ctx, prefix)
	if err != nil {
		return st.end(ctx, err, "")
	}
	loaded, err := cat.ScanObjects(bg, p.Job)
	if err != nil {
		return st.end(ctx, err, "")
	}
	var nLoaded, nSkipped, nDeleted int64
	for _, ob := range objs {
		if ctx.Err() != nil {
			return st.end(ctx, context.Cause(ctx), "")
		}
		if !strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(ob.Key, ".gz"), ".zst"), "."+o.Format) && o.Format != "" {
			// Only files of the job's format: other objects under the
			// prefix are left alone.
			if !(o.Format == "txt" && !strings.Contains(ob.Key[strings.LastIndex(ob.Key, "/")+1:], ".")) {
				continue
			}
		}
		sig := signature(ob)
		if l, ok := loaded[ob.Key]; ok && fmt.Sprintf("%d|%s|%s", l.Size, l.ETag, l.MTime) == sig {
			nSkipped++
			continue
		}
		spec := cdc.ApplySpec{Job: objectKey(p.Job, ob.Key), TimeZone: tz}
		if pos, ok, err := applier.Checkpoint(ctx, spec); err != nil {
			return st.end(ctx, err, "")
		} else if ok && string(pos) == sig {
			// Committed in the target before a crash kept the catalog
			// from knowing: record it, do not load it again.
			cat.RecordScanObject(bg, p.Job, r.id, catalog.ScanObject{Key: ob.Key, Size: ob.Size, ETag: ob.ETag, MTime: mtimeText(ob)})
			nSkipped++
			continue
		}
		rows, deleted, err := r.loadObject(ctx, st, store, ob, o, cols, target, fileAt, applier, spec, truncate, fileCol)
		if err != nil {
			return st.end(ctx, err, "")
		}
		nLoaded++
		nDeleted += deleted
		cat.RecordScanObject(bg, p.Job, r.id, catalog.ScanObject{Key: ob.Key, Size: ob.Size, ETag: ob.ETag, MTime: mtimeText(ob), Rows: rows})
	}
	msg := fmt.Sprintf("%d objects loaded (%d rows), %d unchanged", nLoaded, st.rows.Load(), nSkipped)
	if truncate {
		msg += fmt.Sprintf("; %d rows of objects loaded again deleted first", nDeleted)
	}
	if bad, _ := cat.CountRunErrors(bg, r.id); bad > 0 {
		msg += fmt.Sprintf("; %d bad records skipped (dataflow.run_errors)", bad)
	}
	if err := st.end(ctx, nil, msg); err != nil {
		return err
	}
	r.operation(ctx, r.src, prefix, "export", st)
	r.operation(ctx, r.dst, qualify(p.TargetSchema, p.TargetTable), "import", st)
	r.skip(ctx, StageDiff, "files have no checksum to compare with")
	r.msg = msg
	return nil
}

func mtimeText(o objInfo) string {
	if o.MTime.IsZero() {
		return ""
	}
	return catalog.FormatTime(o.MTime)
}

// loadObject loads one object in one target transaction that also
// records its signature as the object's checkpoint.
func (r *run) loadObject(ctx context.Context, st *stage, store objStore, ob objInfo, o fileformat.Options, cols []fileformat.Column,
	target *cdc.TargetTable, fileAt int, applier cdc.ChangeApplier, spec cdc.ApplySpec, truncate bool, fileCol string) (int64, int64, error) {
	path, cleanup, err := store.local(ctx, ob.Key)
	if err != nil {
		return 0, 0, err
	}
	defer cleanup()
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var rr fileformat.RecordReader
	if o.Format == fileformat.Parquet {
		if rr, err = fileformat.NewParquetReader(f, ob.Key, cols, o); err != nil {
			return 0, 0, err
		}
		r.thr.wait(ctx, int(ob.Size))
		st.bytes.Add(ob.Size)
	} else {
		dr, done, err := fileformat.Decompress(ob.Key, r.thr.reader(ctx, f, &st.bytes))
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", ob.Key, err)
		}
		defer done()
		if rr, err = fileformat.NewTextReader(dr, ob.Key, cols, o); err != nil {
			return 0, 0, err
		}
	}
	tx, err := applier.Begin(ctx, spec)
	if err != nil {
		return 0, 0, err
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	var deleted int64
	if truncate && fileCol != "" {
		acts, ok := tx.(scanner.TxActions)
		if !ok {
			return 0, 0, fmt.Errorf("datasource %q cannot delete rows by %s", r.dst.Name, fileCol)
		}
		if deleted, err = acts.DeleteIn(ctx, target.Table, fileCol, []string{ob.Key}); err != nil {
			return 0, 0, err
		}
	}
	var chunk []cdc.MappedChange
	var rows int64
	for {
		rec, err := rr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var br *fileformat.BadRecord
		if errors.As(err, &br) {
			if err := r.bad.add(ctx, br); err != nil {
				return 0, 0, err
			}
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		vals := make([][]byte, len(target.Columns))
		copy(vals, rec)
		if fileAt >= 0 {
			vals[fileAt] = []byte(ob.Key)
		}
		chunk = append(chunk, cdc.MappedChange{Target: target, Op: cdc.Insert, New: cdc.Row{Values: vals}})
		rows++
		if len(chunk) >= applyChunk {
			if err := tx.Apply(ctx, chunk); err != nil {
				return 0, 0, fmt.Errorf("%s: %w", ob.Key, err)
			}
			st.rows.Add(int64(len(chunk)))
			chunk = chunk[:0]
		}
	}
	if len(chunk) > 0 {
		if err := tx.Apply(ctx, chunk); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", ob.Key, err)
		}
		st.rows.Add(int64(len(chunk)))
	}
	if err := tx.Commit(ctx, cdc.Position(signature(ob))); err != nil {
		return 0, 0, err
	}
	committed = true
	return rows, deleted, nil
}
