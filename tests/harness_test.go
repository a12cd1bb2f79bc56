// Package tests drives the real flowgate binary over real sockets against
// real PostgreSQL and MariaDB servers (internal/testbed).
//
// Every check must be able to fail: check every error (Scan included, or
// use mustScan), make sure the rows a check counts exist before asserting
// that some are absent, bound every wait, and assert what a comment claims.
// Break the code on purpose once and watch the new check fail.
package tests

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

// flowgateBin is built once per test binary: the tests drive the real
// program over real sockets, as a user would.
var flowgateBin string

func TestMain(m *testing.M) {
	bin, remove := testbed.BuildFlowgate()
	flowgateBin = bin
	// testbed.Main exits without returning: it removes the binary itself.
	testbed.Main(m, remove)
}

// gateway is one running flowgate process.
type gateway struct {
	t       testing.TB
	dir     string
	port    int
	metrics int
	args    []string
	env     []string
	cmd     *exec.Cmd
	logMu   sync.Mutex
	log     strings.Builder
	exited  chan error
	worker  *exec.Cmd // under FLOWGATE_TEST_TEMPORAL_ADDRESS (engine_test.go)
}

// freePort is a port outside the kernel's ephemeral range (see testbed).
func freePort(t testing.TB) int { return testbed.FreePort(t) }

// startGateway runs flowgate with a fresh catalog; extra args are appended.
func startGateway(t testing.TB, extra ...string) *gateway {
	t.Helper()
	return startGatewayEnv(t, nil, extra...)
}

// startGatewayEnv is startGateway with env (KEY=value) added to the
// gateway's environment.
func startGatewayEnv(t testing.TB, env []string, extra ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, dir: t.TempDir(), args: extra, env: env}
	g.port = freePort(t)
	g.metrics = freePort(t)
	g.underTemporal()
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *gateway) start() {
	g.t.Helper()
	for attempt := 1; ; attempt++ {
		before := len(g.logs())
		err := g.launch()
		if err == nil {
			return
		}
		// Another process took a port between freePort and the bind: try
		// fresh ports (clients dial g.addr()/g.dsn(), which follow).
		if attempt < 3 && strings.Contains(g.logs()[before:], "address already in use") {
			g.t.Logf("flowgate could not bind its ports, trying others: %v", err)
			g.port, g.metrics = freePort(g.t), freePort(g.t)
			continue
		}
		g.t.Fatalf("%v\n%s", err, g.logs())
	}
}

// launch starts the process and waits until it accepts connections.
func (g *gateway) launch() error {
	args := append([]string{
		"--listen", fmt.Sprintf("127.0.0.1:%d", g.port),
		"--catalog", filepath.Join(g.dir, "flowgate.db"),
		"--staging-dir", filepath.Join(g.dir, "staging"),
		"--metrics-listen", fmt.Sprintf("127.0.0.1:%d", g.metrics),
	}, g.args...)
	cmd := exec.Command(flowgateBin, args...)
	cmd.Env = append(os.Environ(), g.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		g.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.cmd = cmd
	g.exited = make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			g.logMu.Lock()
			g.log.WriteString(sc.Text() + "\n")
			g.logMu.Unlock()
		}
		g.exited <- cmd.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", g.addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-g.exited:
			g.cmd = nil
			return fmt.Errorf("flowgate exited before accepting connections: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("flowgate did not accept connections within 30s")
}

func (g *gateway) logs() string {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	return g.log.String()
}

func (g *gateway) addr() string { return fmt.Sprintf("127.0.0.1:%d", g.port) }

// dsn connects as user over TCP without TLS.
func (g *gateway) dsn(user string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/flowgate?sslmode=disable", user, g.port)
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gateway) stop() {
	if g.cmd == nil || g.cmd.ProcessState != nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.exited:
		if err != nil {
			g.t.Errorf("flowgate exited with %v after SIGTERM\n%s", err, g.logs())
		}
	case <-time.After(40 * time.Second):
		g.cmd.Process.Kill()
		g.t.Errorf("flowgate did not stop within 40s of SIGTERM\n%s", g.logs())
	}
	g.cmd = nil
}

// kill9 kills the process without warning.
func (g *gateway) kill9() {
	g.cmd.Process.Kill()
	<-g.exited
	g.cmd = nil
}

func (g *gateway) restart() {
	g.t.Helper()
	g.start()
}

// connect opens a pgx connection in the given exec mode.
func (g *gateway) connect(t testing.TB, user string, mode pgx.QueryExecMode) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(g.dsn(user))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v\n%s", user, err, g.logs())
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// execModes runs f once per pgx query mode: simple protocol and every
// flavour of the extended protocol.
func execModes(t *testing.T, f func(t *testing.T, mode pgx.QueryExecMode)) {
	modes := []pgx.QueryExecMode{
		pgx.QueryExecModeSimpleProtocol,
		pgx.QueryExecModeExec,
		pgx.QueryExecModeDescribeExec,
		pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeCacheStatement,
	}
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) { f(t, m) })
	}
}

// psqlPath finds the psql binary or fails saying what to install.
func psqlPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql not found: install it with `apt-get install postgresql-client`")
	}
	return p
}

// psql runs psql against g with args; returns combined output and error.
func (g *gateway) psql(t testing.TB, user string, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"-X", "-h", "127.0.0.1", "-p", fmt.Sprint(g.port), "-U", user, "-d", "flowgate"}, args...)
	cmd := exec.Command(psqlPath(t), full...)
	cmd.Env = append(os.Environ(), "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// runFlowgate runs the binary to completion (for start-up refusals).
func runFlowgate(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, flowgateBin, args...).CombinedOutput()
	return string(out), err
}
