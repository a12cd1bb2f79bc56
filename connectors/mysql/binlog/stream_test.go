package binlog

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// txn is one event group: from a GTID event to its XID, or a standalone
// GTID and its one statement.
type txn struct {
	gtid   string
	events []*Event
	end    *Event
}

func (x *txn) rows() []*RowsEvent {
	var out []*RowsEvent
	for _, ev := range x.events {
		if r, ok := ev.Data.(*RowsEvent); ok {
			out = append(out, r)
		}
	}
	return out
}

func (x *txn) touches(schema string) bool {
	for _, ev := range x.events {
		switch d := ev.Data.(type) {
		case *TableMap:
			if d.Schema == schema {
				return true
			}
		case *QueryEvent:
			if d.Schema == schema || strings.Contains(d.Query, schema) {
				return true
			}
		}
	}
	return false
}

// readTxns reads until n groups touching schema were seen. Events outside a
// group are passed to other, if not nil.
func readTxns(t *testing.T, c *Conn, schema string, n int, other func(*Event)) []*txn {
	t.Helper()
	var out []*txn
	var cur *txn
	var standalone bool
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d transactions of %s arrived", len(out), n, schema)
		}
		ev := next(t, c)
		switch d := ev.Data.(type) {
		case *MariaGTIDEvent:
			if cur != nil {
				t.Fatalf("GTID %s inside group %s", d, cur.gtid)
			}
			cur = &txn{gtid: d.String(), events: []*Event{ev}}
			standalone = d.Standalone()
			continue
		case *HeartbeatEvent:
			continue
		}
		if cur == nil {
			if other != nil {
				other(ev)
			}
			continue
		}
		cur.events = append(cur.events, ev)
		_, isXID := ev.Data.(*XIDEvent)
		q, isQuery := ev.Data.(*QueryEvent)
		if isXID || (standalone && isQuery) || (isQuery && q.Query == "COMMIT") {
			cur.end = ev
			if cur.touches(schema) {
				out = append(out, cur)
			}
			cur = nil
		}
	}
	return out
}

type colSpec struct {
	name, def string
	sel       string // select expression when the plain column is not comparable
	unsigned  bool
	float     bool // compared through the binary protocol instead
}

var allTypes = []colSpec{
	{name: "ti", def: "TINYINT"}, {name: "tiu", def: "TINYINT UNSIGNED", unsigned: true},
	{name: "si", def: "SMALLINT"}, {name: "siu", def: "SMALLINT UNSIGNED", unsigned: true},
	{name: "mi", def: "MEDIUMINT"}, {name: "miu", def: "MEDIUMINT UNSIGNED", unsigned: true},
	{name: "i", def: "INT"}, {name: "iu", def: "INT UNSIGNED", unsigned: true},
	{name: "bi", def: "BIGINT"}, {name: "biu", def: "BIGINT UNSIGNED", unsigned: true},
	{name: "f", def: "FLOAT", float: true}, {name: "d", def: "DOUBLE", float: true},
	{name: "dec1", def: "DECIMAL(36,10)"}, {name: "dec2", def: "DECIMAL(5,3)"}, {name: "dec3", def: "DECIMAL(10,2)"},
	{name: "dec4", def: "DECIMAL(65,30)"}, {name: "dec5", def: "DECIMAL(10,0)"}, {name: "dec6", def: "DECIMAL(9,9)"},
	{name: "decu", def: "DECIMAL(10,2) UNSIGNED", unsigned: true},
	{name: "y", def: "YEAR", sel: "y+0"},
	{name: "dt", def: "DATE"},
	{name: "dt0", def: "DATETIME"}, {name: "dt1", def: "DATETIME(1)"}, {name: "dt2", def: "DATETIME(2)"},
	{name: "dt3", def: "DATETIME(3)"}, {name: "dt4", def: "DATETIME(4)"}, {name: "dt5", def: "DATETIME(5)"},
	{name: "dt6", def: "DATETIME(6)"},
	{name: "ts0", def: "TIMESTAMP NULL"}, {name: "ts6", def: "TIMESTAMP(6) NULL"},
	{name: "tm0", def: "TIME"}, {name: "tm1", def: "TIME(1)"}, {name: "tm3", def: "TIME(3)"}, {name: "tm6", def: "TIME(6)"},
	{name: "ch", def: "CHAR(10) CHARACTER SET utf8mb4"}, {name: "ch100", def: "CHAR(100) CHARACTER SET utf8mb4"},
	{name: "bin", def: "BINARY(4)"},
	{name: "vc", def: "VARCHAR(10) CHARACTER SET latin1"}, {name: "vcl", def: "VARCHAR(300) CHARACTER SET utf8mb4"},
	{name: "vb", def: "VARBINARY(300)"},
	{name: "tt", def: "TINYTEXT"}, {name: "tx", def: "TEXT"}, {name: "mt", def: "MEDIUMTEXT"}, {name: "lt", def: "LONGTEXT"},
	{name: "tb", def: "TINYBLOB"}, {name: "bl", def: "BLOB"}, {name: "mb", def: "MEDIUMBLOB"}, {name: "lb", def: "LONGBLOB"},
	{name: "e", def: "ENUM('a','b','c')", sel: "e+0"}, {name: "s", def: "SET('x','y','z')", sel: "s+0"},
	{name: "b1", def: "BIT(1)", sel: "b1+0"}, {name: "b10", def: "BIT(10)", sel: "b10+0"}, {name: "b64", def: "BIT(64)", sel: "b64+0"},
	{name: "j", def: "JSON"},
	{name: "g", def: "GEOMETRY"},
}

