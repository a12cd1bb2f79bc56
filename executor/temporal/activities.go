package temporal

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/cdc"
	"github.com/flowgate/flowgate/executor/scan"
	"github.com/flowgate/flowgate/internal/tick"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Gateway holds the activities that touch the catalog; only the gateway
// registers them (on its own task queue).
type Gateway struct {
	Catalog *catalog.Catalog
	Batch   *batch.Engine
	CDC     *cdc.Engine
	Scan    *scan.Engine
	Sealer  *catalog.Sealer
	// snapshots are the source snapshots held for running batch runs'
	// partitions, by run (released by EndRun).
	snapMu    sync.Mutex
	snapshots map[string]func()
}

// BeginRun is batch.Engine.BeginRemote plus the run's endpoints, sealed.
func (g *Gateway) BeginRun(ctx context.Context, runID, note string) (BeginResult, error) {
	stop := heartbeatEvery(ctx, 5*time.Second, func() any { return nil })
	defer stop()
	plan, err := g.Batch.BeginRemote(ctx, runID, note)
	if err != nil {
		return BeginResult{}, err
	}
	out := BeginResult{Plan: *plan}
	if plan.Ended {
		return out, nil
	}
	release, err := g.Batch.HoldSnapshot(ctx, runID, plan)
	if err != nil {
		return out, err
	}
	g.keepSnapshot(runID, release)
	out.Plan = *plan
	r, err := g.Catalog.GetRun(ctx, runID)
	if err != nil {
		return out, err
	}
	p, err := batch.DecodePlan(r.Plan)
	if err != nil {
		return out, err
	}
	if out.Source, err = g.seal(ctx, p.Source); err != nil {
		return out, err
	}
	if out.Target, err = g.seal(ctx, p.Target); err != nil {
		return out, err
	}
	if st := p.Options["staging"]; st != "" && st != "none" {
		sealed, err := g.seal(ctx, st)
		if err != nil {
			return out, err
		}
		out.Staging = &sealed
	}
	return out, nil
}

func (g *Gateway) seal(ctx context.Context, name string) (SealedEndpoint, error) {
	d, err := g.Catalog.GetDatasource(ctx, name)
	if err != nil {
		return SealedEndpoint{}, fmt.Errorf("datasource %q: %w", name, err)
	}
	raw, err := json.Marshal(d.Options)
	if err != nil {
		return SealedEndpoint{}, err
	}
	sealed, err := g.Sealer.Seal(raw)
	if err != nil {
		return SealedEndpoint{}, err
	}
	return SealedEndpoint{Name: d.Name, Type: d.Type, Options: sealed}, nil
}

// keepSnapshot holds a run's snapshot until EndRun (a BeginRun retried
// for the same run replaces the one held before).
func (g *Gateway) keepSnapshot(runID string, release func()) {
	g.snapMu.Lock()
	defer g.snapMu.Unlock()
	if g.snapshots == nil {
		g.snapshots = map[string]func(){}
	}
	if old := g.snapshots[runID]; old != nil {
		old()
	}
	g.snapshots[runID] = release
}

func (g *Gateway) releaseSnapshot(runID string) {
	g.snapMu.Lock()
	release := g.snapshots[runID]
	delete(g.snapshots, runID)
	g.snapMu.Unlock()
	if release != nil {
		release()
	}
}

// PartitionCopied records a copied partition in the catalog.
func (g *Gateway) PartitionCopied(ctx context.Context, runID string, taskID, seq, rows int64) error {
	return g.Batch.PartitionCopied(ctx, runID, taskID, seq, rows)
}

// PartitionsCopied records the partitions of a task a CopyPartitions
// step copied (or found copied) in the catalog.
func (g *Gateway) PartitionsCopied(ctx context.Context, runID string, taskID int64, parts []PartDone) error {
	for _, p := range parts {
		if err := g.Batch.PartitionCopied(ctx, runID, taskID, p.Seq, p.Rows); err != nil {
			return err
		}
	}
	return nil
}

// FileStaged records a partition's file staged by a worker.
func (g *Gateway) FileStaged(ctx context.Context, runID string, f catalog.ExportFile) error {
	return g.Batch.FileStaged(ctx, runID, f)
}

// EndRun is batch.Engine.EndRemote.
func (g *Gateway) EndRun(ctx context.Context, in EndInput) (RunResult, error) {
	var cause error
	if in.Stopped {
		cause = batch.ErrStopped
	}
	// Verification can take long: say it is alive.
	stop := heartbeatEvery(ctx, 5*time.Second, func() any { return nil })
	defer stop()
	g.releaseSnapshot(in.RunID)
	status, msg, err := g.Batch.EndRemote(ctx, in.RunID, in.Results, cause, in.Note)
	return RunResult{Status: status, Message: msg}, err
}

