package binlog

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// A binary JSON encoder written from MySQL's format description, to build
// fixtures (no MySQL server runs here).

type jObj struct {
	keys []string
	vals []any
}
type jArr []any
type jOpaque struct {
	typ  byte
	data []byte
}
type jUint uint64
type jInt32 int32 // forces INT32 even when the value fits INT16

func jsonVarLenBytes(n int) []byte {
	var b []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

// encJSON returns the type byte and the payload of v; large selects the
// 4-byte container format.
func encJSON(v any, large bool) (byte, []byte) {
	switch x := v.(type) {
	case nil:
		return jsonLiteral, []byte{0}
	case bool:
		if x {
			return jsonLiteral, []byte{1}
		}
		return jsonLiteral, []byte{2}
	case int:
		switch {
		case x >= math.MinInt16 && x <= math.MaxInt16:
			return jsonInt16, binary.LittleEndian.AppendUint16(nil, uint16(int16(x)))
		case x >= math.MinInt32 && x <= math.MaxInt32:
			return jsonInt32, binary.LittleEndian.AppendUint32(nil, uint32(int32(x)))
		}
		return jsonInt64, binary.LittleEndian.AppendUint64(nil, uint64(x))
	case jInt32:
		return jsonInt32, binary.LittleEndian.AppendUint32(nil, uint32(x))
	case jUint:
		if x <= math.MaxUint16 {
			return jsonUint16, binary.LittleEndian.AppendUint16(nil, uint16(x))
		}
		if x <= math.MaxUint32 {
			return jsonUint32, binary.LittleEndian.AppendUint32(nil, uint32(x))
		}
		return jsonUint64, binary.LittleEndian.AppendUint64(nil, uint64(x))
	case float64:
		return jsonDouble, binary.LittleEndian.AppendUint64(nil, math.Float64bits(x))
	case string:
		return jsonString, append(jsonVarLenBytes(len(x)), x...)
	case jOpaque:
		return jsonOpaque, append(append([]byte{x.typ}, jsonVarLenBytes(len(x.data))...), x.data...)
	case jObj:
		t := byte(jsonSmallObject)
		if large {
			t = jsonLargeObject
		}
		return t, encContainer(x.keys, x.vals, large)
	case jArr:
		t := byte(jsonSmallArray)
		if large {
			t = jsonLargeArray
		}
		return t, encContainer(nil, x, large)
	}
	panic("unsupported fixture value")
}

func encContainer(keys []string, vals []any, large bool) []byte {
	off := 2
	if large {
		off = 4
	}
	put := func(b []byte, v int) {
		if large {
			binary.LittleEndian.PutUint32(b, uint32(v))
		} else {
			binary.LittleEndian.PutUint16(b, uint16(v))
		}
	}
	n := len(vals)
	header := 2*off + len(keys)*(off+2) + n*(1+off)
	b := make([]byte, header)
	for i, k := range keys {
		e := b[2*off+i*(off+2):]
		put(e, len(b))
		binary.LittleEndian.PutUint16(e[off:], uint16(len(k)))
		b = append(b, k...)
	}
	for i, v := range vals {
		t, p := encJSON(v, large)
		e := b[2*off+len(keys)*(off+2)+i*(1+off):]
		e[0] = t
		if inlinedJSON(t, large) {
			copy(e[1:1+off], p)
			continue
		}
		put(e[1:], len(b))
		b = append(b, p...)
	}
	put(b, n)
	put(b[off:], len(b))
	return b
}

func jsonDoc(v any, large bool) []byte {
	t, p := encJSON(v, large)
	return append([]byte{t}, p...)
}

func appendInt64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

func packedDatetimeFixture(y, mo, d, h, mi, s, micro int64) int64 {
	ymd := (y*13+mo)<<5 | d
	hms := h<<12 | mi<<6 | s
	return (ymd<<17|hms)<<24 + micro
}

func TestDecodeJSONFixtures(t *testing.T) {
	obj := jObj{keys: []string{"a", "b", "c", "quote\"d"}, vals: []any{1, jArr{true, false, nil}, "x\ny", -7}}
	dec := []byte{0x80, 0x7b, 0x2d} // DECIMAL(5,2) 123.45
	for _, tc := range []struct {
		name string
		doc  []byte
		want string
	}{
		{"empty is null", nil, `null`},
		{"literal", jsonDoc(true, false), `true`},
		{"small object", jsonDoc(obj, false), `{"a": 1, "b": [true, false, null], "c": "x\ny", "quote\"d": -7}`},
		{"large object", jsonDoc(obj, true), `{"a": 1, "b": [true, false, null], "c": "x\ny", "quote\"d": -7}`},
		{"numbers small", jsonDoc(jArr{-32768, 65535 + 1, jInt32(-5), math.MaxInt64, math.MinInt64, jUint(65535), jUint(4294967295), jUint(math.MaxUint64)}, false),
			`[-32768, 65536, -5, 9223372036854775807, -9223372036854775808, 65535, 4294967295, 18446744073709551615]`},
		{"numbers large (int32 inline)", jsonDoc(jArr{jInt32(-2147483648), jUint(4294967295), 12}, true), `[-2147483648, 4294967295, 12]`},
		{"doubles", jsonDoc(jArr{2.5, 2.0, -0.125, 1e300}, false), `[2.5, 2.0, -0.125, 1e+300]`},
		{"long string", jsonDoc(strings.Repeat("é", 100), false), `"` + strings.Repeat("é", 100) + `"`},
		{"control and unicode", jsonDoc("tab\t\x01😀", false), `"tab\t\u0001😀"`},
		{"nested", jsonDoc(jObj{keys: []string{"k"}, vals: []any{jObj{keys: []string{"in"}, vals: []any{jArr{jArr{}}}}}}, false), `{"k": {"in": [[]]}}`},
		{"empty containers", jsonDoc(jArr{jObj{}, jArr{}}, false), `[{}, []]`},
		{"opaque decimal", jsonDoc(jOpaque{typ: TypeNewDecimal, data: append([]byte{5, 2}, dec...)}, false), `123.45`},
		{"opaque date", jsonDoc(jOpaque{typ: TypeDate, data: binary.LittleEndian.AppendUint64(nil, uint64(packedDatetimeFixture(2015, 1, 15, 0, 0, 0, 0)))}, false), `"2015-01-15"`},
		{"opaque datetime", jsonDoc(jOpaque{typ: TypeDatetime, data: binary.LittleEndian.AppendUint64(nil, uint64(packedDatetimeFixture(2015, 1, 15, 23, 24, 25, 123456)))}, false), `"2015-01-15 23:24:25.123456"`},
		{"opaque time", jsonDoc(jOpaque{typ: TypeTime, data: appendInt64(-((int64(100)<<12|24<<6|25)<<24 + 500000))}, false), `"-100:24:25.500000"`},
		{"opaque other", jsonDoc(jOpaque{typ: TypeVarchar, data: []byte("hi")}, false), `"base64:type15:aGk="`},
	} {
		got, err := DecodeJSON(tc.doc)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestDecodeJSONMalformed(t *testing.T) {
	good := jsonDoc(jObj{keys: []string{"a"}, vals: []any{"value"}}, false)
	for i := 1; i < len(good); i++ {
		if _, err := DecodeJSON(good[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
	for _, doc := range [][]byte{{0x04, 9}, {0x0b, 1, 2}, {0x42}, {0x0c, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := DecodeJSON(doc); err == nil {
			t.Errorf("%x: no error", doc)
		}
	}
	// An array whose entries all point at one big nested array must not
	// expand without bound.
	inner := jArr{}
	for range 200 {
		inner = append(inner, "0123456789")
	}
	_, innerBytes := encJSON(inner, true)
	const n = 2000
	header := 8 + n*5
	b := make([]byte, header)
	binary.LittleEndian.PutUint32(b, n)
	for i := range n {
		b[8+i*5] = jsonLargeArray
		binary.LittleEndian.PutUint32(b[8+i*5+1:], uint32(header))
	}
	b = append(b, innerBytes...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	if _, err := DecodeJSON(append([]byte{jsonLargeArray}, b...)); err == nil {
		t.Fatal("self-referencing document expanded without error")
	}
}