var allBytes = func() string {
	var b strings.Builder
	for i := range 256 {
		fmt.Fprintf(&b, "%02X", i)
	}
	return b.String()
}()

// typeRows are the values of allTypes, by column name, as SQL expressions;
// columns left out are NULL.
var typeRows = []map[string]string{
	{ // minimums and negatives
		"ti": "-128", "tiu": "0", "si": "-32768", "siu": "0", "mi": "-8388608", "miu": "0",
		"i": "-2147483648", "iu": "0", "bi": "-9223372036854775808", "biu": "0",
		"f": "-3.40282e38", "d": "-1.7976931348623157e308",
		"dec1": "'-99999999999999999999999999.9999999999'", "dec2": "'-12.34'", "dec3": "'0.00'",
		"dec4": "'-0.000000000000000000000000000001'", "dec5": "'-9999999999'", "dec6": "'-0.999999999'", "decu": "'0'",
		"y": "1901", "dt": "'1000-01-01'",
		"dt0": "'1000-01-01 00:00:00'", "dt1": "'1000-01-01 00:00:00.1'", "dt2": "'1000-01-01 00:00:00.01'",
		"dt3": "'1000-01-01 00:00:00.001'", "dt4": "'1000-01-01 00:00:00.0001'", "dt5": "'1000-01-01 00:00:00.00001'",
		"dt6": "'1000-01-01 00:00:00.000001'",
		"ts0": "'1970-01-01 00:00:01'", "ts6": "'1970-01-01 00:00:01.000001'",
		"tm0": "'-838:59:59'", "tm1": "'-00:00:00.1'", "tm3": "'-00:00:01.5'", "tm6": "'-838:59:59.000000'",
		"ch": "'😀𝄞é'", "ch100": "REPEAT('😀', 100)", "bin": "'ab'", "vc": "'x'",
		"vcl": "REPEAT('é😀', 150)", "vb": "UNHEX('" + allBytes + "')",
		"tt": "'tiny 😀'", "tx": "REPEAT('text ', 1000)", "mt": "'medium'", "lt": "'long 𝄞'",
		"tb": "UNHEX('00FF')", "bl": "UNHEX('" + allBytes + "')", "mb": "UNHEX('" + allBytes + "')", "lb": "UNHEX('" + allBytes + "')",
		"e": "'a'", "s": "'x'", "b1": "b'0'", "b10": "b'0000000001'", "b64": "0",
		"j": `'{"a": [1, 2.5, {"b": null}], "c": "é😀"}'`, "g": "ST_GeomFromText('POINT(1 2)')",
	},
	{ // maximums
		"ti": "127", "tiu": "255", "si": "32767", "siu": "65535", "mi": "8388607", "miu": "16777215",
		"i": "2147483647", "iu": "4294967295", "bi": "9223372036854775807", "biu": "18446744073709551615",
		"f": "3.40282e38", "d": "1.7976931348623157e308",
		"dec1": "'99999999999999999999999999.9999999999'", "dec2": "'99.999'", "dec3": "'12345678.91'",
		"dec4": "'99999999999999999999999999999999999.999999999999999999999999999999'", "dec5": "'9999999999'",
		"dec6": "'0.999999999'", "decu": "'99999999.99'",
		"y": "2155", "dt": "'9999-12-31'",
		"dt0": "'9999-12-31 23:59:59'", "dt1": "'9999-12-31 23:59:59.9'", "dt2": "'9999-12-31 23:59:59.99'",
		"dt3": "'9999-12-31 23:59:59.999'", "dt4": "'9999-12-31 23:59:59.9999'", "dt5": "'9999-12-31 23:59:59.99999'",
		"dt6": "'9999-12-31 23:59:59.999999'",
		"ts0": "'2038-01-19 03:14:07'", "ts6": "'2038-01-19 03:14:07.999999'",
		"tm0": "'838:59:59'", "tm1": "'23:59:59.9'", "tm3": "'100:00:00.5'", "tm6": "'838:59:59.000000'",
		"ch": "'abc'", "ch100": "REPEAT('z', 100)", "bin": "UNHEX('FF00FF00')", "vc": "'0123456789'",
		"vcl": "REPEAT('a', 300)", "vb": "REPEAT('b', 300)",
		"tt": "REPEAT('t', 255)", "tx": "REPEAT('x', 65535)", "mt": "REPEAT('m', 70000)", "lt": "REPEAT('l', 70000)",
		"tb": "REPEAT('t', 255)", "bl": "REPEAT('b', 65535)", "mb": "REPEAT('m', 70000)", "lb": "REPEAT('l', 70000)",
		"e": "'c'", "s": "'x,y,z'", "b1": "b'1'", "b10": "b'1111111111'", "b64": "0xFFFFFFFFFFFFFFFF",
		"j": "'[]'", "g": "ST_GeomFromText('LINESTRING(0 0, 1 1, -1.5 2.25)')",
	},
	{}, // all NULL
	{ // zeros, empties, edge cases
		"ti": "0", "tiu": "1", "si": "-1", "siu": "1", "mi": "-1", "miu": "8388608", "i": "-1", "iu": "2147483648",
		"bi": "-1", "biu": "9223372036854775808",
		"f": "1.17549435e-38", "d": "2.2250738585072014e-308",
		"dec1": "'0'", "dec2": "'-0.001'", "dec3": "'-0.01'", "dec4": "'1'", "dec5": "'0'", "dec6": "'0.000000001'", "decu": "'0.01'",
		"y": "0", "dt": "'0000-00-00'",
		"dt0": "'0000-00-00 00:00:00'", "dt1": "'0000-00-00 00:00:00'", "dt2": "'2024-02-29 12:00:00.5'",
		"dt3": "'2024-02-29 23:59:59.123'", "dt4": "'1999-12-31 23:59:59.1234'", "dt5": "'2000-01-01 00:00:00.12345'",
		"dt6": "'0000-00-00 00:00:00'",
		"ts0": "'0000-00-00 00:00:00'", "ts6": "'0000-00-00 00:00:00'",
		"tm0": "'00:00:00'", "tm1": "'-12:00:00.5'", "tm3": "'-00:00:00.001'", "tm6": "'-00:00:01.000001'",
		"ch": "'a  '", "ch100": "''", "bin": "''", "vc": "'a  '", "vcl": "''", "vb": "''",
		"tt": "''", "tx": "''", "mt": "''", "lt": "''", "tb": "''", "bl": "''", "mb": "''", "lb": "''",
		"e": "'bogus'", "s": "''", "b1": "b'0'", "b10": "b'1000000000'", "b64": "0x8000000000000000",
		"j": `'"just a string"'`, "g": "ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))')",
	},
}

