package tests

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/mattn/go-sqlite3"
)

// makeSQLiteDB creates a SQLite database file holding one table.
func makeSQLiteDB(t testing.TB, path, ddl string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ddl); err != nil {
		t.Fatal(err)
	}
}

func wantMessage(t testing.TB, err error, code string, parts ...string) {
	t.Helper()
	pe := wantCode(t, err, code)
	for _, p := range parts {
		if !strings.Contains(pe.Message, p) {
			t.Fatalf("message %q does not mention %q", pe.Message, p)
		}
	}
}

// The escalation from issue 9: a manage user pointing a sqlite datasource
// at the gateway's own catalog and syncing an admin row into it. It must
// fail at the first statement, and no path (relative, through `..`, a
// symlink, the key file, -wal, the staging directory) reaches the
// gateway's files even for admin.
func TestManageUserCannotReachTheCatalog(t *testing.T) {
	g := startGateway(t)
	ctx := context.Background()
	admin := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, admin, "CREATE USER ops PASSWORD 'ops-pass-123' ROLE manage")
	ops := g.connect(t, "ops", pgx.QueryExecModeExec)

	catalogPath := filepath.Join(g.dir, "flowgate.db")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	relCatalog, err := filepath.Rel(wd, catalogPath) // the gateway runs in the test's working directory
	if err != nil {
		t.Fatal(err)
	}
	evil := filepath.Join(t.TempDir(), "evil.db")
	makeSQLiteDB(t, evil, `CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT, verifier TEXT, created_at TEXT);
		INSERT INTO users VALUES ('mallory', 'admin', 'x', '2024-01-01')`)

	// The first statement, as a manage user: refused, because only
	// admin may point datasources at host paths.
	_, err = ops.Exec(ctx, "CREATE DATASOURCE cat TYPE sqlite OPTIONS (path "+sqlString(relCatalog)+")")
	wantMessage(t, err, "42501", "catalog")
	_, err = ops.Exec(ctx, "CREATE DATASOURCE evil TYPE sqlite OPTIONS (path "+sqlString(evil)+")")
	wantMessage(t, err, "42501", "only admin")
	_, err = ops.Exec(ctx, "CREATE DATASOURCE f TYPE file OPTIONS (path "+sqlString(t.TempDir())+")")
	wantMessage(t, err, "42501", "only admin")
	mustExec(t, ops, "SELECT 1") // the session stays usable

	// Admin is refused too, by every spelling of the gateway's files.
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(catalogPath, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ typ, path, why string }{
		{"sqlite", relCatalog, "is the gateway's catalog"},
		{"sqlite", catalogPath, "is the gateway's catalog"},
		{"sqlite", g.dir + "/staging/../flowgate.db", "is the gateway's catalog"},
		{"sqlite", link, "is the gateway's catalog"},
		{"sqlite", catalogPath + "-wal", "write-ahead log"},
		{"sqlite", catalogPath + "-shm", "shared memory"},
		{"sqlite", catalogPath + ".key", "secret key file"},
		{"sqlite", filepath.Join(g.dir, "staging", "x.db"), "staging directory"},
		{"file", g.dir, "contains the gateway's catalog"},
		{"file", filepath.Join(g.dir, "staging"), "is the gateway's staging directory"},
		{"file", filepath.Join(g.dir, "staging", "sub"), "lies inside the gateway's staging directory"},
		{"file", "/", "contains the gateway's catalog"},
	} {
		_, err := admin.Exec(ctx, "CREATE DATASOURCE cat TYPE "+c.typ+" OPTIONS (path "+sqlString(c.path)+")")
		wantMessage(t, err, "42501", c.why)
	}
	if n := count(t, admin, "SELECT count(*) FROM dataflow.datasources"); n != 0 {
		t.Fatalf("%d datasources were created", n)
	}

	// A legitimate sqlite datasource that is re-pointed: by ALTER (refused)
	// and by swapping a symlink under it (refused when opened).
	appDB := filepath.Join(t.TempDir(), "app.db")
	makeSQLiteDB(t, appDB, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
	current := filepath.Join(t.TempDir(), "current.db")
	if err := os.Symlink(appDB, current); err != nil {
		t.Fatal(err)
	}
	mustExec(t, admin, "CREATE DATASOURCE app TYPE sqlite OPTIONS (path "+sqlString(current)+")")
	if r := testDatasource(t, admin, "app"); !r.OK {
		t.Fatalf("TEST DATASOURCE app: %s", deref(r.Message))
	}
	_, err = ops.Exec(ctx, "ALTER DATASOURCE app SET OPTIONS (path "+sqlString(appDB)+")")
	wantMessage(t, err, "42501", "only admin")
	_, err = admin.Exec(ctx, "ALTER DATASOURCE app SET OPTIONS (path "+sqlString(catalogPath)+")")
	wantMessage(t, err, "42501", "catalog")
	if err := os.Remove(current); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(catalogPath, current); err != nil {
		t.Fatal(err)
	}
	_, err = admin.Exec(ctx, "IMPORT TABLES FROM app")
	wantMessage(t, err, "42501", `datasource "app" cannot be opened`, "catalog")
	_, err = admin.Exec(ctx, "TEST DATASOURCE app")
	wantMessage(t, err, "42501", "catalog")
	_, err = ops.Exec(ctx, "IMPORT TABLES FROM app")
	wantMessage(t, err, "42501", "catalog")

	var users int64
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM dataflow.users WHERE role = 'admin'").Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != 1 {
		t.Fatalf("%d admins, want 1", users)
	}
}

