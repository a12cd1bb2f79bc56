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

// Section 3: table models. Positions (*Pos) are byte offsets into Text(), like
// those above; convert with OffsetToPosition for an ErrorResponse.

// ImportTables: IMPORT TABLES FROM name [SCHEMA s] [(t1, t2, ...)].
type ImportTables struct {
	Source
	Datasource    string
	DatasourcePos int
	Schema        string // "" when not given
	SchemaPos     int
	Tables        []string // nil: all tables
	TablePos      []int    // parallel to Tables
}

func (*ImportTables) Kind() string { return "IMPORT TABLES" }

// RefreshTables: REFRESH TABLES FROM name [SCHEMA s] [(t1, ...)].
type RefreshTables struct {
	Source
	Datasource    string
	DatasourcePos int
	Schema        string
	SchemaPos     int
	Tables        []string
	TablePos      []int
}

func (*RefreshTables) Kind() string { return "REFRESH TABLES" }

// TypeName is a column type as written in CREATE/ALTER TABLE MODEL.
type TypeName struct {
	// Name is the lower-cased base type words joined by one space: "int",
	// "double precision", "character varying", "timestamp with time zone". A
	// qualified name is joined with dots ("pg_catalog.int4"); a quoted name keeps
	// its case.
	Name     string
	Mods     []int  // (p) or (p, s)
	Unsigned bool   // MySQL-style UNSIGNED
	Array    bool   // [] / [n] / ARRAY
	Text     string // the type exactly as written
	Pos      int
}

// ColumnDef is one column of CREATE TABLE MODEL or ALTER TABLE MODEL ADD.
type ColumnDef struct {
	Name       string
	NamePos    int
	Type       TypeName
	NotNull    bool
	Null       bool // NULL written explicitly
	PrimaryKey bool
	Default    *string // source text of the DEFAULT expression
	DefaultPos int
	Comment    *string
}

// CreateTableModel: CREATE TABLE MODEL [IF NOT EXISTS] [schema.]t (col type ..., ...
// [, PRIMARY KEY (a, b)]) [CASE SENSITIVE] [TITLE 'x'] [COMMENT 'x'].
type CreateTableModel struct {
	Source
	IfNotExists   bool
	Schema        string // "" when not given
	Name          string
	NamePos       int
	Columns       []ColumnDef
	PrimaryKey    []string // the table constraint; column-level keys are in Columns
	PrimaryKeyPos int      // of the PRIMARY keyword of the table constraint
	CaseSensitive bool
	Title         *string
	Comment       *string
}

func (*CreateTableModel) Kind() string { return "CREATE TABLE MODEL" }

// AlterTableModel actions.
const (
	AlterAddColumn    = "add_column"
	AlterColumnType   = "alter_type"
	AlterDropColumn   = "drop_column"
	AlterRenameColumn = "rename_column"
	AlterMoveColumn   = "move_column"
	AlterSetComment   = "set_comment"
	AlterSetTitle     = "set_title"
)

// AlterTableModel: ALTER TABLE MODEL [schema.]t followed by one of
//
//	ADD [COLUMN] def [AFTER c | FIRST]         add_column (Column; After/First)
//	ALTER [COLUMN] c [SET DATA] TYPE type      alter_type (ColumnName, NewType)
//	DROP [COLUMN] c                            drop_column (ColumnName)
//	RENAME [COLUMN] a TO b                     rename_column (ColumnName, NewName)
//	MOVE [COLUMN] c AFTER d | FIRST            move_column (ColumnName; After/First)
//	COMMENT 'x' | SET COMMENT 'x'              set_comment (Text2)
//	TITLE 'x' | SET TITLE 'x'                  set_title (Text2)
type AlterTableModel struct {
	Source
	Schema     string
	Name       string
	NamePos    int
	Action     string
	Column     ColumnDef
	ColumnName string
	ColumnPos  int
	NewName    string
	NewNamePos int
	NewType    TypeName
	After      string
	AfterPos   int
	First      bool
	Text2      *string
}

func (*AlterTableModel) Kind() string { return "ALTER TABLE MODEL" }

// DropTableModel: DROP TABLE MODEL [IF EXISTS] [schema.]t.
type DropTableModel struct {
	Source
	IfExists bool
	Schema   string
	Name     string
	NamePos  int
}

func (*DropTableModel) Kind() string { return "DROP TABLE MODEL" }

// AssociateTable: ASSOCIATE TABLE [schema.]t WITH datasource.
type AssociateTable struct {
	Source
	Schema        string
	Name          string
	NamePos       int
	Datasource    string
	DatasourcePos int
}

