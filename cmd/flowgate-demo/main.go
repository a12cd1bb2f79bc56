// Command flowgate-demo is `make demo`: flowgate moving data with no
// database server. It builds the gateway, starts it on a free port with its
// catalog, key and staging directory in a temporary directory, loads
// docs/examples/shop-sqlite.sql into a new SQLite database, and runs
// docs/examples/demo.sql through psql: datasources, IMPORT TABLES, a DDL
// task, a batch job staged as files in a file datasource and verified with
// hashdiff (RUN ... WAIT with progress NOTICEs), the export files and the
// overview. Then it shows what landed in the warehouse and the exports
// directory, stops the gateway and removes the temporary directory (also on
// Ctrl-C). It exits non-zero when any step fails.
//
// Run it from the repository root: go run ./cmd/flowgate-demo [-keep].
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

func main() {
	goCmd := flag.String("go", "go", "the go command used to build the gateway")
	flowgate := flag.String("flowgate", "", "a flowgate binary to run instead of building ./cmd/flowgate")
	examples := flag.String("examples", filepath.Join("docs", "examples"), "directory holding shop-sqlite.sql and demo.sql")
	keep := flag.Bool("keep", false, "keep the temporary directory (catalog, SQLite files, export files)")
	flag.Parse()
	os.Exit(run(*goCmd, *flowgate, *examples, *keep))
}

func say(format string, args ...any) { fmt.Printf("demo: "+format+"\n", args...) }

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
	return 1
}

func run(goCmd, flowgateBin, examples string, keep bool) int {
	psql, err := exec.LookPath("psql")
	if err != nil {
		return fail("psql not found: install the postgresql-client package (apt-get install postgresql-client)")
	}
	shopSQL, err := filepath.Abs(filepath.Join(examples, "shop-sqlite.sql"))
	if err != nil {
		return fail("%v", err)
	}
	demoSQL, err := filepath.Abs(filepath.Join(examples, "demo.sql"))
	if err != nil {
		return fail("%v", err)
	}
	for _, p := range []string{shopSQL, demoSQL} {
		if _, err := os.Stat(p); err != nil {
			return fail("%v (run the demo from the repository root: make demo)", err)
		}
	}

	// Ctrl-C reaches psql and the gateway too (same process group); the
	// demo then stops the gateway, waits for it and cleans up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "flowgate-demo-")
	if err != nil {
		return fail("%v", err)
	}
	defer func() {
		if keep {
			say("kept %s", tmp)
			return
		}
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintf(os.Stderr, "demo: remove %s: %v\n", tmp, err)
			return
		}
		say("removed %s", tmp)
	}()
	// The gateway's own files and the datasources' files live apart: a
	// sqlite or file datasource may not point into the catalog's or the
	// staging directory's place.
	gwDir, dataDir, filesDir := filepath.Join(tmp, "gateway"), filepath.Join(tmp, "data"), filepath.Join(tmp, "files")
	for _, d := range []string{gwDir, dataDir, filesDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail("%v", err)
		}
	}

	if flowgateBin == "" {
		flowgateBin = filepath.Join(gwDir, "flowgate")
		say("building the gateway (%s build ./cmd/flowgate)", goCmd)
		build := exec.CommandContext(ctx, goCmd, "build", "-o", flowgateBin, "./cmd/flowgate")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fail("build flowgate: %v", err)
		}
	}

	shopDB, warehouseDB := filepath.Join(dataDir, "shop.db"), filepath.Join(dataDir, "warehouse.db")
	say("loading %s into %s", rel(shopSQL), shopDB)
	if err := loadSQLite(shopDB, shopSQL); err != nil {
		return fail("load the sample shop: %v", err)
	}
	if err := loadSQLite(warehouseDB, ""); err != nil {
		return fail("create the warehouse: %v", err)
	}

	gw, err := startGateway(ctx, flowgateBin, gwDir)
	if err != nil {
		return fail("%v", err)
	}
	defer gw.stop()
	say("gateway pid %d listening on %s (catalog %s)", gw.cmd.Process.Pid, gw.addr, filepath.Join(gwDir, "flowgate.db"))
	say("dashboard while the demo runs: http://%s/ (with `make run` it is at http://127.0.0.1:9187/)", gw.metrics)
	say("running %s with psql", rel(demoSQL))
	fmt.Println()

	_, port, _ := net.SplitHostPort(gw.addr)
	cmd := exec.CommandContext(ctx, psql, "-X", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", port, "-U", "admin", "-d", "flowgate",
		"-v", "shop_db="+shopDB, "-v", "warehouse_db="+warehouseDB, "-v", "files_dir="+filesDir,
		"-f", demoSQL)
	cmd.Env = psqlEnv()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout // NOTICEs in line with the results
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fail("interrupted")
		}
		return fail("psql: %v\n%s", err, gw.logTail())
	}
	fmt.Println()

	if err := showWarehouse(warehouseDB); err != nil {
		return fail("read the warehouse: %v", err)
	}
	if err := showFiles(filesDir); err != nil {
		return fail("list the export files: %v", err)
	}
	if err := gw.stop(); err != nil {
		return fail("%v", err)
	}
	say("gateway stopped")
	return 0
}

