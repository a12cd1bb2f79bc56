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
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/cdc"
	"github.com/flowgate/flowgate/executor/runopts"
	"github.com/flowgate/flowgate/executor/scan"
	"github.com/flowgate/flowgate/executor/schedule"
	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// runColumns are dataflow.runs' columns: RUN SYNC JOB returns its run row.
var runColumns = []wire.Column{
	textCol("run_id"), textCol("job"), textCol("status"), textCol("trigger"),
	typedCol("started_at", pgtype.TimestamptzOID), typedCol("finished_at", pgtype.TimestamptzOID),
	typedCol("rows_read", pgtype.Int8OID), typedCol("rows_written", pgtype.Int8OID), typedCol("bytes", pgtype.Int8OID), textCol("message"),
}

var cleanColumns = []wire.Column{textCol("table_name"), typedCol("rows", pgtype.Int8OID), textCol("sql")}

// openEndpoint opens an active datasource for the batch engine.
func (e *Executor) openEndpoint(ctx context.Context, name string) (*batch.Endpoint, error) {
	d, err := e.cat.GetDatasource(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, &batch.PlanError{Code: codeUndefinedObject, Message: fmt.Sprintf("datasource %q does not exist", name)}
	}
	if err != nil {
		return nil, err
	}
	if d.Status == catalog.StatusRecycled {
		return nil, &batch.PlanError{Code: codeObjectState, Message: fmt.Sprintf("datasource %q is in the recycle bin", name),
			Hint: "RESTORE DATASOURCE " + name + " first."}
	}
	ep, err := e.openConnector(d)
	if err != nil && ep != nil {
		return nil, connectors.ScrubError(fmt.Errorf("open datasource %q: %w", name, err), ep.Secrets...)
	}
	return ep, err
}

// engineErr maps batch errors to client errors.
func engineErr(err error) error {
	var pe *batch.PlanError
	var pg *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pg):
		if pg.Severity != "ERROR" {
			// A datasource's FATAL ended its connection, not the client's.
			cp := *pg
			cp.Severity, cp.SeverityUnlocalized = "ERROR", "ERROR"
			return &cp
		}
		return err
	case errors.As(err, &pe):
		return withHint(pgErr(pe.Code, "%s", pe.Message), pe.Hint)
	case errors.Is(err, batch.ErrBusy):
		return pgErr(codeObjectInUse, "%v", err)
	case errors.Is(err, context.Canceled):
		return pgErr(codeQueryCanceled, "canceling statement due to user request")
	}
	return pgErr(codeSystemError, "%v", err)
}

func (s *Session) fromJobAST(st *parser.CreateSyncJob, opts map[string]string) (*catalog.Job, error) {
	j := &catalog.Job{Name: st.Name, Mode: st.Mode, Kind: st.JobKind, Source: st.From.Datasource, SourceSchema: st.From.Schema,
		SourceTable: st.From.Table, Target: st.To.Datasource, TargetSchema: st.To.Schema, TargetTable: st.To.Table,
		ScheduleKind: catalog.ScheduleNone, ScheduleState: "none", Options: opts}
	for _, c := range st.Columns {
		j.Definition.Columns = append(j.Definition.Columns, catalog.ColumnMap{Source: c.Source, Target: c.Target})
	}
	for _, c := range st.Tables {
		j.Definition.Tables = append(j.Definition.Tables, catalog.ColumnMap{Source: c.Source, Target: c.Target})
	}
	j.Definition.Exclude = st.Exclude
	j.Definition.Topics = st.Topics
	j.Definition.IncrementalOn = st.IncrementalOn
	if st.Where != nil {
		j.Definition.Where = *st.Where
	}
	if st.TargetWhere != nil {
		j.Definition.TargetWhere = *st.TargetWhere
	}
	if w := st.WhereLast; w != nil {
		j.Definition.WhereLast = &catalog.LastWindow{N: w.N, Unit: w.Unit, Column: w.Column}
	}
	if err := applySchedule(st.Text(), j, st.Schedule); err != nil {
		return nil, err
	}
	return j, nil
}

