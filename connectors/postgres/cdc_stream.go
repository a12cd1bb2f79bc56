package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/schema"
)

// statusInterval is the longest time between two standby status updates:
// they advance the slot's confirmed_flush_lsn (so the server can free WAL)
// and keep wal_sender_timeout from ending the connection while the
// pipeline is busy elsewhere.
const statusInterval = 10 * time.Second

// writeTimeout bounds one status update write.
const writeTimeout = 30 * time.Second

type tableKey struct{ schema, name string }

// relation is the latest pgoutput Relation message of a relation id and
// the schema built for it.
type relation struct {
	ref  cdc.TableRef
	ours bool
	msg  *pglogrepl.RelationMessage
	sig  string
	// Set by ensureSchema for sig:
	built  string
	schema *cdc.TableSchema
	keys   []int // key column indexes
}

// stream is an open logical replication stream (pgoutput protocol 1).
//
// Next is called by one goroutine; Ack may be called from another while
// Next waits. Close must not run concurrently with Next (cancel Next's
// context first).
type stream struct {
	c        *Conn
	spec     cdc.StreamSpec
	conn     *pgconn.PgConn
	snapshot string
	start    pglogrepl.LSN // From, or the slot's consistent point
	tables   map[tableKey]cdc.TableRef
	rels     map[uint32]*relation

	// Next's state.
	inTx, skipping bool
	queue          []cdc.Event // events decoded, not yet returned, from qhead on
	qhead          int
	arena          rowArena
	// watched is the context whose end interrupts Next's read (by a read
	// deadline: pgconn's own watching costs more than a change does).
	wmuRead   sync.Mutex
	watched   context.Context
	stopWatch func() bool
	// broken is the error that ended the stream after a message was
	// consumed: a later Next must not go on as if it had been delivered.
	broken error

	backlog backlog

	mu    sync.Mutex
	last  pglogrepl.LSN // the last position Next delivered
	acked pglogrepl.LSN // the highest position acknowledged

	// wmu serializes writes to the connection and guards started/closed.
	wmu     sync.Mutex
	started bool
	closed  bool
	timer   *time.Timer
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func (s *stream) SnapshotID() string          { return s.snapshot }
func (s *stream) StartPosition() cdc.Position { return cdc.Position(s.start.String()) }

// Start runs START_REPLICATION from the start position. For a new stream
// this ends the exported snapshot, so it comes after the snapshot exports.
func (s *stream) Start(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	switch {
	case s.closed:
		return errors.New("start stream: the stream is closed")
	case s.started:
		return errors.New("start stream: already started")
	}
	// publication_names is a string holding a list of identifiers.
	pubs := "'" + strings.ReplaceAll(pgx.Identifier{s.spec.Publication}.Sanitize(), "'", "''") + "'"
	err := pglogrepl.StartReplication(ctx, s.conn, s.spec.Slot, s.start, pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '1'", "publication_names " + pubs},
	})
	if err != nil {
		return fmt.Errorf("start replication from slot %s at %s: %w", s.spec.Slot, s.start, err)
	}
	s.started = true
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	s.timer = time.NewTimer(statusInterval)
	go s.statusLoop()
	return nil
}

// statusLoop sends a status update whenever statusInterval passed without
// one, whether or not Next is being called.
func (s *stream) statusLoop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.timer.C:
			// A failure shows in Next as well: the connection is gone.
			_ = s.sendStatus(context.Background())
		}
	}
}

