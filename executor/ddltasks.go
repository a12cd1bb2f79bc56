package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/ddltask"
	"github.com/flowgate/flowgate/executor/runopts"
	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
)

var ddlTaskColumns = []wire.Column{textCol("table_name"), textCol("status"), textCol("message"), textCol("sql")}

// checkWith validates a WITH list against set, pointing errors at the key.
// checkWith validates a WITH (...) list against set and, for sync jobs
// (mode not ""), refuses keys the mode does not use.
func checkWith(text string, set runopts.Set, opts []parser.Option, mode string) (map[string]string, error) {
	given, err := optionMap(text, opts)
	if err != nil {
		return nil, err
	}
	checked, err := set.Check(given)
	if err == nil && mode != "" {
		err = set.CheckMode(checked, mode)
	}
	var ke *runopts.KeyError
	if errors.As(err, &ke) {
		e := withHint(pgErr(codeInvalidParam, "%s", ke.Message), ke.Hint)
		for _, o := range opts {
			if o.Key == ke.Key {
				e = withPos(e, parser.OffsetToPosition(text, o.KeyPos))
			}
		}
		return nil, e
	}
	return checked, err
}

func (s *Session) runCreateDDLTask(ctx context.Context, st *parser.CreateDDLTask) (wire.Result, error) {
	opts, err := checkWith(st.Text(), runopts.DDLTask, st.With, "")
	if err != nil {
		return nil, err
	}
	src, err := s.activeDatasource(ctx, st.SourceDS)
	if err != nil {
		return nil, err
	}
	dst, err := s.activeDatasource(ctx, st.TargetDS)
	if err != nil {
		return nil, err
	}
	if sameTables(src, st.SourceSchema, dst, st.TargetSchema) {
		return nil, withHint(pgErr(codeInvalidParam, "DDL task %q would create tables over themselves: source and target are the same database and schema", st.Name),
			"Name another TO datasource or another target SCHEMA.")
	}
	// Check named tables now so a typo fails here, not at 2 a.m.
	if len(st.Tables) > 0 || len(st.Exclude) > 0 {
		o, err := s.openDatasource(ctx, st.SourceDS)
		if err != nil {
			return nil, err
		}
		in, err := capability[schema.Introspector](o, "describe tables")
		if err != nil {
			o.Close()
			return nil, err
		}
		_, err = ddltask.Tables(ctx, in, st.SourceSchema, st.Tables, nil)
		o.Close()
		if errors.Is(err, schema.ErrTableNotFound) {
			return nil, withHint(pgErr(codeUndefinedObject, "datasource %q: %v", st.SourceDS, connectorsScrub(o, err)),
				"Table names follow PostgreSQL rules: quote mixed-case names.")
		}
		if err != nil {
			return nil, o.remoteErr("list tables", err)
		}
	} else {
		o, err := s.openDatasource(ctx, st.SourceDS)
		if err != nil {
			return nil, err
		}
		_, err = capability[schema.Introspector](o, "describe tables")
		o.Close()
		if err != nil {
			return nil, err
		}
	}
	err = s.ex.cat.CreateDDLTask(ctx, catalog.DDLTask{Name: st.Name, Source: st.SourceDS, SourceSchema: st.SourceSchema,
		Target: st.TargetDS, TargetSchema: st.TargetSchema, Tables: st.Tables, Exclude: st.Exclude, Options: opts})
	if errors.Is(err, catalog.ErrDuplicate) {
		if st.IfNotExists {
			s.notice("NOTICE", codeDuplicateObject, fmt.Sprintf("DDL task %q already exists, skipping", st.Name), "")
			return tagOnly("CREATE DDL TASK"), nil
		}
		return nil, withHint(pgErr(codeDuplicateObject, "DDL task %q already exists", st.Name), "ALTER DDL TASK changes its options; DROP DDL TASK removes it.")
	}
	if err != nil {
		return nil, err
	}
	if runopts.DDLTask.Resolve(opts).Bool("run_now") {
		return s.runDDLTaskNamed(ctx, st.Name)
	}
	return tagOnly("CREATE DDL TASK"), nil
}

// sameTables reports whether two datasource+schema pairs name the same
// tables: the same datasource, or two datasources of one server and database.
func sameTables(a *catalog.Datasource, aSchema string, b *catalog.Datasource, bSchema string) bool {
	norm := func(d *catalog.Datasource, s string) string {
		if s == "" {
			s = d.Options["schema"]
		}
		if s == "" && d.Type == "postgres" {
			s = "public"
		}
		return s
	}
	if norm(a, aSchema) != norm(b, bSchema) || a.Type != b.Type {
		return false
	}
	if a.Name == b.Name {
		return true
	}
	for _, k := range []string{"host", "port", "database", "path"} {
		if a.Options[k] != b.Options[k] {
			return false
		}
	}
	return true
}

func (s *Session) runRunDDLTask(ctx context.Context, st *parser.RunDDLTask) (wire.Result, error) {
	return s.runDDLTaskNamed(ctx, st.Name)
}

func (s *Session) loadDDLTask(ctx context.Context, name string) (*catalog.DDLTask, error) {
	t, err := s.ex.cat.GetDDLTask(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, withHint(pgErr(codeUndefinedObject, "DDL task %q does not exist", name), "SELECT name FROM dataflow.ddl_tasks lists them.")
	}
	return t, err
}

