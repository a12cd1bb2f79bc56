package mysql

import (
	"context"
	"fmt"
	"strings"
	"time"
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
