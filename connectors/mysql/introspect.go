package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"database/sql/driver"

	"github.com/flowgate/flowgate/connectors/schema"
)

var _ schema.Introspector = (*Conn)(nil)

// DefaultSchema is the datasource's database.
func (c *Conn) DefaultSchema() string { return c.database }

func (c *Conn) schemaOr(s string) string {
	if s == "" {
		return c.database
	}
	return s
}

// ListTables lists the base tables of a database.
func (c *Conn) ListTables(ctx context.Context, db string) ([]string, error) {
	db = c.schemaOr(db)
	rows, err := c.db.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'`, db)
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", db, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables of %s: %w", db, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", db, err)
	}
	sort.Strings(names) // byte order, whatever the server collation
	return names, nil
}

// DescribeTables reads the named tables' structure from information_schema.
func (c *Conn) DescribeTables(ctx context.Context, db string, names []string) ([]schema.Table, error) {
	db = c.schemaOr(db)
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe tables of %s: %w", db, err)
	}
	defer conn.Close()
	// Timestamp defaults are shown in the session time zone; canonical
	// timestamptz literals are UTC.
	restore, err := inUTC(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("describe tables of %s: %w", db, err)
	}
	defer restore()
	var version string
	if err := conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return nil, fmt.Errorf("describe tables of %s: %w", db, err)
	}
	mariadb := strings.Contains(strings.ToLower(version), "mariadb")
	out := make([]schema.Table, 0, len(names))
	for _, name := range names {
		t, err := describe(ctx, conn, db, name, mariadb)
		if err != nil {
			return nil, fmt.Errorf("describe %s.%s: %w", db, name, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func describe(ctx context.Context, conn *sql.Conn, db, name string, mariadb bool) (schema.Table, error) {
	t := schema.Table{Schema: db, Name: name, Dialect: schema.MySQL}
	var autoInc sql.NullInt64
	err := conn.QueryRowContext(ctx, `SELECT TABLE_COMMENT, AUTO_INCREMENT FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'`, db, name).Scan(&t.Comment, &autoInc)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("table %s.%s: %w", db, name, schema.ErrTableNotFound)
	}
	if err != nil {
		return t, err
	}
	if err := columns(ctx, conn, &t, mariadb); err != nil {
		return t, err
	}
	if err := indexes(ctx, conn, &t); err != nil {
		return t, err
	}
	if err := foreignKeys(ctx, conn, &t); err != nil {
		return t, err
	}
	if autoInc.Valid {
		t.AutoIncrementNext = autoInc.Int64
	}
	// TABLES.AUTO_INCREMENT can be stale (MySQL 8 caches it for
	// information_schema_stats_expiry), so also look past the real maximum.
	for _, col := range t.Columns {
		if !col.AutoIncrement {
			continue
		}
		var max sql.NullString
		q := fmt.Sprintf("SELECT MAX(%s) FROM %s.%s", quote(col.Name), quote(db), quote(name))
		if err := conn.QueryRowContext(ctx, q).Scan(&max); err != nil {
			return t, fmt.Errorf("max of auto_increment column %s: %w", col.Name, err)
		}
		if max.Valid {
			// Unsigned bigint maxima beyond int64 cannot be continued anyway.
			if n, err := strconv.ParseInt(max.String, 10, 64); err == nil && n+1 > t.AutoIncrementNext {
				t.AutoIncrementNext = n + 1
			}
		}
	}
	return t, nil
}

var jsonCheck = regexp.MustCompile("(?i)^json_valid\\(`((?:[^`]|``)+)`\\)$")

func columns(ctx context.Context, conn *sql.Conn, t *schema.Table, mariadb bool) error {
	// MariaDB's JSON is longtext with a json_valid check constraint.
	jsonCols := map[string]bool{}
	if mariadb {
		rows, err := conn.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
			WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, t.Schema, t.Name)
		if err != nil {
			return fmt.Errorf("check constraints: %w", err)
		}
		for rows.Next() {
			var clause string
			if err := rows.Scan(&clause); err != nil {
				rows.Close()
				return fmt.Errorf("check constraints: %w", err)
			}
			if m := jsonCheck.FindStringSubmatch(strings.TrimSpace(clause)); m != nil {
				jsonCols[strings.ReplaceAll(m[1], "``", "`")] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("check constraints: %w", err)
		}
	}
	rows, err := conn.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLUMN_COMMENT
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, t.Schema, t.Name)
	if err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			col                  schema.Column
			colType, null, extra string
			def                  sql.NullString
		)
		if err := rows.Scan(&col.Name, &colType, &null, &def, &extra, &col.Comment); err != nil {
			return fmt.Errorf("columns: %w", err)
		}
		col.Nullable = null == "YES"
		if col.Type, err = ParseType(colType); err != nil {
			col.Type = schema.Type{Kind: schema.Other, Native: colType}
		}
		if jsonCols[col.Name] && col.Type.Kind == schema.Text {
			col.Type = schema.Type{Kind: schema.JSON, Native: "json"}
		}
		extra = strings.ToLower(extra)
		col.AutoIncrement = strings.Contains(extra, "auto_increment")
		col.OnUpdateCurrentTimestamp = strings.Contains(extra, "on update current_timestamp")
		if def.Valid && !col.AutoIncrement {
			col.DefaultKind, col.Default = parseDefault(def.String, col.Type, mariadb, strings.Contains(extra, "default_generated"))
		}
		t.Columns = append(t.Columns, col)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("table %s.%s has no columns: %w", t.Schema, t.Name, schema.ErrTableNotFound)
	}
	return nil
}

