package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

func TestPortalSuspended(t *testing.T) {
	_, _, addr := startServer(t, Config{})
	c := connectRaw(t, addr)
	c.send(
		&pgproto3.Parse{Name: "s", Query: "ROWS 5"},
		&pgproto3.Bind{PreparedStatement: "s", DestinationPortal: "p", ResultFormatCodes: []int16{1, 0}},
		&pgproto3.Describe{ObjectType: 'P', Name: "p"},
		&pgproto3.Execute{Portal: "p", MaxRows: 2},
		&pgproto3.Flush{},
	)
	if got, _ := c.until('s'); got != "12TDDs" {
		t.Fatalf("first batch %q", got)
	}
	c.send(&pgproto3.Execute{Portal: "p", MaxRows: 2}, &pgproto3.Flush{})
	if got, _ := c.until('s'); got != "DDs" {
		t.Fatalf("second batch %q", got)
	}
	// The last row and the completion; binary int4 for column 0.
	c.send(&pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{})
	m, err := c.fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	dr, ok := m.(*pgproto3.DataRow)
	if !ok || binary.BigEndian.Uint32(dr.Values[0]) != 5 || string(dr.Values[1]) != "row 5" {
		t.Fatalf("last row %#v", m)
	}
	if got, _ := c.until('Z'); got != "CZ" {
		t.Fatalf("end %q", got)
	}
	// Outside a transaction Sync destroyed the portal.
	c.send(&pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{})
	if got, errs := c.until('Z'); got != "EZ" || errs[0].Code != "34000" {
		t.Fatalf("after sync %q %v", got, errs)
	}

	// Inside a transaction a named portal survives Sync.
	c.send(&pgproto3.Query{String: "BEGIN"})
	c.until('Z')
	c.send(&pgproto3.Bind{PreparedStatement: "s", DestinationPortal: "q"}, &pgproto3.Execute{Portal: "q", MaxRows: 4}, &pgproto3.Sync{})
	if got, _ := c.until('Z'); got != "2DDDDsZ" {
		t.Fatalf("in tx %q", got)
	}
	c.send(&pgproto3.Execute{Portal: "q"}, &pgproto3.Close{ObjectType: 'P', Name: "q"}, &pgproto3.Sync{})
	if got, _ := c.until('Z'); got != "DC3Z" {
		t.Fatalf("resume in tx %q", got)
	}
}

