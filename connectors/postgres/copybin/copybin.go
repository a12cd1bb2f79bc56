// Package copybin turns flowgate CSV into PostgreSQL's binary COPY format,
// so that a staged file loads without the server parsing numerics, dates
// and timestamps from text (most of a text COPY's CPU).
//
// Only values in the strict forms flowgate's exporters write are encoded,
// each read exactly as PostgreSQL's input function would read it; any
// other value makes Encode answer false, and the caller loads the text as
// it is, so PostgreSQL still decides (and words the error) for anything
// unusual.
package copybin

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// field appends the binary form of the text v (never NULL), or reports
// that v is not in a form it reads exactly as PostgreSQL does.
type field func(dst, v []byte) ([]byte, bool)

// Encoder encodes records of one table's columns.
type Encoder struct {
	fields []field
}

// For returns an Encoder for target columns of these types, or false when
// a type has no encoder here (the load then stays text). utc says the
// load's session time zone is UTC, so a timestamptz without an offset is
// UTC too.
func For(types []schema.Type, utc bool) (*Encoder, bool) {
	if len(types) == 0 || len(types) > math.MaxInt16 {
		return nil, false
	}
	e := &Encoder{fields: make([]field, len(types))}
	for i, t := range types {
		if t.Elem != nil {
			return nil, false
		}
		switch t.Kind {
		case schema.Bool:
			e.fields[i] = boolField
		case schema.Int16:
			e.fields[i] = intField(16)
		case schema.Int32:
			e.fields[i] = intField(32)
		case schema.Int64:
			e.fields[i] = intField(64)
		case schema.Float32:
			e.fields[i] = floatField(32)
		case schema.Float64:
			e.fields[i] = floatField(64)
		case schema.Decimal:
			e.fields[i] = numericField
		case schema.Char, schema.Varchar, schema.Text:
			e.fields[i] = textField
		case schema.JSON:
			if strings.EqualFold(t.Native, "jsonb") {
				e.fields[i] = jsonbField
			} else {
				e.fields[i] = textField
			}
		case schema.UUID:
			e.fields[i] = uuidField
		case schema.Binary, schema.Varbinary, schema.Blob:
			e.fields[i] = byteaField
		case schema.Date:
			e.fields[i] = dateField
		case schema.Time:
			e.fields[i] = timeField
		case schema.Timestamp:
			e.fields[i] = timestampField(false, false)
		case schema.TimestampTZ:
			e.fields[i] = timestampField(true, utc)
		default:
			return nil, false
		}
	}
	return e, true
}

// header is the binary COPY signature, flags and header extension length.
var header = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// ErrNotEncodable says a record or value is not in a form Encode reads.
var ErrNotEncodable = data.ErrNotEncodable

// Encode reads flowgate CSV from r and writes the same rows to w in
// binary COPY format, returning their count. It fails with
// ErrNotEncodable at the first record or value not in a form it reads
// exactly as PostgreSQL would (what was written must then be discarded
// and the text loaded instead), or with r's or w's error.
func (e *Encoder) Encode(w io.Writer, r io.Reader) (int64, error) {
	out := make([]byte, 0, 128<<10)
	out = append(out, header...)
	cr := data.NewReader(r)
	var n int64
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		if len(rec) != len(e.fields) {
			return n, fmt.Errorf("record %d has %d fields for %d columns: %w", n+1, len(rec), len(e.fields), ErrNotEncodable)
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(rec)))
		for i, v := range rec {
			if v == nil {
				out = binary.BigEndian.AppendUint32(out, math.MaxUint32) // -1: NULL
				continue
			}
			at := len(out)
			out = append(out, 0, 0, 0, 0)
			var ok bool
			if out, ok = e.fields[i](out, v); !ok || len(out)-at-4 > math.MaxInt32 {
				return n, fmt.Errorf("record %d, field %d: %w", n+1, i+1, ErrNotEncodable)
			}
			binary.BigEndian.PutUint32(out[at:], uint32(len(out)-at-4))
		}
		n++
		if len(out) >= 64<<10 {
			if _, err := w.Write(out); err != nil {
				return n, err
			}
			out = out[:0]
		}
	}
	out = append(out, 0xff, 0xff) // the trailer: a field count of -1
	_, err := w.Write(out)
	return n, err
}

func boolField(dst, v []byte) ([]byte, bool) {
	switch string(v) {
	case "t", "true":
		return append(dst, 1), true
	case "f", "false":
		return append(dst, 0), true
	}
	return dst, false
}

