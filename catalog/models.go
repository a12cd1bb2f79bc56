package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/flowgate/flowgate/connectors/schema"
)

// Model is a table model: the catalog's copy of a table's structure.
type Model struct {
	Schema        string
	Name          string
	Title         *string
	CaseSensitive bool
	Comment       *string
	Dialect       string       // the dialect Columns' native types are spelled in
	Table         schema.Table // columns, key, indexes (Schema/Name mirror the model's)
	CreatedAt     string
	UpdatedAt     string
}

// ErrAmbiguous is returned when an unqualified model name exists in several
// schemas.
var ErrAmbiguous = errors.New("ambiguous table model name")

// Import outcomes reported per table.
const (
	ModelCreated   = "created"
	ModelUpdated   = "updated"
	ModelUnchanged = "unchanged"
)

// ResolveModel finds the schema of a model named name when schemaName is
// empty; ErrNotFound or ErrAmbiguous (with the schemas) otherwise.
func (c *Catalog) ResolveModel(ctx context.Context, schemaName, name string) (string, error) {
	if schemaName != "" {
		var one int
		err := c.r.QueryRowContext(ctx, `SELECT 1 FROM table_models WHERE schema_name = ? AND name = ?`, schemaName, name).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return "", ErrNotFound
		}
		if err != nil {
			return "", fmt.Errorf("find table model %s.%s: %w", schemaName, name, err)
		}
		return schemaName, nil
	}
	rows, err := c.r.QueryContext(ctx, `SELECT schema_name FROM table_models WHERE name = ? ORDER BY schema_name`, name)
	if err != nil {
		return "", fmt.Errorf("find table model %s: %w", name, err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", err
		}
		found = append(found, s)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", ErrNotFound
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%w: %s exists in schemas %s", ErrAmbiguous, name, strings.Join(found, ", "))
}

// GetModel loads a model by schema and name.
func (c *Catalog) GetModel(ctx context.Context, schemaName, name string) (*Model, error) {
	return getModel(ctx, c.r, schemaName, name)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func getModel(ctx context.Context, q querier, schemaName, name string) (*Model, error) {
	var (
		m         Model
		title     sql.NullString
		comment   sql.NullString
		structure string
	)
	err := q.QueryRowContext(ctx, `SELECT schema_name, name, title, case_sensitive, comment, dialect, structure, created_at, updated_at
		FROM table_models WHERE schema_name = ? AND name = ?`, schemaName, name).
		Scan(&m.Schema, &m.Name, &title, &m.CaseSensitive, &comment, &m.Dialect, &structure, &m.CreatedAt, &m.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load table model %s.%s: %w", schemaName, name, err)
	}
	if title.Valid {
		m.Title = &title.String
	}
	if comment.Valid {
		m.Comment = &comment.String
	}
	if err := json.Unmarshal([]byte(structure), &m.Table); err != nil {
		return nil, fmt.Errorf("table model %s.%s: decode structure: %w", schemaName, name, err)
	}
	return &m, nil
}

// CreateModel stores a new model (ErrDuplicate when schema.name exists).
func (c *Catalog) CreateModel(ctx context.Context, m *Model) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		_, err := insertModel(ctx, tx, m)
		return err
	})
}

