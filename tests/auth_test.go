package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestRolesAreEnforced(t *testing.T) {
	g := startGateway(t)
	ctx := context.Background()
	admin := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, admin, "CREATE USER viewer PASSWORD 'viewer-pass-1' ROLE readonly")
	mustExec(t, admin, "CREATE USER ops PASSWORD 'ops-pass-123' ROLE manage")
	_, err := admin.Exec(ctx, "CREATE USER viewer PASSWORD 'another-pass' ROLE readonly")
	wantCode(t, err, "42710")
	_, err = admin.Exec(ctx, "CREATE USER bad PASSWORD 'another-pass' ROLE superhero")
	wantCode(t, err, "22023")

	ro := g.connect(t, "viewer", pgx.QueryExecModeExec)
	_, err = ro.Exec(ctx, "CREATE DATASOURCE x TYPE file OPTIONS (path '/var/tmp')")
	wantCode(t, err, "42501")
	mustExec(t, ro, "SELECT count(*) FROM dataflow.datasources")
	mustExec(t, ro, "ALTER USER viewer PASSWORD 'viewer-pass-2'")

	ops := g.connect(t, "ops", pgx.QueryExecModeExec)
	mustExec(t, ops, "CREATE DATASOURCE y TYPE postgres OPTIONS (host '127.0.0.1', database 'd', user 'u')")
	_, err = ops.Exec(ctx, "CREATE USER z PASSWORD 'zzzzzzzzz' ROLE admin")
	wantCode(t, err, "42501")
	_, err = ops.Exec(ctx, "ALTER USER ops ROLE admin")
	wantCode(t, err, "42501")

	var role string
	mustScan(t, admin.QueryRow(ctx, "SELECT role FROM dataflow.users WHERE name = 'ops'"), &role)
	if role != "manage" {
		t.Fatalf("role %q", role)
	}
	_, err = admin.Exec(ctx, "DROP USER admin")
	wantCode(t, err, "55006")
	mustExec(t, admin, "DROP USER ops")
	_, err = admin.Exec(ctx, "DROP USER ops")
	wantCode(t, err, "42704")
	// The six statements that carried a password (refused ones included)
	// are in the audit log, without it.
	rows, err := admin.Query(ctx, "SELECT statement FROM dataflow.audit_log WHERE statement ILIKE '%USER%PASSWORD%' ORDER BY at")
	if err != nil {
		t.Fatal(err)
	}
	audit, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 6 {
		t.Fatalf("audit log holds %d statements with a password, want 6:\n%s", len(audit), strings.Join(audit, "\n"))
	}
	for _, st := range audit {
		for _, pw := range []string{"viewer-pass-1", "viewer-pass-2", "ops-pass-123", "another-pass", "zzzzzzzzz"} {
			if strings.Contains(st, pw) {
				t.Fatalf("password %q in the audit log: %s", pw, st)
			}
		}
	}
}

// With --auth password every client proves a SCRAM password; a wrong one
// is 28P01. The admin password is set under trust, then the gateway is
// restarted in password mode on the same catalog.
func TestSCRAMPasswords(t *testing.T) {
	g := startGateway(t)
	admin := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, admin, "ALTER USER admin PASSWORD 'admin-secret-1'")
	mustExec(t, admin, "CREATE USER reader PASSWORD 'reader-secret-1' ROLE readonly")
	admin.Close(context.Background())
	g.stop()
	g.args = append(g.args, "--auth", "password")
	g.restart()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dsn := func(user, pw string) string {
		return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/flowgate?sslmode=disable", user, pw, g.port)
	}
	c, err := pgx.Connect(ctx, dsn("reader", "reader-secret-1"))
	if err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	var user string
	mustScan(t, c.QueryRow(ctx, "SELECT current_user"), &user)
	c.Close(ctx)
	if user != "reader" {
		t.Fatalf("current_user %q", user)
	}
	_, err = pgx.Connect(ctx, dsn("reader", "wrong"))
	wantCode(t, err, "28P01")
	_, err = pgx.Connect(ctx, dsn("nobody", "whatever"))
	wantCode(t, err, "28P01")
	out, err := g.psql(t, "admin", "-c", "SELECT 1") // no password given, no prompt (-w implied by no tty)
	if err == nil {
		t.Fatalf("psql without a password got in under --auth password:\n%s", out)
	}
}

func TestNonLoopbackListenNeedsPasswordAuth(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	cmdOut, err := runFlowgate(t, "--listen", "0.0.0.0:0", "--catalog", g.dir+"/x.db", "--metrics-listen", "")
	if err == nil || !strings.Contains(cmdOut, "refusing to listen") {
		t.Fatalf("want refusal, got %v:\n%s", err, cmdOut)
	}
}
