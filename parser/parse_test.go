package parser

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func sp(s string) *string { return &s }

// clearSQL drops the Source and, for comparisons, the tree of Std nodes.
func clearSQL(st Statement) Statement {
	v := reflect.ValueOf(st).Elem()
	v.FieldByName("Source").Set(reflect.ValueOf(Source{}))
	if s, ok := st.(*Std); ok {
		s.Tree = nil
	}
	return st
}

func TestParseExtension(t *testing.T) {
	tests := []struct {
		sql  string
		want Statement
	}{
		{`CREATE DATASOURCE pg1 TYPE postgres OPTIONS (host 'localhost', port '5432')`,
			&CreateDatasource{Name: "pg1", NamePos: 18, Type: "postgres", TypePos: 27, Options: []Option{
				{Key: "host", Value: "localhost", KeyPos: 45, ValuePos: 50},
				{Key: "port", Value: "5432", KeyPos: 63, ValuePos: 68}}}},
		{`create datasource if not exists "My DS" type MySQL options (HOST 'h', Port 3306, ssl true, x -1) comment 'hi';`,
			&CreateDatasource{IfNotExists: true, Name: "My DS", NamePos: 32, Type: "mysql", TypePos: 45, Options: []Option{
				{Key: "host", Value: "h", KeyPos: 60, ValuePos: 65},
				{Key: "port", Value: "3306", Kind: ValNumber, KeyPos: 70, ValuePos: 75},
				{Key: "ssl", Value: "true", Kind: ValWord, KeyPos: 81, ValuePos: 85},
				{Key: "x", Value: "-1", Kind: ValNumber, KeyPos: 91, ValuePos: 93}}, Comment: sp("hi")}},
		{"CREATE /* c1 */ DATASOURCE -- c2\n s3 TYPE s3 OPTIONS (\"Secret_Key\" E'a\\'b\\n', prefix $$x'y$$, path $t$;$t$)",
			&CreateDatasource{Name: "s3", NamePos: 34, Type: "s3", TypePos: 42, Options: []Option{
				{Key: "Secret_Key", Value: "a'b\n", KeyPos: 54, ValuePos: 67},
				{Key: "prefix", Value: "x'y", KeyPos: 78, ValuePos: 85},
				{Key: "path", Value: ";", KeyPos: 94, ValuePos: 99}}}},
		{`CREATE DATASOURCE f TYPE file OPTIONS (path 'it''s' 'x') `, nil}, // placeholder replaced below
		{`ALTER DATASOURCE pg1 SET OPTIONS (password 'x')`,
			&AlterDatasourceOptions{Name: "pg1", NamePos: 17, Options: []Option{{Key: "password", Value: "x", KeyPos: 34, ValuePos: 43}}}},
		{`ALTER DATASOURCE pg1 RENAME TO "Pg2"`, &AlterDatasourceRename{Name: "pg1", NamePos: 17, NewName: "Pg2", NewNamePos: 31}},
		{`alter datasource pg1 comment 'new'`, &AlterDatasourceComment{Name: "pg1", NamePos: 17, Comment: "new"}},
		{`DROP DATASOURCE pg1`, &DropDatasource{Name: "pg1", NamePos: 16}},
		{`DROP DATASOURCE IF EXISTS pg1 PURGE;`, &DropDatasource{IfExists: true, Purge: true, Name: "pg1", NamePos: 26}},
		{`RESTORE DATASOURCE Pg1`, &RestoreDatasource{Name: "pg1", NamePos: 19}},
		{`TeSt DaTaSoUrCe pg1 ;; `, &TestDatasource{Name: "pg1", NamePos: 16}},
		{`CREATE USER bob PASSWORD 'pw'`, &CreateUser{Name: "bob", NamePos: 12, Password: "pw", Role: "readonly", RolePos: -1}},
		{`CREATE USER "Bob" WITH ROLE Admin PASSWORD $$p'w$$`, &CreateUser{Name: "Bob", NamePos: 12, Password: "p'w", Role: "admin", RolePos: 28}},
		{`ALTER USER bob PASSWORD 'x'`, &AlterUser{Name: "bob", NamePos: 11, Password: sp("x"), RolePos: -1}},
		{`ALTER USER bob ROLE manage`, &AlterUser{Name: "bob", NamePos: 11, Role: sp("manage"), RolePos: 20}},
		{`ALTER USER bob ROLE 'manage' PASSWORD E'\x41'`, &AlterUser{Name: "bob", NamePos: 11, Role: sp("manage"), RolePos: 20, Password: sp("A")}},
		{`DROP USER bob`, &DropUser{Name: "bob", NamePos: 10}},
		{`DROP USER IF EXISTS bob`, &DropUser{IfExists: true, Name: "bob", NamePos: 20}},
		// Keywords are not reserved: a datasource may be called "type".
		{`CREATE DATASOURCE type TYPE sqlite OPTIONS (path '/x')`,
			&CreateDatasource{Name: "type", NamePos: 18, Type: "sqlite", TypePos: 28, Options: []Option{{Key: "path", Value: "/x", KeyPos: 44, ValuePos: 49}}}},
	}
	tests[3].want = &CreateDatasource{Name: "f", NamePos: 18, Type: "file", TypePos: 25}
	tests[3].sql = "CREATE DATASOURCE f TYPE file OPTIONS (path 'it''s'\n  'x') "
	tests[3].want.(*CreateDatasource).Options = []Option{{Key: "path", Value: "it'sx", KeyPos: 39, ValuePos: 44}}
	for _, tt := range tests {
		st, err := Parse(tt.sql)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.sql, err)
			continue
		}
		if st.Text() != tt.sql {
			t.Errorf("Parse(%q).Text() = %q", tt.sql, st.Text())
		}
		if st.Kind() != tt.want.Kind() {
			t.Errorf("Parse(%q).Kind() = %q, want %q", tt.sql, st.Kind(), tt.want.Kind())
		}
		if got := clearSQL(st); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q)\n got %#v\nwant %#v", tt.sql, got, tt.want)
		}
	}
}

