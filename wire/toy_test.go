package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// toyHandler is a tiny in-test backend. Users with a password in
// passwords authenticate by SCRAM, "reject" is rejected, others are trusted.
type toyHandler struct {
	passwords map[string]string // user -> verifier

	mu       sync.Mutex
	canceled chan string // SLEEP reports why its ctx ended
	closed   chan uint32 // process id of every closed session
}

func newToyHandler() *toyHandler {
	return &toyHandler{canceled: make(chan string, 100), closed: make(chan uint32, 100)}
}

func (h *toyHandler) Auth(ctx context.Context, user string, remote net.Addr) (AuthDecision, error) {
	if user == "reject" {
		return AuthDecision{Method: AuthReject, RejectMessage: "go away"}, nil
	}
	if v, ok := h.passwords[user]; ok {
		return AuthDecision{Method: AuthSCRAM, SCRAMVerifier: v}, nil
	}
	return AuthDecision{Method: AuthTrust}, nil
}

func (h *toyHandler) NewSession(ctx context.Context, info SessionInfo) (Session, error) {
	if info.Database == "nodb" {
		return nil, &pgconn.PgError{Severity: "FATAL", Code: "3D000", Message: `database "nodb" does not exist`}
	}
	return &toySession{h: h, info: info, tx: 'I', params: map[string]string{
		"server_version":              "16.0",
		"client_encoding":             "UTF8",
		"standard_conforming_strings": "on",
		"DateStyle":                   "ISO, MDY",
		"TimeZone":                    "UTC",
		"integer_datetimes":           "on",
		"application_name":            info.ApplicationName,
	}}, nil
}

type toySession struct {
	h      *toyHandler
	info   SessionInfo
	tx     byte
	params map[string]string
}

func (s *toySession) ParameterStatus() map[string]string { return maps.Clone(s.params) }
func (s *toySession) TxStatus() byte                     { return s.tx }
func (s *toySession) Close() error {
	s.h.closed <- s.info.ProcessID
	return nil
}

// splitStatements splits on top-level ';' and returns each statement with
// its byte offset in sql.
func splitStatements(sql string) (parts []string, offsets []int) {
	start, inQuote := 0, false
	flush := func(end int) {
		piece := sql[start:end]
		trimmed := strings.TrimLeft(piece, " \t\n")
		if strings.TrimSpace(trimmed) != "" {
			parts = append(parts, strings.TrimSpace(trimmed))
			offsets = append(offsets, start+len(piece)-len(trimmed))
		}
	}
	for i := 0; i < len(sql); i++ {
		switch sql[i] {
		case '\'':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				flush(i)
				start = i + 1
			}
		}
	}
	flush(len(sql))
	return parts, offsets
}

func (s *toySession) Prepare(ctx context.Context, sql string, paramOIDs []uint32, simple bool) ([]Statement, error) {
	parts, offsets := splitStatements(sql)
	if !simple && len(parts) > 1 {
		return nil, &pgconn.PgError{Code: "42601", Message: "cannot insert multiple commands into a prepared statement"}
	}
	var out []Statement
	for i, p := range parts {
		pos := int32(utf8.RuneCountInString(sql[:offsets[i]])) + 1
		st, err := s.parse(p, pos)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

var toyTypes = map[string]uint32{
	"bool": 16, "int2": 21, "int4": 23, "int8": 20, "float4": 700, "float8": 701, "numeric": 1700,
	"text": 25, "varchar": 1043, "name": 19, "bpchar": 1042, "char": 18, "oid": 26,
	"timestamptz": 1184, "timestamp": 1114, "date": 1082, "json": 114, "jsonb": 3802, "bytea": 17,
	"uuid": 2950, "interval": 1186, "text[]": 1009, "int4[]": 1007, "int8[]": 1016,
	"int2vector": 22, "oidvector": 30,
}

type toyStmt struct {
	s       *toySession
	kind    string
	arg     string
	pos     int32
	params  []uint32
	cols    []Column
	exprs   []toyExpr
	nrows   int
	sleepFn func(ctx context.Context) error
}

// toyExpr is one ECHO item: a parameter or a literal, cast to a type.
type toyExpr struct {
	param int // 1-based, 0 for a literal
	lit   []byte
	typ   string
}

func (s *toySession) parse(sql string, pos int32) (*toyStmt, error) {
	word, rest, _ := strings.Cut(sql, " ")
	st := &toyStmt{s: s, kind: strings.ToUpper(word), arg: strings.TrimSpace(rest), pos: pos}
	switch st.kind {
	case "ROWS":
		n, err := strconv.Atoi(st.arg)
		if err != nil {
			return nil, syntaxError(pos)
		}
		st.nrows = n
		st.cols = []Column{{Name: "i", TypeOID: 23, TypeSize: 4, TypeModifier: -1}, {Name: "s", TypeOID: 25, TypeSize: -1, TypeModifier: -1}}
	case "ECHO":
		if err := st.parseEcho(); err != nil {
			return nil, err
		}
	case "SET":
		name, val, ok := strings.Cut(st.arg, "=")
		if !ok {
			name, val, ok = strings.Cut(st.arg, " TO ")
		}
		if !ok {
			return nil, syntaxError(pos)
		}
		st.arg = strings.TrimSpace(name) + "=" + strings.Trim(strings.TrimSpace(val), "'")
	case "FAIL", "FATALERR", "SLEEP", "NOTICE", "BEGIN", "COMMIT", "PANIC", "NOOP":
	default:
		return nil, syntaxError(pos)
	}
	return st, nil
}

func syntaxError(pos int32) error {
	return &pgconn.PgError{Code: "42601", Message: "syntax error", Position: pos}
}

// splitItems splits ECHO arguments on commas outside quotes.
func splitItems(s string) []string {
	var items []string
	start, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				items = append(items, s[start:i])
				start = i + 1
			}
		}
	}
	return append(items, s[start:])
}