func TestExtendedDescribe(t *testing.T) {
	_, _, addr := startServer(t, Config{})
	c := connectRaw(t, addr)
	c.send(
		&pgproto3.Parse{Name: "e", Query: "ECHO $1::int4, $2::text"},
		&pgproto3.Describe{ObjectType: 'S', Name: "e"},
		&pgproto3.Parse{Name: "n", Query: "NOOP"},
		&pgproto3.Describe{ObjectType: 'S', Name: "n"},
		&pgproto3.Parse{Query: ""},
		&pgproto3.Bind{},
		&pgproto3.Execute{},
		&pgproto3.Parse{Name: "e", Query: "NOOP"},
		&pgproto3.Sync{},
	)
	got, errs := c.until('Z')
	// Parse, ParameterDescription, RowDescription, Parse, ParameterDescription,
	// NoData, Parse, Bind, EmptyQuery, duplicate-name error.
	if got != "1tT1tn12IEZ" || errs[0].Code != "42P05" {
		t.Fatalf("%q %v", got, errs)
	}
	// Binary parameters, one format code for all.
	p1 := binary.BigEndian.AppendUint32(nil, 42)
	c.send(
		&pgproto3.Bind{PreparedStatement: "e", ParameterFormatCodes: []int16{1, 0}, Parameters: [][]byte{p1, []byte("t")}, ResultFormatCodes: []int16{1}},
		&pgproto3.Execute{},
		&pgproto3.Close{ObjectType: 'S', Name: "e"},
		&pgproto3.Close{ObjectType: 'S', Name: "missing"},
		&pgproto3.Sync{},
	)
	m, _ := c.fe.Receive()
	if msgType(m) != '2' {
		t.Fatalf("bind: %T", m)
	}
	m, _ = c.fe.Receive()
	dr, ok := m.(*pgproto3.DataRow)
	if !ok || binary.BigEndian.Uint32(dr.Values[0]) != 42 || string(dr.Values[1]) != "t" {
		t.Fatalf("row %#v", m)
	}
	if got, _ := c.until('Z'); got != "C33Z" {
		t.Fatalf("%q", got)
	}
	// Wrong parameter count and bad binary data.
	c.send(&pgproto3.Parse{Name: "e2", Query: "ECHO $1::int4"}, &pgproto3.Bind{PreparedStatement: "e2"}, &pgproto3.Sync{})
	if got, errs := c.until('Z'); got != "1EZ" || errs[0].Code != "08P01" {
		t.Fatalf("%q %v", got, errs)
	}
	c.send(&pgproto3.Bind{PreparedStatement: "e2", ParameterFormatCodes: []int16{1}, Parameters: [][]byte{{1}}}, &pgproto3.Sync{})
	if got, errs := c.until('Z'); got != "EZ" || errs[0].Code != "22P03" {
		t.Fatalf("%q %v", got, errs)
	}
	// A text value that cannot become binary int4.
	c.send(&pgproto3.Parse{Query: "ECHO 'abc'::int4"}, &pgproto3.Bind{ResultFormatCodes: []int16{1}}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if got, errs := c.until('Z'); got != "12EZ" || errs[0].Code != "22P02" {
		t.Fatalf("%q %v", got, errs)
	}
}

func TestDiscardUntilSync(t *testing.T) {
	_, _, addr := startServer(t, Config{})
	c := connectRaw(t, addr)
	c.send(
		&pgproto3.Parse{Query: "BOGUS"},
		&pgproto3.Bind{},
		&pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{},
		&pgproto3.Query{String: "ROWS 1"},
		&pgproto3.Sync{},
		&pgproto3.Parse{Query: "ROWS 1"},
		&pgproto3.Bind{},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	)
	got, errs := c.until('Z')
	if got != "EZ" || len(errs) != 1 || errs[0].Code != "42601" {
		t.Fatalf("%q %v", got, errs)
	}
	if got, _ := c.until('Z'); got != "12DCZ" {
		t.Fatalf("after sync %q", got)
	}
}

func TestSimpleQueryFlow(t *testing.T) {
	_, _, addr := startServer(t, Config{})
	c := connectRaw(t, addr)
	c.send(&pgproto3.Query{String: "ROWS 1; NOOP; FAIL; ROWS 2"})
	got, errs := c.until('Z')
	if got != "TDCCEZ" || errs[0].Position != 15 {
		t.Fatalf("%q %v", got, errs)
	}
	c.send(&pgproto3.Query{String: "  ;  "})
	if got, _ := c.until('Z'); got != "IZ" {
		t.Fatalf("empty: %q", got)
	}
	c.send(&pgproto3.FunctionCall{Function: 1})
	if got, errs := c.until('Z'); got != "EZ" || errs[0].Code != "0A000" {
		t.Fatalf("function call %q", got)
	}
	// Copy messages outside COPY are ignored.
	c.send(&pgproto3.CopyDone{}, &pgproto3.Query{String: "NOOP"})
	if got, _ := c.until('Z'); got != "CZ" {
		t.Fatalf("%q", got)
	}
	c.send(&pgproto3.Query{String: "FATALERR"})
	if got, errs := c.readAll(); got != "E" || errs[0].Severity != "FATAL" {
		t.Fatalf("fatal %q %v", got, errs)
	}
}

func TestUnknownMessage(t *testing.T) {
	_, _, addr := startServer(t, Config{})
	c := connectRaw(t, addr)
	c.conn.Write([]byte{'!', 0, 0, 0, 4})
	if got, errs := c.readAll(); got != "E" || errs[0].Code != "08P01" || errs[0].Severity != "FATAL" {
		t.Fatalf("%q %v", got, errs)
	}
}

func TestOversizedMessage(t *testing.T) {
	_, _, addr := startServer(t, Config{MaxMessageSize: 1024})
	c := connectRaw(t, addr)
	c.send(&pgproto3.Query{String: "NOOP"})
	c.until('Z')
	c.send(&pgproto3.Query{String: strings.Repeat("x", 2000)})
	if got, errs := c.readAll(); got != "E" || errs[0].Code != "54000" {
		t.Fatalf("%q %v", got, errs)
	}
}

func TestMaxPrepared(t *testing.T) {
	_, _, addr := startServer(t, Config{MaxPrepared: 2})
	c := connectRaw(t, addr)
	c.send(&pgproto3.Parse{Name: "a", Query: "NOOP"}, &pgproto3.Parse{Name: "b", Query: "NOOP"}, &pgproto3.Parse{Name: "c", Query: "NOOP"}, &pgproto3.Sync{})
	if got, errs := c.until('Z'); got != "11EZ" || errs[0].Code != "53400" {
		t.Fatalf("%q %v", got, errs)
	}
}

func TestPanicRecovered(t *testing.T) {
	_, _, addr := startServer(t, Config{})
	c := connectRaw(t, addr)
	c.send(&pgproto3.Query{String: "PANIC"})
	if got, errs := c.readAll(); got != "E" || errs[0].Code != "XX000" {
		t.Fatalf("%q %v", got, errs)
	}
	connectRaw(t, addr) // the server still works
}

func TestProtocol32Negotiation(t *testing.T) {
	_, _, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion32, Parameters: map[string]string{"user": "alice", "_pq_.foo": "1"}})
	m, err := c.fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	npv, ok := m.(*pgproto3.NegotiateProtocolVersion)
	if !ok || npv.NewestMinorProtocol != pgproto3.ProtocolVersion30 || len(npv.UnrecognizedOptions) != 1 || npv.UnrecognizedOptions[0] != "_pq_.foo" {
		t.Fatalf("got %#v", m)
	}
	if got, _ := c.until('Z'); !strings.HasPrefix(got, "R") || !strings.Contains(got, "K") {
		t.Fatalf("%q", got)
	}
	// pgx asking for 3.2 settles on 3.0.
	conn, err := pgconn.Connect(context.Background(), connString(addr, "alice")+"&max_protocol_version=3.2")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "ROWS 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
}

