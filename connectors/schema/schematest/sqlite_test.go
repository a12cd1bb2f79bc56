package schematest_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/internal/testbed"
)

const sqliteSchema = `
CREATE TABLE "Users" (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	email VARCHAR(120) NOT NULL UNIQUE,
	name TEXT,
	age INT DEFAULT 0,
	score REAL DEFAULT 1.5,
	balance DECIMAL(10,2) DEFAULT '0.00',
	active BOOLEAN NOT NULL DEFAULT 1,
	created DATETIME DEFAULT CURRENT_TIMESTAMP,
	birthday DATE,
	avatar BLOB,
	misc,
	weird FOOBAR,
	stamp TEXT DEFAULT (datetime('now')),
	"order" INTEGER
);
CREATE INDEX users_name_age ON "Users" (name, age);
INSERT INTO "Users" (email) VALUES ('a'), ('b'), ('c');
DELETE FROM "Users" WHERE email = 'c';
`

// TestSQLiteToPostgresAndMySQL reads a hand-written SQLite schema and
// creates it on both servers.
func TestSQLiteToPostgresAndMySQL(t *testing.T) {
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	src := openSQLite(t, filepath.Join(t.TempDir(), "src.db"))
	exec(t, src.DB(), sqliteSchema)
	tables := describeAll(t, src, "")
	users := tables[0]
	// AUTOINCREMENT remembers the deleted 3.
	if users.AutoIncrementNext != 4 || strings.Join(users.PrimaryKey, ",") != "id" {
		t.Errorf("users: next %d pk %v", users.AutoIncrementNext, users.PrimaryKey)
	}

	pgDB := pg.NewDatabase(t, "ddl_lite")
	plans, failed := migrate(t, openPG(t, pg, pgDB), tables, fullOpts)
	if len(failed) > 0 {
		t.Fatal(failed)
	}
	if !hasWarning(plans["Users"], "stamp: default datetime('now') dropped") {
		t.Errorf("warnings %q", plans["Users"].Warnings)
	}
	pgSQL, err := sql.Open("pgx", pg.DSNFor(pgDB))
	if err != nil {
		t.Fatal(err)
	}
	defer pgSQL.Close()
	_, pcols := pgColumns(t, pgSQL, "users")
	for name, want := range map[string]colInfo{
		"id":       {"bigint", "NO", "", "YES BY DEFAULT", ""},
		"email":    {"character varying(120)", "NO", "", "NO", ""},
		"name":     {"text", "YES", "", "NO", ""},
		"age":      {"integer", "YES", "0", "NO", ""},
		"score":    {"double precision", "YES", "'1.5'::double precision", "NO", ""},
		"balance":  {"numeric(10,2)", "YES", "0.00", "NO", ""},
		"active":   {"boolean", "NO", "true", "NO", ""},
		"created":  {"timestamp without time zone", "YES", "LOCALTIMESTAMP", "NO", ""},
		"birthday": {"date", "YES", "", "NO", ""},
		"avatar":   {"bytea", "YES", "", "NO", ""},
		"misc":     {"text", "YES", "", "NO", ""},
		"weird":    {"numeric", "YES", "", "NO", ""},
		"stamp":    {"text", "YES", "", "NO", ""},
		"order":    {"bigint", "YES", "", "NO", ""},
	} {
		if pcols[name] != want {
			t.Errorf("postgres %s:\n got  %s\n want %s", name, pcols[name], want)
		}
	}
	equalLists(t, "postgres indexes", pgIndexes(t, pgSQL, "users"), []string{
		"users_email_key: CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email)",
		"users_name_age: CREATE INDEX users_name_age ON public.users USING btree (name, age)",
		"users_pkey: CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)",
	})
	if got := scalar[int64](t, pgSQL, `INSERT INTO users (email, active) VALUES ('d', true) RETURNING id`); got != 4 {
		t.Errorf("identity starts at %d", got)
	}

	myDB := my.NewDatabase(t, "ddl_lite")
	if _, failed := migrate(t, openMySQL(t, my, myDB), tables, fullOpts); len(failed) > 0 {
		t.Fatal(failed)
	}
	db := my.Open(t, myDB)
	_, mcols := myColumns(t, db, myDB, "users")
	for name, typ := range map[string]string{"id": "bigint(20)", "email": "varchar(120)", "name": "longtext", "age": "int(11)",
		"score": "double", "balance": "decimal(10,2)", "active": "tinyint(1)", "created": "datetime(6)", "birthday": "date",
		"avatar": "longblob", "misc": "longtext", "weird": "decimal(65,30)", "stamp": "longtext", "order": "bigint(20)"} {
		if mcols[name].Type != typ {
			t.Errorf("mysql %s: %s, want %s", name, mcols[name].Type, typ)
		}
	}
	if d := mcols["created"].Default; d != "current_timestamp(6)" {
		t.Errorf("created default %s", d)
	}
	equalLists(t, "mysql indexes", myIndexes(t, db, myDB, "users"), []string{
		"PRIMARY unique (id)",
		"users_email_key unique (email)",
		"users_name_age (name(255), age)",
	})
}

