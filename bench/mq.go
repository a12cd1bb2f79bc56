package main

// Message-queue scenario (-only mq): Canal flat messages from a Kafka
// topic (franz-go's kfake, in this process, on a real port) into
// PostgreSQL, against flowgate's own PostgreSQL logical-replication CDC
// applier fed the same changes, on a cdcRig of its own:
//   - catch-up: the -cdc-changes row changes of the CDC scenario (70%
//     insert, 20% update, 10% delete) happen at the source while the CDC
//     job is stopped; a trigger records each one in an unlogged changelog
//     (no WAL, so the CDC side reads the same WAL as without it), which
//     becomes one canal message per row change in a one-partition topic
//     before either side starts. Then: the time until flowgate's CDC job
//     has them all (RESTART), and the time until a kafka job (RUN) has
//     them all in another database; the three databases must end equal;
//   - the floor: a plain COPY of the final rows into an empty table;
//   - steady state: 5,000 messages per second for 60 s (the CDC steady
//     scenario's mix); produce-to-applied latency of every inserted row
//     (created_at is set when the message is made, the target fills
//     applied_at), p50/p99.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowgate/flowgate/internal/testbed"
)

// The changelog the trigger fills at the source: every row change with its
// row images, in commit order (one session makes them all).
const mqChangelog = `CREATE UNLOGGED TABLE mq_changelog (seq bigserial PRIMARY KEY, op text NOT NULL, old_row jsonb, new_row jsonb);
CREATE FUNCTION mq_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO mq_changelog (op, old_row, new_row) VALUES (TG_OP,
		CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
	RETURN NULL;
END $$;
CREATE TRIGGER mq_log AFTER INSERT OR UPDATE OR DELETE ON lineitem FOR EACH ROW EXECUTE FUNCTION mq_log()`

// lineitem as a MySQL table, the way Canal describes it (mysqlType and
// sqlType, java.sql.Types codes).
var (
	mqColumns   = []string{"id", "order_id", "qty", "price", "discount", "ship_date", "comment", "created_at"}
	mqMySQLType = map[string]string{"id": "bigint(20)", "order_id": "bigint(20)", "qty": "decimal(12,2)", "price": "decimal(15,2)",
		"discount": "double", "ship_date": "date", "comment": "varchar(120)", "created_at": "timestamp(6)"}
	mqSQLType = map[string]int{"id": -5, "order_id": -5, "qty": 3, "price": 3, "discount": 8, "ship_date": 91, "comment": 12, "created_at": 93}
)

const mqTopic = "lineitem"

// canalRow is one row of a canal message: column -> value, nil = NULL.
type canalRow map[string]*string

// canalMessage is Alibaba Canal's flat message.
type canalMessage struct {
	Data      []canalRow        `json:"data"`
	Database  string            `json:"database"`
	Table     string            `json:"table"`
	PkNames   []string          `json:"pkNames"`
	IsDdl     bool              `json:"isDdl"`
	Type      string            `json:"type"`
	Es        int64             `json:"es"`
	Ts        int64             `json:"ts"`
	ID        int64             `json:"id"`
	SQL       string            `json:"sql"`
	SQLType   map[string]int    `json:"sqlType"`
	MysqlType map[string]string `json:"mysqlType"`
	Old       []canalRow        `json:"old"`
	Gtid      string            `json:"gtid"`
}

// canal renders one row change of lineitem; for an UPDATE old holds the
// before-values of the columns that changed, as Canal writes it.
func canal(id int64, op string, before, after canalRow) []byte {
	now := time.Now().UnixMilli()
	m := canalMessage{Database: "cdc_src", Table: "lineitem", PkNames: []string{"id"}, Type: op, Es: now, Ts: now, ID: id,
		SQLType: mqSQLType, MysqlType: mqMySQLType}
	switch op {
	case "INSERT":
		m.Data = []canalRow{after}
	case "DELETE":
		m.Data = []canalRow{before}
	case "UPDATE":
		m.Data = []canalRow{after}
		old := canalRow{}
		for k, v := range before {
			if w := after[k]; (v == nil) != (w == nil) || v != nil && *v != *w {
				old[k] = v
			}
		}
		m.Old = []canalRow{old}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // maps of strings always marshal
	}
	return b
}

