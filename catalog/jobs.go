package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// Schedule kinds and states.
const (
	ScheduleNone  = "none"
	ScheduleOnce  = "once"
	ScheduleCron  = "cron"
	ScheduleEvery = "every"

	ScheduleActive = "active"
	SchedulePaused = "paused"
)

// ColumnMap maps a source column (or table) to a target one.
type ColumnMap struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// LastWindow is WHERE LAST n UNIT ON column.
type LastWindow struct {
	N      int    `json:"n"`
	Unit   string `json:"unit"`
	Column string `json:"column"`
}

// JobDefinition is the part of a job that is not a column of sync_jobs.
type JobDefinition struct {
	Columns       []ColumnMap `json:"columns,omitempty"`
	Tables        []ColumnMap `json:"tables,omitempty"`
	Exclude       []string    `json:"exclude,omitempty"`
	IncrementalOn string      `json:"incremental_on,omitempty"`
	Where         string      `json:"where,omitempty"`
	WhereLast     *LastWindow `json:"where_last,omitempty"`
	TargetWhere   string      `json:"target_where,omitempty"`
	// Topics are what a job FROM a message-queue datasource subscribes to.
	Topics []string `json:"topics,omitempty"`
	// ObjectSide is "source" for FROM store OBJECT 'prefix' and "target"
	// for TO store OBJECT 'name' (FEATURES.md 5b); Object is the prefix or
	// the name (with ${variables}), Format a source's FORMAT.
	ObjectSide string `json:"object_side,omitempty"`
	Object     string `json:"object,omitempty"`
	Format     string `json:"format,omitempty"`
}

// Job is a sync job definition.
type Job struct {
	Name          string
	Mode          string // batch, scan, cdc
	Kind          string // table, database
	Source        string
	SourceSchema  string
	SourceTable   string
	Target        string
	TargetSchema  string
	TargetTable   string
	Definition    JobDefinition
	ScheduleKind  string
	ScheduleExpr  string
	ScheduleState string
	LastFire      string
	Options       map[string]string
}

// CreateJob stores a new job.
func (c *Catalog) CreateJob(ctx context.Context, j Job) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		src, err := datasourceID(ctx, tx, j.Source)
		if err != nil {
			return err
		}
		dst, err := datasourceID(ctx, tx, j.Target)
		if err != nil {
			return err
		}
		def, err := json.Marshal(j.Definition)
		if err != nil {
			return fmt.Errorf("encode job: %w", err)
		}
		opts, err := encodeOptions(j.Options)
		if err != nil {
			return err
		}
		now := Now()
		_, err = tx.ExecContext(ctx, `INSERT INTO sync_jobs (name, mode, kind, source_id, source_schema, source_table, target_id,
			target_schema, target_table, definition, schedule_kind, schedule_expr, schedule_state, options, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			j.Name, j.Mode, j.Kind, src, nullIfEmpty(j.SourceSchema), nullIfEmpty(j.SourceTable), dst,
			nullIfEmpty(j.TargetSchema), nullIfEmpty(j.TargetTable), string(def), j.ScheduleKind, nullIfEmpty(j.ScheduleExpr),
			j.ScheduleState, opts, now, now)
		if isUniqueViolation(err) {
			return ErrDuplicate
		}
		if err != nil {
			return fmt.Errorf("create sync job %s: %w", j.Name, err)
		}
		return nil
	})
}

func encodeOptions(o map[string]string) (string, error) {
	if o == nil {
		o = map[string]string{}
	}
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("encode options: %w", err)
	}
	return string(b), nil
}

const jobSelect = `SELECT j.name, j.mode, j.kind, s.name, coalesce(j.source_schema, ''), coalesce(j.source_table, ''), g.name,
	coalesce(j.target_schema, ''), coalesce(j.target_table, ''), j.definition, j.schedule_kind, coalesce(j.schedule_expr, ''),
	j.schedule_state, coalesce(j.last_fire, ''), j.options
	FROM sync_jobs j JOIN datasources s ON s.id = j.source_id JOIN datasources g ON g.id = j.target_id`

func scanJob(sc interface{ Scan(...any) error }) (*Job, error) {
	var (
		j         Job
		def, opts string
	)
	if err := sc.Scan(&j.Name, &j.Mode, &j.Kind, &j.Source, &j.SourceSchema, &j.SourceTable, &j.Target, &j.TargetSchema,
		&j.TargetTable, &def, &j.ScheduleKind, &j.ScheduleExpr, &j.ScheduleState, &j.LastFire, &opts); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(def), &j.Definition); err != nil {
		return nil, fmt.Errorf("job %s: decode definition: %w", j.Name, err)
	}
	if err := json.Unmarshal([]byte(opts), &j.Options); err != nil {
		return nil, fmt.Errorf("job %s: decode options: %w", j.Name, err)
	}
	return &j, nil
}

// GetJob loads a job by name.
func (c *Catalog) GetJob(ctx context.Context, name string) (*Job, error) {
	j, err := scanJob(c.r.QueryRowContext(ctx, jobSelect+` WHERE j.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load sync job %s: %w", name, err)
	}
	return j, nil
}

