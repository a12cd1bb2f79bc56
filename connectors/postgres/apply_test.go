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

	// Once the user may use flowgate's table, the checkpoint is still
	// found in the fallback, and the next commit goes to flowgate's.
	tg.Exec(t, "GRANT USAGE ON SCHEMA flowgate TO "+role)
	tg.Exec(t, "GRANT SELECT, INSERT, UPDATE, DELETE ON flowgate.cdc_checkpoints TO "+role)
	if pos, ok, err := weak.Checkpoint(ctx, spec); err != nil || !ok || pos != "0/2" {
		t.Errorf("checkpoint after the grant %q %v %v", pos, ok, err)
	}
	if tx, err = weak.Begin(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, "0/3"); err != nil {
		t.Fatal(err)
	}
	cdctest.Want(t, weakTg, "SELECT job, position FROM flowgate.cdc_checkpoints ORDER BY job", `"job1" | "0/1"`, `"job2" | "0/3"`)
	if pos, ok, err := weak.Checkpoint(ctx, spec); err != nil || !ok || pos != "0/3" {
		t.Errorf("checkpoint %q %v %v", pos, ok, err)
	}
	if err := weak.ClearCheckpoint(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if pos, ok, err := weak.Checkpoint(ctx, spec); err != nil || ok {
		t.Errorf("after clear: %q %v %v", pos, ok, err)
	}
	cdctest.Want(t, weakTg, "SELECT count(*) FROM app.flowgate_cdc_checkpoints", `"0"`)
	cdctest.Want(t, weakTg, "SELECT job FROM flowgate.cdc_checkpoints", `"job1"`)
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

// PostgreSQL types through every statement shape: the multi-row upsert
// (types from the INSERT), the update of some columns (VALUES cast to each
// column's base type, then assigned), the key move and the delete.
func TestApplyPostgresTypes(t *testing.T) {
	pg := testbed.Postgres(t)
	tg := target(openApply(t, pg, pg.NewDatabase(t, "applytypes"), nil))
	tg.Exec(t, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
	tg.Exec(t, "CREATE DOMAIN short_text AS varchar(5) CHECK (VALUE <> 'bad')")
	tg.Exec(t, `CREATE TABLE pt (k uuid, n int, b5 bit(5), vb varbit(8), ia int[], ta text[], jb jsonb, iv interval,
		ch char(3), m mood, st short_text, tstz timestamptz(3), keep text, PRIMARY KEY (k, n))`)
	cols := []schema.Column{cdctest.Col("k", schema.UUID), cdctest.Col("n", schema.Int32), {Name: "b5", Type: schema.Type{Kind: schema.Bit, Length: 5}},
		{Name: "vb", Type: schema.Type{Kind: schema.Bit}}, {Name: "ia", Type: schema.Type{Kind: schema.Array, Elem: &schema.Type{Kind: schema.Int32}}},
		{Name: "ta", Type: schema.Type{Kind: schema.Array, Elem: &schema.Type{Kind: schema.Text}}}, cdctest.Col("jb", schema.JSON),
		cdctest.Col("iv", schema.Interval), {Name: "ch", Type: schema.Type{Kind: schema.Char, Length: 3}}, cdctest.Col("m", schema.Enum),
		cdctest.Col("st", schema.Varchar), cdctest.Col("tstz", schema.TimestampTZ), cdctest.Col("keep", schema.Text)}
	tt := &cdc.TargetTable{Table: cdc.TableRef{Name: "pt"}, Columns: cols, Key: []int{0, 1}}
	const k1, k2 = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a22"
	u := cdctest.Unchanged
	cdctest.Apply(t, tg, "j", "1",
		cdctest.Ins(tt, k1, "1", "10101", "1", "{1,NULL,3}", `{"a b","c,d",NULL}`, `{"x": [1, 2]}`, "1 day 02:03:04", "ab", "ok", "short", "2024-01-01 00:00:00.123+00", "kept"),
		cdctest.Ins(tt, k2, "2", "00000", nil, "{}", "{}", "null", "-1 mons", "abc", "sad", "", "2024-01-01 00:00:00+05", "kept2"))
	cdctest.Apply(t, tg, "j", "2",
		cdctest.Upd(tt, k1, "1", "11111", "10101010", "{4}", `{"\"q\""}`, `[true]`, "00:00:00.000001", "x", "happy", "fine", "1999-12-31 23:59:59.999+00", u),
		cdctest.Upd(tt, k2, "2", nil, "", nil, nil, nil, nil, nil, nil, nil, nil, u),
		cdctest.Move(tt, []any{k2, "2"}, k2, "3", u, u, u, u, u, u, u, u, u, "2000-01-01 00:00:00+00", u))
	cdctest.Want(t, tg, "SELECT k, n, b5, vb, ia, ta, jb, iv, ch, m, st, tstz, keep FROM pt ORDER BY k",
		`"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" | "1" | "11111" | "10101010" | "{4}" | "{\"\\\"q\\\"\"}" | "[true]" | "00:00:00.000001" | "x  " | "happy" | "fine" | "1999-12-31 23:59:59.999+00" | "kept"`,
		`"b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a22" | "3" | NULL | "" | NULL | NULL | NULL | NULL | NULL | NULL | NULL | "2000-01-01 00:00:00+00" | "kept2"`)
	// The columns' own checks still apply: bit length, domain, enum.
	for _, bad := range [][]any{
		{k1, "1", "111", u, u, u, u, u, u, u, u, u, u},
		{k1, "1", u, u, u, u, u, u, u, u, "bad", u, u},
		{k1, "1", u, u, u, u, u, u, u, "angry", u, u, u},
		{k1, "1", u, u, u, u, u, u, u, u, "toolong", u, u},
	} {
		tx, err := tg.Applier.Begin(cdctest.Ctx(t), cdc.ApplySpec{Job: "j"})
		if err != nil {
			t.Fatal(err)
		}
		err = tx.Apply(cdctest.Ctx(t), []cdc.MappedChange{cdctest.Upd(tt, bad...)})
		if err == nil {
			err = tx.Apply(cdctest.Ctx(t), nil) // reported at the next call
		}
		t.Logf("%v", err)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Errorf("%v: %v", bad, err)
		}
		tx.Rollback()
	}
	cdctest.Apply(t, tg, "j", "3", cdctest.Del(tt, k1, "1"), cdctest.Del(tt, k2, "3"))
	cdctest.Want(t, tg, "SELECT count(*) FROM pt", `"0"`)
}

// A NUL byte in text: PostgreSQL's error, with what it means.
func TestApplyNUL(t *testing.T) {
	pg := testbed.Postgres(t)
	tg := target(openApply(t, pg, pg.NewDatabase(t, "applynul"), nil))
	it := cdctest.Create(t, tg, "items", 1, cdctest.Col("id", schema.Int32), cdctest.Col("v", schema.Text))
	tx, err := tg.Applier.Begin(cdctest.Ctx(t), cdc.ApplySpec{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	err = tx.Apply(cdctest.Ctx(t), []cdc.MappedChange{cdctest.Ins(it, 1, "a\x00b")})
	if err == nil {
		err = tx.Apply(cdctest.Ctx(t), nil) // reported at the next call
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "22021" || !strings.Contains(err.Error(), "apply to items: a text value contains a NUL byte") {
		t.Errorf("NUL: %v", err)
	}
}

// char(n) keeps its characters through the multi-row statements, which
// cast to the column's base type: bpchar, not character (character(1)).
func TestApplyChar(t *testing.T) {
	pg := testbed.Postgres(t)
	tg := target(openApply(t, pg, pg.NewDatabase(t, "applychar"), nil))
	tg.Exec(t, "CREATE TABLE ch (id int PRIMARY KEY, c char(4), cs char(3)[], other text)")
	tt := &cdc.TargetTable{Table: cdc.TableRef{Name: "ch"}, Key: []int{0}, Columns: []schema.Column{cdctest.Col("id", schema.Int32),
		{Name: "c", Type: schema.Type{Kind: schema.Char, Length: 4}}, {Name: "cs", Type: schema.Type{Kind: schema.Array, Elem: &schema.Type{Kind: schema.Char, Length: 3}}},
		cdctest.Col("other", schema.Text)}}
	noArr := &cdc.TargetTable{Table: tt.Table, Key: tt.Key, Columns: []schema.Column{tt.Columns[0], tt.Columns[1], tt.Columns[3]}}
	u := cdctest.Unchanged
	// Without an array column the rows go as one array per column (unnest).
	cdctest.Apply(t, tg, "j", "1", cdctest.Ins(noArr, 1, "abcd", "x"), cdctest.Ins(noArr, 2, "ab", "y"), cdctest.Upd(noArr, 3, "wxyz", "z"),
		cdctest.Upd(noArr, 4, "vw", "w"))
	cdctest.Want(t, tg, "SELECT id, c, other FROM ch ORDER BY id", `"1" | "abcd" | "x"`, `"2" | "ab  " | "y"`, `"3" | "wxyz" | "z"`, `"4" | "vw  " | "w"`)
	// An update of some columns casts its VALUES to the base type.
	cdctest.Apply(t, tg, "j", "2", cdctest.Upd(tt, 1, "efgh", "{abc,de}", u), cdctest.Upd(tt, 2, "ijk", "{fgh}", u))
	cdctest.Want(t, tg, "SELECT id, c, cs, other FROM ch ORDER BY id",
		`"1" | "efgh" | "{abc,\"de \"}" | "x"`, `"2" | "ijk " | "{fgh}" | "y"`, `"3" | "wxyz" | NULL | "z"`, `"4" | "vw  " | NULL | "w"`)
}
