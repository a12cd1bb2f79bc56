package wire

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

// Connection states, for Shutdown racing with startup.
const (
	stateStarting int32 = iota
	stateRunning
	stateClosing
)

// flushThreshold bounds how many row bytes are buffered before a flush, so
// large results stream instead of piling up in memory.
const flushThreshold = 64 << 10

// conn is one client connection. One goroutine (run) handles messages in
// order; a second (readLoop) reads ahead so a disconnect cancels the
// running statement. Writes are serialized by wmu because notices may come
// from any goroutine.
type conn struct {
	srv    *Server
	raw    net.Conn // the accepted socket, closed to unblock everything
	nc     net.Conn // raw or its TLS wrapper
	be     *pgproto3.Backend
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	state  atomic.Int32

	pid    uint32
	secret [4]byte
	info   SessionInfo
	sess   Session
	sent   map[string]string // parameter statuses last reported
	types  *pgtype.Map

	wmu       sync.Mutex
	wclosed   bool
	werr      error
	unflushed int

	curMu     sync.Mutex
	curCancel context.CancelCauseFunc

	stmts          map[string]*prepared
	portals        map[string]*portal
	ignoreTillSync bool
	closeAfter     bool // a FATAL error was sent
}

type inbound struct {
	msg pgproto3.FrontendMessage
	err error
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv: s, raw: nc, nc: nc, log: s.log.With("remote", nc.RemoteAddr().String()),
		ctx: ctx, cancel: cancel, types: pgtype.NewMap(),
		stmts: map[string]*prepared{}, portals: map[string]*portal{},
	}
}

func (c *conn) run() {
	defer c.close()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("wire: panic in session", "panic", r, "stack", string(debug.Stack()))
			if c.be != nil {
				c.send(errorResponse(pgErr("FATAL", "XX000", "internal error")))
				c.flush()
			}
		}
	}()
	if !c.startup() {
		return
	}
	c.serve()
}

// shutdownIfStarting closes a connection that has no session yet.
func (c *conn) shutdownIfStarting() {
	if c.state.CompareAndSwap(stateStarting, stateClosing) {
		c.raw.Close()
	}
}

func (c *conn) forceClose() {
	c.cancel()
	c.raw.Close()
}

func (c *conn) close() {
	c.cancel()
	for name := range c.portals {
		c.dropPortal(name)
	}
	c.wmu.Lock()
	c.wclosed = true
	c.wmu.Unlock()
	c.raw.Close()
	if c.sess != nil {
		if err := c.sess.Close(); err != nil {
			c.log.Warn("wire: closing session", "err", err)
		}
	}
	if c.state.Load() == stateRunning {
		c.srv.unregisterPID(c)
		c.srv.active.Add(-1)
		if f := c.srv.cfg.OnSessionClose; f != nil {
			f(c.info)
		}
	}
}

func (c *conn) serve() {
	in := make(chan inbound, 1)
	go c.readLoop(in)
	for !c.closeAfter {
		var idle <-chan time.Time
		var timer *time.Timer
		if d := c.srv.cfg.IdleTimeout; d > 0 && c.sess.TxStatus() == 'I' {
			timer = time.NewTimer(d)
			idle = timer.C
		}
		select {
		case it := <-in:
			if it.err != nil {
				c.readFailed(it.err)
				return
			}
			if !c.handle(it.msg) {
				return
			}
		case <-c.srv.closing:
			c.fatal(pgErr("FATAL", "57P01", "terminating connection due to administrator command"))
			return
		case <-idle:
			c.fatal(pgErr("FATAL", "57P05", "terminating connection due to idle-session timeout"))
			return
		case <-c.ctx.Done():
			return
		}
		if timer != nil {
			timer.Stop()
		}
		if c.writeErr() != nil {
			return
		}
	}
}

// readLoop reads frontend messages ahead of the handler. Messages are
// cloned because Backend reuses them on the next Receive.
func (c *conn) readLoop(out chan<- inbound) {
	for {
		msg, err := c.receive()
		if err != nil && isIOError(err) {
			c.cancel() // client went away: stop the running statement now
		}
		select {
		case out <- inbound{msg, err}:
		case <-c.ctx.Done():
			return
		}
		if err != nil {
			return
		}
		if _, ok := msg.(*pgproto3.Terminate); ok {
			return
		}
	}
}

func (c *conn) receive() (msg pgproto3.FrontendMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, errors.New("malformed message")
		}
	}()
	msg, err = c.be.Receive()
	if err != nil {
		return nil, err
	}
	return cloneMessage(msg), nil
}

func isIOError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