var (
	currentTS  = regexp.MustCompile(`(?i)^(current_timestamp|now|localtimestamp|localtime)(\((\d*)\))?$`)
	bitLiteral = regexp.MustCompile(`^[bB]'([01]*)'$`)
	// MySQL 8 prints a string literal in an expression default as
	// _utf8mb4\'abc\'.
	charsetLiteral = regexp.MustCompile(`^_[A-Za-z0-9]+\\'(.*)\\'$`)
)

// parseDefault classifies COLUMN_DEFAULT. MySQL 8 prints literals bare and
// marks expressions (CURRENT_TIMESTAMP included) DEFAULT_GENERATED in EXTRA;
// MariaDB 10.2.7+ quotes string literals, prints NULL for an explicit NULL
// default and expressions bare, lower-cased (current_timestamp()).
func parseDefault(def string, typ schema.Type, mariadb, generated bool) (schema.DefaultKind, string) {
	if m := currentTS.FindStringSubmatch(def); m != nil {
		return schema.DefaultCurrentTS, m[3]
	}
	if m := bitLiteral.FindStringSubmatch(def); m != nil {
		return bitDefault(m[1], typ)
	}
	literal := func(v string) (schema.DefaultKind, string) {
		if typ.Kind == schema.Bool {
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				return schema.DefaultLiteral, strconv.FormatBool(n != 0)
			}
		}
		return schema.DefaultLiteral, v
	}
	if mariadb {
		switch {
		case def == "NULL":
			return schema.DefaultNone, "" // columns default to NULL anyway
		case len(def) >= 2 && def[0] == '\'' && def[len(def)-1] == '\'':
			return literal(unquoteMariaDB(def[1 : len(def)-1]))
		case schema.IsNumberLiteral(def):
			return literal(def)
		}
		return schema.DefaultExpression, def
	}
	if generated {
		if m := charsetLiteral.FindStringSubmatch(def); m != nil {
			return literal(strings.ReplaceAll(m[1], `\'`, `'`))
		}
		return schema.DefaultExpression, def
	}
	return literal(def)
}

