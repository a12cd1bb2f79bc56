package tests

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
)

// The target server goes away for 20 s: under fixed-delay the run is
// restarting and catches up once the target is back; under none it fails
// with the target's message, and RESTART continues it.
func TestCDCTargetOutage(t *testing.T) {
	ctx := context.Background()
	pg := testbed.Postgres(t)
	srcDB := pg.NewDatabase(t, "cdcoutsrc")
	dropSlotsAfter(t, pg, srcDB)
	src := pg.Connect(t, srcDB)
	mustPG(t, src, cdcOrdersDDL, `INSERT INTO orders SELECT g, 'c', 1, 1, NULL, now() FROM generate_series(1, 500) g`)
	target := testbed.OwnPostgres(t)
	dstDB := target.NewDatabase(t, "cdcoutdst")
	mustPG(t, target.Connect(t, dstDB), cdcOrdersDDL)

	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, pgDS("src", pg, srcDB))
	mustExec(t, c, pgDS("dst", target.PG, dstDB))
	mustExec(t, c, "CREATE SYNC JOB o FROM src.public.orders TO dst.public.orders MODE CDC WITH (restart_strategy = 'fixed-delay', restart_delay = 1)")
	run := runJob(t, c, "RUN SYNC JOB o WAIT")
	srcRows := func() []string { return rowsOf(t, src, "SELECT * FROM orders ORDER BY id") }
	dstRows := func() []string {
		d := target.Connect(t, dstDB)
		defer d.Close(ctx)
		return rowsOf(t, d, "SELECT * FROM orders ORDER BY id")
	}

	target.Stop(t)
	down := time.Now()
	mustPG(t, src, "INSERT INTO orders VALUES (1000, 'during outage', 1, 1, NULL, now())", "DELETE FROM orders WHERE id < 10")
	waitFor(t, 15*time.Second, "the run to be restarting", func() bool {
		s, _ := runStatusOf(t, c, run.RunID)
		return s == "restarting"
	})
	time.Sleep(20*time.Second - time.Since(down))
	target.Start(t)
	waitSame(t, 30*time.Second, "after the target came back", srcRows, dstRows)
	if s, msg := runStatusOf(t, c, run.RunID); s != "running" {
		t.Fatalf("run %s: %s", s, msg)
	}
	if st := getCDCStatus(t, c, "o"); st.Restarts == 0 {
		t.Fatalf("no restarts counted: %+v", st)
	}

	// restart_strategy = 'none': the outage fails the run.
	runJob(t, c, "STOP SYNC JOB o")
	mustExec(t, c, "ALTER SYNC JOB o SET (restart_strategy = 'none')")
	run2 := runJob(t, c, "RESTART SYNC JOB o")
	waitFor(t, 15*time.Second, "the restarted run to stream", func() bool {
		s, _ := runStatusOf(t, c, run2.RunID)
		return s == "running"
	})
	target.Stop(t)
	mustPG(t, src, "UPDATE orders SET qty = 77 WHERE id = 100")
	waitFor(t, 20*time.Second, "the run to fail", func() bool {
		s, _ := runStatusOf(t, c, run2.RunID)
		return s == "failed"
	})
	if _, msg := runStatusOf(t, c, run2.RunID); !strings.Contains(msg, "dst") {
		t.Fatalf("failure message does not name the target: %s", msg)
	}
	target.Start(t)
	runJob(t, c, "RESTART SYNC JOB o")
	waitSame(t, 30*time.Second, "after RESTART", srcRows, dstRows)
	runJob(t, c, "STOP SYNC JOB o")
	mustExec(t, c, "DROP SYNC JOB o")
}

