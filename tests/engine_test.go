package tests

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// With FLOWGATE_TEST_TEMPORAL_ADDRESS set, every gateway these tests start
// runs under --engine temporal against that Temporal server (namespace
// FLOWGATE_TEST_TEMPORAL_NAMESPACE, default "default"), with a task queue
// of its own and one `flowgate worker` beside it. tests/temporal runs a
// subset of this package that way against its in-process server.
var (
	temporalAddress   = os.Getenv("FLOWGATE_TEST_TEMPORAL_ADDRESS")
	temporalNamespace = envOr("FLOWGATE_TEST_TEMPORAL_NAMESPACE", "default")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// underTemporal adds the temporal engine's flags to g (once) and starts
// its worker; it does nothing without FLOWGATE_TEST_TEMPORAL_ADDRESS.
func (g *gateway) underTemporal() {
	if temporalAddress == "" || g.worker != nil {
		return
	}
	g.t.Helper()
	key := filepath.Join(g.dir, "temporal.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("3c", 32)+"\n"), 0o600); err != nil {
		g.t.Fatal(err)
	}
	flags := []string{"--temporal-address", temporalAddress, "--temporal-namespace", temporalNamespace,
		"--temporal-task-queue", fmt.Sprintf("fgt-%d-%d", os.Getpid(), g.port), "--secret-key-file", key}
	// Every process here sees the same staging directory.
	g.args = append(append(g.args, "--engine", "temporal", "--shared-staging"), flags...)
	w := exec.Command(flowgateBin, append([]string{"worker"}, flags...)...)
	w.Stderr = &prefixWriter{g: g, prefix: "worker: "}
	if err := w.Start(); err != nil {
		g.t.Fatalf("start flowgate worker: %v", err)
	}
	g.worker = w
	g.t.Logf("gateway under --engine temporal at %s, task queue %s, worker pid %d", temporalAddress, flags[5], w.Process.Pid)
	t := g.t
	t.Cleanup(func() {
		w.Process.Kill()
		w.Wait()
		// The gateway has stopped (its cleanup runs first): read its
		// catalog for the runs Temporal workers executed.
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(g.dir, "flowgate.db")+"?mode=ro")
		if err != nil {
			t.Errorf("open catalog: %v", err)
			return
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM runs WHERE workflow_id IS NOT NULL AND workflow_id <> ''`).Scan(&n); err != nil {
			t.Errorf("count runs on Temporal: %v", err)
		}
		t.Logf("%d runs executed as Temporal workflows", n)
	})
}

// prefixWriter appends a process's output to the gateway's log.
type prefixWriter struct {
	g      *gateway
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.g.logMu.Lock()
	defer w.g.logMu.Unlock()
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line != "" {
			w.g.log.WriteString(w.prefix + line)
		}
	}
	return len(p), nil
}