func (*AssociateTable) Kind() string { return "ASSOCIATE TABLE" }

// DissociateTable: DISSOCIATE TABLE [schema.]t FROM datasource.
type DissociateTable struct {
	Source
	Schema        string
	Name          string
	NamePos       int
	Datasource    string
	DatasourcePos int
}

func (*DissociateTable) Kind() string { return "DISSOCIATE TABLE" }

// Section 4: DDL tasks.

// CreateDDLTask: CREATE DDL TASK [IF NOT EXISTS] name FROM src [SCHEMA s] TO dst
// [SCHEMA s] [TABLES (a, ...)] [EXCLUDE (c, ...)] [WITH (k = v, ...)]; the clauses
// after TO may come in any order.
type CreateDDLTask struct {
	Source
	IfNotExists     bool
	Name            string
	NamePos         int
	SourceDS        string
	SourceDSPos     int
	SourceSchema    string // "" when not given
	SourceSchemaPos int
	TargetDS        string
	TargetDSPos     int
	TargetSchema    string
	TargetSchemaPos int
	Tables          []string
	TablePos        []int // parallel to Tables
	Exclude         []string
	ExcludePos      []int // parallel to Exclude
	With            []Option
}

func (*CreateDDLTask) Kind() string { return "CREATE DDL TASK" }

// RunDDLTask: RUN DDL TASK name.
type RunDDLTask struct {
	Source
	Name    string
	NamePos int
}

func (*RunDDLTask) Kind() string { return "RUN DDL TASK" }

// AlterDDLTask: ALTER DDL TASK name SET (k = v, ...).
type AlterDDLTask struct {
	Source
	Name    string
	NamePos int
	With    []Option
}

func (*AlterDDLTask) Kind() string { return "ALTER DDL TASK" }

// DropDDLTask: DROP DDL TASK [IF EXISTS] name.
type DropDDLTask struct {
	Source
	IfExists bool
	Name     string
	NamePos  int
}

func (*DropDDLTask) Kind() string { return "DROP DDL TASK" }

// Section 5: sync jobs.

// TableRef is src.table or src.schema.table; for FROM/TO DATABASE only Datasource
// and Schema are set.
type TableRef struct {
	Datasource string
	Schema     string // "" when not given
	Table      string
	Pos        int // of the datasource name
	SchemaPos  int // of the schema name, when given
	TablePos   int // of the table name
}

// ColumnMap is `a [AS x]` in COLUMNS (...) or TABLES (...); Target = Source when
// there is no AS.
type ColumnMap struct {
	Source    string
	Target    string
	Pos       int
	TargetPos int // = Pos without AS
}

// LastWindow is WHERE LAST n DAYS|MONTHS|YEARS ON column.
type LastWindow struct {
	N         int
	Unit      string // "days", "months" or "years" (singular accepted, normalized)
	Column    string
	NPos      int
	ColumnPos int
}

// Schedule kinds.
const (
	ScheduleOnce  = "once"
	ScheduleCron  = "cron"
	ScheduleEvery = "every"
	ScheduleNone  = "none" // ALTER SYNC JOB name SCHEDULE NONE: remove the schedule
)

// Schedule is SCHEDULE ONCE | SCHEDULE CRON 'expr' | SCHEDULE EVERY 'n seconds'
// (also EVERY n unit without quotes) | SCHEDULE NONE (ALTER only).
type Schedule struct {
	Kind string
	Expr string // the decoded literal; "" for once/none
	// ExprPos is the byte offset of the literal's first character inside the
	// quotes (of the number for the unquoted EVERY form).
	ExprPos int
	Pos     int // of the ONCE/CRON/EVERY/NONE word
}

// CreateSyncJob: see FEATURES.md section 5 and docs/sql-reference.md. After FROM/TO
// the clauses (COLUMNS or TABLES/EXCLUDE, MODE, INCREMENTAL ON, WHERE, TARGET
// WHERE, SCHEDULE, WITH) may come in any order, each at most once; MODE is
// required.
type CreateSyncJob struct {
	Source
	// FromObject / ToObject are set for FROM store OBJECT 'prefix' and TO
	// store OBJECT 'name' (files and object storage, FEATURES.md 5b); From
	// or To then names only the datasource. Format is FORMAT csv|txt|parquet.
	FromObject, ToObject *ObjectRef
	Format               string
	FormatPos            int

	IfNotExists bool
	Name        string
	NamePos     int
	// JobKind is "table" or "database". (Not Kind: a field can't share the name of
	// the Kind method, as with Std.Command.)
	JobKind          string
	From, To         TableRef
	Columns          []ColumnMap // table kind
	Tables           []ColumnMap // database kind
	Exclude          []string    // database kind
	ExcludePos       []int       // parallel to Exclude
	Mode             string      // "batch", "scan" or "cdc"
	ModePos          int
	IncrementalOn    string
	IncrementalOnPos int
	Where            *string
	WherePos         int // first character inside the quotes
	WhereLast        *LastWindow
	TargetWhere      *string
	TargetWherePos   int // first character inside the quotes
	Schedule         *Schedule
	With             []Option
	// Topics is set for a job FROM a message-queue datasource: FROM bus
	// TOPICS ('a', 'b') TO DATABASE dst (JobKind "database"; From names
	// only the datasource).
	Topics    []string
	TopicsPos []int // of each literal's first character inside the quotes
}

