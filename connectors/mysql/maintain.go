package mysql

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowgate/flowgate/connectors/data"
)

func quoteName(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (c *Conn) qualified(schema, table string) string {
	if schema == "" {
		schema = c.database
	}
	return quoteName(schema) + "." + quoteName(table)
}

func orTrue(where string) string {
	if strings.TrimSpace(where) == "" {
		return "TRUE"
	}
	return "(" + where + ")"
}

// CheckFilter implements data.FilterChecker.
func (c *Conn) CheckFilter(ctx context.Context, schema, table, where string) error {
	rows, err := c.db.QueryContext(ctx, fmt.Sprintf("SELECT 1 FROM %s WHERE %s LIMIT 0", c.qualified(schema, table), orTrue(where)))
	if err != nil {
		return err
	}
	return rows.Close()
}

// LastWindow implements data.FilterChecker.
func (c *Conn) LastWindow(column string, n int, unit string) string {
	u := strings.ToUpper(strings.TrimSuffix(unit, "s"))
	return fmt.Sprintf("%s >= NOW() - INTERVAL %d %s", quoteName(column), n, u)
}

// DeleteBatch implements data.Cleaner.
func (c *Conn) DeleteBatch(ctx context.Context, schema, table, where string, limit int) (int64, string, error) {
	q := fmt.Sprintf("DELETE FROM %s WHERE %s LIMIT %d", c.qualified(schema, table), orTrue(where), limit)
	res, err := c.db.ExecContext(ctx, q)
	if err != nil {
		return 0, q, err
	}
	n, err := res.RowsAffected()
	return n, q, err
}

// Host implements data.Cleaner: the server's own idea of its name.
func (c *Conn) Host() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var h string
	if err := c.db.QueryRowContext(ctx, "SELECT CONCAT(@@hostname, ':', @@port)").Scan(&h); err != nil {
		return "?/" + c.database
	}
	return h + "/" + c.database
}

// keyCols is key as a column list: `k1`, `k2`.
func keyCols(key []string) string {
	cols := make([]string, len(key))
	for i, k := range key {
		cols[i] = quoteName(k)
	}
	return strings.Join(cols, ", ")
}

// keyText selects key's columns as text.
func keyText(key []string) string {
	out := make([]string, len(key))
	for i, k := range key {
		out[i] = fmt.Sprintf("CAST(%s AS CHAR) AS fg_k%d", quoteName(k), i) // not ORDER BY's names
	}
	return strings.Join(out, ", ")
}

// keyIn is "(k1, k2) IN ((?, ?), ...)" for keys, with its arguments; the
// server converts each text to the column's type to compare.
func keyIn(key []string, keys [][]string) (string, []any) {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(key)), ", ") + ")"
	rows := make([]string, len(keys))
	args := make([]any, 0, len(keys)*len(key))
	for i, k := range keys {
		rows[i] = one
		for _, v := range k {
			args = append(args, v)
		}
	}
	return fmt.Sprintf("(%s) IN (%s)", keyCols(key), strings.Join(rows, ", ")), args
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

// KeysAfter implements data.KeyedCleaner.
func (c *Conn) KeysAfter(ctx context.Context, schema, table string, key []string, where string, after []string, n int) ([][]string, error) {
	q, args := data.KeysAfterSQL(keyText(key), c.qualified(schema, table), keyCols(key), orTrue(where), after, n)
	return c.queryKeys(ctx, len(key), q, args...)
}

// HasKeys implements data.KeyedCleaner.
func (c *Conn) HasKeys(ctx context.Context, schema, table string, key []string, keys [][]string) (map[string]bool, error) {
	in, args := keyIn(key, keys)
	found, err := c.queryKeys(ctx, len(key), fmt.Sprintf("SELECT %s FROM %s WHERE %s", keyText(key), c.qualified(schema, table), in), args...)
	if err != nil {
		return nil, err
	}
	return data.KeySet(found), nil
}

// DeleteKeys implements data.KeyedCleaner.
func (c *Conn) DeleteKeys(ctx context.Context, schema, table string, key []string, where string, keys [][]string) (int64, string, error) {
	in, args := keyIn(key, keys)
	q := fmt.Sprintf("DELETE FROM %s WHERE %s AND %s", c.qualified(schema, table), orTrue(where), in)
	shown := fmt.Sprintf("DELETE FROM %s WHERE %s AND (%s) IN (...%d keys)", c.qualified(schema, table), orTrue(where), keyCols(key), len(keys))
	res, err := c.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, shown, err
	}
	n, err := res.RowsAffected()
	return n, shown, err
}
