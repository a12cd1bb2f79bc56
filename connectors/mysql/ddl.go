package mysql

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/connectors/schema"
)

var _ schema.DDLTarget = (*Conn)(nil)

// Limits of MySQL column types that the mapping relies on.
const (
	maxDecimalPrecision = 65
	maxDecimalScale     = 30
	maxTimePrecision    = 6
	// maxVarcharChars is the longest varchar(n) that fits the 65,535-byte
	// row limit in utf8mb4 (4 bytes a character); longer strings become
	// longtext.
	maxVarcharChars = 16383
	maxVarbinary    = 65532
	// lobIndexPrefix is the prefix length indexed for a TEXT/BLOB column
	// that the source indexed whole (MySQL cannot).
	lobIndexPrefix = 255
)

// ident quotes a MySQL identifier; every identifier is quoted, so reserved
// words and mixed case need no list.
func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// str renders a MySQL string literal (backslashes escaped: the default
// sql_mode reads them as escapes).
func str(s string) string { return schema.QuoteString(s, true) }

// Namer is how MySQL names a source identifier: folded to lower case
// unless case-sensitive, at most 64 characters.
func Namer(caseSensitive bool) schema.Namer {
	return schema.Namer{CaseSensitive: caseSensitive, Max: schema.MySQLMaxIdentChars}
}

