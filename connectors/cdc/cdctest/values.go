package cdctest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

func col(name string, k schema.Kind) schema.Column {
	return schema.Column{Name: name, Type: schema.Type{Kind: k}, Nullable: true}
}

// fidCols are the value-fidelity table's columns, the same canonical
// columns everywhere (as in connectors/data/datatest).
var fidCols = []schema.Column{
	col("id", schema.Int64), col("b", schema.Bool), col("i16", schema.Int16),
	{Name: "d", Type: schema.Type{Kind: schema.Decimal, Precision: 38, Scale: 10}, Nullable: true},
	col("f64", schema.Float64), col("f32", schema.Float32), col("t", schema.Text), col("vc", schema.Varchar),
	col("bin", schema.Blob), col("dt", schema.Date), col("ts", schema.Timestamp), col("tstz", schema.TimestampTZ),
	col("tm", schema.Time), col("js", schema.JSON),
}

// fidDDL creates the fidelity table (%s is its name). SQLite keeps the
// decimal as TEXT: NUMERIC affinity would round 38 digits to a REAL.
var fidDDL = map[string]string{
	schema.Postgres: `CREATE TABLE %s (id bigint PRIMARY KEY, b boolean, i16 smallint, d numeric(38,10), f64 double precision,
		f32 real, t text, vc varchar(200), bin bytea, dt date, ts timestamp(6), tstz timestamptz(6), tm time(6), js json)`,
	schema.MySQL: `CREATE TABLE %s (id bigint PRIMARY KEY, b tinyint(1), i16 smallint, d decimal(38,10), f64 double,
		f32 float, t longtext, vc varchar(200), bin longblob, dt date, ts datetime(6), tstz timestamp(6) NULL DEFAULT NULL,
		tm time(6), js json) CHARSET utf8mb4`,
	schema.SQLite: `CREATE TABLE %s (id INTEGER PRIMARY KEY, b BOOLEAN, i16 SMALLINT, d TEXT, f64 DOUBLE,
		f32 FLOAT, t TEXT, vc VARCHAR(200), bin BLOB, dt DATE, ts TIMESTAMP, tstz TIMESTAMP, tm TIME, js TEXT)`,
}

func all256() string {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return string(data.AppendHex(nil, b))
}

