package executor

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/executor/fileguard"
	"github.com/jackc/pgx/v5/pgconn"
)

func guardKind(k connectors.PathKind) fileguard.Kind {
	if k == connectors.PathDir {
		return fileguard.Dir
	}
	return fileguard.File
}

// checkHostPaths applies the host-path rules to the options a CREATE or
// ALTER DATASOURCE sets (set: the keys given in the statement): only admin
// may point a datasource at the host's files, unless file roots are set and
// the path lies under one; nobody may reach the gateway's own files.
func (s *Session) checkHostPaths(t connectors.Type, opts map[string]string, set map[string]string) error {
	paths := t.HostPaths(opts)
	names := make([]string, 0, len(paths))
	for name := range paths {
		if _, given := set[name]; given {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	s.mu.Lock()
	role := s.role
	s.mu.Unlock()
	for _, name := range names {
		p := opts[name]
		if err := s.ex.guard.Check(p, guardKind(paths[name])); err != nil {
			return protectedPathErr(err)
		}
		if role == catalog.RoleAdmin {
			continue
		}
		if len(s.ex.guard.Roots()) == 0 {
			return withHint(pgErr(codeInsufficientPriv, "permission denied: only admin may point a %s datasource at a path on the gateway's host (user %q has role %s)", t.Name, s.user, role),
				"Ask an admin to create it, or start the gateway with --file-roots (FLOWGATE_FILE_ROOTS) listing the directories manage users may use.")
		}
		if err := s.ex.guard.InRoots(p); err != nil {
			return withHint(pgErr(codeInsufficientPriv, "permission denied: %v", err),
				"Manage users may use paths under the file roots: "+strings.Join(s.ex.guard.Roots(), ", ")+".")
		}
	}
	return nil
}

func protectedPathErr(err error) *pgconn.PgError {
	return withHint(pgErr(codeInsufficientPriv, "permission denied: %v", err),
		"Datasources may not reach the gateway's own files (catalog, its -wal/-shm, the secret key file, the staging directory); choose a path elsewhere.")
}

// checkOpenPaths runs the protected-path rule again when a datasource is
// opened: a symlink may have been swapped since CREATE, and datasources
// made before the rule existed are refused here with the reason.
func (e *Executor) checkOpenPaths(d *catalog.Datasource, t connectors.Type) error {
	paths := t.HostPaths(d.Options)
	names := make([]string, 0, len(paths))
	for name := range paths {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := e.guard.Check(d.Options[name], guardKind(paths[name])); err != nil {
			var r *fileguard.Refusal
			if errors.As(err, &r) {
				return withHint(pgErr(codeInsufficientPriv, "datasource %q cannot be opened: %v", d.Name, err),
					fmt.Sprintf("Datasources may not reach the gateway's own files; ALTER DATASOURCE %s SET OPTIONS (%s '...') to another path, or DROP it.", d.Name, name))
			}
			return err
		}
	}
	return nil
}
