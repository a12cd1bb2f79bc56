package catalog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Run and task statuses.
const (
	RunCreated          = "created"
	RunRunning          = "running"
	RunCompleted        = "completed"
	RunTerminating      = "terminating"
	RunRestarting       = "restarting"
	RunTerminated       = "terminated"
	RunFailed           = "failed"
	RunDataInconsistent = "data_inconsistent"
)

// Stage statuses.
const (
	StagePending   = "pending"
	StageRunning   = "running"
	StageCompleted = "completed"
	StageFailed    = "failed"
	StageSkipped   = "skipped"
)

// ActiveRunStatuses are the statuses of a run that still has work going.
var ActiveRunStatuses = []string{RunCreated, RunRunning, RunTerminating, RunRestarting}

// IsActiveRunStatus reports whether status is one of ActiveRunStatuses.
func IsActiveRunStatus(status string) bool { return slices.Contains(ActiveRunStatuses, status) }

// Run is one execution of a job.
type Run struct {
	ID         string
	Job        string
	Status     string
	Trigger    string
	StartedAt  string
	FinishedAt string
	Message    string
	Plan       json.RawMessage
}

// RunTask is one table of a run.
type RunTask struct {
	ID          int64
	SourceTable string
	TargetTable string
	Status      string
	Message     string
}

// StageState is one stage row.
type StageState struct {
	TaskID   int64
	Stage    string
	Status   string
	Attempts int64
	Rows     int64
	Bytes    int64
	Message  string
}