func createAllTypes(r *rig, table string) {
	defs := []string{"id INT PRIMARY KEY"}
	for _, c := range allTypes {
		defs = append(defs, c.name+" "+c.def)
	}
	r.exec("CREATE TABLE " + table + " (" + strings.Join(defs, ", ") + ")")
}

func insertAllTypes(r *rig, table string) []string {
	var names []string
	for _, c := range allTypes {
		names = append(names, c.name)
	}
	// One statement, every column listed; missing values are NULL.
	var rows []string
	for i, row := range typeRows {
		vals := []string{strconv.Itoa(i + 1)}
		for _, c := range allTypes {
			if v, ok := row[c.name]; ok {
				vals = append(vals, v)
			} else {
				vals = append(vals, "NULL")
			}
		}
		rows = append(rows, "("+strings.Join(vals, ", ")+")")
	}
	return []string{"INSERT INTO " + table + " (id, " + strings.Join(names, ", ") + ") VALUES " + strings.Join(rows, ", ")}
}

// snapshot is the server's view of the table: per id, the text of each
// select expression and the exact floats.
type snapshot map[int64]struct {
	text   []sql.NullString
	floats map[string]any
}

func takeSnapshot(t *testing.T, r *rig, table string) snapshot {
	t.Helper()
	exprs := []string{"id"}
	for _, c := range allTypes {
		e := c.name
		if c.sel != "" {
			e = c.sel
		}
		exprs = append(exprs, e)
	}
	snap := snapshot{}
	rows, err := r.db.Query("SELECT " + strings.Join(exprs, ", ") + " FROM " + table) // text protocol
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vals := make([]sql.NullString, len(exprs))
		ptrs := make([]any, len(exprs))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		id, _ := strconv.ParseInt(vals[0].String, 10, 64)
		e := snap[id]
		e.text = vals[1:]
		snap[id] = e
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// With an argument the driver uses a prepared statement: the binary
	// protocol gives FLOAT and DOUBLE exactly.
	frows, err := r.db.Query("SELECT id, f, d FROM "+table+" WHERE id > ?", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer frows.Close()
	for frows.Next() {
		var id int64
		var f, d any
		if err := frows.Scan(&id, &f, &d); err != nil {
			t.Fatal(err)
		}
		e := snap[id]
		e.floats = map[string]any{"f": f, "d": d}
		snap[id] = e
	}
	return snap
}

// cellText renders a decoded cell as the server prints the select
// expression of spec.
func cellText(spec colSpec, col *Column, v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case int64:
		if spec.unsigned {
			return strconv.FormatUint(Unsigned(x, col.Type), 10), true
		}
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case string:
		return x, true
	case []byte:
		return string(x), true
	default:
		return fmt.Sprintf("%T(%v)", v, v), true
	}
}

