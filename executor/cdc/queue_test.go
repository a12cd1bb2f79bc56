package cdc

import (
	"context"
	"errors"
	"testing"
	"time"

	change "github.com/flowgate/flowgate/connectors/cdc"
)

// The queue hands events over in order and in batches, holds the reader at
// max queued events until they are taken, and says when it is closed and
// drained.
func TestEventQueue(t *testing.T) {
	q := newEventQueue(3)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 {
			q.put(ctx, result{ev: change.Event{Size: i}})
		}
		q.put(ctx, result{err: errors.New("end")})
		q.close()
	}()
	var got []int
	var batch []result
	for {
		select {
		case <-q.ready:
		case <-time.After(5 * time.Second):
			t.Fatalf("no events after %v", got)
		}
		var ended bool
		batch, ended = q.take(batch)
		if len(batch) > 3 {
			t.Errorf("batch of %d with max 3", len(batch))
		}
		for _, r := range batch {
			if r.err != nil {
				got = append(got, -1)
				continue
			}
			got = append(got, r.ev.Size)
		}
		if ended {
			break
		}
	}
	<-done
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v", got)
		}
	}
	// A full queue lets a reader go when its context ends.
	q = newEventQueue(1)
	q.put(ctx, result{})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if q.put(cctx, result{}) {
		t.Error("put into a full queue with an ended context succeeded")
	}
}