// sendStatus reports the acknowledged position as written, flushed and
// applied.
func (s *stream) sendStatus(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.started || s.closed {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Read under wmu, so updates go out in order and never move back.
	s.mu.Lock()
	acked := s.acked
	s.mu.Unlock()
	deadline := time.Now().Add(writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc := s.conn.Conn()
	_ = nc.SetWriteDeadline(deadline)
	err := pglogrepl.SendStandbyStatusUpdate(ctx, s.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: acked, WALFlushPosition: acked, WALApplyPosition: acked})
	_ = nc.SetWriteDeadline(time.Time{})
	s.timer.Reset(statusInterval)
	if err != nil {
		return fmt.Errorf("replication slot %s: standby status update: %w", s.spec.Slot, err)
	}
	return nil
}

// Ack records pos as committed at the target and tells the server at once.
func (s *stream) Ack(ctx context.Context, pos cdc.Position) error {
	lsn, err := pglogrepl.ParseLSN(string(pos))
	if err != nil {
		return fmt.Errorf("ack %q: %w", pos, err)
	}
	s.mu.Lock()
	if lsn > s.last {
		last := s.last
		s.mu.Unlock()
		return fmt.Errorf("ack %s: past the last position the stream delivered (%s)", lsn, last)
	}
	if lsn > s.acked {
		s.acked = lsn
	}
	s.mu.Unlock()
	return s.sendStatus(ctx)
}

// Close ends the replication connection (and with it an exported snapshot
// not yet used).
func (s *stream) Close() error {
	var err error
	s.once.Do(func() {
		s.wmu.Lock()
		s.closed = true
		stop := s.stop
		s.wmu.Unlock()
		if stop != nil {
			close(stop)
			<-s.done
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.conn.Close(ctx)
	})
	return err
}

func (s *stream) setLast(lsn pglogrepl.LSN) {
	s.mu.Lock()
	if lsn > s.last {
		s.last = lsn
	}
	s.mu.Unlock()
}

// Next returns the next event. Each message is decoded as it arrives, so
// a transaction of any size passes through one change at a time.
func (s *stream) Next(ctx context.Context) (cdc.Event, error) {
	s.wmu.Lock()
	started := s.started
	s.wmu.Unlock()
	if !started {
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
			if s.qhead++; s.qhead == len(s.queue) {
				s.queue, s.qhead = s.queue[:0], 0
			}
			return ev, nil
		}
		s.watch(ctx)
		if err := ctx.Err(); err != nil {
			return cdc.Event{}, fmt.Errorf("replication slot %s: %w", s.spec.Slot, err)
		}
		msg, err := s.conn.ReceiveMessage(context.Background())
		if err != nil {
			if ctx.Err() != nil {
				return cdc.Event{}, fmt.Errorf("replication slot %s: %w", s.spec.Slot, ctx.Err())
			}
			return cdc.Event{}, fmt.Errorf("replication slot %s: receive: %w", s.spec.Slot, err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				k, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return cdc.Event{}, fmt.Errorf("replication slot %s: %w", s.spec.Slot, err)
				}
				if k.ReplyRequested {
					if err := s.sendStatus(ctx); err != nil {
						return cdc.Event{}, err
					}
				}
				if ev, ok := s.heartbeat(k.ServerWALEnd); ok {
					return ev, nil
				}
			case pglogrepl.XLogDataByteID:
				x, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return cdc.Event{}, fmt.Errorf("replication slot %s: %w", s.spec.Slot, err)
				}
				if err := s.decode(ctx, x.WALData); err != nil {
					return cdc.Event{}, fmt.Errorf("replication slot %s: %w", s.spec.Slot, err)
				}
			}
		case *pgproto3.ErrorResponse:
			return cdc.Event{}, fmt.Errorf("replication slot %s: %w", s.spec.Slot, pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return cdc.Event{}, fmt.Errorf("replication slot %s: the server ended the replication stream", s.spec.Slot)
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		default:
			return cdc.Event{}, fmt.Errorf("replication slot %s: unexpected message %T", s.spec.Slot, msg)
		}
	}
}

// watch makes the end of ctx interrupt the connection's reads with a past
// read deadline; a timeout leaves pgconn's connection usable, so a later
// Next with another context goes on reading.
func (s *stream) watch(ctx context.Context) {
	if ctx == s.watched {
		return
	}
	if s.stopWatch != nil {
		s.stopWatch()
	}
	s.wmuRead.Lock()
	s.watched = ctx
	_ = s.conn.Conn().SetReadDeadline(time.Time{})
	s.wmuRead.Unlock()
	s.stopWatch = context.AfterFunc(ctx, func() {
		s.wmuRead.Lock()
		defer s.wmuRead.Unlock()
		if s.watched == ctx { // not a context Next no longer uses
			_ = s.conn.Conn().SetReadDeadline(time.Unix(1, 0))
		}
	})
}

