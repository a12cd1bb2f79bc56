package temporal

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"go.temporal.io/sdk/worker"
)

// RunWorker serves the data queue until ctx ends: `flowgate worker`.
func RunWorker(ctx context.Context, o Options) error {
	if o.Identity == "" {
		host, _ := os.Hostname()
		o.Identity = fmt.Sprintf("%d@%s@flowgate-worker", os.Getpid(), host)
	}
	c, _, err := Dial(ctx, o)
	if err != nil {
		return err
	}
	defer c.Close()
	sealer, err := catalog.NewSealer(o.Key)
	if err != nil {
		return err
	}
	// Heartbeats reach the server within a second: the gateway follows a
	// CDC pipeline's positions and lag through them.
	// A stopping worker gives CDC pipelines the time to checkpoint; their
	// activities are then retried on another worker.
	w := worker.New(c, o.DataQueue(), worker.Options{MaxHeartbeatThrottleInterval: time.Second, DefaultHeartbeatThrottleInterval: time.Second,
		WorkerStopTimeout: cdcStopGrace + 5*time.Second})
	RegisterData(w, &Data{Sealer: sealer, Logger: o.Logger})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on %s: %w", o.DataQueue(), err)
	}
	if o.Logger != nil {
		o.Logger.Info("flowgate worker polling", "address", o.Address, "namespace", o.Namespace, "task_queue", o.DataQueue(), "identity", o.Identity)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}