// runDDLTaskNamed runs a task to the end and returns one row per table. The
// task is finished when every table has a result (some may have failed),
// failed when it could not start on the tables at all.
func (s *Session) runDDLTaskNamed(ctx context.Context, name string) (wire.Result, error) {
	task, err := s.loadDDLTask(ctx, name)
	if err != nil {
		return nil, err
	}
	src, err := s.openDatasource(ctx, task.Source)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := s.openDatasource(ctx, task.Target)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	in, err := capability[schema.Introspector](src, "describe tables")
	if err != nil {
		return nil, err
	}
	target, err := capability[schema.DDLTarget](dst, "create tables")
	if err != nil {
		return nil, err
	}
	if err := s.ex.cat.StartDDLTask(ctx, name); errors.Is(err, catalog.ErrBusy) {
		return nil, pgErr(codeObjectInUse, "DDL task %q is already running", name)
	} else if err != nil {
		return nil, err
	}
	o := runopts.DDLTask.Resolve(task.Options)
	spec := ddltask.Spec{Source: in, Target: target, SourceSchema: task.SourceSchema, TargetSchema: task.TargetSchema,
		Tables: task.Tables, Exclude: task.Exclude, Options: ddltask.Options{
			CreateIfMissing: o.Bool("create_if_missing"), Recreate: o.Bool("recreate"), Indexes: o.Bool("indexes"),
			PrimaryKeys: o.Bool("primary_keys"), Parallel: int(o.Int("parallel")), CaseSensitive: o.Bool("case_sensitive"),
			TinyIntOneAsBool: o.Bool("tinyint1_as_boolean"), ForeignKeys: o.Bool("foreign_keys"), EnumAs: o["enum_as"], SetAs: o["set_as"],
		}}
	// Results are recorded even if the client goes away mid-run.
	bg := context.WithoutCancel(ctx)
	results, err := ddltask.Run(ctx, spec, func(r ddltask.Result) error {
		msg := connectors.MaskText(r.Message, append(src.Secrets, dst.Secrets...)...)
		return s.ex.cat.RecordDDLTable(bg, name, catalog.DDLTableResult{Table: r.Table, Status: r.Status, Message: msg, SQL: r.SQL})
	})
	if err != nil {
		msg := err.Error()
		if errors.Is(err, schema.ErrTableNotFound) {
			msg = "source tables are gone: " + msg
		}
		msg = connectors.MaskText(msg, append(src.Secrets, dst.Secrets...)...)
		if ferr := s.ex.cat.FinishDDLTask(bg, name, catalog.DDLFailed, msg); ferr != nil {
			return nil, ferr
		}
		return nil, src.remoteErr("run DDL task", err)
	}
	failed := 0
	rows := make([][][]byte, 0, len(results))
	for _, r := range results {
		if r.Status != ddltask.Success {
			failed++
		}
		msg := connectors.MaskText(r.Message, append(src.Secrets, dst.Secrets...)...)
		var sqlText []byte
		if r.SQL != "" {
			sqlText = text(r.SQL)
		}
		rows = append(rows, [][]byte{text(r.Table), text(r.Status), text(msg), sqlText})
	}
	status, msg := catalog.DDLFinished, "finished"
	if failed > 0 {
		msg = fmt.Sprintf("finished: %d of %d tables failed", failed, len(results))
	}
	if len(results) == 0 {
		msg = "finished: no tables matched"
	}
	if err := s.ex.cat.FinishDDLTask(bg, name, status, msg); err != nil {
		return nil, err
	}
	if failed > 0 {
		s.notice("WARNING", codeWarning, fmt.Sprintf("DDL task %q: %d of %d tables failed", name, failed, len(results)),
			"The rows (and dataflow.ddl_task_tables) carry each table's message from the target.")
	}
	return &rowsResult{rows: rows, tag: fmt.Sprintf("RUN DDL TASK %d", len(rows))}, nil
}

func (s *Session) runAlterDDLTask(ctx context.Context, st *parser.AlterDDLTask) (wire.Result, error) {
	task, err := s.loadDDLTask(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	set, err := checkWith(st.Text(), runopts.DDLTask, st.With, "")
	if err != nil {
		return nil, err
	}
	for k, v := range set {
		task.Options[k] = v
	}
	if err := s.ex.cat.SetDDLTaskOptions(ctx, st.Name, task.Options); err != nil {
		return nil, err
	}
	return tagOnly("ALTER DDL TASK"), nil
}

func (s *Session) runDropDDLTask(ctx context.Context, st *parser.DropDDLTask) (wire.Result, error) {
	err := s.ex.cat.DropDDLTask(ctx, st.Name)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		if st.IfExists {
			s.notice("NOTICE", "00000", fmt.Sprintf("DDL task %q does not exist, skipping", st.Name), "")
			return tagOnly("DROP DDL TASK"), nil
		}
		return nil, pgErr(codeUndefinedObject, "DDL task %q does not exist", st.Name)
	case errors.Is(err, catalog.ErrBusy):
		return nil, pgErr(codeObjectInUse, "DDL task %q is running; drop it when it ends", st.Name)
	case err != nil:
		return nil, err
	}
	return tagOnly("DROP DDL TASK"), nil
}

// usersOf names the tasks and jobs using a datasource, for DROP refusals.
func (s *Session) usersOf(ctx context.Context, ds string) (string, error) {
	users, err := s.ex.cat.DatasourceUsers(ctx, ds)
	if err != nil || len(users) == 0 {
		return "", err
	}
	return strings.Join(users, ", "), nil
}