// PlanCreate renders one CREATE TABLE statement with every key, index,
// comment and the auto-increment position inline: MySQL commits each DDL
// statement on its own, and a single statement cannot half-succeed.
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
	var defs []string
	types := map[string]string{} // source column -> rendered type
	autoCol := ""
	var unsupported schema.ColumnErrors
	for _, col := range t.Columns {
		typ, err := columnType(t, col, opts)
		if err != nil {
			unsupported = append(unsupported, err)
			continue
		}
		types[col.Name] = typ
		if col.Type.Kind == schema.Decimal && col.Type.Precision == 0 {
			warn("column %s: numeric without precision became decimal(65,30); values with more digits fail", col.Name)
		}
		def := ident(colNames[col.Name]) + " " + typ
		if col.Nullable {
			// Explicit: with explicit_defaults_for_timestamp off a bare
			// timestamp column would be NOT NULL.
			def += " NULL"
		} else {
			def += " NOT NULL"
		}
		auto := false
		if col.AutoIncrement {
			switch {
			case autoCol != "":
				warn("column %s: only one auto_increment column per table in MySQL; %s keeps it", col.Name, autoCol)
			case !isIntegerType(typ):
				warn("column %s: auto-increment dropped: %s cannot be auto_increment", col.Name, typ)
			default:
				auto, autoCol = true, col.Name
			}
		}
		if !auto {
			d, w := defaultClause(t, col, typ)
			if w != "" {
				warn("%s", w)
			}
			def += d
		}
		if col.OnUpdateCurrentTimestamp {
			if k := col.Type.Kind; k == schema.Timestamp || k == schema.TimestampTZ {
				def += " ON UPDATE " + currentTimestamp(col.Type.Precision)
			}
		}
		if auto {
			def += " AUTO_INCREMENT"
		}
		if col.Comment != "" {
			def += " COMMENT " + str(col.Comment)
		}
		defs = append(defs, def)
	}
	if err := unsupported.Err(); err != nil {
		return plan, err
	}
	keyed := false // auto_increment must lead some key
	keyParts := func(cols []string, lengths []int, what string) (string, bool) {
		parts := make([]string, len(cols))
		for i, name := range cols {
			typ, ok := types[name]
			if !ok {
				warn("%s dropped: no column %s", what, name)
				return "", false
			}
			part := ident(colNames[name])
			n := 0
			if i < len(lengths) {
				n = lengths[i]
			}
			switch {
			case strings.HasPrefix(typ, "json"):
				warn("%s dropped: MySQL cannot index json column %s", what, name)
				return "", false
			case isLOB(typ) && n == 0:
				n = lobIndexPrefix
				warn("%s: column %s (%s) indexed by its first %d characters", what, name, typ, n)
			case n > 0 && !isLOB(typ) && !isString(typ):
				n = 0
			}
			if n > 0 {
				part += "(" + strconv.Itoa(n) + ")"
			}
			parts[i] = part
		}
		return strings.Join(parts, ", "), true
	}
	if opts.PrimaryKeys && len(t.PrimaryKey) > 0 {
		if parts, ok := keyParts(t.PrimaryKey, nil, "primary key"); ok {
			defs = append(defs, "PRIMARY KEY ("+parts+")")
			keyed = keyed || t.PrimaryKey[0] == autoCol
		}
	}
	usedIdx := map[string]bool{"primary": true}
	if opts.Indexes {
		used := usedIdx
		for _, ix := range t.Indexes {
			parts, ok := keyParts(ix.Columns, ix.Lengths, "index "+ix.Name)
			if !ok {
				continue
			}
			name := ix.Name
			if name == "" || strings.HasPrefix(name, "sqlite_autoindex_") {
				name = t.Name + "_" + strings.Join(ix.Columns, "_") + map[bool]string{true: "_key", false: "_idx"}[ix.Unique]
			}
			name = uniqueName(namer, name, used)
			kw := "KEY "
			if ix.Unique {
				kw = "UNIQUE KEY "
			}
			defs = append(defs, kw+ident(name)+" ("+parts+")")
			keyed = keyed || ix.Columns[0] == autoCol
		}
	}
	if opts.Indexes {
		for _, ft := range t.FullText {
			if t.Dialect != schema.MySQL {
				continue
			}
			cols := make([]string, 0, len(ft.Columns))
			for _, n := range ft.Columns {
				if _, ok := types[n]; ok {
					cols = append(cols, ident(colNames[n]))
				}
			}
			if len(cols) == len(ft.Columns) {
				defs = append(defs, "FULLTEXT KEY "+ident(uniqueName(namer, ft.Name, usedIdx))+" ("+strings.Join(cols, ", ")+")")
			}
		}
	}
	if autoCol != "" && !keyed {
		parts, _ := keyParts([]string{autoCol}, nil, "auto_increment key")
		defs = append(defs, "KEY "+ident(namer.Name(autoCol))+" ("+parts+")")
	}
	var b strings.Builder
	b.WriteString("CREATE TABLE " + c.qualify(opts.Schema, plan.Table) + " (\n  ")
	b.WriteString(strings.Join(defs, ",\n  "))
	b.WriteString("\n) DEFAULT CHARSET=utf8mb4")
	if autoCol != "" && t.AutoIncrementNext > 1 {
		b.WriteString(" AUTO_INCREMENT=" + strconv.FormatInt(t.AutoIncrementNext, 10))
	}
	if t.Comment != "" {
		b.WriteString(" COMMENT=" + str(t.Comment))
	}
	plan.Statements = []string{b.String()}
	if opts.ForeignKeys {
		used := map[string]bool{}
		for _, fk := range t.ForeignKeys {
			cols := make([]string, 0, len(fk.Columns))
			for _, n := range fk.Columns {
				if _, ok := types[n]; ok {
					cols = append(cols, colNames[n])
				}
			}
			if len(cols) != len(fk.Columns) {
				warn("foreign key %s dropped: a column is missing", fk.Name)
				continue
			}
			q := make([]string, len(cols))
			for i, n := range cols {
				q[i] = ident(n)
			}
			refs := make([]string, len(fk.RefColumns))
			for i, r := range fk.RefColumns {
				refs[i] = ident(namer.Name(r))
			}
			act := func(a, what string) string {
				if a = schema.Action(a); a == schema.SetDefault {
					warn("foreign key %s: ON %s SET DEFAULT became NO ACTION (InnoDB has no SET DEFAULT)", fk.Name, what)
					return schema.NoAction
				}
				return a
			}
			ref := c.qualify(opts.Schema, namer.Name(fk.RefTable))
			if fk.RefSchema != "" && t.Dialect == schema.MySQL {
				ref = c.qualify(fk.RefSchema, namer.Name(fk.RefTable))
			}
			name := schema.ForeignKeyName(namer, plan.Table, fk, cols, used)
			plan.ForeignKeys = append(plan.ForeignKeys, "ALTER TABLE "+c.qualify(opts.Schema, plan.Table)+" ADD CONSTRAINT "+ident(name)+
				" FOREIGN KEY ("+strings.Join(q, ", ")+") REFERENCES "+ref+" ("+strings.Join(refs, ", ")+") ON DELETE "+act(fk.OnDelete, "DELETE")+
				" ON UPDATE "+act(fk.OnUpdate, "UPDATE"))
		}
	}
	return plan, nil
}

// uniqueName names an index uniquely within its table (case-insensitively,
// as MySQL compares index names).
func uniqueName(namer schema.Namer, name string, used map[string]bool) string {
	out := namer.Name(name)
	for i := 2; used[strings.ToLower(out)]; i++ {
		out = namer.Name(name + "_" + strconv.Itoa(i))
	}
	used[strings.ToLower(out)] = true
	return out
}

