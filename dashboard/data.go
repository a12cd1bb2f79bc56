package dashboard

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/flowgate/flowgate/catalog"
)

// viewDB reads the dataflow_* views (never the tables under them), so the
// dashboard shows exactly what SELECT ... FROM dataflow.x shows.
type viewDB struct {
	db *sql.DB
}

// Row is one view row. Timestamps are time.Time (UTC), JSON columns
// json.RawMessage, text string, integers int64, floats float64, NULL nil.
type Row map[string]any

// Columns holding timestamps or JSON in the views read here.
var (
	timeCols = set("at", "started_at", "finished_at", "heartbeat_at", "checkpoint_at", "last_event_at", "created_at",
		"updated_at", "last_fire", "last_started_at")
	jsonCols = set("options", "next_fires", "row", "definition", "tables", "exclude")
)

func set(s ...string) map[string]bool {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return m
}

func (v *viewDB) rows(ctx context.Context, query string, args ...any) ([]Row, error) {
	rs, err := v.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	out := []Row{}
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := Row{}
		for i, c := range cols {
			r[c] = convert(c, vals[i])
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

func convert(col string, v any) any {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	s, ok := v.(string)
	if !ok {
		return v
	}
	switch {
	case timeCols[col]:
		if t, err := time.Parse(catalog.TimeFormat, s); err == nil {
			return t.UTC()
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC()
		}
	case jsonCols[col]:
		if json.Valid([]byte(s)) {
			return json.RawMessage(s)
		}
	}
	return s
}

func (v *viewDB) one(ctx context.Context, what, query string, args ...any) (Row, error) {
	rs, err := v.rows(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, notFound("%s", what)
	}
	return rs[0], nil
}

// hasView reports whether the catalog has a dataflow view (views added by
// later migrations show up without changes here).
func (v *viewDB) hasView(ctx context.Context, name string) (bool, error) {
	var n int
	err := v.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name = ?`, name).Scan(&n)
	return n > 0, err
}

// --- overview ---

// span is a time range over operations.started_at: From inclusive, To
// exclusive; zero means open.
type span struct {
	From, To time.Time
	Range    string // week, month or ""
	FromText string // as given (YYYY-MM-DD)
	ToText   string
}

func (s span) open() bool { return s.From.IsZero() && s.To.IsZero() }

// parseSpan reads ?range=week|month or ?from=&to= (dates, UTC, to
// inclusive). Weeks start on Monday, as date_trunc('week', ...) does.
func parseSpan(q map[string][]string, now time.Time) (span, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	var s span
	switch r := get("range"); r {
	case "":
	case "week":
		s.Range = r
		s.From = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case "month":
		s.Range = r
		s.From = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	default:
		return s, badRequest(fmt.Sprintf("range must be week or month, not %q", r))
	}
	if s.Range != "" {
		s.FromText = s.From.Format(time.DateOnly)
		return s, nil
	}
	if f := get("from"); f != "" {
		t, err := time.Parse(time.DateOnly, f)
		if err != nil {
			return s, badRequest(fmt.Sprintf("from must be a date YYYY-MM-DD, not %q", f))
		}
		s.From, s.FromText = t, f
	}
	if f := get("to"); f != "" {
		t, err := time.Parse(time.DateOnly, f)
		if err != nil {
			return s, badRequest(fmt.Sprintf("to must be a date YYYY-MM-DD, not %q", f))
		}
		s.To, s.ToText = t.AddDate(0, 0, 1), f
	}
	if !s.From.IsZero() && !s.To.IsZero() && !s.To.After(s.From) {
		return s, badRequest("to must not be before from")
	}
	return s, nil
}

// overviewQuery is one overview request: the datasource dimension, or
// the table dimension of one datasource.
type overviewQuery struct {
	Span       span
	Search     string
	Sort       string // a column
	Desc       bool
	Datasource string // "" = datasource dimension
}

var overviewSortable = []string{"datasource", "table_name", "operation", "executions", "records", "avg_seconds", "total_seconds"}

func parseSort(s string, tables bool) (string, bool, error) {
	desc := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		if tables {
			return "table_name", false, nil
		}
		return "datasource", false, nil
	}
	for _, c := range overviewSortable {
		if c == s && (tables || c != "table_name") {
			return c, desc, nil
		}
	}
	return "", false, badRequest(fmt.Sprintf("cannot sort by %q", s))
}

// overview answers from dataflow.overview / overview_tables when nothing
// is filtered, and otherwise groups dataflow.operations with the views'
// own expressions. It also returns that query as a client would write it.
func (v *viewDB) overview(ctx context.Context, q overviewQuery) ([]Row, string, error) {
	tables := q.Datasource != ""
	keys := "datasource, operation"
	if tables {
		keys = "datasource, table_name, operation"
	}
	dir := ""
	if q.Desc {
		dir = " DESC"
	}
	// The grouping keys break ties, without repeating the sort column.
	order := q.Sort + dir
	for _, k := range strings.Split(keys, ", ") {
		if k != q.Sort {
			order += ", " + k
		}
	}
	var (
		where, pgWhere []string
		args           []any
	)
	if tables {
		where, pgWhere = append(where, "datasource = ?"), append(pgWhere, "datasource = "+pgString(q.Datasource))
		args = append(args, q.Datasource)
	}
	filtered := !q.Span.open() || q.Search != ""
	var query, pg string
	if !filtered {
		view := "overview"
		if tables {
			view = "overview_tables"
		}
		cols := keys + ", executions, records, avg_seconds, total_seconds"
		query = "SELECT " + cols + " FROM dataflow_" + view
		pg = "SELECT " + cols + " FROM dataflow." + view
		if len(where) > 0 {
			query += " WHERE " + strings.Join(where, " AND ")
			pg += " WHERE " + strings.Join(pgWhere, " AND ")
		}
	} else {
		if !q.Span.From.IsZero() {
			where, pgWhere = append(where, "started_at >= ?"), append(pgWhere, "started_at >= '"+q.Span.From.Format(time.DateTime)+"+00'")
			args = append(args, catalog.FormatTime(q.Span.From))
		}
		if !q.Span.To.IsZero() {
			where, pgWhere = append(where, "started_at < ?"), append(pgWhere, "started_at < '"+q.Span.To.Format(time.DateTime)+"+00'")
			args = append(args, catalog.FormatTime(q.Span.To))
		}
		if q.Search != "" {
			where = append(where, "(instr(lower(datasource), lower(?)) > 0 OR instr(lower(table_name), lower(?)) > 0)")
			like := pgString("%" + likeEscape(q.Search) + "%")
			pgWhere = append(pgWhere, "(datasource ILIKE "+like+" OR table_name ILIKE "+like+")")
			args = append(args, q.Search, q.Search)
		}
		cols := keys + ", count(*) AS executions, sum(records) AS records, avg(seconds) AS avg_seconds, sum(seconds) AS total_seconds"
		query = "SELECT " + cols + " FROM dataflow_operations WHERE " + strings.Join(where, " AND ") + " GROUP BY " + keys
		pg = "SELECT " + cols + " FROM dataflow.operations WHERE " + strings.Join(pgWhere, " AND ") + " GROUP BY " + keys
	}
	query += " ORDER BY " + order
	pg += " ORDER BY " + order + ";"
	rows, err := v.rows(ctx, query, args...)
	return rows, pg, err
}

func pgString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (v *viewDB) datasourceExists(ctx context.Context, name string) (bool, error) {
	rows, err := v.rows(ctx, `SELECT 1 AS x FROM dataflow_datasources WHERE name = ?
		UNION ALL SELECT 1 FROM dataflow_operations WHERE datasource = ? LIMIT 1`, name, name)
	return len(rows) > 0, err
}

// --- jobs and runs ---

func (v *viewDB) jobs(ctx context.Context) ([]Row, error) {
	return v.rows(ctx, `SELECT j.name, j.mode, j.kind, j.source, j.target, j.schedule, j.schedule_state, j.created_at,
		s.last_fire, s.next_fires,
		(SELECT r.run_id FROM dataflow_runs r WHERE r.job = j.name ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) AS last_run_id,
		(SELECT r.status FROM dataflow_runs r WHERE r.job = j.name ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) AS last_status,
		(SELECT r.started_at FROM dataflow_runs r WHERE r.job = j.name ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) AS last_started_at
		FROM dataflow_jobs j LEFT JOIN dataflow_schedules s ON s.job = j.name ORDER BY j.name`)
}

func (v *viewDB) jobNames(ctx context.Context) ([]string, error) {
	rows, err := v.rows(ctx, `SELECT name FROM dataflow_jobs ORDER BY name`)
	var out []string
	for _, r := range rows {
		out = append(out, str(r["name"]))
	}
	return out, err
}

// Statuses a run or task can have (FEATURES.md section 5).
var runStatuses = []string{catalog.RunCreated, catalog.RunRunning, catalog.RunCompleted, catalog.RunTerminating,
	catalog.RunRestarting, catalog.RunTerminated, catalog.RunFailed, catalog.RunDataInconsistent}

func activeStatus(s string) bool {
	for _, a := range catalog.ActiveRunStatuses {
		if s == a {
			return true
		}
	}
	return false
}

const runCols = `run_id, job, status, trigger, started_at, finished_at, rows_read, rows_written, bytes, message`

func (v *viewDB) runs(ctx context.Context, job, status string, limit, offset int) ([]Row, error) {
	return v.rows(ctx, `SELECT `+runCols+` FROM dataflow_runs
		WHERE (? = '' OR job = ?) AND (? = '' OR status = ?)
		ORDER BY started_at DESC, run_id DESC LIMIT ? OFFSET ?`, job, job, status, status, limit, offset)
}

func (v *viewDB) run(ctx context.Context, id string) (Row, error) {
	return v.one(ctx, "run "+id, `SELECT r.run_id, r.job, r.status, r.trigger, r.started_at, r.finished_at, r.rows_read,
		r.rows_written, r.bytes, r.message, j.mode FROM dataflow_runs r LEFT JOIN dataflow_jobs j ON j.name = r.job WHERE r.run_id = ?`, id)
}

func (v *viewDB) progress(ctx context.Context, id string) ([]Row, error) {
	return v.rows(ctx, `SELECT task_id, source_table, target_table, stage, status, attempts, rows, total, percent, rows_per_sec,
		bytes, message, started_at, finished_at FROM dataflow_run_progress WHERE run_id = ? ORDER BY task_id, seq`, id)
}

func (v *viewDB) tasks(ctx context.Context, id string) ([]Row, error) {
	return v.rows(ctx, `SELECT task_id, source_table, target_table, status, started_at, finished_at, message
		FROM dataflow_run_tasks WHERE run_id = ? ORDER BY task_id`, id)
}

const listLimit = 500

func (v *viewDB) files(ctx context.Context, id string) ([]Row, error) {
	return v.rows(ctx, `SELECT task_id, uri, rows, bytes, state, imported FROM dataflow_export_files
		WHERE run_id = ? ORDER BY task_id, uri LIMIT ?`, id, listLimit)
}

func (v *viewDB) diffs(ctx context.Context, id string) ([]Row, error) {
	return v.rows(ctx, `SELECT task_id, key, side, row FROM dataflow_run_diffs WHERE run_id = ? ORDER BY task_id, key, side LIMIT ?`, id, listLimit)
}

// count counts a run's rows in view; view and the optional condition are
// constants of this package, never request text.
func (v *viewDB) count(ctx context.Context, view, id string, cond ...string) (int64, error) {
	var n int64
	q := `SELECT count(*) FROM ` + view + ` WHERE run_id = ?`
	for _, c := range cond {
		q += " AND " + c
	}
	err := v.db.QueryRowContext(ctx, q, id).Scan(&n)
	return n, err
}

// badRecords reads dataflow.run_errors (rows a run could not load), when
// the catalog has that view: columns as the view has them.
func (v *viewDB) badRecords(ctx context.Context, id string) ([]string, []Row, bool, error) {
	ok, err := v.hasView(ctx, "dataflow_run_errors")
	if err != nil || !ok {
		return nil, nil, ok, err
	}
	rs, err := v.db.QueryContext(ctx, `SELECT * FROM dataflow_run_errors WHERE run_id = ? LIMIT ?`, id, listLimit)
	if err != nil {
		return nil, nil, true, err
	}
	cols, err := rs.Columns()
	rs.Close()
	if err != nil {
		return nil, nil, true, err
	}
	rows, err := v.rows(ctx, `SELECT * FROM dataflow_run_errors WHERE run_id = ? LIMIT ?`, id, listLimit)
	return cols, rows, true, err
}

// --- CDC ---

func (v *viewDB) cdcStatus(ctx context.Context) ([]Row, error) {
	return v.rows(ctx, `SELECT job, run_id, status, source_position, checkpoint_position, checkpoint_at, last_event_at, lag_ms,
		events, inserts, updates, deletes, snapshot_rows, restarts FROM dataflow_cdc_status ORDER BY job`)
}

func (v *viewDB) cdcTables(ctx context.Context) ([]Row, error) {
	return v.rows(ctx, `SELECT job, source_table, target_table, inserts, updates, deletes, last_event_at
		FROM dataflow_cdc_tables ORDER BY job, source_table`)
}

func (v *viewDB) cdcLag(ctx context.Context, job string, since time.Time) ([]Row, error) {
	return v.rows(ctx, `SELECT at, lag_ms, events FROM dataflow_cdc_lag WHERE job = ? AND at >= ? ORDER BY at`,
		job, catalog.FormatTime(since))
}

func (v *viewDB) cdcJobExists(ctx context.Context, job string) (bool, error) {
	rows, err := v.rows(ctx, `SELECT 1 AS x FROM dataflow_jobs WHERE name = ? AND mode = 'cdc'`, job)
	return len(rows) > 0, err
}

// --- DDL, cleanup, datasources ---

func (v *viewDB) ddlTasks(ctx context.Context) ([]Row, error) {
	return v.rows(ctx, `SELECT name, source, source_schema, target, target_schema, status, message, started_at, finished_at,
		succeeded, failed FROM dataflow_ddl_tasks ORDER BY name`)
}

func (v *viewDB) ddlTables(ctx context.Context) ([]Row, error) {
	return v.rows(ctx, `SELECT task, table_name, status, message, sql, at FROM dataflow_ddl_task_tables ORDER BY task, table_name`)
}

func (v *viewDB) cleanups(ctx context.Context) ([]Row, error) {
	return v.rows(ctx, `SELECT run_id, kind, host, sql, "user", at, rows FROM dataflow_cleanup_history ORDER BY at DESC LIMIT ?`, listLimit)
}

func (v *viewDB) datasources(ctx context.Context) ([]Row, error) {
	rows, err := v.rows(ctx, `SELECT name, type, status, options, comment, created_at, updated_at FROM dataflow_datasources ORDER BY name`)
	for _, r := range rows {
		r["options"] = maskOptions(r["options"])
	}
	return rows, err
}

// maskOptions re-masks, as a second line of defence, any option whose
// name says it is a secret; the view already shows secrets as ********.
func maskOptions(v any) any {
	raw, ok := v.(json.RawMessage)
	if !ok {
		return v
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return json.RawMessage(`{}`)
	}
	for k := range m {
		lk := strings.ToLower(k)
		for _, w := range []string{"password", "secret", "token", "passphrase", "private", "access_key", "credential", "sasl"} {
			if strings.Contains(lk, w) && k != "sasl_mechanism" {
				m[k] = catalog.Masked
			}
		}
	}
	b, _ := json.Marshal(m)
	return json.RawMessage(b)
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.RawMessage:
		return string(x)
	default:
		return fmt.Sprint(x)
	}
}
