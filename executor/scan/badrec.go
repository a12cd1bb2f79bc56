package scan

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors/fileformat"
)

// badRecords counts records that failed to convert against error_limit
// and keeps each in dataflow.run_errors (the table the message-queue
// pipeline uses too). A record read again by a RETRY is the same row there
// (run_id, position), so it is counted once.
type badRecords struct {
	cat   Recorder
	run   string
	task  int64
	limit int64
	mu    sync.Mutex
}

// add keeps b and returns an error once more than error_limit records
// of the run were bad.
func (x *badRecords) add(ctx context.Context, b *fileformat.BadRecord) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	bg := context.WithoutCancel(ctx)
	if _, err := x.cat.AddRunError(bg, catalog.RunError{RunID: x.run, TaskID: x.task, Position: b.Position, Error: b.Err.Error(), Record: b.Excerpt}); err != nil {
		return err
	}
	n, err := x.cat.CountRunErrors(bg, x.run)
	if err != nil {
		return err
	}
	if n > x.limit {
		if x.limit == 0 {
			return fmt.Errorf("bad record at %s: %v (error_limit = 0; raise it to skip bad records, which are kept in dataflow.run_errors)", b.Position, b.Err)
		}
		return fmt.Errorf("%d bad records, more than error_limit = %d; the last at %s: %v (all in dataflow.run_errors)", n, x.limit, b.Position, b.Err)
	}
	return nil
}

// throttle caps the bytes per second a run moves (throttle_mbps; 1 MB =
// 1,000,000 bytes). Zero means no cap.
type throttle struct {
	bps   float64
	mu    sync.Mutex
	start time.Time
	sent  int64
}

func newThrottle(mbps int64) *throttle {
	return &throttle{bps: float64(mbps) * 1e6}
}

// wait accounts n bytes and sleeps until the average rate is back under
// the cap.
func (t *throttle) wait(ctx context.Context, n int) error {
	if t == nil || t.bps <= 0 {
		return nil
	}
	t.mu.Lock()
	if t.start.IsZero() {
		t.start = time.Now()
	}
	t.sent += int64(n)
	due := t.start.Add(time.Duration(float64(t.sent) / t.bps * float64(time.Second)))
	t.mu.Unlock()
	if d := time.Until(due); d > 0 {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(d):
		}
	}
	return nil
}

type throttledWriter struct {
	ctx   context.Context
	w     io.Writer
	t     *throttle
	count *atomic.Int64
}

func (w *throttledWriter) Write(p []byte) (int, error) {
	if err := w.t.wait(w.ctx, len(p)); err != nil {
		return 0, err
	}
	n, err := w.w.Write(p)
	if w.count != nil {
		w.count.Add(int64(n))
	}
	return n, err
}

// writer counts into count and throttles what is written to w.
func (t *throttle) writer(ctx context.Context, w io.Writer, count *atomic.Int64) io.Writer {
	return &throttledWriter{ctx: ctx, w: w, t: t, count: count}
}

type throttledReader struct {
	ctx   context.Context
	r     io.Reader
	t     *throttle
	count *atomic.Int64
}

func (r *throttledReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		if r.count != nil {
			r.count.Add(int64(n))
		}
		if werr := r.t.wait(r.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// reader counts into count and throttles what is read from r.
func (t *throttle) reader(ctx context.Context, r io.Reader, count *atomic.Int64) io.Reader {
	return &throttledReader{ctx: ctx, r: r, t: t, count: count}
}
