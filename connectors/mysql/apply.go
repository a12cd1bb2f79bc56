package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
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

// Statement size limits: one packet holds at most max_allowed_packet
// bytes (a statement's values stay under a quarter of it: quoting and
// conversions may double them), and a statement at
// most applyMaxRows rows. Updates of some columns pick each value with a
// CASE over the run's keys, which grows with the square of the rows: they
// go in smaller statements.
const (
	applyMaxRows       = 10000
	applyMaxBytes      = 16 << 20
	applyMaxUpdateRows = 200
	// applyLoadRows is the fewest inserted rows of a run that go by LOAD
	// DATA (two round trips and a look at the warnings).
	applyLoadRows = 100
)

// Begin creates the checkpoint table if it is missing (DDL commits, so
// before the transaction), then opens the apply transaction on one
// connection with the session time zone and strict SQL mode, so bad
// values fail instead of being truncated with a warning. The connection
// of the last committed transaction is kept with its settings for the
// next one in the same time zone: a catch-up commits hundreds of times,
// and setting a session up takes five round trips.
func (c *Conn) Begin(ctx context.Context, spec cdc.ApplySpec) (cdc.ApplyTx, error) {
	if spec.Job == "" {
		return nil, errors.New("cdc apply: no job name")
	}
	// Looked up every time: a grant may have made flowgate's own table
	// usable since.
	cp, err := c.ensureCheckpointTable(ctx, spec.Schema)
	if err != nil {
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	if ss := c.takeSession(spec.TimeZone); ss != nil {
		if tx, err := ss.conn.BeginTx(ctx, nil); err == nil {
			return ss.tx(c, spec, cp, tx), nil
		}
		ss.release() // gone bad while parked: set up another
	}
	ss, err := c.applySession(ctx, spec.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	tx, err := ss.conn.BeginTx(ctx, nil)
	if err != nil {
		ss.release()
		return nil, fmt.Errorf("cdc apply: %w", err)
	}
	return ss.tx(c, spec, cp, tx), nil
}

// applySession is a connection set up for applying.
type applySession struct {
	tz      string // the time zone it is set up for
	conn    *sql.Conn
	release func() // restores the session and returns the connection
	loc     *time.Location
	mode    string // sql_mode
	packet  int64  // max_allowed_packet
}

func (ss *applySession) tx(c *Conn, spec cdc.ApplySpec, cp string, tx *sql.Tx) *applyTx {
	return &applyTx{c: c, ss: ss, tx: tx, loc: ss.loc, job: spec.Job, checkpoint: cp,
		maxBytes: int(min(ss.packet/4, applyMaxBytes)), noBackslash: strings.Contains(ss.mode, "NO_BACKSLASH_ESCAPES"),
		wraps: map[*cdc.TargetTable][]wrap{}}
}

// takeSession returns the parked session if it is set up for time zone
// tz, and releases it otherwise.
func (c *Conn) takeSession(tz string) *applySession {
	c.parkMu.Lock()
	ss := c.parked
	c.parked = nil
	c.parkMu.Unlock()
	if ss != nil && ss.tz != tz {
		ss.release()
		return nil
	}
	return ss
}

// park keeps ss for the next Begin.
func (c *Conn) park(ss *applySession) {
	c.parkMu.Lock()
	old := c.parked
	c.parked = ss
	c.parkMu.Unlock()
	if old != nil {
		old.release()
	}
}

// applySession sets a connection up for applying.
func (c *Conn) applySession(ctx context.Context, tz string) (*applySession, error) {
	loc, err := ParseTimeZone(tz)
	if dataIsUTC(tz) {
		loc, err = time.UTC, nil
	}
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", tz, err)
	}
	conn, done, err := c.session(ctx, tz)
	if err != nil {
		return nil, err
	}
	ss := &applySession{tz: tz, conn: conn, release: done, loc: loc}
	if err := conn.QueryRowContext(ctx, "SELECT @@session.sql_mode, @@max_allowed_packet").Scan(&ss.mode, &ss.packet); err != nil {
		done()
		return nil, err
	}
	if !strings.Contains(ss.mode, "STRICT_ALL_TABLES") {
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = ?", strings.TrimPrefix(ss.mode+",STRICT_ALL_TABLES", ",")); err != nil {
			done()
			return nil, fmt.Errorf("sql_mode: %w", err)
		}
		mode := ss.mode
		ss.release = func() {
			if _, err := conn.ExecContext(context.Background(), "SET SESSION sql_mode = ?", mode); err != nil {
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
			done()
		}
	}
	return ss, nil
}

// checkpointTables are the two places a checkpoint table may be.
func (c *Conn) checkpointTables(db string) (own, fallback string) {
	return c.dataTable(checkpointDB, cdc.CheckpointTable), c.dataTable(db, fallbackCheckpoint)
}

// existingCheckpointTables lists the checkpoint tables this user can see,
// in the order they are used: flowgate's own, then the fallback.
func (c *Conn) existingCheckpointTables(ctx context.Context, db string) ([]string, error) {
	own, fallback := c.checkpointTables(db)
	// Literals rather than arguments: one round trip, not a prepared
	// statement's three (Begin asks every time).
	rows, err := c.db.QueryContext(ctx, "SELECT table_schema = "+dataLiteral(checkpointDB)+` FROM information_schema.tables
		WHERE table_schema = `+dataLiteral(checkpointDB)+" AND table_name = "+dataLiteral(cdc.CheckpointTable)+
		" OR table_schema = "+dataLiteral(c.schemaOr(db))+" AND table_name = "+dataLiteral(fallbackCheckpoint))
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

// AddColumn adds col, typed as a DDL task renders it, nullable, with its
// default only when that is a constant (the source's existing rows hold
// it), unless the table has a column of that name.
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
	def := ""
	if col.DefaultKind == schema.DefaultLiteral {
		def, _ = defaultClause(src, col, typ)
	}
	if _, err := c.db.ExecContext(ctx, "ALTER TABLE "+name+" ADD COLUMN "+dataQuote(col.Name)+" "+typ+" NULL"+def); err != nil {
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
	ss         *applySession
	tx         *sql.Tx
	loc        *time.Location
	job        string
	checkpoint string
	maxBytes   int
	// noBackslash: sql_mode NO_BACKSLASH_ESCAPES, where a literal only
	// doubles its quotes.
	noBackslash bool
	wraps       map[*cdc.TargetTable][]wrap
	noLoad      atomic.Bool // the server refuses LOAD DATA LOCAL
	sent        *sending    // the last Apply's statements, running in the background
	err         error       // the failure that spoiled the transaction
	done        bool
}

// wrap is what valueExpr puts around a column's literal.
type wrap struct{ pre, post string }

// statement is one statement to run and the table it writes.
type statement struct {
	table cdc.TableRef
	q     string
	// A LOAD DATA statement: its input, registered as reader handler
	// under the name q reads, the rows it holds, and what renders the
	// statements that write its run again with upserts when the load did
	// not insert every row as it is (rarely: only then).
	load    []byte
	handler string
	rows    int64
	upsert  func() ([]statement, error)
}

// sending is one Apply's statements on their way: the server runs them
// while the next batch of changes is read and planned.
type sending struct {
	done   chan struct{}
	cancel context.CancelFunc
	err    error // set before done closes
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
// (split at the packet limit). Values are written into the statements as
// literals: one round trip per statement, parsed once, where a prepared
// statement of thousands of placeholders costs the server a third more.
// The statements run in the background and Apply returns, so the next
// changes are read and planned meanwhile; the next Apply, Commit or
// Rollback waits for them, and a failure shows there. A failed statement
// spoils the transaction: MySQL keeps the statements before it.
func (a *applyTx) Apply(ctx context.Context, changes []cdc.MappedChange) error {
	if err := a.usable(); err != nil {
		return err
	}
	runs, err := cdc.PlanRuns(changes)
	if err != nil {
		return err
	}
	var stmts []statement
	for _, r := range runs {
		name := a.c.dataTable(r.Table.Table.Schema, r.Table.Table.Name)
		if r.Kind == cdc.RunMove {
			// A move reads the target first: what comes before runs now.
			if err := a.settle(); err != nil {
				return err
			}
			if err := a.execAll(ctx, stmts); err != nil {
				return a.fail(err)
			}
			stmts = nil
			if err := a.move(ctx, name, r); err != nil {
				return a.fail(fmt.Errorf("apply to %s: %w", r.Table.Table, err))
			}
			continue
		}
		if stmts, err = a.statements(stmts, name, r); err != nil {
			return a.fail(fmt.Errorf("apply to %s: %w", r.Table.Table, err))
		}
	}
	if err := a.settle(); err != nil {
		return err
	}
	if len(stmts) > 0 {
		sctx, cancel := context.WithCancel(ctx)
		s := &sending{done: make(chan struct{}), cancel: cancel}
		a.sent = s
		go func() {
			defer close(s.done)
			s.err = a.execAll(sctx, stmts)
		}()
	}
	return nil
}

func (a *applyTx) fail(err error) error {
	if a.err == nil {
		a.err = err
	}
	return err
}

// settle waits for the statements sent in the background.
func (a *applyTx) settle() error {
	s := a.sent
	if s == nil {
		return a.err
	}
	<-s.done
	s.cancel()
	a.sent = nil
	if s.err != nil {
		return a.fail(s.err)
	}
	return nil
}

// execAll runs statements in order.
func (a *applyTx) execAll(ctx context.Context, stmts []statement) error {
	for _, s := range stmts {
		if s.load != nil {
			if err := a.execLoad(ctx, s); err != nil {
				return err
			}
			continue
		}
		if _, err := a.tx.ExecContext(ctx, s.q); err != nil {
			return fmt.Errorf("apply to %s: %w", s.table, err)
		}
	}
	return nil
}

// execLoad runs a LOAD DATA statement. LOCAL makes MySQL skip a row whose
// key exists and store a value the column does not take as it can, each
// with a warning: then the run is written again with upserts, which update
// the rows that exist and fail on bad values as an INSERT does.
func (a *applyTx) execLoad(ctx context.Context, s statement) error {
	mysqldrv.RegisterReaderHandler(s.handler, func() io.Reader { return bytes.NewReader(s.load) })
	defer mysqldrv.DeregisterReaderHandler(s.handler)
	res, err := a.tx.ExecContext(ctx, s.q)
	var me *mysqldrv.MySQLError
	switch {
	case errors.As(err, &me) && (me.Number == 1148 || me.Number == 3948 || me.Number == 4166):
		// local_infile is off: upserts from now on.
		a.noLoad.Store(true)
		return a.execUpserts(ctx, s)
	case err != nil:
		return fmt.Errorf("apply to %s: %w", s.table, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == s.rows && loadWarnings(ctx, a.tx) == nil {
		return nil
	}
	return a.execUpserts(ctx, s)
}

func (a *applyTx) execUpserts(ctx context.Context, s statement) error {
	stmts, err := s.upsert()
	if err != nil {
		return fmt.Errorf("apply to %s: %w", s.table, err)
	}
	return a.execAll(ctx, stmts)
}

// statements appends the statements of run r.
func (a *applyTx) statements(out []statement, name string, r *cdc.Run) ([]statement, error) {
	t := r.Table
	add := func(q []byte, err error) error {
		if err == nil {
			out = append(out, statement{table: t.Table, q: string(q)})
		}
		return err
	}
	switch r.Kind {
	case cdc.RunTruncate:
		// TRUNCATE would commit the transaction.
		out = append(out, statement{table: t.Table, q: "DELETE FROM " + name})
	case cdc.RunUpsert:
		rows := r.Rows
		if ins, upd := splitInserted(r); len(ins) >= applyLoadRows && !a.noLoad.Load() {
			// The rows the run inserts go by LOAD DATA, which costs the
			// server a fifth less than a multi-row INSERT; the others
			// follow as upserts (keys are unique within a run).
			w := a.wrapsOf(t)
			all := func() ([]statement, error) { // run in the background: reads nothing Apply writes
				var out []statement
				for _, rows := range cdc.ChunkRows(r.Rows, nil, applyMaxRows, a.maxBytes) {
					q, err := a.upsert(name, t, w, rows)
					if err != nil {
						return nil, err
					}
					out = append(out, statement{table: t.Table, q: string(q)})
				}
				return out, nil
			}
			for _, chunk := range cdc.ChunkRows(ins, nil, applyMaxRows, a.maxBytes) {
				st, err := a.loadStatement(name, t, chunk)
				if err != nil {
					return nil, err
				}
				st.upsert = all
				out = append(out, st)
			}
			rows = upd
		}
		for _, rows := range cdc.ChunkRows(rows, nil, applyMaxRows, a.maxBytes) {
			if err := add(a.upsert(name, t, a.wrapsOf(t), rows)); err != nil {
				return nil, err
			}
		}
	case cdc.RunDelete:
		for _, keys := range cdc.ChunkRows(r.Rows, nil, applyMaxRows, a.maxBytes) {
			if err := add(a.delete(name, t, keys)); err != nil {
				return nil, err
			}
		}
	case cdc.RunUpdate:
		cols := append(append([]int(nil), t.Key...), r.Set...)
		for _, rows := range cdc.ChunkRows(r.Rows, cols, applyMaxUpdateRows, a.maxBytes) {
			if err := add(a.update(name, t, r.Set, rows)); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// splitInserted splits an upsert run's rows into those it inserts and the
// others.
func splitInserted(r *cdc.Run) (ins, upd [][][]byte) {
	ins = make([][][]byte, 0, len(r.Rows))
	for i, row := range r.Rows {
		if i < len(r.Inserted) && r.Inserted[i] {
			ins = append(ins, row)
		} else {
			upd = append(upd, row)
		}
	}
	return ins, upd
}

// loadStatement renders LOAD DATA LOCAL of rows as the importer sends it:
// tab-separated, backslash-escaped, NULL as \N.
func (a *applyTx) loadStatement(name string, t *cdc.TargetTable, rows [][][]byte) (statement, error) {
	targets := make([]string, len(t.Columns))
	var sets []string
	for i, col := range t.Columns {
		var set string
		targets[i], set = loadTarget(col, i)
		if set != "" {
			sets = append(sets, set)
		}
	}
	handler := "flowgate-apply-" + strconv.FormatInt(readerSeq.Add(1), 10)
	// Hex literals keep the statement independent of NO_BACKSLASH_ESCAPES.
	q := "LOAD DATA LOCAL INFILE " + dataLiteral("Reader::"+handler) + " INTO TABLE " + name +
		" CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'09' ENCLOSED BY '' ESCAPED BY X'5C' LINES TERMINATED BY X'0A' (" +
		strings.Join(targets, ", ") + ")"
	if len(sets) > 0 {
		q += " SET " + strings.Join(sets, ", ")
	}
	in := make([]byte, 0, rowBytes(rows, len(t.Columns)))
	for _, row := range rows {
		for j, v := range row {
			if j > 0 {
				in = append(in, '\t')
			}
			if v == nil {
				in = append(in, '\\', 'N')
				continue
			}
			var err error
			if in, err = appendLoadValue(in, t.Columns[j], v, a.loc); err != nil {
				return statement{}, fmt.Errorf("column %s: %w", t.Columns[j].Name, err)
			}
		}
		in = append(in, '\n')
	}
	return statement{table: t.Table, q: q, load: in, handler: handler, rows: int64(len(rows))}, nil
}

// sqlText builds a statement of table t with values as literals.
type sqlText struct {
	a     *applyTx
	t     *cdc.TargetTable
	wraps []wrap
	b     []byte
	conv  []byte // scratch for converted values
}

// wrapsOf returns what valueExpr puts around each column's literal.
func (a *applyTx) wrapsOf(t *cdc.TargetTable) []wrap {
	w, ok := a.wraps[t]
	if !ok {
		w = make([]wrap, len(t.Columns))
		for i, col := range t.Columns {
			pre, post, _ := strings.Cut(valueExpr(col, "\x00"), "\x00")
			w[i] = wrap{pre, post}
		}
		a.wraps[t] = w
	}
	return w
}

func (a *applyTx) text(t *cdc.TargetTable, size int) *sqlText {
	return a.textWith(t, a.wrapsOf(t), size)
}

func (a *applyTx) textWith(t *cdc.TargetTable, w []wrap, size int) *sqlText {
	return &sqlText{a: a, t: t, wraps: w, b: make([]byte, 0, size)}
}

func (s *sqlText) str(v string) { s.b = append(s.b, v...) }

// value appends the literal of value v of column col (nil is NULL),
// converted as LOAD DATA converts it.
func (s *sqlText) value(col int, v []byte) error {
	if v == nil {
		s.b = append(s.b, "NULL"...)
		return nil
	}
	out, grown, err := mysqlValue(s.conv[:0], s.t.Columns[col], v, s.a.loc)
	if err != nil {
		return fmt.Errorf("column %s: %w", s.t.Columns[col].Name, err)
	}
	s.conv = grown
	s.b = append(s.b, s.wraps[col].pre...)
	s.b = appendQuoted(s.b, out, s.a.noBackslash)
	s.b = append(s.b, s.wraps[col].post...)
	return nil
}

// appendQuoted appends v as a string literal: with backslash escapes
// (MySQL's default) as mysql_real_escape_string writes it, else with the
// quotes doubled.
func appendQuoted(dst, v []byte, noBackslash bool) []byte {
	dst = append(dst, '\'')
	for len(v) > 0 {
		i := 0
		for i < len(v) && !special(v[i], noBackslash) {
			i++
		}
		dst = append(dst, v[:i]...)
		if i == len(v) {
			break
		}
		switch c := v[i]; {
		case noBackslash:
			dst = append(dst, '\'', '\'')
		case c == 0:
			dst = append(dst, '\\', '0')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == 0x1a:
			dst = append(dst, '\\', 'Z')
		default: // \ ' "
			dst = append(dst, '\\', c)
		}
		v = v[i+1:]
	}
	return append(dst, '\'')
}

func special(c byte, noBackslash bool) bool {
	if noBackslash {
		return c == '\''
	}
	switch c {
	case 0, '\n', '\r', 0x1a, '\\', '\'', '"':
		return true
	}
	return false
}

// rowBytes estimates a row's statement text.
func rowBytes(rows [][][]byte, cols int) int {
	n := 0
	for _, row := range rows {
		for _, v := range row {
			n += len(v) + 4
		}
	}
	return n + len(rows)*(cols*2+4)
}

// upsert renders INSERT ... VALUES (...), ... ON DUPLICATE KEY UPDATE c =
// VALUES(c) for every non-key column (MariaDB and MySQL 8 both take it).
func (a *applyTx) upsert(name string, t *cdc.TargetTable, w []wrap, rows [][][]byte) ([]byte, error) {
	s := a.textWith(t, w, rowBytes(rows, len(t.Columns))+256)
	s.str("INSERT INTO " + name + " (")
	for i, col := range t.Columns {
		if i > 0 {
			s.str(", ")
		}
		s.str(dataQuote(col.Name))
	}
	s.str(") VALUES ")
	for i, row := range rows {
		if i > 0 {
			s.str(", ")
		}
		s.str("(")
		for j, v := range row {
			if j > 0 {
				s.str(", ")
			}
			if err := s.value(j, v); err != nil {
				return nil, err
			}
		}
		s.str(")")
	}
	s.str(" ON DUPLICATE KEY UPDATE ")
	first := true
	for i, col := range t.Columns {
		if cdc.IsKey(t, i) {
			continue
		}
		if !first {
			s.str(", ")
		}
		first = false
		q := dataQuote(col.Name)
		s.str(q + " = VALUES(" + q + ")")
	}
	if first { // only key columns: nothing to update
		q := dataQuote(t.Columns[t.Key[0]].Name)
		s.str(q + " = " + q)
	}
	return s.b, nil
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

// key appends the literals of one key like keyColumns.
func (s *sqlText) key(key [][]byte) error {
	if len(key) > 1 {
		s.str("(")
	}
	for i, k := range s.t.Key {
		if i > 0 {
			s.str(", ")
		}
		if err := s.value(k, key[i]); err != nil {
			return err
		}
	}
	if len(key) > 1 {
		s.str(")")
	}
	return nil
}

// keyMatch appends k1 = v1 AND k2 = v2.
func (s *sqlText) keyMatch(key [][]byte) error {
	for i, k := range s.t.Key {
		if i > 0 {
			s.str(" AND ")
		}
		s.str(dataQuote(s.t.Columns[k].Name) + " = ")
		if err := s.value(k, key[i]); err != nil {
			return err
		}
	}
	return nil
}

// delete renders DELETE ... WHERE k IN (...) or (k1, k2) IN ((...), ...).
func (a *applyTx) delete(name string, t *cdc.TargetTable, keys [][][]byte) ([]byte, error) {
	s := a.text(t, rowBytes(keys, len(t.Key))+128)
	s.str("DELETE FROM " + name + " WHERE " + keyColumns(t) + " IN (")
	for i, key := range keys {
		if i > 0 {
			s.str(", ")
		}
		if err := s.key(key); err != nil {
			return nil, err
		}
	}
	s.str(")")
	return s.b, nil
}

// update sets the columns in set of rows that keep their other columns:
// UPDATE t SET c = CASE WHEN key = v THEN x ... END, ... WHERE key IN
// (...). Every comparison is of a column with a literal, so column
// collations apply as in a single-row UPDATE.
func (a *applyTx) update(name string, t *cdc.TargetTable, set []int, rows [][][]byte) ([]byte, error) {
	s := a.text(t, rowBytes(rows, len(t.Columns))*(len(set)+1)+256)
	s.str("UPDATE " + name + " SET ")
	for i, c := range set {
		if i > 0 {
			s.str(", ")
		}
		s.str(dataQuote(t.Columns[c].Name) + " = CASE")
		for _, row := range rows {
			s.str(" WHEN ")
			if err := s.keyMatch(cdc.KeyValues(t, row)); err != nil {
				return nil, err
			}
			s.str(" THEN ")
			if err := s.value(c, row[c]); err != nil {
				return nil, err
			}
		}
		s.str(" END")
	}
	s.str(" WHERE " + keyColumns(t) + " IN (")
	for i, row := range rows {
		if i > 0 {
			s.str(", ")
		}
		if err := s.key(cdc.KeyValues(t, row)); err != nil {
			return nil, err
		}
	}
	s.str(")")
	return s.b, nil
}

// move applies a key change of a row that keeps some columns: UPDATE
// moves the row with the columns it keeps. When the new key already
// exists (the change was applied before), that row gets the new values and
// the old key goes, so applying it again leaves the same rows.
func (a *applyTx) move(ctx context.Context, name string, r *cdc.Run) error {
	t, row := r.Table, r.Rows[0]
	newKey := cdc.KeyValues(t, row)
	s := a.text(t, 256)
	s.str("SELECT COUNT(*) FROM " + name + " WHERE ")
	if err := s.keyMatch(newKey); err != nil {
		return err
	}
	var n int
	if err := a.tx.QueryRowContext(ctx, string(s.b)).Scan(&n); err != nil {
		return err
	}
	sets := func(s *sqlText, cols []int) error {
		for i, c := range cols {
			if i > 0 {
				s.str(", ")
			}
			s.str(dataQuote(t.Columns[c].Name) + " = ")
			if err := s.value(c, row[c]); err != nil {
				return err
			}
		}
		return nil
	}
	exec := func(s *sqlText) error {
		_, err := a.tx.ExecContext(ctx, string(s.b))
		return err
	}
	if n > 0 {
		if len(r.Set) > 0 {
			s := a.text(t, 256)
			s.str("UPDATE " + name + " SET ")
			if err := sets(s, r.Set); err != nil {
				return err
			}
			s.str(" WHERE ")
			if err := s.keyMatch(newKey); err != nil {
				return err
			}
			if err := exec(s); err != nil {
				return err
			}
		}
		s := a.text(t, 256)
		s.str("DELETE FROM " + name + " WHERE ")
		if err := s.keyMatch(r.Old); err != nil {
			return err
		}
		return exec(s)
	}
	s = a.text(t, 256)
	s.str("UPDATE " + name + " SET ")
	if err := sets(s, append(append([]int(nil), t.Key...), r.Set...)); err != nil {
		return err
	}
	s.str(" WHERE ")
	if err := s.keyMatch(r.Old); err != nil {
		return err
	}
	return exec(s)
}

// Commit records pos as the job's checkpoint in the transaction and
// commits, once what was sent before has run.
func (a *applyTx) Commit(ctx context.Context, pos cdc.Position) error {
	if err := a.usable(); err != nil {
		return err
	}
	if err := a.settle(); err != nil {
		return err
	}
	q := "INSERT INTO " + a.checkpoint + " (job, `position`, updated_at) VALUES (" +
		string(appendQuoted(nil, []byte(a.job), a.noBackslash)) + ", " + string(appendQuoted(nil, []byte(pos), a.noBackslash)) +
		", UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE `position` = VALUES(`position`), updated_at = VALUES(updated_at)"
	if _, err := a.tx.ExecContext(ctx, q); err != nil {
		a.err = fmt.Errorf("cdc apply: checkpoint: %w", err)
		return a.err
	}
	if err := a.tx.Commit(); err != nil {
		a.err = fmt.Errorf("cdc apply: commit: %w", err)
		return a.err
	}
	a.done = true
	a.c.park(a.ss)
	return nil
}

// Rollback ends the transaction without committing; after Commit or a
// previous Rollback it does nothing.
func (a *applyTx) Rollback() error {
	if a.done {
		return nil
	}
	a.done = true
	if s := a.sent; s != nil {
		s.cancel()
		<-s.done
		a.sent = nil
	}
	err := a.tx.Rollback()
	a.ss.release()
	if err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("cdc apply: rollback: %w", err)
	}
	return nil
}
