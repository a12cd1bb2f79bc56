package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/connectors/schema"
)

var _ schema.Introspector = (*Conn)(nil)

// DefaultSchema is SQLite's main database; other schema names are ignored.
func (c *Conn) DefaultSchema() string { return "main" }

// ListTables lists the tables of the database file, without SQLite's own.
func (c *Conn) ListTables(ctx context.Context, _ string) ([]string, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// DescribeTables reads the named tables' structure with the table-valued
// pragma functions.
func (c *Conn) DescribeTables(ctx context.Context, _ string, names []string) ([]schema.Table, error) {
	out := make([]schema.Table, 0, len(names))
	for _, name := range names {
		t, err := c.describe(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("describe %s: %w", name, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func (c *Conn) describe(ctx context.Context, name string) (schema.Table, error) {
	t := schema.Table{Name: name, Dialect: schema.SQLite}
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		return t, err
	}
	if n == 0 {
		return t, fmt.Errorf("table %s: %w", name, schema.ErrTableNotFound)
	}
	rows, err := c.db.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid`, name)
	if err != nil {
		return t, fmt.Errorf("columns: %w", err)
	}
	pk := map[int]string{}
	for rows.Next() {
		var (
			col         schema.Column
			declared    string
			notNull     bool
			def         sql.NullString
			pkPos, hide int
		)
		if err := rows.Scan(&col.Name, &declared, &notNull, &def, &pkPos, &hide); err != nil {
			rows.Close()
			return t, fmt.Errorf("columns: %w", err)
		}
		if hide == 1 { // hidden column of a virtual table
			continue
		}
		col.Type = ParseType(declared)
		col.Nullable = !notNull && pkPos == 0
		if pkPos > 0 {
			pk[pkPos] = col.Name
		}
		if def.Valid {
			col.DefaultKind, col.Default = parseDefault(def.String, col.Type)
		}
		t.Columns = append(t.Columns, col)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("columns: %w", err)
	}
	for i := 1; i <= len(pk); i++ {
		t.PrimaryKey = append(t.PrimaryKey, pk[i])
	}
	// A lone INTEGER PRIMARY KEY is the rowid: SQLite assigns it, so it
	// counts as auto-increment.
	if len(t.PrimaryKey) == 1 {
		col, _ := t.Column(t.PrimaryKey[0])
		if strings.EqualFold(strings.TrimSpace(col.Type.Native), "integer") {
			col.AutoIncrement = true
			col.DefaultKind, col.Default = schema.DefaultNone, ""
			if err := c.nextRowid(ctx, &t, col.Name); err != nil {
				return t, err
			}
		}
	}
	if err := c.indexes(ctx, &t); err != nil {
		return t, err
	}
	if err := c.foreignKeys(ctx, &t); err != nil {
		return t, err
	}
	if err := c.onUpdateTriggers(ctx, &t); err != nil {
		return t, err
	}
	return t, nil
}

// foreignKeys reads pragma_foreign_key_list: SQLite keeps no constraint
// names there, so the keys are unnamed (targets name them).
func (c *Conn) foreignKeys(ctx context.Context, t *schema.Table) error {
	rows, err := c.db.QueryContext(ctx, `SELECT id, "table", "from", coalesce("to", ''), on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq`, t.Name)
	if err != nil {
		return fmt.Errorf("foreign keys: %w", err)
	}
	defer rows.Close()
	last := -1
	for rows.Next() {
		var (
			id                      int
			ref, from, to, upd, del string
		)
		if err := rows.Scan(&id, &ref, &from, &to, &upd, &del); err != nil {
			return fmt.Errorf("foreign keys: %w", err)
		}
		if id != last {
			t.ForeignKeys = append(t.ForeignKeys, schema.ForeignKey{RefTable: ref, OnDelete: schema.Action(del), OnUpdate: schema.Action(upd)})
			last = id
		}
		fk := &t.ForeignKeys[len(t.ForeignKeys)-1]
		fk.Columns = append(fk.Columns, from)
		fk.RefColumns = append(fk.RefColumns, to)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// pragma_foreign_key_list lists keys last first.
	slices.Reverse(t.ForeignKeys)
	// A key that names no parent columns refers to the parent's primary key.
	for i := range t.ForeignKeys {
		fk := &t.ForeignKeys[i]
		if fk.RefColumns[0] != "" {
			continue
		}
		pk, err := c.primaryKey(ctx, fk.RefTable)
		if err != nil {
			return err
		}
		fk.RefColumns = pk
	}
	return nil
}

func (c *Conn) primaryKey(ctx context.Context, table string) ([]string, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, table)
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// onUpdateTriggers finds the triggers flowgate creates for MySQL's ON
// UPDATE CURRENT_TIMESTAMP (named <table>_<column>_on_update).
func (c *Conn) onUpdateTriggers(ctx context.Context, t *schema.Table) error {
	for i := range t.Columns {
		var n int
		name := onUpdateTrigger(t.Name, t.Columns[i].Name)
		if err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name = ?`, t.Name, name).Scan(&n); err != nil {
			return fmt.Errorf("triggers: %w", err)
		}
		t.Columns[i].OnUpdateCurrentTimestamp = n > 0
	}
	return nil
}

func (c *Conn) nextRowid(ctx context.Context, t *schema.Table, col string) error {
	var max sql.NullInt64
	if err := c.db.QueryRowContext(ctx, "SELECT max("+quoteIdent(col)+") FROM "+quoteIdent(t.Name)).Scan(&max); err != nil {
		return fmt.Errorf("max of %s: %w", col, err)
	}
	t.AutoIncrementNext = max.Int64 + 1
	// AUTOINCREMENT tables remember the highest key ever used.
	var seq sql.NullInt64
	err := c.db.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = ?`, t.Name).Scan(&seq)
	if err == nil && seq.Int64+1 > t.AutoIncrementNext {
		t.AutoIncrementNext = seq.Int64 + 1
	}
	return nil
}

var (
	sqliteString = regexp.MustCompile(`(?s)^'((?:[^']|'')*)'$`)
	sqliteTS     = regexp.MustCompile(`(?i)^current_timestamp$`)
)

