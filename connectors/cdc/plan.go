package cdc

// PlanRuns turns a batch of mapped changes into runs of changes that one
// statement shape applies; appliers differ only in rendering statements
// and values.

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// RunKind is the statement shape of a run of changes.
type RunKind int

const (
	// RunUpsert rows carry every mapped column: INSERT ... ON CONFLICT
	// (key) DO UPDATE.
	RunUpsert RunKind = iota + 1
	// RunDelete rows are key values in Key order: DELETE ... WHERE key IN.
	RunDelete
	// RunUpdate rows keep some columns (unchanged TOAST): UPDATE the
	// columns in set by key. Every row of the run has the same set.
	RunUpdate
	// RunMove is one row that moved to another key and keeps some
	// columns: UPDATE the key and the columns in set WHERE key = old.
	RunMove
	// RunTruncate empties the table.
	RunTruncate
)

// Run is a run of consecutive changes of one table that one
// statement shape applies; executors split it only by size limits.
type Run struct {
	Kind  RunKind
	Table *TargetTable
	// Set are the indexes of the non-key columns an update or move sets.
	Set []int
	// Rows: upsert and update rows in Table.Columns order (an update's
	// other columns are not read); delete rows in Table.Key order.
	Rows [][][]byte
	// Old is a move's old key in Table.Key order.
	Old [][]byte
	// Inserted marks, per row of an upsert run, rows whose key the run
	// inserted (its first change of the key was an insert): targets may
	// write those as plain inserts and fall back to the upsert on a
	// duplicate key.
	Inserted []bool
	// index finds a row by its key while the run is open.
	index map[string]int
}

// PlanRuns groups changes into runs, in order. Within a run a key
// appears once: a later full row replaces an earlier one, an update that
// keeps columns is merged into the full row it follows, and a repeated
// delete is dropped, so the runs leave the same rows as applying the
// changes one by one.
func PlanRuns(changes []MappedChange) ([]*Run, error) {
	var p planner
	for i := range changes {
		if err := p.add(&changes[i]); err != nil {
			return nil, err
		}
	}
	p.close()
	return p.runs, nil
}

type planner struct {
	runs []*Run
	cur  *Run   // the open run, nil after a run that takes nothing more
	kbuf []byte // scratch for index keys: a lookup allocates nothing
}

func (p *planner) add(c *MappedChange) error {
	t := c.Target
	if t == nil {
		return errors.New("apply: a change without a target table")
	}
	if c.Op == Truncate {
		p.close()
		p.runs = append(p.runs, &Run{Kind: RunTruncate, Table: t})
		return nil
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("apply to %s: %s change: %s", t.Table, c.Op, fmt.Sprintf(format, args...))
	}
	if len(t.Key) == 0 {
		return fail("the target table has no key")
	}
	for _, k := range t.Key {
		if k < 0 || k >= len(t.Columns) {
			return fail("key index %d out of range", k)
		}
	}
	n := len(t.Columns)
	switch c.Op {
	case Insert:
		if len(c.New.Values) != n {
			return fail("%d values for %d columns", len(c.New.Values), n)
		}
		if partial(c.New) {
			return fail("an inserted row cannot have unchanged values")
		}
		p.upsert(t, c.New.Values, false)
	case Delete:
		if len(c.Old.Values) != n {
			return fail("old key: %d values for %d columns", len(c.Old.Values), n)
		}
		p.delete(t, KeyValues(t, c.Old.Values))
	case Update:
		if len(c.New.Values) != n || c.New.Unchanged != nil && len(c.New.Unchanged) != n {
			return fail("%d values for %d columns", len(c.New.Values), n)
		}
		if c.Old.Values != nil && len(c.Old.Values) != n {
			return fail("old key: %d values for %d columns", len(c.Old.Values), n)
		}
		row := c.New.Values
		var oldKey [][]byte
		if c.Old.Values != nil {
			oldKey = KeyValues(t, c.Old.Values)
		}
		// A key column is never unchanged in practice; if the source says
		// so, the old key has its value.
		copied := false
		for i, k := range t.Key {
			if c.New.IsUnchanged(k) {
				if oldKey == nil {
					return fail("key column %s unchanged and no old key", t.Columns[k].Name)
				}
				if !copied {
					row, copied = append([][]byte(nil), row...), true
				}
				row[k] = oldKey[i]
			}
		}
		for _, k := range t.Key {
			if row[k] == nil {
				return fail("key column %s is NULL", t.Columns[k].Name)
			}
		}
		set := presentSet(t, c.New)
		full := len(set) == n-len(t.Key)
		if oldKey != nil && !sameKey(oldKey, KeyValues(t, row)) {
			if full {
				p.delete(t, oldKey)
				p.upsert(t, row, true)
				return nil
			}
			p.close()
			p.runs = append(p.runs, &Run{Kind: RunMove, Table: t, Set: set, Rows: [][][]byte{row}, Old: oldKey})
			return nil
		}
		if full {
			p.upsert(t, row, true)
			return nil
		}
		p.update(t, set, row)
	default:
		return fail("unknown operation %q", byte(c.Op))
	}
	return nil
}

