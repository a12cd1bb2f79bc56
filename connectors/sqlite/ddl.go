package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/connectors/schema"
)

var _ schema.DDLTarget = (*Conn)(nil)

func str(s string) string { return schema.QuoteString(s, false) }

// Namer is how SQLite names a source identifier: folded to lower case
// unless case-sensitive; SQLite has no length limit.
func Namer(caseSensitive bool) schema.Namer {
	return schema.Namer{CaseSensitive: caseSensitive}
}

// PlanCreate renders CREATE TABLE and its indexes. Declared types are
// chosen so that SQLite's affinity suits the values and ParseType reads
// the same kind back; comments are dropped (SQLite has none). The schema
// option is ignored: the file is the database.
func (c *Conn) PlanCreate(t schema.Table, opts schema.CreateOptions) (schema.Plan, error) {
	namer := Namer(opts.CaseSensitive)
	plan := schema.Plan{Table: namer.Name(t.Name)}
	warn := func(format string, args ...any) {
		plan.Warnings = append(plan.Warnings, fmt.Sprintf(format, args...))
	}
	colNames, err := namer.ColumnNames(t)
	if err != nil {
		return plan, err
	}
	table := quoteIdent(plan.Table)
	// SQLite's AUTOINCREMENT needs the column to be the whole primary key.
	rowid := ""
	for _, col := range t.Columns {
		if !col.AutoIncrement {
			continue
		}
		switch {
		case rowid != "":
			warn("column %s: auto-increment dropped: %s already is the table's", col.Name, rowid)
		case !opts.PrimaryKeys || len(t.PrimaryKey) != 1 || t.PrimaryKey[0] != col.Name || !col.Type.Kind.IsInteger():
			warn("column %s: auto-increment dropped: SQLite needs it to be the integer primary key", col.Name)
		default:
			rowid = col.Name
		}
	}
	var defs []string
	var unsupported schema.ColumnErrors
	for _, col := range t.Columns {
		typ, err := columnType(t, col, col.Type)
		if err != nil {
			unsupported = append(unsupported, err)
			continue
		}
		name := quoteIdent(colNames[col.Name])
		if col.Name == rowid {
			defs = append(defs, name+" INTEGER PRIMARY KEY AUTOINCREMENT")
			continue
		}
		// NUMERIC affinity keeps 15 significant digits of what does not
		// fit a 64-bit integer; verification would then find the rows.
		switch k := col.Type.Kind; {
		case k == schema.Int64 && col.Type.Unsigned:
			warn("column %s: values above 9223372036854775807 keep 15 significant digits in SQLite (REAL)", col.Name)
		case k == schema.Decimal && (col.Type.Precision == 0 || col.Type.Precision > 15):
			warn("column %s: SQLite keeps 15 significant digits of a number that is not a 64-bit integer", col.Name)
		}
		def := name + " " + typ
		if !col.Nullable {
			def += " NOT NULL"
		}
		d, w := defaultClause(t, col)
		if w != "" {
			warn("%s", w)
		}
		def += d
		if col.Type.Kind == schema.Enum {
			vals := make([]string, len(col.Type.Values))
			for i, v := range col.Type.Values {
				vals[i] = str(v)
			}
			def += " CHECK (" + name + " IN (" + strings.Join(vals, ", ") + "))"
		}
		defs = append(defs, def)
	}
	if err := unsupported.Err(); err != nil {
		return plan, err
	}
	quoted := func(cols []string) (string, bool) {
		q := make([]string, len(cols))
		for i, n := range cols {
			m, ok := colNames[n]
			if !ok {
				return "", false
			}
			q[i] = quoteIdent(m)
		}
		return strings.Join(q, ", "), true
	}
	if opts.PrimaryKeys && len(t.PrimaryKey) > 0 && rowid == "" {
		if cols, ok := quoted(t.PrimaryKey); ok {
			defs = append(defs, "PRIMARY KEY ("+cols+")")
		} else {
			warn("primary key dropped: a column is missing")
		}
	}
	if opts.ForeignKeys {
		// Inline: SQLite cannot add a key to an existing table, and checks
		// the parent only when rows change, so a parent created later is
		// fine.
		used := map[string]bool{}
		for _, fk := range t.ForeignKeys {
			cols, ok := quoted(fk.Columns)
			if !ok {
				warn("foreign key %s dropped: a column is missing", fk.Name)
				continue
			}
			mapped := make([]string, len(fk.Columns))
			for i, n := range fk.Columns {
				mapped[i] = colNames[n]
			}
			refs := make([]string, len(fk.RefColumns))
			for i, r := range fk.RefColumns {
				refs[i] = quoteIdent(namer.Name(r))
			}
			name := schema.ForeignKeyName(namer, plan.Table, fk, mapped, used)
			defs = append(defs, "CONSTRAINT "+quoteIdent(name)+" FOREIGN KEY ("+cols+") REFERENCES "+quoteIdent(namer.Name(fk.RefTable))+
				" ("+strings.Join(refs, ", ")+") ON DELETE "+schema.Action(fk.OnDelete)+" ON UPDATE "+schema.Action(fk.OnUpdate))
		}
	}
	stmts := []string{"CREATE TABLE " + table + " (\n  " + strings.Join(defs, ",\n  ") + "\n)"}
	// MySQL's ON UPDATE CURRENT_TIMESTAMP: a trigger per column sets it
	// when an UPDATE leaves it unchanged (SQLite's recursive_triggers is
	// off, so the trigger's own UPDATE does not fire it again).
	for _, col := range schema.OnUpdateColumns(t) {
		if k := col.Type.Kind; k != schema.Timestamp && k != schema.TimestampTZ {
			warn("column %s: ON UPDATE CURRENT_TIMESTAMP dropped: not supported for %s", col.Name, col.Type.TypeName())
			continue
		}
		c := quoteIdent(colNames[col.Name])
		stmts = append(stmts, "CREATE TRIGGER "+quoteIdent(onUpdateTrigger(plan.Table, colNames[col.Name]))+" AFTER UPDATE ON "+table+
			" FOR EACH ROW WHEN NEW."+c+" IS OLD."+c+" BEGIN UPDATE "+table+" SET "+c+" = CURRENT_TIMESTAMP WHERE rowid = NEW.rowid; END")
	}
	for _, ft := range t.FullText {
		warn("FULLTEXT index %s dropped: SQLite full-text search needs an FTS5 table", ft.Name)
	}
	if opts.Indexes {
		used := map[string]bool{}
		for _, ix := range t.Indexes {
			cols, ok := quoted(ix.Columns)
			if !ok {
				warn("index %s dropped: a column is missing", ix.Name)
				continue
			}
			mapped := make([]string, len(ix.Columns))
			for i, n := range ix.Columns {
				mapped[i] = colNames[n]
			}
			name := schema.SchemaIndexName(namer, t.Dialect, plan.Table, ix, mapped)
			for i := 2; used[strings.ToLower(name)]; i++ {
				name = schema.SchemaIndexName(namer, t.Dialect, plan.Table, schema.Index{Name: ix.Name + "_" + strconv.Itoa(i), Unique: ix.Unique}, mapped)
			}
			used[strings.ToLower(name)] = true
			kw := "CREATE INDEX "
			if ix.Unique {
				kw = "CREATE UNIQUE INDEX "
			}
			stmts = append(stmts, kw+quoteIdent(name)+" ON "+table+" ("+cols+")")
		}
	}
	if rowid != "" && t.AutoIncrementNext > 1 {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %d)", str(plan.Table), t.AutoIncrementNext-1))
	}
	plan.Statements = stmts
	return plan, nil
}

