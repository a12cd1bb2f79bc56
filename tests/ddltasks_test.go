package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
)

type ddlRow struct {
	Table, Status, Message string
	SQL                    *string
}

func runDDLTask(t testing.TB, c *pgx.Conn, name string) map[string]ddlRow {
	t.Helper()
	rows, err := c.Query(context.Background(), "RUN DDL TASK "+name)
	if err != nil {
		t.Fatalf("RUN DDL TASK %s: %v", name, err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ddlRow])
	if err != nil {
		t.Fatalf("RUN DDL TASK %s: %v", name, err)
	}
	out := map[string]ddlRow{}
	for _, r := range got {
		out[r.Table] = r
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pgColumns reads a real PostgreSQL table's columns as "name type nullable default".
func pgColumns(t testing.TB, c *pgx.Conn, schema, table string) []string {
	t.Helper()
	rows, err := c.Query(context.Background(), `SELECT column_name || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || is_nullable || ' ' ||
		coalesce(column_default, '-') || ' ' || is_identity
		FROM information_schema.columns ic
		JOIN pg_attribute a ON a.attrelid = format('%I.%I', ic.table_schema, ic.table_name)::regclass AND a.attname = ic.column_name
		WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, schema, table)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDDLTaskMySQLToPostgresAndBack(t *testing.T) {
	ctx := context.Background()
	my := testbed.MySQL(t)
	pg := testbed.Postgres(t)
	src := my.NewDatabase(t, "ddlsrc")
	m := my.Open(t, src)
	for _, s := range []string{
		`CREATE TABLE orders (id bigint unsigned NOT NULL AUTO_INCREMENT, customer_id int NOT NULL, amount decimal(12,2) NOT NULL DEFAULT 0.00,
			paid tinyint(1) NOT NULL DEFAULT 0, note varchar(64) COMMENT 'free text', created_at datetime(3) DEFAULT CURRENT_TIMESTAMP(3),
			PRIMARY KEY (id), UNIQUE KEY uk_note (note), KEY idx_customer (customer_id, created_at)) COMMENT 'all orders'`,
		`INSERT INTO orders (customer_id, amount) VALUES (1, 10.50), (2, 20.00), (3, 30.25)`,
		"CREATE TABLE `order` (`select` int PRIMARY KEY, `from` varchar(10), KEY idx_customer (`from`))",
		"CREATE TABLE MixedCase (Id int PRIMARY KEY, SomeValue text, Big bigint unsigned, Small tinyint unsigned NOT NULL)",
		`CREATE TABLE places (id int PRIMARY KEY, pos point, area polygon)`,
	} {
		if _, err := m.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	dwDB := pg.NewDatabase(t, "dw")
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, mysqlDatasourceSQL("shop", my, my.Password, src))
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE dw TYPE postgres OPTIONS (host %s, port '%d', database %s, user %s, password %s)",
		sqlString(pg.Host), pg.Port, sqlString(dwDB), sqlString(pg.User), sqlString(pg.Password)))

	mustExec(t, c, "CREATE DDL TASK shop_to_dw FROM shop TO dw SCHEMA public WITH (create_if_missing = on, indexes = on, primary_keys = on)")
	var status string
	mustScan(t, c.QueryRow(ctx, "SELECT status FROM dataflow.ddl_tasks WHERE name = 'shop_to_dw'"), &status)
	if status != "initial" {
		t.Fatalf("status before run = %q", status)
	}
	res := runDDLTask(t, c, "shop_to_dw")
	if got := sortedKeys(res); strings.Join(got, " ") != "MixedCase order orders places" {
		t.Fatalf("result tables = %q: %+v", got, res)
	}
	for _, tb := range []string{"orders", "order", "MixedCase"} {
		if r := res[tb]; r.Status != "success" || r.SQL == nil || !strings.Contains(*r.SQL, "CREATE TABLE") {
			t.Fatalf("%s: %+v", tb, r)
		}
	}
	// Every column the target cannot have is named, not just the first.
	if p := res["places"]; p.Status != "failed" || !strings.Contains(p.Message, "places.pos") || !strings.Contains(strings.ToLower(p.Message), "point") ||
		!strings.Contains(p.Message, "places.area") || !strings.Contains(strings.ToLower(p.Message), "polygon") {
		t.Fatalf("places should fail naming both columns and types: %+v", p)
	}
	var ok, failed int64
	mustScan(t, c.QueryRow(ctx, "SELECT status, succeeded, failed FROM dataflow.ddl_tasks WHERE name = 'shop_to_dw'"), &status, &ok, &failed)
	if status != "finished" || ok != 3 || failed != 1 {
		t.Fatalf("task row: %s %d %d", status, ok, failed)
	}
	var n int
	mustScan(t, c.QueryRow(ctx, "SELECT count(*) FROM dataflow.ddl_task_tables WHERE task = 'shop_to_dw'"), &n)
	if n != 4 {
		t.Fatalf("ddl_task_tables rows = %d", n)
	}

	// What PostgreSQL really has.
	dw := pg.Connect(t, dwDB)
	cols := pgColumns(t, dw, "public", "orders")
	if len(cols) != 6 {
		t.Fatalf("orders columns on PG: %q", cols)
	}
	for i, want := range []string{
		"id bigint NO - YES", // bigint unsigned AUTO_INCREMENT: an identity must be an integer (docs/type-mapping.md)
		"customer_id integer NO - NO",
		"amount numeric(12,2) NO 0.00 NO",
		"paid boolean NO false NO",
		"note character varying(64) YES - NO",
		"created_at timestamp(3) without time zone YES LOCALTIMESTAMP NO",
	} {
		if cols[i] != want {
			t.Errorf("orders column %d = %q, want %q", i, cols[i], want)
		}
	}
	// Unsigned integers are widened so no value overflows; names fold to
	// lower case.
	cols = pgColumns(t, dw, "public", "mixedcase")
	if want := []string{"id integer NO - NO", "somevalue text YES - NO", "big numeric(20,0) YES - NO", "small smallint NO - NO"}; strings.Join(cols, "|") != strings.Join(want, "|") {
		t.Errorf("mixedcase columns on PG = %q, want %q", cols, want)
	}
	rows, err := dw.Query(ctx, "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname")
	if err != nil {
		t.Fatal(err)
	}
	idxs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(idxs, "\n")
	for _, want := range []string{"UNIQUE INDEX", "(customer_id, created_at)", "(\"from\")"} {
		if !strings.Contains(joined, want) {
			t.Errorf("indexes lack %q:\n%s", want, joined)
		}
	}
	// The two idx_customer indexes (MySQL names are per table) got distinct names.
	var clash int
	mustScan(t, dw.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE '%idx_customer%'"), &clash)
	if clash != 2 {
		t.Errorf("idx_customer indexes on PG = %d, want 2:\n%s", clash, joined)
	}
	var comment *string
	mustScan(t, dw.QueryRow(ctx, "SELECT col_description('public.orders'::regclass, 5)"), &comment)
	if deref(comment) != "free text" {
		t.Errorf("column comment = %v", deref(comment))
	}
	// Auto-increment continues after the source's rows.
	var id string
	if err := dw.QueryRow(ctx, "INSERT INTO orders (customer_id) VALUES (9) RETURNING id::text").Scan(&id); err != nil {
		t.Fatalf("insert without id: %v", err)
	}
	if id != "4" {
		t.Errorf("first identity value = %s, want 4 (after the source's max)", id)
	}

	// Re-run: existing tables are skipped with a clear message.
	res = runDDLTask(t, c, "shop_to_dw")
	if r := res["orders"]; r.Status != "success" || !strings.Contains(r.Message, "skipped") {
		t.Fatalf("rerun orders = %+v", r)
	}
	// recreate drops and creates again (the inserted row is gone).
	mustExec(t, c, "ALTER DDL TASK shop_to_dw SET (recreate = on)")
	res = runDDLTask(t, c, "shop_to_dw")
	if r := res["orders"]; r.Status != "success" || !strings.Contains(r.Message, "dropped") {
		t.Fatalf("recreate orders = %+v", r)
	}
	mustScan(t, dw.QueryRow(ctx, "SELECT count(*) FROM orders"), &n)
	if n != 0 {
		t.Fatalf("recreated table has %d rows", n)
	}
	// Neither option: the target's own error.
	mustExec(t, c, "ALTER DDL TASK shop_to_dw SET (recreate = off, create_if_missing = off)")
	res = runDDLTask(t, c, "shop_to_dw")
	if r := res["orders"]; r.Status != "failed" || !strings.Contains(r.Message, "already exists") {
		t.Fatalf("plain create over existing = %+v", r)
	}

	// TABLES and EXCLUDE filter; parallel gives the same SQL as serial.
	for _, p := range []int{1, 4} {
		schema := fmt.Sprintf("par%d", p)
		if _, err := dw.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		mustExec(t, c, fmt.Sprintf("CREATE DDL TASK p%d FROM shop TO dw SCHEMA %s EXCLUDE (places) WITH (parallel = %d)", p, schema, p))
	}
	serial, par := runDDLTask(t, c, "p1"), runDDLTask(t, c, "p4")
	if len(serial) != 3 || len(par) != 3 {
		t.Fatalf("exclude: %d %d", len(serial), len(par))
	}
	for k, r := range serial {
		a := strings.ReplaceAll(deref(r.SQL), "par1", "X")
		b := strings.ReplaceAll(deref(par[k].SQL), "par4", "X")
		if r.Status != "success" || a != b {
			t.Fatalf("serial and parallel differ for %s:\n%s\n---\n%s", k, a, b)
		}
	}
	mustExec(t, c, "CREATE DDL TASK only_orders FROM shop TO dw SCHEMA par1 TABLES (orders) WITH (recreate = on)")
	if res := runDDLTask(t, c, "only_orders"); len(res) != 1 || res["orders"].Status != "success" {
		t.Fatalf("TABLES (orders) = %+v", res)
	}

	// A target user without privileges: each table fails with the target's
	// own message, and the task still finishes.
	mustPG(t, dw, "CREATE SCHEMA locked", "DROP ROLE IF EXISTS ddl_weak", "CREATE ROLE ddl_weak LOGIN PASSWORD 'weak-password-1'",
		"GRANT USAGE ON SCHEMA locked TO ddl_weak", "GRANT CONNECT ON DATABASE "+dwDB+" TO ddl_weak")
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE weak TYPE postgres OPTIONS (host %s, port '%d', database %s, user 'ddl_weak', password 'weak-password-1')",
		sqlString(pg.Host), pg.Port, sqlString(dwDB)))
	mustExec(t, c, "CREATE DDL TASK weak_task FROM shop TO weak SCHEMA locked EXCLUDE (places)")
	res = runDDLTask(t, c, "weak_task")
	if len(res) != 3 {
		t.Fatalf("weak results = %+v", res)
	}
	for name, r := range res {
		if r.Status != "failed" || !strings.Contains(r.Message, "permission denied") {
			t.Fatalf("%s on a target without privileges = %+v", name, r)
		}
		if strings.Contains(r.Message, "weak-password-1") {
			t.Fatalf("password in the message: %s", r.Message)
		}
	}
	mustScan(t, c.QueryRow(ctx, "SELECT status FROM dataflow.ddl_tasks WHERE name = 'weak_task'"), &status)
	if status != "finished" {
		t.Fatalf("weak task status = %s", status)
	}
	// A datasource in the recycle bin cannot be used.
	mustExec(t, c, "DROP DDL TASK weak_task")
	mustExec(t, c, "DROP DATASOURCE weak")
	_, err = c.Exec(ctx, "CREATE DDL TASK weak_task FROM shop TO weak")
	wantCode(t, err, "55000")

	// PostgreSQL back to a fresh MySQL database.
	back := my.NewDatabase(t, "ddlback")
	mustExec(t, c, mysqlDatasourceSQL("back", my, my.Password, back))
	mustExec(t, c, "CREATE DDL TASK dw_to_back FROM dw SCHEMA public TO back WITH (run_now = off)")
	res = runDDLTask(t, c, "dw_to_back")
	if r := res["orders"]; r.Status != "success" {
		t.Fatalf("PG -> MySQL orders = %+v", r)
	}
	var colType, extra string
	mb := my.Open(t, back)
	if err := mb.QueryRow(`SELECT COLUMN_TYPE, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'orders' AND COLUMN_NAME = 'paid'`, back).Scan(&colType, &extra); err != nil || colType != "tinyint(1)" {
		t.Fatalf("paid on MySQL: %q %v", colType, err)
	}

	// MySQL to MySQL, and through SQLite and back to PostgreSQL.
	my2 := my.NewDatabase(t, "ddlmy2")
	mustExec(t, c, mysqlDatasourceSQL("my2", my, my.Password, my2))
	mustExec(t, c, "CREATE DDL TASK my2my FROM shop TO my2 EXCLUDE (places)")
	res = runDDLTask(t, c, "my2my")
	if got := sortedKeys(res); strings.Join(got, " ") != "MixedCase order orders" {
		t.Fatalf("MySQL -> MySQL result tables = %q: %+v", got, res)
	}
	for name, r := range res {
		if r.Status != "success" {
			t.Fatalf("MySQL -> MySQL %s = %+v", name, r)
		}
	}
	// Unsigned stays unsigned between MySQL databases (names fold to lower
	// case, as on every target).
	myCols, err := my.Open(t, my2).Query(`SELECT CONCAT(COLUMN_NAME, ' ', DATA_TYPE, IF(COLUMN_TYPE LIKE '%unsigned', ' unsigned', '')) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'mixedcase' ORDER BY ORDINAL_POSITION`, my2)
	if err != nil {
		t.Fatal(err)
	}
	var gotCols []string
	for myCols.Next() {
		var col string
		if err := myCols.Scan(&col); err != nil {
			t.Fatal(err)
		}
		gotCols = append(gotCols, col)
	}
	if err := myCols.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "id int|somevalue text|big bigint unsigned|small tinyint unsigned"; strings.Join(gotCols, "|") != want {
		t.Fatalf("mixedcase on MySQL -> MySQL = %q, want %q", gotCols, want)
	}
	litePath := filepath.Join(t.TempDir(), "ddl.db")
	if err := os.WriteFile(litePath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE lite TYPE sqlite OPTIONS (path %s)", sqlString(litePath)))
	mustExec(t, c, "CREATE DDL TASK to_lite FROM shop TO lite TABLES (orders)")
	if r := runDDLTask(t, c, "to_lite")["orders"]; r.Status != "success" {
		t.Fatalf("MySQL -> SQLite = %+v", r)
	}
	if _, err := dw.Exec(ctx, "CREATE SCHEMA fromlite"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "CREATE DDL TASK from_lite FROM lite TO dw SCHEMA fromlite")
	if r := runDDLTask(t, c, "from_lite")["orders"]; r.Status != "success" {
		t.Fatalf("SQLite -> PostgreSQL = %+v", r)
	}
	if cols := pgColumns(t, dw, "fromlite", "orders"); len(cols) != 6 {
		t.Fatalf("SQLite -> PostgreSQL columns: %q", cols)
	}

	// Bad input.
	_, err = c.Exec(ctx, "CREATE DDL TASK self FROM dw TO dw")
	wantCode(t, err, "22023")
	_, err = c.Exec(ctx, "CREATE DDL TASK typo FROM shop TO dw TABLES (nosuch)")
	pe := wantCode(t, err, "42704")
	if !strings.Contains(pe.Message, "nosuch") {
		t.Fatalf("message: %s", pe.Message)
	}
	_, err = c.Exec(ctx, "CREATE DDL TASK badopt FROM shop TO dw WITH (paralel = 2)")
	pe = wantCode(t, err, "22023")
	if !strings.Contains(pe.Hint, "parallel") || pe.Position == 0 {
		t.Fatalf("unknown option error should list valid keys and point at the key: %+v", pe)
	}
	_, err = c.Exec(ctx, "CREATE DDL TASK nods FROM nosuch TO dw")
	wantCode(t, err, "42704")
	_, err = c.Exec(ctx, "RUN DDL TASK nosuch")
	wantCode(t, err, "42704")
	_, err = c.Exec(ctx, "DROP DATASOURCE shop")
	pe = wantCode(t, err, "2BP01")
	if !strings.Contains(pe.Message, "shop_to_dw") {
		t.Fatalf("drop refusal should name the task: %s", pe.Message)
	}
	mustExec(t, c, "DROP DDL TASK p4")
	_, err = c.Exec(ctx, "DROP DDL TASK p4")
	wantCode(t, err, "42704")
	mustExec(t, c, "DROP DDL TASK IF EXISTS p4")
	// run_now runs at creation and returns the rows.
	rows, err = c.Query(ctx, "CREATE DDL TASK now_task FROM shop TO dw SCHEMA par4 TABLES (orders) WITH (run_now = on, recreate = on)")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ddlRow])
	if err != nil || len(got) != 1 || got[0].Status != "success" {
		t.Fatalf("run_now = %+v %v", got, err)
	}
}
