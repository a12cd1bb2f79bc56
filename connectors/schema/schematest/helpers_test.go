package schematest_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/connectors/mysql"
	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/connectors/sqlite"
	"github.com/flowgate/flowgate/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func openMySQL(t *testing.T, my *testbed.MySQLServer, db string) *mysql.Conn {
	t.Helper()
	c, err := mysql.Open(map[string]string{"host": my.Host, "port": strconv.Itoa(my.Port), "database": db,
		"user": my.User, "password": my.Password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*mysql.Conn)
}

func openPG(t *testing.T, pg *testbed.PG, db string) *postgres.Conn {
	t.Helper()
	c, err := postgres.Open(map[string]string{"host": pg.Host, "port": strconv.Itoa(pg.Port), "database": db,
		"user": pg.User, "password": pg.Password, "sslmode": "disable", "schema": "public"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*postgres.Conn)
}

func openSQLite(t *testing.T, path string) *sqlite.Conn {
	t.Helper()
	db, err := sql.Open("sqlite3", path) // creates the file
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c, err := sqlite.Open(map[string]string{"path": path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*sqlite.Conn)
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func describeAll(t *testing.T, in schema.Introspector, sch string) []schema.Table {
	t.Helper()
	names, err := in.ListTables(ctx(t), sch)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := in.DescribeTables(ctx(t), sch, names)
	if err != nil {
		t.Fatal(err)
	}
	return tables
}

var fullOpts = schema.CreateOptions{PrimaryKeys: true, Indexes: true, TinyIntOneAsBool: true}

// migrate creates every table on dst and returns the plans by source name.
// Tables whose plan fails are returned in failed.
func migrate(t *testing.T, dst schema.DDLTarget, tables []schema.Table, opts schema.CreateOptions) (plans map[string]schema.Plan, failed map[string]error) {
	t.Helper()
	plans, failed = map[string]schema.Plan{}, map[string]error{}
	for _, tb := range tables {
		p, err := dst.PlanCreate(tb, opts)
		if err != nil {
			failed[tb.Name] = err
			continue
		}
		if err := dst.Apply(ctx(t), p); err != nil {
			t.Fatalf("apply %s:\n%s\n: %v", tb.Name, strings.Join(p.Statements, ";\n"), err)
		}
		plans[tb.Name] = p
	}
	return plans, failed
}

// colInfo is one column as a server's catalog reports it.
type colInfo struct {
	Type, Nullable, Default, Extra, Comment string
}

func (c colInfo) String() string {
	return fmt.Sprintf("%s null=%s default=%s extra=%s comment=%q", c.Type, c.Nullable, c.Default, c.Extra, c.Comment)
}

// pgColumns reads information_schema.columns (with format_type for the
// full type text) of one table.
func pgColumns(t *testing.T, db *sql.DB, table string) ([]string, map[string]colInfo) {
	t.Helper()
	rows, err := db.Query(`SELECT c.column_name, format_type(a.atttypid, a.atttypmod), c.is_nullable,
			COALESCE(c.column_default, ''), c.is_identity || COALESCE(' ' || c.identity_generation, ''),
			COALESCE(col_description(a.attrelid, a.attnum), '')
		FROM information_schema.columns c
		JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass AND a.attname = c.column_name
		WHERE c.table_schema = 'public' AND c.table_name = $1 ORDER BY c.ordinal_position`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var order []string
	out := map[string]colInfo{}
	for rows.Next() {
		var name string
		var ci colInfo
		if err := rows.Scan(&name, &ci.Type, &ci.Nullable, &ci.Default, &ci.Extra, &ci.Comment); err != nil {
			t.Fatal(err)
		}
		order = append(order, name)
		out[name] = ci
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return order, out
}

// myColumns reads information_schema.COLUMNS of one table.
func myColumns(t *testing.T, db *sql.DB, database, table string) ([]string, map[string]colInfo) {
	t.Helper()
	rows, err := db.Query(`SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '<none>'), EXTRA, COLUMN_COMMENT
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, database, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var order []string
	out := map[string]colInfo{}
	for rows.Next() {
		var name string
		var ci colInfo
		if err := rows.Scan(&name, &ci.Type, &ci.Nullable, &ci.Default, &ci.Extra, &ci.Comment); err != nil {
			t.Fatal(err)
		}
		order = append(order, name)
		out[name] = ci
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return order, out
}

// pgIndexes lists "name: definition" of a PostgreSQL table's indexes.
func pgIndexes(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	return strs(t, db, `SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1 ORDER BY indexname`, table)
}

// myIndexes lists "name unique? (col[(sub)], ...)" of a MySQL table.
func myIndexes(t *testing.T, db *sql.DB, database, table string) []string {
	t.Helper()
	return strs(t, db, `SELECT CONCAT(INDEX_NAME, IF(NON_UNIQUE = 0, ' unique', ''), ' (',
			GROUP_CONCAT(CONCAT(COLUMN_NAME, COALESCE(CONCAT('(', SUB_PART, ')'), '')) ORDER BY SEQ_IN_INDEX SEPARATOR ', '), ')')
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
		GROUP BY INDEX_NAME, NON_UNIQUE ORDER BY INDEX_NAME`, database, table)
}

func strs(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func scalar[T any](t *testing.T, db *sql.DB, q string, args ...any) T {
	t.Helper()
	var v T
	if err := db.QueryRow(q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func equalLists(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func hasWarning(p schema.Plan, sub string) bool {
	for _, w := range p.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}
