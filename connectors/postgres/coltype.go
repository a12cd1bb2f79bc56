package postgres

import (
	"fmt"
	"strings"

	"github.com/flowgate/flowgate/connectors/schema"
)

// defaultFsp is PostgreSQL's fractional-second precision when a time type
// is declared without one (microseconds).
const defaultFsp = 6

// otherTypes are PostgreSQL types kept as schema.Other: PostgreSQL to
// PostgreSQL they are created as they are, elsewhere they are unsupported.
var otherTypes = map[string]bool{
	"money": true, "inet": true, "cidr": true, "macaddr": true, "macaddr8": true, "xml": true,
	"tsvector": true, "tsquery": true, "oid": true, "pg_lsn": true, "name": true, `"char"`: true,
	"int4range": true, "int8range": true, "numrange": true, "tsrange": true, "tstzrange": true, "daterange": true,
	"time with time zone": true, "timetz": true, "bit varying": true, "varbit": true, "hstore": true, "citext": true,
}

// ParseType reads a PostgreSQL column type as format_type prints it or as a
// user writes it in CREATE TABLE MODEL ("integer", "varchar(64)",
// "numeric(12,2)", "timestamp(3) with time zone", "text[]"). MySQL spellings
// (tinyint, datetime, longtext, double, enum('a','b'), ... unsigned) are
// accepted as aliases. serial, smallserial and bigserial give their integer
// type with Native "serial" etc.: auto-increment is a column property the
// caller sets.
func ParseType(text string) (schema.Type, error) {
	tt, err := schema.SplitTypeText(text)
	if err != nil {
		return schema.Type{}, err
	}
	native := strings.ToLower(strings.Join(strings.Fields(text), " "))
	if tt.Array > 0 {
		elemText := native[:strings.IndexByte(native, '[')]
		elem, err := ParseType(elemText)
		if err != nil {
			return schema.Type{}, err
		}
		return schema.Type{Kind: schema.Array, Elem: &elem, Native: native}, nil
	}
	t := schema.Type{Native: native}
	var name string
	t.Unsigned, name = tt.Has("unsigned")
	_, name = schema.TypeText{Name: name}.Has("zerofill")
	arg := func(i, def int) int {
		if err != nil {
			return 0
		}
		var n int
		n, err = tt.IntArg(i, def)
		return n
	}
	switch name {
	case "boolean", "bool":
		t.Kind = schema.Bool
	case "smallint", "int2", "smallserial", "serial2":
		t.Kind = schema.Int16
	case "integer", "int", "int4", "serial", "serial4":
		t.Kind = schema.Int32
	case "bigint", "int8", "bigserial", "serial8":
		t.Kind = schema.Int64
	case "numeric", "decimal", "dec":
		t.Kind = schema.Decimal
		t.Precision, t.Scale = arg(0, 0), arg(1, 0)
	case "real", "float4":
		t.Kind = schema.Float32
	case "double precision", "float8", "double":
		t.Kind = schema.Float64
	case "float":
		t.Kind = schema.Float64
		if p := arg(0, 53); p <= 24 && len(tt.Args) == 1 {
			t.Kind = schema.Float32
		}
	case "character", "char", "bpchar", "nchar":
		t.Kind, t.Length = schema.Char, arg(0, 1)
		if name == "bpchar" && len(tt.Args) == 0 {
			t.Kind, t.Length = schema.Varchar, 0 // blank-padded, unbounded
		}
	case "character varying", "varchar", "nvarchar":
		t.Kind, t.Length = schema.Varchar, arg(0, 0)
	case "text":
		t.Kind = schema.Text
	case "bytea":
		t.Kind = schema.Blob
	case "date":
		t.Kind = schema.Date
	case "time", "time without time zone":
		t.Kind, t.Precision = schema.Time, arg(0, defaultFsp)
	case "timestamp", "timestamp without time zone":
		t.Kind, t.Precision = schema.Timestamp, arg(0, defaultFsp)
	case "timestamptz", "timestamp with time zone":
		t.Kind, t.Precision = schema.TimestampTZ, arg(0, defaultFsp)
	case "json", "jsonb":
		t.Kind = schema.JSON
	case "uuid":
		t.Kind = schema.UUID
	case "bit":
		t.Kind, t.Length = schema.Bit, arg(0, 1)
	case "point", "line", "lseg", "box", "path", "polygon", "circle", "geometry", "geography":
		t.Kind = schema.Geometry
	// MySQL spellings.
	case "tinyint":
		t.Kind = schema.Int8
		if arg(0, 0) == 1 && !t.Unsigned {
			t.Kind = schema.Bool
		}
	case "mediumint":
		t.Kind = schema.Int24
	case "datetime":
		t.Kind, t.Precision = schema.Timestamp, arg(0, 0)
	case "year":
		t.Kind = schema.Year
	case "tinytext", "mediumtext", "longtext":
		t.Kind, t.Length = schema.Text, lobSize(name)
	case "tinyblob", "blob", "mediumblob", "longblob":
		t.Kind, t.Length = schema.Blob, lobSize(name)
	case "binary":
		t.Kind, t.Length = schema.Binary, arg(0, 1)
	case "varbinary":
		t.Kind, t.Length = schema.Varbinary, arg(0, 0)
	case "enum", "set":
		t.Kind, t.Values = schema.Enum, tt.Args
		if name == "set" {
			t.Kind = schema.Set
		}
		if len(tt.Args) == 0 {
			err = fmt.Errorf("%s needs its values", name)
		}
	default:
		if strings.HasPrefix(name, "interval") {
			t.Kind = schema.Interval
			break
		}
		if otherTypes[name] {
			t.Kind = schema.Other
			break
		}
		return schema.Type{}, fmt.Errorf("unknown postgres type %q", text)
	}
	if err != nil {
		return schema.Type{}, fmt.Errorf("postgres type %q: %w", text, err)
	}
	if t.Unsigned && !t.Kind.IsNumeric() {
		return schema.Type{}, fmt.Errorf("postgres type %q: unsigned applies to numbers only", text)
	}
	return t, nil
}

func lobSize(name string) int {
	switch {
	case strings.HasPrefix(name, "tiny"):
		return 255
	case strings.HasPrefix(name, "medium"):
		return 16777215
	case strings.HasPrefix(name, "long"):
		return 4294967295
	}
	return 65535
}

// IsSerial reports whether a type parsed by ParseType was spelled serial,
// smallserial or bigserial: the column is auto-increment.
func IsSerial(t schema.Type) bool {
	switch t.Native {
	case "serial", "serial2", "serial4", "serial8", "smallserial", "bigserial":
		return true
	}
	return false
}
