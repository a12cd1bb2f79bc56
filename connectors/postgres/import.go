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
)

// Import runs COPY ... FROM STDIN (FORMAT csv) in one transaction; with a
// Mark it first records the mark in the same transaction, so the rows and
// the mark commit together or not at all. With Replace the table is
// emptied in the same transaction first, so a failed load leaves the old
// rows.
func (c *Conn) Import(ctx context.Context, spec data.ImportSpec, r io.Reader) (int64, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	if spec.Mark != nil {
		if err := c.ensureMarks(ctx, spec.Schema); err != nil {
			return 0, fmt.Errorf("import %s: %w", name, err)
		}
	}
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", name, err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", name, err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, dataSessionSQL, dataTZ(spec.TimeZone)); err != nil {
		return 0, fmt.Errorf("import %s: session settings: %w", name, err)
	}
	if m := spec.Mark; m != nil {
		// Marking first makes a repeated file fail before it loads; a
		// concurrent import of the same file waits here for the first.
		tag, err := tx.Exec(ctx, "INSERT INTO "+c.dataTable(spec.Schema, data.MarksTable)+
			" (run_id, file_id, at) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING", m.RunID, m.FileID)
		if err != nil {
			return 0, fmt.Errorf("import %s: mark: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return 0, fmt.Errorf("import %s: run %s file %s: %w", name, m.RunID, m.FileID, data.ErrAlreadyImported)
		}
	}
	if spec.Replace {
		if err := emptyTable(ctx, tx, name); err != nil {
			return 0, fmt.Errorf("import %s: replace: %w", name, err)
		}
	}
	cols := make([]string, len(spec.Columns))
	for i, col := range spec.Columns {
		cols[i] = dataIdent(col.Name)
	}
	q := "COPY " + name
	if len(cols) > 0 {
		q += " (" + strings.Join(cols, ", ") + ")"
	}
	q += " FROM STDIN (FORMAT csv)"
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, r, q)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", name, explainCopyError(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("import %s: commit: %w", name, err)
	}
	return tag.RowsAffected(), nil
}

// emptyTable deletes every row of table inside tx: TRUNCATE (fast, no
// dead rows, and rolled back with the transaction), or DELETE where
// TRUNCATE is refused (no TRUNCATE privilege, or other tables reference
// this one), under a savepoint so the refusal does not abort tx. Used by
// Import's Replace and by the CDC applier for a truncate.
func emptyTable(ctx context.Context, tx pgx.Tx, table string) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := sp.Exec(ctx, "TRUNCATE "+table); err == nil {
		return sp.Commit(ctx)
	}
	if err := sp.Rollback(ctx); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "DELETE FROM "+table)
	return err
}

// explainCopyError adds what a NUL byte means to PostgreSQL's terse
// "invalid byte sequence for encoding "UTF8": 0x00".
func explainCopyError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "22021" && strings.Contains(pe.Message, "0x00") {
		return fmt.Errorf("a text value contains a NUL byte (0x00), which PostgreSQL text types cannot store; clean the source or move the column as binary (bytea) (%s): %w", pe.Where, err)
	}
	return err
}

// ensureMarks creates the marks table if it is missing. It runs in its own
// transaction so a concurrent creation cannot abort an import.
func (c *Conn) ensureMarks(ctx context.Context, schemaName string) error {
	_, err := c.pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+c.dataTable(schemaName, data.MarksTable)+
		" (run_id text NOT NULL, file_id text NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, file_id))")
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P07") {
		return nil // another import created it at the same moment
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", data.MarksTable, err)
	}
	return nil
}

// ImportedMarks lists the FileIDs marked for runID (none when the marks
// table does not exist yet).
func (c *Conn) ImportedMarks(ctx context.Context, schemaName, runID string) ([]string, error) {
	name := c.dataTable(schemaName, data.MarksTable)
	var exists bool
	if err := c.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
		return nil, fmt.Errorf("imported marks: %w", err)
	}
	if !exists {
		return nil, nil
	}
	rows, err := c.pool.Query(ctx, "SELECT file_id FROM "+name+" WHERE run_id = $1 ORDER BY file_id", runID)
	if err != nil {
		return nil, fmt.Errorf("imported marks: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("imported marks: %w", err)
	}
	return ids, nil
}
