package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// trimZeros drops trailing fractional zeros and point of a decimal text
// that has a point.
func trimZeros(s string) string {
	return "TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM " + s + "))"
}

// normExpr is col's value in the checksum normal form (see package data),
// NULL when the value is NULL. tz is the session time zone.
func normExpr(col schema.Column, digits int, tz string) string {
	c := dataQuote(col.Name)
	cut := func(base int) string {
		if digits == 0 {
			return strconv.Itoa(base)
		}
		return strconv.Itoa(base + 1 + digits)
	}
	zeroNull := func(v string) string { // zero dates count as NULL, as exported
		return "CASE WHEN MONTH(" + c + ") = 0 OR DAY(" + c + ") = 0 THEN NULL ELSE " + v + " END"
	}
	switch col.Type.Kind {
	case schema.Bool:
		return "CASE WHEN " + c + " <> 0 THEN 't' WHEN " + c + " = 0 THEN 'f' END"
	case schema.Int8, schema.Int16, schema.Int24, schema.Int32, schema.Int64:
		return "CAST(" + c + " AS CHAR)"
	case schema.Year:
		// As a number: the zero year prints "0000" as text but is 0, as
		// exported and as every other database holds it.
		return "CAST(" + c + " + 0 AS CHAR)"
	case schema.Decimal:
		s := "CAST(" + c + " AS CHAR)"
		return "CASE WHEN LOCATE('.', " + s + ") > 0 THEN " + trimZeros(s) + " ELSE " + s + " END"
	case schema.Float32, schema.Float64:
		// MySQL prints the shortest round-trip digits of a DOUBLE, and
		// MariaDB a FLOAT with 6 digits (the float32 normal form); the plain range is
		// exactly representable in DECIMAL(65,30). Outside it MySQL may
		// print a tiny value in plain notation: rebuild d.ddde-X.
		s := "CAST(" + c + " AS CHAR)"
		abs := "TRIM(LEADING '-' FROM " + s + ")"
		frac := "SUBSTRING(" + abs + ", 3)"
		digitsOf := "TRIM(LEADING '0' FROM " + frac + ")"
		sci := "CONCAT(IF(" + c + " < 0, '-', ''), LEFT(" + digitsOf + ", 1), IF(LENGTH(" + digitsOf + ") > 1, CONCAT('.', SUBSTRING(" +
			digitsOf + ", 2)), ''), 'e-', LENGTH(" + frac + ") - LENGTH(" + digitsOf + ") + 1)"
		return "CASE WHEN " + c + " = 0 THEN '0'" +
			" WHEN ABS(" + c + ") >= " + fmtFloat(data.FloatPlainMax) + " OR ABS(" + c + ") < " + fmtFloat(data.FloatPlainMin) +
			" THEN IF(LOCATE('e', " + s + ") > 0, REPLACE(" + s + ", 'e+', 'e'), " + sci + ")" +
			" ELSE " + trimZeros("CAST(CAST("+s+" AS DECIMAL(65,30)) AS CHAR)") + " END"
	case schema.Binary, schema.Varbinary, schema.Blob:
		return "CONCAT(CHAR(92 USING utf8mb4), 'x', LOWER(HEX(" + c + ")))"
	case schema.Date:
		return zeroNull("DATE_FORMAT(" + c + ", '%Y-%m-%d')")
	case schema.Timestamp:
		return zeroNull("LEFT(DATE_FORMAT(" + c + ", '%Y-%m-%d %H:%i:%s.%f'), " + cut(19) + ")")
	case schema.TimestampTZ:
		v := c
		if !dataIsUTC(tz) {
			v = "CONVERT_TZ(" + c + ", @@session.time_zone, '+00:00')"
		}
		return zeroNull("LEFT(DATE_FORMAT(" + v + ", '%Y-%m-%d %H:%i:%s.%f'), " + cut(19) + ")")
	case schema.Time:
		return "LEFT(TIME_FORMAT(" + c + ", '%H:%i:%s.%f'), " + cut(8) + ")"
	case schema.Bit:
		return "LPAD(BIN(" + c + "), " + strconv.Itoa(max(col.Type.Length, 1)) + ", '0')"
	case schema.Geometry:
		return "ST_AsText(" + c + ")"
	}
	return "CONVERT(" + c + " USING utf8mb4)"
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'e', -1, 64) }

