package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/internal/testbed"
)

// cdcEnv is a fresh database with a datasource on it and an admin
// connection.
type cdcEnv struct {
	pg    *testbed.PG
	db    string
	src   *postgres.Conn
	admin *pgx.Conn
}

func newCDCEnv(t *testing.T, pg *testbed.PG) *cdcEnv {
	t.Helper()
	db := pg.NewDatabase(t, "cdc")
	// Runs before the database is dropped: a database with a logical slot
	// cannot be dropped.
	t.Cleanup(func() { dropSlots(t, pg, db) })
	o := opts(pg)
	o["database"] = db
	return &cdcEnv{pg: pg, db: db, src: openPG(t, o), admin: pg.Connect(t, db)}
}

func openPG(t *testing.T, o map[string]string) *postgres.Conn {
	t.Helper()
	c, err := postgres.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*postgres.Conn)
}

func dropSlots(t *testing.T, pg *testbed.PG, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, pg.DSNFor(db))
	if err != nil {
		t.Errorf("drop slots: %v", err)
		return
	}
	defer c.Close(ctx)
	for i := 0; ; i++ {
		var n int
		err := c.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
			WHERE database = $1 AND active_pid IS NOT NULL) x`, db).Scan(&n)
		if err == nil {
			_, err = c.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1", db)
		}
		if err == nil {
			return
		}
		if i == 50 {
			t.Errorf("drop slots: %v", err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dropInactiveSlot drops a slot once no walsender uses it any more.
func (e *cdcEnv) dropInactiveSlot(t *testing.T, slot string) {
	t.Helper()
	for i := 0; ; i++ {
		_, err := e.admin.Exec(context.Background(), "SELECT pg_drop_replication_slot($1)", slot)
		var pe *pgconn.PgError
		if err == nil || i == 100 || !errors.As(err, &pe) || pe.Code != "55006" {
			if err != nil {
				t.Fatalf("drop slot %s: %v", slot, err)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *cdcEnv) exec(t *testing.T, sqls ...string) {
	t.Helper()
	for _, q := range sqls {
		if _, err := e.admin.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// uniq makes slot and publication names no other test uses (slots are
// per server).
func uniq(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

func spec(job string, tables ...string) cdc.StreamSpec {
	s := cdc.StreamSpec{Job: job, Slot: uniq("fg_" + job), Publication: uniq("fg_" + job + "_pub")}
	for _, t := range tables {
		s.Tables = append(s.Tables, cdc.TableRef{Name: t})
	}
	return s
}

func open(t *testing.T, src *postgres.Conn, sp cdc.StreamSpec) (cdc.ChangeStream, cdc.Setup) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, setup, err := src.OpenStream(ctx, sp)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, setup
}

func start(t *testing.T, s cdc.ChangeStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
}

// readCommits reads events up to and including the n-th commit, leaving
// out heartbeats.
func readCommits(t *testing.T, s cdc.ChangeStream, n int, timeout time.Duration) []cdc.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var evs []cdc.Event
	for n > 0 {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("next after %d events (%s): %v", len(evs), showAll(evs), err)
		}
		switch ev.Kind {
		case cdc.EventHeartbeat:
			continue
		case cdc.EventCommit:
			n--
		}
		evs = append(evs, ev)
	}
	return evs
}

// quiet asserts that nothing but heartbeats arrives for d.
func quiet(t *testing.T, s cdc.ChangeStream, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		ev, err := s.Next(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if ev.Kind != cdc.EventHeartbeat {
			t.Fatalf("unexpected event %s", show(ev))
		}
	}
}

func show(ev cdc.Event) string {
	switch ev.Kind {
	case cdc.EventBegin:
		return "B"
	case cdc.EventCommit:
		return "C"
	case cdc.EventHeartbeat:
		return "H " + string(ev.Position)
	case cdc.EventSchema:
		var cols []string
		for _, c := range ev.Schema.Columns {
			k := ""
			if c.Key {
				k = "*"
			}
			cols = append(cols, c.Name+k+":"+string(c.Type.Kind))
		}
		return fmt.Sprintf("S %s(%s)", ev.Schema.Table, strings.Join(cols, ","))
	case cdc.EventChange:
		c := ev.Change
		s := fmt.Sprintf("%c %s", c.Op, c.Table)
		if c.Old.Values != nil {
			s += " old" + showRow(c.Old)
		}
		if c.New.Values != nil {
			s += " " + showRow(c.New)
		}
		return s
	}
	return fmt.Sprintf("?%d", ev.Kind)
}

func showRow(r cdc.Row) string {
	var vs []string
	for i, v := range r.Values {
		switch {
		case r.IsUnchanged(i):
			vs = append(vs, "<unchanged>")
		case v == nil:
			vs = append(vs, "NULL")
		case len(v) > 40:
			vs = append(vs, fmt.Sprintf("<%d bytes>", len(v)))
		default:
			vs = append(vs, string(v))
		}
	}
	return "[" + strings.Join(vs, " ") + "]"
}

func showAll(evs []cdc.Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, show(ev))
	}
	return strings.Join(s, "\n")
}

func wantEvents(t *testing.T, got []cdc.Event, want ...string) {
	t.Helper()
	if g := showAll(got); g != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", g, strings.Join(want, "\n"))
	}
}

func lsn(t *testing.T, p cdc.Position) pglogrepl.LSN {
	t.Helper()
	l, err := pglogrepl.ParseLSN(string(p))
	if err != nil || l.String() != string(p) {
		t.Fatalf("position %q is not an LSN as pglogrepl formats it (%v)", p, err)
	}
	return l
}

func slotFlushed(t *testing.T, e *cdcEnv, slot string) pglogrepl.LSN {
	t.Helper()
	var s string
	if err := e.admin.QueryRow(context.Background(), "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&s); err != nil {
		t.Fatalf("confirmed_flush_lsn of %s: %v", slot, err)
	}
	return lsn(t, cdc.Position(s))
}

// Rows in the snapshot plus the changes the stream delivers after it
// equal the table at the end: concurrent sessions change rows after the
// slot was made, before and while the export reads, and each change
// comes exactly once through the stream, none through the export.
func TestCDCSnapshotAndStream(t *testing.T) {
	e := newCDCEnv(t, testbed.Postgres(t))
	ctx := context.Background()
	e.exec(t, "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL, n int)",
		"INSERT INTO items SELECT g, 's', g FROM generate_series(1, 100) g")
	sp := spec("snap", "items")
	s, setup := open(t, e.src, sp)
	if setup != (cdc.Setup{CreatedSlot: true, CreatedPublication: true}) {
		t.Errorf("setup = %+v", setup)
	}
	if s.SnapshotID() == "" {
		t.Fatal("a new stream has no snapshot")
	}
	startPos := lsn(t, s.StartPosition())
	if f := slotFlushed(t, e, sp.Slot); f != startPos {
		t.Errorf("start position %s, slot's consistent point %s", startPos, f)
	}

	// Session A, after the slot was made and before the export.
	a := e.pg.Connect(t, e.db)
	txs := 0
	run := func(c *pgx.Conn, q string) {
		t.Helper()
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		txs++
	}
	run(a, "INSERT INTO items SELECT g, 'a', g FROM generate_series(101, 110) g")
	run(a, "UPDATE items SET v = 'a', n = n + 1000 WHERE id <= 10")
	run(a, "DELETE FROM items WHERE id > 90 AND id <= 100")

	// Session B, while the export is reading.
	b := e.pg.Connect(t, e.db)
	w := &hookWriter{first: func() {
		run(b, "INSERT INTO items SELECT g, 'b', g FROM generate_series(111, 120) g")
		run(b, "UPDATE items SET v = 'b' WHERE id > 10 AND id <= 20")
		run(b, "DELETE FROM items WHERE id > 80 AND id <= 90")
		run(b, "UPDATE items SET v = 'b2', n = NULL WHERE id = 101")
		run(b, "UPDATE items SET id = 200 WHERE id = 50")
	}}
	exp := data.ExportSpec{Table: "items", Snapshot: s.SnapshotID()}
	n, err := e.src.Export(ctx, exp, w)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if !w.called {
		t.Fatal("the export wrote nothing")
	}
	if n != 100 {
		t.Errorf("export wrote %d rows, want the 100 of the snapshot", n)
	}
	if cnt, err := e.src.Count(ctx, exp); err != nil || cnt != 100 {
		t.Errorf("count with snapshot = %d, %v; want 100", cnt, err)
	}
	if cnt, err := e.src.Count(ctx, data.ExportSpec{Table: "items"}); err != nil || cnt != 100 {
		t.Errorf("count now = %d, %v; want 100 (+20 -20)", cnt, err)
	}
	rows := map[string][]*string{}
	recs, err := csv.NewReader(&w.buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		rows[r[0]] = []*string{&r[1], &r[2]}
	}
	for i := 1; i <= 100; i++ {
		r := rows[fmt.Sprint(i)]
		if r == nil || *r[0] != "s" || *r[1] != fmt.Sprint(i) {
			t.Fatalf("snapshot row %d = %v, want the original", i, r)
		}
	}

	start(t, s)
	evs := readCommits(t, s, txs, 60*time.Second)
	quiet(t, s, 1500*time.Millisecond)
	str := func(v []byte) *string {
		if v == nil {
			return nil
		}
		x := string(v)
		return &x
	}
	schemas := 0
	for _, ev := range evs {
		switch ev.Kind {
		case cdc.EventSchema:
			schemas++
		case cdc.EventChange:
			c := ev.Change
			if c.Table != (cdc.TableRef{Name: "items"}) {
				t.Fatalf("change of %v", c.Table)
			}
			switch c.Op {
			case cdc.Insert:
				k := string(c.New.Values[0])
				if rows[k] != nil {
					t.Fatalf("insert of %s, which the snapshot (or an earlier change) has: overlap", k)
				}
				rows[k] = []*string{str(c.New.Values[1]), str(c.New.Values[2])}
			case cdc.Update:
				k := string(c.New.Values[0])
				if c.Old.Values != nil {
					old := string(c.Old.Values[0])
					if rows[old] == nil {
						t.Fatalf("key change of missing %s: gap", old)
					}
					delete(rows, old)
				} else if rows[k] == nil {
					t.Fatalf("update of missing %s: gap", k)
				}
				rows[k] = []*string{str(c.New.Values[1]), str(c.New.Values[2])}
			case cdc.Delete:
				k := string(c.Old.Values[0])
				if rows[k] == nil {
					t.Fatalf("delete of missing %s: gap", k)
				}
				delete(rows, k)
			default:
				t.Fatalf("unexpected %s", show(ev))
			}
		}
	}
	if schemas != 1 {
		t.Errorf("%d schema events, want 1", schemas)
	}
	final := map[string][]*string{}
	r, err := e.admin.Query(ctx, "SELECT id::text, v, n::text FROM items")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var id string
		var v, n *string
		if err := r.Scan(&id, &v, &n); err != nil {
			t.Fatal(err)
		}
		final[id] = []*string{v, n}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(final) != 100 {
		t.Fatalf("final table has %d rows", len(final))
	}
	deref := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return *p
	}
	if len(rows) != len(final) {
		t.Errorf("snapshot + stream has %d rows, the table %d", len(rows), len(final))
	}
	for k, f := range final {
		g := rows[k]
		if g == nil || deref(g[0]) != deref(f[0]) || deref(g[1]) != deref(f[1]) {
			t.Errorf("row %s: snapshot + stream %v, table %s %s", k, g, deref(f[0]), deref(f[1]))
		}
	}
	t.Logf("%d transactions, %d events after the snapshot", txs, len(evs))
}

// hookWriter runs first once, on the first write, before taking the bytes.
type hookWriter struct {
	buf    bytes.Buffer
	first  func()
	called bool
}

func (w *hookWriter) Write(p []byte) (int, error) {
	if !w.called {
		w.called = true
		w.first()
	}
	return w.buf.Write(p)
}

func TestCDCOperations(t *testing.T) {
	e := newCDCEnv(t, testbed.Postgres(t))
	ctx := context.Background()
	e.exec(t, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
		`CREATE TABLE t (id int PRIMARY KEY, a text, big text, ts timestamptz, f float8, b bytea, ok bool,
			iv interval, d date, m mood, nn int)`,
		"ALTER TABLE t ALTER COLUMN big SET STORAGE EXTERNAL",
		"CREATE TABLE other (id int PRIMARY KEY)")
	s, _ := open(t, e.src, spec("ops", "t"))
	start(t, s)

	e.exec(t, `BEGIN;
		INSERT INTO t VALUES (1, 'x', NULL, '2024-01-02 03:04:05.5+02', 0.1, '\xdeadbeef', true, '1 day 2 hours', '2024-02-29', 'happy', NULL);
		INSERT INTO t (id, a, f) VALUES (2, '', 1e300);
		INSERT INTO other VALUES (1);
		UPDATE t SET a = 'y' WHERE id = 1;
		DELETE FROM t WHERE id = 2;
		COMMIT`)
	const row1 = "2024-01-02 01:04:05.5+00 0.1 \\xdeadbeef t 1 day 02:00:00 2024-02-29 happy NULL"
	evs := readCommits(t, s, 1, 30*time.Second)
	wantEvents(t, evs,
		"B",
		"S t(id*:int32,a:text,big:text,ts:timestamptz,f:float64,b:blob,ok:bool,iv:interval,d:date,m:enum,nn:int32)",
		"I t [1 x NULL "+row1+"]",
		"I t [2  NULL NULL 1e+300 NULL NULL NULL NULL NULL NULL]",
		"U t [1 y NULL "+row1+"]",
		"D t old[2 NULL NULL NULL NULL NULL NULL NULL NULL NULL NULL]",
		"C")
	if len(evs) == 7 {
		if v := evs[3].Change.New.Values[1]; v == nil || len(v) != 0 {
			t.Errorf("empty string arrived as %#v", v)
		}
		sch := evs[1].Schema
		if m := sch.Columns[9].Type; m.Kind != schema.Enum || strings.Join(m.Values, ",") != "sad,ok,happy" {
			t.Errorf("enum column typed %+v, want DescribeTables' type", m)
		}
		if sch.Table != (cdc.TableRef{Name: "t"}) {
			t.Errorf("schema table %+v", sch.Table)
		}
		if evs[0].CommitTime.IsZero() || !evs[0].CommitTime.Equal(evs[6].CommitTime) || time.Since(evs[0].CommitTime) > time.Minute {
			t.Errorf("commit times %v, %v", evs[0].CommitTime, evs[6].CommitTime)
		}
	}

	// A key change carries the old key; an update that keeps the key
	// does not.
	e.exec(t, "UPDATE t SET id = 10 WHERE id = 1", "UPDATE t SET nn = 7 WHERE id = 10")
	evs = readCommits(t, s, 2, 30*time.Second)
	wantEvents(t, evs,
		"B", "U t old[1 NULL NULL NULL NULL NULL NULL NULL NULL NULL NULL] [10 y NULL "+row1+"]", "C",
		"B", "U t [10 y NULL "+strings.TrimSuffix(row1, "NULL")+"7]", "C")

	// A 100 kB value stored out of line is not sent again when another
	// column changes.
	e.exec(t, "UPDATE t SET big = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 3200) g), nn = NULL WHERE id = 10",
		"UPDATE t SET a = 'z' WHERE id = 10")
	evs = readCommits(t, s, 2, 30*time.Second)
	wantEvents(t, evs,
		"B", "U t [10 y <102400 bytes> "+row1+"]", "C",
		"B", "U t [10 z <unchanged> "+row1+"]", "C")
	if len(evs) == 6 {
		var want string
		if err := e.admin.QueryRow(ctx, "SELECT big FROM t WHERE id = 10").Scan(&want); err != nil {
			t.Fatal(err)
		}
		if string(evs[1].Change.New.Values[2]) != want {
			t.Error("the 100 kB value differs")
		}
		if v := evs[4].Change.New.Values[2]; v != nil {
			t.Errorf("an unchanged value has %d bytes", len(v))
		}
	}

	// Columns added and dropped: a schema event before the next change.
	e.exec(t, "ALTER TABLE t ADD COLUMN c int", "INSERT INTO t (id, c) VALUES (20, 5)",
		"ALTER TABLE t DROP COLUMN a", "INSERT INTO t (id) VALUES (21)",
		"ALTER TABLE t ALTER COLUMN c SET DEFAULT 3", "INSERT INTO t (id) VALUES (22)")
	evs = readCommits(t, s, 3, 30*time.Second)
	const nulls9 = "NULL NULL NULL NULL NULL NULL NULL NULL NULL"
	wantEvents(t, evs,
		"B",
		"S t(id*:int32,a:text,big:text,ts:timestamptz,f:float64,b:blob,ok:bool,iv:interval,d:date,m:enum,nn:int32,c:int32)",
		"I t [20 NULL "+nulls9+" 5]", "C",
		"B",
		"S t(id*:int32,big:text,ts:timestamptz,f:float64,b:blob,ok:bool,iv:interval,d:date,m:enum,nn:int32,c:int32)",
		"I t [21 "+nulls9+" NULL]", "C",
		// A new default changes no column: no schema event.
		"B", "I t [22 "+nulls9+" 3]", "C")

	// Truncate, and a delete of the moved row.
	e.exec(t, "DELETE FROM t WHERE id = 10", "TRUNCATE t, other")
	evs = readCommits(t, s, 2, 30*time.Second)
	wantEvents(t, evs,
		"B", "D t old[10 "+nulls9+" NULL]", "C",
		"B", "T t", "C")

	// Positions grow with each commit.
	var last cdc.Position
	for _, ev := range evs {
		if ev.Kind == cdc.EventCommit {
			if last != "" {
				if c, err := e.src.ComparePositions(last, ev.Position); err != nil || c >= 0 {
					t.Errorf("compare %s %s = %d, %v", last, ev.Position, c, err)
				}
			}
			lsn(t, ev.Position)
			last = ev.Position
		}
	}

	// Cancelling Next returns promptly, and the stream goes on after it.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(200*time.Millisecond, cancel)
	began := time.Now()
	for {
		ev, err := s.Next(cctx)
		if err == nil && ev.Kind == cdc.EventHeartbeat {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled next = %s, %v", show(ev), err)
		}
		break
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("cancelled Next returned after %s", d)
	}
	e.exec(t, "INSERT INTO t (id) VALUES (30)")
	wantEvents(t, readCommits(t, s, 1, 30*time.Second), "B", "I t [30 "+nulls9+" 3]", "C")
}

// Resuming delivers the transactions after From and nothing before it,
// also when the server resends from an older confirmed position.
func TestCDCResume(t *testing.T) {
	e := newCDCEnv(t, testbed.Postgres(t))
	e.exec(t, "CREATE TABLE r (id int PRIMARY KEY)")
	sp := spec("resume", "r")
	s, _ := open(t, e.src, sp)
	start(t, s)
	e.exec(t, "INSERT INTO r VALUES (1)", "INSERT INTO r VALUES (2)", "INSERT INTO r VALUES (3)")
	evs := readCommits(t, s, 3, 30*time.Second)
	var pos []cdc.Position
	for _, ev := range evs {
		if ev.Kind == cdc.EventCommit {
			pos = append(pos, ev.Position)
		}
	}
	ctx := context.Background()
	// Ack from another goroutine while Next waits (as a pipeline's
	// acknowledger does).
	acked := make(chan error, 1)
	time.AfterFunc(200*time.Millisecond, func() { acked <- s.Ack(ctx, pos[0]) })
	quiet(t, s, time.Second)
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, "FF/0"); err == nil {
		t.Error("ack past the delivered position accepted")
	}
	waitFlushed(t, e, sp.Slot, lsn(t, pos[0]))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	e.exec(t, "INSERT INTO r VALUES (4)")

	sp.From = pos[0]
	s2, setup := open(t, e.src, sp)
	if setup != (cdc.Setup{}) || s2.SnapshotID() != "" || s2.StartPosition() != pos[0] {
		t.Errorf("resumed: setup %+v, snapshot %q, start %s", setup, s2.SnapshotID(), s2.StartPosition())
	}
	start(t, s2)
	sch := "S r(id*:int32)"
	wantEvents(t, readCommits(t, s2, 3, 30*time.Second),
		"B", sch, "I r [2]", "C", "B", "I r [3]", "C", "B", "I r [4]", "C")
	s2.Close()

	// The server starts at its confirmed position (pos[0]) again; the
	// stream skips what lies before From.
	sp.From = pos[2]
	s3, _ := open(t, e.src, sp)
	start(t, s3)
	wantEvents(t, readCommits(t, s3, 1, 30*time.Second), "B", sch, "I r [4]", "C")
	quiet(t, s3, time.Second)
}

// Under REPLICA IDENTITY FULL every update carries the old row, but only
// a key change sets Old, and the key is the primary key (pgoutput flags
// every column). A partitioned table's changes arrive as its own.
func TestCDCFullIdentityAndPartitions(t *testing.T) {
	e := newCDCEnv(t, testbed.Postgres(t))
	e.exec(t, "CREATE TABLE f (id int PRIMARY KEY, v text)", "ALTER TABLE f REPLICA IDENTITY FULL",
		"CREATE TABLE p (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)",
		"CREATE TABLE p_eu PARTITION OF p FOR VALUES IN ('eu')", "CREATE TABLE p_us PARTITION OF p FOR VALUES IN ('us')",
		"INSERT INTO f VALUES (1, 'a')")
	if err := e.src.CheckCDC(context.Background(), []cdc.TableRef{{Name: "f"}, {Name: "p"}}); err != nil {
		t.Fatal(err)
	}
	s, _ := open(t, e.src, spec("full", "f", "p"))
	start(t, s)
	e.exec(t, "UPDATE f SET v = 'b' WHERE id = 1", "UPDATE f SET id = 2 WHERE id = 1", "DELETE FROM f WHERE id = 2",
		"INSERT INTO p VALUES (1, 'eu', 'x'), (2, 'us', 'y')", "UPDATE p SET v = 'z' WHERE id = 2",
		"UPDATE p SET region = 'eu' WHERE id = 2", "DELETE FROM p WHERE id = 1")
	wantEvents(t, readCommits(t, s, 7, 30*time.Second),
		"B", "S f(id*:int32,v:text)", "U f [1 b]", "C",
		"B", "U f old[1 b] [2 b]", "C",
		"B", "D f old[2 b]", "C",
		"B", "S p(id*:int32,region*:text,v:text)", "I p [1 eu x]", "I p [2 us y]", "C",
		"B", "U p [2 us z]", "C",
		// Moving a row to another partition is a delete and an insert.
		"B", "D p old[2 us NULL]", "I p [2 eu z]", "C",
		"B", "D p old[1 eu NULL]", "C")
}

func waitFlushed(t *testing.T, e *cdcEnv, slot string, want pglogrepl.LSN) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := slotFlushed(t, e, slot)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("confirmed_flush_lsn of %s is %s, want %s", slot, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With nothing to stream, heartbeats carry the server's WAL position and
// acknowledging one advances the slot; status updates keep going out.
func TestCDCIdleHeartbeat(t *testing.T) {
	e := newCDCEnv(t, testbed.Postgres(t))
	ctx := context.Background()
	e.exec(t, "CREATE TABLE h (id int PRIMARY KEY)", "CREATE TABLE unpublished (id int PRIMARY KEY)")
	sp := spec("idle", "h")
	s, _ := open(t, e.src, sp)
	start(t, s)
	e.exec(t, "INSERT INTO h VALUES (1)")
	evs := readCommits(t, s, 1, 30*time.Second)
	commit := lsn(t, evs[len(evs)-1].Position)
	// WAL the stream has nothing to send for (another table; on a real
	// server also other databases, checkpoints, running-xacts records).
	e.exec(t, "INSERT INTO unpublished VALUES (1)")
	before := slotFlushed(t, e, sp.Slot)
	if before >= commit {
		t.Fatalf("slot confirmed %s before any ack (commit %s)", before, commit)
	}
	var replyStart time.Time
	replyTime := func() time.Time { // zero before the first status update
		var rt *time.Time
		err := e.admin.QueryRow(ctx, `SELECT r.reply_time FROM pg_stat_replication r
			JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $1`, sp.Slot).Scan(&rt)
		if err != nil {
			t.Fatalf("reply_time: %v", err)
		}
		if rt == nil {
			return time.Time{}
		}
		return *rt
	}
	replyStart = time.Now()
	first := replyTime()

	var beats []pglogrepl.LSN
	nctx, cancel := context.WithTimeout(ctx, 12*time.Second)
	for {
		ev, err := s.Next(nctx)
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != cdc.EventHeartbeat {
			t.Fatalf("unexpected %s", show(ev))
		}
		beats = append(beats, lsn(t, ev.Position))
		t.Logf("heartbeat %s after %s", ev.Position, time.Since(replyStart).Round(time.Millisecond))
	}
	cancel()
	if len(beats) == 0 {
		t.Fatal("no heartbeat in 12 s")
	}
	for i, b := range beats {
		if b <= commit || i > 0 && b <= beats[i-1] {
			t.Fatalf("heartbeats %v after commit %s: not increasing past it", beats, commit)
		}
	}
	// No Ack during the 12 s: only the periodic status update replied.
	last := replyTime()
	if !last.After(first) || !last.After(replyStart.Add(time.Second)) {
		t.Errorf("no status update in 12 s idle: reply_time %v then %v", first, last)
	}
	t.Logf("status updates: reply_time %v at the start, %v after 12 s idle", first, last)
	h := beats[len(beats)-1]
	if err := s.Ack(ctx, cdc.Position(h.String())); err != nil {
		t.Fatal(err)
	}
	waitFlushed(t, e, sp.Slot, h)
	t.Logf("slot confirmed_flush_lsn %s -> %s (last commit %s)", before, slotFlushed(t, e, sp.Slot), commit)
}

// One 200,000-row transaction streams through change by change.
func TestCDCLargeTransaction(t *testing.T) {
	e := newCDCEnv(t, testbed.Postgres(t))
	e.exec(t, "CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL)")
	s, _ := open(t, e.src, spec("large", "big"))
	start(t, s)
	const rows = 200000
	began := time.Now()
	e.exec(t, fmt.Sprintf("INSERT INTO big SELECT g, md5(g::text) || md5((-g)::text) FROM generate_series(1, %d) g", rows))
	t.Logf("insert took %s", time.Since(began).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	sample := func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	began = time.Now()
	n, begins, next := 0, 0, 1
	for done := false; !done; {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("after %d changes: %v", n, err)
		}
		switch ev.Kind {
		case cdc.EventBegin:
			begins++
		case cdc.EventChange:
			if ev.Change.Op != cdc.Insert || string(ev.Change.New.Values[0]) != fmt.Sprint(next) {
				t.Fatalf("change %d: %s", n, show(ev))
			}
			next++
			n++
			if n%1000 == 0 {
				sample()
			}
		case cdc.EventCommit:
			done = true
		}
	}
	sample()
	if begins != 1 || n != rows {
		t.Errorf("%d begins, %d inserts; want 1, %d", begins, n, rows)
	}
	const limit = 100 << 20
	t.Logf("%d changes in %s; heap in use %.1f MB before, peak %.1f MB", n, time.Since(began).Round(time.Millisecond),
		float64(base)/(1<<20), float64(peak)/(1<<20))
	if peak > limit {
		t.Errorf("peak heap in use %d MB, want under %d MB", peak>>20, limit>>20)
	}
}

func pgErr(t *testing.T, err error, code string) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("err = %v, want SQLSTATE %s", err, code)
	}
	return pe
}

func TestCDCCheck(t *testing.T) {
	pg := testbed.Postgres(t)
	e := newCDCEnv(t, pg)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE good (id int PRIMARY KEY)", "CREATE TABLE full_id (id int PRIMARY KEY, v text)",
		"ALTER TABLE full_id REPLICA IDENTITY FULL", "CREATE TABLE nopk (id int, v text)",
		"CREATE TABLE nothing (id int PRIMARY KEY)", "ALTER TABLE nothing REPLICA IDENTITY NOTHING",
		"CREATE TABLE byindex (id int PRIMARY KEY, u int NOT NULL UNIQUE)", "ALTER TABLE byindex REPLICA IDENTITY USING INDEX byindex_u_key")
	ref := func(n string) []cdc.TableRef { return []cdc.TableRef{{Name: n}} }
	if err := e.src.CheckCDC(ctx, []cdc.TableRef{{Name: "good"}, {Schema: "public", Name: "full_id"}}); err != nil {
		t.Errorf("good tables: %v", err)
	}

	err := e.src.CheckCDC(ctx, ref("nopk"))
	pe := pgErr(t, err, "55000")
	if pe.TableName != "nopk" || !strings.Contains(pe.Message, `"public"."nopk"`) || !strings.Contains(pe.Hint, "ADD PRIMARY KEY") {
		t.Errorf("no primary key: %+v", pe)
	}
	t.Logf("no primary key: %s (hint: %s)", pe.Message, pe.Hint)

	pe = pgErr(t, e.src.CheckCDC(ctx, ref("nothing")), "55000")
	if !strings.Contains(pe.Message, "REPLICA IDENTITY NOTHING") || !strings.Contains(pe.Hint, `ALTER TABLE "public"."nothing" REPLICA IDENTITY DEFAULT`) {
		t.Errorf("replica identity nothing: %+v", pe)
	}
	pe = pgErr(t, e.src.CheckCDC(ctx, ref("byindex")), "55000")
	if !strings.Contains(pe.Hint, "REPLICA IDENTITY DEFAULT") {
		t.Errorf("replica identity using another index: %+v", pe)
	}
	pgErr(t, e.src.CheckCDC(ctx, ref("missing")), "42P01")

	// OpenStream refuses such a table before making a publication (which
	// would make the table's UPDATEs fail).
	sp := spec("check", "nopk")
	if _, _, err := e.src.OpenStream(ctx, sp); err == nil {
		t.Fatal("stream opened on a table without primary key")
	}
	var pubs int
	if err := e.admin.QueryRow(ctx, "SELECT count(*) FROM pg_publication").Scan(&pubs); err != nil || pubs != 0 {
		t.Errorf("%d publications, %v", pubs, err)
	}
	e.exec(t, "UPDATE nopk SET v = 'still works'")

	// A role without REPLICATION: the server's own refusal.
	role := uniq("fg_norepl")
	e.exec(t, "CREATE ROLE "+role+" LOGIN PASSWORD 'norepl-pw-1'", "GRANT SELECT ON good TO "+role)
	t.Cleanup(func() { e.admin.Exec(context.Background(), "DROP OWNED BY "+role+"; DROP ROLE "+role) })
	o := opts(pg)
	o["database"], o["user"], o["password"] = e.db, role, "norepl-pw-1"
	err = openPG(t, o).CheckCDC(ctx, ref("good"))
	pe = pgErr(t, err, "42501")
	if pe.Severity != "FATAL" {
		t.Errorf("not the server's error: %+v", pe)
	}
	t.Logf("role without REPLICATION: %v", err)
	e.exec(t, "ALTER ROLE "+role+" REPLICATION")
	if err := openPG(t, o).CheckCDC(ctx, ref("good")); err != nil {
		t.Errorf("role with REPLICATION: %v", err)
	}

	// wal_level = replica.
	rpg := testbed.PostgresWith(t, "wal_level=replica")
	re := newCDCEnv(t, rpg)
	re.exec(t, "CREATE TABLE good (id int PRIMARY KEY)")
	pe = pgErr(t, re.src.CheckCDC(ctx, ref("good")), "55000")
	if !strings.Contains(pe.Message, "wal_level") || !strings.Contains(pe.Hint, "ALTER SYSTEM SET wal_level = logical") {
		t.Errorf("wal_level: %+v", pe)
	}
	t.Logf("wal_level replica: %s (hint: %s)", pe.Message, pe.Hint)
	// Several problems: each is there.
	re.exec(t, "CREATE TABLE nopk (id int)")
	err = re.src.CheckCDC(ctx, ref("nopk"))
	if !strings.Contains(err.Error(), "wal_level") || !strings.Contains(err.Error(), "no primary key") {
		t.Errorf("two problems: %v", err)
	}

	// No replication slots, no WAL senders.
	ne := newCDCEnv(t, testbed.PostgresWith(t, "max_replication_slots=0", "max_wal_senders=0"))
	ne.exec(t, "CREATE TABLE good (id int PRIMARY KEY)")
	err = ne.src.CheckCDC(ctx, ref("good"))
	t.Logf("no slots, no senders: %v", err)
	pe = pgErr(t, err, "55000")
	if !strings.Contains(pe.Hint, "max_replication_slots") {
		t.Errorf("first problem %+v", pe)
	}
	if !strings.Contains(err.Error(), "max_wal_senders is 0") || strings.Contains(err.Error(), "wal_level") {
		t.Errorf("err = %v", err)
	}
}

// A slot dropped behind the stream's back, or one that already confirmed
// past the checkpoint, cannot resume.
func TestCDCPositionLost(t *testing.T) {
	e := newCDCEnv(t, testbed.Postgres(t))
	ctx := context.Background()
	e.exec(t, "CREATE TABLE l (id int PRIMARY KEY)")
	sp := spec("lost", "l")
	s, _ := open(t, e.src, sp)
	start(t, s)
	e.exec(t, "INSERT INTO l VALUES (1)", "INSERT INTO l VALUES (2)")
	var pos []cdc.Position
	for _, ev := range readCommits(t, s, 2, 30*time.Second) {
		if ev.Kind == cdc.EventCommit {
			pos = append(pos, ev.Position)
		}
	}
	if err := s.Ack(ctx, pos[1]); err != nil {
		t.Fatal(err)
	}
	waitFlushed(t, e, sp.Slot, lsn(t, pos[1]))
	s.Close()

	from := sp
	from.From = pos[0]
	_, _, err := e.src.OpenStream(ctx, from)
	if !errors.Is(err, cdc.ErrPositionLost) || !strings.Contains(err.Error(), "already confirmed") {
		t.Errorf("from before the confirmed position: %v", err)
	}

	// The closed stream's walsender may not have exited yet.
	e.dropInactiveSlot(t, sp.Slot)
	from.From = pos[1]
	_, setup, err := e.src.OpenStream(ctx, from)
	t.Logf("error: %v", err)
	if !errors.Is(err, cdc.ErrPositionLost) {
		t.Fatalf("err = %v, want ErrPositionLost", err)
	}
	pe := pgErr(t, err, "55000")
	if !strings.Contains(err.Error(), "gone") || !strings.Contains(err.Error(), "RESTART SYNC JOB lost FROM SNAPSHOT") || !strings.Contains(pe.Hint, "RESTART SYNC JOB") {
		t.Errorf("message %q", err)
	}
	if setup != (cdc.Setup{}) {
		t.Errorf("setup %+v", setup)
	}
	var slots int
	if err := e.admin.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", sp.Slot).Scan(&slots); err != nil || slots != 0 {
		t.Errorf("a lost stream made a slot: %d, %v", slots, err)
	}

	// A slot of that name that is not ours to resume.
	e.exec(t, "SELECT pg_create_physical_replication_slot('"+sp.Slot+"')")
	_, _, err = e.src.OpenStream(ctx, from)
	if pe := pgErr(t, err, "55000"); errors.Is(err, cdc.ErrPositionLost) || !strings.Contains(pe.Message, "not a pgoutput slot") {
		t.Errorf("physical slot: %v", err)
	}
	e.exec(t, "SELECT pg_drop_replication_slot('"+sp.Slot+"')")

	// A slot invalidated because the WAL it needed went
	// (max_slot_wal_keep_size).
	ie := newCDCEnv(t, testbed.PostgresWith(t, "max_slot_wal_keep_size=1MB"))
	ie.exec(t, "CREATE TABLE l (id int PRIMARY KEY)")
	isp := spec("lost", "l")
	is, _ := open(t, ie.src, isp)
	is.Close()
	status := ""
	for i := 0; i < 20 && status != "lost"; i++ {
		ie.exec(t, fmt.Sprintf("INSERT INTO l VALUES (%d)", i), "SELECT pg_switch_wal()", "CHECKPOINT")
		if err := ie.admin.QueryRow(ctx, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1", isp.Slot).Scan(&status); err != nil {
			t.Fatal(err)
		}
	}
	if status != "lost" {
		t.Fatalf("slot wal_status %q, want lost", status)
	}
	isp.From = is.StartPosition()
	_, _, err = ie.src.OpenStream(ctx, isp)
	t.Logf("invalidated: %v", err)
	if !errors.Is(err, cdc.ErrPositionLost) || !strings.Contains(err.Error(), "invalidated") {
		t.Errorf("invalidated slot: %v", err)
	}
}

func TestCDCDrop(t *testing.T) {
	e := newCDCEnv(t, testbed.Postgres(t))
	ctx := context.Background()
	e.exec(t, "CREATE TABLE d (id int PRIMARY KEY)", "CREATE TABLE d2 (id int PRIMARY KEY)")
	count := func(q, name string) int {
		t.Helper()
		var n int
		if err := e.admin.QueryRow(ctx, q, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	slots := func(name string) int {
		return count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", name)
	}
	pubs := func(name string) int { return count("SELECT count(*) FROM pg_publication WHERE pubname = $1", name) }
	pubTables := func(name string) string {
		var s string
		if err := e.admin.QueryRow(ctx, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = $1", name).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	// A user's publication is used (its tables made to match) and kept.
	sp := spec("drop", "d")
	e.exec(t, "CREATE PUBLICATION "+sp.Publication+" FOR TABLE d2 WITH (publish = 'insert')")
	s, setup := open(t, e.src, sp)
	if setup != (cdc.Setup{CreatedSlot: true}) {
		t.Errorf("setup %+v", setup)
	}
	if got := pubTables(sp.Publication); got != "d" {
		t.Errorf("publication tables %q, want d", got)
	}
	var upd, del bool
	if err := e.admin.QueryRow(ctx, "SELECT pubupdate, pubdelete FROM pg_publication WHERE pubname = $1", sp.Publication).Scan(&upd, &del); err != nil || !upd || !del {
		t.Errorf("publication publishes update %v, delete %v (%v)", upd, del, err)
	}
	start(t, s)
	// Dropped while streaming: the walsender is ended first.
	if err := e.src.DropCDC(ctx, sp, setup); err != nil {
		t.Fatal(err)
	}
	if slots(sp.Slot) != 0 || pubs(sp.Publication) != 1 {
		t.Errorf("after drop: %d slots, %d publications; want 0, 1", slots(sp.Slot), pubs(sp.Publication))
	}
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		ev, err := s.Next(nctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Error("the stream went on after its slot was dropped")
			}
			t.Logf("stream after drop: %v", err)
			break
		}
		if ev.Kind != cdc.EventHeartbeat {
			t.Fatalf("unexpected %s", show(ev))
		}
	}
	if err := e.src.DropCDC(ctx, sp, setup); err != nil {
		t.Errorf("dropping again: %v", err)
	}

	// A slot of that name that flowgate cannot have made for the job (of
	// another plugin, or of another database: slot names are per server)
	// is left alone and the stream refused; nothing is left behind.
	sp2 := spec("drop2", "d", "d2")
	other := e.pg.NewDatabase(t, "cdcother")
	t.Cleanup(func() { dropSlots(t, e.pg, other) })
	otherAdmin := e.pg.Connect(t, other)
	for _, mk := range []struct {
		conn *pgx.Conn
		sql  string
		want string
	}{
		{e.admin, "SELECT pg_create_logical_replication_slot('" + sp2.Slot + "', 'test_decoding')", "plugin test_decoding"},
		{otherAdmin, "SELECT pg_create_logical_replication_slot('" + sp2.Slot + "', 'pgoutput')", `database "` + other + `"`},
		{e.admin, "SELECT pg_create_physical_replication_slot('" + sp2.Slot + "')", "a physical slot"},
	} {
		if _, err := mk.conn.Exec(ctx, mk.sql); err != nil {
			t.Fatal(err)
		}
		_, setup, err := e.src.OpenStream(ctx, sp2)
		pe := pgErr(t, err, "55000")
		if !strings.Contains(pe.Message, "already exists") || !strings.Contains(pe.Message, mk.want) || !strings.Contains(pe.Hint, "slot_name") {
			t.Errorf("%s: %q hint %q", mk.sql, pe.Message, pe.Hint)
		}
		if setup != (cdc.Setup{}) || slots(sp2.Slot) != 1 || pubs(sp2.Publication) != 0 {
			t.Errorf("%s: setup %+v, %d slots, %d publications; want the slot kept and no publication", mk.sql, setup, slots(sp2.Slot), pubs(sp2.Publication))
		}
		if _, err := mk.conn.Exec(ctx, "SELECT pg_drop_replication_slot('"+sp2.Slot+"')"); err != nil {
			t.Fatal(err)
		}
	}

	// Both created, both dropped; a leftover pgoutput slot of this
	// database (a start that crashed before recording it) is replaced.
	e.exec(t, "SELECT pg_create_logical_replication_slot('"+sp2.Slot+"', 'pgoutput')")
	var leftover string
	if err := e.admin.QueryRow(ctx, "SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1", sp2.Slot).Scan(&leftover); err != nil {
		t.Fatal(err)
	}
	e.exec(t, "CREATE TABLE filler AS SELECT generate_series(1, 1000) g")
	s2, setup2 := open(t, e.src, sp2)
	if setup2 != (cdc.Setup{CreatedSlot: true, CreatedPublication: true}) {
		t.Errorf("setup %+v", setup2)
	}
	var replaced bool
	if err := e.admin.QueryRow(ctx, "SELECT restart_lsn > $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1 AND plugin = 'pgoutput'",
		sp2.Slot, leftover).Scan(&replaced); err != nil || !replaced {
		t.Errorf("the leftover slot was not replaced: %v, %v", replaced, err)
	}
	if got := pubTables(sp2.Publication); got != "d,d2" {
		t.Errorf("publication tables %q", got)
	}
	s2.Close()
	// Setup says nothing was created: nothing goes.
	if err := e.src.DropCDC(ctx, sp2, cdc.Setup{}); err != nil || slots(sp2.Slot) != 1 || pubs(sp2.Publication) != 1 {
		t.Errorf("drop with empty setup: %v, %d slots, %d publications", err, slots(sp2.Slot), pubs(sp2.Publication))
	}
	if err := e.src.DropCDC(ctx, sp2, setup2); err != nil || slots(sp2.Slot) != 0 || pubs(sp2.Publication) != 0 {
		t.Errorf("drop: %v, %d slots, %d publications", err, slots(sp2.Slot), pubs(sp2.Publication))
	}
}

func TestComparePositions(t *testing.T) {
	var c postgres.Conn
	for _, tc := range []struct {
		a, b cdc.Position
		want int
	}{{"0/16B3748", "0/16B3748", 0}, {"0/16B3748", "0/16B3749", -1}, {"1/0", "0/FFFFFFFF", 1}, {"A/1", "9/FFFFFFFF", 1}} {
		got, err := c.ComparePositions(tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("compare %s %s = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	if _, err := c.ComparePositions("nonsense", "0/1"); err == nil {
		t.Error("nonsense position accepted")
	}
	sorted := []string{"0/2", "0/10", "1/0"}
	if !sort.SliceIsSorted(sorted, func(i, j int) bool {
		r, _ := c.ComparePositions(cdc.Position(sorted[i]), cdc.Position(sorted[j]))
		return r < 0
	}) {
		t.Error("LSNs compare as strings")
	}
}

var _ io.Writer = (*hookWriter)(nil)
