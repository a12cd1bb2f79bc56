package kafka

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors/cdc"
)

// describe renders a decoded message for comparison: the columns as
// name[*]:kind (* = key) and each change as op, then old and new rows
// with values joined by |, NULL for nil and - for a column not sent.
func describe(m *message) (cols string, changes []string) {
	var cs []string
	for _, c := range m.columns {
		k := ""
		if c.Key {
			k = "*"
		}
		cs = append(cs, fmt.Sprintf("%s%s:%s", c.Name, k, c.Type.Kind))
	}
	row := func(r cdc.Row) string {
		if r.Values == nil {
			return ""
		}
		parts := make([]string, len(r.Values))
		for i, v := range r.Values {
			switch {
			case r.IsUnchanged(i):
				parts[i] = "-"
			case v == nil:
				parts[i] = "NULL"
			default:
				parts[i] = string(v)
			}
		}
		return strings.Join(parts, "|")
	}
	for _, ch := range m.changes {
		s := string(rune(ch.Op)) + " " + ch.Table.String()
		if o := row(ch.Old); o != "" {
			s += " old=" + o
		}
		if n := row(ch.New); n != "" {
			s += " new=" + n
		}
		changes = append(changes, s)
	}
	return strings.Join(cs, ","), changes
}

type decodeCase struct {
	name     string
	msg      string
	zeroTime string // "" = null
	ddl      string // "" = ignore
	cols     string
	changes  []string
	ddlKind  string // the ddl field of a skipped DDL message
	err      string // the error contains this; "" = no error
}

func runDecodeCases(t *testing.T, format string, cases []decodeCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDecoder(format, c.zeroTime != "error", c.ddl)
			m, err := d.decode([]byte(c.msg))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			cols, changes := describe(m)
			if cols != c.cols {
				t.Errorf("columns\n got %s\nwant %s", cols, c.cols)
			}
			if strings.Join(changes, "\n") != strings.Join(c.changes, "\n") {
				t.Errorf("changes\n got %s\nwant %s", strings.Join(changes, "\n     "), strings.Join(c.changes, "\n     "))
			}
			if m.ddl != c.ddlKind {
				t.Errorf("ddl %q, want %q", m.ddl, c.ddlKind)
			}
			if m.table.Schema != "" {
				t.Errorf("table %v: a message's database must not choose the target schema", m.table)
			}
		})
	}
}

// canalTypes is the mysqlType of the canal fixtures.
const canalTypes = `"mysqlType":{"id":"bigint(20)","name":"varchar(32)","status":"enum('new','paid','shipped')",` +
	`"tags":"set('red','green','blue')","bin":"varbinary(16)","placed":"datetime(3)","born":"date","seen":"timestamp"}`