// heartbeat turns a keepalive's WAL end into a heartbeat when no
// transaction is open and it moves past what was delivered: the server
// sends a transaction before reading past its commit record, so
// everything committed before the WAL end has been received.
func (s *stream) heartbeat(walEnd pglogrepl.LSN) (cdc.Event, bool) {
	if s.inTx {
		return cdc.Event{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if walEnd <= s.last {
		return cdc.Event{}, false
	}
	s.last = walEnd
	return cdc.Event{Kind: cdc.EventHeartbeat, Position: cdc.Position(walEnd.String())}, true
}

// decode turns one pgoutput message into queued events.
func (s *stream) decode(ctx context.Context, data []byte) (err error) {
	if len(data) == 0 {
		return errors.New("empty pgoutput message")
	}
	switch data[0] {
	case 'Y', 'O', 'M': // type, origin, logical decoding message
		return nil
	}
	defer func() {
		// pglogrepl's decoders index without bounds checks.
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed pgoutput %q message: %v", data[0], r)
		}
	}()
	switch data[0] {
	case 'I', 'U', 'D':
		// Row changes, most of the stream, are read here rather than by
		// pglogrepl: without a message and a value allocation per column.
		return s.rowChange(ctx, data)
	}
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return fmt.Errorf("pgoutput %q message: %w", data[0], err)
	}
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		s.inTx = true
		// FinalLSN is where the commit record starts; the start position
		// is the end of a record (a commit's end LSN, a keepalive's WAL end
		// or the consistent point), so FinalLSN < start exactly when the
		// commit's end LSN <= start: delivered before (or in the snapshot).
		s.skipping = m.FinalLSN < s.start
		if !s.skipping {
			s.queue = append(s.queue, cdc.Event{Kind: cdc.EventBegin, CommitTime: m.CommitTime.UTC()})
		}
	case *pglogrepl.CommitMessage:
		s.inTx = false
		if s.skipping {
			s.skipping = false
			return nil
		}
		s.setLast(m.TransactionEndLSN)
		s.queue = append(s.queue, cdc.Event{Kind: cdc.EventCommit, Position: cdc.Position(m.TransactionEndLSN.String()),
			CommitTime: m.CommitTime.UTC()})
	case *pglogrepl.RelationMessage:
		return s.relation(m)
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			rel, err := s.changed(ctx, id)
			if err != nil {
				return err
			}
			if rel != nil {
				s.queue = append(s.queue, change(rel, cdc.Truncate, cdc.Row{}, cdc.Row{}))
			}
		}
	default:
		return fmt.Errorf("unexpected pgoutput message %s", msg.Type())
	}
	return nil
}

func change(rel *relation, op cdc.Op, old, new cdc.Row) cdc.Event {
	return cdc.Event{Kind: cdc.EventChange, Change: cdc.Change{Table: rel.ref, Op: op, Old: old, New: new}}
}

// relation records a Relation message. PostgreSQL sends one before the
// first change of a relation on this connection and again after its
// definition changed; a schema event follows only when the columns did.
func (s *stream) relation(m *pglogrepl.RelationMessage) error {
	ref, ours := s.tables[tableKey{m.Namespace, m.RelationName}]
	prev := s.rels[m.RelationID]
	if prev != nil && prev.ours && !ours {
		// The publication follows the table, the job does not.
		return fmt.Errorf("captured table %s was renamed to %s", prev.ref,
			pgx.Identifier{m.Namespace, m.RelationName}.Sanitize())
	}
	rel := &relation{ref: ref, ours: ours, msg: m, sig: signature(m)}
	if prev != nil && prev.built == rel.sig {
		rel.built, rel.schema, rel.keys = prev.built, prev.schema, prev.keys
	}
	s.rels[m.RelationID] = rel
	return nil
}

// signature identifies a relation's column list: names, types and key
// flags in order.
func signature(m *pglogrepl.RelationMessage) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%c", m.ReplicaIdentity)
	for _, c := range m.Columns {
		fmt.Fprintf(&b, "\x00%s\x00%d\x00%d\x00%d", c.Name, c.DataType, c.TypeModifier, c.Flags)
	}
	return b.String()
}

