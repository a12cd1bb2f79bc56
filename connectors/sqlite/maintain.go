package sqlite

import (
	"context"
	"fmt"
	"strings"
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
