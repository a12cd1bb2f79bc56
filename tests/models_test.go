package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
)

type columnRow struct {
	Name      string
	Ordinal   int64
	Type      string
	Length    *int64
	Precision *int64
	Scale     *int64
	Nullable  bool
	PK        bool
	Comment   *string
}

func modelColumns(t testing.TB, c *pgx.Conn, table string) []columnRow {
	t.Helper()
	rows, err := c.Query(context.Background(), `SELECT name, ordinal, type, length, precision, scale, nullable, primary_key, comment
		FROM dataflow.columns WHERE table_name = $1 ORDER BY ordinal`, table)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[columnRow])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func names(cols []columnRow) string {
	var s []string
	for _, c := range cols {
		s = append(s, c.Name)
	}
	return strings.Join(s, ",")
}

func i64(p *int64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func TestTableModelsFromRealMySQL(t *testing.T) {
	ctx := context.Background()
	my := testbed.MySQL(t)
	db := my.NewDatabase(t, "models")
	m := my.Open(t, db)
	for _, s := range []string{
		`CREATE TABLE orders (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, amount decimal(12,2) NOT NULL DEFAULT 0.00,
			note varchar(64) COMMENT 'free text', created_at datetime(3) DEFAULT CURRENT_TIMESTAMP(3)) COMMENT 'all orders'`,
		`CREATE TABLE customers (id int PRIMARY KEY, name varchar(20) NOT NULL)`,
	} {
		if _, err := m.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)
	mustExec(t, c, mysqlDatasourceSQL("shop", my, my.Password, db))

	rows, err := c.Query(ctx, "IMPORT TABLES FROM shop")
	if err != nil {
		t.Fatal(err)
	}
	type importRow struct {
		Schema, Table, Status string
		Columns               *int64
		Message               string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[importRow])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Table != "customers" || got[1].Table != "orders" || got[1].Status != "created" || *got[1].Columns != 4 || got[1].Schema != db {
		t.Fatalf("IMPORT TABLES rows = %+v", got)
	}
	cols := modelColumns(t, c, "orders")
	if names(cols) != "id,amount,note,created_at" {
		t.Fatalf("columns = %s", names(cols))
	}
	amount, note, id := cols[1], cols[2], cols[0]
	if i64(amount.Precision) != "12" || i64(amount.Scale) != "2" || amount.Nullable || amount.PK {
		t.Fatalf("amount = %+v (precision %s scale %s)", amount, i64(amount.Precision), i64(amount.Scale))
	}
	if i64(note.Length) != "64" || !note.Nullable || deref(note.Comment) != "free text" {
		t.Fatalf("note = %+v", note)
	}
	if !id.PK || id.Nullable {
		t.Fatalf("id = %+v", id)
	}
	var comment, ds string
	if err := c.QueryRow(ctx, "SELECT comment, datasource FROM dataflow.tables WHERE name = 'orders'").Scan(&comment, &ds); err != nil || comment != "all orders" || ds != "shop" {
		t.Fatalf("dataflow.tables: %q %q %v", comment, ds, err)
	}

	// Unchanged on a second import; updated after ALTER TABLE at the source.
	var status string
	c.QueryRow(ctx, "IMPORT TABLES FROM shop (orders)").Scan(nil, nil, &status, nil, nil)
	if status != "unchanged" {
		t.Fatalf("second import status = %q", status)
	}
	if _, err := m.Exec(`ALTER TABLE orders ADD COLUMN paid tinyint(1) NOT NULL DEFAULT 0 AFTER amount`); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "REFRESH TABLES FROM shop (orders)").Scan(nil, nil, &status, nil, nil); err != nil || status != "updated" {
		t.Fatalf("refresh status = %q, %v", status, err)
	}
	if got := names(modelColumns(t, c, "orders")); got != "id,amount,paid,note,created_at" {
		t.Fatalf("after refresh columns = %s", got)
	}
	// A table dropped at the source is reported and marked, not kept as current.
	if _, err := m.Exec(`DROP TABLE customers`); err != nil {
		t.Fatal(err)
	}
	rows, _ = c.Query(ctx, "REFRESH TABLES FROM shop")
	got, err = pgx.CollectRows(rows, pgx.RowToStructByPos[importRow])
	if err != nil || len(got) != 2 || got[0].Status != "dropped_at_source" || got[1].Status != "unchanged" {
		t.Fatalf("refresh all = %+v %v", got, err)
	}
	var state string
	c.QueryRow(ctx, "SELECT state FROM dataflow.table_datasources WHERE table_name = 'customers' AND datasource = 'shop'").Scan(&state)
	if state != "dropped_at_source" {
		t.Fatalf("customers state = %q", state)
	}

	// Bad input.
	_, err = c.Exec(ctx, "IMPORT TABLES FROM nosuch")
	wantCode(t, err, "42704")
	_, err = c.Exec(ctx, "IMPORT TABLES FROM shop (nosuch)")
	pe := wantCode(t, err, "42704")
	if !strings.Contains(pe.Message, "nosuch") {
		t.Fatalf("message does not name the table: %s", pe.Message)
	}
	_, err = c.Exec(ctx, "REFRESH TABLES FROM shop (never_imported)")
	wantCode(t, err, "42704")
	mustExec(t, c, "DROP DATASOURCE shop")
	_, err = c.Exec(ctx, "IMPORT TABLES FROM shop")
	wantCode(t, err, "55000")
	mustExec(t, c, "RESTORE DATASOURCE shop")
	// The session is still usable after all of that.
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM dataflow.columns").Scan(&n); err != nil || n != 7 {
		t.Fatalf("columns count = %d, %v", n, err)
	}
}