// applySchedule validates a SCHEDULE clause into j.
func applySchedule(text string, j *catalog.Job, sc *parser.Schedule) error {
	if sc == nil || sc.Kind == parser.ScheduleNone {
		j.ScheduleKind, j.ScheduleExpr, j.ScheduleState = catalog.ScheduleNone, "", "none"
		return nil
	}
	if sc.Kind != parser.ScheduleOnce {
		if _, err := schedule.Parse(sc.Kind, sc.Expr); err != nil {
			var se *schedule.Error
			if errors.As(err, &se) {
				return withHint(withPos(pgErr(codeInvalidParam, "%s", se.Message), parser.OffsetToPosition(text, parser.LiteralOffset(text, sc.ExprPos, se.Offset))), se.Hint)
			}
			return err
		}
	}
	j.ScheduleKind, j.ScheduleExpr, j.ScheduleState = sc.Kind, sc.Expr, catalog.ScheduleActive
	return nil
}

func (s *Session) runCreateSyncJob(ctx context.Context, st *parser.CreateSyncJob) (wire.Result, error) {
	if isScanJob(st) {
		return s.createScanJob(ctx, st)
	}
	if st.Mode == "cdc" {
		if err := checkCDCDefinition(st); err != nil {
			return nil, err
		}
	}
	opts, err := checkWith(st.Text(), runopts.SyncJob, st.With, st.Mode)
	if err != nil {
		return nil, err
	}
	if err := checkBatchTableKeys(st, opts); err != nil {
		return nil, err
	}
	if err := checkRunOptions(st.Text(), st.With, runopts.SyncJob.Resolve(opts)); err != nil {
		return nil, err
	}
	if st.Topics != nil && st.Mode != "cdc" {
		return nil, withHint(withPos(pgErr(codeFeatureNotSupp, "a job FROM TOPICS is MODE CDC"), parser.OffsetToPosition(st.Text(), st.ModePos)),
			"Messages are applied as they arrive: use MODE CDC.")
	}
	if st.Mode == "cdc" {
		if err := s.checkMQDefinition(ctx, st, opts); err != nil {
			return nil, err
		}
	}
	if staging := opts["staging"]; staging != "" && staging != "none" {
		if _, err := s.stagingDatasource(ctx, staging); err != nil {
			return nil, err
		}
	}
	if _, exists := s.ex.cat.GetJob(ctx, st.Name); exists == nil {
		if st.IfNotExists {
			s.notice("NOTICE", codeDuplicateObject, fmt.Sprintf("sync job %q already exists, skipping", st.Name), "")
			return tagOnly("CREATE SYNC JOB"), nil
		}
		return nil, withHint(pgErr(codeDuplicateObject, "sync job %q already exists", st.Name), "ALTER SYNC JOB changes it; DROP SYNC JOB removes it.")
	}
	for _, ds := range []string{st.From.Datasource, st.To.Datasource} {
		if _, err := s.activeDatasource(ctx, ds); err != nil {
			return nil, err
		}
	}
	j, err := s.fromJobAST(st, opts)
	if err != nil {
		return nil, err
	}
	if j.Mode == "cdc" {
		return s.createCDCJob(ctx, j)
	}
	// Plan now: missing tables, unmapped columns, bad filters fail here.
	plan, unmatched, err := s.ex.engine.Plan(ctx, j)
	if err != nil {
		return nil, engineErr(err)
	}
	if len(unmatched) > 0 {
		s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("source tables without a same-name target table are not copied: %s", strings.Join(unmatched, ", ")),
			"Create them with a DDL task, or list tables with TABLES (a, b AS c).")
	}
	if len(plan.Tasks) == 0 {
		s.notice("WARNING", codeWarning, "the job matches no tables", "")
	}
	err = s.ex.cat.CreateJob(ctx, *j)
	if errors.Is(err, catalog.ErrDuplicate) {
		return nil, pgErr(codeDuplicateObject, "sync job %q already exists", st.Name)
	}
	if err != nil {
		return nil, err
	}
	if err := s.ex.sched.Reload(ctx); err != nil {
		return nil, err
	}
	return tagOnly("CREATE SYNC JOB"), nil
}

// checkRunOptions checks rules across options.
func checkRunOptions(text string, with []parser.Option, o runopts.Values) error {
	pos := func(key string) int {
		for _, w := range with {
			if w.Key == key {
				return parser.OffsetToPosition(text, w.KeyPos)
			}
		}
		return 0
	}
	if o.Int("bisection_factor") >= o.Int("bisection_threshold") {
		return withHint(withPos(pgErr(codeInvalidParam, "bisection_factor (%d) must be smaller than bisection_threshold (%d)",
			o.Int("bisection_factor"), o.Int("bisection_threshold")), pos("bisection_factor")),
			"A differing range is split into bisection_factor parts until it has at most bisection_threshold rows.")
	}
	return nil
}

