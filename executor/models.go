package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
	"github.com/jackc/pgx/v5/pgtype"
)

// DefaultModelSchema is the schema of a hand-made model named without one.
const DefaultModelSchema = "public"

var importTablesColumns = []wire.Column{
	textCol("schema"), textCol("table_name"), textCol("status"), typedCol("columns", pgtype.Int8OID), textCol("message"),
}

func (s *Session) importTables(ctx context.Context, ds, schemaName string, tables []string) (wire.Result, error) {
	src, err := s.openDatasource(ctx, ds)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	in, err := capability[schema.Introspector](src, "describe tables")
	if err != nil {
		return nil, err
	}
	if schemaName == "" {
		schemaName = in.DefaultSchema()
	}
	names := tables
	if len(names) == 0 {
		if names, err = in.ListTables(ctx, schemaName); err != nil {
			return nil, src.remoteErr("list tables", err)
		}
	}
	described, err := in.DescribeTables(ctx, schemaName, names)
	if errors.Is(err, schema.ErrTableNotFound) {
		return nil, withHint(pgErr(codeUndefinedObject, "datasource %q, schema %q: %v", ds, schemaName, connectorsScrub(src, err)),
			"List the tables with IMPORT TABLES FROM "+ds+" (no list) or check the name's case; quote mixed-case names.")
	}
	if err != nil {
		return nil, src.remoteErr("describe tables", err)
	}
	var rows [][][]byte
	for _, t := range described {
		if t.Schema == "" {
			t.Schema = schemaName
		}
		outcome, err := s.ex.cat.ImportModel(ctx, ds, t)
		if err != nil {
			return nil, err
		}
		rows = append(rows, [][]byte{text(t.Schema), text(t.Name), text(outcome), text(strconv.Itoa(len(t.Columns))), text(importMessage(outcome, ds))})
	}
	return &rowsResult{rows: rows, tag: fmt.Sprintf("IMPORT TABLES %d", len(rows))}, nil
}

func importMessage(outcome, ds string) string {
	switch outcome {
	case catalog.ModelCreated:
		return "model created and associated with " + ds
	case catalog.ModelUpdated:
		return "model structure updated from " + ds
	}
	return "model already matches " + ds
}

func connectorsScrub(o *openedSource, err error) error {
	return connectors.ScrubError(err, o.Secrets...)
}

func (s *Session) runImportTables(ctx context.Context, st *parser.ImportTables) (wire.Result, error) {
	return s.importTables(ctx, st.Datasource, st.Schema, st.Tables)
}

// runRefreshTables re-reads the models associated with a datasource; a table
// gone from the source is reported and marked, never silently kept current.
func (s *Session) runRefreshTables(ctx context.Context, st *parser.RefreshTables) (wire.Result, error) {
	refs, err := s.ex.cat.DatasourceModels(ctx, st.Datasource)
	if err != nil {
		return nil, err
	}
	src, err := s.openDatasource(ctx, st.Datasource)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	in, err := capability[schema.Introspector](src, "describe tables")
	if err != nil {
		return nil, err
	}
	var picked []catalog.ModelRef
	for _, r := range refs {
		if st.Schema != "" && r.Schema != st.Schema {
			continue
		}
		if len(st.Tables) > 0 && !slices.Contains(st.Tables, r.Name) {
			continue
		}
		picked = append(picked, r)
	}
	for _, want := range st.Tables {
		if !slices.ContainsFunc(picked, func(r catalog.ModelRef) bool { return r.Name == want }) {
			return nil, withHint(pgErr(codeUndefinedObject, "table %q is not associated with datasource %q", want, st.Datasource),
				fmt.Sprintf("IMPORT TABLES FROM %s (%s) reads it for the first time.", st.Datasource, want))
		}
	}
	var rows [][][]byte
	for _, r := range picked {
		tables, err := in.DescribeTables(ctx, r.Schema, []string{r.Name})
		if errors.Is(err, schema.ErrTableNotFound) {
			if err := s.ex.cat.MarkDroppedAtSource(ctx, st.Datasource, r.Schema, r.Name); err != nil {
				return nil, err
			}
			rows = append(rows, [][]byte{text(r.Schema), text(r.Name), text("dropped_at_source"), nil,
				text(fmt.Sprintf("table no longer exists in %s; the model is kept and marked dropped_at_source (DROP TABLE MODEL removes it)", st.Datasource))})
			continue
		}
		if err != nil {
			return nil, src.remoteErr("describe "+r.Name, err)
		}
		t := tables[0]
		if t.Schema == "" {
			t.Schema = r.Schema
		}
		outcome, err := s.ex.cat.ImportModel(ctx, st.Datasource, t)
		if err != nil {
			return nil, err
		}
		rows = append(rows, [][]byte{text(t.Schema), text(t.Name), text(outcome), text(strconv.Itoa(len(t.Columns))), text(importMessage(outcome, st.Datasource))})
	}
	return &rowsResult{rows: rows, tag: fmt.Sprintf("REFRESH TABLES %d", len(rows))}, nil
}

