package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "github.com/mattn/go-sqlite3" // registers driver "sqlite3"

	"github.com/flowgate/flowgate/connectors"
)

// Conn is an opened sqlite datasource.
type Conn struct {
	db   *sql.DB
	path string
}

var (
	_ connectors.Connector = (*Conn)(nil)
	_ connectors.Tester    = (*Conn)(nil)
)

// Open opens the database file read/write; mode=rw makes SQLite refuse to
// create a missing file instead of silently making an empty database.
func Open(opts map[string]string) (connectors.Connector, error) {
	path, err := filepath.Abs(opts["path"])
	if err != nil {
		return nil, fmt.Errorf("sqlite path: %w", err)
	}
	dsn := (&url.URL{Scheme: "file", Path: path, RawQuery: "mode=rw&_busy_timeout=5000"}).String()
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &Conn{db: db, path: path}, nil
}

// DB is the database handle, for the executor.
func (c *Conn) DB() *sql.DB { return c.db }

// Path is the absolute path of the database file.
func (c *Conn) Path() string { return c.path }

// Close closes the database.
func (c *Conn) Close() error { return c.db.Close() }

// Test checks that the file exists and is a database, and reports the SQLite
// library version.
func (c *Conn) Test(ctx context.Context) (connectors.TestResult, error) {
	st, err := os.Stat(c.path)
	if err != nil {
		return connectors.TestResult{}, fmt.Errorf("sqlite database file: %w", err)
	}
	if st.IsDir() {
		return connectors.TestResult{}, fmt.Errorf("sqlite database file %s is a directory", c.path)
	}
	// Reading the schema makes SQLite look at the file header, so a file
	// that is not a database fails here rather than later.
	var n int
	if err := c.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		return connectors.TestResult{}, fmt.Errorf("sqlite %s: %w", c.path, err)
	}
	var v string
	if err := c.db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v); err != nil {
		return connectors.TestResult{}, fmt.Errorf("sqlite %s: %w", c.path, err)
	}
	return connectors.TestResult{ServerVersion: v}, nil
}
