// Package data declares the row-moving capabilities of connectors: export a
// table as a stream, bulk-import a stream in one transaction, and compute
// verification checksums inside the database.
//
// The interchange format between them is "flowgate CSV": RFC 4180 CSV as
// PostgreSQL's COPY ... (FORMAT csv) writes it, with a header-less record per
// row, NULL as an unquoted empty field and the empty string as "". Values use
// PostgreSQL's text output forms, normalized so every dialect writes the same
// text for the same value:
//   - booleans t / f (MySQL tinyint(1) and bit(1) columns typed Bool too)
//   - integers and numerics in plain decimal notation, numerics at the
//     column's scale
//   - floats in shortest round-trip form; NaN, Infinity, -Infinity
//   - date YYYY-MM-DD, time HH:MM:SS[.ffffff], timestamp
//     YYYY-MM-DD HH:MM:SS[.ffffff], timestamptz the same in UTC followed by +00
//     (the fraction has 1 to 6 digits; PostgreSQL drops trailing zeros,
//     MySQL writes the column's fsp; readers accept both, and accept any
//     offset on input)
//   - binary as \x followed by lower-case hex
//   - json as the database prints it; arrays as PostgreSQL array literals
//
// Because PostgreSQL's COPY already writes this, PostgreSQL to PostgreSQL
// moves bytes without parsing them.
package data

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/connectors/schema"
)

// ExportSpec says what to read.
type ExportSpec struct {
	Schema  string // "" = the datasource's default
	Table   string
	Columns []schema.Column // columns to read, in output order (Name and Type are used)
	Where   string          // a native boolean expression, "" = all rows
	OrderBy []string        // column names, "" = any order
	// TimeZone is the session time zone for the export ("" = UTC). It
	// applies to Where; timestamptz values are still written in UTC.
	TimeZone string
	// ZeroDates says what a MySQL zero or partly zero date
	// ('0000-00-00', '2024-00-10', '0000-00-00 00:00:00') becomes.
	ZeroDates ZeroDatePolicy
	// Snapshot, when set, is a cdc.ChangeStream's SnapshotID or a
	// SnapshotExporter's snapshot: the export reads the table exactly as
	// of that snapshot (PostgreSQL: SET TRANSACTION SNAPSHOT).
	Snapshot string
	// Key, Lower and Upper restrict the export to one partition: rows
	// whose Key (compared as a row value) is >= Lower and < Upper, bounds
	// as flowgate CSV text values the way Checksummer.SplitPoints returns
	// them; nil = unbounded. Rows whose key is NULL are in no bounded
	// range, so the key must be NOT NULL when a bound is set.
	Key          []schema.Column
	Lower, Upper []string
	// Binary asks a PostgreSQL exporter for COPY's binary format instead
	// of flowgate CSV, for an importer given the same: only between two
	// PostgreSQL datasources whose columns have the same built-in types
	// (each value is then sent and received without text conversion).
	Binary bool
}

// Bounded reports whether the spec reads one key range rather than the
// whole table.
func (s ExportSpec) Bounded() bool { return s.Lower != nil || s.Upper != nil }

// KeyBounds is the ChecksumSpec that selects the same key range as the
// export (no filter: exporters add their own Where).
func (s ExportSpec) KeyBounds() ChecksumSpec {
	return ChecksumSpec{Schema: s.Schema, Table: s.Table, Key: s.Key, Lower: s.Lower, Upper: s.Upper, TimeZone: s.TimeZone}
}

// ZeroDatePolicy is what an exporter does with MySQL zero dates, which no
// other database can store.
type ZeroDatePolicy string

const (
	// ZeroDateNull exports them as NULL (the default; like JDBC's
	// zeroDateTimeBehavior=convertToNull). Checksums treat them as NULL too.
	ZeroDateNull ZeroDatePolicy = ""
	// ZeroDateError fails the export, naming the column.
	ZeroDateError ZeroDatePolicy = "error"
)

// Import marks: importers record Markers, (run_id, file_id, at) with
// primary key (run_id, file_id), in a table created on demand. It lives in
// flowgate's own schema (PostgreSQL) or database (MySQL), OwnSchema, as
// OwnMarksTable, where the user may create it, like the CDC checkpoints;
// otherwise (and on SQLite, and in runs from before flowgate had its own
// schema) as MarksTable in the target schema, or in ImportSpec.MarksSchema
// when the job names one.
const (
	OwnSchema     = "flowgate"
	OwnMarksTable = "import_marks"
	MarksTable    = "flowgate_import_marks"
)

// ErrAlreadyImported is wrapped by Import when spec.Mark is already
// recorded in the target: the file was imported before, nothing changed.
var ErrAlreadyImported = errors.New("file already imported")

// Exporter streams a table out as flowgate CSV.
type Exporter interface {
	// Export writes every matching row to w as flowgate CSV, all from one
	// consistent snapshot, and returns the number of rows written.
	Export(ctx context.Context, spec ExportSpec, w io.Writer) (int64, error)
	// Count returns the number of rows matching spec (for progress).
	Count(ctx context.Context, spec ExportSpec) (int64, error)
}