// changed returns the relation of a change to deliver, nil when the
// change is skipped (an already delivered transaction, a table the job
// does not capture). Before the first change of a relation, and after its
// columns changed, it queues the schema event.
func (s *stream) changed(ctx context.Context, id uint32) (*relation, error) {
	if s.skipping {
		return nil, nil
	}
	rel := s.rels[id]
	if rel == nil {
		return nil, fmt.Errorf("change of relation %d before its Relation message", id)
	}
	if !rel.ours {
		return nil, nil
	}
	if rel.built != rel.sig {
		if err := s.buildSchema(ctx, rel); err != nil {
			return nil, err
		}
		s.queue = append(s.queue, cdc.Event{Kind: cdc.EventSchema, Schema: rel.schema})
	}
	return rel, nil
}

// buildSchema types the relation's columns as DescribeTables does (by
// name; a column the catalog no longer has is typed from its type oid).
// Key flags are the relation's, except under REPLICA IDENTITY FULL, which
// flags every column: there the primary key's columns are the key.
func (s *stream) buildSchema(ctx context.Context, rel *relation) error {
	m := rel.msg
	// The message is consumed: cancelling Next must not lose it halfway.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var desc *schema.Table
	ts, err := s.c.DescribeTables(ctx, m.Namespace, []string{m.RelationName})
	switch {
	case err == nil && len(ts) == 1:
		desc = &ts[0]
	case err != nil && !errors.Is(err, schema.ErrTableNotFound):
		return fmt.Errorf("describe %s: %w", rel.ref, err)
	}
	pk := map[string]bool{}
	if desc != nil {
		for _, k := range desc.PrimaryKey {
			pk[k] = true
		}
	}
	full := m.ReplicaIdentity == 'f' && len(pk) > 0
	ts2 := &cdc.TableSchema{Table: rel.ref, Columns: make([]cdc.Column, len(m.Columns))}
	var keys []int
	for i, rc := range m.Columns {
		col := cdc.Column{Name: rc.Name, Key: rc.Flags&1 != 0}
		if full {
			col.Key = pk[rc.Name]
		}
		var dc *schema.Column
		if desc != nil {
			dc, _ = desc.Column(rc.Name)
		}
		if dc != nil {
			col.Type = dc.Type
		} else if col.Type, err = s.c.typeOf(ctx, rc.DataType, rc.TypeModifier); err != nil {
			return fmt.Errorf("type of %s.%s: %w", rel.ref, rc.Name, err)
		}
		if col.Key {
			keys = append(keys, i)
		}
		ts2.Columns[i] = col
	}
	rel.schema, rel.keys, rel.built = ts2, keys, rel.sig
	return nil
}

// typeOf types a column from its type oid and modifier (a domain as its
// base type), as DescribeTables would.
func (c *Conn) typeOf(ctx context.Context, oid uint32, typmod int32) (schema.Type, error) {
	var native string
	err := c.pool.QueryRow(ctx, `SELECT CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod)
		ELSE format_type(t.oid, $2) END FROM pg_type t WHERE t.oid = $1`, oid, typmod).Scan(&native)
	if err != nil {
		return schema.Type{}, err
	}
	typ, err := ParseType(native)
	if err != nil {
		return schema.Type{Kind: schema.Other, Native: native}, nil
	}
	typ.Native = native
	return typ, nil
}

// rowChange queues the change of an Insert ('I'), Update ('U') or Delete
// ('D') message: relation id, then tuples each led by a byte saying what
// it is ('N' new, 'K' old key, 'O' old row).
func (s *stream) rowChange(ctx context.Context, data []byte) error {
	if len(data) < 6 {
		return fmt.Errorf("pgoutput %q message: %d bytes", data[0], len(data))
	}
	rel, err := s.changed(ctx, binary.BigEndian.Uint32(data[1:5]))
	if rel == nil || err != nil {
		return err
	}
	var old, row cdc.Row
	off := 5
	kind := data[off]
	if kind == 'K' || kind == 'O' {
		if old, off, err = s.tuple(data, off+1, rel); err != nil {
			return err
		}
		if data[0] == 'D' {
			s.queue = append(s.queue, change(rel, cdc.Delete, old, cdc.Row{}))
			return nil
		}
		if off >= len(data) {
			return fmt.Errorf("pgoutput %q message: no new tuple", data[0])
		}
		kind = data[off]
	}
	if kind != 'N' || data[0] == 'D' {
		return fmt.Errorf("pgoutput %q message: tuple kind %q", data[0], kind)
	}
	if row, _, err = s.tuple(data, off+1, rel); err != nil {
		return err
	}
	if data[0] == 'I' {
		s.queue = append(s.queue, change(rel, cdc.Insert, cdc.Row{}, row))
		return nil
	}
	// 'K' (the key changed, or an old key value lived in TOAST) or 'O'
	// (REPLICA IDENTITY FULL, every update): only a key that really
	// changed makes Old.
	if old.Values != nil && !keyChanged(old, row, rel.keys) {
		old = cdc.Row{}
	}
	s.queue = append(s.queue, change(rel, cdc.Update, old, row))
	return nil
}

