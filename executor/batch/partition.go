package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// Partitions (docs/architecture.md, "Partitions, marks and resume"): a
// task's table is cut into key ranges of about export_batch_rows rows,
// derived once per run and stored in the catalog, so a RETRY reads the
// same ranges. A partition is exported (to one staged file, or straight
// into the target with staging = 'none'), imported in one target
// transaction together with its mark, and retried as a whole.

// partitionID is a partition's mark in the target: stable across
// attempts, so a partition exported twice is imported once.
func partitionID(task, seq int64) string { return fmt.Sprintf("t%04d-p%06d", task, seq) }

var partitionFile = regexp.MustCompile(`^(t\d{4,}-p\d{6,})\.`)

// markID is the mark of a staged file: its partition's id, or, for a file
// staged before partitions existed, the file's name.
func markID(f catalog.ExportFile) string {
	base := path.Base(f.URI)
	if m := partitionFile.FindStringSubmatch(base); m != nil {
		return m[1]
	}
	return base
}

// partitionFileName names a partition's staged file: the same name for
// every export of the partition, so a re-export replaces a file that was
// written but not recorded.
func partitionFileName(job, run string, task, seq int64, suffix string) string {
	return path.Join(job, run, partitionID(task, seq)+suffix)
}

// partitionKey picks the columns partitions are cut by: partition_column,
// else the source's primary key; nil (with the reason) when there is
// none to use.
func partitionKey(src schema.Table, column string) ([]schema.Column, string, error) {
	if column != "" {
		c, ok := src.Column(column)
		if !ok {
			return nil, "", planErr("42703", "partition_column names a source column.", "partition_column %q is not a column of %s", column, src.Name)
		}
		if c.Nullable {
			return nil, "", planErr("22023", "Pick a NOT NULL column, or leave partition_column out to use the primary key.",
				"partition_column %q of %s may be NULL; rows with a NULL key would be in no partition", column, src.Name)
		}
		return []schema.Column{*c}, "", nil
	}
	if len(src.PrimaryKey) == 0 {
		return nil, "no primary key and no partition_column: the table is read as one stream (one partition)", nil
	}
	var out []schema.Column
	for _, n := range src.PrimaryKey {
		c, ok := src.Column(n)
		if !ok {
			return nil, "", fmt.Errorf("primary key column %s of %s not found", n, src.Name)
		}
		out = append(out, *c)
	}
	return out, "", nil
}

// partitions returns the task's partitions: the stored ones, or new ones
// derived from the source and stored before anything is exported.
func (tc *taskCtx) partitions(ctx context.Context) ([]catalog.Partition, error) {
	cat := tc.rc.e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	parts, err := cat.Partitions(bg, tc.rc.id, tc.t.ID)
	if err != nil || len(parts) > 0 {
		return parts, err
	}
	derived, err := tc.derivePartitions(ctx)
	if err != nil {
		return nil, err
	}
	return cat.SavePartitions(bg, tc.rc.id, tc.t.ID, derived)
}

