package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// normExpr is col's value in the checksum normal form (see package data),
// NULL when the value is NULL.
func normExpr(col schema.Column, digits int) string {
	c := dataIdent(col.Name)
	timeLen := func(base int) string { // cut HH:MM:SS.ffffff to digits
		if digits == 0 {
			return strconv.Itoa(base)
		}
		return strconv.Itoa(base + 1 + digits)
	}
	switch col.Type.Kind {
	case schema.Bool:
		return fmt.Sprintf("CASE WHEN %[1]s THEN 't' WHEN NOT %[1]s THEN 'f' END", c)
	case schema.Int8, schema.Int16, schema.Int24, schema.Int32, schema.Int64, schema.Year:
		return c + "::text"
	case schema.Decimal:
		return trimDecimal(c + "::text")
	case schema.Float32:
		// Six significant digits, rounded half to even by printf's %e
		// behind to_char, as MariaDB prints a FLOAT.
		e := "btrim(to_char(" + c + ", '9.99999EEEE'))"
		return fmt.Sprintf(`CASE WHEN %[1]s::float8 = 'NaN'::float8 THEN 'NaN'
			WHEN %[1]s::float8 = 'Infinity'::float8 THEN 'Infinity'
			WHEN %[1]s::float8 = '-Infinity'::float8 THEN '-Infinity'
			WHEN %[1]s = 0 THEN '0'
			WHEN abs(%[1]s::float8) >= %[2]s::float8 OR abs(%[1]s::float8) < %[3]s::float8
			THEN rtrim(rtrim(split_part(%[4]s, 'e', 1), '0'), '.') || 'e' || ltrim(split_part(%[4]s, 'e', 2), '+')
			ELSE %[5]s END`, c, fmtFloat(data.FloatPlainMax), fmtFloat(data.FloatPlainMin), e, trimDecimal("("+e+")::numeric::text"))
	case schema.Float64:
		// PostgreSQL prints the shortest round-trip digits, like MySQL and
		// Go; the plain range goes through numeric to lose the exponent.
		return fmt.Sprintf(`CASE WHEN %[1]s::float8 = 'NaN'::float8 THEN 'NaN'
			WHEN %[1]s::float8 = 'Infinity'::float8 THEN 'Infinity'
			WHEN %[1]s::float8 = '-Infinity'::float8 THEN '-Infinity'
			WHEN %[1]s = 0 THEN '0'
			WHEN abs(%[1]s::float8) >= %[2]s::float8 OR abs(%[1]s::float8) < %[3]s::float8 THEN replace(%[1]s::text, 'e+', 'e')
			ELSE (%[1]s::text)::numeric::text END`, c, fmtFloat(data.FloatPlainMax), fmtFloat(data.FloatPlainMin))
	case schema.Binary, schema.Varbinary, schema.Blob:
		return `'\x' || encode(` + c + ", 'hex')"
	case schema.Date:
		return "to_char(" + c + ", 'YYYY-MM-DD')"
	case schema.Time:
		return "left(to_char(" + c + ", 'HH24:MI:SS.US'), " + timeLen(8) + ")"
	case schema.Timestamp:
		return "left(to_char(" + c + ", 'YYYY-MM-DD HH24:MI:SS.US'), " + timeLen(19) + ")"
	case schema.TimestampTZ:
		return "left(to_char(" + c + " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), " + timeLen(19) + ")"
	case schema.Set:
		if strings.HasSuffix(col.Type.Native, "[]") {
			// A MySQL set kept as text[]: its members as MySQL lists them.
			return "array_to_string(" + c + ", ',')"
		}
	}
	return c + "::text"
}