// resolveModel finds a model by optional schema and name.
func (s *Session) resolveModel(ctx context.Context, schemaName, name string) (string, error) {
	sc, err := s.ex.cat.ResolveModel(ctx, schemaName, name)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		full := name
		if schemaName != "" {
			full = schemaName + "." + name
		}
		return "", withHint(pgErr(codeUndefinedObject, "table model %q does not exist", full),
			"SELECT schema, name FROM dataflow.tables lists the models.")
	case errors.Is(err, catalog.ErrAmbiguous):
		return "", withHint(pgErr(codeAmbiguous, "%v", err), "Qualify the name with its schema.")
	}
	return sc, err
}

// modelColumn builds a column from its definition; types are PostgreSQL's.
func modelColumn(text string, d parser.ColumnDef) (schema.Column, error) {
	t, err := postgres.ParseType(d.Type.Text)
	if err != nil {
		return schema.Column{}, withHint(withPos(pgErr(codeUndefinedObject, "column %q: %v", d.Name, err), parser.OffsetToPosition(text, d.Type.Pos)),
			"Table models use PostgreSQL type names, e.g. bigint, numeric(12,2), varchar(64), timestamptz.")
	}
	c := schema.Column{Name: d.Name, Type: t, Nullable: !d.NotNull && !d.PrimaryKey, AutoIncrement: postgres.IsSerial(t)}
	if d.Comment != nil {
		c.Comment = *d.Comment
	}
	if d.Default != nil {
		c.Default, c.DefaultKind = modelDefault(*d.Default)
	}
	return c, nil
}

// modelDefault classifies a DEFAULT expression as written.
func modelDefault(expr string) (string, schema.DefaultKind) {
	e := strings.TrimSpace(expr)
	le := strings.ToLower(e)
	switch {
	case le == "null":
		return "", schema.DefaultNull
	case le == "current_timestamp" || le == "now()" || le == "localtimestamp":
		return "", schema.DefaultCurrentTS
	case strings.HasPrefix(le, "current_timestamp(") && strings.HasSuffix(le, ")"):
		return strings.TrimSuffix(strings.TrimPrefix(le, "current_timestamp("), ")"), schema.DefaultCurrentTS
	case len(e) >= 2 && e[0] == '\'' && e[len(e)-1] == '\'':
		return strings.ReplaceAll(e[1:len(e)-1], "''", "'"), schema.DefaultLiteral
	case le == "true" || le == "false":
		return le, schema.DefaultLiteral
	}
	if _, err := strconv.ParseFloat(e, 64); err == nil {
		return e, schema.DefaultLiteral
	}
	return e, schema.DefaultExpression
}