// stagingDatasource checks a staging option names an s3 or file datasource.
func (s *Session) stagingDatasource(ctx context.Context, name string) (*catalog.Datasource, error) {
	d, err := s.activeDatasource(ctx, name)
	if err != nil {
		return nil, err
	}
	if d.Type != "s3" && d.Type != "file" {
		return nil, withHint(pgErr(codeInvalidParam, "staging datasource %q is of type %s", name, d.Type),
			"staging names an s3 or file datasource, or 'none' to stream without files.")
	}
	return d, nil
}

func (s *Session) loadJob(ctx context.Context, name string) (*catalog.Job, error) {
	j, err := s.ex.cat.GetJob(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, withHint(pgErr(codeUndefinedObject, "sync job %q does not exist", name), "SELECT name FROM dataflow.jobs lists them.")
	}
	return j, err
}

func (s *Session) runAlterSyncJob(ctx context.Context, st *parser.AlterSyncJob) (wire.Result, error) {
	j, err := s.loadJob(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	if st.With != nil {
		set, err := checkWith(st.Text(), runopts.SyncJob, st.With, j.Mode)
		if err != nil {
			return nil, err
		}
		if j.Mode == "cdc" {
			src, err := s.ex.cat.GetDatasource(ctx, j.Source)
			if err != nil {
				return nil, err
			}
			if err := checkSourceKeys(st.Text(), st.With, set, src.Type); err != nil {
				return nil, err
			}
		}
		for k, v := range set {
			j.Options[k] = v
		}
		if err := checkRunOptions(st.Text(), st.With, runopts.SyncJob.Resolve(j.Options)); err != nil {
			return nil, err
		}
		if scan.Handles(j) {
			// File keys, windows and encodings are checked as at CREATE.
			if _, err := s.ex.scan.Check(ctx, j); err != nil {
				return nil, engineErr(err)
			}
		}
		if staging := set["staging"]; staging != "" && staging != "none" {
			if _, err := s.stagingDatasource(ctx, staging); err != nil {
				return nil, err
			}
		}
		if err := s.ex.cat.SetJobOptions(ctx, j.Name, j.Options); err != nil {
			return nil, err
		}
	}
	if st.Topics != nil {
		if err := s.alterTopics(ctx, j, st); err != nil {
			return nil, err
		}
	}
	if st.Schedule != nil {
		paused := j.ScheduleState == catalog.SchedulePaused
		if err := applySchedule(st.Text(), j, st.Schedule); err != nil {
			return nil, err
		}
		if paused && j.ScheduleKind != catalog.ScheduleNone {
			// A new schedule does not undo PAUSE: the user says when.
			j.ScheduleState = catalog.SchedulePaused
			s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("sync job %q stays paused", j.Name),
				fmt.Sprintf("RESUME SYNC JOB %s starts the new schedule.", j.Name))
		}
		if err := s.ex.cat.SetJobSchedule(ctx, j.Name, j.ScheduleKind, j.ScheduleExpr, j.ScheduleState); err != nil {
			return nil, err
		}
		if err := s.ex.sched.Reload(ctx); err != nil {
			return nil, err
		}
	}
	return tagOnly("ALTER SYNC JOB"), nil
}

func (s *Session) runDropSyncJob(ctx context.Context, st *parser.DropSyncJob) (wire.Result, error) {
	if j, err := s.ex.cat.GetJob(ctx, st.Name); err == nil && j.Mode == "cdc" {
		if err := s.dropCDC(ctx, j); err != nil {
			return nil, err
		}
	} else if err == nil && scan.Handles(j) {
		if _, active := s.ex.scan.Active(j.Name); !active {
			defer s.ex.clearScanPosition(context.WithoutCancel(ctx), j)
		}
	}
	err := s.ex.cat.DropJob(ctx, st.Name)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		if st.IfExists {
			s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("sync job %q does not exist, skipping", st.Name), "")
			return tagOnly("DROP SYNC JOB"), nil
		}
		return nil, pgErr(codeUndefinedObject, "sync job %q does not exist", st.Name)
	case errors.Is(err, catalog.ErrBusy):
		return nil, withHint(pgErr(codeObjectInUse, "sync job %q has a run in progress", st.Name), "STOP SYNC JOB "+st.Name+" first.")
	case err != nil:
		return nil, err
	}
	if err := s.ex.sched.Reload(ctx); err != nil {
		return nil, err
	}
	return tagOnly("DROP SYNC JOB"), nil
}

