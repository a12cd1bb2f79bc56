package testbed

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
)

// EnvMySQLDSN names a MySQL/MariaDB server to use instead of a throwaway
// one, in go-sql-driver form user:pass@tcp(host:port)/db. Its user must be
// able to create databases and users.
const EnvMySQLDSN = "FLOWGATE_TEST_MYSQL_DSN"

// MySQLServer is a MySQL/MariaDB server for tests. The throwaway one is MariaDB
// with row-based binary logging (for change streams) and root with an empty
// password over TCP.
type MySQLServer struct {
	Host     string
	Port     int
	User     string
	Password string
	Database string
}

// DSN is a go-sql-driver DSN for m's database.
func (m *MySQLServer) DSN() string { return m.DSNFor(m.Database) }

// DSNFor is a go-sql-driver DSN for another database on the same server.
func (m *MySQLServer) DSNFor(database string) string {
	cfg := driver.NewConfig()
	cfg.User, cfg.Passwd = m.User, m.Password
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	cfg.DBName = database
	cfg.ParseTime = true
	return cfg.FormatDSN()
}

// Open opens a pool on database (m.Database when empty), closed in t.Cleanup.
func (m *MySQLServer) Open(t testing.TB, database string) *sql.DB {
	t.Helper()
	if database == "" {
		database = m.Database
	}
	db, err := sql.Open("mysql", m.DSNFor(database))
	if err != nil {
		t.Fatalf("testbed: open mysql %s: %v", database, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// NewDatabase creates an empty database named after prefix and drops it when
// the test ends.
func (m *MySQLServer) NewDatabase(t testing.TB, prefix string) string {
	t.Helper()
	name := uniqueName(prefix)
	db := m.Open(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatalf("testbed: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("mysql", m.DSN())
		if err != nil {
			t.Errorf("testbed: drop database %s: %v", name, err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("testbed: drop database %s: %v", name, err)
		}
	})
	return name
}

var (
	myOnce   sync.Once
	myShared *MySQLServer
	myErr    error
)

// MySQL returns the test binary's MySQL/MariaDB server: the one named
// by FLOWGATE_TEST_MYSQL_DSN, or a throwaway MariaDB started on first use. A
// server that cannot be had fails the test; it never skips.
func MySQL(t testing.TB) *MySQLServer {
	t.Helper()
	myOnce.Do(func() {
		if dsn := os.Getenv(EnvMySQLDSN); dsn != "" {
			myShared, myErr = mysqlFromDSN(dsn)
			return
		}
		start := time.Now()
		var how string
		myShared, _, how, myErr = startMariaDB(nil)
		if myErr == nil {
			msg := fmt.Sprintf("testbed: mariadb started on %s:%d in %s (%s)", myShared.Host, myShared.Port, time.Since(start).Round(time.Millisecond), how)
			t.Log(msg)
			fmt.Fprintln(os.Stderr, msg)
		}
	})
	if myErr != nil {
		t.Fatalf("testbed: mysql: %v", myErr)
	}
	return myShared
}

func mysqlFromDSN(dsn string) (*MySQLServer, error) {
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvMySQLDSN, err)
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: address %q: %w", EnvMySQLDSN, cfg.Addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	db := cfg.DBName
	if db == "" {
		db = "mysql"
	}
	return &MySQLServer{Host: host, Port: port, User: cfg.User, Password: cfg.Passwd, Database: db}, nil
}

var (
	myWithMu  sync.Mutex
	myWithAll = map[string]*MySQLServer{}
)

// MySQLWith returns a throwaway MariaDB server of its own, started like
// MySQL's with extra server options after the defaults (so they override
// them), e.g. "--binlog-format=STATEMENT". Calls with the same settings
// share one server; it is stopped when the test binary ends
// (testbed.Main). It needs the server binaries even when
// FLOWGATE_TEST_MYSQL_DSN is set.
func MySQLWith(t testing.TB, settings ...string) *MySQLServer {
	t.Helper()
	for _, s := range settings {
		if !strings.HasPrefix(s, "--") {
			t.Fatalf("testbed: mariadb setting %q is not --name[=value]", s)
		}
	}
	myWithMu.Lock()
	defer myWithMu.Unlock()
	key := strings.Join(settings, "\x00")
	if my := myWithAll[key]; my != nil {
		return my
	}
	start := time.Now()
	my, _, how, err := startMariaDB(settings)
	if err != nil {
		t.Fatalf("testbed: mariadb with %v: %v", settings, err)
	}
	t.Logf("testbed: mariadb with %v started on %s:%d in %s (%s)", settings, my.Host, my.Port, time.Since(start).Round(time.Millisecond), how)
	myWithAll[key] = my
	return my
}

// OwnMySQLServer is a throwaway MariaDB of one test, which the test may
// stop and start again (outage tests). It is stopped and removed at the
// end.
type OwnMySQLServer struct {
	*MySQLServer
	s *server
}

// OwnMySQL starts a MariaDB for t alone, with extra server options.
func OwnMySQL(t testing.TB, settings ...string) *OwnMySQLServer {
	t.Helper()
	my, s, how, err := startMariaDB(settings)
	if err != nil {
		t.Fatalf("testbed: own mariadb: %v", err)
	}
	t.Logf("testbed: own mariadb on %s:%d (%s)", my.Host, my.Port, how)
	t.Cleanup(s.stop)
	return &OwnMySQLServer{MySQLServer: my, s: s}
}

// Stop shuts the server down; its data stays for Start.
func (o *OwnMySQLServer) Stop(t testing.TB) {
	t.Helper()
	o.s.halt()
}

// Start runs the stopped server again on the same port and data.
func (o *OwnMySQLServer) Start(t testing.TB) {
	t.Helper()
	if err := o.s.launch(); err != nil {
		t.Fatalf("testbed: restart mariadb: %v", err)
	}
}

// StartMySQL starts a throwaway MariaDB outside a test (the bench uses
// them as replication source, native replica and target), with extra
// server options; stop removes it.
func StartMySQL(settings ...string) (my *MySQLServer, stop func(), err error) {
	my, s, _, err := startMariaDB(settings)
	if err != nil {
		return nil, nil, err
	}
	return my, s.stop, nil
}

// startMariaDB starts a throwaway server; extra options come after the
// defaults.
func startMariaDB(extra []string) (*MySQLServer, *server, string, error) {
	const hint = "MariaDB server binaries are needed for these tests: apt-get install mariadb-server mariadb-client (or set " + EnvMySQLDSN + ")"
	installDB, err := findBinary("mariadb-install-db", "/usr/bin/mysql_install_db", "/usr/local/mysql/scripts/mysql_install_db")
	if err != nil {
		if installDB, err = findBinary("mysql_install_db"); err != nil {
			return nil, nil, "", fmt.Errorf("%v; %s", err, hint)
		}
	}
	mysqld, err := findBinary("mariadbd", "/usr/sbin/mariadbd", "/usr/sbin/mysqld")
	if err != nil {
		if mysqld, err = findBinary("mysqld", "/usr/sbin/mysqld"); err != nil {
			return nil, nil, "", fmt.Errorf("%v; %s", err, hint)
		}
	}
	// As root, mariadbd only needs --user=root; no chown dance needed.
	var asRoot []string
	if os.Geteuid() == 0 {
		asRoot = []string{"--user=root"}
	}
	base, err := tempDir("flowgate-mariadb-", nil)
	if err != nil {
		return nil, nil, "", err
	}
	s := &server{name: "mariadbd", dir: base, stopSig: syscall.SIGTERM}
	fail := func(err error) (*MySQLServer, *server, string, error) {
		s.stop()
		return nil, nil, "", err
	}
	data := filepath.Join(base, "data")
	installArgs := append([]string{"--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db",
		"--skip-name-resolve", "--innodb-log-file-size=16M", "--innodb-buffer-pool-size=64M",
		"--innodb-flush-method=nosync", "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"}, asRoot...)
	initialise := func(dst string) error {
		cmd := command(nil, filepath.Dir(dst), nil, installDB, append([]string{"--datadir=" + dst}, installArgs...)...)
		if err := runLogged(cmd); err != nil {
			return fmt.Errorf("install db: %w", err)
		}
		return nil
	}
	how := ""
	initStart := time.Now()
	tmpl, built, err := templateDir("mariadb", mysqld, installArgs, initialise)
	switch {
	case err != nil:
		return fail(err)
	case tmpl != "":
		how = "data dir copied from template " + tmpl
		if built {
			how = "template built and data dir copied from " + tmpl
		}
		err = copyTree(tmpl, data, nil)
	default:
		how = "data dir initialised in place"
		err = initialise(data)
	}
	if err != nil {
		return fail(err)
	}
	how = fmt.Sprintf("%s in %s", how, time.Since(initStart).Round(time.Millisecond))
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	logPath := filepath.Join(base, "server.log")
	args := append([]string{"--no-defaults", "--datadir=" + data, "--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1", "--socket=" + filepath.Join(base, "sock"), "--pid-file=" + filepath.Join(base, "pid"),
		"--tmpdir=" + base, "--skip-name-resolve",
		"--log-bin=" + filepath.Join(base, "binlog"), "--binlog-format=ROW", "--binlog-row-image=FULL", "--server-id=1",
		"--local-infile=1", "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
		"--innodb-flush-log-at-trx-commit=0", "--sync-binlog=0", "--innodb-doublewrite=0",
		"--performance-schema=OFF", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
		"--default-time-zone=+00:00"}, asRoot...)
	args = append(args, extra...)
	my := &MySQLServer{Host: "127.0.0.1", Port: port, User: "root", Database: "mysql"}
	s.launch = func() error {
		logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		defer logFile.Close() // the child has its own copy
		s.cmd = command(nil, base, logFile, mysqld, args...)
		return startAndWait(s, logPath, func(ctx context.Context) error {
			db, err := sql.Open("mysql", my.DSN())
			if err != nil {
				return err
			}
			defer db.Close()
			return db.PingContext(ctx)
		})
	}
	if err := s.launch(); err != nil {
		return fail(err)
	}
	return my, s, how, nil
}
