package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flowgate/flowgate/connectors"
)

// Conn is an opened file datasource: just the directory.
type Conn struct {
	dir string
}

var (
	_ connectors.Connector = (*Conn)(nil)
	_ connectors.Tester    = (*Conn)(nil)
)

// Open resolves the directory; it touches nothing.
func Open(opts map[string]string) (connectors.Connector, error) {
	dir, err := filepath.Abs(opts["path"])
	if err != nil {
		return nil, fmt.Errorf("file path: %w", err)
	}
	return &Conn{dir: dir}, nil
}

// Dir is the absolute path of the directory.
func (c *Conn) Dir() string { return c.dir }

// Close does nothing: there is nothing held open.
func (c *Conn) Close() error { return nil }

// Test checks that the directory exists and that a file can be created in it
// (permission bits alone would lie when running as root).
func (c *Conn) Test(ctx context.Context) (connectors.TestResult, error) {
	st, err := os.Stat(c.dir)
	if err != nil {
		return connectors.TestResult{}, fmt.Errorf("directory: %w", err)
	}
	if !st.IsDir() {
		return connectors.TestResult{}, fmt.Errorf("%s is not a directory", c.dir)
	}
	f, err := os.CreateTemp(c.dir, ".flowgate-test-*")
	if err != nil {
		return connectors.TestResult{}, fmt.Errorf("directory %s is not writable: %w", c.dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return connectors.TestResult{}, fmt.Errorf("remove test file: %w", err)
	}
	return connectors.TestResult{ServerVersion: "local filesystem"}, nil
}
