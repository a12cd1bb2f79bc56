package executor

// MODE SCAN jobs and jobs with an OBJECT end (FEATURES.md sections 5a and
// 5b): checked here, run by executor/scan.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/runopts"
	"github.com/flowgate/flowgate/executor/scan"
	"github.com/flowgate/flowgate/executor/window"
	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
)

// isScanJob says whether CREATE SYNC JOB st goes to the scan engine.
func isScanJob(st *parser.CreateSyncJob) bool {
	return st.Mode == "scan" || st.FromObject != nil || st.ToObject != nil
}

// checkScanDefinition refuses what SCAN and OBJECT jobs cannot do, with
// positions.
func checkScanDefinition(st *parser.CreateSyncJob) error {
	text := st.Text()
	at := func(pos int) int { return parser.OffsetToPosition(text, pos) }
	switch {
	case st.JobKind == "database" && (st.FromObject != nil || st.ToObject != nil):
		return withHint(withPos(pgErr(codeFeatureNotSupp, "a job with an OBJECT end moves one table: FROM src.table or TO dst.table"), at(st.ModePos)),
			"Create one job per table.")
	case st.Mode == "cdc" && (st.FromObject != nil || st.ToObject != nil):
		return withHint(withPos(pgErr(codeFeatureNotSupp, "OBJECT ends are for MODE BATCH and MODE SCAN jobs"), at(st.ModePos)), "")
	case st.FromObject != nil && st.Mode != "scan":
		return withHint(withPos(pgErr(codeFeatureNotSupp, "a job FROM an OBJECT is MODE SCAN: it loads each new or changed object once"), at(st.ModePos)),
			"Use MODE SCAN with SCHEDULE EVERY '60 seconds' (or RUN it by hand).")
	case st.Format != "" && st.FromObject == nil:
		return withHint(withPos(pgErr(codeInvalidParam, "FORMAT applies to jobs FROM store OBJECT '...'"), at(st.FormatPos)),
			"A job TO an OBJECT takes WITH (file_format = 'csv'|'txt'|'parquet').")
	case st.IncrementalOn != "" && (st.FromObject != nil || st.ToObject != nil):
		return withHint(withPos(pgErr(codeInvalidParam, "INCREMENTAL ON applies to SCAN jobs between tables"), at(st.IncrementalOnPos)),
			"A job TO an OBJECT selects its rows with WHERE '... ${startTime} ... ${endTime}'.")
	case st.WhereLast != nil || st.TargetWhere != nil:
		return withHint(pgErr(codeFeatureNotSupp, "WHERE LAST and TARGET WHERE are not supported for SCAN and OBJECT jobs"), "Use WHERE 'expression' with ${startTime} and ${endTime}.")
	case st.FromObject != nil && st.Where != nil:
		return withHint(withPos(pgErr(codeFeatureNotSupp, "WHERE does not apply to jobs FROM an OBJECT"), at(st.WherePos)), "Every record of a new or changed object is loaded.")
	}
	for _, v := range []struct {
		s   *string
		pos int
	}{{objectText(st.ToObject), objectPos(st.ToObject)}, {objectText(st.FromObject), objectPos(st.FromObject)}, {st.Where, st.WherePos}} {
		if v.s == nil {
			continue
		}
		if err := window.Check(*v.s); err != nil {
			var we *window.Error
			if errors.As(err, &we) {
				return withHint(withPos(pgErr(codeInvalidParam, "%s", we.Message), at(parser.LiteralOffset(text, v.pos, we.Offset))), we.Hint)
			}
			return err
		}
	}
	return nil
}

func objectText(o *parser.ObjectRef) *string {
	if o == nil {
		return nil
	}
	return &o.Object
}

func objectPos(o *parser.ObjectRef) int {
	if o == nil {
		return 0
	}
	return o.ObjectPos
}

// createScanJob is CREATE SYNC JOB for the scan engine.
func (s *Session) createScanJob(ctx context.Context, st *parser.CreateSyncJob) (wire.Result, error) {
	if err := checkScanDefinition(st); err != nil {
		return nil, err
	}
	opts, err := checkWith(st.Text(), runopts.SyncJob, st.With, st.Mode)
	if err != nil {
		return nil, err
	}
	if err := checkRunOptions(st.Text(), st.With, runopts.SyncJob.Resolve(opts)); err != nil {
		return nil, err
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
	switch {
	case st.ToObject != nil:
		j.Definition.ObjectSide, j.Definition.Object = "target", st.ToObject.Object
		j.TargetTable = st.ToObject.Object
	case st.FromObject != nil:
		j.Definition.ObjectSide, j.Definition.Object, j.Definition.Format = "source", st.FromObject.Object, st.Format
		j.SourceTable = st.FromObject.Object
		if j.Definition.Format == "" {
			j.Definition.Format = runopts.SyncJob.Resolve(opts)["file_format"]
		}
	}
	unmatched, err := s.ex.scan.Check(ctx, j)
	if err != nil {
		return nil, engineErr(err)
	}
	if len(unmatched) > 0 {
		s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("source tables without a same-name target table are not scanned: %s", strings.Join(unmatched, ", ")),
			"RUN DDL TASK creates them; TABLES (a AS b) maps other names.")
	}
	if j.Mode == "scan" && st.Schedule == nil {
		s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("sync job %q has no schedule: it scans when you RUN SYNC JOB %s", j.Name, j.Name),
			"ALTER SYNC JOB "+j.Name+" SCHEDULE EVERY '300 seconds' makes it scan on its own.")
	}
	// A job of the same name dropped earlier may have left its position
	// in the target: a new job starts from nothing.
	s.ex.clearScanPosition(ctx, j)
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

