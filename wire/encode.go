package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"
)

// Type OIDs whose binary and text forms are the same bytes, so no codec is
// needed (and JSON keeps its exact spelling).
var sameBytesOIDs = map[uint32]bool{
	pgtype.TextOID:    true,
	pgtype.VarcharOID: true,
	pgtype.NameOID:    true,
	pgtype.BPCharOID:  true,
	pgtype.QCharOID:   true,
	pgtype.UnknownOID: true,
	pgtype.JSONOID:    true,
	pgtype.XMLOID:     true,
}

// Vector types pgtype does not know; their binary form is the array form.
var vectorOIDs = map[uint32]uint32{
	22: pgtype.Int2ArrayOID, // int2vector
	30: pgtype.OIDArrayOID,  // oidvector
}

// binarySupported tells whether values of oid can be sent or received in
// binary format.
func binarySupported(m *pgtype.Map, oid uint32) bool {
	if sameBytesOIDs[oid] || oid == pgtype.JSONBOID {
		return true
	}
	if alt, ok := vectorOIDs[oid]; ok {
		oid = alt
	}
	t, ok := m.TypeForOID(oid)
	return ok && t.Codec.FormatSupported(pgtype.BinaryFormatCode)
}

// textToBinary converts a PostgreSQL text value to the binary format of oid.
func textToBinary(m *pgtype.Map, oid uint32, src []byte) ([]byte, error) {
	switch {
	case sameBytesOIDs[oid]:
		return src, nil
	case oid == pgtype.JSONBOID:
		return append([]byte{1}, src...), nil
	}
	orig := oid
	if alt, ok := vectorOIDs[oid]; ok {
		// "1 2 3" -> "{1,2,3}": vectors print without braces or commas.
		oid, src = alt, vectorToArrayText(src)
	}
	t, ok := m.TypeForOID(oid)
	if !ok {
		return nil, fmt.Errorf("no binary output for type %d", oid)
	}
	var v any
	var err error
	switch oid {
	case pgtype.TimestamptzOID, pgtype.TimestampOID, pgtype.DateOID:
		// DecodeValue turns infinity into a bare InfinityModifier that has no
		// encode plan; the struct types carry it properly.
		v, err = scanTime(m, oid, pgtype.TextFormatCode, src)
	default:
		v, err = t.Codec.DecodeValue(m, oid, pgtype.TextFormatCode, src)
	}
	if err != nil {
		return nil, err
	}
	out, err := m.Encode(oid, pgtype.BinaryFormatCode, v, nil)
	if err == nil && oid != orig && len(out) >= 20 {
		// Vectors are zero-based arrays.
		binary.BigEndian.PutUint32(out[16:], 0)
	}
	return out, err
}

func scanTime(m *pgtype.Map, oid uint32, format int16, src []byte) (any, error) {
	var err error
	switch oid {
	case pgtype.TimestamptzOID:
		var v pgtype.Timestamptz
		err = m.Scan(oid, format, src, &v)
		return v, err
	case pgtype.TimestampOID:
		var v pgtype.Timestamp
		err = m.Scan(oid, format, src, &v)
		return v, err
	default:
		var v pgtype.Date
		err = m.Scan(oid, format, src, &v)
		return v, err
	}
}

// binaryToText converts a binary parameter of type oid to text format.
func binaryToText(m *pgtype.Map, oid uint32, src []byte) ([]byte, error) {
	switch {
	case sameBytesOIDs[oid]:
		return src, nil
	case oid == pgtype.JSONBOID:
		if len(src) == 0 || src[0] != 1 {
			return nil, fmt.Errorf("unsupported jsonb version")
		}
		return src[1:], nil
	case oid == pgtype.Float4OID && len(src) == 4:
		return formatFloat(float64(math.Float32frombits(binary.BigEndian.Uint32(src))), 32), nil
	case oid == pgtype.Float8OID && len(src) == 8:
		return formatFloat(math.Float64frombits(binary.BigEndian.Uint64(src)), 64), nil
	}
	vector := false
	if alt, ok := vectorOIDs[oid]; ok {
		oid, vector = alt, true
	}
	t, ok := m.TypeForOID(oid)
	if !ok {
		return nil, fmt.Errorf("no binary input for type %d", oid)
	}
	var v any
	var err error
	switch oid {
	case pgtype.TimestamptzOID, pgtype.TimestampOID, pgtype.DateOID:
		v, err = scanTime(m, oid, pgtype.BinaryFormatCode, src)
	default:
		v, err = t.Codec.DecodeValue(m, oid, pgtype.BinaryFormatCode, src)
	}
	if err != nil {
		return nil, err
	}
	out, err := m.Encode(oid, pgtype.TextFormatCode, v, nil)
	if err != nil {
		return nil, err
	}
	if vector {
		out = arrayToVectorText(out)
	}
	return out, nil
}

// formatFloat spells special values the way PostgreSQL does.
func formatFloat(f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return []byte("NaN")
	case math.IsInf(f, 1):
		return []byte("Infinity")
	case math.IsInf(f, -1):
		return []byte("-Infinity")
	}
	return strconv.AppendFloat(nil, f, 'g', -1, bits)
}

func vectorToArrayText(src []byte) []byte {
	out := make([]byte, 0, len(src)+2)
	out = append(out, '{')
	sep := false
	for _, b := range src {
		if b == ' ' {
			sep = true
			continue
		}
		if sep && len(out) > 1 {
			out = append(out, ',')
		}
		sep = false
		out = append(out, b)
	}
	return append(out, '}')
}

func arrayToVectorText(src []byte) []byte {
	out := make([]byte, 0, len(src))
	for _, b := range src {
		switch b {
		case '{', '}':
		case ',':
			out = append(out, ' ')
		default:
			out = append(out, b)
		}
	}
	return out
}
