package wire

import (
	"context"
	"net"
)

// Column describes one result column as RowDescription sends it.
type Column struct {
	Name         string
	TableOID     uint32 // 0 when the column is not a plain column of a relation
	AttrNum      int16  // 0 when TableOID is 0
	TypeOID      uint32
	TypeSize     int16 // -1 for variable length
	TypeModifier int32 // -1 when none
}

// Param is one bound parameter, already converted to PostgreSQL text format.
// Value is nil for SQL NULL.
type Param struct {
	OID   uint32
	Value []byte
}

// Notice is a NoticeResponse sent to the client while a statement runs.
type Notice struct {
	Severity string // NOTICE, WARNING, INFO, LOG, DEBUG
	Code     string // SQLSTATE, "00000" for plain notices
	Message  string
	Detail   string
	Hint     string
}

// SessionInfo is what the wire layer learned at startup.
type SessionInfo struct {
	User            string
	Database        string
	ApplicationName string
	RemoteAddr      net.Addr
	ProcessID       uint32
	// StartupParams holds every startup parameter the client sent (user,
	// database, application_name, client_encoding, options, DateStyle, ...)
	// except protocol extensions (_pq_.*), so a Session can apply them.
	StartupParams map[string]string
	// Notify sends a notice to this client. Safe to call from any goroutine
	// while the session is open; a no-op after it closed.
	Notify func(Notice)
}

// Handler creates sessions and answers authentication questions.
type Handler interface {
	// NewSession is called after authentication succeeded.
	NewSession(ctx context.Context, info SessionInfo) (Session, error)
	// Auth decides how a connecting user authenticates.
	Auth(ctx context.Context, user string, remote net.Addr) (AuthDecision, error)
}

// AuthDecision: either trust, or SCRAM-SHA-256 against the stored verifier.
// A user that does not exist gets Method AuthSCRAM with a random verifier
// (so the failure is indistinguishable), or AuthReject.
type AuthDecision struct {
	Method AuthMethod
	// SCRAMVerifier is the PostgreSQL-format verifier
	// "SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>".
	SCRAMVerifier string
	// RejectMessage is used with AuthReject (SQLSTATE 28000).
	RejectMessage string
}

type AuthMethod int

const (
	AuthTrust AuthMethod = iota
	AuthSCRAM
	AuthReject
)

// Session is one client connection's state above the protocol.
type Session interface {
	// Prepare parses sql. For the simple protocol (simple=true) sql may hold
	// several statements and one Statement is returned per statement (an
	// empty or comment-only string returns none: EmptyQueryResponse). For the
	// extended protocol (simple=false) more than one statement is a 42601
	// error. paramOIDs are the types the client declared in Parse (0 = infer).
	Prepare(ctx context.Context, sql string, paramOIDs []uint32, simple bool) ([]Statement, error)
	// ParameterStatus returns the current reportable settings
	// (server_version, client_encoding, DateStyle, TimeZone, application_name,
	// ...). The wire layer sends the whole set at startup and the changed
	// entries after each statement.
	ParameterStatus() map[string]string
	// TxStatus is 'I' idle, 'T' in transaction block, 'E' failed transaction.
	TxStatus() byte
	Close() error
}

// TxFailer is an optional Session capability: the wire layer calls
// FailTransaction when it reports an error of its own (a missing portal, a
// bad Bind) so an open transaction block becomes failed ('E'), as any error
// does in PostgreSQL.
type TxFailer interface {
	FailTransaction()
}

// Statement is one parsed statement.
type Statement interface {
	// ParamOIDs has one concrete type OID per $n parameter.
	ParamOIDs() []uint32
	// Columns describes the result; nil means the statement returns no rows
	// (NoData). It must not run the statement.
	Columns() []Column
	// Execute runs the statement. The returned Result is read to the end or
	// closed by the wire layer. ctx is canceled by a CancelRequest.
	Execute(ctx context.Context, params []Param) (Result, error)
}

// Result streams a statement's rows.
type Result interface {
	// Next returns the next row in text format, or (nil, io.EOF) after the
	// last one. Any other error ends the statement with an ErrorResponse.
	Next(ctx context.Context) ([][]byte, error)
	// Tag is the CommandComplete tag, valid after Next returned io.EOF
	// (e.g. "SELECT 3", "CREATE DATASOURCE").
	Tag() string
	Close() error
}
