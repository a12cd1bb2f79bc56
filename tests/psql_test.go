package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/testbed"
)

// The real psql binary: a syntax error draws its caret and the session goes
// on; a script of definitions runs with ON_ERROR_STOP.
func TestPsqlSyntaxErrorCaret(t *testing.T) {
	g := startGateway(t)
	out, _ := g.psql(t, "admin", "-v", "VERBOSITY=verbose", "-c", "CREATE DATASOURCE d TYPE file OPTONS (path '/var/tmp')")
	if !strings.Contains(out, "42601") || !strings.Contains(out, "LINE 1: CREATE DATASOURCE d TYPE file OPTONS") || !strings.Contains(out, "^") {
		t.Fatalf("psql output lacks SQLSTATE/caret:\n%s", out)
	}
	// psql sends each statement of -c input in its own message when given
	// several -c; the second still runs after the first fails.
	out, err := g.psql(t, "admin", "-c", "SELEC 1", "-c", "SELECT 42 AS answer")
	if !strings.Contains(out, "42") || !strings.Contains(out, "answer") {
		t.Fatalf("session did not go on after a syntax error (%v):\n%s", err, out)
	}
}

func TestPsqlScriptWithOnErrorStop(t *testing.T) {
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	g := startGateway(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "datasources.sql")
	body := fmt.Sprintf(`-- datasource definitions, run with psql -v ON_ERROR_STOP=1 -f
%s
%s
CREATE DATASOURCE files TYPE file OPTIONS (path %s) COMMENT 'landing zone';
ALTER DATASOURCE files COMMENT 'landing zone for exports';
ALTER DATASOURCE files RENAME TO landing;
TEST DATASOURCE warehouse;
TEST DATASOURCE shop;
SELECT name, type, status FROM dataflow.datasources ORDER BY name;
`, pgDatasourceSQL("warehouse", pg, pg.Password), mysqlDatasourceSQL("shop", my, my.Password, my.Database), sqlString(dir))
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := g.psql(t, "admin", "-v", "ON_ERROR_STOP=1", "-f", script)
	if err != nil {
		t.Fatalf("psql -f failed: %v\n%s", err, out)
	}
	for _, want := range []string{"CREATE DATASOURCE", "landing   | file", "shop      | mysql", "warehouse | postgres", "| t  |"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// With an error in the middle, ON_ERROR_STOP stops there: exit code 3.
	bad := filepath.Join(dir, "bad.sql")
	os.WriteFile(bad, []byte("CREATE DATASOURCE a1 TYPE file OPTIONS (path '/var/tmp');\nCREATE DATASOURCE a1 TYPE file OPTIONS (path '/var/tmp');\nCREATE DATASOURCE a2 TYPE file OPTIONS (path '/var/tmp');\n"), 0o644)
	out, err = g.psql(t, "admin", "-v", "ON_ERROR_STOP=1", "-f", bad)
	if err == nil || !strings.Contains(out, `datasource "a1" already exists`) {
		t.Fatalf("want a failing exit and the duplicate message, got %v:\n%s", err, out)
	}
	out, _ = g.psql(t, "admin", "-At", "-c", "SELECT count(*) FROM dataflow.datasources WHERE name = 'a2'")
	if strings.TrimSpace(out) != "0" {
		t.Fatalf("statement after the error ran: %q", out)
	}
}

func TestPsqlBIQueries(t *testing.T) {
	g := startGateway(t)
	out, err := g.psql(t, "admin", "-v", "ON_ERROR_STOP=1",
		"-c", "CREATE DATASOURCE f1 TYPE file OPTIONS (path '/var/tmp')",
		"-c", "CREATE DATASOURCE f2 TYPE file OPTIONS (path '/var/tmp')",
		"-c", "CREATE DATASOURCE l1 TYPE sqlite OPTIONS (path '/tmp/x.db')",
		"-c", "SELECT type, count(*) FROM dataflow.datasources GROUP BY type ORDER BY 2 DESC",
		"-c", "SELECT * FROM dataflow.audit_log WHERE at > now() - interval '1 hour' ORDER BY at DESC LIMIT 5")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{" file   |     2", " sqlite |     1", "(4 rows)", "CREATE DATASOURCE l1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