// Marker records, in the same target transaction as the rows, that a file
// was imported, so a crash between the commit and the catalog update can be
// resolved by asking the target (ImportedMarks).
type Marker struct {
	RunID  string
	FileID string
}

// ImportSpec says where rows go.
type ImportSpec struct {
	Schema   string
	Table    string
	Columns  []schema.Column // target columns, in the order the CSV has them
	TimeZone string          // session time zone ("" = UTC)
	// Mark, when set, is recorded in the target's flowgate_import_marks
	// table inside the import transaction. When it is already there,
	// Import fails with ErrAlreadyImported before loading anything.
	Mark *Marker
	// Replace deletes every row of the table in the import transaction
	// before loading (a CDC snapshot makes the target equal to the
	// source; a crash leaves the old rows, never half of them).
	Replace bool
	// NoForeignKeyChecks loads without checking the table's foreign keys
	// (MySQL: foreign_key_checks = 0 for the load's session), for batch
	// loads whose parents may load later.
	NoForeignKeyChecks bool
	// MarksSchema, when set, is where the marks table is kept (option
	// marks_schema); "" = flowgate's own schema where allowed, else the
	// target schema.
	MarksSchema string
	// Binary: the rows are in PostgreSQL's binary COPY format (see
	// ExportSpec.Binary).
	Binary bool
}

// MarkScope says where a target's marks may be: the target schema and
// the configured marks schema ("" = automatic).
type MarkScope struct {
	Schema      string
	MarksSchema string
}

// CSVEncoder is an Importer that loads flowgate CSV faster in a format of
// its own (PostgreSQL: binary COPY). CSVEncoding returns the spec to
// Import with and the encoding of a CSV stream into that format, or false
// when the columns have none. The encoding fails with ErrNotEncodable at a
// value it cannot render exactly as the database would read the text;
// the caller then imports the CSV itself (the failed load rolls back).
type CSVEncoder interface {
	CSVEncoding(spec ImportSpec) (ImportSpec, func(w io.Writer, csv io.Reader) (int64, error), bool)
}

// ErrNotEncodable: see CSVEncoder.
var ErrNotEncodable = errors.New("a value is not in a form the encoder renders exactly; load the text")

// Importer bulk-loads flowgate CSV.
type Importer interface {
	// Import loads every record of r into the table in one transaction and
	// returns the number of rows loaded. Bad data fails the whole import
	// with the database's own message.
	Import(ctx context.Context, spec ImportSpec, r io.Reader) (int64, error)
	// ImportedMarks lists the FileIDs marked for runID in every place a
	// marks table may be (flowgate's own, the configured one, the target
	// schema), so marks written before an upgrade are still found.
	ImportedMarks(ctx context.Context, scope MarkScope, runID string) ([]string, error)
}

// ErrSnapshotGone is wrapped by Export when ExportSpec.Snapshot names a
// snapshot that is no longer held (its holder ended): the caller may
// export again without it.
var ErrSnapshotGone = errors.New("the exported snapshot is no longer held")

// SnapshotExporter can hold one consistent snapshot open so that several
// exports (the partitions of a table, read in parallel) see the same state
// of the database.
type SnapshotExporter interface {
	// ExportSnapshot opens a snapshot and returns its id for
	// ExportSpec.Snapshot; release closes it once every export started.
	ExportSnapshot(ctx context.Context) (id string, release func(), err error)
}

// KeyRanger reads the range of a single integer key cheaply (from an
// index), so a table can be cut into partitions of about equal width
// without numbering its rows.
type KeyRanger interface {
	// IntKeyRange returns the smallest and largest key and the row count
	// of spec's range (Where applies); ok is false for no rows.
	IntKeyRange(ctx context.Context, spec ChecksumSpec) (lo, hi, rows int64, ok bool, err error)
}

// KeyBounder is a KeyRanger that also answers without reading the table:
// the smallest and largest key from the key's index and the table's row
// count as its statistics estimate it (0 = no estimate). Batch runs cut a
// dense unique integer key into ranges of export_batch_rows keys with it,
// instead of counting the rows first (a COUNT(*) of 2,000,000 InnoDB rows
// took 0.5-1.2 s before the first row could be read).
type KeyBounder interface {
	IntKeyBounds(ctx context.Context, spec ChecksumSpec) (lo, hi, estimate int64, ok bool, err error)
}

// ForeignKeySuspender takes a target table's foreign keys off for a batch
// load and puts them back after, validated (PostgreSQL, where a session
// cannot skip the checks without superuser rights). Tables that reference
// each other in a cycle, or themselves, load in any order that way.
type ForeignKeySuspender interface {
	// ForeignKeys lists table's keys: name and definition for Restore.
	ForeignKeys(ctx context.Context, schema, table string) (names, definitions []string, err error)
	// DropForeignKey drops the key if it exists; dropped is false (and err
	// nil) when the user may not (not the table's owner): the key then
	// stays and checks the load.
	DropForeignKey(ctx context.Context, schema, table, name string) (dropped bool, err error)
	// RestoreForeignKey adds the key back (nothing if it exists) and
	// checks the rows; rows that violate it leave it NOT VALID (it still
	// holds for new rows) and validated false with the database's reason.
	RestoreForeignKey(ctx context.Context, schema, table, name, definition string) (validated bool, reason string, err error)
}

