package sqlite

import (
	"strings"

	"github.com/flowgate/flowgate/connectors/schema"
)

// defaultFsp is the fractional-second precision assumed for SQLite's time
// types, which store whatever text they are given.
const defaultFsp = 6

// ParseType reads a declared column type. SQLite enforces none of them, so
// well-known SQL names are trusted as declared (VARCHAR(20) is a
// varchar(20)); anything else falls back to SQLite's own affinity rules
// (https://www.sqlite.org/datatype3.html#determination_of_column_affinity).
// It never fails.
func ParseType(declared string) schema.Type {
	t := schema.Type{Native: declared}
	if strings.TrimSpace(declared) == "" {
		// No declared type holds anything; text is what every target
		// can take.
		t.Kind = schema.Text
		return t
	}
	tt, err := schema.SplitTypeText(declared)
	if err != nil {
		return affinity(t)
	}
	arg := func(i, def int) int {
		n, err := tt.IntArg(i, def)
		if err != nil {
			return def
		}
		return n
	}
	unsigned, name := tt.Has("unsigned")
	t.Unsigned = unsigned
	switch name {
	case "integer", "bigint", "int8", "unsigned big int", "big int":
		t.Kind = schema.Int64 // SQLite integers are 64-bit
	case "int", "int4":
		t.Kind = schema.Int32
	case "tinyint":
		t.Kind = schema.Int8
		if arg(0, 0) == 1 && !unsigned {
			t.Kind = schema.Bool
		}
	case "smallint", "int2":
		t.Kind = schema.Int16
	case "mediumint":
		t.Kind = schema.Int24
	case "boolean", "bool":
		t.Kind = schema.Bool
	case "real", "double", "double precision", "float", "float8":
		t.Kind = schema.Float64 // all 8-byte in SQLite
	case "numeric", "decimal":
		t.Kind, t.Precision, t.Scale = schema.Decimal, arg(0, 0), arg(1, 0)
	case "char", "character", "nchar", "native character":
		t.Kind, t.Length = schema.Char, arg(0, 1)
	case "varchar", "character varying", "varying character", "nvarchar":
		t.Kind, t.Length = schema.Varchar, arg(0, 0)
	case "text", "clob":
		t.Kind = schema.Text
	case "blob":
		t.Kind = schema.Blob
	case "date":
		t.Kind = schema.Date
	case "time":
		t.Kind, t.Precision = schema.Time, arg(0, defaultFsp)
	case "datetime", "timestamp":
		t.Kind, t.Precision = schema.Timestamp, arg(0, defaultFsp)
	case "timestamptz", "timestamp with time zone":
		t.Kind, t.Precision = schema.TimestampTZ, arg(0, defaultFsp)
	case "year":
		t.Kind = schema.Year
	case "json", "jsonb":
		t.Kind = schema.JSON
	case "uuid":
		t.Kind = schema.UUID
	case "bit":
		t.Kind, t.Length = schema.Bit, arg(0, 1)
		if t.Length == 1 {
			t.Kind = schema.Bool
		}
	default:
		return affinity(t)
	}
	return t
}

// affinity types a declared name the way SQLite does.
func affinity(t schema.Type) schema.Type {
	d := strings.ToUpper(t.Native)
	switch {
	case strings.Contains(d, "INT"):
		t.Kind = schema.Int64
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"):
		t.Kind = schema.Text
	case strings.Contains(d, "BLOB"):
		t.Kind = schema.Blob
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"):
		t.Kind = schema.Float64
	default:
		t.Kind = schema.Decimal
	}
	return t
}