// parseDefault classifies a default as SQLite keeps it: the text written
// in CREATE TABLE.
func parseDefault(def string, typ schema.Type) (schema.DefaultKind, string) {
	d := strings.TrimSpace(def)
	switch {
	case strings.EqualFold(d, "null"):
		return schema.DefaultNone, ""
	case sqliteTS.MatchString(d):
		return schema.DefaultCurrentTS, ""
	case strings.EqualFold(d, "true") || strings.EqualFold(d, "false"):
		return schema.DefaultLiteral, strings.ToLower(d)
	}
	if m := sqliteString.FindStringSubmatch(d); m != nil {
		return schema.DefaultLiteral, strings.ReplaceAll(m[1], "''", "'")
	}
	if num := strings.TrimPrefix(d, "+"); schema.IsNumberLiteral(num) {
		if typ.Kind == schema.Bool {
			f, _ := strconv.ParseFloat(num, 64)
			return schema.DefaultLiteral, strconv.FormatBool(f != 0)
		}
		return schema.DefaultLiteral, num
	}
	return schema.DefaultExpression, d
}

func (c *Conn) indexes(ctx context.Context, t *schema.Table) error {
	rows, err := c.db.QueryContext(ctx, `SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, t.Name)
	if err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	var list []schema.Index
	for rows.Next() {
		var (
			ix      schema.Index
			origin  string
			partial bool
		)
		if err := rows.Scan(&ix.Name, &ix.Unique, &origin, &partial); err != nil {
			rows.Close()
			return fmt.Errorf("indexes: %w", err)
		}
		// The primary key is known from the columns; partial indexes
		// have no portable form.
		if origin == "pk" || partial {
			continue
		}
		list = append(list, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
next:
	for _, ix := range list {
		cols, err := c.db.QueryContext(ctx, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, ix.Name)
		if err != nil {
			return fmt.Errorf("index %s: %w", ix.Name, err)
		}
		for cols.Next() {
			var name sql.NullString
			if err := cols.Scan(&name); err != nil {
				cols.Close()
				return fmt.Errorf("index %s: %w", ix.Name, err)
			}
			if !name.Valid { // an expression
				cols.Close()
				continue next
			}
			ix.Columns = append(ix.Columns, name.String)
		}
		cols.Close()
		if err := cols.Err(); err != nil {
			return fmt.Errorf("index %s: %w", ix.Name, err)
		}
		t.Indexes = append(t.Indexes, ix)
	}
	return nil
}

// quoteIdent quotes an SQLite identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