func (tc *taskCtx) derivePartitions(ctx context.Context) ([]catalog.Partition, error) {
	key, note, err := partitionKey(tc.srcTable, tc.rc.opts["partition_column"])
	if err != nil {
		return nil, err
	}
	whole := func(note string) []catalog.Partition {
		return []catalog.Partition{{Seq: 1, KeyColumns: names(key), Note: note}}
	}
	if len(key) == 0 {
		return whole(note), nil
	}
	size := max(1, tc.rc.opts.Int("export_batch_rows"))
	spec := data.ChecksumSpec{Schema: tc.t.SourceSchema, Table: tc.t.SourceTable, Key: key, Where: tc.rc.plan.SourceWhere, TimeZone: tc.rc.opts["source_timezone"]}
	var bounds [][]string
	if parts, ok, err := tc.denseKeyPartitions(ctx, key, spec, size); err != nil || ok {
		return parts, err
	}
	kr, krErr := connectors.As[data.KeyRanger](tc.rc.src.Conn)
	if len(key) == 1 && key[0].Type.Kind.IsInteger() && krErr == nil {
		lo, hi, rows, ok, err := kr.IntKeyRange(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("partition %s: %s", tc.t.SourceTable, scrub(tc.rc.src, err))
		}
		tc.counted = rows
		n := (rows + size - 1) / size
		if !ok || n <= 1 {
			return whole(""), nil
		}
		// Equal widths when the keys are dense enough that equal widths
		// hold about equal row counts; otherwise cut by row numbers.
		if width := hi - lo + 1; width > 0 && rows*2 >= width {
			step := (width + n - 1) / n
			for b := lo + step; b <= hi; b += step {
				bounds = append(bounds, []string{strconv.FormatInt(b, 10)})
			}
			return cut(key, bounds), nil
		}
	}
	cs, err := as[data.Checksummer](tc.rc.src, "split a table into key ranges")
	if err != nil {
		return whole("the source cannot split key ranges: the table is read as one stream (one partition)"), nil
	}
	count, err := tc.exporter.Count(ctx, data.ExportSpec{Schema: spec.Schema, Table: spec.Table, Where: spec.Where, TimeZone: spec.TimeZone})
	if err != nil {
		return nil, fmt.Errorf("partition %s: %s", tc.t.SourceTable, scrub(tc.rc.src, err))
	}
	tc.counted = count
	n := (count + size - 1) / size
	if n <= 1 {
		return whole(""), nil
	}
	if bounds, err = cs.SplitPoints(ctx, spec, int(n)); err != nil {
		return nil, fmt.Errorf("partition %s: %s", tc.t.SourceTable, scrub(tc.rc.src, err))
	}
	// A non-unique partition_column repeats values: drop empty ranges.
	bounds = slices.CompactFunc(bounds, slices.Equal[[]string])
	return cut(key, bounds), nil
}

// denseKeyPartitions cuts a whole table by its integer primary key into
// ranges of size keys when the source's statistics say the keys are
// dense (data.KeyBounder): a range of size unique keys holds at most
// size rows whatever the estimate, so nothing is counted before the
// export starts. The estimate is the progress total until the export's
// own count replaces it. ok is false where this does not apply (a
// filter, partition_column, another key, a small or sparse table, no
// estimate): the caller counts.
func (tc *taskCtx) denseKeyPartitions(ctx context.Context, key []schema.Column, spec data.ChecksumSpec, size int64) ([]catalog.Partition, bool, error) {
	kb, err := connectors.As[data.KeyBounder](tc.rc.src.Conn)
	if err != nil || len(key) != 1 || !key[0].Type.Kind.IsInteger() || spec.Where != "" || tc.rc.opts["partition_column"] != "" ||
		!slices.Equal(tc.srcTable.PrimaryKey, []string{key[0].Name}) {
		return nil, false, nil
	}
	lo, hi, est, ok, err := kb.IntKeyBounds(ctx, spec)
	if err != nil {
		return nil, false, fmt.Errorf("partition %s: %s", tc.t.SourceTable, scrub(tc.rc.src, err))
	}
	width := hi - lo + 1
	// Small tables are counted (cheap, and exact); a width the estimate
	// does not fill at least half is sparse, cut by row numbers.
	if !ok || est < 4*size || width <= 0 || est*2 < width {
		return nil, false, nil
	}
	tc.estimated = est
	var bounds [][]string
	for b := lo + size; b <= hi && b > lo; b += size {
		bounds = append(bounds, []string{strconv.FormatInt(b, 10)})
	}
	return cut(key, bounds), true, nil
}

// cut turns split points into consecutive ranges covering every key.
func cut(key []schema.Column, bounds [][]string) []catalog.Partition {
	edges := append(append([][]string{nil}, bounds...), nil)
	out := make([]catalog.Partition, len(edges)-1)
	for i := range out {
		out[i] = catalog.Partition{Seq: int64(i + 1), KeyColumns: names(key), Lower: edges[i], Upper: edges[i+1]}
	}
	return out
}

