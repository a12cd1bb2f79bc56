package mysql

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors/schema"
)

func TestTokenize(t *testing.T) {
	got := tokenize("/*!40000 ALTER TABLE `a``b` */ -- gone\n# gone too\nADD 'it''s \\n' \"dq\" 1.5e-3 x.y /* c */ (")
	var parts []string
	for _, tk := range got {
		parts = append(parts, string(tk.kind)+":"+tk.text)
	}
	want := "w:ALTER w:TABLE q:a`b w:ADD s:it's \n d:dq n:1.5e-3 w:x p:. w:y p:("
	if s := strings.Join(parts, " "); s != want {
		t.Fatalf("tokens\n got %q\nwant %q", s, want)
	}
}

// baseDef is id int PK, a varchar(10) latin1, b int; table default utf8mb4.
func baseDef() *tableDef {
	mk := func(name, typ, cs string) colDef {
		c := colSpec{name: name, typeText: typ, charset: cs}
		return c.toColDef("utf8mb4")
	}
	return &tableDef{Cols: []colDef{mk("id", "int", ""), mk("a", "varchar(10)", "latin1"), mk("b", "int", "")}, PK: []string{"id"}, Charset: "utf8mb4"}
}

func describeDef(d *tableDef) string {
	var parts []string
	for _, c := range d.Cols {
		s := c.Name + " " + c.Type.Native
		if c.Charset != "" {
			s += " " + c.Charset
		}
		if len(c.Type.Values) > 0 {
			s += fmt.Sprintf(" %q", c.Type.Values)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ") + " pk(" + strings.Join(d.PK, ",") + ") cs " + d.Charset
}

func TestAlterTable(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{"ALTER TABLE t ADD COLUMN c INT AFTER id", "id int, c int, a varchar(10) latin1, b int pk(id) cs utf8mb4"},
		{"ALTER TABLE `db`.`t` ADD c decimal(10,2) unsigned NOT NULL DEFAULT '1.5' COMMENT 'x, y' FIRST",
			"c decimal(10,2) unsigned, id int, a varchar(10) latin1, b int pk(id) cs utf8mb4"},
		{"alter table t drop column a, add column d text character set latin1, modify b bigint unsigned after id",
			"id int, b bigint unsigned, d text latin1 pk(id) cs utf8mb4"},
		{"ALTER TABLE t CHANGE b bb ENUM('x','y,z', 'it''s') NOT NULL", `id int, a varchar(10) latin1, bb enum('x','y,z','it''s') utf8mb4 ["x" "y,z" "it's"] pk(id) cs utf8mb4`},
		{"ALTER TABLE t CHANGE COLUMN id ident bigint", "ident bigint, a varchar(10) latin1, b int pk(ident) cs utf8mb4"},
		{"ALTER TABLE t RENAME COLUMN a TO aa", "id int, aa varchar(10) latin1, b int pk(id) cs utf8mb4"},
		{"ALTER TABLE t ADD (x int, y char(3))", "id int, a varchar(10) latin1, b int, x int, y char(3) utf8mb4 pk(id) cs utf8mb4"},
		{"ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY USING BTREE (a(5), b DESC)", "id int, a varchar(10) latin1, b int pk(a,b) cs utf8mb4"},
		{"ALTER TABLE t CONVERT TO CHARACTER SET latin1 COLLATE latin1_bin", "id int, a varchar(10) latin1, b int pk(id) cs latin1"},
		{"ALTER TABLE t DEFAULT CHARSET = latin1, ADD z varchar(3)", "id int, a varchar(10) latin1, b int, z varchar(3) latin1 pk(id) cs latin1"},
		{"ALTER TABLE t ADD COLUMN k int DEFAULT (1+2) AFTER a, ADD COLUMN `first` int first",
			"first int, id int, a varchar(10) latin1, k int, b int pk(id) cs utf8mb4"},
		{"ALTER TABLE t MODIFY a varchar(20) BINARY NOT NULL", "id int, a varchar(20) utf8mb4, b int pk(id) cs utf8mb4"},
		{"ALTER TABLE t ADD COLUMN j json, ADD bb char(4) character set binary, ADD n national varchar(5), ADD s serial",
			"id int, a varchar(10) latin1, b int, j json utf8mb4, bb char(4), n national varchar(5) utf8mb3, s bigint unsigned pk(id) cs utf8mb4"},
		{"ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (b + 1) VIRTUAL, ADD t2 timestamp(6) NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)",
			"id int, a varchar(10) latin1, b int, g int, t2 timestamp(6) pk(id) cs utf8mb4"},
		{"ALTER TABLE t ADD COLUMN IF NOT EXISTS b int, DROP COLUMN IF EXISTS nope", "id int, a varchar(10) latin1, b int pk(id) cs utf8mb4"},
		{"ALTER TABLE t ADD INDEX ix (a), ADD UNIQUE KEY (b), ALGORITHM=INSTANT, LOCK=NONE, ALTER COLUMN b SET DEFAULT 3, ENGINE=InnoDB",
			"id int, a varchar(10) latin1, b int pk(id) cs utf8mb4"},
		{"ALTER TABLE t ADD c2 int UNIQUE KEY, ADD c3 int KEY", "id int, a varchar(10) latin1, b int, c2 int, c3 int pk(c3) cs utf8mb4"},
		{"ALTER TABLE t ADD c4 double precision, ADD c5 character varying(7), ADD c6 int1 zerofill", "id int, a varchar(10) latin1, b int, c4 double precision, c5 varchar(7) utf8mb4, c6 tinyint zerofill pk(id) cs utf8mb4"},
	} {
		d := parseDDL(tc.sql, "db")
		if d.kind != ddlAlter || d.unparsed || d.table != (tableKey{"db", "t"}) {
			t.Errorf("%s: parsed as %+v", tc.sql, d)
			continue
		}
		nd, err := applyAlter(baseDef(), d.specs)
		if err != nil {
			t.Errorf("%s: %v", tc.sql, err)
			continue
		}
		if got := describeDef(nd); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.sql, got, tc.want)
		}
	}
	// Types ParseType knows.
	d := parseDDL("ALTER TABLE t ADD e enum('a','b'), ADD s set('x','y') CHARACTER SET latin1, ADD bt bit(1), ADD u tinyint(1) unsigned, ADD v tinyint(1)", "db")
	nd, err := applyAlter(baseDef(), d.specs)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]schema.Kind{"e": schema.Enum, "s": schema.Set, "bt": schema.Bool, "u": schema.Int8, "v": schema.Bool}
	for name, k := range kinds {
		if c := nd.Cols[nd.col(name)]; c.Type.Kind != k {
			t.Errorf("%s: kind %s, want %s", name, c.Type.Kind, k)
		}
	}
	if c := nd.Cols[nd.col("s")]; c.Charset != "latin1" || !slices.Equal(c.Type.Values, []string{"x", "y"}) {
		t.Errorf("set column %+v", c)
	}

	// Clauses that do not fit the tracked structure fail.
	for _, bad := range []string{"ALTER TABLE t ADD x int AFTER nope", "ALTER TABLE t MODIFY nope int", "ALTER TABLE t RENAME COLUMN nope TO x"} {
		if _, err := applyAlter(baseDef(), parseDDL(bad, "db").specs); err == nil {
			t.Errorf("%s applied", bad)
		}
	}
	// Clauses of unknown effect on the columns.
	for _, q := range []string{"ALTER TABLE t ADD SYSTEM VERSIONING", "ALTER TABLE t DROP SYSTEM VERSIONING", "ALTER TABLE t MODIFY"} {
		if d := parseDDL(q, "db"); d.kind != ddlAlter || !d.unparsed {
			t.Errorf("%s: %+v", q, d)
		}
	}
}