// A datasource written before the rule existed (here: put into the
// catalog while the gateway is stopped) cannot be opened and says why;
// it is otherwise left as it was.
func TestExistingDatasourceOnGatewayFilesCannotBeOpened(t *testing.T) {
	g := startGateway(t)
	admin := g.connect(t, "admin", pgx.QueryExecModeExec)
	appDB := filepath.Join(t.TempDir(), "app.db")
	makeSQLiteDB(t, appDB, "CREATE TABLE items (id INTEGER PRIMARY KEY)")
	mustExec(t, admin, "CREATE DATASOURCE old TYPE sqlite OPTIONS (path "+sqlString(appDB)+") COMMENT 'made long ago'")
	admin.Close(context.Background())
	g.stop()

	keyFile := filepath.Join(g.dir, "flowgate.db.key")
	db, err := sql.Open("sqlite3", filepath.Join(g.dir, "flowgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE datasources SET options = json_object('path', ?) WHERE name = 'old'`, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("updated %d rows", n)
	}
	db.Close()

	g.restart()
	admin = g.connect(t, "admin", pgx.QueryExecModeExec)
	_, err = admin.Exec(context.Background(), "IMPORT TABLES FROM old")
	wantMessage(t, err, "42501", `datasource "old" cannot be opened`, "secret key file")
	var status, comment, path string
	err = admin.QueryRow(context.Background(), "SELECT status, comment, options->>'path' FROM dataflow.datasources WHERE name = 'old'").Scan(&status, &comment, &path)
	if err != nil {
		t.Fatal(err)
	}
	if status != "normal" || comment != "made long ago" || path != keyFile {
		t.Fatalf("datasource changed: %s %s %s", status, comment, path)
	}
}

// Under --file-roots a manage user may create sqlite and file datasources
// inside a root, and not outside it (nor out of it through `..` or a
// symlink).
func TestFileRootsForManageUsers(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	inside := filepath.Join(root, "shop.db")
	makeSQLiteDB(t, inside, "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
	makeSQLiteDB(t, filepath.Join(outside, "x.db"), "CREATE TABLE t (id INTEGER PRIMARY KEY)")
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, "--file-roots", root)
	ctx := context.Background()
	admin := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, admin, "CREATE USER ops PASSWORD 'ops-pass-123' ROLE manage")
	ops := g.connect(t, "ops", pgx.QueryExecModeExec)

	mustExec(t, ops, "CREATE DATASOURCE shop TYPE sqlite OPTIONS (path "+sqlString(inside)+")")
	if r := testDatasource(t, ops, "shop"); !r.OK {
		t.Fatalf("TEST DATASOURCE shop: %s", deref(r.Message))
	}
	mustExec(t, ops, "CREATE DATASOURCE drop_zone TYPE file OPTIONS (path "+sqlString(root)+")")
	for _, p := range []string{
		filepath.Join(outside, "x.db"),
		filepath.Join(root, "..", "outside", "x.db"),
		filepath.Join(root, "escape", "x.db"),
	} {
		_, err := ops.Exec(ctx, "CREATE DATASOURCE out TYPE sqlite OPTIONS (path "+sqlString(p)+")")
		wantMessage(t, err, "42501", "outside the file roots")
	}
	_, err := ops.Exec(ctx, "ALTER DATASOURCE shop SET OPTIONS (path "+sqlString(filepath.Join(outside, "x.db"))+")")
	wantMessage(t, err, "42501", "outside the file roots")
	_, err = ops.Exec(ctx, "CREATE DATASOURCE up TYPE file OPTIONS (path "+sqlString(base)+")")
	wantMessage(t, err, "42501", "outside the file roots")
	// Admin is not bound by the roots.
	mustExec(t, admin, "CREATE DATASOURCE out TYPE sqlite OPTIONS (path "+sqlString(filepath.Join(outside, "x.db"))+")")
}

