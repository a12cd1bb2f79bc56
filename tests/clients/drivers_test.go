package clients

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pgjdbc: DatabaseMetaData, ResultSetMetaData, PreparedStatement with
// parameters (and the server-prepared statement pgjdbc switches to on the
// fifth run) and setFetchSize with autocommit off (named portal, row
// limit, PortalSuspended).
func TestJDBC(t *testing.T) {
	javac := need(t, "javac", "install a JDK 17 (apt-get install openjdk-17-jdk-headless)")
	java := need(t, "java", "install a JDK 17 (apt-get install openjdk-17-jdk-headless)")
	jar := need(t, "/usr/share/java/postgresql.jar", "install pgjdbc with `apt-get install libpostgresql-jdbc-java`")
	g := startGateway(t)
	classes := t.TempDir()
	if out, err := exec.Command(javac, "-d", classes, "testdata/JdbcCheck.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	url := "jdbc:postgresql://" + g.addr() + "/flowgate?sslmode=disable"
	f := run(t, nil, java, "-cp", classes+string(os.PathListSeparator)+jar, "JdbcCheck", url, "admin")
	wantFact(t, f, "product", "PostgreSQL 16.0 (flowgate 0.1.0)")
	wantFact(t, f, "schema", "dataflow\ninformation_schema\npg_catalog")
	wantFact(t, f, "catalog", "flowgate")
	wantFactContains(t, f, "table", "dataflow.audit_log:VIEW", "dataflow.datasources:VIEW", "dataflow.runs:VIEW")
	wantFact(t, f, "column", strings.Join([]string{
		"at:timestamptz:93:1:YES", "user:text:12:2:YES", "client_addr:text:12:3:YES",
		"application_name:text:12:4:YES", "statement:text:12:5:YES", "sqlstate:text:12:6:YES",
		"duration_ms:float8:8:7:YES"}, "\n"))
	wantFact(t, f, "primary_keys", "0")
	// Same answers PostgreSQL 15 gives for a view's columns.
	wantFact(t, f, "rsmd", strings.Join([]string{
		"at:timestamptz:93:audit_log::1:false", "user:text:12:audit_log::1:false",
		"duration_ms:float8:8:audit_log::1:false", "statement:text:12:audit_log::1:false"}, "\n"))
	wantFact(t, f, "prepared_count_positive", "true")
	wantFact(t, f, "fetched_rows_at_least_3", "true")
	if f["views"] == "" || f["views"] == "0" {
		t.Errorf("views = %q, want the dataflow views", f["views"])
	}
}

// psycopg2 with and without autocommit, and SQLAlchemy's inspector and
// pandas-style reads, through Debian's python3 (not a pyenv one).
func TestPython(t *testing.T) {
	py := need(t, "/usr/bin/python3", "install python3 with `apt-get install python3`")
	if out, err := exec.Command(py, "-c", "import psycopg2, sqlalchemy").CombinedOutput(); err != nil {
		t.Fatalf("psycopg2/SQLAlchemy missing: install them with `apt-get install python3-psycopg2 python3-sqlalchemy`\n%s", out)
	}
	g := startGateway(t)
	f := run(t, nil, py, "testdata/pycheck.py", strings.TrimSuffix(g.url(), "?sslmode=disable"))
	wantFact(t, f, "pg2_rows", "[('f1', 'file'), ('l1', 'sqlite')]")
	wantFact(t, f, "pg2_param_count_positive", "True")
	wantFact(t, f, "pg2_auto", "flowgate/admin/PostgreSQL")
	wantFact(t, f, "pg2_auto_params", "(42, 'x')")
	wantFact(t, f, "sa_one", "1")
	wantFact(t, f, "sa_group", "[('file', 1), ('sqlite', 1)]")
	wantFact(t, f, "sa_param", "['f1']")
	wantFact(t, f, "sa_schemas", "['dataflow', 'information_schema']")
	wantFact(t, f, "sa_views_has_audit_log", "True")
	wantFact(t, f, "sa_views_has_datasources", "True")
	wantFact(t, f, "sa_tables", "[]")
	wantFact(t, f, "sa_columns", "[('name', 'TEXT'), ('type', 'TEXT'), ('status', 'TEXT'), ('options', 'JSON'), ('comment', 'TEXT'), ('created_at', 'TIMESTAMP'), ('updated_at', 'TIMESTAMP')]")
	wantFact(t, f, "sa_pk", "{'constrained_columns': [], 'name': None}")
	wantFact(t, f, "sa_has_table", "True")
	wantFact(t, f, "sa_view_definition_nonempty", "True")
	wantFact(t, f, "sa_frame", "[('f1', 'file', 'datetime'), ('l1', 'sqlite', 'datetime')]")
}

// node-postgres simple, parameterized and named (prepared) queries. The
// pg package is installed by .ci/run into ~/.cache/flowgate-clients.
func TestNodePostgres(t *testing.T) {
	node := need(t, "node", "install Node.js (apt-get install nodejs npm)")
	home, _ := os.UserHomeDir()
	modules := filepath.Join(home, ".cache", "flowgate-clients", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "pg", "package.json")); err != nil {
		t.Fatalf("node-postgres not found in %s: install it with `npm install --prefix ~/.cache/flowgate-clients pg@8` (.ci/run does)", modules)
	}
	g := startGateway(t)
	f := run(t, []string{"NODE_PATH=" + modules}, node, "testdata/nodecheck.js", g.url())
	wantFact(t, f, "simple_rows", `[{"name":"f1","type":"file"},{"name":"l1","type":"sqlite"}]`)
	wantFact(t, f, "simple_fields", `[["name",25,true,1],["type",25,true,2]]`)
	wantFact(t, f, "param_count", "1")
	wantFact(t, f, "named_rows", `["l1"]`)
	wantFact(t, f, "named_again", `["f1"]`)
	wantFact(t, f, "timestamp_is_date", "true")
	wantFact(t, f, "views_has_runs", "true")
	wantFact(t, f, "unsupported", `"0A000"`)
}