// NewRunID returns a run id: time-ordered, unique, readable.
func NewRunID() string {
	var b [4]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// CreateRun creates a run with its tasks and their pending stages, unless
// the job already has an active run (ErrBusy).
func (c *Catalog) CreateRun(ctx context.Context, job, trigger string, plan any, tasks []RunTask, stages []string) (string, error) {
	id := NewRunID()
	p, err := json.Marshal(plan)
	if err != nil {
		return "", fmt.Errorf("encode run plan: %w", err)
	}
	err = c.inTx(ctx, func(tx *sql.Tx) error {
		var jobID int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM sync_jobs WHERE name = ?`, job).Scan(&jobID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE job_id = ? AND status IN ('created', 'running', 'terminating', 'restarting')`, jobID).Scan(&active); err != nil {
			return err
		}
		if active > 0 {
			return ErrBusy
		}
		now := Now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO runs (run_id, job_id, status, trigger, started_at, plan) VALUES (?, ?, 'created', ?, ?, ?)`,
			id, jobID, trigger, now, string(p)); err != nil {
			return fmt.Errorf("create run: %w", err)
		}
		for _, t := range tasks {
			if _, err := tx.ExecContext(ctx, `INSERT INTO run_tasks (run_id, task_id, source_table, target_table, status) VALUES (?, ?, ?, ?, 'created')`,
				id, t.ID, t.SourceTable, t.TargetTable); err != nil {
				return fmt.Errorf("create run task: %w", err)
			}
			for i, s := range stages {
				if _, err := tx.ExecContext(ctx, `INSERT INTO run_stages (run_id, task_id, stage, seq, status) VALUES (?, ?, ?, ?, 'pending')`,
					id, t.ID, s, i); err != nil {
					return fmt.Errorf("create run stage: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// GetRun loads a run.
func (c *Catalog) GetRun(ctx context.Context, id string) (*Run, error) {
	var (
		r                 Run
		finished, message sql.NullString
		plan              string
	)
	err := c.r.QueryRowContext(ctx, `SELECT r.run_id, j.name, r.status, r.trigger, r.started_at, r.finished_at, r.message, r.plan
		FROM runs r JOIN sync_jobs j ON j.id = r.job_id WHERE r.run_id = ?`, id).
		Scan(&r.ID, &r.Job, &r.Status, &r.Trigger, &r.StartedAt, &finished, &message, &plan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load run %s: %w", id, err)
	}
	r.FinishedAt, r.Message, r.Plan = finished.String, message.String, json.RawMessage(plan)
	return &r, nil
}

// ActiveRun returns the id of a job's active run, or "".
func (c *Catalog) ActiveRun(ctx context.Context, job string) (string, string, error) {
	var id, status string
	err := c.r.QueryRowContext(ctx, `SELECT r.run_id, r.status FROM runs r JOIN sync_jobs j ON j.id = r.job_id
		WHERE j.name = ? AND r.status IN ('created', 'running', 'terminating', 'restarting')`, job).Scan(&id, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return id, status, err
}

// SetRunStatus sets a run's status (and message when not empty); final
// statuses also set finished_at and roll the stage totals up.
func (c *Catalog) SetRunStatus(ctx context.Context, id, status, message string) error {
	final := status == RunCompleted || status == RunTerminated || status == RunFailed || status == RunDataInconsistent
	now := Now()
	if final {
		return c.updateOne(ctx, `UPDATE runs SET status = ?, message = ?, finished_at = ?,
			rows_read = (SELECT coalesce(sum(rows), 0) FROM run_stages WHERE run_id = ? AND stage IN ('ExportTable', 'Snapshot', 'Stream', 'ScanTable')),
			rows_written = (SELECT coalesce(sum(rows), 0) FROM run_stages WHERE run_id = ? AND (stage IN ('ImportTable', 'Snapshot', 'Stream', 'ScanTable')
				-- an export to objects has no ImportTable: its objects are what it writes
				OR (stage = 'ExportTable' AND NOT EXISTS (SELECT 1 FROM run_stages WHERE run_id = ? AND stage = 'ImportTable')))),
			bytes = (SELECT coalesce(sum(bytes), 0) FROM run_stages WHERE run_id = ? AND stage IN ('ExportTable', 'ScanTable'))
			WHERE run_id = ?`, status, message, now, id, id, id, id, id)
	}
	return c.updateOne(ctx, `UPDATE runs SET status = ?, message = coalesce(nullif(?, ''), message), finished_at = NULL WHERE run_id = ?`, status, message, id)
}

// SetTaskStatus sets a task's status.
func (c *Catalog) SetTaskStatus(ctx context.Context, runID string, taskID int64, status, message string) error {
	now := Now()
	return c.updateOne(ctx, `UPDATE run_tasks SET status = ?, message = nullif(?, ''),
		started_at = CASE WHEN ? = 'running' AND started_at IS NULL THEN ? ELSE started_at END,
		finished_at = CASE WHEN ? IN ('completed', 'failed', 'terminated', 'data_inconsistent') THEN ? ELSE NULL END
		WHERE run_id = ? AND task_id = ?`, status, message, status, now, status, now, runID, taskID)
}

// RunTasks lists a run's tasks.
func (c *Catalog) RunTasks(ctx context.Context, runID string) ([]RunTask, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT task_id, source_table, target_table, status, coalesce(message, '') FROM run_tasks WHERE run_id = ? ORDER BY task_id`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RunTask
	for rows.Next() {
		var t RunTask
		if err := rows.Scan(&t.ID, &t.SourceTable, &t.TargetTable, &t.Status, &t.Message); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Stages lists a run's stages.
func (c *Catalog) Stages(ctx context.Context, runID string) ([]StageState, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT task_id, stage, status, attempts, rows, bytes, coalesce(message, '') FROM run_stages WHERE run_id = ? ORDER BY task_id, seq`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StageState
	for rows.Next() {
		var s StageState
		if err := rows.Scan(&s.TaskID, &s.Stage, &s.Status, &s.Attempts, &s.Rows, &s.Bytes, &s.Message); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// StartStage marks a stage running, counts the attempt and returns its
// number.
func (c *Catalog) StartStage(ctx context.Context, runID string, taskID int64, stage string) (int64, error) {
	now := Now()
	var attempt int64
	err := c.w.QueryRowContext(ctx, `UPDATE run_stages SET status = 'running', attempts = attempts + 1, message = NULL, started_at = ?,
		finished_at = NULL, heartbeat_at = ? WHERE run_id = ? AND task_id = ? AND stage = ? RETURNING attempts`, now, now, runID, taskID, stage).Scan(&attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return attempt, err
}

// StageProgress records rows and bytes so far and beats the heart.
func (c *Catalog) StageProgress(ctx context.Context, runID string, taskID int64, stage string, rows, bytes int64) error {
	return c.updateOne(ctx, `UPDATE run_stages SET rows = ?, bytes = ?, heartbeat_at = ? WHERE run_id = ? AND task_id = ? AND stage = ?`,
		rows, bytes, Now(), runID, taskID, stage)
}

// SetStageTimes sets when a stage started and finished (zero: not yet),
// as the process that ran it saw them.
func (c *Catalog) SetStageTimes(ctx context.Context, runID string, taskID int64, stage string, started, finished time.Time) error {
	var s, f any
	if !started.IsZero() {
		s = FormatTime(started)
	}
	if !finished.IsZero() {
		f = FormatTime(finished)
	}
	return c.updateOne(ctx, `UPDATE run_stages SET started_at = coalesce(?, started_at), finished_at = ? WHERE run_id = ? AND task_id = ? AND stage = ?`,
		s, f, runID, taskID, stage)
}

// FinishStage ends a stage.
func (c *Catalog) FinishStage(ctx context.Context, runID string, taskID int64, stage, status string, rows, bytes int64, message string) error {
	return c.updateOne(ctx, `UPDATE run_stages SET status = ?, rows = ?, bytes = ?, message = nullif(?, ''), finished_at = ?
		WHERE run_id = ? AND task_id = ? AND stage = ?`, status, rows, bytes, message, Now(), runID, taskID, stage)
}

// ResetStages sets the named stages of a task (and the task) back to
// pending for a retry.
func (c *Catalog) ResetStages(ctx context.Context, runID string, taskID int64, stages []string) error {
	if len(stages) == 0 {
		return nil
	}
	q := `UPDATE run_stages SET status = 'pending', message = NULL, finished_at = NULL WHERE run_id = ? AND task_id = ? AND stage IN (?` +
		strings.Repeat(", ?", len(stages)-1) + `)`
	args := []any{runID, taskID}
	for _, s := range stages {
		args = append(args, s)
	}
	_, err := c.w.ExecContext(ctx, q, args...)
	return err
}

// ExportFile is one staged file.
type ExportFile struct {
	TaskID   int64
	Seq      int64
	URI      string
	Rows     int64
	Bytes    int64
	State    string
	Imported bool
}

// AddExportFile records a staged file.
func (c *Catalog) AddExportFile(ctx context.Context, runID string, f ExportFile) error {
	_, err := c.w.ExecContext(ctx, `INSERT INTO export_files (run_id, task_id, seq, uri, rows, bytes, state) VALUES (?, ?, ?, ?, ?, ?, 'present')
		ON CONFLICT (run_id, task_id, seq) DO UPDATE SET uri = excluded.uri, rows = excluded.rows, bytes = excluded.bytes, state = 'present', imported = 0`,
		runID, f.TaskID, f.Seq, f.URI, f.Rows, f.Bytes)
	if err != nil {
		return fmt.Errorf("record export file: %w", err)
	}
	return nil
}

// ClearExportFiles forgets a task's staged files (before a re-export).
func (c *Catalog) ClearExportFiles(ctx context.Context, runID string, taskID int64) error {
	_, err := c.w.ExecContext(ctx, `DELETE FROM export_files WHERE run_id = ? AND task_id = ?`, runID, taskID)
	return err
}

// KeepExportFiles forgets a task's files other than those numbered seqs
// (a re-export on a worker replaced them).
func (c *Catalog) KeepExportFiles(ctx context.Context, runID string, taskID int64, seqs []int64) error {
	q := `DELETE FROM export_files WHERE run_id = ? AND task_id = ?`
	args := []any{runID, taskID}
	if len(seqs) > 0 {
		q += ` AND seq NOT IN (?` + strings.Repeat(", ?", len(seqs)-1) + `)`
		for _, s := range seqs {
			args = append(args, s)
		}
	}
	if _, err := c.w.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("forget replaced export files: %w", err)
	}
	return nil
}

// MarkFileImported records that a file's rows are in the target.
func (c *Catalog) MarkFileImported(ctx context.Context, runID string, taskID, seq int64) error {
	return c.updateOne(ctx, `UPDATE export_files SET imported = 1 WHERE run_id = ? AND task_id = ? AND seq = ?`, runID, taskID, seq)
}

// SetFileState marks a file present or deleted.
func (c *Catalog) SetFileState(ctx context.Context, runID string, taskID, seq int64, state string) error {
	return c.updateOne(ctx, `UPDATE export_files SET state = ? WHERE run_id = ? AND task_id = ? AND seq = ?`, state, runID, taskID, seq)
}

// ExportFiles lists a run's files (all tasks when taskID < 0) in order.
func (c *Catalog) ExportFiles(ctx context.Context, runID string, taskID int64) ([]ExportFile, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT task_id, seq, uri, rows, bytes, state, imported FROM export_files
		WHERE run_id = ? AND (? < 0 OR task_id = ?) ORDER BY task_id, seq`, runID, taskID, taskID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ExportFile
	for rows.Next() {
		var f ExportFile
		if err := rows.Scan(&f.TaskID, &f.Seq, &f.URI, &f.Rows, &f.Bytes, &f.State, &f.Imported); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Diff is one differing row found by verification.
type Diff struct {
	Key  string
	Side string // source or target
	Row  string // JSON array of values, "" for none
}

// AddDiffs stores differing rows of a task (replacing earlier ones).
func (c *Catalog) AddDiffs(ctx context.Context, runID string, taskID int64, diffs []Diff) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM run_diffs WHERE run_id = ? AND task_id = ?`, runID, taskID); err != nil {
			return err
		}
		for _, d := range diffs {
			var row any
			if d.Row != "" {
				row = d.Row
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO run_diffs (run_id, task_id, key, side, row) VALUES (?, ?, ?, ?, ?)`,
				runID, taskID, d.Key, d.Side, row); err != nil {
				return fmt.Errorf("record diff: %w", err)
			}
		}
		return nil
	})
}

// Operation is one table import or export, for the overview.
type Operation struct {
	RunID, Job, Datasource, DatasourceType, Table, Operation string
	Started, Finished                                        time.Time
	Records, Bytes                                           int64
}

// AddOperation records an operation.
func (c *Catalog) AddOperation(ctx context.Context, o Operation) error {
	_, err := c.w.ExecContext(ctx, `INSERT INTO operations (run_id, job, datasource, datasource_type, table_name, operation,
		started_at, finished_at, seconds, records, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.RunID, o.Job, o.Datasource, o.DatasourceType, o.Table, o.Operation, FormatTime(o.Started), FormatTime(o.Finished),
		o.Finished.Sub(o.Started).Seconds(), o.Records, o.Bytes)
	if err != nil {
		return fmt.Errorf("record operation: %w", err)
	}
	return nil
}

// Cleanup is one cleanup action.
type Cleanup struct {
	RunID, Kind, Host, SQL, User string
	Rows                         int64
}

// AddCleanup records a cleanup.
func (c *Catalog) AddCleanup(ctx context.Context, x Cleanup) error {
	_, err := c.w.ExecContext(ctx, `INSERT INTO cleanup_history (run_id, kind, host, sql, user_name, at, rows) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		x.RunID, x.Kind, x.Host, x.SQL, x.User, Now(), x.Rows)
	if err != nil {
		return fmt.Errorf("record cleanup: %w", err)
	}
	return nil
}

// FailInterruptedRuns marks runs a previous process left active as failed
// ("interrupted by restart"), with their running stages; RETRY RUN resumes
// them. Called at startup before the scheduler starts. With keepRemote,
// runs that a Temporal workflow executes are left alone too: they went on
// without the gateway, which follows them again.
func (c *Catalog) FailInterruptedRuns(ctx context.Context, keepRemote bool) (int64, error) {
	var n int64
	// CDC runs are left alone: they continue from their checkpoints.
	interrupted := `SELECT r.run_id FROM runs r JOIN sync_jobs j ON j.id = r.job_id
		WHERE j.mode <> 'cdc' AND r.status IN ('created', 'running', 'terminating', 'restarting')`
	if keepRemote {
		interrupted += ` AND r.workflow_id IS NULL`
	}
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		now := Now()
		const msg = "interrupted by restart"
		if _, err := tx.ExecContext(ctx, `UPDATE run_stages SET status = 'failed', message = ?, finished_at = ?
			WHERE status = 'running' AND run_id IN (`+interrupted+`)`, msg, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE run_tasks SET status = 'failed', message = ?, finished_at = ?
			WHERE status IN ('created', 'running', 'terminating', 'restarting') AND run_id IN (`+interrupted+`)`, msg, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'failed', message = ?, finished_at = ?
			WHERE run_id IN (`+interrupted+`)`, msg, now)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("fail interrupted runs: %w", err)
	}
	return n, nil
}
