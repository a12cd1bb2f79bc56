package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func pgDatasourceSQL(name string, pg *testbed.PG, password string) string {
	return fmt.Sprintf("CREATE DATASOURCE %s TYPE postgres OPTIONS (host %s, port '%d', database %s, user %s, password %s);",
		name, sqlString(pg.Host), pg.Port, sqlString(pg.Database), sqlString(pg.User), sqlString(password))
}

func mysqlDatasourceSQL(name string, my *testbed.MySQLServer, password, database string) string {
	return fmt.Sprintf("CREATE DATASOURCE %s TYPE mysql OPTIONS (host %s, port '%d', database %s, user %s, password %s);",
		name, sqlString(my.Host), my.Port, sqlString(database), sqlString(my.User), sqlString(password))
}

// wantCode fails unless err carries SQLSTATE code.
func wantCode(t testing.TB, err error, code string) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("want SQLSTATE %s, got %v", code, err)
	}
	if pe.Code != code {
		t.Fatalf("want SQLSTATE %s, got %s: %s", code, pe.Code, pe.Message)
	}
	return pe
}

type testRow struct {
	Name    string
	OK      bool
	Latency float64
	Version *string
	Message *string
}

func testDatasource(t testing.TB, c *pgx.Conn, name string) testRow {
	t.Helper()
	var r testRow
	err := c.QueryRow(context.Background(), "TEST DATASOURCE "+name).Scan(&r.Name, &r.OK, &r.Latency, &r.Version, &r.Message)
	if err != nil {
		t.Fatalf("TEST DATASOURCE %s: %v", name, err)
	}
	return r
}

