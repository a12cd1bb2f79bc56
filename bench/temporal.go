package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/server/temporaltest"
)

// temporalScenarios: the PG->PG partitioned copy (staging = 'none', 2
// partitions at once) under the embedded engine, then under --engine
// temporal with 1 and 2 `flowgate worker` processes against an
// in-process Temporal server, all on this machine in the same run.
func temporalScenarios(ctx context.Context, g *gateway, fg, dst *pgx.Conn, pgOpts func(string) string) ([]result, error) {
	const with = "staging = 'none', algorithm = 'none', parallel_export = 2"
	mk := func(c *pgx.Conn, table string) error {
		if _, err := dst.Exec(ctx, fmt.Sprintf(lineitemPG, table)); err != nil {
			return err
		}
		_, err := c.Exec(ctx, fmt.Sprintf("CREATE SYNC JOB %s FROM src.lineitem TO dst.%s MODE BATCH WITH (%s)", table, table, with))
		return err
	}
	fmt.Println("flowgate: embedded engine, 2 partitions at once ...")
	if err := mk(fg, "lineitem_emb"); err != nil {
		return nil, err
	}
	embSec, n, err := runWait(ctx, fg, "lineitem_emb")
	if err != nil {
		return nil, err
	}
	out := []result{{name: "embedded engine, 2 partitions at once", rows: n, seconds: embSec}}

	srv := temporaltest.NewServer()
	defer srv.Stop()
	dir, err := os.MkdirTemp("", "flowgate-bench-temporal-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte(strings.Repeat("3c", 32)), 0o600); err != nil {
		return nil, err
	}
	bin := filepath.Join(g.dir, "flowgate")
	tflags := []string{"--temporal-address", srv.GetFrontendHostPort(), "--temporal-namespace", srv.GetDefaultNamespace(), "--temporal-task-queue", "bench"}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()
	start := func(args ...string) error {
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
		return nil
	}
	if err := start(append([]string{"--engine", "temporal", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--catalog", filepath.Join(dir, "fg.db"),
		"--staging-dir", filepath.Join(dir, "staging"), "--metrics-listen", "", "--secret-key-file", key, "--log-level", "warn"}, tflags...)...); err != nil {
		return nil, err
	}
	var tc *pgx.Conn
	for i := 0; i < 600 && tc == nil; i++ {
		tc, _ = pgx.Connect(ctx, fmt.Sprintf("postgres://admin@127.0.0.1:%d/flowgate?sslmode=disable", port))
		if tc == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if tc == nil {
		return nil, fmt.Errorf("the temporal gateway did not start")
	}
	defer tc.Close(ctx)
	for _, s := range []string{"CREATE DATASOURCE src TYPE postgres OPTIONS (" + pgOpts("flowgate_bench_src") + ")",
		"CREATE DATASOURCE dst TYPE postgres OPTIONS (" + pgOpts("flowgate_bench_dst") + ")"} {
		if _, err := tc.Exec(ctx, s); err != nil {
			return nil, err
		}
	}
	var oneSec float64
	for workers := 1; workers <= 2; workers++ {
		if err := start(append([]string{"worker", "--secret-key-file", key, "--log-level", "warn"}, tflags...)...); err != nil {
			return nil, err
		}
		time.Sleep(2 * time.Second) // the new worker polls
		table := fmt.Sprintf("lineitem_t%d", workers)
		if err := mk(tc, table); err != nil {
			return nil, err
		}
		fmt.Printf("flowgate: temporal engine, %d worker(s) ...\n", workers)
		sec, n, err := runWait(ctx, tc, table)
		if err != nil {
			return nil, err
		}
		r := result{name: fmt.Sprintf("temporal engine, %d worker(s)", workers), rows: n, seconds: sec, base: "embedded", baseSec: embSec, goal: "<= 1.2"}
		if workers == 1 {
			oneSec = sec
		} else {
			r.base, r.baseSec, r.goal = "1 worker", oneSec, "<= 1.0"
		}
		out = append(out, r)
	}
	return out, nil
}