// fireScheduled starts a scheduled run.
func (e *Executor) fireScheduled(ctx context.Context, job string) error {
	j, err := e.cat.GetJob(ctx, job)
	if err != nil {
		return err
	}
	if scan.Handles(j) {
		return e.fireScan(ctx, j)
	}
	_, err = e.engine.Start(ctx, j, "schedule")
	return err
}

func (s *Session) runRunSyncJob(ctx context.Context, st *parser.RunSyncJob) (wire.Result, error) {
	j, err := s.loadJob(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	if scan.Handles(j) {
		return s.runScanJob(ctx, j, st)
	}
	if st.With != nil {
		return nil, withHint(pgErr(codeInvalidParam, "RUN SYNC JOB ... WITH (start_time, end_time) applies to jobs with an OBJECT end"), "")
	}
	if j.Mode == "cdc" {
		return s.startCDC(ctx, j, cdc.Run, st.Wait)
	}
	h, err := s.ex.engine.Start(ctx, j, "manual")
	if errors.Is(err, batch.ErrBusy) {
		id, _, _ := s.ex.cat.ActiveRun(ctx, j.Name)
		return nil, withHint(pgErr(codeObjectInUse, "sync job %q is already running (run %s)", j.Name, id),
			"Wait for it, or STOP SYNC JOB "+j.Name+".")
	}
	if err != nil {
		return nil, engineErr(err)
	}
	return s.waitRun(ctx, h.RunID, h.Done, h.Watch, st.Wait)
}

// waitRun returns the run row, after done closes when wait is set; while
// waiting, progress goes to the client as NOTICEs.
func (s *Session) waitRun(ctx context.Context, runID string, done <-chan struct{}, watch func(func(batch.Progress)) func(), wait bool) (wire.Result, error) {
	if wait {
		stop := watch(func(p batch.Progress) { s.notice("NOTICE", codeSuccessfulCompl, formatProgress(p), "") })
		select {
		case <-done:
			stop()
		case <-ctx.Done():
			stop()
			return nil, withHint(pgErr(codeQueryCanceled, "canceling statement due to user request; run %s goes on", runID),
				"Watch it in dataflow.runs; STOP SYNC JOB terminates it.")
		}
	}
	return s.runRow(ctx, runID)
}

func formatProgress(p batch.Progress) string {
	if p.Message != "" && p.Stage == "" {
		return fmt.Sprintf("run %s %s", p.RunID, p.Message)
	}
	if p.Message != "" {
		return fmt.Sprintf("%s: %s %s", p.Table, p.Stage, p.Message)
	}
	state := "running"
	if p.Done {
		state = "done"
	}
	if p.Total > 0 {
		return fmt.Sprintf("%s: %s %s, %d of %d rows (%.1f%%), %.0f rows/s", p.Table, p.Stage, state, p.Rows, p.Total,
			100*float64(p.Rows)/float64(p.Total), p.RowsPerSec)
	}
	return fmt.Sprintf("%s: %s %s, %d rows, %.0f rows/s", p.Table, p.Stage, state, p.Rows, p.RowsPerSec)
}

// runRow reads one run as RUN SYNC JOB returns it.
func (s *Session) runRow(ctx context.Context, id string) (wire.Result, error) {
	var (
		runID, job, status, trigger, started string
		finished, message                    *string
		read, written, bytes                 int64
	)
	err := s.ex.cat.ReadDB().QueryRowContext(ctx, `SELECT run_id, job, status, trigger, started_at, finished_at, rows_read, rows_written, bytes, message
		FROM dataflow_runs WHERE run_id = ?`, id).Scan(&runID, &job, &status, &trigger, &started, &finished, &read, &written, &bytes, &message)
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	ts := func(v string) []byte { return text(v + "+00") }
	row := [][]byte{text(runID), text(job), text(status), text(trigger), ts(started), nil,
		text(strconv.FormatInt(read, 10)), text(strconv.FormatInt(written, 10)), text(strconv.FormatInt(bytes, 10)), nil}
	if finished != nil {
		row[5] = ts(*finished)
	}
	if message != nil {
		row[9] = text(*message)
	}
	return &rowsResult{rows: [][][]byte{row}, tag: "SELECT 1"}, nil
}

func (s *Session) runStopSyncJob(ctx context.Context, st *parser.StopSyncJob) (wire.Result, error) {
	j, err := s.loadJob(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	if j.Mode == "cdc" {
		return s.stopCDC(ctx, j.Name)
	}
	stop := s.ex.engine.Stop
	if scan.Handles(j) {
		stop = s.ex.scan.Stop
	}
	id, err := stop(ctx, st.Name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, withHint(pgErr(codeObjectState, "sync job %q is not running", st.Name), "SELECT * FROM dataflow.runs shows its runs.")
	}
	if err != nil {
		return nil, err
	}
	return s.runRow(ctx, id)
}

func (s *Session) setScheduleState(ctx context.Context, name, state, tag string) (wire.Result, error) {
	j, err := s.loadJob(ctx, name)
	if err != nil {
		return nil, err
	}
	if j.ScheduleKind == catalog.ScheduleNone {
		return nil, withHint(pgErr(codeObjectState, "sync job %q has no schedule", name), "ALTER SYNC JOB "+name+" SCHEDULE CRON '...' gives it one.")
	}
	if j.ScheduleState == state {
		s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("sync job %q is already %s", name, state), "")
		return tagOnly(tag), nil
	}
	if err := s.ex.cat.SetScheduleState(ctx, name, state); err != nil {
		return nil, err
	}
	if err := s.ex.sched.Reload(ctx); err != nil {
		return nil, err
	}
	return tagOnly(tag), nil
}

func (s *Session) runRetryRun(ctx context.Context, st *parser.RetryRun) (wire.Result, error) {
	if res, ok, err := s.scanRetry(ctx, st); ok {
		return res, err
	}
	stage := ""
	if st.Stage != nil {
		stage = *st.Stage
	}
	h, err := s.ex.engine.Retry(ctx, st.RunID, stage)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, withPos(pgErr(codeUndefinedObject, "run %q does not exist", st.RunID), parser.OffsetToPosition(st.Text(), st.RunIDPos))
	}
	if err != nil {
		return nil, engineErr(err)
	}
	return s.waitRun(ctx, h.RunID, h.Done, h.Watch, true)
}