func names(cols []schema.Column) []string {
	if len(cols) == 0 {
		return nil
	}
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// partitionSpec is the export of one partition.
func (tc *taskCtx) partitionSpec(p catalog.Partition, snapshot string) data.ExportSpec {
	spec := tc.exportSpec()
	spec.Snapshot = snapshot
	if p.Lower == nil && p.Upper == nil {
		return spec
	}
	for _, n := range p.KeyColumns {
		c, _ := tc.srcTable.Column(n)
		spec.Key = append(spec.Key, *c)
	}
	spec.Lower, spec.Upper = p.Lower, p.Upper
	return spec
}

// checkPartitionKey makes sure the stored key columns still exist.
func (tc *taskCtx) checkPartitionKey(parts []catalog.Partition) error {
	for _, p := range parts {
		for _, n := range p.KeyColumns {
			if _, ok := tc.srcTable.Column(n); !ok {
				return fmt.Errorf("partition key column %s of %s no longer exists at the source", n, tc.t.SourceTable)
			}
		}
	}
	return nil
}

// importedMarks reads the run's marks in the target.
func (tc *taskCtx) importedMarks(ctx context.Context) (map[string]bool, error) {
	marks, err := tc.importer.ImportedMarks(ctx, data.MarkScope{Schema: tc.t.TargetSchema, MarksSchema: tc.rc.opts["marks_schema"]}, tc.rc.id)
	if err != nil {
		return nil, fmt.Errorf("read import marks: %w", err)
	}
	return set(marks), nil
}

// snapshot opens one snapshot of the source that every partition of the
// task reads (PostgreSQL), one after the other or in parallel, so the run
// sees one state of the table; "" where the source has none, or one
// partition is left to read. The snapshot's transaction stays open while
// the export runs (as pg_dump's does).
func (tc *taskCtx) snapshot(ctx context.Context, todo int) (string, func(), error) {
	none := func() {}
	if todo < 2 {
		return "", none, nil
	}
	se, err := connectors.As[data.SnapshotExporter](tc.rc.src.Conn)
	if err != nil {
		return "", none, nil
	}
	id, release, err := se.ExportSnapshot(ctx)
	if err != nil {
		return "", none, fmt.Errorf("source snapshot: %s", scrub(tc.rc.src, err))
	}
	return id, release, nil
}

// liveCounter counts the CSV records and bytes written through it into a
// partition's own counters and, for progress, into its stage's.
type liveCounter struct {
	w           io.Writer
	scan        data.RecordScanner
	rows, bytes int64
	stageRows   *atomic.Int64
	stageBytes  *atomic.Int64
}

func (c *liveCounter) Write(p []byte) (int, error) {
	var n int64
	for i := c.scan.Next(p, 0); i >= 0; i = c.scan.Next(p, i) {
		n++
	}
	w, err := c.w.Write(p)
	c.rows += n
	c.bytes += int64(w)
	c.stageRows.Add(n)
	if c.stageBytes != nil {
		c.stageBytes.Add(int64(w))
	}
	return w, err
}

// undo takes the partition's counts back out of the stage's (a failed
// partition is exported again).
func (c *liveCounter) undo() {
	c.stageRows.Add(-c.rows)
	if c.stageBytes != nil {
		c.stageBytes.Add(-c.bytes)
	}
}

// isAlreadyImported reports an import refused because its mark exists.
func isAlreadyImported(err error) bool { return errors.Is(err, data.ErrAlreadyImported) }

// loadPartitions returns the task's partitions, deriving them on the
// first export. A run staged before partitions existed keeps its files:
// nil partitions import them as they are; exporting such a task again is
// refused once any of its files is in the target (their rows are not
// tied to key ranges), and otherwise starts over with partitions.
func (tc *taskCtx) loadPartitions(ctx context.Context, exportPending bool) ([]catalog.Partition, error) {
	cat := tc.rc.e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	parts, err := cat.Partitions(bg, tc.rc.id, tc.t.ID)
	if err != nil {
		return nil, err
	}
	if len(parts) > 0 {
		return parts, tc.checkPartitionKey(parts)
	}
	if tc.rc.opts["staging"] != "none" {
		files, err := cat.ExportFiles(bg, tc.rc.id, tc.t.ID)
		if err != nil {
			return nil, err
		}
		if len(files) > 0 {
			if !exportPending {
				return nil, nil
			}
			marked, err := tc.importedMarks(ctx)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				if f.Imported || marked[markID(f)] {
					return nil, planErr("55000", "Retry from ImportTable instead (imported files are skipped), or empty the target table first and start a new run.",
						"run %s (staged before partitions) already imported files of %s; exporting again would load those rows twice", tc.rc.id, tc.t.SourceTable)
				}
			}
			if err := cat.ClearExportFiles(bg, tc.rc.id, tc.t.ID); err != nil {
				return nil, err
			}
		}
	}
	return tc.partitions(ctx)
}
