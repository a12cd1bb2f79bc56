package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// DDL task statuses.
const (
	DDLInitial  = "initial"
	DDLRunning  = "running"
	DDLFinished = "finished"
	DDLFailed   = "failed"
)

// ErrBusy is returned when a task or job is already running.
var ErrBusy = errors.New("already running")

// DDLTask is one DDL task definition with its last run's outcome.
type DDLTask struct {
	Name         string
	Source       string
	SourceSchema string
	Target       string
	TargetSchema string
	Tables       []string
	Exclude      []string
	Options      map[string]string
	Status       string
	Message      string
}

// CreateDDLTask stores a new task in status initial.
func (c *Catalog) CreateDDLTask(ctx context.Context, t DDLTask) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		src, err := datasourceID(ctx, tx, t.Source)
		if err != nil {
			return err
		}
		dst, err := datasourceID(ctx, tx, t.Target)
		if err != nil {
			return err
		}
		tables, exclude, opts, err := encodeDDLLists(t)
		if err != nil {
			return err
		}
		now := Now()
		_, err = tx.ExecContext(ctx, `INSERT INTO ddl_tasks (name, source_id, source_schema, target_id, target_schema, tables, exclude, options,
			status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'initial', ?, ?)`,
			t.Name, src, nullIfEmpty(t.SourceSchema), dst, nullIfEmpty(t.TargetSchema), tables, exclude, opts, now, now)
		if isUniqueViolation(err) {
			return ErrDuplicate
		}
		if err != nil {
			return fmt.Errorf("create ddl task %s: %w", t.Name, err)
		}
		return nil
	})
}

func encodeDDLLists(t DDLTask) (tables, exclude, opts string, err error) {
	enc := func(v any) string {
		if err != nil {
			return ""
		}
		var b []byte
		b, err = json.Marshal(v)
		return string(b)
	}
	if t.Tables == nil {
		t.Tables = []string{}
	}
	if t.Exclude == nil {
		t.Exclude = []string{}
	}
	if t.Options == nil {
		t.Options = map[string]string{}
	}
	tables, exclude, opts = enc(t.Tables), enc(t.Exclude), enc(t.Options)
	if err != nil {
		err = fmt.Errorf("encode ddl task: %w", err)
	}
	return
}

// GetDDLTask loads a task by name.
func (c *Catalog) GetDDLTask(ctx context.Context, name string) (*DDLTask, error) {
	var (
		t                     DDLTask
		srcSchema, dstSchema  sql.NullString
		message               sql.NullString
		tables, exclude, opts string
	)
	err := c.r.QueryRowContext(ctx, `SELECT t.name, s.name, t.source_schema, g.name, t.target_schema, t.tables, t.exclude, t.options, t.status, t.message
		FROM ddl_tasks t JOIN datasources s ON s.id = t.source_id JOIN datasources g ON g.id = t.target_id WHERE t.name = ?`, name).
		Scan(&t.Name, &t.Source, &srcSchema, &t.Target, &dstSchema, &tables, &exclude, &opts, &t.Status, &message)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load ddl task %s: %w", name, err)
	}
	t.SourceSchema, t.TargetSchema, t.Message = srcSchema.String, dstSchema.String, message.String
	for _, p := range []struct {
		s string
		v any
	}{{tables, &t.Tables}, {exclude, &t.Exclude}, {opts, &t.Options}} {
		if err := json.Unmarshal([]byte(p.s), p.v); err != nil {
			return nil, fmt.Errorf("ddl task %s: decode: %w", name, err)
		}
	}
	return &t, nil
}

// SetDDLTaskOptions replaces a task's options.
func (c *Catalog) SetDDLTaskOptions(ctx context.Context, name string, opts map[string]string) error {
	b, err := json.Marshal(opts)
	if err != nil {
		return fmt.Errorf("encode options: %w", err)
	}
	return c.updateOne(ctx, `UPDATE ddl_tasks SET options = ?, updated_at = ? WHERE name = ?`, string(b), Now(), name)
}

