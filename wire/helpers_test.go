package wire

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer runs a server with a toy handler on 127.0.0.1:0.
func startServer(t testing.TB, cfg Config) (*Server, *toyHandler, string) {
	t.Helper()
	h, ok := cfg.Handler.(*toyHandler)
	if !ok {
		h = newToyHandler()
		cfg.Handler = h
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(cfg)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v", err)
		}
	})
	return srv, h, ln.Addr().String()
}

func connString(addr, user string) string {
	return fmt.Sprintf("postgres://%s@%s/db?sslmode=disable&application_name=test", user, addr)
}

// rawClient is a protocol-level client for tests that need exact messages.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	fe   *pgproto3.Frontend
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, conn: nc, fe: pgproto3.NewFrontend(nc, nc)}
}

// connectRaw dials and completes a trusted startup.
func connectRaw(t testing.TB, addr string) *rawClient {
	c := dialRaw(t, addr)
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "alice"}})
	c.until('Z')
	return c
}

func (c *rawClient) send(msgs ...pgproto3.FrontendMessage) {
	c.t.Helper()
	for _, m := range msgs {
		c.fe.Send(m)
	}
	if err := c.fe.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// msgType returns the protocol type byte of a backend message.
func msgType(m pgproto3.BackendMessage) byte {
	buf, err := m.Encode(nil)
	if err != nil || len(buf) == 0 {
		return 0
	}
	return buf[0]
}

// until reads messages up to and including one of type stop and returns
// their type bytes; error messages are described in errs.
func (c *rawClient) until(stop byte) (types string, errs []pgproto3.ErrorResponse) {
	c.t.Helper()
	for {
		m, err := c.fe.Receive()
		if err != nil {
			c.t.Fatalf("receive after %q: %v", types, err)
		}
		typ := msgType(m)
		types += string(typ)
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			errs = append(errs, *e)
		}
		if typ == stop {
			return types, errs
		}
	}
}

// readAll reads until the server closes and returns the message types.
func (c *rawClient) readAll() (types string, errs []pgproto3.ErrorResponse) {
	for {
		m, err := c.fe.Receive()
		if err != nil {
			return types, errs
		}
		types += string(msgType(m))
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			errs = append(errs, *e)
		}
	}
}
