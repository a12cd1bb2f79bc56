package sqlite

import (
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// DriverName is go-sqlite3 with flowgate's SQL functions on every
// connection: md5(text) and the checksum normal form (flowgate_norm,
// flowgate_part, flowgate_h60, the flowgate_rowsum aggregate), so checksums run inside SQLite like in the other
// databases.
const DriverName = "flowgate_sqlite3"

func init() {
	sql.Register(DriverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		for name, fn := range map[string]any{
			"md5":           func(s string) string { return data.MD5Hex([]byte(s)) },
			"flowgate_part": normPart,
			"flowgate_norm": normValue,
			"flowgate_h60":  h60,
		} {
			if err := c.RegisterFunc(name, fn, true); err != nil {
				return fmt.Errorf("register %s: %w", name, err)
			}
		}
		if err := c.RegisterAggregator("flowgate_rowsum", newRowSum, true); err != nil {
			return fmt.Errorf("register flowgate_rowsum: %w", err)
		}
		return nil
	}})
}

// h60 reads hex digits part*15+1 .. part*15+15 of an md5 as an integer.
func h60(hexMD5 string, part int64) (int64, error) {
	from := int(part) * 15
	if from+15 > len(hexMD5) {
		return 0, fmt.Errorf("flowgate_h60: %q too short", hexMD5)
	}
	return strconv.ParseInt(hexMD5[from:from+15], 16, 64)
}

// normPart is a value's part of the row text: n for NULL, text-like kinds
// prefixed with their byte length.
func normPart(v any, kind string, digits int64) string {
	s, ok := norm(v, schema.Kind(kind), int(digits))
	if !ok {
		return "n"
	}
	if data.TextLike(schema.Kind(kind)) {
		return strconv.Itoa(len(s)) + ":" + s
	}
	return s
}

// normValue is a value in the normal form, NULL for NULL.
func normValue(v any, kind string, digits int64) any {
	s, ok := norm(v, schema.Kind(kind), int(digits))
	if !ok {
		return nil
	}
	return s
}

// norm is the checksum normal form of one SQLite value of a column of kind.
// SQLite stores what it was given, so each kind accepts several storage
// classes.
func norm(v any, kind schema.Kind, digits int) (string, bool) {
	if b, ok := v.([]byte); v == nil || ok && b == nil {
		return "", false // go-sqlite3 passes NULL as a nil []byte
	}
	switch kind {
	case schema.Bool:
		switch x := v.(type) {
		case int64:
			return tf(x != 0), true
		case float64:
			return tf(x != 0), true
		}
		if b, err := data.ParseBool([]byte(text(v))); err == nil {
			return tf(b), true
		}
	case schema.Int8, schema.Int16, schema.Int24, schema.Int32, schema.Int64, schema.Year:
		switch x := v.(type) {
		case int64:
			return strconv.FormatInt(x, 10), true
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), true
		}
	case schema.Decimal:
		switch x := v.(type) {
		case int64:
			return strconv.FormatInt(x, 10), true
		case float64:
			return data.NormDecimal(strconv.FormatFloat(x, 'f', -1, 64)), true
		}
		return data.NormDecimal(text(v)), true
	case schema.Float32, schema.Float64:
		bits := 64
		if kind == schema.Float32 {
			bits = 32
		}
		switch x := v.(type) {
		case int64:
			return data.NormFloat(float64(x), bits), true
		case float64:
			return data.NormFloat(x, bits), true
		}
		if f, err := strconv.ParseFloat(text(v), bits); err == nil {
			return data.NormFloat(f, bits), true
		}
	case schema.Binary, schema.Varbinary, schema.Blob:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		default:
			b = []byte(text(v))
		}
		return string(data.AppendHex(nil, b)), true
	case schema.Date, schema.Timestamp, schema.TimestampTZ:
		if t, ok := sqliteTime(v); ok {
			return data.NormTime(t, string(kind), digits), true
		}
	case schema.Time:
		s := text(v)
		if t, _, err := data.ParseTimestamp([]byte("2000-01-01 " + s)); err == nil {
			return data.NormTime(t, "time", digits), true
		}
	}
	return text(v), true
}

func tf(b bool) string {
	if b {
		return "t"
	}
	return "f"
}

// text is how a value prints as text.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return string(data.AppendFloat(nil, x, 64))
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return tf(x)
	case time.Time:
		return string(data.AppendTimestamp(nil, x, false))
	}
	return fmt.Sprint(v)
}

// sqliteTime reads the ways SQLite keeps times: ISO text (space or T, an
// optional offset or Z), or Unix seconds. Text without an offset is UTC,
// which is what SQLite's own date functions assume.
func sqliteTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case int64:
		return time.Unix(x, 0).UTC(), true
	case float64:
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	}
	s := strings.TrimSpace(text(v))
	t, _, err := data.ParseTimestamp([]byte(s))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
