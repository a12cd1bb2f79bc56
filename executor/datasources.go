package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

func lookupType(name string, pos int) (connectors.Type, error) {
	t, ok := connectors.Lookup(name)
	if !ok {
		return t, withPos(withHint(pgErr(codeInvalidParam, "unknown datasource type %q", name),
			"Valid types: "+strings.Join(connectors.Names(), ", ")+"."), pos)
	}
	return t, nil
}

// optionMap turns parsed options into a map; a key given twice is an error.
func optionMap(text string, opts []parser.Option) (map[string]string, error) {
	m := make(map[string]string, len(opts))
	for _, o := range opts {
		if _, dup := m[o.Key]; dup {
			return nil, withPos(pgErr(codeInvalidParam, "option %q given more than once", o.Key), parser.OffsetToPosition(text, o.KeyPos))
		}
		m[o.Key] = o.Value
	}
	return m, nil
}

// positionOption points a connectors validation error at the offending key.
func positionOption(err error, text string, opts []parser.Option) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Position != 0 {
		return err
	}
	for _, o := range opts {
		if strings.Contains(pe.Message, fmt.Sprintf("%q", o.Key)) {
			pe.Position = int32(parser.OffsetToPosition(text, o.KeyPos))
			break
		}
	}
	return err
}

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func notFound(what, name string) *pgconn.PgError {
	return pgErr(codeUndefinedObject, "%s %q does not exist", what, name)
}

func (s *Session) createDatasource(ctx context.Context, st *parser.CreateDatasource) (wire.Result, error) {
	t, err := lookupType(st.Type, parser.OffsetToPosition(st.Text(), st.TypePos))
	if err != nil {
		return nil, err
	}
	opts, err := optionMap(st.Text(), st.Options)
	if err != nil {
		return nil, err
	}
	full, err := t.Validate(opts)
	if err != nil {
		return nil, positionOption(err, st.Text(), st.Options)
	}
	if err := s.checkHostPaths(t, full, full); err != nil {
		return nil, positionOption(err, st.Text(), st.Options)
	}
	err = s.ex.cat.CreateDatasource(ctx, catalog.Datasource{Name: st.Name, Type: t.Name, Options: full, Comment: st.Comment}, secretKey(t))
	if errors.Is(err, catalog.ErrDuplicate) {
		if st.IfNotExists {
			s.notice("NOTICE", "42710", fmt.Sprintf("datasource %q already exists, skipping", st.Name), "")
			return tagOnly("CREATE DATASOURCE"), nil
		}
		hint := "Choose another name, or ALTER DATASOURCE to change it."
		if d, gerr := s.ex.cat.GetDatasource(ctx, st.Name); gerr == nil && d.Status == catalog.StatusRecycled {
			hint = fmt.Sprintf("It is in the recycle bin: RESTORE DATASOURCE %s, or DROP DATASOURCE %s PURGE first.", st.Name, st.Name)
		}
		return nil, withPos(withHint(pgErr(codeDuplicateObject, "datasource %q already exists", st.Name), hint),
			parser.OffsetToPosition(st.Text(), st.NamePos))
	}
	if err != nil {
		return nil, err
	}
	return tagOnly("CREATE DATASOURCE"), nil
}

// activeDatasource loads a datasource that must not be in the recycle bin.
func (s *Session) activeDatasource(ctx context.Context, name string) (*catalog.Datasource, error) {
	d, err := s.ex.cat.GetDatasource(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, notFound("datasource", name)
	}
	if err != nil {
		return nil, err
	}
	if d.Status == catalog.StatusRecycled {
		return nil, withHint(pgErr(codeObjectState, "datasource %q is in the recycle bin", name),
			fmt.Sprintf("RESTORE DATASOURCE %s first.", name))
	}
	return d, nil
}

