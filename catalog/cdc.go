package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CDCState is a CDC job's stream state (table cdc_state).
type CDCState struct {
	Job                string
	RunID              string
	SourcePosition     string
	CheckpointPosition string
	Slot               string
	Publication        string
	CreatedSlot        bool
	CreatedPublication bool
	SnapshotDone       bool
	Restarts           int64
}

// GetCDCState loads a job's stream state; ok false when it never ran.
func (c *Catalog) GetCDCState(ctx context.Context, job string) (CDCState, bool, error) {
	s := CDCState{Job: job}
	var run, src, cp, slot, pub sql.NullString
	err := c.r.QueryRowContext(ctx, `SELECT c.run_id, c.source_position, c.checkpoint_position, c.slot_name, c.publication_name,
		c.created_slot, c.created_publication, c.snapshot_done, c.restarts
		FROM cdc_state c JOIN sync_jobs j ON j.id = c.job_id WHERE j.name = ?`, job).
		Scan(&run, &src, &cp, &slot, &pub, &s.CreatedSlot, &s.CreatedPublication, &s.SnapshotDone, &s.Restarts)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("load CDC state of %s: %w", job, err)
	}
	s.RunID, s.SourcePosition, s.CheckpointPosition, s.Slot, s.Publication = run.String, src.String, cp.String, slot.String, pub.String
	return s, true, nil
}

// StartCDCState records that run is the job's stream now; fromSnapshot
// resets positions and counters (a new snapshot starts everything over).
func (c *Catalog) StartCDCState(ctx context.Context, job, runID, slot, publication string, fromSnapshot bool) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		var jobID int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM sync_jobs WHERE name = ?`, job).Scan(&jobID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		now := Now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO cdc_state (job_id, run_id, slot_name, publication_name, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (job_id) DO UPDATE SET run_id = excluded.run_id, slot_name = excluded.slot_name,
				publication_name = excluded.publication_name, updated_at = excluded.updated_at`,
			jobID, runID, slot, publication, now); err != nil {
			return fmt.Errorf("start CDC state: %w", err)
		}
		if fromSnapshot {
			if _, err := tx.ExecContext(ctx, `UPDATE cdc_state SET source_position = NULL, checkpoint_position = NULL, checkpoint_at = NULL,
				last_event_at = NULL, lag_ms = NULL, events = 0, inserts = 0, updates = 0, deletes = 0, snapshot_rows = 0, restarts = 0,
				snapshot_done = 0 WHERE job_id = ?`, jobID); err != nil {
				return fmt.Errorf("reset CDC state: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM cdc_tables WHERE job_id = ?`, jobID); err != nil {
				return fmt.Errorf("reset CDC tables: %w", err)
			}
		}
		return nil
	})
}

// SetCDCSetup records what the source created for the job (only ever set,
// so a flag survives a later run that found the objects already there).
func (c *Catalog) SetCDCSetup(ctx context.Context, job string, createdSlot, createdPublication bool) error {
	_, err := c.w.ExecContext(ctx, `UPDATE cdc_state SET created_slot = created_slot OR ?, created_publication = created_publication OR ?, updated_at = ?
		WHERE job_id = (SELECT id FROM sync_jobs WHERE name = ?)`, createdSlot, createdPublication, Now(), job)
	if err != nil {
		return fmt.Errorf("record CDC setup of %s: %w", job, err)
	}
	return nil
}

// ClearCDCSetup forgets the source objects after DROP removed them.
func (c *Catalog) ClearCDCSetup(ctx context.Context, job string) error {
	_, err := c.w.ExecContext(ctx, `UPDATE cdc_state SET created_slot = 0, created_publication = 0, snapshot_done = 0,
		checkpoint_position = NULL, source_position = NULL, updated_at = ? WHERE job_id = (SELECT id FROM sync_jobs WHERE name = ?)`, Now(), job)
	return err
}

// SetSnapshotDone marks the snapshot finished at pos (also the first
// checkpoint) and counts its rows.
func (c *Catalog) SetSnapshotDone(ctx context.Context, job, pos string, rows int64) error {
	now := Now()
	_, err := c.w.ExecContext(ctx, `UPDATE cdc_state SET snapshot_done = 1, snapshot_rows = ?, checkpoint_position = ?, source_position = ?,
		checkpoint_at = ?, updated_at = ? WHERE job_id = (SELECT id FROM sync_jobs WHERE name = ?)`, rows, pos, pos, now, now, job)
	if err != nil {
		return fmt.Errorf("record snapshot of %s: %w", job, err)
	}
	return nil
}

