package mysql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/mysql/binlog"
)

// stream is an open binlog change stream.
//
// Next is called by one goroutine; Ack may be called from another. Close
// must not run concurrently with Next (cancel Next's context first), but
// it unblocks a Next waiting for the server.
type stream struct {
	c       *Conn
	spec    cdc.StreamSpec
	facts   serverFacts
	tables  map[tableKey]*tableState
	order   []tableKey
	history *history

	snap    *snapshotSet // a new stream's snapshot, until Start
	openPos position     // where a new stream starts without a snapshot
	start   position
	started bool // start is final

	bl      *binlog.Conn
	pending *binlog.Event // the first event, read by begin

	// Next's state.
	pos        binlogPos // end of the last event read
	inTx       bool      // inside an event group (transaction or statement)
	txBegin    bool      // the group is a transaction (ends with XID or COMMIT)
	txStart    binlogPos // where the group began
	txTime     time.Time
	txMicros   bool // txTime has microseconds (MySQL 8's commit timestamp)
	txEmitted  bool // EventBegin was sent for the group
	gtid       gtidState
	queue      []cdc.Event // from qhead on: not yet returned
	qhead      int
	broken     error
	lastBeat   time.Time
	collations map[uint64]string
	// shadows are tables the job does not capture whose structure the
	// stream followed from their CREATE on (an online schema change
	// tool's copy), for a RENAME onto a captured name.
	shadows    map[tableKey]*tableDef
	dbCharsets map[string]string

	backlog backlog

	mu     sync.Mutex
	last   binlogPos // the last position delivered
	acked  position
	closed bool
}

func newStream(c *Conn, spec cdc.StreamSpec, f serverFacts) *stream {
	return &stream{c: c, spec: spec, facts: f, tables: map[tableKey]*tableState{}, gtid: gtidState{mariadb: f.mariadb}}
}

func (s *stream) addTable(ref cdc.TableRef) {
	k := s.c.keyOf(ref)
	if _, ok := s.tables[k]; !ok {
		s.tables[k] = &tableState{ref: ref, key: k}
		s.order = append(s.order, k)
	}
}

func (s *stream) keys() []tableKey { return slices.Clone(s.order) }

// prepareSnapshot opens a new stream's snapshot.
func (s *stream) prepareSnapshot(ctx context.Context) error {
	conn, err := s.c.db.Conn(ctx)
	if err != nil {
		return sqlError(err)
	}
	s.openPos, err = masterStatus(ctx, conn, s.facts.mariadb)
	conn.Close()
	if err != nil {
		return err
	}
	s.snap, err = s.c.openSnapshot(ctx, len(s.tables), s.facts.mariadb)
	return err
}

// SnapshotID names the snapshot the exports read in (new streams).
func (s *stream) SnapshotID() string {
	if s.snap == nil {
		return ""
	}
	return s.snap.id
}

// StartPosition is where the stream starts. For a new stream it is known
// once the exports are done: the snapshot's position, or the smallest of
// the tables' snapshot positions.
func (s *stream) StartPosition() cdc.Position {
	if s.started || s.snap == nil {
		return s.start.cdc()
	}
	p, skip, ok := s.snap.startPosition()
	if !ok {
		p = s.openPos
	}
	if p.GTID == "" && s.facts.mariadb {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p.GTID, _ = gtidPos(ctx, s.c.db, p.binlogPos)
		cancel()
	}
	for k, sp := range skip {
		s.tables[k].skipBefore = sp
	}
	s.start, s.started = p, true
	return s.start.cdc()
}

// Start begins reading the binary log; for a new stream this ends the
// snapshot. A resumed stream started in OpenStream.
func (s *stream) Start(ctx context.Context) error {
	if s.bl != nil {
		return nil
	}
	if s.snap != nil {
		s.StartPosition()
		s.snap.waitExports(ctx)
		s.snap.close()
	}
	return s.begin(ctx)
}

