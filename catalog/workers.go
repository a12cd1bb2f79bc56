package catalog

import (
	"context"
	"fmt"
	"time"
)

// RemoteRun is an active run executed by the Temporal engine.
type RemoteRun struct {
	RunID      string
	Job        string
	WorkflowID string
	Plan       []byte
}

// SetRunWorkflow records the workflow executing a run's current attempt.
func (c *Catalog) SetRunWorkflow(ctx context.Context, runID, workflowID string) error {
	if _, err := c.w.ExecContext(ctx, `UPDATE runs SET workflow_id = ? WHERE run_id = ?`, workflowID, runID); err != nil {
		return fmt.Errorf("record run workflow: %w", err)
	}
	return nil
}

// RunWorkflow is the workflow of a run's current attempt, "" if none.
func (c *Catalog) RunWorkflow(ctx context.Context, runID string) (string, error) {
	var wid *string
	if err := c.r.QueryRowContext(ctx, `SELECT workflow_id FROM runs WHERE run_id = ?`, runID).Scan(&wid); err != nil {
		return "", fmt.Errorf("read run workflow: %w", err)
	}
	if wid == nil {
		return "", nil
	}
	return *wid, nil
}

// ActiveRemoteRuns lists the active batch runs that have a workflow: the
// ones a restarted gateway follows instead of failing (CDC runs are
// followed by the CDC engine, see InterruptedCDCRuns).
func (c *Catalog) ActiveRemoteRuns(ctx context.Context) ([]RemoteRun, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT r.run_id, j.name, r.workflow_id, r.plan FROM runs r JOIN sync_jobs j ON j.id = r.job_id
		WHERE r.workflow_id IS NOT NULL AND j.mode <> 'cdc' AND r.status IN ('created', 'running', 'terminating', 'restarting') ORDER BY r.run_id`)
	if err != nil {
		return nil, fmt.Errorf("list remote runs: %w", err)
	}
	defer rows.Close()
	var out []RemoteRun
	for rows.Next() {
		var r RemoteRun
		if err := rows.Scan(&r.RunID, &r.Job, &r.WorkflowID, &r.Plan); err != nil {
			return nil, fmt.Errorf("list remote runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Worker is a worker process seen polling a task queue.
type Worker struct {
	Identity          string
	TaskQueue         string
	Host              string
	LastSeen          time.Time
	ActivitiesRunning int64
}

// SaveWorkers records what the gateway saw of its workers.
func (c *Catalog) SaveWorkers(ctx context.Context, ws []Worker) error {
	for _, w := range ws {
		if _, err := c.w.ExecContext(ctx, `INSERT INTO workers (identity, task_queue, host, last_seen, activities_running) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (identity) DO UPDATE SET task_queue = excluded.task_queue, host = excluded.host,
				last_seen = max(workers.last_seen, excluded.last_seen), activities_running = excluded.activities_running`,
			w.Identity, w.TaskQueue, w.Host, FormatTime(w.LastSeen), w.ActivitiesRunning); err != nil {
			return fmt.Errorf("record worker: %w", err)
		}
	}
	return nil
}

// StageTotals are the rows a run's stages expect, by task and stage, as
// far as they were counted.
func (c *Catalog) StageTotals(ctx context.Context, runID string) (map[int64]map[string]int64, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT task_id, stage, total FROM run_stage_totals WHERE run_id = ?`, runID)
	if err != nil {
		return nil, fmt.Errorf("read stage totals: %w", err)
	}
	defer rows.Close()
	out := map[int64]map[string]int64{}
	for rows.Next() {
		var task, total int64
		var stage string
		if err := rows.Scan(&task, &stage, &total); err != nil {
			return nil, fmt.Errorf("read stage totals: %w", err)
		}
		if out[task] == nil {
			out[task] = map[string]int64{}
		}
		out[task][stage] = total
	}
	return out, rows.Err()
}
