package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"
)

// temporalRounds: rounds of the Temporal scenario. The shared servers'
// checkpoints and autovacuum make one run of each differ by 10-40 % here,
// so each round runs the three in turn and the ratios printed are the
// medians of the rounds' own ratios.
var temporalRounds = flag.Int("temporal-rounds", 3, "rounds of the temporal scenario (embedded, 1 worker, 2 workers in turn)")

// freshWorkers starts every Temporal run's workers for that run; by
// default one worker serves all the runs and the second is started for
// each 2-worker run.
var freshWorkers = flag.Bool("temporal-fresh-workers", false, "start each Temporal run's workers for that run (default: one long-running worker, the second started per 2-worker run)")

// temporalScenarios: the PG->PG partitioned copy (staging = 'none', 2
// partitions at once) under the embedded engine, then under --engine
// temporal with 1 and 2 `flowgate worker` processes against an
// in-process Temporal server, all on this machine in the same run, in
// rounds (see temporalRounds).
func temporalScenarios(ctx context.Context, g *gateway, fg, dst *pgx.Conn, pgOpts func(string) string) ([]result, error) {
	const with = "staging = 'none', algorithm = 'none', parallel_export = 2"
	mk := func(c *pgx.Conn, table string) error {
		if _, err := dst.Exec(ctx, fmt.Sprintf(lineitemPG, table)); err != nil {
			return err
		}
		_, err := c.Exec(ctx, fmt.Sprintf("CREATE SYNC JOB %s FROM src.lineitem TO dst.%s MODE BATCH WITH (%s)", table, table, with))
		return err
	}
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
			if p != nil {
				p.Process.Kill()
				p.Wait()
			}
		}
	}()
	start := func(args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		procs = append(procs, cmd)
		return cmd, nil
	}
	gwProc, err := start(append([]string{"--engine", "temporal", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--catalog", filepath.Join(dir, "fg.db"),
		"--staging-dir", filepath.Join(dir, "staging"), "--metrics-listen", "", "--secret-key-file", key, "--log-level", "warn"}, tflags...)...)
	if err != nil {
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
	startWorker := func() (*exec.Cmd, error) {
		w, err := start(append([]string{"worker", "--secret-key-file", key, "--log-level", "warn"}, tflags...)...)
		if err != nil {
			return nil, err
		}
		idle := processCPU()
		time.Sleep(2 * time.Second) // the new worker polls
		fmt.Printf("  the in-process Temporal server idle: %.2f CPU-s per s\n", (processCPU()-idle)/2)
		return w, nil
	}
	// run copies into a new table under one engine, from a checkpointed
	// target, and prints where the CPU went.
	run := func(c *pgx.Conn, table string, workers ...*exec.Cmd) (float64, int64, error) {
		if err := mk(c, table); err != nil {
			return 0, 0, err
		}
		if _, err := dst.Exec(ctx, "CHECKPOINT"); err != nil {
			return 0, 0, err
		}
		watch := append([]*exec.Cmd{g.cmd}, workers...)
		if len(workers) > 0 {
			watch[0] = gwProc
		}
		var cpu0 []float64
		for _, p := range watch {
			cpu0 = append(cpu0, procCPU(p.Process.Pid))
		}
		self0, m0, pg0 := processCPU(), machineCPU(), commandCPU("postgres")
		sec, n, err := runWait(ctx, c, table)
		if err != nil {
			return 0, 0, err
		}
		fmt.Printf("  CPU during the run: gateway %.2f s", procCPU(watch[0].Process.Pid)-cpu0[0])
		for i := 1; i < len(watch); i++ {
			fmt.Printf(", worker %d %.2f s", i, procCPU(watch[i].Process.Pid)-cpu0[i])
		}
		if len(workers) > 0 {
			// The in-process Temporal server runs in this process.
			fmt.Printf(", the in-process Temporal server %.2f s", processCPU()-self0)
		}
		fmt.Printf(", PostgreSQL %.2f s, machine %.2f s of %.2f s\n", commandCPU("postgres")-pg0, machineCPU()-m0, float64(runtime.NumCPU())*sec)
		if len(workers) > 0 {
			if err := printTimeline(ctx, tc, srv, table); err != nil {
				fmt.Println("  timeline:", err)
			}
		}
		_, err = dst.Exec(ctx, "DROP TABLE "+table)
		return sec, n, err
	}
	// runOn runs on n workers: the long-running one and n-1 started for
	// the run, or n started for the run (freshWorkers); those started are
	// stopped after it.
	var long *exec.Cmd
	runOn := func(n int, table string) (float64, error) {
		var ws, started []*exec.Cmd
		defer func() {
			for _, w := range started {
				w.Process.Kill()
				w.Wait()
				for i, p := range procs {
					if p == w {
						procs[i] = nil
					}
				}
			}
		}()
		if !*freshWorkers {
			if long == nil {
				var err error
				if long, err = startWorker(); err != nil {
					return 0, err
				}
			}
			ws = append(ws, long)
		}
		for len(ws) < n {
			w, err := startWorker()
			if err != nil {
				return 0, err
			}
			ws, started = append(ws, w), append(started, w)
		}
		sec, _, err := run(tc, table, ws...)
		return sec, err
	}
	var emb, one, two, oneRatio, twoRatio []float64
	var rows int64
	for r := 1; r <= max(1, *temporalRounds); r++ {
		// Odd rounds run embedded, 1 worker, 2 workers; even rounds the
		// reverse, so a drift of the servers' state within a round
		// (WAL, caches, autovacuum) does not favour one engine.
		var e, o, t float64
		steps := []string{"embedded", "1 worker", "2 workers"}
		if r%2 == 0 {
			steps = []string{"2 workers", "1 worker", "embedded"}
		}
		for _, step := range steps {
			fmt.Printf("flowgate: round %d: %s ...\n", r, step)
			var err error
			switch step {
			case "embedded":
				e, rows, err = run(fg, fmt.Sprintf("lineitem_emb%d", r))
			case "1 worker":
				o, err = runOn(1, fmt.Sprintf("lineitem_t1_%d", r))
			case "2 workers":
				t, err = runOn(2, fmt.Sprintf("lineitem_t2_%d", r))
			}
			if err != nil {
				return nil, err
			}
		}
		emb, one, two = append(emb, e), append(one, o), append(two, t)
		oneRatio, twoRatio = append(oneRatio, o/e), append(twoRatio, t/o)
		fmt.Printf("  round %d: 1 worker %.2f x embedded, 2 workers %.2f x 1 worker\n", r, o/e, t/o)
	}
	rounds := fmt.Sprintf(" (median of %d)", len(emb))
	return []result{
		{name: "embedded engine, 2 partitions at once" + rounds, rows: rows, seconds: median(emb)},
		{name: "temporal engine, 1 worker" + rounds, rows: rows, seconds: median(one), base: "embedded", baseSec: median(emb), ratio: median(oneRatio), goal: "<= 1.2"},
		{name: "temporal engine, 2 workers" + rounds, rows: rows, seconds: median(two), base: "1 worker", baseSec: median(one), ratio: median(twoRatio), goal: "<= 1.0"},
	}, nil
}

// median of xs (not empty).
func median(xs []float64) float64 {
	xs = append([]float64(nil), xs...)
	sort.Float64s(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
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
		if (a.kind != "flowgate.CopyPartition" && a.kind != "flowgate.CopyPartitions") || a.completed.IsZero() {
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
	fmt.Printf("  timeline of %s: %s in all; before the first copy %s, after the last %s; %d copy steps of %s each on average, "+
		"%s average wait for a worker, %s average from a step's end to the next step's scheduling (%d times)\n",
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