func checkImage(t *testing.T, what string, tm *TableMap, got []any, want snapshot) {
	t.Helper()
	if len(got) != len(allTypes)+1 {
		t.Fatalf("%s: %d cells", what, len(got))
	}
	id, ok := got[0].(int64)
	if !ok {
		t.Fatalf("%s: id %#v", what, got[0])
	}
	w, ok := want[id]
	if !ok {
		t.Fatalf("%s: id %d not in the snapshot", what, id)
	}
	for i, spec := range allTypes {
		cell := got[i+1]
		col := &tm.Columns[i+1]
		if spec.float {
			sv := w.floats[spec.name]
			switch {
			case sv == nil && cell == nil:
			case spec.name == "f" && cell != nil && sv != nil && cell.(float32) == sv.(float32):
			case spec.name == "d" && cell != nil && sv != nil && cell.(float64) == sv.(float64):
			default:
				t.Errorf("%s id %d %s: decoded %#v, server %#v", what, id, spec.name, cell, sv)
			}
			continue
		}
		gs, gok := cellText(spec, col, cell)
		ws := w.text[i]
		if spec.name == "bin" && !tm.HasCharsets {
			// Without charset metadata BINARY(n) comes as logged, without
			// its trailing zero bytes.
			ws.String = strings.TrimRight(ws.String, "\x00")
		}
		if gok != ws.Valid || gs != ws.String {
			t.Errorf("%s id %d %s (%s): decoded %q (%T, null=%v), server %q (null=%v)", what, id, spec.name, spec.def,
				short(gs), cell, !gok, short(ws.String), !ws.Valid)
		}
	}
}

func short(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%s...(%d bytes, sha %s)", hex.EncodeToString([]byte(s[:20])), len(s), s[len(s)-8:])
	}
	return s
}

// TestStreamAllTypes checks every column type against the server's SELECT,
// with and without optional table map metadata.
func TestStreamAllTypes(t *testing.T) {
	r := newRig(t)
	old := r.queryString("SELECT @@global.binlog_row_metadata")
	t.Cleanup(func() { r.db.Exec("SET GLOBAL binlog_row_metadata = '" + old + "'") })
	for _, meta := range []string{"NO_LOG", "FULL"} {
		t.Run(meta, func(t *testing.T) {
			r.exec("SET GLOBAL binlog_row_metadata = '" + meta + "'")
			streamAllTypes(t, r, meta == "FULL")
		})
	}
}

