package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/schema"
)

var _ cdc.ChangeApplier = (*Conn)(nil)

// Checkpoint tables: cdc.CheckpointTable in a schema of flowgate's own,
// or, for a user who may not create schemas, flowgate_cdc_checkpoints in
// the datasource's schema.
const (
	checkpointSchema   = "flowgate"
	fallbackCheckpoint = "flowgate_" + cdc.CheckpointTable
)

// Statement size limits: PostgreSQL's bind message holds at most 65535
// parameters; the byte bound keeps one statement's values in memory small.
const (
	applyMaxParams = 65535
	applyMaxBytes  = 8 << 20
	// applyMaxArrayRows bounds the rows of one unnest statement.
	applyMaxArrayRows = 10000
)

// The smallest runs of rows written with COPY (see copyRows) instead of
// INSERT statements: upserts through the staging table, and plain
// inserts straight into the table, which cost less from fewer rows on.
// Tests lower them.
var (
	applyCopyRows       = 2000
	applyCopyInsertRows = 500
)

// Begin creates the checkpoint table if it is missing (in its own
// transaction), then opens the apply transaction on one connection with
// the session settings of the importer.
func (c *Conn) Begin(ctx context.Context, spec cdc.ApplySpec) (cdc.ApplyTx, error) {
	if spec.Job == "" {
		return nil, errors.New("cdc apply: no job name")
	}
	cp, err := c.ensureCheckpointTable(ctx, spec.Schema)
	if err != nil {
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	if _, err := tx.Exec(ctx, dataSessionSQL, dataTZ(spec.TimeZone)); err != nil {
		tx.Rollback(context.Background())
		conn.Release()
		return nil, fmt.Errorf("cdc apply: session settings: %w", err)
	}
	return &applyTx{c: c, conn: conn, tx: tx, job: spec.Job, checkpoint: cp, types: map[string]map[string]string{}}, nil
}

// checkpointTables are the two places a checkpoint table may be.
func (c *Conn) checkpointTables(schemaName string) (own, fallback string) {
	return pgx.Identifier{checkpointSchema, cdc.CheckpointTable}.Sanitize(), c.dataTable(schemaName, fallbackCheckpoint)
}

// checkpointState reports whether flowgate's own checkpoint table exists
// and this user may use it (the schema may be another user's), and
// whether the fallback table exists.
func (c *Conn) checkpointState(ctx context.Context, schemaName string) (hasOwn, hasFallback bool, err error) {
	_, fallback := c.checkpointTables(schemaName)
	err = c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND has_schema_privilege(n.oid, 'USAGE')
			AND has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')
			AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE')),
		to_regclass($3) IS NOT NULL`, checkpointSchema, cdc.CheckpointTable, fallback).Scan(&hasOwn, &hasFallback)
	if err != nil {
		return false, false, fmt.Errorf("find %s: %w", cdc.CheckpointTable, err)
	}
	return hasOwn, hasFallback, nil
}

// existingCheckpointTables lists the checkpoint tables there are, in the
// order they are used: flowgate's own (when this user may use it), then
// the fallback.
func (c *Conn) existingCheckpointTables(ctx context.Context, schemaName string) ([]string, error) {
	own, fallback := c.checkpointTables(schemaName)
	hasOwn, hasFallback, err := c.checkpointState(ctx, schemaName)
	var names []string
	if hasOwn {
		names = append(names, own)
	}
	if hasFallback {
		names = append(names, fallback)
	}
	return names, err
}

// findCheckpointTable returns the checkpoint table in use, "" when there
// is none yet.
func (c *Conn) findCheckpointTable(ctx context.Context, schemaName string) (string, error) {
	names, err := c.existingCheckpointTables(ctx, schemaName)
	if err != nil || len(names) == 0 {
		return "", err
	}
	return names[0], nil
}

// ensureCheckpointTable finds or creates the checkpoint table: in schema
// flowgate, or in the datasource's schema when the user may not create
// that schema or table.
func (c *Conn) ensureCheckpointTable(ctx context.Context, schemaName string) (string, error) {
	name, err := c.findCheckpointTable(ctx, schemaName)
	if err != nil || name != "" {
		return name, err
	}
	own, fallback := c.checkpointTables(schemaName)
	err = c.createIgnoringRace(ctx, "CREATE SCHEMA IF NOT EXISTS "+ident(checkpointSchema))
	if err == nil {
		if err = c.createCheckpointTable(ctx, own); err == nil {
			return own, nil
		}
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" { // insufficient_privilege
		return "", fmt.Errorf("create %s: %w", own, err)
	}
	if err := c.createCheckpointTable(ctx, fallback); err != nil {
		return "", fmt.Errorf("create %s (no privilege for schema %s: %v): %w", fallback, checkpointSchema, pe.Message, err)
	}
	return fallback, nil
}

func (c *Conn) createCheckpointTable(ctx context.Context, name string) error {
	return c.createIgnoringRace(ctx, "CREATE TABLE IF NOT EXISTS "+name+
		` (job text PRIMARY KEY, "position" text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`)
}

// createIgnoringRace runs a CREATE ... IF NOT EXISTS; losing the race to a
// concurrent creator is success.
func (c *Conn) createIgnoringRace(ctx context.Context, q string) error {
	_, err := c.pool.Exec(ctx, q)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P06" || pe.Code == "42P07" || pe.Code == "42710") {
		return nil
	}
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
		err := c.pool.QueryRow(ctx, `SELECT "position" FROM `+name+" WHERE job = $1", spec.Job).Scan(&pos)
		if errors.Is(err, pgx.ErrNoRows) {
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
		if _, err := c.pool.Exec(ctx, "DELETE FROM "+name+" WHERE job = $1", spec.Job); err != nil {
			return fmt.Errorf("clear checkpoint of %s: %w", spec.Job, err)
		}
	}
	return nil
}

// AddColumn adds col, typed as a DDL task renders it, nullable, with its
// default only when that is a constant (the source's existing rows hold
// it), unless the table has a column of that name.
func (c *Conn) AddColumn(ctx context.Context, table cdc.TableRef, col schema.Column, sourceDialect string) error {
	name := c.dataTable(table.Schema, table.Name)
	src := schema.Table{Schema: table.Schema, Name: table.Name, Columns: []schema.Column{col}, Dialect: sourceDialect}
	typ, err := columnType(src, col, col.Type, schema.CreateOptions{TinyIntOneAsBool: true})
	if err != nil {
		return fmt.Errorf("add column %s to %s: %w", col.Name, name, err)
	}
	var exists bool
	if err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
		WHERE attrelid = $1::regclass AND attname = $2 AND attnum > 0 AND NOT attisdropped)`, name, col.Name).Scan(&exists); err != nil {
		return fmt.Errorf("add column %s to %s: %w", col.Name, name, err)
	}
	if exists {
		return nil
	}
	if col.DefaultKind == schema.DefaultLiteral {
		def, _ := defaultClause(src, col, typ)
		typ += def
	}
	if _, err := c.pool.Exec(ctx, "ALTER TABLE "+name+" ADD COLUMN IF NOT EXISTS "+ident(col.Name)+" "+typ); err != nil {
		return fmt.Errorf("add column %s to %s: %w", col.Name, name, err)
	}
	return nil
}

// applyTx is an open apply transaction.
type applyTx struct {
	c          *Conn
	conn       *pgxpool.Conn
	tx         pgx.Tx
	job        string
	checkpoint string
	// types caches, per table, the type each column's values are cast to
	// in an update's VALUES list.
	types map[string]map[string]string
	// sent is the last Apply's statements, running in the background;
	// nil when the connection is free.
	sent *sending
	// err is the failure that aborted the transaction.
	err  error
	done bool
	// upsertOnly is set once a plain insert met an existing key: from then
	// on this transaction writes every row with ON CONFLICT.
	upsertOnly bool
	// staged names the staging tables this transaction filled: they are
	// emptied before they are filled again (the commit empties them).
	staged map[string]bool
	// mayStage: the user may create temporary tables (read with the
	// column types).
	mayStage bool
	// copyInto names the tables that plain inserts may COPY into: no
	// row-level security and no rules, which COPY would refuse or skip.
	copyInto map[string]bool
}

// statements are statements not yet sent, with the table of each.
type statements struct {
	batch  *pgconn.Batch
	tables []cdc.TableRef
	bytes  int
}

// sending is one Apply's statements on their way: the server runs them
// while the next batch of changes is read and planned.
type sending struct {
	done   chan struct{}
	cancel context.CancelFunc
	err    error // set before done closes
	// runs and fast say what was sent, to write it again with upserts
	// when a plain insert met an existing key.
	runs []*cdc.Run
	fast bool
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
// (split at 65535 parameters or 8 MiB of values). Statements are sent in a
// pipeline: the server runs them in order while they are still being sent,
// so a batch of many short runs does not wait a round trip for each. The
// last statements go out in the background and Apply returns: the server
// runs them while the caller reads and plans the next changes. The next
// Apply, Commit or Rollback waits for them first, and a failure shows
// there.
func (a *applyTx) Apply(ctx context.Context, changes []cdc.MappedChange) error {
	if err := a.usable(); err != nil {
		return err
	}
	runs, err := cdc.PlanRuns(changes)
	if err != nil {
		return err
	}
	// Rows the runs insert are written as plain inserts, which cost the
	// server less than ON CONFLICT; a savepoint lets the batch be written
	// again with upserts, in order, when a key exists after all (changes
	// read again after a crash, rows the target had before) or the split
	// of inserts from updates broke a constraint.
	fast := !a.upsertOnly && hasInserts(runs)
	st := &statements{}
	if fast {
		a.queue(ctx, st, cdc.TableRef{}, "SAVEPOINT fg_inserts", nil)
	}
	err = a.applyRuns(ctx, st, runs, fast)
	if err == nil && fast {
		err = a.queue(ctx, st, cdc.TableRef{}, "RELEASE SAVEPOINT fg_inserts", nil)
	}
	if err == nil {
		err = a.settle(ctx)
	}
	if err == nil {
		a.send(ctx, st, runs, fast)
		return nil
	}
	if a.err == nil && fast && integrityError(err) {
		err = a.again(ctx, runs)
	}
	if err != nil && a.err == nil {
		a.err = err
	}
	return err
}

// again rolls back to the savepoint of a failed plain-insert batch and
// writes its runs with upserts, in order; the transaction stays with
// upserts from then on.
func (a *applyTx) again(ctx context.Context, runs []*cdc.Run) error {
	if _, err := a.conn.Conn().PgConn().Exec(ctx, "ROLLBACK TO SAVEPOINT fg_inserts").ReadAll(); err != nil {
		return fmt.Errorf("cdc apply: rollback to savepoint: %w", err)
	}
	a.upsertOnly = true
	st := &statements{}
	if err := a.applyRuns(ctx, st, runs, false); err != nil {
		return err
	}
	return a.flush(ctx, st)
}

// integrityError reports an integrity constraint violation (class 23).
func integrityError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "23")
}

