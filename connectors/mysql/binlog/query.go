package binlog

import (
	"context"
	"errors"
	"fmt"
)

// serverMoreResults is the status flag saying another result set follows.
const serverMoreResults = 0x0008

// Query runs one statement with COM_QUERY and returns the rows of its text
// result set (nil cells are NULL); statements without a result set return
// no rows. It is for the replication setup, before a Start call.
func (c *Conn) Query(ctx context.Context, sql string) ([][]*string, error) {
	if c.streaming {
		return nil, ErrStreaming
	}
	var rows [][]*string
	err := c.withContext(ctx, func() error {
		var err error
		rows, err = c.query(sql)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", truncate(sql, 60), err)
	}
	return rows, nil
}

// exec runs statements that return no rows, stopping at the first error.
func (c *Conn) exec(ctx context.Context, stmts ...string) error {
	for _, s := range stmts {
		if _, err := c.Query(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) query(sql string) ([][]*string, error) {
	c.pc.resetSeq()
	if err := c.pc.writePacket(append([]byte{comQuery}, sql...)); err != nil {
		return nil, err
	}
	var rows [][]*string
	for {
		p, err := c.pc.readPacket()
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, errors.New("empty reply")
		}
		var more bool
		switch p[0] {
		case 0x00:
			more = okStatus(p)&serverMoreResults != 0
		case 0xff:
			return nil, parseErrPacket(p)
		case 0xfb:
			return nil, fmt.Errorf("server asks for a local file: %w", ErrUnsupported)
		default:
			cur := cursor{b: p}
			n, null := cur.lenenc()
			if cur.err != nil || null || n == 0 || n > 4096 {
				return nil, errors.New("malformed result set header")
			}
			rs, status, err := c.readResultSet(int(n))
			if err != nil {
				return nil, err
			}
			// Only the first result set is returned; later ones are read
			// to keep the stream in step.
			if rows == nil {
				rows = rs
			}
			more = status&serverMoreResults != 0
		}
		if !more {
			return rows, nil
		}
	}
}

// readResultSet reads n column definitions, their EOF, the rows and the
// final EOF (CLIENT_DEPRECATE_EOF is not requested).
func (c *Conn) readResultSet(n int) ([][]*string, uint16, error) {
	for i := 0; i <= n; i++ {
		p, err := c.pc.readPacket()
		if err != nil {
			return nil, 0, err
		}
		if len(p) > 0 && p[0] == 0xff {
			return nil, 0, parseErrPacket(p)
		}
	}
	rows := [][]*string{}
	for {
		p, err := c.pc.readPacket()
		if err != nil {
			return nil, 0, err
		}
		switch {
		case len(p) > 0 && p[0] == 0xff:
			return nil, 0, parseErrPacket(p)
		case len(p) > 0 && p[0] == 0xfe && len(p) < 9:
			var status uint16
			if len(p) >= 5 {
				status = uint16(p[3]) | uint16(p[4])<<8
			}
			return rows, status, nil
		}
		cur := cursor{b: p}
		row := make([]*string, n)
		for i := range row {
			if len(cur.b) > 0 && cur.b[0] == 0xfb {
				cur.skip(1)
				continue
			}
			s := string(cur.lenencBytes())
			row[i] = &s
		}
		if cur.err != nil {
			return nil, 0, fmt.Errorf("malformed row: %w", cur.err)
		}
		rows = append(rows, row)
	}
}

// okStatus reads the status flags of an OK packet.
func okStatus(p []byte) uint16 {
	c := cursor{b: p}
	c.u8()
	c.lenenc() // affected rows
	c.lenenc() // last insert id
	s := c.u16()
	if c.err != nil {
		return 0
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// quoteString quotes s as an SQL string literal.
func quoteString(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '\'')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '\'', '\\':
			b = append(b, '\\', ch)
		case 0:
			b = append(b, '\\', '0')
		default:
			b = append(b, ch)
		}
	}
	return string(append(b, '\''))
}
