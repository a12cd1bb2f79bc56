package mysql

// The binlog change stream against the testbed's MariaDB: values equal to
// the export's, snapshots exact while sessions write (both snapshot
// methods), DDL between row events, positions, a purged position.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/mysql/binlog"
	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5/pgconn"
)

// cdcRig is a database on the testbed server and a datasource on it.
type cdcRig struct {
	my *testbed.MySQLServer
	db string
	c  *Conn
	sq *sql.DB
}

func newCDCRig(t *testing.T, my *testbed.MySQLServer, prefix string) *cdcRig {
	t.Helper()
	r := &cdcRig{my: my, db: my.NewDatabase(t, prefix)}
	conn, err := Open(map[string]string{"host": my.Host, "port": strconv.Itoa(my.Port), "database": r.db, "user": my.User, "password": my.Password})
	if err != nil {
		t.Fatal(err)
	}
	r.c = conn.(*Conn)
	t.Cleanup(func() { r.c.Close() })
	r.sq = my.Open(t, r.db)
	return r
}

func (r *cdcRig) exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := r.sq.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func (r *cdcRig) masterPos(t testing.TB) binlogPos {
	t.Helper()
	ctx := context.Background()
	conn, err := r.c.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p, err := masterStatus(ctx, conn, true)
	if err != nil {
		t.Fatal(err)
	}
	return p.binlogPos
}

var cdcJobs int

func (r *cdcRig) spec(tables ...string) cdc.StreamSpec {
	cdcJobs++
	spec := cdc.StreamSpec{Job: fmt.Sprintf("job%d_%s", cdcJobs, r.db), ServerID: uint32(1000 + cdcJobs)}
	for _, t := range tables {
		spec.Tables = append(spec.Tables, cdc.TableRef{Name: t})
	}
	return spec
}

// tableState keeps rows by key as text lines, applying changes.
type rowSet map[string][]string

func rowText(vals [][]byte) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		if v == nil {
			out[i] = "<null>"
		} else {
			out[i] = string(v)
		}
	}
	return out
}

// apply applies a change whose values follow the table's full column
// order; the key is the first column.
func (rs rowSet) apply(t testing.TB, c cdc.Change) {
	switch c.Op {
	case cdc.Insert:
		rs[string(c.New.Values[0])] = rowText(c.New.Values)
	case cdc.Update:
		if c.Old.Values != nil {
			delete(rs, string(c.Old.Values[0]))
		}
		rs[string(c.New.Values[0])] = rowText(c.New.Values)
	case cdc.Delete:
		delete(rs, string(c.Old.Values[0]))
	case cdc.Truncate:
		clear(rs)
	}
}

func (rs rowSet) lines() []string {
	var out []string
	for _, r := range rs {
		out = append(out, strings.Join(r, "|"))
	}
	slices.Sort(out)
	return out
}

// export reads a table through Export (spec.Snapshot optional) as a rowSet.
func (r *cdcRig) export(t testing.TB, table, snapshot string) rowSet {
	t.Helper()
	ctx := context.Background()
	ts, err := r.c.DescribeTables(ctx, "", []string{table})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := r.c.Export(ctx, data.ExportSpec{Table: table, Columns: ts[0].Columns, Snapshot: snapshot}, &buf); err != nil {
		t.Fatalf("export %s: %v", table, err)
	}
	rs := rowSet{}
	rd := data.NewReader(&buf)
	for {
		rec, err := rd.Read()
		if err != nil {
			break
		}
		rs[string(rec[0])] = rowText(rec)
	}
	return rs
}

// readUntil reads the stream until a commit or heartbeat at or past
// until, applying changes to sets by table name; it returns the events.
func readUntil(t testing.TB, s cdc.ChangeStream, until binlogPos, sets map[string]rowSet) []cdc.Event {
	t.Helper()
	var evs []cdc.Event
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		ev, err := s.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		evs = append(evs, ev)
		switch ev.Kind {
		case cdc.EventChange:
			if rs := sets[ev.Change.Table.Name]; rs != nil {
				rs.apply(t, ev.Change)
			}
		case cdc.EventCommit, cdc.EventHeartbeat:
			p, err := parsePosition(ev.Position)
			if err != nil {
				t.Fatal(err)
			}
			if comparePos(p.binlogPos, until) >= 0 {
				return evs
			}
		}
	}
}

