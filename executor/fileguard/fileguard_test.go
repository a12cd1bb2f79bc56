package fileguard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// layout makes a gateway directory: catalog, key, staging, plus an
// outside directory, and returns the guard and the paths.
func layout(t *testing.T, roots ...string) (g *Guard, gw, outside string) {
	t.Helper()
	base := t.TempDir()
	gw = filepath.Join(base, "gw")
	outside = filepath.Join(base, "outside")
	for _, d := range []string{gw, filepath.Join(gw, "staging"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"flowgate.db", "flowgate.db-wal", "flowgate.db.key"} {
		if err := os.WriteFile(filepath.Join(gw, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	g, err := New(Paths{Catalog: filepath.Join(gw, "flowgate.db"), KeyFile: filepath.Join(gw, "flowgate.db.key"),
		StagingDir: filepath.Join(gw, "staging")}, roots)
	if err != nil {
		t.Fatal(err)
	}
	return g, gw, outside
}

func wantRefused(t *testing.T, err error, reason string) {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) || !r.Protected {
		t.Fatalf("err = %v, want a protected-path refusal", err)
	}
	if !strings.Contains(r.Reason, reason) {
		t.Fatalf("reason %q does not mention %q", r.Reason, reason)
	}
}

func TestCheckRefusesGatewayFiles(t *testing.T) {
	g, gw, outside := layout(t)
	link := filepath.Join(outside, "innocent.db")
	if err := os.Symlink(filepath.Join(gw, "flowgate.db"), link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(outside, "hard.db")
	if err := os.Link(filepath.Join(gw, "flowgate.db.key"), hard); err != nil {
		t.Fatal(err)
	}
	dirLink := filepath.Join(outside, "dirlink")
	if err := os.Symlink(gw, dirLink); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, filepath.Join(gw, "flowgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path   string
		kind   Kind
		reason string
	}{
		{filepath.Join(gw, "flowgate.db"), File, "is the gateway's catalog"},
		{filepath.Join(outside, "..", "gw", "flowgate.db"), File, "is the gateway's catalog"},
		{rel, File, "is the gateway's catalog"},
		{link, File, "is the gateway's catalog"},
		{filepath.Join(dirLink, "flowgate.db"), File, "is the gateway's catalog"},
		{hard, File, "is the gateway's secret key file"},
		{filepath.Join(gw, "flowgate.db-wal"), File, "write-ahead log"},
		{filepath.Join(gw, "flowgate.db-shm"), File, "shared memory"}, // need not exist yet
		{filepath.Join(gw, "staging", "run1", "part.csv"), File, "lies inside the gateway's staging directory"},
		{filepath.Join(gw, "staging"), Dir, "is the gateway's staging directory"},
		{filepath.Join(gw, "staging", "x"), Dir, "lies inside the gateway's staging directory"},
		{gw, Dir, "contains the gateway's catalog"},
		{dirLink, Dir, "contains the gateway's catalog"},
		{"/", Dir, "contains"},
	}
	for _, c := range cases {
		wantRefused(t, g.Check(c.path, c.kind), c.reason)
	}
	for _, ok := range []struct {
		path string
		kind Kind
	}{
		{filepath.Join(outside, "app.db"), File},
		{filepath.Join(gw, "other.db"), File}, // next to the catalog is fine for one file
		{outside, Dir},
		{filepath.Join(gw, "flowgate.db-walnut"), File},
	} {
		if err := g.Check(ok.path, ok.kind); err != nil {
			t.Errorf("Check(%s) = %v, want allowed", ok.path, err)
		}
	}
}

func TestCheckSeesSwappedSymlink(t *testing.T) {
	g, gw, outside := layout(t)
	target := filepath.Join(outside, "app.db")
	os.WriteFile(target, nil, 0o600)
	link := filepath.Join(outside, "current.db")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := g.Check(link, File); err != nil {
		t.Fatalf("before the swap: %v", err)
	}
	os.Remove(link)
	if err := os.Symlink(filepath.Join(gw, "flowgate.db"), link); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, g.Check(link, File), "catalog")
}

func TestInRoots(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	escape := filepath.Join(root, "escape")
	if err := os.Symlink(base, escape); err != nil {
		t.Fatal(err)
	}
	g, _, _ := layout(t, root)
	for _, p := range []string{filepath.Join(root, "a.db"), filepath.Join(root, "sub", "b.db"), root} {
		if err := g.InRoots(p); err != nil {
			t.Errorf("InRoots(%s) = %v", p, err)
		}
	}
	for _, p := range []string{filepath.Join(base, "a.db"), filepath.Join(root, "..", "a.db"), filepath.Join(escape, "a.db"), root + "x/a.db"} {
		var r *Refusal
		if err := g.InRoots(p); !errors.As(err, &r) || r.Protected {
			t.Errorf("InRoots(%s) = %v, want outside the roots", p, err)
		}
	}
	var none *Guard
	if err := none.InRoots(root); err == nil {
		t.Error("a nil guard has no roots")
	}
	if _, err := New(Paths{}, []string{"relative/dir"}); err == nil {
		t.Error("a relative root must be refused")
	}
}
