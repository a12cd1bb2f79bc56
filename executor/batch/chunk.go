package batch

import "bytes"

// recordScanner finds record ends in a flowgate CSV stream fed in pieces:
// a newline outside quotes. A quote toggles the state; "" inside a quoted
// field toggles it twice, so counting quotes is enough.
type recordScanner struct{ inQuote bool }

// next returns the index just past the first record end in p[from:], or -1
// when p holds none (the quote state then covers all of p).
func (r *recordScanner) next(p []byte, from int) int {
	for i := from; i < len(p); i++ {
		j := bytes.IndexAny(p[i:], "\"\n")
		if j < 0 {
			return -1
		}
		i += j
		if p[i] == '"' {
			r.inQuote = !r.inQuote
		} else if !r.inQuote {
			return i + 1
		}
	}
	return -1
}

// chunker is an io.Writer that cuts a flowgate CSV stream into chunks of at
// most rows records, never inside a record (quoted fields may hold
// newlines).
type chunker struct {
	rows    int64 // records per chunk
	emit    func(chunk []byte, rows int64) error
	buf     []byte
	n       int64 // complete records in buf
	scan    recordScanner
	scanned int // bytes of buf already scanned
	total   int64
}

func newChunker(rows int64, emit func([]byte, int64) error) *chunker {
	return &chunker{rows: rows, emit: emit}
}

func (c *chunker) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for {
		end := c.scan.next(c.buf, c.scanned)
		if end < 0 {
			c.scanned = len(c.buf)
			return len(p), nil
		}
		c.scanned = end
		c.n++
		if c.n == c.rows {
			if err := c.flush(end); err != nil {
				return 0, err
			}
		}
	}
}

// flush emits buf[:cut] holding c.n records and keeps the rest.
func (c *chunker) flush(cut int) error {
	chunk := make([]byte, cut)
	copy(chunk, c.buf[:cut])
	rows := c.n
	rest := copy(c.buf, c.buf[cut:])
	c.buf = c.buf[:rest]
	c.scanned -= cut
	c.n = 0
	c.total += rows
	return c.emit(chunk, rows)
}

// Close emits what is left. A stream that does not end in a newline still
// counts its last record.
func (c *chunker) Close() error {
	if len(c.buf) == 0 {
		return nil
	}
	if c.buf[len(c.buf)-1] != '\n' {
		c.n++
	}
	return c.flush(len(c.buf))
}