// ADD COLUMN at the source appears at the target under schema_changes =
// 'apply'; a dropped column stops being written; 'fail' stops the run
// naming the change.
func TestCDCSchemaChanges(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "cdcddlsrc", "cdcddldst")
	dropSlotsAfter(t, rig.pg, rig.srcDB)
	mustPG(t, rig.src, "CREATE TABLE items (id int PRIMARY KEY, name text, obsolete text)",
		"CREATE TABLE strict (id int PRIMARY KEY, v text)", "INSERT INTO items VALUES (1, 'a', 'x'), (2, 'b', 'y')", "INSERT INTO strict VALUES (1, 'a')")
	mustPG(t, rig.dst, "CREATE TABLE items (id int PRIMARY KEY, name text, obsolete text)", "CREATE TABLE strict (id int PRIMARY KEY, v text)")
	_, c := rig.start(t, pgx.QueryExecModeExec)
	mustExec(t, c, "CREATE SYNC JOB items FROM src.public.items TO dst.public.items MODE CDC")
	mustExec(t, c, "CREATE SYNC JOB strict FROM src.public.strict TO dst.public.strict MODE CDC WITH (schema_changes = 'fail')")
	runJob(t, c, "RUN SYNC JOB items WAIT")
	strict := runJob(t, c, "RUN SYNC JOB strict WAIT")

	mustPG(t, rig.src, "ALTER TABLE items ADD COLUMN price numeric(10,2)", "INSERT INTO items VALUES (3, 'c', 'z', 9.99)",
		"UPDATE items SET price = 1.25 WHERE id = 1")
	waitSame(t, 30*time.Second, "after ADD COLUMN", func() []string {
		return rowsOf(t, rig.src, "SELECT id, name, obsolete, price FROM items ORDER BY id")
	}, func() []string {
		return rowsOrError(rig.dst, "SELECT id, name, obsolete, price FROM items ORDER BY id")
	})
	var typ string
	mustScan(t, rig.dst.QueryRow(ctx, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'price'"), &typ)
	if typ != "numeric(10,2)" {
		t.Fatalf("added column has type %s", typ)
	}
	mustPG(t, rig.src, "ALTER TABLE items DROP COLUMN obsolete", "INSERT INTO items VALUES (4, 'd', 4.5)", "UPDATE items SET name = 'aa' WHERE id = 1")
	waitSame(t, 30*time.Second, "after DROP COLUMN", func() []string {
		return []string{"1|aa|x|1.25", "2|b|y|<null>", "3|c|z|9.99", "4|d|<null>|4.50"}
	}, func() []string {
		return rowsOf(t, rig.dst, "SELECT id, name, obsolete, price FROM items ORDER BY id")
	})

	mustPG(t, rig.src, "ALTER TABLE strict ADD COLUMN extra int", "INSERT INTO strict VALUES (2, 'b', 2)")
	waitFor(t, 20*time.Second, "the strict run to fail", func() bool {
		s, _ := runStatusOf(t, c, strict.RunID)
		return s == "failed"
	})
	if _, msg := runStatusOf(t, c, strict.RunID); !strings.Contains(msg, "schema_changes = 'fail'") || !strings.Contains(msg, "strict") {
		t.Fatalf("strict failed with %q", msg)
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM strict"); n != 1 {
		t.Fatalf("strict target has %d rows; the change after the schema change must not be applied", n)
	}
	runJob(t, c, "STOP SYNC JOB items")
}

// A database job captures its tables (TABLES / EXCLUDE as for batch) and
// applies a source transaction over several tables in one target
// transaction: a reader of the target never sees half a transfer.
func TestCDCDatabaseJobIsAtomic(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "cdcdbsrc", "cdcdbdst")
	dropSlotsAfter(t, rig.pg, rig.srcDB)
	ddl := []string{"CREATE TABLE checking (id int PRIMARY KEY, balance bigint NOT NULL)",
		"CREATE TABLE savings (id int PRIMARY KEY, balance bigint NOT NULL)",
		"CREATE TABLE audit (id int PRIMARY KEY)"}
	mustPG(t, rig.src, ddl...)
	mustPG(t, rig.dst, ddl...)
	mustPG(t, rig.src, "INSERT INTO checking SELECT g, 1000 FROM generate_series(1, 50) g", "INSERT INTO savings SELECT g, 1000 FROM generate_series(1, 50) g",
		"INSERT INTO audit VALUES (1)")
	_, c := rig.start(t, pgx.QueryExecModeExec)
	mustExec(t, c, "CREATE SYNC JOB bank FROM DATABASE src SCHEMA public TO DATABASE dst SCHEMA public EXCLUDE (audit) MODE CDC")
	runJob(t, c, "RUN SYNC JOB bank WAIT")
	const total = 100 * 1000
	var torn atomic.Int64
	var reads atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, err := pgx.Connect(ctx, rig.pg.DSNFor(rig.dstDB))
		if err != nil {
			t.Errorf("reader: %v", err)
			return
		}
		defer r.Close(ctx)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var sum int64
			if err := r.QueryRow(ctx, "SELECT (SELECT sum(balance) FROM checking) + (SELECT sum(balance) FROM savings)").Scan(&sum); err != nil {
				t.Errorf("reader: %v", err)
				return
			}
			reads.Add(1)
			if sum != total {
				torn.Add(1)
			}
		}
	}()
	for i := 0; i < 300; i++ {
		a, b := 1+i%50, 1+(i*7)%50
		mustPG(t, rig.src, fmt.Sprintf("BEGIN; UPDATE checking SET balance = balance - 5 WHERE id = %d; INSERT INTO audit VALUES (%d); UPDATE savings SET balance = balance + 5 WHERE id = %d; COMMIT", a, i+10, b))
	}
	waitSame(t, 20*time.Second, "checking", func() []string { return rowsOf(t, rig.src, "SELECT * FROM checking ORDER BY id") },
		func() []string { return rowsOf(t, rig.dst, "SELECT * FROM checking ORDER BY id") })
	waitSame(t, 20*time.Second, "savings", func() []string { return rowsOf(t, rig.src, "SELECT * FROM savings ORDER BY id") },
		func() []string { return rowsOf(t, rig.dst, "SELECT * FROM savings ORDER BY id") })
	close(stop)
	<-done
	if torn.Load() != 0 || reads.Load() < 20 {
		t.Fatalf("%d of %d reads saw half a transfer", torn.Load(), reads.Load())
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM audit"); n != 0 {
		t.Fatalf("excluded table got %d rows", n)
	}
	runJob(t, c, "STOP SYNC JOB bank")
}

