// Package catalog keeps flowgate's state in SQLite: users, datasources,
// the audit log and (later) models, tasks, jobs and runs. Migrations come
// from the embedded sql/ folder; secrets are sealed with AES-GCM.
package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowgate/flowgate/catalog/pgquery"
	sqlfiles "github.com/flowgate/flowgate/sql"
	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// Sentinel errors; the executor turns them into SQLSTATEs with context.
var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("already exists")
)

// Catalog is an open SQLite catalog. Writes go through one connection so
// SQLite never has to arbitrate between writers; reads use a small pool.
type Catalog struct {
	path   string
	w      *sql.DB
	r      *sql.DB
	sealer *Sealer
}

// Options configure Open.
type Options struct {
	// SecretKey is the 32-byte AES key; see LoadOrCreateKey.
	SecretKey []byte
}

// Open opens (creating if needed) the catalog at path and migrates it.
func Open(ctx context.Context, path string, opts Options) (*Catalog, error) {
	sealer, err := NewSealer(opts.SecretKey)
	if err != nil {
		return nil, err
	}
	dsn := func(txlock string) string {
		q := url.Values{}
		q.Set("_journal_mode", "WAL")
		q.Set("_foreign_keys", "on")
		q.Set("_busy_timeout", "10000")
		q.Set("_synchronous", "NORMAL")
		q.Set("_txlock", txlock)
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite3", dsn("immediate"))
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	// The read pool answers translated SELECTs, which call the functions
	// pgquery registers (regular expressions, format(), arrays).
	r, err := sql.Open(pgquery.DriverName, dsn("deferred"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	c := &Catalog{path: path, w: w, r: r, sealer: sealer}
	if err := c.migrate(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.checkKey(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.bootstrap(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close releases both pools.
func (c *Catalog) Close() error {
	return errors.Join(c.r.Close(), c.w.Close())
}

// ReadDB is the pool for read-only queries (SELECT over dataflow views).
func (c *Catalog) ReadDB() *sql.DB { return c.r }

// Path is the catalog file.
func (c *Catalog) Path() string { return c.path }

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(sqlfiles.Migrations, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		body, err := fs.ReadFile(sqlfiles.Migrations, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := range ms {
		if ms[i].version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must be 1..n without gaps", ms[i].name)
		}
	}
	return ms, nil
}

// LatestVersion is the newest catalog version this binary knows.
func LatestVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

func (c *Catalog) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := c.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("catalog %s: create schema_migrations: %w", c.path, err)
	}
	var current int
	if err := c.w.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("catalog %s: read version: %w", c.path, err)
	}
	if current > len(ms) {
		return fmt.Errorf("catalog %s has version %d but this flowgate knows only up to %d: run a newer flowgate binary", c.path, current, len(ms))
	}
	for _, m := range ms[current:] {
		tx, err := c.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, Now()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: record: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: commit: %w", m.name, err)
		}
	}
	return nil
}

// Version is the catalog's applied migration version.
func (c *Catalog) Version(ctx context.Context) (int, error) {
	var v int
	err := c.r.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// keyCheck lets a restart with the wrong secret key fail at once instead of
// on the first datasource that needs its password.
const keyCheckPlain = "flowgate secret key check"

func (c *Catalog) checkKey(ctx context.Context) error {
	var sealed string
	err := c.w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'key_check'`).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		s, err := c.sealer.SealString(keyCheckPlain)
		if err != nil {
			return err
		}
		_, err = c.w.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('key_check', ?)`, s)
		return err
	}
	if err != nil {
		return fmt.Errorf("read key check: %w", err)
	}
	got, err := c.sealer.OpenString(sealed)
	if err != nil || got != keyCheckPlain {
		return fmt.Errorf("catalog %s was written with a different secret key: start flowgate with the key file it was created with (--secret-key-file)", c.path)
	}
	return nil
}

// bootstrap creates the admin user on first start.
func (c *Catalog) bootstrap(ctx context.Context) error {
	now := Now()
	_, err := c.w.ExecContext(ctx, `INSERT INTO users (name, role, created_at, updated_at)
		SELECT 'admin', 'admin', ?, ? WHERE NOT EXISTS (SELECT 1 FROM users)`, now, now)
	if err != nil {
		return fmt.Errorf("bootstrap admin user: %w", err)
	}
	return nil
}

// TimeFormat is how timestamps are stored: UTC, microseconds, no zone.
const TimeFormat = "2006-01-02 15:04:05.000000"

// Now is the current time in storage form.
func Now() string { return FormatTime(time.Now()) }

// FormatTime renders t in storage form.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
