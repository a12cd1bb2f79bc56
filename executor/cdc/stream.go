package cdc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	change "github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/runopts"
)

// Batching bounds: changes handed to the applier at once, and rows a
// target transaction takes before it commits at the next source commit.
// liveTxAge is how long a target transaction may stay open at a source
// commit while the source has no backlog: a live stream arrives without
// gaps at 5,000 changes per second and would otherwise commit only at
// checkpoint_interval, which is what its rows' lag then is.
const (
	applyChunk = 10000
	maxTxRows  = 50000
	liveTxAge  = 100 * time.Millisecond
)

// streamer is one attempt's apply loop.
type streamer struct {
	e      *Engine
	a      *activeRun
	job    string
	opts   runopts.Values
	ep     *endpoints
	stream change.ChangeStream
	spec   change.ApplySpec
	tables map[string]*table // by source TableRef.String()
	byTask []*table
	events *eventQueue // what the reader took from the stream and run has not yet

	tx         change.ApplyTx
	txStart    time.Time
	txRows     int
	pending    []change.MappedChange
	inSourceTx bool
	lastPos    change.Position // last source commit applied into tx
	lastCommit time.Time       // its source commit time
	committed  change.Position // last position committed at the target

	sincePos       change.Position // source position of the newest event seen
	lastReport     time.Time
	lastEvent      time.Time
	lag            time.Duration
	ins, upd, del  int64
	uncommitted    map[tableOp]int64 // changes counted at the next target commit
	checkpointedAt time.Time
	idleBeat       change.Position // a heartbeat's position not checkpointed yet
	// Where the attempt's time went, logged at its end.
	applyTime, commitTime time.Duration
	idleTime              time.Duration // waiting for the source
	applied, commits      int64
	started, lastStats    time.Time

	// Batching: a target transaction commits at a source commit once it
	// holds maxTxBytes of source records (0 = no limit) or is interval old.
	interval   time.Duration
	maxTxBytes int64
	txBytes    int64
	// strict is set for sources whose changes name their tables (message
	// queues): a change the job cannot map is a bad record, not ignored.
	strict     bool
	errorLimit int64
	badCount   int64
	// The open source transaction: where its changes start in pending,
	// whether some were applied already, why it is bad, its record, and
	// the counts it adds once it commits.
	txMark    int
	txFlushed bool
	txBad     error
	txTask    int64
	txOrigin  string
	txRaw     []byte
	txOps     []tableOp
	// careful: one target transaction per source transaction; skipTx: the
	// target refused the open source transaction (skipErr), skip it.
	careful bool
	skipTx  bool
	skipErr error
	resub   bool // commit and read the subscription again after this transaction
}

type tableOp struct {
	tb *table
	op change.Op
}

type result struct {
	ev  change.Event
	err error
}