func TestParseStd(t *testing.T) {
	tests := []struct {
		sql  string
		want Std
	}{
		{"SELECT 1", Std{Command: "SELECT"}},
		{"with x as (select 1) select * from x", Std{Command: "SELECT"}},
		{"VALUES (1)", Std{Command: "SELECT"}},
		{"select name from dataflow.datasources where name = 'a;b';", Std{Command: "SELECT"}},
		{"SET application_name = 'psql'", Std{Command: "SET", Name: "application_name", Values: []string{"psql"}}},
		{"SET LOCAL search_path TO a, 'B'", Std{Command: "SET", Name: "search_path", Values: []string{"a", "B"}, IsLocal: true}},
		{"SET extra_float_digits = 3", Std{Command: "SET", Name: "extra_float_digits", Values: []string{"3"}}},
		{"SET TIME ZONE 'UTC'", Std{Command: "SET", Name: "timezone", Values: []string{"UTC"}}},
		{"SET x TO DEFAULT", Std{Command: "SET", Name: "x", IsReset: true}},
		{"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
			Std{Command: "SET", Name: "SESSION CHARACTERISTICS", Options: []Option{{Key: "transaction_isolation", Value: "read committed", KeyPos: 43, ValuePos: -1}}}},
		{"RESET ALL", Std{Command: "RESET", Name: "all", IsReset: true}},
		{"RESET statement_timeout", Std{Command: "RESET", Name: "statement_timeout", IsReset: true}},
		{"SHOW TRANSACTION ISOLATION LEVEL", Std{Command: "SHOW", Name: "transaction_isolation"}},
		{"SHOW ALL", Std{Command: "SHOW", Name: "all"}},
		{"show server_version", Std{Command: "SHOW", Name: "server_version"}},
		{"BEGIN", Std{Command: "BEGIN"}},
		{"START TRANSACTION READ ONLY", Std{Command: "START TRANSACTION", Options: []Option{{Key: "transaction_read_only", Value: "1", Kind: ValNumber, KeyPos: 18, ValuePos: -1}}}},
		{"COMMIT", Std{Command: "COMMIT"}},
		{"END", Std{Command: "COMMIT"}},
		{"ROLLBACK", Std{Command: "ROLLBACK"}},
		{"ABORT", Std{Command: "ROLLBACK"}},
		{"ROLLBACK TO SAVEPOINT s1", Std{Command: "ROLLBACK", Savepoint: "s1"}},
		{"SAVEPOINT s1", Std{Command: "SAVEPOINT", Savepoint: "s1"}},
		{"DISCARD ALL", Std{Command: "DISCARD", Name: "all"}},
		{"DEALLOCATE ALL", Std{Command: "DEALLOCATE", Name: "all"}},
		{"DEALLOCATE stmt1", Std{Command: "DEALLOCATE", Name: "stmt1"}},
	}
	for _, tt := range tests {
		st, err := Parse(tt.sql)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.sql, err)
			continue
		}
		s, ok := st.(*Std)
		if !ok {
			t.Errorf("Parse(%q) = %T", tt.sql, st)
			continue
		}
		if s.Tree == nil || len(s.Tree.Stmts) != 1 || s.Text() != tt.sql || s.Kind() != tt.want.Command {
			t.Errorf("Parse(%q): tree %v text %q kind %q", tt.sql, s.Tree, s.Text(), s.Kind())
		}
		if got := clearSQL(s); !reflect.DeepEqual(*got.(*Std), tt.want) {
			t.Errorf("Parse(%q)\n got %#v\nwant %#v", tt.sql, *got.(*Std), tt.want)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, sql := range []string{"", "  ", "-- ping", "/* x */ ;"} {
		st, err := Parse(sql)
		if err != nil || st.Kind() != "EMPTY" {
			t.Errorf("Parse(%q) = %v, %v", sql, st, err)
		}
	}
}

