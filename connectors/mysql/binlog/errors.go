package binlog

import (
	"errors"
	"fmt"
)

// ServerError is an ERR packet from the server: its error code, SQLSTATE and
// message, unchanged.
type ServerError struct {
	Code    uint16
	State   string // five characters; empty when the server sent none
	Message string
}

func (e *ServerError) Error() string {
	if e.State == "" {
		return fmt.Sprintf("mysql error %d: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("mysql error %d (%s): %s", e.Code, e.State, e.Message)
}

// ErrChecksum is wrapped by the error for an event whose CRC32 does not match.
var ErrChecksum = errors.New("binlog event checksum mismatch")

// ErrUnsupported is wrapped by errors for protocol features or event
// encodings this package does not decode; the message names the server
// setting that produced them.
var ErrUnsupported = errors.New("unsupported")

// ErrNotStreaming is returned by NextEvent before a Start call, and
// ErrStreaming by Query after one (the connection then only carries events).
var (
	ErrNotStreaming = errors.New("binlog: replication stream not started")
	ErrStreaming    = errors.New("binlog: connection is streaming events")
)

// parseErrPacket decodes an ERR packet (first byte 0xff).
func parseErrPacket(p []byte) error {
	c := cursor{b: p}
	c.u8()
	e := &ServerError{Code: c.u16()}
	rest := c.rest()
	if c.err != nil {
		return fmt.Errorf("malformed error packet: %w", c.err)
	}
	// With CLIENT_PROTOCOL_41 the SQLSTATE follows a '#'; errors sent
	// before the handshake completes may lack it.
	if len(rest) >= 6 && rest[0] == '#' {
		e.State = string(rest[1:6])
		rest = rest[6:]
	}
	e.Message = string(rest)
	return e
}
