package fileformat

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/flowgate/flowgate/connectors/schema"
)

func TestDateFormat(t *testing.T) {
	f, err := ParseDateFormat("yyyy-MM-dd HH:mm:ss")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2023, 4, 23, 17, 50, 3, 123456000, time.UTC)
	if got := string(f.Append(nil, ts)); got != "2023-04-23 17:50:03" {
		t.Errorf("format: %s", got)
	}
	back, err := f.Parse("2023-04-23 17:50:03", time.UTC)
	if err != nil || !back.Equal(ts.Truncate(time.Second)) {
		t.Errorf("parse: %v %v", back, err)
	}
	g, _ := ParseDateFormat("yyyyMMdd'T'HHmmss.SSS")
	if got := string(g.Append(nil, ts)); got != "20230423T175003.123" {
		t.Errorf("compact: %s", got)
	}
	if p, err := g.Parse("20230423T175003.123", time.UTC); err != nil || p.Nanosecond() != 123000000 {
		t.Errorf("compact parse: %v %v", p, err)
	}
	if _, err := ParseDateFormat("yyyy-MM-dd QQ"); err == nil || !strings.Contains(err.Error(), `"Q"`) || !strings.Contains(err.Error(), "y (year)") {
		t.Errorf("unknown letter: %v", err)
	}
	if _, err := f.Parse("2023-13-45 10:00:00", time.UTC); err == nil {
		t.Errorf("month 13 parsed")
	}
}

var cols = []Column{
	{Name: "id", Type: schema.Type{Kind: schema.Int64}},
	{Name: "note", Type: schema.Type{Kind: schema.Text}},
	{Name: "at", Type: schema.Type{Kind: schema.Timestamp}},
	{Name: "amount", Type: schema.Type{Kind: schema.Decimal, Precision: 8, Scale: 2}},
}

func TestTextRoundTripWithEncodings(t *testing.T) {
	df, _ := ParseDateFormat("dd/MM/yyyy HH:mm")
	for _, enc := range []string{"UTF-8", "GBK", "GB18030", "Big5", "ISO-8859-1"} {
		e, err := LookupEncoding(enc)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{CSV, TXT} {
			o := Options{Format: format, Delimiter: "|", Null: `\N`, DateFormat: df, Encoding: e, Header: true, Compression: "gzip"}
			var buf bytes.Buffer
			w, err := NewWriter(&buf, cols, o)
			if err != nil {
				t.Fatal(err)
			}
			note := "café"
			if strings.HasPrefix(enc, "G") || enc == "Big5" {
				note = "中文"
			}
			recs := [][][]byte{{[]byte("1"), []byte(note), []byte("2024-01-02 03:04:00"), []byte("1.50")}, {[]byte("2"), nil, []byte("2024-01-02 03:05:00"), nil}}
			for _, r := range recs {
				if err := w.Write(r); err != nil {
					t.Fatalf("%s %s: %v", enc, format, err)
				}
			}
			// A character the encoding cannot hold is a bad record.
			if enc != "UTF-8" && enc != "GB18030" {
				var br *BadRecord
				if err := w.Write([][]byte{[]byte("3"), []byte("😀"), []byte("2024-01-02 03:05:00"), nil}); !errors.As(err, &br) {
					t.Errorf("%s: emoji: %v", enc, err)
				}
			}
			w.Close()
			dr, done, err := Decompress("x.csv.gz", &buf)
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewTextReader(dr, "x", cols, o)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range recs {
				got, err := r.Read()
				if err != nil {
					t.Fatalf("%s %s record %d: %v", enc, format, i, err)
				}
				for k := range want {
					if !bytes.Equal(got[k], want[k]) || (got[k] == nil) != (want[k] == nil) {
						t.Errorf("%s %s record %d field %d: %q want %q", enc, format, i, k, got[k], want[k])
					}
				}
			}
			if _, err := r.Read(); err != io.EOF {
				t.Errorf("%s %s: %v at the end", enc, format, err)
			}
			done()
		}
	}
	if _, err := LookupEncoding("nope"); err == nil || !strings.Contains(err.Error(), "GBK") {
		t.Errorf("unknown encoding: %v", err)
	}
}

func TestBadRecordsOnRead(t *testing.T) {
	in := "1,a,2024-01-01 00:00:00,1.5\nx,b,2024-01-01 00:00:00,1\n3,c,2024-02-30 00:00:00,1\n4,d,2024-01-01 00:00:00,1000000\n5,e\n6,\"\",2024-01-01 00:00:00,\n"
	r, err := NewTextReader(strings.NewReader(in), "f.csv", cols, Options{Format: CSV})
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	var good int
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		var br *BadRecord
		if errors.As(err, &br) {
			bad = append(bad, br.Position)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		good++
		if rec[0][0] == '6' && (rec[1] == nil || len(rec[1]) != 0 || rec[3] != nil) {
			t.Errorf(`"" must be the empty string and an empty field NULL: %q`, rec)
		}
	}
	if good != 2 || strings.Join(bad, ",") != "f.csv:2,f.csv:3,f.csv:4,f.csv:5" {
		t.Errorf("good %d, bad %v", good, bad)
	}
	_ = charmap.ISO8859_1
	_ = simplifiedchinese.GBK
}
