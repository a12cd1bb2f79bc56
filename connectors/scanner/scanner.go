// Package scanner declares what scheduled scans (MODE SCAN, FEATURES.md
// section 5a) need from databases beyond export and apply: the upper bound
// of an incremental scan, literals for its filter, and actions on the
// target inside the apply transaction (empty the table, rename it away and
// create it again, delete the rows that came from a file).
package scanner

import (
	"context"
	"time"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/schema"
)

// Source is a datasource that incremental scans can read.
type Source interface {
	// ScanUpper returns the upper end of a scan over col, as canonical
	// text: for date and time columns the source's clock minus delay (a
	// timestamp without time zone and a date in time zone tz), for
	// integer columns the column's largest value; ok is false when there
	// is nothing to read (an empty table).
	ScanUpper(ctx context.Context, schemaName, table string, col schema.Column, delay time.Duration, tz string) (upper string, ok bool, err error)
	// ScanLiteral renders canonical text v of a value of col as a literal
	// of the source's SQL, read in session time zone tz.
	ScanLiteral(col schema.Column, v string, tz string) string
	// ScanIdent quotes a column name.
	ScanIdent(name string) string
}

// TxActions are the pre-actions of a scan, run inside an open
// cdc.ApplyTx (implemented by the appliers' transactions).
type TxActions interface {
	// EmptyTable deletes every row of table in the transaction.
	EmptyTable(ctx context.Context, table cdc.TableRef) error
	// RenameCreate renames table to archive and creates table again with
	// the same columns, keys and indexes. Atomic reports whether it is
	// part of the transaction (PostgreSQL, SQLite); MySQL's DDL commits
	// by itself (RENAME TABLE swaps both names in one step).
	RenameCreate(ctx context.Context, table cdc.TableRef, archive string) (atomic bool, err error)
	// DeleteIn deletes the rows whose column holds one of values.
	DeleteIn(ctx context.Context, table cdc.TableRef, column string, values []string) (int64, error)
}

// UpperTime is now minus delay as a scan bound for a date/time column:
// timestamptz in UTC with +00, timestamp and date in tz.
func UpperTime(now time.Time, delay time.Duration, kind schema.Kind, tz string) string {
	t := now.Add(-delay)
	loc := time.UTC
	if tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	switch kind {
	case schema.TimestampTZ:
		return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
	case schema.Date:
		return t.In(loc).Format("2006-01-02")
	}
	return t.In(loc).Format("2006-01-02 15:04:05.999999")
}

// Incremental reports whether a column of kind can be a scan's
// incremental field.
func Incremental(k schema.Kind) bool {
	return k == schema.Date || k == schema.Timestamp || k == schema.TimestampTZ || k.IsInteger()
}