func insertModel(ctx context.Context, tx *sql.Tx, m *Model) (int64, error) {
	structure, err := encodeStructure(m)
	if err != nil {
		return 0, err
	}
	now := Now()
	res, err := tx.ExecContext(ctx, `INSERT INTO table_models (schema_name, name, title, case_sensitive, comment, dialect, structure, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.Schema, m.Name, m.Title, m.CaseSensitive, m.Comment, m.Dialect, structure, now, now)
	if isUniqueViolation(err) {
		return 0, ErrDuplicate
	}
	if err != nil {
		return 0, fmt.Errorf("create table model %s.%s: %w", m.Schema, m.Name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	return id, writeColumns(ctx, tx, id, m)
}

func encodeStructure(m *Model) (string, error) {
	m.Table.Schema, m.Table.Name = m.Schema, m.Name
	b, err := json.Marshal(m.Table)
	if err != nil {
		return "", fmt.Errorf("encode table model: %w", err)
	}
	return string(b), nil
}

// writeColumns replaces the flattened column rows of model id.
func writeColumns(ctx context.Context, tx *sql.Tx, id int64, m *Model) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM model_columns WHERE model_id = ?`, id); err != nil {
		return fmt.Errorf("replace model columns: %w", err)
	}
	pk := map[string]bool{}
	for _, k := range m.Table.PrimaryKey {
		pk[k] = true
	}
	for i, col := range m.Table.Columns {
		length, precision, scale := typeNumbers(col.Type)
		var def *string
		switch col.DefaultKind {
		case schema.DefaultNone:
		case schema.DefaultCurrentTS:
			s := "CURRENT_TIMESTAMP"
			if col.Default != "" {
				s += "(" + col.Default + ")"
			}
			def = &s
		case schema.DefaultNull:
			s := "NULL"
			def = &s
		default:
			s := col.Default
			def = &s
		}
		var comment *string
		if col.Comment != "" {
			comment = &col.Comment
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO model_columns (model_id, ordinal, name, type, kind, length, precision, scale,
			nullable, primary_key, default_value, auto_increment, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, i+1, col.Name, col.Type.Native, string(col.Type.Kind), length, precision, scale,
			col.Nullable, pk[col.Name], def, col.AutoIncrement, comment)
		if isUniqueViolation(err) {
			return fmt.Errorf("column %q appears twice: %w", col.Name, ErrDuplicate)
		}
		if err != nil {
			return fmt.Errorf("write model column %s: %w", col.Name, err)
		}
	}
	return nil
}

// typeNumbers returns the length, precision and scale a view shows for t
// (NULL where the type has none).
func typeNumbers(t schema.Type) (length, precision, scale *int64) {
	n := func(v int) *int64 { x := int64(v); return &x }
	switch t.Kind {
	case schema.Char, schema.Varchar, schema.Binary, schema.Varbinary, schema.Bit, schema.Text, schema.Blob:
		if t.Length > 0 {
			length = n(t.Length)
		}
	case schema.Decimal:
		if t.Precision > 0 {
			precision, scale = n(t.Precision), n(t.Scale)
		}
	case schema.Time, schema.Timestamp, schema.TimestampTZ:
		precision = n(t.Precision)
	case schema.Int8:
		precision, scale = n(3), n(0)
	case schema.Int16:
		precision, scale = n(5), n(0)
	case schema.Int24:
		precision, scale = n(7), n(0)
	case schema.Int32:
		precision, scale = n(10), n(0)
	case schema.Int64:
		precision, scale = n(19), n(0)
	case schema.Float32:
		precision = n(24)
	case schema.Float64:
		precision = n(53)
	}
	return
}

// UpdateModel loads schema.name, lets change edit it and stores the result,
// all in one write transaction so concurrent edits never interleave.
func (c *Catalog) UpdateModel(ctx context.Context, schemaName, name string, change func(m *Model) error) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		m, err := getModel(ctx, tx, schemaName, name)
		if err != nil {
			return err
		}
		if err := change(m); err != nil {
			return err
		}
		return saveModel(ctx, tx, schemaName, name, m)
	})
}

func saveModel(ctx context.Context, tx *sql.Tx, schemaName, name string, m *Model) error {
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM table_models WHERE schema_name = ? AND name = ?`, schemaName, name).Scan(&id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	}
	structure, err := encodeStructure(m)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE table_models SET schema_name = ?, name = ?, title = ?, case_sensitive = ?, comment = ?,
		dialect = ?, structure = ?, updated_at = ? WHERE id = ?`,
		m.Schema, m.Name, m.Title, m.CaseSensitive, m.Comment, m.Dialect, structure, Now(), id)
	if isUniqueViolation(err) {
		return ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("update table model %s.%s: %w", schemaName, name, err)
	}
	return writeColumns(ctx, tx, id, m)
}

