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
//   - binary as \x followed by lower-case hex
//   - json as the database prints it; arrays as PostgreSQL array literals
//
// Because PostgreSQL's COPY already writes this, PostgreSQL to PostgreSQL
// moves bytes without parsing them.
package data

import (
	"context"
	"io"

	"github.com/flowgate/flowgate/connectors/schema"
)

// ExportSpec says what to read.
type ExportSpec struct {
	Schema  string // "" = the datasource's default
	Table   string
	Columns []schema.Column // columns to read, in output order (Name and Type are used)
	Where   string          // a native boolean expression, "" = all rows
	OrderBy []string        // column names, "" = any order
	// TimeZone is the session time zone for the export ("" = UTC).
	TimeZone string
}

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
	// table inside the import transaction.
	Mark *Marker
}

// Importer bulk-loads flowgate CSV.
type Importer interface {
	// Import loads every record of r into the table in one transaction and
	// returns the number of rows loaded. Bad data fails the whole import
	// with the database's own message.
	Import(ctx context.Context, spec ImportSpec, r io.Reader) (int64, error)
	// ImportedMarks lists the FileIDs marked for runID.
	ImportedMarks(ctx context.Context, schema, runID string) ([]string, error)
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
