package tick

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestEveryCallsUntilStopped(t *testing.T) {
	var n atomic.Int64
	stop := Every(context.Background(), 5*time.Millisecond, func() { n.Add(1) })
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	stop() // a second stop is harmless
	after := n.Load()
	if after < 3 {
		t.Fatalf("called %d times in 5 s", after)
	}
	time.Sleep(30 * time.Millisecond)
	if n.Load() != after {
		t.Fatalf("called after stop: %d, then %d", after, n.Load())
	}
}

func TestEveryEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	stop := Every(ctx, 5*time.Millisecond, func() { n.Add(1) })
	cancel()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return after the context ended")
	}
}

// stop waits for a running call: what the call writes is visible after.
func TestStopWaitsForARunningCall(t *testing.T) {
	started := make(chan struct{}, 1)
	var finished atomic.Bool
	stop := Every(context.Background(), time.Millisecond, func() {
		select {
		case started <- struct{}{}:
		default:
		}
		time.Sleep(50 * time.Millisecond)
		finished.Store(true)
	})
	<-started
	stop()
	if !finished.Load() {
		t.Fatal("stop returned while a call was running")
	}
}
