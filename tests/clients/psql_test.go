package clients

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func (g *gateway) psql(t *testing.T, args ...string) string {
	t.Helper()
	bin := need(t, "psql", "install it with `apt-get install postgresql-client`")
	full := append([]string{"-X", "-h", "127.0.0.1", "-p", fmt.Sprint(g.port), "-U", "admin", "-d", "flowgate", "-v", "ON_ERROR_STOP=1"}, args...)
	cmd := exec.Command(bin, full...)
	cmd.Env = append(os.Environ(), "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10", "PAGER=cat")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// psql's describe commands against the dataflow views.
func TestPsqlDescribe(t *testing.T) {
	g := startGateway(t)
	for _, tc := range []struct {
		cmd  string
		want []string
		not  []string
	}{
		{`\dn`, []string{"dataflow | admin", "(1 row)"}, []string{"pg_catalog"}},
		{`\dv dataflow.*`, []string{"dataflow | audit_log ", "| view | admin", "dataflow | datasources", "dataflow | runs "}, nil},
		// flowgate has views, not tables: psql says so like PostgreSQL.
		{`\dt`, []string{"Did not find any relations."}, nil},
		{`\d`, []string{"dataflow | users", "| view |"}, []string{"pg_class"}},
		{`\d dataflow.audit_log`, []string{`View "dataflow.audit_log"`, " at               | timestamp with time zone |", " duration_ms      | double precision "}, nil},
		{`\d+ dataflow.datasources`, []string{"options    | json", "View definition:", "FROM datasources"}, nil},
		{`\l`, []string{"flowgate | admin | UTF8", "(1 row)"}, nil},
		{`\du`, []string{"admin     | Superuser"}, nil},
		{`\dx`, []string{"(0 rows)"}, nil},
		{`\d pg_catalog.pg_class`, []string{`Table "pg_catalog.pg_class"`, " relkind             | \"char\""}, nil},
		{`\d information_schema.columns`, []string{`View "information_schema.columns"`, "column_name"}, nil},
		{`\sv dataflow.users`, []string{"CREATE OR REPLACE VIEW dataflow.users AS", "FROM users"}, nil},
		{`\dconfig`, []string{"List of non-default configuration parameters"}, nil},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			out := g.psql(t, "-c", tc.cmd)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%s: want %q in\n%s", tc.cmd, w, out)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out, w) {
					t.Errorf("%s: did not want %q in\n%s", tc.cmd, w, out)
				}
			}
		})
	}
}

// Tab completion runs in an interactive psql on a pseudo-terminal: the
// completions must show, and every query psql sent must have succeeded
// (the audit log records each with its SQLSTATE).
func TestPsqlTabCompletion(t *testing.T) {
	bin := need(t, "psql", "install it with `apt-get install postgresql-client`")
	py := need(t, "/usr/bin/python3", "install python3 with `apt-get install python3`")
	g := startGateway(t)
	out, err := exec.Command(py, "testdata/psqltab.py", bin, "127.0.0.1", fmt.Sprint(g.port), "admin", "flowgate").CombinedOutput()
	if err != nil {
		t.Fatalf("psqltab.py: %v\n%s", err, out)
	}
	screen := strings.ReplaceAll(string(out), "\r", "")
	for _, w := range []string{"dataflow.audit_log", "dataflow.datasources", "dataflow.runs", "SELECT * FROM dataflow.audit_log ",
		"SELECT * FROM pg_catalog.pg_class ", "SET search_path TO", "information_schema", "SHOW timezone "} {
		if !strings.Contains(screen, w) {
			t.Errorf("completion %q missing from the psql screen:\n%s", w, screen)
		}
	}
	c := g.connect(t, pgx.QueryExecModeExec)
	var total, failed int
	err = c.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE sqlstate <> '00000')
		FROM dataflow.audit_log WHERE application_name = 'psql-tab'`).Scan(&total, &failed)
	if err != nil {
		t.Fatal(err)
	}
	if total < 8 || failed != 0 {
		rows, _ := c.Query(context.Background(), `SELECT sqlstate, statement FROM dataflow.audit_log WHERE application_name = 'psql-tab' AND sqlstate <> '00000'`)
		defer rows.Close()
		for rows.Next() {
			var code, stmt string
			rows.Scan(&code, &stmt)
			t.Errorf("completion query failed with %s: %s", code, stmt)
		}
		t.Fatalf("tab completion: %d queries, %d failed", total, failed)
	}
}
