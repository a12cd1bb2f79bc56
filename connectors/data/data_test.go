package data

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/connectors/schema"
)

func readAll(t *testing.T, in string) [][]*string {
	t.Helper()
	r := NewReader(strings.NewReader(in))
	var out [][]*string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read %q: %v", in, err)
		}
		row := make([]*string, len(rec))
		for i, f := range rec {
			if f != nil {
				s := string(f)
				row[i] = &s
			}
		}
		out = append(out, row)
	}
}

func show(rows [][]*string) string {
	var b strings.Builder
	for _, r := range rows {
		for i, f := range r {
			if i > 0 {
				b.WriteByte('|')
			}
			if f == nil {
				b.WriteString("NULL")
			} else {
				b.WriteString(strconv.Quote(*f))
			}
		}
		b.WriteByte(';')
	}
	return b.String()
}

func TestReader(t *testing.T) {
	for in, want := range map[string]string{
		"1,,\"\"\n":                     `"1"|NULL|"";`,
		"a,\"b,c\",\"d\"\"e\"\n":        `"a"|"b,c"|"d\"e";`,
		"\"line1\nline2\r\n\",x\r\n2,y": `"line1\nline2\r\n"|"x";"2"|"y";`,
		"\\.,\"\\.\"\n":                 `"\\."|"\\.";`,
		"\n":                            `NULL;`,
		"a\"b\"c,\"\"\"\"\n":            `"abc"|"\"";`,
		"x":                             `"x";`,
	} {
		if got := show(readAll(t, in)); got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
	if _, err := NewReader(strings.NewReader("\"open\n")).Read(); err == nil || !strings.Contains(err.Error(), "unterminated") {
		t.Errorf("unterminated quote: %v", err)
	}
}

func TestReaderLongField(t *testing.T) {
	long := strings.Repeat("x\n,\"", 200000) // longer than the read buffer
	var b []byte
	b = AppendField(b, []byte(long))
	b = append(b, ",1\n"...)
	rows := readAll(t, string(b))
	if len(rows) != 1 || *rows[0][0] != long || *rows[0][1] != "1" {
		t.Fatalf("long field did not round-trip")
	}
}

func TestAppendFieldRoundTrip(t *testing.T) {
	vals := []string{"", "plain", "a,b", "q\"q", "nl\nnl", "cr\r", `\.`, `\`, " sp ", "😀"}
	var b []byte
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendField(b, []byte(v))
	}
	b = append(b, ",\n"...) // a trailing NULL
	rows := readAll(t, string(b))
	if len(rows) != 1 || len(rows[0]) != len(vals)+1 {
		t.Fatalf("got %s", show(rows))
	}
	for i, v := range vals {
		if rows[0][i] == nil || *rows[0][i] != v {
			t.Errorf("field %d: got %v, want %q", i, rows[0][i], v)
		}
	}
	if rows[0][len(vals)] != nil {
		t.Errorf("NULL came back as %q", *rows[0][len(vals)])
	}
}

type memFile struct {
	bytes.Buffer
	closed bool
}

func (m *memFile) Close() error { m.closed = true; return nil }

func TestSplitWriter(t *testing.T) {
	var recs []string
	for i := 0; i < 10; i++ {
		recs = append(recs, strconv.Itoa(i)+",\"multi\nline "+strings.Repeat("\"\"", i)+"\"\n")
	}
	stream := strings.Join(recs, "") + "last,x" // unterminated last record
	for _, chunk := range []int{1, 3, 7, 1000} {
		var files []*memFile
		var counts []int64
		s := &SplitWriter{N: 3,
			Open: func(seq int) (io.WriteCloser, error) {
				if seq != len(files) {
					t.Fatalf("open %d after %d files", seq, len(files))
				}
				f := &memFile{}
				files = append(files, f)
				return f, nil
			},
			Done: func(seq int, records, _ int64) error { counts = append(counts, records); return nil },
		}
		for p := stream; len(p) > 0; {
			n := min(chunk, len(p))
			if _, err := s.Write([]byte(p[:n])); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if len(files) != 4 || counts[0] != 3 || counts[3] != 2 {
			t.Fatalf("chunk %d: %d files, counts %v", chunk, len(files), counts)
		}
		var joined string
		for i, f := range files {
			if !f.closed {
				t.Errorf("file %d not closed", i)
			}
			if n := len(readAll(t, f.String())); int64(n) != counts[i] {
				t.Errorf("file %d has %d records, Done said %d", i, n, counts[i])
			}
			joined += f.String()
		}
		if joined != stream {
			t.Errorf("chunk %d: files do not add up to the stream", chunk)
		}
	}
	// Exactly N records: no empty trailing file.
	n, err := Split(strings.NewReader("1\n2\n3\n"), 3, func(int) (io.WriteCloser, error) { return &memFile{}, nil }, nil)
	if err != nil || n != 1 {
		t.Errorf("exact split: %d files, %v", n, err)
	}
	if _, err := Split(strings.NewReader("\"open\n"), 3, func(int) (io.WriteCloser, error) { return &memFile{}, nil }, nil); err == nil {
		t.Error("a stream ending inside quotes was accepted")
	}
}

func TestAppendFloat(t *testing.T) {
	// Expected strings are PostgreSQL 15's float8out / float4out.
	for _, c := range []struct {
		f    float64
		bits int
		want string
	}{
		{1e100, 64, "1e+100"}, {1e15, 64, "1e+15"}, {123456789012345678, 64, "1.2345678901234568e+17"},
		{1e-5, 64, "1e-05"}, {0.0001, 64, "0.0001"}, {100000, 64, "100000"}, {1e14, 64, "100000000000000"},
		{math.Nextafter(0.3, 1), 64, "0.30000000000000004"}, {-1.5, 64, "-1.5"}, {math.Copysign(0, -1), 64, "-0"},
		{math.NaN(), 64, "NaN"}, {math.Inf(-1), 64, "-Infinity"}, {5e-324, 64, "5e-324"},
		{float64(float32(0.1)), 32, "0.1"}, {1e6, 32, "1e+06"}, {float64(float32(123456.7)), 32, "123456.7"},
		{1234567, 32, "1.234567e+06"},
	} {
		if got := string(AppendFloat(nil, c.f, c.bits)); got != c.want {
			t.Errorf("AppendFloat(%v, %d) = %q, want %q", c.f, c.bits, got, c.want)
		}
	}
}

func TestNormFloat(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{0.1, "0.1"}, {1e15, "1000000000000000"}, {1e35, "1e35"}, {-1.5e-14, "-1.5e-14"}, {1e-13, "0.0000000000001"},
		{math.Copysign(0, -1), "0"}, {1.2345678901234568e20, "123456789012345680000"}, {math.Inf(1), "Infinity"},
	} {
		if got := NormFloat(c.f, 64); got != c.want {
			t.Errorf("NormFloat(%v) = %q, want %q", c.f, got, c.want)
		}
	}
	for f, want := range map[float32]string{1.1: "1.1", math.MaxFloat32: "3.40282e38", 16777216: "16777200", 1234565: "1234560", 0.1: "0.1"} {
		if got := NormFloat(float64(f), 32); got != want {
			t.Errorf("float32 %v: %q, want %q", f, got, want)
		}
	}
}

func TestNormDecimal(t *testing.T) {
	for in, want := range map[string]string{"1.5000": "1.5", "100": "100", "0.000": "0", "-0.0": "0", "1e3": "1000", "12.0": "12"} {
		if got := NormDecimal(in); got != want {
			t.Errorf("NormDecimal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRowHash(t *testing.T) {
	row := []byte("1|n|3:abc")
	sum := md5.Sum(row)
	hx := hex.EncodeToString(sum[:])
	w1, _ := strconv.ParseInt(hx[0:15], 16, 64)
	w2, _ := strconv.ParseInt(hx[15:30], 16, 64)
	h1, h2 := RowHash(row)
	if h1 != w1 || h2 != w2 {
		t.Errorf("RowHash = %x %x, want %x %x", h1, h2, w1, w2)
	}
}

func TestTimestamps(t *testing.T) {
	for in, want := range map[string]string{
		"2024-02-29 12:34:56.123456+08":     "2024-02-29 04:34:56.123456+00",
		"0001-01-01 00:00:00+00":            "0001-01-01 00:00:00+00",
		"9999-12-31T23:59:59.5Z":            "9999-12-31 23:59:59.5+00",
		"2024-01-01 00:00:00-05:30":         "2024-01-01 05:30:00+00",
		"2024-01-01 00:00:00.1234567+00:00": "2024-01-01 00:00:00.123456+00",
	} {
		ts, hasOff, err := ParseTimestamp([]byte(in))
		if err != nil || !hasOff {
			t.Errorf("%q: %v (offset %v)", in, err, hasOff)
			continue
		}
		if got := string(AppendTimestamp(nil, ts, true)); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"2024-02-30", "2024-13-01", "x", "2024-01-01 25:00", "2024-01-01 00:00:00+0"} {
		if _, _, err := ParseTimestamp([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	ts := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for d, want := range map[int]string{0: "2024-01-02 03:04:05", 3: "2024-01-02 03:04:05.123", 6: "2024-01-02 03:04:05.123456"} {
		if got := NormTime(ts, "timestamp", d); got != want {
			t.Errorf("NormTime digits %d = %q, want %q", d, got, want)
		}
	}
	if got := NormTime(ts, "time", 0); got != "03:04:05" {
		t.Errorf("NormTime time = %q", got)
	}
}

func TestHex(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	enc := AppendHex(nil, all)
	dec, err := DecodeHex(nil, enc)
	if err != nil || !bytes.Equal(dec, all) {
		t.Fatalf("hex round trip: %v", err)
	}
	if _, err := DecodeHex(nil, []byte("abc")); err == nil {
		t.Error("no \\x accepted")
	}
	if !errors.Is(ErrAlreadyImported, ErrAlreadyImported) {
		t.Fatal()
	}
}

func TestArrayToJSON(t *testing.T) {
	for _, c := range []struct {
		in   string
		elem schema.Kind
		want string
	}{
		{`{1,2,NULL}`, schema.Int32, `[1,2,null]`},
		{`{}`, schema.Text, `[]`},
		{`{{1,2},{3,4}}`, schema.Int64, `[[1,2],[3,4]]`},
		{`{"a b","c\"d",e,NULL,"NULL"}`, schema.Text, `["a b","c\"d","e",null,"NULL"]`},
		{`{t,f}`, schema.Bool, `[true,false]`},
		{`{1.50,NaN,-2e-05}`, schema.Decimal, `[1.50,"NaN",-2e-05]`},
		{`[0:1]={7,8}`, schema.Int16, `[7,8]`},
		{`{"2024-01-01 00:00:00+00"}`, schema.TimestampTZ, `["2024-01-01 00:00:00+00"]`},
	} {
		got, err := ArrayToJSON([]byte(c.in), c.elem)
		if err != nil || string(got) != c.want {
			t.Errorf("ArrayToJSON(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`{1,2`, `1,2`, `{"a}`, `{1}x`} {
		if _, err := ArrayToJSON([]byte(bad), schema.Int32); err == nil {
			t.Errorf("ArrayToJSON(%s) accepted", bad)
		}
	}
}
