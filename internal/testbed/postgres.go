package testbed

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgresDSN names a PostgreSQL server to use instead of a throwaway
// one, as a URL or keyword/value DSN. Its role must be able to create
// databases and roles; wrong-password tests need password auth on TCP.
const EnvPostgresDSN = "FLOWGATE_TEST_PG_DSN"

// PG is a PostgreSQL server for tests. The throwaway one has
// wal_level=logical, trusts its Unix socket and requires SCRAM passwords on
// TCP, so User/Password are real credentials.
type PG struct {
	Host     string
	Port     int
	User     string
	Password string
	Database string
}

// DSN is a pgx URL for p's database.
func (p *PG) DSN() string { return p.DSNFor(p.Database) }

// DSNFor is a pgx URL for another database on the same server.
func (p *PG) DSNFor(database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(p.User, p.Password),
		Host: net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// Connect opens a connection to database (p.Database when empty), closed
// in t.Cleanup.
func (p *PG) Connect(t testing.TB, database string) *pgx.Conn {
	t.Helper()
	if database == "" {
		database = p.Database
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSNFor(database))
	if err != nil {
		t.Fatalf("testbed: connect to postgres %s: %v", database, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// NewDatabase creates an empty database named after prefix and drops it when
// the test ends.
func (p *PG) NewDatabase(t testing.TB, prefix string) string {
	t.Helper()
	name := uniqueName(prefix)
	conn := p.Connect(t, "")
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testbed: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, p.DSN())
		if err != nil {
			t.Errorf("testbed: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testbed: drop database %s: %v", name, err)
		}
	})
	return name
}

var (
	pgOnce   sync.Once
	pgShared *PG
	pgErr    error
)

// Postgres returns the test binary's PostgreSQL server: the one named by
// FLOWGATE_TEST_PG_DSN, or a throwaway one started on first use. A server
// that cannot be had fails the test; it never skips.
func Postgres(t testing.TB) *PG {
	t.Helper()
	pgOnce.Do(func() {
		if dsn := os.Getenv(EnvPostgresDSN); dsn != "" {
			pgShared, pgErr = pgFromDSN(dsn)
			return
		}
		start := time.Now()
		var how string
		pgShared, _, how, pgErr = startPostgres(nil)
		if pgErr == nil {
			msg := fmt.Sprintf("testbed: postgres started on %s:%d in %s (%s)", pgShared.Host, pgShared.Port, time.Since(start).Round(time.Millisecond), how)
			t.Log(msg)
			fmt.Fprintln(os.Stderr, msg)
		}
	})
	if pgErr != nil {
		t.Fatalf("testbed: postgres: %v", pgErr)
	}
	return pgShared
}

func pgFromDSN(dsn string) (*PG, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvPostgresDSN, err)
	}
	return &PG{Host: cfg.Host, Port: int(cfg.Port), User: cfg.User, Password: cfg.Password, Database: cfg.Database}, nil
}

// pgPassword is the superuser password of the throwaway server; it differs
// from the user name so scrubbing it from error text cannot hide the name.
const pgPassword = "testbed-pg-pw"

var (
	pgWithMu  sync.Mutex
	pgWithAll = map[string]*PG{}
)

// PostgresWith returns a throwaway PostgreSQL server of its own, started
// like Postgres's with extra settings ("name=value", passed as -c after
// the defaults, so they override them), e.g. "wal_level=replica". Calls
// with the same settings share one server; it is stopped when the test
// binary ends (testbed.Main). It needs the server binaries even when
// FLOWGATE_TEST_PG_DSN is set.
func PostgresWith(t testing.TB, settings ...string) *PG {
	t.Helper()
	for _, s := range settings {
		if name, _, ok := strings.Cut(s, "="); !ok || name == "" {
			t.Fatalf("testbed: postgres setting %q is not name=value", s)
		}
	}
	pgWithMu.Lock()
	defer pgWithMu.Unlock()
	key := strings.Join(settings, "\x00")
	if pg := pgWithAll[key]; pg != nil {
		return pg
	}
	start := time.Now()
	pg, _, how, err := startPostgres(settings)
	if err != nil {
		t.Fatalf("testbed: postgres with %v: %v", settings, err)
	}
	t.Logf("testbed: postgres with %v started on %s:%d in %s (%s)", settings, pg.Host, pg.Port, time.Since(start).Round(time.Millisecond), how)
	pgWithAll[key] = pg
	return pg
}