// CDCTableCounts are one table's counters since the last report.
type CDCTableCounts struct {
	SourceTable, TargetTable  string
	Inserts, Updates, Deletes int64
	LastEventAt               time.Time
}

// CDCProgress is what a stream reports at a checkpoint: positions, lag
// and the counters' increments since the last report.
type CDCProgress struct {
	SourcePosition     string
	CheckpointPosition string // "" = unchanged
	CheckpointAt       time.Time
	LastEventAt        time.Time // zero = unchanged
	LagMS              int64
	Inserts, Updates   int64
	Deletes            int64
	Tables             []CDCTableCounts
}

// RecordCDCProgress adds a report to the job's state in one transaction.
func (c *Catalog) RecordCDCProgress(ctx context.Context, job string, p CDCProgress) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		var jobID int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM sync_jobs WHERE name = ?`, job).Scan(&jobID); err != nil {
			return fmt.Errorf("record CDC progress of %s: %w", job, err)
		}
		var cpAt, lastAt any
		if p.CheckpointPosition != "" {
			cpAt = FormatTime(p.CheckpointAt)
		}
		if !p.LastEventAt.IsZero() {
			lastAt = FormatTime(p.LastEventAt)
		}
		events := p.Inserts + p.Updates + p.Deletes
		if _, err := tx.ExecContext(ctx, `UPDATE cdc_state SET source_position = coalesce(nullif(?, ''), source_position),
			checkpoint_position = coalesce(nullif(?, ''), checkpoint_position), checkpoint_at = coalesce(?, checkpoint_at),
			last_event_at = coalesce(?, last_event_at), lag_ms = ?, events = events + ?, inserts = inserts + ?,
			updates = updates + ?, deletes = deletes + ?, updated_at = ? WHERE job_id = ?`,
			p.SourcePosition, p.CheckpointPosition, cpAt, lastAt, p.LagMS, events, p.Inserts, p.Updates, p.Deletes, Now(), jobID); err != nil {
			return fmt.Errorf("record CDC progress of %s: %w", job, err)
		}
		if err := recordLagSample(ctx, tx, jobID, time.Now()); err != nil {
			return err
		}
		for _, t := range p.Tables {
			var at any
			if !t.LastEventAt.IsZero() {
				at = FormatTime(t.LastEventAt)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO cdc_tables (job_id, source_table, target_table, inserts, updates, deletes, last_event_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, source_table) DO UPDATE SET target_table = excluded.target_table,
				inserts = inserts + excluded.inserts, updates = updates + excluded.updates, deletes = deletes + excluded.deletes,
				last_event_at = coalesce(excluded.last_event_at, last_event_at)`,
				jobID, t.SourceTable, t.TargetTable, t.Inserts, t.Updates, t.Deletes, at); err != nil {
				return fmt.Errorf("record CDC table progress of %s: %w", job, err)
			}
		}
		return nil
	})
}

// CountCDCRestart adds one to the job's restarts.
func (c *Catalog) CountCDCRestart(ctx context.Context, job string) error {
	_, err := c.w.ExecContext(ctx, `UPDATE cdc_state SET restarts = restarts + 1, updated_at = ? WHERE job_id = (SELECT id FROM sync_jobs WHERE name = ?)`, Now(), job)
	return err
}

// InterruptedCDCRuns lists CDC runs a previous process left active, with
// their jobs: they continue from their checkpoints at start.
func (c *Catalog) InterruptedCDCRuns(ctx context.Context) (map[string]string, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT j.name, r.run_id FROM runs r JOIN sync_jobs j ON j.id = r.job_id
		WHERE j.mode = 'cdc' AND r.status IN ('created', 'running', 'terminating', 'restarting')`)
	if err != nil {
		return nil, fmt.Errorf("list interrupted CDC runs: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var job, id string
		if err := rows.Scan(&job, &id); err != nil {
			return nil, err
		}
		out[job] = id
	}
	return out, rows.Err()
}