// run reads the stream in a goroutine and applies in this one. It returns
// nil after a graceful stop, errRestream after DDL that needs the stream
// read again from the checkpoint, or the failure.
func (s *streamer) run(ctx context.Context) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.started = time.Now()
	defer func() {
		s.e.cfg.Logger.Debug("CDC stream attempt ended", "job", s.job, "changes", s.applied, "commits", s.commits,
			"elapsed", time.Since(s.started), "apply", s.applyTime, "commit", s.commitTime, "idle", s.idleTime)
	}()
	events := newEventQueue(4096)
	s.events = events
	go func() {
		defer events.close()
		for {
			ev, err := s.stream.Next(rctx)
			if !events.put(rctx, result{ev, err}) || err != nil {
				return
			}
		}
	}()
	var batch []result
	defer func() {
		s.rollback()
		if s.ins+s.upd+s.del > 0 {
			// Committed since the last report: an attempt that ends for
			// DDL or on an error would lose these counts otherwise.
			s.reportProgress(ctx, true)
		}
	}()
	interval := s.interval
	tick := time.NewTicker(min(interval, 500*time.Millisecond))
	defer tick.Stop()
	var stopDeadline <-chan time.Time
	stopCh := s.a.stop
	for {
		waitFrom := time.Now()
		select {
		case <-stopCh:
			// Finish the source transaction being applied, then stop.
			stopCh = nil
			if !s.inSourceTx {
				return s.stopNow(ctx)
			}
			stopDeadline = time.After(stopGraceTime)
		case <-stopDeadline:
			s.rollback()
			s.reportProgress(ctx, true)
			return nil
		case <-s.a.resub:
			if !s.inSourceTx {
				return s.resubscribe(ctx)
			}
			s.resub = true
		case <-tick.C:
			if s.tx != nil && !s.inSourceTx && (time.Since(s.txStart) >= interval || s.idle(0)) {
				if err := s.commit(ctx); err != nil {
					return s.rejected(ctx, err)
				}
			}
			if err := s.checkpointIdle(ctx); err != nil {
				return err
			}
			if time.Since(s.lastReport) >= 500*time.Millisecond {
				s.reportProgress(ctx, false)
			}
			if time.Since(s.lastStats) >= 5*time.Second {
				s.lastStats = time.Now()
				s.e.cfg.Logger.Debug("CDC stream", "job", s.job, "changes", s.applied, "commits", s.commits,
					"elapsed", time.Since(s.started), "apply", s.applyTime, "commit", s.commitTime, "idle", s.idleTime)
			}
		case <-events.ready:
			s.idleTime += time.Since(waitFrom)
			var ended bool
			batch, ended = events.take(batch)
			if ended {
				return fmt.Errorf("change stream ended: %w", context.Cause(rctx))
			}
			for i, r := range batch {
				if r.err != nil {
					if ctx.Err() != nil {
						return context.Cause(ctx)
					}
					return remote(s.ep.src, fmt.Errorf("read changes: %w", r.err))
				}
				if err := s.handle(ctx, r.ev, len(batch)-i-1); err != nil {
					return err
				}
				if s.resub && !s.inSourceTx {
					return s.resubscribe(ctx)
				}
				if stopCh == nil && !s.inSourceTx {
					return s.stopNow(ctx)
				}
			}
			// Ran dry after events that were not a commit (a keepalive
			// behind the last transaction of a burst): commit what waits.
			if s.tx != nil && !s.inSourceTx && !s.careful && s.lastPos != s.committed && s.idle(0) {
				if err := s.commit(ctx); err != nil {
					return s.rejected(ctx, err)
				}
			}
		}
	}
}

// resubscribe commits what was applied and ends the attempt, so that the
// next one reads the job's (changed) subscription from the checkpoint.
func (s *streamer) resubscribe(ctx context.Context) error {
	if err := s.commit(ctx); err != nil {
		return s.rejected(ctx, err)
	}
	s.reportProgress(ctx, true)
	s.e.cfg.Logger.Info("CDC: the subscription changed; reading it from the checkpoint", "job", s.job, "at", s.committed)
	return errRestream
}

// stopNow commits what was applied and ends the attempt.
func (s *streamer) stopNow(ctx context.Context) error {
	if err := s.commit(ctx); err != nil {
		return err
	}
	s.reportProgress(ctx, true)
	return nil
}