// begin finds the tables' structures at the start and starts the dump. It
// reads the first event, so a refused dump (privileges, purged position)
// fails here.
func (s *stream) begin(ctx context.Context) error {
	s.started = true
	if err := s.resolveDefs(ctx); err != nil {
		return err
	}
	if err := s.gtid.init(s.start.GTID); err != nil {
		return fmt.Errorf("open stream: checkpoint %s: %w", s.start, err)
	}
	if s.start.GTID == "" && s.facts.mariadb {
		g, err := gtidPos(ctx, s.c.db, s.start.binlogPos)
		if err != nil {
			return err
		}
		if err := s.gtid.init(g); err != nil {
			return err
		}
	}
	if s.hasFullMetadata() {
		var err error
		if s.collations, err = s.c.collations(ctx); err != nil {
			return err
		}
	}
	bl, err := s.c.dial(ctx, s.spec.ServerID)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	if err := bl.StartFromPosition(ctx, s.start.File, s.start.Pos); err != nil {
		bl.Close()
		return sqlError(fmt.Errorf("open stream at %s: %w", s.start.binlogPos, err))
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ev, err := bl.NextEvent(pctx)
	cancel()
	if err != nil {
		bl.Close()
		if isPurged(err) {
			return positionLost(s.spec, fmt.Sprintf("the binlog at %s is no longer on the server (purged): %v", s.start.binlogPos, err))
		}
		return sqlError(fmt.Errorf("open stream at %s: %w", s.start.binlogPos, err))
	}
	s.mu.Lock()
	s.bl, s.pending = bl, ev
	s.pos, s.last, s.acked = s.start.binlogPos, s.start.binlogPos, s.start
	s.backlog.read(s.pos)
	closed := s.closed
	s.mu.Unlock()
	if closed {
		bl.Close()
	}
	return nil
}

func (s *stream) hasFullMetadata() bool {
	return s.facts.metadata == "FULL" || s.facts.metadata == "MINIMAL"
}

// charsetOf names the character set of a collation id.
func (s *stream) charsetOf(id uint64) string {
	if s.collations == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s.collations, _ = s.c.collations(ctx)
		cancel()
	}
	return s.collations[id]
}

// Ack records that everything up to pos is committed at the target. The
// server keeps binary logs by age and size, so nothing is sent.
func (s *stream) Ack(_ context.Context, pos cdc.Position) error {
	p, err := parsePosition(pos)
	if err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if comparePos(p.binlogPos, s.last) > 0 {
		return fmt.Errorf("ack %s: past the last position the stream delivered (%s)", p, s.last)
	}
	if comparePos(p.binlogPos, s.acked.binlogPos) > 0 {
		s.acked = p
	}
	return nil
}

// Close ends the replication connection and an unused snapshot.
func (s *stream) Close() error {
	s.mu.Lock()
	s.closed = true
	bl := s.bl
	s.mu.Unlock()
	if s.snap != nil {
		s.snap.close()
	}
	if bl != nil {
		return bl.Close()
	}
	return nil
}

// Next returns the next event. Row events are converted as they arrive,
// so a transaction of any size passes one row event at a time.
func (s *stream) Next(ctx context.Context) (cdc.Event, error) {
	if s.bl == nil {
		return cdc.Event{}, errors.New("next: the stream is not started")
	}
	if s.broken != nil {
		return cdc.Event{}, s.broken
	}
	ev, err := s.next(ctx)
	if err != nil && ctx.Err() == nil {
		s.broken = err
	}
	return ev, err
}

