package binlog

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// MySQL binary JSON value types.
const (
	jsonSmallObject = 0x00
	jsonLargeObject = 0x01
	jsonSmallArray  = 0x02
	jsonLargeArray  = 0x03
	jsonLiteral     = 0x04
	jsonInt16       = 0x05
	jsonUint16      = 0x06
	jsonInt32       = 0x07
	jsonUint32      = 0x08
	jsonInt64       = 0x09
	jsonUint64      = 0x0a
	jsonDouble      = 0x0b
	jsonString      = 0x0c
	jsonOpaque      = 0x0f
)

// jsonMaxDepth is above MySQL's own nesting limit (100).
const jsonMaxDepth = 150

// DecodeJSON converts MySQL's binary JSON (a JSON column's value) to JSON
// text in MySQL's own layout (", " and ": " separators). An empty value is
// null, as MySQL reads it.
//
// The format: a type byte, then the value. Objects and arrays come in a
// small (2-byte offsets) and a large (4-byte) form: element count, byte size,
// key entries (offset, 2-byte length) for objects, value entries (type,
// offset or the value itself for small scalars), then keys and values, all
// offsets relative to the start of the container.
func DecodeJSON(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return []byte("null"), nil
	}
	// Output stays proportional to the input for real documents; the
	// budget stops crafted offsets from expanding a small value hugely.
	j := jsonDecoder{budget: 64*len(b) + 1024}
	return j.value(nil, b[0], b[1:], 0)
}

type jsonDecoder struct{ budget int }

var errJSONTooLarge = errors.New("JSON expands beyond its size budget")

func (j *jsonDecoder) value(out []byte, t byte, data []byte, depth int) ([]byte, error) {
	if depth > jsonMaxDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	if len(out) > j.budget {
		return nil, errJSONTooLarge
	}
	switch t {
	case jsonSmallObject, jsonLargeObject:
		return j.container(out, data, t == jsonLargeObject, true, depth)
	case jsonSmallArray, jsonLargeArray:
		return j.container(out, data, t == jsonLargeArray, false, depth)
	case jsonLiteral:
		if len(data) < 1 {
			return nil, errTruncated
		}
		switch data[0] {
		case 0:
			return append(out, "null"...), nil
		case 1:
			return append(out, "true"...), nil
		case 2:
			return append(out, "false"...), nil
		}
		return nil, fmt.Errorf("JSON literal %d", data[0])
	case jsonInt16, jsonUint16:
		if len(data) < 2 {
			return nil, errTruncated
		}
		v := binary.LittleEndian.Uint16(data)
		if t == jsonInt16 {
			return strconv.AppendInt(out, int64(int16(v)), 10), nil
		}
		return strconv.AppendUint(out, uint64(v), 10), nil
	case jsonInt32, jsonUint32:
		if len(data) < 4 {
			return nil, errTruncated
		}
		v := binary.LittleEndian.Uint32(data)
		if t == jsonInt32 {
			return strconv.AppendInt(out, int64(int32(v)), 10), nil
		}
		return strconv.AppendUint(out, uint64(v), 10), nil
	case jsonInt64, jsonUint64:
		if len(data) < 8 {
			return nil, errTruncated
		}
		v := binary.LittleEndian.Uint64(data)
		if t == jsonInt64 {
			return strconv.AppendInt(out, int64(v), 10), nil
		}
		return strconv.AppendUint(out, v, 10), nil
	case jsonDouble:
		if len(data) < 8 {
			return nil, errTruncated
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(data))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errors.New("JSON double is not finite")
		}
		return appendJSONDouble(out, f), nil
	case jsonString:
		n, k, err := jsonVarLen(data)
		if err != nil {
			return nil, err
		}
		if n > len(data)-k {
			return nil, errTruncated
		}
		return appendJSONString(out, data[k:k+n]), nil
	case jsonOpaque:
		if len(data) < 1 {
			return nil, errTruncated
		}
		n, k, err := jsonVarLen(data[1:])
		if err != nil {
			return nil, err
		}
		if n > len(data)-1-k {
			return nil, errTruncated
		}
		return appendJSONOpaque(out, data[0], data[1+k:1+k+n])
	default:
		return nil, fmt.Errorf("JSON value type 0x%02x", t)
	}
}

// container writes an object or array whose bytes start at data.
func (j *jsonDecoder) container(out []byte, data []byte, large, object bool, depth int) ([]byte, error) {
	off := 2
	if large {
		off = 4
	}
	readOff := func(p []byte) int {
		if large {
			return int(binary.LittleEndian.Uint32(p))
		}
		return int(binary.LittleEndian.Uint16(p))
	}
	if len(data) < 2*off {
		return nil, errTruncated
	}
	count, size := readOff(data), readOff(data[off:])
	if size > len(data) || size < 2*off {
		return nil, fmt.Errorf("JSON container of %d bytes, %d available", size, len(data))
	}
	data = data[:size]
	keyEntry, valueEntry := off+2, off+1
	header := 2 * off
	if object {
		header += count * keyEntry
	}
	if count < 0 || header+count*valueEntry > size || count > size {
		return nil, fmt.Errorf("JSON container of %d elements in %d bytes", count, size)
	}
	if object {
		out = append(out, '{')
	} else {
		out = append(out, '[')
	}
	for i := range count {
		if i > 0 {
			out = append(out, ", "...)
		}
		if object {
			ke := data[2*off+i*keyEntry:]
			ko, kl := readOff(ke), int(binary.LittleEndian.Uint16(ke[off:]))
			if ko > size || kl > size-ko {
				return nil, errors.New("JSON key outside its object")
			}
			out = appendJSONString(out, data[ko:ko+kl])
			out = append(out, ": "...)
		}
		ve := data[header+i*valueEntry:]
		t := ve[0]
		var err error
		if inlinedJSON(t, large) {
			out, err = j.value(out, t, ve[1:1+off], depth+1)
		} else {
			vo := readOff(ve[1:])
			if vo >= size || vo < header {
				return nil, errors.New("JSON value outside its container")
			}
			out, err = j.value(out, t, data[vo:], depth+1)
		}
		if err != nil {
			return nil, err
		}
		if len(out) > j.budget {
			return nil, errJSONTooLarge
		}
	}
	if object {
		return append(out, '}'), nil
	}
	return append(out, ']'), nil
}