func (s *streamer) handle(ctx context.Context, ev change.Event, batchLeft int) error {
	switch ev.Kind {
	case change.EventSchema:
		tb, ok := s.tables[ev.Schema.Table.String()]
		if !ok {
			return nil
		}
		err := tb.onSchema(ev.Schema, s.opts["schema_changes"])
		var sce *schemaChangeError
		if s.strict && errors.As(err, &sce) {
			// Its changes are bad records until a message maps again.
			tb.target, tb.schemaErr = nil, err
			return nil
		}
		tb.schemaErr = nil
		var add *addColumns
		if errors.As(err, &add) {
			// DDL outside the apply transaction (MySQL commits DDL), then
			// read again from the checkpoint: nothing applied is lost.
			s.rollback()
			defaults := s.sourceDefaults(ctx, tb)
			for _, c := range add.cols {
				// The source filled its existing rows with the column's
				// default without logging them as changes: a constant
				// default at the target fills the same rows the same way.
				if d, ok := defaults[c.Name]; ok && d.DefaultKind == schema.DefaultLiteral {
					c.Default, c.DefaultKind = d.Default, d.DefaultKind
				} else if ok && d.DefaultKind != schema.DefaultNone && d.DefaultKind != schema.DefaultNull {
					s.e.cfg.Logger.Warn("CDC: the added column's default is not a constant: rows the source had before are NULL there at the target",
						"job", s.job, "table", tb.dst.String(), "column", c.Name, "default", d.Default)
				}
				if err := s.ep.applier.AddColumn(ctx, tb.dst, c, s.ep.src.Type); err != nil {
					return remote(s.ep.dst, fmt.Errorf("add column %s to %s: %w", c.Name, tb.dst, err))
				}
				s.e.cfg.Logger.Info("CDC: added a column at the target", "job", s.job, "table", tb.dst.String(), "column", c.Name, "default", c.Default)
			}
			return errRestream
		}
		return err
	case change.EventBegin:
		s.inSourceTx = true
		s.lastEvent = time.Now()
		s.txMark, s.txFlushed, s.txBad, s.txTask, s.txOrigin, s.txRaw = len(s.pending), false, nil, 0, ev.Origin, ev.Raw
		s.txOps = s.txOps[:0]
		s.skipTx, s.skipErr = false, nil
		if s.tx == nil {
			tx, err := s.ep.applier.Begin(ctx, s.spec)
			if err != nil {
				return remote(s.ep.dst, err)
			}
			s.tx, s.txStart, s.txRows, s.txBytes = tx, time.Now(), 0, 0
		}
	case change.EventChange:
		if s.txBad != nil || s.skipTx {
			return nil
		}
		tb, ok := s.tables[ev.Change.Table.String()]
		if !ok {
			if s.strict {
				s.txBad = fmt.Errorf("table %q is not one the job writes (TABLES, EXCLUDE, or no such table in the target schema)", ev.Change.Table.String())
			}
			return nil
		}
		if s.txTask == 0 {
			s.txTask = tb.task.ID
		}
		if tb.target == nil {
			if s.strict && tb.schemaErr != nil {
				s.txBad = tb.schemaErr
				return nil
			}
			return fmt.Errorf("change of %s before its schema", tb.src)
		}
		m, err := tb.mapChange(ev.Change)
		if err != nil {
			if s.strict {
				s.txBad = err
				return nil
			}
			return err
		}
		s.pending = append(s.pending, m)
		s.txOps = append(s.txOps, tableOp{tb, ev.Change.Op})
		s.txRows++
		if len(s.pending) >= applyChunk {
			s.txFlushed = true
			if err := s.flush(ctx); err != nil {
				return s.rejected(ctx, err)
			}
		}
	case change.EventCommit:
		s.inSourceTx = false
		s.lastPos, s.lastCommit, s.sincePos = ev.Position, ev.CommitTime, ev.Position
		s.lastEvent = time.Now()
		s.txBytes += int64(ev.Size)
		if err := s.endSourceTx(ctx, ev.Position); err != nil {
			return err
		}
		if s.careful {
			return s.commitCareful(ctx)
		}
		age := time.Since(s.txStart)
		if s.idle(batchLeft) || s.txRows >= maxTxRows || age >= s.interval || s.maxTxBytes > 0 && s.txBytes >= s.maxTxBytes ||
			s.maxTxBytes == 0 && age >= liveTxAge && !s.backlog() {
			if err := s.commit(ctx); err != nil {
				return s.rejected(ctx, err)
			}
		}
	case change.EventBad:
		s.lastPos, s.sincePos = ev.Position, ev.Position
		s.lastEvent = time.Now()
		if err := s.badRecord(ctx, 0, ev.Origin, ev.Raw, ev.Err); err != nil {
			return err
		}
		if s.tx == nil {
			// An empty transaction carries the position past the record.
			tx, err := s.ep.applier.Begin(ctx, s.spec)
			if err != nil {
				return remote(s.ep.dst, err)
			}
			s.tx, s.txStart, s.txRows, s.txBytes = tx, time.Now(), 0, 0
		}
		if s.careful || s.idle(batchLeft) || time.Since(s.txStart) >= s.interval {
			if err := s.commit(ctx); err != nil {
				return s.rejected(ctx, err)
			}
			s.carefulDone()
		}
	case change.EventHeartbeat:
		s.sincePos = ev.Position
		// Everything before it was delivered: once what is open is
		// committed, the position may be checkpointed.
		s.idleBeat = ev.Position
		return s.checkpointIdle(ctx)
	}
	return nil
}

