package fileformat

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/transform"
)

// RecordReader reads records as canonical values in the order of the
// columns it was made for.
type RecordReader interface {
	// Read returns the next record; a *BadRecord is one record that could
	// not be converted (reading may go on); io.EOF at the end.
	Read() ([][]byte, error)
}

// NewTextReader reads a csv or txt file (already decompressed) named name
// into cols: by the header's names when o.Header (a column the file lacks
// is NULL), else by position.
func NewTextReader(r io.Reader, name string, cols []Column, o Options) (RecordReader, error) {
	if o.Encoding != nil {
		r = transform.NewReader(r, o.Encoding.NewDecoder())
	}
	tr := &textReader{br: bufio.NewReaderSize(r, 256<<10), name: name, cols: cols, o: o, delim: o.delim()}
	tr.mapping = make([]int, len(cols))
	for i := range tr.mapping {
		tr.mapping[i] = i
	}
	if o.Header {
		rec, quoted, err := tr.record()
		if errors.Is(err, io.EOF) {
			return tr, nil
		}
		if err != nil {
			return nil, err
		}
		_ = quoted
		idx := map[string]int{}
		for i, f := range rec {
			idx[strings.ToLower(strings.TrimSpace(string(f)))] = i
		}
		found := 0
		for i, c := range cols {
			j, ok := idx[strings.ToLower(c.Name)]
			if !ok {
				j = -1
			} else {
				found++
			}
			tr.mapping[i] = j
		}
		if found == 0 {
			return nil, fmt.Errorf("%s: the header line names none of the target columns (%s)", name, colNames(cols))
		}
		tr.width = len(rec)
	}
	return tr, nil
}

func colNames(cols []Column) string {
	n := make([]string, len(cols))
	for i, c := range cols {
		n[i] = c.Name
	}
	return strings.Join(n, ", ")
}

type textReader struct {
	br      *bufio.Reader
	name    string
	cols    []Column
	o       Options
	delim   string
	mapping []int // file field of each column, -1 = none
	width   int   // fields per record when known from the header
	line    int64 // lines read
	buf     []byte
	fields  [][]byte
	quoted  []bool
	out     [][]byte
}

// record reads one record's raw fields and whether each was quoted.
func (t *textReader) record() ([][]byte, []bool, error) {
	t.buf = t.buf[:0]
	var ends []int
	t.quoted = t.quoted[:0]
	inQuote, quoted, started := false, false, false
	csv := t.o.Format != TXT
	d := t.delim
	endField := func() {
		ends = append(ends, len(t.buf))
		t.quoted = append(t.quoted, quoted)
		quoted = false
	}
	for {
		line, err := t.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			err = nil
		} else if err == nil {
			t.line++
		}
		if len(line) == 0 && err != nil {
			if err == io.EOF && started {
				if inQuote {
					return nil, nil, fmt.Errorf("%s:%d: unterminated quoted field at end of file", t.name, t.line+1)
				}
				break
			}
			return nil, nil, err
		}
		started = true
		for i := 0; i < len(line); {
			c := line[i]
			if inQuote {
				if c == '"' {
					if i+1 < len(line) && line[i+1] == '"' {
						t.buf = append(t.buf, '"')
						i += 2
						continue
					}
					inQuote = false
					i++
					continue
				}
				t.buf = append(t.buf, c)
				i++
				continue
			}
			switch {
			case csv && c == '"':
				inQuote, quoted = true, true
				i++
			case strings.HasPrefix(string(line[i:min(len(line), i+len(d))]), d):
				endField()
				i += len(d)
			case c == '\r' && i+1 < len(line) && line[i+1] == '\n':
				i++
			case c == '\n':
				endField()
				return t.split(ends), t.quoted, nil
			default:
				t.buf = append(t.buf, c)
				i++
			}
		}
		if err == io.EOF {
			if inQuote {
				return nil, nil, fmt.Errorf("%s:%d: unterminated quoted field at end of file", t.name, t.line+1)
			}
			break
		}
		if err != nil {
			return nil, nil, err
		}
	}
	endField()
	return t.split(ends), t.quoted, nil
}

func (t *textReader) split(ends []int) [][]byte {
	t.fields = t.fields[:0]
	start := 0
	for _, e := range ends {
		t.fields = append(t.fields, t.buf[start:e:e])
		start = e
	}
	return t.fields
}

// Position of the record last read.
func (t *textReader) position() string { return fmt.Sprintf("%s:%d", t.name, t.line) }

func (t *textReader) Read() ([][]byte, error) {
	for {
		rec, quoted, err := t.record()
		if err != nil {
			return nil, err
		}
		if len(rec) == 1 && len(rec[0]) == 0 && !quoted[0] {
			continue // an empty line
		}
		want := len(t.cols)
		if t.width > 0 {
			want = t.width
		}
		if len(rec) != want {
			return nil, &BadRecord{Position: t.position(), Err: fmt.Errorf("%d fields, want %d", len(rec), want), Excerpt: excerpt(rec)}
		}
		t.out = t.out[:0]
		for i, c := range t.cols {
			j := t.mapping[i]
			if j < 0 {
				t.out = append(t.out, nil)
				continue
			}
			f := rec[j]
			if !quoted[j] && string(f) == t.o.Null {
				t.out = append(t.out, nil)
				continue
			}
			v, err := t.o.Canonical(c, f)
			if err != nil {
				return nil, &BadRecord{Position: t.position(), Err: err, Excerpt: excerpt(rec)}
			}
			t.out = append(t.out, append(make([]byte, 0, len(v)), v...))
		}
		return t.out, nil
	}
}
