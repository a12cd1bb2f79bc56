package binlog

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Unsigned reinterprets an integer cell of column type colType (TINY, SHORT,
// INT24, LONG, LONGLONG) as unsigned, for columns the caller knows to be
// UNSIGNED (Column.Unsigned, or information_schema).
func Unsigned(v int64, colType byte) uint64 {
	switch colType {
	case TypeTiny:
		return uint64(uint8(v))
	case TypeShort:
		return uint64(uint16(v))
	case TypeInt24:
		return uint64(v) & 0xffffff
	case TypeLong:
		return uint64(uint32(v))
	default:
		return uint64(v)
	}
}

// collationBinary is the "binary" character set of BINARY/VARBINARY/BLOB.
const collationBinary = 63

// decodeValue decodes one non-NULL cell of col from b and returns the value
// and the number of bytes it took. The Go types are documented on RowsEvent.
func decodeValue(col *Column, b []byte) (any, int, error) {
	need := func(n int) error {
		if n > len(b) || n < 0 {
			return fmt.Errorf("%d bytes needed, %d left", n, len(b))
		}
		return nil
	}
	switch col.RealType {
	case TypeTiny:
		if err := need(1); err != nil {
			return nil, 0, err
		}
		return int64(int8(b[0])), 1, nil
	case TypeShort:
		if err := need(2); err != nil {
			return nil, 0, err
		}
		return int64(int16(binary.LittleEndian.Uint16(b))), 2, nil
	case TypeInt24:
		if err := need(3); err != nil {
			return nil, 0, err
		}
		v := int32(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16) << 8 >> 8
		return int64(v), 3, nil
	case TypeLong:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		return int64(int32(binary.LittleEndian.Uint32(b))), 4, nil
	case TypeLonglong:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return int64(binary.LittleEndian.Uint64(b)), 8, nil
	case TypeFloat:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		return math.Float32frombits(binary.LittleEndian.Uint32(b)), 4, nil
	case TypeDouble:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), 8, nil
	case TypeNewDecimal:
		return decodeDecimal(b, col.Precision, col.Scale)
	case TypeYear:
		if err := need(1); err != nil {
			return nil, 0, err
		}
		if b[0] == 0 {
			return int64(0), 1, nil
		}
		return int64(b[0]) + 1900, 1, nil
	case TypeDate, TypeNewDate:
		if err := need(3); err != nil {
			return nil, 0, err
		}
		v := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		return formatDate(int(v>>9), int(v>>5&15), int(v&31)), 3, nil
	case TypeTime:
		if err := need(3); err != nil {
			return nil, 0, err
		}
		v := int32(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16) << 8 >> 8
		neg := v < 0
		if neg {
			v = -v
		}
		return formatTime(neg, int64(v/10000), int(v/100%100), int(v%100), 0, 0), 3, nil
	case TypeTime2:
		return decodeTime2(b, col.FSP)
	case TypeDatetime:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		v := binary.LittleEndian.Uint64(b)
		d, t := v/1000000, v%1000000
		return formatDatetime(int(d/10000), int(d/100%100), int(d%100), int(t/10000), int(t/100%100), int(t%100), 0, 0), 8, nil
	case TypeDatetime2:
		return decodeDatetime2(b, col.FSP)
	case TypeTimestamp:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		return formatTimestamp(int64(binary.LittleEndian.Uint32(b)), 0, 0), 4, nil
	case TypeTimestamp2:
		n := 4 + (col.FSP+1)/2
		if err := need(n); err != nil {
			return nil, 0, err
		}
		sec := int64(binary.BigEndian.Uint32(b))
		return formatTimestamp(sec, fracMicros(b[4:n], col.FSP), col.FSP), n, nil
	case TypeVarchar, TypeVarString, TypeString:
		lb := 1
		if col.MaxLength > 255 {
			lb = 2
		}
		v, n, err := lengthPrefixed(b, lb)
		if err == nil && col.RealType == TypeString && col.Collation == collationBinary {
			// BINARY(n) is logged without its trailing zero bytes; put
			// them back when the charset metadata says it is binary.
			if s := v.([]byte); len(s) < col.MaxLength {
				p := make([]byte, col.MaxLength)
				copy(p, s)
				v = p
			}
		}
		return v, n, err
	case TypeBlob, TypeTinyBlob, TypeMediumBlob, TypeLongBlob, TypeGeometry, TypeVector:
		return lengthPrefixed(b, col.LengthBytes)
	case TypeJSON:
		v, n, err := lengthPrefixed(b, col.LengthBytes)
		if err != nil {
			return nil, 0, err
		}
		text, err := DecodeJSON(v.([]byte))
		if err != nil {
			return nil, 0, fmt.Errorf("JSON: %w", err)
		}
		return text, n, nil
	case TypeEnum:
		switch col.LengthBytes {
		case 1, 2:
			if err := need(col.LengthBytes); err != nil {
				return nil, 0, err
			}
			return int64(uintN(b[:col.LengthBytes])), col.LengthBytes, nil
		}
		return nil, 0, fmt.Errorf("ENUM of %d bytes", col.LengthBytes)
	case TypeSet:
		if col.LengthBytes < 1 || col.LengthBytes > 8 {
			return nil, 0, fmt.Errorf("SET of %d bytes", col.LengthBytes)
		}
		if err := need(col.LengthBytes); err != nil {
			return nil, 0, err
		}
		return uintN(b[:col.LengthBytes]), col.LengthBytes, nil
	case TypeBit:
		n := (col.Bits + 7) / 8
		if n > 8 {
			return nil, 0, fmt.Errorf("BIT(%d)", col.Bits)
		}
		if err := need(n); err != nil {
			return nil, 0, err
		}
		var v uint64
		for _, x := range b[:n] {
			v = v<<8 | uint64(x)
		}
		return v, n, nil
	case TypeBlobCompressed, TypeVarcharCompressed:
		return nil, 0, fmt.Errorf("MariaDB compressed column (type %d): %w", col.RealType, ErrUnsupported)
	default:
		return nil, 0, fmt.Errorf("column type %d: %w", col.RealType, ErrUnsupported)
	}
}