// tuple reads the TupleData at data[off:] as a row: text values as sent
// (canonical under the session settings), 'n' as nil, 'u' (an unchanged
// TOASTed value PostgreSQL did not send) as Unchanged. It returns where
// the tuple ends.
func (s *stream) tuple(data []byte, off int, rel *relation) (cdc.Row, int, error) {
	bad := func(what string) (cdc.Row, int, error) {
		return cdc.Row{}, 0, fmt.Errorf("%s: malformed pgoutput tuple: %s", rel.ref, what)
	}
	if off+2 > len(data) {
		return bad("no column count")
	}
	n := len(rel.msg.Columns)
	if got := int(binary.BigEndian.Uint16(data[off:])); got != n {
		return cdc.Row{}, 0, fmt.Errorf("%s: tuple has %d columns, its relation %d", rel.ref, got, n)
	}
	off += 2
	row := cdc.Row{Values: s.arena.values(n)}
	for i := 0; i < n; i++ {
		if off >= len(data) {
			return bad("short")
		}
		kind := data[off]
		off++
		switch kind {
		case pglogrepl.TupleDataTypeText:
			if off+4 > len(data) {
				return bad("short value length")
			}
			l := int(int32(binary.BigEndian.Uint32(data[off:])))
			off += 4
			if l < 0 || l > len(data)-off {
				return bad("value length out of range")
			}
			// The receive buffer is reused: the value is copied.
			row.Values[i] = s.arena.bytes(data[off : off+l])
			off += l
		case pglogrepl.TupleDataTypeNull:
		case pglogrepl.TupleDataTypeToast:
			if row.Unchanged == nil {
				row.Unchanged = make([]bool, n)
			}
			row.Unchanged[i] = true
		default:
			return cdc.Row{}, 0, fmt.Errorf("%s.%s: unexpected tuple data kind %q", rel.ref, rel.msg.Columns[i].Name, kind)
		}
	}
	return row, off, nil
}

// arenaChunk is the size of the chunks values are copied into; values
// larger than a quarter of it get their own.
const arenaChunk = 64 << 10

// rowArena hands out value copies and value lists carved from shared
// chunks, so a change costs no allocation of its own. A chunk lives as
// long as any value in it; nothing handed out is written again.
type rowArena struct {
	buf  []byte
	vals [][]byte
}

var emptyValue = []byte{}

func (a *rowArena) bytes(b []byte) []byte {
	switch {
	case len(b) == 0:
		return emptyValue // non-nil: '' is not NULL
	case len(b) > arenaChunk/4:
		return append([]byte(nil), b...)
	case len(b) > cap(a.buf)-len(a.buf):
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}

func (a *rowArena) values(n int) [][]byte {
	if n > cap(a.vals)-len(a.vals) {
		a.vals = make([][]byte, 0, max(n, 2048))
	}
	start := len(a.vals)
	a.vals = a.vals[:start+n]
	return a.vals[start : start+n : start+n]
}

// keyChanged reports whether an old tuple's key differs from the new
// row's (a value not sent in the new row is unchanged).
func keyChanged(old, new cdc.Row, keys []int) bool {
	for _, i := range keys {
		if new.IsUnchanged(i) || old.IsUnchanged(i) {
			continue
		}
		o, n := old.Values[i], new.Values[i]
		if (o == nil) != (n == nil) || !bytes.Equal(o, n) {
			return true
		}
	}
	return false
}