// hasInserts reports whether some upsert run inserts rows.
func hasInserts(runs []*cdc.Run) bool {
	for _, r := range runs {
		if r.Kind == cdc.RunUpsert && slices.Contains(r.Inserted, true) {
			return true
		}
	}
	return false
}

func (a *applyTx) applyRuns(ctx context.Context, st *statements, runs []*cdc.Run, plainInserts bool) error {
	for _, r := range runs {
		if err := a.run(ctx, st, r, plainInserts); err != nil {
			return err
		}
	}
	return nil
}

func applyError(table cdc.TableRef, err error) error {
	return fmt.Errorf("apply to %s: %w", table, explainCopyError(err))
}

// queue adds a statement, sending what is queued when it holds 8 MiB.
func (a *applyTx) queue(ctx context.Context, st *statements, table cdc.TableRef, q string, args [][]byte) error {
	if st.batch == nil {
		st.batch = &pgconn.Batch{}
	}
	st.batch.ExecParams(q, args, nil, nil, nil)
	st.tables = append(st.tables, table)
	st.bytes += len(q)
	for _, v := range args {
		st.bytes += len(v)
	}
	if st.bytes >= applyMaxBytes {
		return a.flush(ctx, st)
	}
	return nil
}

// flush runs the queued statements (after what was sent before) and waits
// for their results.
func (a *applyTx) flush(ctx context.Context, st *statements) error {
	if err := a.settle(ctx); err != nil {
		return err
	}
	return a.runBatch(ctx, st)
}