type wantErr struct {
	code, msg string
	pos       int32
	hint      string // substring
}

func checkErr(t *testing.T, sql string, err error, w wantErr) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Errorf("Parse(%q): error %v (%T), want *pgconn.PgError", sql, err, err)
		return
	}
	if pe.Code != w.code || pe.Message != w.msg || pe.Position != w.pos || !strings.Contains(pe.Hint, w.hint) {
		t.Errorf("Parse(%q)\n got %s %q pos %d hint %q\nwant %s %q pos %d hint ~%q", sql, pe.Code, pe.Message, pe.Position, pe.Hint, w.code, w.msg, w.pos, w.hint)
	}
}

func TestParseErrors(t *testing.T) {
	const unsupp = "; supported: SELECT over dataflow.* views, SET, SHOW, BEGIN/COMMIT/ROLLBACK, and the flowgate statements in docs/sql-reference.md"
	tests := []struct {
		sql string
		wantErr
	}{
		{`CREATE DATASOURCE x OPTIONS (a 'b')`, wantErr{"42601", `syntax error at or near "OPTIONS"`, 21, "TYPE postgres|mysql|sqlite|s3|file"}},
		{`CREATE DATASOURCE x TYPE`, wantErr{"42601", `syntax error at end of input`, 25, "datasource type"}},
		{`CREATE DATASOURCE x TYPE pg OPTIONS (a 'b' c 'd')`, wantErr{"42601", `syntax error at or near "c"`, 44, "expected , or )"}},
		{`CREATE DATASOURCE x TYPE pg OPTIONS ()`, wantErr{"42601", `syntax error at or near ")"`, 38, "option name"}},
		{`CREATE DATASOURCE x TYPE pg OPTIONS (a 'b') COMMENT x`, wantErr{"42601", `syntax error at or near "x"`, 53, "string literal"}},
		{`CREATE DATASOURCE x TYPE pg OPTIONS (a 'b') extra`, wantErr{"42601", `syntax error at or near "extra"`, 45, "end of statement"}},
		// Multibyte characters before the error: positions count characters.
		{`CREATE DATASOURCE "数据源" TYPE pg OPTIONS (描述 'é' oops)`, wantErr{"42601", `syntax error at or near "oops"`, 49, ""}},
		{"CREATE DATASOURCE x TYPE pg OPTIONS (a 'é\n", wantErr{"42601", "unterminated quoted string at or near \"'é\n\"", 40, ""}},
		{`CREATE DATASOURCE "ü TYPE`, wantErr{"42601", `unterminated quoted identifier at or near ""ü TYPE"`, 19, ""}},
		{`CREATE DATASOURCE x TYPE pg OPTIONS (a $q$abc)`, wantErr{"42601", `unterminated dollar-quoted string at or near "$q$abc)"`, 40, ""}},
		{`CREATE DATASOURCE /* /* */ x`, wantErr{"42601", `unterminated /* comment at or near "/* /* */ x"`, 19, ""}},
		{`CREATE DATASOURCE "" TYPE pg`, wantErr{"42601", `zero-length delimited identifier at or near """"`, 19, ""}},
		{`CREATE DATASOURCE x TYPE pg OPTIONS (port 12ab)`, wantErr{"42601", `trailing junk after numeric literal at or near "12ab"`, 43, ""}},
		{`CREATE DATASOURCE x TYPE pg OPTIONS (a E'\u12')`, wantErr{"22025", `invalid Unicode escape`, 40, `\uXXXX`}},
		{`CREATE DATASOURCE x TYPE pg OPTIONS (a E'\xff')`, wantErr{"22021", `invalid byte sequence for encoding "UTF8"`, 40, ""}},
		{`CREATE USER bob`, wantErr{"42601", `syntax error at end of input`, 16, "PASSWORD"}},
		{`CREATE USER bob ROLE admin ROLE admin`, wantErr{"42601", `syntax error at or near "ROLE"`, 28, ""}},
		{`ALTER USER bob`, wantErr{"42601", `syntax error at end of input`, 15, "PASSWORD 'password' or ROLE"}},
		{`ALTER DATASOURCE x DROP`, wantErr{"42601", `syntax error at or near "DROP"`, 20, "SET OPTIONS, RENAME TO or COMMENT"}},
		{`ALTER DATASOURCE x RENAME y`, wantErr{"42601", `syntax error at or near "y"`, 27, "expected TO"}},
		{`RESTORE x`, wantErr{"42601", `syntax error at or near "x"`, 9, "expected DATASOURCE"}},
		{`RUN SYNC x`, wantErr{"42601", `syntax error at or near "x"`, 10, "expected JOB"}},
		{`RUN`, wantErr{"42601", `syntax error at end of input`, 4, "expected DDL or SYNC"}},
		{"SELECT 'é' FRM x", wantErr{"42601", `syntax error at or near "x"`, 16, ""}},
		{"SELECT (", wantErr{"42601", `syntax error at end of input`, 9, ""}},
		{"SELECT 1; SELECT 2", wantErr{"42601", "cannot insert multiple commands into a prepared statement", 0, ""}},
		{"SELECT '\xff'", wantErr{"22021", `invalid byte sequence for encoding "UTF8"`, 9, ""}},
		// Statements about a PostgreSQL table called "model" get PostgreSQL's answer.
		{`CREATE TABLE model (a int)`, wantErr{"0A000", "flowgate does not support CREATE TABLE" + unsupp, 0, ""}},
		{`DROP TABLE model`, wantErr{"0A000", "flowgate does not support DROP TABLE" + unsupp, 0, ""}},
		{`ALTER TABLE model ADD COLUMN b int`, wantErr{"0A000", "flowgate does not support ALTER TABLE" + unsupp, 0, ""}},
		// Standard statements flowgate does not answer.
		{`INSERT INTO t VALUES (1)`, wantErr{"0A000", "flowgate does not support INSERT" + unsupp, 0, ""}},
		{`update t set a = 1`, wantErr{"0A000", "flowgate does not support UPDATE" + unsupp, 0, ""}},
		{`CREATE TABLE t (a int)`, wantErr{"0A000", "flowgate does not support CREATE TABLE" + unsupp, 0, ""}},
		{`DROP TABLE t`, wantErr{"0A000", "flowgate does not support DROP TABLE" + unsupp, 0, ""}},
		{`COPY t FROM STDIN`, wantErr{"0A000", "flowgate does not support COPY" + unsupp, 0, ""}},
		{`CREATE ROLE r`, wantErr{"0A000", "flowgate does not support CREATE ROLE" + unsupp, 0, ""}},
		{`SELECT * INTO t FROM x`, wantErr{"0A000", "flowgate does not support SELECT INTO" + unsupp, 0, ""}},
		{`IMPORT FOREIGN SCHEMA s FROM SERVER x INTO y`, wantErr{"0A000", "flowgate does not support IMPORT FOREIGN SCHEMA" + unsupp, 0, ""}},
		{`REFRESH MATERIALIZED VIEW v`, wantErr{"0A000", "flowgate does not support REFRESH MATERIALIZED VIEW" + unsupp, 0, ""}},
	}
	for _, tt := range tests {
		st, err := Parse(tt.sql)
		if err == nil {
			t.Errorf("Parse(%q) = %#v, want error", tt.sql, st)
			continue
		}
		checkErr(t, tt.sql, err, tt.wantErr)
	}
}