// FLOWGATE_FILE_ROOTS does what --file-roots does, and takes more than one
// root (comma- or colon-separated).
func TestFileRootsFromEnvironment(t *testing.T) {
	base := t.TempDir()
	first, second, outside := filepath.Join(base, "first"), filepath.Join(base, "second"), filepath.Join(base, "outside")
	for _, d := range []string{first, second, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	g := startGatewayEnv(t, []string{"FLOWGATE_FILE_ROOTS=" + first + "," + second})
	ctx := context.Background()
	admin := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, admin, "CREATE USER ops PASSWORD 'ops-pass-123' ROLE manage")
	ops := g.connect(t, "ops", pgx.QueryExecModeExec)

	mustExec(t, ops, "CREATE DATASOURCE a TYPE sqlite OPTIONS (path "+sqlString(filepath.Join(first, "a.db"))+")")
	mustExec(t, ops, "CREATE DATASOURCE b TYPE file OPTIONS (path "+sqlString(second)+")")
	_, err := ops.Exec(ctx, "CREATE DATASOURCE c TYPE sqlite OPTIONS (path "+sqlString(filepath.Join(outside, "c.db"))+")")
	wantMessage(t, err, "42501", "outside the file roots")
}

// A mysql datasource may not set the driver's allowAllFiles: with it the
// driver sends any file a server names in a LOCAL INFILE request, so a
// server the datasource's creator controls could read the gateway's
// catalog and key file. Refused at CREATE and ALTER for everyone, and a
// datasource stored with it earlier cannot be opened.
func TestMySQLAllowAllFilesRefused(t *testing.T) {
	g := startGateway(t)
	ctx := context.Background()
	admin := g.connect(t, "admin", pgx.QueryExecModeExec)
	for _, extparam := range []string{"allowAllFiles=true", "timeout=5s&allowAllFiles=1"} {
		_, err := admin.Exec(ctx, "CREATE DATASOURCE m TYPE mysql OPTIONS (host '127.0.0.1', database 'd', user 'u', extparam "+sqlString(extparam)+")")
		wantMessage(t, err, "22023", "allowAllFiles is refused")
	}
	mustExec(t, admin, "CREATE DATASOURCE m TYPE mysql OPTIONS (host '127.0.0.1', database 'd', user 'u', extparam 'allowAllFiles=false')")
	_, err := admin.Exec(ctx, "ALTER DATASOURCE m SET OPTIONS (extparam 'allowAllFiles=true')")
	wantMessage(t, err, "22023", "allowAllFiles is refused")
	admin.Close(ctx)
	g.stop()

	db, err := sql.Open("sqlite3", filepath.Join(g.dir, "flowgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE datasources SET options = json_set(options, '$.extparam', 'allowAllFiles=true') WHERE name = 'm'`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("updated %d rows", n)
	}
	db.Close()

	g.restart()
	admin = g.connect(t, "admin", pgx.QueryExecModeExec)
	if r := testDatasource(t, admin, "m"); r.OK || !strings.Contains(deref(r.Message), "allowAllFiles is refused") {
		t.Fatalf("TEST DATASOURCE of a stored allowAllFiles: ok=%v %q", r.OK, deref(r.Message))
	}
	_, err = admin.Exec(ctx, "IMPORT TABLES FROM m")
	if err == nil || !strings.Contains(err.Error(), "allowAllFiles is refused") {
		t.Fatalf("IMPORT TABLES from a stored allowAllFiles: %v", err)
	}
}