// runBatch sends the statements and reads their results; an error names
// the table of the statement that failed (the server skips the ones after
// it).
func (a *applyTx) runBatch(ctx context.Context, st *statements) error {
	if st == nil || len(st.tables) == 0 {
		return nil
	}
	batch, tables := st.batch, st.tables
	*st = statements{}
	results, err := a.conn.Conn().PgConn().ExecBatch(ctx, batch).ReadAll()
	for i, res := range results {
		if res.Err != nil {
			return applyError(tables[min(i, len(tables)-1)], res.Err)
		}
	}
	if err != nil {
		return applyError(tables[min(len(results), len(tables)-1)], err)
	}
	return nil
}

// send runs the statements in the background.
func (a *applyTx) send(ctx context.Context, st *statements, runs []*cdc.Run, fast bool) {
	if len(st.tables) == 0 {
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &sending{done: make(chan struct{}), cancel: cancel, runs: runs, fast: fast}
	a.sent = s
	go func() {
		defer close(s.done)
		s.err = a.runBatch(sctx, st)
	}()
}

// settle waits for the statements sent in the background; when their
// plain inserts met an existing key it writes them again with upserts.
// A failure aborts the transaction.
func (a *applyTx) settle(ctx context.Context) error {
	s := a.sent
	if s == nil {
		return a.err
	}
	<-s.done
	s.cancel()
	a.sent = nil
	err := s.err
	if err != nil && s.fast && integrityError(err) {
		err = a.again(ctx, s.runs)
	}
	if err != nil {
		a.err = err
	}
	return err
}

// exec runs one statement at once, after the queued and sent ones.
func (a *applyTx) exec(ctx context.Context, st *statements, q string, args [][]byte) (*pgconn.Result, error) {
	if err := a.flush(ctx, st); err != nil {
		return nil, err
	}
	res := a.conn.Conn().PgConn().ExecParams(ctx, q, args, nil, nil, nil).Read()
	return res, res.Err
}

func (a *applyTx) run(ctx context.Context, st *statements, r *cdc.Run, plainInserts bool) error {
	t := r.Table
	name := a.c.dataTable(t.Table.Schema, t.Table.Name)
	switch r.Kind {
	case cdc.RunTruncate:
		if err := a.flush(ctx, st); err != nil {
			return err
		}
		if err := emptyTable(ctx, a.tx, name); err != nil {
			return applyError(t.Table, err)
		}
	case cdc.RunUpsert:
		if !plainInserts {
			return a.rows(ctx, st, name, r, r.Rows, false)
		}
		// Inserted rows first, then the updated ones: keys are unique
		// within a run, so only other constraints can tell the order,
		// and a violation writes the batch again in order.
		var ins, upd [][][]byte
		for i, row := range r.Rows {
			if r.Inserted[i] {
				ins = append(ins, row)
			} else {
				upd = append(upd, row)
			}
		}
		if err := a.rows(ctx, st, name, r, ins, true); err != nil {
			return err
		}
		return a.rows(ctx, st, name, r, upd, false)
	case cdc.RunDelete:
		return a.rows(ctx, st, name, r, r.Rows, false)
	case cdc.RunUpdate:
		types, err := a.castTypes(ctx, st, name)
		if err != nil {
			return applyError(t.Table, err)
		}
		cols := append(append([]int(nil), t.Key...), r.Set...)
		for _, rows := range cdc.ChunkRows(r.Rows, cols, applyMaxParams/len(cols), applyMaxBytes) {
			q, args, err := updateSQL(name, t, cols, types, rows)
			if err != nil {
				return applyError(t.Table, err)
			}
			if err := a.queue(ctx, st, t.Table, q, args); err != nil {
				return err
			}
		}
	case cdc.RunMove:
		if err := a.move(ctx, st, name, r); err != nil {
			return applyError(t.Table, err)
		}
	}
	return nil
}

// rows queues the statements that upsert (plain: insert) or delete rows
// of a run.
func (a *applyTx) rows(ctx context.Context, st *statements, name string, r *cdc.Run, rows [][][]byte, plain bool) error {
	if len(rows) == 0 {
		return nil
	}
	t := r.Table
	// Many rows travel as one array per column (unnest): a short
	// statement the server parses quickly, instead of a VALUES list with
	// a parameter per value. Array columns cannot be unnested that way
	// and use the VALUES form.
	var types map[string]string
	if len(rows) > 1 {
		var err error
		if types, err = a.castTypes(ctx, st, name); err != nil {
			return applyError(t.Table, err)
		}
	}
	cols := t.Key
	if r.Kind == cdc.RunUpsert {
		cols = allColumns(t)
	}
	if r.Kind == cdc.RunUpsert && types != nil {
		direct := plain && a.copyInto[name] && len(rows) >= applyCopyInsertRows
		if names, ok := typeNames(t, types); ok && (direct || a.mayStage && len(rows) >= applyCopyRows) {
			return a.copyRows(ctx, st, name, r, names, rows, plain, direct)
		}
	}
	arrays := types != nil && unnestable(t, cols, types)
	maxRows := applyMaxParams / len(cols)
	if arrays {
		maxRows = applyMaxArrayRows
	}
	for _, rows := range cdc.ChunkRows(rows, nil, maxRows, applyMaxBytes) {
		var q string
		var args [][]byte
		switch {
		case r.Kind == cdc.RunUpsert && arrays:
			q, args = upsertArraySQL(name, t, types, rows, plain)
		case r.Kind == cdc.RunUpsert:
			q, args = upsertSQL(name, t, rows, plain)
		case arrays:
			q, args = deleteArraySQL(name, t, types, rows)
		default:
			q, args = deleteSQL(name, t, rows)
		}
		if err := a.queue(ctx, st, t.Table, q, args); err != nil {
			return err
		}
	}
	return nil
}

// move applies a key change of a row that keeps some columns: UPDATE
// moves the row with the columns it keeps. When the new key already
// exists (the change was applied before), that row gets the new values and
// the old key goes, so applying it again leaves the same rows.
func (a *applyTx) move(ctx context.Context, st *statements, name string, r *cdc.Run) error {
	t, row := r.Table, r.Rows[0]
	newKey := cdc.KeyValues(t, row)
	var args [][]byte
	param := func(v []byte) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := func(key [][]byte) string {
		conds := make([]string, len(t.Key))
		for i, k := range t.Key {
			conds[i] = ident(t.Columns[k].Name) + " = " + param(key[i])
		}
		return strings.Join(conds, " AND ")
	}
	res, err := a.exec(ctx, st, "SELECT 1 FROM "+name+" WHERE "+where(newKey), args)
	if err != nil {
		return err
	}
	args = nil
	if len(res.Rows) > 0 {
		if len(r.Set) > 0 {
			sets := make([]string, len(r.Set))
			for i, c := range r.Set {
				sets[i] = ident(t.Columns[c].Name) + " = " + param(row[c])
			}
			if _, err := a.exec(ctx, nil, "UPDATE "+name+" SET "+strings.Join(sets, ", ")+" WHERE "+where(newKey), args); err != nil {
				return err
			}
			args = nil
		}
		_, err = a.exec(ctx, nil, "DELETE FROM "+name+" WHERE "+where(r.Old), args)
		return err
	}
	var sets []string
	for _, c := range append(append([]int(nil), t.Key...), r.Set...) {
		sets = append(sets, ident(t.Columns[c].Name)+" = "+param(row[c]))
	}
	_, err = a.exec(ctx, nil, "UPDATE "+name+" SET "+strings.Join(sets, ", ")+" WHERE "+where(r.Old), args)
	return err
}

// upsertSQL renders INSERT ... VALUES (...), ... ON CONFLICT (key) DO
// UPDATE SET every non-key column to the new value (plain: no ON
// CONFLICT, for inserts under a savepoint).
func upsertSQL(name string, t *cdc.TargetTable, rows [][][]byte, plain bool) (string, [][]byte) {
	var b strings.Builder
	b.WriteString("INSERT INTO " + name + " (")
	for i, col := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(col.Name))
	}
	b.WriteString(") VALUES ")
	args := make([][]byte, 0, len(rows)*len(t.Columns))
	for i, row := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, v := range row {
			if j > 0 {
				b.WriteString(", ")
			}
			args = append(args, v)
			b.WriteString("$" + strconv.Itoa(len(args)))
		}
		b.WriteByte(')')
	}
	if plain {
		return b.String(), args
	}
	b.WriteString(" ON CONFLICT (")
	for i, k := range t.Key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(t.Columns[k].Name))
	}
	b.WriteString(") DO ")
	first := true
	for i, col := range t.Columns {
		if cdc.IsKey(t, i) {
			continue
		}
		if first {
			b.WriteString("UPDATE SET ")
			first = false
		} else {
			b.WriteString(", ")
		}
		b.WriteString(ident(col.Name) + " = EXCLUDED." + ident(col.Name))
	}
	if first {
		b.WriteString("NOTHING")
	}
	return b.String(), args
}

