package wire

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

// prepared is a statement created by Parse ("" is the unnamed one).
type prepared struct {
	name      string
	stmt      Statement // nil for an empty query
	declared  []uint32  // OIDs the client sent in Parse
	paramOIDs []uint32  // effective OIDs: the statement's, else declared
}

// portal is a bound statement. Its Result is opened by the first Execute
// and kept across PortalSuspended.
type portal struct {
	ps      *prepared
	params  []Param
	cols    []Column
	formats []int16 // one per column; nil = all text
	ctx     context.Context
	cancel  context.CancelCauseFunc
	res     Result
	done    bool
	tag     string
	// suspended is set once an Execute stopped at its row limit.
	suspended bool
}

// extended reports an extended-protocol error and, as PostgreSQL does,
// discards messages until the next Sync.
func (c *conn) extended(err error) {
	if err == nil {
		return
	}
	c.sendError(toPgError(nil, err))
	c.ignoreTillSync = true
	if f, ok := c.sess.(TxFailer); ok {
		f.FailTransaction()
	}
}

func (c *conn) parse(m *pgproto3.Parse) error {
	if m.Name != "" {
		if _, ok := c.stmts[m.Name]; ok {
			return pgErr("ERROR", "42P05", "prepared statement %q already exists", m.Name)
		}
	} else {
		// Portals bound from the old unnamed statement stay usable, as in
		// PostgreSQL (pgjdbc binds cursor C_1 from it, then parses its
		// metadata query into the unnamed statement).
		delete(c.stmts, "")
	}
	if len(c.stmts) >= c.srv.cfg.MaxPrepared {
		return pgErr("ERROR", "53400", "too many prepared statements (limit %d)", c.srv.cfg.MaxPrepared)
	}
	ctx, done := c.beginStatement()
	defer done()
	stmts, err := c.sess.Prepare(ctx, m.Query, m.ParameterOIDs, false)
	if err != nil {
		return toPgError(ctx, err)
	}
	if len(stmts) > 1 {
		return pgErr("ERROR", "42601", "cannot insert multiple commands into a prepared statement")
	}
	ps := &prepared{name: m.Name, declared: m.ParameterOIDs}
	var oids []uint32
	if len(stmts) == 1 {
		ps.stmt = stmts[0]
		oids = ps.stmt.ParamOIDs()
	}
	ps.paramOIDs = make([]uint32, max(len(oids), len(m.ParameterOIDs)))
	for i := range ps.paramOIDs {
		if i < len(oids) && oids[i] != 0 {
			ps.paramOIDs[i] = oids[i]
		} else if i < len(m.ParameterOIDs) {
			ps.paramOIDs[i] = m.ParameterOIDs[i]
		}
	}
	c.stmts[m.Name] = ps
	c.send(&pgproto3.ParseComplete{})
	return nil
}

func (c *conn) lookupStatement(name string) (*prepared, error) {
	if ps, ok := c.stmts[name]; ok {
		return ps, nil
	}
	if name == "" {
		return nil, pgErr("ERROR", "26000", "unnamed prepared statement does not exist")
	}
	return nil, pgErr("ERROR", "26000", "prepared statement %q does not exist", name)
}

func (c *conn) lookupPortal(name string) (*portal, error) {
	if p, ok := c.portals[name]; ok {
		return p, nil
	}
	return nil, pgErr("ERROR", "34000", "portal %q does not exist", name)
}

// formatCode applies the Bind rule: no codes = text, one code = all, else one each.
func formatCode(codes []int16, i int) int16 {
	switch len(codes) {
	case 0:
		return pgtype.TextFormatCode
	case 1:
		return codes[0]
	default:
		return codes[i]
	}
}

