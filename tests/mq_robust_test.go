package tests

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowgate/flowgate/internal/testbed"
)

// mqPGRig is a kafka cluster, a PostgreSQL target database and a gateway
// with datasources bus and dw.
type mqPGRig struct {
	k  *testbed.KafkaCluster
	dw *pgx.Conn
	g  *gateway
	c  *pgx.Conn
	cl *kgo.Client
}

func newMQPGRig(t *testing.T, dbPrefix string, tables ...string) *mqPGRig {
	r := &mqPGRig{k: testbed.Kafka(t)}
	pg := testbed.Postgres(t)
	db := pg.NewDatabase(t, dbPrefix)
	r.dw = pg.Connect(t, db)
	for _, tb := range tables {
		mustPG(t, r.dw, fmt.Sprintf(mqOrdersPG, tb))
	}
	r.g = startGateway(t)
	r.c = r.g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, r.c, kafkaDSSQL("bus", r.k))
	mustExec(t, r.c, pgDS("dw", pg, db))
	r.cl = r.k.Client(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", r.g.logs())
		}
	})
	return r
}

func (r *mqPGRig) target(t testing.TB, table string) func() []string {
	return func() []string { return rowsOf(t, r.dw, fmt.Sprintf(mqQueryPG, table)) }
}

// Bad messages: not JSON, a JSON that is no canal message, an unknown
// table, a value the target column rejects each count against error_limit,
// are kept in dataflow.run_errors with their offsets and skipped; nothing
// after them is lost. A zero date becomes NULL (zero_time = 'null'), a
// rows-query event is skipped, TRUNCATE empties the table (ddl = 'apply').
// One bad message past the limit fails the run naming its offset.
func TestMQBadMessagesAndDDL(t *testing.T) {
	r := newMQPGRig(t, "mqbad", "orders")
	r.k.CreateTopic(t, "bad", 1)
	mustExec(t, r.c, "CREATE SYNC JOB bad FROM bus TOPICS ('bad') TO DATABASE dw MODE CDC WITH (error_limit = 4, ddl = 'apply', zero_time = 'null')")
	m := newModel()
	w := newWorkload(7, m, "orders", 1)
	row := func(id int) orderRow { return w.row(int64(id)) }
	ins := func(rows ...orderRow) []byte { return mqMessage{op: "INSERT", table: "orders", rows: rows}.canal(1) }
	r1, r2, r3, r4 := row(1), row(2), row(3), row(4)
	r2["qty"] = sp("abc") // PostgreSQL refuses it for an int column
	r3["placed"] = sp("0000-00-00 00:00:00")
	ghost := mqMessage{op: "INSERT", table: "ghost", rows: []orderRow{row(9)}}.canal(1)
	rowsQuery := []byte(`{"data":null,"database":"shop","table":"orders","pkNames":null,"isDdl":false,"type":"QUERY","es":1,"ts":1,"id":3,"sql":"INSERT INTO orders ...","sqlType":null,"mysqlType":null,"old":null}`)
	produce(t, r.cl, "bad", ins(r1), []byte("not json {"), []byte(`{"foo": 1}`), ghost, ins(r2), ins(r3), rowsQuery, ins(r4))
	run := runJob(t, r.c, "RUN SYNC JOB bad WAIT")
	if run.Status != "running" {
		t.Fatalf("RUN: %s %s", run.Status, deref(run.Message))
	}
	want := []string{
		lineOf(r1),
		strings.Replace(lineOf(r3), "|0000-00-00 00:00:00", "|<null>", 1),
		lineOf(r4),
	}
	waitSame(t, 30*time.Second, "around the bad messages", func() []string { return want }, r.target(t, "orders"))
	if !strings.HasSuffix(want[1], "|<null>") {
		t.Fatalf("the zero date should be NULL: %s", want[1])
	}
	errs := rowsOf(t, r.c, "SELECT position, error, record <> '' FROM dataflow.run_errors WHERE run_id = '"+run.RunID+"' ORDER BY position")
	if len(errs) != 4 || !strings.HasPrefix(errs[0], "bad/0@1|not JSON|t") || !strings.HasPrefix(errs[1], "bad/0@2|not a canal flat message") ||
		!strings.HasPrefix(errs[2], "bad/0@3|table \"ghost\" is not one the job writes") || !strings.HasPrefix(errs[3], "bad/0@4|") ||
		!strings.Contains(errs[3], "integer") {
		t.Fatalf("run_errors:\n%s", strings.Join(errs, "\n"))
	}
	// TRUNCATE, then rows after it.
	r5, r6 := row(5), row(6)
	r5b := orderRow{}
	for k, v := range r5 {
		r5b[k] = v
	}
	r5b["qty"] = sp("77")
	trunc := mqMessage{op: "TRUNCATE", table: "orders"}.canal(1)
	upd := mqMessage{op: "UPDATE", table: "orders", rows: []orderRow{r5b}, before: []orderRow{r5}}.canal(1)
	produce(t, r.cl, "bad", trunc, ins(r5, r6), upd)
	want = []string{lineOf(r5b), lineOf(r6)}
	waitSame(t, 30*time.Second, "after TRUNCATE", func() []string { return want }, r.target(t, "orders"))
	// The fifth bad message fails the run, naming its offset.
	produce(t, r.cl, "bad", []byte("[1, 2"))
	waitFor(t, 30*time.Second, "the run to fail", func() bool { s, _ := runStatusOf(t, r.c, run.RunID); return s == "failed" })
	_, msg := runStatusOf(t, r.c, run.RunID)
	if !strings.Contains(msg, "bad/0@11") || !strings.Contains(msg, "error_limit = 4") {
		t.Fatalf("failure message %q", msg)
	}
}

