package cdc

// Sources whose streams name their tables (message queues), bad records
// (error_limit), and the statements that only such sources support:
// ALTER SYNC JOB ... SET TOPICS on a running job, RESET SYNC JOB ...
// POSITION TO TIMESTAMP. All through connectors/cdc capabilities.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	change "github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/runopts"
)

// planFromTarget plans a job whose source cannot describe tables: the
// target's tables (TABLES (a AS b) or every table of the target schema,
// less EXCLUDE and flowgate's own) are what the job can write; a change
// names its source table, which maps to the target table of that name.
func (e *Engine) planFromTarget(ctx context.Context, j *catalog.Job, ep *endpoints) (*Plan, []*table, error) {
	din, err := connectors.As[schema.Introspector](ep.dst.Conn)
	if err != nil {
		return nil, nil, planErr("0A000", "", "datasource %q cannot read table structure", ep.dst.Name)
	}
	names, err := din.ListTables(ctx, j.TargetSchema)
	if err != nil {
		return nil, nil, remote(ep.dst, fmt.Errorf("list target tables: %w", err))
	}
	onTarget := map[string]bool{}
	for _, n := range names {
		onTarget[n] = true
	}
	skip := map[string]bool{}
	for _, x := range j.Definition.Exclude {
		skip[x] = true
	}
	type pair struct{ src, dst string }
	var pairs []pair
	explicit := len(j.Definition.Tables) > 0
	if explicit {
		for _, m := range j.Definition.Tables {
			if !onTarget[m.Target] {
				return nil, nil, planErr("42704", "Create it first, e.g. with a DDL task, or correct TABLES (...).",
					"target table %q does not exist in datasource %q", m.Target, j.Target)
			}
			if !skip[m.Source] {
				pairs = append(pairs, pair{m.Source, m.Target})
			}
		}
	} else {
		for _, n := range names {
			if !skip[n] && !strings.HasPrefix(n, "flowgate_") {
				pairs = append(pairs, pair{n, n})
			}
		}
	}
	opts := runopts.SyncJob.Resolve(j.Options)
	p := &Plan{Job: j.Name, Source: j.Source, Target: j.Target, Options: opts}
	var tables []*table
	for _, pr := range pairs {
		t := batch.TaskPlan{ID: int64(len(p.Tasks) + 1), SourceTable: pr.src, TargetSchema: j.TargetSchema, TargetTable: pr.dst}
		tb := &table{task: t, src: change.TableRef{Name: pr.src}, dst: change.TableRef{Schema: j.TargetSchema, Name: pr.dst}}
		if tb.dstDesc, err = batch.DescribeOne(ctx, din, j.TargetSchema, pr.dst, "target", j.Target); err != nil {
			return nil, nil, remote(ep.dst, err)
		}
		if len(tb.dstDesc.PrimaryKey) == 0 {
			if explicit {
				return nil, nil, planErr("55000", fmt.Sprintf("Give it one, e.g. ALTER TABLE %s ADD PRIMARY KEY (id); changes are applied by key.", pr.dst),
					"target table %s has no primary key", tb.dst)
			}
			p.NoKey = append(p.NoKey, pr.dst)
			continue
		}
		p.Tasks = append(p.Tasks, t)
		tables = append(tables, tb)
	}
	if err := ep.source.CheckCDC(ctx, nil); err != nil {
		return nil, nil, remote(ep.src, err)
	}
	if sub, err := connectors.As[change.Subscriber](ep.src.Conn); err == nil {
		if err := sub.CheckSubscription(ctx, change.StreamSpec{Job: j.Name, Subscription: j.Definition.Topics, Options: opts}); err != nil {
			return nil, nil, remote(ep.src, err)
		}
	}
	return p, tables, nil
}

// Resubscribe makes the job's running stream commit what it applied and
// read its subscription again from there; false when the job does not run
// in this process.
func (e *Engine) Resubscribe(job string) bool {
	if e.cfg.Remote != nil {
		return false // a remote attempt reads the topics when it starts
	}
	e.mu.Lock()
	a, ok := e.active[job]
	e.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case a.resub <- struct{}{}:
	default:
	}
	return true
}