// ImportModel stores a structure read from datasource ds: it creates the
// model, or replaces the structure of an existing one, and associates it
// with ds as imported. It reports created, updated or unchanged.
func (c *Catalog) ImportModel(ctx context.Context, ds string, t schema.Table) (string, error) {
	outcome := ModelUnchanged
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		dsID, err := datasourceID(ctx, tx, ds)
		if err != nil {
			return err
		}
		m, err := getModel(ctx, tx, t.Schema, t.Name)
		var id int64
		switch {
		case errors.Is(err, ErrNotFound):
			outcome = ModelCreated
			m = &Model{Schema: t.Schema, Name: t.Name, Dialect: t.Dialect, Table: t}
			if t.Comment != "" {
				cm := t.Comment
				m.Comment = &cm
			}
			if id, err = insertModel(ctx, tx, m); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if !sameStructure(m.Table, t) || m.Dialect != t.Dialect {
				outcome = ModelUpdated
				m.Table, m.Dialect = t, t.Dialect
				if t.Comment != "" {
					cm := t.Comment
					m.Comment = &cm
				}
				if err := saveModel(ctx, tx, t.Schema, t.Name, m); err != nil {
					return err
				}
			}
			if err := tx.QueryRowContext(ctx, `SELECT id FROM table_models WHERE schema_name = ? AND name = ?`, t.Schema, t.Name).Scan(&id); err != nil {
				return err
			}
		}
		now := Now()
		_, err = tx.ExecContext(ctx, `INSERT INTO model_datasources (model_id, datasource_id, origin, state, associated_at, refreshed_at)
			VALUES (?, ?, 'imported', 'current', ?, ?)
			ON CONFLICT (model_id, datasource_id) DO UPDATE SET state = 'current', refreshed_at = excluded.refreshed_at`,
			id, dsID, now, now)
		if err != nil {
			return fmt.Errorf("associate %s.%s with %s: %w", t.Schema, t.Name, ds, err)
		}
		return nil
	})
	return outcome, err
}

func sameStructure(a, b schema.Table) bool {
	a.Schema, b.Schema = "", ""
	return reflect.DeepEqual(a, b)
}

// MarkDroppedAtSource records that REFRESH found the model's table gone
// from datasource ds; the model is kept (jobs may still name it).
func (c *Catalog) MarkDroppedAtSource(ctx context.Context, ds, schemaName, name string) error {
	return c.updateOne(ctx, `UPDATE model_datasources SET state = 'dropped_at_source', refreshed_at = ?
		WHERE datasource_id = (SELECT id FROM datasources WHERE name = ?)
		  AND model_id = (SELECT id FROM table_models WHERE schema_name = ? AND name = ?)`, Now(), ds, schemaName, name)
}

// ModelRef names a model associated with a datasource.
type ModelRef struct {
	Schema, Name, Origin, State string
}

// DatasourceModels lists the models associated with datasource ds.
func (c *Catalog) DatasourceModels(ctx context.Context, ds string) ([]ModelRef, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT m.schema_name, m.name, md.origin, md.state
		FROM model_datasources md JOIN table_models m ON m.id = md.model_id
		JOIN datasources d ON d.id = md.datasource_id WHERE d.name = ? ORDER BY m.schema_name, m.name`, ds)
	if err != nil {
		return nil, fmt.Errorf("list models of %s: %w", ds, err)
	}
	defer rows.Close()
	var out []ModelRef
	for rows.Next() {
		var r ModelRef
		if err := rows.Scan(&r.Schema, &r.Name, &r.Origin, &r.State); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DropModel deletes a model and its associations.
func (c *Catalog) DropModel(ctx context.Context, schemaName, name string) error {
	return c.updateOne(ctx, `DELETE FROM table_models WHERE schema_name = ? AND name = ?`, schemaName, name)
}

// AssociateModel associates a model with datasource ds by hand;
// ErrDuplicate when it already is.
func (c *Catalog) AssociateModel(ctx context.Context, schemaName, name, ds string) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		dsID, err := datasourceID(ctx, tx, ds)
		if err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM table_models WHERE schema_name = ? AND name = ?`, schemaName, name).Scan(&id); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO model_datasources (model_id, datasource_id, origin, state, associated_at)
			VALUES (?, ?, 'associated', 'current', ?)`, id, dsID, Now())
		if isUniqueViolation(err) {
			return ErrDuplicate
		}
		return err
	})
}

// DissociateModel removes the association; ErrNotFound when there is none.
func (c *Catalog) DissociateModel(ctx context.Context, schemaName, name, ds string) error {
	return c.updateOne(ctx, `DELETE FROM model_datasources
		WHERE model_id = (SELECT id FROM table_models WHERE schema_name = ? AND name = ?)
		  AND datasource_id = (SELECT id FROM datasources WHERE name = ?)`, schemaName, name, ds)
}

func datasourceID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM datasources WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("datasource %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("find datasource %s: %w", name, err)
	}
	return id, nil
}

// inTx runs fn in one write transaction.
func (c *Catalog) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin catalog transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit catalog transaction: %w", err)
	}
	return nil
}