func TestOffsetToPosition(t *testing.T) {
	s := "aé数x"
	for off, want := range map[int]int{-1: 1, 0: 1, 1: 2, 3: 3, 6: 4, 7: 5, 100: 5} {
		if got := OffsetToPosition(s, off); got != want {
			t.Errorf("OffsetToPosition(%q, %d) = %d, want %d", s, off, got, want)
		}
	}
}

func TestShiftPosition(t *testing.T) {
	msg := "SELECT 'é'; CREATE USER x"
	pieces := Split(msg)
	_, err := Parse(pieces[1].Text)
	ShiftPosition(err, msg, pieces[1].Offset)
	checkErr(t, msg, err, wantErr{"42601", "syntax error at end of input", 26, ""})
}

func TestClassify(t *testing.T) {
	for sql, want := range map[string]string{
		"create sync job x": "CREATE SYNC JOB", "ALTER DATASOURCE x oops": "ALTER DATASOURCE",
		"insert into t": "INSERT", "with x as (select 1) select 1": "SELECT", "": "", "-- x": "",
		"Run Ddl Task t": "RUN DDL TASK", "CREATE USER 'x": "CREATE USER",
	} {
		if got := Classify(sql); got != want {
			t.Errorf("Classify(%q) = %q, want %q", sql, got, want)
		}
	}
}

