// Package temporal drives the flowgate binary under --engine temporal: a
// real Temporal server runs in this test process (temporaltest), and the
// gateway and `flowgate worker` processes reach it over TCP as they would
// a production cluster. It is its own package so that only this test
// binary links the Temporal server.
package temporal

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/server/temporaltest"
)

var (
	flowgateBin string
	server      *temporaltest.TestServer
)

func TestMain(m *testing.M) {
	bin, remove := testbed.BuildFlowgate()
	flowgateBin = bin
	server = temporaltest.NewServer()
	testbed.Main(m, remove, server.Stop)
}

// proc is one flowgate process (gateway or worker) with its log.
type proc struct {
	t      testing.TB
	args   []string
	env    []string
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    strings.Builder
	exited chan error
}

func (p *proc) start() {
	p.t.Helper()
	cmd := exec.Command(flowgateBin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	p.exited = make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.exited <- cmd.Wait()
	}()
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) kill9() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// cluster is one test's Temporal settings: its own task queue, so tests
// in the same server never see each other's tasks.
type cluster struct {
	t                  testing.TB
	queue              string
	dir                string
	key                string   // the secret key file gateways and workers share
	address, namespace string   // the shared server's unless set
	gatewayEnv         []string // the gateway's environment, added to the test's
}

func newCluster(t testing.TB) *cluster {
	dir := t.TempDir()
	key := filepath.Join(dir, "flowgate.key")
	// A key of our own (64 hex digits), as an operator would copy to workers.
	if err := os.WriteFile(key, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, queue: fmt.Sprintf("fg-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano()%100000), dir: dir, key: key}
}

func (c *cluster) temporalArgs() []string {
	addr, ns := server.GetFrontendHostPort(), server.GetDefaultNamespace()
	if c.address != "" {
		addr, ns = c.address, c.namespace
	}
	return []string{"--temporal-address", addr, "--temporal-namespace", ns, "--temporal-task-queue", c.queue}
}

// gateway is a flowgate gateway under --engine temporal.
type gateway struct {
	proc
	port int
	dir  string
}

func (c *cluster) gateway() *gateway {
	c.t.Helper()
	g := &gateway{port: freePort(c.t), dir: c.dir}
	g.t, g.env = c.t, c.gatewayEnv
	g.args = append([]string{"--engine", "temporal", "--listen", fmt.Sprintf("127.0.0.1:%d", g.port), "--catalog", filepath.Join(c.dir, "flowgate.db"),
		"--staging-dir", filepath.Join(c.dir, "staging"), "--metrics-listen", "", "--secret-key-file", c.key}, c.temporalArgs()...)
	g.startAndWait()
	c.t.Cleanup(g.kill9)
	return g
}

func (g *gateway) startAndWait() {
	g.t.Helper()
	g.start()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", g.port), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case err := <-g.exited:
			g.t.Fatalf("flowgate exited before accepting connections: %v\n%s", err, g.logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
	g.t.Fatalf("flowgate did not accept connections within 60s\n%s", g.logs())
}

func (g *gateway) connect() *pgx.Conn {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://admin@127.0.0.1:%d/flowgate?sslmode=disable", g.port))
	if err != nil {
		g.t.Fatalf("connect: %v\n%s", err, g.logs())
	}
	g.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// connectNotices connects like connect and collects the NOTICEs the
// gateway sends; notices returns those so far.
func (g *gateway) connectNotices() (conn *pgx.Conn, notices func() []string) {
	g.t.Helper()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://admin@127.0.0.1:%d/flowgate?sslmode=disable", g.port))
	if err != nil {
		g.t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		got = append(got, n.Message)
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err = pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		g.t.Fatalf("connect: %v\n%s", err, g.logs())
	}
	g.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// otherKey writes a key file that is not the cluster's and returns its path.
func (c *cluster) otherKey() string {
	c.t.Helper()
	other := filepath.Join(c.dir, "other.key")
	if err := os.WriteFile(other, []byte(strings.Repeat("77", 32)), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return other
}

// worker starts `flowgate worker` with key (the cluster's when "").
func (c *cluster) worker(key string) *proc {
	c.t.Helper()
	if key == "" {
		key = c.key
	}
	w := &proc{t: c.t, args: append([]string{"worker", "--secret-key-file", key}, c.temporalArgs()...)}
	w.start()
	c.t.Cleanup(w.kill9)
	return w
}

// freePort is a port outside the kernel's ephemeral range (see testbed).
func freePort(t testing.TB) int { return testbed.FreePort(t) }

func exec1(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryRow(t testing.TB, conn *pgx.Conn, sql string, dest ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// shop makes a source database with tables t1..tN of rows rows each (id,
// a text, a number, a timestamp) and an empty target database with the
// same tables; it returns the two database names.
func shop(t testing.TB, pg *testbed.PG, tables, rows int) (string, string) {
	t.Helper()
	src, dst := pg.NewDatabase(t, "tsrc"), pg.NewDatabase(t, "tdst")
	s, d := pg.Connect(t, src), pg.Connect(t, dst)
	for i := 1; i <= tables; i++ {
		ddl := fmt.Sprintf(`CREATE TABLE t%d (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2), at timestamptz)`, i)
		exec1(t, s, ddl)
		exec1(t, d, ddl)
		exec1(t, s, fmt.Sprintf(`INSERT INTO t%d SELECT g, 'name-' || g || repeat('x', g %% 40), g * 1.25, timestamptz '2024-01-01' + g * interval '1 second'
			FROM generate_series(1, %d) g`, i, rows))
	}
	return src, dst
}

// fingerprint is a table's row count and an order-free checksum of its rows.
func fingerprint(t testing.TB, conn *pgx.Conn, table string) string {
	t.Helper()
	var n int64
	var sum string
	queryRow(t, conn, fmt.Sprintf(`SELECT count(*), coalesce(sum(('x' || substr(md5(x::text), 1, 15))::bit(60)::bigint), 0)::text FROM %s x`, table), &n, &sum)
	return fmt.Sprintf("%d rows, sum %s", n, sum)
}

func pgDatasource(name string, pg *testbed.PG, db string) string {
	return fmt.Sprintf("CREATE DATASOURCE %s TYPE postgres OPTIONS (host '%s', port '%d', database '%s', user '%s', password '%s')",
		name, pg.Host, pg.Port, db, pg.User, pg.Password)
}

// waitRun polls dataflow.runs until the run is no longer active.
func waitRun(t testing.TB, conn *pgx.Conn, runID string, within time.Duration) (status, message string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := conn.QueryRow(ctx, `SELECT status, coalesce(message, '') FROM dataflow.runs WHERE run_id = $1`, runID).Scan(&status, &message)
		cancel()
		if err != nil {
			t.Fatalf("read run %s: %v", runID, err)
		}
		switch status {
		case "completed", "failed", "terminated", "data_inconsistent":
			return status, message
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("run %s still %s after %s: %s", runID, status, within, message)
	return
}

func lastRun(t testing.TB, conn *pgx.Conn, job string) string {
	t.Helper()
	var id string
	queryRow(t, conn, fmt.Sprintf(`SELECT run_id FROM dataflow.runs WHERE job = '%s' ORDER BY started_at DESC LIMIT 1`, job), &id)
	return id
}

// runWorkflow is the workflow id a run's message names ("temporal
// workflow <prefix>...").
func runWorkflow(t testing.TB, conn *pgx.Conn, runID, prefix string) string {
	t.Helper()
	var msg string
	queryRow(t, conn, fmt.Sprintf(`SELECT message FROM dataflow.runs WHERE run_id = '%s'`, runID), &msg)
	m := regexp.MustCompile(`temporal workflow (` + regexp.QuoteMeta(prefix) + `[^ ;]+)`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("run message names no workflow: %s", msg)
	}
	return m[1]
}