// TestToSQLiteAndBack creates the PostgreSQL test schema and the MySQL wide
// table on SQLite, reads SQLite back and checks the kinds survive.
func TestToSQLiteAndBack(t *testing.T) {
	pg := testbed.Postgres(t)
	pgDB := pg.NewDatabase(t, "ddl_tolite")
	if _, err := pg.Connect(t, pgDB).Exec(context.Background(), pgSchema); err != nil {
		t.Fatal(err)
	}
	tables := describeAll(t, openPG(t, pg, pgDB), "")
	dst := openSQLite(t, filepath.Join(t.TempDir(), "dst.db"))
	plans, failed := migrate(t, dst, tables, fullOpts)
	if len(failed) > 0 {
		t.Fatal(failed)
	}
	t.Logf("SQLite plan:\n%s", strings.Join(plans["Accounts"].Statements, ";\n"))
	back := describeAll(t, dst, "")
	acc := back[slicesIndex(back, "accounts")]
	kinds := map[string]schema.Kind{}
	for _, c := range acc.Columns {
		kinds[c.Name] = c.Type.Kind
	}
	want := map[string]schema.Kind{"id": schema.Int64, "ext_id": schema.UUID, "tags": schema.Text, "doc": schema.JSON,
		"amount": schema.Decimal, "price": schema.Decimal, "created": schema.TimestampTZ, "local_ts": schema.Timestamp,
		"t": schema.Time, "d": schema.Date, "flag": schema.Bool, "body": schema.Text, "code": schema.Varchar,
		"data": schema.Blob, "m": schema.Text, "bits": schema.Text, "small": schema.Int16, "big": schema.Int64,
		"r": schema.Float64, "dp": schema.Float64, "ch": schema.Char, "weird name": schema.Int32, "span": schema.Text}
	for name, k := range want {
		if name == "span" {
			continue
		}
		if kinds[name] != k {
			t.Errorf("%s reads back as %s, want %s", name, kinds[name], k)
		}
	}
	if acc.AutoIncrementNext != 4 {
		t.Errorf("sqlite_sequence gives next %d, want 4", acc.AutoIncrementNext)
	}
	if _, err := dst.DB().Exec(`INSERT INTO accounts (ext_id, tags, price, created, flag, m) VALUES ('u', '{}', 1, 'now', 1, 'bad')`); err == nil || !strings.Contains(err.Error(), "CHECK") {
		t.Errorf("enum check on sqlite: %v", err)
	}
}

// TestPlanDeterministic: the same description renders the same SQL every
// time, and two descriptions of the same table are equal.
func TestPlanDeterministic(t *testing.T) {
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	pgDB := pg.NewDatabase(t, "ddl_det")
	if _, err := pg.Connect(t, pgDB).Exec(context.Background(), pgSchema); err != nil {
		t.Fatal(err)
	}
	src := openPG(t, pg, pgDB)
	a, b := describeAll(t, src, ""), describeAll(t, src, "")
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two descriptions differ")
	}
	targets := map[string]schema.DDLTarget{
		"postgres": src,
		"mysql":    openMySQL(t, my, my.Database),
		"sqlite":   openSQLite(t, filepath.Join(t.TempDir(), "det.db")),
	}
	for name, dst := range targets {
		for _, tb := range a {
			p1, err1 := dst.PlanCreate(tb, fullOpts)
			for i := 0; i < 20; i++ {
				p2, err2 := dst.PlanCreate(b[slicesIndex(b, tb.Name)], fullOpts)
				if !reflect.DeepEqual(p1, p2) || (err1 == nil) != (err2 == nil) {
					t.Fatalf("%s %s: plans differ:\n%v\n%v", name, tb.Name, p1, p2)
				}
			}
		}
	}
}

// TestMissingTable: describing a missing table wraps ErrTableNotFound and
// names it, on every introspector.
func TestMissingTable(t *testing.T) {
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	for name, in := range map[string]schema.Introspector{
		"postgres": openPG(t, pg, pg.Database),
		"mysql":    openMySQL(t, my, my.NewDatabase(t, "ddl_missing")),
		"sqlite":   openSQLite(t, filepath.Join(t.TempDir(), "missing.db")),
	} {
		_, err := in.DescribeTables(ctx(t), "", []string{"no_such_table"})
		if !errors.Is(err, schema.ErrTableNotFound) || !strings.Contains(err.Error(), "no_such_table") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