// checkpointIdle checkpoints the last heartbeat's position when the
// stream is idle and caught up (nothing open, nothing newer committed),
// at most once a second, so the source frees what lies before it (a
// PostgreSQL slot's confirmed_flush_lsn advances). A heartbeat that comes
// sooner, or while a target transaction is open, waits for the ticker:
// sources send the next one only after a while (a walsender after the
// next status update).
func (s *streamer) checkpointIdle(ctx context.Context) error {
	if s.idleBeat == "" || s.tx != nil || s.inSourceTx {
		return nil
	}
	c, err := s.ep.source.ComparePositions(s.idleBeat, s.committed)
	if err != nil {
		return err
	}
	if c <= 0 {
		s.idleBeat = ""
		return nil
	}
	if time.Since(s.checkpointedAt) < time.Second {
		return nil
	}
	tx, err := s.ep.applier.Begin(ctx, s.spec)
	if err != nil {
		return remote(s.ep.dst, err)
	}
	s.tx, s.txStart = tx, time.Now()
	s.lastPos, s.lastCommit = s.idleBeat, time.Time{}
	s.idleBeat = ""
	return s.commit(ctx)
}

// idle reports whether nothing more waits to be applied: none of the
// batch being handled (batchLeft), the source knows of no backlog
// (Backlogger), and nothing is queued. The queue is looked at after the
// source: what the source delivered before saying it has nothing more is
// in the queue by then, while a queue looked at first could be refilled
// and drained by the source before Backlog is asked.
func (s *streamer) idle(batchLeft int) bool {
	return batchLeft == 0 && !s.backlog() && s.events.len() == 0
}

// backlog reports whether the source says it is behind (Backlogger).
func (s *streamer) backlog() bool {
	b, ok := s.stream.(change.Backlogger)
	return ok && b.Backlog()
}

// endSourceTx settles the source transaction that ended at pos: a bad one
// is dropped from what is pending (or, when some of it reached the target
// already, the stream is read again carefully), a good one is counted.
func (s *streamer) endSourceTx(ctx context.Context, pos change.Position) error {
	origin := s.txOrigin
	if origin == "" {
		origin = "transaction ending at " + string(pos)
	}
	switch {
	case s.skipTx:
		// The target refused it (careful mode): skip it.
		clear(s.pending[s.txMark:])
		s.pending = s.pending[:s.txMark]
		s.txOps = s.txOps[:0]
		if s.tx == nil {
			tx, err := s.ep.applier.Begin(ctx, s.spec)
			if err != nil {
				return remote(s.ep.dst, err)
			}
			s.tx, s.txStart, s.txRows, s.txBytes = tx, time.Now(), 0, 0
		}
		err := s.badRecord(ctx, s.txTask, origin, s.txRaw, s.skipErr)
		s.skipTx, s.skipErr = false, nil
		return err
	case s.txBad != nil:
		if s.txFlushed {
			return s.rejected(ctx, s.txBad)
		}
		clear(s.pending[s.txMark:])
		s.pending = s.pending[:s.txMark]
		s.txOps = s.txOps[:0]
		return s.badRecord(ctx, s.txTask, origin, s.txRaw, s.txBad)
	}
	for _, o := range s.txOps {
		s.count(o.tb, o.op)
	}
	s.txOps = s.txOps[:0]
	return nil
}

// commitCareful commits one source transaction; a refusal by the target
// skips it as a bad record.
func (s *streamer) commitCareful(ctx context.Context) error {
	if err := s.commit(ctx); err != nil {
		if err := s.rejected(ctx, err); err != nil {
			return err
		}
		if err := s.endSourceTx(ctx, s.lastPos); err != nil {
			return err
		}
		if err := s.commit(ctx); err != nil {
			return err
		}
	}
	s.carefulDone()
	return nil
}

// count notes a change of a source transaction that ended; it counts in
// the views and metrics once the target commits it (a rollback reads it
// again).
func (s *streamer) count(tb *table, op change.Op) {
	tb.counts.LastEventAt = s.lastEvent
	s.uncommitted[tableOp{tb, op}]++
}

// counted moves the changes the target has just committed into the
// counters.
func (s *streamer) counted() {
	for o, n := range s.uncommitted {
		switch o.op {
		case change.Insert:
			o.tb.counts.Inserts += n
			s.ins += n
		case change.Update:
			o.tb.counts.Updates += n
			s.upd += n
		case change.Delete, change.Truncate:
			o.tb.counts.Deletes += n
			s.del += n
		}
		o.tb.streamed += n
		s.e.cfg.Metrics.applied(s.job, o.op.String(), n)
	}
	clear(s.uncommitted)
}

func (s *streamer) flush(ctx context.Context) error {
	if len(s.pending) == 0 {
		return nil
	}
	t0 := time.Now()
	err := s.tx.Apply(ctx, s.pending)
	s.applyTime += time.Since(t0)
	s.applied += int64(len(s.pending))
	if err != nil {
		return remote(s.ep.dst, err)
	}
	clear(s.pending)
	s.pending = s.pending[:0]
	return nil
}

