package mysql

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mysqldriver "database/sql/driver"
	driver "github.com/go-sql-driver/mysql"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

var readerSeq atomic.Int64

// loadTarget says how a column is named in LOAD DATA: directly, or through
// a user variable and a SET expression when the file cannot carry the
// value as MySQL would read it (binary as hex, bit values as digits).
func loadTarget(col schema.Column, i int) (target, set string) {
	v := "@v" + strconv.Itoa(i)
	if e := valueExpr(col, v); e != v {
		return v, dataQuote(col.Name) + " = " + e
	}
	return dataQuote(col.Name), ""
}

// valueExpr is the SQL that reads ref, a value as mysqlValue converts it,
// into col: the text itself, or hex through UNHEX for binary, binary
// digits through CONV for bit, 1/0 through CAST for a bit(1) boolean.
// LOAD DATA's SET clauses and the CDC applier's placeholders use it.
func valueExpr(col schema.Column, ref string) string {
	switch col.Type.Kind {
	case schema.Binary, schema.Varbinary, schema.Blob:
		return "UNHEX(" + ref + ")"
	case schema.Bit:
		return "CAST(CONV(" + ref + ", 2, 10) AS UNSIGNED)"
	case schema.Bool:
		if strings.HasPrefix(strings.ToLower(col.Type.Native), "bit") {
			return "CAST(" + ref + " AS UNSIGNED)"
		}
	}
	return ref
}

// Import converts flowgate CSV to LOAD DATA's tab-separated, backslash-
// escaped form on the fly and feeds it through the driver's reader handler
// (LOAD DATA LOCAL INFILE 'Reader::...'), in one transaction with the mark.
// LOCAL makes MySQL downgrade bad data to warnings, so any warning fails
// the import. With Replace the rows go with DELETE in the same
// transaction (TRUNCATE would commit), so a failed load leaves them.
func (c *Conn) Import(ctx context.Context, spec data.ImportSpec, r io.Reader) (int64, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	if len(spec.Columns) == 0 {
		return 0, fmt.Errorf("import %s: no columns given", name)
	}
	loc, err := ParseTimeZone(spec.TimeZone)
	if dataIsUTC(spec.TimeZone) {
		loc, err = time.UTC, nil
	}
	if err != nil {
		return 0, fmt.Errorf("import %s: time zone %q: %w", name, spec.TimeZone, err)
	}
	marks := ""
	if spec.Mark != nil {
		if marks, err = c.ensureMarks(ctx, data.MarkScope{Schema: spec.Schema, MarksSchema: spec.MarksSchema}); err != nil {
			return 0, fmt.Errorf("import %s: %w", name, err)
		}
	}
	conn, done, err := c.session(ctx, spec.TimeZone)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", name, err)
	}
	defer done()
	if spec.NoForeignKeyChecks {
		if _, err := conn.ExecContext(ctx, "SET SESSION foreign_key_checks = 0"); err != nil {
			return 0, fmt.Errorf("import %s: %w", name, err)
		}
		defer func() {
			if _, err := conn.ExecContext(context.Background(), "SET SESSION foreign_key_checks = 1"); err != nil {
				_ = conn.Raw(func(any) error { return mysqldriver.ErrBadConn })
			}
		}()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", name, err)
	}
	defer tx.Rollback()
	if m := spec.Mark; m != nil {
		res, err := tx.ExecContext(ctx, "INSERT IGNORE INTO "+marks+
			" (run_id, file_id, at) VALUES (?, ?, UTC_TIMESTAMP(6))", m.RunID, m.FileID)
		if err != nil {
			return 0, fmt.Errorf("import %s: mark: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return 0, fmt.Errorf("import %s: run %s file %s: %w", name, m.RunID, m.FileID, data.ErrAlreadyImported)
		}
	}
	if spec.Replace {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+name); err != nil {
			return 0, fmt.Errorf("import %s: replace: %w", name, err)
		}
	}

	targets := make([]string, len(spec.Columns))
	var sets []string
	for i, col := range spec.Columns {
		var set string
		targets[i], set = loadTarget(col, i)
		if set != "" {
			sets = append(sets, set)
		}
	}
	pr, pw := io.Pipe()
	handler := "flowgate-" + strconv.FormatInt(readerSeq.Add(1), 10)
	driver.RegisterReaderHandler(handler, func() io.Reader { return pr })
	defer driver.DeregisterReaderHandler(handler)
	type result struct {
		n   int64
		err error
	}
	conv := make(chan result, 1)
	go func() {
		n, err := toLoadData(r, pw, spec.Columns, loc)
		pw.CloseWithError(err)
		conv <- result{n, err}
	}()
	// Hex literals keep the statement independent of NO_BACKSLASH_ESCAPES.
	q := "LOAD DATA LOCAL INFILE " + dataLiteral("Reader::"+handler) + " INTO TABLE " + name +
		" CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'09' ENCLOSED BY '' ESCAPED BY X'5C' LINES TERMINATED BY X'0A' (" +
		strings.Join(targets, ", ") + ")"
	if len(sets) > 0 {
		q += " SET " + strings.Join(sets, ", ")
	}
	res, execErr := tx.ExecContext(ctx, q)
	// The server may fail before asking for the file: unblock the converter.
	pr.CloseWithError(errors.New("load data finished"))
	cr := <-conv
	if cr.err != nil {
		return 0, fmt.Errorf("import %s: %w", name, cr.err)
	}
	if execErr != nil {
		return 0, fmt.Errorf("import %s: %w", name, execErr)
	}
	if err := loadWarnings(ctx, tx); err != nil {
		return 0, fmt.Errorf("import %s: %w", name, err)
	}
	loaded, _ := res.RowsAffected()
	if loaded != cr.n {
		return 0, fmt.Errorf("import %s: MySQL loaded %d of %d rows", name, loaded, cr.n)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("import %s: commit: %w", name, err)
	}
	return loaded, nil
}