// loadFinishedRun loads a run for cleanup: it must not be active.
func (s *Session) loadFinishedRun(ctx context.Context, id string, pos int, text string) (*catalog.Run, *batch.RunPlan, error) {
	r, err := s.ex.cat.GetRun(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil, withPos(pgErr(codeUndefinedObject, "run %q does not exist", id), parser.OffsetToPosition(text, pos))
	}
	if err != nil {
		return nil, nil, err
	}
	for _, a := range catalog.ActiveRunStatuses {
		if r.Status == a {
			return nil, nil, withHint(pgErr(codeObjectInUse, "run %s is still %s", id, r.Status), "Wait for it to end, or STOP SYNC JOB "+r.Job+".")
		}
	}
	plan, err := batch.DecodePlan(r.Plan)
	if err != nil {
		return nil, nil, err
	}
	return r, plan, nil
}

// DefaultCleanBatch is the rows deleted per statement by CLEAN SOURCE DATA.
const DefaultCleanBatch = 10000

func (s *Session) runCleanSourceData(ctx context.Context, st *parser.CleanSourceData) (wire.Result, error) {
	r, plan, err := s.loadFinishedRun(ctx, st.RunID, st.RunIDPos, st.Text())
	if err != nil {
		return nil, err
	}
	if !st.Force {
		verified, why, err := s.runVerified(ctx, r)
		if err != nil {
			return nil, err
		}
		if !verified {
			return nil, withHint(pgErr(codeObjectState, "run %s cannot be cleaned: %s", r.ID, why),
				"CLEAN SOURCE DATA deletes source rows only after a verified copy; add FORCE to delete anyway.")
		}
	}
	batchSize := st.Batch
	if batchSize <= 0 {
		batchSize = DefaultCleanBatch
	}
	src, err := s.ex.openEndpoint(ctx, plan.Source)
	if err != nil {
		return nil, engineErr(err)
	}
	defer src.Close()
	cl, err := connectors.As[data.Cleaner](src.Conn)
	if err != nil {
		return nil, pgErr(codeFeatureNotSupp, "datasource %q of type %s cannot delete rows", src.Name, src.Type)
	}
	where := plan.SourceWhere
	if st.Where != nil && strings.TrimSpace(*st.Where) != "" {
		if where != "" {
			where = "(" + where + ") AND (" + *st.Where + ")"
		} else {
			where = *st.Where
		}
	}
	var dst *batch.Endpoint
	if plan.Target != "" {
		if dst, err = s.ex.openEndpoint(ctx, plan.Target); err != nil {
			return nil, engineErr(err)
		}
		defer dst.Close()
	}
	var rows [][][]byte
	for _, t := range plan.Tasks {
		keyed, why := keyedClean(ctx, src, dst, t)
		if keyed != nil {
			total, stmt, kept, err := keyed.run(ctx, where, int(batchSize))
			if err != nil {
				s.recordCleanup(ctx, r.ID, "source_data", cl.Host(), stmt, total)
				return nil, withHint(pgErr(codeSystemError, "datasource %q: delete from %s after %d rows: %s", src.Name, t.SourceTable, total,
					connectors.ScrubError(err, append(append([]string{}, src.Secrets...), dst.Secrets...)...)), "Rows deleted so far are recorded in dataflow.cleanup_history; run CLEAN again to go on.")
			}
			if err := s.recordCleanup(ctx, r.ID, "source_data", cl.Host(), stmt, total); err != nil {
				return nil, err
			}
			if kept > 0 {
				s.notice("NOTICE", "00000", fmt.Sprintf("%s: kept %d rows that match the filters but are not in the target (changed or added since the run)", t.SourceTable, kept), "")
			}
			rows = append(rows, [][]byte{text(qualifyName(t.SourceSchema, t.SourceTable)), text(strconv.FormatInt(total, 10)), text(stmt)})
			continue
		}
		if !st.Force {
			return nil, withHint(pgErr(codeObjectState, "CLEAN SOURCE DATA cannot tell which rows of %s the target holds: %s", t.SourceTable, why),
				"Add FORCE to delete every source row that matches the job's and the clean's WHERE, whether the target holds it or not.")
		}
		var total int64
		var stmt string
		for {
			n, q, err := cl.DeleteBatch(ctx, t.SourceSchema, t.SourceTable, where, int(batchSize))
			stmt = q
			total += n
			if err != nil {
				s.recordCleanup(ctx, r.ID, "source_data", cl.Host(), q, total)
				return nil, withHint(pgErr(codeSystemError, "datasource %q: delete from %s after %d rows: %s", src.Name, t.SourceTable, total,
					connectors.ScrubError(err, src.Secrets...)), "Rows deleted so far are recorded in dataflow.cleanup_history; run CLEAN again to go on.")
			}
			if n == 0 {
				break
			}
			if ctx.Err() != nil {
				break
			}
		}
		if err := s.recordCleanup(ctx, r.ID, "source_data", cl.Host(), stmt, total); err != nil {
			return nil, err
		}
		rows = append(rows, [][]byte{text(qualifyName(t.SourceSchema, t.SourceTable)), text(strconv.FormatInt(total, 10)), text(stmt)})
		if ctx.Err() != nil {
			return nil, pgErr(codeQueryCanceled, "canceling statement due to user request")
		}
	}
	return &rowsResult{rows: rows, tag: fmt.Sprintf("CLEAN SOURCE DATA %d", len(rows))}, nil
}