// clearScanPosition forgets a table scan's watermark in its target (best
// effort: DROP and CREATE go on when the target is unreachable).
func (e *Executor) clearScanPosition(ctx context.Context, j *catalog.Job) {
	if scan.KindOf(j) != scan.KindScan {
		return
	}
	ep, err := e.openEndpoint(ctx, j.Target)
	if err != nil {
		return
	}
	defer ep.Close()
	if ap, err := connectors.As[cdc.ChangeApplier](ep.Conn); err == nil {
		for _, key := range e.scan.CheckpointKeys(ctx, j) {
			ap.ClearCheckpoint(ctx, cdc.ApplySpec{Job: key})
		}
	}
}

// runScanJob is RUN SYNC JOB for the scan engine: WITH (start_time,
// end_time) gives an export's window (a backfill).
func (s *Session) runScanJob(ctx context.Context, j *catalog.Job, st *parser.RunSyncJob) (wire.Result, error) {
	var win *scan.Window
	if st.With != nil {
		if scan.KindOf(j) == scan.KindScan {
			return nil, withHint(pgErr(codeInvalidParam, "RUN SYNC JOB ... WITH (...) gives the window of a job with an OBJECT end; %q is a scan between tables", j.Name),
				"A table scan continues from its watermark (dataflow.watermarks).")
		}
		loc := time.UTC
		if tz := runopts.SyncJob.Resolve(j.Options)["source_timezone"]; tz != "" {
			if l, err := time.LoadLocation(tz); err == nil {
				loc = l
			}
		}
		var w scan.Window
		var have [2]bool
		for _, o := range st.With {
			t, err := window.ParseTime(o.Value, loc)
			switch o.Key {
			case "start_time", "end_time":
			default:
				return nil, withHint(withPos(pgErr(codeInvalidParam, "unknown option %q for RUN SYNC JOB", o.Key), parser.OffsetToPosition(st.Text(), o.KeyPos)),
					"RUN SYNC JOB ... WITH (start_time = '2023-04-23 17:50:00', end_time = '2023-04-23 18:50:00').")
			}
			if err != nil {
				return nil, withPos(pgErr("22007", "%s: %v", o.Key, err), parser.OffsetToPosition(st.Text(), o.ValuePos))
			}
			if o.Key == "start_time" {
				w.Start, have[0] = t, true
			} else {
				w.End, have[1] = t, true
			}
		}
		if !have[0] || !have[1] {
			return nil, withHint(pgErr(codeInvalidParam, "RUN SYNC JOB ... WITH needs both start_time and end_time"), "")
		}
		if !w.End.After(w.Start) {
			return nil, pgErr(codeInvalidParam, "end_time (%s) must come after start_time (%s)", w.End.Format(time.DateTime), w.Start.Format(time.DateTime))
		}
		win = &w
	}
	h, err := s.ex.scan.Start(ctx, j, "manual", time.Now(), win)
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

// fireScan starts a scheduled run: the window is the fire time plus the
// offsets.
func (e *Executor) fireScan(ctx context.Context, j *catalog.Job) error {
	_, err := e.scan.Start(ctx, j, "schedule", window.FireTime(j.ScheduleKind, j.ScheduleExpr, time.Now()), nil)
	return err
}

// scanRetry retries a run of the scan engine; ok false when the run is
// another engine's.
func (s *Session) scanRetry(ctx context.Context, st *parser.RetryRun) (wire.Result, bool, error) {
	r, err := s.ex.cat.GetRun(ctx, st.RunID)
	if err != nil || !scan.IsPlan(r.Plan) {
		return nil, false, nil
	}
	if st.Stage != nil {
		return nil, true, withHint(pgErr(codeInvalidParam, "RETRY RUN ... STAGE applies to BATCH runs"), "A scan or files run is retried whole; it continues from its committed position.")
	}
	h, err := s.ex.scan.Retry(ctx, st.RunID)
	if err != nil {
		return nil, true, engineErr(err)
	}
	res, err := s.waitRun(ctx, h.RunID, h.Done, h.Watch, true)
	return res, true, err
}

// scanCleanFiles is CLEAN EXPORT FILES of an export run: its objects.
func (s *Session) scanCleanFiles(ctx context.Context, r *catalog.Run) (int64, string, error) {
	p, err := scan.DecodePlan(r.Plan)
	if err != nil {
		return 0, "", err
	}
	return s.ex.scan.RemoveFiles(ctx, r.ID, p)
}

// checkBatchTableKeys refuses the keys of SCAN and OBJECT jobs that a BATCH
// job between tables does not use (the batch engine has no bad-record or
// bandwidth handling), naming the key.
func checkBatchTableKeys(st *parser.CreateSyncJob, opts map[string]string) error {
	if st.Mode != "batch" {
		return nil
	}
	for _, o := range st.With {
		switch o.Key {
		case "error_limit", "throttle_mbps", "window_start", "window_end", "file_format", "write_mode", "null_format", "date_format", "field_delimiter", "encoding", "header":
			return withHint(withPos(pgErr(codeInvalidParam, "option %q does not apply to BATCH jobs between tables", o.Key), parser.OffsetToPosition(st.Text(), o.KeyPos)),
				o.Key+" is used by MODE SCAN jobs and jobs FROM or TO store OBJECT '...'.")
		}
	}
	return nil
}