func allColumns(t *cdc.TargetTable) []int {
	cols := make([]int, len(t.Columns))
	for i := range cols {
		cols[i] = i
	}
	return cols
}

// unnestable reports whether every column's type has an array type that
// unnest turns back into that type (not arrays themselves).
func unnestable(t *cdc.TargetTable, cols []int, types map[string]string) bool {
	for _, c := range cols {
		typ, ok := types[t.Columns[c].Name]
		if !ok || strings.HasSuffix(typ, "]") {
			return false
		}
	}
	return true
}

// appendArray renders values as a PostgreSQL array literal of quoted
// text elements (NULL unquoted); the server casts them to the element type.
func appendArray(dst []byte, vals [][]byte) []byte {
	n := 2
	for _, v := range vals {
		n += len(v) + 3
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, '{')
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		if v == nil {
			dst = append(dst, "NULL"...)
			continue
		}
		dst = append(dst, '"')
		for len(v) > 0 {
			// Copy up to the next character that needs a backslash.
			j := 0
			for j < len(v) && v[j] != '"' && v[j] != '\\' {
				j++
			}
			dst = append(dst, v[:j]...)
			if j == len(v) {
				break
			}
			dst = append(dst, '\\', v[j])
			v = v[j+1:]
		}
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// columnArrays turns rows into one array literal per column of cols.
func columnArrays(rows [][][]byte, cols []int, key bool, t *cdc.TargetTable) [][]byte {
	args := make([][]byte, len(cols))
	vals := make([][]byte, len(rows))
	for i, c := range cols {
		for r, row := range rows {
			if key {
				vals[r] = row[i] // key rows hold the key values only
			} else {
				vals[r] = row[c]
			}
		}
		args[i] = appendArray(nil, vals)
	}
	return args
}

// upsertArraySQL is INSERT ... SELECT * FROM unnest($1::t1[], ...) ON
// CONFLICT (key) DO UPDATE SET every non-key column (plain: no ON
// CONFLICT, for runs of inserts under a savepoint).
func upsertArraySQL(name string, t *cdc.TargetTable, types map[string]string, rows [][][]byte, plain bool) (string, [][]byte) {
	cols := allColumns(t)
	var b strings.Builder
	b.WriteString("INSERT INTO " + name + " (")
	for i, col := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(col.Name))
	}
	b.WriteString(") SELECT * FROM unnest(")
	for i, col := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1) + "::" + types[col.Name] + "[]")
	}
	b.WriteString(")")
	if !plain {
		q, _ := upsertSQL(name, t, nil, false)
		b.WriteString(q[strings.Index(q, " ON CONFLICT ("):])
	}
	return b.String(), columnArrays(rows, cols, false, t)
}