// canalRowOf turns a to_jsonb row image into canal's strings: numbers as
// written, created_at as yyyy-MM-dd HH:mm:ss.ffffff in UTC.
func canalRowOf(img map[string]any) (canalRow, error) {
	if img == nil {
		return nil, nil
	}
	r := canalRow{}
	for _, c := range mqColumns {
		switch v := img[c].(type) {
		case nil:
			r[c] = nil
		case json.Number:
			s := v.String()
			r[c] = &s
		case string:
			if c == "created_at" {
				t, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					return nil, fmt.Errorf("created_at %q: %w", v, err)
				}
				v = t.UTC().Format("2006-01-02 15:04:05.999999")
			}
			r[c] = &v
		default:
			return nil, fmt.Errorf("column %s: unexpected %T", c, v)
		}
	}
	return r, nil
}

// producer sends records asynchronously and remembers the first failure.
type producer struct {
	cl    *kgo.Client
	mu    sync.Mutex
	err   error
	bytes int64
	n     int64
}

func (p *producer) send(ctx context.Context, v []byte) {
	p.bytes += int64(len(v))
	p.n++
	p.cl.Produce(ctx, &kgo.Record{Topic: mqTopic, Key: []byte("lineitem"), Value: v}, func(_ *kgo.Record, err error) {
		if err != nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = err
			}
			p.mu.Unlock()
		}
	})
}

func (p *producer) flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// produceChangelog turns the source's changelog into canal messages, in
// order.
func produceChangelog(ctx context.Context, src *pgx.Conn, p *producer) error {
	rows, err := src.Query(ctx, "SELECT seq, op, old_row::text, new_row::text FROM mq_changelog ORDER BY seq")
	if err != nil {
		return err
	}
	defer rows.Close()
	var seq int64
	var op string
	var oldText, newText *string
	decode := func(s *string) (canalRow, error) {
		if s == nil {
			return nil, nil
		}
		d := json.NewDecoder(strings.NewReader(*s))
		d.UseNumber()
		var img map[string]any
		if err := d.Decode(&img); err != nil {
			return nil, err
		}
		return canalRowOf(img)
	}
	_, err = pgx.ForEachRow(rows, []any{&seq, &op, &oldText, &newText}, func() error {
		before, err := decode(oldText)
		if err != nil {
			return fmt.Errorf("change %d: %w", seq, err)
		}
		after, err := decode(newText)
		if err != nil {
			return fmt.Errorf("change %d: %w", seq, err)
		}
		p.send(ctx, canal(seq, op, before, after))
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the changelog: %w", err)
	}
	return p.flush(ctx)
}

// copyRows copies the rows of lineitem from src into table of dst with
// COPY, through a pipe; it returns the seconds and the rows copied.
func copyRows(ctx context.Context, src, dst *pgx.Conn, table string) (float64, int64, error) {
	cols := "id, order_id, qty, price, discount, ship_date, comment, created_at"
	pr, pw := io.Pipe()
	t0 := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := src.PgConn().CopyTo(ctx, pw, "COPY lineitem ("+cols+") TO STDOUT")
		pw.CloseWithError(err)
		errc <- err
	}()
	tag, err := dst.PgConn().CopyFrom(ctx, pr, "COPY "+table+" ("+cols+") FROM STDIN")
	pr.CloseWithError(err)
	if cerr := <-errc; cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("copy lineitem into %s: %w", table, err)
	}
	return time.Since(t0).Seconds(), tag.RowsAffected(), nil
}

