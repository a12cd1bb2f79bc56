package tests

// Helpers of the message-queue tests (mq_test.go): canal and cloudcanal
// messages written from the formats' documented shapes, a producer, and a
// model of the target table that applies every message exactly once.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowgate/flowgate/internal/testbed"
)

// The source table the messages describe (MySQL types, as mysqlType and
// dbValType write them) and the target tables it is applied to.
var mqMySQLTypes = map[string]string{"id": "bigint(20)", "customer": "varchar(64)", "qty": "int(11)", "price": "decimal(12,2)",
	"status": "enum('new','paid','shipped')", "tags": "set('red','green','blue')", "note": "text", "data": "varbinary(32)",
	"placed": "datetime"}

const mqOrdersPG = `CREATE TABLE %s (id bigint PRIMARY KEY, customer text, qty int, price numeric(12,2), status text, tags text,
	note text, data bytea, placed timestamp)`

const mqOrdersMySQL = `CREATE TABLE %s (id bigint PRIMARY KEY, customer varchar(64), qty int, price decimal(12,2), status varchar(16),
	tags varchar(64), note text, data varbinary(32), placed datetime)`

const mqOrdersSQLite = `CREATE TABLE %s (id INTEGER PRIMARY KEY, customer TEXT, qty INTEGER, price NUMERIC, status TEXT, tags TEXT,
	note TEXT, data BLOB, placed TEXT)`

// mqQueryPG / mqQueryMySQL / mqQuerySQLite read the target rows in the
// model's text form.
const mqQueryPG = `SELECT id, customer, qty, price, status, tags, note, encode(data, 'hex'), to_char(placed, 'YYYY-MM-DD HH24:MI:SS') FROM %s ORDER BY id`
const mqQueryMySQL = `SELECT id, customer, qty, CAST(price AS CHAR), status, tags, note, LOWER(HEX(data)), DATE_FORMAT(placed, '%%Y-%%m-%%d %%H:%%i:%%s') FROM %s ORDER BY id`
const mqQuerySQLite = `SELECT id, customer, qty, printf('%%.2f', price), status, tags, note, lower(hex(data)), substr(placed, 1, 19) FROM %s ORDER BY id`

// orderRow is a row of the model: column -> value, nil = NULL.
type orderRow map[string]*string

var mqColumns = []string{"id", "customer", "qty", "price", "status", "tags", "note", "data", "placed"}

// model is the target as applying every produced message exactly once
// leaves it, per table.
type model struct {
	mu     sync.Mutex
	tables map[string]map[int64]orderRow
}

func newModel() *model { return &model{tables: map[string]map[int64]orderRow{}} }

func (m *model) table(name string) map[int64]orderRow {
	if m.tables[name] == nil {
		m.tables[name] = map[int64]orderRow{}
	}
	return m.tables[name]
}

