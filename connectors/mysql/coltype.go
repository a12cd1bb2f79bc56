package mysql

import (
	"fmt"

	"github.com/flowgate/flowgate/connectors/schema"
)

// Byte sizes of the TEXT and BLOB families; schema.Type.Length of a Text or
// Blob column holds one of them.
const (
	tinySize   = 255
	textSize   = 65535
	mediumSize = 16777215
	longSize   = 4294967295
)

// ParseType reads a MySQL or MariaDB column type as information_schema
// .COLUMNS.COLUMN_TYPE prints it ("int(10) unsigned", "enum('a','b')",
// "datetime(3)") or as a user writes it.
func ParseType(text string) (schema.Type, error) {
	tt, err := schema.SplitTypeText(text)
	if err != nil {
		return schema.Type{}, err
	}
	if tt.Array > 0 {
		return schema.Type{}, fmt.Errorf("mysql has no array types: %q", text)
	}
	t := schema.Type{Native: text}
	_, name := tt.Has("zerofill") // display only
	t.Unsigned, name = schema.TypeText{Name: name}.Has("unsigned")
	_, name = schema.TypeText{Name: name}.Has("signed")
	length := func(def int) (err error) { t.Length, err = tt.IntArg(0, def); return }
	fsp := func() (err error) { t.Precision, err = tt.IntArg(0, 0); return }
	switch name {
	case "bool", "boolean":
		t.Kind = schema.Bool
	case "tinyint":
		t.Kind = schema.Int8
		// tinyint(1) is how MySQL spells boolean.
		if w, _ := tt.IntArg(0, 0); w == 1 && !t.Unsigned {
			t.Kind = schema.Bool
		}
	case "smallint":
		t.Kind = schema.Int16
	case "mediumint":
		t.Kind = schema.Int24
	case "int", "integer":
		t.Kind = schema.Int32
	case "bigint":
		t.Kind = schema.Int64
	case "decimal", "numeric", "dec", "fixed":
		t.Kind = schema.Decimal
		if t.Precision, err = tt.IntArg(0, 10); err == nil {
			t.Scale, err = tt.IntArg(1, 0)
		}
	case "float":
		t.Kind = schema.Float32
		// float(p) with p > 24 is a double; float(m,d) is a float.
		if p, _ := tt.IntArg(0, 0); len(tt.Args) == 1 && p > 24 {
			t.Kind = schema.Float64
		}
	case "double", "double precision", "real":
		t.Kind = schema.Float64
	case "bit":
		t.Kind = schema.Bit
		err = length(1)
		if t.Length == 1 {
			t.Kind, t.Length = schema.Bool, 0
		}
	case "char", "character", "nchar", "national char":
		t.Kind = schema.Char
		err = length(1)
	case "varchar", "character varying", "nvarchar", "national varchar":
		t.Kind = schema.Varchar
		err = length(0)
		if err == nil && len(tt.Args) == 0 {
			err = fmt.Errorf("varchar needs a length")
		}
	case "binary":
		t.Kind = schema.Binary
		err = length(1)
	case "varbinary":
		t.Kind = schema.Varbinary
		err = length(0)
		if err == nil && len(tt.Args) == 0 {
			err = fmt.Errorf("varbinary needs a length")
		}
	case "tinytext":
		t.Kind, t.Length = schema.Text, tinySize
	case "text":
		t.Kind, t.Length = schema.Text, textSize
	case "mediumtext", "long varchar", "long":
		t.Kind, t.Length = schema.Text, mediumSize
	case "longtext":
		t.Kind, t.Length = schema.Text, longSize
	case "tinyblob":
		t.Kind, t.Length = schema.Blob, tinySize
	case "blob":
		t.Kind, t.Length = schema.Blob, textSize
	case "mediumblob", "long varbinary":
		t.Kind, t.Length = schema.Blob, mediumSize
	case "longblob":
		t.Kind, t.Length = schema.Blob, longSize
	case "date":
		t.Kind = schema.Date
	case "time":
		t.Kind = schema.Time
		err = fsp()
	case "datetime":
		t.Kind = schema.Timestamp
		err = fsp()
	case "timestamp":
		t.Kind = schema.TimestampTZ
		err = fsp()
	case "year":
		t.Kind = schema.Year
	case "json":
		t.Kind = schema.JSON
	case "uuid": // MariaDB 10.7+
		t.Kind = schema.UUID
	case "enum", "set":
		t.Kind = schema.Enum
		if name == "set" {
			t.Kind = schema.Set
		}
		if len(tt.Args) == 0 {
			err = fmt.Errorf("%s needs its values", name)
		}
		t.Values = tt.Args
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection", "geomcollection":
		t.Kind = schema.Geometry
	default:
		return schema.Type{}, fmt.Errorf("unknown mysql type %q", text)
	}
	if err != nil {
		return schema.Type{}, fmt.Errorf("mysql type %q: %w", text, err)
	}
	return t, nil
}
