package postgres

import (
	"context"
	"fmt"
	"strconv"
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

// ScanUpper implements scanner.Source: now() at the server, or max(col).
func (c *Conn) ScanUpper(ctx context.Context, schemaName, table string, col schema.Column, delay time.Duration, tz string) (string, bool, error) {
	if col.Type.Kind.IsInteger() {
		var v *int64
		if err := c.pool.QueryRow(ctx, "SELECT max("+dataIdent(col.Name)+")::int8 FROM "+c.dataTable(schemaName, table)).Scan(&v); err != nil {
			return "", false, fmt.Errorf("read the largest %s: %w", col.Name, err)
		}
		if v == nil {
			return "", false, nil
		}
		return strconv.FormatInt(*v, 10), true, nil
	}
	var now time.Time
	if err := c.pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&now); err != nil {
		return "", false, fmt.Errorf("read the server clock: %w", err)
	}
	return scanner.UpperTime(now, delay, col.Type.Kind, tz), true, nil
}

// ScanLiteral implements scanner.Source.
func (c *Conn) ScanLiteral(col schema.Column, v string, tz string) string {
	if col.Type.Kind.IsInteger() {
		return v
	}
	cast := map[schema.Kind]string{schema.Date: "date", schema.Timestamp: "timestamp", schema.TimestampTZ: "timestamptz"}[col.Type.Kind]
	lit := "'" + strings.ReplaceAll(v, "'", "''") + "'"
	if cast != "" {
		lit += "::" + cast
	}
	return lit
}

// ScanIdent implements scanner.Source.
func (c *Conn) ScanIdent(name string) string { return dataIdent(name) }

// EmptyTable implements scanner.TxActions with TRUNCATE, which PostgreSQL
// runs inside the transaction: readers keep the old rows until the commit.
func (a *applyTx) EmptyTable(ctx context.Context, t cdc.TableRef) error {
	if err := a.usable(); err != nil {
		return err
	}
	_, err := a.exec(ctx, nil, "TRUNCATE "+a.c.dataTable(t.Schema, t.Name), nil)
	return err
}

// RenameCreate implements scanner.TxActions: ALTER TABLE ... RENAME and
// CREATE TABLE (LIKE ... INCLUDING ALL) in the apply transaction.
func (a *applyTx) RenameCreate(ctx context.Context, t cdc.TableRef, archive string) (bool, error) {
	if err := a.usable(); err != nil {
		return false, err
	}
	name := a.c.dataTable(t.Schema, t.Name)
	arc := a.c.dataTable(t.Schema, archive)
	if _, err := a.exec(ctx, nil, "ALTER TABLE "+name+" RENAME TO "+dataIdent(archive), nil); err != nil {
		return true, err
	}
	_, err := a.exec(ctx, nil, "CREATE TABLE "+name+" (LIKE "+arc+" INCLUDING ALL)", nil)
	return true, err
}

// DeleteIn implements scanner.TxActions.
func (a *applyTx) DeleteIn(ctx context.Context, t cdc.TableRef, column string, values []string) (int64, error) {
	if err := a.usable(); err != nil {
		return 0, err
	}
	if len(values) == 0 {
		return 0, nil
	}
	var b strings.Builder
	b.WriteString("{")
	for i, v := range values {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`)
	}
	b.WriteString("}")
	res, err := a.exec(ctx, nil, "DELETE FROM "+a.c.dataTable(t.Schema, t.Name)+" WHERE "+dataIdent(column)+"::text = ANY($1::text[])", [][]byte{[]byte(b.String())})
	if err != nil {
		return 0, err
	}
	return res.CommandTag.RowsAffected(), nil
}