func rowHashExpr(cols []schema.Column, digits int, tz string) string {
	parts := make([]string, len(cols))
	for i, col := range cols {
		v := normExpr(col, digits, tz)
		if data.TextLike(col.Type.Kind) {
			v = "CONCAT(LENGTH(" + v + "), ':', " + v + ")"
		}
		parts[i] = "COALESCE(" + v + ", 'n')"
	}
	return "MD5(CONCAT(" + strings.Join(parts, ", '|', ") + "))"
}

// rangeWhere spells key bounds out as (a > x) OR (a = x AND b >= y), which
// MySQL turns into index ranges (row constructors are not always).
func (c *Conn) rangeWhere(spec data.ChecksumSpec, args *[]any) (string, error) {
	loc := time.UTC
	if !dataIsUTC(spec.TimeZone) {
		l, err := ParseTimeZone(spec.TimeZone)
		if err != nil {
			return "", fmt.Errorf("time zone %q: %w", spec.TimeZone, err)
		}
		loc = l
	}
	var conds []string
	if spec.Where != "" {
		conds = append(conds, "("+spec.Where+")")
	}
	bound := func(vals []string, strict, last string) error {
		if vals == nil {
			return nil
		}
		if len(vals) != len(spec.Key) {
			return fmt.Errorf("bound has %d values for %d key columns", len(vals), len(spec.Key))
		}
		conv := make([]any, len(vals))
		for i, v := range vals {
			a, err := boundValue(spec.Key[i], v, loc)
			if err != nil {
				return fmt.Errorf("key %s: %w", spec.Key[i].Name, err)
			}
			conv[i] = a
		}
		var ors []string
		for i := range spec.Key {
			var ands []string
			for j := 0; j < i; j++ {
				ands = append(ands, dataQuote(spec.Key[j].Name)+" = ?")
				*args = append(*args, conv[j])
			}
			op := strict
			if i == len(spec.Key)-1 {
				op = last
			}
			ands = append(ands, dataQuote(spec.Key[i].Name)+" "+op+" ?")
			*args = append(*args, conv[i])
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
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), nil
}

// boundValue turns a normal-form key value into a MySQL parameter.
func boundValue(col schema.Column, v string, loc *time.Location) (any, error) {
	switch col.Type.Kind {
	case schema.Bool:
		b, err := data.ParseBool([]byte(v))
		if err != nil {
			return nil, err
		}
		if b {
			return 1, nil
		}
		return 0, nil
	case schema.Binary, schema.Varbinary, schema.Blob:
		if !strings.HasPrefix(v, `\x`) {
			v = `\x` + v
		}
		return data.DecodeHex(nil, []byte(v))
	case schema.TimestampTZ:
		t, _, err := data.ParseTimestamp([]byte(v)) // no offset = UTC
		if err != nil {
			return nil, err
		}
		t = t.In(loc)
		return string(data.AppendTimestamp(nil, time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), false)), nil
	}
	return v, nil
}

func keyList(keys []schema.Column) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = dataQuote(k.Name)
	}
	return strings.Join(s, ", ")
}

