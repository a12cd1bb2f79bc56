package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Every user mistake gets an ErrorResponse with the right SQLSTATE and the
// session keeps working, in every protocol mode.
func TestBadInputKeepsSessionUsable(t *testing.T) {
	g := startGateway(t)
	execModes(t, func(t *testing.T, mode pgx.QueryExecMode) {
		ctx := context.Background()
		c := g.connect(t, "admin", mode)
		mustExec(t, c, "CREATE DATASOURCE IF NOT EXISTS dup TYPE file OPTIONS (path '/var/tmp')")
		cases := []struct {
			sql, code, contains string
		}{
			{"FROBNICATE DATASOURCE x", "42601", "syntax error"},
			{"CREATE DATASOURCE x TYPE postgres OPTIONS (host 'h', database 'd', user 'u', colour 'red')", "22023", `"colour"`},
			{"CREATE DATASOURCE x TYPE postgres OPTIONS (host 'h')", "22023", "missing required option"},
			{"CREATE DATASOURCE x TYPE oracle OPTIONS (host 'h')", "22023", "unknown datasource type"},
			{"CREATE DATASOURCE dup TYPE file OPTIONS (path '/var/tmp')", "42710", "already exists"},
			{"TEST DATASOURCE nosuch", "42704", "does not exist"},
			{"RESTORE DATASOURCE dup", "55000", "not in the recycle bin"},
			{"SELECT * FROM pg_shadow_secrets", "42P01", "does not exist"},
			{"SELECT * FROM dataflow.datasources; DELETE FROM users", "42601", ""},
			{"WITH d AS (DELETE FROM dataflow.datasources RETURNING *) SELECT * FROM d", "0A000", "data-modifying"},
			{"INSERT INTO dataflow.datasources VALUES (1)", "0A000", "SELECT"},
			{"SELECT sqlite_version()", "42883", ""},
			{"SELECT nosuchcolumn FROM dataflow.datasources", "42703", ""},
			{"SET no_such_parameter = 1", "42704", "unrecognized configuration parameter"},
			{"CREATE SYNC JOB j FROM a.b TO c.d MODE SCAN", "42704", "does not exist"},
		}
		for _, tc := range cases {
			_, err := c.Exec(ctx, tc.sql)
			if strings.Contains(tc.sql, "; DELETE") {
				// The extended protocol refuses two statements in one Parse
				// (42601); the simple one refuses the DELETE (0A000).
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || (pe.Code != "42601" && pe.Code != "0A000") {
					t.Fatalf("%s: %v", tc.sql, err)
				}
			} else {
				pe := wantCode(t, err, tc.code)
				if !strings.Contains(pe.Message+" "+pe.Hint, tc.contains) {
					t.Errorf("%s: message %q hint %q lacks %q", tc.sql, pe.Message, pe.Hint, tc.contains)
				}
			}
			var one int
			if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("after %q the session is unusable: %v", tc.sql, err)
			}
		}
		// unknown option errors list the valid ones
		_, err := c.Exec(ctx, "CREATE DATASOURCE y TYPE mysql OPTIONS (host 'h', database 'd', user 'u', colour 'red')")
		pe := wantCode(t, err, "22023")
		if !strings.Contains(pe.Hint, "servertimezone") {
			t.Errorf("hint does not list valid options: %q", pe.Hint)
		}
	})
}

