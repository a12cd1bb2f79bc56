package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/scanner"
	"github.com/flowgate/flowgate/connectors/schema"
)

var (
	_ scanner.Source    = (*Conn)(nil)
	_ scanner.TxActions = (*applyTx)(nil)
)

// ScanUpper implements scanner.Source: SQLite has no server, so the clock
// is this host's; integers read max(col).
func (c *Conn) ScanUpper(ctx context.Context, schemaName, table string, col schema.Column, delay time.Duration, tz string) (string, bool, error) {
	if col.Type.Kind.IsInteger() {
		var v sql.NullString
		if err := c.db.QueryRowContext(ctx, "SELECT CAST(max("+dataQuote(col.Name)+") AS TEXT) FROM "+dataTable(schemaName, table)).Scan(&v); err != nil {
			return "", false, fmt.Errorf("read the largest %s: %w", col.Name, err)
		}
		return v.String, v.Valid, nil
	}
	return scanner.UpperTime(time.Now(), delay, col.Type.Kind, tz), true, nil
}

// ScanLiteral implements scanner.Source: SQLite compares dates as the
// text they are stored as, canonical YYYY-MM-DD HH:MM:SS[.ffffff].
func (c *Conn) ScanLiteral(col schema.Column, v string, tz string) string {
	if col.Type.Kind.IsInteger() {
		return v
	}
	return "'" + strings.ReplaceAll(strings.TrimSuffix(v, "+00"), "'", "''") + "'"
}

// ScanIdent implements scanner.Source.
func (c *Conn) ScanIdent(name string) string { return dataQuote(name) }

// EmptyTable implements scanner.TxActions.
func (a *applyTx) EmptyTable(ctx context.Context, t cdc.TableRef) error {
	if err := a.usable(); err != nil {
		return err
	}
	_, err := a.conn.ExecContext(ctx, "DELETE FROM "+dataTable(t.Schema, t.Name))
	return err
}

// RenameCreate implements scanner.TxActions inside the transaction: the
// table's CREATE statement and its indexes' are read from sqlite_master,
// the table is renamed, its named indexes (which went with it) are dropped
// and the statements run again, so the new table has the same columns,
// keys and indexes (the archive keeps its inline keys).
func (a *applyTx) RenameCreate(ctx context.Context, t cdc.TableRef, archive string) (bool, error) {
	if err := a.usable(); err != nil {
		return false, err
	}
	master := "sqlite_master"
	if t.Schema != "" && t.Schema != "main" {
		master = dataQuote(t.Schema) + ".sqlite_master"
	}
	rows, err := a.conn.QueryContext(ctx, "SELECT type, name, sql FROM "+master+" WHERE tbl_name = ? AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type = 'index', name", t.Name)
	if err != nil {
		return true, err
	}
	type obj struct{ typ, name, sql string }
	var objs []obj
	for rows.Next() {
		var o obj
		if err := rows.Scan(&o.typ, &o.name, &o.sql); err != nil {
			rows.Close()
			return true, err
		}
		objs = append(objs, o)
	}
	rows.Close()
	if len(objs) == 0 || objs[0].typ != "table" {
		return true, fmt.Errorf("table %s not found", t.Name)
	}
	if _, err := a.conn.ExecContext(ctx, "ALTER TABLE "+dataTable(t.Schema, t.Name)+" RENAME TO "+dataQuote(archive)); err != nil {
		return true, err
	}
	for _, o := range objs[1:] {
		if _, err := a.conn.ExecContext(ctx, "DROP INDEX "+dataTable(t.Schema, o.name)); err != nil {
			return true, err
		}
	}
	for _, o := range objs {
		if _, err := a.conn.ExecContext(ctx, o.sql); err != nil {
			return true, fmt.Errorf("create %s again: %w", o.name, err)
		}
	}
	return true, nil
}

// DeleteIn implements scanner.TxActions.
func (a *applyTx) DeleteIn(ctx context.Context, t cdc.TableRef, column string, values []string) (int64, error) {
	if err := a.usable(); err != nil {
		return 0, err
	}
	var total int64
	for len(values) > 0 {
		n := min(len(values), 500)
		args := make([]any, n)
		for i, v := range values[:n] {
			args[i] = v
		}
		res, err := a.conn.ExecContext(ctx, "DELETE FROM "+dataTable(t.Schema, t.Name)+" WHERE "+dataQuote(column)+" IN (?"+strings.Repeat(", ?", n-1)+")", args...)
		if err != nil {
			return total, err
		}
		k, _ := res.RowsAffected()
		total += k
		values = values[n:]
	}
	return total, nil
}