func (s *Session) alterDatasourceOptions(ctx context.Context, st *parser.AlterDatasourceOptions) (wire.Result, error) {
	d, err := s.activeDatasource(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	t, err := lookupType(d.Type, 0)
	if err != nil {
		return nil, err
	}
	set, err := optionMap(st.Text(), st.Options)
	if err != nil {
		return nil, err
	}
	full, err := t.ValidatePartial(d.Options, set)
	if err != nil {
		return nil, positionOption(err, st.Text(), st.Options)
	}
	if err := s.checkHostPaths(t, full, lowerKeys(set)); err != nil {
		return nil, positionOption(err, st.Text(), st.Options)
	}
	if err := s.ex.cat.SetDatasourceOptions(ctx, d.Name, full, secretKey(t)); err != nil {
		return nil, err
	}
	return tagOnly("ALTER DATASOURCE"), nil
}

func (s *Session) renameDatasource(ctx context.Context, st *parser.AlterDatasourceRename) (wire.Result, error) {
	if _, err := s.activeDatasource(ctx, st.Name); err != nil {
		return nil, err
	}
	err := s.ex.cat.RenameDatasource(ctx, st.Name, st.NewName)
	if errors.Is(err, catalog.ErrDuplicate) {
		return nil, withPos(pgErr(codeDuplicateObject, "datasource %q already exists", st.NewName), parser.OffsetToPosition(st.Text(), st.NewNamePos))
	}
	if err != nil {
		return nil, err
	}
	return tagOnly("ALTER DATASOURCE"), nil
}

func (s *Session) commentDatasource(ctx context.Context, st *parser.AlterDatasourceComment) (wire.Result, error) {
	if _, err := s.activeDatasource(ctx, st.Name); err != nil {
		return nil, err
	}
	var c *string
	if st.Comment != "" {
		c = &st.Comment
	}
	if err := s.ex.cat.CommentDatasource(ctx, st.Name, c); err != nil {
		return nil, err
	}
	return tagOnly("ALTER DATASOURCE"), nil
}

func (s *Session) dropDatasource(ctx context.Context, st *parser.DropDatasource) (wire.Result, error) {
	d, err := s.ex.cat.GetDatasource(ctx, st.Name)
	if errors.Is(err, catalog.ErrNotFound) {
		if st.IfExists {
			s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("datasource %q does not exist, skipping", st.Name), "")
			return tagOnly("DROP DATASOURCE"), nil
		}
		return nil, withPos(notFound("datasource", st.Name), parser.OffsetToPosition(st.Text(), st.NamePos))
	}
	if err != nil {
		return nil, err
	}
	if users, err := s.usersOf(ctx, d.Name); err != nil {
		return nil, err
	} else if users != "" {
		return nil, withHint(pgErr(codeDependentObjects, "cannot drop datasource %q because %s use it", d.Name, users),
			"Drop or change those first.")
	}
	if st.Purge {
		if err := s.ex.cat.PurgeDatasource(ctx, d.Name); err != nil {
			return nil, err
		}
		return tagOnly("DROP DATASOURCE"), nil
	}
	if d.Status == catalog.StatusRecycled {
		return nil, withHint(pgErr(codeObjectState, "datasource %q is already in the recycle bin", st.Name),
			fmt.Sprintf("RESTORE DATASOURCE %s brings it back; DROP DATASOURCE %s PURGE removes it for good.", st.Name, st.Name))
	}
	if err := s.ex.cat.SetDatasourceStatus(ctx, d.Name, catalog.StatusRecycled); err != nil {
		return nil, err
	}
	return tagOnly("DROP DATASOURCE"), nil
}

func (s *Session) restoreDatasource(ctx context.Context, st *parser.RestoreDatasource) (wire.Result, error) {
	d, err := s.ex.cat.GetDatasource(ctx, st.Name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, withPos(notFound("datasource", st.Name), parser.OffsetToPosition(st.Text(), st.NamePos))
	}
	if err != nil {
		return nil, err
	}
	if d.Status != catalog.StatusRecycled {
		return nil, pgErr(codeObjectState, "datasource %q is not in the recycle bin", st.Name)
	}
	if err := s.ex.cat.SetDatasourceStatus(ctx, d.Name, catalog.StatusNormal); err != nil {
		return nil, err
	}
	return tagOnly("RESTORE DATASOURCE"), nil
}

var testDatasourceColumns = []wire.Column{
	textCol("datasource"),
	typedCol("ok", pgtype.BoolOID),
	typedCol("latency_ms", pgtype.Float8OID),
	textCol("server_version"),
	textCol("message"),
}

// testDatasource connects and reports; a failure is a row with ok = false,
// not an error, so scripts can test many datasources in one go.
func (s *Session) testDatasource(ctx context.Context, st *parser.TestDatasource) (wire.Result, error) {
	d, err := s.activeDatasource(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	t, err := lookupType(d.Type, 0)
	if err != nil {
		return nil, err
	}
	if err := s.ex.checkOpenPaths(d, t); err != nil {
		return nil, err
	}
	started := time.Now()
	res, terr := connectors.Test(ctx, t, d.Options)
	latency := float64(time.Since(started).Microseconds()) / 1000
	if ctx.Err() != nil {
		return nil, pgErr(codeQueryCanceled, "canceling statement due to user request")
	}
	row := [][]byte{text(d.Name), boolText(terr == nil), fmtFloat(latency), nil, nil}
	if terr != nil {
		row[4] = text(terr.Error())
	} else {
		row[2] = fmtFloat(latency)
		row[3] = text(res.ServerVersion)
		row[4] = text("ok")
	}
	return rowsOf([][][]byte{row}), nil
}