// digits reports whether v is [-]d+ (what strconv and int8in both read
// the same way).
func digits(v []byte) bool {
	if len(v) > 0 && v[0] == '-' {
		v = v[1:]
	}
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func intField(bits int) field {
	return func(dst, v []byte) ([]byte, bool) {
		if !digits(v) {
			return dst, false
		}
		i, err := strconv.ParseInt(string(v), 10, bits)
		if err != nil {
			return dst, false
		}
		switch bits {
		case 16:
			return binary.BigEndian.AppendUint16(dst, uint16(i)), true
		case 32:
			return binary.BigEndian.AppendUint32(dst, uint32(i)), true
		}
		return binary.BigEndian.AppendUint64(dst, uint64(i)), true
	}
}

func floatField(bits int) field {
	return func(dst, v []byte) ([]byte, bool) {
		var f float64
		switch string(v) {
		case "NaN":
			f = math.NaN()
		case "Infinity":
			f = math.Inf(1)
		case "-Infinity":
			f = math.Inf(-1)
		default:
			// Plain or exponent notation only (Go also reads hex floats,
			// "inf" and underscores, PostgreSQL does not).
			nonzero, exp := false, false
			for i, c := range v {
				switch {
				case c >= '0' && c <= '9':
					nonzero = nonzero || !exp && c != '0'
				case c == '.' && !exp:
				case (c == 'e' || c == 'E') && !exp:
					exp = true
				case (c == '-' || c == '+') && (i == 0 || v[i-1] == 'e' || v[i-1] == 'E'):
				default:
					return dst, false
				}
			}
			var err error
			if f, err = strconv.ParseFloat(string(v), bits); err != nil {
				return dst, false // out of range: PostgreSQL says so in words
			}
			if f == 0 && nonzero {
				return dst, false // underflow, an error in PostgreSQL
			}
		}
		if bits == 32 {
			return binary.BigEndian.AppendUint32(dst, math.Float32bits(float32(f))), true
		}
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(f)), true
	}
}

// numericField encodes [-]d+[.d+] as PostgreSQL's numeric: digit count,
// weight (of the first base-10000 digit), sign, display scale (the
// fraction digits written) and the base-10000 digits. numeric_recv then
// rounds to the column's scale as numeric_in does.
func numericField(dst, v []byte) ([]byte, bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	intPart, frac, hasDot := bytes.Cut(v, []byte{'.'})
	if len(intPart) == 0 || hasDot && len(frac) == 0 || len(frac) > 1000 || len(intPart) > 131072 {
		return dst, false
	}
	for _, part := range [][]byte{intPart, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return dst, false
			}
		}
	}
	intPart = bytes.TrimLeft(intPart, "0")
	// Base-10000 digits aligned on the decimal point: the integer part
	// padded on the left, the fraction on the right.
	lead := (4 - len(intPart)%4) % 4
	nInt := (len(intPart) + lead) / 4
	nFrac := (len(frac) + 3) / 4
	var groups [64]int16
	ds := groups[:0]
	if nInt+nFrac > len(groups) {
		ds = make([]int16, 0, nInt+nFrac)
	}
	d, k := 0, lead
	for _, c := range intPart {
		d = d*10 + int(c-'0')
		if k++; k == 4 {
			ds, d, k = append(ds, int16(d)), 0, 0
		}
	}
	for i := 0; i < nFrac*4; i++ {
		c := 0
		if i < len(frac) {
			c = int(frac[i] - '0')
		}
		d = d*10 + c
		if k++; k == 4 {
			ds, d, k = append(ds, int16(d)), 0, 0
		}
	}
	weight := nInt - 1
	for len(ds) > 0 && ds[0] == 0 {
		ds, weight = ds[1:], weight-1
	}
	for len(ds) > 0 && ds[len(ds)-1] == 0 {
		ds = ds[:len(ds)-1]
	}
	sign := uint16(0x0000)
	if len(ds) == 0 {
		weight = 0 // zero is positive, whatever its text
	} else if neg {
		sign = 0x4000
	}
	if weight > math.MaxInt16 || weight < math.MinInt16 {
		return dst, false
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(ds)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(weight)))
	dst = binary.BigEndian.AppendUint16(dst, sign)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(frac)))
	for _, g := range ds {
		dst = binary.BigEndian.AppendUint16(dst, uint16(g))
	}
	return dst, true
}

func textField(dst, v []byte) ([]byte, bool) { return append(dst, v...), true }

// jsonbField: jsonb's binary form is a version byte (1) and the text.
func jsonbField(dst, v []byte) ([]byte, bool) { return append(append(dst, 1), v...), true }

// uuidField reads the 8-4-4-4-12 hex form.
func uuidField(dst, v []byte) ([]byte, bool) {
	if len(v) != 36 || v[8] != '-' || v[13] != '-' || v[18] != '-' || v[23] != '-' {
		return dst, false
	}
	var digits [32]byte
	n := copy(digits[:], v[0:8])
	n += copy(digits[n:], v[9:13])
	n += copy(digits[n:], v[14:18])
	n += copy(digits[n:], v[19:23])
	copy(digits[n:], v[24:36])
	var b [16]byte
	if _, err := hex.Decode(b[:], digits[:]); err != nil {
		return dst, false
	}
	return append(dst, b[:]...), true
}