func (c *conn) bind(m *pgproto3.Bind) error {
	ps, err := c.lookupStatement(m.PreparedStatement)
	if err != nil {
		return err
	}
	if m.DestinationPortal != "" {
		if _, ok := c.portals[m.DestinationPortal]; ok {
			return pgErr("ERROR", "42P03", "portal %q already exists", m.DestinationPortal)
		}
	} else {
		c.dropPortal("")
	}
	if len(c.portals) >= c.srv.cfg.MaxPrepared {
		return pgErr("ERROR", "53400", "too many portals (limit %d)", c.srv.cfg.MaxPrepared)
	}
	n := len(ps.paramOIDs)
	if len(m.Parameters) != n {
		return pgErr("ERROR", "08P01", "bind message supplies %d parameters, but prepared statement %q requires %d", len(m.Parameters), ps.name, n)
	}
	if k := len(m.ParameterFormatCodes); k > 1 && k != n {
		return pgErr("ERROR", "08P01", "bind message has %d parameter formats but %d parameters", k, n)
	}
	params := make([]Param, n)
	for i, v := range m.Parameters {
		params[i] = Param{OID: ps.paramOIDs[i], Value: v}
		switch formatCode(m.ParameterFormatCodes, i) {
		case pgtype.TextFormatCode:
		case pgtype.BinaryFormatCode:
			if v == nil {
				continue
			}
			oid := ps.paramOIDs[i]
			if i < len(ps.declared) && ps.declared[i] != 0 {
				oid = ps.declared[i] // the client encoded it as the type it declared
			}
			text, err := binaryToText(c.types, oid, v)
			if err != nil {
				return pgErr("ERROR", "22P03", "incorrect binary data format in bind parameter %d", i+1)
			}
			params[i].Value = text
		default:
			return pgErr("ERROR", "08P01", "unsupported format code: %d", formatCode(m.ParameterFormatCodes, i))
		}
	}

	p := &portal{ps: ps, params: params}
	if ps.stmt != nil {
		p.cols = ps.stmt.Columns()
	}
	if k := len(m.ResultFormatCodes); k > 1 && k != len(p.cols) {
		return pgErr("ERROR", "08P01", "bind message has %d result formats but query has %d columns", k, len(p.cols))
	}
	if len(m.ResultFormatCodes) > 0 && len(p.cols) > 0 {
		p.formats = make([]int16, len(p.cols))
		for i, col := range p.cols {
			f := formatCode(m.ResultFormatCodes, i)
			switch {
			case f != pgtype.TextFormatCode && f != pgtype.BinaryFormatCode:
				return pgErr("ERROR", "08P01", "unsupported format code: %d", f)
			case f == pgtype.BinaryFormatCode && !binarySupported(c.types, col.TypeOID):
				return pgErr("ERROR", "42883", "no binary output function available for type %d", col.TypeOID)
			}
			p.formats[i] = f
		}
	}
	c.portals[m.DestinationPortal] = p
	c.send(&pgproto3.BindComplete{})
	return nil
}

func (c *conn) describe(m *pgproto3.Describe) error {
	switch m.ObjectType {
	case 'S':
		ps, err := c.lookupStatement(m.Name)
		if err != nil {
			return err
		}
		c.send(&pgproto3.ParameterDescription{ParameterOIDs: ps.paramOIDs})
		var cols []Column
		if ps.stmt != nil {
			cols = ps.stmt.Columns()
		}
		c.sendDescription(cols, nil)
	case 'P':
		p, err := c.lookupPortal(m.Name)
		if err != nil {
			return err
		}
		c.sendDescription(p.cols, p.formats)
	default:
		return pgErr("ERROR", "08P01", "invalid DESCRIBE message subtype %d", m.ObjectType)
	}
	return nil
}

func (c *conn) sendDescription(cols []Column, formats []int16) {
	if cols == nil {
		c.send(&pgproto3.NoData{})
		return
	}
	c.send(rowDescription(cols, formats))
}

