package tests

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/internal/testbed"
)

// ALTER SYNC JOB ... SET TOPICS that drops a topic from a running job:
// the dropped topic's messages are no longer applied and its partitions
// leave dataflow.mq_offsets, the kept topic goes on where it was; added
// back, the topic starts again as start_from says (earliest) and the
// target ends as if every message had been applied once. The broker
// needs SASL (SCRAM-SHA-256) over TLS; TEST DATASOURCE reports a wrong
// password as the client's error without showing it.
func TestMQSetTopicsDropsATopicOverSASLAndTLS(t *testing.T) {
	k := testbed.Kafka(t, testbed.KafkaSASL("scram-sha-256", "flow", "Bus-Pw-2291"), testbed.KafkaTLS())
	k.CreateTopic(t, "ta", 1)
	k.CreateTopic(t, "tb", 1)
	pg := testbed.Postgres(t)
	db := pg.NewDatabase(t, "mqsub")
	dw := pg.Connect(t, db)
	mustPG(t, dw, fmt.Sprintf(mqOrdersPG, "orders"), fmt.Sprintf(mqOrdersPG, "items"))
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, kafkaDSSQL("bus", k))
	mustExec(t, c, pgDS("dw", pg, db))
	if tr := testDatasource(t, c, "bus"); !tr.OK || !strings.Contains(deref(tr.Version), "cluster testbed-kafka") {
		t.Fatalf("TEST DATASOURCE bus over SASL and TLS: %+v", tr)
	}
	mustExec(t, c, "CREATE DATASOURCE wrong TYPE kafka OPTIONS ("+strings.Replace(k.DatasourceOptions(), "'Bus-Pw-2291'", "'Not-The-Pw-77'", 1)+")")
	if tr := testDatasource(t, c, "wrong"); tr.OK || deref(tr.Message) == "" || strings.Contains(deref(tr.Message), "Not-The-Pw-77") {
		t.Fatalf("TEST DATASOURCE with a wrong password: %+v %s", tr, deref(tr.Message))
	} else {
		t.Logf("wrong password: %s", deref(tr.Message))
	}

	cl := k.Client(t)
	m := newModel()
	orders := newWorkload(71, m, "orders", 1)
	items := newWorkload(72, m, "items", 1)
	target := func(table string) func() []string {
		return func() []string { return rowsOf(t, dw, fmt.Sprintf(mqQueryPG, table)) }
	}
	produceMessages(t, cl, "ta", "canal", orders, 300)
	produceMessages(t, cl, "tb", "canal", items, 200)
	mustExec(t, c, "CREATE SYNC JOB sub FROM bus TOPICS ('ta', 'tb') TO DATABASE dw MODE CDC")
	if run := runJob(t, c, "RUN SYNC JOB sub WAIT"); run.Status != "running" {
		t.Fatalf("RUN: %s %s\n%s", run.Status, deref(run.Message), g.logs())
	}
	waitSame(t, 30*time.Second, "orders", func() []string { return m.lines("orders") }, target("orders"))
	waitSame(t, 30*time.Second, "items", func() []string { return m.lines("items") }, target("items"))
	waitFor(t, 10*time.Second, "both topics in mq_offsets", func() bool { return len(mqOffsetRows(t, c, "sub")) == 2 })

	// Drop ta while the job runs.
	mustExec(t, c, "ALTER SYNC JOB sub SET TOPICS ('tb')")
	frozen := m.lines("orders")
	produceMessages(t, cl, "ta", "canal", orders, 200)
	produceMessages(t, cl, "tb", "canal", items, 150)
	waitSame(t, 30*time.Second, "items after ta was dropped", func() []string { return m.lines("items") }, target("items"))
	waitFor(t, 10*time.Second, "ta gone from mq_offsets", func() bool {
		offs := mqOffsetRows(t, c, "sub")
		return len(offs) == 1 && strings.HasPrefix(offs[0], "tb/0|")
	})
	time.Sleep(time.Second) // what would have been applied of ta has had time
	if got := target("orders")(); strings.Join(got, "\n") != strings.Join(frozen, "\n") {
		t.Fatalf("orders changed after ta left the subscription: %d rows, %d before", len(got), len(frozen))
	}
	if cp := getCDCStatus(t, c, "sub").CheckpointPos; strings.Contains(cp, "ta/") {
		t.Fatalf("checkpoint %q still holds ta", cp)
	}

	// Add it back: read from its oldest message again; the end is every
	// message applied once.
	mustExec(t, c, "ALTER SYNC JOB sub SET TOPICS ('ta', 'tb')")
	produceMessages(t, cl, "ta", "canal", orders, 100)
	waitSame(t, 30*time.Second, "orders after ta came back", func() []string { return m.lines("orders") }, target("orders"))
	waitSame(t, 30*time.Second, "items after ta came back", func() []string { return m.lines("items") }, target("items"))
	if st := getCDCStatus(t, c, "sub"); st.Status != "running" {
		t.Fatalf("after SET TOPICS: %+v", st)
	}
	runJob(t, c, "STOP SYNC JOB sub")
}

