// Package cdctest holds the scenarios every cdc.ChangeApplier must pass,
// written once and run against real targets from each connector's
// apply_test.go: the connector opens a fresh Target per scenario and Run
// does the rest.
package cdctest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// Target is one empty database under test.
type Target struct {
	Dialect  string // schema.Postgres, schema.MySQL or schema.SQLite
	Applier  cdc.ChangeApplier
	DDL      schema.DDLTarget
	Importer data.Importer
	Exporter data.Exporter
	// TimeZone is a non-UTC session time zone the target understands.
	TimeZone string
	// Exec runs SQL on a connection of its own, outside any apply
	// transaction.
	Exec func(t testing.TB, q string)
	// Query runs a query on a connection of its own (so it sees only
	// committed data) and returns each value as text, nil for NULL.
	Query func(t testing.TB, q string) [][]*string
	// ColumnType returns a column's declared type as the database
	// reports it, and whether it is nullable.
	ColumnType func(t testing.TB, table, column string) (string, bool)
	// DBError reports whether err wraps the database's own error type.
	DBError func(err error) bool

	// jobSuffix makes Run's job names unique: a MySQL server's checkpoint
	// database is shared by every test that uses it.
	jobSuffix string
}

// job is the job name the scenarios' name stands for.
func (tg *Target) job(name string) string { return name + tg.jobSuffix }

// Run runs every scenario, each against a fresh target from open.
func Run(t *testing.T, open func(t *testing.T) *Target) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			tg := open(t)
			tg.jobSuffix = "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			s.run(t, tg)
		})
	}
}

var scenarios = []struct {
	name string
	run  func(t *testing.T, tg *Target)
}{
	{"InsertUpdateDelete", testInsertUpdateDelete},
	{"KeyChange", testKeyChange},
	{"Unchanged", testUnchanged},
	{"SameKeyInOneBatch", testSameKey},
	{"Idempotent", testIdempotent},
	{"Truncate", testTruncate},
	{"Atomic", testAtomic},
	{"Rollback", testRollback},
	{"BadData", testBadData},
	{"Checkpoints", testCheckpoints},
	{"AddColumn", testAddColumn},
	{"Values", testValues},
	{"Limits", testLimits},
	{"Throughput", testThroughput},
	{"ImportReplace", testImportReplace},
}

// Ctx is a test context with a generous deadline.
func Ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return c
}

// Unchanged marks a value the source did not send (unchanged TOAST).
var Unchanged = unchanged{}

type unchanged struct{}

// row turns Go values into a row: string or []byte is a value, nil is
// NULL, Unchanged is not sent, integers are written in decimal.
func row(vals ...any) cdc.Row {
	var r cdc.Row
	r.Values = make([][]byte, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case nil:
		case string:
			r.Values[i] = []byte(x)
		case []byte:
			r.Values[i] = x
		case int:
			r.Values[i] = []byte(strconv.Itoa(x))
		case unchanged:
			if r.Unchanged == nil {
				r.Unchanged = make([]bool, len(vals))
			}
			r.Unchanged[i] = true
		default:
			panic(fmt.Sprintf("cdctest: value %T", v))
		}
	}
	return r
}

// Ins, Upd, Del, Move and Trunc build changes of table tt.
func Ins(tt *cdc.TargetTable, vals ...any) cdc.MappedChange {
	return cdc.MappedChange{Target: tt, Op: cdc.Insert, New: row(vals...)}
}

func Upd(tt *cdc.TargetTable, vals ...any) cdc.MappedChange {
	return cdc.MappedChange{Target: tt, Op: cdc.Update, New: row(vals...)}
}

// Del deletes by key: key values in Key order.
func Del(tt *cdc.TargetTable, key ...any) cdc.MappedChange {
	return cdc.MappedChange{Target: tt, Op: cdc.Delete, Old: oldKey(tt, key)}
}

// Move is an update from the old key (values in Key order) to vals.
func Move(tt *cdc.TargetTable, old []any, vals ...any) cdc.MappedChange {
	return cdc.MappedChange{Target: tt, Op: cdc.Update, Old: oldKey(tt, old), New: row(vals...)}
}