// lineOf renders one model row as the target query does.
func lineOf(r orderRow) string {
	m := newModel()
	id := *r["id"]
	var n int64
	fmt.Sscan(id, &n)
	m.table("x")[n] = r
	return m.lines("x")[0]
}

// kill -9 of the gateway three times while it consumes, then a broker
// restart (kfake stopped and started on the same port and data): the
// target ends equal to applying every message exactly once.
func TestMQSurvivesKill9AndBrokerRestart(t *testing.T) {
	r := newMQPGRig(t, "mqkill", "orders", "items")
	r.k.CreateTopic(t, "k", 2)
	m := newModel()
	orders := newWorkload(11, m, "orders", 1)
	items := newWorkload(12, m, "items", 1)
	produceMessages(t, r.cl, "k", "canal", orders, 3000)
	produceMessages(t, r.cl, "k", "canal", items, 1000)
	mustExec(t, r.c, "CREATE SYNC JOB k FROM bus TOPICS ('k') TO DATABASE dw MODE CDC WITH (flush_batch_mb = 1, max_poll_records = 100, restart_delay = 0)")
	run := runJob(t, r.c, "RUN SYNC JOB k")
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; i < 3; i++ {
		produceMessages(t, r.cl, "k", "canal", orders, 500)
		produceMessages(t, r.cl, "k", "canal", items, 200)
		wait := time.Duration(200+rnd.Intn(1200)) * time.Millisecond
		time.Sleep(wait)
		r.c.Close(context.Background())
		r.g.kill9()
		t.Logf("kill %d after %s", i+1, wait)
		produceMessages(t, r.cl, "k", "canal", orders, 300) // while the gateway is down
		r.g.restart()
		r.c = r.g.connect(t, "admin", pgx.QueryExecModeExec)
	}
	waitSame(t, 60*time.Second, "orders after 3 kills", func() []string { return m.lines("orders") }, r.target(t, "orders"))
	waitSame(t, 30*time.Second, "items after 3 kills", func() []string { return m.lines("items") }, r.target(t, "items"))
	// Broker restart while the job runs and messages keep coming.
	produceMessages(t, r.cl, "k", "canal", orders, 300)
	r.k.Stop()
	time.Sleep(2 * time.Second)
	if err := r.k.Start(); err != nil {
		t.Fatal(err)
	}
	produceMessages(t, r.cl, "k", "canal", orders, 500)
	produceMessages(t, r.cl, "k", "canal", items, 200)
	waitSame(t, 90*time.Second, "orders after the broker restart", func() []string { return m.lines("orders") }, r.target(t, "orders"))
	waitSame(t, 30*time.Second, "items after the broker restart", func() []string { return m.lines("items") }, r.target(t, "items"))
	st := getCDCStatus(t, r.c, "k")
	if st.Run != run.RunID || st.Restarts < 3 {
		t.Fatalf("after the kills: %+v (run %s)\n%s", st, run.RunID, r.g.logs())
	}
	waitFor(t, 30*time.Second, "running again", func() bool { return getCDCStatus(t, r.c, "k").Status == "running" })
	runJob(t, r.c, "STOP SYNC JOB k")
}

