package wire

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

var (
	fuzzOnce sync.Once
	fuzzAddr string
)

// fuzzServer is shared by all fuzz inputs; it is never shut down.
func fuzzServer(t *testing.T) string {
	fuzzOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := NewServer(Config{Handler: newQuietHandler(), Logger: testLogger(), MaxMessageSize: 1 << 16})
		go srv.Serve(ln)
		fuzzAddr = ln.Addr().String()
	})
	return fuzzAddr
}

func newQuietHandler() *toyHandler {
	h := newToyHandler()
	// Unbuffered-consumer channels would fill up over many inputs.
	h.canceled = make(chan string, 1<<20)
	h.closed = make(chan uint32, 1<<20)
	return h
}

func startupBytes() []byte {
	b, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "fuzz"}}).Encode(nil)
	return b
}

// FuzzWire throws bytes at the server, either as the startup packet
// (authenticated=false) or as messages after a valid startup, and checks
// that the server still serves a real client afterwards.
func FuzzWire(f *testing.F) {
	f.Add(false, []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})
	f.Add(false, []byte{0, 0, 0, 8, 0, 3, 0, 2})
	f.Add(true, []byte("Q\x00\x00\x00\x0bROWS 3\x00"))
	f.Add(true, []byte("P\x00\x00\x00\x0a\x00NOOP\x00\x00\x00B\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04"))
	f.Fuzz(func(t *testing.T, authenticated bool, data []byte) {
		addr := fuzzServer(t)
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(200 * time.Millisecond))
		if authenticated {
			nc.Write(startupBytes())
		}
		nc.Write(data)
		buf := make([]byte, 4096)
		for {
			if _, err := nc.Read(buf); err != nil {
				break
			}
		}
		nc.Close()

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgconn.Connect(ctx, connString(addr, "alice"))
		if err != nil {
			t.Fatalf("server stopped serving: %v", err)
		}
		if _, err := conn.Exec(ctx, "ROWS 1").ReadAll(); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	})
}
