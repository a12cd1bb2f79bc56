package mysql

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

var (
	_ data.Exporter    = (*Conn)(nil)
	_ data.Importer    = (*Conn)(nil)
	_ data.Checksummer = (*Conn)(nil)
)

func dataQuote(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (c *Conn) dataTable(db, name string) string {
	if db == "" {
		db = c.database
	}
	if db == "" {
		return dataQuote(name)
	}
	return dataQuote(db) + "." + dataQuote(name)
}

func dataLiteral(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// dataTZ is the MySQL time_zone value for a session time zone ("" = UTC).
// Named zones need the server's time zone tables; offsets always work.
func dataTZ(tz string) string {
	if dataIsUTC(tz) {
		return "+00:00"
	}
	return tz
}

func dataIsUTC(tz string) bool {
	switch strings.ToUpper(tz) {
	case "", "UTC", "Z", "GMT", "ETC/UTC", "+00:00", "+00", "00:00":
		return true
	}
	return false
}

// session pins a connection with time_zone set. done restores the old zone
// (or drops the connection if it cannot) and returns it to the pool.
func (c *Conn) session(ctx context.Context, tz string) (conn *sql.Conn, done func(), err error) {
	return sessionOn(ctx, c.db, tz)
}

// sessionOn is session on pool db.
func sessionOn(ctx context.Context, db *sql.DB, tz string) (conn *sql.Conn, done func(), err error) {
	conn, err = db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	var old string
	if err := conn.QueryRowContext(ctx, "SELECT @@session.time_zone").Scan(&old); err != nil {
		conn.Close()
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, "SET time_zone = "+dataLiteral(dataTZ(tz))); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("session time zone %q: %w", tz, err)
	}
	return conn, func() {
		if _, err := conn.ExecContext(context.Background(), "SET time_zone = "+dataLiteral(old)); err != nil {
			// Never hand out a connection with a foreign time zone.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}

// exportExpr selects col so its text is easy to turn into the canonical
// form: dates as text (a parseTime driver would turn zero dates into
// year 1; text says the connection's driver leaves them as the server's
// text, which is the same), timestamps converted to UTC, bit values as
// digits.
func exportExpr(col schema.Column, tz string, text bool) string {
	c := dataQuote(col.Name)
	if text && (col.Type.Kind == schema.Date || col.Type.Kind == schema.Timestamp || col.Type.Kind == schema.Time ||
		col.Type.Kind == schema.TimestampTZ && dataIsUTC(tz)) {
		return c
	}
	switch col.Type.Kind {
	case schema.Bool:
		return "(" + c + " <> 0)"
	case schema.Bit:
		return "LPAD(BIN(" + c + "), " + strconv.Itoa(max(col.Type.Length, 1)) + ", '0')"
	case schema.Date, schema.Timestamp, schema.Time:
		return "CAST(" + c + " AS CHAR)"
	case schema.TimestampTZ:
		if dataIsUTC(tz) {
			return "CAST(" + c + " AS CHAR)"
		}
		return "CAST(CONVERT_TZ(" + c + ", @@session.time_zone, '+00:00') AS CHAR)"
	case schema.Geometry:
		return "ST_AsText(" + c + ")"
	case schema.Float32:
		// MariaDB prints a FLOAT with 6 digits; as a double it is exact.
		return "(" + c + " + 0E0)"
	case schema.Array:
		if strings.HasPrefix(strings.ToLower(col.Type.Native), "set") {
			// A set bound for an array column: {"a","b"} (members hold no
			// commas; quotes and backslashes are escaped).
			return "CASE WHEN " + c + " = '' THEN '{}' ELSE CONCAT('{\"', REPLACE(REPLACE(REPLACE(" + c +
				", '\\\\', '\\\\\\\\'), '\"', '\\\\\"'), ',', '\",\"'), '\"}') END"
		}
	}
	return c
}

// exportSelect is the export's SELECT; text: for a connection of the
// text pool (see exportExpr).
func (c *Conn) exportSelect(spec data.ExportSpec, text bool) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, col := range spec.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(exportExpr(col, spec.TimeZone, text))
	}
	b.WriteString(" FROM " + c.dataTable(spec.Schema, spec.Table))
	if spec.Where != "" {
		b.WriteString(" WHERE (" + spec.Where + ")")
	}
	if len(spec.OrderBy) > 0 {
		b.WriteString(" ORDER BY ")
		for i, o := range spec.OrderBy {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(dataQuote(o))
		}
	}
	return b.String()
}

// Export streams a SELECT in a consistent-snapshot read-only transaction
// and writes each value in its canonical form.
func (c *Conn) Export(ctx context.Context, spec data.ExportSpec, w io.Writer) (int64, error) {
	if isStreamSnapshot(spec.Snapshot) {
		return c.exportSnapshot(ctx, spec, w) // a change stream's snapshot (cdc_snapshot.go)
	}
	name := c.dataTable(spec.Schema, spec.Table)
	if len(spec.Columns) == 0 {
		return 0, fmt.Errorf("export %s: no columns given", name)
	}
	conn, done, err := sessionOn(ctx, c.text, spec.TimeZone)
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	defer done()
	if _, err := conn.ExecContext(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	sel, err := c.boundedSelect(spec)
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	// No arguments: the text protocol, rows streamed as they arrive.
	rows, err := conn.QueryContext(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	defer rows.Close()
	n, err := writeRows(rows, spec, w)
	if err != nil {
		return n, fmt.Errorf("export %s: %w", name, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return n, fmt.Errorf("export %s: %w", name, err)
	}
	return n, nil
}

func writeRows(rows *sql.Rows, spec data.ExportSpec, w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	vals := make([]sql.RawBytes, len(spec.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	var line []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		line = line[:0]
		for i, v := range vals {
			if i > 0 {
				line = append(line, ',')
			}
			var err error
			if line, err = appendCanonical(line, spec.Columns[i], v, spec.ZeroDates); err != nil {
				return n, fmt.Errorf("row %d: %w", n+1, err)
			}
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// isZeroDate reports MySQL dates with a zero year, month or day part.
func isZeroDate(v []byte) bool {
	return len(v) >= 10 && (string(v[0:4]) == "0000" || string(v[5:7]) == "00" || string(v[8:10]) == "00")
}

// appendCanonical appends one exported value (v nil = NULL) as a CSV field.
func appendCanonical(dst []byte, col schema.Column, v []byte, zero data.ZeroDatePolicy) ([]byte, error) {
	if v == nil {
		return dst, nil
	}
	switch col.Type.Kind {
	case schema.Bool:
		if len(v) == 1 && v[0] == '0' {
			return append(dst, 'f'), nil
		}
		return append(dst, 't'), nil
	case schema.Float32, schema.Float64:
		bits := 64
		if col.Type.Kind == schema.Float32 {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(v), bits)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", col.Name, err)
		}
		return data.AppendFloat(dst, f, bits), nil
	case schema.Binary, schema.Varbinary, schema.Blob:
		return data.AppendHex(dst, v), nil
	case schema.Date, schema.Timestamp, schema.TimestampTZ:
		if isZeroDate(v) {
			if zero == data.ZeroDateError {
				return nil, fmt.Errorf("column %s holds the zero date %q, which other databases cannot store (export zero dates as NULL instead)", col.Name, v)
			}
			return dst, nil // NULL
		}
		dst = append(dst, v...)
		if col.Type.Kind == schema.TimestampTZ {
			dst = append(dst, "+00"...)
		}
		return dst, nil
	}
	return data.AppendField(dst, v), nil
}

// Count counts the rows Export would write.
func (c *Conn) Count(ctx context.Context, spec data.ExportSpec) (int64, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	conn, done, err := c.session(ctx, spec.TimeZone)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", name, err)
	}
	defer done()
	q := "SELECT COUNT(*) FROM " + name
	if spec.Where != "" {
		q += " WHERE (" + spec.Where + ")"
	}
	var n int64
	if err := conn.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", name, err)
	}
	return n, nil
}
