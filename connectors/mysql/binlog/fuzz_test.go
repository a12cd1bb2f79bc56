package binlog

import (
	"encoding/binary"
	"testing"
)

// fuzzTypes covers every column type the decoder knows, with metadata.
var fuzzTypes = []byte{TypeTiny, TypeShort, TypeInt24, TypeLong, TypeLonglong, TypeFloat, TypeDouble,
	TypeNewDecimal, TypeYear, TypeDate, TypeTime, TypeDatetime, TypeTimestamp, TypeTime2, TypeDatetime2,
	TypeTimestamp2, TypeVarchar, TypeString, TypeString, TypeString, TypeBit, TypeBlob, TypeJSON, TypeGeometry}

var fuzzMeta = []byte{
	4, 8, // float, double
	20, 4, // decimal(20,4)
	6, 3, 4, // time2(6), datetime2(3), timestamp2(4)
	0x2c, 0x01, // varchar(300)
	TypeEnum, 2, TypeSet, 8, 0xee, 0x40, // enum, set, char with a long length
	0, 8, // bit(64)
	2, 4, 4, // blob, json, geometry
}

// fuzzRow is one row image of fuzzTypes, every value set.
func fuzzRow() []byte {
	row := []byte{0, 0, 0}                             // NULL bitmap
	row = append(row, 0xff)                            // TINY -1
	row = append(row, 2, 0)                            // SHORT
	row = append(row, 3, 0, 0)                         // INT24
	row = append(row, 4, 0, 0, 0)                      // LONG
	row = binary.LittleEndian.AppendUint64(row, 5)     // LONGLONG
	row = append(row, 0, 0, 0x80, 0x3f)                // FLOAT 1
	row = append(row, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f)    // DOUBLE 1
	row = append(row, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 2) // DECIMAL(20,4) 1.0002
	row = append(row, 120)                             // YEAR 2020
	row = append(row, 0x21, 0x0f, 0x00)                // DATE
	row = append(row, 0x40, 0xe2, 0x01)                // TIME 12:34:56
	row = binary.LittleEndian.AppendUint64(row, 20240229131415)
	row = append(row, 1, 0, 0, 0)                          // TIMESTAMP
	row = append(row, 0x80, 0x10, 0x00, 0, 0, 1)           // TIME2(6)
	row = append(row, 0x99, 0xb2, 0x7a, 0xd3, 0x4f, 0, 10) // DATETIME2(3)
	row = append(row, 0, 0, 0, 1, 0, 1)                    // TIMESTAMP2(4)
	row = append(row, 3, 0, 'a', 'b', 'c')                 // VARCHAR(300)
	row = append(row, 2, 0)                                // ENUM
	row = binary.LittleEndian.AppendUint64(row, 5)         // SET
	row = append(row, 2, 0, 'h', 'i')                      // CHAR(320 bytes)
	row = append(row, 0, 0, 0, 0, 0, 0, 0, 1)              // BIT(64)
	row = append(row, 2, 0, 'x', 'y')                      // BLOB
	doc := jsonDoc(jObj{keys: []string{"a", "b"}, vals: []any{jArr{1, 2.5, "s", nil}, jOpaque{typ: TypeNewDecimal, data: []byte{4, 2, 0x80, 0x7b, 0x2d}}}}, false)
	row = binary.LittleEndian.AppendUint32(row, uint32(len(doc)))
	row = append(row, doc...)
	return append(row, 1, 0, 0, 0, 0) // GEOMETRY
}

func fuzzDecoder(t testing.TB, alg ChecksumAlg) *Decoder {
	d := NewDecoder(FlavorMySQL, alg, "f")
	if _, err := d.Decode(fdeEvent("8.0.36", mysql8PostHeaders(), alg)); err != nil {
		t.Fatal(err)
	}
	tm := tableMapBody(1, "s", "t", fuzzTypes, fuzzMeta, allTrue(len(fuzzTypes)), nil)
	if _, err := d.Decode(rawEvent(EventTableMap, 100, tm, alg == ChecksumCRC32)); err != nil {
		t.Fatal(err)
	}
	return d
}