// async_flush_interval_sec: while a backlog is applied (a slow target:
// each chunk of 10,000 rows takes about 2 s to write), the target
// transaction commits at the first message boundary once it is that old;
// with the interval at 3600 the same backlog is one transaction.
func TestMQFlushInterval(t *testing.T) {
	r := newMQPGRig(t, "mqival", "orders", "items")
	mustPG(t, r.dw, `CREATE SCHEMA flowgate`,
		`CREATE TABLE flowgate.cdc_checkpoints (job text PRIMARY KEY, "position" text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
		`CREATE TABLE commits (seq serial, job text, "position" text, at timestamptz)`,
		`CREATE FUNCTION log_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO commits (job, "position", at) VALUES (NEW.job, NEW."position", clock_timestamp()); RETURN NULL; END $$`,
		`CREATE TRIGGER log_commit AFTER INSERT OR UPDATE ON flowgate.cdc_checkpoints FOR EACH ROW EXECUTE FUNCTION log_commit()`,
		`CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id % 25 = 0 THEN PERFORM pg_sleep(0.003); END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER slow BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION slow_row()`,
		`CREATE TRIGGER slow BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION slow_row()`)
	const messages = 22000
	m := newModel()
	for _, j := range []struct{ topic, table string }{{"every", "orders"}, {"never", "items"}} {
		r.k.CreateTopic(t, j.topic, 1)
		produceMessages(t, r.cl, j.topic, "canal", newWorkload(81, m, j.table, 1), messages)
	}
	mustExec(t, r.c, `CREATE SYNC JOB every FROM bus TOPICS ('every') TO DATABASE dw TABLES (orders) MODE CDC
		WITH (async_flush_interval_sec = 1, flush_batch_mb = 512)`)
	mustExec(t, r.c, `CREATE SYNC JOB never FROM bus TOPICS ('never') TO DATABASE dw TABLES (items) MODE CDC
		WITH (async_flush_interval_sec = 3600, flush_batch_mb = 512)`)
	for _, j := range []struct{ job, table string }{{"every", "orders"}, {"never", "items"}} {
		start := time.Now()
		runJob(t, r.c, "RUN SYNC JOB "+j.job+" WAIT")
		waitSame(t, 90*time.Second, j.table, func() []string { return m.lines(j.table) }, r.target(t, j.table))
		t.Logf("%s: the backlog took %s", j.job, time.Since(start).Round(time.Millisecond))
		runJob(t, r.c, "STOP SYNC JOB "+j.job)
	}
	// The positions the commits reached, after the first checkpoint (the
	// start of the topic).
	commits := func(job string) []string {
		return rowsOf(t, r.dw, `SELECT DISTINCT "position" FROM commits WHERE job = '`+job+`' AND "position" NOT LIKE '%:0' ORDER BY 1`)
	}
	every, never := commits("every"), commits("never")
	t.Logf("positions committed with async_flush_interval_sec = 1: %v; with 3600: %v", every, never)
	if len(never) != 1 || never[0] != fmt.Sprintf("never/0:%d", messages) {
		t.Fatalf("async_flush_interval_sec = 3600: commits at %v, want the backlog in one transaction", never)
	}
	if len(every) < 2 || !slices.Contains(every, fmt.Sprintf("every/0:%d", messages)) {
		t.Fatalf("async_flush_interval_sec = 1: commits at %v, want several during the backlog", every)
	}
}