// unquoteMariaDB undoes the quoting of a string default: ” and backslash
// escapes.
func unquoteMariaDB(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				c = '\n'
			case 't':
				c = '\t'
			case 'r':
				c = '\r'
			case '0':
				c = 0
			case 'Z':
				c = 26
			default:
				c = s[i]
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// bitDefault turns b'101' into the canonical literal: true/false for bit(1),
// the bit string for bit(n).
func bitDefault(bits string, typ schema.Type) (schema.DefaultKind, string) {
	if typ.Kind == schema.Bool {
		return schema.DefaultLiteral, strconv.FormatBool(strings.Contains(bits, "1"))
	}
	if typ.Kind == schema.Bit && typ.Length > len(bits) {
		bits = strings.Repeat("0", typ.Length-len(bits)) + bits
	}
	return schema.DefaultLiteral, bits
}

func indexes(ctx context.Context, conn *sql.Conn, t *schema.Table) error {
	rows, err := conn.QueryContext(ctx, `SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
		ORDER BY INDEX_NAME, SEQ_IN_INDEX`, t.Schema, t.Name)
	if err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	defer rows.Close()
	byName := map[string]*schema.Index{}
	skip := map[string]bool{}
	var order []string
	for rows.Next() {
		var (
			name, typ string
			nonUnique int
			col       sql.NullString
			sub       sql.NullInt64
		)
		if err := rows.Scan(&name, &nonUnique, &col, &sub, &typ); err != nil {
			return fmt.Errorf("indexes: %w", err)
		}
		// Functional key parts (no column) and SPATIAL indexes have no
		// portable form; they are left out. FULLTEXT ones are kept apart
		// (another MySQL creates them; other targets report them dropped).
		if typ == "FULLTEXT" && col.Valid {
			if len(t.FullText) == 0 || t.FullText[len(t.FullText)-1].Name != name {
				t.FullText = append(t.FullText, schema.Index{Name: name})
			}
			ft := &t.FullText[len(t.FullText)-1]
			ft.Columns = append(ft.Columns, col.String)
			skip[name] = true
			continue
		}
		if !col.Valid || typ == "SPATIAL" {
			skip[name] = true
			continue
		}
		ix, ok := byName[name]
		if !ok {
			ix = &schema.Index{Name: name, Unique: nonUnique == 0}
			byName[name] = ix
			order = append(order, name)
		}
		ix.Columns = append(ix.Columns, col.String)
		n := 0
		if sub.Valid {
			n = int(sub.Int64)
		}
		ix.Lengths = append(ix.Lengths, n)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	sort.Strings(order)
	for _, name := range order {
		if skip[name] {
			continue
		}
		ix := byName[name]
		if allZero(ix.Lengths) {
			ix.Lengths = nil
		}
		if name == "PRIMARY" {
			t.PrimaryKey = ix.Columns
			continue
		}
		t.Indexes = append(t.Indexes, *ix)
	}
	return nil
}

func allZero(ns []int) bool {
	for _, n := range ns {
		if n != 0 {
			return false
		}
	}
	return true
}

// quote quotes a MySQL identifier.
func quote(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// inUTC sets conn's session time zone to UTC and returns what puts the
// previous one back, so the pooled connection goes back unchanged.
func inUTC(ctx context.Context, conn *sql.Conn) (func(), error) {
	var prev string
	if err := conn.QueryRowContext(ctx, "SELECT @@session.time_zone").Scan(&prev); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "SET time_zone = '+00:00'"); err != nil {
		return nil, err
	}
	return func() {
		// A failed reset poisons the connection rather than leaking UTC
		// into another user's session.
		if _, err := conn.ExecContext(context.Background(), "SET time_zone = ?", prev); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}, nil
}

func foreignKeys(ctx context.Context, conn *sql.Conn, t *schema.Table) error {
	rows, err := conn.QueryContext(ctx, `SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME,
			k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
		FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r
			ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME
		WHERE k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL
		ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION`, t.Schema, t.Name)
	if err != nil {
		return fmt.Errorf("foreign keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, col, refSchema, refTable, refCol, upd, del string
		if err := rows.Scan(&name, &col, &refSchema, &refTable, &refCol, &upd, &del); err != nil {
			return fmt.Errorf("foreign keys: %w", err)
		}
		n := len(t.ForeignKeys)
		if n == 0 || t.ForeignKeys[n-1].Name != name {
			if refSchema == t.Schema {
				refSchema = ""
			}
			t.ForeignKeys = append(t.ForeignKeys, schema.ForeignKey{Name: name, RefSchema: refSchema, RefTable: refTable,
				OnDelete: schema.Action(del), OnUpdate: schema.Action(upd)})
			n++
		}
		fk := &t.ForeignKeys[n-1]
		fk.Columns = append(fk.Columns, col)
		fk.RefColumns = append(fk.RefColumns, refCol)
	}
	return rows.Err()
}
