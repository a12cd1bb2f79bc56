package tests

import (
	"context"
	"errors"
	"net"
	"strings"
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
		mustExec(t, c, "CREATE DATASOURCE IF NOT EXISTS dup TYPE file OPTIONS (path '/tmp')")
		cases := []struct {
			sql, code, contains string
		}{
			{"FROBNICATE DATASOURCE x", "42601", "syntax error"},
			{"CREATE DATASOURCE x TYPE postgres OPTIONS (host 'h', database 'd', user 'u', colour 'red')", "22023", `"colour"`},
			{"CREATE DATASOURCE x TYPE postgres OPTIONS (host 'h')", "22023", "missing required option"},
			{"CREATE DATASOURCE x TYPE oracle OPTIONS (host 'h')", "22023", "unknown datasource type"},
			{"CREATE DATASOURCE dup TYPE file OPTIONS (path '/tmp')", "42710", "already exists"},
			{"TEST DATASOURCE nosuch", "42704", "does not exist"},
			{"RESTORE DATASOURCE dup", "55000", "not in the recycle bin"},
			{"SELECT * FROM pg_shadow_secrets", "42P01", "does not exist"},
			{"SELECT * FROM dataflow.datasources; DELETE FROM users", "42601", ""},
			{"WITH d AS (DELETE FROM dataflow.datasources RETURNING *) SELECT * FROM d", "0A000", "data-modifying"},
			{"INSERT INTO dataflow.datasources VALUES (1)", "0A000", "SELECT"},
			{"SELECT sqlite_version()", "42883", ""},
			{"SELECT nosuchcolumn FROM dataflow.datasources", "42703", ""},
			{"SET no_such_parameter = 1", "42704", "unrecognized configuration parameter"},
			{"CREATE SYNC JOB j FROM a.b TO c.d MODE CDC", "0A000", "not supported yet"},
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
	c := g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)
	_, err := c.Exec(context.Background(), "SELECT 1; CREATE DATASORCE x TYPE file OPTIONS (path '/tmp')")
	pe := wantCode(t, err, "42601")
	// "DATASORCE" starts at character 18 of the whole message.
	if pe.Position != 18 {
		t.Fatalf("position %d, want 18 (%s)", pe.Position, pe.Message)
	}
	// Nothing of a message with a syntax error runs.
	var n int
	c.QueryRow(context.Background(), "SELECT count(*) FROM dataflow.datasources").Scan(&n)
	if n != 0 {
		t.Fatalf("datasources: %d", n)
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

func TestGarbageStartupAndMidQueryDisconnect(t *testing.T) {
	g := startGateway(t)
	for _, garbage := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		{0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef},
		{0xff, 0xff, 0xff, 0xff},
	} {
		conn, err := net.Dial("tcp", g.addr())
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(garbage)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		conn.Read(buf) // an error or EOF: either is fine, hanging is not
		conn.Close()
	}
	// A client that sends a query and vanishes.
	for i := 0; i < 5; i++ {
		conn, err := net.Dial("tcp", g.addr())
		if err != nil {
			t.Fatal(err)
		}
		c, err := pgxConnOver(g, conn)
		if err == nil {
			go c.Exec(context.Background(), "SELECT * FROM dataflow.audit_log")
			time.Sleep(5 * time.Millisecond)
		}
		conn.Close()
	}
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	var one int
	if err := c.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("gateway unusable after garbage: %v\n%s", err, g.logs())
	}
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
