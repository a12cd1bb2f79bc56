package cdc

import (
	"context"
	"sync"
)

// eventQueue hands events from the goroutine reading the stream to the one
// applying them, in batches: a catch-up moves a million events, and a
// channel operation with a select per event cost more than the event.
type eventQueue struct {
	mu     sync.Mutex
	items  []result
	max    int
	full   bool // the reader waits for room
	closed bool
	ready  chan struct{} // a token once items are queued or the queue closed
	room   chan struct{} // a token once a waiting reader may go on
}

func newEventQueue(max int) *eventQueue {
	return &eventQueue{max: max, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// put queues r, waiting while max events are queued; false when ctx ended
// first.
func (q *eventQueue) put(ctx context.Context, r result) bool {
	q.mu.Lock()
	for len(q.items) >= q.max {
		q.full = true
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-ctx.Done():
			return false
		}
		q.mu.Lock()
	}
	q.items = append(q.items, r)
	if len(q.items) == 1 {
		q.signal()
	}
	q.mu.Unlock()
	return true
}

// close says no more events come.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.signal()
	q.mu.Unlock()
}

func (q *eventQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take returns the queued events in buf's place (buf, emptied, takes
// their place in the queue) and whether the queue is closed and drained.
func (q *eventQueue) take(buf []result) ([]result, bool) {
	clear(buf)
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items
	q.items = buf[:0]
	if q.full {
		q.full = false
		select {
		case q.room <- struct{}{}:
		default:
		}
	}
	return out, q.closed && len(out) == 0
}

// len is the number of events queued.
func (q *eventQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