func openNew(t *testing.T, r *cdcRig, spec cdc.StreamSpec) *stream {
	t.Helper()
	cs, _, err := r.c.OpenStream(context.Background(), spec)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs.(*stream)
}

const kindsTable = `CREATE TABLE kinds (id int PRIMARY KEY, ti tinyint, tiu tinyint unsigned, b1 tinyint(1), si smallint unsigned,
	mi mediumint, mu mediumint unsigned, i int, iu int unsigned, bi bigint, bu bigint unsigned, dec1 decimal(65,30), dec2 decimal(10,2) unsigned,
	f float, d double, y year, dt date, dtm datetime(6), dt0 datetime, ts timestamp(6) NULL, tm time(6), tm0 time,
	ch char(10), vc varchar(100), vcl varchar(100) CHARACTER SET latin1, tx text, txl text CHARACTER SET latin1, bn binary(4),
	vb varbinary(300), bl blob, e enum('a','b','c'), st set('x','y','z'), bt bit(1), b64 bit(64), b10 bit(10), j json, u uuid,
	g geometry, i4 inet4, i6 inet6, gb varchar(20) CHARACTER SET gbk)`

var allBytes = func() string {
	var b strings.Builder
	for i := range 256 {
		fmt.Fprintf(&b, "%02X", i)
	}
	return b.String()
}()