// deleteArraySQL is DELETE ... WHERE k = ANY($1::t[]), or (k1, k2) IN
// (SELECT * FROM unnest(...)) for a composite key.
func deleteArraySQL(name string, t *cdc.TargetTable, types map[string]string, keys [][][]byte) (string, [][]byte) {
	args := columnArrays(keys, t.Key, true, t)
	if len(t.Key) == 1 {
		col := t.Columns[t.Key[0]]
		return "DELETE FROM " + name + " WHERE " + ident(col.Name) + " = ANY($1::" + types[col.Name] + "[])", args
	}
	names := make([]string, len(t.Key))
	casts := make([]string, len(t.Key))
	for i, k := range t.Key {
		col := t.Columns[k]
		names[i] = ident(col.Name)
		casts[i] = "$" + strconv.Itoa(i+1) + "::" + types[col.Name] + "[]"
	}
	return "DELETE FROM " + name + " WHERE (" + strings.Join(names, ", ") + ") IN (SELECT * FROM unnest(" + strings.Join(casts, ", ") + "))", args
}

// deleteSQL renders DELETE ... WHERE k IN (...) or (k1, k2) IN ((...), ...).
func deleteSQL(name string, t *cdc.TargetTable, keys [][][]byte) (string, [][]byte) {
	var b strings.Builder
	b.WriteString("DELETE FROM " + name + " WHERE ")
	multi := len(t.Key) > 1
	if multi {
		b.WriteByte('(')
	}
	for i, k := range t.Key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(t.Columns[k].Name))
	}
	if multi {
		b.WriteByte(')')
	}
	b.WriteString(" IN (")
	args := make([][]byte, 0, len(keys)*len(t.Key))
	for i, key := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		if multi {
			b.WriteByte('(')
		}
		for j, v := range key {
			if j > 0 {
				b.WriteString(", ")
			}
			args = append(args, v)
			b.WriteString("$" + strconv.Itoa(len(args)))
		}
		if multi {
			b.WriteByte(')')
		}
	}
	b.WriteByte(')')
	return b.String(), args
}