func (c *conn) execute(m *pgproto3.Execute) error {
	p, err := c.lookupPortal(m.Portal)
	if err != nil {
		return err
	}
	switch {
	case p.ps.stmt == nil:
		c.send(&pgproto3.EmptyQueryResponse{})
		return nil
	case p.done:
		c.send(&pgproto3.CommandComplete{CommandTag: []byte(p.tag)})
		return nil
	}
	txBefore := c.sess.TxStatus()
	if p.ctx == nil {
		p.ctx, p.cancel = context.WithCancelCause(c.ctx)
	}
	c.setCurrent(p.cancel)
	defer c.setCurrent(nil)
	if p.res == nil {
		res, err := p.ps.stmt.Execute(p.ctx, p.params)
		if err != nil {
			c.finishPortal(p)
			return toPgError(p.ctx, err)
		}
		p.res = res
	}
	sent, done, err := c.sendRows(p.ctx, p.res, p.cols, p.formats, m.MaxRows)
	if err != nil {
		pe := toPgError(p.ctx, err)
		c.finishPortal(p)
		return pe
	}
	if !done {
		p.suspended = true
		c.send(&pgproto3.PortalSuspended{})
		return nil
	}
	p.tag = p.res.Tag()
	if p.suspended && strings.HasPrefix(p.tag, "SELECT ") {
		// As PostgreSQL: the count of a portal run in parts is the rows of
		// this last Execute.
		p.tag = "SELECT " + strconv.FormatUint(uint64(sent), 10)
	}
	c.finishPortal(p)
	c.afterStatement(txBefore, m.Portal)
	c.send(&pgproto3.CommandComplete{CommandTag: []byte(p.tag)})
	c.syncParams()
	return nil
}

// finishPortal releases a portal's Result and context; the portal itself
// stays until closed.
func (c *conn) finishPortal(p *portal) {
	p.done = true
	if p.res != nil {
		if err := p.res.Close(); err != nil {
			c.log.Debug("wire: closing result", "err", err)
		}
		p.res = nil
	}
	if p.cancel != nil {
		p.cancel(nil)
	}
}

func (c *conn) closeObject(m *pgproto3.Close) error {
	switch m.ObjectType {
	case 'S':
		c.dropStatement(m.Name)
	case 'P':
		c.dropPortal(m.Name)
	default:
		return pgErr("ERROR", "08P01", "invalid CLOSE message subtype %d", m.ObjectType)
	}
	c.send(&pgproto3.CloseComplete{})
	return nil
}

// afterStatement ends the portals of a transaction block that the
// statement just run (COMMIT, ROLLBACK) closed; keep is the portal that ran
// it. A named portal lives until its transaction ends, as in PostgreSQL.
func (c *conn) afterStatement(txBefore byte, keep string) {
	if txBefore == 'I' || c.sess.TxStatus() != 'I' {
		return
	}
	for name := range c.portals {
		if name != keep {
			c.dropPortal(name)
		}
	}
}

// dropStatement closes a statement and the portals made from it (Close of a
// statement, as PostgreSQL does).
func (c *conn) dropStatement(name string) {
	ps, ok := c.stmts[name]
	if !ok {
		return
	}
	delete(c.stmts, name)
	for pname, p := range c.portals {
		if p.ps == ps {
			c.dropPortal(pname)
		}
	}
}

func (c *conn) dropPortal(name string) {
	if p, ok := c.portals[name]; ok {
		c.finishPortal(p)
		delete(c.portals, name)
	}
}

// sync ends an extended-protocol cycle. Outside a transaction block the
// implicit transaction ends, so every portal goes, as in PostgreSQL; inside
// one, portals (the unnamed one too) live on until the block ends.
func (c *conn) sync() {
	c.ignoreTillSync = false
	c.endImplicitTransaction()
	c.readyForQuery()
}

// endImplicitTransaction drops every portal when no transaction block is
// open: Sync and the end of a Query message end the implicit transaction.
func (c *conn) endImplicitTransaction() {
	if c.sess.TxStatus() != 'I' {
		return
	}
	for name := range c.portals {
		c.dropPortal(name)
	}
}
