package cdc

// The remote engine's two sides: follow is the gateway's goroutine of a
// run whose pipeline runs elsewhere (Config.Remote); RunAttempt is the
// pipeline itself on a worker, the same attempt code as the embedded
// engine's with an Accumulator for a Recorder; FinishRemote and
// RestartingRemote record in the catalog what the remote orchestration
// (a Temporal workflow) decided.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/runopts"
)

// follow runs a on the remote engine until it ends, or until this
// process shuts down (the run goes on there and is followed again at the
// next start).
func (e *Engine) follow(ctx context.Context, a *activeRun, fromSnapshot bool) {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-a.stop:
			cancel(a.stopCause)
		case <-rctx.Done():
		}
	}()
	err := e.cfg.Remote.ExecuteCDC(rctx, a.id, a.job, fromSnapshot, a.report, a.markReady)
	bg := context.WithoutCancel(ctx)
	if errors.Is(context.Cause(rctx), errShutdown) {
		return
	}
	defer e.forget(a.id)
	if err != nil {
		e.cfg.Logger.Error("CDC run on the remote engine failed", "job", a.job, "run", a.id, "err", err)
		e.finish(bg, a, catalog.RunFailed, err.Error())
		return
	}
	if r, err := e.cfg.Catalog.GetRun(bg, a.id); err == nil {
		a.report(batch.Progress{RunID: a.id, Message: r.Status + ": " + r.Message})
	}
}

// AttemptInput is one attempt of a run on a worker.
type AttemptInput struct {
	RunID string
	Job   *catalog.Job
	// FromSnapshot forgets the target's checkpoint first (RESTART ...
	// FROM SNAPSHOT).
	FromSnapshot bool
	Recorder     Recorder
	// Stop, once closed, ends the attempt at a checkpoint (STOP SYNC JOB).
	Stop <-chan struct{}
}

// RunAttempt runs the pipeline until Stop (nil), a failure, or ctx ends;
// DDL that needs the stream read again from the checkpoint is handled
// inside, as in the embedded engine.
func (e *Engine) RunAttempt(ctx context.Context, in AttemptInput) error {
	a := newActiveRun(in.RunID, in.Job.Name, in.Recorder)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-in.Stop:
			a.requestStop(ErrStopped)
		case <-actx.Done():
		}
	}()
	opts := runopts.SyncJob.Resolve(in.Job.Options)
	clearFirst := in.FromSnapshot
	for {
		err := e.attempt(ctx, a, in.Job, opts, clearFirst)
		switch {
		case errors.Is(err, errRestream):
			clearFirst = false
			continue
		case err == nil || (a.stopping() && errors.Is(err, context.Canceled)):
			return nil
		}
		return err
	}
}

// RestartDelay is restart_strategy applied to a run's failures so far:
// how long to wait before the next attempt, or false to fail the run.
func RestartDelay(o runopts.Values, failures []time.Time, now time.Time) (time.Duration, bool) {
	return restartDelay(o, failures, now)
}

// Permanent reports whether err fails a run at once (restarting cannot
// fix it).
func Permanent(err error) bool { return permanent(err) }

// Message is err as the run's message says it.
func (e *Engine) Message(err error) string { return e.message(err) }

// FinishRemote applies a remote run's last Record (nil when there is
// none) and ends the run with status and msg.
func (e *Engine) FinishRemote(ctx context.Context, runID, job, note string, r *Record, status, msg string) error {
	if r != nil {
		if _, err := e.ApplyRecord(ctx, runID, job, note, *r); err != nil {
			return err
		}
	}
	if note != "" {
		msg += "; " + note
	}
	e.finishRun(ctx, runID, status, msg)
	e.forget(runID)
	return nil
}

// RestartingRemote applies a failed attempt's last Record and records the
// restart the remote orchestration waits delay for.
func (e *Engine) RestartingRemote(ctx context.Context, runID, job, note string, r *Record, delay time.Duration, msg string) error {
	if r != nil {
		if _, err := e.ApplyRecord(ctx, runID, job, note, *r); err != nil {
			return err
		}
	}
	e.cfg.Logger.Warn("CDC run failed; restarting", "job", job, "run", runID, "in", delay, "err", msg)
	m := fmt.Sprintf("restarting in %s after: %s", delay, msg)
	if note != "" {
		m += "; " + note
	}
	if err := e.cfg.Catalog.SetRunStatus(ctx, runID, catalog.RunRestarting, m); err != nil {
		return err
	}
	return e.cfg.Catalog.CountCDCRestart(ctx, job)
}