// The checks of section 5c, each 55000 with a hint (or the server's own
// error for privileges), at CREATE and at RUN; a slot lost while the job
// was stopped fails the run and RESTART ... FROM SNAPSHOT recovers; DROP
// leaves a publication flowgate did not create.
func TestCDCChecksAndLostSlot(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "cdcchksrc", "cdcchkdst")
	dropSlotsAfter(t, rig.pg, rig.srcDB)
	for _, db := range []*pgx.Conn{rig.src, rig.dst} {
		mustPG(t, db, "CREATE TABLE nokey (a int, b text)", "CREATE TABLE nothing (id int PRIMARY KEY, v text)", cdcOrdersDDL)
	}
	mustPG(t, rig.src, "ALTER TABLE nothing REPLICA IDENTITY NOTHING", "INSERT INTO orders SELECT g, 'c', 1, 1, NULL, now() FROM generate_series(1, 100) g",
		"CREATE ROLE plain LOGIN PASSWORD 'plain-pass-1'", "GRANT SELECT ON ALL TABLES IN SCHEMA public TO plain",
		"CREATE PUBLICATION mine FOR TABLE orders")
	t.Cleanup(func() { rig.src.Exec(context.Background(), "DROP OWNED BY plain; DROP ROLE plain") })
	g, c := rig.start(t, pgx.QueryExecModeExec)
	for _, tc := range []struct{ sql, code, text string }{
		{"CREATE SYNC JOB j FROM src.public.nokey TO dst.public.nokey MODE CDC", "55000", "no primary key"},
		{"CREATE SYNC JOB j FROM src.public.nothing TO dst.public.nothing MODE CDC", "55000", "REPLICA IDENTITY"},
		{"CREATE SYNC JOB j FROM src.public.orders TO dst.public.orders MODE CDC SCHEDULE EVERY '10 seconds'", "22023", "SCHEDULE"},
	} {
		_, err := c.Exec(ctx, tc.sql)
		pe := wantCode(t, err, tc.code)
		if !strings.Contains(pe.Message+pe.Hint, tc.text) || pe.Hint == "" {
			t.Errorf("%s: %q hint %q", tc.sql, pe.Message, pe.Hint)
		}
	}
	// A user without REPLICATION: the server's own message.
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE plainsrc TYPE postgres OPTIONS (host %s, port '%d', database %s, user 'plain', password 'plain-pass-1')",
		sqlString(rig.pg.Host), rig.pg.Port, sqlString(rig.srcDB)))
	_, err := c.Exec(ctx, "CREATE SYNC JOB j FROM plainsrc.public.orders TO dst.public.orders MODE CDC")
	if err != nil && strings.Contains(err.Error(), "conn closed") {
		t.Fatalf("%v\n%s", err, g.logs())
	}
	if pe := wantCode(t, err, "42501"); !strings.Contains(pe.Message, "replication") {
		t.Fatalf("no REPLICATION attribute: %q", pe.Message)
	}
	// wal_level = replica, on a second server.
	replica := testbed.PostgresWith(t, "wal_level=replica")
	rdb := replica.NewDatabase(t, "cdcreplica")
	mustPG(t, replica.Connect(t, rdb), cdcOrdersDDL)
	mustExec(t, c, pgDS("replica", replica, rdb))
	_, err = c.Exec(ctx, "CREATE SYNC JOB j FROM replica.public.orders TO dst.public.orders MODE CDC")
	if err != nil && strings.Contains(err.Error(), "conn closed") {
		t.Fatalf("%v\n%s", err, g.logs())
	}
	if pe := wantCode(t, err, "55000"); !strings.Contains(pe.Message, "wal_level") || !strings.Contains(pe.Hint, "logical") {
		t.Fatalf("wal_level: %q hint %q", pe.Message, pe.Hint)
	}

	// Checked again at RUN: a table that lost what CDC needs after CREATE.
	for _, db := range []*pgx.Conn{rig.src, rig.dst} {
		mustPG(t, db, "CREATE TABLE later (id int PRIMARY KEY, v text)", "CREATE TABLE later2 (id int PRIMARY KEY, v text)")
	}
	mustExec(t, c, "CREATE SYNC JOB later FROM src.public.later TO dst.public.later MODE CDC")
	mustExec(t, c, "CREATE SYNC JOB later2 FROM src.public.later2 TO dst.public.later2 MODE CDC")
	mustPG(t, rig.src, "ALTER TABLE later REPLICA IDENTITY NOTHING", "ALTER TABLE later2 DROP CONSTRAINT later2_pkey")
	for job, text := range map[string]string{"later": "REPLICA IDENTITY", "later2": "no primary key"} {
		_, err := c.Exec(ctx, "RUN SYNC JOB "+job)
		pe := wantCode(t, err, "55000")
		if !strings.Contains(pe.Message, text) || !strings.Contains(pe.Hint, "ALTER TABLE") {
			t.Errorf("RUN %s: %q hint %q", job, pe.Message, pe.Hint)
		}
		if n := count(t, c, "SELECT count(*) FROM dataflow.runs WHERE job = $1", job); n != 0 {
			t.Errorf("RUN %s refused but made %d runs", job, n)
		}
	}

	// A slot of that name that flowgate did not make (another plugin): the
	// run fails saying so, and the slot stays.
	mustPG(t, rig.src, "SELECT pg_create_logical_replication_slot('theirs', 'test_decoding')")
	mustExec(t, c, "CREATE SYNC JOB taken FROM src.public.orders TO dst.public.orders MODE CDC WITH (slot_name = 'theirs')")
	taken := runJob(t, c, "RUN SYNC JOB taken WAIT")
	if st, msg := runStatusOf(t, c, taken.RunID); st != "failed" || !strings.Contains(msg, `"theirs" already exists`) || !strings.Contains(msg, "slot_name") {
		t.Fatalf("a foreign slot: run %s: %s", st, msg)
	}
	if n := count(t, rig.src, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'theirs' AND plugin = 'test_decoding'"); n != 1 {
		t.Fatal("RUN replaced a slot flowgate did not create")
	}
	mustExec(t, c, "DROP SYNC JOB taken")
	if n := count(t, rig.src, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'theirs'"); n != 1 {
		t.Fatal("DROP removed a slot flowgate did not create")
	}
	if n := count(t, rig.src, "SELECT count(*) FROM pg_publication WHERE pubname = 'flowgate_taken'"); n != 0 {
		t.Fatal("the failed RUN left its publication")
	}

	// The slot is dropped while the job is stopped.
	mustExec(t, c, "CREATE SYNC JOB j FROM src.public.orders TO dst.public.orders MODE CDC WITH (publication_name = 'mine')")
	runJob(t, c, "RUN SYNC JOB j WAIT")
	runJob(t, c, "STOP SYNC JOB j")
	mustPG(t, rig.src, "SELECT pg_drop_replication_slot('flowgate_j')", "INSERT INTO orders VALUES (500, 'lost', 1, 1, NULL, now())")
	run := runJob(t, c, "RESTART SYNC JOB j")
	waitFor(t, 20*time.Second, "the run to fail", func() bool {
		s, _ := runStatusOf(t, c, run.RunID)
		return s == "failed"
	})
	if _, msg := runStatusOf(t, c, run.RunID); !strings.Contains(msg, "FROM SNAPSHOT") {
		t.Fatalf("lost slot: %q", msg)
	}
	// FROM SNAPSHOT empties the target first: a row only the target has
	// goes.
	mustPG(t, rig.dst, "INSERT INTO orders VALUES (777777, 'only at the target', 1, 1, NULL, now())")
	runJob(t, c, "RESTART SYNC JOB j FROM SNAPSHOT")
	waitSame(t, 20*time.Second, "after FROM SNAPSHOT", func() []string { return rowsOf(t, rig.src, "SELECT * FROM orders ORDER BY id") },
		func() []string { return rowsOf(t, rig.dst, "SELECT * FROM orders ORDER BY id") })
	runJob(t, c, "STOP SYNC JOB j")
	mustExec(t, c, "DROP SYNC JOB j")
	if n := count(t, rig.src, "SELECT count(*) FROM pg_publication WHERE pubname = 'mine'"); n != 1 {
		t.Fatal("DROP removed a publication flowgate did not create")
	}
	if n := count(t, rig.src, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'flowgate_j'"); n != 0 {
		t.Fatal("DROP left the slot")
	}
}

