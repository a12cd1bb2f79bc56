package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/internal/testbed"
)

// A canal topic into PostgreSQL through the binary against kfake: TEST
// DATASOURCE, every message applied to the table it names (TABLES (orders
// AS orders_copy, items)), views (cdc_status, cdc_tables, mq_offsets),
// ALTER ... SET TOPICS on the running job, RESET ... POSITION TO TIMESTAMP
// (refused while running, then re-applied from there).
func TestMQCanalIntoPostgres(t *testing.T) {
	ctx := context.Background()
	k := testbed.Kafka(t)
	k.CreateTopic(t, "shop", 2)
	k.CreateTopic(t, "shop_extra", 1)
	pg := testbed.Postgres(t)
	dwDB := pg.NewDatabase(t, "mqdw")
	dw := pg.Connect(t, dwDB)
	mustPG(t, dw, fmt.Sprintf(mqOrdersPG, "orders_copy"), fmt.Sprintf(mqOrdersPG, "items"), fmt.Sprintf(mqOrdersPG, "unmapped"))
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, kafkaDSSQL("bus", k))
	mustExec(t, c, pgDS("dw", pg, dwDB))

	// 1. TEST DATASOURCE.
	tr := testDatasource(t, c, "bus")
	if !tr.OK || !strings.Contains(deref(tr.Version), "kafka") || !strings.Contains(deref(tr.Version), "cluster testbed-kafka") {
		t.Fatalf("TEST DATASOURCE bus: %+v", tr)
	}

	// 2. The job; messages already in the topic, then more while it runs.
	m := newModel()
	orders := newWorkload(1, m, "orders", 1)
	items := newWorkload(2, m, "items", 1)
	cl := k.Client(t)
	produceMessages(t, cl, "shop", "canal", orders, 1500)
	produceMessages(t, cl, "shop", "canal", items, 300)
	_, err := c.Exec(ctx, "CREATE SYNC JOB bad_keys FROM bus TOPICS ('shop') TO DATABASE dw SCHEMA public MODE CDC WITH (slot_name = 'x')")
	wantCode(t, err, "22023")
	_, err = c.Exec(ctx, "CREATE SYNC JOB nope FROM bus TOPICS ('no_such_topic') TO DATABASE dw MODE CDC")
	wantCode(t, err, "42704")
	mustExec(t, c, `CREATE SYNC JOB shop_mq FROM bus TOPICS ('shop') TO DATABASE dw SCHEMA public TABLES (orders AS orders_copy, items)
		MODE CDC WITH (message_format = 'canal', flush_batch_mb = 1, max_poll_records = 200, consume_parallel = 2)`)
	run := runJob(t, c, "RUN SYNC JOB shop_mq WAIT")
	if run.Status != "running" {
		t.Fatalf("RUN: %s %s\n%s", run.Status, deref(run.Message), g.logs())
	}
	produceMessages(t, cl, "shop", "canal", orders, 500)
	target := func(table string) func() []string {
		return func() []string { return rowsOf(t, dw, fmt.Sprintf(mqQueryPG, table)) }
	}
	waitSame(t, 60*time.Second, "orders", func() []string { return m.lines("orders") }, target("orders_copy"))
	waitSame(t, 30*time.Second, "items", func() []string { return m.lines("items") }, target("items"))
	if n := count(t, dw, "SELECT count(*) FROM unmapped"); n != 0 {
		t.Fatalf("a table the job does not map got %d rows", n)
	}
	var stages []string
	rows, err := c.Query(ctx, "SELECT stage || ':' || status FROM dataflow.run_stages WHERE run_id = $1 ORDER BY task_id, stage", run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if stages, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if strings.Join(stages, ",") != "Snapshot:skipped,Stream:running,Snapshot:skipped,Stream:running" {
		t.Fatalf("stages %v", stages)
	}
	waitFor(t, 10*time.Second, "offsets caught up", func() bool {
		for _, l := range mqOffsetRows(t, c, "shop_mq") {
			if !strings.HasSuffix(l, "|0") {
				return false
			}
		}
		return len(mqOffsetRows(t, c, "shop_mq")) == 2
	})
	offs := mqOffsetRows(t, c, "shop_mq")
	st := getCDCStatus(t, c, "shop_mq")
	if st.Status != "running" || st.Inserts == 0 || st.Updates == 0 || st.Deletes == 0 || !strings.HasPrefix(st.CheckpointPos, "shop/0:") {
		t.Fatalf("cdc_status %+v", st)
	}
	for _, o := range offs { // shop/p|committed|hwm|0, committed = hwm
		f := strings.Split(o, "|")
		if f[1] != f[2] || !strings.Contains(st.CheckpointPos, f[0]+":"+f[1]) {
			t.Fatalf("mq_offsets %v, checkpoint %s", offs, st.CheckpointPos)
		}
	}
	tables := rowsOf(t, c, "SELECT source_table, target_table, inserts > 0, updates > 0, deletes > 0 FROM dataflow.cdc_tables WHERE job = 'shop_mq' ORDER BY 1")
	if strings.Join(tables, ";") != "items|public.items|t|t|t;orders|public.orders_copy|t|t|t" {
		t.Fatalf("cdc_tables %v", tables)
	}

	// 4. SET TOPICS on the running job: shop_extra (already holding
	// messages) is read from its start, shop goes on where it was.
	extra := newWorkload(3, m, "items", 100000)
	produceMessages(t, cl, "shop_extra", "canal", extra, 200)
	mustExec(t, c, "ALTER SYNC JOB shop_mq SET TOPICS ('shop', 'shop_extra')")
	produceMessages(t, cl, "shop", "canal", orders, 200)
	produceMessages(t, cl, "shop_extra", "canal", extra, 100)
	waitSame(t, 30*time.Second, "orders after SET TOPICS", func() []string { return m.lines("orders") }, target("orders_copy"))
	waitSame(t, 30*time.Second, "items after SET TOPICS", func() []string { return m.lines("items") }, target("items"))
	waitFor(t, 10*time.Second, "three partitions in mq_offsets", func() bool { return len(mqOffsetRows(t, c, "shop_mq")) == 3 })
	if st := getCDCStatus(t, c, "shop_mq"); st.Run != run.RunID || st.Status != "running" {
		t.Fatalf("after SET TOPICS: %+v", st)
	}

	// 5. RESET is refused while the job runs; stopped, it moves the
	// position to the first message at or after the time, and the next
	// run applies from there again.
	_, err = c.Exec(ctx, "RESET SYNC JOB shop_mq POSITION TO TIMESTAMP '2024-05-01 00:00:00+00'")
	if pe := wantCode(t, err, "55006"); !strings.Contains(pe.Hint, "STOP SYNC JOB shop_mq") {
		t.Fatalf("hint %q", pe.Hint)
	}
	time.Sleep(20 * time.Millisecond)
	from := time.Now()
	time.Sleep(20 * time.Millisecond)
	recs := produceMessages(t, cl, "shop", "canal", orders, 50)
	waitSame(t, 30*time.Second, "orders before RESET", func() []string { return m.lines("orders") }, target("orders_copy"))
	runJob(t, c, "STOP SYNC JOB shop_mq")
	before := getCDCStatus(t, c, "shop_mq")
	mustExec(t, c, fmt.Sprintf("RESET SYNC JOB shop_mq POSITION TO TIMESTAMP '%s'", from.UTC().Format("2006-01-02 15:04:05.000+00")))
	want := fmt.Sprintf("shop/%d:%d", recs[0].Partition, recs[0].Offset)
	if cp := getCDCStatus(t, c, "shop_mq").CheckpointPos; !strings.Contains(cp, want) {
		t.Fatalf("after RESET the checkpoint is %s, want %s in it", cp, want)
	}
	mustExec(t, c, "RUN SYNC JOB shop_mq")
	waitFor(t, 30*time.Second, "the 50 messages applied again", func() bool {
		st := getCDCStatus(t, c, "shop_mq")
		return st.Events-before.Events >= 50
	})
	waitSame(t, 30*time.Second, "orders after RESET", func() []string { return m.lines("orders") }, target("orders_copy"))
	runJob(t, c, "STOP SYNC JOB shop_mq")
	mustExec(t, c, "DROP SYNC JOB shop_mq")
}
