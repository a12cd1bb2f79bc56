// Package tick runs a function at a fixed interval in the background: the
// progress heartbeats of stages and activities.
package tick

import (
	"context"
	"sync"
	"time"
)

// Every calls f every d, in a goroutine of its own, until ctx ends or stop
// is called. stop may be called more than once; it returns when f is no
// longer running, so what f reads is settled after it.
func Every(ctx context.Context, d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				f()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}