// lines renders a table as the target queries do: the message's values
// typed as the target stores them (ENUM index -> name, SET bitmask ->
// names, binary -> hex).
func (m *model) lines(name string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tables[name]
	ids := make([]int64, 0, len(t))
	for id := range t {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := []string{}
	for _, id := range ids {
		r := t[id]
		parts := make([]string, len(mqColumns))
		for i, c := range mqColumns {
			v := r[c]
			if v == nil {
				parts[i] = "<null>"
				continue
			}
			switch c {
			case "status":
				n, _ := strconv.Atoi(*v)
				parts[i] = []string{"", "new", "paid", "shipped"}[n]
			case "tags":
				n, _ := strconv.Atoi(*v)
				var names []string
				for b, name := range []string{"red", "green", "blue"} {
					if n&(1<<b) != 0 {
						names = append(names, name)
					}
				}
				parts[i] = strings.Join(names, ",")
			case "data":
				b := make([]byte, 0, len(*v))
				for _, r := range *v {
					b = append(b, byte(r))
				}
				parts[i] = hex.EncodeToString(b)
			default:
				parts[i] = *v
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out
}

func sp(s string) *string { return &s }

// mqMessage is one change message: the op, the table, the rows (and for
// updates the before images).
type mqMessage struct {
	op     string // INSERT, UPDATE, DELETE, TRUNCATE
	table  string
	rows   []orderRow
	before []orderRow // UPDATE: full before images
}

// canal renders m as an Alibaba Canal flat message: values as strings,
// old holding only the changed columns' before-values.
func (m mqMessage) canal(id int64) []byte {
	msg := map[string]any{"database": "shop", "table": m.table, "pkNames": []string{"id"}, "isDdl": false, "type": m.op,
		"es": time.Now().UnixMilli(), "ts": time.Now().UnixMilli(), "id": id, "sql": "", "gtid": "",
		"sqlType":   map[string]int{"id": -5, "customer": 12, "qty": 4, "price": 3, "status": 4, "tags": -7, "note": 2005, "data": 2004, "placed": 93},
		"mysqlType": mqMySQLTypes, "data": nil, "old": nil}
	if m.op == "TRUNCATE" {
		msg["isDdl"] = true
		msg["sql"] = "TRUNCATE TABLE " + m.table
		msg["mysqlType"], msg["sqlType"] = nil, nil
		return mustJSON(msg)
	}
	msg["data"] = m.rows
	if m.op == "UPDATE" {
		var old []map[string]*string
		for i, r := range m.rows {
			o := map[string]*string{}
			for k, v := range m.before[i] {
				if !sameVal(v, r[k]) {
					o[k] = v
				}
			}
			old = append(old, o)
		}
		msg["old"] = old
	}
	return mustJSON(msg)
}

// cloudCanal renders m as BladePipe / CloudCanal JSON: full before and
// after images; a DELETE's row in "before" (as some producers do).
func (m mqMessage) cloudCanal(id int64) []byte {
	msg := map[string]any{"action": m.op, "db": "shop", "schema": "shop", "table": m.table, "pks": []string{"id"}, "isDdl": false,
		"entryType": "ROWDATA", "execTs": time.Now().UnixMilli(), "sendTs": time.Now().UnixMilli(), "sql": "", "bid": id,
		"dbValType": mqMySQLTypes, "jdbcType": map[string]int{"id": -5, "data": -3, "placed": 93}}
	switch m.op {
	case "TRUNCATE":
		msg["isDdl"] = true
		msg["sql"] = "TRUNCATE TABLE " + m.table
		msg["entryType"] = ""
	case "DELETE":
		msg["before"], msg["data"] = m.rows, nil
	case "UPDATE":
		msg["before"], msg["data"] = m.before, m.rows
	default:
		msg["data"], msg["before"] = m.rows, nil
	}
	return mustJSON(msg)
}

func sameVal(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// workloadGen makes a stream of messages over ids and applies each to the
// model: 70% inserts (some messages with several rows), 20% updates (some
// moving a row to another key), 10% deletes.
type workloadGen struct {
	r      *rand.Rand
	model  *model
	table  string
	nextID int64
	live   []int64
}

func newWorkload(seed int64, m *model, table string, firstID int64) *workloadGen {
	return &workloadGen{r: rand.New(rand.NewSource(seed)), model: m, table: table, nextID: firstID}
}

func (w *workloadGen) row(id int64) orderRow {
	r := w.r
	data := make([]byte, 1+r.Intn(8))
	for i := range data {
		data[i] = byte(r.Intn(256)) // every byte value, as ISO-8859-1 code points
	}
	latin := make([]rune, len(data))
	for i, b := range data {
		latin[i] = rune(b)
	}
	row := orderRow{"id": sp(strconv.FormatInt(id, 10)), "customer": sp(fmt.Sprintf("c%d \"q\" ü", r.Intn(1000))),
		"qty": sp(strconv.Itoa(r.Intn(100))), "price": sp(fmt.Sprintf("%d.%02d", r.Intn(1000), r.Intn(100))),
		"status": sp(strconv.Itoa(1 + r.Intn(3))), "tags": sp(strconv.Itoa(r.Intn(8))), "note": nil,
		"data": sp(string(latin)), "placed": sp(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Intn(1e6)) * time.Second).Format("2006-01-02 15:04:05"))}
	if r.Intn(3) == 0 {
		row["note"] = sp(fmt.Sprintf("note %d, with 'quotes'", r.Intn(100)))
	}
	return row
}

// next makes the next message and applies it to the model.
func (w *workloadGen) next() mqMessage {
	w.model.mu.Lock()
	defer w.model.mu.Unlock()
	t := w.model.table(w.table)
	k := w.r.Intn(10)
	if len(w.live) < 5 {
		k = 0
	}
	switch {
	case k < 7:
		n := 1
		if w.r.Intn(10) == 0 {
			n = 2 + w.r.Intn(3)
		}
		m := mqMessage{op: "INSERT", table: w.table}
		for i := 0; i < n; i++ {
			id := w.nextID
			w.nextID++
			row := w.row(id)
			t[id] = row
			w.live = append(w.live, id)
			m.rows = append(m.rows, row)
		}
		return m
	case k < 9:
		i := w.r.Intn(len(w.live))
		id := w.live[i]
		before := t[id]
		after := orderRow{}
		for c, v := range before {
			after[c] = v
		}
		after["qty"] = sp(strconv.Itoa(w.r.Intn(100)))
		if w.r.Intn(2) == 0 {
			after["status"] = sp(strconv.Itoa(1 + w.r.Intn(3)))
		}
		if w.r.Intn(8) == 0 { // the key moves
			nid := w.nextID
			w.nextID++
			after["id"] = sp(strconv.FormatInt(nid, 10))
			delete(t, id)
			w.live[i] = nid
			t[nid] = after
		} else {
			t[id] = after
		}
		return mqMessage{op: "UPDATE", table: w.table, rows: []orderRow{after}, before: []orderRow{before}}
	default:
		i := w.r.Intn(len(w.live))
		id := w.live[i]
		row := t[id]
		delete(t, id)
		w.live = append(w.live[:i], w.live[i+1:]...)
		return mqMessage{op: "DELETE", table: w.table, rows: []orderRow{row}}
	}
}

// produce sends values to topic, all to one partition (key "k") unless
// part >= 0 says which; every record is acknowledged before it returns.
func produce(t testing.TB, cl *kgo.Client, topic string, values ...[]byte) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte("k"), Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// produceKeyed sends each value with its key (a row's key keeps its
// changes in one partition, as Canal's partitionHash does).
func produceKeyed(t testing.TB, cl *kgo.Client, topic string, keys []string, values [][]byte) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(keys[i]), Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	return recs
}

// produceMessages renders n messages of w in format and sends them to
// topic, keyed by table (so one table's changes stay in order).
func produceMessages(t testing.TB, cl *kgo.Client, topic, format string, w *workloadGen, n int) []*kgo.Record {
	t.Helper()
	keys := make([]string, n)
	vals := make([][]byte, n)
	for i := range vals {
		m := w.next()
		keys[i] = m.table
		if format == "cloudcanal" {
			vals[i] = m.cloudCanal(int64(i))
		} else {
			vals[i] = m.canal(int64(i))
		}
	}
	return produceKeyed(t, cl, topic, keys, vals)
}

// kafkaDSSQL is CREATE DATASOURCE name TYPE kafka for k.
func kafkaDSSQL(name string, k *testbed.KafkaCluster) string {
	return fmt.Sprintf("CREATE DATASOURCE %s TYPE kafka OPTIONS (%s)", name, k.DatasourceOptions())
}

// mqOffsetRows reads dataflow.mq_offsets of a job as
// topic/partition|committed|high_watermark|lag lines.
func mqOffsetRows(t testing.TB, c *pgx.Conn, job string) []string {
	t.Helper()
	return rowsOf(t, c, `SELECT topic || '/' || partition, committed_offset, coalesce(high_watermark, -1), coalesce(lag, -1)
		FROM dataflow.mq_offsets WHERE job = '`+job+`' ORDER BY topic, partition`)
}
