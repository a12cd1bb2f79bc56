package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/flowgate/flowgate/internal/testbed"
)

// serverIDs hands out replica ids: a server drops a replica when another
// registers with the same id. The pid keeps parallel test binaries on a
// shared server apart.
var serverIDs atomic.Uint32

func init() { serverIDs.Store(uint32(100000 + os.Getpid()%100000*10)) }

func nextServerID() uint32 { return serverIDs.Add(1) }

// rig is the test server with a root pool and helpers.
type rig struct {
	t   *testing.T
	srv *testbed.MySQLServer
	db  *sql.DB
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := testbed.MySQL(t)
	cfg, err := driver.ParseDSN(srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	// Text results as the server prints them: no time.Time conversion,
	// UTC for TIMESTAMP columns.
	cfg.ParseTime = false
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &rig{t: t, srv: srv, db: db}
}

func (r *rig) addr() string { return net.JoinHostPort(r.srv.Host, strconv.Itoa(r.srv.Port)) }

func (r *rig) config() Config {
	return Config{Addr: r.addr(), User: r.srv.User, Password: r.srv.Password, ServerID: nextServerID()}
}

func (r *rig) dial(cfg Config) *Conn {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		r.t.Fatalf("dial: %v", err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

func (r *rig) exec(stmts ...string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := r.db.ExecContext(ctx, s); err != nil {
			r.t.Fatalf("%s: %v", s, err)
		}
	}
}

// session runs statements on one connection (for session settings).
func (r *rig) session(stmts ...string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := r.db.Conn(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			r.t.Fatalf("%s: %v", s, err)
		}
	}
}

func (r *rig) queryString(q string) string {
	r.t.Helper()
	var s sql.NullString
	if err := r.db.QueryRow(q).Scan(&s); err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	return s.String
}

// stream dials a new replica and starts it at the server's current position.
func (r *rig) stream(mod func(*Config)) (*Conn, MasterStatus) {
	r.t.Helper()
	cfg := r.config()
	if mod != nil {
		mod(&cfg)
	}
	c := r.dial(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := c.MasterStatus(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := c.StartFromPosition(ctx, st.File, st.Pos); err != nil {
		r.t.Fatal(err)
	}
	return c, st
}

// next reads one event, failing the test after a generous timeout.
func next(t *testing.T, c *Conn) *Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := c.NextEvent(ctx)
	if err != nil {
		t.Fatalf("next event: %v", err)
	}
	return ev
}

func describe(ev *Event) string {
	s := fmt.Sprintf("%s %s next=%s gtid=%s", ev.Header.Type, ev.File, ev.Next, ev.GTID)
	switch d := ev.Data.(type) {
	case *QueryEvent:
		s += " schema=" + d.Schema + " q=" + d.Query
	case *TableMap:
		s += " table=" + d.Schema + "." + d.Table
	case *RowsEvent:
		s += fmt.Sprintf(" %s rows=%d", d.Kind, len(d.Rows))
	case *RotateEvent:
		s += fmt.Sprintf(" -> %s:%d", d.NextFile, d.Position)
	case *MariaGTIDEvent:
		s += fmt.Sprintf(" flags=%x", d.Flags)
	}
	return s
}