func streamAllTypes(t *testing.T, r *rig, fullMeta bool) {
	schema := r.srv.NewDatabase(t, "bl_types")
	table := "`" + schema + "`.t"
	createAllTypes(r, table)

	c, start := r.stream(func(cfg *Config) { cfg.AnnotateRows = true })
	r.session(append([]string{"SET SESSION sql_mode = ''", "SET SESSION time_zone = '+00:00'"}, insertAllTypes(r, table)...)...)
	s1 := takeSnapshot(t, r, table)
	r.session("UPDATE " + table + " SET i = 42, vcl = 'changed', tm6 = '-12:34:56.789012', dt6 = '2001-02-03 04:05:06.654321', j = '[1]', e = 'b', s = 'y,z', b64 = 5, dec1 = '-1.5', f = 0.5, d = -0.25 WHERE id = 4")
	s2 := takeSnapshot(t, r, table)
	r.session("DELETE FROM " + table + " WHERE id = 1")
	r.session("SET SESSION sql_mode = ''",
		"BEGIN",
		"INSERT INTO "+table+" (id, i, vc) VALUES (10, 7, 'ten')",
		"UPDATE "+table+" SET i = 8 WHERE id = 10",
		"DELETE FROM "+table+" WHERE id = 2",
		"COMMIT")
	r.exec("ALTER TABLE " + table + " ADD COLUMN extra INT")

	var sawRotate, sawFDE bool
	txns := readTxns(t, c, schema, 5, func(ev *Event) {
		switch d := ev.Data.(type) {
		case *RotateEvent:
			sawRotate = true
			if d.NextFile != start.File || d.Position != uint64(start.Pos) || ev.Next != (Position{start.File, start.Pos}) {
				t.Errorf("first rotate %+v next %v, want %v", d, ev.Next, start)
			}
		case *FormatDescriptionEvent:
			sawFDE = true
			if d.ChecksumAlg != ChecksumCRC32 || d.BinlogVersion != 4 || !strings.Contains(d.ServerVersion, "MariaDB") {
				t.Errorf("format description %+v", d)
			}
		}
	})
	if !sawRotate || !sawFDE {
		t.Errorf("rotate %v, format description %v before the first transaction", sawRotate, sawFDE)
	}
	insert, update, del, multi, ddl := txns[0], txns[1], txns[2], txns[3], txns[4]

	// Every DML transaction: GTID ... XID, positions advance, one GTID each.
	var lastPos uint32
	for i, x := range txns[:4] {
		if _, ok := x.end.Data.(*XIDEvent); !ok {
			t.Errorf("transaction %d ends with %s", i, x.end.Header.Type)
		}
		for _, ev := range x.events {
			if ev.GTID != x.gtid {
				t.Errorf("transaction %d: event %s has GTID %q, want %q", i, ev.Header.Type, ev.GTID, x.gtid)
			}
			if ev.Next.Pos <= lastPos && ev.Next.File == start.File {
				t.Errorf("transaction %d: position %v does not advance past %d", i, ev.Next, lastPos)
			}
			lastPos = ev.Next.Pos
		}
	}

	// Annotations came (AnnotateRows) and name the statement.
	var annotated bool
	for _, ev := range insert.events {
		if a, ok := ev.Data.(*AnnotateRowsEvent); ok && strings.HasPrefix(a.Query, "INSERT INTO") {
			annotated = true
		}
	}
	if !annotated {
		t.Error("no ANNOTATE_ROWS event before the insert")
	}

	// The insert: after images equal the server's rows.
	var inserted int
	for _, re := range insert.rows() {
		if re.Kind != Insert || re.Table.Schema != schema || re.Table.Table != "t" {
			t.Fatalf("insert transaction has %s on %s.%s", re.Kind, re.Table.Schema, re.Table.Table)
		}
		for _, row := range re.Rows {
			if row.Before != nil {
				t.Error("insert with a before image")
			}
			checkImage(t, "insert", re.Table, row.After, s1)
			inserted++
		}
	}
	if inserted != len(typeRows) {
		t.Fatalf("%d rows inserted, want %d", inserted, len(typeRows))
	}
	// The table map: one entry per column, types as logged.
	tm := insert.rows()[0].Table
	wantTypes := map[string]byte{"ti": TypeTiny, "si": TypeShort, "mi": TypeInt24, "i": TypeLong, "bi": TypeLonglong,
		"f": TypeFloat, "d": TypeDouble, "dec1": TypeNewDecimal, "y": TypeYear, "dt": TypeDate, "dt3": TypeDatetime2,
		"ts6": TypeTimestamp2, "tm6": TypeTime2, "vc": TypeVarchar, "bl": TypeBlob, "b64": TypeBit, "g": TypeGeometry}
	for i, spec := range allTypes {
		if want, ok := wantTypes[spec.name]; ok && tm.Columns[i+1].Type != want {
			t.Errorf("column %s logged as type %d, want %d", spec.name, tm.Columns[i+1].Type, want)
		}
	}
	if tm.HasColumnNames != fullMeta || tm.HasSignedness != fullMeta || tm.HasCharsets != fullMeta {
		t.Errorf("optional metadata: names %v signedness %v charsets %v", tm.HasColumnNames, tm.HasSignedness, tm.HasCharsets)
	}
	if fullMeta {
		for i, spec := range allTypes {
			col := tm.Columns[i+1]
			if col.Name != spec.name || col.Unsigned != spec.unsigned && isNumeric(col.RealType) {
				t.Errorf("column %d: name %q unsigned %v, want %q %v", i+1, col.Name, col.Unsigned, spec.name, spec.unsigned)
			}
		}
	}
	if col := tm.Columns[1+indexOf("e")]; col.Type != TypeString || col.RealType != TypeEnum {
		t.Errorf("enum column types %d/%d", col.Type, col.RealType)
	}
	if col := tm.Columns[1+indexOf("dt5")]; col.FSP != 5 {
		t.Errorf("dt5 fsp %d", col.FSP)
	}
	if col := tm.Columns[1+indexOf("dec1")]; col.Precision != 36 || col.Scale != 10 {
		t.Errorf("dec1 %d,%d", col.Precision, col.Scale)
	}

	// The update: before and after images.
	ur := update.rows()
	if len(ur) != 1 || ur[0].Kind != Update || len(ur[0].Rows) != 1 {
		t.Fatalf("update transaction rows %+v", ur)
	}
	checkImage(t, "update before", ur[0].Table, ur[0].Rows[0].Before, s1)
	checkImage(t, "update after", ur[0].Table, ur[0].Rows[0].After, s2)

	// The delete: a before image only.
	dr := del.rows()
	if len(dr) != 1 || dr[0].Kind != Delete || len(dr[0].Rows) != 1 || dr[0].Rows[0].After != nil {
		t.Fatalf("delete transaction rows %+v", dr)
	}
	checkImage(t, "delete", dr[0].Table, dr[0].Rows[0].Before, s2)

	// The multi-statement transaction: one group, three row events.
	mr := multi.rows()
	if len(mr) != 3 || mr[0].Kind != Insert || mr[1].Kind != Update || mr[2].Kind != Delete {
		t.Fatalf("multi-statement transaction: %d row events", len(mr))
	}
	if got := mr[1].Rows[0].After[1+indexOf("i")]; got != int64(8) {
		t.Errorf("update in transaction: i = %#v", got)
	}
	if got := mr[2].Rows[0].Before[0]; got != int64(2) {
		t.Errorf("delete in transaction: id = %#v", got)
	}

	// DDL: a standalone GTID and a QUERY event.
	g := ddl.events[0].Data.(*MariaGTIDEvent)
	q, ok := ddl.end.Data.(*QueryEvent)
	if !g.Standalone() || !ok || !strings.HasPrefix(q.Query, "ALTER TABLE") || len(ddl.events) != 2 {
		t.Fatalf("DDL group: standalone=%v events=%d end=%s", g.Standalone(), len(ddl.events), describe(ddl.end))
	}

	// Resume from the update's XID position: the delete comes next.
	t.Run("restart from position", func(t *testing.T) {
		pos := update.end.Next
		c2 := r.dial(r.config())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c2.StartFromPosition(ctx, pos.File, pos.Pos); err != nil {
			t.Fatal(err)
		}
		got := readTxns(t, c2, schema, 1, nil)[0]
		if got.gtid != del.gtid || len(got.rows()) != 1 || got.rows()[0].Kind != Delete {
			t.Fatalf("after %v: transaction %s with %d row events, want the delete %s", pos, got.gtid, len(got.rows()), del.gtid)
		}
		if got.end.Next != del.end.Next {
			t.Fatalf("restarted XID at %v, first stream had %v", got.end.Next, del.end.Next)
		}
	})

	// Resume after the update's GTID: the delete comes next.
	t.Run("restart from GTID", func(t *testing.T) {
		c2 := r.dial(r.config())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c2.StartFromGTID(ctx, update.gtid); err != nil {
			t.Fatal(err)
		}
		got := readTxns(t, c2, schema, 1, nil)[0]
		if got.gtid != del.gtid || len(got.rows()) != 1 || got.rows()[0].Kind != Delete {
			t.Fatalf("after %s: transaction %s, want the delete %s", update.gtid, got.gtid, del.gtid)
		}
		checkImage(t, "delete after GTID restart", got.rows()[0].Table, got.rows()[0].Rows[0].Before, s2)
	})
}

