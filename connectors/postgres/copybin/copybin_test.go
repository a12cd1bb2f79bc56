package copybin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/postgres/copybin"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/internal/testbed"
)

// columns of the test table: each with values in the forms flowgate's
// exporters write, edge cases included.
var columns = []struct {
	name, typ string
	values    []string // CSV fields ("" = NULL)
}{
	{"b", "boolean", []string{"t", "f", "true", "false"}},
	{"i2", "smallint", []string{"0", "-32768", "32767", "-0", "007"}},
	{"i4", "integer", []string{"-2147483648", "2147483647", "42"}},
	{"i8", "bigint", []string{"-9223372036854775808", "9223372036854775807", "1"}},
	{"f4", "real", []string{"0", "-0", "1.5", "3.4028235e+38", "1e-45", "0.1", "NaN", "Infinity", "-Infinity", "16777217", "1.17549435e-38"}},
	{"f8", "double precision", []string{"0", "-0", "0.1", "1.7976931348623157e+308", "5e-324", "-2.5e-10", "123456789012345680000", "1E5", ".5", "5.", "+3"}},
	{"n", "numeric", []string{"0", "-0", "0.000", "1", "-1", "10000", "9999.9999", "0.0001", "0.00001", "123456789.123456789", "-0.5",
		"100000000000000000000000000000000000000.00000000000000000000000001", "00012.3400", "1.0", "99999999"}},
	{"n2", "numeric(12,2)", []string{"1.005", "1.004", "-1.005", "9999999999.99", "0.1", "12", "0.995"}},
	{"n0", "numeric(5,0)", []string{"12345", "1.5", "-2.5", "0.4"}},
	{"c", "character(5)", []string{"ab", "abcde", `with "quote"`[:5], "", "é"}},
	{"vc", "character varying(10)", []string{"", "x", "0123456789", "a,b", "line\nbreak", `q"q`}},
	{"t", "text", []string{"", "ünïcödé ✓", strings.Repeat("long ", 100)}},
	{"j", "json", []string{`{"a": [1, 2.50, "x"]}`, `[]`, `"s"`}},
	{"jb", "jsonb", []string{`{"b": 1, "a": [1, 2.50]}`, `null`, `1e3`}},
	{"u", "uuid", []string{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}},
	{"by", "bytea", []string{`\x`, `\x00ff10`, `\xDEADbeef`}},
	{"d", "date", []string{"2000-01-01", "1999-12-31", "2024-02-29", "0001-01-01", "9999-12-31", "1970-01-01", "1582-10-10", "1900-03-01"}},
	{"tm", "time without time zone", []string{"00:00:00", "23:59:59.999999", "12:34:56.7", "01:02:03.000001"}},
	{"tm0", "time(0) without time zone", []string{"10:00:00.5", "10:00:00.4", "23:59:59.4"}},
	{"ts", "timestamp without time zone", []string{"2000-01-01 00:00:00", "1999-12-31 23:59:59.999999", "0001-01-01 00:00:00", "9999-12-31 23:59:59.5", "2024-02-29 12:00:00.1"}},
	{"ts3", "timestamp(3) without time zone", []string{"2024-01-01 00:00:00.1235", "2024-01-01 00:00:00.9995", "2024-01-01 00:00:00.12345"}},
	{"tz", "timestamp with time zone", []string{"2000-01-01 00:00:00+00", "2024-06-30 23:59:59.123456+00", "2024-06-30 10:00:00-07", "2024-06-30 10:00:00+05:30", "2024-06-30 10:00:00+05:45:30",
		"1900-01-01 00:00:00+00", "2024-06-30 10:00:00"}},
}