func unsupported(t schema.Table, col schema.Column, reason string) error {
	return &schema.UnsupportedError{Table: t.Name, Column: col.Name, Type: col.Type.TypeName(), Target: "SQLite", Reason: reason}
}

// columnType renders a canonical type as an SQLite declared type;
// docs/type-mapping.md lists the mapping.
func columnType(t schema.Table, col schema.Column, typ schema.Type) (string, error) {
	switch typ.Kind {
	case schema.Bool:
		return "BOOLEAN", nil
	case schema.Int8:
		if typ.Unsigned {
			return "SMALLINT", nil
		}
		return "TINYINT", nil
	case schema.Int16:
		if typ.Unsigned {
			return "INT", nil
		}
		return "SMALLINT", nil
	case schema.Int24:
		return "INT", nil
	case schema.Int32:
		if typ.Unsigned {
			return "BIGINT", nil
		}
		return "INT", nil
	case schema.Int64:
		if typ.Unsigned {
			return "NUMERIC(20,0)", nil
		}
		return "BIGINT", nil
	case schema.Decimal:
		if typ.Precision == 0 {
			return "NUMERIC", nil
		}
		return fmt.Sprintf("NUMERIC(%d,%d)", typ.Precision, typ.Scale), nil
	case schema.Float32, schema.Float64:
		return "REAL", nil
	case schema.Char:
		return fmt.Sprintf("CHAR(%d)", max(typ.Length, 1)), nil
	case schema.Varchar:
		if typ.Length == 0 {
			return "TEXT", nil
		}
		return fmt.Sprintf("VARCHAR(%d)", typ.Length), nil
	case schema.Text, schema.Enum, schema.Set, schema.Interval, schema.Array, schema.Bit:
		// Text affinity keeps these strings as written (a declared BIT(8)
		// would have numeric affinity and turn '0011' into 11).
		return "TEXT", nil
	case schema.Binary, schema.Varbinary, schema.Blob:
		return "BLOB", nil
	case schema.Date:
		return "DATE", nil
	case schema.Time:
		return "TIME", nil
	case schema.Timestamp:
		return "DATETIME", nil
	case schema.TimestampTZ:
		return "TIMESTAMPTZ", nil
	case schema.Year:
		return "YEAR", nil
	case schema.JSON:
		return "JSON", nil
	case schema.UUID:
		return "UUID", nil
	}
	return "", unsupported(t, col, "")
}

