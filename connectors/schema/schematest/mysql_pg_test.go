package schematest_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/internal/testbed"
)

// col is one column of the MySQL test table and what it must become on
// PostgreSQL and, read back from there, on MySQL again. Types and defaults
// are as information_schema (format_type on PostgreSQL) prints them;
// "<none>" is no default.
type col struct {
	name, def                  string
	pgType, pgDefault, pgExtra string
	myType, myDefault, myExtra string
}

// Long names: MySQL allows 64 characters, PostgreSQL 63 bytes. The table
// name has MySQL's maximum, the column name is 35 characters but 70 bytes,
// and the index name, prefixed with the table name on PostgreSQL, is 128
// characters; each is cut with a hash suffix.
var (
	longTable  = "t_" + strings.Repeat("abcdefghij", 6) + "_t" // 64 characters
	longColumn = strings.Repeat("ä", 35)                       // 70 bytes
	longIndex  = "i_" + strings.Repeat("uvwxyzuvwx", 6) + "_i" // 64 characters
)

var orderCols = []col{
	{"id", "bigint unsigned NOT NULL AUTO_INCREMENT COMMENT 'order id'",
		"bigint", "", "YES BY DEFAULT", "bigint(20)", "<none>", "auto_increment"},
	{"c_bool", "tinyint(1) NOT NULL DEFAULT 1", "boolean", "true", "NO", "tinyint(1)", "1", ""},
	{"c_tiny", "tinyint NOT NULL DEFAULT -128", "smallint", "'-128'::integer", "NO", "smallint(6)", "-128", ""},
	{"c_tiny_u", "tinyint unsigned DEFAULT 255", "smallint", "255", "NO", "smallint(6)", "255", ""},
	{"c_small", "smallint DEFAULT -32768", "smallint", "'-32768'::integer", "NO", "smallint(6)", "-32768", ""},
	{"c_small_u", "smallint unsigned DEFAULT 65535", "integer", "65535", "NO", "int(11)", "65535", ""},
	{"c_medium", "mediumint DEFAULT -8388608", "integer", "'-8388608'::integer", "NO", "int(11)", "-8388608", ""},
	{"c_medium_u", "mediumint unsigned DEFAULT 16777215", "integer", "16777215", "NO", "int(11)", "16777215", ""},
	{"c_int", "int NOT NULL DEFAULT -2147483648", "integer", "'-2147483648'::integer", "NO", "int(11)", "-2147483648", ""},
	{"c_int_u", "int unsigned DEFAULT 4294967295", "bigint", "'4294967295'::bigint", "NO", "bigint(20)", "4294967295", ""},
	{"c_big", "bigint DEFAULT -9223372036854775808", "bigint", "'-9223372036854775808'::bigint", "NO", "bigint(20)", "-9223372036854775808", ""},
	{"c_big_u", "bigint unsigned DEFAULT 18446744073709551615", "numeric(20,0)", "'18446744073709551615'::numeric", "NO", "decimal(20,0)", "18446744073709551615", ""},
	{"c_dec", "decimal(65,30) DEFAULT -99999999999999999999999999999999999.000000000000000000000000000001",
		"numeric(65,30)", "'-99999999999999999999999999999999999.000000000000000000000000000001'::numeric", "NO",
		"decimal(65,30)", "-99999999999999999999999999999999999.000000000000000000000000000001", ""},
	{"c_dec_u", "decimal(10,2) unsigned NOT NULL DEFAULT 99999999.99", "numeric(10,2)", "99999999.99", "NO", "decimal(10,2)", "99999999.99", ""},
	{"c_float", "float DEFAULT 1.5", "real", "'1.5'::real", "NO", "float", "1.5", ""},
	{"c_double", "double DEFAULT -1.7976931348623157e308", "double precision", "'-1.7976931348623157e+308'::double precision", "NO", "double", "-1.7976931348623157e308", ""},
	{"c_bit1", "bit(1) DEFAULT b'1'", "boolean", "true", "NO", "tinyint(1)", "1", ""},
	{"c_bit", "bit(10) DEFAULT b'1010'", "bit(10)", "'0000001010'::\"bit\"", "NO", "bit(10)", "b'1010'", ""},
	{"c_char", "char(10) DEFAULT 'it''s'", "character(10)", "'it''s'::bpchar", "NO", "char(10)", "'it''s'", ""},
	{"c_varchar", `varchar(255) NOT NULL DEFAULT 'back\\slash "q"'`, "character varying(255)", `'back\slash "q"'::character varying`, "NO", "varchar(255)", `'back\\slash "q"'`, ""},
	{"c_varchar_utf", "varchar(20) DEFAULT 'héllo wörld ✓'", "character varying(20)", "'héllo wörld ✓'::character varying", "NO", "varchar(20)", "'héllo wörld ✓'", ""},
	{"c_empty", "varchar(5) NOT NULL DEFAULT ''", "character varying(5)", "''::character varying", "NO", "varchar(5)", "''", ""},
	{"c_tinytext", "tinytext", "text", "", "NO", "longtext", "<none>", ""},
	{"c_text", "text", "text", "", "NO", "longtext", "<none>", ""},
	{"c_mediumtext", "mediumtext", "text", "", "NO", "longtext", "<none>", ""},
	{"c_longtext", "longtext", "text", "", "NO", "longtext", "<none>", ""},
	{"c_binary", "binary(16)", "bytea", "", "NO", "longblob", "<none>", ""},
	{"c_varbinary", "varbinary(100)", "bytea", "", "NO", "longblob", "<none>", ""},
	{"c_tinyblob", "tinyblob", "bytea", "", "NO", "longblob", "<none>", ""},
	{"c_blob", "blob", "bytea", "", "NO", "longblob", "<none>", ""},
	{"c_mediumblob", "mediumblob", "bytea", "", "NO", "longblob", "<none>", ""},
	{"c_longblob", "longblob", "bytea", "", "NO", "longblob", "<none>", ""},
	{"c_date", "date DEFAULT '1000-01-01'", "date", "'1000-01-01'::date", "NO", "date", "'1000-01-01'", ""},
	{"c_date_zero", "date NOT NULL DEFAULT '0000-00-00'", "date", "", "NO", "date", "<none>", ""},
	{"c_time", "time(3) DEFAULT '23:59:59.999'", "time(3) without time zone", "'23:59:59.999'::time without time zone", "NO", "time(3)", "'23:59:59.999'", ""},
	{"c_datetime", "datetime DEFAULT '9999-12-31 23:59:59'", "timestamp(0) without time zone", "'9999-12-31 23:59:59'::timestamp without time zone", "NO", "datetime", "'9999-12-31 23:59:59'", ""},
	// ON UPDATE becomes a trigger on PostgreSQL and comes back from it.
	{"c_datetime6", "datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)", "timestamp without time zone", "LOCALTIMESTAMP", "NO", "datetime(6)", "current_timestamp(6)", "on update current_timestamp(6)"},
	{"c_dt_zero", "datetime DEFAULT '0000-00-00 00:00:00'", "timestamp(0) without time zone", "", "NO", "datetime", "<none>", ""},
	{"c_ts", "timestamp NULL DEFAULT CURRENT_TIMESTAMP", "timestamp(0) with time zone", "CURRENT_TIMESTAMP", "NO", "timestamp", "current_timestamp()", ""},
	{"c_ts3", "timestamp(3) NULL DEFAULT '2038-01-19 03:14:07.499'", "timestamp(3) with time zone", "'2038-01-19 03:14:07.499+00'::timestamp with time zone", "NO", "timestamp(3)", "'2038-01-19 03:14:07.499'", ""},
	{"c_year", "year DEFAULT 2155", "smallint", "2155", "NO", "smallint(6)", "2155", ""},
	{"c_json", "json", "jsonb", "", "NO", "longtext", "<none>", ""},
	{"c_enum", "enum('small','medium','large','x-large') NOT NULL DEFAULT 'medium'", "text", "'medium'::text", "NO", "longtext", "'medium'", ""},
	{"c_set", "set('a','b','c') DEFAULT 'a,c'", "text", "'a,c'::text", "NO", "longtext", "'a,c'", ""},
	{"CamelCase", "int COMMENT 'mixed case column'", "integer", "", "NO", "int(11)", "<none>", ""},
	{"select", "varchar(10) COMMENT 'reserved word'", "character varying(10)", "", "NO", "varchar(10)", "<none>", ""},
	{"c_expr", "varchar(36) DEFAULT (uuid())", "character varying(36)", "", "NO", "varchar(36)", "<none>", ""},
	{"c_int_zero", "int NOT NULL DEFAULT 0", "integer", "0", "NO", "int(11)", "0", ""},
}

