package catalog

// Bad records (dataflow.run_errors) and the partitions of message-queue
// jobs (dataflow.mq_offsets), migration 0007.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// RunError is one bad record a run skipped.
type RunError struct {
	RunID    string
	TaskID   int64
	Position string // where the record is in the source
	Error    string
	Record   string // the record's start
}

// AddRunError keeps a bad record; added is false when the run already
// has the record at that position (read again after a restart).
func (c *Catalog) AddRunError(ctx context.Context, e RunError) (added bool, err error) {
	res, err := c.w.ExecContext(ctx, `INSERT INTO run_errors (run_id, task_id, position, error, record, at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, position) DO NOTHING`, e.RunID, e.TaskID, e.Position, e.Error, e.Record, Now())
	if err != nil {
		return false, fmt.Errorf("record bad record of run %s: %w", e.RunID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// CountRunErrors counts a run's bad records.
func (c *Catalog) CountRunErrors(ctx context.Context, runID string) (int64, error) {
	var n int64
	err := c.r.QueryRowContext(ctx, `SELECT count(*) FROM run_errors WHERE run_id = ?`, runID).Scan(&n)
	return n, err
}

// MQOffset is one partition's committed offset and high watermark (-1 =
// not known).
type MQOffset struct {
	Topic         string
	Partition     int32
	Committed     int64
	HighWatermark int64
}

// RecordMQOffsets replaces a job's partition offsets.
func (c *Catalog) RecordMQOffsets(ctx context.Context, job string, offs []MQOffset) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		var jobID int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM sync_jobs WHERE name = ?`, job).Scan(&jobID); err != nil {
			return fmt.Errorf("record offsets of %s: %w", job, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mq_offsets WHERE job_id = ?`, jobID); err != nil {
			return err
		}
		now := Now()
		for _, o := range offs {
			var hw any
			if o.HighWatermark >= 0 {
				hw = o.HighWatermark
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO mq_offsets (job_id, topic, partition, committed_offset, high_watermark, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`, jobID, o.Topic, o.Partition, o.Committed, hw, now); err != nil {
				return fmt.Errorf("record offsets of %s: %w", job, err)
			}
		}
		return nil
	})
}

// SetJobTopics replaces the topics a message-queue job subscribes to.
func (c *Catalog) SetJobTopics(ctx context.Context, name string, topics []string) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		var raw string
		err := tx.QueryRowContext(ctx, `SELECT definition FROM sync_jobs WHERE name = ?`, name).Scan(&raw)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var def JobDefinition
		if err := json.Unmarshal([]byte(raw), &def); err != nil {
			return fmt.Errorf("job %s: definition: %w", name, err)
		}
		def.Topics = topics
		b, err := json.Marshal(def)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE sync_jobs SET definition = ?, updated_at = ? WHERE name = ?`, string(b), Now(), name)
		return err
	})
}

// SetCheckpointPosition records a position written to the target outside
// a run (RESET SYNC JOB ... POSITION).
func (c *Catalog) SetCheckpointPosition(ctx context.Context, job, pos string) error {
	now := Now()
	_, err := c.w.ExecContext(ctx, `UPDATE cdc_state SET checkpoint_position = ?, source_position = ?, checkpoint_at = ?, updated_at = ?
		WHERE job_id = (SELECT id FROM sync_jobs WHERE name = ?)`, pos, pos, now, now, job)
	return err
}
