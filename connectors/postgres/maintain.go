package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/jackc/pgx/v5"
)

func (c *Conn) qualified(schema, table string) string {
	if schema == "" {
		schema = c.schema
	}
	return pgx.Identifier{schema, table}.Sanitize()
}

func orTrue(where string) string {
	if strings.TrimSpace(where) == "" {
		return "true"
	}
	return "(" + where + ")"
}

// CheckFilter implements data.FilterChecker.
func (c *Conn) CheckFilter(ctx context.Context, schema, table, where string) error {
	rows, err := c.pool.Query(ctx, fmt.Sprintf("SELECT 1 FROM %s WHERE %s LIMIT 0", c.qualified(schema, table), orTrue(where)))
	if err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// LastWindow implements data.FilterChecker.
func (c *Conn) LastWindow(column string, n int, unit string) string {
	return fmt.Sprintf("%s >= now() - interval '%d %s'", pgx.Identifier{column}.Sanitize(), n, unit)
}

// DeleteBatch implements data.Cleaner; ctid keeps each batch one index-free
// pass over at most limit rows.
func (c *Conn) DeleteBatch(ctx context.Context, schema, table, where string, limit int) (int64, string, error) {
	t := c.qualified(schema, table)
	q := fmt.Sprintf("DELETE FROM %s WHERE ctid IN (SELECT ctid FROM %s WHERE %s LIMIT %d)", t, t, orTrue(where), limit)
	tag, err := c.pool.Exec(ctx, q)
	if err != nil {
		return 0, q, err
	}
	return tag.RowsAffected(), q, nil
}

// Host implements data.Cleaner.
func (c *Conn) Host() string {
	cfg := c.pool.Config().ConnConfig
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}

// keyTypes is the type of each key column, for casting text keys.
func (c *Conn) keyTypes(ctx context.Context, t string, key []string) ([]string, error) {
	// One catalog round trip for all key columns, in key order.
	rows, err := c.pool.Query(ctx, `SELECT coalesce(format_type(a.atttypid, a.atttypmod), '')
		FROM unnest($2::text[]) WITH ORDINALITY AS k(name, n)
		LEFT JOIN pg_attribute a ON a.attrelid = $1::regclass AND a.attname = k.name AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY k.n`, t, key)
	if err != nil {
		return nil, fmt.Errorf("types of the key columns of %s: %w", t, err)
	}
	found, err := scanKeys(rows, 1)
	if err != nil {
		return nil, fmt.Errorf("types of the key columns of %s: %w", t, err)
	}
	types := make([]string, len(key))
	for i, k := range key {
		if i >= len(found) || found[i][0] == "" {
			return nil, fmt.Errorf("type of key column %s of %s: no such column", k, t)
		}
		types[i] = found[i][0]
	}
	return types, nil
}

// keyCols is key as a column list: "k1", "k2".
func keyCols(key []string) string {
	cols := make([]string, len(key))
	for i, k := range key {
		cols[i] = ident(k)
	}
	return strings.Join(cols, ", ")
}

// keyRows renders key as a row of columns and the text arrays of keys as a
// typed row source: (k1, k2) and SELECT CAST(a0 AS t0), ... FROM unnest($1, $2).
func keyRows(key, types []string, keys [][]string) (string, string, []any) {
	casts, params, args := make([]string, len(key)), make([]string, len(key)), make([]any, len(key))
	for i := range key {
		casts[i] = fmt.Sprintf("CAST(a%d AS %s)", i, types[i])
		params[i] = fmt.Sprintf("$%d::text[]", i+1)
		vals := make([]string, len(keys))
		for j, kv := range keys {
			vals[j] = kv[i]
		}
		args[i] = vals
	}
	names := make([]string, len(key))
	for i := range names {
		names[i] = fmt.Sprintf("a%d", i)
	}
	src := fmt.Sprintf("SELECT %s FROM unnest(%s) AS u(%s)", strings.Join(casts, ", "), strings.Join(params, ", "), strings.Join(names, ", "))
	return "(" + keyCols(key) + ")", src, args
}

// keyText selects key's columns as text.
func keyText(key []string) string {
	out := make([]string, len(key))
	for i, k := range key {
		out[i] = fmt.Sprintf("%s::text AS fg_k%d", ident(k), i) // not ORDER BY's names
	}
	return strings.Join(out, ", ")
}

// scanKeys reads rows of text keys and closes them.
func scanKeys(rows pgx.Rows, width int) ([][]string, error) {
	defer rows.Close()
	return data.TextRows(rows, width)
}

// KeysAfter implements data.KeyedCleaner.
func (c *Conn) KeysAfter(ctx context.Context, schema, table string, key []string, where string, after []string, n int) ([][]string, error) {
	t := c.qualified(schema, table)
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s", keyText(key), t, orTrue(where))
	var args []any
	if after != nil {
		types, err := c.keyTypes(ctx, t, key)
		if err != nil {
			return nil, err
		}
		ps := make([]string, len(key))
		for i := range key {
			ps[i] = fmt.Sprintf("CAST($%d::text AS %s)", i+1, types[i])
			args = append(args, after[i])
		}
		q += fmt.Sprintf(" AND (%s) > (%s)", keyCols(key), strings.Join(ps, ", "))
	}
	q += fmt.Sprintf(" ORDER BY %s LIMIT %d", keyCols(key), n)
	rows, err := c.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanKeys(rows, len(key))
}

// HasKeys implements data.KeyedCleaner.
func (c *Conn) HasKeys(ctx context.Context, schema, table string, key []string, keys [][]string) (map[string]bool, error) {
	t := c.qualified(schema, table)
	types, err := c.keyTypes(ctx, t, key)
	if err != nil {
		return nil, err
	}
	cols, src, args := keyRows(key, types, keys)
	rows, err := c.pool.Query(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s IN (%s)", keyText(key), t, cols, src), args...)
	if err != nil {
		return nil, err
	}
	found, err := scanKeys(rows, len(key))
	if err != nil {
		return nil, err
	}
	return data.KeySet(found), nil
}

// DeleteKeys implements data.KeyedCleaner.
func (c *Conn) DeleteKeys(ctx context.Context, schema, table string, key []string, where string, keys [][]string) (int64, string, error) {
	t := c.qualified(schema, table)
	types, err := c.keyTypes(ctx, t, key)
	if err != nil {
		return 0, "", err
	}
	cols, src, args := keyRows(key, types, keys)
	q := fmt.Sprintf("DELETE FROM %s WHERE %s AND %s IN (%s)", t, orTrue(where), cols, src)
	tag, err := c.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, q, err
	}
	return tag.RowsAffected(), q, nil
}
