package data

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Canonical value forms: encoders for exporters that do not get them from
// the database, decoders for importers whose database does not read them.

// AppendFloat appends f the way PostgreSQL 12+ prints float8 (bits 64) or
// float4 (bits 32): the shortest text that reads back as the same value,
// in plain notation when the decimal exponent is in [-4, 15) ([-4, 6) for
// float4), else d.ddde±XX; NaN, Infinity and -Infinity spelled out.
func AppendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	}
	neg, digits, exp := floatDigits(f, bits, -1)
	if neg {
		dst = append(dst, '-')
	}
	limit := 15
	if bits == 32 {
		limit = 6
	}
	if exp < -4 || exp >= limit {
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		if exp < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	return appendPlain(dst, digits, exp)
}

// floatDigits returns the significant digits of f (no leading or trailing
// zeros) and the decimal exponent of the first one: the shortest round-trip
// ones for prec -1, else rounded (half to even) to prec+1 digits.
func floatDigits(f float64, bits, prec int) (neg bool, digits string, exp int) {
	s := strconv.FormatFloat(f, 'e', prec, bits) // [-]d[.ddd]e±XX
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	mant, e, _ := strings.Cut(s, "e")
	exp, _ = strconv.Atoi(e)
	digits = strings.TrimRight(strings.Replace(mant, ".", "", 1), "0")
	if digits == "" {
		digits = "0"
	}
	return neg, digits, exp
}

// appendPlain writes digits (first digit at decimal exponent exp) in plain
// notation without trailing fractional zeros.
func appendPlain(dst []byte, digits string, exp int) []byte {
	switch {
	case exp < 0:
		dst = append(dst, "0."...)
		for i := 0; i < -exp-1; i++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	case exp+1 >= len(digits):
		dst = append(dst, digits...)
		for i := len(digits); i < exp+1; i++ {
			dst = append(dst, '0')
		}
		return dst
	default:
		dst = append(dst, digits[:exp+1]...)
		dst = append(dst, '.')
		return append(dst, digits[exp+1:]...)
	}
}

// FloatNormalBounds: in the checksum normal form a float whose magnitude is
// in [FloatPlainMin, FloatPlainMax) (or zero) is written in plain decimal,
// anything else in scientific notation. The bounds keep the plain form
// within what a MySQL DECIMAL(65,30) holds exactly, so MySQL can compute it.
const (
	FloatPlainMin = 1e-13
	FloatPlainMax = 1e35
)

// NormFloat is the checksum normal form of a float: the shortest round-trip
// digits of a float64, or a float32 rounded to 6 significant digits
// (FLT_DIG, all MariaDB prints of a FLOAT) when bits is 32, plain decimal without trailing
// zeros when FloatPlainMin <= |f| < FloatPlainMax or f is zero ("0", also
// for -0), otherwise d[.ddd]e[-]X with no plus sign or exponent padding;
// NaN, Infinity, -Infinity.
func NormFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	prec := -1
	if bits == 32 {
		prec = 5
	}
	neg, digits, exp := floatDigits(f, bits, prec)
	var b []byte
	if neg {
		b = append(b, '-')
	}
	if a := math.Abs(f); a >= FloatPlainMin && a < FloatPlainMax {
		return string(appendPlain(b, digits, exp))
	}
	b = append(b, digits[0])
	if len(digits) > 1 {
		b = append(b, '.')
		b = append(b, digits[1:]...)
	}
	b = append(b, 'e')
	return string(strconv.AppendInt(b, int64(exp), 10))
}

// NormDecimal is the checksum normal form of a decimal's text: trailing
// fractional zeros and a trailing point removed, "-0" as "0". Exponent
// notation is expanded.
func NormDecimal(s string) string {
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return s
		}
		neg, digits, exp := floatDigits(f, 64, -1)
		b := []byte{}
		if neg {
			b = append(b, '-')
		}
		s = string(appendPlain(b, digits, exp))
	}
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" || s == "" {
		s = "0"
	}
	return s
}