func mqScenarios(ctx context.Context, g *gateway) ([]result, error) {
	r, err := newCDCRig(ctx, g, "mq")
	if err != nil {
		return nil, err
	}
	defer r.close()
	cdcdb, err := r.target(ctx, "mq_cdc")
	if err != nil {
		return nil, err
	}
	mqdb, err := r.target(ctx, "mq_kafka")
	if err != nil {
		return nil, err
	}
	fmt.Println("MQ: starting an in-process Kafka cluster (kfake) ...")
	k, stopKafka, err := testbed.StartKafka()
	if err != nil {
		return nil, err
	}
	defer stopKafka()
	cl, err := kgo.NewClient(append(k.ClientOpts(), kgo.ProducerBatchMaxBytes(1<<20))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, mqTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return nil, fmt.Errorf("create topic %s: %w", mqTopic, err)
	}

	// The same starting rows on both targets: the CDC job's snapshot, and
	// a COPY for the kafka job (whose source has no snapshot).
	fmt.Println("MQ: initial rows (flowgate CDC snapshot; COPY into the kafka job's target) ...")
	if err := r.startFlowgate(ctx, "mq_cdc", cdcdb); err != nil {
		return nil, err
	}
	if _, _, err := copyRows(ctx, r.srcDB, mqdb, "lineitem"); err != nil {
		return nil, err
	}
	if err := execAll(ctx, r.fg, "STOP SYNC JOB "+r.job()); err != nil {
		return nil, err
	}
	if err := execAll(ctx, r.srcDB, mqChangelog); err != nil {
		return nil, err
	}
	marker := int64(9_000_000_000)
	if err := r.changes(ctx, cdcChanges, marker); err != nil {
		return nil, err
	}
	fmt.Println("MQ: one canal message per row change into the topic ...")
	t0 := time.Now()
	p := &producer{cl: cl}
	if err := produceChangelog(ctx, r.srcDB, p); err != nil {
		return nil, err
	}
	fmt.Printf("  %d messages, %.0f MB, in %.1fs\n", p.n, float64(p.bytes)/(1<<20), time.Since(t0).Seconds())

	cdcSec, err := r.catchUp(ctx, cdcdb, marker)
	if err != nil {
		return nil, err
	}
	if err := execAll(ctx, r.fg, "STOP SYNC JOB "+r.job()); err != nil {
		return nil, err
	}
	if err := execAll(ctx, r.fg, fmt.Sprintf("CREATE DATASOURCE mqbus TYPE kafka OPTIONS (%s)", k.DatasourceOptions()),
		fmt.Sprintf("CREATE DATASOURCE mqkdw TYPE postgres OPTIONS (%s)", pgDSOptions(r.tgt, "mq_kafka")),
		"CREATE SYNC JOB mq_kafka FROM mqbus TOPICS ('"+mqTopic+"') TO DATABASE mqkdw SCHEMA public TABLES (lineitem) MODE CDC WITH (message_format = 'canal')"); err != nil {
		return nil, err
	}
	fmt.Println("flowgate: RUN SYNC JOB of the kafka job applies the topic ...")
	stopProfile := profileGateway("mq-catchup", 10)
	cpu := meterCPU(g)
	t0 = time.Now()
	if err := execAll(ctx, r.fg, "RUN SYNC JOB mq_kafka"); err != nil {
		return nil, err
	}
	if err := waitRow(ctx, mqdb, marker, 20*time.Minute); err != nil {
		return nil, err
	}
	mqSec := time.Since(t0).Seconds()
	fmt.Printf("  %.2fs; %s\n", mqSec, cpu)
	stopProfile()
	if err := sameContents(ctx, r.srcDB, cdcdb, mqdb); err != nil {
		return nil, err
	}
	n := p.n
	results := []result{
		{name: "MQ catch-up: flowgate CDC PG->PG (baseline)", rows: n, seconds: cdcSec},
		{name: "MQ catch-up: flowgate kafka canal->PG", rows: n, seconds: mqSec, base: "CDC PG->PG", baseSec: cdcSec, goal: "<= 1.5"},
	}

	// The floor: the final rows copied into an empty table.
	if err := execAll(ctx, mqdb, "CREATE TABLE lineitem_floor (LIKE lineitem INCLUDING ALL)"); err != nil {
		return nil, err
	}
	fmt.Println("floor: COPY of the final rows into an empty table ...")
	floorSec, floorRows, err := copyRows(ctx, r.srcDB, mqdb, "lineitem_floor")
	if err != nil {
		return nil, err
	}
	results = append(results, result{name: fmt.Sprintf("MQ floor: COPY of %d final rows (kafka %.1f x)", floorRows, mqSec/floorSec),
		rows: floorRows, seconds: floorSec})

	// Steady state.
	fmt.Println("MQ: steady state, 5,000 messages per second for 60 s ...")
	from := time.Now()
	sp := &producer{cl: cl}
	if err := mqSteady(ctx, sp, 5000, 60*time.Second); err != nil {
		return nil, err
	}
	marker++
	sp.send(ctx, canal(0, "INSERT", nil, canalRow{"id": strp(strconv.FormatInt(marker, 10)), "order_id": strp("0"),
		"created_at": strp(time.Now().UTC().Format("2006-01-02 15:04:05.999999"))}))
	if err := sp.flush(ctx); err != nil {
		return nil, err
	}
	if err := waitRow(ctx, mqdb, marker, 5*time.Minute); err != nil {
		return nil, err
	}
	p50, p99, rows, err := lagPercentiles(ctx, mqdb, from)
	if err != nil {
		return nil, err
	}
	fmt.Printf("steady state kafka: %d inserted rows, produce-to-applied latency p50 %.0f ms, p99 %.0f ms\n", rows, p50, p99)
	results = append(results, result{name: fmt.Sprintf("MQ steady 5k msg/s: latency p50 %.0f ms p99 %.0f ms", p50, p99),
		rows: rows, seconds: 60, goal: "p99 < 1 s"})
	if err := execAll(ctx, r.fg, "STOP SYNC JOB mq_kafka", "DROP SYNC JOB mq_kafka", "DROP SYNC JOB "+r.job()); err != nil {
		return nil, err
	}
	return results, nil
}

