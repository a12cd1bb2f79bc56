package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// Capabilities batch runs use to cut a table into partitions. MySQL has no
// snapshot that other sessions can join, so partitions read in parallel
// each see their own consistent snapshot (docs/architecture.md).
var (
	_ data.KeyRanger  = (*Conn)(nil)
	_ data.KeyBounder = (*Conn)(nil)
	_ data.Emptier    = (*Conn)(nil)
)

// IntKeyRange reads min, max (from the key's index) and the row count of
// an integer key.
func (c *Conn) IntKeyRange(ctx context.Context, spec data.ChecksumSpec) (lo, hi, rows int64, ok bool, err error) {
	name, q, err := c.keyRangeSQL(spec, ", COUNT(*)")
	if err != nil {
		return 0, 0, 0, false, err
	}
	conn, done, err := c.session(ctx, spec.TimeZone)
	if err != nil {
		return 0, 0, 0, false, fmt.Errorf("key range of %s: %w", name, err)
	}
	defer done()
	var mn, mx sql.NullInt64
	if err := conn.QueryRowContext(ctx, q).Scan(&mn, &mx, &rows); err != nil {
		return 0, 0, 0, false, fmt.Errorf("key range of %s: %w", name, err)
	}
	if !mn.Valid || !mx.Valid {
		return 0, 0, rows, false, nil
	}
	return mn.Int64, mx.Int64, rows, true, nil
}

// keyRangeSQL selects MIN and MAX of spec's one integer key, and more.
func (c *Conn) keyRangeSQL(spec data.ChecksumSpec, more string) (name, q string, err error) {
	name = c.dataTable(spec.Schema, spec.Table)
	if len(spec.Key) != 1 {
		return name, "", fmt.Errorf("key range of %s: one key column needed", name)
	}
	k := dataQuote(spec.Key[0].Name)
	q = "SELECT CAST(MIN(" + k + ") AS SIGNED), CAST(MAX(" + k + ") AS SIGNED)" + more + " FROM " + name
	if spec.Where != "" {
		q += " WHERE (" + spec.Where + ")"
	}
	return name, q, nil
}

// IntKeyBounds implements data.KeyBounder: MIN and MAX from the key's
// index and InnoDB's estimate of the table's rows (TABLE_ROWS). Where is
// not applied to the estimate: callers use it for whole tables.
func (c *Conn) IntKeyBounds(ctx context.Context, spec data.ChecksumSpec) (lo, hi, estimate int64, ok bool, err error) {
	name, q, err := c.keyRangeSQL(spec, "")
	if err != nil {
		return 0, 0, 0, false, err
	}
	var mn, mx sql.NullInt64
	if err := c.db.QueryRowContext(ctx, q).Scan(&mn, &mx); err != nil {
		return 0, 0, 0, false, fmt.Errorf("key bounds of %s: %w", name, err)
	}
	db := spec.Schema
	if db == "" {
		db = c.database
	}
	var est sql.NullInt64
	err = c.db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", db, spec.Table).Scan(&est)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, 0, false, fmt.Errorf("row estimate of %s: %w", name, err)
	}
	if !mn.Valid || !mx.Valid {
		return 0, 0, est.Int64, false, nil
	}
	return mn.Int64, mx.Int64, est.Int64, true, nil
}

// EmptyTable deletes every row with TRUNCATE, foreign key checks off for
// the statement's session (MySQL refuses to truncate a referenced table
// even when the referencing rows are gone).
func (c *Conn) EmptyTable(ctx context.Context, db, table string) error {
	name := c.dataTable(db, table)
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("empty %s: %w", name, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION foreign_key_checks = 0"); err != nil {
		return fmt.Errorf("empty %s: %w", name, err)
	}
	_, terr := conn.ExecContext(ctx, "TRUNCATE TABLE "+name)
	if _, err := conn.ExecContext(context.Background(), "SET SESSION foreign_key_checks = 1"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	if terr != nil {
		return fmt.Errorf("empty %s: %w", name, terr)
	}
	return nil
}

// boundsSQL renders spec's key range as a condition with the bound values
// inlined as literals, so the export keeps the text protocol; "" =
// unbounded. A composite key compares as rangeWhere does: (a > x) OR
// (a = x AND b >= y), which MySQL answers from the key's index.
func (c *Conn) boundsSQL(spec data.ExportSpec) (string, error) {
	if !spec.Bounded() {
		return "", nil
	}
	loc, err := ParseTimeZone(spec.TimeZone)
	if dataIsUTC(spec.TimeZone) {
		loc, err = time.UTC, nil
	}
	if err != nil {
		return "", fmt.Errorf("time zone %q: %w", spec.TimeZone, err)
	}
	var conds []string
	bound := func(vals []string, strict, last string) error {
		if vals == nil {
			return nil
		}
		if len(vals) != len(spec.Key) {
			return fmt.Errorf("bound has %d values for %d key columns", len(vals), len(spec.Key))
		}
		lits := make([]string, len(vals))
		for i, v := range vals {
			a, err := boundValue(spec.Key[i], v, loc)
			if err != nil {
				return fmt.Errorf("key %s: %w", spec.Key[i].Name, err)
			}
			lits[i] = literal(spec.Key[i], a)
		}
		var ors []string
		for i := range spec.Key {
			var ands []string
			for j := 0; j < i; j++ {
				ands = append(ands, dataQuote(spec.Key[j].Name)+" = "+lits[j])
			}
			op := strict
			if i == len(spec.Key)-1 {
				op = last
			}
			ands = append(ands, dataQuote(spec.Key[i].Name)+" "+op+" "+lits[i])
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
		return nil
	}
	if err := bound(spec.Lower, ">", ">="); err != nil {
		return "", err
	}
	if err := bound(spec.Upper, "<", "<"); err != nil {
		return "", err
	}
	return strings.Join(conds, " AND "), nil
}

// literal renders a bound value (as boundValue makes it) of col as SQL:
// numbers bare for numeric keys (a quoted number would compare as a
// double), binary as hex, the rest as strings.
func literal(col schema.Column, v any) string {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x)
	case []byte:
		if len(x) == 0 {
			return "''"
		}
		return "X'" + hex.EncodeToString(x) + "'"
	case string:
		if col.Type.Kind.IsNumeric() && schema.IsNumberLiteral(x) {
			return x
		}
		return dataLiteral(x)
	}
	return dataLiteral(fmt.Sprint(v))
}

// boundedSelect is Export's SELECT (of the text pool) restricted to
// spec's key range.
func (c *Conn) boundedSelect(spec data.ExportSpec) (string, error) {
	bounds, err := c.boundsSQL(spec)
	if err != nil || bounds == "" {
		return c.exportSelect(spec, true), err
	}
	if spec.Where != "" {
		spec.Where = "(" + spec.Where + ") AND " + bounds
	} else {
		spec.Where = bounds
	}
	return c.exportSelect(spec, true), nil
}
