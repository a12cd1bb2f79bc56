package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowgate/flowgate/connectors/data"
)

// Capabilities batch runs use to cut a table into partitions and read
// them in parallel from one snapshot.
var (
	_ data.SnapshotExporter = (*Conn)(nil)
	_ data.KeyRanger        = (*Conn)(nil)
	_ data.KeyBounder       = (*Conn)(nil)
	_ data.Emptier          = (*Conn)(nil)
)

// ExportSnapshot opens a REPEATABLE READ transaction on a connection of
// its own (outside the pool, so the partitions' exports keep every pooled
// connection) and exports its snapshot: every export given the id reads
// the database as of that moment. release ends the transaction; the
// snapshot must stay open until the last export has set it.
func (c *Conn) ExportSnapshot(ctx context.Context) (string, func(), error) {
	conn, err := pgx.ConnectConfig(ctx, c.pool.Config().ConnConfig.Copy())
	if err != nil {
		return "", nil, fmt.Errorf("export snapshot: %w", err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		conn.Close(context.Background())
		return "", nil, fmt.Errorf("export snapshot: %w", err)
	}
	var id string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&id); err != nil {
		conn.Close(context.Background())
		return "", nil, fmt.Errorf("export snapshot: %w", err)
	}
	return id, func() {
		tx.Rollback(context.Background())
		conn.Close(context.Background())
	}, nil
}

// IntKeyRange reads min, max (from the key's index) and the row count of
// an integer key.
func (c *Conn) IntKeyRange(ctx context.Context, spec data.ChecksumSpec) (lo, hi, rows int64, ok bool, err error) {
	return c.intKeyRange(ctx, spec, "count(*)")
}

// IntKeyBounds implements data.KeyBounder: min and max from the key's
// index and the planner's estimate of the table's rows (pg_class.reltuples,
// as of the last VACUUM or ANALYZE; none before the first). Where is not
// applied to the estimate: callers use it for whole tables.
func (c *Conn) IntKeyBounds(ctx context.Context, spec data.ChecksumSpec) (lo, hi, estimate int64, ok bool, err error) {
	return c.intKeyRange(ctx, spec, "(SELECT greatest(reltuples, 0)::int8 FROM pg_class WHERE oid = $1::regclass)", c.dataTable(spec.Schema, spec.Table))
}

// intKeyRange selects min and max of spec's one integer key and n (with
// args for its placeholders).
func (c *Conn) intKeyRange(ctx context.Context, spec data.ChecksumSpec, n string, args ...any) (lo, hi, rows int64, ok bool, err error) {
	name := c.dataTable(spec.Schema, spec.Table)
	if len(spec.Key) != 1 {
		return 0, 0, 0, false, fmt.Errorf("key range of %s: one key column needed", name)
	}
	k := dataIdent(spec.Key[0].Name)
	q := "SELECT min(" + k + ")::int8, max(" + k + ")::int8, " + n + " FROM " + name
	if spec.Where != "" {
		q += " WHERE (" + spec.Where + ")"
	}
	var mn, mx *int64
	err = c.inTx(ctx, spec.TimeZone, func(tx pgx.Tx) error { return tx.QueryRow(ctx, q, args...).Scan(&mn, &mx, &rows) })
	if err != nil {
		return 0, 0, 0, false, fmt.Errorf("key range of %s: %w", name, err)
	}
	if mn == nil || mx == nil {
		return 0, 0, rows, false, nil
	}
	return *mn, *mx, rows, true, nil
}

// EmptyTable deletes every row (TRUNCATE, or DELETE where TRUNCATE is
// refused, e.g. because other tables reference this one).
func (c *Conn) EmptyTable(ctx context.Context, schemaName, table string) error {
	name := c.dataTable(schemaName, table)
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error { return emptyTable(ctx, tx, name) })
	if err != nil {
		return fmt.Errorf("empty %s: %w", name, err)
	}
	return nil
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// boundsSQL renders spec's key range as a condition with the bound values
// inlined as literals (COPY takes no parameters); "" = unbounded.
func (c *Conn) boundsSQL(spec data.ExportSpec) (string, error) {
	if !spec.Bounded() {
		return "", nil
	}
	var args []any
	where, err := c.rangeWhere(spec.KeyBounds(), &args)
	if err != nil {
		return "", err
	}
	where = strings.TrimPrefix(where, " WHERE ")
	var bad error
	out := placeholder.ReplaceAllStringFunc(where, func(m string) string {
		i, _ := strconv.Atoi(m[1:])
		if i < 1 || i > len(args) {
			bad = fmt.Errorf("bound parameter %s out of range", m)
			return m
		}
		return str(fmt.Sprint(args[i-1]))
	})
	return out, bad
}

// boundedSelect is exportSelect restricted to spec's key range.
func (c *Conn) boundedSelect(spec data.ExportSpec) (string, error) {
	bounds, err := c.boundsSQL(spec)
	if err != nil || bounds == "" {
		return c.exportSelect(spec), err
	}
	if spec.Where != "" {
		spec.Where = "(" + spec.Where + ") AND " + bounds
	} else {
		spec.Where = bounds
	}
	return c.exportSelect(spec), nil
}

var _ data.ForeignKeySuspender = (*Conn)(nil)

// ForeignKeys lists the table's foreign keys with pg_get_constraintdef.
func (c *Conn) ForeignKeys(ctx context.Context, schemaName, table string) ([]string, []string, error) {
	rows, err := c.pool.Query(ctx, `SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = to_regclass($1) AND contype = 'f' ORDER BY conname`, c.dataTable(schemaName, table))
	if err != nil {
		return nil, nil, fmt.Errorf("foreign keys of %s: %w", table, err)
	}
	defer rows.Close()
	var names, defs []string
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			return nil, nil, fmt.Errorf("foreign keys of %s: %w", table, err)
		}
		names, defs = append(names, n), append(defs, d)
	}
	return names, defs, rows.Err()
}

// DropForeignKey drops the key if it exists; a user who does not own the
// table may not (42501), and the key stays.
func (c *Conn) DropForeignKey(ctx context.Context, schemaName, table, name string) (bool, error) {
	_, err := c.pool.Exec(ctx, "ALTER TABLE "+c.dataTable(schemaName, table)+" DROP CONSTRAINT IF EXISTS "+ident(name))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("drop foreign key %s of %s: %w", name, table, err)
	}
	return true, nil
}

// RestoreForeignKey adds the key back NOT VALID (no scan under a strong
// lock) and then validates it, which checks every row.
func (c *Conn) RestoreForeignKey(ctx context.Context, schemaName, table, name, def string) (bool, string, error) {
	tbl := c.dataTable(schemaName, table)
	var exists bool
	if err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2)`, tbl, name).Scan(&exists); err != nil {
		return false, "", fmt.Errorf("restore foreign key %s of %s: %w", name, table, err)
	}
	if !exists {
		if _, err := c.pool.Exec(ctx, "ALTER TABLE "+tbl+" ADD CONSTRAINT "+ident(name)+" "+strings.TrimSuffix(def, " NOT VALID")+" NOT VALID"); err != nil {
			return false, "", fmt.Errorf("restore foreign key %s of %s: %w", name, table, err)
		}
	}
	if _, err := c.pool.Exec(ctx, "ALTER TABLE "+tbl+" VALIDATE CONSTRAINT "+ident(name)); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" {
			return false, pe.Message + " (" + pe.Detail + ")", nil
		}
		return false, "", fmt.Errorf("validate foreign key %s of %s: %w", name, table, err)
	}
	return true, "", nil
}
