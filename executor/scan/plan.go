package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/file"
	"github.com/flowgate/flowgate/connectors/fileformat"
	"github.com/flowgate/flowgate/connectors/s3"
	"github.com/flowgate/flowgate/connectors/scanner"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/runopts"
	"github.com/flowgate/flowgate/executor/window"
)

// Window is a run's time window.
type Window = window.Window

// Plan is what a run does; it is stored with the run so a RETRY repeats
// it (the same window for an export).
type Plan struct {
	Kind         string              `json:"kind"`
	Job          string              `json:"job"`
	Source       string              `json:"source"`
	Target       string              `json:"target"`
	SourceSchema string              `json:"source_schema,omitempty"`
	SourceTable  string              `json:"source_table,omitempty"`
	TargetSchema string              `json:"target_schema,omitempty"`
	TargetTable  string              `json:"target_table,omitempty"`
	Columns      []catalog.ColumnMap `json:"columns,omitempty"`
	Incremental  string              `json:"incremental,omitempty"`
	Where        string              `json:"where,omitempty"` // as written, with ${variables}
	Object       string              `json:"object,omitempty"`
	Format       string              `json:"format,omitempty"`
	Options      map[string]string   `json:"options"` // resolved
	Given        map[string]string   `json:"given"`   // as the job gives them
	WindowStart  time.Time           `json:"window_start"`
	WindowEnd    time.Time           `json:"window_end"`
	// Tables are a database scan's tables, one task each (empty for a
	// table job, which is task 1).
	Tables []batch.TaskPlan `json:"tables,omitempty"`
	// Task is the task a per-table plan runs (0 for a table job).
	Task int64 `json:"-"`
	// Unmatched are source tables without a same-name target table.
	Unmatched []string `json:"-"`
}

// forTask is the plan of one table of a database scan.
func (p *Plan) forTask(t batch.TaskPlan) *Plan {
	q := *p
	q.Tables = nil
	q.Task = t.ID
	q.SourceSchema, q.SourceTable, q.TargetSchema, q.TargetTable, q.Columns = t.SourceSchema, t.SourceTable, t.TargetSchema, t.TargetTable, t.Columns
	return &q
}

// tasks are the run's tasks: one per table.
func (p *Plan) tasks() []batch.TaskPlan {
	if len(p.Tables) > 0 {
		return p.Tables
	}
	return []batch.TaskPlan{{ID: 1, SourceSchema: p.SourceSchema, SourceTable: p.SourceTable, TargetSchema: p.TargetSchema, TargetTable: p.TargetTable, Columns: p.Columns}}
}

// checkpointKey names where the plan's table keeps its watermark in the
// target's checkpoint table: per job, and per source table for a
// database scan.
func (p *Plan) checkpointKey() string {
	if p.Task == 0 {
		return checkpointKey(p.Job)
	}
	return checkpointKey(p.Job) + ":" + qualify(p.SourceSchema, p.SourceTable)
}

// DecodePlan reads a stored plan.
func DecodePlan(raw []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode run plan: %w", err)
	}
	return &p, nil
}

// IsPlan reports whether a stored run plan is one of this engine's.
func IsPlan(raw []byte) bool {
	var k struct {
		Kind string `json:"kind"`
	}
	return json.Unmarshal(raw, &k) == nil && (k.Kind == KindScan || k.Kind == KindExport || k.Kind == KindLoad)
}

func qualify(s, t string) string {
	if s == "" {
		return t
	}
	return s + "." + t
}

func (p *Plan) sourceName() string {
	if p.Kind == KindLoad {
		return p.Object
	}
	return qualify(p.SourceSchema, p.SourceTable)
}

func (p *Plan) targetName() string {
	if p.Kind == KindExport {
		return p.Object
	}
	return qualify(p.TargetSchema, p.TargetTable)
}

func (p *Plan) window() Window { return Window{Start: p.WindowStart, End: p.WindowEnd} }

func runoptsInt(o map[string]string, k string) int64 {
	n, _ := strconv.ParseInt(o[k], 10, 64)
	return n
}