// Checksum sums the normalized rows of spec's range inside MySQL.
func (c *Conn) Checksum(ctx context.Context, spec data.ChecksumSpec) (data.Sum, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	var args []any
	where, err := c.rangeWhere(spec, &args)
	if err != nil {
		return data.Sum{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	q := "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTR(h, 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR)," +
		" CAST(COALESCE(SUM(CAST(CONV(SUBSTR(h, 16, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR)" +
		" FROM (SELECT " + rowHashExpr(spec.Columns, spec.Digits(), spec.TimeZone) + " AS h FROM " + name + where + ") s"
	conn, done, err := c.session(ctx, spec.TimeZone)
	if err != nil {
		return data.Sum{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	defer done()
	var sum data.Sum
	var s1, s2 string
	if err := conn.QueryRowContext(ctx, q, args...).Scan(&sum.Count, &s1, &s2); err != nil {
		return data.Sum{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	if sum.Hash, err = data.HashFromDecimal(s1, s2); err != nil {
		return data.Sum{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	return sum, nil
}

// SplitPoints numbers the range's rows in key order in one pass (window
// function) and takes every step-th key.
func (c *Conn) SplitPoints(ctx context.Context, spec data.ChecksumSpec, n int) ([][]string, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	if n < 2 || len(spec.Key) == 0 {
		return nil, nil
	}
	var args []any
	where, err := c.rangeWhere(spec, &args)
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", name, err)
	}
	conn, done, err := c.session(ctx, spec.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", name, err)
	}
	defer done()
	var total int64
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+name+where, args...).Scan(&total); err != nil {
		return nil, fmt.Errorf("split %s: %w", name, err)
	}
	step := (total + int64(n) - 1) / int64(n)
	if total < 2 || step < 1 {
		return nil, nil
	}
	inner := make([]string, len(spec.Key))
	outer := make([]string, len(spec.Key))
	for i, k := range spec.Key {
		outer[i] = dataQuote("k" + strconv.Itoa(i))
		inner[i] = normExpr(k, 6, spec.TimeZone) + " AS " + outer[i]
	}
	q := "SELECT " + strings.Join(outer, ", ") + " FROM (SELECT " + strings.Join(inner, ", ") +
		", ROW_NUMBER() OVER (ORDER BY " + keyList(spec.Key) + ") AS rn FROM " + name + where +
		") s WHERE rn > 1 AND MOD(rn - 1, " + strconv.FormatInt(step, 10) + ") = 0 ORDER BY rn LIMIT " + strconv.Itoa(n-1)
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", name, err)
	}
	recs, err := scanText(rows, len(spec.Key))
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", name, err)
	}
	points := make([][]string, len(recs))
	for i, rec := range recs {
		points[i] = make([]string, len(rec))
		for j, v := range rec {
			if v == nil {
				return nil, fmt.Errorf("split %s: key column %s is NULL", name, spec.Key[j].Name)
			}
			points[i][j] = *v
		}
	}
	return points, nil
}

func scanText(rows *sql.Rows, n int) ([][]*string, error) {
	defer rows.Close()
	var out [][]*string
	for rows.Next() {
		vals := make([]sql.NullString, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		rec := make([]*string, n)
		for i, v := range vals {
			if v.Valid {
				s := v.String
				rec[i] = &s
			}
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// Rows returns up to limit normalized rows of the range in key order.
func (c *Conn) Rows(ctx context.Context, spec data.ChecksumSpec, limit int) ([][]*string, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	var args []any
	where, err := c.rangeWhere(spec, &args)
	if err != nil {
		return nil, fmt.Errorf("rows %s: %w", name, err)
	}
	exprs := make([]string, len(spec.Columns))
	for i, col := range spec.Columns {
		exprs[i] = normExpr(col, spec.Digits(), spec.TimeZone) + " AS " + dataQuote("c"+strconv.Itoa(i))
	}
	// Aliases keep ORDER BY on the columns, not on their text forms.
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + name + where
	if len(spec.Key) > 0 {
		q += " ORDER BY " + keyList(spec.Key)
	}
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	conn, done, err := c.session(ctx, spec.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("rows %s: %w", name, err)
	}
	defer done()
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("rows %s: %w", name, err)
	}
	out, err := scanText(rows, len(exprs))
	if err != nil {
		return nil, fmt.Errorf("rows %s: %w", name, err)
	}
	return out, nil
}
