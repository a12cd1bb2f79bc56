package postgres_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

func opts(pg *testbed.PG) map[string]string {
	return map[string]string{"host": pg.Host, "port": strconv.Itoa(pg.Port), "database": pg.Database,
		"user": pg.User, "password": pg.Password, "sslmode": "disable"}
}

func test(t *testing.T, o map[string]string) (connectors.TestResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return connectors.Test(ctx, postgres.Type(), o)
}

func TestOK(t *testing.T) {
	pg := testbed.Postgres(t)
	o := opts(pg)
	o["sslmode"] = "prefer" // the default must work against a server without TLS
	res, err := test(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.ServerVersion == "" || res.ServerVersion[0] < '9' && !strings.HasPrefix(res.ServerVersion, "1") {
		t.Errorf("server version %q", res.ServerVersion)
	}
	t.Logf("server_version %s", res.ServerVersion)
}

func TestNewDatabase(t *testing.T) {
	pg := testbed.Postgres(t)
	o := opts(pg)
	o["database"] = pg.NewDatabase(t, "pgconn")
	if _, err := test(t, o); err != nil {
		t.Fatal(err)
	}
}

func TestWrongPassword(t *testing.T) {
	pg := testbed.Postgres(t)
	admin := pg.Connect(t, "")
	role := fmt.Sprintf("fg_auth_%d", time.Now().UnixNano()%1e9)
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD 'right-pw-4711'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })

	o := opts(pg)
	o["user"], o["password"] = role, "right-pw-4711"
	if _, err := test(t, o); err != nil {
		t.Fatalf("right password: %v", err)
	}
	const wrong = "wrong-pw-0815"
	o["password"] = wrong
	_, err := test(t, o)
	t.Logf("error: %v", err)
	if err == nil {
		t.Fatalf("a wrong password was accepted: the server must require password auth on TCP (pg_hba.conf); with %s set, point it at such a server", testbed.EnvPostgresDSN)
	}
	want := fmt.Sprintf("password authentication failed for user %q", role)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error contains the password: %q", err)
	}
}

func TestMissingDatabase(t *testing.T) {
	pg := testbed.Postgres(t)
	o := opts(pg)
	o["database"] = "no_such_db_here"
	_, err := test(t, o)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), `database "no_such_db_here" does not exist`) {
		t.Errorf("err = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), pg.Password) {
		t.Errorf("error contains the password: %q", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, err = test(t, map[string]string{"host": "127.0.0.1", "port": strconv.Itoa(port), "database": "d", "user": "u", "password": "refused-pw-1"})
	t.Logf("error: %v", err)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "refused-pw-1") {
		t.Errorf("error contains the password: %q", err)
	}
}

func TestConnString(t *testing.T) {
	o, err := postgres.Type().Validate(map[string]string{"host": "::1", "database": "my db", "user": "u", "password": "p@ss:/",
		"extparam": "connect_timeout=3&search_path=s1"})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := postgres.ConnString(o)
	if err != nil {
		t.Fatal(err)
	}
	want := "postgres://u@[::1]:5432/my%20db?connect_timeout=3&search_path=s1&sslmode=prefer"
	if cs != want {
		t.Errorf("conn string\n got %s\nwant %s", cs, want)
	}
	cfg, err := postgres.Config(o)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConnConfig.Password != "p@ss:/" || cfg.ConnConfig.User != "u" || cfg.ConnConfig.Database != "my db" {
		t.Errorf("config: user %q database %q password set %v", cfg.ConnConfig.User, cfg.ConnConfig.Database, cfg.ConnConfig.Password == "p@ss:/")
	}
}