var kindsRows = []string{
	`(1, 127, 255, 1, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
	'99999999999999999999999999999999999.999999999999999999999999999999', 99999999.99, 3.40282e38, 1.7976931348623157e308,
	2155, '9999-12-31', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59', '2038-01-19 03:14:07.999999', '838:59:59.000000', '838:59:59',
	'abc', '😀 four-byte 𝄞', 'ÿ latin1 é', REPEAT('x', 70), _latin1 X'` + allBytes[256:] + `', UNHEX('FF00FF00'),
	UNHEX('` + allBytes + `'), UNHEX('` + allBytes + `'), 'c', 'x,y,z', b'1', 0xFFFFFFFFFFFFFFFF, b'1111111111', '{"a": [1, 2.5, {"b": null}], "c": "é😀"}',
	'6ccd780c-baba-1026-9564-5b8c656024db', ST_GeomFromText('LINESTRING(0.1 1e20, -1.5 2.25)'), '10.0.0.1', '::ffff:1.2.3.4', '中文 gbk')`,
	`(2, -128, 0, 0, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
	'-99999999999999999999999999999999999.999999999999999999999999999999', 0, -3.40282e38, -1.7976931348623157e308,
	1901, '1000-01-01', '1000-01-01 00:00:00.000001', '1000-01-01 00:00:00', '1970-01-01 00:00:01.000001', '-838:59:59.000000', '-838:59:59',
	'', '', '', '', '', UNHEX('61'), '', '', 'a', '', b'0', 0, b'0000000001', '[]', '00000000-0000-0000-0000-000000000000',
	ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0),(0.1 0.1,0.2 0.1,0.2 0.2,0.1 0.1))'), '0.0.0.0', '::1', '')`,
	`(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
	`(4, 0, 1, 5, 1, -1, 8388608, -1, 2147483648, -1, 9223372036854775808, '0.000000000000000000000000000001', 0.01, 1.17549435e-38,
	2.2250738585072014e-308, 0, '0000-00-00', '0000-00-00 00:00:00', '2024-02-29 12:00:00', '0000-00-00 00:00:00', '-00:00:00.000001', '00:00:00',
	'a  ', 'tab\there\nnewline "quoted", comma', 'a  ', 'NULL', 'x', '', UNHEX('00'), UNHEX('00FF'), '', 'x,z', b'1', 0x8000000000000000,
	b'1000000000', '"just a string"', 'ffffffff-ffff-ffff-ffff-ffffffffffff', ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1), LINESTRING(0 0, 1 1))'),
	'255.255.255.255', '2001:db8::ff00:42:8329', 'abc')`,
}

// Every streamed value is the text the export writes for the same value:
// the table after inserts, updates (one of the key) and deletes, built
// from the stream, equals the table exported afterwards.
func TestCDCValuesMatchExport(t *testing.T) {
	my := testbed.MySQL(t)
	r := newCDCRig(t, my, "cdcvals")
	r.exec(t, kindsTable)
	s := openNew(t, r, r.spec("kinds"))
	s.StartPosition() // snapshot = off: the stream starts where it was opened
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := r.sq.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A source session in another time zone writes TIMESTAMPs.
	for _, q := range []string{"SET SESSION sql_mode = ''", "SET time_zone = '+05:30'"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, row := range kindsRows {
		if _, err := conn.ExecContext(ctx, "INSERT INTO kinds VALUES "+row); err != nil {
			t.Fatalf("insert %s: %v", row[:40], err)
		}
	}
	for _, q := range []string{"UPDATE kinds SET vc = CONCAT(vc, ' updated'), ts = '2024-06-01 12:00:00.5' WHERE id = 1",
		"UPDATE kinds SET id = 10 WHERE id = 2", "INSERT INTO kinds (id, vc) VALUES (5, 'gone')", "DELETE FROM kinds WHERE id = 5",
		"BEGIN", "UPDATE kinds SET e = 'b', st = 'y' WHERE id = 4", "INSERT INTO kinds (id, j) VALUES (6, '{}')", "COMMIT",
		"XA START 'fgxa'", "INSERT INTO kinds (id, vc) VALUES (7, 'xa')", "XA END 'fgxa'", "XA PREPARE 'fgxa'", "XA COMMIT 'fgxa'"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	got := rowSet{}
	evs := readUntil(t, s, r.masterPos(t), map[string]rowSet{"kinds": got})
	want := r.export(t, "kinds", "")
	if g, w := got.lines(), want.lines(); !slices.Equal(g, w) {
		for i := range max(len(g), len(w)) {
			var gl, wl string
			if i < len(g) {
				gl = g[i]
			}
			if i < len(w) {
				wl = w[i]
			}
			if gl != wl {
				gf, wf := strings.Split(gl, "|"), strings.Split(wl, "|")
				for j := range min(len(gf), len(wf)) {
					if gf[j] != wf[j] {
						t.Errorf("row %d column %d: stream %q, export %q", i, j, gf[j], wf[j])
					}
				}
				if len(gf) != len(wf) {
					t.Errorf("row %d: stream %q\nexport %q", i, gl, wl)
				}
			}
		}
	}
	// The key change carries the old key; the multi-statement transaction
	// is one Begin..Commit; the TIMESTAMP is in UTC.
	var moved, begins, commits int
	for _, ev := range evs {
		switch ev.Kind {
		case cdc.EventChange:
			if ev.Change.Op == cdc.Update && ev.Change.Old.Values != nil && string(ev.Change.Old.Values[0]) == "2" {
				moved++
			}
		case cdc.EventBegin:
			begins++
		case cdc.EventCommit:
			commits++
		}
	}
	if moved != 1 || begins != commits || commits != len(kindsRows)+6 {
		t.Errorf("moved %d, begins %d, commits %d", moved, begins, commits)
	}
	if ts := got["1"][19]; ts != "2024-06-01 06:30:00.500000+00" {
		t.Errorf("TIMESTAMP written at +05:30: %q", ts)
	}
	// latin1: every byte from 0x80 converts as the server converts it.
	var server string
	if err := r.sq.QueryRow("SELECT CONVERT(_latin1 X'" + allBytes[256:] + "' USING utf8mb4)").Scan(&server); err != nil {
		t.Fatal(err)
	}
	if got["1"][26] != server {
		t.Errorf("latin1 text %q, server %q", got["1"][26], server)
	}
}

// A snapshot taken while sessions insert, update, delete and move rows in
// two tables, and the stream from its position, add up to the final
// tables: nothing missing, nothing twice. Both snapshot methods.
func TestCDCSnapshotWhileWriting(t *testing.T) {
	for _, locked := range []bool{false, true} {
		t.Run(map[bool]string{false: "consistent snapshot sessions", true: "flush tables with read lock"}[locked], func(t *testing.T) {
			lockedSnapshots = locked
			defer func() { lockedSnapshots = false }()
			snapshotWhileWriting(t)
		})
	}
}

func snapshotWhileWriting(t *testing.T) {
	my := testbed.MySQL(t)
	r := newCDCRig(t, my, "cdcsnap")
	for _, tb := range []string{"t1", "t2"} {
		r.exec(t, "CREATE TABLE "+tb+" (id int PRIMARY KEY, v int NOT NULL, note varchar(40))",
			"INSERT INTO "+tb+" SELECT seq, seq, CONCAT('n', seq) FROM seq_1_to_20000")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes sync.Map
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(int64(w)))
			n := 0
			for {
				select {
				case <-stop:
					writes.Store(w, n)
					return
				default:
				}
				tb := []string{"t1", "t2"}[rnd.Intn(2)]
				id := 1 + rnd.Intn(30000)
				var q string
				switch k := rnd.Intn(10); {
				case k < 4:
					q = fmt.Sprintf("INSERT INTO %s VALUES (%d, %d, 'i') ON DUPLICATE KEY UPDATE v = v + 1", tb, id, n)
				case k < 7:
					q = fmt.Sprintf("UPDATE %s SET v = v + 1, note = 'u%d' WHERE id BETWEEN %d AND %d", tb, n, id, id+2)
				case k < 8:
					q = fmt.Sprintf("DELETE FROM %s WHERE id = %d", tb, id)
				case k < 9:
					q = fmt.Sprintf("UPDATE IGNORE %s SET id = id + 30000 WHERE id = %d", tb, id)
				default: // one transaction over both tables
					tx, err := r.sq.Begin()
					if err == nil {
						_, err = tx.Exec(fmt.Sprintf("UPDATE t1 SET v = v - 1 WHERE id = %d", id))
					}
					if err == nil {
						_, err = tx.Exec(fmt.Sprintf("UPDATE t2 SET v = v + 1 WHERE id = %d", id))
					}
					if err == nil {
						err = tx.Commit()
					}
					if err != nil {
						t.Errorf("transaction: %v", err)
						return
					}
					n++
					continue
				}
				if _, err := r.sq.Exec(q); err != nil {
					t.Errorf("%s: %v", q, err)
					return
				}
				n++
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	s := openNew(t, r, r.spec("t1", "t2"))
	sets := map[string]rowSet{}
	var mu sync.Mutex
	var ewg sync.WaitGroup
	for _, tb := range []string{"t1", "t2"} {
		ewg.Add(1)
		go func() {
			defer ewg.Done()
			rs := r.export(t, tb, s.SnapshotID())
			mu.Lock()
			sets[tb] = rs
			mu.Unlock()
		}()
	}
	ewg.Wait()
	start := s.StartPosition()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	total := 0
	writes.Range(func(_, v any) bool { total += v.(int); return true })
	readUntil(t, s, r.masterPos(t), sets)
	for _, tb := range []string{"t1", "t2"} {
		want := r.export(t, tb, "")
		if g, w := sets[tb].lines(), want.lines(); !slices.Equal(g, w) {
			t.Errorf("%s: snapshot + stream has %d rows, the table %d: %s", tb, len(g), len(w), firstDiffLines(w, g))
		}
	}
	t.Logf("%d writes during the test; stream started at %s", total, start)
	if total < 50 {
		t.Errorf("only %d writes: the test proves little", total)
	}
}

func firstDiffLines(want, got []string) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Sprintf("line %d: table %q, got %q", i, w, g)
		}
	}
	return "equal"
}

// An ALTER between two row events: each is read with the structure it was
// written with, also when read again from a checkpoint before the ALTER
// (the structures the stream saw are kept), and after a gateway restart
// a changed structure behind the checkpoint is refused, not misread.
func TestCDCAlterBetweenRowEvents(t *testing.T) {
	my := testbed.MySQL(t)
	r := newCDCRig(t, my, "cdcddl")
	r.exec(t, "CREATE TABLE items (id int PRIMARY KEY, name varchar(20), obsolete varchar(10), qty int)")
	spec := r.spec("items")
	s := openNew(t, r, spec)
	begin := s.StartPosition()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.exec(t, "INSERT INTO items VALUES (1, 'a', 'x', 1)",
		"ALTER TABLE items ADD COLUMN price decimal(10,2) AFTER name",
		"INSERT INTO items VALUES (2, 'b', 9.99, 'y', 2)",
		"ALTER TABLE items DROP COLUMN obsolete, MODIFY qty bigint unsigned FIRST",
		"INSERT INTO items VALUES (18446744073709551615, 3, 'c', 1.50)",
		"ALTER TABLE items CHANGE name title varchar(30) CHARACTER SET latin1",
		"INSERT INTO items VALUES (4, 4, 'ü', NULL)")
	end := r.masterPos(t)
	check := func(s cdc.ChangeStream) []string {
		t.Helper()
		var out []string
		var cols []string
		for _, ev := range readUntil(t, s, end, nil) {
			switch ev.Kind {
			case cdc.EventSchema:
				cols = nil
				for _, c := range ev.Schema.Columns {
					cols = append(cols, c.Name)
				}
			case cdc.EventChange:
				var parts []string
				for i, v := range ev.Change.New.Values {
					parts = append(parts, cols[i]+"="+rowText([][]byte{v})[0])
				}
				out = append(out, strings.Join(parts, " "))
			}
		}
		return out
	}
	want := []string{"id=1 name=a obsolete=x qty=1", "id=2 name=b price=9.99 obsolete=y qty=2",
		"qty=18446744073709551615 id=3 name=c price=1.50", "qty=4 id=4 title=ü price=<null>"}
	if got := check(s); !slices.Equal(got, want) {
		t.Fatalf("first read:\n got %q\nwant %q", got, want)
	}
	s.Close()
	// Read again from the start (as after STOP, or a new target column).
	again := spec
	again.From = begin
	s2, _, err := r.c.OpenStream(context.Background(), again)
	if err != nil {
		t.Fatal(err)
	}
	if got := check(s2); !slices.Equal(got, want) {
		t.Fatalf("read again:\n got %q\nwant %q", got, want)
	}
	s2.Close()
	// A new process knows only information_schema: the row events before
	// the ALTERs cannot be read, and it says so.
	histories.Delete(s.historyKey())
	_, _, err = r.c.OpenStream(context.Background(), again)
	if err == nil || !strings.Contains(err.Error(), "binlog_row_metadata") || !strings.Contains(hints(err), "FROM SNAPSHOT") {
		t.Fatalf("after a restart with DDL behind the checkpoint: %v", err)
	}
	// From after the last ALTER it is exact again.
	histories.Delete(s.historyKey())
	later := spec
	later.From = position{binlogPos: end}.cdc()
	s3, _, err := r.c.OpenStream(context.Background(), later)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	r.exec(t, "INSERT INTO items VALUES (5, 5, 'e', 2.5)", "TRUNCATE items")
	end = r.masterPos(t)
	var ops []string
	for _, ev := range readUntil(t, s3, end, nil) {
		if ev.Kind == cdc.EventChange {
			ops = append(ops, ev.Change.Op.String())
		}
	}
	if strings.Join(ops, ",") != "insert,truncate" {
		t.Fatalf("ops %v", ops)
	}
}

func TestCDCPositions(t *testing.T) {
	c := &Conn{}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"binlog.000003:4711", "binlog.000003:4711;gtid=0-1-5", 0},
		{"binlog.000003:4711", "binlog.000004:4", -1},
		{"binlog.000010:4", "binlog.000009:99999", 1},
		{"mysql-bin.000001:120;gtid=3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", "mysql-bin.000001:119", 1},
	} {
		got, err := c.ComparePositions(cdc.Position(tc.a), cdc.Position(tc.b))
		if err != nil || got != tc.want {
			t.Errorf("compare %s %s = %d %v, want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "binlog", "binlog.000001", "binlog.000001:x", "binlog.000001:1", ":4", "binlog.000001:4;x=1"} {
		if _, err := parsePosition(cdc.Position(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	p, err := parsePosition("binlog.000002:345;gtid=0-1-7,1-2-9")
	if err != nil || p.String() != "binlog.000002:345;gtid=0-1-7,1-2-9" {
		t.Errorf("%+v %v", p, err)
	}
	var g gtidState
	sid := [16]byte{1}
	for _, n := range []int64{1, 2, 5, 3, 4, 9, 7, 8} {
		g.addMySQL(sid, n)
	}
	if got := g.String(); got != "01000000-0000-0000-0000-000000000000:1-5:7-9" {
		t.Errorf("gtid set %s", got)
	}
}

// A checkpoint whose binlog file was purged while the job was stopped
// fails with cdc.ErrPositionLost, naming the file and the way out.
func TestCDCPurgedPosition(t *testing.T) {
	my := testbed.MySQLWith(t, "--server-id=11")
	r := newCDCRig(t, my, "cdcpurge")
	r.exec(t, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1)")
	spec := r.spec("t")
	s := openNew(t, r, spec)
	from := s.StartPosition()
	s.Close()
	r.exec(t, "FLUSH BINARY LOGS")
	cur := r.masterPos(t)
	// MariaDB keeps a file until the storage engine's commits in it are
	// durable (binlog checkpoint); with lazy flushing that takes a moment.
	for i := 0; ; i++ {
		r.exec(t, "PURGE BINARY LOGS TO '"+cur.File+"'")
		files, ok := r.c.binaryLogs(context.Background())
		if !ok {
			t.Fatal("SHOW BINARY LOGS")
		}
		if !files[strings.Split(string(from), ":")[0]] {
			break
		}
		if i == 50 {
			t.Fatalf("binlog %s still there after PURGE", from)
		}
		time.Sleep(200 * time.Millisecond)
	}
	spec.From = from
	_, _, err := r.c.OpenStream(context.Background(), spec)
	if !errors.Is(err, cdc.ErrPositionLost) || !strings.Contains(err.Error(), "FROM SNAPSHOT") || !strings.Contains(err.Error(), "purged") {
		t.Fatalf("purged checkpoint: %v", err)
	}
}

// The checks: binlog_format, row image, no primary key, the job's
// server_id equal to the server's.
func TestCDCChecks(t *testing.T) {
	ctx := context.Background()
	stmt := testbed.MySQLWith(t, "--binlog-format=STATEMENT", "--binlog-row-image=MINIMAL")
	r := newCDCRig(t, stmt, "cdcchk")
	r.exec(t, "CREATE TABLE nokey (a int)", "CREATE TABLE k (id int PRIMARY KEY)")
	err := r.c.CheckCDC(ctx, []cdc.TableRef{{Name: "nokey"}, {Name: "k"}})
	for _, want := range []string{"binlog_format is STATEMENT", "SET GLOBAL binlog_format = 'ROW'", "binlog_row_image is MINIMAL", "nokey` has no primary key"} {
		if err == nil || !strings.Contains(err.Error()+hints(err), want) {
			t.Errorf("check: %v (hints %s); want %q", err, hints(err), want)
		}
	}
	spec := r.spec("k")
	spec.ServerID = 1
	if _, _, err := r.c.OpenStream(ctx, spec); err == nil || !strings.Contains(err.Error(), "binlog_format") {
		t.Errorf("open on a STATEMENT server: %v", err)
	}
	ok := newCDCRig(t, testbed.MySQL(t), "cdcchk")
	ok.exec(t, "CREATE TABLE k (id int PRIMARY KEY)")
	if err := ok.c.CheckCDC(ctx, []cdc.TableRef{{Name: "k"}}); err != nil {
		t.Errorf("check on the ROW server: %v", err)
	}
	spec = ok.spec("k")
	spec.ServerID = 1
	if _, _, err := ok.c.OpenStream(ctx, spec); err == nil || !strings.Contains(err.Error(), "server's own server_id") {
		t.Errorf("server_id 1: %v", err)
	}
}