func TestLexer(t *testing.T) {
	type tk struct {
		kind tokKind
		val  string
		pos  int
	}
	tests := []struct {
		sql  string
		want []tk
	}{
		{`Foo "Bar" "a""b" U&"d\0061t" _x$1`, []tk{{tkIdent, "foo", 0}, {tkIdent, "Bar", 4}, {tkIdent, `a"b`, 10}, {tkIdent, "dat", 17}, {tkIdent, "_x$1", 29}}},
		{`'a''b' E'\t\'\\\101\x41\u00e9' N'n' U&'\00e9' B'101' X'ff'`, []tk{{tkString, "a'b", 0}, {tkString, "\t'\\AAé", 7}, {tkString, "n", 31}, {tkString, "é", 36}, {tkBits, "101", 46}, {tkBits, "ff", 53}}},
		{"$$a$b$$ $tag$x$$y$tag$ $1 $23", []tk{{tkString, "a$b", 0}, {tkString, "x$$y", 8}, {tkParam, "1", 23}, {tkParam, "23", 26}}},
		{"1 1.5 .5 1e10 1.5E-3 1_000 0x1F 0o17 0b101 1..2", []tk{{tkNumber, "1", 0}, {tkNumber, "1.5", 2}, {tkNumber, ".5", 6}, {tkNumber, "1e10", 9}, {tkNumber, "1.5E-3", 14}, {tkNumber, "1000", 21}, {tkNumber, "0x1F", 27}, {tkNumber, "0o17", 32}, {tkNumber, "0b101", 37}, {tkNumber, "1", 43}, {tkOp, "..", 44}, {tkNumber, "2", 46}}},
		{"a=-1 a<>b x::int ( ) , ; := => @- !=", []tk{{tkIdent, "a", 0}, {tkOp, "=", 1}, {tkOp, "-", 2}, {tkNumber, "1", 3}, {tkIdent, "a", 5}, {tkOp, "<>", 6}, {tkIdent, "b", 8}, {tkIdent, "x", 10}, {tkOp, "::", 11}, {tkIdent, "int", 13}, {tkOp, "(", 17}, {tkOp, ")", 19}, {tkOp, ",", 21}, {tkOp, ";", 23}, {tkOp, ":=", 25}, {tkOp, "=>", 28}, {tkOp, "@-", 31}, {tkOp, "!=", 34}}},
		{"a -- c\n/* x /* y */ z */ b*/*c*/c", []tk{{tkIdent, "a", 0}, {tkIdent, "b", 25}, {tkOp, "*", 26}, {tkIdent, "c", 32}}},
		{"'a'\n  'b' 'c'", []tk{{tkString, "ab", 0}, {tkString, "c", 10}}},
		{"ÄÖ x", []tk{{tkIdent, "ÄÖ", 0}, {tkIdent, "x", 5}}},
	}
	for _, tt := range tests {
		toks, err := lex(tt.sql, false)
		if err != nil {
			t.Errorf("lex(%q): %v", tt.sql, err)
			continue
		}
		var got []tk
		for _, x := range toks[:len(toks)-1] {
			got = append(got, tk{x.kind, x.val, x.pos})
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("lex(%q)\n got %v\nwant %v", tt.sql, got, tt.want)
		}
	}
}
