package mysql_test

import (
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors/mysql"
	"github.com/flowgate/flowgate/connectors/schema"
)

func TestParseType(t *testing.T) {
	for text, want := range map[string]schema.Type{
		"tinyint(1)":                      {Kind: schema.Bool},
		"tinyint(1) unsigned":             {Kind: schema.Int8, Unsigned: true},
		"tinyint(4)":                      {Kind: schema.Int8},
		"bigint(20) unsigned zerofill":    {Kind: schema.Int64, Unsigned: true},
		"decimal(10,2) unsigned":          {Kind: schema.Decimal, Precision: 10, Scale: 2, Unsigned: true},
		"decimal":                         {Kind: schema.Decimal, Precision: 10},
		"float(30)":                       {Kind: schema.Float64},
		"float(7,3)":                      {Kind: schema.Float32},
		"bit(1)":                          {Kind: schema.Bool},
		"bit(64)":                         {Kind: schema.Bit, Length: 64},
		"varchar(255)":                    {Kind: schema.Varchar, Length: 255},
		"char":                            {Kind: schema.Char, Length: 1},
		"mediumblob":                      {Kind: schema.Blob, Length: 16777215},
		"datetime(6)":                     {Kind: schema.Timestamp, Precision: 6},
		"timestamp":                       {Kind: schema.TimestampTZ},
		"year(4)":                         {Kind: schema.Year},
		"enum('a','b''c','d\\\\e',' x ')": {Kind: schema.Enum, Values: []string{"a", "b'c", `d\e`, " x "}},
		"set('x','y')":                    {Kind: schema.Set, Values: []string{"x", "y"}},
		"geometrycollection":              {Kind: schema.Geometry},
		"uuid":                            {Kind: schema.UUID},
	} {
		got, err := mysql.ParseType(text)
		if err != nil {
			t.Errorf("%s: %v", text, err)
			continue
		}
		if got.Kind != want.Kind || got.Length != want.Length || got.Precision != want.Precision || got.Scale != want.Scale ||
			got.Unsigned != want.Unsigned || strings.Join(got.Values, "|") != strings.Join(want.Values, "|") || got.Native != text {
			t.Errorf("%s:\n got  %+v\n want %+v", text, got, want)
		}
	}
	for _, bad := range []string{"int[]", "varchar", "enum()", "strange"} {
		if _, err := mysql.ParseType(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
