package postgres

import (
	"context"
	"fmt"
	"strings"

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
