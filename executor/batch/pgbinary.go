package batch

import (
	"encoding/binary"
	"errors"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// Between two PostgreSQL datasources a streamed partition travels in
// COPY's binary format when every column has the same built-in type on
// both sides: neither server turns values into text and back, which is
// most of a COPY's CPU for numeric, date and timestamp columns.

// binaryKinds are the types whose binary form carries no type OID or
// database-local identity (arrays carry their element's OID, enums and
// domains are local), so one database's send is another's receive.
var binaryKinds = map[schema.Kind]bool{
	schema.Bool: true, schema.Int16: true, schema.Int32: true, schema.Int64: true, schema.Decimal: true,
	schema.Float32: true, schema.Float64: true, schema.Char: true, schema.Varchar: true, schema.Text: true,
	schema.Varbinary: true, schema.Blob: true, schema.Date: true, schema.Time: true, schema.Timestamp: true,
	schema.TimestampTZ: true, schema.Interval: true, schema.JSON: true, schema.UUID: true,
}

// binaryStream reports whether the task's stream can use binary COPY.
func (tc *taskCtx) binaryStream() bool {
	if tc.rc.src.Type != schema.Postgres || tc.rc.dst.Type != schema.Postgres {
		return false
	}
	for _, p := range tc.pairs {
		s, d := ExportColumn(p).Type, p.Dst.Type
		if !binaryKinds[s.Kind] || s.Kind != d.Kind || s.Elem != nil || s.Native == "" || s.Native != d.Native {
			return false
		}
	}
	return len(tc.pairs) > 0
}

// streamSpecs are the export and import of partition p streamed into the
// target with the partition's mark, in binary where both sides allow.
func (tc *taskCtx) streamSpecs(p catalog.Partition, snapshot string) (data.ExportSpec, data.ImportSpec) {
	es := tc.partitionSpec(p, snapshot)
	is := tc.importSpec(&data.Marker{RunID: tc.rc.id, FileID: partitionID(tc.t.ID, p.Seq)})
	es.Binary = tc.binaryStream()
	is.Binary = es.Binary
	return es, is
}

// pgBinaryCounter counts the tuples of a binary COPY stream written
// through it, in pieces cut anywhere: the 19-byte header and its
// extension, then per tuple an int16 field count (-1 ends the stream)
// and per field an int32 length (-1 is NULL) and that many bytes.
type pgBinaryCounter struct {
	state  int // what the next bytes are: binHeader, binExt, binTuple, binLen, binData, binEnd
	fixed  [19]byte
	have   int   // bytes of a fixed-size item gathered so far
	skip   int64 // bytes of an extension or a value left to pass over
	fields int   // fields of the current tuple still to come
}

const (
	binHeader = iota
	binExt
	binTuple
	binLen
	binData
	binEnd
)

var errBinaryCopy = errors.New("binary COPY stream: malformed")

// count returns the tuples that start in p. Items whole in p are read
// in place; only one cut by the end of p is gathered in fixed.
func (c *pgBinaryCounter) count(p []byte) (int64, error) {
	var n int64
	for len(p) > 0 {
		switch c.state {
		case binExt, binData:
			k := int64(len(p))
			if k > c.skip {
				k = c.skip
			}
			c.skip -= k
			p = p[k:]
			if c.skip > 0 {
				continue
			}
			if c.state == binExt {
				c.state = binTuple
			} else {
				c.nextField()
			}
			continue
		case binEnd:
			return n, errBinaryCopy // bytes after the trailer
		}
		size := 4
		switch c.state {
		case binHeader:
			size = 19
		case binTuple:
			size = 2
		}
		var item []byte
		if c.have == 0 && len(p) >= size {
			item, p = p[:size], p[size:]
		} else {
			k := copy(c.fixed[c.have:size], p)
			c.have += k
			p = p[k:]
			if c.have < size {
				continue
			}
			item, c.have = c.fixed[:size], 0
		}
		switch c.state {
		case binHeader:
			if string(item[:11]) != "PGCOPY\n\xff\r\n\x00" {
				return n, errBinaryCopy
			}
			c.skip = int64(binary.BigEndian.Uint32(item[15:19]))
			c.state = binExt
			if c.skip == 0 {
				c.state = binTuple
			}
		case binTuple:
			f := int16(binary.BigEndian.Uint16(item))
			if f == -1 {
				c.state = binEnd
				continue
			}
			if f < 0 {
				return n, errBinaryCopy
			}
			n++
			c.fields = int(f)
			c.state = binLen
			if c.fields == 0 {
				c.state = binTuple
			}
		case binLen:
			l := int32(binary.BigEndian.Uint32(item))
			if l < -1 {
				return n, errBinaryCopy
			}
			if l <= 0 {
				c.nextField()
				continue
			}
			// A value whole in p is passed over here, without a round
			// of the loop.
			if int(l) <= len(p) {
				p = p[l:]
				c.nextField()
				continue
			}
			c.skip = int64(l)
			c.state = binData
		}
	}
	return n, nil
}

func (c *pgBinaryCounter) nextField() {
	c.fields--
	c.state = binLen
	if c.fields == 0 {
		c.state = binTuple
	}
}
