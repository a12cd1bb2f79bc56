package testbed

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Initialising a data directory (initdb, mariadb-install-db) is the slow part
// of a startup, and every test binary would repeat it. So the first one
// builds a template under the user's cache directory, keyed by the binary
// and the arguments, and later ones copy it.

// EnvNoCache, set to anything, turns the template cache off.
const EnvNoCache = "FLOWGATE_TESTBED_NOCACHE"

// templateDir returns a data directory template made by initialise, building
// it when missing (built is then true). initialise gets a path to create.
// dir is empty when there is no usable cache directory; the caller then
// initialises in place.
func templateDir(kind, bin string, args []string, initialise func(dir string) error) (dir string, built bool, err error) {
	if os.Getenv(EnvNoCache) != "" {
		return "", false, nil
	}
	root, err := os.UserCacheDir()
	if err != nil {
		return "", false, nil
	}
	st, err := os.Stat(bin)
	if err != nil {
		return "", false, fmt.Errorf("stat %s: %w", bin, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%s", bin, st.Size(), st.ModTime().UnixNano(), strings.Join(args, "\x00"))
	final := filepath.Join(root, "flowgate-testbed", kind+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(final, "ok")); err == nil {
		return filepath.Join(final, "data"), false, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", false, nil
	}
	// Build beside the final place and rename, so a concurrent test binary
	// never sees half a template.
	tmp, err := os.MkdirTemp(filepath.Dir(final), kind+"-build-")
	if err != nil {
		return "", false, nil
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", false, err
	}
	if err := initialise(filepath.Join(tmp, "data")); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "ok"), nil, 0o644); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another binary won the race; its template is as good as ours.
		if _, statErr := os.Stat(filepath.Join(final, "ok")); statErr != nil {
			return "", false, fmt.Errorf("install template: %w", err)
		}
	}
	return filepath.Join(final, "data"), true, nil
}

// copyTree copies a data directory (regular files, directories, symlinks),
// keeping modes, and hands it to u.
func copyTree(src, dst string, u *runAs) error {
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case info.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		}
		return nil // sockets, pid files and the like are not part of a template
	})
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return chownTree(dst, u)
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