func (st *toyStmt) parseEcho() error {
	for i, item := range splitItems(st.arg) {
		idx := strings.LastIndex(item, "::")
		if idx < 0 {
			return syntaxError(st.pos)
		}
		typ := strings.TrimSpace(item[idx+2:])
		oid, ok := toyTypes[typ]
		if !ok {
			return &pgconn.PgError{Code: "42704", Message: fmt.Sprintf("type %q does not exist", typ)}
		}
		e := toyExpr{typ: typ}
		expr := strings.Trim(strings.TrimSpace(item[:idx]), "() ")
		switch {
		case strings.HasPrefix(expr, "$"):
			n, err := strconv.Atoi(expr[1:])
			if err != nil || n < 1 {
				return syntaxError(st.pos)
			}
			e.param = n
			for len(st.params) < n {
				st.params = append(st.params, 0)
			}
			st.params[n-1] = oid
		case strings.HasPrefix(expr, "'"):
			e.lit = []byte(strings.ReplaceAll(expr[1:len(expr)-1], "''", "'"))
		case strings.EqualFold(expr, "null"):
		default:
			e.lit = []byte(strings.TrimSpace(expr))
		}
		st.exprs = append(st.exprs, e)
		st.cols = append(st.cols, Column{Name: fmt.Sprintf("c%d", i+1), TypeOID: oid, TypeSize: -1, TypeModifier: -1})
	}
	return nil
}

func (st *toyStmt) ParamOIDs() []uint32 { return st.params }
func (st *toyStmt) Columns() []Column   { return st.cols }

// cast mimics the little PostgreSQL input normalization the tests need.
func cast(typ string, v []byte) []byte {
	switch typ {
	case "timestamp":
		s := strings.TrimSuffix(string(v), "Z")
		return []byte(strings.TrimSuffix(s, "+00"))
	case "date":
		s, _, _ := strings.Cut(string(v), " ")
		return []byte(s)
	}
	return v
}

func (st *toyStmt) Execute(ctx context.Context, params []Param) (Result, error) {
	s := st.s
	switch st.kind {
	case "ROWS":
		rows := make([][][]byte, st.nrows)
		for i := range rows {
			rows[i] = [][]byte{[]byte(strconv.Itoa(i + 1)), []byte(fmt.Sprintf("row %d", i+1))}
		}
		return &toyResult{rows: rows, tag: fmt.Sprintf("SELECT %d", st.nrows)}, nil
	case "ECHO":
		row := make([][]byte, len(st.exprs))
		for i, e := range st.exprs {
			v := e.lit
			if e.param > 0 {
				if e.param > len(params) {
					return nil, &pgconn.PgError{Code: "08P01", Message: "missing parameter"}
				}
				v = params[e.param-1].Value
			}
			if v != nil {
				row[i] = cast(e.typ, v)
			}
		}
		return &toyResult{rows: [][][]byte{row}, tag: "SELECT 1"}, nil
	case "SET":
		name, val, _ := strings.Cut(st.arg, "=")
		s.params[name] = val
		return &toyResult{tag: "SET"}, nil
	case "BEGIN":
		s.tx = 'T'
		return &toyResult{tag: "BEGIN"}, nil
	case "COMMIT":
		s.tx = 'I'
		return &toyResult{tag: "COMMIT"}, nil
	case "NOOP":
		return &toyResult{tag: "NOOP"}, nil
	case "FAIL":
		return nil, fmt.Errorf("wrapped: %w", &pgconn.PgError{
			Code: "42P01", Message: "relation \"fail\" does not exist", Detail: "some detail", Hint: "some hint",
			Position: st.pos, SchemaName: "public", TableName: "fail", Routine: "toy", Line: 7, File: "toy.c",
		})
	case "FATALERR":
		return nil, &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "going down"}
	case "SLEEP":
		d := time.Hour
		if st.arg != "" {
			d, _ = time.ParseDuration(st.arg)
		}
		select {
		case <-ctx.Done():
			s.h.canceled <- fmt.Sprint(context.Cause(ctx))
			return nil, ctx.Err()
		case <-time.After(d):
			return &toyResult{tag: "SLEEP"}, nil
		}
	case "NOTICE":
		n, _ := strconv.Atoi(st.arg)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { s.info.Notify(Notice{Message: fmt.Sprintf("notice %d", i)}) })
		}
		wg.Wait()
		return &toyResult{tag: "NOTICE"}, nil
	case "PANIC":
		panic("toy panic")
	}
	return nil, errors.New("unreachable")
}

type toyResult struct {
	rows [][][]byte
	tag  string
	n    int
}

func (r *toyResult) Next(ctx context.Context) ([][]byte, error) {
	if r.n >= len(r.rows) {
		return nil, io.EOF
	}
	r.n++
	return r.rows[r.n-1], nil
}
func (r *toyResult) Tag() string  { return r.tag }
func (r *toyResult) Close() error { return nil }
