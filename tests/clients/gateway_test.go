// Package clients runs real PostgreSQL clients (psql, pgjdbc, psycopg2,
// SQLAlchemy, node-postgres) and the catalog queries of BI tools (DBeaver,
// Metabase, Grafana) against a real flowgate binary. A missing client fails
// the test with the package to install; nothing is skipped.
package clients

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
)

var flowgateBin string

func TestMain(m *testing.M) {
	bin, remove := testbed.BuildFlowgate()
	flowgateBin = bin
	// A PostgreSQL for the differential replay (replay_oracle_test.go).
	testbed.Main(m, remove)
}

// gateway is one running flowgate with a fresh catalog.
type gateway struct {
	port   int
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    strings.Builder
	exited chan error
}

// freePort is a port outside the kernel's ephemeral range (see testbed).
func freePort(t testing.TB) int { return testbed.FreePort(t) }

// startGateway starts flowgate and seeds two datasources so the clients
// have rows to read.
func startGateway(t *testing.T) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{port: freePort(t), exited: make(chan error, 1)}
	g.cmd = exec.Command(flowgateBin,
		"--listen", fmt.Sprintf("127.0.0.1:%d", g.port),
		"--catalog", filepath.Join(dir, "flowgate.db"),
		"--staging-dir", filepath.Join(dir, "staging"),
		"--metrics-listen", "")
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			g.mu.Lock()
			g.log.WriteString(sc.Text() + "\n")
			g.mu.Unlock()
		}
		g.exited <- g.cmd.Wait()
	}()
	t.Cleanup(func() { g.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", g.addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flowgate did not accept connections within 30s\n%s", g.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := g.connect(t, pgx.QueryExecModeSimpleProtocol)
	for _, s := range []string{
		"CREATE DATASOURCE f1 TYPE file OPTIONS (path '/var/tmp')",
		"CREATE DATASOURCE l1 TYPE sqlite OPTIONS (path '/tmp/flowgate-clients-test.db')",
	} {
		if _, err := c.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return g
}

func (g *gateway) stop(t *testing.T) {
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(30 * time.Second):
		g.cmd.Process.Kill()
		t.Errorf("flowgate did not stop within 30s of SIGTERM\n%s", g.logs())
	}
}

func (g *gateway) logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.log.String()
}

func (g *gateway) addr() string { return fmt.Sprintf("127.0.0.1:%d", g.port) }

// url is a libpq/pgx connection URL for the bootstrap admin.
func (g *gateway) url() string {
	return fmt.Sprintf("postgresql://admin@127.0.0.1:%d/flowgate?sslmode=disable", g.port)
}

func (g *gateway) connect(t *testing.T, mode pgx.QueryExecMode) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(g.url())
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, g.logs())
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// need finds a client program or fails saying how to install it.
func need(t *testing.T, path, install string) string {
	t.Helper()
	if strings.Contains(path, "/") {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s not found: %s", path, install)
		}
		return path
	}
	p, err := exec.LookPath(path)
	if err != nil {
		t.Fatalf("%s not found: %s", path, install)
	}
	return p
}

// run runs a client program and returns its output as key=value facts.
func run(t *testing.T, env []string, name string, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	facts := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			if _, dup := facts[k]; dup {
				facts[k] += "\n" + v
			} else {
				facts[k] = v
			}
		}
	}
	if facts["done"] == "" {
		t.Fatalf("%s did not finish:\n%s", name, out)
	}
	t.Logf("%s output:\n%s", filepath.Base(name), out)
	return facts
}

func wantFact(t *testing.T, facts map[string]string, key, want string) {
	t.Helper()
	if got := facts[key]; got != want {
		t.Errorf("%s = %q, want %q", key, got, want)
	}
}

func wantFactContains(t *testing.T, facts map[string]string, key string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(facts[key], p) {
			t.Errorf("%s = %q, want it to contain %q", key, facts[key], p)
		}
	}
}
