package mysql_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/mysql"
	"github.com/flowgate/flowgate/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

func opts(my *testbed.MySQLServer) map[string]string {
	return map[string]string{"host": my.Host, "port": strconv.Itoa(my.Port), "database": my.Database,
		"user": my.User, "password": my.Password}
}

func test(t *testing.T, o map[string]string) (connectors.TestResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return connectors.Test(ctx, mysql.Type(), o)
}

func TestOK(t *testing.T) {
	my := testbed.MySQL(t)
	o := opts(my)
	o["database"] = my.NewDatabase(t, "myconn")
	o["servertimezone"] = "Asia/Shanghai"
	res, err := test(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.ServerVersion == "" {
		t.Error("no server version")
	}
	t.Logf("server_version %s", res.ServerVersion)
}

func TestWrongPassword(t *testing.T) {
	my := testbed.MySQL(t)
	admin := my.Open(t, "")
	user := fmt.Sprintf("fg_auth_%d", time.Now().UnixNano()%1e9)
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'right-pw-4711'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP USER IF EXISTS '"+user+"'@'%'") })

	o := opts(my)
	o["user"], o["password"], o["database"] = user, "right-pw-4711", "information_schema"
	if _, err := test(t, o); err != nil {
		t.Fatalf("right password: %v", err)
	}
	const wrong = "wrong-pw-0815"
	o["password"] = wrong
	_, err := test(t, o)
	t.Logf("error: %v", err)
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if !strings.Contains(err.Error(), "Error 1045 (28000): Access denied for user '"+user+"'") {
		t.Errorf("err = %q", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error contains the password: %q", err)
	}
}

func TestUnknownDatabase(t *testing.T) {
	my := testbed.MySQL(t)
	o := opts(my)
	o["database"] = "no_such_db_here"
	_, err := test(t, o)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "Error 1049 (42000): Unknown database 'no_such_db_here'") {
		t.Errorf("err = %v", err)
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

func TestOptions(t *testing.T) {
	for _, tc := range []struct{ k, v, want string }{
		{"servertimezone", "Mars/Olympus", "unknown time zone"},
		{"servertimezone", "+8", "offset must look like"},
		{"extparam", "loc=Local", "managed by flowgate"},
		{"extparam", "timeout=banana", "extparam"},
		{"extparam", "allowAllFiles=true", "allowAllFiles is refused"},
		{"extparam", "timeout=5s&allowAllFiles=1", "allowAllFiles is refused"},
	} {
		_, err := mysql.Type().Validate(map[string]string{"host": "h", "database": "d", "user": "u", tc.k: tc.v})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: err = %v, want %q", tc.k, tc.v, err, tc.want)
		}
	}
	for _, tz := range []string{"UTC", "+08:00", "-03:30", "Europe/Berlin"} {
		if _, err := mysql.ParseTimeZone(tz); err != nil {
			t.Errorf("%s: %v", tz, err)
		}
	}
}