// An idle source for longer than a checkpoint interval: the slot's
// confirmed_flush_lsn still advances (WAL written elsewhere does not pile
// up behind the slot).
func TestCDCIdleSourceAdvancesTheSlot(t *testing.T) {
	rig := newPGRig(t, "cdcidlesrc", "cdcidledst")
	dropSlotsAfter(t, rig.pg, rig.srcDB)
	mustPG(t, rig.src, cdcOrdersDDL, "CREATE TABLE other (id int)")
	mustPG(t, rig.dst, cdcOrdersDDL)
	_, c := rig.start(t, pgx.QueryExecModeExec)
	mustExec(t, c, "CREATE SYNC JOB idle FROM src.public.orders TO dst.public.orders MODE CDC WITH (checkpoint_interval = 1000)")
	runJob(t, c, "RUN SYNC JOB idle WAIT")
	lsn := func() string {
		var v string
		mustScan(t, rig.src.QueryRow(context.Background(), "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'flowgate_idle'"), &v)
		return v
	}
	before := lsn()
	// WAL from a table the job does not capture, then nothing.
	mustPG(t, rig.src, "INSERT INTO other SELECT generate_series(1, 10000)")
	firstStart := time.Now()
	// Within a few checkpoint intervals, not at the next status update
	// (10 s): a keepalive that came within a second of the last checkpoint
	// is checkpointed a second later, not dropped.
	waitFor(t, 8*time.Second, "confirmed_flush_lsn to advance", func() bool {
		var moved bool
		mustScan(t, rig.src.QueryRow(context.Background(), "SELECT confirmed_flush_lsn > $1::pg_lsn FROM pg_replication_slots WHERE slot_name = 'flowgate_idle'", before), &moved)
		return moved
	})
	t.Logf("the slot moved past %s %s after WAL of another table", before, time.Since(firstStart).Round(time.Millisecond))
	// WAL written only in another database of the server, for longer than
	// a checkpoint interval: the slot follows it all the way.
	// (The insert position before the last INSERT lies inside the WAL that
	// INSERT writes; the one after it may be past a page header that no
	// record ends at until someone writes more.)
	mustPG(t, rig.dst, "CREATE TABLE elsewhere (id int)")
	var written string
	for i := 0; i < 3; i++ {
		mustScan(t, rig.dst.QueryRow(context.Background(), "SELECT pg_current_wal_insert_lsn()::text"), &written)
		mustPG(t, rig.dst, "INSERT INTO elsewhere SELECT generate_series(1, 10000)")
		time.Sleep(500 * time.Millisecond)
	}
	waitStart := time.Now()
	waitFor(t, 8*time.Second, "confirmed_flush_lsn to pass the other database's WAL", func() bool {
		var moved bool
		mustScan(t, rig.src.QueryRow(context.Background(), "SELECT confirmed_flush_lsn >= $1::pg_lsn FROM pg_replication_slots WHERE slot_name = 'flowgate_idle'", written), &moved)
		return moved
	})
	t.Logf("slot at %s (from %s) %s after the last write elsewhere", lsn(), before, time.Since(waitStart).Round(time.Millisecond))
	st := getCDCStatus(t, c, "idle")
	if st.Lag == nil || *st.Lag != 0 || st.CheckpointPos == "" {
		t.Fatalf("idle status: %+v lag %v", st, st.Lag)
	}
	runJob(t, c, "STOP SYNC JOB idle")
}