func (c *conn) readFailed(err error) {
	var tooBig *pgproto3.ExceededMaxBodyLenErr
	switch {
	case errors.As(err, &tooBig):
		c.fatal(pgErr("FATAL", "54000", "message of %d bytes exceeds the maximum of %d bytes", tooBig.ActualBodyLen, tooBig.MaxExpectedBodyLen))
	case isIOError(err):
		c.log.Debug("wire: client disconnected", "err", err)
	default:
		c.log.Debug("wire: protocol violation", "err", err)
		c.fatal(pgErr("FATAL", "08P01", "invalid frontend message: %v", err))
	}
}

// cloneMessage copies a message out of the Backend's reused buffers.
func cloneMessage(msg pgproto3.FrontendMessage) pgproto3.FrontendMessage {
	switch m := msg.(type) {
	case *pgproto3.Query:
		v := *m
		return &v
	case *pgproto3.Parse:
		v := *m
		v.ParameterOIDs = slices.Clone(m.ParameterOIDs)
		return &v
	case *pgproto3.Bind:
		v := *m
		v.ParameterFormatCodes = slices.Clone(m.ParameterFormatCodes)
		v.ResultFormatCodes = slices.Clone(m.ResultFormatCodes)
		v.Parameters = make([][]byte, len(m.Parameters))
		for i, p := range m.Parameters {
			if p != nil {
				v.Parameters[i] = slices.Clone(p)
			}
		}
		return &v
	case *pgproto3.Describe:
		v := *m
		return &v
	case *pgproto3.Execute:
		v := *m
		return &v
	case *pgproto3.Close:
		v := *m
		return &v
	case *pgproto3.Sync:
		return &pgproto3.Sync{}
	case *pgproto3.Flush:
		return &pgproto3.Flush{}
	case *pgproto3.Terminate:
		return &pgproto3.Terminate{}
	case *pgproto3.CopyData:
		return &pgproto3.CopyData{Data: slices.Clone(m.Data)}
	case *pgproto3.CopyDone:
		return &pgproto3.CopyDone{}
	case *pgproto3.CopyFail:
		v := *m
		return &v
	case *pgproto3.FunctionCall:
		return &pgproto3.FunctionCall{Function: m.Function}
	default:
		// Anything else (password messages after auth) is a protocol
		// violation; only its type matters.
		return msg
	}
}

// handle processes one message; false means close the connection.
func (c *conn) handle(msg pgproto3.FrontendMessage) bool {
	switch msg.(type) {
	case *pgproto3.Terminate:
		return false
	case *pgproto3.Sync:
		c.sync()
		return !c.closeAfter
	}
	if c.ignoreTillSync {
		return true
	}
	switch m := msg.(type) {
	case *pgproto3.Query:
		c.simpleQuery(m.String)
	case *pgproto3.Parse:
		c.extended(c.parse(m))
	case *pgproto3.Bind:
		c.extended(c.bind(m))
	case *pgproto3.Describe:
		c.extended(c.describe(m))
	case *pgproto3.Execute:
		c.extended(c.execute(m))
	case *pgproto3.Close:
		c.extended(c.closeObject(m))
	case *pgproto3.Flush:
		c.flush()
	case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
		// Ignored outside COPY, as PostgreSQL does.
	case *pgproto3.FunctionCall:
		c.sendError(pgErr("ERROR", "0A000", "function call protocol is not supported"))
		c.readyForQuery()
	default:
		c.fatal(pgErr("FATAL", "08P01", "unexpected message type %T", msg))
		return false
	}
	return !c.closeAfter
}

// simpleQuery runs a Query message: every statement in order, stopping at
// the first error, then ReadyForQuery.
func (c *conn) simpleQuery(sql string) {
	// A Query message replaces the unnamed statement and portal; named
	// portals of an open transaction block stay.
	delete(c.stmts, "")
	c.dropPortal("")
	defer c.endImplicitTransaction()
	ctx, done := c.beginStatement()
	defer done()
	stmts, err := c.sess.Prepare(ctx, sql, nil, true)
	switch {
	case err != nil:
		c.sendError(toPgError(ctx, err))
	case len(stmts) == 0:
		c.send(&pgproto3.EmptyQueryResponse{})
	}
	for _, st := range stmts {
		txBefore := c.sess.TxStatus()
		if err := c.runSimple(ctx, st); err != nil {
			c.sendError(toPgError(ctx, err))
			break
		}
		c.afterStatement(txBefore, "")
		c.syncParams()
	}
	c.readyForQuery()
}

func (c *conn) runSimple(ctx context.Context, st Statement) error {
	res, err := st.Execute(ctx, nil)
	if err != nil {
		return err
	}
	defer res.Close()
	cols := st.Columns()
	if cols != nil {
		c.send(rowDescription(cols, nil))
	}
	if _, _, err := c.sendRows(ctx, res, cols, nil, 0); err != nil {
		return err
	}
	c.send(&pgproto3.CommandComplete{CommandTag: []byte(res.Tag())})
	return nil
}

