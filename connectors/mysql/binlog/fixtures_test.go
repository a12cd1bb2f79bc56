package binlog

// Byte fixtures built from the documented formats, for what the test
// MariaDB cannot produce (MySQL events, v2 rows, binary JSON, GTID sets).

import (
	"encoding/binary"
	"hash/crc32"
)

// rawEvent builds an event: the 19-byte header, body, and the CRC32 when crc.
func rawEvent(typ EventType, logPos uint32, body []byte, crc bool) []byte {
	size := HeaderLen + len(body)
	if crc {
		size += 4
	}
	b := binary.LittleEndian.AppendUint32(nil, 1700000000)
	b = append(b, byte(typ))
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(size))
	b = binary.LittleEndian.AppendUint32(b, logPos)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = append(b, body...)
	if crc {
		b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	}
	return b
}

// mysql8PostHeaders are the post-header lengths a MySQL 8.0 server writes,
// indexed by event type - 1 (only the ones decoded here matter).
func mysql8PostHeaders() []byte {
	p := make([]byte, 41)
	set := func(t EventType, n byte) { p[t-1] = n }
	set(EventQuery, 13)
	set(EventRotate, 8)
	set(EventFormatDesc, 98)
	set(EventTableMap, 8)
	for _, t := range []EventType{EventWriteRowsV1, EventUpdateRowsV1, EventDeleteRowsV1} {
		set(t, 8)
	}
	for _, t := range []EventType{EventWriteRowsV2, EventUpdateRowsV2, EventDeleteRowsV2} {
		set(t, 10)
	}
	set(EventGTID, 42)
	set(EventAnonymousGTID, 42)
	return p
}

// fdeEvent is a FORMAT_DESCRIPTION_EVENT of server version with the given
// post-header lengths and checksum algorithm (its own CRC when CRC32).
func fdeEvent(version string, post []byte, alg ChecksumAlg) []byte {
	b := binary.LittleEndian.AppendUint16(nil, 4)
	v := make([]byte, 50)
	copy(v, version)
	b = append(b, v...)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, HeaderLen)
	b = append(b, post...)
	b = append(b, byte(alg))
	if alg == ChecksumCRC32 {
		return rawEvent(EventFormatDesc, 0, b, true)
	}
	// Checksums off: the 4 bytes are still there.
	return rawEvent(EventFormatDesc, 0, append(b, 0, 0, 0, 0), false)
}

func u48(b []byte, v uint64) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40))
}

// tableMapBody: table id (6 bytes), flags, schema and table (length byte,
// name, NUL), column count, types, metadata block, NULL bitmap, optional
// metadata.
func tableMapBody(id uint64, schema, table string, types, meta []byte, nullable []bool, opt []byte) []byte {
	b := u48(nil, id)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = append(b, byte(len(schema)))
	b = append(append(b, schema...), 0)
	b = append(b, byte(len(table)))
	b = append(append(b, table...), 0)
	b = appendLenenc(b, uint64(len(types)))
	b = append(b, types...)
	b = appendLenenc(b, uint64(len(meta)))
	b = append(b, meta...)
	b = append(b, bitmapBytes(nullable)...)
	return append(b, opt...)
}

func bitmapBytes(bits []bool) []byte {
	b := make([]byte, (len(bits)+7)/8)
	for i, on := range bits {
		if on {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

func allTrue(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}

// rowsV2Body: table id, flags, extra data (length including itself), column
// count, present bitmap(s), then the row images.
func rowsV2Body(id uint64, flags uint16, extra []byte, n int, update bool, images ...[]byte) []byte {
	b := u48(nil, id)
	b = binary.LittleEndian.AppendUint16(b, flags)
	b = binary.LittleEndian.AppendUint16(b, uint16(2+len(extra)))
	b = append(b, extra...)
	b = appendLenenc(b, uint64(n))
	b = append(b, bitmapBytes(allTrue(n))...)
	if update {
		b = append(b, bitmapBytes(allTrue(n))...)
	}
	for _, img := range images {
		b = append(b, img...)
	}
	return b
}
