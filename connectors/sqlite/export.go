package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

var (
	_ data.Exporter    = (*Conn)(nil)
	_ data.Importer    = (*Conn)(nil)
	_ data.Checksummer = (*Conn)(nil)
)

func dataQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// dataTable quotes a table name; a schema names an attached database
// ("" or main is the file itself).
func dataTable(schemaName, name string) string {
	if schemaName == "" || schemaName == "main" {
		return dataQuote(name)
	}
	return dataQuote(schemaName) + "." + dataQuote(name)
}

// Export reads the table in one read transaction, so the file is one
// snapshot, and writes each value in its canonical form whatever storage
// class SQLite kept it in.
func (c *Conn) Export(ctx context.Context, spec data.ExportSpec, w io.Writer) (int64, error) {
	name := dataTable(spec.Schema, spec.Table)
	if len(spec.Columns) == 0 {
		return 0, fmt.Errorf("export %s: no columns given", name)
	}
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	cols := make([]string, len(spec.Columns))
	for i, col := range spec.Columns {
		cols[i] = dataQuote(col.Name)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + name
	var args []any
	if spec.Bounded() {
		b := spec.KeyBounds()
		b.Where = spec.Where
		where, err := rangeWhere(b, &args)
		if err != nil {
			return 0, fmt.Errorf("export %s: %w", name, err)
		}
		q += where
	} else if spec.Where != "" {
		q += " WHERE (" + spec.Where + ")"
	}
	if len(spec.OrderBy) > 0 {
		ob := make([]string, len(spec.OrderBy))
		for i, o := range spec.OrderBy {
			ob[i] = dataQuote(o)
		}
		q += " ORDER BY " + strings.Join(ob, ", ")
	}
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	defer rows.Close()
	bw := bufio.NewWriterSize(w, 256<<10)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	var line []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("export %s: %w", name, err)
		}
		line = line[:0]
		for i, v := range vals {
			if i > 0 {
				line = append(line, ',')
			}
			line = appendCanonical(line, spec.Columns[i], v)
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return n, fmt.Errorf("export %s: %w", name, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("export %s: %w", name, err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export %s: %w", name, err)
	}
	return n, nil
}

// appendCanonical appends one value as a CSV field (nothing for NULL).
func appendCanonical(dst []byte, col schema.Column, v any) []byte {
	if v == nil {
		return dst
	}
	k := col.Type.Kind
	switch k {
	case schema.Bool:
		switch x := v.(type) {
		case bool:
			return append(dst, tf(x)...)
		case int64:
			return append(dst, tf(x != 0)...)
		case float64:
			return append(dst, tf(x != 0)...)
		}
	case schema.Int8, schema.Int16, schema.Int24, schema.Int32, schema.Int64, schema.Year, schema.Decimal:
		switch x := v.(type) {
		case int64:
			return strconv.AppendInt(dst, x, 10)
		case float64:
			if math.IsInf(x, 0) || math.IsNaN(x) {
				return data.AppendFloat(dst, x, 64)
			}
			return strconv.AppendFloat(dst, x, 'f', -1, 64)
		}
	case schema.Float32, schema.Float64:
		bits := 64
		if k == schema.Float32 {
			bits = 32
		}
		switch x := v.(type) {
		case int64:
			return data.AppendFloat(dst, float64(x), bits)
		case float64:
			return data.AppendFloat(dst, x, bits)
		}
	case schema.Binary, schema.Varbinary, schema.Blob:
		switch x := v.(type) {
		case []byte:
			return data.AppendHex(dst, x)
		case string:
			return data.AppendHex(dst, []byte(x))
		}
	case schema.Date, schema.Timestamp, schema.TimestampTZ:
		if t, ok := sqliteTime(v); ok {
			switch k {
			case schema.Date:
				return data.AppendDate(dst, t)
			case schema.Timestamp:
				return data.AppendTimestamp(dst, t, false)
			default:
				return data.AppendTimestamp(dst, t, true)
			}
		}
	}
	if t, ok := v.(time.Time); ok {
		return data.AppendField(dst, data.AppendTimestamp(nil, t, false))
	}
	return data.AppendField(dst, []byte(text(v)))
}

// Count counts the rows Export would write.
func (c *Conn) Count(ctx context.Context, spec data.ExportSpec) (int64, error) {
	name := dataTable(spec.Schema, spec.Table)
	q := "SELECT count(*) FROM " + name
	if spec.Where != "" {
		q += " WHERE (" + spec.Where + ")"
	}
	var n int64
	if err := c.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", name, err)
	}
	return n, nil
}

var (
	_ data.KeyRanger = (*Conn)(nil)
	_ data.Emptier   = (*Conn)(nil)
)

// IntKeyRange reads min, max and the row count of an integer key.
func (c *Conn) IntKeyRange(ctx context.Context, spec data.ChecksumSpec) (lo, hi, rows int64, ok bool, err error) {
	name := dataTable(spec.Schema, spec.Table)
	if len(spec.Key) != 1 {
		return 0, 0, 0, false, fmt.Errorf("key range of %s: one key column needed", name)
	}
	k := dataQuote(spec.Key[0].Name)
	q := "SELECT CAST(min(" + k + ") AS INTEGER), CAST(max(" + k + ") AS INTEGER), count(*) FROM " + name
	if spec.Where != "" {
		q += " WHERE (" + spec.Where + ")"
	}
	var mn, mx *int64
	if err := c.db.QueryRowContext(ctx, q).Scan(&mn, &mx, &rows); err != nil {
		return 0, 0, 0, false, fmt.Errorf("key range of %s: %w", name, err)
	}
	if mn == nil || mx == nil {
		return 0, 0, rows, false, nil
	}
	return *mn, *mx, rows, true, nil
}

// EmptyTable deletes every row.
func (c *Conn) EmptyTable(ctx context.Context, schemaName, table string) error {
	name := dataTable(schemaName, table)
	if _, err := c.db.ExecContext(ctx, "DELETE FROM "+name); err != nil {
		return fmt.Errorf("empty %s: %w", name, err)
	}
	return nil
}