// byteaField reads the hex form \x.... (lower-case x: PostgreSQL reads
// \X... in the escape form).
func byteaField(dst, v []byte) ([]byte, bool) {
	if len(v) < 2 || v[1] != 'x' {
		return dst, false
	}
	out, err := data.DecodeHex(dst, v)
	if err != nil {
		return dst, false
	}
	return out, true
}

// num reads n decimal digits of v at i.
func num(v []byte, i, n int) (int, bool) {
	if i+n > len(v) {
		return 0, false
	}
	x := 0
	for _, c := range v[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		x = x*10 + int(c-'0')
	}
	return x, true
}

// julian is the Julian day number of a proleptic Gregorian date, as
// PostgreSQL's date2j computes it.
func julian(y, m, d int) int {
	if m > 2 {
		m++
		y += 4800
	} else {
		m += 13
		y += 4799
	}
	century := y / 100
	j := y*365 - 32167
	j += y/4 - century + century/4
	j += 7834*m/256 + d
	return j
}

// pgEpoch is 2000-01-01, where PostgreSQL counts dates and timestamps from.
var pgEpoch = julian(2000, 1, 1)

// date reads YYYY-MM-DD (a four-digit year) at the start of v.
func date(v []byte) (days int, ok bool) {
	if len(v) < 10 || v[4] != '-' || v[7] != '-' {
		return 0, false
	}
	y, ok1 := num(v, 0, 4)
	m, ok2 := num(v, 5, 2)
	d, ok3 := num(v, 8, 2)
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > monthDays(y, m) {
		return 0, false
	}
	return julian(y, m, d) - pgEpoch, true
}

func monthDays(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// clock reads HH:MM:SS[.f{1,6}] at the start of v (hours 0-23, seconds
// 0-59) as microseconds, and the bytes it took.
func clock(v []byte) (us int64, n int, ok bool) {
	if len(v) < 8 || v[2] != ':' || v[5] != ':' {
		return 0, 0, false
	}
	h, ok1 := num(v, 0, 2)
	m, ok2 := num(v, 3, 2)
	s, ok3 := num(v, 6, 2)
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || s > 59 {
		return 0, 0, false
	}
	us = int64((h*60+m)*60+s) * 1e6
	n = 8
	if n < len(v) && v[n] == '.' {
		n++
		frac := 0
		digits := 0
		for n < len(v) && v[n] >= '0' && v[n] <= '9' {
			if digits == 6 {
				return 0, 0, false // more than microseconds: PostgreSQL rounds
			}
			frac = frac*10 + int(v[n]-'0')
			digits++
			n++
		}
		if digits == 0 {
			return 0, 0, false
		}
		for ; digits < 6; digits++ {
			frac *= 10
		}
		us += int64(frac)
	}
	return us, n, true
}

func dateField(dst, v []byte) ([]byte, bool) {
	days, ok := date(v)
	if !ok || len(v) != 10 {
		return dst, false
	}
	return binary.BigEndian.AppendUint32(dst, uint32(int32(days))), true
}

func timeField(dst, v []byte) ([]byte, bool) {
	us, n, ok := clock(v)
	if !ok || n != len(v) {
		return dst, false
	}
	return binary.BigEndian.AppendUint64(dst, uint64(us)), true
}

// timestampField reads YYYY-MM-DD HH:MM:SS[.ffffff]; with tz, followed by
// an offset ±HH[:MM[:SS]], or without one when the session is UTC.
func timestampField(tz, utc bool) field {
	return func(dst, v []byte) ([]byte, bool) {
		days, ok := date(v)
		if !ok || len(v) < 19 || v[10] != ' ' {
			return dst, false
		}
		us, n, ok := clock(v[11:])
		if !ok {
			return dst, false
		}
		rest := v[11+n:]
		if tz {
			off, ok := offset(rest)
			if !ok || len(rest) == 0 && !utc {
				return dst, false
			}
			us -= off
		} else if len(rest) != 0 {
			return dst, false
		}
		return binary.BigEndian.AppendUint64(dst, uint64(int64(days)*86_400_000_000+us)), true
	}
}

// offset reads a UTC offset ±HH[:MM[:SS]] (all of v) as microseconds; an
// empty v is 0.
func offset(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, true
	}
	if v[0] != '+' && v[0] != '-' || len(v) != 3 && len(v) != 6 && len(v) != 9 {
		return 0, false
	}
	secs := 0
	for i, unit := 1, 3600; i < len(v); i, unit = i+3, unit/60 {
		if i > 1 && v[i-1] != ':' {
			return 0, false
		}
		x, ok := num(v, i, 2)
		if !ok || unit == 3600 && x > 15 || unit < 3600 && x > 59 {
			return 0, false // PostgreSQL's limit is 15:59:59
		}
		secs += x * unit
	}
	if v[0] == '-' {
		secs = -secs
	}
	return int64(secs) * 1e6, true
}