// A single source transaction of 1,000,000 rows streams through with the
// gateway's memory bounded, and lands as one target transaction.
func TestCDCMillionRowTransaction(t *testing.T) {
	rig := newPGRig(t, "cdcbigsrc", "cdcbigdst")
	dropSlotsAfter(t, rig.pg, rig.srcDB)
	mustPG(t, rig.src, cdcOrdersDDL)
	mustPG(t, rig.dst, cdcOrdersDDL)
	g, c := rig.start(t, pgx.QueryExecModeExec)
	mustExec(t, c, "CREATE SYNC JOB big FROM src.public.orders TO dst.public.orders MODE CDC")
	runJob(t, c, "RUN SYNC JOB big WAIT")
	start := time.Now()
	mustPG(t, rig.src, `INSERT INTO orders SELECT g, 'customer ' || g, g % 100, g * 0.01, repeat('x', 50), now() FROM generate_series(1, 1000000) g`)
	var peak int64
	var partial []int64 // counts a reader of the target saw between none and all
	polls := 0
	waitFor(t, 300*time.Second, "the million rows", func() bool {
		if rss := vmHWM(t, g.cmd.Process.Pid); rss > peak {
			peak = rss
		}
		polls++
		n := count(t, rig.dst, "SELECT count(*) FROM orders")
		if n != 0 && n != 1000000 {
			partial = append(partial, n)
		}
		return n == 1000000
	})
	t.Logf("1,000,000-row transaction applied in %s (%d looks at the target); gateway peak RSS %d MB",
		time.Since(start).Round(time.Millisecond), polls, peak>>20)
	if peak > 300<<20 {
		t.Fatalf("gateway peak RSS %d MB, want < 300 MB", peak>>20)
	}
	if len(partial) > 0 {
		t.Fatalf("a reader of the target saw part of the source transaction: %v rows", partial)
	}
	runJob(t, c, "STOP SYNC JOB big")
}

