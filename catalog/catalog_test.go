package catalog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey() []byte { return bytes.Repeat([]byte{7}, 32) }

func openTemp(t *testing.T) (*Catalog, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flowgate.db")
	c, err := Open(context.Background(), path, Options{SecretKey: testKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func TestMigrationsRunOnceAndAreRecorded(t *testing.T) {
	c, path := openTemp(t)
	ctx := context.Background()
	v, err := c.Version(ctx)
	if err != nil || v != LatestVersion() || v < 1 {
		t.Fatalf("version %d, %v; want %d", v, err, LatestVersion())
	}
	c.Close()
	// Reopening must not re-run migration 1 (it would fail on CREATE TABLE).
	c2, err := Open(ctx, path, Options{SecretKey: testKey()})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	var n int
	if err := c2.r.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != LatestVersion() {
		t.Fatalf("schema_migrations rows %d, %v", n, err)
	}
	var admins int
	c2.r.QueryRow(`SELECT count(*) FROM users WHERE name = 'admin' AND role = 'admin'`).Scan(&admins)
	if admins != 1 {
		t.Fatalf("bootstrap admin rows = %d", admins)
	}
	c2.Close()
}

func TestOlderBinaryRefusesNewerCatalog(t *testing.T) {
	c, path := openTemp(t)
	if _, err := c.w.Exec(`INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 'x')`); err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err := Open(context.Background(), path, Options{SecretKey: testKey()})
	if err == nil || !strings.Contains(err.Error(), "newer flowgate") {
		t.Fatalf("want refusal, got %v", err)
	}
}

func TestWrongSecretKeyIsRefused(t *testing.T) {
	c, path := openTemp(t)
	c.Close()
	other := bytes.Repeat([]byte{9}, 32)
	_, err := Open(context.Background(), path, Options{SecretKey: other})
	if err == nil || !strings.Contains(err.Error(), "different secret key") {
		t.Fatalf("want key refusal, got %v", err)
	}
}

func TestSecretsSealedAtRestAndMasked(t *testing.T) {
	c, path := openTemp(t)
	ctx := context.Background()
	secret := func(k string) bool { return k == "password" }
	const pw = "s3cr3t-Pa55word-unique"
	err := c.CreateDatasource(ctx, Datasource{Name: "pg", Type: "postgres",
		Options: map[string]string{"host": "127.0.0.1", "password": pw}}, secret)
	if err != nil {
		t.Fatal(err)
	}
	var shown string
	c.r.QueryRow(`SELECT options FROM dataflow_datasources WHERE name = 'pg'`).Scan(&shown)
	if strings.Contains(shown, pw) || !strings.Contains(shown, Masked) {
		t.Fatalf("view options = %s", shown)
	}
	d, err := c.GetDatasource(ctx, "pg")
	if err != nil || d.Options["password"] != pw || d.Options["host"] != "127.0.0.1" {
		t.Fatalf("load: %+v %v", d, err)
	}
	c.Close()
	for _, f := range []string{path, path + "-wal"} {
		raw, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(pw)) {
			t.Fatalf("%s holds the password in clear", f)
		}
	}
}

func TestDatasourceLifecycle(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	none := func(string) bool { return false }
	if err := c.CreateDatasource(ctx, Datasource{Name: "a", Type: "sqlite", Options: map[string]string{"path": "x"}}, none); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDatasource(ctx, Datasource{Name: "a", Type: "sqlite", Options: map[string]string{}}, none); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	c.CreateDatasource(ctx, Datasource{Name: "b", Type: "sqlite", Options: map[string]string{}}, none)
	if err := c.RenameDatasource(ctx, "a", "b"); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := c.RenameDatasource(ctx, "nope", "c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rename missing: %v", err)
	}
	if err := c.SetDatasourceStatus(ctx, "a", StatusRecycled); err != nil {
		t.Fatal(err)
	}
	d, _ := c.GetDatasource(ctx, "a")
	if d.Status != StatusRecycled {
		t.Fatalf("status %s", d.Status)
	}
	if err := c.PurgeDatasource(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetDatasource(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after purge: %v", err)
	}
}

func TestLastAdminIsKept(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	if err := c.DropUser(ctx, "admin"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("drop last admin: %v", err)
	}
	if err := c.SetUserRole(ctx, "admin", RoleReadonly); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demote last admin: %v", err)
	}
	if err := c.CreateUser(ctx, User{Name: "root2", Role: RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if err := c.DropUser(ctx, "admin"); err != nil {
		t.Fatalf("drop admin with another admin left: %v", err)
	}
}

func TestViewsCarryPostgresTypes(t *testing.T) {
	c, _ := openTemp(t)
	views, err := c.Views(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, v := range views {
		got[v.Name] = map[string]string{}
		for _, col := range v.Columns {
			got[v.Name][col.Name] = col.PGType
		}
	}
	checks := []struct{ view, col, typ string }{
		{"datasources", "options", "json"},
		{"datasources", "created_at", "timestamptz"},
		{"audit_log", "user", "text"},
		{"audit_log", "duration_ms", "float8"},
		{"users", "has_password", "boolean"},
	}
	for _, ch := range checks {
		if got[ch.view][ch.col] != ch.typ {
			t.Errorf("%s.%s type %q, want %q", ch.view, ch.col, got[ch.view][ch.col], ch.typ)
		}
	}
}

func TestAuditTruncatesHugeStatements(t *testing.T) {
	c, _ := openTemp(t)
	big := strings.Repeat("é", 10<<20/2)
	err := c.Audit(context.Background(), AuditEntry{At: time.Now(), User: "admin", Statement: big, SQLState: "54000"})
	if err != nil {
		t.Fatal(err)
	}
	var stmt string
	c.r.QueryRow(`SELECT statement FROM audit_log`).Scan(&stmt)
	if len(stmt) > maxAuditStatement+100 || !strings.HasSuffix(stmt, "truncated)") {
		t.Fatalf("stored %d bytes: %q", len(stmt), stmt[len(stmt)-40:])
	}
}

func TestKeyFileCreatedWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "flowgate.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reload differs: %v", err)
	}
}
