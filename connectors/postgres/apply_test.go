package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// The conformance scenarios with every run of two rows or more written
// through the COPY staging path.
func TestApplyStaged(t *testing.T) {
	defer postgres.SetApplyCopyRows(2)()
	pg := testbed.Postgres(t)
	cdctest.Run(t, func(t *testing.T) *cdctest.Target {
		return target(openApply(t, pg, pg.NewDatabase(t, "applystaged"), nil))
	})
}

// copyTable is a table with awkward types and columns the job does not
// map: a generated column, an identity and a NOT NULL column with a
// default.
const copyTable = `CREATE TABLE %s (id bigint PRIMARY KEY, n numeric(12,2), ts timestamptz, tsl timestamp, b bytea, t text,
	ch char(4), ia int[], j jsonb, f double precision, g bigint GENERATED ALWAYS AS (id * 2) STORED,
	seq bigint GENERATED BY DEFAULT AS IDENTITY, d text NOT NULL DEFAULT 'dflt')`

func copyTarget(name string) *cdc.TargetTable {
	arr := func(k schema.Kind) schema.Type { return schema.Type{Kind: schema.Array, Elem: &schema.Type{Kind: k}} }
	return &cdc.TargetTable{Table: cdc.TableRef{Name: name}, Key: []int{0}, Columns: []schema.Column{
		cdctest.Col("id", schema.Int64), {Name: "n", Type: schema.Type{Kind: schema.Decimal, Precision: 12, Scale: 2}},
		cdctest.Col("ts", schema.TimestampTZ), cdctest.Col("tsl", schema.Timestamp), cdctest.Col("b", schema.Blob),
		cdctest.Col("t", schema.Text), {Name: "ch", Type: schema.Type{Kind: schema.Char, Length: 4}}, {Name: "ia", Type: arr(schema.Int32)},
		cdctest.Col("j", schema.JSON), cdctest.Col("f", schema.Float64)}}
}

// copyRow is row i of version v of copyTable's mapped columns; every
// 7th value is NULL and the text holds what COPY's text format escapes.
func copyRow(i, v int) []any {
	texts := []string{"tab\there", "new\nline", `back\slash`, "cr\rlf\r\n", `\N`, `\.`, "quote ' \" and , comma", "naïve ünïcödé", "", " spaced "}
	floats := []string{"1e-07", "NaN", "Infinity", "-0", "3.141592653589793"}
	row := []any{
		strconv.Itoa(i),
		fmt.Sprintf("%d.%03d", i*v, i%1000), // rounded to 2 places
		fmt.Sprintf("2024-01-%02d %02d:04:05.%06d", 1+i%28, i%24, i*v%1000000), // no offset: the session's zone
		fmt.Sprintf("1999-12-31 23:59:%02d.5", i%60),
		fmt.Sprintf(`\x%02x00ff5c09%02x`, i%256, v),
		fmt.Sprintf("%s #%d v%d", texts[i%len(texts)], i, v),
		[]string{"ab", "abcd", "", "a\tb"}[i%4],
		fmt.Sprintf("{%d,NULL,%d}", i, v),
		fmt.Sprintf(`{"k": "v\tw\\n", "i": %d, "u": "\u00e9"}`, i),
		floats[(i+v)%len(floats)],
	}
	for c := 1; c < len(row); c++ {
		if (i+c)%7 == 0 {
			row[c] = nil
		}
	}
	return row
}

