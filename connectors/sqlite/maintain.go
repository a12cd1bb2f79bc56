package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/flowgate/flowgate/connectors/data"
)

func quoteName(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func orTrue(where string) string {
	if strings.TrimSpace(where) == "" {
		return "1"
	}
	return "(" + where + ")"
}

// CheckFilter implements data.FilterChecker (schema is ignored: one file).
func (c *Conn) CheckFilter(ctx context.Context, _, table, where string) error {
	rows, err := c.db.QueryContext(ctx, fmt.Sprintf("SELECT 1 FROM %s WHERE %s LIMIT 0", quoteName(table), orTrue(where)))
	if err != nil {
		return err
	}
	return rows.Close()
}

// LastWindow implements data.FilterChecker.
func (c *Conn) LastWindow(column string, n int, unit string) string {
	return fmt.Sprintf("%s >= datetime('now', '-%d %s')", quoteName(column), n, unit)
}

// DeleteBatch implements data.Cleaner.
func (c *Conn) DeleteBatch(ctx context.Context, _, table, where string, limit int) (int64, string, error) {
	q := fmt.Sprintf("DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE %s LIMIT %d)", quoteName(table), quoteName(table), orTrue(where), limit)
	res, err := c.db.ExecContext(ctx, q)
	if err != nil {
		return 0, q, err
	}
	n, err := res.RowsAffected()
	return n, q, err
}

// Host implements data.Cleaner.
func (c *Conn) Host() string { return "sqlite:" + c.path }

// keyCols is key as a column list: "k1", "k2".
func keyCols(key []string) string {
	cols := make([]string, len(key))
	for i, k := range key {
		cols[i] = quoteName(k)
	}
	return strings.Join(cols, ", ")
}

// keyMatch is "(k1 = ? AND k2 = ?) OR ..." for keys, with its arguments:
// a comparison with a column gives each text the column's affinity.
func keyMatch(key []string, keys [][]string) (string, []any) {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = quoteName(k) + " = ?"
	}
	one := "(" + strings.Join(parts, " AND ") + ")"
	ors := make([]string, len(keys))
	args := make([]any, 0, len(keys)*len(key))
	for i, k := range keys {
		ors[i] = one
		for _, v := range k {
			args = append(args, v)
		}
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// queryKeys reads rows of text keys.
func (c *Conn) queryKeys(ctx context.Context, width int, q string, args ...any) ([][]string, error) {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return data.TextRows(rows, width)
}

func keyText(key []string) string {
	out := make([]string, len(key))
	for i, k := range key {
		out[i] = fmt.Sprintf("CAST(%s AS TEXT) AS fg_k%d", quoteName(k), i) // not ORDER BY's names
	}
	return strings.Join(out, ", ")
}

// KeysAfter implements data.KeyedCleaner.
func (c *Conn) KeysAfter(ctx context.Context, _, table string, key []string, where string, after []string, n int) ([][]string, error) {
	q, args := data.KeysAfterSQL(keyText(key), quoteName(table), keyCols(key), orTrue(where), after, n)
	return c.queryKeys(ctx, len(key), q, args...)
}

// HasKeys implements data.KeyedCleaner.
func (c *Conn) HasKeys(ctx context.Context, _, table string, key []string, keys [][]string) (map[string]bool, error) {
	out := map[string]bool{}
	for len(keys) > 0 {
		part := keys[:min(len(keys), 500)] // SQLite's expression depth and parameter limits
		keys = keys[len(part):]
		m, args := keyMatch(key, part)
		found, err := c.queryKeys(ctx, len(key), fmt.Sprintf("SELECT %s FROM %s WHERE %s", keyText(key), quoteName(table), m), args...)
		if err != nil {
			return nil, err
		}
		for k := range data.KeySet(found) {
			out[k] = true
		}
	}
	return out, nil
}

// DeleteKeys implements data.KeyedCleaner.
func (c *Conn) DeleteKeys(ctx context.Context, _, table string, key []string, where string, keys [][]string) (int64, string, error) {
	shown := fmt.Sprintf("DELETE FROM %s WHERE %s AND (%s) IN (...%d keys)", quoteName(table), orTrue(where), keyCols(key), len(keys))
	var total int64
	for len(keys) > 0 {
		part := keys[:min(len(keys), 500)]
		keys = keys[len(part):]
		m, args := keyMatch(key, part)
		res, err := c.db.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s AND %s", quoteName(table), orTrue(where), m), args...)
		if err != nil {
			return total, shown, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, shown, err
		}
		total += n
	}
	return total, shown, nil
}