func pgName(s string) string { return strings.ToLower(schema.Truncate(s, 63, true)) }

// TestMySQLToPostgresToMySQL migrates a wide MySQL schema to PostgreSQL,
// reads it back from there and creates it on MySQL again, checking every
// column on both real servers.
func TestMySQLToPostgresToMySQL(t *testing.T) {
	my := testbed.MySQL(t)
	pg := testbed.Postgres(t)
	srcDB := my.NewDatabase(t, "ddl_src")
	backDB := my.NewDatabase(t, "ddl_back")
	pgDB := pg.NewDatabase(t, "ddl_dst")
	src := my.Open(t, srcDB)
	// Zero dates need a sql_mode without NO_ZERO_DATE; the session is
	// pinned so the mode holds for every statement.
	srcConn, err := src.Conn(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srcConn.Close()
	if _, err := srcConn.ExecContext(ctx(t), "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'"); err != nil {
		t.Fatal(err)
	}
	var defs []string
	for _, c := range orderCols {
		defs = append(defs, "`"+c.name+"` "+c.def)
	}
	stmts := []string{
		"CREATE TABLE `order` (" + strings.Join(defs, ",\n") + `,
			PRIMARY KEY (id),
			UNIQUE KEY uk_code (c_char, c_int),
			KEY idx_name (c_varchar, c_date),
			KEY idx_text (c_text(20)),
			KEY ` + "`CamelIdx`" + ` (CamelCase)
		) AUTO_INCREMENT=1000 COMMENT='orders ''table'''`,
		"CREATE TABLE `OrderItems` (order_id bigint unsigned NOT NULL, line_no smallint NOT NULL, sku varchar(32) NOT NULL, qty int NOT NULL DEFAULT 1," +
			" PRIMARY KEY (order_id, line_no), UNIQUE KEY idx_name (sku, order_id), KEY idx_qty (qty))",
		"CREATE TABLE `" + longTable + "` (`" + longColumn + "` int NOT NULL, id int NOT NULL AUTO_INCREMENT PRIMARY KEY, KEY `" + longIndex + "` (`" + longColumn + "`))",
		"INSERT INTO `order` (id, c_char, c_int) VALUES (1500, 'a', 1)",
		"INSERT INTO `" + longTable + "` (`" + longColumn + "`) VALUES (1), (2), (3)",
	}
	for _, s := range stmts {
		if _, err := srcConn.ExecContext(ctx(t), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}

	mySrc := openMySQL(t, my, srcDB)
	tables := describeAll(t, mySrc, "")
	if got := len(tables); got != 3 {
		t.Fatalf("described %d tables", got)
	}
	order := tables[slicesIndex(tables, "order")]
	if order.AutoIncrementNext != 1501 || order.Comment != "orders 'table'" {
		t.Errorf("order: next %d comment %q", order.AutoIncrementNext, order.Comment)
	}
	if len(order.Columns) < 40 {
		t.Fatalf("only %d columns", len(order.Columns))
	}

	// MySQL -> SQLite: every table is created and reads back with the
	// declared types the mapping promises.
	lite := openSQLite(t, filepath.Join(t.TempDir(), "wide.db"))
	if _, failed := migrate(t, lite, tables, fullOpts); len(failed) > 0 {
		t.Fatalf("mysql to sqlite: %v", failed)
	}
	declared := strings.Join(strs(t, lite.DB(), `SELECT name || ' ' || type FROM pragma_table_info('order') WHERE name IN
		('id', 'c_bool', 'c_big_u', 'c_dec', 'c_datetime6', 'c_ts3', 'c_enum', 'c_json', 'c_bit') ORDER BY cid`), ", ")
	if want := "id INTEGER, c_bool BOOLEAN, c_big_u NUMERIC(20,0), c_dec NUMERIC(65,30), c_bit TEXT, c_datetime6 DATETIME, c_ts3 TIMESTAMPTZ, c_json JSON, c_enum TEXT"; declared != want {
		t.Errorf("sqlite declared types:\n got  %s\n want %s", declared, want)
	}

	// MySQL -> PostgreSQL.
	pgConn := openPG(t, pg, pgDB)
	plans, failed := migrate(t, pgConn, tables, fullOpts)
	if len(failed) > 0 {
		t.Fatalf("failed: %v", failed)
	}
	p := plans["order"]
	t.Logf("PostgreSQL plan:\n%s;\nwarnings: %q", strings.Join(p.Statements, ";\n"), p.Warnings)
	for _, w := range []string{"c_date_zero: zero-date default", "c_dt_zero: zero-date default", "c_expr: default uuid() dropped",
		"id: numeric(20,0) became bigint", "c_set: set became text"} {
		if !hasWarning(p, w) {
			t.Errorf("no warning %q in %q", w, p.Warnings)
		}
	}
	if hasWarning(p, "ON UPDATE") || !strings.Contains(strings.Join(p.Statements, "\n"), `CREATE TRIGGER "order_on_update" BEFORE UPDATE`) {
		t.Errorf("ON UPDATE CURRENT_TIMESTAMP is not a trigger: %q %q", p.Warnings, p.Statements)
	}
	pgSQL, err := sql.Open("pgx", pg.DSNFor(pgDB))
	if err != nil {
		t.Fatal(err)
	}
	defer pgSQL.Close()
	names, got := pgColumns(t, pgSQL, "order")
	var wantNames []string
	for _, c := range orderCols {
		wantNames = append(wantNames, strings.ToLower(c.name))
		ci, ok := got[strings.ToLower(c.name)]
		if !ok {
			continue
		}
		want := colInfo{Type: c.pgType, Nullable: nullable(c.def), Default: c.pgDefault, Extra: c.pgExtra}
		if c.name == "id" {
			want.Comment = "order id"
		}
		if c.name == "CamelCase" {
			want.Comment = "mixed case column"
		}
		if c.name == "select" {
			want.Comment = "reserved word"
		}
		if ci != want {
			t.Errorf("postgres %s:\n got  %s\n want %s", c.name, ci, want)
		}
	}
	equalLists(t, "postgres columns", names, wantNames)
	equalLists(t, "postgres indexes of order", pgIndexes(t, pgSQL, "order"), []string{
		`order_camelidx: CREATE INDEX order_camelidx ON public."order" USING btree (camelcase)`,
		`order_idx_name: CREATE INDEX order_idx_name ON public."order" USING btree (c_varchar, c_date)`,
		`order_idx_text: CREATE INDEX order_idx_text ON public."order" USING btree (c_text)`,
		`order_pkey: CREATE UNIQUE INDEX order_pkey ON public."order" USING btree (id)`,
		`order_uk_code: CREATE UNIQUE INDEX order_uk_code ON public."order" USING btree (c_char, c_int)`,
	})
	equalLists(t, "postgres indexes of orderitems", pgIndexes(t, pgSQL, "orderitems"), []string{
		`orderitems_idx_name: CREATE UNIQUE INDEX orderitems_idx_name ON public.orderitems USING btree (sku, order_id)`,
		`orderitems_idx_qty: CREATE INDEX orderitems_idx_qty ON public.orderitems USING btree (qty)`,
		`orderitems_pkey: CREATE UNIQUE INDEX orderitems_pkey ON public.orderitems USING btree (order_id, line_no)`,
	})
	longPG := pgName(longTable)
	if len(longPG) != 63 || plans[longTable].Table != longPG {
		t.Errorf("long table name %q (%d bytes), plan says %q", longPG, len(longPG), plans[longTable].Table)
	}
	lc, _ := pgColumns(t, pgSQL, longPG)
	equalLists(t, "long table columns", lc, []string{pgName(longColumn), "id"})
	if got := scalar[string](t, pgSQL, `SELECT obj_description('public."order"'::regclass, 'pg_class')`); got != "orders 'table'" {
		t.Errorf("table comment %q", got)
	}
	// The identity continues after the source's rows.
	if got := scalar[int64](t, pgSQL, `INSERT INTO "order" (c_char, c_int, c_date_zero) VALUES ('b', 2, '2024-02-29') RETURNING id`); got != 1501 {
		t.Errorf("first identity value %d, want 1501", got)
	}
	if got := scalar[int64](t, pgSQL, `INSERT INTO "`+longPG+`" (`+pgName(longColumn)+`) VALUES (9) RETURNING id`); got != 4 {
		t.Errorf("first identity value of long table %d, want 4", got)
	}
	// The enum's CHECK holds.
	if _, err := pgSQL.Exec(`INSERT INTO "order" (c_char, c_int, c_date_zero, c_enum) VALUES ('c', 3, '2024-02-29', 'huge')`); err == nil || !strings.Contains(err.Error(), "check constraint") {
		t.Errorf("enum value outside the list: %v", err)
	}

	// PostgreSQL -> MySQL.
	pgTables := describeAll(t, pgConn, "")
	myBack := openMySQL(t, my, backDB)
	backPlans, failed := migrate(t, myBack, pgTables, fullOpts)
	if len(failed) > 0 {
		t.Fatalf("failed: %v", failed)
	}
	t.Logf("MySQL plan:\n%s\nwarnings: %q", strings.Join(backPlans["order"].Statements, ";\n"), backPlans["order"].Warnings)
	back := my.Open(t, backDB)
	names, got = myColumns(t, back, backDB, "order")
	wantNames = wantNames[:0]
	for _, c := range orderCols {
		wantNames = append(wantNames, strings.ToLower(c.name))
		ci, ok := got[strings.ToLower(c.name)]
		if !ok {
			continue
		}
		want := colInfo{Type: c.myType, Nullable: nullable(c.def), Default: c.myDefault, Extra: c.myExtra}
		if want.Nullable == "YES" && want.Default == "<none>" {
			want.Default = "NULL" // how MariaDB shows a nullable column without default
		}
		switch c.name {
		case "id":
			want.Comment = "order id"
		case "CamelCase":
			want.Comment = "mixed case column"
		case "select":
			want.Comment = "reserved word"
		}
		if ci != want {
			t.Errorf("mysql %s:\n got  %s\n want %s", c.name, ci, want)
		}
	}
	equalLists(t, "mysql columns", names, wantNames)
	equalLists(t, "mysql indexes of order", myIndexes(t, back, backDB, "order"), []string{
		"order_camelidx (camelcase)",
		"order_idx_name (c_varchar, c_date)",
		"order_idx_text (c_text(255))",
		"order_uk_code unique (c_char, c_int)",
		"PRIMARY unique (id)",
	})
	equalLists(t, "mysql indexes of orderitems", myIndexes(t, back, backDB, "orderitems"), []string{
		"orderitems_idx_name unique (sku, order_id)",
		"orderitems_idx_qty (qty)",
		"PRIMARY unique (order_id, line_no)",
	})
	if got := scalar[int64](t, back, "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'order'", backDB); got != 1503 {
		// 1501 was inserted and the failed enum insert used 1502: sequences
		// do not roll back.
		t.Errorf("AUTO_INCREMENT %d, want 1503 (after the PostgreSQL sequence)", got)
	}
	if got := scalar[string](t, back, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'order'", backDB); got != "orders 'table'" {
		t.Errorf("table comment %q", got)
	}
	// The PostgreSQL name (63 bytes) fits MySQL's 64 characters unchanged.
	if !tableExists(t, myBack, longPG) {
		t.Errorf("no table %s on MySQL", longPG)
	}
}

func tableExists(t *testing.T, d schema.DDLTarget, name string) bool {
	t.Helper()
	ok, err := d.TableExists(ctx(t), "", name)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func nullable(def string) string {
	if strings.Contains(def, "NOT NULL") {
		return "NO"
	}
	return "YES"
}

func slicesIndex(ts []schema.Table, name string) int {
	for i, t := range ts {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// TestGeometryFailsPerTable: a geometry column fails its table with a
// message naming column and type; the other tables still plan.
func TestGeometryFailsPerTable(t *testing.T) {
	my := testbed.MySQL(t)
	pg := testbed.Postgres(t)
	db := my.NewDatabase(t, "ddl_geo")
	exec(t, my.Open(t, db),
		"CREATE TABLE places (id int PRIMARY KEY, pos point NOT NULL, area polygon)",
		"CREATE TABLE plain (id int PRIMARY KEY)")
	tables := describeAll(t, openMySQL(t, my, db), "")
	pgConn := openPG(t, pg, pg.NewDatabase(t, "ddl_geo"))
	_, failed := migrate(t, pgConn, tables, fullOpts)
	err := failed["places"]
	var ue *schema.UnsupportedError
	// Every unsupported column is named, not just the first.
	if !errors.As(err, &ue) || err.Error() != "column places.pos: type point is not supported on PostgreSQL; column places.area: type polygon is not supported on PostgreSQL" {
		t.Errorf("error %v", err)
	}
	if _, bad := failed["plain"]; bad || len(failed) != 1 {
		t.Errorf("failed %v", failed)
	}
	// MySQL to MySQL keeps it.
	back := openMySQL(t, my, my.NewDatabase(t, "ddl_geo2"))
	if _, failed := migrate(t, back, tables, fullOpts); len(failed) > 0 {
		t.Errorf("mysql to mysql: %v", failed)
	}
}