func canalFixture(typ, data, old string, extra ...string) string {
	s := `{"data":` + data + `,"database":"shop","table":"orders","pkNames":["id"],"isDdl":false,"type":"` + typ +
		`","es":1714564800000,"ts":1714564800123,"id":7,"sql":"","sqlType":{"id":-5,"name":12},` + canalTypes + `,"old":` + old + `,"gtid":""`
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

func TestDecodeCanal(t *testing.T) {
	const allCols = "bin:varbinary,born:date,id*:text,name:text,placed:timestamp,seen:timestamptz,status:enum,tags:set"
	full := `{"id":"1","name":"a \"q\" ü","status":"2","tags":"5","bin":"\u00ff\u0000A","placed":"2024-05-01 12:00:00.123","born":"1990-02-03","seen":"2024-05-01 12:00:00"}`
	fullRow := `\xff0041|1990-02-03|1|a "q" ü|2024-05-01 12:00:00.123|2024-05-01 12:00:00|paid|red,blue`
	runDecodeCases(t, FormatCanal, []decodeCase{
		{name: "insert typed by mysqlType", msg: canalFixture("INSERT", "["+full+"]", "null"), cols: allCols,
			changes: []string{"I orders new=" + fullRow}},
		{name: "insert of several rows, NULLs", msg: canalFixture("INSERT",
			`[{"id":"1","name":null,"status":"1","tags":"0","bin":"","placed":null,"born":null,"seen":null},{"id":"2","name":"b","status":"3","tags":"7","bin":null,"placed":"2024-01-01 00:00:00","born":"2024-01-01","seen":null}]`, "null"),
			cols: allCols, changes: []string{
				`I orders new=\x|NULL|1|NULL|NULL|NULL|new|`,
				`I orders new=NULL|2024-01-01|2|b|2024-01-01 00:00:00|NULL|shipped|red,green,blue`}},
		{name: "update: old holds the changed columns", msg: canalFixture("UPDATE", "["+full+"]", `[{"status":"1","name":"x"}]`), cols: allCols,
			changes: []string{`U orders old=\xff0041|1990-02-03|1|x|2024-05-01 12:00:00.123|2024-05-01 12:00:00|new|red,blue new=` + fullRow}},
		{name: "update that moves the key", msg: canalFixture("UPDATE", `[{"id":"2","name":"a"}]`, `[{"id":"1"}]`), cols: "id*:text,name:text",
			changes: []string{"U orders old=1|a new=2|a"}},
		{name: "update of two rows, old null", msg: canalFixture("UPDATE", `[{"id":"1","name":"a"},{"id":"2","name":"b"}]`, `null`), cols: "id*:text,name:text",
			changes: []string{"U orders old=1|a new=1|a", "U orders old=2|b new=2|b"}},
		{name: "update: a column only some rows carry is unchanged in the others", msg: canalFixture("UPDATE", `[{"id":"1","name":"a"},{"id":"2"}]`, `[{"name":"z"},{}]`),
			cols: "id*:text,name:text", changes: []string{"U orders old=1|z new=1|a", "U orders old=2|- new=2|-"}},
		{name: "delete carries the row in data", msg: canalFixture("DELETE", `[{"id":"3","name":"c","status":"0"}]`, "null"), cols: "id*:text,name:text,status:enum",
			changes: []string{"D orders old=3|c|"}},
		{name: "empty pkNames: no key column (the target's key counts)", msg: strings.Replace(canalFixture("INSERT", `[{"id":"1"}]`, "null"), `"pkNames":["id"]`, `"pkNames":[]`, 1),
			cols: "id:text", changes: []string{"I orders new=1"}},
		{name: "pkNames null", msg: strings.Replace(canalFixture("INSERT", `[{"id":"1"}]`, "null"), `"pkNames":["id"]`, `"pkNames":null`, 1),
			cols: "id:text", changes: []string{"I orders new=1"}},
		{name: "values already names, numbers and booleans as written, objects compact", msg: canalFixture("INSERT",
			`[{"id":12,"name":true,"status":"paid","tags":"red,green","extra":{"a": [1, 2 ]},"list":[ "x" ],"f":-1.5e3}]`, "null"),
			cols:    "extra:text,f:text,id*:text,list:text,name:text,status:enum,tags:set",
			changes: []string{`I orders new={"a":[1,2]}|-1.5e3|12|["x"]|true|paid|red,green`}},
		{name: "epoch milliseconds in temporal columns", msg: canalFixture("INSERT", `[{"id":"1","placed":1714564800123,"born":"1714521600000","seen":0}]`, "null"),
			cols:    "born:date,id*:text,placed:timestamp,seen:timestamptz",
			changes: []string{"I orders new=2024-05-01|1|2024-05-01 12:00:00.123|1970-01-01 00:00:00"}},
		{name: "zero dates are NULL under zero_time null", msg: canalFixture("INSERT", `[{"id":"1","placed":"0000-00-00 00:00:00","born":"2024-00-10","seen":"2024-05-00 01:02:03"}]`, "null"),
			cols: "born:date,id*:text,placed:timestamp,seen:timestamptz", changes: []string{"I orders new=NULL|1|NULL|NULL"}},
		{name: "zero date under zero_time error", zeroTime: "error", msg: canalFixture("INSERT", `[{"id":"1","placed":"0000-00-00 00:00:00"}]`, "null"),
			err: `column placed: zero date "0000-00-00 00:00:00" and zero_time = 'error'`},
		{name: "partly zero date under zero_time error", zeroTime: "error", msg: canalFixture("INSERT", `[{"id":"1","born":"2024-01-00"}]`, "null"),
			err: "column born: zero date"},
		{name: "ENUM index out of range", msg: canalFixture("INSERT", `[{"id":"1","status":"4"}]`, "null"), err: "column status: ENUM index 4 out of range (3 members)"},
		{name: "SET bit out of range", msg: canalFixture("INSERT", `[{"id":"1","tags":"8"}]`, "null"), err: "column tags: SET bitmask 8 has bit 3 set"},
		{name: "binary beyond ISO-8859-1", msg: canalFixture("INSERT", `[{"id":"1","bin":"\u0100"}]`, "null"), err: "column bin: binary value has a character beyond ISO-8859-1 (U+0100)"},
		{name: "rows-query event is skipped", msg: `{"data":null,"database":"shop","table":"orders","pkNames":null,"isDdl":false,"type":"QUERY","es":1,"ts":1,"id":3,"sql":"INSERT INTO orders VALUES (1)","sqlType":null,"mysqlType":null,"old":null}`},
		{name: "DDL ignored", msg: `{"data":null,"database":"shop","table":"orders","isDdl":true,"type":"ALTER","sql":"ALTER TABLE orders ADD x int"}`, ddlKind: "ALTER"},
		{name: "DDL by type alone", msg: `{"data":null,"database":"shop","table":"orders","isDdl":false,"type":"TRUNCATE","sql":"TRUNCATE orders"}`, ddlKind: "TRUNCATE"},
		{name: "QUERY with isDdl is DDL", msg: `{"database":"shop","table":"","isDdl":true,"type":"QUERY","sql":"CREATE DATABASE x"}`, ddlKind: "QUERY"},
		{name: "TRUNCATE under ddl apply", ddl: "apply", msg: `{"data":null,"database":"shop","table":"orders","isDdl":true,"type":"TRUNCATE","sql":"TRUNCATE orders"}`,
			changes: []string{"T orders"}},
		{name: "ALTER under ddl apply is skipped", ddl: "apply", msg: `{"data":null,"database":"shop","table":"orders","isDdl":true,"type":"ALTER","sql":"ALTER TABLE orders ADD x int"}`, ddlKind: "ALTER"},
		{name: "DDL under ddl fail", ddl: "fail", msg: `{"database":"shop","table":"orders","isDdl":true,"type":"ERASE","sql":"DROP TABLE orders"}`,
			err: "a ERASE DDL message for table orders (DROP TABLE orders) and ddl = 'fail'"},
		{name: "not JSON", msg: `{"data":[{"id":"1"}],"table":"orders","type":"INSERT"`, err: "not JSON"},
		{name: "bad escape is not JSON", msg: `{"data":[{"id":"\q"}],"table":"orders","type":"INSERT"}`, err: "not JSON"},
		{name: "trailing garbage is not JSON", msg: canalFixture("INSERT", `[{"id":"1"}]`, "null") + " x", err: "not JSON"},
		{name: "JSON without type", msg: `{"foo":1}`, err: `not a canal flat message: no "type" or no "table"`},
		{name: "JSON array", msg: `[1,2]`, err: "not a canal flat message"},
		{name: "table of the wrong JSON type", msg: `{"table":5,"type":"INSERT","data":[{"id":"1"}]}`, err: `not a canal flat message: field "table" holds a JSON number`},
		{name: "data of the wrong JSON type", msg: `{"table":"t","type":"INSERT","data":"x"}`, err: `not a canal flat message: field "data" holds a JSON string`},
		{name: "unknown type", msg: `{"table":"t","type":"UPSERT","data":[{"id":"1"}]}`, err: `canal message of unknown type "UPSERT"`},
		{name: "row message without table", msg: `{"table":"","type":"INSERT","data":[{"id":"1"}]}`, err: `canal row message without "table"`},
		{name: "insert without rows", msg: `{"table":"t","type":"INSERT","data":[]}`, err: `canal INSERT message without rows in "data"`},
		{name: "update with more old than data", msg: `{"table":"t","type":"UPDATE","data":[{"id":"1"}],"old":[{},{}]}`, err: `canal UPDATE message with 1 rows in "data" and 2 in "old"`},
	})
}

// ccFixture is a cloudcanal message with the fixtures' types.
func ccFixture(action, before, data string, extra ...string) string {
	s := `{"action":"` + action + `","db":"shop","schema":"shop","table":"orders","pks":["id"],"isDdl":false,"entryType":"ROWDATA",` +
		`"execTs":1714564800000,"sendTs":1714564800123,"sql":"","bid":42,` +
		`"dbValType":{"id":"bigint(20)","status":"enum('new','paid','shipped')"},"jdbcType":{"id":-5,"status":1,"bin":-3,"img":2004,"placed":93,"born":91,"seen":2014},` +
		`"before":` + before + `,"data":` + data
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

func TestDecodeCloudCanal(t *testing.T) {
	const cols = "bin:varbinary,born:date,id*:text,img:blob,placed:timestamp,seen:timestamptz,status:enum"
	after := `{"id":"1","status":"2","bin":"\u00ff\u0001","img":"ab","placed":"2024-05-01 12:00:00","born":"2024-05-01","seen":1714564800123}`
	afterRow := `\xff01|2024-05-01|1|\x6162|2024-05-01 12:00:00|2024-05-01 12:00:00.123|paid`
	before := `{"id":"1","status":"1","bin":null,"img":"","placed":"0000-00-00 00:00:00","born":null,"seen":null}`
	runDecodeCases(t, FormatCloudCanal, []decodeCase{
		{name: "insert: binary and temporal typed by jdbcType, NULL as null", msg: ccFixture("INSERT", "null", "["+after+"]"), cols: cols,
			changes: []string{"I orders new=" + afterRow}},
		{name: "update with full before and after images", msg: ccFixture("UPDATE", "["+before+"]", "["+after+"]"), cols: cols,
			changes: []string{`U orders old=NULL|NULL|1|\x|NULL|NULL|new new=` + afterRow}},
		{name: "delete with the row in data", msg: ccFixture("DELETE", "null", `[{"id":"5","status":"3"}]`), cols: "id*:text,status:enum",
			changes: []string{"D orders old=5|shipped"}},
		{name: "delete with the row in before", msg: ccFixture("DELETE", `[{"id":"5","status":"3"}]`, "null"), cols: "id*:text,status:enum",
			changes: []string{"D orders old=5|shipped"}},
		{name: "delete with the row in before, data empty", msg: ccFixture("DELETE", `[{"id":"5"}]`, "[]"), cols: "id*:text",
			changes: []string{"D orders old=5"}},
		{name: "empty pks: no key column", msg: strings.Replace(ccFixture("INSERT", "null", `[{"id":"1"}]`), `"pks":["id"]`, `"pks":[]`, 1),
			cols: "id:text", changes: []string{"I orders new=1"}},
		{name: "dbValType wins over jdbcType", msg: strings.Replace(ccFixture("INSERT", "null", `[{"id":"1","bin":"2024-05-01 00:00:00"}]`), `"dbValType":{`, `"dbValType":{"bin":"datetime",`, 1),
			cols: "bin:timestamp,id*:text", changes: []string{"I orders new=2024-05-01 00:00:00|1"}},
		{name: "jdbcType only for binary and temporal codes", msg: ccFixture("INSERT", "null", `[{"id":"1","status":"x"}]`, `"dbValType":null`),
			cols: "id*:text,status:text", changes: []string{"I orders new=1|x"}},
		{name: "transaction markers carry no rows", msg: `{"action":"INSERT","table":"","entryType":"TRANSACTIONBEGIN","data":null}`},
		{name: "DDL by the older producers' ddl field", msg: `{"action":"ALTER","db":"shop","table":"orders","ddl":true,"sql":"ALTER TABLE orders ADD x int"}`, ddlKind: "ALTER"},
		{name: "ddl field true on a row action", msg: `{"action":"INSERT","db":"shop","table":"orders","ddl":true,"sql":"x"}`, ddlKind: "INSERT"},
		{name: "TRUNCATE under ddl apply", ddl: "apply", msg: `{"action":"TRUNCATE","db":"shop","table":"orders","isDdl":true,"sql":"TRUNCATE orders"}`,
			changes: []string{"T orders"}},
		{name: "DDL under ddl fail", ddl: "fail", msg: `{"action":"ALTER","db":"shop","table":"orders","isDdl":true,"sql":"ALTER TABLE orders ADD x int"}`,
			err: "a ALTER DDL message for table orders (ALTER TABLE orders ADD x int) and ddl = 'fail'"},
		{name: "zero date under zero_time error", zeroTime: "error", msg: ccFixture("INSERT", "null", `[{"id":"1","placed":"0000-00-00 00:00:00"}]`), err: "column placed: zero date"},
		{name: "not JSON", msg: `{"action":`, err: "not JSON"},
		{name: "a canal message is not a cloudcanal one", msg: canalFixture("INSERT", `[{"id":"1"}]`, "null"), err: `not a cloudcanal message: no "action" or no "table"`},
		{name: "jdbcType of the wrong JSON type", msg: ccFixture("INSERT", "null", `[{"id":"1"}]`, `"jdbcType":{"id":"x"}`), err: `not a cloudcanal message: field "jdbcType`},
		{name: "unknown action", msg: ccFixture("MERGE", "null", `[{"id":"1"}]`), err: `cloudcanal message of unknown action "MERGE"`},
		{name: "delete without rows", msg: ccFixture("DELETE", "null", "null"), err: "cloudcanal DELETE message without rows"},
		{name: "update with fewer before than data", msg: ccFixture("UPDATE", `[{"id":"1"}]`, `[{"id":"1"},{"id":"2"}]`), err: `cloudcanal UPDATE message with 2 rows in "data" and 1 in "before"`},
	})
}

// A DDL message under ddl = 'fail' is a *ddlError (the stream turns it
// into a run failure, not a bad record).
func TestDecodeDDLFailIsDDLError(t *testing.T) {
	d := newDecoder(FormatCanal, true, "fail")
	_, err := d.decode([]byte(`{"table":"orders","isDdl":true,"type":"ALTER","sql":"ALTER TABLE orders ADD x int"}`))
	var de *ddlError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T), want a *ddlError", err, err)
	}
}