// uintN reads a little-endian unsigned integer of len(b) <= 8 bytes.
func uintN(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// lengthPrefixed reads a little-endian length of lb bytes and that many bytes.
func lengthPrefixed(b []byte, lb int) (any, int, error) {
	if lb < 1 || lb > 4 {
		return nil, 0, fmt.Errorf("length prefix of %d bytes", lb)
	}
	if len(b) < lb {
		return nil, 0, errTruncated
	}
	n := uintN(b[:lb])
	if n > uint64(len(b)-lb) {
		return nil, 0, fmt.Errorf("value of %d bytes, %d left", n, len(b)-lb)
	}
	end := lb + int(n)
	return b[lb:end:end], end, nil
}

// fracMicros reads the big-endian fractional part of the *2 temporal types,
// (fsp+1)/2 bytes, as microseconds.
func fracMicros(b []byte, fsp int) int {
	switch fsp {
	case 1, 2:
		return int(b[0]) * 10000
	case 3, 4:
		return int(binary.BigEndian.Uint16(b)) * 100
	case 5, 6:
		return int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	}
	return 0
}

// decodeDatetime2: 5 bytes big-endian, offset by 2^39: 17 bits year*13+month,
// 5 bits day, 5 bits hour, 6 bits minute, 6 bits second; then the fraction.
func decodeDatetime2(b []byte, fsp int) (any, int, error) {
	n := 5 + (fsp+1)/2
	if len(b) < n {
		return nil, 0, errTruncated
	}
	v := int64(b[0])<<32 | int64(b[1])<<24 | int64(b[2])<<16 | int64(b[3])<<8 | int64(b[4])
	v -= 0x8000000000
	if v < 0 {
		return nil, 0, fmt.Errorf("negative DATETIME")
	}
	ymd, hms := v>>17, v&(1<<17-1)
	ym := ymd >> 5
	return formatDatetime(int(ym/13), int(ym%13), int(ymd&31),
		int(hms>>12), int(hms>>6&63), int(hms&63), fracMicros(b[5:n], fsp), fsp), n, nil
}

// decodeTime2: 3 bytes big-endian offset by 2^23 (1 bit sign, 1 unused, 10
// bits hour, 6 minute, 6 second) and the fraction; negative values store the
// fraction complemented, which the borrow below undoes.
func decodeTime2(b []byte, fsp int) (any, int, error) {
	n := 3 + (fsp+1)/2
	if len(b) < n {
		return nil, 0, errTruncated
	}
	intPart := int64(b[0])<<16 | int64(b[1])<<8 | int64(b[2]) - 0x800000
	var packed int64 // hms << 24 | microseconds, signed
	switch fsp {
	case 0:
		packed = intPart << 24
	case 1, 2:
		frac := int64(b[3])
		if intPart < 0 && frac != 0 {
			intPart++
			frac -= 0x100
		}
		packed = intPart<<24 + frac*10000
	case 3, 4:
		frac := int64(binary.BigEndian.Uint16(b[3:]))
		if intPart < 0 && frac != 0 {
			intPart++
			frac -= 0x10000
		}
		packed = intPart<<24 + frac*100
	default:
		packed = (int64(b[0])<<40 | int64(b[1])<<32 | int64(b[2])<<24 | int64(b[3])<<16 | int64(b[4])<<8 | int64(b[5])) - 0x800000000000
	}
	neg := packed < 0
	if neg {
		packed = -packed
	}
	hms, micro := packed>>24, int(packed&0xffffff)
	return formatTime(neg, hms>>12&0x3ff, int(hms>>6&63), int(hms&63), micro, fsp), n, nil
}

func formatTimestamp(sec int64, micro, fsp int) string {
	if sec == 0 && micro == 0 {
		return formatDatetime(0, 0, 0, 0, 0, 0, 0, fsp)
	}
	t := time.Unix(sec, 0).UTC()
	return formatDatetime(t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), micro, fsp)
}

