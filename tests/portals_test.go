package tests

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// protoClient speaks raw protocol messages to the gateway.
type protoClient struct {
	t  testing.TB
	fe *pgproto3.Frontend
}

func (g *gateway) protoClient(t testing.TB) *protoClient {
	t.Helper()
	nc, err := net.Dial("tcp", g.addr())
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { nc.Close() })
	c := &protoClient{t: t, fe: pgproto3.NewFrontend(nc, nc)}
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "admin", "database": "flowgate"}})
	c.cycle()
	return c
}

func (c *protoClient) send(msgs ...pgproto3.FrontendMessage) {
	c.t.Helper()
	for _, m := range msgs {
		c.fe.Send(m)
	}
	if err := c.fe.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// cycle reads up to ReadyForQuery and returns a compact trace: one letter
// per message (PostgreSQL's type bytes) with data rows' first values and
// errors' SQLSTATEs in brackets.
func (c *protoClient) cycle() string {
	c.t.Helper()
	var b strings.Builder
	for {
		m, err := c.fe.Receive()
		if err != nil {
			c.t.Fatalf("receive after %q: %v", b.String(), err)
		}
		switch m := m.(type) {
		case *pgproto3.ParseComplete:
			b.WriteString("1")
		case *pgproto3.BindComplete:
			b.WriteString("2")
		case *pgproto3.DataRow:
			fmt.Fprintf(&b, "D(%s)", m.Values[0])
		case *pgproto3.PortalSuspended:
			b.WriteString("s")
		case *pgproto3.CommandComplete:
			fmt.Fprintf(&b, "C(%s)", m.CommandTag)
		case *pgproto3.ErrorResponse:
			fmt.Fprintf(&b, "E(%s)", m.Code)
		case *pgproto3.ReadyForQuery:
			fmt.Fprintf(&b, "Z(%c)", m.TxStatus)
			return b.String()
		}
	}
}

func (c *protoClient) expect(what, want string, msgs ...pgproto3.FrontendMessage) {
	c.t.Helper()
	c.send(msgs...)
	if got := c.cycle(); got != want {
		c.t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

// Portal lifetime as PostgreSQL defines it: a named portal lives until its
// transaction ends (or Close), whatever statements, Syncs and new unnamed
// statements come in between; the unnamed portal is replaced by the next
// Bind; Sync outside a transaction block ends the implicit transaction.
func TestPortalLifetime(t *testing.T) {
	g := startGateway(t)
	admin := g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		mustExec(t, admin, "CREATE DATASOURCE "+n+" TYPE postgres OPTIONS (host '127.0.0.1', database 'd', user 'u')")
	}
	c := g.protoClient(t)
	names := &pgproto3.Parse{Query: "SELECT name FROM dataflow.datasources ORDER BY name"}
	count := &pgproto3.Parse{Query: "SELECT count(*) FROM dataflow.datasources"}
	sync := &pgproto3.Sync{}

	// In a transaction block.
	c.expect("BEGIN", "C(BEGIN)Z(T)", &pgproto3.Query{String: "BEGIN"})
	c.expect("first fetch", "12D(a)D(b)sZ(T)",
		names, &pgproto3.Bind{DestinationPortal: "cur"}, &pgproto3.Execute{Portal: "cur", MaxRows: 2}, sync)
	c.expect("another statement in the unnamed statement and portal", "12D(5)C(SELECT 1)Z(T)",
		count, &pgproto3.Bind{}, &pgproto3.Execute{}, sync)
	c.expect("second fetch", "D(c)D(d)sZ(T)", &pgproto3.Execute{Portal: "cur", MaxRows: 2}, sync)
	c.expect("a simple query in between", "D(1)C(SELECT 1)Z(T)", &pgproto3.Query{String: "SELECT 1"})
	c.expect("last fetch", "D(e)C(SELECT 1)Z(T)", &pgproto3.Execute{Portal: "cur"}, sync)
	c.expect("COMMIT", "C(COMMIT)Z(I)", &pgproto3.Query{String: "COMMIT"})
	c.expect("the portal ends with its transaction", "E(34000)Z(I)", &pgproto3.Execute{Portal: "cur"}, sync)

	// COMMIT through the extended protocol ends the block's portals too.
	c.expect("BEGIN again", "C(BEGIN)Z(T)", &pgproto3.Query{String: "BEGIN"})
	c.expect("bind p2", "12D(a)sZ(T)", names, &pgproto3.Bind{DestinationPortal: "p2"}, &pgproto3.Execute{Portal: "p2", MaxRows: 1}, sync)
	c.expect("extended COMMIT", "12C(COMMIT)Z(I)", &pgproto3.Parse{Query: "COMMIT"}, &pgproto3.Bind{}, &pgproto3.Execute{}, sync)
	c.expect("p2 is gone", "E(34000)Z(I)", &pgproto3.Execute{Portal: "p2"}, sync)

	// The implicit transaction: within one Sync cycle the named portal
	// survives a second Parse/Bind/Execute; Sync ends it.
	c.expect("implicit transaction", "12D(a)s12D(5)C(SELECT 1)D(b)D(c)sZ(I)",
		names, &pgproto3.Bind{DestinationPortal: "imp"}, &pgproto3.Execute{Portal: "imp", MaxRows: 1},
		count, &pgproto3.Bind{}, &pgproto3.Execute{},
		&pgproto3.Execute{Portal: "imp", MaxRows: 2}, sync)
	c.expect("after Sync", "E(34000)Z(I)", &pgproto3.Execute{Portal: "imp"}, sync)

	// Closing a statement closes the portals made from it.
	c.expect("BEGIN third", "C(BEGIN)Z(T)", &pgproto3.Query{String: "BEGIN"})
	c.expect("named statement and portal", "12Z(T)",
		&pgproto3.Parse{Name: "s1", Query: "SELECT name FROM dataflow.datasources ORDER BY name"}, &pgproto3.Bind{PreparedStatement: "s1", DestinationPortal: "p1"}, sync)
	c.send(&pgproto3.Close{ObjectType: 'S', Name: "s1"}, &pgproto3.Execute{Portal: "p1"}, sync)
	if got := c.cycle(); !strings.HasSuffix(got, "E(34000)Z(E)") {
		t.Fatalf("Execute after Close of its statement: %s", got)
	}
	c.expect("ROLLBACK", "C(ROLLBACK)Z(I)", &pgproto3.Query{String: "ROLLBACK"})
	c.expect("still serving", "D(1)C(SELECT 1)Z(I)", &pgproto3.Query{String: "SELECT 1"})
}
