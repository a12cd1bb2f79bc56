package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/connectors/schema"
)

var _ schema.Introspector = (*Conn)(nil)

// DefaultSchema is the datasource's schema option (public by default).
func (c *Conn) DefaultSchema() string {
	if c.schema == "" {
		return "public"
	}
	return c.schema
}

func (c *Conn) schemaOr(s string) string {
	if s == "" {
		return c.DefaultSchema()
	}
	return s
}

// ListTables lists ordinary and partitioned tables of a schema; partitions
// are part of their parent.
func (c *Conn) ListTables(ctx context.Context, sch string) ([]string, error) {
	sch = c.schemaOr(sch)
	rows, err := c.pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition`, sch)
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", sch, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", sch, err)
	}
	sort.Strings(names)
	return names, nil
}

// DescribeTables reads the named tables' structure from the catalogs
// (PostgreSQL 10 or later: identity columns).
func (c *Conn) DescribeTables(ctx context.Context, sch string, names []string) ([]schema.Table, error) {
	sch = c.schemaOr(sch)
	var out []schema.Table
	// One snapshot; timestamptz defaults printed in UTC, as canonical
	// timestamptz literals are.
	err := pgx.BeginTxFunc(ctx, c.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL TimeZone = 'UTC'"); err != nil {
			return err
		}
		for _, name := range names {
			t, err := describe(ctx, tx, sch, name)
			if err != nil {
				return fmt.Errorf("describe %s.%s: %w", sch, name, err)
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func describe(ctx context.Context, tx pgx.Tx, sch, name string) (schema.Table, error) {
	t := schema.Table{Schema: sch, Name: name, Dialect: schema.Postgres}
	var oid uint32
	var comment *string
	err := tx.QueryRow(ctx, `SELECT c.oid, obj_description(c.oid, 'pg_class')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, sch, name).Scan(&oid, &comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("table %s.%s: %w", sch, name, schema.ErrTableNotFound)
	}
	if err != nil {
		return t, err
	}
	if comment != nil {
		t.Comment = *comment
	}
	if err := columns(ctx, tx, &t, oid); err != nil {
		return t, err
	}
	if err := indexes(ctx, tx, &t, oid); err != nil {
		return t, err
	}
	if err := foreignKeys(ctx, tx, &t, oid); err != nil {
		return t, err
	}
	if err := onUpdateTriggers(ctx, tx, &t, oid); err != nil {
		return t, err
	}
	return t, nil
}

// pgActions maps pg_constraint's action codes.
var pgActions = map[string]string{"a": schema.NoAction, "r": schema.Restrict, "c": schema.Cascade, "n": schema.SetNull, "d": schema.SetDefault}