func strp(s string) *string { return &s }

// mqSteady produces perSec messages a second for d in the CDC steady
// scenario's mix (per 50: 35 inserts, 10 updates, 5 deletes; see
// steadyTx), one row each; a tick that falls behind is made up at the next.
func mqSteady(ctx context.Context, p *producer, perSec int, d time.Duration) error {
	qty := map[int64]int{} // the rows inserted here and their qty
	created := map[int64]string{}
	row := func(id int64) canalRow {
		s := strconv.FormatInt(id, 10)
		return canalRow{"id": &s, "order_id": &s, "qty": strp(strconv.Itoa(qty[id])), "price": strp("1"), "discount": strp("0"),
			"ship_date": strp("2024-01-01"), "comment": strp("s"), "created_at": strp(created[id])}
	}
	next := int64(3_000_000_000)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	done := 0
	for time.Since(start) < d {
		<-tick.C
		due := int(time.Since(start).Seconds() * float64(perSec) / 50)
		for ; done < due; done++ {
			tx := steadyTx(next)
			for id := tx.ins[0]; id <= tx.ins[1]; id++ {
				qty[id], created[id] = 1, time.Now().UTC().Format("2006-01-02 15:04:05.999999")
				p.send(ctx, canal(id, "INSERT", nil, row(id)))
			}
			for id := tx.upd[0]; id <= tx.upd[1]; id++ {
				if _, ok := qty[id]; ok {
					before := row(id)
					qty[id]++
					p.send(ctx, canal(id, "UPDATE", before, row(id)))
				}
			}
			for id := tx.del[0]; id <= tx.del[1]; id++ {
				if _, ok := qty[id]; ok {
					p.send(ctx, canal(id, "DELETE", row(id), nil))
					delete(qty, id)
					delete(created, id)
				}
			}
			next = tx.ins[1] + 1
		}
	}
	fmt.Printf("  %d messages in %.1fs\n", p.n, time.Since(start).Seconds())
	return p.flush(ctx)
}

