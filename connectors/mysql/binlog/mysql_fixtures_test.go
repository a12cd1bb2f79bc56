package binlog

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const fixtureUUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"

func mustGTIDSet(t *testing.T, s string) GTIDSet {
	t.Helper()
	set, err := ParseGTIDSet(s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// The encoded GTID set of COM_BINLOG_DUMP_GTID, written out by hand from
// the documented layout.
func TestGTIDSetEncoding(t *testing.T) {
	set := mustGTIDSet(t, "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7,\n 00000000-0000-0000-0000-0000000000aa:3")
	if got := set.String(); got != fixtureUUID+":1-5:7,00000000-0000-0000-0000-0000000000aa:3" {
		t.Fatalf("String %s", got)
	}
	want := "0200000000000000" +
		"3e11fa4771ca11e19e33c80aa9429562" + "0200000000000000" +
		"0100000000000000" + "0600000000000000" + "0700000000000000" + "0800000000000000" +
		"000000000000000000000000000000aa" + "0100000000000000" +
		"0300000000000000" + "0400000000000000"
	if got := hex.EncodeToString(set.encode()); got != want {
		t.Fatalf("encoded\n got %s\nwant %s", got, want)
	}
	back, err := decodeGTIDSet(set.encode())
	if err != nil || back.String() != set.String() {
		t.Fatalf("decoded %v %v", back, err)
	}
	// COM_BINLOG_DUMP_GTID: command, flags (BINLOG_THROUGH_GTID), server
	// id, empty file name with its 4-byte length, position 4 (8 bytes),
	// data length, data.
	p := dumpGTIDPacket(1001, set)
	wantHead := "1e" + "0400" + "e9030000" + "00000000" + "0400000000000000" + fmt.Sprintf("%02x000000", len(want)/2)
	if got := hex.EncodeToString(p); got != wantHead+want {
		t.Fatalf("dump packet\n got %s\nwant %s", got, wantHead+want)
	}
	for _, bad := range []string{"nope:1", fixtureUUID, fixtureUUID + ":0", fixtureUUID + ":5-3", fixtureUUID + ":tag:1"} {
		if _, err := ParseGTIDSet(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseMariaGTIDList(t *testing.T) {
	l, err := ParseMariaGTIDList("0-1-100, 2-5-7")
	if err != nil || len(l) != 2 || l[1] != (MariaGTID{2, 5, 7}) || l[0].String() != "0-1-100" {
		t.Fatalf("%v %v", l, err)
	}
	for _, bad := range []string{"0-1", "a-b-c", "0-1-2,0-3-4", "0-1-2-3"} {
		if _, err := ParseMariaGTIDList(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// mysqlGTIDBody: flags, SID, GNO, logical timestamps (type 2), immediate
// commit timestamp with the "original follows" bit, original timestamp,
// transaction length, server versions.
func mysqlGTIDBody(gno int64) []byte {
	u, _ := parseUUID(fixtureUUID)
	b := []byte{1}
	b = append(b, u[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(gno))
	b = append(b, 2)
	b = binary.LittleEndian.AppendUint64(b, 11)
	b = binary.LittleEndian.AppendUint64(b, 12)
	ts7 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v)[:7] }
	b = append(b, ts7(1700000000123456|1<<55)...)
	b = append(b, ts7(1700000000000001)...)
	b = appendLenenc(b, 300)
	b = binary.LittleEndian.AppendUint32(b, 80036)
	return b
}

// A MySQL 8 stream: artificial rotate, format description, previous GTIDs,
// GTID, BEGIN, table map with optional metadata, v2 rows with extra data
// (binary JSON, decimal, TIMESTAMP2, VARCHAR), update, XID, heartbeat v2.
func TestMySQLEventFixtures(t *testing.T) {
	d := NewDecoder(FlavorMySQL, ChecksumCRC32, "")
	decode := func(raw []byte) *Event {
		t.Helper()
		ev, err := d.Decode(raw)
		if err != nil {
			t.Fatalf("decode %s: %v", EventType(raw[4]), err)
		}
		return ev
	}
	rot := decode(rawEvent(EventRotate, 0, append(binary.LittleEndian.AppendUint64(nil, 4), "binlog.000007"...), true))
	if r := rot.Data.(*RotateEvent); r.NextFile != "binlog.000007" || rot.File != "binlog.000007" || rot.Next != (Position{"binlog.000007", 4}) {
		t.Fatalf("rotate %+v %v", r, rot.Next)
	}
	fde := decode(fdeEvent("8.0.36", mysql8PostHeaders(), ChecksumCRC32)).Data.(*FormatDescriptionEvent)
	if fde.ServerVersion != "8.0.36" || fde.ChecksumAlg != ChecksumCRC32 || len(fde.PostHeaderLengths) != 41 {
		t.Fatalf("fde %+v", fde)
	}
	prev := decode(rawEvent(EventPreviousGTIDs, 191, mustGTIDSet(t, fixtureUUID+":1-41").encode(), true))
	if p := prev.Data.(*PreviousGTIDsEvent); p.Set.String() != fixtureUUID+":1-41" || prev.Next.Pos != 191 {
		t.Fatalf("previous GTIDs %v", p.Set)
	}
	gev := decode(rawEvent(EventGTID, 270, mysqlGTIDBody(42), true))
	g := gev.Data.(*GTIDEvent)
	if g.String() != fixtureUUID+":42" || g.LastCommitted != 11 || g.SequenceNumber != 12 ||
		g.ImmediateCommitTimestamp != 1700000000123456 || g.OriginalCommitTimestamp != 1700000000000001 ||
		g.TransactionLength != 300 || gev.GTID != fixtureUUID+":42" {
		t.Fatalf("GTID %+v (event GTID %q)", g, gev.GTID)
	}
	qb := binary.LittleEndian.AppendUint32(nil, 9)
	qb = binary.LittleEndian.AppendUint32(qb, 0)
	qb = append(qb, 2)
	qb = binary.LittleEndian.AppendUint16(qb, 0)
	qb = binary.LittleEndian.AppendUint16(qb, 3)
	qb = append(qb, 0x00, 0, 0) // status vars: flags2 (truncated for the fixture)
	qb = append(append(qb, "db\x00"...), "BEGIN"...)
	q := decode(rawEvent(EventQuery, 340, qb, true)).Data.(*QueryEvent)
	if q.Query != "BEGIN" || q.Schema != "db" || q.ThreadID != 9 || len(q.StatusVars) != 3 {
		t.Fatalf("query %+v", q)
	}

	// id BIGINT UNSIGNED, doc JSON, price DECIMAL(10,2), ts TIMESTAMP(3), name VARCHAR(20) utf8mb4.
	types := []byte{TypeLonglong, TypeJSON, TypeNewDecimal, TypeTimestamp2, TypeVarchar}
	meta := []byte{4, 10, 2, 3, 80, 0}
	var opt []byte
	opt = append(opt, optSignedness, 1, 0x80) // numeric columns id, price: id unsigned
	var names []byte
	for _, n := range []string{"id", "doc", "price", "ts", "name"} {
		names = append(appendLenenc(names, uint64(len(n))), n...)
	}
	opt = append(opt, optColumnName)
	opt = appendLenenc(opt, uint64(len(names)))
	opt = append(opt, names...)
	opt = append(opt, optSimplePrimaryKey, 1, 0)
	opt = append(opt, 99, 2, 0xaa, 0xbb) // an unknown field is skipped
	tmEv := decode(rawEvent(EventTableMap, 420, tableMapBody(0x0102030405, "shop", "orders", types, meta,
		[]bool{false, true, true, true, true}, opt), true))
	tm := tmEv.Data.(*TableMap)
	if tm.TableID != 0x0102030405 || tm.Schema != "shop" || tm.Table != "orders" || len(tm.Columns) != 5 ||
		!tm.Columns[0].Unsigned || tm.Columns[2].Unsigned || tm.Columns[4].Name != "name" ||
		fmt.Sprint(tm.PrimaryKey) != "[0]" || tm.Columns[4].MaxLength != 80 || tm.Columns[3].FSP != 3 {
		t.Fatalf("table map %+v", tm)
	}

	doc := jsonDoc(jObj{keys: []string{"k"}, vals: []any{jArr{1, "two"}}}, false)
	row1 := []byte{0x00} // no NULLs
	row1 = binary.LittleEndian.AppendUint64(row1, 18446744073709551615)
	row1 = binary.LittleEndian.AppendUint32(row1, uint32(len(doc)))
	row1 = append(row1, doc...)
	row1 = append(row1, 0x80, 0x00, 0x30, 0x39, 0x43)                         // 12345.67
	row1 = binary.BigEndian.AppendUint32(row1, 1700000000)                    // 2023-11-14 22:13:20 UTC
	row1 = binary.BigEndian.AppendUint16(row1, 1230)                          // .123
	row1 = append(append(row1, byte(len("héllo"))), "héllo"...)               // VARCHAR(80 bytes): 1-byte length
	row2 := append([]byte{0x1e}, binary.LittleEndian.AppendUint64(nil, 7)...) // doc, price, ts, name NULL
	wr := decode(rawEvent(EventWriteRowsV2, 600, rowsV2Body(0x0102030405, RowsFlagStmtEnd, []byte{0, 1, 0}, 5, false, row1, row2), true))
	re := wr.Data.(*RowsEvent)
	if re.Table != tm || re.Kind != Insert || re.Version != 2 || hex.EncodeToString(re.ExtraData) != "000100" || len(re.Rows) != 2 {
		t.Fatalf("rows %+v", re)
	}
	got := fmt.Sprintf("%v|%s|%v|%v|%s", Unsigned(re.Rows[0].After[0].(int64), TypeLonglong), re.Rows[0].After[1],
		re.Rows[0].After[2], re.Rows[0].After[3], re.Rows[0].After[4])
	if want := `18446744073709551615|{"k": [1, "two"]}|12345.67|2023-11-14 22:13:20.123|héllo`; got != want {
		t.Fatalf("row 1\n got %s\nwant %s", got, want)
	}
	if fmt.Sprint(re.Rows[1].After) != "[7 <nil> <nil> <nil> <nil>]" {
		t.Fatalf("row 2 %v", re.Rows[1].After)
	}
	if wr.GTID != fixtureUUID+":42" || wr.Next != (Position{"binlog.000007", 600}) {
		t.Fatalf("rows event GTID %q next %v", wr.GTID, wr.Next)
	}
	// The statement ended: its table map is forgotten.
	if _, err := d.Decode(rawEvent(EventWriteRowsV2, 700, rowsV2Body(0x0102030405, 0, nil, 5, false, row2), true)); err == nil ||
		!strings.Contains(err.Error(), "without a table map") {
		t.Fatalf("rows after statement end: %v", err)
	}

	decode(rawEvent(EventTableMap, 800, tableMapBody(9, "shop", "orders", types, meta, allTrue(5), nil), true))
	upd := decode(rawEvent(EventUpdateRowsV2, 900, rowsV2Body(9, RowsFlagStmtEnd, nil, 5, true, row2, row1), true)).Data.(*RowsEvent)
	if upd.Kind != Update || len(upd.Rows) != 1 || upd.Rows[0].Before[0] != int64(7) || string(upd.Rows[0].After[4].([]byte)) != "héllo" || upd.Table.Columns[0].Unsigned {
		t.Fatalf("update %+v", upd.Rows)
	}

	xid := decode(rawEvent(EventXID, 1000, binary.LittleEndian.AppendUint64(nil, 77), true))
	if xid.Data.(*XIDEvent).XID != 77 || xid.Next != (Position{"binlog.000007", 1000}) || xid.GTID != fixtureUUID+":42" {
		t.Fatalf("xid %+v", xid)
	}

	var hb []byte
	hb = append(hb, 1, byte(len("binlog.000007")))
	hb = append(hb, "binlog.000007"...)
	hb = append(hb, 2, 3, 0xfc, 0xe8, 0x03) // position 1000, packed
	hb = append(hb, 0)
	h := decode(rawEvent(EventHeartbeatV2, 0, hb, true))
	if v := h.Data.(*HeartbeatEvent); !v.V2 || v.File != "binlog.000007" || v.Position != 1000 || h.Next != xid.Next {
		t.Fatalf("heartbeat %+v next %v", v, h.Next)
	}

	// Types this package refuses say which server setting produced them.
	_, err := d.Decode(rawEvent(EventTransactionPay, 1100, []byte{0}, true))
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "binlog_transaction_compression") {
		t.Fatalf("transaction payload: %v", err)
	}
	// Unknown types come raw.
	raw := decode(rawEvent(EventType(200), 1200, []byte("opaque"), true))
	if r, ok := raw.Data.(*RawEvent); !ok || string(r.Body) != "opaque" {
		t.Fatalf("unknown event %#v", raw.Data)
	}
}

func TestChecksumFixtures(t *testing.T) {
	qb := make([]byte, 13)
	qb = append(qb, 0)
	qb = append(qb, "COMMIT"...)
	good := rawEvent(EventQuery, 500, qb, true)
	if _, err := NewDecoder(FlavorMySQL, ChecksumCRC32, "f").Decode(good); err != nil {
		t.Fatal(err)
	}
	for i := range good {
		if i >= 9 && i < 13 {
			continue // the size field: a different error
		}
		bad := append([]byte(nil), good...)
		bad[i] ^= 0x40
		if _, err := NewDecoder(FlavorMySQL, ChecksumCRC32, "f").Decode(bad); !errors.Is(err, ErrChecksum) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	fde := fdeEvent("8.0.36", mysql8PostHeaders(), ChecksumCRC32)
	fde[30] ^= 1
	if _, err := NewDecoder(FlavorMySQL, ChecksumOff, "").Decode(fde); !errors.Is(err, ErrChecksum) {
		t.Fatalf("format description: %v", err)
	}
	// A file without checksums: events carry none, whatever came before.
	d := NewDecoder(FlavorMySQL, ChecksumCRC32, "f")
	if _, err := d.Decode(fdeEvent("8.0.36", mysql8PostHeaders(), ChecksumOff)); err != nil {
		t.Fatal(err)
	}
	ev, err := d.Decode(rawEvent(EventQuery, 500, qb, false))
	if err != nil || ev.Data.(*QueryEvent).Query != "COMMIT" {
		t.Fatalf("%v %v", ev, err)
	}
}

// MySQL's documentation example: DECIMAL(14,4) 1234567890.1234 is
// 81 0D FB 38 D2 04 D2, and its negative every byte inverted.
func TestDecimalFixtures(t *testing.T) {
	for _, tc := range []struct {
		hex        string
		prec, scal int
		want       string
	}{
		{"810dfb38d204d2", 14, 4, "1234567890.1234"},
		{"7ef204c72dfb2d", 14, 4, "-1234567890.1234"},
		{"8000", 4, 2, "0.00"},
		{"80", 2, 0, "0"},
		{"7f", 2, 0, "0"}, // negative zero prints as 0
		{"800000000a", 10, 0, "10"},
		{"80000001", 9, 9, "0.000000001"},
	} {
		b, _ := hex.DecodeString(tc.hex)
		v, n, err := decodeDecimal(b, tc.prec, tc.scal)
		if err != nil || v != tc.want || n != len(b) {
			t.Errorf("%s (%d,%d): %v %d %v, want %s", tc.hex, tc.prec, tc.scal, v, n, err, tc.want)
		}
	}
	if _, _, err := decodeDecimal([]byte{0x80}, 14, 4); err == nil {
		t.Error("short decimal decoded")
	}
}

func TestUnsigned(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		typ  byte
		want uint64
	}{
		{-1, TypeTiny, 255}, {-128, TypeTiny, 128}, {-1, TypeShort, 65535}, {-1, TypeInt24, 16777215},
		{-8388608, TypeInt24, 8388608}, {-1, TypeLong, 4294967295}, {-1, TypeLonglong, 18446744073709551615}, {5, TypeLong, 5},
	} {
		if got := Unsigned(tc.v, tc.typ); got != tc.want {
			t.Errorf("Unsigned(%d, %d) = %d, want %d", tc.v, tc.typ, got, tc.want)
		}
	}
}