func appendPad(b []byte, v int64, width int) []byte {
	if v < 0 {
		v = -v
		b = append(b, '-')
	}
	var d [20]byte
	s := strconv.AppendInt(d[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendFrac appends "." and the first fsp digits of micro (0..999999).
func appendFrac(b []byte, micro, fsp int) []byte {
	if fsp <= 0 {
		return b
	}
	if micro < 0 || micro > 999999 {
		micro = 0
	}
	var d [6]byte
	for i := 5; i >= 0; i-- {
		d[i] = byte('0' + micro%10)
		micro /= 10
	}
	return append(append(b, '.'), d[:min(fsp, 6)]...)
}

// The format functions build their text on the stack: a row event has a
// value of each per temporal column and row, and the string is the only
// allocation.

func formatDate(y, m, d int) string {
	var buf [16]byte
	return string(appendDate(buf[:0], y, m, d))
}

func appendDate(b []byte, y, m, d int) []byte {
	b = appendPad(b, int64(y), 4)
	b = append(b, '-')
	b = appendPad(b, int64(m), 2)
	b = append(b, '-')
	return appendPad(b, int64(d), 2)
}

func formatDatetime(y, mo, d, h, mi, s, micro, fsp int) string {
	var buf [40]byte
	b := appendDate(buf[:0], y, mo, d)
	b = append(b, ' ')
	b = appendPad(b, int64(h), 2)
	b = append(b, ':')
	b = appendPad(b, int64(mi), 2)
	b = append(b, ':')
	b = appendPad(b, int64(s), 2)
	return string(appendFrac(b, micro, fsp))
}

func formatTime(neg bool, h int64, mi, s, micro, fsp int) string {
	var buf [40]byte
	b := buf[:0]
	if neg {
		b = append(b, '-')
	}
	b = appendPad(b, h, 2)
	b = append(b, ':')
	b = appendPad(b, int64(mi), 2)
	b = append(b, ':')
	b = appendPad(b, int64(s), 2)
	return string(appendFrac(b, micro, fsp))
}

// dig2bytes is the storage size of a group of 0..8 leftover decimal digits.
var dig2bytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// decodeDecimal decodes MySQL's binary DECIMAL(precision, scale): groups of
// nine digits in 4 big-endian bytes, leftover digits in fewer bytes, the
// integer part first; the sign bit is flipped, and negative values have every
// byte inverted. The result has exactly scale fractional digits.
func decodeDecimal(b []byte, precision, scale int) (any, int, error) {
	if precision < 1 || precision > 65 || scale < 0 || scale > 30 || scale > precision {
		return nil, 0, fmt.Errorf("DECIMAL(%d,%d)", precision, scale)
	}
	intg := precision - scale
	intg0, intgX := intg/9, intg%9
	frac0, fracX := scale/9, scale%9
	size := intg0*4 + dig2bytes[intgX] + frac0*4 + dig2bytes[fracX]
	if len(b) < size {
		return nil, 0, errTruncated
	}
	// Work on the stack (at most 30 bytes, 65 digits): only the string
	// is allocated.
	var bufs [32]byte
	buf := bufs[:size]
	copy(buf, b)
	neg := buf[0]&0x80 == 0
	buf[0] ^= 0x80
	if neg {
		for i := range buf {
			buf[i] ^= 0xff
		}
	}
	readBE := func(p []byte) uint64 {
		var v uint64
		for _, x := range p {
			v = v<<8 | uint64(x)
		}
		return v
	}
	var dbuf, fbuf, obuf [80]byte
	digits := dbuf[:0] // integer part, possibly with leading zeros
	pos := 0
	if n := dig2bytes[intgX]; n > 0 {
		digits = strconv.AppendUint(digits, readBE(buf[:n]), 10)
		pos = n
	}
	for range intg0 {
		digits = appendPad(digits, int64(readBE(buf[pos:pos+4])), 9)
		pos += 4
	}
	i := 0
	for i < len(digits)-1 && digits[i] == '0' {
		i++
	}
	digits = digits[i:]
	if len(digits) == 0 {
		digits = []byte{'0'}
	}
	frac := fbuf[:0]
	for range frac0 {
		frac = appendPad(frac, int64(readBE(buf[pos:pos+4])), 9)
		pos += 4
	}
	if n := dig2bytes[fracX]; n > 0 {
		frac = appendPad(frac, int64(readBE(buf[pos:pos+n])), fracX)
	}
	out := obuf[:0]
	if neg && !allZero(digits, frac) {
		out = append(out, '-')
	}
	out = append(out, digits...)
	if scale > 0 {
		out = append(out, '.')
		out = append(out, frac...)
	}
	return string(out), size, nil
}

func allZero(parts ...[]byte) bool {
	for _, p := range parts {
		for _, c := range p {
			if c != '0' {
				return false
			}
		}
	}
	return true
}