// The COPY path leaves exactly what the statement path leaves: a large
// run of upserts over new and existing keys, with keys repeated within
// it, a delete between two runs of the same table in one Apply (the
// staging table is emptied between them), awkward values, NULLs, a
// session time zone and columns the job does not map.
func TestApplyCopyMatchesStatements(t *testing.T) {
	pg := testbed.Postgres(t)
	c, other := openApply(t, pg, pg.NewDatabase(t, "applycopy"), nil)
	tg := target(c, other)
	changes := func(tt *cdc.TargetTable) []cdc.MappedChange {
		var out []cdc.MappedChange
		for i := 2001; i <= 7000; i++ { // 2001..4000 exist
			out = append(out, cdctest.Upd(tt, copyRow(i, 1)...))
			if i%100 == 0 { // the same key again in the run: the later row wins
				out = append(out, cdctest.Upd(tt, copyRow(i, 2)...))
			}
		}
		out = append(out, cdctest.Ins(tt, copyRow(7001, 1)...), cdctest.Upd(tt, copyRow(7001, 3)...))
		out = append(out, cdctest.Del(tt, "2500"), cdctest.Del(tt, "3999"))
		for i := 6001; i <= 9000; i++ {
			out = append(out, cdctest.Upd(tt, copyRow(i, 4)...))
		}
		return append(out, cdctest.Upd(tt, copyRow(2500, 5)...))
	}
	apply := func(tt *cdc.TargetTable) {
		tx, err := c.Begin(cdctest.Ctx(t), cdc.ApplySpec{Job: "j-" + tt.Table.Name, TimeZone: "Asia/Shanghai"})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.Apply(cdctest.Ctx(t), changes(tt)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(cdctest.Ctx(t), "1"); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"by_statements", "by_copy"} {
		tg.Exec(t, fmt.Sprintf(copyTable, name))
		tg.Exec(t, "INSERT INTO "+name+` (id, n, t, d) SELECT i, i, 'before', 'kept' FROM generate_series(1, 4000) i`)
	}
	restore := postgres.SetApplyCopyRows(1 << 30)
	apply(copyTarget("by_statements"))
	restore()
	apply(copyTarget("by_copy"))

	const cols = "id, n, ts, tsl, b, t, ch, ia, j, f, g, d"
	sum := func(table string) string {
		return cdctest.Dump(t, tg, "SELECT count(*), md5(string_agg(r::text, E'\\n' ORDER BY id)) FROM (SELECT "+cols+" FROM "+table+") r")
	}
	if a, b := sum("by_statements"), sum("by_copy"); a != b || !strings.HasPrefix(a, `"8999" | `) {
		t.Errorf("statements: %s, copy: %s", a, b)
	}
	if diff := cdctest.Dump(t, tg, "(SELECT "+cols+" FROM by_copy EXCEPT SELECT "+cols+" FROM by_statements) UNION ALL (SELECT "+cols+" FROM by_statements EXCEPT SELECT "+cols+" FROM by_copy) LIMIT 10"); diff != "" {
		t.Errorf("rows that differ:\n%s", diff)
	}
	// Spot checks: a key repeated in the run (2100), one deleted and
	// upserted again (2500, new: the default of d), a new one inserted
	// and updated in the first run and upserted in the second (7001).
	cdctest.Want(t, tg, "SELECT id, n, t, d, g FROM by_copy WHERE id IN (1, 2001, 2100, 2103, 2104, 2105, 2500, 3999, 7001) ORDER BY id",
		`"1" | "1.00" | "before" | "kept" | "2"`,
		`"2001" | NULL | "new\nline #2001 v1" | "kept" | "4002"`,
		`"2100" | "4200.10" | "tab\there #2100 v2" | "kept" | "4200"`,
		`"2103" | "2103.10" | "cr\rlf\r\n #2103 v1" | "kept" | "4206"`,
		`"2104" | "2104.10" | "\\N #2104 v1" | "kept" | "4208"`,
		`"2105" | "2105.11" | "\\. #2105 v1" | "kept" | "4210"`,
		`"2500" | "12500.50" | "tab\there #2500 v5" | "dflt" | "5000"`,
		`"7001" | "28004.00" | "new\nline #7001 v4" | "dflt" | "14002"`)
	// The session's zone (UTC+8) read the timestamptz without offset.
	cdctest.Want(t, tg, `SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), tsl, encode(b, 'hex'), ch, ia, j->>'k', f FROM by_copy WHERE id IN (6003, 6004) ORDER BY id`,
		`"2024-01-11 19:04:05.024012" | NULL | "7300ff5c0904" | "a\tb " | "{6003,NULL,4}" | "v\tw\\n" | "Infinity"`,
		`NULL | "1999-12-31 23:59:04.5" | "7400ff5c0904" | "ab  " | "{6004,NULL,4}" | "v\tw\\n" | NULL`)
}

// itemRows are upserts (or inserts) of keys from..to of an items table
// (id, name, qty, note) with the name tag.
func itemRows(it *cdc.TargetTable, op cdc.Op, from, to int, tag string) []cdc.MappedChange {
	var out []cdc.MappedChange
	for i := from; i <= to; i++ {
		c := cdctest.Upd(it, i, fmt.Sprintf("%s %d", tag, i), i, nil)
		c.Op = op
		out = append(out, c)
	}
	return out
}

// Inserts of a large run are first written as plain inserts (COPY into
// the staging table, INSERT without ON CONFLICT); a key that exists rolls
// back to the savepoint, which also drops the staging table created after
// it on this fresh connection, and the run is written again with upserts.
func TestApplyCopyInsertsMeetExistingKeys(t *testing.T) {
	pg := testbed.Postgres(t)
	tg := target(openApply(t, pg, pg.NewDatabase(t, "applycopyins"), nil))
	it := cdctest.Create(t, tg, "items", 1, cdctest.Col("id", schema.Int32), cdctest.Col("name", schema.Text),
		cdctest.Col("qty", schema.Int32), cdctest.Col("note", schema.Text))
	tg.Exec(t, "INSERT INTO items SELECT i, 'old', 0, 'kept' FROM generate_series(1001, 1500) i")
	tx, err := tg.Applier.Begin(cdctest.Ctx(t), cdc.ApplySpec{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.Apply(cdctest.Ctx(t), itemRows(it, cdc.Insert, 1, 3000, "a")); err != nil {
		t.Fatal(err)
	}
	// From here on the transaction writes upserts; new keys and the
	// first batch's again.
	if err := tx.Apply(cdctest.Ctx(t), itemRows(it, cdc.Insert, 2501, 5000, "b")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(cdctest.Ctx(t), "p1"); err != nil {
		t.Fatal(err)
	}
	cdctest.Want(t, tg, "SELECT count(*), count(*) FILTER (WHERE name LIKE 'a %'), count(*) FILTER (WHERE name LIKE 'b %'), count(note) FROM items",
		`"5000" | "2500" | "2500" | "0"`)
	cdctest.Want(t, tg, "SELECT id, name, qty, note FROM items WHERE id IN (1001, 2500, 2501) ORDER BY id",
		`"1001" | "a 1001" | "1001" | NULL`, `"2500" | "a 2500" | "2500" | NULL`, `"2501" | "b 2501" | "2501" | NULL`)
	// Plain inserts of new keys only succeed at once, in a new
	// transaction.
	cdctest.Apply(t, tg, "j", "p2", itemRows(it, cdc.Insert, 5001, 8000, "c")...)
	cdctest.Want(t, tg, "SELECT count(*), min(id), max(id) FROM items WHERE name LIKE 'c %'", `"3000" | "5001" | "8000"`)
}

// A rolled-back transaction leaves nothing behind: not its rows, not its
// checkpoint, and not the rows it put in the session's staging table,
// which the next transaction on the same connection fills anew.
func TestApplyCopyRollback(t *testing.T) {
	pg := testbed.Postgres(t)
	o := opts(pg)
	o["extparam"] = "pool_max_conns=1" // one session: the same staging table each time
	tg := target(openApply(t, pg, pg.NewDatabase(t, "applycopyrb"), o))
	it := cdctest.Create(t, tg, "items", 1, cdctest.Col("id", schema.Int32), cdctest.Col("name", schema.Text),
		cdctest.Col("qty", schema.Int32), cdctest.Col("note", schema.Text))
	cdctest.Apply(t, tg, "j", "p1", itemRows(it, cdc.Update, 1, 3000, "a")...)
	for _, end := range []string{"rollback", "failure"} {
		tx, err := tg.Applier.Begin(cdctest.Ctx(t), cdc.ApplySpec{Job: "j"})
		if err != nil {
			t.Fatal(err)
		}
		batch := itemRows(it, cdc.Update, 2001, 6000, end)
		if err := tx.Apply(cdctest.Ctx(t), batch); err != nil {
			t.Fatal(err)
		}
		if end == "failure" {
			bad := itemRows(it, cdc.Update, 1, 3000, "bad")
			bad[1500].New.Values[2] = []byte("not a number")
			err = tx.Apply(cdctest.Ctx(t), bad)
			if err == nil {
				err = tx.Apply(cdctest.Ctx(t), nil) // reported at the next call
			}
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "22P02" || !strings.Contains(err.Error(), "apply to items: ") {
				t.Errorf("bad number: %v", err)
			}
			if err := tx.Commit(cdctest.Ctx(t), "p2"); err == nil {
				t.Error("Commit after a failed Apply succeeded")
			}
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		cdctest.Want(t, tg, "SELECT count(*), min(name), max(name) FROM items", `"3000" | "a 1" | "a 999"`)
		cdctest.Want(t, tg, "SELECT position FROM flowgate.cdc_checkpoints WHERE job = 'j'", `"p1"`)
	}
	cdctest.Apply(t, tg, "j", "p3", itemRows(it, cdc.Update, 2901, 5900, "c")...)
	cdctest.Want(t, tg, "SELECT count(*), count(*) FILTER (WHERE name LIKE 'a %'), count(*) FILTER (WHERE name LIKE 'c %'), min(id), max(id) FROM items",
		`"5900" | "2900" | "3000" | "1" | "5900"`)
	cdctest.Want(t, tg, "SELECT position FROM flowgate.cdc_checkpoints WHERE job = 'j'", `"p3"`)
}

// A user who may not create temporary tables gets the statements.
func TestApplyCopyWithoutTemp(t *testing.T) {
	pg := testbed.Postgres(t)
	db := pg.NewDatabase(t, "applynotemp")
	role := fmt.Sprintf("fg_notemp_%d", time.Now().UnixNano()%1e9)
	admin := pg.Connect(t, "")
	if _, err := admin.Exec(context.Background(), "CREATE ROLE "+role+" LOGIN PASSWORD 'notemp-pw-4711'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	c, other := openApply(t, pg, db, nil)
	tg := target(c, other)
	tg.Exec(t, "REVOKE TEMPORARY ON DATABASE "+pgx.Identifier{db}.Sanitize()+" FROM PUBLIC")
	tg.Exec(t, "CREATE SCHEMA app AUTHORIZATION "+role)
	tg.Exec(t, "CREATE TABLE app.items (id int PRIMARY KEY, name text, qty int, note text)")
	tg.Exec(t, "ALTER TABLE app.items OWNER TO "+role)
	o := opts(pg)
	o["user"], o["password"], o["schema"] = role, "notemp-pw-4711", "app"
	weak, _ := openApply(t, pg, db, o)
	if _, err := weak.Pool().Exec(context.Background(), "CREATE TEMP TABLE t (x int)"); err == nil {
		t.Fatal("the user may create temporary tables")
	}
	it := &cdc.TargetTable{Table: cdc.TableRef{Name: "items"}, Key: []int{0}, Columns: []schema.Column{cdctest.Col("id", schema.Int32),
		cdctest.Col("name", schema.Text), cdctest.Col("qty", schema.Int32), cdctest.Col("note", schema.Text)}}
	weakTg := target(weak, other)
	cdctest.Apply(t, weakTg, "j", "p1", itemRows(it, cdc.Insert, 1, 3000, "a")...)
	cdctest.Apply(t, weakTg, "j", "p2", itemRows(it, cdc.Update, 2001, 5000, "b")...)
	cdctest.Want(t, weakTg, "SELECT count(*), count(*) FILTER (WHERE name LIKE 'b %') FROM app.items", `"5000" | "3000"`)
}

// COPY refuses a table with row-level security for a user it applies
// to: such a table's plain inserts go through the staging table and an
// INSERT, which the policy checks.
func TestApplyCopyRowSecurity(t *testing.T) {
	pg := testbed.Postgres(t)
	db := pg.NewDatabase(t, "applyrls")
	role := fmt.Sprintf("fg_rls_%d", time.Now().UnixNano()%1e9)
	admin := pg.Connect(t, "")
	if _, err := admin.Exec(context.Background(), "CREATE ROLE "+role+" LOGIN PASSWORD 'rls-pw-4711'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	c, other := openApply(t, pg, db, nil)
	tg := target(c, other)
	tg.Exec(t, "CREATE SCHEMA app AUTHORIZATION "+role)
	tg.Exec(t, "CREATE TABLE app.items (id int PRIMARY KEY, name text, qty int, note text)")
	tg.Exec(t, "ALTER TABLE app.items ENABLE ROW LEVEL SECURITY")
	tg.Exec(t, "CREATE POLICY nonnegative ON app.items USING (true) WITH CHECK (qty >= 0)")
	tg.Exec(t, "GRANT SELECT, INSERT, UPDATE, DELETE ON app.items TO "+role)
	o := opts(pg)
	o["user"], o["password"], o["schema"] = role, "rls-pw-4711", "app"
	weak, _ := openApply(t, pg, db, o)
	it := &cdc.TargetTable{Table: cdc.TableRef{Name: "items"}, Key: []int{0}, Columns: []schema.Column{cdctest.Col("id", schema.Int32),
		cdctest.Col("name", schema.Text), cdctest.Col("qty", schema.Int32), cdctest.Col("note", schema.Text)}}
	weakTg := target(weak, other)
	cdctest.Apply(t, weakTg, "j", "p1", itemRows(it, cdc.Insert, 1, 3000, "a")...)
	cdctest.Apply(t, weakTg, "j", "p2", itemRows(it, cdc.Update, 2001, 5000, "b")...)
	cdctest.Want(t, weakTg, "SELECT count(*), count(*) FILTER (WHERE name LIKE 'b %') FROM app.items", `"5000" | "3000"`)
	// The policy holds.
	tx, err := weak.Begin(cdctest.Ctx(t), cdc.ApplySpec{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	bad := itemRows(it, cdc.Insert, 6001, 9000, "c")
	bad[10].New.Values[2] = []byte("-1")
	err = tx.Apply(cdctest.Ctx(t), bad)
	if err == nil {
		err = tx.Apply(cdctest.Ctx(t), nil) // reported at the next call
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(err.Error(), "apply to items: ") {
		t.Errorf("a row the policy refuses: %v", err)
	}
}
