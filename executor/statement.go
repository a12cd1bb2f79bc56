package executor

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/flowgate/flowgate/catalog/pgquery"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
)

// statement is one parsed statement of a session.
type statement struct {
	s        *Session
	parsed   parser.Statement
	message  string // the whole client message, for error positions
	offset   int    // byte offset of this statement in message
	declared []uint32

	// SELECT only: the translation, done at Prepare (extended protocol) or
	// at Execute (simple protocol, so earlier statements run first).
	query *pgquery.Query
}

var _ wire.Statement = (*statement)(nil)

func (s *Session) newStatement(p parser.Statement, message string, offset int, declared []uint32) *statement {
	return &statement{s: s, parsed: p, message: message, offset: offset, declared: declared}
}

func (st *statement) isSelect() bool {
	std, ok := st.parsed.(*parser.Std)
	return ok && std.Command == "SELECT"
}

// prepare translates a SELECT; other statements need nothing up front.
func (st *statement) prepare() error {
	if !st.isSelect() || st.query != nil {
		return nil
	}
	std := st.parsed.(*parser.Std)
	env := pgquery.Env{
		CurrentUser:     st.s.user,
		Database:        st.s.info.Database,
		ApplicationName: st.s.info.ApplicationName,
		Setting:         st.s.setting,
		Version:         VersionText,
		BackendPID:      int32(st.s.info.ProcessID),
		Settings:        st.s.settingRows,
	}
	if v, ok := st.s.setting("application_name"); ok {
		env.ApplicationName = v
	}
	q, err := pgquery.Translate(std.Text(), std.Tree.GetStmts()[0], st.s.rels, env, st.declared)
	if err != nil {
		return parser.ShiftPosition(err, st.message, st.offset)
	}
	st.query = q
	return nil
}

// ParamOIDs implements wire.Statement.
func (st *statement) ParamOIDs() []uint32 {
	if st.query != nil {
		return st.query.ParamOIDs
	}
	return nil
}

// Columns implements wire.Statement.
func (st *statement) Columns() []wire.Column {
	if st.isSelect() {
		if st.prepare() != nil {
			return nil
		}
		cols := make([]wire.Column, len(st.query.Columns))
		for i, c := range st.query.Columns {
			cols[i] = wire.Column{Name: c.Name, TableOID: c.TableOID, AttrNum: c.AttrNum, TypeOID: c.TypeOID,
				TypeSize: typeSize(c.TypeOID), TypeModifier: c.TypeMod}
		}
		return cols
	}
	return staticColumns(st.parsed)
}

// Execute implements wire.Statement.
func (st *statement) Execute(ctx context.Context, params []wire.Param) (wire.Result, error) {
	started := time.Now()
	kind := st.parsed.Kind()
	res, err := st.execute(ctx, params)
	if err != nil {
		err = parser.ShiftPosition(err, st.message, st.offset)
		st.s.finish(kind, st.parsed.Text(), started, err)
		return nil, err
	}
	return &auditedResult{Result: res, done: func(err error) { st.s.finish(kind, st.parsed.Text(), started, err) }}, nil
}

func (st *statement) execute(ctx context.Context, params []wire.Param) (wire.Result, error) {
	if err := st.s.checkTxState(st.parsed); err != nil {
		return nil, err
	}
	if err := st.s.authorize(st.parsed); err != nil {
		return nil, err
	}
	if st.isSelect() {
		if err := st.prepare(); err != nil {
			return nil, err
		}
		return st.s.runSelect(ctx, st.query, params)
	}
	return st.s.run(ctx, st.parsed)
}

// auditedResult records the statement once it ends, however it ends.
type auditedResult struct {
	wire.Result
	once sync.Once
	done func(error)
}

func (r *auditedResult) Next(ctx context.Context) ([][]byte, error) {
	row, err := r.Result.Next(ctx)
	if err == io.EOF {
		r.once.Do(func() { r.done(nil) })
	} else if err != nil {
		r.once.Do(func() { r.done(err) })
	}
	return row, err
}

func (r *auditedResult) Close() error {
	r.once.Do(func() { r.done(nil) })
	return r.Result.Close()
}

// rowsResult is a small in-memory result: command tags and the few rows
// that extension statements return.
type rowsResult struct {
	rows [][][]byte
	i    int
	tag  string
}

func (r *rowsResult) Next(context.Context) ([][]byte, error) {
	if r.i >= len(r.rows) {
		return nil, io.EOF
	}
	r.i++
	return r.rows[r.i-1], nil
}
func (r *rowsResult) Tag() string  { return r.tag }
func (r *rowsResult) Close() error { return nil }

func tagOnly(tag string) *rowsResult { return &rowsResult{tag: tag} }

func rowsOf(rows [][][]byte) *rowsResult {
	return &rowsResult{rows: rows, tag: fmt.Sprintf("SELECT %d", len(rows))}
}

// selectResult streams a catalog query; memory stays at one row.
type selectResult struct {
	q     *pgquery.Query
	rows  *sql.Rows
	vals  []any
	ptrs  []any
	n     int
	close func()
}

func (s *Session) runSelect(ctx context.Context, q *pgquery.Query, params []wire.Param) (wire.Result, error) {
	raw := make([][]byte, len(params))
	for i, p := range params {
		raw[i] = p.Value
	}
	args, err := q.Args(raw)
	if err != nil {
		return nil, err
	}
	// The rows outlive Execute (portals), so they get their own context
	// that the wire's per-call ctx cancels only while a call is active.
	qctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	rows, err := s.ex.cat.ReadDB().QueryContext(qctx, q.SQL, args...)
	stop()
	if err != nil {
		cancel()
		return nil, catalogQueryError(ctx, err)
	}
	r := &selectResult{q: q, rows: rows, vals: make([]any, len(q.Columns)), ptrs: make([]any, len(q.Columns)), close: cancel}
	for i := range r.vals {
		r.ptrs[i] = &r.vals[i]
	}
	return r, nil
}

func catalogQueryError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return pgErr(codeQueryCanceled, "canceling statement due to user request")
	}
	if pe := pgquery.SQLiteError(err); pe != err {
		return pe
	}
	return fmt.Errorf("catalog query: %w", err)
}

func (r *selectResult) Next(ctx context.Context) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, pgErr(codeQueryCanceled, "canceling statement due to user request")
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return nil, catalogQueryError(ctx, err)
		}
		return nil, io.EOF
	}
	if err := r.rows.Scan(r.ptrs...); err != nil {
		return nil, catalogQueryError(ctx, err)
	}
	out := make([][]byte, len(r.vals))
	for i, v := range r.vals {
		b, err := r.q.Format(i, v)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	r.n++
	return out, nil
}

func (r *selectResult) Tag() string { return fmt.Sprintf("SELECT %d", r.n) }

func (r *selectResult) Close() error {
	err := r.rows.Close()
	r.close()
	return err
}

// isSecretOption masks secrets of any datasource type in logged statements.
func isSecretOption(key string) bool {
	return key == "password" || connectors.IsSecretKey(key)
}