// ParseBool reads a boolean as PostgreSQL's input does (t, f, true, false,
// yes, no, on, off, 1, 0; any case).
func ParseBool(v []byte) (bool, error) {
	switch strings.ToLower(string(bytes.TrimSpace(v))) {
	case "t", "true", "y", "yes", "on", "1":
		return true, nil
	case "f", "false", "n", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q", truncate(v))
}

// AppendHex appends b in the canonical binary form \x<lower-case hex>.
func AppendHex(dst, b []byte) []byte {
	dst = append(dst, '\\', 'x')
	n := len(dst)
	dst = append(dst, make([]byte, hex.EncodedLen(len(b)))...)
	hex.Encode(dst[n:], b)
	return dst
}

// DecodeHex reads the canonical binary form \x<hex> into dst.
func DecodeHex(dst, v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != '\\' || (v[1] != 'x' && v[1] != 'X') {
		return nil, fmt.Errorf("binary value %q does not start with \\x", truncate(v))
	}
	v = v[2:]
	if dst == nil {
		dst = []byte{} // an empty value is not NULL
	}
	n := len(dst)
	dst = append(dst, make([]byte, hex.DecodedLen(len(v)))...)
	if _, err := hex.Decode(dst[n:], v); err != nil {
		return nil, fmt.Errorf("binary value: %w", err)
	}
	return dst, nil
}

// ErrNotFinite is wrapped when NaN or an infinity goes to a database that
// cannot store it.
var ErrNotFinite = errors.New("value is not a finite number")

// ParseTimestamp reads a canonical date, timestamp or timestamptz:
// YYYY-MM-DD[( |T)HH:MM:SS[.fraction]][Z|±HH[:MM[:SS]]]. Without an offset
// the result is in UTC and hasOffset is false.
func ParseTimestamp(v []byte) (t time.Time, hasOffset bool, err error) {
	s := string(v)
	bad := func() (time.Time, bool, error) {
		return time.Time{}, false, fmt.Errorf("invalid timestamp %q", truncate(v))
	}
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return bad()
	}
	y, e1 := strconv.Atoi(s[0:4])
	mo, e2 := strconv.Atoi(s[5:7])
	d, e3 := strconv.Atoi(s[8:10])
	if e1 != nil || e2 != nil || e3 != nil {
		return bad()
	}
	s = s[10:]
	var h, mi, sec, nsec int
	if len(s) > 0 && (s[0] == ' ' || s[0] == 'T') {
		s = s[1:]
		if len(s) < 8 || s[2] != ':' || s[5] != ':' {
			return bad()
		}
		var e4, e5, e6 error
		h, e4 = strconv.Atoi(s[0:2])
		mi, e5 = strconv.Atoi(s[3:5])
		sec, e6 = strconv.Atoi(s[6:8])
		if e4 != nil || e5 != nil || e6 != nil {
			return bad()
		}
		s = s[8:]
		if len(s) > 0 && s[0] == '.' {
			i := 1
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			frac := s[1:i]
			if len(frac) == 0 {
				return bad()
			}
			if len(frac) > 9 {
				frac = frac[:9]
			}
			nsec, _ = strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
			s = s[i:]
		}
	}
	loc := time.UTC
	switch {
	case s == "":
	case s == "Z" || s == "z":
		hasOffset = true
	case s[0] == '+' || s[0] == '-':
		off, ok := parseOffset(s[1:])
		if !ok {
			return bad()
		}
		if s[0] == '-' {
			off = -off
		}
		hasOffset = true
		loc = time.FixedZone("", off)
	default:
		return bad()
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60 {
		return bad()
	}
	t = time.Date(y, time.Month(mo), d, h, mi, sec, nsec, loc)
	if t.Day() != d {
		return bad()
	}
	return t, hasOffset, nil
}

// parseOffset reads HH[:MM[:SS]] or HHMM into seconds.
func parseOffset(s string) (int, bool) {
	parts := strings.Split(s, ":")
	if len(parts) == 1 && len(s) == 4 {
		parts = []string{s[:2], s[2:]}
	}
	if len(parts) > 3 {
		return 0, false
	}
	mult, off := 3600, 0
	for _, p := range parts {
		if len(p) != 2 {
			return 0, false
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return 0, false
		}
		off += n * mult
		mult /= 60
	}
	return off, true
}

// AppendTimestamp appends t as YYYY-MM-DD HH:MM:SS[.ffffff] (trailing
// fractional zeros dropped, as PostgreSQL prints it). With tz it converts to
// UTC and appends +00.
func AppendTimestamp(dst []byte, t time.Time, tz bool) []byte {
	if tz {
		t = t.UTC()
	}
	dst = appendDate(dst, t)
	dst = append(dst, ' ')
	dst = AppendClock(dst, t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000)
	if tz {
		dst = append(dst, "+00"...)
	}
	return dst
}

// AppendDate appends t's date as YYYY-MM-DD.
func AppendDate(dst []byte, t time.Time) []byte { return appendDate(dst, t) }

func appendDate(dst []byte, t time.Time) []byte {
	y, m, d := t.Date()
	dst = appendPad(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPad(dst, int(m), 2)
	dst = append(dst, '-')
	return appendPad(dst, d, 2)
}

// AppendClock appends HH:MM:SS[.ffffff] with trailing fractional zeros
// dropped.
func AppendClock(dst []byte, h, m, s, usec int) []byte {
	dst = appendPad(dst, h, 2)
	dst = append(dst, ':')
	dst = appendPad(dst, m, 2)
	dst = append(dst, ':')
	dst = appendPad(dst, s, 2)
	if usec > 0 {
		dst = append(dst, '.')
		n := len(dst)
		dst = appendPad(dst, usec, 6)
		for len(dst) > n && dst[len(dst)-1] == '0' {
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

func appendPad(dst []byte, v, width int) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	var buf [20]byte
	s := strconv.AppendInt(buf[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// NormTime is the checksum normal form of a date/time value: the canonical
// text (date YYYY-MM-DD; time HH:MM:SS.ffffff; timestamp YYYY-MM-DD
// HH:MM:SS.ffffff; timestamptz the same in UTC, no offset) with the
// fraction always 6 digits and then cut to digits (0 drops the point).
func NormTime(t time.Time, kind string, digits int) string {
	var b []byte
	switch kind {
	case "date":
		return string(appendDate(b, t))
	case "timestamptz":
		t = t.UTC()
		fallthrough
	case "timestamp":
		b = appendDate(b, t)
		b = append(b, ' ')
	}
	b = appendPad(b, t.Hour(), 2)
	b = append(b, ':')
	b = appendPad(b, t.Minute(), 2)
	b = append(b, ':')
	b = appendPad(b, t.Second(), 2)
	b = append(b, '.')
	b = appendPad(b, t.Nanosecond()/1000, 6)
	return string(b[:len(b)-6+digits-boolInt(digits == 0)])
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func truncate(v []byte) string {
	if len(v) > 64 {
		return string(v[:64]) + "..."
	}
	return string(v)
}