func TestHandMadeTableModels(t *testing.T) {
	ctx := context.Background()
	g := startGateway(t)
	execModes(t, func(t *testing.T, mode pgx.QueryExecMode) {
		c := g.connect(t, "admin", mode)
		tbl := "hand_" + strings.ToLower(strings.NewReplacer("_", "", " ", "").Replace(mode.String()))
		mustExec(t, c, `CREATE TABLE MODEL `+tbl+` (id bigint PRIMARY KEY, name varchar(20) NOT NULL COMMENT 'who',
			score numeric(5,2), born date) TITLE 'Hand made' COMMENT 'by hand'`)
		cols := modelColumns(t, c, tbl)
		if names(cols) != "id,name,score,born" || !cols[0].PK || cols[0].Nullable || i64(cols[1].Length) != "20" || deref(cols[1].Comment) != "who" || i64(cols[2].Precision) != "5" {
			t.Fatalf("columns = %+v", cols)
		}
		for _, s := range []string{
			"ALTER TABLE MODEL " + tbl + " ADD COLUMN note text",
			"ALTER TABLE MODEL " + tbl + " MOVE COLUMN note FIRST",
			"ALTER TABLE MODEL " + tbl + " MOVE COLUMN born AFTER id",
			"ALTER TABLE MODEL " + tbl + " RENAME COLUMN score TO points",
			"ALTER TABLE MODEL " + tbl + " ALTER COLUMN points TYPE numeric(7,3)",
			"ALTER TABLE MODEL " + tbl + " DROP COLUMN name",
		} {
			mustExec(t, c, s)
		}
		cols = modelColumns(t, c, tbl)
		if names(cols) != "note,id,born,points" || i64(cols[3].Precision) != "7" || i64(cols[3].Scale) != "3" {
			t.Fatalf("after alters: %s %+v", names(cols), cols)
		}
		for i, col := range cols {
			if col.Ordinal != int64(i+1) {
				t.Fatalf("ordinals not dense: %+v", cols)
			}
		}
		_, err := c.Exec(ctx, "ALTER TABLE MODEL "+tbl+" MOVE COLUMN note AFTER nosuch")
		pe := wantCode(t, err, "42703")
		if pe.Position == 0 {
			t.Fatalf("no position for the missing column")
		}
		_, err = c.Exec(ctx, "ALTER TABLE MODEL "+tbl+" ADD COLUMN id int")
		wantCode(t, err, "42701")
		_, err = c.Exec(ctx, "ALTER TABLE MODEL "+tbl+" DROP COLUMN nosuch")
		wantCode(t, err, "42703")
		_, err = c.Exec(ctx, "ALTER TABLE MODEL "+tbl+" ADD COLUMN bad nosuchtype")
		wantCode(t, err, "42704")
		_, err = c.Exec(ctx, "CREATE TABLE MODEL "+tbl+" (a int)")
		wantCode(t, err, "42710")
		mustExec(t, c, "CREATE TABLE MODEL IF NOT EXISTS "+tbl+" (a int)")
		_, err = c.Exec(ctx, "CREATE TABLE MODEL "+tbl+"_x (a int PRIMARY KEY, b int, PRIMARY KEY (b))")
		wantCode(t, err, "42P16")
		_, err = c.Exec(ctx, "ALTER TABLE MODEL nosuch_"+tbl+" DROP COLUMN a")
		wantCode(t, err, "42704")

		// Association with datasources.
		ds := "files_" + tbl
		mustExec(t, c, "CREATE DATASOURCE "+ds+" TYPE file OPTIONS (path '"+t.TempDir()+"')")
		mustExec(t, c, "ASSOCIATE TABLE "+tbl+" WITH "+ds)
		_, err = c.Exec(ctx, "ASSOCIATE TABLE "+tbl+" WITH "+ds)
		wantCode(t, err, "42710")
		var n int
		c.QueryRow(ctx, "SELECT count(*) FROM dataflow.table_datasources WHERE table_name = $1 AND datasource = $2 AND origin = 'associated'", tbl, ds).Scan(&n)
		if n != 1 {
			t.Fatalf("association rows = %d", n)
		}
		mustExec(t, c, "DISSOCIATE TABLE "+tbl+" FROM "+ds)
		_, err = c.Exec(ctx, "DISSOCIATE TABLE "+tbl+" FROM "+ds)
		wantCode(t, err, "42704")
		mustExec(t, c, "DROP TABLE MODEL "+tbl)
		mustExec(t, c, "DROP TABLE MODEL IF EXISTS "+tbl)
		_, err = c.Exec(ctx, "DROP TABLE MODEL "+tbl)
		wantCode(t, err, "42704")
	})
}
