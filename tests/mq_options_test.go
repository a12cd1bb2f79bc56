package tests

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ddl = 'fail' stops the run at a DDL message, naming its offset, with
// what came before it applied; ALTER ... SET (ddl = 'ignore') and RESTART
// go on after it. Under the default ddl = 'ignore' a DDL message is
// skipped. zero_time = 'error' makes a message with a zero date a bad
// record (kept in run_errors, skipped within error_limit).
func TestMQDDLFailAndZeroTimeError(t *testing.T) {
	r := newMQPGRig(t, "mqopt", "orders", "zorders")
	r.k.CreateTopic(t, "ddl", 1)
	r.k.CreateTopic(t, "zt", 1)
	w := newWorkload(41, newModel(), "orders", 1)
	ins := func(table string, rows ...orderRow) []byte {
		return mqMessage{op: "INSERT", table: table, rows: rows}.canal(1)
	}
	alter := []byte(`{"data":null,"database":"shop","table":"orders","pkNames":null,"isDdl":true,"type":"ALTER","es":1,"ts":1,"id":2,` +
		`"sql":"ALTER TABLE orders ADD COLUMN x int","sqlType":null,"mysqlType":null,"old":null}`)
	r1, r2, r3 := w.row(1), w.row(2), w.row(3)

	// ddl = 'fail'. r1 is applied before the DDL message is produced, so
	// that the checkpoint is right before it when the run fails (a failing
	// read rolls back what was not committed).
	produce(t, r.cl, "ddl", ins("orders", r1))
	mustExec(t, r.c, "CREATE SYNC JOB ddlfail FROM bus TOPICS ('ddl') TO DATABASE dw TABLES (orders) MODE CDC WITH (ddl = 'fail')")
	run := runJob(t, r.c, "RUN SYNC JOB ddlfail")
	waitSame(t, 30*time.Second, "r1", func() []string { return []string{lineOf(r1)} }, r.target(t, "orders"))
	produce(t, r.cl, "ddl", alter, ins("orders", r2))
	waitFor(t, 30*time.Second, "the run to fail at the DDL message", func() bool { s, _ := runStatusOf(t, r.c, run.RunID); return s == "failed" })
	_, msg := runStatusOf(t, r.c, run.RunID)
	if !strings.Contains(msg, "a ALTER DDL message for table orders (ALTER TABLE orders ADD COLUMN x int) and ddl = 'fail' at ddl/0@1") ||
		!strings.Contains(msg, "ddl = 'ignore'") {
		t.Fatalf("failure message %q", msg)
	}
	if got := rowsOf(t, r.dw, fmt.Sprintf(mqQueryPG, "orders")); strings.Join(got, "\n") != lineOf(r1) {
		t.Fatalf("before the DDL message the target should hold exactly r1, it holds:\n%s", strings.Join(got, "\n"))
	}
	if cp := getCDCStatus(t, r.c, "ddlfail").CheckpointPos; cp != "ddl/0:1" {
		t.Fatalf("checkpoint %q, want ddl/0:1 (right before the DDL message)", cp)
	}
	// The default, ignore: the DDL message is skipped.
	mustExec(t, r.c, "ALTER SYNC JOB ddlfail SET (ddl = 'ignore')")
	runJob(t, r.c, "RESTART SYNC JOB ddlfail")
	waitSame(t, 30*time.Second, "after the DDL message", func() []string { return []string{lineOf(r1), lineOf(r2)} }, r.target(t, "orders"))
	runJob(t, r.c, "STOP SYNC JOB ddlfail")

	// zero_time = 'error'.
	zero := w.row(4)
	zero["placed"] = sp("0000-00-00 00:00:00")
	produce(t, r.cl, "zt", ins("zorders", r1), ins("zorders", zero), ins("zorders", r3))
	mustExec(t, r.c, "CREATE SYNC JOB zt FROM bus TOPICS ('zt') TO DATABASE dw TABLES (zorders) MODE CDC WITH (zero_time = 'error', error_limit = 1)")
	run = runJob(t, r.c, "RUN SYNC JOB zt WAIT")
	waitSame(t, 30*time.Second, "around the zero date", func() []string { return []string{lineOf(r1), lineOf(r3)} }, r.target(t, "zorders"))
	errs := rowsOf(t, r.c, "SELECT position, error FROM dataflow.run_errors WHERE run_id = '"+run.RunID+"'")
	if len(errs) != 1 || errs[0] != `zt/0@1|column placed: zero date "0000-00-00 00:00:00" and zero_time = 'error'` {
		t.Fatalf("run_errors: %v", errs)
	}
	// One more is past error_limit = 1: the run fails.
	produce(t, r.cl, "zt", ins("zorders", zero))
	waitFor(t, 30*time.Second, "the run to fail at the second zero date", func() bool { s, _ := runStatusOf(t, r.c, run.RunID); return s == "failed" })
	if _, msg := runStatusOf(t, r.c, run.RunID); !strings.Contains(msg, "zt/0@3") || !strings.Contains(msg, "zero_time = 'error'") {
		t.Fatalf("failure message %q", msg)
	}
}