// vmHWM is a process's peak resident set size in bytes.
func vmHWM(t testing.TB, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// The limits of the restart strategies while the target is down:
// fixed-delay gives up after restart_attempts restarts; failure-rate
// gives up when more than max_failures_per_interval failures fall within
// failure_rate_interval, and keeps restarting (then catches up) when its
// failures are further apart than that.
func TestCDCRestartLimits(t *testing.T) {
	ctx := context.Background()
	pg := testbed.Postgres(t)
	srcDB := pg.NewDatabase(t, "cdclimsrc")
	dropSlotsAfter(t, pg, srcDB)
	src := pg.Connect(t, srcDB)
	target := testbed.OwnPostgres(t)
	dstDB := target.NewDatabase(t, "cdclimdst")
	dst := target.Connect(t, dstDB)
	for _, tb := range []string{"fixed", "rate", "spread"} {
		ddl := fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, v text)", tb)
		mustPG(t, src, ddl, fmt.Sprintf("INSERT INTO %s SELECT g, 'v' FROM generate_series(1, 100) g", tb))
		mustPG(t, dst, ddl)
	}
	dst.Close(ctx)

	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, pgDS("src", pg, srcDB))
	mustExec(t, c, pgDS("dst", target.PG, dstDB))
	runs := map[string]string{}
	for job, with := range map[string]string{
		"fixed":  "restart_strategy = 'fixed-delay', restart_delay = 1, restart_attempts = 2",
		"rate":   "restart_strategy = 'failure-rate', restart_delay = 1, failure_rate_interval = 60, max_failures_per_interval = 2",
		"spread": "restart_strategy = 'failure-rate', restart_delay = 2, failure_rate_interval = 1, max_failures_per_interval = 1",
	} {
		mustExec(t, c, fmt.Sprintf("CREATE SYNC JOB %s FROM src.public.%s TO dst.public.%s MODE CDC WITH (%s)", job, job, job, with))
		run := runJob(t, c, "RUN SYNC JOB "+job+" WAIT")
		if run.Status != "running" {
			t.Fatalf("%s: %s %s", job, run.Status, deref(run.Message))
		}
		runs[job] = run.RunID
	}

	target.Stop(t)
	mustPG(t, src, "INSERT INTO fixed VALUES (1000, 'down')", "INSERT INTO rate VALUES (1000, 'down')", "INSERT INTO spread VALUES (1000, 'down')")
	for _, job := range []string{"fixed", "rate"} {
		waitFor(t, 30*time.Second, job+" to give up", func() bool {
			s, _ := runStatusOf(t, c, runs[job])
			return s == "failed"
		})
		if st := getCDCStatus(t, c, job); st.Restarts != 2 {
			t.Errorf("%s failed after %d restarts, want 2", job, st.Restarts)
		}
		if _, msg := runStatusOf(t, c, runs[job]); !strings.Contains(msg, "dst") {
			t.Errorf("%s failed with %q, which does not name the target", job, msg)
		}
	}
	waitFor(t, 30*time.Second, "spread to restart three times", func() bool { return getCDCStatus(t, c, "spread").Restarts >= 3 })
	if s, msg := runStatusOf(t, c, runs["spread"]); s != "restarting" {
		t.Fatalf("spread is %s: %s", s, msg)
	}
	target.Start(t)
	waitSame(t, 30*time.Second, "spread after the target came back", func() []string {
		return rowsOf(t, src, "SELECT * FROM spread ORDER BY id")
	}, func() []string {
		d := target.Connect(t, dstDB)
		defer d.Close(ctx)
		return rowsOf(t, d, "SELECT * FROM spread ORDER BY id")
	})
	waitFor(t, 10*time.Second, "spread to run", func() bool {
		s, _ := runStatusOf(t, c, runs["spread"])
		return s == "running"
	})
	runJob(t, c, "STOP SYNC JOB spread")
}