// rel shortens p to a path relative to the working directory when it is
// under it.
func rel(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// psqlEnv is the environment without PG* settings that could point psql
// elsewhere (PGHOST, PGSERVICE, PGOPTIONS, ...).
func psqlEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10", "PGAPPNAME=flowgate-demo")
}

// loadSQLite creates a new SQLite database at path and runs the script in
// file (none: an empty database).
func loadSQLite(path, file string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=rwc")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	script := "VACUUM" // writes the header: an existing, empty database
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		script = string(b)
	}
	_, err = db.Exec(script)
	return err
}

func showWarehouse(path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name")
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	say("the warehouse (%s) now holds, read with SQLite directly:", path)
	for _, t := range tables {
		var n int64
		if err := db.QueryRow(`SELECT count(*) FROM "` + strings.ReplaceAll(t, `"`, `""`) + `"`).Scan(&n); err != nil {
			return err
		}
		note := ""
		if t == "flowgate_import_marks" {
			note = "  (flowgate's own: which export files were imported)"
		}
		fmt.Printf("  %-24s %6d rows%s\n", t, n, note)
	}
	return nil
}

func showFiles(dir string) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	say("export files in the exports datasource (%s):", dir)
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(dir, f)
		fmt.Printf("  %-60s %7d bytes\n", r, st.Size())
	}
	if len(files) == 0 {
		return errors.New("no export files")
	}
	// The first lines of one file: flowgate CSV, readable as it is.
	f, err := os.Open(files[len(files)-1])
	if err != nil {
		return err
	}
	defer f.Close()
	r, _ := filepath.Rel(dir, files[len(files)-1])
	say("the first lines of %s:", r)
	sc := bufio.NewScanner(io.LimitReader(f, 1<<16))
	for i := 0; i < 3 && sc.Scan(); i++ {
		fmt.Println("  " + sc.Text())
	}
	return sc.Err()
}

// gateway is the flowgate process the demo runs.
type gateway struct {
	cmd     *exec.Cmd
	addr    string
	metrics string // the dashboard and /metrics
	log     *os.File
	exited  chan error
	done    bool
}

// freeAddr is a free loopback address to listen on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startGateway(ctx context.Context, bin, dir string) (*gateway, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "flowgate.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--listen", addr,
		"--catalog", filepath.Join(dir, "flowgate.db"),
		"--staging-dir", filepath.Join(dir, "staging"),
		"--secret-key-file", filepath.Join(dir, "flowgate.key"),
		"--metrics-listen", metrics)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: the demo, not the terminal, stops it, so it
	// always gets one SIGTERM and the demo waits for it. Pdeathsig stops it
	// if the demo itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start flowgate: %w", err)
	}
	g := &gateway{cmd: cmd, addr: addr, metrics: metrics, log: logFile, exited: make(chan error, 1)}
	go func() { g.exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return g, nil
		}
		select {
		case err := <-g.exited:
			g.done = true
			logFile.Close()
			return nil, fmt.Errorf("flowgate exited before accepting connections: %v\n%s", err, g.logTail())
		case <-ctx.Done():
			g.stop()
			return nil, errors.New("interrupted")
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.stop()
			return nil, fmt.Errorf("flowgate did not accept connections on %s within 30s\n%s", addr, g.logTail())
		}
	}
}

// stop sends SIGTERM and waits for the gateway to exit (SIGKILL after 40s).
func (g *gateway) stop() error {
	if g.done {
		return nil
	}
	g.done = true
	defer g.log.Close()
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.exited:
		if err != nil {
			return fmt.Errorf("flowgate exited with %v\n%s", err, g.logTail())
		}
		return nil
	case <-time.After(40 * time.Second):
		g.cmd.Process.Kill()
		<-g.exited
		return fmt.Errorf("flowgate did not stop within 40s of SIGTERM; killed\n%s", g.logTail())
	}
}

// logTail is the end of the gateway's log, for error messages.
func (g *gateway) logTail() string {
	b, err := os.ReadFile(g.log.Name())
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "flowgate log:\n" + string(b)
}
