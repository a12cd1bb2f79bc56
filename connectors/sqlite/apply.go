package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/schema"
)

var _ cdc.ChangeApplier = (*Conn)(nil)

// checkpointTable is where checkpoints live: SQLite has no schemas of its
// own, so a prefixed table in the main database.
const checkpointTable = "flowgate_" + cdc.CheckpointTable

// applyMaxRows bounds the rows of one multi-row statement; the
// connection's variable limit (999 in old builds, 32766 since 3.32)
// bounds it further.
const applyMaxRows = 500

// Begin creates the checkpoint table if it is missing, then opens an
// IMMEDIATE transaction (the write lock is taken up front) on one
// connection.
func (c *Conn) Begin(ctx context.Context, spec cdc.ApplySpec) (cdc.ApplyTx, error) {
	if spec.Job == "" {
		return nil, errors.New("cdc apply: no job name")
	}
	loc := time.UTC
	if spec.TimeZone != "" && !strings.EqualFold(spec.TimeZone, "UTC") {
		l, err := time.LoadLocation(spec.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("cdc apply: time zone %q: %w", spec.TimeZone, err)
		}
		loc = l
	}
	if _, err := c.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+dataQuote(checkpointTable)+
		" (job TEXT PRIMARY KEY, position TEXT NOT NULL, updated_at TEXT NOT NULL)"); err != nil {
		return nil, fmt.Errorf("cdc apply: create %s: %w", checkpointTable, err)
	}
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	vars := 999
	if err := conn.Raw(func(dc any) error {
		if sc, ok := dc.(*sqlite3.SQLiteConn); ok {
			vars = sc.GetLimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
		}
		return nil
	}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	return &applyTx{conn: conn, loc: loc, job: spec.Job, vars: max(vars, 1), stmts: map[string]*sql.Stmt{}}, nil
}

// hasCheckpointTable reports whether the checkpoint table exists.
func (c *Conn) hasCheckpointTable(ctx context.Context) (bool, error) {
	var n int
	if err := c.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", checkpointTable).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// Checkpoint reads the job's committed position.
func (c *Conn) Checkpoint(ctx context.Context, spec cdc.ApplySpec) (cdc.Position, bool, error) {
	ok, err := c.hasCheckpointTable(ctx)
	if err != nil {
		return "", false, fmt.Errorf("read checkpoint of %s: %w", spec.Job, err)
	}
	if !ok {
		return "", false, nil
	}
	var pos string
	err = c.db.QueryRowContext(ctx, "SELECT position FROM "+dataQuote(checkpointTable)+" WHERE job = ?", spec.Job).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read checkpoint of %s: %w", spec.Job, err)
	}
	return cdc.Position(pos), true, nil
}

// ClearCheckpoint deletes the job's position.
func (c *Conn) ClearCheckpoint(ctx context.Context, spec cdc.ApplySpec) error {
	ok, err := c.hasCheckpointTable(ctx)
	if err == nil && ok {
		_, err = c.db.ExecContext(ctx, "DELETE FROM "+dataQuote(checkpointTable)+" WHERE job = ?", spec.Job)
	}
	if err != nil {
		return fmt.Errorf("clear checkpoint of %s: %w", spec.Job, err)
	}
	return nil
}

// AddColumn adds col with the declared type a DDL task renders, nullable,
// with its default only when that is a constant (the source's existing
// rows hold it), unless the table has a column of that name.
func (c *Conn) AddColumn(ctx context.Context, table cdc.TableRef, col schema.Column, sourceDialect string) error {
	name := dataTable(table.Schema, table.Name)
	src := schema.Table{Name: table.Name, Columns: []schema.Column{col}, Dialect: sourceDialect}
	typ, err := columnType(src, col, col.Type)
	if err != nil {
		return fmt.Errorf("add column %s to %s: %w", col.Name, name, err)
	}
	db := table.Schema
	if db == "" {
		db = "main"
	}
	var n int
	if err := c.db.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info(?, ?) WHERE name = ? COLLATE NOCASE",
		table.Name, db, col.Name).Scan(&n); err != nil {
		return fmt.Errorf("add column %s to %s: %w", col.Name, name, err)
	}
	if n > 0 {
		return nil
	}
	if col.DefaultKind == schema.DefaultLiteral {
		def, _ := defaultClause(src, col)
		typ += def
	}
	if _, err := c.db.ExecContext(ctx, "ALTER TABLE "+name+" ADD COLUMN "+dataQuote(col.Name)+" "+typ); err != nil {
		return fmt.Errorf("add column %s to %s: %w", col.Name, name, err)
	}
	return nil
}