func (s *stream) next(ctx context.Context) (cdc.Event, error) {
	for {
		if s.qhead < len(s.queue) {
			ev := s.queue[s.qhead]
			s.queue[s.qhead] = cdc.Event{}
			// Emptied, the queue is reused: a rows event queues hundreds.
			if s.qhead++; s.qhead == len(s.queue) {
				s.queue, s.qhead = s.queue[:0], 0
			}
			return ev, nil
		}
		ev := s.pending
		s.pending = nil
		if ev == nil {
			var err error
			if ev, err = s.bl.NextEvent(ctx); err != nil {
				if ctx.Err() != nil {
					return cdc.Event{}, fmt.Errorf("binlog at %s: %w", s.pos, ctx.Err())
				}
				if isPurged(err) {
					return cdc.Event{}, positionLost(s.spec, fmt.Sprintf("the binlog at %s is no longer on the server (purged): %v", s.pos, err))
				}
				return cdc.Event{}, sqlError(fmt.Errorf("binlog at %s: %w", s.pos, err))
			}
		}
		if err := s.handle(ctx, ev); err != nil {
			return cdc.Event{}, fmt.Errorf("binlog at %s: %w", s.pos, err)
		}
	}
}

// handle turns one binlog event into queued events.
func (s *stream) handle(ctx context.Context, ev *binlog.Event) error {
	prev := s.pos
	if ev.Header.LogPos != 0 || ev.Header.Type == binlog.EventRotate {
		if ev.Next.File != "" {
			s.pos = binlogPos(ev.Next)
			s.backlog.read(s.pos)
		}
	}
	switch d := ev.Data.(type) {
	case *binlog.MariaGTIDEvent:
		s.beginGroup(prev, ev)
		s.txBegin = !d.Standalone()
		s.gtid.addMaria(d.GTID)
	case *binlog.GTIDEvent:
		s.beginGroup(prev, ev)
		if d.ImmediateCommitTimestamp != 0 {
			s.txTime, s.txMicros = time.UnixMicro(int64(d.ImmediateCommitTimestamp)).UTC(), true
		}
		if !d.Anonymous {
			s.gtid.addMySQL(d.SID, d.GNO)
		}
	case *binlog.QueryEvent:
		return s.query(ctx, d, ev, prev)
	case *binlog.XIDEvent:
		s.endGroup(ev)
	case *binlog.RowsEvent:
		return s.rows(d, prev, ev)
	case *binlog.RawEvent:
		if ev.Header.Type == binlog.EventXAPrepare {
			s.endGroup(ev) // an XA transaction's events end at its XA PREPARE
		}
	case *binlog.HeartbeatEvent:
		if !s.inTx && d.File != "" {
			s.beat(binlogPos{File: strings.TrimRight(d.File, "\x00"), Pos: uint32(d.Position)})
		}
	}
	return nil
}

func (s *stream) beginGroup(prev binlogPos, ev *binlog.Event) {
	s.inTx, s.txBegin, s.txEmitted = true, false, false
	s.txStart = prev
	s.txTime, s.txMicros = time.Unix(int64(ev.Header.Timestamp), 0).UTC(), false
}

// commitTime is when the source committed the group ending at ev. Event
// headers have whole seconds: the commit lies in that second and before
// the stream read it, so a commit read within its second counts from now
// (lag is then not overstated by up to a second).
func (s *stream) commitTime(ev *binlog.Event) time.Time {
	if s.txMicros {
		return s.txTime
	}
	commit := time.Unix(int64(ev.Header.Timestamp), 0).UTC()
	if now := time.Now().UTC(); now.After(commit) && now.Before(commit.Add(time.Second)) {
		return now
	}
	return commit
}

// endGroup ends the event group at ev: a commit when changes were sent,
// else at most every second a heartbeat at the position after it.
func (s *stream) endGroup(ev *binlog.Event) {
	end := s.pos
	s.inTx, s.txBegin = false, false
	if s.txEmitted {
		s.txEmitted = false
		s.queue = append(s.queue, cdc.Event{Kind: cdc.EventCommit, Position: s.positionAt(end), CommitTime: s.commitTime(ev)})
		s.setLast(end)
	} else if time.Since(s.lastBeat) >= time.Second {
		s.beat(end)
	}
	s.history.advance(end)
}

