package binlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// maxPayload is the largest payload one protocol packet carries; a longer
// payload continues in the following packets.
const maxPayload = 1<<24 - 1

// defaultMaxPacket bounds a reassembled payload: the server never sends more
// than max_allowed_packet (at most 1 GiB).
const defaultMaxPacket = 1 << 30

var errTruncated = errors.New("truncated")

// packetConn frames the client/server protocol: 3-byte length, 1-byte
// sequence number, payload.
type packetConn struct {
	nc      net.Conn
	br      *bufio.Reader
	seq     uint8
	maxSize int
	// partial is set when a read failed after consuming part of a packet:
	// the stream is then out of step and must not be read again.
	partial bool
}

func newPacketConn(nc net.Conn, maxSize int) *packetConn {
	if maxSize <= 0 {
		maxSize = defaultMaxPacket
	}
	return &packetConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), maxSize: maxSize}
}

// resetSeq starts a new command: its first packet has sequence number 0.
func (p *packetConn) resetSeq() { p.seq = 0 }

// readPacket reads one payload, joining continuation packets. A failure
// before any byte was read leaves the stream usable (p.partial stays false).
func (p *packetConn) readPacket() ([]byte, error) {
	var payload []byte
	for first := true; ; first = false {
		var hdr [4]byte
		n, err := io.ReadFull(p.br, hdr[:])
		if err != nil {
			if n > 0 || !first {
				p.partial = true
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			return nil, err
		}
		size := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if hdr[3] != p.seq {
			p.partial = true
			return nil, fmt.Errorf("packet out of order: sequence %d, expected %d", hdr[3], p.seq)
		}
		p.seq++
		if len(payload)+size > p.maxSize {
			p.partial = true
			return nil, fmt.Errorf("packet of more than %d bytes", p.maxSize)
		}
		start := len(payload)
		payload = append(payload, make([]byte, size)...)
		if _, err := io.ReadFull(p.br, payload[start:]); err != nil {
			p.partial = true
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			return nil, err
		}
		if size < maxPayload {
			return payload, nil
		}
	}
}

// writePacket writes payload, split into packets of at most maxPayload.
func (p *packetConn) writePacket(payload []byte) error {
	buf := make([]byte, 0, len(payload)+4*(len(payload)/maxPayload+1))
	for {
		n := min(len(payload), maxPayload)
		buf = append(buf, byte(n), byte(n>>8), byte(n>>16), p.seq)
		buf = append(buf, payload[:n]...)
		p.seq++
		payload = payload[n:]
		// A payload of exactly maxPayload bytes is followed by an empty packet.
		if n < maxPayload {
			break
		}
	}
	_, err := p.nc.Write(buf)
	if err != nil {
		p.partial = true
	}
	return err
}

// cursor reads little-endian protocol fields from a byte slice. The first
// short read sets err and every later read returns zero values, so decoders
// check once at the end and never index out of range.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) fail() {
	if c.err == nil {
		c.err = errTruncated
	}
	c.b = nil
}

func (c *cursor) bytes(n int) []byte {
	if c.err != nil || n < 0 || n > len(c.b) {
		c.fail()
		return nil
	}
	v := c.b[:n:n]
	c.b = c.b[n:]
	return v
}

func (c *cursor) skip(n int) { c.bytes(n) }

func (c *cursor) rest() []byte {
	v := c.b
	c.b = nil
	return v
}

func (c *cursor) u8() uint8 {
	b := c.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (c *cursor) u16() uint16 {
	b := c.bytes(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (c *cursor) u24() uint32 {
	b := c.bytes(3)
	if b == nil {
		return 0
	}
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
}

func (c *cursor) u32() uint32 {
	b := c.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (c *cursor) u48() uint64 {
	b := c.bytes(6)
	if b == nil {
		return 0
	}
	return uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint16(b[4:]))<<32
}

func (c *cursor) u64() uint64 {
	b := c.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// lenenc reads a length-encoded integer; null reports the 0xfb marker.
func (c *cursor) lenenc() (v uint64, null bool) {
	first := c.u8()
	switch {
	case c.err != nil:
		return 0, false
	case first < 0xfb:
		return uint64(first), false
	case first == 0xfb:
		return 0, true
	case first == 0xfc:
		return uint64(c.u16()), false
	case first == 0xfd:
		return uint64(c.u24()), false
	case first == 0xfe:
		return c.u64(), false
	default:
		if c.err == nil {
			c.err = errors.New("invalid length-encoded integer 0xff")
		}
		c.b = nil
		return 0, false
	}
}

// count reads a length-encoded integer used as a length or as a count of
// items of at least one byte each: NULL and values beyond the remaining
// input are errors, so a malformed count never drives a large allocation.
func (c *cursor) count() int {
	v, null := c.lenenc()
	if null || v > uint64(len(c.b)) {
		c.fail()
		return 0
	}
	return int(v)
}

func (c *cursor) lenencBytes() []byte {
	n := c.count()
	return c.bytes(n)
}

// nulString reads up to a NUL byte and skips it; without one it takes the
// rest (some servers omit the final terminator).
func (c *cursor) nulString() []byte {
	if c.err != nil {
		return nil
	}
	for i, b := range c.b {
		if b == 0 {
			v := c.b[:i:i]
			c.b = c.b[i+1:]
			return v
		}
	}
	return c.rest()
}

// appendLenenc appends v as a length-encoded integer.
func appendLenenc(b []byte, v uint64) []byte {
	switch {
	case v < 0xfb:
		return append(b, byte(v))
	case v <= 0xffff:
		return append(b, 0xfc, byte(v), byte(v>>8))
	case v <= 0xffffff:
		return append(b, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	default:
		return binary.LittleEndian.AppendUint64(append(b, 0xfe), v)
	}
}