func TestParseOtherDDL(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		kind ddlKind
		want string
	}{
		{"RENAME TABLE a TO b, x.c TO `y`.`d`", ddlRename, "[[`db`.`a` `db`.`b`] [`x`.`c` `y`.`d`]]"},
		{"DROP TABLE IF EXISTS `t`, x.y /* generated by server */", ddlDrop, "[`db`.`t` `x`.`y`]"},
		{"TRUNCATE t", ddlTruncate, "`db`.`t`"},
		{"truncate table other.t", ddlTruncate, "`other`.`t`"},
		{"CREATE TABLE IF NOT EXISTS t (id int)", ddlCreate, "`db`.`t`"},
		{"CREATE OR REPLACE TABLE t LIKE u", ddlCreate, "`db`.`t`"},
		{"DROP DATABASE IF EXISTS shop", ddlDropDB, "shop"},
		{"ALTER TABLE t RENAME TO t2", ddlAlter, "[[`db`.`t` `db`.`t2`]]"},
		{"CREATE TEMPORARY TABLE t (id int)", ddlNone, ""},
		{"DROP TEMPORARY TABLE IF EXISTS t", ddlNone, ""},
		{"CREATE INDEX ix ON t (a)", ddlNone, ""},
		{"INSERT INTO t VALUES (1)", ddlNone, ""},
		{"/*!40000 ALTER TABLE `t` DISABLE KEYS */", ddlAlter, ""},
	} {
		d := parseDDL(tc.sql, "db")
		if d.kind != tc.kind {
			t.Errorf("%s: kind %d, want %d", tc.sql, d.kind, tc.kind)
			continue
		}
		var got string
		switch d.kind {
		case ddlRename:
			got = fmt.Sprint(d.renames)
		case ddlDrop:
			got = fmt.Sprint(d.tables)
		case ddlTruncate, ddlCreate:
			got = fmt.Sprint(d.table)
		case ddlDropDB:
			got = d.db
		case ddlAlter:
			if len(d.renames) > 0 {
				got = fmt.Sprint(d.renames)
			} else if len(d.specs) > 0 || d.unparsed {
				got = "changes"
			}
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.sql, got, tc.want)
		}
	}
	if got := fmt.Sprint(ddlTables("ALTER TABLE t ADD INDEX (a)", "db")); got != "[]" {
		t.Errorf("an index changes no columns: %s", got)
	}
	if got := fmt.Sprint(ddlTables("ALTER TABLE t ADD x int", "db")); got != "[`db`.`t`]" {
		t.Errorf("ADD COLUMN: %s", got)
	}
	if got := fmt.Sprint(ddlTables("TRUNCATE t", "db")); got != "[]" {
		t.Errorf("TRUNCATE changes no columns: %s", got)
	}
}

