package cdc

import (
	"fmt"
	"slices"
	"strings"

	change "github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// addColumns is a schema change that needs DDL at the target first: the
// stream restarts from the checkpoint once the columns exist.
type addColumns struct {
	table *table
	cols  []schema.Column
}

func (a *addColumns) Error() string {
	names := make([]string, len(a.cols))
	for i, c := range a.cols {
		names[i] = c.Name
	}
	return fmt.Sprintf("source table %s has new columns %s", a.table.src, strings.Join(names, ", "))
}

// schemaChangeError is a schema change under schema_changes = 'fail'.
type schemaChangeError struct{ msg string }

func (e *schemaChangeError) Error() string { return e.msg }

// onSchema maps the stream's columns of a table to its target columns:
// same names (or the job's COLUMNS), a column new at the source handled by
// schema_changes, a column gone from the source no longer written.
func (tb *table) onSchema(ts *change.TableSchema, policy string) error {
	names := make([]string, len(ts.Columns))
	for i, c := range ts.Columns {
		names[i] = c.Name
	}
	if policy == "fail" && tb.lastCols != nil && !slices.Equal(tb.lastCols, names) {
		return &schemaChangeError{msg: fmt.Sprintf("the structure of source table %s changed (columns %s, now %s) and schema_changes = 'fail'",
			tb.src, strings.Join(tb.lastCols, ", "), strings.Join(names, ", "))}
	}
	tb.lastCols = names
	target := &change.TargetTable{Table: tb.dst}
	tb.srcIndex = make([]int, len(ts.Columns))
	tb.convert = nil
	var missing []schema.Column
	for i, c := range ts.Columns {
		tb.srcIndex[i] = -1
		name := c.Name
		if tb.explicit != nil {
			t, ok := tb.explicit[c.Name]
			if !ok {
				continue
			}
			name = t
		}
		d, ok := tb.dstDesc.Column(name)
		if !ok {
			if tb.explicit != nil || tb.ignored[c.Name] {
				continue
			}
			switch policy {
			case "fail":
				return &schemaChangeError{msg: fmt.Sprintf("source table %s has a column %s that target table %s lacks, and schema_changes = 'fail'",
					tb.src, c.Name, tb.dst)}
			case "ignore":
				if tb.ignored == nil {
					tb.ignored = map[string]bool{}
				}
				tb.ignored[c.Name] = true
				continue
			}
			missing = append(missing, schema.Column{Name: c.Name, Type: c.Type, Nullable: true})
			continue
		}
		tb.srcIndex[i] = len(target.Columns)
		target.Columns = append(target.Columns, *d)
		tb.convert = append(tb.convert, converter(c.Type, d.Type))
	}
	if len(missing) > 0 {
		return &addColumns{table: tb, cols: missing}
	}
	for _, k := range tb.dstDesc.PrimaryKey {
		i := slices.IndexFunc(target.Columns, func(c schema.Column) bool { return c.Name == k })
		if i < 0 {
			return &schemaChangeError{msg: fmt.Sprintf("target key column %q of %s is no longer written: the source dropped or renamed it", k, tb.dst)}
		}
		target.Key = append(target.Key, i)
	}
	tb.target = target
	tb.identity = len(target.Columns) == len(ts.Columns)
	for i, j := range tb.srcIndex {
		tb.identity = tb.identity && i == j && tb.convert[j] == nil
	}
	return nil
}

// converter turns a source value into what the target column takes, as
// the batch export does for the same pair (batch.ExportColumn).
func converter(src, dst schema.Type) func([]byte) ([]byte, error) {
	switch {
	case src.Kind == schema.Array && dst.Kind == schema.JSON:
		elem := schema.Text
		if src.Elem != nil {
			elem = src.Elem.Kind
		}
		return func(v []byte) ([]byte, error) { return data.ArrayToJSON(v, elem) }
	case src.Kind == schema.Bool && dst.Kind.IsInteger():
		return func(v []byte) ([]byte, error) {
			b, err := data.ParseBool(v)
			if err != nil {
				return nil, err
			}
			if b {
				return []byte("1"), nil
			}
			return []byte("0"), nil
		}
	}
	return nil
}

// mapRow puts a source row into target column order.
func (tb *table) mapRow(r change.Row) (change.Row, error) {
	if r.Values == nil {
		return change.Row{}, nil
	}
	if tb.identity && len(r.Values) == len(tb.srcIndex) {
		return r, nil // same columns, same order, as they are
	}
	out := change.Row{Values: make([][]byte, len(tb.target.Columns))}
	for i, v := range r.Values {
		if i >= len(tb.srcIndex) {
			return change.Row{}, fmt.Errorf("change of %s has %d values, its schema %d columns", tb.src, len(r.Values), len(tb.srcIndex))
		}
		j := tb.srcIndex[i]
		if j < 0 {
			continue
		}
		if r.IsUnchanged(i) {
			if out.Unchanged == nil {
				out.Unchanged = make([]bool, len(out.Values))
			}
			out.Unchanged[j] = true
			continue
		}
		if v != nil && tb.convert[j] != nil {
			c, err := tb.convert[j](v)
			if err != nil {
				return change.Row{}, fmt.Errorf("%s column %s: %w", tb.src, tb.target.Columns[j].Name, err)
			}
			v = c
		}
		out.Values[j] = v
	}
	return out, nil
}

// mapChange turns a source change into a target change.
func (tb *table) mapChange(c change.Change) (change.MappedChange, error) {
	m := change.MappedChange{Target: tb.target, Op: c.Op}
	var err error
	if m.New, err = tb.mapRow(c.New); err != nil {
		return m, err
	}
	if c.Old.Values != nil {
		if m.Old, err = tb.mapRow(c.Old); err != nil {
			return m, err
		}
		if c.Op == change.Update && !tb.keyMoved(m.Old, m.New) {
			m.Old = change.Row{} // same key: a plain update
		}
	}
	return m, nil
}

// keyMoved reports whether an update's old key differs from its new one.
func (tb *table) keyMoved(old, nw change.Row) bool {
	for _, k := range tb.target.Key {
		if nw.IsUnchanged(k) {
			continue
		}
		if string(old.Values[k]) != string(nw.Values[k]) || (old.Values[k] == nil) != (nw.Values[k] == nil) {
			return true
		}
	}
	return false
}