// updateSQL renders UPDATE ... SET c = v.c FROM (VALUES ...) v WHERE the
// keys match. The VALUES columns are cast to the columns' base types (no
// length or precision, so the assignment checks those as an INSERT would).
func updateSQL(name string, t *cdc.TargetTable, cols []int, types map[string]string, rows [][][]byte) (string, [][]byte, error) {
	casts := make([]string, len(cols))
	for i, c := range cols {
		typ, ok := types[t.Columns[c].Name]
		if !ok {
			return "", nil, fmt.Errorf("column %s does not exist", t.Columns[c].Name)
		}
		casts[i] = "::" + typ
	}
	var b strings.Builder
	b.WriteString("UPDATE " + name + " AS fg_t SET ")
	for i, c := range cols[len(t.Key):] {
		if i > 0 {
			b.WriteString(", ")
		}
		n := ident(t.Columns[c].Name)
		b.WriteString(n + " = fg_v." + n)
	}
	b.WriteString(" FROM (VALUES ")
	args := make([][]byte, 0, len(rows)*len(cols))
	for i, row := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, c := range cols {
			if j > 0 {
				b.WriteString(", ")
			}
			args = append(args, row[c])
			b.WriteString("$" + strconv.Itoa(len(args)) + casts[j])
		}
		b.WriteByte(')')
	}
	b.WriteString(") AS fg_v (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(t.Columns[c].Name))
	}
	b.WriteString(") WHERE ")
	for i, k := range t.Key {
		if i > 0 {
			b.WriteString(" AND ")
		}
		n := ident(t.Columns[k].Name)
		b.WriteString("fg_t." + n + " = fg_v." + n)
	}
	return b.String(), args, nil
}