func (c *Conn) qualify(db, table string) string {
	if db == "" {
		return ident(table)
	}
	return ident(db) + "." + ident(table)
}

func isIntegerType(typ string) bool {
	for _, p := range []string{"tinyint", "smallint", "mediumint", "int", "bigint"} {
		if typ == p || strings.HasPrefix(typ, p+" ") || strings.HasPrefix(typ, p+"(") {
			return true
		}
	}
	return false
}

func isLOB(typ string) bool {
	return strings.HasSuffix(typ, "text") || strings.HasSuffix(typ, "blob")
}

func isString(typ string) bool {
	for _, p := range []string{"char(", "varchar(", "binary(", "varbinary("} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

func unsupported(t schema.Table, col schema.Column, reason string) error {
	return &schema.UnsupportedError{Table: t.Name, Column: col.Name, Type: col.Type.TypeName(), Target: "MySQL", Reason: reason}
}

// columnType renders a canonical type for MySQL; docs/type-mapping.md lists
// the mapping and a test keeps the two in step.
func columnType(t schema.Table, col schema.Column, opts schema.CreateOptions) (string, error) {
	typ := col.Type
	fromMySQL := t.Dialect == schema.MySQL
	unsigned := ""
	if typ.Unsigned {
		unsigned = " unsigned"
	}
	switch typ.Kind {
	case schema.Bool:
		if fromMySQL && strings.HasPrefix(strings.ToLower(typ.Native), "bit") {
			return "bit(1)", nil
		}
		return "tinyint(1)", nil
	case schema.Int8:
		return "tinyint" + unsigned, nil
	case schema.Int16:
		return "smallint" + unsigned, nil
	case schema.Int24:
		return "mediumint" + unsigned, nil
	case schema.Int32:
		return "int" + unsigned, nil
	case schema.Int64:
		return "bigint" + unsigned, nil
	case schema.Decimal:
		if typ.Precision == 0 {
			return "decimal(65,30)", nil // PlanCreate warns
		}
		if typ.Precision > maxDecimalPrecision || typ.Scale > maxDecimalScale {
			return "", unsupported(t, col, fmt.Sprintf("MySQL decimal holds at most %d digits, %d after the point", maxDecimalPrecision, maxDecimalScale))
		}
		return fmt.Sprintf("decimal(%d,%d)%s", typ.Precision, typ.Scale, unsigned), nil
	case schema.Float32:
		return "float", nil
	case schema.Float64:
		return "double", nil
	case schema.Char:
		if typ.Length > 0 && typ.Length <= 255 {
			return fmt.Sprintf("char(%d)", typ.Length), nil
		}
		return varchar(typ.Length), nil
	case schema.Varchar:
		return varchar(typ.Length), nil
	case schema.Text:
		return lob("text", typ.Length), nil
	case schema.Binary:
		if typ.Length > 0 && typ.Length <= 255 {
			return fmt.Sprintf("binary(%d)", typ.Length), nil
		}
		return varbinary(typ.Length), nil
	case schema.Varbinary:
		return varbinary(typ.Length), nil
	case schema.Blob:
		return lob("blob", typ.Length), nil
	case schema.Date:
		return "date", nil
	case schema.Time:
		return withFsp("time", typ.Precision), nil
	case schema.Timestamp:
		return withFsp("datetime", typ.Precision), nil
	case schema.TimestampTZ:
		// An instant stays an instant: MySQL's timestamp stores UTC and
		// converts to the session time zone, as timestamptz does.
		return withFsp("timestamp", typ.Precision), nil
	case schema.Year:
		return "year", nil
	case schema.JSON, schema.Array:
		return "json", nil
	case schema.UUID:
		if fromMySQL && strings.EqualFold(typ.Native, "uuid") {
			return "uuid", nil // MariaDB's own
		}
		return "char(36)", nil
	case schema.Bit:
		if typ.Length < 1 || typ.Length > 64 {
			return "", unsupported(t, col, "MySQL bit holds 1 to 64 bits")
		}
		return fmt.Sprintf("bit(%d)", typ.Length), nil
	case schema.Enum, schema.Set:
		if len(typ.Values) == 0 {
			return "", unsupported(t, col, "no values")
		}
		vals := make([]string, len(typ.Values))
		for i, v := range typ.Values {
			vals[i] = str(v)
		}
		return string(typ.Kind) + "(" + strings.Join(vals, ",") + ")", nil
	case schema.Geometry, schema.Other:
		if fromMySQL && typ.Native != "" {
			return typ.Native, nil
		}
	case schema.Interval:
		return "", unsupported(t, col, "MySQL has no interval type")
	}
	return "", unsupported(t, col, "")
}

func withFsp(name string, p int) string {
	if p <= 0 {
		return name
	}
	return fmt.Sprintf("%s(%d)", name, min(p, maxTimePrecision))
}

func varchar(n int) string {
	if n <= 0 || n > maxVarcharChars {
		return "longtext"
	}
	return fmt.Sprintf("varchar(%d)", n)
}

func varbinary(n int) string {
	if n <= 0 || n > maxVarbinary {
		return "longblob"
	}
	return fmt.Sprintf("varbinary(%d)", n)
}

// lob picks the smallest TEXT/BLOB type that holds size bytes (0 =
// unbounded).
func lob(family string, size int) string {
	switch {
	case size <= 0:
		return "long" + family
	case size <= tinySize:
		return "tiny" + family
	case size <= textSize:
		return family
	case size <= mediumSize:
		return "medium" + family
	}
	return "long" + family
}

func currentTimestamp(p int) string {
	if p <= 0 {
		return "CURRENT_TIMESTAMP"
	}
	return fmt.Sprintf("CURRENT_TIMESTAMP(%d)", min(p, maxTimePrecision))
}

// defaultClause renders col's default for rendered type typ, or explains
// why it was dropped.
func defaultClause(t schema.Table, col schema.Column, typ string) (string, string) {
	lobType := isLOB(typ) || typ == "json" || col.Type.Kind == schema.Geometry
	switch col.DefaultKind {
	case schema.DefaultNone:
		return "", ""
	case schema.DefaultNull:
		if col.Nullable {
			return " DEFAULT NULL", ""
		}
		return "", ""
	case schema.DefaultCurrentTS:
		if k := col.Type.Kind; k == schema.Timestamp || k == schema.TimestampTZ {
			return " DEFAULT " + currentTimestamp(col.Type.Precision), ""
		}
		return "", fmt.Sprintf("column %s: default CURRENT_TIMESTAMP dropped: not supported for %s", col.Name, typ)
	case schema.DefaultExpression:
		if t.Dialect == schema.MySQL {
			return " DEFAULT (" + col.Default + ")", ""
		}
		return "", fmt.Sprintf("column %s: default %s dropped: a %s expression", col.Name, col.Default, t.Dialect)
	}
	v := col.Default
	var lit string
	switch k := col.Type.Kind; {
	case k == schema.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", fmt.Sprintf("column %s: default %q dropped: not a boolean", col.Name, v)
		}
		lit = "0"
		if b {
			lit = "1"
		}
		if typ == "bit(1)" {
			lit = "b'" + lit + "'"
		}
	case k == schema.Bit:
		lit = "b'" + v + "'"
	case k == schema.Array:
		return "", fmt.Sprintf("column %s: default %s dropped: an array literal is not json", col.Name, v)
	case k.IsNumeric() && schema.IsNumberLiteral(v):
		lit = v
	default:
		lit = str(v)
	}
	if lobType {
		// MySQL 8 takes defaults for TEXT/BLOB/JSON only as expressions.
		lit = "(" + lit + ")"
	}
	return " DEFAULT " + lit, ""
}

// TableExists reports whether db.name exists.
func (c *Conn) TableExists(ctx context.Context, db, name string) (bool, error) {
	db = c.schemaOr(db)
	var n int
	err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, db, name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check table %s.%s: %w", db, name, err)
	}
	return n > 0, nil
}

// DropTable drops db.name if it exists.
func (c *Conn) DropTable(ctx context.Context, db, name string) error {
	if _, err := c.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+c.qualify(db, name)); err != nil {
		return fmt.Errorf("drop table %s: %w", name, err)
	}
	return nil
}

// Apply runs the plan's statements in order on one connection. MySQL
// commits DDL statement by statement, so there is no transaction; the
// error is the server's own.
func (c *Conn) Apply(ctx context.Context, p schema.Plan) error {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Timestamp literals in defaults are UTC, as canonical timestamptz
	// defaults are.
	restore, err := inUTC(ctx, conn)
	if err != nil {
		return err
	}
	defer restore()
	for _, s := range p.Statements {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}