func foreignKeys(ctx context.Context, tx pgx.Tx, t *schema.Table, oid uint32) error {
	rows, err := tx.Query(ctx, `SELECT con.conname,
			ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
				JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o),
			rn.nspname, rc.relname,
			ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
				JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o),
			con.confdeltype::text, con.confupdtype::text
		FROM pg_constraint con JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
		WHERE con.conrelid = $1 AND con.contype = 'f' ORDER BY con.conname`, oid)
	if err != nil {
		return fmt.Errorf("foreign keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var fk schema.ForeignKey
		var del, upd string
		if err := rows.Scan(&fk.Name, &fk.Columns, &fk.RefSchema, &fk.RefTable, &fk.RefColumns, &del, &upd); err != nil {
			return fmt.Errorf("foreign keys: %w", err)
		}
		if fk.RefSchema == t.Schema {
			fk.RefSchema = ""
		}
		fk.OnDelete, fk.OnUpdate = pgActions[del], pgActions[upd]
		t.ForeignKeys = append(t.ForeignKeys, fk)
	}
	return rows.Err()
}

// onUpdateTriggers finds the triggers flowgate creates for MySQL's ON
// UPDATE CURRENT_TIMESTAMP (see onUpdateSQL): their function's comment
// names the columns.
func onUpdateTriggers(ctx context.Context, tx pgx.Tx, t *schema.Table, oid uint32) error {
	rows, err := tx.Query(ctx, `SELECT obj_description(tg.tgfoid, 'pg_proc') FROM pg_trigger tg
		WHERE tg.tgrelid = $1 AND NOT tg.tgisinternal AND obj_description(tg.tgfoid, 'pg_proc') LIKE $2`, oid, onUpdateComment+"%")
	if err != nil {
		return fmt.Errorf("triggers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return fmt.Errorf("triggers: %w", err)
		}
		var cols []string
		if err := json.Unmarshal([]byte(strings.TrimPrefix(c, onUpdateComment)), &cols); err != nil {
			continue // not ours after all
		}
		for _, n := range cols {
			if col, ok := t.Column(n); ok {
				col.OnUpdateCurrentTimestamp = true
			}
		}
	}
	return rows.Err()
}

var (
	nextval = regexp.MustCompile(`^nextval\('.*'::regclass\)$`)
	// 'text'::type, possibly with a cast chain or array type.
	castLiteral = regexp.MustCompile(`(?s)^'((?:[^']|'')*)'(::"?[a-z0-9_ ]+"?(\([0-9, ]+\))?( with(out)? time zone)?(\[\])?)+$`)
	numberCast  = regexp.MustCompile(`^\(?(-?[0-9.eE+-]+)\)?(::[a-z ]+(\([0-9, ]+\))?)?$`)
	nullCast    = regexp.MustCompile(`^NULL(::.*)?$`)
	nowDefault  = regexp.MustCompile(`^(now\(\)|CURRENT_TIMESTAMP(\((\d+)\))?|transaction_timestamp\(\)|LOCALTIMESTAMP(\((\d+)\))?|statement_timestamp\(\)|clock_timestamp\(\))$`)
)

func columns(ctx context.Context, tx pgx.Tx, t *schema.Table, oid uint32) error {
	// Domains are described by their base type; enum members come from
	// pg_enum.
	rows, err := tx.Query(ctx, `SELECT a.attname,
			CASE WHEN ty.typtype = 'd' THEN format_type(ty.typbasetype, ty.typtypmod) ELSE format_type(a.atttypid, a.atttypmod) END,
			NOT a.attnotnull AND NOT (ty.typtype = 'd' AND ty.typnotnull),
			pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '', col_description(a.attrelid, a.attnum),
			ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = a.atttypid ORDER BY e.enumsortorder),
			pg_get_serial_sequence(quote_ident($2) || '.' || quote_ident($3), a.attname)
		FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, oid, t.Schema, t.Name)
	if err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	type seqCol struct{ col, seq string }
	var seqs []seqCol
	for rows.Next() {
		var (
			col               schema.Column
			native            string
			def, comment, seq *string
			identity          bool
			enum              []string
		)
		if err := rows.Scan(&col.Name, &native, &col.Nullable, &def, &identity, &comment, &enum, &seq); err != nil {
			rows.Close()
			return fmt.Errorf("columns: %w", err)
		}
		if comment != nil {
			col.Comment = *comment
		}
		switch typ, err := ParseType(native); {
		case len(enum) > 0:
			col.Type = schema.Type{Kind: schema.Enum, Values: enum, Native: native}
		case err != nil:
			col.Type = schema.Type{Kind: schema.Other, Native: native}
		default:
			col.Type = typ
			col.Type.Native = native
		}
		col.AutoIncrement = identity
		if def != nil {
			if nextval.MatchString(*def) {
				col.AutoIncrement = true // serial
			} else {
				col.DefaultKind, col.Default = parseDefault(*def)
				if col.Type.Kind == schema.TimestampTZ && col.DefaultKind == schema.DefaultLiteral {
					col.Default = strings.TrimSuffix(col.Default, "+00")
				}
			}
		}
		if col.AutoIncrement && seq != nil {
			seqs = append(seqs, seqCol{col.Name, *seq})
		}
		t.Columns = append(t.Columns, col)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	// The next value is past both the sequence and the column's maximum
	// (rows may have been inserted with explicit keys).
	for _, s := range seqs {
		var next int64
		q := fmt.Sprintf(`SELECT GREATEST((SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM %s),
			(SELECT COALESCE(MAX(%s)::int8 + 1, 1) FROM %s))`,
			s.seq, pgx.Identifier{s.col}.Sanitize(), pgx.Identifier{t.Schema, t.Name}.Sanitize())
		if err := tx.QueryRow(ctx, q).Scan(&next); err != nil {
			return fmt.Errorf("next value of %s: %w", s.col, err)
		}
		t.AutoIncrementNext = max(t.AutoIncrementNext, next)
	}
	return nil
}

// parseDefault classifies a default as pg_get_expr prints it.
func parseDefault(def string) (schema.DefaultKind, string) {
	switch {
	case nullCast.MatchString(def):
		return schema.DefaultNone, "" // columns default to NULL anyway
	case def == "true" || def == "false":
		return schema.DefaultLiteral, def
	case nowDefault.MatchString(def):
		m := nowDefault.FindStringSubmatch(def)
		return schema.DefaultCurrentTS, m[3] + m[5]
	}
	if m := castLiteral.FindStringSubmatch(def); m != nil {
		return schema.DefaultLiteral, strings.ReplaceAll(m[1], "''", "'")
	}
	if m := numberCast.FindStringSubmatch(def); m != nil && schema.IsNumberLiteral(m[1]) {
		if _, err := strconv.ParseFloat(m[1], 64); err == nil {
			return schema.DefaultLiteral, m[1]
		}
	}
	return schema.DefaultExpression, def
}

func indexes(ctx context.Context, tx pgx.Tx, t *schema.Table, oid uint32) error {
	// Only key columns (indnkeyatts); expression and partial indexes have
	// no portable form and are left out.
	rows, err := tx.Query(ctx, `SELECT i.relname, ix.indisunique, ix.indisprimary,
			ARRAY(SELECT a.attname::text FROM unnest(ix.indkey[0:ix.indnkeyatts-1]) WITH ORDINALITY k(attnum, ord)
				JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum ORDER BY k.ord),
			ix.indexprs IS NOT NULL OR ix.indpred IS NOT NULL
		FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid
		WHERE ix.indrelid = $1 ORDER BY i.relname`, oid)
	if err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ix              schema.Index
			primary, nonKey bool
		)
		if err := rows.Scan(&ix.Name, &ix.Unique, &primary, &ix.Columns, &nonKey); err != nil {
			return fmt.Errorf("indexes: %w", err)
		}
		switch {
		case nonKey:
		case primary:
			t.PrimaryKey = ix.Columns
		default:
			t.Indexes = append(t.Indexes, ix)
		}
	}
	return rows.Err()
}