func indexOf(name string) int {
	for i, c := range allTypes {
		if c.name == name {
			return i
		}
	}
	panic(name)
}

func TestTableMapFullMetadata(t *testing.T) {
	r := newRig(t)
	old := r.queryString("SELECT @@global.binlog_row_metadata")
	r.exec("SET GLOBAL binlog_row_metadata = 'FULL'")
	t.Cleanup(func() { r.db.Exec("SET GLOBAL binlog_row_metadata = '" + old + "'") })
	schema := r.srv.NewDatabase(t, "bl_meta")
	table := "`" + schema + "`.m"
	r.exec("CREATE TABLE " + table + " (id INT UNSIGNED, name VARCHAR(20) CHARACTER SET latin1, n TINYINT, " +
		"big BIGINT UNSIGNED, e ENUM('x','y'), s SET('a','b','c'), g POINT, t TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, " +
		"price DECIMAL(8,2) UNSIGNED, PRIMARY KEY (id, name))")
	c, _ := r.stream(nil)
	r.exec("INSERT INTO " + table + " VALUES (4294967295, 'n', -1, 18446744073709551615, 'y', 'a,c', POINT(1,1), 'x', 1.5)")
	x := readTxns(t, c, schema, 1, nil)[0]
	re := x.rows()[0]
	tm := re.Table
	if !tm.HasColumnNames || !tm.HasSignedness || !tm.HasCharsets {
		t.Fatalf("metadata flags: names %v signedness %v charsets %v", tm.HasColumnNames, tm.HasSignedness, tm.HasCharsets)
	}
	var names []string
	for _, col := range tm.Columns {
		names = append(names, col.Name)
	}
	if got := strings.Join(names, ","); got != "id,name,n,big,e,s,g,t,price" {
		t.Errorf("names %s", got)
	}
	for name, want := range map[string]bool{"id": true, "n": false, "big": true, "price": true} {
		if got := tm.Columns[tm.ColumnIndex(name)].Unsigned; got != want {
			t.Errorf("%s unsigned %v", name, got)
		}
	}
	if e := tm.Columns[tm.ColumnIndex("e")]; strings.Join(e.EnumValues, ",") != "x,y" {
		t.Errorf("enum values %q", e.EnumValues)
	}
	if s := tm.Columns[tm.ColumnIndex("s")]; strings.Join(s.SetValues, ",") != "a,b,c" {
		t.Errorf("set values %q", s.SetValues)
	}
	if fmt.Sprint(tm.PrimaryKey) != "[0 1]" {
		t.Errorf("primary key %v prefix %v", tm.PrimaryKey, tm.PrimaryKeyPrefix)
	}
	// latin1_swedish_ci is 8, utf8mb4_bin 46.
	if got := tm.Columns[tm.ColumnIndex("name")].Collation; got != 8 {
		t.Errorf("name collation %d", got)
	}
	if got := tm.Columns[tm.ColumnIndex("t")].Collation; got != 46 {
		t.Errorf("t collation %d", got)
	}
	if g := tm.Columns[tm.ColumnIndex("g")].GeometryType; g != 1 {
		t.Errorf("geometry type %d, want 1 (point)", g)
	}
	row := re.Rows[0].After
	if v := row[0].(int64); Unsigned(v, tm.Columns[0].Type) != 4294967295 {
		t.Errorf("unsigned id %d", v)
	}
	if v := row[3].(int64); Unsigned(v, tm.Columns[3].Type) != 18446744073709551615 {
		t.Errorf("unsigned big %d", v)
	}
	if row[2] != int64(-1) || row[4] != int64(2) || row[5] != uint64(5) || row[8] != "1.50" {
		t.Errorf("row %v", row)
	}
}

