package tests

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/mattn/go-sqlite3"
)

func itoa(n int) string { return strconv.Itoa(n) }

// 50 sessions x 200 statements: no errors, and not one audit row lost.
func TestConcurrentSessionsLoseNoAuditRows(t *testing.T) {
	g := startGateway(t)
	const sessions, perSession = 50, 200
	app := fmt.Sprintf("load-%d", time.Now().UnixNano())
	var wg sync.WaitGroup
	var failures atomic.Int64
	errs := make(chan error, sessions)
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cfg, _ := pgx.ParseConfig(g.dsn("admin") + "&application_name=" + app)
			if i%2 == 0 {
				cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
			}
			ctx := context.Background()
			c, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				errs <- err
				failures.Add(1)
				return
			}
			defer c.Close(ctx)
			for j := 0; j < perSession; j++ {
				var err error
				name := fmt.Sprintf("ds_%d_%d", i, j/4)
				switch j % 4 {
				case 0:
					_, err = c.Exec(ctx, "CREATE DATASOURCE "+name+" TYPE file OPTIONS (path '/var/tmp')")
				case 1:
					var n int64
					err = c.QueryRow(ctx, "SELECT count(*) FROM dataflow.datasources WHERE name = $1", name).Scan(&n)
					if err == nil && n != 1 {
						err = fmt.Errorf("%s: count %d", name, n)
					}
				case 2:
					_, err = c.Exec(ctx, "DROP DATASOURCE "+name)
				case 3:
					_, err = c.Exec(ctx, "DROP DATASOURCE "+name+" PURGE")
				}
				if err != nil {
					failures.Add(1)
					select {
					case errs <- fmt.Errorf("session %d stmt %d: %w", i, j, err):
					default:
					}
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if failures.Load() > 0 {
		t.FailNow()
	}
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	var n int64
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM dataflow.audit_log WHERE application_name = $1", app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != sessions*perSession {
		t.Fatalf("audit rows %d, want %d", n, sessions*perSession)
	}
}

// kill -9 in the middle of a stream of CREATE/DROP statements leaves a
// catalog that opens, passes SQLite's integrity check and is consistent:
// no acknowledged CREATE is lost.
func TestKill9DuringCatalogWrites(t *testing.T) {
	g := startGateway(t)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		acked    sync.Map     // names whose CREATE was acknowledged and never dropped
		creates  atomic.Int64 // acknowledged CREATEs
		killed   atomic.Bool  // set just before the kill: later errors are expected
		errMu    sync.Mutex
		writeErr []error // errors before the kill
	)
	unexpected := func(err error) {
		if killed.Load() {
			return
		}
		errMu.Lock()
		writeErr = append(writeErr, err)
		errMu.Unlock()
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := pgx.Connect(ctx, g.dsn("admin"))
			if err != nil {
				unexpected(fmt.Errorf("writer %d: connect: %w", w, err))
				return
			}
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("k_%d_%d", w, i)
				if _, err := c.Exec(ctx, "CREATE DATASOURCE "+name+" TYPE file OPTIONS (path '/var/tmp')"); err != nil {
					unexpected(fmt.Errorf("writer %d: %s: %w", w, name, err))
					return
				}
				acked.Store(name, true)
				creates.Add(1)
				if i%3 == 0 {
					// An in-flight DROP may or may not have landed: stop
					// expecting the name before sending it.
					acked.Delete(name)
					if _, err := c.Exec(ctx, "DROP DATASOURCE "+name+" PURGE"); err != nil {
						unexpected(fmt.Errorf("writer %d: drop %s: %w", w, name, err))
						return
					}
				}
			}
		}(w)
	}
	// Kill once the writers are well under way (at least minCreates
	// acknowledged), not after a fixed time that a slow machine may spend
	// connecting.
	const minCreates = 40
	deadline := time.Now().Add(30 * time.Second)
	for creates.Load() < minCreates && time.Now().Before(deadline) {
		errMu.Lock()
		failed := len(writeErr) > 0
		errMu.Unlock()
		if failed {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // and some more, mid-stream
	killed.Store(true)
	g.kill9()
	cancel()
	wg.Wait()
	for _, err := range writeErr {
		t.Errorf("before the kill: %v", err)
	}
	if n := creates.Load(); n < minCreates {
		t.Fatalf("only %d CREATEs acknowledged before the kill, want at least %d: the test proves nothing", n, minCreates)
	}
	if t.Failed() {
		t.FailNow()
	}

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(g.dir, "flowgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	db.Close()

	g.restart()
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	expected, missing := 0, 0
	acked.Range(func(k, _ any) bool {
		expected++
		var n int64
		if err := c.QueryRow(context.Background(), "SELECT count(*) FROM dataflow.datasources WHERE name = $1", k).Scan(&n); err != nil {
			t.Fatalf("look up %s: %v", k, err)
		}
		if n != 1 {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged datasources lost by kill -9", missing, expected)
	}
	t.Logf("%d CREATEs acknowledged, %d datasources expected and found after kill -9", creates.Load(), expected)
	mustExec(t, c, "CREATE DATASOURCE after_kill TYPE file OPTIONS (path '/var/tmp')")
}