func TestCreateTable(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{"CREATE TABLE t (id int NOT NULL AUTO_INCREMENT, `name` varchar(20) CHARACTER SET latin1 DEFAULT 'a,b', e enum('x','y') NOT NULL, " +
			"created timestamp(6) NULL DEFAULT CURRENT_TIMESTAMP(6), PRIMARY KEY (`id`), KEY ix (`name`), CONSTRAINT fk FOREIGN KEY (e) REFERENCES o (e)) " +
			"ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci",
			`id int, name varchar(20) latin1, e enum('x','y') utf8mb3 ["x" "y"], created timestamp(6) pk(id) cs utf8mb3`},
		{"CREATE TABLE IF NOT EXISTS db2.t (a int PRIMARY KEY, b text)", "a int, b text utf8mb4 pk(a) cs utf8mb4"},
		{"create table t (a int, b int, constraint pk primary key (b, a)) charset latin1", "a int, b int pk(b,a) cs latin1"},
	} {
		d := parseDDL(tc.sql, "db")
		if d.kind != ddlCreate || d.unparsed || d.like != nil {
			t.Errorf("%s: %+v", tc.sql, d)
			continue
		}
		if got := describeDef(d.createDef("utf8mb4")); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.sql, got, tc.want)
		}
	}
	if d := parseDDL("CREATE TABLE `_t_gho` LIKE `db`.`t`", "db"); d.like == nil || *d.like != (tableKey{"db", "t"}) || d.table.name != "_t_gho" {
		t.Errorf("LIKE: %+v", d)
	}
	if d := parseDDL("CREATE TABLE t2 (LIKE t)", "db"); d.like == nil || *d.like != (tableKey{"db", "t"}) {
		t.Errorf("(LIKE): %+v", d)
	}
	for _, q := range []string{"CREATE TABLE t SELECT * FROM u", "CREATE TABLE t (a int) SELECT 1 AS b", "CREATE TABLE t AS SELECT 1"} {
		if d := parseDDL(q, "db"); d.kind != ddlCreate || !d.unparsed {
			t.Errorf("%s: %+v", q, d)
		}
	}
}

// The parser never panics, whatever the statement.
func FuzzParseDDL(f *testing.F) {
	for _, s := range []string{"ALTER TABLE t ADD COLUMN c INT AFTER id", "ALTER TABLE t ADD (x int, y char(3))",
		"ALTER TABLE t CHANGE b bb ENUM('x','y,z') NOT NULL", "RENAME TABLE a TO b", "/*!40000 ALTER", "ALTER TABLE t ADD c int DEFAULT (",
		"ALTER TABLE `", "ALTER TABLE t MODIFY a varchar(20) CHARACTER SET", "DROP TABLE a,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		d := parseDDL(q, "db")
		if d.kind == ddlAlter {
			applyAlter(baseDef(), d.specs)
		}
		if d.kind == ddlCreate {
			d.createDef("utf8mb4")
		}
		ddlTables(q, "db")
	})
}
