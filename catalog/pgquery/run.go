package pgquery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Run executes q on db and calls fn for each row, formatted as PostgreSQL
// text (nil = NULL). Rows stream; nothing is buffered beyond one row. The
// row slice is reused between calls.
func Run(ctx context.Context, db *sql.DB, q *Query, args []any, fn func(row [][]byte) error) error {
	rows, err := db.QueryContext(ctx, q.SQL, args...)
	if err != nil {
		return runError(ctx, err)
	}
	defer rows.Close()
	n := len(q.Columns)
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	out := make([][]byte, n)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return runError(ctx, err)
		}
		for i := range vals {
			b, err := q.Format(i, vals[i])
			if err != nil {
				return err
			}
			out[i] = b
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return runError(ctx, err)
	}
	return nil
}

// runError maps cancellation to 57014; other SQLite errors are internal.
func runError(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return pgErr("57014", 0, "canceling statement due to user request")
	}
	return fmt.Errorf("pgquery: catalog query: %w", err)
}
