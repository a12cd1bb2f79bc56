package batch

import "bytes"

// chunker is an io.Writer that cuts a flowgate CSV stream into chunks of at
// most rows records, never inside a record (quoted fields may hold
// newlines). A quote toggles the state; "" inside a quoted field toggles it
// twice, so counting quotes is enough.
type chunker struct {
	rows    int64 // records per chunk
	emit    func(chunk []byte, rows int64) error
	buf     []byte
	n       int64 // complete records in buf
	inQuote bool
	scanned int // bytes of buf already scanned
	total   int64
}

func newChunker(rows int64, emit func([]byte, int64) error) *chunker {
	return &chunker{rows: rows, emit: emit}
}

func (c *chunker) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for {
		i := c.scanned
		cut := -1
		for i < len(c.buf) {
			j := bytes.IndexAny(c.buf[i:], "\"\n")
			if j < 0 {
				i = len(c.buf)
				break
			}
			i += j
			if c.buf[i] == '"' {
				c.inQuote = !c.inQuote
			} else if !c.inQuote {
				c.n++
				if c.n == c.rows {
					cut = i + 1
					i++
					break
				}
			}
			i++
		}
		c.scanned = i
		if cut < 0 {
			return len(p), nil
		}
		if err := c.flush(cut); err != nil {
			return 0, err
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
