package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// User roles, strongest first.
const (
	RoleAdmin    = "admin"
	RoleManage   = "manage"
	RoleReadonly = "readonly"
)

// User is one catalog user.
type User struct {
	Name string
	Role string
	// SCRAMVerifier is empty when the user has no password (trust only).
	SCRAMVerifier string
}

// GetUser loads a user by name.
func (c *Catalog) GetUser(ctx context.Context, name string) (*User, error) {
	var (
		u User
		v sql.NullString
	)
	err := c.r.QueryRowContext(ctx, `SELECT name, role, scram_verifier FROM users WHERE name = ?`, name).Scan(&u.Name, &u.Role, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load user %s: %w", name, err)
	}
	u.SCRAMVerifier = v.String
	return &u, nil
}

// CreateUser adds a user; ErrDuplicate when the name is taken.
func (c *Catalog) CreateUser(ctx context.Context, u User) error {
	now := Now()
	_, err := c.w.ExecContext(ctx, `INSERT INTO users (name, role, scram_verifier, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		u.Name, u.Role, nullIfEmpty(u.SCRAMVerifier), now, now)
	if isUniqueViolation(err) {
		return ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

// SetUserVerifier changes a user's password verifier.
func (c *Catalog) SetUserVerifier(ctx context.Context, name, verifier string) error {
	return c.updateOne(ctx, `UPDATE users SET scram_verifier = ?, updated_at = ? WHERE name = ?`, nullIfEmpty(verifier), Now(), name)
}

// SetUserRole changes a user's role. ErrLastAdmin when it would leave no admin.
func (c *Catalog) SetUserRole(ctx context.Context, name, role string) error {
	if role != RoleAdmin {
		if err := c.keepOneAdmin(ctx, name); err != nil {
			return err
		}
	}
	return c.updateOne(ctx, `UPDATE users SET role = ?, updated_at = ? WHERE name = ?`, role, Now(), name)
}

// ErrLastAdmin protects the catalog from locking everyone out.
var ErrLastAdmin = errors.New("cannot remove the last admin user")

// DropUser deletes a user.
func (c *Catalog) DropUser(ctx context.Context, name string) error {
	if err := c.keepOneAdmin(ctx, name); err != nil {
		return err
	}
	return c.updateOne(ctx, `DELETE FROM users WHERE name = ?`, name)
}

func (c *Catalog) keepOneAdmin(ctx context.Context, name string) error {
	var others int
	var isAdmin bool
	err := c.r.QueryRowContext(ctx, `SELECT
		coalesce(sum(role = 'admin' AND name <> ?), 0),
		coalesce(max(role = 'admin' AND name = ?), 0) FROM users`, name, name).Scan(&others, &isAdmin)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if isAdmin && others == 0 {
		return ErrLastAdmin
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
