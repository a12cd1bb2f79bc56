package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/executor/cdc"
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