// ResetPosition moves a stopped job to the source's position as of t and
// writes it to the target as the job's checkpoint: the next run goes on
// from there (re-applied changes are idempotent by key).
func (e *Engine) ResetPosition(ctx context.Context, j *catalog.Job, t time.Time) (change.Position, error) {
	ep, err := e.open(ctx, j)
	if err != nil {
		return "", err
	}
	defer ep.close()
	seeker, err := connectors.As[change.TimeSeeker](ep.src.Conn)
	if err != nil {
		return "", planErr("0A000", "RESTART SYNC JOB ... FROM SNAPSHOT starts a database source over.",
			"datasource %q of type %s cannot seek to a time", ep.src.Name, ep.src.Type)
	}
	plan, _, err := e.plan(ctx, j, ep)
	if err != nil {
		return "", err
	}
	sspec := change.StreamSpec{Job: j.Name, Subscription: j.Definition.Topics, Options: plan.Options}
	pos, err := seeker.PositionAt(ctx, sspec, t)
	if err != nil {
		return "", remote(ep.src, err)
	}
	tx, err := ep.applier.Begin(ctx, applySpec(plan))
	if err != nil {
		return "", remote(ep.dst, err)
	}
	if err := tx.Commit(ctx, pos); err != nil {
		tx.Rollback()
		return "", remote(ep.dst, err)
	}
	bg := context.WithoutCancel(ctx)
	if _, ok, err := e.cfg.Catalog.GetCDCState(bg, j.Name); err == nil && ok {
		if err := e.cfg.Catalog.SetCheckpointPosition(bg, j.Name, string(pos)); err != nil {
			return "", err
		}
	}
	// Tools that read the group's offsets see the new position too; the
	// target's checkpoint is what the next run uses, so a failure here
	// only delays what they see.
	if err := seeker.CommitPosition(ctx, sspec, pos); err != nil {
		e.cfg.Logger.Warn("RESET: could not commit the position to the consumer group", "job", j.Name, "err", connectors.ScrubError(err, ep.src.Secrets...))
	}
	return pos, nil
}

// badRecordsError fails a run past its error_limit.
type badRecordsError struct {
	count, limit int64
	origin, msg  string
}

func (e *badRecordsError) Error() string {
	return fmt.Sprintf("bad record at %s: %s; %d bad records, more than error_limit = %d (see dataflow.run_errors)", e.origin, e.msg, e.count, e.limit)
}

// excerpt is the start of a record for dataflow.run_errors.
func excerpt(b []byte) string {
	const n = 500
	cut := len(b) > n
	if cut {
		b = b[:n]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	s := strings.ToValidUTF8(string(b), "?")
	if cut {
		s += "..."
	}
	return s
}

// badRecord keeps a record the run skips and fails the run past
// error_limit.
func (s *streamer) badRecord(ctx context.Context, taskID int64, origin string, raw []byte, err error) error {
	bg := context.WithoutCancel(ctx)
	added, cerr := s.a.rec.AddRunError(bg, catalog.RunError{RunID: s.a.id, TaskID: taskID, Position: origin, Error: err.Error(), Record: excerpt(raw)})
	if cerr != nil {
		return cerr
	}
	if added {
		s.badCount++
	}
	s.e.cfg.Logger.Warn("CDC: skipped a bad record", "job", s.job, "at", origin, "err", err, "bad", s.badCount, "error_limit", s.errorLimit)
	if s.badCount > s.errorLimit {
		return &badRecordsError{count: s.badCount, limit: s.errorLimit, origin: origin, msg: err.Error()}
	}
	return nil
}

// rejected handles a target transaction that failed. Unless bad records
// are tolerated the error stands. Otherwise the stream is read again from
// the checkpoint one source transaction per target transaction (careful
// mode) up to and past what was read; in careful mode a failed transaction
// whose target still takes an empty one is a bad record: it is skipped.
func (s *streamer) rejected(ctx context.Context, err error) error {
	s.rollback()
	if ctx.Err() != nil || !(s.strict || s.errorLimit > 0) || errors.Is(err, errRestream) {
		return err
	}
	var br *badRecordsError
	if errors.As(err, &br) {
		return err
	}
	if !s.careful {
		s.a.careful = s.sincePos
		if s.a.careful == "" {
			s.a.careful = s.committed
		}
		s.e.cfg.Logger.Info("CDC: a target transaction failed; reading again from the checkpoint one source transaction at a time",
			"job", s.job, "err", err)
		return errRestream
	}
	tx, perr := s.ep.applier.Begin(ctx, s.spec)
	if perr != nil {
		return err
	}
	if perr := tx.Commit(ctx, s.committed); perr != nil {
		tx.Rollback()
		return err
	}
	s.skipTx, s.skipErr = true, err
	return nil
}

// carefulDone ends careful mode once past where it was asked for.
func (s *streamer) carefulDone() {
	if !s.careful || s.a.careful == "" {
		return
	}
	if c, err := s.ep.source.ComparePositions(s.committed, s.a.careful); err == nil && c > 0 {
		s.careful = false
		s.a.careful = ""
		s.e.cfg.Logger.Info("CDC: back to batched transactions", "job", s.job, "at", s.committed)
	}
}

// reportPartitions records a partitioned source's offsets.
func (s *streamer) reportPartitions(ctx context.Context) {
	pr, ok := s.stream.(change.PartitionReporter)
	if !ok || s.committed == "" {
		return
	}
	parts := pr.Partitions(s.committed)
	offs := make([]catalog.MQOffset, len(parts))
	for i, p := range parts {
		offs[i] = catalog.MQOffset{Topic: p.Topic, Partition: p.Partition, Committed: p.Committed, HighWatermark: p.HighWatermark}
	}
	if err := s.a.rec.RecordMQOffsets(context.WithoutCancel(ctx), s.job, offs); err != nil {
		s.e.cfg.Logger.Error("record partition offsets", "job", s.job, "err", err)
	}
}