func (s *Session) runCreateTableModel(ctx context.Context, st *parser.CreateTableModel) (wire.Result, error) {
	text := st.Text()
	m := &catalog.Model{Schema: st.Schema, Name: st.Name, Title: st.Title, Comment: st.Comment,
		CaseSensitive: st.CaseSensitive, Dialect: schema.Postgres}
	if m.Schema == "" {
		m.Schema = DefaultModelSchema
	}
	var pk []string
	for _, d := range st.Columns {
		if _, dup := m.Table.Column(d.Name); dup {
			return nil, withPos(pgErr(codeDuplicateColumn, "column %q specified more than once", d.Name), parser.OffsetToPosition(text, d.NamePos))
		}
		c, err := modelColumn(text, d)
		if err != nil {
			return nil, err
		}
		m.Table.Columns = append(m.Table.Columns, c)
		if d.PrimaryKey {
			pk = append(pk, d.Name)
		}
	}
	if len(st.PrimaryKey) > 0 {
		if len(pk) > 0 {
			return nil, withPos(pgErr(codeInvalidTableDef, "multiple primary keys for table model %q are not allowed", st.Name),
				parser.OffsetToPosition(text, st.PrimaryKeyPos))
		}
		for _, k := range st.PrimaryKey {
			c, ok := m.Table.Column(k)
			if !ok {
				return nil, withPos(pgErr(codeUndefinedColumn, "column %q named in key does not exist", k), parser.OffsetToPosition(text, st.PrimaryKeyPos))
			}
			c.Nullable = false
		}
		pk = st.PrimaryKey
	}
	m.Table.PrimaryKey = pk
	m.Table.Dialect = schema.Postgres
	if st.Comment != nil {
		m.Table.Comment = *st.Comment
	}
	err := s.ex.cat.CreateModel(ctx, m)
	if errors.Is(err, catalog.ErrDuplicate) {
		if st.IfNotExists {
			s.notice("NOTICE", codeDuplicateObject, fmt.Sprintf("table model %q already exists, skipping", m.Schema+"."+m.Name), "")
			return tagOnly("CREATE TABLE MODEL"), nil
		}
		return nil, withHint(pgErr(codeDuplicateObject, "table model %q already exists", m.Schema+"."+m.Name), "ALTER TABLE MODEL changes it; DROP TABLE MODEL removes it.")
	}
	if err != nil {
		return nil, err
	}
	return tagOnly("CREATE TABLE MODEL"), nil
}