// inlinedJSON reports scalars stored in the value entry itself.
func inlinedJSON(t byte, large bool) bool {
	switch t {
	case jsonLiteral, jsonInt16, jsonUint16:
		return true
	case jsonInt32, jsonUint32:
		return large
	}
	return false
}

// jsonVarLen reads a length of 1-5 bytes, 7 bits each, low bits first, the
// high bit marking a continuation.
func jsonVarLen(b []byte) (n, size int, err error) {
	var v uint64
	for i := 0; i < 5 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if v > math.MaxUint32 {
				return 0, 0, errors.New("JSON length too large")
			}
			return int(v), i + 1, nil
		}
	}
	return 0, 0, errors.New("malformed JSON length")
}

func appendJSONDouble(out []byte, f float64) []byte {
	s := strconv.AppendFloat(nil, f, 'g', -1, 64)
	// Keep a double recognisable as one, as MySQL prints 2.0 for 2e0.
	isInt := true
	for _, c := range s {
		if c == '.' || c == 'e' || c == 'n' || c == 'N' {
			isInt = false
			break
		}
	}
	out = append(out, s...)
	if isInt {
		out = append(out, ".0"...)
	}
	return out
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(out []byte, s []byte) []byte {
	out = append(out, '"')
	for len(s) > 0 {
		c := s[0]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				out = append(out, '\\', c)
			case c == '\n':
				out = append(out, '\\', 'n')
			case c == '\r':
				out = append(out, '\\', 'r')
			case c == '\t':
				out = append(out, '\\', 't')
			case c == '\b':
				out = append(out, '\\', 'b')
			case c == '\f':
				out = append(out, '\\', 'f')
			case c < 0x20:
				out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				out = append(out, c)
			}
			s = s[1:]
			continue
		}
		r, n := utf8.DecodeRune(s)
		if r == utf8.RuneError && n == 1 {
			out = append(out, "\ufffd"...)
		} else {
			out = append(out, s[:n]...)
		}
		s = s[n:]
	}
	return append(out, '"')
}

// appendJSONOpaque writes an opaque value (a MySQL type stored in JSON):
// DECIMAL as a number; DATE, TIME, DATETIME, TIMESTAMP as strings with
// microseconds, as MySQL prints them; anything else as MySQL does,
// "base64:typeNN:<base64>".
func appendJSONOpaque(out []byte, fieldType byte, data []byte) ([]byte, error) {
	switch fieldType {
	case TypeNewDecimal:
		if len(data) < 2 {
			return nil, errTruncated
		}
		v, _, err := decodeDecimal(data[2:], int(data[0]), int(data[1]))
		if err != nil {
			return nil, fmt.Errorf("JSON decimal: %w", err)
		}
		return append(out, v.(string)...), nil
	case TypeDate, TypeNewDate, TypeTime, TypeTime2, TypeDatetime, TypeDatetime2, TypeTimestamp, TypeTimestamp2:
		if len(data) < 8 {
			return nil, errTruncated
		}
		packed := int64(binary.LittleEndian.Uint64(data))
		var s string
		switch fieldType {
		case TypeTime, TypeTime2:
			s = packedTime(packed)
		case TypeDate, TypeNewDate:
			s = packedDatetime(packed)[:10]
		default:
			s = packedDatetime(packed)
		}
		return appendJSONString(out, []byte(s)), nil
	default:
		s := "base64:type" + strconv.Itoa(int(fieldType)) + ":" + base64.StdEncoding.EncodeToString(data)
		return appendJSONString(out, []byte(s)), nil
	}
}

// packedDatetime formats MySQL's in-memory packed datetime: microseconds in
// the low 24 bits, above them 17 bits of hour/minute/second and then
// (year*13+month)<<5 | day.
func packedDatetime(v int64) string {
	if v < 0 {
		v = -v
	}
	micro := int(v & 0xffffff)
	ymdhms := v >> 24
	ymd, hms := ymdhms>>17, ymdhms&(1<<17-1)
	ym := ymd >> 5
	return formatDatetime(int(ym/13), int(ym%13), int(ymd&31), int(hms>>12), int(hms>>6&63), int(hms&63), micro, 6)
}

// packedTime formats MySQL's packed time: microseconds in the low 24 bits,
// hour<<12 | minute<<6 | second above them, negated for negative times.
func packedTime(v int64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	micro := int(v & 0xffffff)
	hms := v >> 24
	return formatTime(neg, hms>>12&0x3ff, int(hms>>6&63), int(hms&63), micro, 6)
}
