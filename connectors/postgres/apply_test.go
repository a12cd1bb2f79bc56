package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/cdc/cdctest"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/internal/testbed"
)

// openApply opens a datasource on database db (as user/password when
// given) and a separate admin connection to the same database.
func openApply(t *testing.T, pg *testbed.PG, db string, o map[string]string) (*postgres.Conn, *pgx.Conn) {
	t.Helper()
	if o == nil {
		o = opts(pg)
	}
	o["database"] = db
	full, err := postgres.Type().Validate(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := postgres.Type().Open(full)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*postgres.Conn), pg.Connect(t, db)
}

func target(c *postgres.Conn, other *pgx.Conn) *cdctest.Target {
	return &cdctest.Target{
		Dialect: schema.Postgres, Applier: c, DDL: c, Importer: c, Exporter: c,
		TimeZone: "Asia/Shanghai",
		Exec: func(t testing.TB, q string) {
			t.Helper()
			if _, err := other.Exec(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		},
		Query: func(t testing.TB, q string) [][]*string {
			t.Helper()
			rows, err := other.Query(context.Background(), q, pgx.QueryResultFormats{pgx.TextFormatCode})
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			defer rows.Close()
			var out [][]*string
			for rows.Next() {
				var r []*string
				for _, v := range rows.RawValues() {
					if v == nil {
						r = append(r, nil)
					} else {
						s := string(v)
						r = append(r, &s)
					}
				}
				out = append(out, r)
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return out
		},
		ColumnType: func(t testing.TB, table, column string) (string, bool) {
			t.Helper()
			var typ string
			var nullable bool
			if err := other.QueryRow(context.Background(), `SELECT format_type(atttypid, atttypmod), NOT attnotnull FROM pg_attribute
				WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped`, table, column).Scan(&typ, &nullable); err != nil {
				t.Fatalf("column %s.%s: %v", table, column, err)
			}
			return typ, nullable
		},
		DBError: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe)
		},
	}
}

func TestApply(t *testing.T) {
	pg := testbed.Postgres(t)
	cdctest.Run(t, func(t *testing.T) *cdctest.Target {
		return target(openApply(t, pg, pg.NewDatabase(t, "apply"), nil))
	})
}

// The checkpoint table is flowgate.cdc_checkpoints where the user may
// create the schema, else flowgate_cdc_checkpoints in the datasource's
// schema.
func TestApplyCheckpointTables(t *testing.T) {
	pg := testbed.Postgres(t)
	role := fmt.Sprintf("fg_apply_%d", time.Now().UnixNano()%1e9)
	admin := pg.Connect(t, "")
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD 'apply-pw-4711'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) }) // after the database goes
	db := pg.NewDatabase(t, "applycp")

	// A superuser gets the flowgate schema.
	c, other := openApply(t, pg, db, nil)
	tg := target(c, other)
	it := cdctest.Create(t, tg, "items", 1, cdctest.Col("id", schema.Int32), cdctest.Col("v", schema.Text))
	cdctest.Apply(t, tg, "job1", "0/1", cdctest.Ins(it, 1, "a"))
	cdctest.Want(t, tg, "SELECT job, position FROM flowgate.cdc_checkpoints", `"job1" | "0/1"`)

	// A user who may create only in schema app gets app.flowgate_cdc_checkpoints.
	tg.Exec(t, "CREATE SCHEMA app AUTHORIZATION "+role)
	o := opts(pg)
	o["user"], o["password"], o["schema"] = role, "apply-pw-4711", "app"
	weak, _ := openApply(t, pg, db, o)
	if _, err := weak.Pool().Exec(ctx, "CREATE TABLE app.items (id int PRIMARY KEY, v text)"); err != nil {
		t.Fatal(err)
	}
	weakTg := target(weak, other)
	appItems := &cdc.TargetTable{Table: cdc.TableRef{Name: "items"}, Columns: it.Columns, Key: it.Key} // "" = the datasource's schema app
	spec := cdc.ApplySpec{Job: "job2"}
	tx, err := weak.Begin(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(ctx, []cdc.MappedChange{cdctest.Ins(appItems, 2, "b")}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, "0/2"); err != nil {
		t.Fatal(err)
	}
	cdctest.Want(t, weakTg, "SELECT job, position FROM app.flowgate_cdc_checkpoints", `"job2" | "0/2"`)
	cdctest.Want(t, weakTg, "SELECT id, v FROM app.items", `"2" | "b"`)
	cdctest.Want(t, weakTg, "SELECT job FROM flowgate.cdc_checkpoints", `"job1"`)
	if pos, ok, err := weak.Checkpoint(ctx, spec); err != nil || !ok || pos != "0/2" {
		t.Errorf("checkpoint %q %v %v", pos, ok, err)
	}
	if err := weak.ClearCheckpoint(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if pos, ok, err := weak.Checkpoint(ctx, spec); err != nil || ok {
		t.Errorf("after clear: %q %v %v", pos, ok, err)
	}
}

// Emptying a table that another table references: TRUNCATE is refused,
// DELETE does it, in the apply transaction and in a replacing import.
func TestApplyTruncateReferenced(t *testing.T) {
	pg := testbed.Postgres(t)
	tg := target(openApply(t, pg, pg.NewDatabase(t, "applyfk"), nil))
	it := cdctest.Create(t, tg, "parent", 1, cdctest.Col("id", schema.Int32), cdctest.Col("v", schema.Text))
	tg.Exec(t, "CREATE TABLE child (id int PRIMARY KEY, parent int REFERENCES parent)")
	cdctest.Apply(t, tg, "j", "1", cdctest.Ins(it, 1, "a"), cdctest.Ins(it, 2, "b"))
	cdctest.Apply(t, tg, "j", "2", cdctest.Trunc(it), cdctest.Ins(it, 3, "c"))
	cdctest.Want(t, tg, "SELECT id, v FROM parent", `"3" | "c"`)
	if _, err := tg.Importer.Import(cdctest.Ctx(t), data.ImportSpec{Table: "parent", Columns: it.Columns, Replace: true}, strings.NewReader("4,d\n")); err != nil {
		t.Fatal(err)
	}
	cdctest.Want(t, tg, "SELECT id, v FROM parent", `"4" | "d"`)
	// A row still referenced stops both, with PostgreSQL's error.
	tg.Exec(t, "INSERT INTO child VALUES (1, 4)")
	tx, err := tg.Applier.Begin(cdctest.Ctx(t), cdc.ApplySpec{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	err = tx.Apply(cdctest.Ctx(t), []cdc.MappedChange{cdctest.Trunc(it)})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23503" || !strings.Contains(err.Error(), "apply to parent: ") {
		t.Errorf("truncate of a referenced row: %v", err)
	}
}