// commit applies what is pending, commits it with the last source commit
// position as checkpoint, and only then acknowledges that to the source.
func (s *streamer) commit(ctx context.Context) error {
	if s.tx == nil || s.lastPos == "" || s.lastPos == s.committed {
		if s.tx != nil && !s.inSourceTx && len(s.pending) == 0 && s.lastPos == s.committed {
			s.rollback() // nothing to commit (e.g. a transaction of other tables)
		}
		return nil
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(s.opts.Int("checkpoint_timeout"))*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := s.tx.Commit(cctx, s.lastPos)
	s.commitTime += time.Since(t0)
	s.commits++
	if err != nil {
		s.rollback()
		return remote(s.ep.dst, fmt.Errorf("commit at %s: %w", s.lastPos, err))
	}
	s.tx = nil
	s.committed = s.lastPos
	s.checkpointedAt = time.Now()
	if !s.lastCommit.IsZero() {
		s.lag = time.Since(s.lastCommit)
	} else {
		s.lag = 0
	}
	s.e.cfg.Metrics.setLag(s.job, s.lag.Seconds())
	s.counted()
	if err := s.stream.Ack(ctx, s.committed); err != nil {
		return remote(s.ep.src, fmt.Errorf("acknowledge %s: %w", s.committed, err))
	}
	s.txBytes = 0
	if time.Since(s.lastReport) >= time.Duration(s.opts.Int("checkpoint_min_pause"))*time.Millisecond {
		s.reportProgress(ctx, false)
	}
	return nil
}

func (s *streamer) rollback() {
	if s.tx != nil {
		s.tx.Rollback()
		s.tx = nil
	}
	clear(s.pending)
	s.pending = s.pending[:0]
	clear(s.uncommitted) // those changes are read again
}

// reportProgress records positions, lag and counters in the catalog.
func (s *streamer) reportProgress(ctx context.Context, final bool) {
	bg := context.WithoutCancel(ctx)
	p := catalog.CDCProgress{SourcePosition: string(s.sincePos), CheckpointPosition: string(s.committed),
		CheckpointAt: s.checkpointedAt, LastEventAt: s.lastEvent, Inserts: s.ins, Updates: s.upd, Deletes: s.del}
	lag := s.lag
	if s.tx == nil && !s.inSourceTx && len(s.pending) == 0 && s.lastPos == s.committed {
		// Everything read is applied; lag grows only while work waits.
		lag = 0
	}
	p.LagMS = lag.Milliseconds()
	s.e.cfg.Metrics.setLag(s.job, lag.Seconds())
	for _, tb := range s.byTask {
		if tb.counts.Inserts+tb.counts.Updates+tb.counts.Deletes > 0 {
			c := tb.counts
			c.SourceTable, c.TargetTable = tb.src.String(), tb.dst.String()
			p.Tables = append(p.Tables, c)
		}
	}
	if err := s.a.rec.RecordCDCProgress(bg, s.job, p); err != nil {
		s.e.cfg.Logger.Error("record CDC progress", "job", s.job, "err", err)
		return
	}
	for _, tb := range s.byTask {
		tb.counts = catalog.CDCTableCounts{}
		s.a.rec.StageProgress(bg, s.a.id, tb.task.ID, StageStream, tb.streamed, 0)
	}
	s.ins, s.upd, s.del = 0, 0, 0
	s.reportPartitions(ctx)
	s.lastReport = time.Now()
	_ = final
}

// sourceDefaults describes tb's source table now, for the defaults of
// columns added to it; empty (and logged) when it cannot.
func (s *streamer) sourceDefaults(ctx context.Context, tb *table) map[string]schema.Column {
	out := map[string]schema.Column{}
	sin, err := connectors.As[schema.Introspector](s.ep.src.Conn)
	if err != nil {
		return out // a message queue: its messages say no defaults
	}
	t, err := batch.DescribeOne(ctx, sin, tb.src.Schema, tb.src.Name, "source", s.ep.src.Name)
	if err == nil {
		for _, c := range t.Columns {
			out[c.Name] = c
		}
		return out
	}
	s.e.cfg.Logger.Warn("CDC: cannot read the source's column defaults", "job", s.job, "table", tb.src.String(), "err", connectors.ScrubError(err, s.ep.src.Secrets...))
	return out
}
