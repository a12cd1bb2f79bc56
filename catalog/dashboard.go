package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// What the dashboard needs written beyond the other tables: stage totals
// (dataflow.run_progress) and CDC lag samples (dataflow.cdc_lag). Both
// are read through those views only.

// SetStageTotal records how many rows a stage expects, once known.
func (c *Catalog) SetStageTotal(ctx context.Context, runID string, taskID int64, stage string, total int64) error {
	_, err := c.w.ExecContext(ctx, `INSERT INTO run_stage_totals (run_id, task_id, stage, total) VALUES (?, ?, ?, ?)
		ON CONFLICT (run_id, task_id, stage) DO UPDATE SET total = excluded.total`, runID, taskID, stage, total)
	if err != nil {
		return fmt.Errorf("record total of %s of run %s: %w", stage, runID, err)
	}
	return nil
}

// Lag samples: at most one per job every LagSampleEvery, kept for
// LagSampleKeep.
const (
	LagSampleEvery = 10 * time.Second
	LagSampleKeep  = 24 * time.Hour
)

// recordLagSample appends the job's current lag and event count (from
// cdc_state, already updated in tx) unless a sample younger than
// LagSampleEvery exists, and prunes samples older than LagSampleKeep
// whenever it appends one.
func recordLagSample(ctx context.Context, tx *sql.Tx, jobID int64, now time.Time) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO cdc_lag_samples (job_id, at, lag_ms, events)
		SELECT job_id, ?, coalesce(lag_ms, 0), events FROM cdc_state WHERE job_id = ?
		AND NOT EXISTS (SELECT 1 FROM cdc_lag_samples WHERE job_id = ? AND at > ?)`,
		FormatTime(now), jobID, jobID, FormatTime(now.Add(-LagSampleEvery)))
	if err != nil {
		return fmt.Errorf("record CDC lag sample: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM cdc_lag_samples WHERE at < ?`, FormatTime(now.Add(-LagSampleKeep))); err != nil {
		return fmt.Errorf("prune CDC lag samples: %w", err)
	}
	return nil
}
