package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Reader reads flowgate CSV records. Unlike encoding/csv it keeps NULL (an
// unquoted empty field) apart from the empty string (""), and it follows
// PostgreSQL's CSV rules: a quote toggles quoting anywhere in a field and
// "" inside quotes is one quote. Records end at LF or CRLF outside quotes.
type Reader struct {
	br     *bufio.Reader
	buf    []byte   // unescaped field bytes of the current record
	ends   []int    // end offset of each field in buf
	null   []bool   // field i is NULL
	fields [][]byte // returned slices
	line   int64    // lines consumed so far (1-based line of the last record's end)
	rec    int64    // records returned so far
}

// NewReader reads flowgate CSV from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 256<<10)}
}

// Record is the number of records returned so far (the current one included).
func (r *Reader) Record() int64 { return r.rec }

var empty = []byte{}

// Read returns the next record. A nil field is NULL; the empty string is a
// non-nil empty slice. The slices are only valid until the next Read. At the
// end of input it returns io.EOF.
func (r *Reader) Read() ([][]byte, error) {
	r.buf, r.ends, r.null = r.buf[:0], r.ends[:0], r.null[:0]
	inQuote, quoted, started := false, false, false
	for {
		line, err := r.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			err = nil // a long line: keep going with the next chunk
		} else if err == nil {
			r.line++
		}
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				if inQuote {
					return nil, fmt.Errorf("csv record %d (line %d): unterminated quoted field at end of input", r.rec+1, r.line+1)
				}
				if started {
					break // last record without a newline
				}
			}
			return nil, err
		}
		started = true
		i := 0
		for i < len(line) {
			c := line[i]
			if inQuote {
				// Copy the run up to the next quote in one go.
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					r.buf = append(r.buf, line[i:]...)
					i = len(line)
					break
				}
				r.buf = append(r.buf, line[i:i+j]...)
				i += j + 1
				if i < len(line) && line[i] == '"' {
					r.buf = append(r.buf, '"')
					i++
					continue
				}
				inQuote = false
				continue
			}
			switch c {
			case '"':
				inQuote, quoted = true, true
				i++
			case ',':
				r.endField(quoted)
				quoted = false
				i++
			case '\r':
				if i+1 < len(line) && line[i+1] == '\n' {
					i++
					continue
				}
				r.buf = append(r.buf, c)
				i++
			case '\n':
				r.endField(quoted)
				return r.finish(), nil
			default:
				// Copy the plain run up to the next special byte.
				j := i + 1
				for j < len(line) && line[j] != ',' && line[j] != '"' && line[j] != '\n' && line[j] != '\r' {
					j++
				}
				r.buf = append(r.buf, line[i:j]...)
				i = j
			}
		}
		if err == io.EOF {
			if inQuote {
				return nil, fmt.Errorf("csv record %d (line %d): unterminated quoted field at end of input", r.rec+1, r.line+1)
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	r.endField(quoted)
	return r.finish(), nil
}

func (r *Reader) endField(quoted bool) {
	start := 0
	if n := len(r.ends); n > 0 {
		start = r.ends[n-1]
	}
	r.ends = append(r.ends, len(r.buf))
	r.null = append(r.null, !quoted && len(r.buf) == start)
}

func (r *Reader) finish() [][]byte {
	r.rec++
	r.fields = r.fields[:0]
	start := 0
	for i, end := range r.ends {
		switch {
		case r.null[i]:
			r.fields = append(r.fields, nil)
		case end == start:
			r.fields = append(r.fields, empty)
		default:
			r.fields = append(r.fields, r.buf[start:end:end])
		}
		start = end
	}
	return r.fields
}

// AppendField appends v as one CSV field, quoted when it must be: when it
// is empty (to tell it from NULL), holds a delimiter, quote, CR or LF, or
// is PostgreSQL's end-of-data marker \. . Append nothing for NULL.
func AppendField(dst, v []byte) []byte {
	if !needsQuote(v) {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	for {
		i := bytes.IndexByte(v, '"')
		if i < 0 {
			break
		}
		dst = append(dst, v[:i+1]...)
		dst = append(dst, '"')
		v = v[i+1:]
	}
	dst = append(dst, v...)
	return append(dst, '"')
}

func needsQuote(v []byte) bool {
	if len(v) == 0 || (len(v) == 2 && v[0] == '\\' && v[1] == '.') {
		return true
	}
	for _, c := range v {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}

// ErrFieldCount is wrapped when a record has the wrong number of fields.
var ErrFieldCount = errors.New("wrong number of fields")

// CheckFields returns an error wrapping ErrFieldCount unless rec has n fields.
func CheckFields(rec [][]byte, n int, record int64) error {
	if len(rec) != n {
		return fmt.Errorf("csv record %d has %d fields, want %d: %w", record, len(rec), n, ErrFieldCount)
	}
	return nil
}