// loadWarnings fails when LOAD DATA left warnings: with LOCAL, truncated or
// invalid values and duplicate keys are only warnings.
func loadWarnings(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SHOW WARNINGS LIMIT 5")
	if err != nil {
		return fmt.Errorf("show warnings: %w", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var level, msg string
		var code int
		if err := rows.Scan(&level, &code, &msg); err != nil {
			return fmt.Errorf("show warnings: %w", err)
		}
		if strings.EqualFold(level, "Note") {
			continue
		}
		msgs = append(msgs, fmt.Sprintf("%s %d: %s", level, code, msg))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("show warnings: %w", err)
	}
	if len(msgs) > 0 {
		return fmt.Errorf("bad data (MySQL reported %s)", strings.Join(msgs, "; "))
	}
	return nil
}

// toLoadData rewrites flowgate CSV as LOAD DATA input: fields separated by
// tab, records by LF, NULL as \N, and \, tab, LF, CR, NUL escaped with a
// backslash; booleans 1/0, binary as hex for UNHEX, timestamps with an
// offset moved into the session zone loc.
func toLoadData(r io.Reader, w io.Writer, cols []schema.Column, loc *time.Location) (int64, error) {
	cr := data.NewReader(r)
	bw := bufio.NewWriterSize(w, 256<<10)
	var line []byte
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cr.Record(), err
		}
		if err := data.CheckFields(rec, len(cols), cr.Record()); err != nil {
			return cr.Record(), err
		}
		line = line[:0]
		for i, v := range rec {
			if i > 0 {
				line = append(line, '\t')
			}
			if v == nil {
				line = append(line, '\\', 'N')
				continue
			}
			if line, err = appendLoadValue(line, cols[i], v, loc); err != nil {
				return cr.Record(), fmt.Errorf("record %d column %s: %w", cr.Record(), cols[i].Name, err)
			}
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return cr.Record(), err
		}
	}
	return cr.Record(), bw.Flush()
}

// appendLoadValue appends v, a canonical value of col, as a LOAD DATA
// field.
func appendLoadValue(dst []byte, col schema.Column, v []byte, loc *time.Location) ([]byte, error) {
	var buf [64]byte
	out, _, err := mysqlValue(buf[:0], col, v, loc)
	if err != nil {
		return nil, err
	}
	return appendEscaped(dst, out), nil
}

// mysqlValue converts v, a canonical value of col, into the text MySQL
// reads for it through valueExpr: booleans 1/0, binary as validated hex
// (for UNHEX), timestamps with an offset moved into the session zone loc,
// float32 values as their exact double; NaN and infinities refused. Values
// MySQL reads as they are come back as v itself; converted ones are
// appended to buf (out is the appended part, grown the longer buf).
func mysqlValue(buf []byte, col schema.Column, v []byte, loc *time.Location) (out, grown []byte, err error) {
	start := len(buf)
	conv := func(b []byte) ([]byte, []byte, error) { return b[start:len(b):len(b)], b, nil }
	switch col.Type.Kind {
	case schema.Bool:
		b, err := data.ParseBool(v)
		if err != nil {
			return nil, buf, err
		}
		if b {
			return conv(append(buf, '1'))
		}
		return conv(append(buf, '0'))
	case schema.Float32, schema.Float64:
		f, err := strconv.ParseFloat(string(v), 64)
		if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return nil, buf, fmt.Errorf("%s cannot be stored in MySQL, which has no NaN or infinity: %w", v, data.ErrNotFinite)
		}
		if err == nil && col.Type.Kind == schema.Float32 {
			// MySQL reads a FLOAT's text as a double and range-checks that:
			// the shortest float32 text of FLT_MAX (3.4028235e+38) is above
			// FLT_MAX as a double. Send the float32's exact double instead.
			if f32, err := strconv.ParseFloat(string(v), 32); err == nil {
				return conv(strconv.AppendFloat(buf, f32, 'g', -1, 64))
			}
		}
	case schema.Binary, schema.Varbinary, schema.Blob:
		if len(v) < 2 || v[0] != '\\' || (v[1] != 'x' && v[1] != 'X') {
			return nil, buf, fmt.Errorf("binary value does not start with \\x")
		}
		h := v[2:]
		if len(h)%2 != 0 {
			return nil, buf, fmt.Errorf("binary value has an odd number of hex digits")
		}
		for _, c := range h {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return nil, buf, fmt.Errorf("binary value has a non-hex digit %q", c)
			}
		}
		return h, buf, nil // UNHEX turns it into bytes
	case schema.Timestamp, schema.TimestampTZ:
		if n := len(v); loc == time.UTC && n > 4 && string(v[n-3:]) == "+00" && '0' <= v[n-4] && v[n-4] <= '9' {
			return v[:n-3], buf, nil // in UTC already, the session zone: only the offset goes
		}
		t, hasOff, err := data.ParseTimestamp(v)
		if err == nil && hasOff {
			// MySQL reads timestamps in the session zone.
			t = t.In(loc)
			return conv(data.AppendTimestamp(buf, time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), false))
		}
	}
	return v, buf, nil
}

