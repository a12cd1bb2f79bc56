package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/scanner"
	"github.com/flowgate/flowgate/connectors/schema"
)

var (
	_ scanner.Source    = (*Conn)(nil)
	_ scanner.TxActions = (*applyTx)(nil)
)

// ScanUpper implements scanner.Source: UTC_TIMESTAMP(6) at the server, or
// max(col).
func (c *Conn) ScanUpper(ctx context.Context, db, table string, col schema.Column, delay time.Duration, tz string) (string, bool, error) {
	if col.Type.Kind.IsInteger() {
		var v sql.NullString
		if err := c.db.QueryRowContext(ctx, "SELECT CAST(max("+dataQuote(col.Name)+") AS CHAR) FROM "+c.dataTable(db, table)).Scan(&v); err != nil {
			return "", false, fmt.Errorf("read the largest %s: %w", col.Name, err)
		}
		return v.String, v.Valid, nil
	}
	var s string
	if err := c.db.QueryRowContext(ctx, "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%d %H:%i:%s.%f')").Scan(&s); err != nil {
		return "", false, fmt.Errorf("read the server clock: %w", err)
	}
	now, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, time.UTC)
	if err != nil {
		return "", false, fmt.Errorf("read the server clock: %w", err)
	}
	return scanner.UpperTime(now, delay, col.Type.Kind, tz), true, nil
}

// ScanLiteral implements scanner.Source: a timestamp (an instant, +00) is
// written in the session time zone tz, which MySQL reads literals in.
func (c *Conn) ScanLiteral(col schema.Column, v string, tz string) string {
	if col.Type.Kind.IsInteger() {
		return v
	}
	if col.Type.Kind == schema.TimestampTZ {
		if t, _, err := data.ParseTimestamp([]byte(v)); err == nil {
			loc := time.UTC
			if l, err := time.LoadLocation(tz); err == nil && tz != "" {
				loc = l
			}
			v = t.In(loc).Format("2006-01-02 15:04:05.999999")
		}
	}
	return dataLiteral(v)
}

// ScanIdent implements scanner.Source.
func (c *Conn) ScanIdent(name string) string { return dataQuote(name) }

// EmptyTable implements scanner.TxActions with DELETE (TRUNCATE would
// commit the transaction).
func (a *applyTx) EmptyTable(ctx context.Context, t cdc.TableRef) error {
	if err := a.usable(); err != nil {
		return err
	}
	_, err := a.tx.ExecContext(ctx, "DELETE FROM "+a.c.dataTable(t.Schema, t.Name))
	return err
}

// RenameCreate implements scanner.TxActions: CREATE TABLE ... LIKE a new
// table, then RENAME TABLE t TO archive, new TO t, which MySQL does in one
// step (a reader finds either table, never none). DDL commits by itself in
// MySQL, so this is not part of the apply transaction.
func (a *applyTx) RenameCreate(ctx context.Context, t cdc.TableRef, archive string) (bool, error) {
	if err := a.usable(); err != nil {
		return false, err
	}
	name := a.c.dataTable(t.Schema, t.Name)
	tmp := a.c.dataTable(t.Schema, archive+"_new")
	if _, err := a.c.db.ExecContext(ctx, "CREATE TABLE "+tmp+" LIKE "+name); err != nil {
		return false, err
	}
	if _, err := a.c.db.ExecContext(ctx, "RENAME TABLE "+name+" TO "+a.c.dataTable(t.Schema, archive)+", "+tmp+" TO "+name); err != nil {
		a.c.db.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+tmp)
		return false, err
	}
	return false, nil
}

// DeleteIn implements scanner.TxActions.
func (a *applyTx) DeleteIn(ctx context.Context, t cdc.TableRef, column string, values []string) (int64, error) {
	if err := a.usable(); err != nil {
		return 0, err
	}
	var total int64
	for len(values) > 0 {
		n := min(len(values), 1000)
		args := make([]any, n)
		for i, v := range values[:n] {
			args[i] = v
		}
		res, err := a.tx.ExecContext(ctx, "DELETE FROM "+a.c.dataTable(t.Schema, t.Name)+" WHERE "+dataQuote(column)+" IN (?"+strings.Repeat(", ?", n-1)+")", args...)
		if err != nil {
			return total, err
		}
		k, _ := res.RowsAffected()
		total += k
		values = values[n:]
	}
	return total, nil
}