// defaultClause renders col's default, or explains why it was dropped.
func defaultClause(t schema.Table, col schema.Column) (string, string) {
	switch col.DefaultKind {
	case schema.DefaultNone:
		return "", ""
	case schema.DefaultNull:
		return " DEFAULT NULL", ""
	case schema.DefaultCurrentTS:
		switch col.Type.Kind {
		case schema.Timestamp, schema.TimestampTZ:
			return " DEFAULT CURRENT_TIMESTAMP", ""
		case schema.Date:
			return " DEFAULT CURRENT_DATE", ""
		case schema.Time:
			return " DEFAULT CURRENT_TIME", ""
		}
		return "", fmt.Sprintf("column %s: default CURRENT_TIMESTAMP dropped for %s", col.Name, col.Type.TypeName())
	case schema.DefaultExpression:
		if t.Dialect == schema.SQLite {
			if strings.HasPrefix(col.Default, "(") {
				return " DEFAULT " + col.Default, ""
			}
			return " DEFAULT (" + col.Default + ")", ""
		}
		return "", fmt.Sprintf("column %s: default %s dropped: a %s expression", col.Name, col.Default, t.Dialect)
	}
	v := col.Default
	switch k := col.Type.Kind; {
	case k == schema.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", fmt.Sprintf("column %s: default %q dropped: not a boolean", col.Name, v)
		}
		if b {
			return " DEFAULT 1", ""
		}
		return " DEFAULT 0", ""
	case k.IsNumeric() && schema.IsNumberLiteral(v):
		return " DEFAULT " + v, ""
	}
	return " DEFAULT " + str(v), ""
}

// TableExists reports whether the table exists.
func (c *Conn) TableExists(ctx context.Context, _, name string) (bool, error) {
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`, name).Scan(&n); err != nil {
		return false, fmt.Errorf("check table %s: %w", name, err)
	}
	return n > 0, nil
}

// DropTable drops the table if it exists.
func (c *Conn) DropTable(ctx context.Context, _, name string) error {
	if _, err := c.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+quoteIdent(name)); err != nil {
		return fmt.Errorf("drop table %s: %w", name, err)
	}
	return nil
}

// Apply runs the plan in one transaction (SQLite's DDL is transactional).
// The error is SQLite's own.
func (c *Conn) Apply(ctx context.Context, p schema.Plan) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, s := range p.Statements {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// onUpdateTrigger names the trigger for a column's ON UPDATE
// CURRENT_TIMESTAMP.
func onUpdateTrigger(table, column string) string { return table + "_" + column + "_on_update" }
