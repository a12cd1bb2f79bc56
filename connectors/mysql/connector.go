package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"sync"

	driver "github.com/go-sql-driver/mysql"

	"github.com/flowgate/flowgate/connectors"
)

// Conn is an opened mysql datasource: a lazily connecting *sql.DB.
type Conn struct {
	db *sql.DB
	// text is a pool whose driver leaves dates and times as the server's
	// text (no parseTime), for exports: selecting them as they are costs
	// the server far less than CAST(... AS CHAR) per value.
	text     *sql.DB
	database string
	password string
	// cfg is the driver configuration, for the binlog client of a
	// change stream (cdc.go), which connects on its own.
	cfg *driver.Config
	// parked is the session of the last committed apply transaction,
	// kept for the next one (apply.go).
	parkMu sync.Mutex
	parked *applySession
}

var (
	_ connectors.Connector = (*Conn)(nil)
	_ connectors.Tester    = (*Conn)(nil)
)

// config builds the driver configuration for validated options. extparam goes
// through the driver's own DSN parser so every parameter it knows works.
func config(opts map[string]string) (*driver.Config, error) {
	cfg, err := driver.ParseDSN("/?" + opts["extparam"])
	if err != nil {
		return nil, fmt.Errorf("extparam: %w", err)
	}
	if cfg.AllowAllFiles {
		// The driver would then send any file the server names in a LOCAL
		// INFILE request (the server may ask in answer to any query), so a
		// datasource on a server its creator controls could read the
		// gateway's catalog and key file. Checked here, not only at CREATE,
		// so datasources stored earlier cannot be opened either.
		return nil, fmt.Errorf("extparam allowAllFiles is refused: it would let the server read any file on the gateway's host; flowgate's own loads need no local files")
	}
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(opts["host"], opts["port"])
	cfg.User = opts["user"]
	cfg.Passwd = opts["password"]
	cfg.DBName = opts["database"]
	cfg.ParseTime = true
	if cfg.Loc, err = ParseTimeZone(opts["servertimezone"]); err != nil {
		return nil, fmt.Errorf("servertimezone: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = connectors.DefaultTestTimeout
	}
	return cfg, nil
}

// Open opens a *sql.DB for validated options; it does not connect yet.
func Open(opts map[string]string) (connectors.Connector, error) {
	cfg, err := config(opts)
	if err != nil {
		return nil, connectors.ScrubError(err, opts["password"])
	}
	c, err := driver.NewConnector(cfg)
	if err != nil {
		return nil, connectors.ScrubError(fmt.Errorf("mysql options: %w", err), opts["password"])
	}
	tcfg := cfg.Clone()
	tcfg.ParseTime = false
	tc, err := driver.NewConnector(tcfg)
	if err != nil {
		return nil, connectors.ScrubError(fmt.Errorf("mysql options: %w", err), opts["password"])
	}
	return &Conn{db: sql.OpenDB(c), text: sql.OpenDB(tc), database: opts["database"], password: opts["password"], cfg: cfg.Clone()}, nil
}

// DB is the connection pool, for the executor.
func (c *Conn) DB() *sql.DB { return c.db }

// Database is the database (schema) the datasource works with.
func (c *Conn) Database() string { return c.database }

// Close closes the pool.
func (c *Conn) Close() error {
	c.parkMu.Lock()
	ss := c.parked
	c.parked = nil
	c.parkMu.Unlock()
	if ss != nil {
		ss.release()
	}
	c.text.Close()
	return c.db.Close()
}

// Test connects and asks the server for its version.
func (c *Conn) Test(ctx context.Context) (connectors.TestResult, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, connectors.DefaultTestTimeout)
		defer cancel()
	}
	var v string
	if err := c.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return connectors.TestResult{}, connectors.ScrubError(err, c.password)
	}
	return connectors.TestResult{ServerVersion: v}, nil
}