func FuzzDecodeEvent(f *testing.F) {
	row := fuzzRow()
	n := len(fuzzTypes)
	f.Add(byte(EventWriteRowsV2), rowsV2Body(1, 1, nil, n, false, row))
	f.Add(byte(EventUpdateRowsV2), rowsV2Body(1, 1, []byte{0, 1, 2}, n, true, row, row))
	f.Add(byte(EventDeleteRowsV1), rowsV2Body(1, 1, nil, n, false, row)[:8])
	f.Add(byte(EventTableMap), tableMapBody(2, "s", "t", fuzzTypes, fuzzMeta, allTrue(n), []byte{1, 1, 0xff, 4, 2, 1, 'x', 5, 3, 1, 1, 'a'}))
	f.Add(byte(EventGTID), mysqlGTIDBody(7))
	f.Add(byte(EventMariaGTID), []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6})
	f.Add(byte(EventMariaGTIDList), []byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0})
	f.Add(byte(EventPreviousGTIDs), mustGTIDSetF(fixtureUUID+":1-3").encode())
	f.Add(byte(EventQuery), append(make([]byte, 13), "\x00BEGIN"...))
	f.Add(byte(EventQueryCompressed), append(make([]byte, 13), 0, 0x81, 5, 0x78, 0x9c, 0x73, 0x72, 0xf5, 0xf4, 0x0b, 0, 0, 3, 0x2d, 1, 0x3c))
	f.Add(byte(EventWriteRowsCompressed), append(rowsV2Body(1, 1, nil, n, false), 0x81, 1, 0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1))
	f.Add(byte(EventRotate), append(binary.LittleEndian.AppendUint64(nil, 4), "f.000002"...))
	f.Add(byte(EventHeartbeatV2), []byte{1, 1, 'f', 2, 1, 9, 0})
	f.Add(byte(EventFormatDesc), fdeEvent("10.11.6-MariaDB", mysql8PostHeaders(), ChecksumCRC32)[HeaderLen:])
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		for _, alg := range []ChecksumAlg{ChecksumOff, ChecksumCRC32} {
			d := fuzzDecoder(t, alg)
			ev := rawEvent(EventType(typ), 200, body, alg == ChecksumCRC32)
			d.Decode(ev)
			// The same bytes as a whole event, header included.
			d.Decode(body)
		}
	})
}

func mustGTIDSetF(s string) GTIDSet {
	set, err := ParseGTIDSet(s)
	if err != nil {
		panic(err)
	}
	return set
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(jsonDoc(jObj{keys: []string{"k", "l"}, vals: []any{jArr{1, 70000, -1, 1.5, true, nil, "s"}, jUint(1 << 40)}}, false))
	f.Add(jsonDoc(jArr{jObj{keys: []string{"x"}, vals: []any{jInt32(5)}}}, true))
	f.Add(jsonDoc(jOpaque{typ: TypeDatetime, data: appendInt64(packedDatetimeFixture(2020, 1, 2, 3, 4, 5, 6))}, false))
	f.Fuzz(func(t *testing.T, doc []byte) {
		DecodeJSON(doc)
	})
}

// The seed events decode (or fail cleanly) with the fuzz decoder.
func TestFuzzSeedsDecode(t *testing.T) {
	d := fuzzDecoder(t, ChecksumCRC32)
	tm := d.tables[1]
	if tm == nil || len(tm.Columns) != len(fuzzTypes) || tm.Columns[17].RealType != TypeEnum || tm.Columns[19].MaxLength != 320 ||
		tm.Columns[20].Bits != 64 {
		t.Fatalf("fuzz table map %+v", tm)
	}
	ev, err := d.Decode(rawEvent(EventWriteRowsV2, 300, rowsV2Body(1, 0, nil, len(fuzzTypes), false, fuzzRow()), true))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", ev.Data.(*RowsEvent).Rows[0].After)
}