func TestCompressedEvents(t *testing.T) {
	r := newRig(t)
	oldOn := r.queryString("SELECT @@global.log_bin_compress")
	oldMin := r.queryString("SELECT @@global.log_bin_compress_min_len")
	r.exec("SET GLOBAL log_bin_compress = ON", "SET GLOBAL log_bin_compress_min_len = 10")
	t.Cleanup(func() {
		r.db.Exec("SET GLOBAL log_bin_compress = " + oldOn)
		r.db.Exec("SET GLOBAL log_bin_compress_min_len = " + oldMin)
	})
	schema := r.srv.NewDatabase(t, "bl_zip")
	table := "`" + schema + "`.z"
	c, _ := r.stream(nil)
	r.exec("CREATE TABLE "+table+" (id INT PRIMARY KEY, body TEXT) /* a comment to pass the minimum length */",
		"INSERT INTO "+table+" VALUES (1, REPEAT('compress me ', 500)), (2, NULL)",
		"UPDATE "+table+" SET body = 'short' WHERE id = 1")
	txns := readTxns(t, c, schema, 3, nil)
	q := txns[0].end.Data.(*QueryEvent)
	if txns[0].end.Header.Type != EventQueryCompressed || !q.Compressed || !strings.HasPrefix(q.Query, "CREATE TABLE") {
		t.Errorf("DDL as %s: %q", txns[0].end.Header.Type, q.Query)
	}
	ins := txns[1].rows()[0]
	if !ins.Compressed || len(ins.Rows) != 2 {
		t.Fatalf("insert: compressed %v rows %d", ins.Compressed, len(ins.Rows))
	}
	if got := string(ins.Rows[0].After[1].([]byte)); got != strings.Repeat("compress me ", 500) || ins.Rows[1].After[1] != nil {
		t.Errorf("insert values %q / %v", short(got), ins.Rows[1].After[1])
	}
	upd := txns[2].rows()[0]
	if upd.Kind != Update || string(upd.Rows[0].After[1].([]byte)) != "short" {
		t.Errorf("update %s %v", upd.Kind, upd.Rows)
	}
}

func TestOldTemporalFormats(t *testing.T) {
	r := newRig(t)
	old := r.queryString("SELECT @@global.mysql56_temporal_format")
	r.exec("SET GLOBAL mysql56_temporal_format = OFF")
	t.Cleanup(func() { r.db.Exec("SET GLOBAL mysql56_temporal_format = " + old) })
	schema := r.srv.NewDatabase(t, "bl_oldtime")
	table := "`" + schema + "`.o"
	r.exec("CREATE TABLE " + table + " (id INT PRIMARY KEY, dt DATETIME, tm TIME, ts TIMESTAMP NULL)")
	c, _ := r.stream(nil)
	r.session("SET SESSION sql_mode = ''", "SET SESSION time_zone = '+00:00'",
		"INSERT INTO "+table+" VALUES (1, '2024-02-29 13:14:15', '-123:45:06', '2020-06-30 23:59:58'), (2, '0000-00-00 00:00:00', '00:00:00', '0000-00-00 00:00:00')")
	re := readTxns(t, c, schema, 1, nil)[0].rows()[0]
	tm := re.Table
	if tm.Columns[1].Type != TypeDatetime || tm.Columns[2].Type != TypeTime || tm.Columns[3].Type != TypeTimestamp {
		t.Fatalf("types %d %d %d: the server did not use the old formats", tm.Columns[1].Type, tm.Columns[2].Type, tm.Columns[3].Type)
	}
	want := [][]any{{int64(1), "2024-02-29 13:14:15", "-123:45:06", "2020-06-30 23:59:58"},
		{int64(2), "0000-00-00 00:00:00", "00:00:00", "0000-00-00 00:00:00"}}
	for i, row := range re.Rows {
		if fmt.Sprint(row.After) != fmt.Sprint(want[i]) {
			t.Errorf("row %d: %v, want %v", i, row.After, want[i])
		}
	}
}

func TestHeartbeat(t *testing.T) {
	r := newRig(t)
	c, _ := r.stream(func(cfg *Config) { cfg.HeartbeatPeriod = time.Second })
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ev, err := c.NextEvent(ctx)
		cancel()
		if err != nil {
			t.Fatalf("after %s: %v", time.Since(start), err)
		}
		if hb, ok := ev.Data.(*HeartbeatEvent); ok {
			if hb.File == "" || hb.Position < 4 {
				t.Errorf("heartbeat %+v", hb)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("first heartbeat after %s with a 1s period", d)
			}
			return
		}
	}
}