func (s *Session) runAlterTableModel(ctx context.Context, st *parser.AlterTableModel) (wire.Result, error) {
	sc, err := s.resolveModel(ctx, st.Schema, st.Name)
	if err != nil {
		return nil, err
	}
	text := st.Text()
	missing := func(name string, pos int) error {
		return withPos(pgErr(codeUndefinedColumn, "column %q of table model %q does not exist", name, sc+"."+st.Name), parser.OffsetToPosition(text, pos))
	}
	err = s.ex.cat.UpdateModel(ctx, sc, st.Name, func(m *catalog.Model) error {
		t := &m.Table
		idx := slices.IndexFunc(t.Columns, func(c schema.Column) bool { return c.Name == st.ColumnName })
		switch st.Action {
		case "add_column":
			if _, dup := t.Column(st.Column.Name); dup {
				return withPos(pgErr(codeDuplicateColumn, "column %q of table model %q already exists", st.Column.Name, sc+"."+st.Name),
					parser.OffsetToPosition(text, st.Column.NamePos))
			}
			c, err := modelColumn(text, st.Column)
			if err != nil {
				return err
			}
			if st.Column.PrimaryKey {
				if len(t.PrimaryKey) > 0 {
					return pgErr(codeInvalidTableDef, "table model %q already has a primary key (%s)", st.Name, strings.Join(t.PrimaryKey, ", "))
				}
				t.PrimaryKey = []string{c.Name}
			}
			t.Columns = append(t.Columns, c)
			m.Dialect = schema.Postgres
		case "alter_type":
			if idx < 0 {
				return missing(st.ColumnName, st.ColumnPos)
			}
			typ, err := postgres.ParseType(st.NewType.Text)
			if err != nil {
				return withPos(pgErr(codeUndefinedObject, "%v", err), parser.OffsetToPosition(text, st.NewType.Pos))
			}
			if m.Dialect != schema.Postgres {
				// The model now mixes dialects; re-spell every type in PostgreSQL terms.
				return withHint(pgErr(codeFeatureNotSupp, "table model %q has %s types; ALTER COLUMN TYPE works on models typed in PostgreSQL names", st.Name, m.Dialect),
					"Create the model with CREATE TABLE MODEL, or change the source and REFRESH TABLES.")
			}
			t.Columns[idx].Type = typ
		case "drop_column":
			if idx < 0 {
				return missing(st.ColumnName, st.ColumnPos)
			}
			t.Columns = slices.Delete(t.Columns, idx, idx+1)
			t.PrimaryKey = slices.DeleteFunc(t.PrimaryKey, func(k string) bool { return k == st.ColumnName })
			t.Indexes = slices.DeleteFunc(t.Indexes, func(ix schema.Index) bool { return slices.Contains(ix.Columns, st.ColumnName) })
		case "rename_column":
			if idx < 0 {
				return missing(st.ColumnName, st.ColumnPos)
			}
			if _, dup := t.Column(st.NewName); dup {
				return pgErr(codeDuplicateColumn, "column %q of table model %q already exists", st.NewName, sc+"."+st.Name)
			}
			t.Columns[idx].Name = st.NewName
			for i, k := range t.PrimaryKey {
				if k == st.ColumnName {
					t.PrimaryKey[i] = st.NewName
				}
			}
			for i := range t.Indexes {
				for j, k := range t.Indexes[i].Columns {
					if k == st.ColumnName {
						t.Indexes[i].Columns[j] = st.NewName
					}
				}
			}
		case "move_column":
			if idx < 0 {
				return missing(st.ColumnName, st.ColumnPos)
			}
			col := t.Columns[idx]
			rest := slices.Delete(slices.Clone(t.Columns), idx, idx+1)
			at := 0
			if !st.First {
				if st.After == st.ColumnName {
					return withPos(pgErr(codeInvalidParam, "cannot move column %q after itself", st.After), parser.OffsetToPosition(text, st.AfterPos))
				}
				a := slices.IndexFunc(rest, func(c schema.Column) bool { return c.Name == st.After })
				if a < 0 {
					return missing(st.After, st.AfterPos)
				}
				at = a + 1
			}
			t.Columns = slices.Insert(rest, at, col)
		case "set_comment":
			m.Comment = st.Text2
			t.Comment = ""
			if st.Text2 != nil {
				t.Comment = *st.Text2
			}
		case "set_title":
			m.Title = st.Text2
		default:
			return pgErr(codeFeatureNotSupp, "ALTER TABLE MODEL %s is not supported", st.Action)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tagOnly("ALTER TABLE MODEL"), nil
}

func (s *Session) runDropTableModel(ctx context.Context, st *parser.DropTableModel) (wire.Result, error) {
	sc, err := s.resolveModel(ctx, st.Schema, st.Name)
	if err != nil {
		var pe interface{ SQLState() string }
		if st.IfExists && errors.As(err, &pe) && pe.SQLState() == codeUndefinedObject {
			s.notice("NOTICE", "00000", fmt.Sprintf("table model %q does not exist, skipping", st.Name), "")
			return tagOnly("DROP TABLE MODEL"), nil
		}
		return nil, err
	}
	if err := s.ex.cat.DropModel(ctx, sc, st.Name); err != nil {
		return nil, err
	}
	return tagOnly("DROP TABLE MODEL"), nil
}

func (s *Session) runAssociateTable(ctx context.Context, st *parser.AssociateTable) (wire.Result, error) {
	sc, err := s.resolveModel(ctx, st.Schema, st.Name)
	if err != nil {
		return nil, err
	}
	if _, err := s.activeDatasource(ctx, st.Datasource); err != nil {
		return nil, err
	}
	err = s.ex.cat.AssociateModel(ctx, sc, st.Name, st.Datasource)
	if errors.Is(err, catalog.ErrDuplicate) {
		return nil, pgErr(codeDuplicateObject, "table model %q is already associated with datasource %q", sc+"."+st.Name, st.Datasource)
	}
	if err != nil {
		return nil, err
	}
	return tagOnly("ASSOCIATE TABLE"), nil
}

func (s *Session) runDissociateTable(ctx context.Context, st *parser.DissociateTable) (wire.Result, error) {
	sc, err := s.resolveModel(ctx, st.Schema, st.Name)
	if err != nil {
		return nil, err
	}
	if _, err := s.ex.cat.GetDatasource(ctx, st.Datasource); errors.Is(err, catalog.ErrNotFound) {
		return nil, notFound("datasource", st.Datasource)
	}
	err = s.ex.cat.DissociateModel(ctx, sc, st.Name, st.Datasource)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, pgErr(codeUndefinedObject, "table model %q is not associated with datasource %q", sc+"."+st.Name, st.Datasource)
	}
	if err != nil {
		return nil, err
	}
	return tagOnly("DISSOCIATE TABLE"), nil
}
