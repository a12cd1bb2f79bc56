package postgres_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/schema"
)

func TestParseType(t *testing.T) {
	for text, want := range map[string]schema.Type{
		"integer":                     {Kind: schema.Int32},
		"INT4":                        {Kind: schema.Int32},
		"bigserial":                   {Kind: schema.Int64},
		"numeric(12, 2)":              {Kind: schema.Decimal, Precision: 12, Scale: 2},
		"numeric":                     {Kind: schema.Decimal},
		"character varying(64)":       {Kind: schema.Varchar, Length: 64},
		"varchar":                     {Kind: schema.Varchar},
		"char":                        {Kind: schema.Char, Length: 1},
		"timestamp(3) with time zone": {Kind: schema.TimestampTZ, Precision: 3},
		"timestamptz":                 {Kind: schema.TimestampTZ, Precision: 6},
		"timestamp without time zone": {Kind: schema.Timestamp, Precision: 6},
		"time(0)":                     {Kind: schema.Time},
		"double precision":            {Kind: schema.Float64},
		"float(10)":                   {Kind: schema.Float32},
		"interval day to second":      {Kind: schema.Interval},
		"inet":                        {Kind: schema.Other},
		"point":                       {Kind: schema.Geometry},
		"bit(3)":                      {Kind: schema.Bit, Length: 3},
		"tinyint(1)":                  {Kind: schema.Bool}, // MySQL spellings
		"int unsigned":                {Kind: schema.Int32, Unsigned: true},
		"datetime(6)":                 {Kind: schema.Timestamp, Precision: 6},
		"mediumtext":                  {Kind: schema.Text, Length: 16777215},
		"enum('a', 'b,c', 'it''s')":   {Kind: schema.Enum, Values: []string{"a", "b,c", "it's"}},
		"text[]":                      {Kind: schema.Array, Elem: &schema.Type{Kind: schema.Text, Native: "text"}},
		"character varying(10)[]":     {Kind: schema.Array, Elem: &schema.Type{Kind: schema.Varchar, Length: 10, Native: "character varying(10)"}},
	} {
		got, err := postgres.ParseType(text)
		if err != nil {
			t.Errorf("%s: %v", text, err)
			continue
		}
		want.Native = strings.ToLower(strings.Join(strings.Fields(text), " "))
		if got.Kind != want.Kind || got.Length != want.Length || got.Precision != want.Precision || got.Scale != want.Scale ||
			got.Unsigned != want.Unsigned || strings.Join(got.Values, "|") != strings.Join(want.Values, "|") || got.Native != want.Native ||
			(want.Elem != nil) != (got.Elem != nil) || (want.Elem != nil && !reflect.DeepEqual(*got.Elem, *want.Elem)) {
			t.Errorf("%s:\n got  %+v\n want %+v", text, got, want)
		}
	}
	if !postgres.IsSerial(must(postgres.ParseType("serial"))) {
		t.Error("serial not recognised")
	}
	for _, bad := range []string{"intger", "varchar(x)", "numeric(10", "text unsigned", ""} {
		if _, err := postgres.ParseType(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func must(t schema.Type, err error) schema.Type {
	if err != nil {
		panic(err)
	}
	return t
}