// castTypes reads the base type of each column of a table (bit as bit
// varying, whose values the assignment then checks against bit(n)). The
// type modifier -1 names the base type: bpchar, where no modifier names
// character, which is character(1) and cut every value to its first
// character.
func (a *applyTx) castTypes(ctx context.Context, st *statements, name string) (map[string]string, error) {
	if m, ok := a.types[name]; ok {
		return m, nil
	}
	if err := a.flush(ctx, st); err != nil { // the connection is needed for the query
		return nil, err
	}
	rows, err := a.tx.Query(ctx, `SELECT attname, format_type(CASE atttypid WHEN 'bit'::regtype THEN 'varbit'::regtype
		WHEN '_bit'::regtype THEN '_varbit'::regtype ELSE atttypid END, -1),
		has_database_privilege(current_database(), 'TEMPORARY'), NOT (c.relrowsecurity OR c.relhasrules)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, name)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	var col, typ string
	var temp, copyInto bool
	if _, err := pgx.ForEachRow(rows, []any{&col, &typ, &temp, &copyInto}, func() error {
		m[col] = typ
		return nil
	}); err != nil {
		return nil, err
	}
	a.types[name] = m
	a.mayStage = temp
	if a.copyInto == nil {
		a.copyInto = map[string]bool{}
	}
	a.copyInto[name] = copyInto
	return m, nil
}

// Commit records pos as the job's checkpoint in the transaction and
// commits, in one round trip once what was sent before has run.
func (a *applyTx) Commit(ctx context.Context, pos cdc.Position) error {
	if err := a.usable(); err != nil {
		return err
	}
	if err := a.settle(ctx); err != nil {
		return err
	}
	b := &pgconn.Batch{}
	b.ExecParams("INSERT INTO "+a.checkpoint+` (job, "position", updated_at) VALUES ($1, $2, clock_timestamp())
		ON CONFLICT (job) DO UPDATE SET "position" = EXCLUDED."position", updated_at = EXCLUDED.updated_at`,
		[][]byte{[]byte(a.job), []byte(pos)}, nil, nil, nil)
	b.ExecParams("COMMIT", nil, nil, nil, nil)
	results, err := a.conn.Conn().PgConn().ExecBatch(ctx, b).ReadAll()
	switch {
	case len(results) > 0 && results[0].Err != nil:
		a.err = fmt.Errorf("cdc apply: checkpoint: %w", results[0].Err)
	case err != nil:
		a.err = fmt.Errorf("cdc apply: commit: %w", err)
	case len(results) != 2 || results[1].CommandTag.String() != "COMMIT":
		// An aborted transaction ends with ROLLBACK instead.
		a.err = fmt.Errorf("cdc apply: commit: %w", pgx.ErrTxCommitRollback)
	}
	if a.err != nil {
		return a.err
	}
	a.done = true
	a.conn.Release()
	return nil
}

// Rollback ends the transaction without committing; after Commit or a
// previous Rollback it does nothing.
func (a *applyTx) Rollback() error {
	if a.done {
		return nil
	}
	a.done = true
	defer a.conn.Release()
	if s := a.sent; s != nil {
		s.cancel()
		<-s.done
		a.sent = nil
	}
	if a.conn.Conn().IsClosed() {
		return nil // a failed or canceled statement closed it: the server rolled back
	}
	err := a.tx.Rollback(context.Background())
	if err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("cdc apply: rollback: %w", err)
	}
	return nil
}