func appendEscaped(dst, v []byte) []byte {
	for _, c := range v {
		switch c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case 0:
			dst = append(dst, '\\', '0')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// marksTables are the places a marks table may be for scope, preferred
// first: the configured database's, or flowgate's own database; then the
// target database's (where runs before flowgate had its own database kept
// them, and where a user who may not create databases keeps them).
func (c *Conn) marksTables(scope data.MarkScope) (prefDB, prefTable, fbDB, fbTable string) {
	fbDB, fbTable = c.schemaOr(scope.Schema), data.MarksTable
	switch scope.MarksSchema {
	case "", data.OwnSchema:
		return data.OwnSchema, data.OwnMarksTable, fbDB, fbTable
	}
	return scope.MarksSchema, data.MarksTable, fbDB, fbTable
}

// existingMarks lists the marks tables this user can see, preferred
// first, as qualified names.
func (c *Conn) existingMarks(ctx context.Context, scope data.MarkScope) ([]string, error) {
	pdb, pt, fdb, ft := c.marksTables(scope)
	var out []string
	for _, p := range [][2]string{{pdb, pt}, {fdb, ft}} {
		if len(out) > 0 && out[0] == c.dataTable(p[0], p[1]) {
			continue
		}
		var n int
		if err := c.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
			p[0], p[1]).Scan(&n); err != nil {
			return nil, fmt.Errorf("find %s: %w", data.MarksTable, err)
		}
		if n > 0 {
			out = append(out, c.dataTable(p[0], p[1]))
		}
	}
	return out, nil
}

// ensureMarks finds or creates the marks table and returns its name: in
// database flowgate (or marks_schema), or in the target database when the
// user may not create that database or table. CREATE commits implicitly,
// so it runs before the import transaction.
func (c *Conn) ensureMarks(ctx context.Context, scope data.MarkScope) (string, error) {
	names, err := c.existingMarks(ctx, scope)
	if err != nil {
		return "", err
	}
	pdb, pt, fdb, ft := c.marksTables(scope)
	preferred, fallback := c.dataTable(pdb, pt), c.dataTable(fdb, ft)
	if len(names) > 0 && names[0] == preferred {
		return preferred, nil
	}
	_, err = c.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+dataQuote(pdb)+" CHARACTER SET utf8mb4")
	if err == nil {
		if err = c.createMarksTable(ctx, preferred); err == nil {
			return preferred, nil
		}
	}
	var me *driver.MySQLError
	// 1044 no access to the database, 1142 no CREATE on the table, 1227 no
	// privilege for the operation.
	if !errors.As(err, &me) || me.Number != 1044 && me.Number != 1142 && me.Number != 1227 || scope.MarksSchema != "" {
		return "", fmt.Errorf("create %s: %w", preferred, err)
	}
	if len(names) > 0 {
		return names[0], nil
	}
	if err := c.createMarksTable(ctx, fallback); err != nil {
		return "", fmt.Errorf("create %s (no privilege for database %s: %v): %w", fallback, pdb, me.Message, err)
	}
	return fallback, nil
}

func (c *Conn) createMarksTable(ctx context.Context, name string) error {
	_, err := c.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+name+
		" (run_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"+
		" file_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"+
		" at DATETIME(6) NOT NULL, PRIMARY KEY (run_id, file_id)) ENGINE=InnoDB")
	return err
}

// ImportedMarks lists the FileIDs marked for runID in every marks table
// there is (none when there is none yet).
func (c *Conn) ImportedMarks(ctx context.Context, scope data.MarkScope, runID string) ([]string, error) {
	names, err := c.existingMarks(ctx, scope)
	if err != nil {
		return nil, fmt.Errorf("imported marks: %w", err)
	}
	var ids []string
	for _, name := range names {
		rows, err := c.db.QueryContext(ctx, "SELECT file_id FROM "+name+" WHERE run_id = ? ORDER BY file_id", runID)
		if err != nil {
			return nil, fmt.Errorf("imported marks: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("imported marks: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("imported marks: %w", err)
		}
	}
	return ids, nil
}