func TestParseDBType(t *testing.T) {
	for _, c := range []struct {
		in   string
		kind string
		vals string
	}{
		{"enum('a','b''c','d\\'e')", "enum", "a|b'c|d'e"},
		{"ENUM('x')", "enum", "x"},
		{"set('red','green')", "set", "red|green"},
		{"varbinary(16)", "varbinary", ""},
		{"binary(4)", "binary", ""},
		{"mediumblob", "blob", ""},
		{"datetime(6)", "timestamp", ""},
		{"timestamp(3)", "timestamptz", ""},
		{"date", "date", ""},
		{"int(11) unsigned", "", ""},
		{"varchar(32)", "", ""},
		{"", "", ""},
	} {
		got := parseDBType(c.in)
		if string(got.kind) != c.kind || strings.Join(got.members, "|") != c.vals {
			t.Errorf("parseDBType(%q) = %s %v, want %s %s", c.in, got.kind, got.members, c.kind, c.vals)
		}
	}
}

// benchCanal is a message as the bench produces them: one lineitem row.
var benchCanal = []byte(`{"data":[{"comment":"new 1000001","created_at":"2026-12-02 22:44:01.123456","discount":"0.01","id":"1000001","order_id":"250000","price":"99.5","qty":"1.25","ship_date":"2024-01-01"}],` +
	`"database":"cdc_src","table":"lineitem","pkNames":["id"],"isDdl":false,"type":"UPDATE","es":1764715441123,"ts":1764715441123,"id":12,"sql":"",` +
	`"sqlType":{"comment":12,"created_at":93,"discount":8,"id":-5,"order_id":-5,"price":3,"qty":3,"ship_date":91},` +
	`"mysqlType":{"comment":"varchar(120)","created_at":"timestamp(6)","discount":"double","id":"bigint(20)","order_id":"bigint(20)","price":"decimal(15,2)","qty":"decimal(12,2)","ship_date":"date"},` +
	`"old":[{"price":"98.5"}],"gtid":""}`)

func BenchmarkDecodeCanal(b *testing.B) {
	d := newDecoder(FormatCanal, true, "ignore")
	b.SetBytes(int64(len(benchCanal)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.decode(benchCanal); err != nil {
			b.Fatal(err)
		}
	}
}