func TestSyntaxErrorPositionInMultiStatementMessage(t *testing.T) {
	g := startGateway(t)
	ctx := context.Background()
	c := g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)
	// A statement with a visible effect comes before the bad one.
	create := fmt.Sprintf("CREATE DATASOURCE before_bad TYPE file OPTIONS (path %s)", sqlString(t.TempDir()))
	msg := create + "; CREATE DATASORCE x TYPE file OPTIONS (path '/tmp')"
	_, err := c.Exec(ctx, msg)
	pe := wantCode(t, err, "42601")
	// The position counts from the start of the whole message.
	if want := strings.Index(msg, "DATASORCE") + 1; int(pe.Position) != want {
		t.Fatalf("position %d, want %d (%s)", pe.Position, want, pe.Message)
	}
	// Nothing of a message with a syntax error runs: the CREATE before the
	// bad statement left no datasource.
	if n := count(t, c, "SELECT count(*) FROM dataflow.datasources WHERE name = 'before_bad'"); n != 0 {
		t.Fatalf("the statement before the syntax error ran: %d datasources named before_bad", n)
	}
	// The same query sees the datasource once the statement runs alone.
	mustExec(t, c, create)
	if n := count(t, c, "SELECT count(*) FROM dataflow.datasources WHERE name = 'before_bad'"); n != 1 {
		t.Fatalf("datasources named before_bad after creating it: %d", n)
	}
}

func TestHugeStatementIsRefusedCleanly(t *testing.T) {
	g := startGateway(t)
	ctx := context.Background()
	c := g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)
	huge := "SELECT '" + strings.Repeat("x", 10<<20) + "'"
	_, err := c.Exec(ctx, huge)
	wantCode(t, err, "54000")
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("session unusable after 10 MB statement: %v", err)
	}
}

// answeredOrClosed reads what the server sends on conn until it closes the
// connection, failing if that takes longer than within. It returns the
// bytes received.
func answeredOrClosed(t *testing.T, conn net.Conn, within time.Duration, what string) []byte {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(within))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the gateway did not close the connection within %s (got %q)", what, within, got)
	}
	// io.ReadAll returns nil at EOF; a reset is a close too.
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("%s: read: %v", what, err)
	}
	return got
}

// sessions reads the gateway's flowgate_sessions gauge.
func (g *gateway) sessions(t *testing.T) int {
	t.Helper()
	return int(metricValue(t, g, "flowgate_sessions"))
}

// stillServes checks that a new client gets an answer.
func (g *gateway) stillServes(t *testing.T, after string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, g.dsn("admin"))
	if err != nil {
		t.Fatalf("after %s a new client cannot connect: %v\n%s", after, err, g.logs())
	}
	defer c.Close(context.Background())
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after %s a new client gets no answer: %v\n%s", after, err, g.logs())
	}
}

func TestGarbageStartupAndMidQueryDisconnect(t *testing.T) {
	g := startGateway(t)
	for _, garbage := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		{0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef},
		{0xff, 0xff, 0xff, 0xff},
	} {
		what := fmt.Sprintf("startup %q", garbage)
		conn, err := net.Dial("tcp", g.addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(garbage); err != nil {
			t.Fatalf("%s: write: %v", what, err)
		}
		// An ErrorResponse then a close, or a close: never a hang.
		if got := answeredOrClosed(t, conn, 5*time.Second, what); len(got) > 0 && got[0] != 'E' {
			t.Errorf("%s: answered %q, want an ErrorResponse or nothing", what, got)
		}
		conn.Close()
		g.stillServes(t, what)
	}
	// Clients that send a query and vanish: their sessions end.
	waitFor(t, 10*time.Second, "no sessions", func() bool { return g.sessions(t) == 0 })
	for i := 0; i < 5; i++ {
		conn, err := net.Dial("tcp", g.addr())
		if err != nil {
			t.Fatal(err)
		}
		c, err := pgxConnOver(g, conn)
		if err != nil {
			t.Fatalf("connect over a raw socket: %v", err)
		}
		sent := make(chan struct{})
		go func() {
			close(sent)
			c.Exec(context.Background(), "SELECT * FROM dataflow.audit_log")
		}()
		<-sent
		time.Sleep(5 * time.Millisecond)
		conn.Close()
	}
	waitFor(t, 10*time.Second, "the vanished clients' sessions to end", func() bool { return g.sessions(t) == 0 })
	g.stillServes(t, "clients vanished mid-query")
}

// pgxConnOver starts a pgx session on an existing socket, so the test can
// cut the socket underneath it.
func pgxConnOver(g *gateway, conn net.Conn) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(g.dsn("admin"))
	if err != nil {
		return nil, err
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) { return conn, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}