func (s *stream) positionAt(p binlogPos) cdc.Position {
	return position{binlogPos: p, GTID: s.gtid.String()}.cdc()
}

// beat sends a heartbeat at p when it is past what was delivered.
func (s *stream) beat(p binlogPos) {
	s.mu.Lock()
	moved := comparePos(p, s.last) > 0
	s.mu.Unlock()
	if !moved {
		return
	}
	s.lastBeat = time.Now()
	s.queue = append(s.queue, cdc.Event{Kind: cdc.EventHeartbeat, Position: s.positionAt(p)})
	s.setLast(p)
	s.history.advance(p)
}

func (s *stream) setLast(p binlogPos) {
	s.mu.Lock()
	if comparePos(p, s.last) > 0 {
		s.last = p
	}
	s.mu.Unlock()
}

// query handles a QUERY event: BEGIN and COMMIT of transactions, and
// statements (DDL) that are their own event group.
func (s *stream) query(ctx context.Context, q *binlog.QueryEvent, ev *binlog.Event, prev binlogPos) error {
	word := firstWord(q.Query)
	switch word {
	case "BEGIN":
		if !s.inTx {
			s.beginGroup(prev, ev)
		}
		s.txBegin = true
		return nil
	case "COMMIT":
		s.endGroup(ev)
		return nil
	case "ROLLBACK":
		if strings.Contains(strings.ToUpper(q.Query), " TO ") {
			return nil // ROLLBACK TO SAVEPOINT
		}
		// A transaction that changed non-transactional tables and rolled
		// back: those changes stay (as on a replica).
		s.endGroup(ev)
		return nil
	case "SAVEPOINT", "RELEASE":
		return nil
	case "XA":
		// XA START opens the group; the prepared transaction is applied
		// at its XA_PREPARE event (its row events are logged there); XA
		// COMMIT and XA ROLLBACK later are groups of their own.
		up := strings.ToUpper(q.Query)
		switch {
		case strings.Contains(up, "START") || strings.Contains(up, "BEGIN"):
			if !s.inTx {
				s.beginGroup(prev, ev)
			}
			s.txBegin = true
		case strings.Contains(up, "COMMIT"), strings.Contains(up, "ROLLBACK"):
			s.endGroup(ev)
		}
		return nil
	}
	if s.txBegin {
		return nil // a statement inside a transaction: not DDL
	}
	if !s.inTx {
		s.beginGroup(prev, ev)
	}
	if err := s.ddl(ctx, q); err != nil {
		return err
	}
	s.endGroup(ev)
	return nil
}

