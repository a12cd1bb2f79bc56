package batch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors/schema"
)

// TaskPlan is one table of a run.
type TaskPlan struct {
	ID           int64               `json:"id"`
	SourceSchema string              `json:"source_schema,omitempty"`
	SourceTable  string              `json:"source_table"`
	TargetSchema string              `json:"target_schema,omitempty"`
	TargetTable  string              `json:"target_table"`
	Columns      []catalog.ColumnMap `json:"columns,omitempty"` // nil = same-name columns
}

// RunPlan is everything a run needs; it is stored with the run so RETRY
// repeats exactly the same work.
type RunPlan struct {
	Job         string            `json:"job"`
	Source      string            `json:"source"`
	Target      string            `json:"target"`
	Tasks       []TaskPlan        `json:"tasks"`
	Options     map[string]string `json:"options"` // resolved, defaults filled in
	SourceWhere string            `json:"source_where,omitempty"`
	TargetWhere string            `json:"target_where,omitempty"`
}

// PlanError is a user mistake found while planning: Code is its SQLSTATE.
type PlanError struct {
	Code    string
	Message string
	Hint    string
}

func (e *PlanError) Error() string { return e.Message }

func planErr(code, hint, format string, args ...any) *PlanError {
	return &PlanError{Code: code, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// TasksFor lists a job's tables: one for a table job; for a database job the
// named tables (each must exist on both sides) or every source table that
// has a same-name target table.
func TasksFor(ctx context.Context, j *catalog.Job, src, dst schema.Introspector) ([]TaskPlan, []string, error) {
	if j.Kind == "table" {
		return []TaskPlan{{ID: 1, SourceSchema: j.SourceSchema, SourceTable: j.SourceTable, TargetSchema: j.TargetSchema,
			TargetTable: j.TargetTable, Columns: j.Definition.Columns}}, nil, nil
	}
	srcTables, err := src.ListTables(ctx, j.SourceSchema)
	if err != nil {
		return nil, nil, fmt.Errorf("list source tables: %w", err)
	}
	dstTables, err := dst.ListTables(ctx, j.TargetSchema)
	if err != nil {
		return nil, nil, fmt.Errorf("list target tables: %w", err)
	}
	onSource, onTarget := set(srcTables), set(dstTables)
	skip := set(j.Definition.Exclude)
	var (
		out       []TaskPlan
		unmatched []string
	)
	add := func(s, t string) {
		out = append(out, TaskPlan{ID: int64(len(out) + 1), SourceSchema: j.SourceSchema, SourceTable: s, TargetSchema: j.TargetSchema, TargetTable: t})
	}
	if len(j.Definition.Tables) > 0 {
		for _, m := range j.Definition.Tables {
			if !onSource[m.Source] {
				return nil, nil, planErr("42704", "Table names follow PostgreSQL rules: quote mixed-case names.",
					"table %q does not exist in source datasource %q", m.Source, j.Source)
			}
			if !onTarget[m.Target] {
				return nil, nil, planErr("42704", fmt.Sprintf("Create it first, e.g. with CREATE DDL TASK ... FROM %s TO %s TABLES (%s) WITH (run_now = on).", j.Source, j.Target, m.Source),
					"target table %q does not exist in datasource %q", m.Target, j.Target)
			}
			if !skip[m.Source] {
				add(m.Source, m.Target)
			}
		}
		return out, nil, nil
	}
	for _, s := range srcTables {
		if skip[s] {
			continue
		}
		if !onTarget[s] {
			unmatched = append(unmatched, s)
			continue
		}
		add(s, s)
	}
	return out, unmatched, nil
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// ColumnPair is one moved column.
type ColumnPair struct {
	Src, Dst schema.Column
}

// PairColumns maps source to target columns: the explicit COLUMNS list, or
// every source column by name (each must exist on the target).
func PairColumns(src, dst schema.Table, maps []catalog.ColumnMap) ([]ColumnPair, error) {
	var pairs []ColumnPair
	if len(maps) == 0 {
		for _, c := range src.Columns {
			d, ok := dst.Column(c.Name)
			if !ok {
				return nil, planErr("42703", "Map columns explicitly with COLUMNS (a AS x, ...), or add the column to the target.",
					"source column %q of %s has no column of the same name in target table %s", c.Name, src.Name, dst.Name)
			}
			pairs = append(pairs, ColumnPair{Src: c, Dst: *d})
		}
	} else {
		for _, m := range maps {
			s, ok := src.Column(m.Source)
			if !ok {
				return nil, planErr("42703", "", "column %q does not exist in source table %s", m.Source, src.Name)
			}
			d, ok := dst.Column(m.Target)
			if !ok {
				return nil, planErr("42703", "", "column %q does not exist in target table %s", m.Target, dst.Name)
			}
			pairs = append(pairs, ColumnPair{Src: *s, Dst: *d})
		}
	}
	for _, p := range pairs {
		if !compatible(p.Src.Type, p.Dst.Type) {
			return nil, planErr("42804", "Map it to a column of a compatible type, or leave it out of COLUMNS.",
				"column %q (%s) cannot be loaded into %q (%s)", p.Src.Name, native(p.Src.Type), p.Dst.Name, native(p.Dst.Type))
		}
	}
	return pairs, nil
}

func native(t schema.Type) string {
	if t.Native != "" {
		return t.Native
	}
	return string(t.Kind)
}

// family groups canonical kinds by what their values look like.
func family(k schema.Kind) string {
	switch k {
	case schema.Bool, schema.Int8, schema.Int16, schema.Int24, schema.Int32, schema.Int64, schema.Decimal,
		schema.Float32, schema.Float64, schema.Year, schema.Bit:
		return "number"
	case schema.Char, schema.Varchar, schema.Text, schema.Enum, schema.Set, schema.UUID, schema.Other:
		return "text"
	case schema.Date, schema.Timestamp, schema.TimestampTZ:
		return "datetime"
	case schema.Binary, schema.Varbinary, schema.Blob:
		return "binary"
	}
	return string(k)
}

// compatible says whether values of src load into dst: text takes anything,
// otherwise the families must agree (json also takes text).
func compatible(src, dst schema.Type) bool {
	fs, fd := family(src.Kind), family(dst.Kind)
	switch {
	case fd == "text", fs == fd:
		return true
	case fd == string(schema.JSON) && fs == "text", fd == string(schema.UUID) && fs == "text":
		return true
	case fd == string(schema.JSON) && fs == string(schema.Array):
		return true // exported as JSON, see exportColumn
	case dst.Kind == schema.Array && src.Kind == schema.Set:
		return true // exported as an array literal, see ExportColumn
	}
	return false
}

// keyPairs picks the verification key: key_columns (source names) or the
// source's primary key.
func keyPairs(pairs []ColumnPair, src schema.Table, keyColumns string) ([]ColumnPair, error) {
	names := src.PrimaryKey
	if strings.TrimSpace(keyColumns) != "" {
		names = splitList(keyColumns)
	}
	if len(names) == 0 {
		return nil, planErr("42P10", "Set WITH (key_columns = 'a,b') or use algorithm countdiff or md5diff.",
			"table %s has no primary key to verify by", src.Name)
	}
	var out []ColumnPair
	for _, n := range names {
		i := -1
		for k, p := range pairs {
			if p.Src.Name == n {
				i = k
			}
		}
		if i < 0 {
			return nil, planErr("42703", "Key columns must be among the moved columns.", "key column %q is not a moved column of %s", n, src.Name)
		}
		out = append(out, pairs[i])
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// DescribeOne describes one table, turning a missing table into a
// PlanError that says what to do.
func DescribeOne(ctx context.Context, in schema.Introspector, schemaName, table, side, ds string) (schema.Table, error) {
	ts, err := in.DescribeTables(ctx, schemaName, []string{table})
	if errors.Is(err, schema.ErrTableNotFound) {
		hint := ""
		if side == "target" {
			// A DDL task creates tables under their source names: say so,
			// for a job whose target is named differently.
			hint = fmt.Sprintf("A DDL task creates the source's tables under their own names: CREATE DDL TASK ... TO %s TABLES (...) WITH (run_now = on). "+
				"For a table named %q, create it yourself or name an existing one.", ds, table)
		}
		return schema.Table{}, planErr("42P01", hint, "%s table %q does not exist in datasource %q", side, table, ds)
	}
	if err != nil {
		return schema.Table{}, fmt.Errorf("describe %s table %s: %w", side, table, err)
	}
	if len(ts) != 1 {
		return schema.Table{}, fmt.Errorf("describe %s table %s: got %d tables", side, table, len(ts))
	}
	return ts[0], nil
}

// sortedKeys is for stable messages.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ExportColumn is the source column as the export should write it for its
// target: a boolean read from MySQL's tinyint(1) goes to an integer column
// as a number, and a PostgreSQL array goes to a json column as a JSON
// array. Everything else is exported as it is.
func ExportColumn(p ColumnPair) schema.Column {
	c := p.Src
	switch {
	case c.Type.Kind == schema.Bool && c.Type.IsTinyIntOne() && p.Dst.Type.Kind.IsInteger():
		c.Type.Kind = schema.Int8
	case c.Type.Kind == schema.Array && p.Dst.Type.Kind == schema.JSON:
		c.Type = schema.Type{Kind: schema.JSON, Elem: c.Type.Elem, Native: c.Type.Native}
	case c.Type.Kind == schema.Set && p.Dst.Type.Kind == schema.Array:
		// A MySQL set loaded into text[] (set_as = 'array') travels as an
		// array literal of its members.
		c.Type = schema.Type{Kind: schema.Array, Elem: &schema.Type{Kind: schema.Text}, Native: c.Type.Native, Values: c.Type.Values}
	}
	return c
}
