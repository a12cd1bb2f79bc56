package postgres

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowgate/flowgate/connectors"
)

// Conn is an opened postgres datasource: a lazily connecting pool.
type Conn struct {
	pool     *pgxpool.Pool
	schema   string
	password string
}

var (
	_ connectors.Connector = (*Conn)(nil)
	_ connectors.Tester    = (*Conn)(nil)
)

// ConnString builds the pgx connection URL for validated options, without
// the password: Config sets that in the parsed config, so no string a
// driver could echo ever holds it.
func ConnString(opts map[string]string) (string, error) {
	u := url.URL{
		Scheme: "postgres",
		Host:   net.JoinHostPort(opts["host"], opts["port"]),
		Path:   "/" + opts["database"],
		User:   url.User(opts["user"]),
	}
	q, err := url.ParseQuery(opts["extparam"])
	if err != nil {
		return "", fmt.Errorf("extparam: %w", err)
	}
	q.Set("sslmode", opts["sslmode"])
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Config is the pool configuration for validated options.
func Config(opts map[string]string) (*pgxpool.Config, error) {
	cs, err := ConnString(opts)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(cs)
	if err != nil {
		return nil, fmt.Errorf("postgres options: %w", err)
	}
	// Also overrides a password in extparam: that is the secret option's job.
	cfg.ConnConfig.Password = opts["password"]
	return cfg, nil
}

// Open opens a pool for validated options; it does not connect yet.
func Open(opts map[string]string) (connectors.Connector, error) {
	cfg, err := Config(opts)
	if err != nil {
		return nil, connectors.ScrubError(err, opts["password"])
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectors.DefaultTestTimeout
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, connectors.ScrubError(fmt.Errorf("postgres pool: %w", err), opts["password"])
	}
	return &Conn{pool: pool, schema: opts["schema"], password: opts["password"]}, nil
}

// Pool is the connection pool, for the executor.
func (c *Conn) Pool() *pgxpool.Pool { return c.pool }

// Schema is the schema the datasource works with.
func (c *Conn) Schema() string { return c.schema }

// Close closes the pool.
func (c *Conn) Close() error {
	c.pool.Close()
	return nil
}

// Test connects and asks the server for its version.
func (c *Conn) Test(ctx context.Context) (connectors.TestResult, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, connectors.DefaultTestTimeout)
		defer cancel()
	}
	var v string
	if err := c.pool.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return connectors.TestResult{}, connectors.ScrubError(err, c.password)
	}
	return connectors.TestResult{ServerVersion: v}, nil
}