func (*CreateSyncJob) Kind() string { return "CREATE SYNC JOB" }

// AlterSyncJob: ALTER SYNC JOB name SET (k = v, ...) and/or SCHEDULE ... (also SET
// SCHEDULE ...; SCHEDULE NONE removes the schedule). At least one is given.
type AlterSyncJob struct {
	Source
	Name     string
	NamePos  int
	With     []Option // nil when SET (...) was not given
	Schedule *Schedule
	// Topics is SET TOPICS ('a', ...): a message-queue job's new
	// subscription; nil when not given.
	Topics    []string
	TopicsPos []int
}

func (*AlterSyncJob) Kind() string { return "ALTER SYNC JOB" }

// ResetSyncJob: RESET SYNC JOB name POSITION TO TIMESTAMP 'ts' (a stopped
// message-queue job reads again from the first message at or after ts).
type ResetSyncJob struct {
	Source
	Name         string
	NamePos      int
	Timestamp    string
	TimestampPos int // first character inside the quotes
}

func (*ResetSyncJob) Kind() string { return "RESET SYNC JOB" }

// DropSyncJob: DROP SYNC JOB [IF EXISTS] name.
type DropSyncJob struct {
	Source
	IfExists bool
	Name     string
	NamePos  int
}

func (*DropSyncJob) Kind() string { return "DROP SYNC JOB" }

// RunSyncJob: RUN SYNC JOB name [WAIT] [WITH (start_time = '...', end_time = '...')].
type RunSyncJob struct {
	Source
	Name    string
	NamePos int
	Wait    bool
	With    []Option // nil when WITH (...) was not given
}

func (*RunSyncJob) Kind() string { return "RUN SYNC JOB" }

// StopSyncJob: STOP SYNC JOB name.
type StopSyncJob struct {
	Source
	Name    string
	NamePos int
}

func (*StopSyncJob) Kind() string { return "STOP SYNC JOB" }

// RestartSyncJob: RESTART SYNC JOB name [FROM SNAPSHOT] (CDC jobs: a new
// run from the last checkpoint, or from a new snapshot).
type RestartSyncJob struct {
	Source
	Name         string
	NamePos      int
	FromSnapshot bool
}

func (*RestartSyncJob) Kind() string { return "RESTART SYNC JOB" }

// PauseSyncJob: PAUSE SYNC JOB name.
type PauseSyncJob struct {
	Source
	Name    string
	NamePos int
}

func (*PauseSyncJob) Kind() string { return "PAUSE SYNC JOB" }

// ResumeSyncJob: RESUME SYNC JOB name.
type ResumeSyncJob struct {
	Source
	Name    string
	NamePos int
}

func (*ResumeSyncJob) Kind() string { return "RESUME SYNC JOB" }

// RetryRun: RETRY RUN 'run_id' [STAGE 'ImportTable'] (the stage may also be a bare
// word; it is then given as written, unfolded).
type RetryRun struct {
	Source
	RunID    string
	RunIDPos int
	Stage    *string
	StagePos int
}

func (*RetryRun) Kind() string { return "RETRY RUN" }

// CleanSourceData: CLEAN SOURCE DATA FOR RUN 'run_id' [WHERE 'expr'] [BATCH n]
// [FORCE], the optional clauses in any order.
type CleanSourceData struct {
	Source
	RunID    string
	RunIDPos int
	Where    *string
	WherePos int   // first character inside the quotes
	Batch    int64 // 0: the default
	BatchPos int
	Force    bool
}

func (*CleanSourceData) Kind() string { return "CLEAN SOURCE DATA" }

// CleanExportFiles: CLEAN EXPORT FILES FOR RUN 'run_id'.
type CleanExportFiles struct {
	Source
	RunID    string
	RunIDPos int
}

func (*CleanExportFiles) Kind() string { return "CLEAN EXPORT FILES" }