func planErr(code, hint, format string, args ...any) *batch.PlanError {
	return &batch.PlanError{Code: code, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// fileOnlyKeys are the keys of jobs with an OBJECT end.
var fileOnlyKeys = []string{"window_start", "window_end", "file_format", "write_mode", "null_format", "date_format", "field_delimiter", "encoding", "header", "source_file_column"}

// FileOptions compiles the file keys of opts (resolved) into
// fileformat.Options; errors are user errors (22023).
func FileOptions(opts map[string]string, given map[string]string, format string) (fileformat.Options, error) {
	o := fileformat.Options{Format: format, Delimiter: opts["field_delimiter"], Null: opts["null_format"], Header: opts["header"] == "on"}
	if o.Format == "" {
		o.Format = opts["file_format"]
	}
	if o.Delimiter == "" {
		o.Delimiter = ","
	}
	o.Compression = "none"
	if c, ok := given["compression"]; ok {
		o.Compression = c
	}
	var err error
	if o.Encoding, err = fileformat.LookupEncoding(opts["encoding"]); err != nil {
		return o, planErr("22023", "encoding is one of "+strings.Join(fileformat.EncodingNames(), ", ")+".", "%v", err)
	}
	if df := opts["date_format"]; df != "" {
		if o.DateFormat, err = fileformat.ParseDateFormat(df); err != nil {
			return o, planErr("22023", "Pattern letters: "+fileformat.LetterList()+".", "%v", err)
		}
	}
	if tz := opts["source_timezone"]; tz != "" && !strings.EqualFold(tz, "UTC") {
		if o.Location, err = time.LoadLocation(tz); err != nil {
			return o, planErr("22023", "", "source_timezone %q: %v", tz, err)
		}
	}
	return o, nil
}

// Plan checks j against its datasources and resolves a run's plan; at is
// the fire time, win a window given to RUN.
func (e *Engine) Plan(ctx context.Context, j *catalog.Job, at time.Time, win *Window) (*Plan, error) {
	opts := runopts.SyncJob.Resolve(j.Options)
	p := &Plan{Kind: KindOf(j), Job: j.Name, Source: j.Source, Target: j.Target, SourceSchema: j.SourceSchema, SourceTable: j.SourceTable,
		TargetSchema: j.TargetSchema, TargetTable: j.TargetTable, Columns: j.Definition.Columns, Incremental: j.Definition.IncrementalOn,
		Where: j.Definition.Where, Object: j.Definition.Object, Format: j.Definition.Format, Options: opts, Given: j.Options}
	if _, given := j.Options["algorithm"]; !given && j.Mode == "scan" {
		p.Options["algorithm"] = "none"
	}
	off, err := window.ParseOffsets(opts["window_start"], opts["window_end"])
	if err != nil {
		return nil, planErr("22023", "window_start and window_end are offsets from the fire time such as '-70 minutes' and '-10 minutes'.", "%v", err)
	}
	w := off.At(at)
	if win != nil {
		w = *win
	}
	p.WindowStart, p.WindowEnd = w.Start, w.End
	if err := e.check(ctx, j, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Check validates a job the engine handles (CREATE SYNC JOB); it returns
// a database scan's source tables that have no same-name target table.
func (e *Engine) Check(ctx context.Context, j *catalog.Job) ([]string, error) {
	p, err := e.Plan(ctx, j, time.Now(), nil)
	if err != nil {
		return nil, err
	}
	return p.Unmatched, nil
}

// CheckpointKeys are the names under which j's table scans keep their
// watermarks in the target (one per table of a database scan).
func (e *Engine) CheckpointKeys(ctx context.Context, j *catalog.Job) []string {
	if j.Kind != "database" {
		return []string{checkpointKey(j.Name)}
	}
	// The tables as they are now, without checking them: a table that
	// would no longer pass still has its watermark to forget.
	src, dst, closeBoth, err := e.openBoth(ctx, j)
	if err != nil {
		return nil
	}
	defer closeBoth()
	tasks, _, err := databaseTasks(ctx, j, src, dst)
	if err != nil {
		return nil
	}
	p := &Plan{Job: j.Name}
	var keys []string
	for _, t := range tasks {
		keys = append(keys, p.forTask(t).checkpointKey())
	}
	return keys
}

func (e *Engine) check(ctx context.Context, j *catalog.Job, p *Plan) error {
	if p.Kind != KindExport && p.Kind != KindLoad {
		for _, k := range fileOnlyKeys {
			if _, ok := j.Options[k]; ok {
				return planErr("22023", "File keys apply to jobs FROM or TO store OBJECT '...'.", "option %q applies to jobs with an OBJECT end", k)
			}
		}
	}
	if _, ok := j.Options["source_file_column"]; ok && p.Kind != KindLoad {
		return planErr("22023", "", "option \"source_file_column\" applies to jobs FROM store OBJECT '...'")
	}
	if p.Kind != KindScan {
		if _, err := FileOptions(p.Options, p.Given, p.Format); err != nil {
			return err
		}
	}
	src, dst, closeBoth, err := e.openBoth(ctx, j)
	if err != nil {
		return err
	}
	defer closeBoth()
	switch p.Kind {
	case KindScan:
		if j.Kind == "database" {
			return e.checkDatabaseScan(ctx, j, p, src, dst)
		}
		return e.checkScan(ctx, p, src, dst)
	case KindExport:
		if err := objectStore(dst); err != nil {
			return err
		}
		_, err := e.sourceTable(ctx, p, src)
		return err
	}
	if err := objectStore(src); err != nil {
		return err
	}
	tt, err := e.targetTable(ctx, p, dst)
	if err != nil {
		return err
	}
	if c := p.Options["source_file_column"]; c != "" {
		if _, ok := tt.Column(c); !ok {
			return planErr("42703", "source_file_column names a text column of the target that gets each row's object key.", "column %q does not exist in target table %s", c, tt.Name)
		}
	} else if p.Options["pre_action"] == "truncate" {
		return planErr("22023", "Name the target column that holds each row's object key: WITH (source_file_column = 'src_file').",
			"pre_action = 'truncate' FROM an OBJECT deletes the rows of the objects being loaded again, by source_file_column")
	}
	if p.Options["pre_action"] == "rename_create" {
		return planErr("22023", "FROM an OBJECT, pre_action is none or truncate.", "pre_action = 'rename_create' does not apply to jobs FROM an OBJECT")
	}
	_, err = keyIndexes(tt)
	return err
}

// objectStore refuses an OBJECT end on a datasource that is not s3/file.
func objectStore(ep *batch.Endpoint) error {
	switch ep.Conn.(type) {
	case *s3.Conn, *file.Conn:
		return nil
	}
	return planErr("42809", "OBJECT '...' names objects of an s3 or file datasource.", "datasource %q is of type %s; OBJECT needs an s3 or file datasource", ep.Name, ep.Type)
}

func introspector(ep *batch.Endpoint) (schema.Introspector, error) {
	in, err := connectors.As[schema.Introspector](ep.Conn)
	if err != nil {
		return nil, planErr("0A000", "", "datasource %q of type %s cannot read table structure", ep.Name, ep.Type)
	}
	return in, nil
}

func (e *Engine) sourceTable(ctx context.Context, p *Plan, src *batch.Endpoint) (schema.Table, error) {
	in, err := introspector(src)
	if err != nil {
		return schema.Table{}, err
	}
	if _, err := connectors.As[data.Exporter](src.Conn); err != nil {
		return schema.Table{}, planErr("0A000", "", "datasource %q of type %s cannot export rows", src.Name, src.Type)
	}
	return batch.DescribeOne(ctx, in, p.SourceSchema, p.SourceTable, "source", p.Source)
}

func (e *Engine) targetTable(ctx context.Context, p *Plan, dst *batch.Endpoint) (schema.Table, error) {
	in, err := introspector(dst)
	if err != nil {
		return schema.Table{}, err
	}
	if _, err := connectors.As[cdc.ChangeApplier](dst.Conn); err != nil {
		return schema.Table{}, planErr("0A000", "", "datasource %q of type %s cannot take upserts", dst.Name, dst.Type)
	}
	return batch.DescribeOne(ctx, in, p.TargetSchema, p.TargetTable, "target", p.Target)
}

// keyIndexes are the target's primary key columns' positions.
func keyIndexes(t schema.Table) ([]int, error) {
	if len(t.PrimaryKey) == 0 {
		return nil, planErr("42P10", "Rows are upserted by primary key, so a re-read row never doubles: give the target table one.",
			"target table %s has no primary key", t.Name)
	}
	var out []int
	for _, k := range t.PrimaryKey {
		for i, c := range t.Columns {
			if c.Name == k {
				out = append(out, i)
			}
		}
	}
	return out, nil
}

// checkDatabaseScan resolves a database scan's tables (as a database
// batch job does: same-name tables, TABLES and EXCLUDE) and checks each.
func (e *Engine) checkDatabaseScan(ctx context.Context, j *catalog.Job, p *Plan, src, dst *batch.Endpoint) error {
	tasks, unmatched, err := databaseTasks(ctx, j, src, dst)
	if err != nil {
		return err
	}
	if len(tasks) == 0 {
		return planErr("42P01", "A database scan copies the source tables that have a same-name table at the target: create them (RUN DDL TASK) or name them with TABLES (a AS b).",
			"no source table of %s has a same-name table in %s", p.Source, p.Target)
	}
	for _, t := range tasks {
		if err := e.checkScan(ctx, p.forTask(t), src, dst); err != nil {
			return err
		}
	}
	p.Tables, p.Unmatched = tasks, unmatched
	return nil
}

// openBoth opens j's source and target; closeBoth closes both.
func (e *Engine) openBoth(ctx context.Context, j *catalog.Job) (src, dst *batch.Endpoint, closeBoth func(), err error) {
	if src, err = e.cfg.Open(ctx, j.Source); err != nil {
		return nil, nil, nil, err
	}
	if dst, err = e.cfg.Open(ctx, j.Target); err != nil {
		src.Close()
		return nil, nil, nil, err
	}
	return src, dst, func() { dst.Close(); src.Close() }, nil
}

// databaseTasks lists a database job's tables as a database batch job
// does (same-name tables, TABLES and EXCLUDE).
func databaseTasks(ctx context.Context, j *catalog.Job, src, dst *batch.Endpoint) ([]batch.TaskPlan, []string, error) {
	sin, err := introspector(src)
	if err != nil {
		return nil, nil, err
	}
	din, err := introspector(dst)
	if err != nil {
		return nil, nil, err
	}
	return batch.TasksFor(ctx, j, sin, din)
}

// IncrementalKinds names the column types INCREMENTAL ON takes.
const IncrementalKinds = "date, datetime/timestamp (with or without time zone) and integer columns"

func (e *Engine) checkScan(ctx context.Context, p *Plan, src, dst *batch.Endpoint) error {
	st, err := e.sourceTable(ctx, p, src)
	if err != nil {
		return err
	}
	tt, err := e.targetTable(ctx, p, dst)
	if err != nil {
		return err
	}
	pairs, err := batch.PairColumns(st, tt, p.Columns)
	if err != nil {
		return err
	}
	if _, err := keyIndexes(tt); err != nil {
		return err
	}
	for _, k := range tt.PrimaryKey {
		mapped := false
		for _, pr := range pairs {
			mapped = mapped || pr.Dst.Name == k
		}
		if !mapped {
			return planErr("42P10", "Map the key with COLUMNS (...).", "primary key column %q of target table %s is not among the moved columns", k, tt.Name)
		}
	}
	if p.Incremental != "" {
		c, ok := st.Column(p.Incremental)
		if !ok {
			return planErr("42703", "INCREMENTAL ON names a source column of a date/time or integer type.", "column %q does not exist in source table %s", p.Incremental, st.Name)
		}
		if !scanner.Incremental(c.Type.Kind) {
			return planErr("42804", "INCREMENTAL ON takes "+IncrementalKinds+".", "INCREMENTAL ON column %q has type %s; it must be a date, datetime/timestamp or integer column", c.Name, c.Type.Native)
		}
		if _, err := connectors.As[scanner.Source](src.Conn); err != nil {
			return planErr("0A000", "", "datasource %q of type %s cannot be scanned incrementally", src.Name, src.Type)
		}
	}
	if p.Options["pre_action"] != "none" {
		if _, err := connectors.As[cdc.ChangeApplier](dst.Conn); err != nil {
			return err
		}
	}
	if p.Where != "" {
		if fc, err := connectors.As[data.FilterChecker](src.Conn); err == nil {
			w := window.ExpandWhere(p.Where, window.Vars{Window: p.window(), Table: p.SourceTable, Job: p.Job})
			if err := fc.CheckFilter(ctx, p.SourceSchema, p.SourceTable, w); err != nil {
				return planErr("42601", "The WHERE text is sent to the source as is; write it in the source's SQL dialect.",
					"source %q rejects WHERE %q on %s: %s", p.Source, w, p.SourceTable, connectors.ScrubError(err, src.Secrets...))
			}
		}
	}
	return nil
}