// A database job snapshots its tables parallelism at a time, all in the
// slot's exported snapshot, while several sessions change every table:
// afterwards each target table equals its source (no change missing or
// applied on top of a snapshot that already had it).
func TestCDCParallelSnapshot(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "cdcparsrc", "cdcpardst")
	dropSlotsAfter(t, rig.pg, rig.srcDB)
	tables := []string{"p1", "p2", "p3"}
	for _, tb := range tables {
		ddl := strings.Replace(cdcOrdersDDL, "orders", tb, 1)
		mustPG(t, rig.src, ddl, fmt.Sprintf(`INSERT INTO %s SELECT g, 'c' || g, g %% 7, g * 1.5, repeat('n', 40), now() FROM generate_series(1, 150000) g`, tb))
		mustPG(t, rig.dst, ddl)
	}
	_, c := rig.start(t, pgx.QueryExecModeExec)
	stop := make(chan struct{})
	wg := workloadOn(t, rig.pg.DSNFor(rig.srcDB), tables, 3, 1, 160000, stop)
	mustExec(t, c, "CREATE SYNC JOB par FROM DATABASE src SCHEMA public TO DATABASE dst SCHEMA public MODE CDC WITH (parallelism = 3)")
	run := runJob(t, c, "RUN SYNC JOB par WAIT")
	if run.Status != "running" {
		t.Fatalf("after RUN ... WAIT the run is %s: %s", run.Status, deref(run.Message))
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	for _, tb := range tables {
		q := "SELECT * FROM " + tb + " ORDER BY id"
		waitSame(t, 60*time.Second, tb, func() []string { return rowsOf(t, rig.src, q) }, func() []string { return rowsOf(t, rig.dst, q) })
	}
	// The three snapshots overlapped: each began before any ended.
	var overlapped bool
	var n, rows int64
	mustScan(t, c.QueryRow(ctx, `SELECT max(started_at) < min(finished_at), count(*), sum(rows) FROM dataflow.run_stages
		WHERE run_id = $1 AND stage = 'Snapshot' AND status = 'completed'`, run.RunID), &overlapped, &n, &rows)
	if n != 3 || rows < 3*150000-30000 || !overlapped {
		t.Fatalf("snapshot stages: %d completed, %d rows, overlapping %v", n, rows, overlapped)
	}
	if st := getCDCStatus(t, c, "par"); st.Events == 0 || st.Updates == 0 || st.Deletes == 0 {
		t.Fatalf("cdc_status: %+v", st)
	}
	runJob(t, c, "STOP SYNC JOB par")
	mustExec(t, c, "DROP SYNC JOB par")
}
