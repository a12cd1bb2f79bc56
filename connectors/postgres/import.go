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
	"github.com/flowgate/flowgate/connectors/postgres/copybin"
	"github.com/flowgate/flowgate/connectors/schema"
)

// Import runs COPY ... FROM STDIN (FORMAT csv) in one transaction; with a
// Mark it first records the mark in the same transaction, so the rows and
// the mark commit together or not at all. With Replace the table is
// emptied in the same transaction first, so a failed load leaves the old
// rows.
func (c *Conn) Import(ctx context.Context, spec data.ImportSpec, r io.Reader) (int64, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	marks := ""
	if spec.Mark != nil {
		var err error
		if marks, err = c.ensureMarks(ctx, data.MarkScope{Schema: spec.Schema, MarksSchema: spec.MarksSchema}); err != nil {
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
		tag, err := tx.Exec(ctx, "INSERT INTO "+marks+
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
	if spec.Binary {
		q += " FROM STDIN (FORMAT binary)"
	} else {
		q += " FROM STDIN (FORMAT csv)"
	}
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, r, q)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", name, explainCopyError(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("import %s: commit: %w", name, err)
	}
	return tag.RowsAffected(), nil
}

// CSVEncoding implements data.CSVEncoder: binary COPY, which PostgreSQL
// loads without parsing numerics, dates and timestamps from text (a
// 2,000,000-row lineitem file took the server 4.1 s as CSV and 2.5 s as
// binary).
func (c *Conn) CSVEncoding(spec data.ImportSpec) (data.ImportSpec, func(io.Writer, io.Reader) (int64, error), bool) {
	if spec.Binary {
		return spec, nil, false // already the target's own format
	}
	types := make([]schema.Type, len(spec.Columns))
	for i, col := range spec.Columns {
		types[i] = col.Type
	}
	enc, ok := copybin.For(types, dataIsUTC(spec.TimeZone))
	if !ok {
		return spec, nil, false
	}
	spec.Binary = true
	return spec, enc.Encode, true
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

// marksTables are the places a marks table may be for scope, in the
// order they are used: the configured schema's, or flowgate's own; then
// the target schema's (where runs before flowgate had its own schema kept
// them, and where a user who may not create schemas keeps them).
func (c *Conn) marksTables(scope data.MarkScope) (preferred, fallback string) {
	fallback = c.dataTable(scope.Schema, data.MarksTable)
	switch scope.MarksSchema {
	case "":
		preferred = pgx.Identifier{data.OwnSchema, data.OwnMarksTable}.Sanitize()
	case data.OwnSchema:
		preferred = pgx.Identifier{data.OwnSchema, data.OwnMarksTable}.Sanitize()
	default:
		preferred = pgx.Identifier{scope.MarksSchema, data.MarksTable}.Sanitize()
	}
	return preferred, fallback
}

// usableMarks lists the marks tables that exist and this user may write,
// preferred first.
func (c *Conn) usableMarks(ctx context.Context, scope data.MarkScope) ([]string, error) {
	preferred, fallback := c.marksTables(scope)
	var out []string
	for _, name := range []string{preferred, fallback} {
		if len(out) > 0 && out[0] == name {
			continue
		}
		var ok bool
		err := c.pool.QueryRow(ctx, `SELECT coalesce((SELECT has_table_privilege(r, 'SELECT') AND has_table_privilege(r, 'INSERT')
			AND has_schema_privilege((SELECT relnamespace FROM pg_class WHERE oid = r), 'USAGE') FROM to_regclass($1) r WHERE r IS NOT NULL), false)`, name).Scan(&ok)
		if err != nil {
			return nil, fmt.Errorf("find %s: %w", data.MarksTable, err)
		}
		if ok {
			out = append(out, name)
		}
	}
	return out, nil
}

// ensureMarks finds or creates the marks table and returns its name: in
// schema flowgate (or marks_schema), or in the target schema when the user
// may not create that schema or table there. It runs before the import
// transaction, so a concurrent creation cannot abort an import.
func (c *Conn) ensureMarks(ctx context.Context, scope data.MarkScope) (string, error) {
	names, err := c.usableMarks(ctx, scope)
	if err != nil {
		return "", err
	}
	preferred, fallback := c.marksTables(scope)
	if len(names) > 0 && names[0] == preferred {
		return preferred, nil
	}
	sch := scope.MarksSchema
	if sch == "" {
		sch = data.OwnSchema
	}
	err = c.createIgnoringRace(ctx, "CREATE SCHEMA IF NOT EXISTS "+ident(sch))
	if err == nil {
		if err = c.createMarksTable(ctx, preferred); err == nil {
			return preferred, nil
		}
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" || scope.MarksSchema != "" { // insufficient_privilege
		return "", fmt.Errorf("create %s: %w", preferred, err)
	}
	if len(names) > 0 {
		return names[0], nil
	}
	if err := c.createMarksTable(ctx, fallback); err != nil {
		return "", fmt.Errorf("create %s (no privilege for schema %s: %v): %w", fallback, sch, pe.Message, err)
	}
	return fallback, nil
}

func (c *Conn) createMarksTable(ctx context.Context, name string) error {
	return c.createIgnoringRace(ctx, "CREATE TABLE IF NOT EXISTS "+name+
		" (run_id text NOT NULL, file_id text NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, file_id))")
}

// ImportedMarks lists the FileIDs marked for runID in every marks table
// there is (none when there is none yet).
func (c *Conn) ImportedMarks(ctx context.Context, scope data.MarkScope, runID string) ([]string, error) {
	names, err := c.usableMarks(ctx, scope)
	if err != nil {
		return nil, fmt.Errorf("imported marks: %w", err)
	}
	var ids []string
	for _, name := range names {
		rows, err := c.pool.Query(ctx, "SELECT file_id FROM "+name+" WHERE run_id = $1 ORDER BY file_id", runID)
		if err != nil {
			return nil, fmt.Errorf("imported marks: %w", err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("imported marks: %w", err)
		}
		ids = append(ids, got...)
	}
	return ids, nil
}