// hints joins the hints of every *pgconn.PgError in err's tree.
func hints(err error) string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if pe, ok := e.(*pgconn.PgError); ok {
			out = append(out, pe.Hint)
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return strings.Join(out, " ")
}

// With binlog_row_metadata = FULL every row event names its columns: after
// a restart of the gateway (no history) the row events before ALTERs are
// read by name, also for a column that no longer exists.
func TestCDCFullMetadata(t *testing.T) {
	my := testbed.MySQLWith(t, "--binlog-row-metadata=FULL", "--server-id=13")
	r := newCDCRig(t, my, "cdcfull")
	r.exec(t, "CREATE TABLE items (id int unsigned PRIMARY KEY, name varchar(20) CHARACTER SET latin1, obsolete enum('x','y'), flag tinyint(1))")
	spec := r.spec("items")
	s := openNew(t, r, spec)
	begin := s.StartPosition()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.exec(t, "INSERT INTO items VALUES (4294967295, 'ä', 'y', 1)",
		"ALTER TABLE items DROP COLUMN obsolete, ADD COLUMN price decimal(10,2) FIRST",
		"INSERT INTO items VALUES (1.50, 2, 'ö', 0)")
	end := r.masterPos(t)
	read := func(s cdc.ChangeStream) []string {
		var out, cols []string
		for _, ev := range readUntil(t, s, end, nil) {
			switch ev.Kind {
			case cdc.EventSchema:
				cols = nil
				for _, c := range ev.Schema.Columns {
					cols = append(cols, fmt.Sprintf("%s:%s:%v", c.Name, c.Type.Kind, c.Key))
				}
				out = append(out, strings.Join(cols, ","))
			case cdc.EventChange:
				out = append(out, strings.Join(rowText(ev.Change.New.Values), "|"))
			}
		}
		return out
	}
	want := []string{"id:int32:true,name:varchar:false,obsolete:enum:false,flag:bool:false", "4294967295|ä|y|t",
		"price:decimal:false,id:int32:true,name:varchar:false,flag:bool:false", "1.50|2|ö|f"}
	if got := read(s); !slices.Equal(got, want) {
		t.Fatalf("first read:\n got %q\nwant %q", got, want)
	}
	s.Close()
	histories.Delete(s.historyKey())
	again := spec
	again.From = begin
	s2, _, err := r.c.OpenStream(context.Background(), again)
	if err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	defer s2.Close()
	// The dropped column is typed from the row event (ENUM members and
	// all); tinyint(1) is still a boolean where the table knows it.
	if got := read(s2); !slices.Equal(got, want) {
		t.Fatalf("after a restart:\n got %q\nwant %q", got, want)
	}
}

