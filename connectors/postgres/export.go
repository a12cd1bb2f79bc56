package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

var (
	_ data.Exporter    = (*Conn)(nil)
	_ data.Importer    = (*Conn)(nil)
	_ data.Checksummer = (*Conn)(nil)
)

// table is the quoted schema-qualified name; "" schema means the
// datasource's schema.
func (c *Conn) dataTable(schemaName, name string) string {
	if schemaName == "" {
		schemaName = c.schema
	}
	if schemaName == "" {
		return pgx.Identifier{name}.Sanitize()
	}
	return pgx.Identifier{schemaName, name}.Sanitize()
}

func dataIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

func dataTZ(tz string) string {
	if tz == "" {
		return "UTC"
	}
	return tz
}

func dataIsUTC(tz string) bool {
	switch strings.ToUpper(tz) {
	case "", "UTC", "Z", "ZULU", "UCT", "GMT", "ETC/UTC", "ETC/GMT", "+00", "+00:00", "00:00":
		return true
	}
	return false
}

// dataSessionSQL sets, for the current transaction only, the settings that make
// COPY write and read flowgate CSV: ISO dates, hex bytea, shortest floats.
const dataSessionSQL = `SELECT set_config('timezone', $1, true), set_config('datestyle', 'ISO, YMD', true),
	set_config('intervalstyle', 'postgres', true), set_config('extra_float_digits', '1', true),
	set_config('bytea_output', 'hex', true)`

// exportSelect is the SELECT behind COPY. Columns need no cast except
// timestamptz in a non-UTC session, so PostgreSQL's own output is the
// interchange format and COPY bytes pass through unparsed.
func (c *Conn) exportSelect(spec data.ExportSpec) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if len(spec.Columns) == 0 {
		b.WriteString("*")
	}
	for i, col := range spec.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		q := dataIdent(col.Name)
		if col.Type.Kind == schema.JSON && col.Type.Elem != nil {
			// An array bound for a json column (e.g. on MySQL) travels as JSON.
			fmt.Fprintf(&b, "array_to_json(%s)", q)
			continue
		}
		if col.Type.Kind == schema.TimestampTZ && !dataIsUTC(spec.TimeZone) && !spec.Binary {
			fmt.Fprintf(&b, "CASE WHEN isfinite(%[1]s) THEN (%[1]s AT TIME ZONE 'UTC')::text || '+00' ELSE %[1]s::text END", q)
			continue
		}
		b.WriteString(q)
	}
	b.WriteString(" FROM ")
	b.WriteString(c.dataTable(spec.Schema, spec.Table))
	if spec.Where != "" {
		b.WriteString(" WHERE (" + spec.Where + ")")
	}
	if len(spec.OrderBy) > 0 {
		b.WriteString(" ORDER BY ")
		for i, o := range spec.OrderBy {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(dataIdent(o))
		}
	}
	return b.String()
}

// Export runs COPY (SELECT ...) TO STDOUT (FORMAT csv) in a REPEATABLE READ
// READ ONLY transaction: one snapshot, bytes streamed to w as the server
// sends them.
func (c *Conn) Export(ctx context.Context, spec data.ExportSpec, w io.Writer) (int64, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	defer tx.Rollback(context.Background())
	if err := setSnapshot(ctx, tx, spec.Snapshot); err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, dataSessionSQL, dataTZ(spec.TimeZone)); err != nil {
		return 0, fmt.Errorf("export %s: session settings: %w", name, err)
	}
	sel, err := c.boundedSelect(spec)
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	format := "csv"
	if spec.Binary {
		format = "binary"
	}
	tag, err := conn.Conn().PgConn().CopyTo(ctx, w, "COPY ("+sel+") TO STDOUT (FORMAT "+format+")")
	if err != nil {
		return tag.RowsAffected(), fmt.Errorf("export %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return tag.RowsAffected(), fmt.Errorf("export %s: %w", name, err)
	}
	return tag.RowsAffected(), nil
}

// Count counts the rows Export would write.
func (c *Conn) Count(ctx context.Context, spec data.ExportSpec) (int64, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	q := "SELECT count(*) FROM " + name
	if spec.Where != "" {
		q += " WHERE (" + spec.Where + ")"
	}
	var n int64
	opts := pgx.TxOptions{AccessMode: pgx.ReadOnly}
	if spec.Snapshot != "" {
		opts.IsoLevel = pgx.RepeatableRead // SET TRANSACTION SNAPSHOT needs it
	}
	err := pgx.BeginTxFunc(ctx, c.pool, opts, func(tx pgx.Tx) error {
		if err := setSnapshot(ctx, tx, spec.Snapshot); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, dataSessionSQL, dataTZ(spec.TimeZone)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, q).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", name, err)
	}
	return n, nil
}

// setSnapshot makes a REPEATABLE READ transaction read as of an exported
// snapshot (a cdc.ChangeStream's SnapshotID); it must be the
// transaction's first statement.
func setSnapshot(ctx context.Context, tx pgx.Tx, id string) error {
	if id == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+strings.ReplaceAll(id, "'", "''")+"'"); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "22023" { // invalid snapshot identifier
			return fmt.Errorf("snapshot %s: %w (%w)", id, data.ErrSnapshotGone, err)
		}
		return fmt.Errorf("snapshot %s: %w", id, err)
	}
	return nil
}
