package tests

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const cdcOrdersDDL = `CREATE TABLE orders (id bigint PRIMARY KEY, customer text, qty int NOT NULL DEFAULT 0,
	price numeric(12,2), note text, placed timestamptz)`

// workload runs inserts, updates, deletes and key changes on orders from
// several sessions until stop closes; ids are drawn from [lo, hi).
func workload(t testing.TB, pgDSN string, sessions, lo, hi int, stop <-chan struct{}) *sync.WaitGroup {
	return workloadOn(t, pgDSN, []string{"orders"}, sessions, lo, hi, stop)
}

// workloadOn is workload over several tables shaped like orders, each
// statement on one of them at random.
func workloadOn(t testing.TB, pgDSN string, tables []string, sessions, lo, hi int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			c, err := pgx.Connect(ctx, pgDSN)
			if err != nil {
				t.Errorf("workload connect: %v", err)
				return
			}
			defer c.Close(ctx)
			r := rand.New(rand.NewSource(int64(s)))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := lo + r.Intn(hi-lo)
				var q string
				switch k := r.Intn(10); {
				case k < 5:
					q = fmt.Sprintf(`INSERT INTO orders VALUES (%d, 'c%d', %d, %d.25, 'n', now()) ON CONFLICT (id) DO UPDATE SET qty = orders.qty + 1`, id, i, i, i)
				case k < 8:
					q = fmt.Sprintf(`UPDATE orders SET qty = qty + 1, note = 'u%d' WHERE id = %d`, i, id)
				case k < 9:
					q = fmt.Sprintf(`DELETE FROM orders WHERE id = %d`, id)
				default: // move a row to a free key
					q = fmt.Sprintf(`UPDATE orders SET id = %d WHERE id = %d AND NOT EXISTS (SELECT 1 FROM orders WHERE id = %d)`, id+hi, id, id+hi)
				}
				if len(tables) > 1 {
					q = strings.ReplaceAll(q, "orders", tables[r.Intn(len(tables))])
				}
				if _, err := c.Exec(ctx, q); err != nil {
					t.Errorf("workload: %s: %v", q, err)
					return
				}
			}
		}()
	}
	return &wg
}