// DropDDLTask deletes a task and its table results; ErrBusy while running.
func (c *Catalog) DropDDLTask(ctx context.Context, name string) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		id, err := idleDDLTask(ctx, tx, name)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM ddl_tasks WHERE id = ?`, id)
		return err
	})
}

// idleDDLTask returns the id of a task that is not running: ErrNotFound or
// ErrBusy otherwise.
func idleDDLTask(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var (
		id     int64
		status string
	)
	err := tx.QueryRowContext(ctx, `SELECT id, status FROM ddl_tasks WHERE name = ?`, name).Scan(&id, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if status == DDLRunning {
		return 0, ErrBusy
	}
	return id, nil
}

// StartDDLTask moves a task to running and clears its previous table
// results; ErrBusy when it is running already.
func (c *Catalog) StartDDLTask(ctx context.Context, name string) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		id, err := idleDDLTask(ctx, tx, name)
		if err != nil {
			return err
		}
		now := Now()
		if _, err := tx.ExecContext(ctx, `DELETE FROM ddl_task_tables WHERE task_id = ?`, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE ddl_tasks SET status = 'running', message = NULL, started_at = ?, finished_at = NULL,
			succeeded = 0, failed = 0, updated_at = ? WHERE id = ?`, now, now, id)
		return err
	})
}

// DDLTableResult is the outcome of one table of a DDL task run.
type DDLTableResult struct {
	Table   string
	Status  string // success or failed
	Message string
	SQL     string
}

// RecordDDLTable stores one table's outcome and counts it.
func (c *Catalog) RecordDDLTable(ctx context.Context, task string, r DDLTableResult) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM ddl_tasks WHERE name = ?`, task).Scan(&id); err != nil {
			return fmt.Errorf("record ddl table: task %s: %w", task, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ddl_task_tables (task_id, table_name, status, message, sql, at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (task_id, table_name) DO UPDATE SET status = excluded.status, message = excluded.message, sql = excluded.sql, at = excluded.at`,
			id, r.Table, r.Status, r.Message, r.SQL, Now())
		if err != nil {
			return fmt.Errorf("record ddl table %s: %w", r.Table, err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE ddl_tasks SET
			succeeded = (SELECT count(*) FROM ddl_task_tables WHERE task_id = ? AND status = 'success'),
			failed = (SELECT count(*) FROM ddl_task_tables WHERE task_id = ? AND status = 'failed') WHERE id = ?`, id, id, id)
		return err
	})
}

// FinishDDLTask ends a run with status finished or failed.
func (c *Catalog) FinishDDLTask(ctx context.Context, name, status, message string) error {
	now := Now()
	return c.updateOne(ctx, `UPDATE ddl_tasks SET status = ?, message = ?, finished_at = ?, updated_at = ? WHERE name = ?`,
		status, message, now, now, name)
}

// FailInterruptedDDLTasks marks tasks left running by a previous process as
// failed; called at startup.
func (c *Catalog) FailInterruptedDDLTasks(ctx context.Context) (int64, error) {
	now := Now()
	res, err := c.w.ExecContext(ctx, `UPDATE ddl_tasks SET status = 'failed', message = 'interrupted by restart', finished_at = ?, updated_at = ?
		WHERE status = 'running'`, now, now)
	if err != nil {
		return 0, fmt.Errorf("fail interrupted ddl tasks: %w", err)
	}
	return res.RowsAffected()
}

// DatasourceUsers names the DDL tasks and sync jobs that use datasource ds.
func (c *Catalog) DatasourceUsers(ctx context.Context, ds string) ([]string, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT 'ddl task ' || t.name FROM ddl_tasks t JOIN datasources d ON d.id IN (t.source_id, t.target_id)
		WHERE d.name = ?
		UNION ALL
		SELECT 'sync job ' || j.name FROM sync_jobs j JOIN datasources d ON d.id IN (j.source_id, j.target_id)
		WHERE d.name = ? ORDER BY 1`, ds, ds)
	if err != nil {
		return nil, fmt.Errorf("find users of datasource %s: %w", ds, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
