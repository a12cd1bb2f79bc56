package copybin_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/postgres/copybin"
	"github.com/flowgate/flowgate/connectors/schema"
)

// FuzzEncode: any bytes as CSV for a row of every encoded type either
// encode into well-formed binary COPY (header, tuples of length-prefixed
// fields, trailer) or are refused; the encoder never panics.
func FuzzEncode(f *testing.F) {
	var types []schema.Type
	for _, c := range columns {
		tt, err := postgres.ParseType(c.typ)
		if err != nil {
			f.Fatal(err)
		}
		types = append(types, tt)
	}
	enc, ok := copybin.For(types, true)
	if !ok {
		f.Fatal("no encoder")
	}
	var row []byte
	for i, c := range columns {
		if i > 0 {
			row = append(row, ',')
		}
		row = append(row, '"')
		row = append(row, bytes.ReplaceAll([]byte(c.values[0]), []byte(`"`), []byte(`""`))...)
		row = append(row, '"')
	}
	f.Add(append(row, '\n'))
	f.Add([]byte("t,1,2,3,1.5,2.5,1.25,1.25,1,a,b,c,{},{},a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,\\x00,2024-02-29,10:00:00,10:00:00,2024-01-01 00:00:00,2024-01-01 00:00:00.1,2024-01-01 00:00:00+05:30\n"))
	f.Add([]byte(",,,,,,,,,,,,,,,,,,,,,\n"))
	f.Fuzz(func(t *testing.T, csv []byte) {
		var out bytes.Buffer
		n, err := enc.Encode(&out, bytes.NewReader(csv))
		if err != nil {
			if !errors.Is(err, copybin.ErrNotEncodable) && n < 0 {
				t.Fatalf("negative count with %v", err)
			}
			return
		}
		b := out.Bytes()
		if len(b) < 21 || !bytes.HasPrefix(b, []byte("PGCOPY\n\xff\r\n\x00")) {
			t.Fatalf("no header: %q", b)
		}
		b = b[19:]
		var tuples int64
		for {
			if len(b) < 2 {
				t.Fatalf("truncated at tuple %d", tuples)
			}
			fields := int16(binary.BigEndian.Uint16(b))
			b = b[2:]
			if fields == -1 {
				break
			}
			if int(fields) != len(types) {
				t.Fatalf("tuple %d has %d fields", tuples, fields)
			}
			for range fields {
				if len(b) < 4 {
					t.Fatalf("truncated field length in tuple %d", tuples)
				}
				size := int32(binary.BigEndian.Uint32(b))
				b = b[4:]
				if size == -1 {
					continue
				}
				if size < 0 || int(size) > len(b) {
					t.Fatalf("field of %d bytes with %d left", size, len(b))
				}
				b = b[size:]
			}
			tuples++
		}
		if len(b) != 0 || tuples != n {
			t.Fatalf("%d bytes after the trailer, %d tuples for %d rows", len(b), tuples, n)
		}
	})
}
