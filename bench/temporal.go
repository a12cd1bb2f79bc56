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
	"slices"
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

// freshWorkers starts every Temporal run's workers for that run. By
// default the workers run for the whole scenario, as they do in a
// deployment, and each setup copies once untimed first.
var freshWorkers = flag.Bool("temporal-fresh-workers", false, "start each Temporal run's workers for that run (default: long-running workers, warmed by -temporal-warmup untimed rounds)")

// temporalWarmup: untimed rounds before the counted ones when the
// workers are long-running. A worker opens a second connection to each
// database the first time it runs two copies at once, so one round does
// not always warm both workers of the 2-worker setup.
var temporalWarmup = flag.Int("temporal-warmup", 2, "untimed rounds that warm the long-running workers' connections")

// temporalControl runs the 1-worker setup a second time in each round
// (last in odd rounds, first in even ones) and prints the two 1-worker
// runs' ratio: how far apart two identical runs land on this machine,
// the noise against which "2 workers / 1 worker" must be read.
var temporalControl = flag.Bool("temporal-control", false, "also run 1 worker a second time each round and print that A/A ratio (the bench's noise)")

// temporalScenarios: the PG->PG partitioned copy (staging = 'none', 2
// partitions at once) under the embedded engine, then under --engine
// temporal with 1 and 2 `flowgate worker` processes against an
// in-process Temporal server, all on this machine in the same run, in
// rounds (see temporalRounds).
//
// The 1-worker and 2-worker setups are two gateways on their own task
// queues, each with its own long-running workers: a worker keeps its
// connections between runs, and on this VM a new PostgreSQL backend's
// first bulk statement costs about 0.5 CPU-s more than its later ones
// (faulting in shared_buffers), so a worker started for one setup's run
// and not the other's would compare cold backends with warm ones.
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
	tflags := func(queue string) []string {
		return []string{"--temporal-address", srv.GetFrontendHostPort(), "--temporal-namespace", srv.GetDefaultNamespace(), "--temporal-task-queue", queue}
	}
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
	// setup is a Temporal gateway on its own task queue and the workers
	// serving it.
	type setup struct {
		name    string
		queue   string
		workers int
		gw      *exec.Cmd
		conn    *pgx.Conn
		long    []*exec.Cmd
	}
	startGateway := func(s *setup) error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		sub := filepath.Join(dir, s.queue)
		if s.gw, err = start(append([]string{"--engine", "temporal", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--catalog", filepath.Join(sub, "fg.db"),
			"--staging-dir", filepath.Join(sub, "staging"), "--metrics-listen", "", "--secret-key-file", key, "--log-level", "warn"}, tflags(s.queue)...)...); err != nil {
			return err
		}
		for i := 0; i < 600 && s.conn == nil; i++ {
			s.conn, _ = pgx.Connect(ctx, fmt.Sprintf("postgres://admin@127.0.0.1:%d/flowgate?sslmode=disable", port))
			if s.conn == nil {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if s.conn == nil {
			return fmt.Errorf("the temporal gateway on %s did not start", s.queue)
		}
		for _, q := range []string{"CREATE DATASOURCE src TYPE postgres OPTIONS (" + pgOpts("flowgate_bench_src") + ")",
			"CREATE DATASOURCE dst TYPE postgres OPTIONS (" + pgOpts("flowgate_bench_dst") + ")"} {
			if _, err := s.conn.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}
	startWorkers := func(s *setup) ([]*exec.Cmd, error) {
		var ws []*exec.Cmd
		for len(ws) < s.workers {
			w, err := start(append([]string{"worker", "--secret-key-file", key, "--log-level", "warn"}, tflags(s.queue)...)...)
			if err != nil {
				return nil, err
			}
			ws = append(ws, w)
		}
		idle := processCPU()
		time.Sleep(2 * time.Second) // the new workers poll
		fmt.Printf("  the in-process Temporal server idle: %.2f CPU-s per s\n", (processCPU()-idle)/2)
		return ws, nil
	}
	stop := func(ws []*exec.Cmd) {
		for _, w := range ws {
			w.Process.Kill()
			w.Wait()
			for i, p := range procs {
				if p == w {
					procs[i] = nil
				}
			}
		}
	}
	one, two := &setup{name: "1 worker", queue: "bench1", workers: 1}, &setup{name: "2 workers", queue: "bench2", workers: 2}
	for _, s := range []*setup{one, two} {
		if err := startGateway(s); err != nil {
			return nil, err
		}
		defer s.conn.Close(ctx)
		if !*freshWorkers {
			if s.long, err = startWorkers(s); err != nil {
				return nil, err
			}
		}
	}
	// run copies into a new table under one engine, from a checkpointed
	// target, and prints where the CPU went.
	run := func(c *pgx.Conn, gw *exec.Cmd, table string, workers []*exec.Cmd) (float64, int64, error) {
		if err := mk(c, table); err != nil {
			return 0, 0, err
		}
		if _, err := dst.Exec(ctx, "CHECKPOINT"); err != nil {
			return 0, 0, err
		}
		watch := append([]*exec.Cmd{gw}, workers...)
		var cpu0 []float64
		for _, p := range watch {
			cpu0 = append(cpu0, procCPU(p.Process.Pid))
		}
		self0, m0, pg0, pf0, cs0 := processCPU(), machineCPU(), commandCPU("postgres"), commandFaults("postgres"), machineSwitches()
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
		fmt.Printf(", PostgreSQL %.2f s (%d minor page faults), machine %.2f s of %.2f s, %d context switches\n", commandCPU("postgres")-pg0, commandFaults("postgres")-pf0, machineCPU()-m0, float64(runtime.NumCPU())*sec, machineSwitches()-cs0)
		if len(workers) > 0 {
			if err := printTimeline(ctx, c, srv, table); err != nil {
				fmt.Println("  timeline:", err)
			}
		}
		_, err = dst.Exec(ctx, "DROP TABLE "+table)
		return sec, n, err
	}
	// runOn runs on s's long-running workers, or on workers started for
	// the run and stopped after it (freshWorkers).
	runOn := func(s *setup, table string) (float64, error) {
		ws := s.long
		if *freshWorkers {
			var err error
			if ws, err = startWorkers(s); err != nil {
				return 0, err
			}
			defer stop(ws)
		}
		sec, _, err := run(s.conn, s.gw, table, ws)
		return sec, err
	}
	var emb, ones, twos, oneRatio, twoRatio, ctlRatio []float64
	var rows int64
	first := 1
	if !*freshWorkers {
		first = 1 - max(0, *temporalWarmup) // rounds up to 0 warm the workers and are not counted
	}
	for r := first; r <= max(1, *temporalRounds); r++ {
		// Odd rounds run embedded, 1 worker, 2 workers; even rounds the
		// reverse, so a drift of the servers' state within a round
		// (WAL, caches, autovacuum) does not favour one engine.
		var e, o, t, o2 float64
		steps := []string{"embedded", "1 worker", "2 workers"}
		if *temporalControl {
			steps = append(steps, "1 worker again")
		}
		if (r+2)%2 == 0 {
			slices.Reverse(steps)
		}
		label := fmt.Sprintf("round %d", r)
		if r <= 0 {
			label = fmt.Sprintf("warm-up %d (not counted)", r-first+1)
		}
		for _, step := range steps {
			fmt.Printf("flowgate: %s: %s ...\n", label, step)
			var err error
			switch step {
			case "embedded":
				e, rows, err = run(fg, g.cmd, fmt.Sprintf("lineitem_emb%d", r-first), nil)
			case "1 worker":
				o, err = runOn(one, fmt.Sprintf("lineitem_t1_%d", r-first))
			case "2 workers":
				t, err = runOn(two, fmt.Sprintf("lineitem_t2_%d", r-first))
			case "1 worker again":
				o2, err = runOn(one, fmt.Sprintf("lineitem_t1b_%d", r-first))
			}
			if err != nil {
				return nil, err
			}
		}
		fmt.Printf("  %s: 1 worker %.2f x embedded, 2 workers %.2f x 1 worker", label, o/e, t/o)
		if *temporalControl {
			fmt.Printf(", 1 worker again %.2f x 1 worker", o2/o)
		}
		fmt.Println()
		if r <= 0 {
			continue
		}
		if *temporalControl {
			ctlRatio = append(ctlRatio, o2/o)
		}
		emb, ones, twos = append(emb, e), append(ones, o), append(twos, t)
		oneRatio, twoRatio = append(oneRatio, o/e), append(twoRatio, t/o)
	}
	rounds := fmt.Sprintf(" (median of %d)", len(emb))
	workers := ", long-running workers"
	if *freshWorkers {
		workers = ", workers started per run"
	}
	spread := func(what string, xs []float64) {
		if len(xs) > 0 {
			s := slices.Sorted(slices.Values(xs))
			fmt.Printf("%s: median %.2f (%.2f-%.2f) over %d rounds\n", what, median(xs), s[0], s[len(s)-1], len(s))
		}
	}
	spread("1 worker / embedded", oneRatio)
	spread("2 workers / 1 worker", twoRatio)
	spread("A/A control, 1 worker again / 1 worker", ctlRatio)
	return []result{
		{name: "embedded engine, 2 partitions at once" + rounds, rows: rows, seconds: median(emb)},
		{name: "temporal engine, 1 worker" + workers + rounds, rows: rows, seconds: median(ones), base: "embedded", baseSec: median(emb), ratio: median(oneRatio), goal: "<= 1.2"},
		{name: "temporal engine, 2 workers" + workers + rounds, rows: rows, seconds: median(twos), base: "1 worker", baseSec: median(ones), ratio: median(twoRatio), goal: "<= 1.0"},
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
		worker                        string
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
				a.started, a.worker = at, ev.GetActivityTaskStartedEventAttributes().GetIdentity()
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
	perWorker := map[string]int{}
	for _, a := range order {
		if (a.kind != "flowgate.CopyPartition" && a.kind != "flowgate.CopyPartitions") || a.completed.IsZero() {
			continue
		}
		copies = append(copies, a)
		perWorker[a.worker]++
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
	if len(perWorker) > 1 {
		var n []int
		for _, c := range perWorker {
			n = append(n, c)
		}
		sort.Sort(sort.Reverse(sort.IntSlice(n)))
		fmt.Printf("  copy steps per worker: %v\n", n)
	}
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
