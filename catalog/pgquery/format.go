package pgquery

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Format renders a value read from SQLite as PostgreSQL text for output
// column col. nil stays nil (NULL).
func (q *Query) Format(col int, v any) ([]byte, error) {
	if col < 0 || col >= len(q.Columns) {
		return nil, fmt.Errorf("pgquery: column %d out of range", col)
	}
	c := q.Columns[col]
	if c.TypeOID == oidNumeric && c.TypeMod < 0 && c.dscale > 0 && v != nil {
		return []byte(formatNumeric(v, int(c.dscale)-1)), nil
	}
	return FormatValue(c.TypeOID, c.TypeMod, v)
}

// FormatValue renders a SQLite value as PostgreSQL text for a type.
func FormatValue(oid uint32, typmod int32, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	var s string
	switch {
	case isArrayType(oid):
		js, ok := v.(string)
		if !ok {
			return []byte(fmt.Sprint(v)), nil
		}
		out, err := formatArrayJSON(js, elemType(oid), oid == oidInt2Vector || oid == oidOIDVector)
		return []byte(out), err
	case oid == oidRecord:
		if js, ok := v.(string); ok {
			out, err := formatRecordJSON(js)
			return []byte(out), err
		}
	}
	switch oid {
	case oidBool:
		s = formatBool(v)
	case oidInt2, oidInt4, oidInt8, oidOID:
		switch x := v.(type) {
		case int64:
			s = strconv.FormatInt(x, 10)
		case float64:
			s = strconv.FormatInt(int64(math.Round(x)), 10)
		default:
			s = fmt.Sprint(x)
		}
	case oidFloat8, oidFloat4:
		bits := 64
		if oid == oidFloat4 {
			bits = 32
		}
		switch x := v.(type) {
		case float64:
			s = formatFloat(x, bits)
		case int64:
			s = formatFloat(float64(x), bits)
		default:
			s = fmt.Sprint(x)
		}
	case oidNumeric:
		s = formatNumeric(v, numericScale(typmod))
	case oidTimestamptz, oidTimestamp:
		s = formatTimestamp(v, oid == oidTimestamptz)
	case oidDate:
		switch x := v.(type) {
		case time.Time:
			s = x.UTC().Format("2006-01-02")
		default:
			s = fmt.Sprint(x)
			if len(s) > 10 {
				s = s[:10]
			}
		}
	case oidInterval:
		switch x := v.(type) {
		case float64:
			s = formatIntervalSeconds(x)
		case int64:
			s = formatIntervalSeconds(float64(x))
		default:
			s = fmt.Sprint(x)
		}
	default:
		switch x := v.(type) {
		case float64:
			s = formatFloat(x, 64)
		case time.Time:
			s = formatTimestamp(x, true)
		default:
			s = fmt.Sprint(x)
		}
	}
	return []byte(s), nil
}

func formatBool(v any) string {
	switch x := v.(type) {
	case int64:
		if x != 0 {
			return "t"
		}
		return "f"
	case float64:
		if x != 0 {
			return "t"
		}
		return "f"
	case bool:
		if x {
			return "t"
		}
		return "f"
	case string:
		if b, ok := parseBoolPG(x); ok {
			if b {
				return "t"
			}
			return "f"
		}
		return x
	}
	return fmt.Sprint(v)
}

// formatFloat follows PostgreSQL 12+ float output: shortest round-trip
// digits, plain notation for exponents -4..14 (float4: ..5), else
// d.ddde+XX; Infinity, -Infinity, NaN.
func formatFloat(f float64, bits int) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	e := strconv.FormatFloat(f, 'e', -1, bits)
	i := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	limit := 15
	if bits == 32 {
		limit = 6
	}
	if exp < -4 || exp >= limit {
		return e
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}

// formatNumeric prints a decimal without exponent; with a scale from the
// typmod it prints exactly that many fraction digits.
func formatNumeric(v any, scale int) string {
	switch x := v.(type) {
	case int64:
		if scale > 0 {
			return strconv.FormatInt(x, 10) + "." + strings.Repeat("0", scale)
		}
		return strconv.FormatInt(x, 10)
	case float64:
		switch {
		case math.IsNaN(x):
			return "NaN"
		case math.IsInf(x, 1):
			return "Infinity"
		case math.IsInf(x, -1):
			return "-Infinity"
		}
		if scale >= 0 {
			return strconv.FormatFloat(x, 'f', scale, 64)
		}
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if s == "-0" {
			s = "0"
		}
		return s
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// formatTimestamp turns storage text (or a time.Time from the driver) into
// PostgreSQL's ISO output: fraction trimmed, "+00" for timestamptz.
func formatTimestamp(v any, tz bool) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x.UTC()
	case string:
		p, err := parseTimestamp(x)
		if err != nil {
			return x
		}
		t = p
	case int64:
		t = time.Unix(x, 0).UTC()
	case float64:
		t = time.UnixMicro(int64(math.Round(x * 1e6))).UTC()
	default:
		return fmt.Sprint(v)
	}
	s := t.Format("2006-01-02 15:04:05.999999")
	if tz {
		s += "+00"
	}
	return s
}
