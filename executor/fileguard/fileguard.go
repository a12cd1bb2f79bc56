// Package fileguard decides which host paths sqlite and file datasources may
// point at. The gateway's own files (catalog, its -wal/-shm, the secret key,
// the staging directory) are never reachable through a datasource, whoever
// asks: a datasource on them would let a user read every secret or write
// users into the catalog. Non-admin users may use paths only under the
// configured file roots.
package fileguard

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Kind says what a path option names.
type Kind int

const (
	// File is a single file (a sqlite database).
	File Kind = iota + 1
	// Dir is a directory whose whole tree is reachable (a file datasource).
	Dir
)

// protected is one of the gateway's own paths.
type protected struct {
	path string // resolved, absolute
	what string // "the catalog", ...
	dir  bool   // everything inside is protected too
}

// Guard holds the resolved protected paths and file roots.
type Guard struct {
	protected []protected
	roots     []string
}

// Paths are the gateway's own files; empty ones are left out.
type Paths struct {
	Catalog    string
	KeyFile    string
	StagingDir string
}

// New resolves the gateway's paths and the file roots once; Check resolves
// them again only when they did not exist yet at start.
func New(p Paths, roots []string) (*Guard, error) {
	g := &Guard{}
	add := func(path, what string, dir bool) {
		if path == "" || path == ":memory:" {
			return
		}
		g.protected = append(g.protected, protected{path: Resolve(path), what: what, dir: dir})
	}
	add(p.Catalog, "the gateway's catalog", false)
	if p.Catalog != "" {
		add(p.Catalog+"-wal", "the gateway's catalog write-ahead log", false)
		add(p.Catalog+"-shm", "the gateway's catalog shared memory file", false)
		add(p.Catalog+"-journal", "the gateway's catalog journal", false)
	}
	add(p.KeyFile, "the gateway's secret key file", false)
	add(p.StagingDir, "the gateway's staging directory", true)
	for _, r := range roots {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("file root %q: must be an absolute path", r)
		}
		st, err := os.Stat(r)
		if err != nil {
			return nil, fmt.Errorf("file root: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("file root %s is not a directory", r)
		}
		g.roots = append(g.roots, Resolve(r))
	}
	return g, nil
}

// Roots lists the resolved file roots.
func (g *Guard) Roots() []string {
	if g == nil {
		return nil
	}
	return g.roots
}

// Resolve makes p absolute (against the working directory), cleans `..`
// and follows every symlink of the longest existing prefix; the part that
// does not exist yet is appended as written.
func Resolve(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = filepath.Clean(p)
	}
	rest := ""
	cur := abs
	for {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// within reports whether p is dir or lies inside it (both resolved).
func within(p, dir string) bool {
	if p == dir {
		return true
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// Refusal is why a path may not be used.
type Refusal struct {
	Path     string // as given
	Resolved string
	Reason   string // "is the gateway's catalog", "is outside the file roots ..."
	// Protected is true for the gateway's own files (refused for everyone),
	// false for a path outside the file roots (refused for non-admins).
	Protected bool
}

func (r *Refusal) Error() string {
	if r.Resolved != r.Path {
		return fmt.Sprintf("path %q resolves to %s, which %s", r.Path, r.Resolved, r.Reason)
	}
	return fmt.Sprintf("path %q %s", r.Path, r.Reason)
}

// Check refuses a path that resolves to, or (for a Dir) is, contains or
// lies inside, one of the gateway's own files. It is run when a
// datasource is created or altered and again each time it is opened,
// since a symlink on the way can change in between.
func (g *Guard) Check(path string, kind Kind) error {
	if g == nil {
		return nil
	}
	r := Resolve(path)
	var st fs.FileInfo
	if kind == File {
		st, _ = os.Stat(r)
	}
	for _, p := range g.protected {
		reason := ""
		switch {
		case kind == Dir && within(r, p.path):
			reason = "is " + p.what
			if r != p.path {
				reason = "lies inside " + p.what
			}
		case kind == Dir && within(p.path, r):
			reason = "contains " + p.what
		case kind == File && p.dir && within(r, p.path):
			reason = "lies inside " + p.what
		case kind == File && !p.dir && (r == p.path || (st != nil && sameFile(st, p.path))): // a hard link is the same file
			reason = "is " + p.what
		}
		if reason != "" {
			return &Refusal{Path: path, Resolved: r, Reason: reason, Protected: true}
		}
	}
	return nil
}

func sameFile(st fs.FileInfo, path string) bool {
	o, err := os.Stat(path)
	return err == nil && os.SameFile(st, o)
}

// InRoots reports nil when path resolves under one of the file roots, and
// a *Refusal otherwise (also when no roots are set).
func (g *Guard) InRoots(path string) error {
	r := Resolve(path)
	if g != nil {
		for _, root := range g.roots {
			if within(r, root) {
				return nil
			}
		}
	}
	return &Refusal{Path: path, Resolved: r, Reason: "is outside the file roots"}
}