func TestContextCancelUnblocksRead(t *testing.T) {
	r := newRig(t)
	c, _ := r.stream(nil)
	// Drain the start of the stream.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := c.NextEvent(ctx)
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := c.NextEvent(ctx)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
	// Nothing was half read: the stream goes on.
	schema := r.srv.NewDatabase(t, "bl_cancel")
	r.exec("CREATE TABLE `" + schema + "`.t (id INT)")
	readTxns(t, c, schema, 2, nil) // CREATE DATABASE, CREATE TABLE

	// Close from another goroutine unblocks too.
	go func() { time.Sleep(200 * time.Millisecond); c.Close() }()
	if ev, err := c.NextEvent(context.Background()); err == nil {
		t.Fatalf("NextEvent after Close succeeded: %s", describe(ev))
	}
}

func TestRotation(t *testing.T) {
	r := newRig(t)
	c, start := r.stream(nil)
	r.exec("FLUSH BINARY LOGS")
	var rot *RotateEvent
	var rotEv *Event
	for rot == nil {
		ev := next(t, c)
		if d, ok := ev.Data.(*RotateEvent); ok && ev.Header.Flags&FlagArtificial == 0 && ev.Header.LogPos != 0 {
			rot, rotEv = d, ev
		}
	}
	if rot.NextFile == start.File || rot.Position != 4 || rotEv.File != start.File || rotEv.Next != (Position{rot.NextFile, 4}) {
		t.Fatalf("rotate %+v in %s next %v (started in %s)", rot, rotEv.File, rotEv.Next, start.File)
	}
	var st MasterStatus
	if err := r.db.QueryRow("SHOW MASTER STATUS").Scan(&st.File, &st.Pos, new(sql.NullString), new(sql.NullString)); err != nil {
		t.Fatal(err)
	}
	if st.File != rot.NextFile {
		t.Fatalf("rotated to %s, server is at %s", rot.NextFile, st.File)
	}
	schema := r.srv.NewDatabase(t, "bl_rotate")
	r.exec("CREATE TABLE `"+schema+"`.t (id INT)", "INSERT INTO `"+schema+"`.t VALUES (1)")
	var fde bool
	txns := readTxns(t, c, schema, 3, func(ev *Event) {
		if _, ok := ev.Data.(*FormatDescriptionEvent); ok {
			fde = true
		}
	})
	if !fde {
		t.Error("no format description after the rotate")
	}
	if _, ok := txns[2].end.Data.(*XIDEvent); !ok {
		t.Fatalf("third transaction ends with %s", describe(txns[2].end))
	}
	if got := txns[2].end; got.File != rot.NextFile || got.Next.File != rot.NextFile {
		t.Errorf("insert XID in %s next %v, want file %s", got.File, got.Next, rot.NextFile)
	}
}

// A captured event with one byte changed fails its CRC32.
func TestChecksumMismatchOnCapturedEvent(t *testing.T) {
	r := newRig(t)
	c, _ := r.stream(nil)
	schema := r.srv.NewDatabase(t, "bl_crc")
	r.exec("CREATE TABLE `"+schema+"`.t (id INT, v VARCHAR(20))", "INSERT INTO `"+schema+"`.t VALUES (1, 'checksummed')")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		var p []byte
		err := c.withContext(ctx, func() error { var err error; p, err = c.pc.readPacket(); return err })
		if err != nil {
			t.Fatal(err)
		}
		raw := p[1:]
		ev, err := c.dec.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ev.Data.(*RowsEvent); !ok {
			continue
		}
		bad := append([]byte(nil), raw...)
		bad[len(bad)-8] ^= 0x01 // a byte of the row data
		if _, err := c.dec.Decode(bad); !errors.Is(err, ErrChecksum) {
			t.Fatalf("corrupted event: %v", err)
		}
		return
	}
}

// An event over 16 MiB arrives in several protocol packets.
func TestEventLargerThanOnePacket(t *testing.T) {
	r := newRig(t)
	old := r.queryString("SELECT @@global.max_allowed_packet")
	r.exec("SET GLOBAL max_allowed_packet = 67108864")
	t.Cleanup(func() { r.db.Exec("SET GLOBAL max_allowed_packet = " + old) })
	schema := r.srv.NewDatabase(t, "bl_big")
	table := "`" + schema + "`.big"
	r.exec("CREATE TABLE " + table + " (id INT PRIMARY KEY, body LONGBLOB)")
	c, _ := r.stream(nil)
	const size = 17<<20 + 5
	// A new connection picks up the larger max_allowed_packet.
	db2, err := sql.Open("mysql", r.srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if _, err := db2.Exec("INSERT INTO "+table+" VALUES (1, REPEAT('z', ?))", size); err != nil {
		t.Fatal(err)
	}
	rows := readTxns(t, c, schema, 1, nil)[0].rows()
	if len(rows) != 1 || len(rows[0].Rows) != 1 {
		t.Fatalf("%d row events", len(rows))
	}
	body := rows[0].Rows[0].After[1].([]byte)
	if len(body) != size || strings.Trim(string(body), "z") != "" {
		t.Fatalf("body of %d bytes", len(body))
	}
}