// BenchmarkStreamWorkload is the stream's own work on the CDC bench's
// workload (100,000 row changes of a lineitem-like table, recorded from
// the testbed's binlog): decoding the events and turning them into
// changes with canonical text values, without the network.
//
//	go test -run X -bench StreamWorkload ./connectors/mysql
func BenchmarkStreamWorkload(b *testing.B) {
	my := testbed.MySQL(b)
	r := &cdcRig{my: my, db: my.NewDatabase(b, "cdcbench")}
	conn, err := Open(map[string]string{"host": my.Host, "port": strconv.Itoa(my.Port), "database": r.db, "user": my.User, "password": my.Password})
	if err != nil {
		b.Fatal(err)
	}
	r.c = conn.(*Conn)
	defer r.c.Close()
	r.sq = my.Open(b, r.db)
	r.exec(b, `CREATE TABLE lineitem (id bigint PRIMARY KEY, order_id bigint NOT NULL, qty decimal(12,2), price decimal(15,2),
		discount double, ship_date date, comment varchar(120), created_at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`,
		`INSERT INTO lineitem (id, order_id, qty, price, discount, ship_date, comment) SELECT seq, seq DIV 4, (seq % 50) + 0.25,
		(seq % 100000) / 100.0 + 900, (seq % 11) / 100.0, '1992-01-01' + INTERVAL (seq % 2500) DAY, CONCAT('comment ', seq) FROM seq_1_to_30000`)
	from := r.masterPos(b)
	for k := 0; k < 100; k++ {
		ins, upd, del := 1_000_000+k*700, k*200+1, 20_001+k*100
		tx, err := r.sq.Begin()
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{fmt.Sprintf(`INSERT INTO lineitem (id, order_id, qty, price, discount, ship_date, comment)
				SELECT seq, seq DIV 4, 1.25, 99.5, 0.01, '2024-01-01', CONCAT('new ', seq) FROM seq_%d_to_%d`, ins, ins+699),
			fmt.Sprintf("UPDATE lineitem SET price = price + 1 WHERE id BETWEEN %d AND %d", upd, upd+199),
			fmt.Sprintf("DELETE FROM lineitem WHERE id BETWEEN %d AND %d", del, del+99)} {
			if _, err := tx.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	to := r.masterPos(b)
	// Record the events as the server sends them.
	ctx := context.Background()
	bc, err := binlog.Dial(ctx, r.c.binlogConfig(4242))
	if err != nil {
		b.Fatal(err)
	}
	if err := bc.StartFromPosition(ctx, from.File, from.Pos); err != nil {
		b.Fatal(err)
	}
	var events []*binlog.Event
	for {
		ev, err := bc.NextEvent(ctx)
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, ev)
		if ev.Header.LogPos != 0 && comparePos(binlogPos(ev.Next), to) >= 0 {
			break
		}
	}
	bc.Close()
	f, err := r.c.facts(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defs, err := r.c.describeDefs(ctx, []tableKey{{r.db, "lineitem"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	changes := 0
	for range b.N {
		s := newStream(r.c, cdc.StreamSpec{Job: "bench", Tables: []cdc.TableRef{{Name: "lineitem"}}, ServerID: 4242}, f)
		s.addTable(cdc.TableRef{Name: "lineitem"})
		s.tables[tableKey{r.db, "lineitem"}].def = defs[tableKey{r.db, "lineitem"}]
		s.history = &history{entries: map[tableKey][]histEntry{}}
		s.pos, s.last = from, from
		n := 0
		for _, ev := range events {
			if err := s.handle(ctx, ev); err != nil {
				b.Fatal(err)
			}
			for _, e := range s.queue {
				if e.Kind == cdc.EventChange {
					n++
				}
			}
			clear(s.queue)
			s.queue = s.queue[:0]
		}
		if n != 100_000 {
			b.Fatalf("%d changes", n)
		}
		changes += n
	}
	b.ReportMetric(float64(changes)/time.Since(start).Seconds(), "changes/s")
}

// An online schema change tool's swap (RENAME TABLE t TO t_old, t_new TO
// t), a DROP and re-CREATE, and TRUNCATE: the captured name's row events
// are read with the structure of the table that holds the name then.
func TestCDCRenameSwapAndRecreate(t *testing.T) {
	my := testbed.MySQL(t)
	r := newCDCRig(t, my, "cdcswap")
	r.exec(t, "CREATE TABLE items (id int PRIMARY KEY, name varchar(20))", "INSERT INTO items VALUES (1, 'a')")
	spec := r.spec("items")
	s := openNew(t, r, spec)
	begin := s.StartPosition()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.exec(t, "CREATE TABLE items_new (id int PRIMARY KEY, extra int, name varchar(20))",
		"INSERT INTO items_new SELECT id, 7, name FROM items", // not captured
		"RENAME TABLE items TO items_old, items_new TO items",
		"INSERT INTO items VALUES (2, 8, 'b')",
		"INSERT INTO items_old VALUES (3, 'c')", // not captured any more
		// gh-ost / pt-online-schema-change: a copy made LIKE the table,
		// altered, filled, swapped in.
		"CREATE TABLE `_items_gho` LIKE items", "ALTER TABLE `_items_gho` ADD COLUMN added varchar(5) AFTER id, DROP COLUMN extra",
		"INSERT INTO `_items_gho` (id, added, name) SELECT id, 'x', name FROM items",
		"RENAME TABLE items TO `_items_del`, `_items_gho` TO items",
		"INSERT INTO items VALUES (5, 'new', 'e')",
		"DROP TABLE items",
		"CREATE TABLE items (id bigint PRIMARY KEY, note text CHARACTER SET latin1)",
		"INSERT INTO items VALUES (4, 'é')",
		"TRUNCATE TABLE items")
	end := r.masterPos(t)
	read := func(s cdc.ChangeStream) []string {
		var got []string
		cols := ""
		for _, ev := range readUntil(t, s, end, nil) {
			switch ev.Kind {
			case cdc.EventSchema:
				var names []string
				for _, c := range ev.Schema.Columns {
					names = append(names, c.Name)
				}
				cols = strings.Join(names, ",")
			case cdc.EventChange:
				got = append(got, ev.Change.Op.String()+" "+cols+" "+strings.Join(rowText(ev.Change.New.Values), "|"))
			}
		}
		return got
	}
	want := []string{"insert id,extra,name 2|8|b", "insert id,added,name 5|new|e", "insert id,note 4|é", "truncate id,note "}
	if got := read(s); !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	s.Close()
	// Read again from the start: the same, from the structures kept.
	again := spec
	again.From = begin
	s2, _, err := r.c.OpenStream(context.Background(), again)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := read(s2); !slices.Equal(got, want) {
		t.Fatalf("read again: got  %q\nwant %q", got, want)
	}
}
