package schematest_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/internal/testbed"
)

const pgSchema = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE "Accounts" (
	id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ext_id uuid NOT NULL DEFAULT gen_random_uuid(),
	tags text[] NOT NULL DEFAULT '{}',
	scores integer[],
	doc jsonb DEFAULT '{"a": 1}',
	raw json,
	amount numeric,
	price numeric(12,2) NOT NULL DEFAULT 0,
	created timestamptz(3) NOT NULL DEFAULT now(),
	local_ts timestamp,
	t time,
	d date DEFAULT CURRENT_DATE,
	flag boolean NOT NULL DEFAULT false,
	body text,
	code varchar(20) UNIQUE,
	name varchar,
	data bytea,
	m mood DEFAULT 'ok',
	bits bit(8) DEFAULT B'00001111',
	small smallint,
	big bigint DEFAULT 9223372036854775807,
	r real,
	dp double precision,
	ch char(3),
	"Weird Name" int
);
COMMENT ON TABLE "Accounts" IS 'accounts';
COMMENT ON COLUMN "Accounts".ext_id IS 'public id';
CREATE INDEX accounts_created_idx ON "Accounts" (created, flag);
CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL, payload jsonb);
CREATE INDEX events_account ON events (account_id);
CREATE TABLE spans (id int, span interval);
INSERT INTO "Accounts" (code) VALUES ('a'), ('b'), ('c');
INSERT INTO events (account_id) SELECT 1 FROM generate_series(1, 10);
`

// TestPostgresToMySQL: uuid, arrays, jsonb, identity and serial, case
// sensitive names.
func TestPostgresToMySQL(t *testing.T) {
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	pgDB := pg.NewDatabase(t, "ddl_pgsrc")
	if _, err := pg.Connect(t, pgDB).Exec(context.Background(), pgSchema); err != nil {
		t.Fatal(err)
	}
	tables := describeAll(t, openPG(t, pg, pgDB), "")
	acc := tables[slicesIndex(tables, "Accounts")]
	if acc.AutoIncrementNext != 4 || acc.Comment != "accounts" {
		t.Errorf("Accounts: next %d comment %q", acc.AutoIncrementNext, acc.Comment)
	}
	if c, _ := acc.Column("m"); c.Type.Kind != schema.Enum || strings.Join(c.Type.Values, ",") != "sad,ok,happy" {
		t.Errorf("enum column: %+v", c.Type)
	}
	if c, _ := acc.Column("tags"); c.Type.Kind != schema.Array || c.Type.Elem.Kind != schema.Text {
		t.Errorf("array column: %+v", c.Type)
	}
	myDB := my.NewDatabase(t, "ddl_pgdst")
	dst := openMySQL(t, my, myDB)
	opts := fullOpts
	opts.CaseSensitive = true
	plans, failed := migrate(t, dst, tables, opts)
	var ue *schema.UnsupportedError
	if err := failed["spans"]; !errors.As(err, &ue) || err.Error() != "column spans.span: type interval is not supported on MySQL: MySQL has no interval type" {
		t.Errorf("spans: %v", err)
	}
	if len(failed) != 1 {
		t.Errorf("failed: %v", failed)
	}
	p := plans["Accounts"]
	t.Logf("MySQL plan:\n%s\nwarnings: %q", strings.Join(p.Statements, ";\n"), p.Warnings)
	for _, w := range []string{"ext_id: default gen_random_uuid() dropped", "tags: default {} dropped", "amount: numeric without precision became decimal(65,30)", "d: default CURRENT_DATE dropped"} {
		if !hasWarning(p, w) {
			t.Errorf("no warning %q", w)
		}
	}
	db := my.Open(t, myDB)
	want := []struct{ name, typ, null, def, extra, comment string }{
		{"id", "int(11)", "NO", "<none>", "auto_increment", ""},
		{"ext_id", "char(36)", "NO", "<none>", "", "public id"},
		{"tags", "longtext", "NO", "<none>", "", ""},
		{"scores", "longtext", "YES", "NULL", "", ""},
		{"doc", "longtext", "YES", `'{"a": 1}'`, "", ""},
		{"raw", "longtext", "YES", "NULL", "", ""},
		{"amount", "decimal(65,30)", "YES", "NULL", "", ""},
		{"price", "decimal(12,2)", "NO", "0.00", "", ""},
		{"created", "timestamp(3)", "NO", "current_timestamp(3)", "", ""},
		{"local_ts", "datetime(6)", "YES", "NULL", "", ""},
		{"t", "time(6)", "YES", "NULL", "", ""},
		{"d", "date", "YES", "NULL", "", ""},
		{"flag", "tinyint(1)", "NO", "0", "", ""},
		{"body", "longtext", "YES", "NULL", "", ""},
		{"code", "varchar(20)", "YES", "NULL", "", ""},
		{"name", "longtext", "YES", "NULL", "", ""},
		{"data", "longblob", "YES", "NULL", "", ""},
		{"m", "enum('sad','ok','happy')", "YES", "'ok'", "", ""},
		{"bits", "bit(8)", "YES", "b'1111'", "", ""},
		{"small", "smallint(6)", "YES", "NULL", "", ""},
		{"big", "bigint(20)", "YES", "9223372036854775807", "", ""},
		{"r", "float", "YES", "NULL", "", ""},
		{"dp", "double", "YES", "NULL", "", ""},
		{"ch", "char(3)", "YES", "NULL", "", ""},
		{"Weird Name", "int(11)", "YES", "NULL", "", ""},
	}
	names, got := myColumns(t, db, myDB, "Accounts")
	var wantNames []string
	for _, w := range want {
		wantNames = append(wantNames, w.name)
		wc := colInfo{Type: w.typ, Nullable: w.null, Default: w.def, Extra: w.extra, Comment: w.comment}
		if got[w.name] != wc {
			t.Errorf("mysql %s:\n got  %s\n want %s", w.name, got[w.name], wc)
		}
	}
	equalLists(t, "columns", names, wantNames)
	equalLists(t, "indexes", myIndexes(t, db, myDB, "Accounts"), []string{
		"Accounts_code_key unique (code)",
		"accounts_created_idx (created, flag)",
		"PRIMARY unique (id)",
	})
	// MariaDB's json is longtext with a json_valid check; it reads back
	// as json.
	back := describeAll(t, dst, "")
	for _, name := range []string{"tags", "scores", "doc", "raw"} {
		if c, _ := back[slicesIndex(back, "Accounts")].Column(name); c.Type.Kind != schema.JSON {
			t.Errorf("%s reads back as %+v", name, c.Type)
		}
	}
	if _, err := db.Exec("INSERT INTO `Accounts` (ext_id, tags, doc) VALUES (UUID(), '[\"x\"]', 'not json')"); err == nil {
		t.Error("invalid json accepted")
	}
	for table, next := range map[string]int64{"Accounts": 4, "events": 11} {
		if got := scalar[int64](t, db, "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", myDB, table); got != next {
			t.Errorf("%s AUTO_INCREMENT %d, want %d", table, got, next)
		}
	}
	if got := scalar[string](t, db, "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'events' AND EXTRA = 'auto_increment'", myDB); got != "bigint(20)" {
		t.Errorf("events auto_increment column %s", got)
	}

	// PostgreSQL -> PostgreSQL keeps json apart from jsonb and the types
	// MySQL lacks; the enum becomes text with a CHECK.
	pgDst := pg.NewDatabase(t, "ddl_pgpg")
	if _, failed := migrate(t, openPG(t, pg, pgDst), tables, opts); len(failed) > 0 {
		t.Fatalf("pg to pg: %v", failed)
	}
	pgSQL, err := sql.Open("pgx", pg.DSNFor(pgDst))
	if err != nil {
		t.Fatal(err)
	}
	defer pgSQL.Close()
	_, pcols := pgColumns(t, pgSQL, "Accounts")
	for name, typ := range map[string]string{"raw": "json", "doc": "jsonb", "tags": "text[]", "scores": "integer[]",
		"m": "text", "created": "timestamp(3) with time zone", "t": "time without time zone", "span": ""} {
		if typ != "" && pcols[name].Type != typ {
			t.Errorf("pg to pg %s: %s, want %s", name, pcols[name].Type, typ)
		}
	}
	if _, scols := pgColumns(t, pgSQL, "spans"); scols["span"].Type != "interval" {
		t.Errorf("interval column %v", scols["span"])
	}
	if d := pcols["ext_id"].Default; d != "gen_random_uuid()" {
		t.Errorf("pg to pg keeps expression defaults: %q", d)
	}
}
