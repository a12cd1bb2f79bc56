// Package fileformat writes and reads the files of files-and-object-storage
// jobs (FEATURES.md section 5b, seeds 001/002): csv and txt with a field
// delimiter, a null format, a Java-style date format, a character encoding,
// an optional header line and compression, and parquet with real column
// types. Values come in and go out as flowgate CSV canonical text (package
// data), so exporters and appliers need not know about files.
//
// A record that cannot be converted (a character the encoding cannot hold,
// a text where a number is due, a date out of range) is a *BadRecord: the
// caller counts it against error_limit, keeps it in dataflow.run_errors and
// goes on with the next one.
package fileformat

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/text/encoding"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// Formats.
const (
	CSV     = "csv"
	TXT     = "txt"
	Parquet = "parquet"
)

// Column is one column of a file, typed as its table column.
type Column struct {
	Name string
	Type schema.Type
}

// Options say how a file is written or read.
type Options struct {
	Format      string            // csv, txt or parquet
	Delimiter   string            // field delimiter (csv, txt); "" = ","
	Null        string            // how NULL is written (csv, txt)
	DateFormat  *DateFormat       // nil = canonical text (YYYY-MM-DD HH:MM:SS[.ffffff])
	Encoding    encoding.Encoding // nil = UTF-8
	Header      bool              // a first line with the column names (csv, txt)
	Compression string            // none, gzip, zstd (parquet: its codec)
	// Location is the zone date/time values without an offset are in
	// (source_timezone); nil = UTC.
	Location *time.Location
}

func (o Options) loc() *time.Location {
	if o.Location == nil {
		return time.UTC
	}
	return o.Location
}

func (o Options) delim() string {
	if o.Delimiter == "" {
		return ","
	}
	return o.Delimiter
}

// Suffix is the file name ending for o: .csv, .txt or .parquet, plus .gz or
// .zst for compressed csv and txt.
func (o Options) Suffix() string {
	s := "." + o.Format
	if o.Format != Parquet {
		switch o.Compression {
		case "gzip":
			s += ".gz"
		case "zstd":
			s += ".zst"
		}
	}
	return s
}

// BadRecord is a record that could not be converted.
type BadRecord struct {
	Position string // file:line, file:row n
	Err      error
	Excerpt  string
}

func (b *BadRecord) Error() string { return b.Position + ": " + b.Err.Error() }
func (b *BadRecord) Unwrap() error { return b.Err }

// excerpt is the start of a record for run_errors.
func excerpt(fields [][]byte) string {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		if f == nil {
			b.WriteString("NULL")
		} else {
			b.Write(f)
		}
		if b.Len() > 200 {
			break
		}
	}
	return clip(b.String())
}

func clip(s string) string {
	if len(s) <= 200 {
		return s
	}
	s = s[:200]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// isDateTime reports whether date_format applies to values of k.
func isDateTime(k schema.Kind) bool {
	return k == schema.Date || k == schema.Timestamp || k == schema.TimestampTZ
}

// toFile turns a canonical value into the text a csv/txt file holds.
func (o Options) toFile(c Column, v []byte) ([]byte, error) {
	if o.DateFormat == nil || !isDateTime(c.Type.Kind) {
		return v, nil
	}
	t, _, err := data.ParseTimestamp(v)
	if err != nil {
		return nil, fmt.Errorf("column %s: %w", c.Name, err)
	}
	if c.Type.Kind == schema.TimestampTZ {
		t = t.In(o.loc())
	}
	return o.DateFormat.Append(nil, t), nil
}

// Canonical checks a value read from a file against its column's type and
// returns its canonical text: a number where a number is due, a date in
// range (read with date_format when set), anything for text.
func (o Options) Canonical(c Column, v []byte) ([]byte, error) {
	k := c.Type.Kind
	s := strings.TrimSpace(string(v))
	switch {
	case k.IsInteger() || k == schema.Year:
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			if _, uerr := strconv.ParseUint(s, 10, 64); uerr != nil || !c.Type.Unsigned {
				return nil, fmt.Errorf("column %s: %q is not an integer", c.Name, clip(string(v)))
			}
		}
		return []byte(s), nil
	case k == schema.Decimal:
		r, ok := new(big.Rat).SetString(s)
		if !ok || strings.ContainsAny(s, "/") {
			return nil, fmt.Errorf("column %s: %q is not a number", c.Name, clip(string(v)))
		}
		if p := c.Type.Precision; p > 0 {
			lim := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p-c.Type.Scale)), nil))
			if new(big.Rat).Abs(r).Cmp(lim) >= 0 {
				return nil, fmt.Errorf("column %s: %s does not fit numeric(%d,%d)", c.Name, s, p, c.Type.Scale)
			}
		}
		return []byte(s), nil
	case k == schema.Float32 || k == schema.Float64:
		if _, err := strconv.ParseFloat(s, 64); err != nil && !strings.EqualFold(s, "nan") && !strings.EqualFold(s, "infinity") && !strings.EqualFold(s, "-infinity") {
			return nil, fmt.Errorf("column %s: %q is not a number", c.Name, clip(string(v)))
		}
		return []byte(s), nil
	case k == schema.Bool:
		b, err := data.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		if b {
			return []byte("t"), nil
		}
		return []byte("f"), nil
	case isDateTime(k):
		var t time.Time
		var hasOff bool
		var err error
		if o.DateFormat != nil {
			t, err = o.DateFormat.Parse(s, o.loc())
			hasOff = true
		} else {
			t, hasOff, err = data.ParseTimestamp([]byte(s))
			if err == nil && !hasOff {
				t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), o.loc())
				hasOff = true
			}
		}
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		if y := t.Year(); y < 1 || y > 9999 {
			return nil, fmt.Errorf("column %s: date %q is out of range (years 1 to 9999)", c.Name, s)
		}
		switch k {
		case schema.Date:
			return data.AppendDate(nil, t), nil
		case schema.Timestamp:
			if hasOff {
				t = t.In(o.loc())
			}
			return data.AppendTimestamp(nil, t, false), nil
		}
		return data.AppendTimestamp(nil, t, true), nil
	}
	return v, nil
}