// partial reports whether a row has unchanged values.
func partial(r Row) bool {
	for _, u := range r.Unchanged {
		if u {
			return true
		}
	}
	return false
}

// presentSet lists the non-key columns whose new values are present.
func presentSet(t *TargetTable, r Row) []int {
	set := make([]int, 0, len(t.Columns))
	for i := range t.Columns {
		if !r.IsUnchanged(i) && !IsKey(t, i) {
			set = append(set, i)
		}
	}
	return set
}

func IsKey(t *TargetTable, i int) bool {
	for _, k := range t.Key {
		if k == i {
			return true
		}
	}
	return false
}

// KeyValues picks the key values of a row, in Key order.
func KeyValues(t *TargetTable, row [][]byte) [][]byte {
	key := make([][]byte, len(t.Key))
	for i, k := range t.Key {
		key[i] = row[k]
	}
	return key
}

// appendKey appends an index key for key values (length-prefixed, so
// values cannot run into each other; NULL differs from the empty string).
func appendKey(b []byte, v []byte) []byte {
	if v == nil {
		return append(b, 'N')
	}
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, ':')
	return append(b, v...)
}

// rowKey is the index key of a row's key values, in the scratch buffer.
func (p *planner) rowKey(t *TargetTable, row [][]byte) []byte {
	b := p.kbuf[:0]
	for _, k := range t.Key {
		b = appendKey(b, row[k])
	}
	p.kbuf = b
	return b
}

// keyKey is the index key of key values in Key order, in the scratch
// buffer.
func (p *planner) keyKey(key [][]byte) []byte {
	b := p.kbuf[:0]
	for _, v := range key {
		b = appendKey(b, v)
	}
	p.kbuf = b
	return b
}

// open starts a run of kind for t unless the open run is one.
func (p *planner) open(kind RunKind, t *TargetTable, set []int) *Run {
	if r := p.cur; r != nil && r.Kind == kind && r.Table == t && sameInts(r.Set, set) {
		return r
	}
	p.close()
	p.cur = &Run{Kind: kind, Table: t, Set: set, index: map[string]int{}}
	p.runs = append(p.runs, p.cur)
	return p.cur
}

func (p *planner) close() {
	if p.cur != nil {
		p.cur.index = nil
		p.cur = nil
	}
}

func (p *planner) upsert(t *TargetTable, row [][]byte, update bool) {
	r := p.open(RunUpsert, t, nil)
	k := p.rowKey(t, row)
	if i, ok := r.index[string(k)]; ok {
		r.Rows[i] = row // the later row wins
		return
	}
	r.index[string(k)] = len(r.Rows)
	r.Rows = append(r.Rows, row)
	r.Inserted = append(r.Inserted, !update)
}

func (p *planner) delete(t *TargetTable, key [][]byte) {
	r := p.open(RunDelete, t, nil)
	k := p.keyKey(key)
	if _, ok := r.index[string(k)]; ok {
		return
	}
	r.index[string(k)] = len(r.Rows)
	r.Rows = append(r.Rows, key)
}

// update adds a row that keeps the columns not in set. Following a full
// row of the same key in the open upsert run it is merged into that row
// (the row is known, so the result is a full row again); otherwise it
// joins or starts a run of updates of the same columns.
func (p *planner) update(t *TargetTable, set []int, row [][]byte) {
	if len(set) == 0 {
		return // nothing but the key: the row stays as it is
	}
	k := p.rowKey(t, row)
	if r := p.cur; r != nil && r.Kind == RunUpsert && r.Table == t {
		if i, ok := r.index[string(k)]; ok {
			merged := append([][]byte(nil), r.Rows[i]...)
			for _, c := range set {
				merged[c] = row[c]
			}
			r.Rows[i] = merged
			return
		}
	}
	r := p.open(RunUpdate, t, set)
	if i, ok := r.index[string(k)]; ok {
		r.Rows[i] = row // same columns: the later values win
		return
	}
	r.index[string(k)] = len(r.Rows)
	r.Rows = append(r.Rows, row)
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sameKey reports whether two key tuples are equal as text.
func sameKey(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if (a[i] == nil) != (b[i] == nil) || !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// ChunkRows splits rows into pieces of at most maxRows rows and, past the
// first row of a piece, at most maxBytes value bytes (cols picks the
// columns that count; nil counts all).
func ChunkRows(rows [][][]byte, cols []int, maxRows, maxBytes int) [][][][]byte {
	var out [][][][]byte
	start, size := 0, 0
	for i, row := range rows {
		n := 0
		if cols == nil {
			for _, v := range row {
				n += len(v) + 8
			}
		} else {
			for _, c := range cols {
				n += len(row[c]) + 8
			}
		}
		if i > start && (i-start >= maxRows || size+n > maxBytes) {
			out = append(out, rows[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(rows) {
		out = append(out, rows[start:])
	}
	return out
}