// A second consumer joins the job's consumer group while it runs (and
// commits offsets of its own), then leaves: flowgate continues each
// partition exactly after what it applied; nothing is lost or reordered.
func TestMQRebalance(t *testing.T) {
	r := newMQPGRig(t, "mqrb", "orders", "items", "t2", "t3")
	r.k.CreateTopic(t, "rb", 4)
	m := newModel()
	// One table per partition, so that every partition has messages.
	r.cl = r.k.Client(t, kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		return func(rec *kgo.Record, n int) int {
			return map[string]int{"orders": 0, "items": 1, "t2": 2, "t3": 3}[string(rec.Key)] % n
		}
	})))
	orders := newWorkload(21, m, "orders", 1)
	items := newWorkload(22, m, "items", 1)
	t2 := newWorkload(23, m, "t2", 1)
	t3 := newWorkload(24, m, "t3", 1)
	mustExec(t, r.c, "CREATE SYNC JOB rb FROM bus TOPICS ('rb') TO DATABASE dw MODE CDC WITH (consumer_group = 'rbgroup', session_timeout_ms = 3000)")
	runJob(t, r.c, "RUN SYNC JOB rb WAIT")
	produceMessages(t, r.cl, "rb", "canal", orders, 1000)
	produceMessages(t, r.cl, "rb", "canal", items, 500)
	waitSame(t, 30*time.Second, "orders before the rebalance", func() []string { return m.lines("orders") }, r.target(t, "orders"))
	other := r.k.Client(t, kgo.ConsumerGroup("rbgroup"), kgo.ConsumeTopics("rb"), kgo.SessionTimeout(3*time.Second))
	assigned := 0
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		produceMessages(t, r.cl, "rb", "canal", orders, 50)
		produceMessages(t, r.cl, "rb", "canal", items, 20)
		produceMessages(t, r.cl, "rb", "canal", t2, 20)
		produceMessages(t, r.cl, "rb", "canal", t3, 20)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := other.PollFetches(ctx)
		cancel()
		assigned += fs.NumRecords()
		if err := other.CommitUncommittedOffsets(context.Background()); err != nil {
			t.Logf("other consumer commit: %v", err)
		}
		if assigned > 0 && time.Until(deadline) < 15*time.Second {
			break
		}
	}
	if assigned == 0 {
		t.Fatalf("the second consumer never got a partition with records")
	}
	t.Logf("the second consumer read %d records", assigned)
	// It read them as a member of the job's group beside the gateway (the
	// group shared the four partitions between them), not as a group of
	// its own.
	groups, err := kadm.NewClient(r.cl).DescribeGroups(context.Background(), "rbgroup")
	if err == nil {
		err = groups.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	var shares []string
	for _, m := range groups["rbgroup"].Members {
		n := 0
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range c.Topics {
				n += len(tp.Partitions)
			}
		}
		shares = append(shares, fmt.Sprintf("%s:%d", m.ClientID, n))
	}
	slices.Sort(shares)
	if len(shares) != 2 || !strings.HasPrefix(shares[0], "flowgate:") || strings.HasSuffix(shares[0], ":0") || strings.HasSuffix(shares[0], ":4") {
		t.Fatalf("members of rbgroup and their partitions: %v, want the gateway and the second consumer sharing the 4", shares)
	}
	t.Logf("members of rbgroup and their partitions: %v", shares)
	other.Close() // leaves the group: its partitions come back
	produceMessages(t, r.cl, "rb", "canal", orders, 300)
	produceMessages(t, r.cl, "rb", "canal", items, 100)
	waitSame(t, 60*time.Second, "orders after the rebalance", func() []string { return m.lines("orders") }, r.target(t, "orders"))
	waitSame(t, 30*time.Second, "items after the rebalance", func() []string { return m.lines("items") }, r.target(t, "items"))
	waitSame(t, 30*time.Second, "t2 after the rebalance", func() []string { return m.lines("t2") }, r.target(t, "t2"))
	waitSame(t, 30*time.Second, "t3 after the rebalance", func() []string { return m.lines("t3") }, r.target(t, "t3"))
	runJob(t, r.c, "STOP SYNC JOB rb")
}

