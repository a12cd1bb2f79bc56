package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors/kafka"
	"github.com/flowgate/flowgate/executor/cdc"
	"github.com/flowgate/flowgate/executor/runopts"
	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
)

// checkCDCDefinition refuses clauses a CDC job has no use for.
func checkCDCDefinition(st *parser.CreateSyncJob) error {
	switch {
	case st.Schedule != nil && st.Schedule.Kind != parser.ScheduleNone:
		return withHint(pgErr(codeInvalidParam, "SCHEDULE does not apply to MODE CDC: a CDC job streams until it is stopped"),
			"Leave SCHEDULE out and RUN SYNC JOB "+st.Name+" once.")
	case st.IncrementalOn != "":
		return withHint(pgErr(codeInvalidParam, "INCREMENTAL ON does not apply to MODE CDC"), "INCREMENTAL ON belongs to MODE SCAN.")
	case st.Where != nil || st.WhereLast != nil || st.TargetWhere != nil:
		return withHint(pgErr(codeFeatureNotSupp, "WHERE filters are not supported for MODE CDC"),
			"A CDC job captures every row change of its tables.")
	}
	return nil
}

// createCDCJob checks a CDC job against both datasources and stores it.
func (s *Session) createCDCJob(ctx context.Context, j *catalog.Job) (wire.Result, error) {
	plan, err := s.ex.cdc.Check(ctx, j)
	if err != nil {
		return nil, engineErr(err)
	}
	if len(plan.Unmatched) > 0 {
		s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("source tables without a same-name target table are not captured: %s", strings.Join(plan.Unmatched, ", ")),
			"Create them with a DDL task, or list tables with TABLES (a, b AS c).")
	}
	if len(plan.NoKey) > 0 {
		s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("target tables without a primary key are not written: %s", strings.Join(plan.NoKey, ", ")),
			"Changes are applied by key: give them one, or list the tables to write with TABLES (a, b AS c).")
	}
	if len(plan.Tasks) == 0 {
		s.notice("WARNING", codeWarning, "the job matches no tables", "")
	}
	err = s.ex.cat.CreateJob(ctx, *j)
	if errors.Is(err, catalog.ErrDuplicate) {
		return nil, pgErr(codeDuplicateObject, "sync job %q already exists", j.Name)
	}
	if err != nil {
		return nil, err
	}
	return tagOnly("CREATE SYNC JOB"), nil
}

// startCDC is RUN and RESTART of a CDC job.
func (s *Session) startCDC(ctx context.Context, j *catalog.Job, mode cdc.StartMode, wait bool) (wire.Result, error) {
	h, err := s.ex.cdc.Start(ctx, j, "manual", mode)
	if errors.Is(err, cdc.ErrBusy) {
		id, _, _ := s.ex.cat.ActiveRun(ctx, j.Name)
		return nil, withHint(pgErr(codeObjectInUse, "sync job %q is already running (run %s)", j.Name, id),
			"STOP SYNC JOB "+j.Name+" first.")
	}
	if err != nil {
		return nil, engineErr(err)
	}
	if h.Continued {
		s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("sync job %q continues from its checkpoint without a new snapshot", j.Name),
			"RESTART SYNC JOB "+j.Name+" FROM SNAPSHOT copies the tables again.")
	}
	// WAIT returns once the snapshot is done and streaming has begun.
	return s.waitRun(ctx, h.RunID, h.Ready, h.Watch, wait)
}