// applyTx is an open apply transaction.
type applyTx struct {
	conn  *sql.Conn
	loc   *time.Location
	job   string
	vars  int                  // the connection's variable limit
	stmts map[string]*sql.Stmt // prepared statements by text
	err   error                // the failure that spoiled the transaction
	done  bool
}

func (a *applyTx) usable() error {
	switch {
	case a.done:
		return errors.New("cdc apply: the transaction is finished")
	case a.err != nil:
		return fmt.Errorf("cdc apply: the transaction failed: %w", a.err)
	}
	return nil
}

// Apply applies the changes in order with prepared statements: a
// multi-row statement per run of upserts or deletes, one row at a time for
// updates of some columns.
func (a *applyTx) Apply(ctx context.Context, changes []cdc.MappedChange) error {
	if err := a.usable(); err != nil {
		return err
	}
	runs, err := cdc.PlanRuns(changes)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if err := a.run(ctx, r); err != nil {
			a.err = fmt.Errorf("apply to %s: %w", r.Table.Table, err)
			return a.err
		}
	}
	return nil
}

// exec runs q, prepared once per transaction and text.
func (a *applyTx) exec(ctx context.Context, q string, args []any) error {
	st, ok := a.stmts[q]
	if !ok {
		var err error
		if st, err = a.conn.PrepareContext(ctx, q); err != nil {
			return err
		}
		a.stmts[q] = st
	}
	_, err := st.ExecContext(ctx, args...)
	return err
}

// value converts a canonical value of column col as the importer does.
func (a *applyTx) value(t *cdc.TargetTable, col int, v []byte) (any, error) {
	x, err := storageValue(t.Columns[col], v, a.loc)
	if err != nil {
		return nil, fmt.Errorf("column %s: %w", t.Columns[col].Name, err)
	}
	return x, nil
}

func (a *applyTx) run(ctx context.Context, r *cdc.Run) error {
	t := r.Table
	name := dataTable(t.Table.Schema, t.Table.Name)
	switch r.Kind {
	case cdc.RunTruncate:
		return a.exec(ctx, "DELETE FROM "+name, nil)
	case cdc.RunUpsert:
		for _, rows := range cdc.ChunkRows(r.Rows, nil, min(applyMaxRows, a.vars/len(t.Columns)), 1<<62) {
			if err := a.upsert(ctx, name, t, rows); err != nil {
				return err
			}
		}
	case cdc.RunDelete:
		for _, keys := range cdc.ChunkRows(r.Rows, nil, min(applyMaxRows, a.vars/len(t.Key)), 1<<62) {
			if err := a.delete(ctx, name, t, keys); err != nil {
				return err
			}
		}
	case cdc.RunUpdate:
		for _, row := range r.Rows {
			if err := a.update(ctx, name, t, r.Set, row); err != nil {
				return err
			}
		}
	case cdc.RunMove:
		return a.move(ctx, name, r)
	}
	return nil
}

func tuple(n int) string { return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")" }

// upsert runs INSERT ... VALUES (...), ... ON CONFLICT (key) DO UPDATE SET
// c = excluded.c for every non-key column.
func (a *applyTx) upsert(ctx context.Context, name string, t *cdc.TargetTable, rows [][][]byte) error {
	cols := make([]string, len(t.Columns))
	var sets []string
	for i, col := range t.Columns {
		cols[i] = dataQuote(col.Name)
		if !cdc.IsKey(t, i) {
			sets = append(sets, cols[i]+" = excluded."+cols[i])
		}
	}
	keys := make([]string, len(t.Key))
	for i, k := range t.Key {
		keys[i] = cols[k]
	}
	one := tuple(len(cols))
	q := "INSERT INTO " + name + " (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+", ", len(rows)), ", ") + " ON CONFLICT (" + strings.Join(keys, ", ") + ") DO "
	if len(sets) == 0 {
		q += "NOTHING"
	} else {
		q += "UPDATE SET " + strings.Join(sets, ", ")
	}
	args := make([]any, 0, len(rows)*len(cols))
	for _, row := range rows {
		for j, v := range row {
			x, err := a.value(t, j, v)
			if err != nil {
				return err
			}
			args = append(args, x)
		}
	}
	return a.exec(ctx, q, args)
}

