package sqlite

import (
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

// batchRows bounds a multi-row INSERT; 999 parameters is the lowest limit
// any SQLite build has.
func batchRows(cols int) int {
	return max(1, min(100, 999/max(cols, 1)))
}

// Import inserts the records with prepared multi-row INSERTs in one
// IMMEDIATE transaction (the write lock is taken up front, so a reader
// cannot make the upgrade fail halfway), together with the mark. With
// Replace the old rows are deleted in the same transaction first.
func (c *Conn) Import(ctx context.Context, spec data.ImportSpec, r io.Reader) (int64, error) {
	name := dataTable(spec.Schema, spec.Table)
	if len(spec.Columns) == 0 {
		return 0, fmt.Errorf("import %s: no columns given", name)
	}
	loc := time.UTC
	if spec.TimeZone != "" && !strings.EqualFold(spec.TimeZone, "UTC") {
		l, err := time.LoadLocation(spec.TimeZone)
		if err != nil {
			return 0, fmt.Errorf("import %s: time zone %q: %w", name, spec.TimeZone, err)
		}
		loc = l
	}
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", name, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return 0, fmt.Errorf("import %s: %w", name, err)
	}
	committed := false
	defer func() {
		if !committed {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if m := spec.Mark; m != nil {
		marks := dataTable(marksSchema(data.MarkScope{Schema: spec.Schema, MarksSchema: spec.MarksSchema}), data.MarksTable)
		if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+marks+
			" (run_id TEXT NOT NULL, file_id TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (run_id, file_id))"); err != nil {
			return 0, fmt.Errorf("import %s: create %s: %w", name, data.MarksTable, err)
		}
		res, err := conn.ExecContext(ctx, "INSERT OR IGNORE INTO "+marks+" (run_id, file_id, at) VALUES (?, ?, strftime('%Y-%m-%d %H:%M:%f', 'now'))", m.RunID, m.FileID)
		if err != nil {
			return 0, fmt.Errorf("import %s: mark: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return 0, fmt.Errorf("import %s: run %s file %s: %w", name, m.RunID, m.FileID, data.ErrAlreadyImported)
		}
	}
	if spec.Replace {
		if _, err := conn.ExecContext(ctx, "DELETE FROM "+name); err != nil {
			return 0, fmt.Errorf("import %s: replace: %w", name, err)
		}
	}

	ncol := len(spec.Columns)
	cols := make([]string, ncol)
	for i, col := range spec.Columns {
		cols[i] = dataQuote(col.Name)
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", ncol), ", ") + ")"
	prefix := "INSERT INTO " + name + " (" + strings.Join(cols, ", ") + ") VALUES "
	per := batchRows(ncol)
	full, err := conn.PrepareContext(ctx, prefix+strings.TrimSuffix(strings.Repeat(one+", ", per), ", "))
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", name, err)
	}
	defer full.Close()

	cr := data.NewReader(r)
	args := make([]any, 0, per*ncol)
	var n int64
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		stmt := full
		if rows := len(args) / ncol; rows < per {
			var err error
			if stmt, err = conn.PrepareContext(ctx, prefix+strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")); err != nil {
				return err
			}
			defer stmt.Close()
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
		args = args[:0]
		return nil
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("import %s: %w", name, err)
		}
		if err := data.CheckFields(rec, ncol, cr.Record()); err != nil {
			return 0, fmt.Errorf("import %s: %w", name, err)
		}
		for i, v := range rec {
			a, err := storageValue(spec.Columns[i], v, loc)
			if err != nil {
				return 0, fmt.Errorf("import %s: record %d column %s: %w", name, cr.Record(), spec.Columns[i].Name, err)
			}
			args = append(args, a)
		}
		n++
		if len(args) == per*ncol {
			if err := flush(); err != nil {
				return 0, fmt.Errorf("import %s: rows up to record %d: %w", name, cr.Record(), err)
			}
		}
	}
	if err := flush(); err != nil {
		return 0, fmt.Errorf("import %s: rows up to record %d: %w", name, cr.Record(), err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, fmt.Errorf("import %s: commit: %w", name, err)
	}
	committed = true
	return n, nil
}

// storageValue turns a canonical value into what SQLite keeps: integers
// and booleans (1/0) as INTEGER, floats as REAL, binary as BLOB, times as
// ISO text (timestamptz in UTC without offset, as SQLite's date functions
// expect), the rest as TEXT for the column affinity to settle.
func storageValue(col schema.Column, v []byte, loc *time.Location) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch col.Type.Kind {
	case schema.Bool:
		b, err := data.ParseBool(v)
		if err != nil {
			return nil, err
		}
		if b {
			return int64(1), nil
		}
		return int64(0), nil
	case schema.Int8, schema.Int16, schema.Int24, schema.Int32, schema.Int64, schema.Year:
		// SQLite would keep any text in an integer column: check here.
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		if _, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return string(v), nil // above int64: text keeps every digit
		}
		return nil, fmt.Errorf("invalid integer %q", v)
	case schema.Decimal:
		if _, err := strconv.ParseFloat(string(v), 64); err != nil {
			return nil, fmt.Errorf("invalid decimal %q", v)
		}
	case schema.Float32, schema.Float64:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(f) {
			// SQLite would silently store NULL.
			return nil, fmt.Errorf("NaN cannot be stored in SQLite: %w", data.ErrNotFinite)
		}
		return f, nil
	case schema.Binary, schema.Varbinary, schema.Blob:
		return data.DecodeHex(nil, v)
	case schema.Timestamp, schema.TimestampTZ:
		t, hasOff, err := data.ParseTimestamp(v)
		if err != nil {
			return string(v), nil
		}
		if col.Type.Kind == schema.TimestampTZ {
			t = t.UTC()
		} else if hasOff {
			t = t.In(loc)
		}
		return string(data.AppendTimestamp(nil, time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), false)), nil
	}
	return string(v), nil
}

// ImportedMarks lists the FileIDs marked for runID (none when the marks
// table does not exist yet).
func (c *Conn) ImportedMarks(ctx context.Context, scope data.MarkScope, runID string) ([]string, error) {
	schemaName := marksSchema(scope)
	master := "sqlite_master"
	if schemaName != "" && schemaName != "main" {
		master = dataQuote(schemaName) + ".sqlite_master"
	}
	var n int
	if err := c.db.QueryRowContext(ctx, "SELECT count(*) FROM "+master+" WHERE type = 'table' AND name = ?", data.MarksTable).Scan(&n); err != nil {
		return nil, fmt.Errorf("imported marks: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := c.db.QueryContext(ctx, "SELECT file_id FROM "+dataTable(schemaName, data.MarksTable)+" WHERE run_id = ? ORDER BY file_id", runID)
	if err != nil {
		return nil, fmt.Errorf("imported marks: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("imported marks: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("imported marks: %w", err)
	}
	return ids, nil
}

// marksSchema is where SQLite keeps marks: SQLite has no schemas of its
// own, so in the database file itself (or marks_schema, an attached
// database), as flowgate_import_marks.
func marksSchema(scope data.MarkScope) string {
	if scope.MarksSchema != "" {
		return scope.MarksSchema
	}
	return scope.Schema
}