// profileGateway records a CPU profile of the gateway for the first
// seconds of a scenario when the gateway serves pprof
// (FLOWGATE_PPROF_LISTEN, which it inherits from the bench); the returned
// func waits for it and writes <name>.pprof in the temp directory.
func profileGateway(name string, seconds int) func() {
	addr := os.Getenv("FLOWGATE_PPROF_LISTEN")
	if addr == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds))
		if err != nil {
			fmt.Println("  profile:", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(os.TempDir(), name+".pprof"))
		if err != nil {
			fmt.Println("  profile:", err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, resp.Body); err != nil {
			fmt.Println("  profile:", err)
			return
		}
		fmt.Printf("  gateway CPU profile of the first %d s: %s\n", seconds, f.Name())
	}()
	return func() { <-done }
}

// cpuMeter reports the CPU time the gateway and this process (the bench's
// clients and, in the mq scenario, the Kafka cluster) used while a
// scenario ran.
type cpuMeter struct {
	pid      int
	gw, self float64
}

func meterCPU(g *gateway) cpuMeter {
	return cpuMeter{pid: g.cmd.Process.Pid, gw: procCPU(g.cmd.Process.Pid), self: procCPU(os.Getpid())}
}

func (m cpuMeter) String() string {
	return fmt.Sprintf("CPU: gateway %.1f s, bench process %.1f s", procCPU(m.pid)-m.gw, procCPU(os.Getpid())-m.self)
}

// machineCPU is the busy time of every core so far (user, nice, system,
// irq, softirq), in seconds, from /proc/stat: the servers' share too.
func machineCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 {
		return 0
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, _ := strconv.ParseFloat(f[i], 64)
		busy += v
	}
	return busy / 100
}

// machineSwitches is the machine's context switches since boot (the
// "ctxt" line of /proc/stat); 0 when it cannot be read.
func machineSwitches() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ctxt "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// procCPU is the user and system time of a process in seconds, from
// /proc (clock ticks of 1/100 s); 0 when it cannot be read.
func procCPU(pid int) float64 { return statSeconds(pid, 11, 12) }

// statSeconds sums fields of /proc/<pid>/stat counted after the command
// name (which is in parentheses), as clock ticks of 1/100 s.
func statSeconds(pid int, fields ...int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	var sum float64
	for _, i := range fields {
		if i < len(f) {
			v, _ := strconv.ParseFloat(f[i], 64)
			sum += v
		}
	}
	return sum / 100
}

// commandCPU is the user and system time in seconds of every process
// whose command name is one of names (the database servers: "postgres",
// "mariadbd"), from /proc, with that of their children that ended (a
// PostgreSQL backend's, once the postmaster reaped it).
func commandCPU(names ...string) float64 {
	return commandStat(names, 11, 12, 13, 14)
}

// commandFaults is the minor page faults of the processes commandCPU
// counts (and of their children that ended).
func commandFaults(names ...string) int64 {
	return int64(commandStat(names, 7, 8)*100 + 0.5)
}

// commandStat sums the given fields of /proc/<pid>/stat (see
// statSeconds) over the processes named one of names.
func commandStat(names []string, fields ...int) float64 {
	dirs, _ := os.ReadDir("/proc")
	var sum float64
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || !slices.Contains(names, strings.TrimSpace(string(comm))) {
			continue
		}
		sum += statSeconds(pid, fields...)
	}
	return sum
}

// serverCPU measures the database servers' and the machine's CPU from
// now; its String is for a scenario's line.
type serverCPU struct{ pg, my, machine float64 }

func startServerCPU() serverCPU {
	return serverCPU{pg: commandCPU("postgres"), my: commandCPU("mariadbd", "mysqld"), machine: machineCPU()}
}

func (s serverCPU) String() string {
	return fmt.Sprintf("PostgreSQL %.1f s, MariaDB %.1f s, machine %.1f s", commandCPU("postgres")-s.pg, commandCPU("mariadbd", "mysqld")-s.my, machineCPU()-s.machine)
}