// Data holds the activities workers run. It never opens the catalog: the
// datasources arrive sealed with the key the worker holds. Opened
// datasources are kept for the next partitions (a run's partitions share
// them, as in the embedded engine) and closed after two idle minutes.
type Data struct {
	Sealer *catalog.Sealer
	Logger *slog.Logger
	mu     sync.Mutex
	opened map[[32]byte]*openedEndpoint
}

type openedEndpoint struct {
	ep    *batch.Endpoint
	users int
	idle  time.Time
}

// acquire opens e or reuses it; release gives it back.
func (d *Data) acquire(e SealedEndpoint) (ep *batch.Endpoint, release func(), err error) {
	raw, err := d.Sealer.Open(e.Options)
	if err != nil {
		return nil, nil, fmt.Errorf("datasource %q: cannot open its sealed options: this worker's secret key (--secret-key-file) is not the gateway's", e.Name)
	}
	key := sha256.Sum256(append([]byte(e.Name+"\x00"+e.Type+"\x00"), raw...))
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.opened == nil {
		d.opened = map[[32]byte]*openedEndpoint{}
	}
	for k, o := range d.opened {
		if o.users == 0 && time.Since(o.idle) > 2*time.Minute {
			o.ep.Close()
			delete(d.opened, k)
		}
	}
	o, ok := d.opened[key]
	if !ok {
		ep, err := d.open(e, raw)
		if err != nil {
			return nil, nil, err
		}
		o = &openedEndpoint{ep: ep}
		d.opened[key] = o
	}
	o.users++
	return o.ep, func() {
		d.mu.Lock()
		o.users--
		o.idle = time.Now()
		d.mu.Unlock()
	}, nil
}

// opener opens the given datasources afresh (each caller closes what it
// opened), refusing any other name.
func (d *Data) opener(ends ...SealedEndpoint) batch.Opener {
	return func(_ context.Context, name string) (*batch.Endpoint, error) {
		for _, e := range ends {
			if e.Name != name {
				continue
			}
			raw, err := d.Sealer.Open(e.Options)
			if err != nil {
				return nil, fmt.Errorf("datasource %q: cannot open its sealed options: this worker's secret key (--secret-key-file) is not the gateway's", e.Name)
			}
			return d.open(e, raw)
		}
		return nil, fmt.Errorf("datasource %q is not one of the job's", name)
	}
}

func (d *Data) open(e SealedEndpoint, raw []byte) (*batch.Endpoint, error) {
	var opts map[string]string
	if err := json.Unmarshal(raw, &opts); err != nil {
		return nil, fmt.Errorf("datasource %q: %w", e.Name, err)
	}
	t, ok := connectors.Lookup(e.Type)
	if !ok {
		return nil, fmt.Errorf("datasource %q has type %s, which this worker does not know", e.Name, e.Type)
	}
	ep := &batch.Endpoint{Name: e.Name, Type: e.Type, Secrets: t.Secrets(opts)}
	c, err := t.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open datasource %q: %w", e.Name, connectors.ScrubError(err, ep.Secrets...))
	}
	ep.Conn = c
	return ep, nil
}

// endpoints opens a partition's source, target and staging datasource
// (when it travels with the work); release gives them back.
func (d *Data) endpoints(in CopyInput) (src, dst, staging *batch.Endpoint, release func(), err error) {
	var releases []func()
	release = func() {
		for _, r := range releases {
			r()
		}
	}
	for _, e := range []struct {
		sealed *SealedEndpoint
		ep     **batch.Endpoint
	}{{&in.Source, &src}, {&in.Target, &dst}, {in.Staging, &staging}} {
		if e.sealed == nil {
			continue
		}
		ep, r, err := d.acquire(*e.sealed)
		if err != nil {
			release()
			return nil, nil, nil, func() {}, err
		}
		*e.ep = ep
		releases = append(releases, r)
	}
	return src, dst, staging, release, nil
}

// copyActivity runs one partition step on this worker, heartbeating its
// rows and bytes; a cancelled step rolls its transaction back.
func (d *Data) copyActivity(ctx context.Context, in CopyInput, step func(src, dst, staging *batch.Endpoint, rows, bytes *atomic.Int64) error) error {
	src, dst, staging, release, err := d.endpoints(in)
	if err != nil {
		return retryable(err)
	}
	defer release()
	var rows, bytes atomic.Int64
	stop := heartbeatEvery(ctx, 2*time.Second, func() any { return Progress{Rows: rows.Load(), Bytes: bytes.Load()} })
	err = step(src, dst, staging, &rows, &bytes)
	stop()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return retryable(err)
	}
	return nil
}