// delete runs DELETE ... WHERE k IN (...) or (k1, k2) IN (VALUES (...), ...).
func (a *applyTx) delete(ctx context.Context, name string, t *cdc.TargetTable, keys [][][]byte) error {
	cols := make([]string, len(t.Key))
	for i, k := range t.Key {
		cols[i] = dataQuote(t.Columns[k].Name)
	}
	var q string
	if len(cols) == 1 {
		q = "DELETE FROM " + name + " WHERE " + cols[0] + " IN " + tuple(len(keys))
	} else {
		one := tuple(len(cols))
		q = "DELETE FROM " + name + " WHERE (" + strings.Join(cols, ", ") + ") IN (VALUES " +
			strings.TrimSuffix(strings.Repeat(one+", ", len(keys)), ", ") + ")"
	}
	args := make([]any, 0, len(keys)*len(cols))
	for _, key := range keys {
		for i, k := range t.Key {
			x, err := a.value(t, k, key[i])
			if err != nil {
				return err
			}
			args = append(args, x)
		}
	}
	return a.exec(ctx, q, args)
}

// assign renders c1 = ?, c2 = ? (sep ", ") or k1 = ? AND k2 = ? (sep " AND ")
// and appends the values' arguments.
func (a *applyTx) assign(t *cdc.TargetTable, cols []int, vals func(i, col int) []byte, sep string, args []any) (string, []any, error) {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = dataQuote(t.Columns[c].Name) + " = ?"
		x, err := a.value(t, c, vals(i, c))
		if err != nil {
			return "", nil, err
		}
		args = append(args, x)
	}
	return strings.Join(parts, sep), args, nil
}

// update sets the columns in set of one row that keeps its other columns.
func (a *applyTx) update(ctx context.Context, name string, t *cdc.TargetTable, set []int, row [][]byte) error {
	fromRow := func(_, c int) []byte { return row[c] }
	sets, args, err := a.assign(t, set, fromRow, ", ", nil)
	if err != nil {
		return err
	}
	where, args, err := a.assign(t, t.Key, fromRow, " AND ", args)
	if err != nil {
		return err
	}
	return a.exec(ctx, "UPDATE "+name+" SET "+sets+" WHERE "+where, args)
}

// move applies a key change of a row that keeps some columns: UPDATE
// moves the row with the columns it keeps. When the new key already
// exists (the change was applied before), that row gets the new values and
// the old key goes, so applying it again leaves the same rows.
func (a *applyTx) move(ctx context.Context, name string, r *cdc.Run) error {
	t, row := r.Table, r.Rows[0]
	fromRow := func(_, c int) []byte { return row[c] }
	fromOld := func(i, _ int) []byte { return r.Old[i] }
	where, args, err := a.assign(t, t.Key, fromRow, " AND ", nil)
	if err != nil {
		return err
	}
	var n int
	if err := a.conn.QueryRowContext(ctx, "SELECT count(*) FROM "+name+" WHERE "+where, args...).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		if len(r.Set) > 0 {
			if err := a.update(ctx, name, t, r.Set, row); err != nil {
				return err
			}
		}
		where, args, err := a.assign(t, t.Key, fromOld, " AND ", nil)
		if err != nil {
			return err
		}
		return a.exec(ctx, "DELETE FROM "+name+" WHERE "+where, args)
	}
	sets, args, err := a.assign(t, append(append([]int(nil), t.Key...), r.Set...), fromRow, ", ", nil)
	if err != nil {
		return err
	}
	where, args, err = a.assign(t, t.Key, fromOld, " AND ", args)
	if err != nil {
		return err
	}
	return a.exec(ctx, "UPDATE "+name+" SET "+sets+" WHERE "+where, args)
}

func (a *applyTx) finish() {
	for _, st := range a.stmts {
		st.Close()
	}
	a.stmts = nil
	a.conn.Close()
}

// Commit records pos as the job's checkpoint in the transaction and
// commits.
func (a *applyTx) Commit(ctx context.Context, pos cdc.Position) error {
	if err := a.usable(); err != nil {
		return err
	}
	if _, err := a.conn.ExecContext(ctx, "INSERT INTO "+dataQuote(checkpointTable)+
		" (job, position, updated_at) VALUES (?, ?, strftime('%Y-%m-%d %H:%M:%f', 'now'))"+
		" ON CONFLICT (job) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at", a.job, string(pos)); err != nil {
		a.err = fmt.Errorf("cdc apply: checkpoint: %w", err)
		return a.err
	}
	if _, err := a.conn.ExecContext(ctx, "COMMIT"); err != nil {
		a.err = fmt.Errorf("cdc apply: commit: %w", err)
		return a.err
	}
	a.done = true
	a.finish()
	return nil
}

// Rollback ends the transaction without committing; after Commit or a
// previous Rollback it does nothing.
func (a *applyTx) Rollback() error {
	if a.done {
		return nil
	}
	a.done = true
	_, err := a.conn.ExecContext(context.Background(), "ROLLBACK")
	a.finish()
	if err != nil && !strings.Contains(err.Error(), "no transaction is active") {
		return fmt.Errorf("cdc apply: rollback: %w", err)
	}
	return nil
}