// keyedCleaner deletes a task's source rows batch by batch, only those
// whose primary key the target holds.
type keyedCleaner struct {
	src, dst       data.KeyedCleaner
	t              batch.TaskPlan
	srcKey, dstKey []string
}

// keyedClean is the keyed cleaner of task t, or nil and why there is none.
func keyedClean(ctx context.Context, src, dst *batch.Endpoint, t batch.TaskPlan) (*keyedCleaner, string) {
	if dst == nil {
		return nil, "the run has no target table"
	}
	sk, err1 := connectors.As[data.KeyedCleaner](src.Conn)
	dk, err2 := connectors.As[data.KeyedCleaner](dst.Conn)
	sin, err3 := connectors.As[schema.Introspector](src.Conn)
	din, err4 := connectors.As[schema.Introspector](dst.Conn)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return nil, fmt.Sprintf("datasource %q (%s) or %q (%s) cannot look rows up by key", src.Name, src.Type, dst.Name, dst.Type)
	}
	st, err := batch.DescribeOne(ctx, sin, t.SourceSchema, t.SourceTable, "source", src.Name)
	if err != nil {
		return nil, connectors.ScrubError(err, src.Secrets...).Error()
	}
	dt, err := batch.DescribeOne(ctx, din, t.TargetSchema, t.TargetTable, "target", dst.Name)
	if err != nil {
		return nil, connectors.ScrubError(err, dst.Secrets...).Error()
	}
	if len(st.PrimaryKey) == 0 {
		return nil, "the source table has no primary key"
	}
	pairs, err := batch.PairColumns(st, dt, t.Columns)
	if err != nil {
		return nil, err.Error()
	}
	kc := &keyedCleaner{src: sk, dst: dk, t: t, srcKey: st.PrimaryKey}
	for _, k := range st.PrimaryKey {
		i := slices.IndexFunc(pairs, func(p batch.ColumnPair) bool { return p.Src.Name == k })
		if i < 0 {
			return nil, fmt.Sprintf("key column %s is not copied to the target", k)
		}
		kc.dstKey = append(kc.dstKey, pairs[i].Dst.Name)
	}
	return kc, ""
}

