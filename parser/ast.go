package parser

import pg_query "github.com/pganalyze/pg_query_go/v6"

// Statement is one parsed statement.
type Statement interface {
	// Kind names the statement, e.g. "CREATE DATASOURCE", "SELECT", "SET"; it is the
	// metrics label and the base of the CommandComplete tag.
	Kind() string
	// Text is the statement text given to Parse; every position in a node is a byte
	// offset into it.
	Text() string
}

// Source carries a statement's text; every node embeds it.
type Source struct {
	SQL string
}

// Text returns the statement text.
func (s Source) Text() string { return s.SQL }

func (s *Source) setSQL(sql string) { s.SQL = sql }

// ValueKind says how an option value was written.
type ValueKind int

const (
	ValString ValueKind = iota // a string literal of any quoting style
	ValNumber                  // a numeric literal, as written minus underscores
	ValWord                    // an identifier or keyword: on, off, true, false, md5diff...
)

// Option is one `key 'value'` or `key = value` item.
type Option struct {
	Key      string // identifier rules: folded unless quoted
	Value    string // decoded literal, or the (folded) word
	Kind     ValueKind
	KeyPos   int
	ValuePos int
}

// Empty is a statement with no tokens (only whitespace/comments), e.g. an empty
// extended-protocol Parse; answer it with EmptyQueryResponse.
type Empty struct{ Source }

func (*Empty) Kind() string { return "EMPTY" }

// CreateDatasource: CREATE DATASOURCE [IF NOT EXISTS] name TYPE t OPTIONS (...) [COMMENT 'c'].
type CreateDatasource struct {
	Source
	IfNotExists bool
	Name        string
	NamePos     int
	Type        string // folded identifier; the executor validates it
	TypePos     int
	Options     []Option
	Comment     *string
}

func (*CreateDatasource) Kind() string { return "CREATE DATASOURCE" }

// AlterDatasourceOptions: ALTER DATASOURCE name SET OPTIONS (...).
type AlterDatasourceOptions struct {
	Source
	Name    string
	NamePos int
	Options []Option
}

func (*AlterDatasourceOptions) Kind() string { return "ALTER DATASOURCE" }

// AlterDatasourceRename: ALTER DATASOURCE name RENAME TO new_name.
type AlterDatasourceRename struct {
	Source
	Name       string
	NamePos    int
	NewName    string
	NewNamePos int
}

func (*AlterDatasourceRename) Kind() string { return "ALTER DATASOURCE" }

// AlterDatasourceComment: ALTER DATASOURCE name COMMENT 'text'.
type AlterDatasourceComment struct {
	Source
	Name    string
	NamePos int
	Comment string
}

func (*AlterDatasourceComment) Kind() string { return "ALTER DATASOURCE" }

// DropDatasource: DROP DATASOURCE [IF EXISTS] name [PURGE].
type DropDatasource struct {
	Source
	IfExists bool
	Purge    bool
	Name     string
	NamePos  int
}

func (*DropDatasource) Kind() string { return "DROP DATASOURCE" }

// RestoreDatasource: RESTORE DATASOURCE name.
type RestoreDatasource struct {
	Source
	Name    string
	NamePos int
}

func (*RestoreDatasource) Kind() string { return "RESTORE DATASOURCE" }

// TestDatasource: TEST DATASOURCE name.
type TestDatasource struct {
	Source
	Name    string
	NamePos int
}

func (*TestDatasource) Kind() string { return "TEST DATASOURCE" }

// DefaultRole is the role of CREATE USER without ROLE.
const DefaultRole = "readonly"

// CreateUser: CREATE USER name [WITH] PASSWORD 'p' [ROLE r] (either order).
type CreateUser struct {
	Source
	Name     string
	NamePos  int
	Password string
	Role     string // folded; DefaultRole when not given; the executor validates it
	RolePos  int    // -1 when ROLE was not given
}

func (*CreateUser) Kind() string { return "CREATE USER" }

// AlterUser: ALTER USER name [WITH] PASSWORD 'p' and/or ROLE r.
type AlterUser struct {
	Source
	Name     string
	NamePos  int
	Password *string
	Role     *string
	RolePos  int // -1 when ROLE was not given
}

func (*AlterUser) Kind() string { return "ALTER USER" }

// DropUser: DROP USER [IF EXISTS] name.
type DropUser struct {
	Source
	IfExists bool
	Name     string
	NamePos  int
}

func (*DropUser) Kind() string { return "DROP USER" }

// Std is a standard PostgreSQL statement parsed by pg_query: SELECT, SET, RESET,
// SHOW, BEGIN/START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, DISCARD,
// DEALLOCATE.
type Std struct {
	Source
	// Command is what Kind returns: "SELECT", "SET", "RESET", "SHOW", "BEGIN",
	// "START TRANSACTION", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "DISCARD",
	// "DEALLOCATE". (Named Command because a field can't share Kind's name.)
	Command string
	Tree    *pg_query.ParseResult // exactly one RawStmt

	// SET / RESET / SHOW / DISCARD / DEALLOCATE: the parameter name as pg_query gives
	// it (lower case; "timezone" for TIME ZONE, "all" for SHOW ALL / RESET ALL,
	// "transaction_isolation" for SHOW TRANSACTION ISOLATION LEVEL,
	// "session characteristics" / "transaction" for the multi-item SET forms). DISCARD:
	// "all", "plans", "sequences" or "temp". DEALLOCATE: the name or "all".
	Name string
	// SET: the values as text (strings unquoted, numbers as written).
	Values []string
	// SET LOCAL.
	IsLocal bool
	// RESET x, RESET ALL, SET x TO DEFAULT.
	IsReset bool
	// SET TRANSACTION ..., SET SESSION CHARACTERISTICS AS TRANSACTION ..., BEGIN ...:
	// items like {transaction_isolation, "read committed"}, {transaction_read_only, "1"}.
	Options []Option
	// ROLLBACK TO SAVEPOINT / SAVEPOINT / RELEASE: the savepoint name.
	Savepoint string
	// COMMIT/ROLLBACK AND CHAIN.
	Chain bool
}

// Kind returns Command.
func (s *Std) Kind() string { return s.Command }