func Trunc(tt *cdc.TargetTable) cdc.MappedChange {
	return cdc.MappedChange{Target: tt, Op: cdc.Truncate}
}

func oldKey(tt *cdc.TargetTable, key []any) cdc.Row {
	vals := make([]any, len(tt.Columns))
	for i, k := range tt.Key {
		vals[k] = key[i]
	}
	return row(vals...)
}

// Col is a column of kind k.
func Col(name string, k schema.Kind) schema.Column {
	return schema.Column{Name: name, Type: schema.Type{Kind: k}, Nullable: true}
}

// Create creates a table with the connector's own DDL rendering and
// returns it as a change target (the key is the first nkey columns).
func Create(t testing.TB, tg *Target, name string, nkey int, cols ...schema.Column) *cdc.TargetTable {
	t.Helper()
	tab := schema.Table{Name: name, Columns: cols, Dialect: tg.Dialect}
	for i := 0; i < nkey; i++ {
		tab.Columns[i].Nullable = false
		tab.PrimaryKey = append(tab.PrimaryKey, cols[i].Name)
	}
	plan, err := tg.DDL.PlanCreate(tab, schema.CreateOptions{PrimaryKeys: true, TinyIntOneAsBool: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.DDL.Apply(Ctx(t), plan); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	tt := &cdc.TargetTable{Table: cdc.TableRef{Name: name}, Columns: cols}
	for i := 0; i < nkey; i++ {
		tt.Key = append(tt.Key, i)
	}
	return tt
}

// Apply applies the batches in one transaction and commits pos for job.
func Apply(t testing.TB, tg *Target, job string, pos cdc.Position, changes ...cdc.MappedChange) {
	t.Helper()
	tx, err := tg.Applier.Begin(Ctx(t), cdc.ApplySpec{Job: tg.job(job)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.Apply(Ctx(t), changes); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(Ctx(t), pos); err != nil {
		t.Fatal(err)
	}
}

// Dump renders a query's rows, one line each, NULL spelled out.
func Dump(t testing.TB, tg *Target, q string) string {
	t.Helper()
	var b strings.Builder
	for _, r := range tg.Query(t, q) {
		for i, v := range r {
			if i > 0 {
				b.WriteString(" | ")
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				b.WriteString(strconv.Quote(*v))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Want fails unless the query's rows are want (lines as r renders them).
func Want(t testing.TB, tg *Target, q string, want ...string) {
	t.Helper()
	got := Dump(t, tg, q)
	var w strings.Builder
	for _, line := range want {
		w.WriteString(line + "\n")
	}
	if got != w.String() {
		t.Errorf("%s:\n got:\n%s\nwant:\n%s", q, got, w.String())
	}
}

// r renders an expected row as Dump does.
func r(vals ...any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case nil:
			parts[i] = "NULL"
		case string:
			parts[i] = strconv.Quote(x)
		case int:
			parts[i] = strconv.Quote(strconv.Itoa(x))
		default:
			panic(fmt.Sprintf("cdctest: value %T", v))
		}
	}
	return strings.Join(parts, " | ")
}

func count(t testing.TB, tg *Target, table string) int {
	t.Helper()
	rows := tg.Query(t, "SELECT count(*) FROM "+table)
	n, err := strconv.Atoi(*rows[0][0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func checkpoint(t testing.TB, tg *Target, job string) (cdc.Position, bool) {
	t.Helper()
	pos, ok, err := tg.Applier.Checkpoint(Ctx(t), cdc.ApplySpec{Job: tg.job(job)})
	if err != nil {
		t.Fatal(err)
	}
	return pos, ok
}

func items(t testing.TB, tg *Target) *cdc.TargetTable {
	return Create(t, tg, "items", 1, Col("id", schema.Int32),
		schema.Column{Name: "name", Type: schema.Type{Kind: schema.Varchar, Length: 100}, Nullable: true},
		Col("qty", schema.Int32), Col("note", schema.Text))
}

const itemsQuery = "SELECT id, name, qty, note FROM items ORDER BY id"

func testInsertUpdateDelete(t *testing.T, tg *Target) {
	it := items(t, tg)
	Apply(t, tg, "j", "p1",
		Ins(it, 1, "one", 1, "n1"), Ins(it, 2, "two", 2, nil), Ins(it, 3, "three", 3, "n3"),
		Ins(it, 4, "four", 4, "n4"), Ins(it, 5, "five", 5, "n5"))
	Want(t, tg, itemsQuery, r(1, "one", 1, "n1"), r(2, "two", 2, nil), r(3, "three", 3, "n3"), r(4, "four", 4, "n4"), r(5, "five", 5, "n5"))
	Apply(t, tg, "j", "p2",
		Upd(it, 2, "TWO", 22, "x"), Del(it, 3), Ins(it, 6, "six", 6, "n6"), Upd(it, 6, "SIX", 66, "n6"),
		Upd(it, 4, "four", 4, nil), Upd(it, 5, "", 5, ""), Del(it, 1), Del(it, 99))
	Want(t, tg, itemsQuery, r(2, "TWO", 22, "x"), r(4, "four", 4, nil), r(5, "", 5, ""), r(6, "SIX", 66, "n6"))
	if pos, ok := checkpoint(t, tg, "j"); !ok || pos != "p2" {
		t.Errorf("checkpoint %q %v, want p2", pos, ok)
	}
}

func pairs(t testing.TB, tg *Target) *cdc.TargetTable {
	return Create(t, tg, "pairs", 2, Col("a", schema.Int32),
		schema.Column{Name: "b", Type: schema.Type{Kind: schema.Varchar, Length: 20}},
		Col("v", schema.Text), Col("w", schema.Int32))
}

const pairsQuery = "SELECT a, b, v, w FROM pairs ORDER BY a, b"

func testKeyChange(t *testing.T, tg *Target) {
	p := pairs(t, tg)
	Apply(t, tg, "j", "p1", Ins(p, 1, "x", "v1", 1), Ins(p, 2, "y", "v2", 2), Ins(p, 7, "k", "v7", 7))
	Apply(t, tg, "j", "p2",
		// Every value present: delete the old key, upsert the new row.
		Move(p, []any{1, "x"}, 1, "z", "v1b", 10),
		// Some unchanged: the row moves and keeps v.
		Move(p, []any{2, "y"}, 3, "y", Unchanged, 20),
		// Inserted and moved in the same batch.
		Ins(p, 4, "q", "keep", 4), Move(p, []any{4, "q"}, 5, "q", Unchanged, 50),
		// Moved and moved back.
		Move(p, []any{7, "k"}, 8, "k", Unchanged, 8), Move(p, []any{8, "k"}, 7, "k", Unchanged, 77))
	Want(t, tg, pairsQuery, r(1, "z", "v1b", 10), r(3, "y", "v2", 20), r(5, "q", "keep", 50), r(7, "k", "v7", 77))
	// An old image with the same key (PostgreSQL's REPLICA IDENTITY FULL
	// sends one with every update) is an ordinary update.
	Apply(t, tg, "j", "p3", Move(p, []any{3, "y"}, 3, "y", Unchanged, 21), Move(p, []any{5, "q"}, 5, "q", "new", 51))
	Want(t, tg, pairsQuery, r(1, "z", "v1b", 10), r(3, "y", "v2", 21), r(5, "q", "new", 51), r(7, "k", "v7", 77))
}

func docs(t testing.TB, tg *Target) *cdc.TargetTable {
	return Create(t, tg, "docs", 1, Col("id", schema.Int32),
		schema.Column{Name: "title", Type: schema.Type{Kind: schema.Varchar, Length: 100}, Nullable: true},
		Col("body", schema.Text), Col("n", schema.Int32))
}

// big is a text of about 100 kB that PostgreSQL would TOAST.
func big(seed string) string {
	var b strings.Builder
	for i := 0; b.Len() < 100_000; i++ {
		fmt.Fprintf(&b, "%s-%d 😀 ", seed, i)
	}
	return b.String()
}

func testUnchanged(t *testing.T, tg *Target) {
	d := docs(t, tg)
	b1, b2, b3, b4 := big("one"), big("two"), big("three"), big("four")
	Apply(t, tg, "j", "p1", Ins(d, 1, "t1", b1, 1), Ins(d, 2, "t2", b2, 2), Ins(d, 4, "t4", b4, 4), Ins(d, 5, "t5", b4, 5))
	Apply(t, tg, "j", "p2",
		Upd(d, 1, "t1b", Unchanged, 10),            // body kept
		Upd(d, 2, Unchanged, Unchanged, 20),        // other columns: another statement
		Upd(d, 1, "t1c", Unchanged, 11),            // same columns again: the later wins
		Ins(d, 3, "t3", b3, 3),                     // inserted, then
		Upd(d, 3, "t3b", Unchanged, 30),            // updated keeping the inserted body
		Del(d, 4), Upd(d, 4, "t4b", Unchanged, 40), // the update finds no row
		Upd(d, 5, Unchanged, Unchanged, nil),  // a value set to NULL
		Upd(d, 5, "t5", Unchanged, Unchanged)) // only the key and an equal value
	Want(t, tg, "SELECT id, title, n FROM docs ORDER BY id", r(1, "t1c", 11), r(2, "t2", 20), r(3, "t3b", 30), r(5, "t5", nil))
	for id, want := range map[int]string{1: b1, 2: b2, 3: b3, 5: b4} {
		got := tg.Query(t, "SELECT body FROM docs WHERE id = "+strconv.Itoa(id))
		if len(got) != 1 || got[0][0] == nil || *got[0][0] != want {
			t.Errorf("body of %d changed (%d rows)", id, len(got))
		}
	}
}

func testSameKey(t *testing.T, tg *Target) {
	it := items(t, tg)
	Apply(t, tg, "j", "p1", Ins(it, 9, "nine", 9, nil))
	Apply(t, tg, "j", "p2",
		Ins(it, 1, "a", 1, nil), Del(it, 1), Ins(it, 1, "b", 2, nil), // insert, delete, insert
		Ins(it, 2, "a", 1, nil), Ins(it, 3, "x", 3, nil), Upd(it, 2, "b", 2, nil), Upd(it, 2, "c", 3, "last"), // one upsert run
		Del(it, 9), Ins(it, 9, "again", 9, nil), Del(it, 9), // ends deleted
		Upd(it, 3, Unchanged, Unchanged, "merged"), Upd(it, 3, "y", Unchanged, Unchanged))
	Want(t, tg, itemsQuery, r(1, "b", 2, nil), r(2, "c", 3, "last"), r(3, "y", 3, "merged"))
}

func testIdempotent(t *testing.T, tg *Target) {
	it, p := items(t, tg), pairs(t, tg)
	Apply(t, tg, "j", "p1", Ins(it, 1, "one", 1, "keep1"), Ins(it, 2, "two", 2, "keep2"), Ins(p, 1, "x", "v1", 1), Ins(p, 2, "y", "v2", 2))
	batch := []cdc.MappedChange{
		Ins(it, 3, "three", 3, nil), Upd(it, 1, "ONE", 11, Unchanged), Del(it, 2), Ins(it, 4, "four", 4, "n4"),
		Move(p, []any{1, "x"}, 1, "xx", "v1b", 10), Move(p, []any{2, "y"}, 3, "y", Unchanged, 20),
		Ins(p, 2, "y", "reused", 21), // the moved-away key comes back
		Upd(it, 4, "FOUR", Unchanged, Unchanged), Del(it, 4), Ins(it, 4, "four again", 44, "n44"),
	}
	Apply(t, tg, "j", "p2", batch...)
	once := Dump(t, tg, itemsQuery) + Dump(t, tg, pairsQuery)
	want := strings.Join([]string{r(1, "ONE", 11, "keep1"), r(3, "three", 3, nil), r(4, "four again", 44, "n44"),
		r(1, "xx", "v1b", 10), r(2, "y", "reused", 21), r(3, "y", "v2", 20)}, "\n") + "\n"
	if once != want {
		t.Errorf("after one apply:\n%s\nwant:\n%s", once, want)
	}
	// After a crash the batch comes again.
	Apply(t, tg, "j", "p2", batch...)
	if twice := Dump(t, tg, itemsQuery) + Dump(t, tg, pairsQuery); twice != once {
		t.Errorf("applied twice:\n%s\nonce:\n%s", twice, once)
	}
	// And twice within one transaction.
	Apply(t, tg, "j", "p2", append(append([]cdc.MappedChange(nil), batch...), batch...)...)
	if twice := Dump(t, tg, itemsQuery) + Dump(t, tg, pairsQuery); twice != once {
		t.Errorf("applied twice in one batch:\n%s\nonce:\n%s", twice, once)
	}
}

func testTruncate(t *testing.T, tg *Target) {
	it, p := items(t, tg), pairs(t, tg)
	Apply(t, tg, "j", "p1", Ins(it, 1, "one", 1, nil), Ins(it, 2, "two", 2, nil), Ins(p, 1, "x", "v", 1))
	Apply(t, tg, "j", "p2", Ins(it, 3, "three", 3, nil), Trunc(it), Ins(it, 5, "five", 5, nil), Upd(p, 1, "x", "w", 2))
	Want(t, tg, itemsQuery, r(5, "five", 5, nil))
	Want(t, tg, pairsQuery, r(1, "x", "w", 2))
	Apply(t, tg, "j", "p3", Trunc(it), Trunc(it))
	if n := count(t, tg, "items"); n != 0 {
		t.Errorf("%d rows after truncate", n)
	}
}

func testAtomic(t *testing.T, tg *Target) {
	it, p := items(t, tg), pairs(t, tg)
	Apply(t, tg, "j", "p1", Ins(it, 1, "one", 1, nil), Ins(p, 1, "x", "v", 1))
	tx, err := tg.Applier.Begin(Ctx(t), cdc.ApplySpec{Job: tg.job("j")})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.Apply(Ctx(t), []cdc.MappedChange{Ins(it, 2, "two", 2, nil), Upd(p, 1, "x", "changed", 9), Ins(p, 2, "y", "v", 2), Upd(it, 1, "ONE", 1, nil)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(Ctx(t), []cdc.MappedChange{Del(it, 1), Ins(it, 3, "three", 3, nil)}); err != nil {
		t.Fatal(err)
	}
	// Another connection sees none of it yet.
	Want(t, tg, itemsQuery, r(1, "one", 1, nil))
	Want(t, tg, pairsQuery, r(1, "x", "v", 1))
	if pos, _ := checkpoint(t, tg, "j"); pos != "p1" {
		t.Errorf("checkpoint %q before commit", pos)
	}
	if err := tx.Commit(Ctx(t), "p2"); err != nil {
		t.Fatal(err)
	}
	Want(t, tg, itemsQuery, r(2, "two", 2, nil), r(3, "three", 3, nil))
	Want(t, tg, pairsQuery, r(1, "x", "changed", 9), r(2, "y", "v", 2))
	if pos, _ := checkpoint(t, tg, "j"); pos != "p2" {
		t.Errorf("checkpoint %q after commit", pos)
	}
	if err := tx.Apply(Ctx(t), []cdc.MappedChange{Ins(it, 4, "four", 4, nil)}); err == nil {
		t.Error("Apply after Commit succeeded")
	}
}

func testRollback(t *testing.T, tg *Target) {
	it := items(t, tg)
	tx, err := tg.Applier.Begin(Ctx(t), cdc.ApplySpec{Job: tg.job("j")})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(Ctx(t), []cdc.MappedChange{Ins(it, 1, "one", 1, nil), Trunc(it), Ins(it, 2, "two", 2, nil)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Errorf("second Rollback: %v", err)
	}
	if err := tx.Commit(Ctx(t), "p1"); err == nil {
		t.Error("Commit after Rollback succeeded")
	}
	if n := count(t, tg, "items"); n != 0 {
		t.Errorf("%d rows after rollback", n)
	}
	if pos, ok := checkpoint(t, tg, "j"); ok {
		t.Errorf("checkpoint %q after rollback", pos)
	}
	// Rollback after Commit does nothing.
	tx, err = tg.Applier.Begin(Ctx(t), cdc.ApplySpec{Job: tg.job("j")})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(Ctx(t), []cdc.MappedChange{Ins(it, 3, "three", 3, nil)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(Ctx(t), "p1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Errorf("Rollback after Commit: %v", err)
	}
	Want(t, tg, itemsQuery, r(3, "three", 3, nil))
}

func testBadData(t *testing.T, tg *Target) {
	it := items(t, tg)
	strict := Create(t, tg, "strict", 1, Col("id", schema.Int32),
		schema.Column{Name: "v", Type: schema.Type{Kind: schema.Varchar, Length: 10}, Nullable: false}, Col("w", schema.Int32))
	Apply(t, tg, "j", "p1", Ins(it, 1, "one", 1, nil), Ins(strict, 1, "ok", 1))
	long := strings.Repeat("x", 50) // too long for varchar(10); SQLite does not check
	for _, bad := range []struct {
		what    string
		changes []cdc.MappedChange
		sqlite  bool // SQLite refuses it too
	}{
		{"insert NULL", []cdc.MappedChange{Ins(it, 2, "two", 2, nil), Ins(strict, 2, "ok", 2), Ins(strict, 3, nil, 3), Del(it, 1), Ins(it, 3, "three", 3, nil)}, true},
		{"update to NULL", []cdc.MappedChange{Upd(strict, 1, nil, 1)}, true},
		{"update too long", []cdc.MappedChange{Upd(strict, 1, long, 1)}, false},
		{"partial update to NULL", []cdc.MappedChange{Upd(it, 1, Unchanged, Unchanged, "x"), Upd(strict, 1, nil, Unchanged)}, true},
		{"partial update too long", []cdc.MappedChange{Upd(strict, 1, long, Unchanged)}, false},
		{"move to NULL", []cdc.MappedChange{Move(strict, []any{1}, 5, nil, Unchanged)}, true},
	} {
		if tg.Dialect == schema.SQLite && !bad.sqlite {
			continue
		}
		tx, err := tg.Applier.Begin(Ctx(t), cdc.ApplySpec{Job: tg.job("j")})
		if err != nil {
			t.Fatal(err)
		}
		err = tx.Apply(Ctx(t), bad.changes)
		if err == nil {
			err = tx.Apply(Ctx(t), nil) // an applier may report a failure at its next call
		}
		t.Logf("%s: %v", bad.what, err)
		if err == nil || !strings.Contains(err.Error(), "apply to strict: ") || !tg.DBError(err) {
			t.Errorf("%s: %v (database error %v)", bad.what, err, err != nil && tg.DBError(err))
		}
		if err := tx.Apply(Ctx(t), []cdc.MappedChange{Ins(it, 5, "five", 5, nil)}); err == nil {
			t.Errorf("%s: Apply after a failed Apply succeeded", bad.what)
		}
		if err := tx.Commit(Ctx(t), "p2"); err == nil {
			t.Errorf("%s: Commit after a failed Apply succeeded", bad.what)
		}
		if err := tx.Rollback(); err != nil {
			t.Error(err)
		}
	}
	Want(t, tg, itemsQuery, r(1, "one", 1, nil))
	Want(t, tg, "SELECT id, v, w FROM strict", r(1, "ok", 1))
	if pos, _ := checkpoint(t, tg, "j"); pos != "p1" {
		t.Errorf("checkpoint %q", pos)
	}
	// A malformed change fails before anything runs and leaves the
	// transaction usable.
	tx, err := tg.Applier.Begin(Ctx(t), cdc.ApplySpec{Job: tg.job("j")})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.Apply(Ctx(t), []cdc.MappedChange{{Target: it, Op: cdc.Insert, New: row(1, "x")}}); err == nil || !strings.Contains(err.Error(), "2 values for 4 columns") {
		t.Errorf("short row: %v", err)
	}
	if err := tx.Apply(Ctx(t), []cdc.MappedChange{Ins(it, 2, "two", 2, nil)}); err != nil {
		t.Errorf("after a refused change: %v", err)
	}
}

func testCheckpoints(t *testing.T, tg *Target) {
	if _, ok := checkpoint(t, tg, "j"); ok {
		t.Error("checkpoint before the first commit")
	}
	if err := tg.Applier.ClearCheckpoint(Ctx(t), cdc.ApplySpec{Job: tg.job("j")}); err != nil {
		t.Errorf("clear before the first commit: %v", err)
	}
	it := items(t, tg)
	Apply(t, tg, "j", "0/16B3748")
	Apply(t, tg, "other", "binlog.000003:4711", Ins(it, 1, "one", 1, nil))
	Apply(t, tg, "j", "0/16B3750")
	long := cdc.Position("binlog.000042:4 " + strings.Repeat("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-77,", 100))
	Apply(t, tg, "gtids", long)
	for job, want := range map[string]cdc.Position{"j": "0/16B3750", "other": "binlog.000003:4711", "gtids": long} {
		if pos, ok := checkpoint(t, tg, job); !ok || pos != want {
			t.Errorf("%s: checkpoint %q %v, want %q", job, pos, ok, want)
		}
	}
	if err := tg.Applier.ClearCheckpoint(Ctx(t), cdc.ApplySpec{Job: tg.job("j")}); err != nil {
		t.Fatal(err)
	}
	if pos, ok := checkpoint(t, tg, "j"); ok {
		t.Errorf("checkpoint %q after clear", pos)
	}
	if err := tg.Applier.ClearCheckpoint(Ctx(t), cdc.ApplySpec{Job: tg.job("j")}); err != nil {
		t.Errorf("second clear: %v", err)
	}
	if pos, ok := checkpoint(t, tg, "other"); !ok || pos != "binlog.000003:4711" {
		t.Errorf("other job: %q %v", pos, ok)
	}
}

// AddColumnTypes are the columns testAddColumn adds, with the type each
// target declares for them (as a DDL task renders them).
var addColumnTypes = []struct {
	col    schema.Column
	source string
	want   map[string]string
}{
	{schema.Column{Name: "extra", Type: schema.Type{Kind: schema.Varchar, Length: 50}}, schema.Postgres,
		map[string]string{schema.Postgres: "character varying(50)", schema.MySQL: "varchar(50)", schema.SQLite: "VARCHAR(50)"}},
	{schema.Column{Name: "price", Type: schema.Type{Kind: schema.Decimal, Precision: 12, Scale: 3}}, schema.Postgres,
		map[string]string{schema.Postgres: "numeric(12,3)", schema.MySQL: "decimal(12,3)", schema.SQLite: "NUMERIC(12,3)"}},
	{schema.Column{Name: "flag", Type: schema.Type{Kind: schema.Bool, Native: "tinyint(1)"}}, schema.MySQL,
		map[string]string{schema.Postgres: "boolean", schema.MySQL: "tinyint(1)", schema.SQLite: "BOOLEAN"}},
	{schema.Column{Name: "big", Type: schema.Type{Kind: schema.Int64, Unsigned: true, Native: "bigint(20) unsigned"}}, schema.MySQL,
		map[string]string{schema.Postgres: "numeric(20,0)", schema.MySQL: "bigint(20) unsigned", schema.SQLite: "NUMERIC(20,0)"}},
}

func testAddColumn(t *testing.T, tg *Target) {
	it := items(t, tg)
	Apply(t, tg, "j", "p1", Ins(it, 1, "one", 1, "n1"))
	wide := &cdc.TargetTable{Table: it.Table, Columns: append([]schema.Column(nil), it.Columns...), Key: it.Key}
	for _, ac := range addColumnTypes {
		for range 2 { // the second time the column exists
			if err := tg.Applier.AddColumn(Ctx(t), it.Table, ac.col, ac.source); err != nil {
				t.Fatal(err)
			}
		}
		typ, nullable := tg.ColumnType(t, "items", ac.col.Name)
		if want := ac.want[tg.Dialect]; !strings.EqualFold(typ, want) && !(tg.Dialect == schema.MySQL && strings.EqualFold(typ, strings.ReplaceAll(want, "(20)", ""))) {
			t.Errorf("%s: type %q, want %q", ac.col.Name, typ, want)
		}
		if !nullable {
			t.Errorf("%s: NOT NULL", ac.col.Name)
		}
		wide.Columns = append(wide.Columns, ac.col)
	}
	// An existing column is left alone.
	if err := tg.Applier.AddColumn(Ctx(t), it.Table, schema.Column{Name: "qty", Type: schema.Type{Kind: schema.Text}}, schema.Postgres); err != nil {
		t.Fatal(err)
	}
	if typ, nullable := tg.ColumnType(t, "items", "qty"); !strings.Contains(strings.ToLower(typ), "int") || !nullable {
		t.Errorf("qty became %s (nullable %v)", typ, nullable)
	}
	Apply(t, tg, "j", "p2", Ins(wide, 2, "two", 2, nil, "x", "12.345", "t", "9007199254740993"),
		Upd(wide, 1, Unchanged, Unchanged, Unchanged, "y", Unchanged, Unchanged, Unchanged))
	Want(t, tg, "SELECT id, name, note, extra, price, CASE WHEN flag THEN 'yes' WHEN NOT flag THEN 'no' END, big FROM items ORDER BY id",
		r(1, "one", "n1", "y", nil, nil, nil), r(2, "two", nil, "x", "12.345", "yes", "9007199254740993"))
}

func testImportReplace(t *testing.T, tg *Target) {
	it := items(t, tg)
	Apply(t, tg, "j", "p1", Ins(it, 1, "one", 1, "n1"), Ins(it, 2, "two", 2, nil))
	imp := func(csv string) (int64, error) {
		return tg.Importer.Import(Ctx(t), data.ImportSpec{Table: "items", Columns: it.Columns, Replace: true}, strings.NewReader(csv))
	}
	n, err := imp("10,ten,10,\"\"\n11,eleven,11,\n")
	if err != nil || n != 2 {
		t.Fatalf("import: %d rows, %v", n, err)
	}
	Want(t, tg, itemsQuery, r(10, "ten", 10, ""), r(11, "eleven", 11, nil))
	// A failed load leaves the old rows.
	for _, bad := range []string{"20,twenty,20,\n21,x,not a number,\n", "20,twenty,20,\n21,x\n", "10,dup,1,\n10,dup,2,\n"} {
		if n, err := imp(bad); err == nil {
			t.Errorf("import of %q: %d rows, no error", bad, n)
		} else {
			t.Logf("%q: %v", bad, err)
		}
		Want(t, tg, itemsQuery, r(10, "ten", 10, ""), r(11, "eleven", 11, nil))
	}
	// Without Replace the rows stay.
	if _, err := tg.Importer.Import(Ctx(t), data.ImportSpec{Table: "items", Columns: it.Columns}, strings.NewReader("12,twelve,12,\n")); err != nil {
		t.Fatal(err)
	}
	if n := count(t, tg, "items"); n != 3 {
		t.Errorf("%d rows after a plain import", n)
	}
	// Replace with nothing empties the table.
	if n, err := imp(""); err != nil || n != 0 {
		t.Fatalf("empty import: %d rows, %v", n, err)
	}
	if n := count(t, tg, "items"); n != 0 {
		t.Errorf("%d rows after an empty replace", n)
	}
}