// run deletes, batch by batch, the source rows matching where whose keys
// the target holds; kept counts the others.
func (k *keyedCleaner) run(ctx context.Context, where string, batchSize int) (deleted int64, stmt string, kept int64, err error) {
	var after []string
	for ctx.Err() == nil {
		keys, err := k.src.KeysAfter(ctx, k.t.SourceSchema, k.t.SourceTable, k.srcKey, where, after, batchSize)
		if err != nil || len(keys) == 0 {
			return deleted, stmt, kept, err
		}
		after = keys[len(keys)-1]
		held, err := k.dst.HasKeys(ctx, k.t.TargetSchema, k.t.TargetTable, k.dstKey, keys)
		if err != nil {
			return deleted, stmt, kept, fmt.Errorf("look the keys up in the target: %w", err)
		}
		var gone [][]string
		for _, key := range keys {
			if held[data.KeyText(key)] {
				gone = append(gone, key)
			}
		}
		kept += int64(len(keys) - len(gone))
		if len(gone) == 0 {
			continue
		}
		n, q, err := k.src.DeleteKeys(ctx, k.t.SourceSchema, k.t.SourceTable, k.srcKey, where, gone)
		deleted, stmt = deleted+n, q
		if err != nil {
			return deleted, stmt, kept, err
		}
	}
	return deleted, stmt, kept, ctx.Err()
}

func qualifyName(schema, table string) string {
	if schema == "" {
		return table
	}
	return schema + "." + table
}

func (s *Session) recordCleanup(ctx context.Context, run, kind, host, sql string, rows int64) error {
	return s.ex.cat.AddCleanup(context.WithoutCancel(ctx), catalog.Cleanup{RunID: run, Kind: kind, Host: host, SQL: sql, User: s.user, Rows: rows})
}

// runVerified says whether a run completed with a real verification.
func (s *Session) runVerified(ctx context.Context, r *catalog.Run) (bool, string, error) {
	if r.Status != catalog.RunCompleted {
		return false, "its status is " + r.Status, nil
	}
	stages, err := s.ex.cat.Stages(ctx, r.ID)
	if err != nil {
		return false, "", err
	}
	for _, st := range stages {
		if st.Stage == batch.StageDiff && st.Status != catalog.StageCompleted {
			return false, "it was not verified (TableDataDiff " + st.Status + ")", nil
		}
	}
	return true, "", nil
}

func (s *Session) runCleanExportFiles(ctx context.Context, st *parser.CleanExportFiles) (wire.Result, error) {
	r, plan, err := s.loadFinishedRun(ctx, st.RunID, st.RunIDPos, st.Text())
	if err != nil {
		return nil, err
	}
	removeFiles := func() (int64, string, error) { return s.ex.engine.RemoveFiles(ctx, r.ID, plan) }
	if scan.IsPlan(r.Plan) {
		removeFiles = func() (int64, string, error) { return s.scanCleanFiles(ctx, r) }
	}
	n, where, err := removeFiles()
	if rerr := s.recordCleanup(ctx, r.ID, "export_files", where, "remove staged files of run "+r.ID, n); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return nil, engineErr(err)
	}
	return &rowsResult{rows: [][][]byte{{text("(export files)"), text(strconv.FormatInt(n, 10)), text("remove staged files of run " + r.ID)}}, tag: "CLEAN EXPORT FILES 1"}, nil
}