// start_from = 'latest': messages in the topic before the run started are
// not applied, those produced after are; the start is the job's first
// checkpoint, so a later run goes on from there (not from the end again).
func TestMQStartFromLatest(t *testing.T) {
	r := newMQPGRig(t, "mqlatest", "orders")
	r.k.CreateTopic(t, "late", 2)
	old := newWorkload(51, newModel(), "orders", 1)
	produceMessages(t, r.cl, "late", "canal", old, 300)
	mustExec(t, r.c, "CREATE SYNC JOB late FROM bus TOPICS ('late') TO DATABASE dw MODE CDC WITH (start_from = 'latest')")
	run := runJob(t, r.c, "RUN SYNC JOB late WAIT")
	if run.Status != "running" {
		t.Fatalf("RUN: %s %s", run.Status, deref(run.Message))
	}
	waitFor(t, 30*time.Second, "the first checkpoint at the end of the topic", func() bool {
		return getCDCStatus(t, r.c, "late").CheckpointPos != ""
	})
	m := newModel()
	w := newWorkload(52, m, "orders", 100000)
	produceMessages(t, r.cl, "late", "canal", w, 200)
	waitSame(t, 30*time.Second, "only what was produced after the start", func() []string { return m.lines("orders") }, r.target(t, "orders"))
	runJob(t, r.c, "STOP SYNC JOB late")
	produceMessages(t, r.cl, "late", "canal", w, 100) // while stopped
	runJob(t, r.c, "RUN SYNC JOB late WAIT")
	waitSame(t, 30*time.Second, "what was produced while stopped", func() []string { return m.lines("orders") }, r.target(t, "orders"))
	if n := count(t, r.dw, "SELECT count(*) FROM orders WHERE id < 100000"); n != 0 {
		t.Fatalf("%d rows of the messages from before the first run were applied", n)
	}
	runJob(t, r.c, "STOP SYNC JOB late")
}