// closedWithin reads what the server sends on nc until it closes the
// connection; taking longer than d fails the test. It returns the bytes.
func closedWithin(t *testing.T, nc net.Conn, d time.Duration, what string) []byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(d))
	got, err := io.ReadAll(nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server did not close the connection within %s (got %q)", what, d, got)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("%s: read: %v", what, err)
	}
	return got
}

// serves checks that a normal client still gets an answer.
func serves(t *testing.T, addr, after string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, connString(addr, "alice"))
	if err != nil {
		t.Fatalf("after %s: connect: %v", after, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ROWS 1").ReadAll(); err != nil {
		t.Fatalf("after %s: %v", after, err)
	}
}

func TestBadStartup(t *testing.T) {
	// A short startup timeout: a partial packet must not hold the
	// connection for the default minute.
	_, _, addr := startServer(t, Config{StartupTimeout: 2 * time.Second})
	for _, tc := range []struct {
		garbage []byte
		answer  string // what the server sends before closing; E<code> for an ErrorResponse
	}{
		{[]byte("GET / HTTP/1.1\r\n\r\n"), ""},
		{[]byte{0, 0, 0, 2}, ""},
		{[]byte{0xff, 0xff, 0xff, 0xff}, ""},
		{[]byte{0, 0, 0, 8, 0, 2, 0, 0}, "E0A000"},           // protocol 2.0
		{[]byte{0, 0, 0, 9, 0, 3, 0, 0, 'u'}, "E08P01"},      // unterminated parameters
		{[]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f, 0}, "N"}, // SSLRequest, then 1 byte of a packet: 'N', then the startup timeout
	} {
		what := fmt.Sprintf("startup %q", tc.garbage)
		c := dialRaw(t, addr)
		if _, err := c.conn.Write(tc.garbage); err != nil {
			t.Fatalf("%s: write: %v", what, err)
		}
		got := closedWithin(t, c.conn, 5*time.Second, what)
		switch {
		case tc.answer == "":
			if len(got) != 0 {
				t.Errorf("%s: answered %q, want a close", what, got)
			}
		case tc.answer[0] == 'E':
			if len(got) == 0 || got[0] != 'E' || !bytes.Contains(got, []byte("C"+tc.answer[1:]+"\x00")) {
				t.Errorf("%s: answered %q, want an ErrorResponse %s", what, got, tc.answer[1:])
			}
		default:
			if string(got) != tc.answer {
				t.Errorf("%s: answered %q, want %q", what, got, tc.answer)
			}
		}
		serves(t, addr, what)
	}
	// No user name.
	c := dialRaw(t, addr)
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"database": "x"}})
	if got, errs := c.readAll(); got != "E" || errs[0].Code != "28000" {
		t.Fatalf("%q %v", got, errs)
	}
	// SSLRequest and GSSENCRequest are refused without TLS; startup goes on.
	c = dialRaw(t, addr)
	c.conn.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30})
	c.conn.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})
	// Both refusals: one Read may return the first 'N' alone.
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c.conn, buf); err != nil || string(buf) != "NN" {
		t.Fatalf("%q %v", buf, err)
	}
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "alice"}})
	c.until('Z')
	// A normal client still works.
	conn, err := pgconn.Connect(context.Background(), connString(addr, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	// Failing NewSession is reported.
	_, err = pgconn.Connect(context.Background(), "postgres://alice@"+addr+"/nodb?sslmode=disable")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "3D000" {
		t.Fatalf("got %v", err)
	}
}

func TestShutdown(t *testing.T) {
	h := newToyHandler()
	srv, addr := listenServer(t, h)
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, connString(addr, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	idle, err := pgconn.Connect(ctx, connString(addr, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(ctx)
	if srv.ActiveSessions() != 2 {
		t.Fatalf("active %d", srv.ActiveSessions())
	}
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "SLEEP 300ms").ReadAll()
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("running statement should finish: %v", err)
	}
	if srv.ActiveSessions() != 0 {
		t.Fatalf("active %d", srv.ActiveSessions())
	}

	// Forced: a statement that never ends.
	h2 := newToyHandler()
	srv2, addr2 := listenServer(t, h2)
	conn2, err := pgconn.Connect(ctx, connString(addr2, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	go conn2.Exec(ctx, "SLEEP").ReadAll()
	time.Sleep(100 * time.Millisecond)
	sctx2, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	if err := srv2.Shutdown(sctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	select {
	case <-h2.canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("statement not canceled by forced shutdown")
	}
}

// listenServer starts a server the test shuts down itself.
func listenServer(t *testing.T, h *toyHandler) (*Server, string) {
	srv := NewServer(Config{Handler: h, Logger: testLogger()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	return srv, ln.Addr().String()
}