// Emptier deletes every row of a table before a batch run loads it
// (pre_action = 'truncate').
type Emptier interface {
	EmptyTable(ctx context.Context, schema, table string) error
}

// ChecksumSpec selects a key range of a table for verification.
type ChecksumSpec struct {
	Schema  string
	Table   string
	Key     []schema.Column // key columns (ordered)
	Columns []schema.Column // compared columns, key columns first
	Where   string          // native filter, "" = none
	// Lower (inclusive) and Upper (exclusive) bound the key as flowgate
	// CSV text values; nil = unbounded.
	Lower, Upper []string
	TimeZone     string
	// TimeDigits is how many fractional-second digits of time and
	// timestamp values are compared (truncated, not rounded): 1..6, 0
	// means 6, negative means whole seconds. Set it to the lower precision
	// of the two sides.
	TimeDigits int
}

// Digits is TimeDigits resolved to 0..6.
func (s ChecksumSpec) Digits() int {
	switch {
	case s.TimeDigits == 0 || s.TimeDigits > 6:
		return 6
	case s.TimeDigits < 0:
		return 0
	}
	return s.TimeDigits
}

// Sum is an order-independent checksum of a set of rows.
type Sum struct {
	Count int64
	Hash  string // equal across dialects for equal rows
}

// Checksummer verifies tables inside the database.
type Checksummer interface {
	// Checksum sums the normalized rows in spec's range.
	Checksum(ctx context.Context, spec ChecksumSpec) (Sum, error)
	// SplitPoints returns up to n-1 key values that divide spec's range
	// into about n parts of equal row count, in key order.
	SplitPoints(ctx context.Context, spec ChecksumSpec, n int) ([][]string, error)
	// Rows returns the normalized rows of spec's range in key order, each
	// as flowgate CSV text values (nil = NULL).
	Rows(ctx context.Context, spec ChecksumSpec, limit int) ([][]*string, error)
}

// FilterChecker asks the database whether a filter is valid for a table,
// without reading rows (a LIMIT 0 query), so a bad WHERE fails when the
// job is created, with the database's own message.
type FilterChecker interface {
	CheckFilter(ctx context.Context, schema, table, where string) error
	// LastWindow renders "column within the last n units" (unit days,
	// months or years) in the database's dialect.
	LastWindow(column string, n int, unit string) string
}

// KeyedCleaner deletes rows by key, so that CLEAN SOURCE DATA removes
// only rows the target holds. Keys travel as text (the database's own text
// form of each key column); a key another database spells differently is
// simply not matched.
type KeyedCleaner interface {
	// KeysAfter returns up to n keys of rows matching where, in key order,
	// after the key after (nil: from the first).
	KeysAfter(ctx context.Context, schema, table string, key []string, where string, after []string, n int) ([][]string, error)
	// HasKeys returns the keys of keys the table holds, as text.
	HasKeys(ctx context.Context, schema, table string, key []string, keys [][]string) (map[string]bool, error)
	// DeleteKeys deletes the rows with these keys that match where, and
	// returns how many went and the statement it ran.
	DeleteKeys(ctx context.Context, schema, table string, key []string, where string, keys [][]string) (int64, string, error)
}

// KeyText is a key's text for HasKeys's map.
func KeyText(k []string) string { return strings.Join(k, "\x00") }

// KeySet is HasKeys's map of the keys found.
func KeySet(found [][]string) map[string]bool {
	out := make(map[string]bool, len(found))
	for _, k := range found {
		out[KeyText(k)] = true
	}
	return out
}

// KeysAfterSQL is KeysAfter's query for databases with ? parameters and
// row-value comparison (MySQL, SQLite): sel selects the key as text, cols
// lists the key columns, cond is the rows' filter.
func KeysAfterSQL(sel, from, cols, cond string, after []string, n int) (string, []any) {
	q := "SELECT " + sel + " FROM " + from + " WHERE " + cond
	var args []any
	if after != nil {
		q += " AND (" + cols + ") > (" + strings.TrimSuffix(strings.Repeat("?, ", len(after)), ", ") + ")"
		for _, v := range after {
			args = append(args, v)
		}
	}
	return q + " ORDER BY " + cols + " LIMIT " + strconv.Itoa(n), args
}

// Rows is what TextRows needs of *sql.Rows or pgx.Rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// TextRows reads rows of width text columns (keys selected as text); the
// caller closes rows.
func TextRows(rows Rows, width int) ([][]string, error) {
	var out [][]string
	for rows.Next() {
		vals := make([]string, width)
		ptrs := make([]any, width)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// Cleaner deletes rows from a table in bounded batches.
type Cleaner interface {
	// DeleteBatch deletes at most limit rows matching where and returns how
	// many went and the statement it ran.
	DeleteBatch(ctx context.Context, schema, table, where string, limit int) (int64, string, error)
	// Host names the server for the cleanup history (host:port/database).
	Host() string
}