// ScheduledJobs lists jobs with a schedule (active or paused).
func (c *Catalog) ScheduledJobs(ctx context.Context) ([]*Job, error) {
	rows, err := c.r.QueryContext(ctx, jobSelect+` WHERE j.schedule_kind <> 'none' ORDER BY j.name`)
	if err != nil {
		return nil, fmt.Errorf("list scheduled jobs: %w", err)
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// SetJobOptions replaces a job's options.
func (c *Catalog) SetJobOptions(ctx context.Context, name string, opts map[string]string) error {
	o, err := encodeOptions(opts)
	if err != nil {
		return err
	}
	return c.updateOne(ctx, `UPDATE sync_jobs SET options = ?, updated_at = ? WHERE name = ?`, o, Now(), name)
}

// SetJobSchedule replaces a job's schedule. A new ONCE schedule forgets
// the last fire, so it fires once more (ONCE fires while it has none).
func (c *Catalog) SetJobSchedule(ctx context.Context, name, kind, expr, state string) error {
	q := `UPDATE sync_jobs SET schedule_kind = ?, schedule_expr = ?, schedule_state = ?, updated_at = ?`
	if kind == ScheduleOnce {
		q += `, last_fire = NULL`
	}
	return c.updateOne(ctx, q+` WHERE name = ?`, kind, nullIfEmpty(expr), state, Now(), name)
}

// SetScheduleState pauses or resumes future fires.
func (c *Catalog) SetScheduleState(ctx context.Context, name, state string) error {
	return c.updateOne(ctx, `UPDATE sync_jobs SET schedule_state = ?, updated_at = ? WHERE name = ?`, state, Now(), name)
}

// RecordFire stores when a schedule last fired and its next fire times.
func (c *Catalog) RecordFire(ctx context.Context, name, lastFire string, next []string) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		if lastFire != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE sync_jobs SET last_fire = ? WHERE name = ?`, lastFire, name); err != nil {
				return err
			}
		}
		return setNextFires(ctx, tx, name, next)
	})
}

func setNextFires(ctx context.Context, tx *sql.Tx, name string, next []string) error {
	if next == nil {
		next = []string{}
	}
	b, _ := json.Marshal(next)
	_, err := tx.ExecContext(ctx, `INSERT INTO schedule_fires (job_id, next_fires) SELECT id, ? FROM sync_jobs WHERE name = ?
		ON CONFLICT (job_id) DO UPDATE SET next_fires = excluded.next_fires`, string(b), name)
	return err
}

// DropJob deletes a job and its run history; ErrBusy while a run is active.
func (c *Catalog) DropJob(ctx context.Context, name string) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM sync_jobs WHERE name = ?`, name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var active int
		tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE job_id = ? AND status IN ('created', 'running', 'terminating', 'restarting')`, id).Scan(&active)
		if active > 0 {
			return ErrBusy
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sync_jobs WHERE id = ?`, id)
		return err
	})
}
