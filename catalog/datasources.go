package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// Datasource statuses.
const (
	StatusNormal   = "normal"
	StatusRecycled = "recycled"
)

// Masked is what every view shows instead of a secret value.
const Masked = "********"

// Datasource is one row of the datasources table with secrets opened.
type Datasource struct {
	Name    string
	Type    string
	Status  string
	Options map[string]string // secrets included, in clear: never log this
	Comment *string
}

// CreateDatasource stores a datasource; secret names which option keys are
// sealed and masked.
func (c *Catalog) CreateDatasource(ctx context.Context, d Datasource, secret func(string) bool) error {
	masked, sealed, err := c.splitSecrets(d.Options, secret)
	if err != nil {
		return err
	}
	now := Now()
	_, err = c.w.ExecContext(ctx, `INSERT INTO datasources (name, type, status, options, secrets, comment, created_at, updated_at)
		VALUES (?, ?, 'normal', ?, ?, ?, ?, ?)`, d.Name, d.Type, masked, sealed, d.Comment, now, now)
	if isUniqueViolation(err) {
		return ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("create datasource %s: %w", d.Name, err)
	}
	return nil
}

func (c *Catalog) splitSecrets(opts map[string]string, secret func(string) bool) (masked string, sealed []byte, err error) {
	shown := make(map[string]string, len(opts))
	hidden := map[string]string{}
	for k, v := range opts {
		if secret(k) {
			hidden[k] = v
			shown[k] = Masked
		} else {
			shown[k] = v
		}
	}
	mj, err := json.Marshal(shown)
	if err != nil {
		return "", nil, fmt.Errorf("encode options: %w", err)
	}
	if len(hidden) > 0 {
		hj, err := json.Marshal(hidden)
		if err != nil {
			return "", nil, fmt.Errorf("encode secrets: %w", err)
		}
		if sealed, err = c.sealer.Seal(hj); err != nil {
			return "", nil, err
		}
	}
	return string(mj), sealed, nil
}

// GetDatasource loads one datasource by name, whatever its status.
func (c *Catalog) GetDatasource(ctx context.Context, name string) (*Datasource, error) {
	var (
		d       Datasource
		opts    string
		secrets []byte
		comment sql.NullString
	)
	err := c.r.QueryRowContext(ctx, `SELECT name, type, status, options, secrets, comment FROM datasources WHERE name = ?`, name).
		Scan(&d.Name, &d.Type, &d.Status, &opts, &secrets, &comment)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load datasource %s: %w", name, err)
	}
	if comment.Valid {
		d.Comment = &comment.String
	}
	if err := json.Unmarshal([]byte(opts), &d.Options); err != nil {
		return nil, fmt.Errorf("datasource %s: decode options: %w", name, err)
	}
	if len(secrets) > 0 {
		plain, err := c.sealer.Open(secrets)
		if err != nil {
			return nil, fmt.Errorf("datasource %s: %w", name, err)
		}
		hidden := map[string]string{}
		if err := json.Unmarshal(plain, &hidden); err != nil {
			return nil, fmt.Errorf("datasource %s: decode secrets: %w", name, err)
		}
		for k, v := range hidden {
			d.Options[k] = v
		}
	}
	return &d, nil
}

// SetDatasourceOptions replaces the options of a datasource.
func (c *Catalog) SetDatasourceOptions(ctx context.Context, name string, opts map[string]string, secret func(string) bool) error {
	masked, sealed, err := c.splitSecrets(opts, secret)
	if err != nil {
		return err
	}
	return c.updateOne(ctx, `UPDATE datasources SET options = ?, secrets = ?, updated_at = ? WHERE name = ?`,
		masked, sealed, Now(), name)
}

// RenameDatasource renames; ErrDuplicate when newName is taken.
func (c *Catalog) RenameDatasource(ctx context.Context, name, newName string) error {
	err := c.updateOne(ctx, `UPDATE datasources SET name = ?, updated_at = ? WHERE name = ?`, newName, Now(), name)
	if isUniqueViolation(err) {
		return ErrDuplicate
	}
	return err
}

// CommentDatasource sets or clears (nil) the comment.
func (c *Catalog) CommentDatasource(ctx context.Context, name string, comment *string) error {
	return c.updateOne(ctx, `UPDATE datasources SET comment = ?, updated_at = ? WHERE name = ?`, comment, Now(), name)
}

// SetDatasourceStatus moves a datasource in or out of the recycle bin.
func (c *Catalog) SetDatasourceStatus(ctx context.Context, name, status string) error {
	return c.updateOne(ctx, `UPDATE datasources SET status = ?, updated_at = ? WHERE name = ?`, status, Now(), name)
}

// PurgeDatasource deletes a datasource for good.
func (c *Catalog) PurgeDatasource(ctx context.Context, name string) error {
	return c.updateOne(ctx, `DELETE FROM datasources WHERE name = ?`, name)
}

func (c *Catalog) updateOne(ctx context.Context, query string, args ...any) error {
	res, err := c.w.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
