package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/schema"
)

var _ cdc.ChangeApplier = (*Conn)(nil)

// Checkpoint tables: cdc.CheckpointTable in a database of flowgate's own,
// or, for a user who may not create it, flowgate_cdc_checkpoints in the
// datasource's database.
const (
	checkpointDB       = "flowgate"
	fallbackCheckpoint = "flowgate_" + cdc.CheckpointTable
)

// Statement size limits: a prepared statement holds at most 65535
// placeholders, and one packet at most max_allowed_packet bytes (a
// statement's values stay under half of it). Updates of some columns
// pick each value with a CASE over the run's keys, which grows with the
// square of the rows: they go in smaller statements.
const (
	applyMaxParams     = 65535
	applyMaxBytes      = 16 << 20
	applyMaxUpdateRows = 200
	applyStmtCache     = 64
)

// Begin creates the checkpoint table if it is missing (DDL commits, so
// before the transaction), then opens the apply transaction on one
// connection with the session time zone and strict SQL mode, so bad
// values fail instead of being truncated with a warning.
func (c *Conn) Begin(ctx context.Context, spec cdc.ApplySpec) (cdc.ApplyTx, error) {
	if spec.Job == "" {
		return nil, errors.New("cdc apply: no job name")
	}
	loc, err := ParseTimeZone(spec.TimeZone)
	if dataIsUTC(spec.TimeZone) {
		loc, err = time.UTC, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cdc apply: time zone %q: %w", spec.TimeZone, err)
	}
	cp, err := c.ensureCheckpointTable(ctx, spec.Schema)
	if err != nil {
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	conn, done, err := c.session(ctx, spec.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	var mode string
	var packet int64
	if err := conn.QueryRowContext(ctx, "SELECT @@session.sql_mode, @@max_allowed_packet").Scan(&mode, &packet); err != nil {
		done()
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	if !strings.Contains(mode, "STRICT_ALL_TABLES") {
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = ?", strings.TrimPrefix(mode+",STRICT_ALL_TABLES", ",")); err != nil {
			done()
			return nil, fmt.Errorf("cdc apply: sql_mode: %w", err)
		}
		inner := done
		done = func() {
			if _, err := conn.ExecContext(context.Background(), "SET SESSION sql_mode = ?", mode); err != nil {
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
			inner()
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		done()
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	return &applyTx{c: c, tx: tx, release: done, loc: loc, job: spec.Job, checkpoint: cp,
		maxBytes: int(min(packet/2, applyMaxBytes)), stmts: map[string]*sql.Stmt{}}, nil
}

// checkpointTables are the two places a checkpoint table may be.
func (c *Conn) checkpointTables(db string) (own, fallback string) {
	return c.dataTable(checkpointDB, cdc.CheckpointTable), c.dataTable(db, fallbackCheckpoint)
}

// existingCheckpointTables lists the checkpoint tables this user can see,
// in the order they are used: flowgate's own, then the fallback.
func (c *Conn) existingCheckpointTables(ctx context.Context, db string) ([]string, error) {
	own, fallback := c.checkpointTables(db)
	rows, err := c.db.QueryContext(ctx, `SELECT table_schema = ? FROM information_schema.tables
		WHERE table_schema = ? AND table_name = ? OR table_schema = ? AND table_name = ?`,
		checkpointDB, checkpointDB, cdc.CheckpointTable, c.schemaOr(db), fallbackCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", cdc.CheckpointTable, err)
	}
	defer rows.Close()
	var hasOwn, hasFallback bool
	for rows.Next() {
		var isOwn bool
		if err := rows.Scan(&isOwn); err != nil {
			return nil, fmt.Errorf("find %s: %w", cdc.CheckpointTable, err)
		}
		hasOwn, hasFallback = hasOwn || isOwn, hasFallback || !isOwn
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find %s: %w", cdc.CheckpointTable, err)
	}
	var names []string
	if hasOwn {
		names = append(names, own)
	}
	if hasFallback {
		names = append(names, fallback)
	}
	return names, nil
}

// findCheckpointTable returns the checkpoint table in use, "" when there
// is none yet.
func (c *Conn) findCheckpointTable(ctx context.Context, db string) (string, error) {
	names, err := c.existingCheckpointTables(ctx, db)
	if err != nil || len(names) == 0 {
		return "", err
	}
	return names[0], nil
}

// ensureCheckpointTable finds or creates the checkpoint table: in database
// flowgate, or in the datasource's database when the user may not create
// that database or table there.
func (c *Conn) ensureCheckpointTable(ctx context.Context, db string) (string, error) {
	name, err := c.findCheckpointTable(ctx, db)
	if err != nil || name != "" {
		return name, err
	}
	own, fallback := c.checkpointTables(db)
	_, err = c.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+dataQuote(checkpointDB)+" CHARACTER SET utf8mb4")
	if err == nil {
		if err = c.createCheckpointTable(ctx, own); err == nil {
			return own, nil
		}
	}
	var me *mysqldrv.MySQLError
	// 1044 no access to the database, 1142 no CREATE on the table, 1227 no
	// privilege for the operation.
	if !errors.As(err, &me) || me.Number != 1044 && me.Number != 1142 && me.Number != 1227 {
		return "", fmt.Errorf("create %s: %w", own, err)
	}
	if err := c.createCheckpointTable(ctx, fallback); err != nil {
		return "", fmt.Errorf("create %s (no privilege for database %s: %v): %w", fallback, checkpointDB, me.Message, err)
	}
	return fallback, nil
}

func (c *Conn) createCheckpointTable(ctx context.Context, name string) error {
	_, err := c.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+name+
		" (job VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,"+
		" `position` LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"+
		" updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB")
	return err
}

// Checkpoint reads the job's committed position: from the table in use,
// or else from the fallback table (where it was written while the user
// could not use flowgate's own).
func (c *Conn) Checkpoint(ctx context.Context, spec cdc.ApplySpec) (cdc.Position, bool, error) {
	names, err := c.existingCheckpointTables(ctx, spec.Schema)
	if err != nil {
		return "", false, err
	}
	for _, name := range names {
		var pos string
		err := c.db.QueryRowContext(ctx, "SELECT `position` FROM "+name+" WHERE job = ?", spec.Job).Scan(&pos)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", false, fmt.Errorf("read checkpoint of %s: %w", spec.Job, err)
		}
		return cdc.Position(pos), true, nil
	}
	return "", false, nil
}

// ClearCheckpoint deletes the job's position from every checkpoint table.
func (c *Conn) ClearCheckpoint(ctx context.Context, spec cdc.ApplySpec) error {
	names, err := c.existingCheckpointTables(ctx, spec.Schema)
	if err != nil {
		return fmt.Errorf("clear checkpoint of %s: %w", spec.Job, err)
	}
	for _, name := range names {
		if _, err := c.db.ExecContext(ctx, "DELETE FROM "+name+" WHERE job = ?", spec.Job); err != nil {
			return fmt.Errorf("clear checkpoint of %s: %w", spec.Job, err)
		}
	}
	return nil
}

// AddColumn adds col, typed as a DDL task renders it, nullable and
// without a default, unless the table has a column of that name.
func (c *Conn) AddColumn(ctx context.Context, table cdc.TableRef, col schema.Column, sourceDialect string) error {
	name := c.dataTable(table.Schema, table.Name)
	src := schema.Table{Schema: table.Schema, Name: table.Name, Columns: []schema.Column{col}, Dialect: sourceDialect}
	typ, err := columnType(src, col, schema.CreateOptions{TinyIntOneAsBool: true})
	if err != nil {
		return fmt.Errorf("add column %s to %s: %w", col.Name, name, err)
	}
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.columns
		WHERE table_schema = ? AND table_name = ? AND column_name = ?`, c.schemaOr(table.Schema), table.Name, col.Name).Scan(&n); err != nil {
		return fmt.Errorf("add column %s to %s: %w", col.Name, name, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := c.db.ExecContext(ctx, "ALTER TABLE "+name+" ADD COLUMN "+dataQuote(col.Name)+" "+typ+" NULL"); err != nil {
		var me *mysqldrv.MySQLError
		if errors.As(err, &me) && me.Number == 1060 { // duplicate column: added meanwhile
			return nil
		}
		return fmt.Errorf("add column %s to %s: %w", col.Name, name, err)
	}
	return nil
}

// applyTx is an open apply transaction.
type applyTx struct {
	c          *Conn
	tx         *sql.Tx
	release    func() // restores the session and returns the connection
	loc        *time.Location
	job        string
	checkpoint string
	maxBytes   int
	stmts      map[string]*sql.Stmt // prepared statements by text
	err        error                // the failure that spoiled the transaction
	done       bool
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

// Apply applies the changes in order, one statement per run of changes
// (split at the placeholder and packet limits). A failed statement spoils
// the transaction: MySQL keeps the statements before it.
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
		if len(a.stmts) >= applyStmtCache {
			for k, s := range a.stmts {
				s.Close()
				delete(a.stmts, k)
			}
		}
		var err error
		if st, err = a.tx.PrepareContext(ctx, q); err != nil {
			return err
		}
		a.stmts[q] = st
	}
	_, err := st.ExecContext(ctx, args...)
	return err
}

// argList collects a statement's arguments: values of table t converted
// as LOAD DATA converts them (converted text shares one growing arena).
type argList struct {
	a     *applyTx
	t     *cdc.TargetTable
	args  []any
	arena []byte
}

// add appends the argument for value v of column col (nil is NULL).
func (l *argList) add(col int, v []byte) error {
	if v == nil {
		l.args = append(l.args, nil)
		return nil
	}
	out, grown, err := mysqlValue(l.arena, l.t.Columns[col], v, l.a.loc)
	if err != nil {
		return fmt.Errorf("column %s: %w", l.t.Columns[col].Name, err)
	}
	l.arena = grown
	l.args = append(l.args, out)
	return nil
}

// placeholder is the expression that reads an argument into column col.
func placeholder(t *cdc.TargetTable, col int) string { return valueExpr(t.Columns[col], "?") }

func (a *applyTx) run(ctx context.Context, r *cdc.Run) error {
	t := r.Table
	name := a.c.dataTable(t.Table.Schema, t.Table.Name)
	switch r.Kind {
	case cdc.RunTruncate:
		// TRUNCATE would commit the transaction.
		return a.exec(ctx, "DELETE FROM "+name, nil)
	case cdc.RunUpsert:
		for _, rows := range cdc.ChunkRows(r.Rows, nil, applyMaxParams/len(t.Columns), a.maxBytes) {
			if err := a.upsert(ctx, name, t, rows); err != nil {
				return err
			}
		}
	case cdc.RunDelete:
		for _, keys := range cdc.ChunkRows(r.Rows, nil, applyMaxParams/len(t.Key), a.maxBytes) {
			if err := a.delete(ctx, name, t, keys); err != nil {
				return err
			}
		}
	case cdc.RunUpdate:
		cols := append(append([]int(nil), t.Key...), r.Set...)
		per := len(r.Set)*(len(t.Key)+1) + len(t.Key)
		for _, rows := range cdc.ChunkRows(r.Rows, cols, min(applyMaxUpdateRows, applyMaxParams/per), a.maxBytes) {
			if err := a.update(ctx, name, t, r.Set, rows); err != nil {
				return err
			}
		}
	case cdc.RunMove:
		return a.move(ctx, name, r)
	}
	return nil
}

// upsert runs INSERT ... VALUES (...), ... ON DUPLICATE KEY UPDATE c =
// VALUES(c) for every non-key column (MariaDB and MySQL 8 both take it).
func (a *applyTx) upsert(ctx context.Context, name string, t *cdc.TargetTable, rows [][][]byte) error {
	l := &argList{a: a, t: t, args: make([]any, 0, len(rows)*len(t.Columns))}
	var b strings.Builder
	b.WriteString("INSERT INTO " + name + " (")
	one := make([]string, len(t.Columns))
	for i, col := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(dataQuote(col.Name))
		one[i] = placeholder(t, i)
	}
	tuple := "(" + strings.Join(one, ", ") + ")"
	b.WriteString(") VALUES ")
	for i, row := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
		for j, v := range row {
			if err := l.add(j, v); err != nil {
				return err
			}
		}
	}
	b.WriteString(" ON DUPLICATE KEY UPDATE ")
	first := true
	for i, col := range t.Columns {
		if cdc.IsKey(t, i) {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		q := dataQuote(col.Name)
		b.WriteString(q + " = VALUES(" + q + ")")
	}
	if first { // only key columns: nothing to update
		q := dataQuote(t.Columns[t.Key[0]].Name)
		b.WriteString(q + " = " + q)
	}
	return a.exec(ctx, b.String(), l.args)
}

// keyColumns renders k or (k1, k2).
func keyColumns(t *cdc.TargetTable) string {
	cols := make([]string, len(t.Key))
	for i, k := range t.Key {
		cols[i] = dataQuote(t.Columns[k].Name)
	}
	if len(cols) == 1 {
		return cols[0]
	}
	return "(" + strings.Join(cols, ", ") + ")"
}

// keyTuple renders the placeholders of one key like keyColumns.
func keyTuple(t *cdc.TargetTable) string {
	ph := make([]string, len(t.Key))
	for i, k := range t.Key {
		ph[i] = placeholder(t, k)
	}
	if len(ph) == 1 {
		return ph[0]
	}
	return "(" + strings.Join(ph, ", ") + ")"
}

func (l *argList) addKey(key [][]byte) error {
	for i, k := range l.t.Key {
		if err := l.add(k, key[i]); err != nil {
			return err
		}
	}
	return nil
}

// delete runs DELETE ... WHERE k IN (...) or (k1, k2) IN ((...), ...).
func (a *applyTx) delete(ctx context.Context, name string, t *cdc.TargetTable, keys [][][]byte) error {
	l := &argList{a: a, t: t, args: make([]any, 0, len(keys)*len(t.Key))}
	tuple := keyTuple(t)
	var b strings.Builder
	b.WriteString("DELETE FROM " + name + " WHERE " + keyColumns(t) + " IN (")
	for i, key := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
		if err := l.addKey(key); err != nil {
			return err
		}
	}
	b.WriteString(")")
	return a.exec(ctx, b.String(), l.args)
}

// keyMatch renders k1 = ? AND k2 = ? and adds the key's arguments.
func (l *argList) keyMatch(key [][]byte) (string, error) {
	conds := make([]string, len(l.t.Key))
	for i, k := range l.t.Key {
		conds[i] = dataQuote(l.t.Columns[k].Name) + " = " + placeholder(l.t, k)
	}
	return strings.Join(conds, " AND "), l.addKey(key)
}

// update sets the columns in set of rows that keep their other columns:
// UPDATE t SET c = CASE WHEN key = ? THEN ? ... END, ... WHERE key IN
// (...). Every comparison is of a column with a placeholder, so column
// collations apply as in a single-row UPDATE.
func (a *applyTx) update(ctx context.Context, name string, t *cdc.TargetTable, set []int, rows [][][]byte) error {
	l := &argList{a: a, t: t}
	var b strings.Builder
	b.WriteString("UPDATE " + name + " SET ")
	for i, c := range set {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(dataQuote(t.Columns[c].Name) + " = CASE")
		for _, row := range rows {
			cond, err := l.keyMatch(cdc.KeyValues(t, row))
			if err != nil {
				return err
			}
			b.WriteString(" WHEN " + cond + " THEN " + placeholder(t, c))
			if err := l.add(c, row[c]); err != nil {
				return err
			}
		}
		b.WriteString(" END")
	}
	b.WriteString(" WHERE " + keyColumns(t) + " IN (")
	tuple := keyTuple(t)
	for i, row := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
		if err := l.addKey(cdc.KeyValues(t, row)); err != nil {
			return err
		}
	}
	b.WriteString(")")
	return a.exec(ctx, b.String(), l.args)
}

// move applies a key change of a row that keeps some columns: UPDATE
// moves the row with the columns it keeps. When the new key already
// exists (the change was applied before), that row gets the new values and
// the old key goes, so applying it again leaves the same rows.
func (a *applyTx) move(ctx context.Context, name string, r *cdc.Run) error {
	t, row := r.Table, r.Rows[0]
	newKey := cdc.KeyValues(t, row)
	l := &argList{a: a, t: t}
	cond, err := l.keyMatch(newKey)
	if err != nil {
		return err
	}
	var n int
	if err := a.tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+name+" WHERE "+cond, l.args...).Scan(&n); err != nil {
		return err
	}
	l = &argList{a: a, t: t}
	sets := func(cols []int) (string, error) {
		s := make([]string, len(cols))
		for i, c := range cols {
			s[i] = dataQuote(t.Columns[c].Name) + " = " + placeholder(t, c)
			if err := l.add(c, row[c]); err != nil {
				return "", err
			}
		}
		return strings.Join(s, ", "), nil
	}
	if n > 0 {
		if len(r.Set) > 0 {
			s, err := sets(r.Set)
			if err != nil {
				return err
			}
			if cond, err = l.keyMatch(newKey); err != nil {
				return err
			}
			if err := a.exec(ctx, "UPDATE "+name+" SET "+s+" WHERE "+cond, l.args); err != nil {
				return err
			}
			l = &argList{a: a, t: t}
		}
		if cond, err = l.keyMatch(r.Old); err != nil {
			return err
		}
		return a.exec(ctx, "DELETE FROM "+name+" WHERE "+cond, l.args)
	}
	s, err := sets(append(append([]int(nil), t.Key...), r.Set...))
	if err != nil {
		return err
	}
	if cond, err = l.keyMatch(r.Old); err != nil {
		return err
	}
	return a.exec(ctx, "UPDATE "+name+" SET "+s+" WHERE "+cond, l.args)
}

// Commit records pos as the job's checkpoint in the transaction and
// commits.
func (a *applyTx) Commit(ctx context.Context, pos cdc.Position) error {
	if err := a.usable(); err != nil {
		return err
	}
	if _, err := a.tx.ExecContext(ctx, "INSERT INTO "+a.checkpoint+" (job, `position`, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6))"+
		" ON DUPLICATE KEY UPDATE `position` = VALUES(`position`), updated_at = VALUES(updated_at)", a.job, string(pos)); err != nil {
		a.err = fmt.Errorf("cdc apply: checkpoint: %w", err)
		return a.err
	}
	if err := a.tx.Commit(); err != nil {
		a.err = fmt.Errorf("cdc apply: commit: %w", err)
		return a.err
	}
	a.done = true
	a.release()
	return nil
}

// Rollback ends the transaction without committing; after Commit or a
// previous Rollback it does nothing.
func (a *applyTx) Rollback() error {
	if a.done {
		return nil
	}
	a.done = true
	err := a.tx.Rollback()
	a.release()
	if err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("cdc apply: rollback: %w", err)
	}
	return nil
}