// PostgreSQL to PostgreSQL: snapshot while several sessions change the
// table, then the stream keeps the target equal: inserts, updates, key
// changes, deletes, unchanged TOAST, TRUNCATE; STOP, RESTART without a
// snapshot and without losing what changed meanwhile; views and metrics;
// DROP removes the slot and publication.
func TestCDCPostgresToPostgres(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "cdcsrc", "cdcdst")
	dropSlotsAfter(t, rig.pg, rig.srcDB)
	mustPG(t, rig.src, cdcOrdersDDL,
		`INSERT INTO orders SELECT g, 'c' || g, g % 7, g * 1.5, NULL, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second' FROM generate_series(1, 20000) g`)
	mustPG(t, rig.dst, cdcOrdersDDL)
	g, c := rig.start(t, pgx.QueryExecModeExec)

	stop := make(chan struct{})
	wg := workload(t, rig.pg.DSNFor(rig.srcDB), 3, 1, 25000, stop)
	mustExec(t, c, "CREATE SYNC JOB orders_rt FROM src.public.orders TO dst.public.orders MODE CDC")
	run := runJob(t, c, "RUN SYNC JOB orders_rt WAIT")
	if run.Status != "running" {
		t.Fatalf("after RUN ... WAIT the run is %s: %s", run.Status, deref(run.Message))
	}
	time.Sleep(2 * time.Second) // changes keep coming while streaming
	close(stop)
	wg.Wait()
	src := func() []string { return rowsOf(t, rig.src, "SELECT * FROM orders ORDER BY id") }
	dst := func() []string { return rowsOf(t, rig.dst, "SELECT * FROM orders ORDER BY id") }
	waitSame(t, 30*time.Second, "after the mixed workload", src, dst)

	var stages []string
	rows, err := c.Query(ctx, "SELECT stage || ':' || status FROM dataflow.run_stages WHERE run_id = $1 ORDER BY stage", run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if stages, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if strings.Join(stages, ",") != "Snapshot:completed,Stream:running" {
		t.Fatalf("stages %v", stages)
	}
	st := getCDCStatus(t, c, "orders_rt")
	if st.Status != "running" || st.SnapshotRows < 20000 || st.Events == 0 || st.Inserts == 0 || st.Updates == 0 || st.Deletes == 0 || st.CheckpointPos == "" {
		t.Fatalf("cdc_status: %+v", st)
	}

	// Unchanged TOAST: a 100 kB note survives an update of another column.
	big := strings.Repeat("toasted-", 12800)
	mustPG(t, rig.src, fmt.Sprintf("UPDATE orders SET note = '%s' WHERE id = 5", big), "UPDATE orders SET qty = 4242 WHERE id = 5")
	waitSame(t, 10*time.Second, "unchanged TOAST", func() []string {
		return rowsOf(t, rig.src, "SELECT id, qty, md5(note), length(note) FROM orders WHERE id = 5")
	}, func() []string {
		return rowsOf(t, rig.dst, "SELECT id, qty, md5(note), length(note) FROM orders WHERE id = 5")
	})

	// STOP applies what it read and ends terminated.
	var status string
	var msg *string
	if err := c.QueryRow(ctx, "STOP SYNC JOB orders_rt").Scan(new(string), new(string), &status, new(string), new(time.Time), new(*time.Time),
		new(int64), new(int64), new(int64), &msg); err != nil {
		t.Fatal(err)
	}
	if status != "terminated" || deref(msg) != "execution terminated gracefully" {
		t.Fatalf("STOP: %s %q", status, deref(msg))
	}
	// Changes while stopped, then RESTART: no snapshot, nothing lost.
	mustPG(t, rig.src, "INSERT INTO orders VALUES (900001, 'while stopped', 1, 1, NULL, now())",
		"UPDATE orders SET id = 900002 WHERE id = 900001", "DELETE FROM orders WHERE id BETWEEN 100 AND 110")
	restart := runJob(t, c, "RESTART SYNC JOB orders_rt")
	waitSame(t, 20*time.Second, "after RESTART", src, dst)
	var snap string
	mustScan(t, c.QueryRow(ctx, "SELECT status FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'Snapshot'", restart.RunID), &snap)
	if snap != "skipped" {
		t.Fatalf("RESTART took a snapshot: stage %s", snap)
	}

	// TRUNCATE empties the target; a multi-statement transaction lands whole.
	mustPG(t, rig.src, "TRUNCATE orders",
		"BEGIN; INSERT INTO orders VALUES (1, 'a', 1, 1, NULL, now()); INSERT INTO orders VALUES (2, 'b', 2, 2, NULL, now()); COMMIT")
	waitSame(t, 10*time.Second, "after TRUNCATE", src, dst)

	// Metrics.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", g.metrics))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`flowgate_cdc_lag_seconds{job="orders_rt"}`, `flowgate_cdc_events_total{job="orders_rt",op="insert"}`,
		`flowgate_cdc_events_total{job="orders_rt",op="delete"}`, `flowgate_cdc_events_total{job="orders_rt",op="truncate"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	var tables int64
	mustScan(t, c.QueryRow(ctx, "SELECT count(*) FROM dataflow.cdc_tables WHERE job = 'orders_rt' AND source_table = 'public.orders' AND inserts > 0"), &tables)
	if tables != 1 {
		t.Fatalf("cdc_tables rows = %d", tables)
	}

	// DROP removes the slot and publication flowgate created.
	_, err = c.Exec(ctx, "DROP SYNC JOB orders_rt")
	wantCode(t, err, "55006") // still running
	runJob(t, c, "STOP SYNC JOB orders_rt")
	mustExec(t, c, "DROP SYNC JOB orders_rt")
	if n := count(t, rig.src, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'flowgate_orders_rt'"); n != 0 {
		t.Fatalf("slot left behind")
	}
	if n := count(t, rig.src, "SELECT count(*) FROM pg_publication WHERE pubname = 'flowgate_orders_rt'"); n != 0 {
		t.Fatalf("publication left behind")
	}
}
