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
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
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
		cpu0 := processCPU()
		sec, n, err := runWait(ctx, tc, table)
		if err != nil {
			return nil, err
		}
		// The in-process Temporal server runs in this process.
		fmt.Printf("  this process (the in-process Temporal server) used %.2f CPU-s during the run\n", processCPU()-cpu0)
		if err := printTimeline(ctx, tc, srv, table); err != nil {
			fmt.Println("  timeline:", err)
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

// printTimeline reads the job's last run's workflow history and prints
// where its time went: the gateway's steps before the first copy and
// after the last, the copies themselves, the wait of a scheduled copy
// for a worker, and the time between a copy's end and the next copy's
// scheduling (the workflow task that decides it).
func printTimeline(ctx context.Context, tc *pgx.Conn, srv *temporaltest.TestServer, job string) error {
	var msg string
	if err := tc.QueryRow(ctx, `SELECT message FROM dataflow.runs WHERE job = $1 ORDER BY started_at DESC LIMIT 1`, job).Scan(&msg); err != nil {
		return err
	}
	i := strings.Index(msg, "temporal workflow ")
	if i < 0 {
		return fmt.Errorf("run message names no workflow: %s", msg)
	}
	wid := strings.Fields(strings.TrimPrefix(msg[i:], "temporal workflow "))[0]
	wid = strings.TrimRight(wid, ";")
	c, err := client.Dial(client.Options{HostPort: srv.GetFrontendHostPort(), Namespace: srv.GetDefaultNamespace()})
	if err != nil {
		return err
	}
	defer c.Close()
	type act struct {
		kind                          string
		scheduled, started, completed time.Time
	}
	acts := map[int64]*act{}
	var order []*act
	var begin, end time.Time
	it := c.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err
		}
		at := ev.GetEventTime().AsTime()
		if begin.IsZero() {
			begin = at
		}
		end = at
		switch {
		case ev.GetActivityTaskScheduledEventAttributes() != nil:
			a := &act{kind: ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), scheduled: at}
			acts[ev.GetEventId()] = a
			order = append(order, a)
		case ev.GetActivityTaskStartedEventAttributes() != nil:
			if a := acts[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()]; a != nil {
				a.started = at
			}
		case ev.GetActivityTaskCompletedEventAttributes() != nil:
			if a := acts[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; a != nil {
				a.completed = at
			}
		}
	}
	var copies []*act
	var firstCopy, lastCopy time.Time
	var wait, work time.Duration
	for _, a := range order {
		if a.kind != "flowgate.CopyPartition" || a.completed.IsZero() {
			continue
		}
		copies = append(copies, a)
		if firstCopy.IsZero() || a.scheduled.Before(firstCopy) {
			firstCopy = a.scheduled
		}
		if a.completed.After(lastCopy) {
			lastCopy = a.completed
		}
		wait += a.started.Sub(a.scheduled)
		work += a.completed.Sub(a.started)
	}
	if len(copies) == 0 {
		return fmt.Errorf("workflow %s has no completed copies", wid)
	}
	// A copy scheduled after another ended waited for that decision.
	var decide time.Duration
	var decisions int
	for _, a := range copies {
		var prev time.Time
		for _, b := range copies {
			if !b.completed.After(a.scheduled) && b.completed.After(prev) {
				prev = b.completed
			}
		}
		if !prev.IsZero() && a.scheduled.Sub(prev) < time.Second {
			decide += a.scheduled.Sub(prev)
			decisions++
		}
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Printf("  timeline of %s: %s in all; before the first copy %s, after the last %s; %d copies of %s each on average, "+
		"%s average wait for a worker, %s average from a copy's end to the next copy's scheduling (%d times)\n",
		wid, ms(end.Sub(begin)), ms(firstCopy.Sub(begin)), ms(end.Sub(lastCopy)), len(copies), ms(work/time.Duration(len(copies))),
		ms(wait/time.Duration(len(copies))), ms(decide/time.Duration(max(decisions, 1))), decisions)
	return nil
}

// processCPU is this process's user and system CPU time in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
