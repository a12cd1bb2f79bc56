package executor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
)

// Session is one client's state: who it is, its settings and its
// transaction-block status.
type Session struct {
	ex   *Executor
	info wire.SessionInfo
	rels *resolver

	mu       sync.Mutex
	user     string
	role     string
	settings map[string]*setting
	txStatus byte
	closed   bool
}

var _ wire.Session = (*Session)(nil)

// MaxStatementBytes bounds one client message of SQL; the wire layer's own
// bound is larger so this limit gets a proper error and the session lives.
const MaxStatementBytes = 1 << 20

// Prepare implements wire.Session.
func (s *Session) Prepare(ctx context.Context, sql string, paramOIDs []uint32, simple bool) ([]wire.Statement, error) {
	if len(sql) > MaxStatementBytes {
		err := withHint(pgErr(codeProgramLimitExcd, "statement is too long: %d bytes, flowgate accepts at most %d", len(sql), MaxStatementBytes),
			"Split the work into several statements.")
		s.auditFailure(sql, err)
		return nil, err
	}
	if !simple {
		st, err := parser.Parse(sql)
		if err != nil {
			s.auditFailure(sql, err)
			return nil, err
		}
		if _, empty := st.(*parser.Empty); empty {
			return nil, nil
		}
		stmt := s.newStatement(st, sql, 0, paramOIDs)
		// Describe needs types before Execute: translate now.
		if err := stmt.prepare(); err != nil {
			s.auditFailure(sql, err)
			return nil, err
		}
		return []wire.Statement{stmt}, nil
	}
	pieces := parser.Split(sql)
	out := make([]wire.Statement, 0, len(pieces))
	// Like PostgreSQL, parse the whole message before running any of it.
	for _, p := range pieces {
		st, err := parser.Parse(p.Text)
		if err != nil {
			err = parser.ShiftPosition(err, sql, p.Offset)
			s.auditFailure(p.Text, err)
			return nil, err
		}
		if _, empty := st.(*parser.Empty); empty {
			continue
		}
		out = append(out, s.newStatement(st, sql, p.Offset, nil))
	}
	return out, nil
}

// ParameterStatus implements wire.Session.
func (s *Session) ParameterStatus() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]string{}
	for _, st := range s.settings {
		if st.reported {
			m[displayName(st.name)] = st.value
		}
	}
	return m
}

// TxStatus implements wire.Session.
func (s *Session) TxStatus() byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.txStatus
}

// Close implements wire.Session.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		if s.ex.metrics != nil {
			s.ex.metrics.sessionClosed()
		}
	}
	return nil
}

func (s *Session) setting(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.settings[strings.ToLower(name)]
	if !ok {
		return "", false
	}
	return st.value, true
}

// FailTransaction implements wire.TxFailer: a protocol error inside a
// transaction block fails the block.
func (s *Session) FailTransaction() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txStatus == 'T' {
		s.txStatus = 'E'
	}
}

// notice sends a NOTICE (or WARNING) to this client.
func (s *Session) notice(severity, code, msg, hint string) {
	if s.info.Notify != nil {
		s.info.Notify(wire.Notice{Severity: severity, Code: code, Message: msg, Hint: hint})
	}
}

// auditFailure records a statement that failed before it could run.
func (s *Session) auditFailure(text string, err error) {
	s.finish(parser.Classify(text), text, time.Now(), err)
}

// finish records a finished statement in the audit log and the metrics and
// moves a transaction block into the failed state on error.
func (s *Session) finish(kind, text string, started time.Time, err error) {
	d := time.Since(started)
	code := sqlstate(err)
	if err != nil {
		s.FailTransaction()
	}
	if kind == "" {
		kind = "UNKNOWN"
	}
	if s.ex.metrics != nil {
		s.ex.metrics.statement(kind, code, d)
	}
	addr := ""
	if s.info.RemoteAddr != nil {
		addr = s.info.RemoteAddr.String()
	}
	app, _ := s.setting("application_name")
	entry := catalog.AuditEntry{
		At: started, User: s.user, ClientAddr: addr, ApplicationName: app,
		Statement: parser.Redact(text, isSecretOption), SQLState: code, Duration: d,
	}
	// The audit row must land even if the client went away mid-statement.
	actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if aerr := s.ex.cat.Audit(actx, entry); aerr != nil {
		s.ex.log.Error("audit log write failed", "err", aerr)
	}
	if err != nil && code == codeInternal && !errors.Is(err, context.Canceled) {
		s.ex.log.Error("statement failed", "kind", kind, "user", s.user, "err", err)
	}
}