// CopyPartition copies one partition (staging = 'none').
func (d *Data) CopyPartition(ctx context.Context, in CopyInput) (out CopyResult, err error) {
	err = d.copyActivity(ctx, in, func(src, dst, _ *batch.Endpoint, rows, bytes *atomic.Int64) (err error) {
		out.Rows, out.Loaded, err = batch.CopyPartition(ctx, src, dst, in.Work, rows, bytes)
		return err
	})
	return out, err
}

// CopyPartitions copies partitions of one task in turn (staging =
// 'none'). Its heartbeats carry the partitions done so far, so a retried
// attempt (on any worker) knows the rows of those it finds marked, and
// its failure or cancellation carries them to the workflow, which
// records them as it records a finished step's.
func (d *Data) CopyPartitions(ctx context.Context, in CopyBatchInput) (out CopyBatchResult, err error) {
	known := map[int64]PartDone{}
	if activity.HasHeartbeatDetails(ctx) {
		var prev Progress
		if activity.GetHeartbeatDetails(ctx, &prev) == nil {
			for _, p := range prev.Done {
				known[p.Seq] = p
			}
		}
	}
	var mu sync.Mutex
	var done []PartDone
	progress := func(rows, bytes *atomic.Int64) Progress {
		mu.Lock()
		defer mu.Unlock()
		return Progress{Rows: rows.Load(), Bytes: bytes.Load(), Done: append([]PartDone(nil), done...)}
	}
	err = d.copyActivity(ctx, CopyInput{Source: in.Source, Target: in.Target}, func(src, dst, _ *batch.Endpoint, rows, bytes *atomic.Int64) error {
		stop := heartbeatEvery(ctx, 2*time.Second, func() any { return progress(rows, bytes) })
		defer stop()
		return batch.CopyPartitions(ctx, src, dst, in.Works, rows, bytes, func(w batch.PartitionWork, n int64, loaded bool) {
			p := PartDone{Seq: w.Part.Seq, Rows: n}
			if k, ok := known[p.Seq]; ok && !loaded {
				p.Rows = k.Rows // an earlier attempt loaded it
			}
			if !loaded {
				rows.Add(p.Rows)
			}
			mu.Lock()
			done = append(done, p)
			mu.Unlock()
			activity.RecordHeartbeat(ctx, progress(rows, bytes))
		})
	})
	mu.Lock()
	defer mu.Unlock()
	out.Done = done
	if err != nil && len(done) > 0 {
		err = withDone(err, done)
	}
	return out, err
}

// withDone carries the partitions a failed or cancelled step finished.
func withDone(err error, done []PartDone) error {
	if errors.Is(err, context.Canceled) {
		return temporal.NewCanceledError(done)
	}
	var app *temporal.ApplicationError
	nonRetryable := errors.As(err, &app) && app.NonRetryable()
	return temporal.NewApplicationErrorWithOptions(failureMessage(err), "copy", temporal.ApplicationErrorOptions{NonRetryable: nonRetryable, Details: []any{done}})
}

// StagePartition exports one partition of a staged run into its file.
func (d *Data) StagePartition(ctx context.Context, in CopyInput) (out catalog.ExportFile, err error) {
	err = d.copyActivity(ctx, in, func(src, dst, staging *batch.Endpoint, rows, _ *atomic.Int64) (err error) {
		out, err = batch.StagePartition(ctx, src, dst, staging, in.Work, rows)
		return err
	})
	return out, err
}

// LoadStaged imports one partition's staged file.
func (d *Data) LoadStaged(ctx context.Context, in CopyInput) (out CopyResult, err error) {
	err = d.copyActivity(ctx, in, func(src, dst, staging *batch.Endpoint, rows, bytes *atomic.Int64) (err error) {
		out.Rows, out.Loaded, err = batch.LoadStaged(ctx, src, dst, staging, in.Work, rows, bytes)
		return err
	})
	return out, err
}

// heartbeatEvery heartbeats with details() until stop is called.
func heartbeatEvery(ctx context.Context, every time.Duration, details func() any) (stop func()) {
	return tick.Every(ctx, every, func() {
		if v := details(); v != nil {
			activity.RecordHeartbeat(ctx, v)
		} else {
			activity.RecordHeartbeat(ctx)
		}
	})
}

// retryable marks errors another attempt cannot fix (the databases
// refused the statement or the data: a constraint, a type, a privilege)
// as not retryable, so the run fails with the database's words at once;
// connection trouble and the rest are retried, on any worker.
func retryable(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		class := pe.Code[:2]
		if class != "08" && class != "40" && class != "53" && class != "57" && class != "58" {
			return temporal.NewNonRetryableApplicationError(err.Error(), "database", nil)
		}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number >= 1000 && me.Number < 2000 && me.Number != 1205 && me.Number != 1213 && !strings.Contains(me.Message, "connect") {
		return temporal.NewNonRetryableApplicationError(err.Error(), "database", nil)
	}
	return err
}