// startPostgres starts a throwaway server; extra settings (name=value)
// come after the defaults.
func startPostgres(extra []string) (*PG, *server, string, error) {
	const hint = "PostgreSQL server binaries are needed for these tests: apt-get install postgresql postgresql-client (or set " + EnvPostgresDSN + ")"
	globs := []string{"/usr/lib/postgresql/*/bin/%s"}
	bins := map[string]string{}
	for _, name := range []string{"initdb", "postgres"} {
		p, err := findBinary(name, fmt.Sprintf(globs[0], name))
		if err != nil {
			return nil, nil, "", fmt.Errorf("%v; %s", err, hint)
		}
		bins[name] = p
	}
	// Prefer initdb next to postgres: a stray initdb of another major
	// version in PATH would make a data dir postgres cannot read.
	if real, err := filepath.EvalSymlinks(bins["postgres"]); err == nil {
		bins["postgres"] = real
	}
	if p := filepath.Join(filepath.Dir(bins["postgres"]), "initdb"); fileExists(p) {
		bins["initdb"] = p
	}
	u, err := unprivileged("postgres")
	if err != nil {
		return nil, nil, "", err
	}
	base, err := tempDir("flowgate-pg-", u)
	if err != nil {
		return nil, nil, "", err
	}
	s := &server{name: "postgres", dir: base, stopSig: syscall.SIGINT}
	fail := func(err error) (*PG, *server, string, error) {
		s.stop()
		return nil, nil, "", err
	}
	data := filepath.Join(base, "data")
	initArgs := []string{"-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C"}
	initialise := func(dst string) error { return initPostgres(bins["initdb"], initArgs, dst, u) }
	how := ""
	initStart := time.Now()
	tmpl, built, err := templateDir("postgres", bins["initdb"], append(initArgs, pgPassword), func(dst string) error {
		// initdb runs unprivileged and may not reach the cache directory:
		// build in a temp dir, then copy.
		work, err := tempDir("flowgate-pginit-", u)
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)
		if err := initialise(filepath.Join(work, "data")); err != nil {
			return err
		}
		return copyTree(filepath.Join(work, "data"), dst, nil)
	})
	switch {
	case err != nil:
		return fail(err)
	case tmpl != "":
		how = "data dir copied from template " + tmpl
		if built {
			how = "template built and data dir copied from " + tmpl
		}
		err = copyTree(tmpl, data, u)
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
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", base,
		"-c", "listen_addresses=127.0.0.1", "-c", "wal_level=logical", "-c", "fsync=off",
		"-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_wal_senders=10", "-c", "max_replication_slots=10",
		"-c", "shared_buffers=32MB", "-c", "max_connections=100",
		// mmap keeps dynamic shared memory inside the data directory, so
		// nothing is left in /dev/shm when a killed run's directory goes.
		"-c", "dynamic_shared_memory_type=mmap"}
	for _, e := range extra {
		args = append(args, "-c", e)
	}
	pg := &PG{Host: "127.0.0.1", Port: port, User: "postgres", Password: pgPassword, Database: "postgres"}
	s.launch = func() error {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		defer f.Close() // the child has its own copy
		s.cmd = command(u, base, f, bins["postgres"], args...)
		return startAndWait(s, logPath, func(ctx context.Context) error {
			c, err := pgx.Connect(ctx, pg.DSN())
			if err != nil {
				return err
			}
			return c.Close(ctx)
		})
	}
	if err := s.launch(); err != nil {
		return fail(err)
	}
	return pg, s, how, nil
}

// OwnPG is a throwaway PostgreSQL of one test, which the test may stop
// and start again (outage tests). It is stopped and removed at the end.
type OwnPG struct {
	*PG
	s *server
}

// OwnPostgres starts a PostgreSQL for t alone, with extra settings.
func OwnPostgres(t testing.TB, settings ...string) *OwnPG {
	t.Helper()
	pg, s, how, err := startPostgres(settings)
	if err != nil {
		t.Fatalf("testbed: own postgres: %v", err)
	}
	t.Logf("testbed: own postgres on %s:%d (%s)", pg.Host, pg.Port, how)
	t.Cleanup(s.stop)
	return &OwnPG{PG: pg, s: s}
}

// Stop shuts the server down (fast mode); its data stays for Start.
func (o *OwnPG) Stop(t testing.TB) {
	t.Helper()
	o.s.halt()
}

// Start runs the stopped server again on the same port and data.
func (o *OwnPG) Start(t testing.TB) {
	t.Helper()
	if err := o.s.launch(); err != nil {
		t.Fatalf("testbed: restart postgres: %v", err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// initPostgres runs initdb into data (which must not exist) as u, with
// pgPassword as the superuser password.
func initPostgres(initdb string, args []string, data string, u *runAs) error {
	parent := filepath.Dir(data)
	pwfile := filepath.Join(parent, "pwfile")
	if err := os.WriteFile(pwfile, []byte(pgPassword+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := chownTree(pwfile, u); err != nil {
		return err
	}
	cmd := command(u, parent, nil, initdb, append([]string{"-D", data, "--pwfile=" + pwfile}, args...)...)
	if err := runLogged(cmd); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	return nil
}

// StartPostgres starts a throwaway PostgreSQL outside a test (the bench
// uses it for a server with wal_level=logical); stop removes it.
func StartPostgres(settings ...string) (pg *PG, stop func(), err error) {
	pg, s, _, err := startPostgres(settings)
	if err != nil {
		return nil, nil, err
	}
	return pg, s.stop, nil
}
