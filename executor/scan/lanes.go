package scan

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"

	"github.com/flowgate/flowgate/connectors/cdc"
)

// lanes upserts a scan's rows over several target transactions at once
// (import_parallel), split by primary key so that a key's rows keep
// their order. The rows go in rounds of applyChunk rows; a round's lanes
// run while the next round is read. Lane 0 commits the round's watermark
// only after the other lanes committed theirs with the previous
// watermark, so a crash leaves the target's watermark at or behind the
// rows it holds: the next scan reads some rows again, and the upsert
// makes that harmless.
type lanes struct {
	ts     *tableSide
	seed   maphash.Seed
	bufs   [][]cdc.MappedChange
	rows   int
	prev   string     // the watermark committed last
	flight chan error // the round in flight; nil when none
	onDone func(pos string, rows int64)
}

func newLanes(ts *tableSide, n int, prev string, onDone func(pos string, rows int64)) *lanes {
	return &lanes{ts: ts, seed: maphash.MakeSeed(), bufs: make([][]cdc.MappedChange, n), prev: prev, onDone: onDone}
}

// add queues a row for the lane of its key.
func (l *lanes) add(c cdc.MappedChange) {
	var h maphash.Hash
	h.SetSeed(l.seed)
	for _, k := range l.ts.target.Key {
		v := c.New.Values[k]
		h.WriteByte(byte(len(v)))
		h.Write(v)
	}
	i := int(h.Sum64() % uint64(len(l.bufs)))
	l.bufs[i] = append(l.bufs[i], c)
	l.rows++
}

// full reports whether a round's worth of rows waits.
func (l *lanes) full() bool { return l.rows >= applyChunk }

// flush waits for the round in flight and starts the queued rows as the
// next round, to commit with watermark pos.
func (l *lanes) flush(ctx context.Context, pos string) error {
	if err := l.wait(); err != nil {
		return err
	}
	if l.rows == 0 && pos == l.prev {
		return nil
	}
	bufs, n, prev := l.bufs, l.rows, l.prev
	l.bufs, l.rows, l.prev = make([][]cdc.MappedChange, len(bufs)), 0, pos
	done := make(chan error, 1)
	l.flight = done
	go func() {
		err := l.round(ctx, bufs, prev, pos)
		if err == nil {
			l.onDone(pos, int64(n))
		}
		done <- err
	}()
	return nil
}

// wait ends the round in flight.
func (l *lanes) wait() error {
	if l.flight == nil {
		return nil
	}
	err := <-l.flight
	l.flight = nil
	return err
}

// round applies one round: lanes 1.. commit with the previous watermark,
// then lane 0 with the new one.
func (l *lanes) round(ctx context.Context, bufs [][]cdc.MappedChange, prev, pos string) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(bufs))
	var wg sync.WaitGroup
	for i := 1; i < len(bufs); i++ {
		if len(bufs[i]) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = l.apply(rctx, bufs[i], prev, nil); errs[i] != nil {
				cancel()
			}
		}()
	}
	errs[0] = l.apply(rctx, bufs[0], pos, func() error {
		wg.Wait()
		return errors.Join(errs[1:]...)
	})
	for _, err := range errs[1:] {
		if err != nil {
			return err
		}
	}
	return errs[0]
}

// apply writes one lane's rows in a transaction that commits pos; before
// the commit it waits for gate, and rolls back when gate fails.
func (l *lanes) apply(ctx context.Context, rows []cdc.MappedChange, pos string, gate func() error) error {
	tx, err := l.ts.applier.Begin(ctx, l.ts.spec)
	if err != nil {
		if gate != nil {
			gate()
		}
		return err
	}
	if len(rows) > 0 {
		err = tx.Apply(ctx, rows)
	}
	if gate != nil {
		if gerr := gate(); gerr != nil && err == nil {
			err = errLaneFailed
		}
	}
	if err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit(ctx, cdc.Position(pos))
}

// errLaneFailed rolls back lane 0 when another lane failed (that lane's
// error is the one reported).
var errLaneFailed = errors.New("another lane of the scan failed")