// TestEncodeMatchesPostgres loads the same CSV once as text and once
// encoded here, into tables of the same columns, and compares what
// PostgreSQL stored. Every value is also encoded alone, so that a value
// the encoder refuses shows by name.
func TestEncodeMatchesPostgres(t *testing.T) {
	pg := testbed.Postgres(t)
	conn := pg.Connect(t, pg.NewDatabase(t, "copybin"))
	ctx := context.Background()
	var defs []string
	var types []schema.Type
	rows := 0
	for _, c := range columns {
		defs = append(defs, c.name+" "+c.typ)
		typ, err := postgres.ParseType(c.typ)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, typ)
		rows = max(rows, len(c.values))
	}
	for _, tbl := range []string{"as_text", "as_binary"} {
		if _, err := conn.Exec(ctx, "CREATE TABLE "+tbl+" (seq int, "+strings.Join(defs, ", ")+")"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "SET timezone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	// Row r holds each column's value r (NULL past its list); a last row
	// is all NULL.
	var csv bytes.Buffer
	for r := 0; r <= rows; r++ {
		fmt.Fprintf(&csv, "%d", r)
		for _, c := range columns {
			csv.WriteByte(',')
			if r < len(c.values) {
				csv.WriteString(`"` + strings.ReplaceAll(c.values[r], `"`, `""`) + `"`)
			}
		}
		csv.WriteByte('\n')
	}
	enc, ok := copybin.For(append([]schema.Type{{Kind: schema.Int32}}, types...), true)
	if !ok {
		t.Fatal("no encoder for the test's types")
	}
	for i, c := range columns {
		one, _ := copybin.For([]schema.Type{types[i]}, true)
		for _, v := range c.values {
			if _, err := one.Encode(io.Discard, strings.NewReader(`"`+strings.ReplaceAll(v, `"`, `""`)+`"`+"\n")); err != nil {
				t.Errorf("%s %q: %v", c.typ, v, err)
			}
		}
	}
	var bin bytes.Buffer
	n, err := enc.Encode(&bin, bytes.NewReader(csv.Bytes()))
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if n != int64(rows+1) {
		t.Fatalf("encoded %d rows, want %d", n, rows+1)
	}
	if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(csv.Bytes()), "COPY as_text FROM STDIN (FORMAT csv)"); err != nil {
		t.Fatalf("text COPY: %v", err)
	}
	if _, err := conn.PgConn().CopyFrom(ctx, &bin, "COPY as_binary FROM STDIN (FORMAT binary)"); err != nil {
		t.Fatalf("binary COPY: %v", err)
	}
	for _, c := range columns {
		// The stored values as text (floats print the shortest exact
		// form and -0; numerics their scale; jsonb its normal form), NULL
		// apart from any value.
		q := fmt.Sprintf(`SELECT a.seq, coalesce(a.%[1]s::text, '<null>'), coalesce(b.%[1]s::text, '<null>'),
				coalesce(a.%[1]s::text, '') IS NOT DISTINCT FROM coalesce(b.%[1]s::text, '') AND (a.%[1]s IS NULL) = (b.%[1]s IS NULL)
			FROM as_text a JOIN as_binary b USING (seq) ORDER BY seq`, pgx.Identifier{c.name}.Sanitize())
		rs, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var compared int
		for rs.Next() {
			var seq int
			var a, b string
			var same bool
			if err := rs.Scan(&seq, &a, &b, &same); err != nil {
				t.Fatal(err)
			}
			compared++
			if !same {
				t.Errorf("%s row %d: text COPY stored %s, binary %s", c.typ, seq, a, b)
			}
		}
		if rs.Err() != nil {
			t.Fatal(rs.Err())
		}
		if compared != rows+1 {
			t.Fatalf("%s: compared %d rows, want %d", c.name, compared, rows+1)
		}
	}
}

// TestEncodeRefuses: values PostgreSQL reads in other ways (or refuses)
// are left to it.
func TestEncodeRefuses(t *testing.T) {
	cases := map[string][]string{
		"boolean":                     {"yes", "1", "T"},
		"smallint":                    {"32768", " 1", "+1", "1.0", "0x10"},
		"bigint":                      {"9223372036854775808", "1e3", ""},
		"double precision":            {"inf", "0x1p-2", "1_000", "1e-400", "1e400", "nan", "1e5e5", "--1"},
		"real":                        {"3.5e38", "1e-50"},
		"numeric":                     {"NaN", "Infinity", "1e5", "1.", ".5", "1,5", "--1", ""},
		"uuid":                        {"a0eebc999c0b4ef8bb6d6bb9bd380a11", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		"bytea":                       {"abc", `\x0`, `\xzz`},
		"date":                        {"2023-02-29", "0000-01-01", "12023-01-01", "2023-1-1", "infinity", "2023-01-01 BC", "2023-13-01"},
		"time without time zone":      {"24:00:00", "12:00", "12:00:00.1234567", "12:00:60", "12:00:00."},
		"timestamp without time zone": {"2023-01-01T00:00:00", "2023-01-01 00:00:00+00", "2023-01-01", "2023-01-01 00:00:00 BC"},
		"timestamp with time zone":    {"2023-01-01 00:00:00 UTC", "2023-01-01 00:00:00+16", "2023-01-01 00:00:00+1", "2023-01-01 00:00:00+01:60"},
	}
	for typ, vals := range cases {
		tt, err := postgres.ParseType(typ)
		if err != nil {
			t.Fatal(err)
		}
		enc, ok := copybin.For([]schema.Type{tt}, true)
		if !ok {
			t.Fatalf("no encoder for %s", typ)
		}
		for _, v := range vals {
			if _, err := enc.Encode(io.Discard, strings.NewReader(`"`+v+`"`+"\n")); !errors.Is(err, copybin.ErrNotEncodable) {
				t.Errorf("%s %q: %v, want ErrNotEncodable", typ, v, err)
			}
		}
	}
	// A timestamptz without an offset is only UTC in a UTC session.
	tt, _ := postgres.ParseType("timestamp with time zone")
	enc, _ := copybin.For([]schema.Type{tt}, false)
	if _, err := enc.Encode(io.Discard, strings.NewReader("2023-01-01 00:00:00\n")); !errors.Is(err, copybin.ErrNotEncodable) {
		t.Errorf("an offset-less timestamptz outside UTC: %v", err)
	}
	// A record of another width.
	i, _ := postgres.ParseType("integer")
	enc, _ = copybin.For([]schema.Type{i, i}, true)
	if _, err := enc.Encode(io.Discard, strings.NewReader("1,2,3\n")); !errors.Is(err, copybin.ErrNotEncodable) {
		t.Errorf("three fields for two columns: %v", err)
	}
	for _, typ := range []string{"interval", "integer[]", "money", "inet"} {
		tt, _ := postgres.ParseType(typ)
		if _, ok := copybin.For([]schema.Type{tt}, true); ok {
			t.Errorf("an encoder for %s", typ)
		}
	}
}
