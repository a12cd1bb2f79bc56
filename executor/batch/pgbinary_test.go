package batch

import (
	"encoding/binary"
	"testing"
)

// A binary COPY stream cut at every possible point counts the same
// tuples: NULLs, empty values, a header extension, a zero-field tuple.
func TestPGBinaryCounterAnyCut(t *testing.T) {
	var s []byte
	s = append(s, "PGCOPY\n\xff\r\n\x00"...)
	s = binary.BigEndian.AppendUint32(s, 0)
	s = binary.BigEndian.AppendUint32(s, 3) // extension of 3 bytes
	s = append(s, 1, 2, 3)
	tuple := func(fields ...[]byte) {
		s = binary.BigEndian.AppendUint16(s, uint16(len(fields)))
		for _, f := range fields {
			if f == nil {
				s = binary.BigEndian.AppendUint32(s, 0xffffffff) // NULL
				continue
			}
			s = binary.BigEndian.AppendUint32(s, uint32(len(f)))
			s = append(s, f...)
		}
	}
	tuple([]byte("12345678"), nil, []byte{})
	tuple()
	tuple([]byte{0xff, 0xff}, []byte("a longer value than the rest"), nil)
	tuple(nil)
	s = binary.BigEndian.AppendUint16(s, 0xffff) // trailer
	for cut := 0; cut <= len(s); cut++ {
		var c pgBinaryCounter
		a, err := c.count(s[:cut])
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		b, err := c.count(s[cut:])
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if a+b != 4 || c.state != binEnd {
			t.Fatalf("cut %d: %d + %d tuples, state %d", cut, a, b, c.state)
		}
	}
	var c pgBinaryCounter
	for i := range s {
		if _, err := c.count(s[i : i+1]); err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	if _, err := c.count([]byte{0}); err == nil {
		t.Fatal("bytes after the trailer were taken")
	}
	if _, err := new(pgBinaryCounter).count([]byte("not a COPY stream at all")); err == nil {
		t.Fatal("a stream without the signature was taken")
	}
}

func BenchmarkPGBinaryCounter(b *testing.B) {
	s := []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	for range 10000 {
		s = binary.BigEndian.AppendUint16(s, 8)
		for f := range 8 {
			s = binary.BigEndian.AppendUint32(s, uint32(4+f))
			s = append(s, make([]byte, 4+f)...)
		}
	}
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		var c pgBinaryCounter
		for i := 0; i < len(s); i += 65536 {
			c.count(s[i:min(i+65536, len(s))])
		}
	}
}