// trimDecimal drops trailing fractional zeros (and the point) of a decimal
// text.
func trimDecimal(s string) string {
	return fmt.Sprintf("CASE WHEN strpos(%[1]s, '.') > 0 THEN rtrim(rtrim(%[1]s, '0'), '.') ELSE %[1]s END", s)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// rowHashExpr is md5 of the row's normal form.
func rowHashExpr(cols []schema.Column, digits int) string {
	parts := make([]string, len(cols))
	for i, col := range cols {
		v := normExpr(col, digits)
		if data.TextLike(col.Type.Kind) {
			v = "octet_length(" + v + ")::text || ':' || " + v
		}
		parts[i] = "coalesce(" + v + ", 'n')"
	}
	return "md5(" + strings.Join(parts, " || '|' || ") + ")"
}

// rangeWhere is the WHERE clause for spec's filter and key bounds, adding
// the bound values to args. Bounds compare as row values, which
// PostgreSQL answers from a composite index.
func (c *Conn) rangeWhere(spec data.ChecksumSpec, args *[]any) (string, error) {
	var conds []string
	if spec.Where != "" {
		conds = append(conds, "("+spec.Where+")")
	}
	keys := make([]string, len(spec.Key))
	for i, k := range spec.Key {
		keys[i] = dataIdent(k.Name)
	}
	bound := func(vals []string, op string) error {
		if vals == nil {
			return nil
		}
		if len(vals) != len(spec.Key) {
			return fmt.Errorf("bound has %d values for %d key columns", len(vals), len(spec.Key))
		}
		ps := make([]string, len(vals))
		for i, v := range vals {
			*args = append(*args, boundValue(spec.Key[i], v))
			ps[i] = "$" + strconv.Itoa(len(*args))
		}
		conds = append(conds, "("+strings.Join(keys, ", ")+") "+op+" ("+strings.Join(ps, ", ")+")")
		return nil
	}
	if err := bound(spec.Lower, ">="); err != nil {
		return "", err
	}
	if err := bound(spec.Upper, "<"); err != nil {
		return "", err
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), nil
}

// boundValue turns a normal-form key value into PostgreSQL input text.
func boundValue(col schema.Column, v string) string {
	switch col.Type.Kind {
	case schema.TimestampTZ:
		if _, hasOff, err := data.ParseTimestamp([]byte(v)); err == nil && !hasOff {
			return v + "+00" // the normal form is UTC without offset
		}
	case schema.Binary, schema.Varbinary, schema.Blob:
		if !strings.HasPrefix(v, `\x`) {
			return `\x` + v
		}
	}
	return v
}

func keyList(keys []schema.Column) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = dataIdent(k.Name)
	}
	return strings.Join(s, ", ")
}

// inTx runs fn in a read-only transaction with the session time zone set,
// so Where is evaluated as it was for the export.
func (c *Conn) inTx(ctx context.Context, tz string, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, c.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, dataSessionSQL, dataTZ(tz)); err != nil {
			return err
		}
		return fn(tx)
	})
}

// Checksum sums the normalized rows of spec's range inside PostgreSQL.
func (c *Conn) Checksum(ctx context.Context, spec data.ChecksumSpec) (data.Sum, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	var args []any
	where, err := c.rangeWhere(spec, &args)
	if err != nil {
		return data.Sum{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	q := `SELECT count(*), coalesce(sum(('x' || substr(h, 1, 15))::bit(60)::bigint), 0)::text,
		coalesce(sum(('x' || substr(h, 16, 15))::bit(60)::bigint), 0)::text
		FROM (SELECT ` + rowHashExpr(spec.Columns, spec.Digits()) + ` AS h FROM ` + name + where + `) s`
	var sum data.Sum
	var s1, s2 string
	err = c.inTx(ctx, spec.TimeZone, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, q, args...).Scan(&sum.Count, &s1, &s2)
	})
	if err != nil {
		return data.Sum{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	if sum.Hash, err = data.HashFromDecimal(s1, s2); err != nil {
		return data.Sum{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	return sum, nil
}

// SplitPoints numbers the range's rows in key order in one pass and takes
// every step-th key.
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
	norms := make([]string, len(spec.Key))
	for i, k := range spec.Key {
		norms[i] = normExpr(k, 6) + " AS " + dataIdent("k"+strconv.Itoa(i))
	}
	var points [][]string
	err = c.inTx(ctx, spec.TimeZone, func(tx pgx.Tx) error {
		var total int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+name+where, args...).Scan(&total); err != nil {
			return err
		}
		step := (total + int64(n) - 1) / int64(n)
		if total < 2 || step < 1 {
			return nil
		}
		outer := make([]string, len(spec.Key))
		for i := range spec.Key {
			outer[i] = dataIdent("k" + strconv.Itoa(i))
		}
		q := "SELECT " + strings.Join(outer, ", ") + " FROM (SELECT " + strings.Join(norms, ", ") +
			", row_number() OVER (ORDER BY " + keyList(spec.Key) + ") AS rn FROM " + name + where +
			") s WHERE rn > 1 AND (rn - 1) % " + strconv.FormatInt(step, 10) + " = 0 ORDER BY rn LIMIT " + strconv.Itoa(n-1)
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		points, err = collectText(rows, len(spec.Key))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", name, err)
	}
	return points, nil
}

// collectText reads rows of text columns, failing on NULL.
func collectText(rows pgx.Rows, n int) ([][]string, error) {
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]*string, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		rec := make([]string, n)
		for i, v := range vals {
			if v == nil {
				return nil, fmt.Errorf("key column %d is NULL", i+1)
			}
			rec[i] = *v
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
		exprs[i] = normExpr(col, spec.Digits()) + " AS " + dataIdent("c"+strconv.Itoa(i))
	}
	// Aliases keep ORDER BY on the columns, not on their text forms.
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + name + where
	if len(spec.Key) > 0 {
		q += " ORDER BY " + keyList(spec.Key)
	}
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	var out [][]*string
	err = c.inTx(ctx, spec.TimeZone, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			rec := make([]*string, len(exprs))
			ptrs := make([]any, len(exprs))
			for i := range rec {
				ptrs[i] = &rec[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			out = append(out, rec)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("rows %s: %w", name, err)
	}
	return out, nil
}