// beginStatement makes the context a CancelRequest cancels.
func (c *conn) beginStatement() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(c.ctx)
	c.setCurrent(cancel)
	return ctx, func() {
		c.setCurrent(nil)
		cancel(nil)
	}
}

func (c *conn) setCurrent(cancel context.CancelCauseFunc) {
	c.curMu.Lock()
	c.curCancel = cancel
	c.curMu.Unlock()
}

func (c *conn) cancelCurrent() {
	c.curMu.Lock()
	if c.curCancel != nil {
		c.curCancel(errQueryCanceled)
	}
	c.curMu.Unlock()
}

func rowDescription(cols []Column, formats []int16) *pgproto3.RowDescription {
	rd := &pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(cols))}
	for i, col := range cols {
		f := pgproto3.FieldDescription{
			Name:                 []byte(col.Name),
			TableOID:             col.TableOID,
			TableAttributeNumber: uint16(col.AttrNum),
			DataTypeOID:          col.TypeOID,
			DataTypeSize:         col.TypeSize,
			TypeModifier:         col.TypeModifier,
		}
		if formats != nil {
			f.Format = formats[i]
		}
		rd.Fields[i] = f
	}
	return rd
}

// sendRows streams rows from res; max > 0 stops after that many rows.
// done is true when res reached its end.
func (c *conn) sendRows(ctx context.Context, res Result, cols []Column, formats []int16, max uint32) (sent uint32, done bool, err error) {
	for n := uint32(0); max == 0 || n < max; n++ {
		row, err := res.Next(ctx)
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
		if len(row) != len(cols) {
			return n, false, pgErr("ERROR", "XX000", "row has %d values but the statement describes %d columns", len(row), len(cols))
		}
		size, cloned := 0, false
		for i, v := range row {
			size += len(v)
			if v != nil && formats != nil && formats[i] == pgtype.BinaryFormatCode {
				b, err := textToBinary(c.types, cols[i].TypeOID, v)
				if err != nil {
					return n, false, pgErr("ERROR", "22P02", "cannot send value %q of column %q (type %d) in binary: %v", v, cols[i].Name, cols[i].TypeOID, err)
				}
				if !cloned { // never modify the session's slice
					row, cloned = slices.Clone(row), true
				}
				row[i] = b
			}
		}
		c.send(&pgproto3.DataRow{Values: row})
		c.unflushed += size
		if c.unflushed >= flushThreshold {
			if err := c.flush(); err != nil {
				return n, false, err
			}
		}
	}
	return max, false, nil
}

func (c *conn) sendError(pe *pgconn.PgError) {
	c.send(errorResponse(pe))
	if isFatal(pe) {
		c.closeAfter = true
		c.flush()
	}
}

// syncParams reports parameter statuses that changed since last sent.
func (c *conn) syncParams() {
	ps := c.sess.ParameterStatus()
	for _, k := range slices.Sorted(maps.Keys(ps)) {
		if old, ok := c.sent[k]; !ok || old != ps[k] {
			c.send(&pgproto3.ParameterStatus{Name: k, Value: ps[k]})
			c.sent[k] = ps[k]
		}
	}
}

func (c *conn) readyForQuery() {
	if c.closeAfter {
		return // after FATAL the connection closes without ReadyForQuery
	}
	c.syncParams()
	c.send(&pgproto3.ReadyForQuery{TxStatus: c.sess.TxStatus()})
	c.flush()
}

func (c *conn) send(msg pgproto3.BackendMessage) {
	c.wmu.Lock()
	if c.werr == nil {
		c.be.Send(msg)
	}
	c.wmu.Unlock()
}

func (c *conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.unflushed = 0
	if c.werr != nil {
		return c.werr
	}
	if err := c.be.Flush(); err != nil {
		c.werr = err
		c.cancel()
	}
	return c.werr
}

func (c *conn) writeErr() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.werr
}

// notify is SessionInfo.Notify: safe from any goroutine, flushed at once so
// clients see notices while the statement still runs.
func (c *conn) notify(n Notice) {
	sev := n.Severity
	if sev == "" {
		sev = "NOTICE"
	}
	code := n.Code
	if code == "" {
		code = "00000"
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed || c.werr != nil {
		return
	}
	c.be.Send(&pgproto3.NoticeResponse{Severity: sev, SeverityUnlocalized: sev, Code: code, Message: n.Message, Detail: n.Detail, Hint: n.Hint})
	if err := c.be.Flush(); err != nil {
		c.werr = err
		c.cancel()
	}
}