func (s *Session) runRestartSyncJob(ctx context.Context, st *parser.RestartSyncJob) (wire.Result, error) {
	j, err := s.loadJob(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	if j.Mode != "cdc" {
		return nil, withHint(pgErr(codeObjectState, "RESTART SYNC JOB applies to MODE CDC jobs; %q is MODE %s", j.Name, strings.ToUpper(j.Mode)),
			"RUN SYNC JOB starts a new run; RETRY RUN resumes a failed one.")
	}
	mode := cdc.Restart
	if st.FromSnapshot {
		mode = cdc.FromSnapshot
	}
	return s.startCDC(ctx, j, mode, false)
}

// stopCDC asks the run to stop and waits (bounded) until it applied what
// it read and ended, so the returned row says terminated.
func (s *Session) stopCDC(ctx context.Context, job string) (wire.Result, error) {
	id, err := s.ex.cdc.Stop(ctx, job)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, withHint(pgErr(codeObjectState, "sync job %q is not running", job), "SELECT * FROM dataflow.cdc_status shows its stream.")
	}
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, active := s.ex.cdc.Active(job); !active {
			break
		}
		select {
		case <-ctx.Done():
			return nil, pgErr(codeQueryCanceled, "canceling statement due to user request")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return s.runRow(ctx, id)
}

// dropCDC removes the slot and publication flowgate created and the
// target's checkpoint before the job goes.
func (s *Session) dropCDC(ctx context.Context, j *catalog.Job) error {
	if id, status, err := s.ex.cat.ActiveRun(ctx, j.Name); err != nil {
		return err
	} else if id != "" {
		return withHint(pgErr(codeObjectInUse, "sync job %q has a run in progress (run %s is %s)", j.Name, id, status), "STOP SYNC JOB "+j.Name+" first.")
	}
	if err := s.ex.cdc.Drop(ctx, j); err != nil {
		e := engineErr(err)
		return withHint(pgErr(sqlstate(e), "cannot drop sync job %q: %v", j.Name, e),
			"The replication slot must go with the job, or WAL piles up at the source: make the source reachable and DROP again.")
	}
	return nil
}

// checkSourceKeys refuses run options that the job's source type does not
// use (the message-queue keys for database sources and the other way
// round), pointing at the key.
func checkSourceKeys(text string, with []parser.Option, opts map[string]string, srcType string) error {
	err := runopts.SyncJob.CheckSource(opts, srcType)
	var ke *runopts.KeyError
	if !errors.As(err, &ke) {
		return err
	}
	e := withHint(pgErr(codeInvalidParam, "%s", ke.Message), ke.Hint)
	for _, o := range with {
		if o.Key == ke.Key {
			e = withPos(e, parser.OffsetToPosition(text, o.KeyPos))
		}
	}
	return e
}

// checkMQDefinition checks a CDC job against its source's type: a kafka
// datasource is read through TOPICS (...), nothing else is.
func (s *Session) checkMQDefinition(ctx context.Context, st *parser.CreateSyncJob, opts map[string]string) error {
	src, err := s.activeDatasource(ctx, st.From.Datasource)
	if err != nil {
		return err
	}
	mq := src.Type == kafka.Name
	switch {
	case st.Topics != nil && !mq:
		return withHint(withPos(pgErr(codeInvalidParam, "TOPICS (...) reads a message-queue datasource; %q is of type %s", src.Name, src.Type),
			parser.OffsetToPosition(st.Text(), st.From.Pos)), "Read a database with FROM src.table or FROM DATABASE src.")
	case st.Topics == nil && mq:
		return withHint(withPos(pgErr(codeInvalidParam, "a job from kafka datasource %q names the topics it reads", src.Name),
			parser.OffsetToPosition(st.Text(), st.From.Pos)),
			fmt.Sprintf("CREATE SYNC JOB %s FROM %s TOPICS ('topic', ...) TO DATABASE dst [SCHEMA s] MODE CDC", st.Name, src.Name))
	}
	return checkSourceKeys(st.Text(), st.With, opts, src.Type)
}

// alterTopics is ALTER SYNC JOB ... SET TOPICS: the new subscription is
// stored, and a running job commits what it applied and reads it from
// there (topics added start as start_from says; removed ones stop).
func (s *Session) alterTopics(ctx context.Context, j *catalog.Job, st *parser.AlterSyncJob) error {
	if j.Mode != "cdc" || len(j.Definition.Topics) == 0 {
		return withHint(pgErr(codeObjectState, "sync job %q does not read topics", j.Name), "SET TOPICS changes a job FROM a kafka datasource.")
	}
	seen := map[string]bool{}
	var topics []string
	for _, t := range st.Topics {
		if !seen[t] {
			seen[t] = true
			topics = append(topics, t)
		}
	}
	if err := s.ex.cat.SetJobTopics(ctx, j.Name, topics); err != nil {
		return err
	}
	if s.ex.cdc.Resubscribe(j.Name) {
		s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("sync job %q reads topics %s from its next checkpoint", j.Name, strings.Join(topics, ", ")), "")
	}
	return nil
}

// timestampLayouts are the forms RESET ... TO TIMESTAMP accepts; without
// an offset the time is UTC.
var timestampLayouts = []string{"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999-0700",
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04", "2006-01-02"}

func parseTimestamp(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *Session) runResetSyncJob(ctx context.Context, st *parser.ResetSyncJob) (wire.Result, error) {
	j, err := s.loadJob(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	at, ok := parseTimestamp(st.Timestamp)
	if !ok {
		return nil, withHint(withPos(pgErr("22007", "invalid timestamp %q", st.Timestamp), parser.OffsetToPosition(st.Text(), st.TimestampPos)),
			"Write it as 'YYYY-MM-DD HH:MM:SS[+HH]', e.g. '2024-05-01 00:00:00+00'.")
	}
	if j.Mode != "cdc" || len(j.Definition.Topics) == 0 {
		return nil, withHint(pgErr(codeObjectState, "RESET SYNC JOB ... POSITION applies to jobs FROM a kafka datasource; %q is not one", j.Name),
			"RESTART SYNC JOB ... FROM SNAPSHOT starts a database CDC job over.")
	}
	if id, status, err := s.ex.cat.ActiveRun(ctx, j.Name); err != nil {
		return nil, err
	} else if id != "" {
		return nil, withHint(pgErr(codeObjectInUse, "sync job %q is running (run %s is %s): its position can only be reset while it is stopped", j.Name, id, status),
			fmt.Sprintf("STOP SYNC JOB %s; then RESET it and RUN SYNC JOB %s again.", j.Name, j.Name))
	}
	pos, err := s.ex.cdc.ResetPosition(ctx, j, at)
	if err != nil {
		return nil, engineErr(err)
	}
	s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("sync job %q goes on from %s at its next run", j.Name, pos), "")
	return tagOnly("RESET SYNC JOB"), nil
}
