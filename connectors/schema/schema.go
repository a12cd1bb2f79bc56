// Package schema is the dialect-neutral description of a table's structure:
// what IMPORT TABLES reads from a real database, what the catalog keeps as a
// table model, and what a DDL task renders for another database. Connectors
// translate between their native types and the canonical Type here; the
// type-mapping table in docs/type-mapping.md is the composition of the two.
package schema

import (
	"context"
	"errors"
)

// Dialects.
const (
	MySQL    = "mysql"
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Kind is a canonical column type family.
type Kind string

const (
	Bool        Kind = "bool"
	Int8        Kind = "int8" // 1-byte integer (tinyint)
	Int16       Kind = "int16"
	Int24       Kind = "int24" // mediumint
	Int32       Kind = "int32"
	Int64       Kind = "int64"
	Decimal     Kind = "decimal" // Precision/Scale; Precision 0 = unconstrained
	Float32     Kind = "float32"
	Float64     Kind = "float64"
	Char        Kind = "char"    // fixed length, Length in characters
	Varchar     Kind = "varchar" // Length in characters; 0 = unbounded
	Text        Kind = "text"    // Length = max bytes of the MySQL family (255, 65535, 16777215, 4294967295); 0 = unbounded
	Binary      Kind = "binary"  // fixed length bytes
	Varbinary   Kind = "varbinary"
	Blob        Kind = "blob" // Length as for Text
	Date        Kind = "date"
	Time        Kind = "time"        // Precision = fractional seconds digits
	Timestamp   Kind = "timestamp"   // without time zone (MySQL datetime); Precision = fsp
	TimestampTZ Kind = "timestamptz" // an instant (MySQL timestamp, PG timestamptz)
	Year        Kind = "year"
	Interval    Kind = "interval"
	JSON        Kind = "json"
	UUID        Kind = "uuid"
	Bit         Kind = "bit"   // Length bits
	Enum        Kind = "enum"  // Values
	Set         Kind = "set"   // Values
	Array       Kind = "array" // Elem
	Geometry    Kind = "geometry"
	Other       Kind = "other" // anything else; Native says what
)

// Type is a canonical column type.
type Type struct {
	Kind      Kind
	Length    int
	Precision int
	Scale     int
	Unsigned  bool
	Values    []string // enum and set members, in order
	Elem      *Type    // element of an array
	// Native is the type as the source database spells it, e.g.
	// "bigint(20) unsigned" or "character varying(64)".
	Native string
}

// DefaultKind says how to read Column.Default.
type DefaultKind string

const (
	DefaultNone       DefaultKind = ""
	DefaultLiteral    DefaultKind = "literal"           // Default is the value's text, unquoted
	DefaultNull       DefaultKind = "null"              // DEFAULT NULL spelled out
	DefaultCurrentTS  DefaultKind = "current_timestamp" // CURRENT_TIMESTAMP / now(), Default holds the fsp or ""
	DefaultExpression DefaultKind = "expression"        // a native expression in Default; not portable
)

// Column is one column of a table.
type Column struct {
	Name                     string
	Type                     Type
	Nullable                 bool
	Default                  string
	DefaultKind              DefaultKind
	AutoIncrement            bool // MySQL auto_increment, PostgreSQL identity or serial
	OnUpdateCurrentTimestamp bool // MySQL ON UPDATE CURRENT_TIMESTAMP
	Comment                  string
}

// Index is a secondary index or unique constraint (not the primary key).
type Index struct {
	Name    string
	Unique  bool
	Columns []string
	// Lengths are MySQL prefix lengths per column (0 = the whole column);
	// nil when no column is a prefix.
	Lengths []int `json:",omitempty"`
}

// ForeignKey is a foreign key of a table.
type ForeignKey struct {
	Name       string
	Columns    []string // in key order
	RefSchema  string   // "" = the table's own schema
	RefTable   string
	RefColumns []string
	// OnDelete and OnUpdate are the referential actions in SQL spelling:
	// "NO ACTION" (also for "" ), "RESTRICT", "CASCADE", "SET NULL",
	// "SET DEFAULT".
	OnDelete string
	OnUpdate string
}

// Table is one table's structure.
type Table struct {
	Schema     string // PostgreSQL schema or MySQL database; "" for SQLite
	Name       string
	Comment    string
	Columns    []Column
	PrimaryKey []string // column names in key order
	Indexes    []Index
	// ForeignKeys are the table's foreign keys, by name.
	ForeignKeys []ForeignKey `json:",omitempty"`
	// FullText are FULLTEXT indexes (MySQL); they have no portable form
	// and are reported as dropped on other targets.
	FullText []Index `json:",omitempty"`
	// AutoIncrementNext is the next value the source would hand out (MySQL
	// AUTO_INCREMENT, PostgreSQL sequence last_value+1); 0 when unknown.
	AutoIncrementNext int64
	// Dialect of the database this description was read from.
	Dialect string
}

// Column returns the column named name.
func (t *Table) Column(name string) (*Column, bool) {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i], true
		}
	}
	return nil, false
}

// ErrTableNotFound is wrapped by Describe when a named table does not exist.
var ErrTableNotFound = errors.New("table not found")

// Introspector reads table structure from a live database.
type Introspector interface {
	// ListTables lists base tables (no views) of schema ("" = the
	// datasource's default schema/database), sorted by name.
	ListTables(ctx context.Context, schema string) ([]string, error)
	// DescribeTables describes the named tables; a missing one is an error
	// wrapping ErrTableNotFound that names it.
	DescribeTables(ctx context.Context, schema string, names []string) ([]Table, error)
	// DefaultSchema is the schema "" stands for.
	DefaultSchema() string
}

// CreateOptions control how a table is rendered for a target.
type CreateOptions struct {
	Schema      string // target schema ("" = the target's default)
	PrimaryKeys bool
	Indexes     bool
	// CaseSensitive keeps identifiers exactly as the source spells them
	// (quoted); otherwise they are folded to the target's convention.
	CaseSensitive bool
	// TinyIntOneAsBool maps MySQL tinyint(1) to boolean (default true).
	TinyIntOneAsBool bool
	// ForeignKeys renders the table's foreign keys (Plan.ForeignKeys, or
	// inline where the target cannot add them later).
	ForeignKeys bool
	// EnumAs is how an enum becomes a PostgreSQL column: "check" (text
	// with a CHECK constraint, the default) or "type" (an enum type named
	// <table>_<column>).
	EnumAs string
	// SetAs is how a MySQL set becomes a PostgreSQL column: "text" (the
	// comma-separated members, the default) or "array" (text[]).
	SetAs string
}

// Plan is what creating one table on a target takes.
type Plan struct {
	Table      string   // the target table name as created
	Statements []string // run in order
	// ForeignKeys add the table's foreign keys; they run once every table
	// of the task exists (tables may reference each other in a cycle).
	// Empty where the keys are part of Statements (SQLite).
	ForeignKeys []string
	Warnings    []string // lossy or dropped details (e.g. a zero-date default)
}

// DDLTarget creates tables on a live database.
type DDLTarget interface {
	// PlanCreate renders t for this database. An unsupported column type
	// is an error naming the column and the type.
	PlanCreate(t Table, opts CreateOptions) (Plan, error)
	// TableExists reports whether schema.name exists ("" = default schema).
	TableExists(ctx context.Context, schema, name string) (bool, error)
	// DropTable drops schema.name if it exists.
	DropTable(ctx context.Context, schema, name string) error
	// Apply runs a plan's statements (in one transaction where the
	// database has transactional DDL). The error is the database's own.
	Apply(ctx context.Context, p Plan) error
}