// RecordWriter writes records of canonical values.
type RecordWriter interface {
	// Write writes one record; a *BadRecord means nothing was written.
	Write(rec [][]byte) error
	// Close flushes the file (and the compressor), not the underlying writer.
	Close() error
}

// NewWriter writes cols' records to w in o's format.
func NewWriter(w io.Writer, cols []Column, o Options) (RecordWriter, error) {
	if o.Format == Parquet {
		return newParquetWriter(w, cols, o)
	}
	cw, closeComp, err := compressWriter(w, o.Compression)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(cw, 256<<10)
	tw := &textWriter{w: bw, closeComp: func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		return closeComp()
	}, cols: cols, o: o, delim: []byte(o.delim()), null: []byte(o.Null)}
	if o.Encoding != nil {
		tw.enc = o.Encoding.NewEncoder()
	}
	if o.Header {
		names := make([][]byte, len(cols))
		for i, c := range cols {
			names[i] = []byte(c.Name)
		}
		if err := tw.write(names, true); err != nil {
			return nil, err
		}
	}
	return tw, nil
}

type textWriter struct {
	w         io.Writer
	delim     []byte
	null      []byte
	closeComp func() error
	cols      []Column
	o         Options
	enc       *encoding.Encoder
	line      []byte
	rec       int64
}

func (t *textWriter) Write(rec [][]byte) error { return t.write(rec, false) }

func (t *textWriter) write(rec [][]byte, header bool) error {
	if !header {
		t.rec++
	}
	pos := fmt.Sprintf("record %d", t.rec)
	t.line = t.line[:0]
	d := t.o.delim()
	for i, f := range rec {
		if i > 0 {
			t.line = append(t.line, d...)
		}
		if f == nil {
			t.line = append(t.line, t.o.Null...)
			continue
		}
		v := f
		if !header && i < len(t.cols) {
			var err error
			if v, err = t.o.toFile(t.cols[i], f); err != nil {
				return &BadRecord{Position: pos, Err: err, Excerpt: excerpt(rec)}
			}
		}
		if t.o.Format == TXT {
			if bytes.Contains(v, t.delim) || bytes.ContainsAny(v, "\r\n") {
				return &BadRecord{Position: pos, Err: fmt.Errorf("column %s: a txt file cannot hold a value with the delimiter or a line break", t.colName(i)), Excerpt: excerpt(rec)}
			}
			t.line = append(t.line, v...)
			continue
		}
		if needsQuote(v, t.delim, t.null) {
			t.line = append(t.line, '"')
			for {
				i := bytes.IndexByte(v, '"')
				if i < 0 {
					break
				}
				t.line = append(t.line, v[:i+1]...)
				t.line = append(t.line, '"')
				v = v[i+1:]
			}
			t.line = append(t.line, v...)
			t.line = append(t.line, '"')
		} else {
			t.line = append(t.line, v...)
		}
	}
	t.line = append(t.line, '\n')
	out := t.line
	if t.enc != nil {
		b, err := t.enc.Bytes(t.line)
		if err != nil {
			return &BadRecord{Position: pos, Err: fmt.Errorf("a character cannot be written in the file's encoding: %v", err), Excerpt: excerpt(rec)}
		}
		out = b
	}
	_, err := t.w.Write(out)
	return err
}

func (t *textWriter) colName(i int) string {
	if i < len(t.cols) {
		return t.cols[i].Name
	}
	return strconv.Itoa(i + 1)
}

func needsQuote(v, delim, null []byte) bool {
	if len(v) == 0 || bytes.Equal(v, null) {
		return true
	}
	return bytes.Contains(v, delim) || bytes.ContainsAny(v, "\"\r\n")
}

// IsCanonical reports whether files in o are flowgate CSV as exporters
// write it (csv, comma, NULL as the empty field, canonical dates, UTF-8,
// no header, no compression), so an export can copy its bytes through.
func IsCanonical(o Options) bool {
	return o.Format == CSV && o.delim() == "," && o.Null == "" && o.DateFormat == nil && o.Encoding == nil && !o.Header &&
		(o.Compression == "" || o.Compression == "none")
}

func (t *textWriter) Close() error { return t.closeComp() }

func compressWriter(w io.Writer, comp string) (io.Writer, func() error, error) {
	switch comp {
	case "gzip":
		g, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		return g, g.Close, nil
	case "zstd":
		z, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	case "", "none":
		return w, func() error { return nil }, nil
	}
	return nil, nil, fmt.Errorf("unknown compression %q", comp)
}

// Decompress wraps r by the name's suffix (.gz, .zst).
func Decompress(name string, r io.Reader) (io.Reader, func(), error) {
	switch {
	case strings.HasSuffix(name, ".gz"):
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return g, func() { g.Close() }, nil
	case strings.HasSuffix(name, ".zst"):
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	}
	return r, func() {}, nil
}