// The README's walk-through: real PostgreSQL and MariaDB, tested, listed
// with masked passwords, recycled, restored and purged.
func TestDatasourceLifecycleAgainstRealServers(t *testing.T) {
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	g := startGateway(t)
	execModes(t, func(t *testing.T, mode pgx.QueryExecMode) {
		ctx := context.Background()
		c := g.connect(t, "admin", mode)
		suffix := strings.ToLower(strings.NewReplacer("_", "", " ", "").Replace(mode.String()))
		pgName, myName := "pg_"+suffix, "my_"+suffix
		for _, stmt := range []string{pgDatasourceSQL(pgName, pg, pg.Password), mysqlDatasourceSQL(myName, my, my.Password, my.Database)} {
			if _, err := c.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		for _, n := range []string{pgName, myName} {
			r := testDatasource(t, c, n)
			if !r.OK || r.Version == nil || *r.Version == "" {
				t.Fatalf("TEST %s: %+v (message %v)", n, r, deref(r.Message))
			}
		}
		var opts, status string
		err := c.QueryRow(ctx, "SELECT options::text, status FROM dataflow.datasources WHERE name = $1", pgName).Scan(&opts, &status)
		if err != nil {
			t.Fatal(err)
		}
		if status != "normal" || !strings.Contains(opts, `"password":"********"`) {
			t.Fatalf("status %s options %s", status, opts)
		}
		if pg.Password != "" && strings.Contains(opts, pg.Password) {
			t.Fatalf("password leaked into the view: %s", opts)
		}
		// Recycle bin round trip.
		mustExec(t, c, "DROP DATASOURCE "+pgName)
		mustScan(t, c.QueryRow(ctx, "SELECT status FROM dataflow.datasources WHERE name = $1", pgName), &status)
		if status != "recycled" {
			t.Fatalf("after DROP status = %s", status)
		}
		_, err = c.Exec(ctx, "TEST DATASOURCE "+pgName)
		wantCode(t, err, "55000")
		_, err = c.Exec(ctx, "DROP DATASOURCE "+pgName)
		wantCode(t, err, "55000")
		mustExec(t, c, "RESTORE DATASOURCE "+pgName)
		_, err = c.Exec(ctx, "RESTORE DATASOURCE "+pgName)
		wantCode(t, err, "55000")
		if r := testDatasource(t, c, pgName); !r.OK {
			t.Fatalf("after restore: %+v", r)
		}
		var n int
		mustScan(t, c.QueryRow(ctx, "SELECT count(*) FROM dataflow.datasources WHERE name = $1", myName), &n)
		if n != 1 {
			t.Fatalf("datasource %s listed %d times before PURGE", myName, n)
		}
		mustExec(t, c, "DROP DATASOURCE "+myName+" PURGE")
		mustScan(t, c.QueryRow(ctx, "SELECT count(*) FROM dataflow.datasources WHERE name = $1", myName), &n)
		if n != 0 {
			t.Fatalf("purged datasource still listed")
		}
		mustExec(t, c, "DROP DATASOURCE IF EXISTS "+myName)
	})
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func mustExec(t testing.TB, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// A failed connection test is a row with the server's own words, and the
// session goes on.
func TestTestDatasourceReportsServerErrors(t *testing.T) {
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	g := startGateway(t)
	ctx := context.Background()
	c := g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)

	// Roles with real passwords so a wrong one is refused by the server.
	pgAdmin := pg.Connect(t, pg.Database)
	pgAdmin.Exec(ctx, "DROP ROLE IF EXISTS fg_pw_test")
	if _, err := pgAdmin.Exec(ctx, "CREATE ROLE fg_pw_test LOGIN PASSWORD 'right-password'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgAdmin.Exec(context.Background(), "DROP ROLE IF EXISTS fg_pw_test") })
	myAdmin := my.Open(t, my.Database)
	myAdmin.Exec("DROP USER IF EXISTS 'fg_pw_test'@'%'")
	if _, err := myAdmin.Exec("CREATE USER 'fg_pw_test'@'%' IDENTIFIED BY 'right-password'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { myAdmin.Exec("DROP USER IF EXISTS 'fg_pw_test'@'%'") })

	closed := freePort(t)
	cases := []struct{ name, create, want string }{
		{"pg_badpw", fmt.Sprintf("CREATE DATASOURCE pg_badpw TYPE postgres OPTIONS (host '%s', port '%d', database '%s', user 'fg_pw_test', password 'wrong-password-xyz')", pg.Host, pg.Port, pg.Database), "password authentication failed"},
		{"pg_down", fmt.Sprintf("CREATE DATASOURCE pg_down TYPE postgres OPTIONS (host '127.0.0.1', port '%d', database 'x', user 'x', password 'wrong-password-xyz')", closed), "refused"},
		{"pg_nodb", fmt.Sprintf("CREATE DATASOURCE pg_nodb TYPE postgres OPTIONS (host '%s', port '%d', database 'no_such_db_fg', user '%s', password '%s')", pg.Host, pg.Port, pg.User, pg.Password), `database "no_such_db_fg" does not exist`},
		{"my_badpw", fmt.Sprintf("CREATE DATASOURCE my_badpw TYPE mysql OPTIONS (host '%s', port '%d', database '%s', user 'fg_pw_test', password 'wrong-password-xyz')", my.Host, my.Port, my.Database), "Access denied"},
		{"my_down", fmt.Sprintf("CREATE DATASOURCE my_down TYPE mysql OPTIONS (host '127.0.0.1', port '%d', database 'x', user 'x', password 'wrong-password-xyz')", closed), "refused"},
		{"my_nodb", fmt.Sprintf("CREATE DATASOURCE my_nodb TYPE mysql OPTIONS (host '%s', port '%d', database 'no_such_db_fg', user '%s', password '%s')", my.Host, my.Port, my.User, my.Password), "Unknown database"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustExec(t, c, tc.create)
			r := testDatasource(t, c, tc.name)
			if r.OK || !strings.Contains(deref(r.Message), tc.want) {
				t.Fatalf("want ok=false with %q, got %+v message %q", tc.want, r, deref(r.Message))
			}
			if strings.Contains(deref(r.Message), "wrong-password-xyz") {
				t.Fatalf("message leaks the password: %s", deref(r.Message))
			}
			var one int
			if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("session unusable after failed test: %v", err)
			}
		})
	}
	if strings.Contains(g.logs(), "wrong-password-xyz") {
		t.Fatalf("gateway log leaks a password")
	}
	// The statements are in the audit log, without the password.
	var logged, leaked int
	mustScan(t, c.QueryRow(ctx, "SELECT count(*) FROM dataflow.audit_log WHERE statement LIKE 'CREATE DATASOURCE %\\_badpw%' OR statement LIKE 'CREATE DATASOURCE %\\_down%'"), &logged)
	if logged != 4 {
		t.Fatalf("audit log holds %d of the 4 CREATE DATASOURCE statements with a password", logged)
	}
	mustScan(t, c.QueryRow(ctx, "SELECT count(*) FROM dataflow.audit_log WHERE statement LIKE '%wrong-password-xyz%'"), &leaked)
	if leaked != 0 {
		t.Fatalf("audit log holds %d statements with the password in clear", leaked)
	}
}

func TestFileSQLiteAndS3Datasources(t *testing.T) {
	s3 := testbed.S3(t)
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	if err := os.WriteFile(dbPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE files TYPE file OPTIONS (path %s)", sqlString(dir)))
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE lite TYPE sqlite OPTIONS (path %s)", sqlString(dbPath)))
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE bucket TYPE s3 OPTIONS (endpoint %s, region %s, bucket %s, access_key %s, secret_key %s, path_style 'true')",
		sqlString(s3.Endpoint), sqlString(s3.Region), sqlString(s3.Bucket), sqlString(s3.AccessKey), sqlString(s3.SecretKey)))
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE nobucket TYPE s3 OPTIONS (endpoint %s, region %s, bucket 'missing-bucket', access_key %s, secret_key %s, path_style 'true')",
		sqlString(s3.Endpoint), sqlString(s3.Region), sqlString(s3.AccessKey), sqlString(s3.SecretKey)))
	for _, n := range []string{"files", "lite", "bucket"} {
		if r := testDatasource(t, c, n); !r.OK {
			t.Errorf("TEST %s: %+v %s", n, r, deref(r.Message))
		}
	}
	if r := testDatasource(t, c, "nobucket"); r.OK {
		t.Errorf("TEST of a missing bucket succeeded")
	}
	var opts string
	mustScan(t, c.QueryRow(context.Background(), "SELECT options::text FROM dataflow.datasources WHERE name = 'bucket'"), &opts)
	if strings.Contains(opts, s3.SecretKey) || !strings.Contains(opts, `"secret_key":"********"`) {
		t.Fatalf("s3 options not masked: %s", opts)
	}
}