// fixture rows as canonical values, nil = NULL (PostgreSQL's COPY writes
// exactly these).
var fixture = [][]any{
	{"1", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	{"2", "f", "0", "0.0000000000", "0", "0", "", "", `\x`, "2024-01-01", "2024-01-01 00:00:00", "2024-01-01 00:00:00+00", "00:00:00", "{}"},
	{"3", "t", "32767", "9999999999999999999999999999.9999999999", "1.7976931348623157e+308", "3.4028235e+38",
		"a,b\"c\nd\\e\r\nf\tg", `\.`, all256(), "0001-01-01", "0001-01-01 00:00:00", "1970-01-02 00:00:00+00", "23:59:59.999999",
		`{"a": [1, 2.5, "x\"y"], "b": null}`},
	{"4", "t", "-32768", "-9999999999999999999999999999.9999999999", "2.2250738585072014e-308", "1.1754944e-38",
		"😀𝄞 中文 ü", `"quoted"`, `\x00ff`, "9999-12-31", "9999-12-31 23:59:59.999999", "2038-01-19 03:14:07.999999+00", "12:00:00.5", "[1,2,3]"},
	{"5", nil, nil, "0.0000000001", "0.30000000000000004", "0.1", " lead and trail ", nil, nil, nil, "2024-02-29 12:34:56.123456",
		"2024-02-29 12:34:56.123456+00", nil, nil},
	{"6", nil, nil, "-0.5000000000", "1e-14", "1.6777216e+07", "NULL", `\N`, nil, nil, nil, nil, nil, nil},
	{"7", nil, nil, nil, "1.2345678901234568e+20", "-2.5", `\`, ",", nil, nil, nil, nil, nil, nil},
	{"8", nil, nil, nil, "-1e+35", nil, `"`, nil, nil, nil, nil, nil, nil, nil},
}

// fixtureCSV renders rows as flowgate CSV.
func fixtureCSV(rows [][]any) []byte {
	var b []byte
	for _, r := range rows {
		for i, v := range r {
			if i > 0 {
				b = append(b, ',')
			}
			switch x := v.(type) {
			case nil:
			case string:
				switch x {
				case "":
					b = append(b, `""`...)
				case `\.`:
					b = append(b, x...) // PostgreSQL quotes it only alone on a line
				default:
					b = data.AppendField(b, []byte(x))
				}
			}
		}
		b = append(b, '\n')
	}
	return b
}

func export(t testing.TB, tg *Target, table string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := tg.Exporter.Export(Ctx(t), data.ExportSpec{Table: table, Columns: fidCols, OrderBy: []string{"id"}}, &buf); err != nil {
		t.Fatalf("export %s: %v", table, err)
	}
	return buf.Bytes()
}

func fidTable(t testing.TB, tg *Target, name string) *cdc.TargetTable {
	tg.Exec(t, fmt.Sprintf(fidDDL[tg.Dialect], name))
	return &cdc.TargetTable{Table: cdc.TableRef{Name: name}, Columns: fidCols, Key: []int{0}}
}

func testValues(t *testing.T, tg *Target) {
	// The reference: the batch importer's result on the same server.
	fidTable(t, tg, "fid_ref")
	if _, err := tg.Importer.Import(Ctx(t), data.ImportSpec{Table: "fid_ref", Columns: fidCols}, bytes.NewReader(fixtureCSV(fixture))); err != nil {
		t.Fatal(err)
	}
	ref := export(t, tg, "fid_ref")
	if tg.Dialect == schema.Postgres && !bytes.Equal(ref, fixtureCSV(fixture)) {
		t.Errorf("PostgreSQL import differs from the fixture:\n got %q\nwant %q", ref, fixtureCSV(fixture))
	}

	// Inserted through the applier.
	fid := fidTable(t, tg, "fid")
	var ins []cdc.MappedChange
	for _, r := range fixture {
		ins = append(ins, Ins(fid, r...))
	}
	Apply(t, tg, "j", "p1", ins...)
	if got := export(t, tg, "fid"); !bytes.Equal(got, ref) {
		t.Errorf("applied rows differ from imported ones:\n got %q\nwant %q", got, ref)
	}

	// Set through updates that keep t, so they take the UPDATE path.
	fid2 := fidTable(t, tg, "fid2")
	var first, upd []cdc.MappedChange
	for _, r := range fixture {
		keep := make([]any, len(r))
		keep[0], keep[6] = r[0], "keep"
		first = append(first, Ins(fid2, keep...))
		vals := append([]any(nil), r...)
		vals[6] = Unchanged
		upd = append(upd, Upd(fid2, vals...))
	}
	Apply(t, tg, "j", "p2", first...)
	Apply(t, tg, "j", "p3", upd...)
	tg.Exec(t, "UPDATE fid_ref SET t = 'keep'")
	if got, want := export(t, tg, "fid2"), export(t, tg, "fid_ref"); !bytes.Equal(got, want) {
		t.Errorf("updated rows differ from imported ones:\n got %q\nwant %q", got, want)
	}

	// Asked of the server directly.
	Want(t, tg, "SELECT id FROM fid WHERE t IS NULL ORDER BY id", r(1))
	Want(t, tg, "SELECT id FROM fid WHERE t = '' ORDER BY id", r(2))
	Want(t, tg, "SELECT id FROM fid WHERE vc IS NULL ORDER BY id", r(1), r(5), r(8))
	Want(t, tg, "SELECT length(bin) FROM fid WHERE id IN (2, 3, 4) ORDER BY id", r(0), r(256), r(2))
	hex := map[string]string{schema.Postgres: "encode(bin, 'hex')", schema.MySQL: "lower(hex(bin))", schema.SQLite: "lower(hex(bin))"}[tg.Dialect]
	Want(t, tg, "SELECT "+hex+" FROM fid WHERE id = 3", r(all256()[2:]))
	chars := map[string]string{schema.Postgres: "char_length", schema.MySQL: "char_length", schema.SQLite: "length"}[tg.Dialect]
	Want(t, tg, "SELECT "+chars+"(t), t FROM fid WHERE id = 4", r(7, "😀𝄞 中文 ü"))
	Want(t, tg, "SELECT d FROM fid WHERE id IN (3, 4) ORDER BY id", r("9999999999999999999999999999.9999999999"), r("-9999999999999999999999999999.9999999999"))

	testNotFinite(t, tg)
	testTimeZone(t, tg)
}

// testNotFinite: NaN and infinities do as the importer does with them on
// this target; MySQL refuses them with a clear error.
func testNotFinite(t *testing.T, tg *Target) {
	nf := Create(t, tg, "nf", 1, Col("id", schema.Int32), Col("f", schema.Float64))
	nfImp := Create(t, tg, "nf_imp", 1, Col("id", schema.Int32), Col("f", schema.Float64))
	for i, v := range []string{"NaN", "Infinity", "-Infinity"} {
		_, impErr := tg.Importer.Import(Ctx(t), data.ImportSpec{Table: "nf_imp", Columns: nfImp.Columns}, strings.NewReader(strconv.Itoa(i)+","+v+"\n"))
		tx, err := tg.Applier.Begin(Ctx(t), cdc.ApplySpec{Job: tg.job("nf")})
		if err != nil {
			t.Fatal(err)
		}
		err = tx.Apply(Ctx(t), []cdc.MappedChange{Ins(nf, i, v)})
		if err == nil {
			err = tx.Commit(Ctx(t), "p")
		}
		tx.Rollback()
		t.Logf("%s: apply %v; import %v", v, err, impErr)
		if (err == nil) != (impErr == nil) || errors.Is(err, data.ErrNotFinite) != errors.Is(impErr, data.ErrNotFinite) {
			t.Errorf("%s: apply %v, import %v", v, err, impErr)
		}
		if tg.Dialect == schema.MySQL && (!errors.Is(err, data.ErrNotFinite) || !strings.Contains(err.Error(), "apply to nf: column f: "+v+" cannot be stored in MySQL")) {
			t.Errorf("%s into MySQL: %v", v, err)
		}
		if tg.Dialect == schema.Postgres && err != nil {
			t.Errorf("%s into PostgreSQL: %v", v, err)
		}
	}
	var a, b bytes.Buffer
	for name, w := range map[string]*bytes.Buffer{"nf": &a, "nf_imp": &b} {
		if _, err := tg.Exporter.Export(Ctx(t), data.ExportSpec{Table: name, Columns: nf.Columns, OrderBy: []string{"id"}}, w); err != nil {
			t.Fatal(err)
		}
	}
	if a.String() != b.String() {
		t.Errorf("applied %q, imported %q", a.String(), b.String())
	}
	if tg.Dialect == schema.Postgres && a.String() != "0,NaN\n1,Infinity\n2,-Infinity\n" {
		t.Errorf("PostgreSQL: %q", a.String())
	}
}

// testTimeZone: in a non-UTC session a timestamptz keeps its instant and a
// timestamp its wall-clock text.
func testTimeZone(t *testing.T, tg *Target) {
	fid := &cdc.TargetTable{Table: cdc.TableRef{Name: "fid"}, Columns: fidCols, Key: []int{0}}
	tx, err := tg.Applier.Begin(Ctx(t), cdc.ApplySpec{Job: tg.job("tz"), TimeZone: tg.TimeZone})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	vals := make([]any, len(fidCols))
	vals[0], vals[10], vals[11] = "20", "2024-06-30 23:59:59.999999", "2024-06-30 23:59:59.999999+05:30"
	vals2 := append([]any(nil), vals...)
	vals2[0], vals2[11] = "21", "2024-06-30 23:59:59.5-07"
	if err := tx.Apply(Ctx(t), []cdc.MappedChange{Ins(fid, vals...), Ins(fid, vals2...), Upd(fid, "3", Unchanged, Unchanged, Unchanged,
		Unchanged, Unchanged, Unchanged, Unchanged, Unchanged, Unchanged, "2000-01-01 00:00:00.000001", "2000-01-01 00:00:00.000001+01", Unchanged, Unchanged)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(Ctx(t), "p"); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"3":  {"2000-01-01 00:00:00.000001", "1999-12-31 23:00:00.000001+00"},
		"20": {"2024-06-30 23:59:59.999999", "2024-06-30 18:29:59.999999+00"},
		"21": {"2024-06-30 23:59:59.999999", "2024-07-01 06:59:59.5+00"},
	}
	rd := data.NewReader(bytes.NewReader(export(t, tg, "fid")))
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[string(rec[0])]
		if !ok {
			continue
		}
		delete(want, string(rec[0]))
		if string(rec[10]) != w[0] || trimFraction(string(rec[11])) != w[1] {
			t.Errorf("row %s in %s: ts %q tstz %q, want %q %q", rec[0], tg.TimeZone, rec[10], rec[11], w[0], w[1])
		}
	}
	if len(want) > 0 {
		t.Errorf("rows missing: %v", want)
	}
}

// trimFraction drops trailing fractional zeros of a +00 timestamp (MySQL
// writes the column's six digits).
func trimFraction(s string) string {
	body, ok := strings.CutSuffix(s, "+00")
	if !ok || !strings.Contains(body, ".") {
		return s
	}
	return strings.TrimRight(strings.TrimRight(body, "0"), ".") + "+00"
}

// testLimits: runs larger than a statement may be are split: 40,000 rows
// of 3 columns (120,000 parameters), 25 MB of text, 3,000 partial updates.
func testLimits(t *testing.T, tg *Target) {
	w := Create(t, tg, "wide", 1, col("id", schema.Int64), col("a", schema.Int32), col("s", schema.Text))
	const n = 40_000
	var ins, upd, del []cdc.MappedChange
	for i := 1; i <= n; i++ {
		ins = append(ins, Ins(w, i, i, "x"))
		upd = append(upd, Upd(w, i, 2*i, Unchanged))
		if i%2 == 0 {
			del = append(del, Del(w, i))
		}
	}
	start := time.Now()
	Apply(t, tg, "j", "p1", ins...)
	Apply(t, tg, "j", "p2", upd[:3000]...)
	Apply(t, tg, "j", "p3", del...)
	t.Logf("%d inserts, 3000 partial updates, %d deletes in %s", n, len(del), time.Since(start).Round(time.Millisecond))
	// Odd ids remain; the first 3000 have a = 2i.
	sum := 0
	for i := 1; i <= n; i += 2 {
		if i <= 3000 {
			sum += 2 * i
		} else {
			sum += i
		}
	}
	Want(t, tg, "SELECT count(*), sum(a), min(s), max(s) FROM wide", r(n/2, sum, "x", "x"))

	bigRows := make([]cdc.MappedChange, 250)
	text := strings.Repeat("0123456789", 10_000)
	for i := range bigRows {
		bigRows[i] = Ins(w, n+1+i, i, text)
	}
	start = time.Now()
	Apply(t, tg, "j", "p4", bigRows...)
	t.Logf("250 rows of %d bytes in %s", len(text), time.Since(start).Round(time.Millisecond))
	Want(t, tg, fmt.Sprintf("SELECT count(*), sum(length(s)), min(s) = max(s) FROM wide WHERE id > %d", n),
		r(250, 250*len(text), map[string]string{schema.Postgres: "t", schema.MySQL: "1", schema.SQLite: "1"}[tg.Dialect]))
}

// Throughput applies 20,000 upserts over 5 tables, first as 5 runs of
// 4,000, then interleaved table by table (one statement per change), and
// logs the times.
func testThroughput(t *testing.T, tg *Target) {
	var tabs []*cdc.TargetTable
	for i := range 5 {
		tabs = append(tabs, Create(t, tg, fmt.Sprintf("tp%d", i), 1, col("id", schema.Int64),
			schema.Column{Name: "name", Type: schema.Type{Kind: schema.Varchar, Length: 100}, Nullable: true},
			col("qty", schema.Int32), schema.Column{Name: "price", Type: schema.Type{Kind: schema.Decimal, Precision: 12, Scale: 2}, Nullable: true},
			col("at", schema.TimestampTZ)))
	}
	const per = 4000
	change := func(tab, i, round int) cdc.MappedChange {
		return Ins(tabs[tab], i, fmt.Sprintf("item %d/%d", i, round), i+round, fmt.Sprintf("%d.%02d", i, round),
			fmt.Sprintf("2024-01-02 03:04:%02d.%06d+00", i%60, i))
	}
	for round, interleaved := range []bool{false, true} {
		var batch []cdc.MappedChange
		if interleaved {
			for i := 1; i <= per; i++ {
				for tab := range tabs {
					batch = append(batch, change(tab, i, round))
				}
			}
		} else {
			for tab := range tabs {
				for i := 1; i <= per; i++ {
					batch = append(batch, change(tab, i, round))
				}
			}
		}
		start := time.Now()
		Apply(t, tg, "j", cdc.Position(strconv.Itoa(round)), batch...)
		how := "5 runs of 4,000"
		if interleaved {
			how = "interleaved (20,000 runs of 1)"
		}
		t.Logf("%s: 20,000 upserts over 5 tables, %s: %s", tg.Dialect, how, time.Since(start).Round(time.Millisecond))
		for tab := range tabs {
			Want(t, tg, fmt.Sprintf("SELECT count(*), sum(qty), min(name), max(name) FROM tp%d", tab),
				r(per, per*(per+1)/2+per*round, fmt.Sprintf("item 1/%d", round), fmt.Sprintf("item 999/%d", round)))
		}
	}
}
