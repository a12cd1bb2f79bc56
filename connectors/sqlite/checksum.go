package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// rowSum is the flowgate_rowsum aggregate: Sum.Hash of the row texts it
// is given, the 60-bit halves of each md5 added up in 128-bit words.
type rowSum struct{ a, b [2]uint64 }

func (s *rowSum) Step(row string) {
	h1, h2 := data.RowHash([]byte(row))
	var c uint64
	s.a[0], c = bits.Add64(s.a[0], uint64(h1), 0)
	s.a[1] += c
	s.b[0], c = bits.Add64(s.b[0], uint64(h2), 0)
	s.b[1] += c
}

func (s *rowSum) Done() string {
	word := func(w [2]uint64) *big.Int {
		v := new(big.Int).SetUint64(w[1])
		v.Lsh(v, 64)
		return v.Or(v, new(big.Int).SetUint64(w[0]))
	}
	return data.FormatHash(word(s.a), word(s.b))
}

func newRowSum() *rowSum { return &rowSum{} }

// rowExpr is the row's normal-form text (see package data).
func rowExpr(cols []schema.Column, digits int) string {
	parts := make([]string, len(cols))
	for i, col := range cols {
		parts[i] = fmt.Sprintf("flowgate_part(%s, '%s', %d)", dataQuote(col.Name), col.Type.Kind, digits)
	}
	return strings.Join(parts, " || '|' || ")
}

func normExpr(col schema.Column, digits int) string {
	return fmt.Sprintf("flowgate_norm(%s, '%s', %d)", dataQuote(col.Name), col.Type.Kind, digits)
}

func keyList(keys []schema.Column) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = dataQuote(k.Name)
	}
	return strings.Join(s, ", ")
}

// rangeWhere bounds the key with row values, which SQLite answers from an
// index.
func rangeWhere(spec data.ChecksumSpec, args *[]any) (string, error) {
	var conds []string
	if spec.Where != "" {
		conds = append(conds, "("+spec.Where+")")
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
			a, err := storageValue(spec.Key[i], []byte(v), time.UTC)
			if err != nil {
				return fmt.Errorf("key %s: %w", spec.Key[i].Name, err)
			}
			*args = append(*args, a)
			ps[i] = "?"
		}
		conds = append(conds, "("+keyList(spec.Key)+") "+op+" ("+strings.Join(ps, ", ")+")")
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

// Checksum sums the normalized rows of spec's range inside SQLite, with
// the functions DriverName registers.
func (c *Conn) Checksum(ctx context.Context, spec data.ChecksumSpec) (data.Sum, error) {
	name := dataTable(spec.Schema, spec.Table)
	var args []any
	where, err := rangeWhere(spec, &args)
	if err != nil {
		return data.Sum{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	q := "SELECT count(*), flowgate_rowsum(" + rowExpr(spec.Columns, spec.Digits()) + ") FROM " + name + where
	var sum data.Sum
	var h sql.NullString
	if err := c.db.QueryRowContext(ctx, q, args...).Scan(&sum.Count, &h); err != nil {
		return data.Sum{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	sum.Hash = h.String
	if !h.Valid || sum.Count == 0 {
		sum.Hash, _ = data.HashFromDecimal("", "")
	}
	return sum, nil
}

// SplitPoints numbers the range's rows in key order in one pass and takes
// every step-th key.
func (c *Conn) SplitPoints(ctx context.Context, spec data.ChecksumSpec, n int) ([][]string, error) {
	name := dataTable(spec.Schema, spec.Table)
	if n < 2 || len(spec.Key) == 0 {
		return nil, nil
	}
	var args []any
	where, err := rangeWhere(spec, &args)
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", name, err)
	}
	var total int64
	if err := c.db.QueryRowContext(ctx, "SELECT count(*) FROM "+name+where, args...).Scan(&total); err != nil {
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
		inner[i] = normExpr(k, 6) + " AS " + outer[i]
	}
	q := "SELECT " + strings.Join(outer, ", ") + " FROM (SELECT " + strings.Join(inner, ", ") +
		", row_number() OVER (ORDER BY " + keyList(spec.Key) + ") AS rn FROM " + name + where +
		") WHERE rn > 1 AND (rn - 1) % " + strconv.FormatInt(step, 10) + " = 0 ORDER BY rn LIMIT " + strconv.Itoa(n-1)
	recs, err := c.queryText(ctx, q, args, len(spec.Key))
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

func (c *Conn) queryText(ctx context.Context, q string, args []any, n int) ([][]*string, error) {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
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
	name := dataTable(spec.Schema, spec.Table)
	var args []any
	where, err := rangeWhere(spec, &args)
	if err != nil {
		return nil, fmt.Errorf("rows %s: %w", name, err)
	}
	exprs := make([]string, len(spec.Columns))
	for i, col := range spec.Columns {
		exprs[i] = normExpr(col, spec.Digits()) + " AS " + dataQuote("c"+strconv.Itoa(i))
	}
	// Aliases keep ORDER BY on the columns, not on their text forms.
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + name + where
	if len(spec.Key) > 0 {
		q += " ORDER BY " + keyList(spec.Key)
	}
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	out, err := c.queryText(ctx, q, args, len(exprs))
	if err != nil {
		return nil, fmt.Errorf("rows %s: %w", name, err)
	}
	return out, nil
}