// Both formats into MariaDB and SQLite (and cloudcanal into PostgreSQL):
// one topic of each format, a job per target.
func TestMQFormatsIntoMySQLAndSQLite(t *testing.T) {
	k := testbed.Kafka(t)
	k.CreateTopic(t, "cn", 1)
	k.CreateTopic(t, "cc", 1)
	pg := testbed.Postgres(t)
	my := testbed.MySQL(t)
	pgDB := pg.NewDatabase(t, "mqfmt")
	dw := pg.Connect(t, pgDB)
	mustPG(t, dw, fmt.Sprintf(mqOrdersPG, "orders_cc"))
	myDB := my.NewDatabase(t, "mqfmt")
	mdb := my.Open(t, myDB)
	for _, tb := range []string{"orders_cn", "orders_cc"} {
		if _, err := mdb.Exec(fmt.Sprintf(mqOrdersMySQL, tb)); err != nil {
			t.Fatal(err)
		}
	}
	litePath := filepath.Join(t.TempDir(), "dw.db")
	makeSQLiteDB(t, litePath, fmt.Sprintf(mqOrdersSQLite, "orders_cn")+"; "+fmt.Sprintf(mqOrdersSQLite, "orders_cc"))
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, kafkaDSSQL("bus", k))
	mustExec(t, c, pgDS("pgdw", pg, pgDB))
	mustExec(t, c, mysqlDatasourceSQL("my", my, my.Password, myDB))
	mustExec(t, c, "CREATE DATASOURCE lite TYPE sqlite OPTIONS (path "+sqlString(litePath)+")")
	m := newModel()
	cl := k.Client(t)
	cn := newWorkload(31, m, "orders", 1)
	produceMessages(t, cl, "cn", "canal", cn, 800)
	m2 := newModel()
	cc := newWorkload(31, m2, "orders", 1)
	produceMessages(t, cl, "cc", "cloudcanal", cc, 800)
	for _, j := range []struct{ name, topic, format, target, table string }{
		{"cn_my", "cn", "canal", "my", "orders_cn"}, {"cn_lite", "cn", "canal", "lite", "orders_cn"},
		{"cc_my", "cc", "cloudcanal", "my", "orders_cc"}, {"cc_lite", "cc", "cloudcanal", "lite", "orders_cc"},
		{"cc_pg", "cc", "cloudcanal", "pgdw", "orders_cc"},
	} {
		mustExec(t, c, fmt.Sprintf("CREATE SYNC JOB %s FROM bus TOPICS ('%s') TO DATABASE %s TABLES (orders AS %s) MODE CDC WITH (message_format = '%s')",
			j.name, j.topic, j.target, j.table, j.format))
		if run := runJob(t, c, "RUN SYNC JOB "+j.name+" WAIT"); run.Status != "running" {
			t.Fatalf("%s: %s %s", j.name, run.Status, deref(run.Message))
		}
	}
	produceMessages(t, cl, "cn", "canal", cn, 200)
	produceMessages(t, cl, "cc", "cloudcanal", cc, 200)
	ldb, err := sql.Open("sqlite3", litePath)
	if err != nil {
		t.Fatal(err)
	}
	defer ldb.Close()
	waitSame(t, 60*time.Second, "canal into MariaDB", func() []string { return m.lines("orders") }, func() []string { return sqlRows(t, mdb, fmt.Sprintf(mqQueryMySQL, "orders_cn")) })
	waitSame(t, 60*time.Second, "canal into SQLite", func() []string { return m.lines("orders") }, func() []string { return sqlRows(t, ldb, fmt.Sprintf(mqQuerySQLite, "orders_cn")) })
	waitSame(t, 60*time.Second, "cloudcanal into MariaDB", func() []string { return m2.lines("orders") }, func() []string { return sqlRows(t, mdb, fmt.Sprintf(mqQueryMySQL, "orders_cc")) })
	waitSame(t, 60*time.Second, "cloudcanal into SQLite", func() []string { return m2.lines("orders") }, func() []string { return sqlRows(t, ldb, fmt.Sprintf(mqQuerySQLite, "orders_cc")) })
	waitSame(t, 60*time.Second, "cloudcanal into PostgreSQL", func() []string { return m2.lines("orders") }, func() []string { return rowsOf(t, dw, fmt.Sprintf(mqQueryPG, "orders_cc")) })
	for _, j := range []string{"cn_my", "cn_lite", "cc_my", "cc_lite", "cc_pg"} {
		runJob(t, c, "STOP SYNC JOB "+j)
	}
}