// Target transactions of a backlog: with flush_batch_mb = 1 each commits
// once it holds 1 MB of messages; with total_data_in_mem_mb = 1 (and
// flush_batch_mb = 8) fetching pauses at 1 MB not yet committed, so no
// transaction holds much more than 1 MB. The commits are read from a
// trigger on the target's checkpoint table; the target ends equal to the
// model either way.
func TestMQBatchBoundaries(t *testing.T) {
	r := newMQPGRig(t, "mqbatch", "orders", "items")
	mustPG(t, r.dw, `CREATE SCHEMA flowgate`,
		`CREATE TABLE flowgate.cdc_checkpoints (job text PRIMARY KEY, "position" text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
		`CREATE TABLE commits (seq serial, job text, "position" text)`,
		`CREATE FUNCTION log_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO commits (job, "position") VALUES (NEW.job, NEW."position"); RETURN NULL; END $$`,
		`CREATE TRIGGER log_commit AFTER INSERT OR UPDATE ON flowgate.cdc_checkpoints FOR EACH ROW EXECUTE FUNCTION log_commit()`)
	// 120 inserts of about 40 KB each (4.7 MB), already in the topics.
	m := newModel()
	big := func(topic, table string) []int {
		r.k.CreateTopic(t, topic, 1)
		w := newWorkload(61, m, table, 1)
		var vals [][]byte
		var sizes []int
		for id := int64(1); id <= 120; id++ {
			row := w.row(id)
			row["note"] = sp(strings.Repeat("x", 40000))
			m.table(table)[id] = row
			vals = append(vals, mqMessage{op: "INSERT", table: table, rows: []orderRow{row}}.canal(id))
			sizes = append(sizes, len(vals[len(vals)-1]))
		}
		produce(t, r.cl, topic, vals...)
		return sizes
	}
	sizes := big("flush", "orders")
	big("mem", "items")
	mustExec(t, r.c, `CREATE SYNC JOB flush FROM bus TOPICS ('flush') TO DATABASE dw TABLES (orders) MODE CDC
		WITH (flush_batch_mb = 1, async_flush_interval_sec = 3600, max_poll_records = 10)`)
	mustExec(t, r.c, `CREATE SYNC JOB mem FROM bus TOPICS ('mem') TO DATABASE dw TABLES (items) MODE CDC
		WITH (total_data_in_mem_mb = 1, flush_batch_mb = 8, async_flush_interval_sec = 3600, max_poll_records = 5)`)
	runJob(t, r.c, "RUN SYNC JOB flush WAIT")
	runJob(t, r.c, "RUN SYNC JOB mem WAIT")
	waitSame(t, 60*time.Second, "orders", func() []string { return m.lines("orders") }, r.target(t, "orders"))
	waitSame(t, 60*time.Second, "items", func() []string { return m.lines("items") }, r.target(t, "items"))
	// Messages per commit, from each commit's offset.
	steps := func(job string) []int {
		var out []int
		prev := 0
		for _, p := range rowsOf(t, r.dw, "SELECT \"position\" FROM commits WHERE job = '"+job+"' ORDER BY seq") {
			off, err := strconv.Atoi(p[strings.LastIndexByte(p, ':')+1:])
			if err != nil {
				t.Fatalf("position %q: %v", p, err)
			}
			if off > prev {
				out = append(out, off-prev)
				prev = off
			}
		}
		if prev != 120 {
			t.Fatalf("%s: the commits end at offset %d, want 120 (%v)", job, prev, out)
		}
		return out
	}
	// A transaction commits at the message that brings it to 1 MB.
	var want []int
	n, bytes := 0, 0
	for _, sz := range sizes {
		n, bytes = n+1, bytes+sz
		if bytes >= 1<<20 {
			want, n, bytes = append(want, n), 0, 0
		}
	}
	if n > 0 {
		want = append(want, n)
	}
	if flush := steps("flush"); fmt.Sprint(flush) != fmt.Sprint(want) {
		t.Fatalf("flush_batch_mb = 1: messages per commit %v, want %v", flush, want)
	}
	// The limit is checked before each poll of at most 5 messages.
	mem := steps("mem")
	for _, n := range mem {
		if n > want[0]+5 {
			t.Fatalf("total_data_in_mem_mb = 1: messages per commit %v, want at most %d (1 MB and one poll) each", mem, want[0]+5)
		}
	}
	t.Logf("messages of about %d bytes per commit: flush_batch_mb = 1: %v; total_data_in_mem_mb = 1: %v", sizes[0], want, mem)
	runJob(t, r.c, "STOP SYNC JOB flush")
	runJob(t, r.c, "STOP SYNC JOB mem")
}
