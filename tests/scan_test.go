package tests

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/mattn/go-sqlite3"

	"github.com/flowgate/flowgate/internal/testbed"
)

const scanOrdersDDL = `CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(12,2), note text, updated_at timestamptz NOT NULL)`

// stagesOf lists a run's stages as "name:status".
func stagesOf(t testing.TB, c *pgx.Conn, runID string) []string {
	return rowsOf(t, c, fmt.Sprintf(`SELECT stage || ':' || status FROM dataflow.run_stages WHERE run_id = '%s' ORDER BY started_at, stage`, runID))
}

func TestScanIncrementalPostgresToPostgres(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "scsrc", "scdst")
	src, dst := rig.src, rig.dst
	mustPG(t, src, scanOrdersDDL, `CREATE INDEX orders_upd ON orders (updated_at)`,
		`INSERT INTO orders SELECT i, i % 7, i * 1.5, 'n' || i, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 second' FROM generate_series(1, 1000) i`)
	mustPG(t, dst, scanOrdersDDL)
	g, c := rig.start(t, pgx.QueryExecModeSimpleProtocol)
	_ = g

	// Bad definitions first.
	_, err := c.Exec(ctx, `CREATE SYNC JOB bad1 FROM src.orders TO dst.orders MODE SCAN INCREMENTAL ON nope`)
	wantCode(t, err, "42703")
	_, err = c.Exec(ctx, `CREATE SYNC JOB bad2 FROM src.orders TO dst.orders MODE SCAN INCREMENTAL ON note`)
	if pe := wantCode(t, err, "42804"); !strings.Contains(pe.Hint, "date, datetime/timestamp") {
		t.Errorf("hint for an unsupported type: %q", pe.Hint)
	}
	_, err = c.Exec(ctx, `CREATE SYNC JOB bad3 FROM src.orders TO dst.orders MODE SCAN WITH (pre_action = 'recreate')`)
	wantCode(t, err, "22023")

	mustExec(t, c, `CREATE SYNC JOB orders_scan FROM src.orders TO dst.orders MODE SCAN INCREMENTAL ON updated_at WITH (algorithm = 'hashdiff')`)
	r := runJob(t, c, `RUN SYNC JOB orders_scan WAIT`)
	if r.Status != "completed" {
		t.Fatalf("first scan: %s %s", r.Status, deref(r.Message))
	}
	if n := count(t, dst, `SELECT count(*) FROM orders`); n != 1000 {
		t.Fatalf("after the first scan the target has %d rows", n)
	}
	if got := stagesOf(t, c, r.RunID); strings.Join(got, ",") != "PreAction:skipped,ScanTable:completed,TableDataDiff:completed" {
		t.Errorf("stages: %v", got)
	}
	var wm string
	var rowsLast int64
	mustScan(t, c.QueryRow(ctx, `SELECT value, rows_last_scan FROM dataflow.watermarks WHERE job = 'orders_scan' AND "column" = 'updated_at'`), &wm, &rowsLast)
	if !strings.HasPrefix(wm, "2024-01-01 00:16:40") || rowsLast != 1000 {
		t.Fatalf("watermark %q after %d rows", wm, rowsLast)
	}

	// Updates, inserts, and a row sharing the watermark's timestamp that
	// commits after the scan read the others.
	mustPG(t, src, `UPDATE orders SET amount = -1, updated_at = '2024-01-02 00:00:00+00' WHERE id <= 10`,
		`INSERT INTO orders VALUES (2001, 1, 1, '', '2024-01-01 00:16:40+00'), (2002, 1, 1, NULL, '2024-01-01 00:16:40+00')`,
		`INSERT INTO orders SELECT i, 1, 2, 'new', '2024-01-03 00:00:00+00' FROM generate_series(1001, 1100) i`)
	r = runJob(t, c, `RUN SYNC JOB orders_scan WAIT`)
	if r.Status != "completed" {
		t.Fatalf("second scan: %s %s", r.Status, deref(r.Message))
	}
	if r.RowsRead != 113 {
		// 10 updated, 2 late at the watermark, 100 new, and the boundary row read again.
		t.Errorf("second scan read %d rows, want 113", r.RowsRead)
	}
	const cmp = `SELECT id || ' ' || amount || ' ' || updated_at || ' ' || coalesce('"' || note || '"', 'NULL') FROM orders ORDER BY id`
	want := rowsOf(t, src, cmp)
	got := rowsOf(t, dst, cmp)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("target differs from source: %s", firstDiff(want, got))
	}
	// Nothing changed: a scan re-reads only the boundary.
	r = runJob(t, c, `RUN SYNC JOB orders_scan WAIT`)
	if r.Status != "completed" || r.RowsRead != 100 {
		t.Errorf("idle scan: %s, %d rows", r.Status, r.RowsRead)
	}
	if n := count(t, c, `SELECT count(*) FROM dataflow.operations WHERE job = 'orders_scan' AND operation = 'import'`); n != 3 {
		t.Errorf("%d import operations, want 3", n)
	}

	// scan_delay: rows newer than now() - scan_delay wait for a later scan.
	mustExec(t, c, `ALTER SYNC JOB orders_scan SET (scan_delay = 3600)`)
	mustPG(t, src, `INSERT INTO orders VALUES (3000, 1, 1, 'recent', now())`)
	runJob(t, c, `RUN SYNC JOB orders_scan WAIT`)
	if n := count(t, dst, `SELECT count(*) FROM orders WHERE id = 3000`); n != 0 {
		t.Errorf("a row inside scan_delay was copied")
	}
	mustExec(t, c, `ALTER SYNC JOB orders_scan SET (scan_delay = 0)`)
	runJob(t, c, `RUN SYNC JOB orders_scan WAIT`)
	if n := count(t, dst, `SELECT count(*) FROM orders WHERE id = 3000`); n != 1 {
		t.Errorf("the row was not copied once scan_delay allowed it")
	}

	// A schedule fires runs by itself.
	mustExec(t, c, `ALTER SYNC JOB orders_scan SCHEDULE EVERY '2 seconds'`)
	mustPG(t, src, `UPDATE orders SET note = 'scheduled', updated_at = now() WHERE id = 500`)
	deadline := time.Now().Add(20 * time.Second)
	for count(t, dst, `SELECT count(*) FROM orders WHERE id = 500 AND note = 'scheduled'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled scan copied the update\n%s", g.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	mustExec(t, c, `PAUSE SYNC JOB orders_scan`)
	if n := count(t, c, `SELECT count(*) FROM dataflow.runs WHERE job = 'orders_scan' AND trigger = 'schedule'`); n < 1 {
		t.Errorf("no scheduled run in dataflow.runs")
	}
}

// TestScanFullCopyPreActions: without INCREMENTAL ON each fire copies the
// table; truncate mirrors deletions, rename_create keeps an archive, on
// PostgreSQL, MariaDB and SQLite targets.
func TestScanFullCopyPreActions(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "sfsrc", "sfdst")
	src, dst := rig.src, rig.dst
	mustPG(t, src, scanOrdersDDL, `INSERT INTO orders SELECT i, i % 7, i, 'n' || i, '2024-01-01 00:00:00+00' FROM generate_series(1, 300) i`)
	mustPG(t, dst, scanOrdersDDL, `CREATE INDEX orders_customer ON orders (customer)`)
	my := testbed.MySQL(t)
	mydb := my.NewDatabase(t, "sfmy")
	mdb := my.Open(t, mydb)
	mustMy(t, mdb, `CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount decimal(12,2), note text, updated_at datetime(6) NOT NULL, KEY orders_customer (customer))`)
	litePath := filepath.Join(t.TempDir(), "lite.db")
	ldb, err := sql.Open("sqlite3", litePath)
	if err != nil {
		t.Fatal(err)
	}
	defer ldb.Close()
	if _, err := ldb.Exec(`CREATE TABLE orders (id integer PRIMARY KEY, customer integer NOT NULL, amount numeric, note text, updated_at text NOT NULL); CREATE INDEX orders_customer ON orders (customer)`); err != nil {
		t.Fatal(err)
	}
	g, c := rig.start(t, pgx.QueryExecModeExec)
	_ = g
	mustExec(t, c, mysqlDatasourceSQL("my", my, my.Password, mydb))
	mustExec(t, c, "CREATE DATASOURCE lite TYPE sqlite OPTIONS (path "+sqlString(litePath)+")")

	mustPG(t, dst, `INSERT INTO orders VALUES (9999, 1, 1, 'stale', now())`)
	mustExec(t, c, `CREATE SYNC JOB full_pg FROM src.orders TO dst.orders MODE SCAN WITH (pre_action = 'truncate', algorithm = 'md5diff')`)
	r := runJob(t, c, `RUN SYNC JOB full_pg WAIT`)
	if r.Status != "completed" || count(t, dst, `SELECT count(*) FROM orders`) != 300 || count(t, dst, `SELECT count(*) FROM orders WHERE id = 9999`) != 0 {
		t.Fatalf("truncate + copy: %s %s; %d rows", r.Status, deref(r.Message), count(t, dst, `SELECT count(*) FROM orders`))
	}
	if got := stagesOf(t, c, r.RunID); !strings.Contains(strings.Join(got, ","), "PreAction:completed") {
		t.Errorf("stages: %v", got)
	}
	mustPG(t, src, `DELETE FROM orders WHERE id > 200`)
	runJob(t, c, `RUN SYNC JOB full_pg WAIT`)
	if n := count(t, dst, `SELECT count(*) FROM orders`); n != 200 {
		t.Fatalf("deletions not mirrored: %d rows", n)
	}

	for _, tc := range []struct {
		name, target string
		rows         func() int64
		tables       func() []string
	}{
		{"pg", "dst.orders", func() int64 { return count(t, dst, `SELECT count(*) FROM orders`) },
			func() []string {
				return rowsOf(t, dst, `SELECT tablename FROM pg_tables WHERE tablename LIKE 'orders%' ORDER BY 1`)
			}},
		{"my", "my.orders", func() int64 { return sqlCount(t, mdb, `SELECT count(*) FROM orders`) },
			func() []string {
				return sqlRows(t, mdb, `SELECT table_name FROM information_schema.tables WHERE table_schema = database() AND table_name LIKE 'orders%' ORDER BY 1`)
			}},
		{"lite", "lite.orders", func() int64 { return sqlCount(t, ldb, `SELECT count(*) FROM orders`) },
			func() []string {
				return sqlRows(t, ldb, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'orders%' ORDER BY 1`)
			}},
	} {
		job := "rc_" + tc.name
		mustExec(t, c, fmt.Sprintf(`CREATE SYNC JOB %s FROM src.orders TO %s MODE SCAN WITH (pre_action = 'rename_create')`, job, tc.target))
		// Three runs back to back: archive names have one-second
		// resolution, so runs within one second get _2, _3 after it.
		for i := 0; i < 3; i++ {
			r := runJob(t, c, `RUN SYNC JOB `+job+` WAIT`)
			if r.Status != "completed" {
				t.Fatalf("%s: %s %s", job, r.Status, deref(r.Message))
			}
		}
		if n := tc.rows(); n != 200 {
			t.Errorf("%s: %d rows after rename_create", job, n)
		}
		tables := tc.tables()
		if len(tables) != 4 || tables[0] != "orders" || !strings.HasPrefix(tables[1], "orders_arc_") || !strings.HasPrefix(tables[3], "orders_arc_") {
			t.Errorf("%s: tables %v, want orders and three archives", job, tables)
		}
	}
	// The new PostgreSQL table has the index and key of the old one.
	if n := count(t, dst, `SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'`); n != 2 {
		t.Errorf("recreated PostgreSQL table has %d indexes, want 2", n)
	}
	if n := sqlCount(t, ldb, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders' AND name = 'orders_customer'`); n != 1 {
		t.Errorf("recreated SQLite table lacks its index")
	}
	if n := sqlCount(t, mdb, `SELECT count(*) FROM information_schema.statistics WHERE table_schema = database() AND table_name = 'orders' AND index_name = 'orders_customer'`); n != 1 {
		t.Errorf("recreated MariaDB table lacks its index")
	}
	_ = ctx
}

func sqlCount(t testing.TB, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