func firstWord(q string) string {
	q = strings.TrimLeft(q, " \t\r\n(")
	end := strings.IndexFunc(q, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end < 0 {
		end = len(q)
	}
	return strings.ToUpper(q[:end])
}

// ddl follows a statement that may change captured tables.
func (s *stream) ddl(ctx context.Context, q *binlog.QueryEvent) error {
	d := parseDDL(q.Query, q.Schema)
	end := s.pos
	table := func(k tableKey) *tableState {
		t := s.tables[k]
		if t == nil || !t.skipDDLUntil.isZero() && comparePos(end, t.skipDDLUntil) <= 0 {
			return nil
		}
		return t
	}
	switch d.kind {
	case ddlTruncate:
		t := s.tables[d.table]
		if t == nil || t.def == nil || !t.skipBefore.isZero() && comparePos(s.txStart, t.skipBefore) < 0 {
			return nil
		}
		lay, err := s.layoutFor(t, nil)
		if err != nil {
			return err
		}
		s.emitBegin(t, lay)
		s.queue = append(s.queue, cdc.Event{Kind: cdc.EventChange, Change: cdc.Change{Table: t.ref, Op: cdc.Truncate}})
	case ddlAlter:
		if t := table(d.table); t != nil {
			switch {
			case t.def == nil || d.unparsed:
				if err := s.redescribe(ctx, t, end); err != nil {
					return err
				}
			case len(d.specs) > 0:
				nd, err := applyAlter(t.def, d.specs)
				if err != nil {
					if err := s.redescribe(ctx, t, end); err != nil {
						return err
					}
				} else {
					s.setDef(t, nd, end)
				}
			}
		} else if sd, ok := s.shadows[d.table]; ok && s.tables[d.table] == nil && (d.unparsed || len(d.specs) > 0) {
			nd, err := applyAlter(sd, d.specs)
			if d.unparsed || err != nil {
				nd = nil // no longer known
			}
			s.setShadow(d.table, nd, end)
		}
		return s.renames(ctx, d.renames, end, table)
	case ddlCreate:
		var def *tableDef
		known := false
		switch {
		case d.unparsed:
		case d.like != nil:
			def, known = s.known(*d.like)
		default:
			def, known = d.createDef(s.dbCharset(ctx, d.table.db)), true
		}
		if t := s.tables[d.table]; t != nil {
			switch {
			case table(d.table) == nil, d.ifNotExists && t.def != nil:
			case known:
				s.setDef(t, def, end)
			default:
				return s.redescribe(ctx, t, end)
			}
		} else if _, exists := s.shadows[d.table]; !(d.ifNotExists && exists) {
			if !known {
				def = nil
			}
			s.setShadow(d.table, def, end)
		}
	case ddlDrop:
		for _, k := range d.tables {
			if t := table(k); t != nil {
				s.setDef(t, nil, end)
			} else if _, ok := s.shadows[k]; ok {
				s.setShadow(k, nil, end)
			}
		}
	case ddlRename:
		return s.renames(ctx, d.renames, end, table)
	case ddlDropDB:
		for _, k := range s.order {
			if k.db == d.db {
				if t := table(k); t != nil {
					s.setDef(t, nil, end)
				}
			}
		}
		for k := range s.shadows {
			if k.db == d.db {
				s.setShadow(k, nil, end)
			}
		}
	}
	return nil
}

// known returns the structure the stream knows of a table: a captured
// one's, or a shadow's.
func (s *stream) known(k tableKey) (*tableDef, bool) {
	if t := s.tables[k]; t != nil {
		return t.def, t.def != nil
	}
	d, ok := s.shadows[k]
	return d, ok
}

func (s *stream) setShadow(k tableKey, def *tableDef, from binlogPos) {
	if def == nil {
		delete(s.shadows, k)
	} else {
		if s.shadows == nil {
			s.shadows = map[tableKey]*tableDef{}
		}
		s.shadows[k] = def
	}
	if s.history != nil {
		s.history.record(k, from, def)
	}
}

// dbCharset is a database's default character set (for a CREATE TABLE
// without one), read once per stream.
func (s *stream) dbCharset(ctx context.Context, db string) string {
	if cs, ok := s.dbCharsets[db]; ok {
		return cs
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var cs string
	if err := s.c.db.QueryRowContext(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).Scan(&cs); err != nil {
		cs = "utf8mb4"
	}
	if s.dbCharsets == nil {
		s.dbCharsets = map[string]string{}
	}
	s.dbCharsets[db] = cs
	return cs
}

// renames follows RENAME TABLE (and ALTER TABLE ... RENAME TO), one pair
// after the other: the old name no longer exists; the new one has the
// structure of the renamed table when the stream knows it (a captured
// table, or a shadow such as gh-ost's or pt-online-schema-change's copy),
// else what information_schema shows.
func (s *stream) renames(ctx context.Context, rs [][2]tableKey, end binlogPos, table func(tableKey) *tableState) error {
	for _, r := range rs {
		def, known := s.known(r[0])
		if t := s.tables[r[0]]; t != nil {
			if table(r[0]) != nil {
				s.setDef(t, nil, end)
			}
		} else if _, ok := s.shadows[r[0]]; ok {
			s.setShadow(r[0], nil, end)
		}
		switch t := s.tables[r[1]]; {
		case t != nil && table(r[1]) == nil:
		case t != nil && known:
			s.setDef(t, def, end)
		case t != nil:
			if err := s.redescribe(ctx, t, end); err != nil {
				return err
			}
		case known:
			s.setShadow(r[1], def, end)
		}
	}
	return nil
}

// redescribe reads a table's structure from information_schema after a
// statement the stream could not follow. If later statements changed the
// table again, the row events in between fail the column check of
// buildLayout rather than being misread.
func (s *stream) redescribe(ctx context.Context, t *tableState, end binlogPos) error {
	def, err := s.describeNow(ctx, t.key)
	if err != nil {
		return fmt.Errorf("structure of %s after a DDL statement: %w", t.key, err)
	}
	s.setDef(t, def, end)
	return nil
}

func (s *stream) setDef(t *tableState, def *tableDef, from binlogPos) {
	if sameColumns(t.def, def) {
		t.def = def
		return
	}
	t.def = def
	t.defV++
	s.history.record(t.key, from, def)
}

// emitBegin queues the transaction's EventBegin (once) and the table's
// schema when it is new or changed.
func (s *stream) emitBegin(t *tableState, lay *layout) {
	if !s.txEmitted {
		s.txEmitted = true
		s.queue = append(s.queue, cdc.Event{Kind: cdc.EventBegin, CommitTime: s.txTime})
	}
	if !sameSchema(t.emitted, lay.schema) {
		t.emitted = lay.schema
		s.queue = append(s.queue, cdc.Event{Kind: cdc.EventSchema, Schema: lay.schema})
	}
}

// rows turns a row event of a captured table into changes.
func (s *stream) rows(d *binlog.RowsEvent, prev binlogPos, ev *binlog.Event) error {
	tm := d.Table
	if tm == nil || len(d.Rows) == 0 {
		return nil
	}
	t := s.tables[tableKey{tm.Schema, tm.Table}]
	if t == nil {
		return nil
	}
	if !s.inTx {
		s.beginGroup(prev, ev)
		s.txBegin = true
	}
	if !t.skipBefore.isZero() && comparePos(s.txStart, t.skipBefore) < 0 {
		return nil // in the table's snapshot
	}
	lay, err := s.layoutFor(t, tm)
	if err != nil {
		return err
	}
	s.emitBegin(t, lay)
	// The text of a row event's values is about twice its binary size.
	a := &arena{b: make([]byte, 0, 2*int(ev.Header.EventSize)+64)}
	for _, r := range d.Rows {
		c := cdc.Change{Table: t.ref}
		switch d.Kind {
		case binlog.Insert:
			c.Op = cdc.Insert
			if c.New, err = s.row(a, t, lay, r.After); err != nil {
				return err
			}
		case binlog.Update:
			c.Op = cdc.Update
			if c.New, err = s.row(a, t, lay, r.After); err != nil {
				return err
			}
			old, err := s.row(a, t, lay, r.Before)
			if err != nil {
				return err
			}
			if keyMoved(old, c.New, lay.keys) {
				c.Old = old
			}
		case binlog.Delete:
			c.Op = cdc.Delete
			if c.Old, err = s.row(a, t, lay, r.Before); err != nil {
				return err
			}
		}
		s.queue = append(s.queue, cdc.Event{Kind: cdc.EventChange, Change: c})
	}
	return nil
}

// row converts one row image; columns the image lacks (binlog_row_image
// other than FULL) are Unchanged.
func (s *stream) row(a *arena, t *tableState, lay *layout, cells []any) (cdc.Row, error) {
	r := cdc.Row{Values: make([][]byte, len(cells))}
	for i, v := range cells {
		switch v.(type) {
		case nil:
			continue
		case binlog.Missing:
			if r.Unchanged == nil {
				r.Unchanged = make([]bool, len(cells))
			}
			r.Unchanged[i] = true
			continue
		}
		out, err := lay.conv[i](a, v)
		if err != nil {
			return cdc.Row{}, fmt.Errorf("table %s column %s: %w", t.key, lay.schema.Columns[i].Name, err)
		}
		r.Values[i] = out
	}
	return r, nil
}

// keyMoved reports whether an update changed the row's key.
func keyMoved(old, nw cdc.Row, keys []int) bool {
	for _, k := range keys {
		if old.IsUnchanged(k) || nw.IsUnchanged(k) {
			continue
		}
		o, n := old.Values[k], nw.Values[k]
		if (o == nil) != (n == nil) || string(o) != string(n) {
			return true
		}
	}
	return false
}

// gtidState is the GTID position of the stream: MariaDB's last GTID per
// replication domain, or MySQL's executed GTID set.
type gtidState struct {
	mariadb bool
	maria   []binlog.MariaGTID // sorted by domain
	mysql   binlog.GTIDSet
	text    string
	dirty   bool
}

func (g *gtidState) init(s string) error {
	g.maria, g.mysql, g.text, g.dirty = nil, nil, "", false
	if s == "" {
		return nil
	}
	if g.mariadb {
		list, err := binlog.ParseMariaGTIDList(s)
		if err != nil {
			return err
		}
		slices.SortFunc(list, func(a, b binlog.MariaGTID) int { return int(int64(a.Domain) - int64(b.Domain)) })
		g.maria = list
	} else {
		set, err := binlog.ParseGTIDSet(s)
		if err != nil {
			return err
		}
		g.mysql = set
	}
	g.dirty = true
	return nil
}

func (g *gtidState) addMaria(id binlog.MariaGTID) {
	g.dirty = true
	for i := range g.maria {
		if g.maria[i].Domain == id.Domain {
			g.maria[i] = id
			return
		}
	}
	g.maria = append(g.maria, id)
	slices.SortFunc(g.maria, func(a, b binlog.MariaGTID) int { return int(int64(a.Domain) - int64(b.Domain)) })
}

// addMySQL adds uuid:gno to the set, merging adjacent intervals.
func (g *gtidState) addMySQL(sid binlog.UUID, gno int64) {
	if gno <= 0 {
		return
	}
	g.dirty = true
	i := slices.IndexFunc(g.mysql, func(e binlog.GTIDSetEntry) bool { return e.SID == sid })
	if i < 0 {
		g.mysql = append(g.mysql, binlog.GTIDSetEntry{SID: sid, Intervals: []binlog.GTIDInterval{{Start: gno, End: gno}}})
		slices.SortFunc(g.mysql, func(a, b binlog.GTIDSetEntry) int { return strings.Compare(a.SID.String(), b.SID.String()) })
		return
	}
	e := &g.mysql[i]
	ivs := e.Intervals
	for j := range ivs {
		switch {
		case gno >= ivs[j].Start && gno <= ivs[j].End:
			return
		case gno == ivs[j].End+1:
			ivs[j].End = gno
			if j+1 < len(ivs) && ivs[j+1].Start == gno+1 {
				ivs[j].End = ivs[j+1].End
				ivs = slices.Delete(ivs, j+1, j+2)
			}
			e.Intervals = ivs
			return
		case gno == ivs[j].Start-1:
			ivs[j].Start = gno
			return
		case gno < ivs[j].Start:
			e.Intervals = slices.Insert(ivs, j, binlog.GTIDInterval{Start: gno, End: gno})
			return
		}
	}
	e.Intervals = append(ivs, binlog.GTIDInterval{Start: gno, End: gno})
}

func (g *gtidState) String() string {
	if !g.dirty {
		return g.text
	}
	g.dirty = false
	if g.mariadb {
		parts := make([]string, len(g.maria))
		for i, id := range g.maria {
			parts[i] = id.String()
		}
		g.text = strings.Join(parts, ",")
	} else {
		g.text = g.mysql.String()
	}
	return g.text
}
