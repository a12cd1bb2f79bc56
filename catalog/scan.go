package catalog

// Watermarks of incremental scans and the objects file scans loaded
// (migration 0008).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Watermark is one table's scan position.
type Watermark struct {
	SourceTable string
	Column      string
	Value       string // "" = none yet
	Rows        int64  // rows of the last scan
}

// SetWatermark records a table's watermark after a scan committed.
func (c *Catalog) SetWatermark(ctx context.Context, job, runID string, w Watermark) error {
	var v any
	if w.Value != "" {
		v = w.Value
	}
	_, err := c.w.ExecContext(ctx, `INSERT INTO scan_watermarks (job_id, source_table, column_name, value, rows_last_scan, run_id, updated_at)
		SELECT id, ?, ?, ?, ?, ?, ? FROM sync_jobs WHERE name = ?
		ON CONFLICT (job_id, source_table) DO UPDATE SET column_name = excluded.column_name, value = coalesce(excluded.value, value),
			rows_last_scan = excluded.rows_last_scan, run_id = excluded.run_id, updated_at = excluded.updated_at`,
		w.SourceTable, w.Column, v, w.Rows, runID, Now(), job)
	if err != nil {
		return fmt.Errorf("record watermark of %s: %w", job, err)
	}
	return nil
}

// GetWatermark reads a table's watermark ("" when none).
func (c *Catalog) GetWatermark(ctx context.Context, job, table string) (string, error) {
	var v sql.NullString
	err := c.r.QueryRowContext(ctx, `SELECT w.value FROM scan_watermarks w JOIN sync_jobs j ON j.id = w.job_id
		WHERE j.name = ? AND w.source_table = ?`, job, table).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v.String, err
}

// ScanObject is one object a file scan loaded.
type ScanObject struct {
	Key   string
	Size  int64
	ETag  string
	MTime string // storage form, "" = unknown
	Rows  int64
}

// ScanObjects lists what a job loaded, by key.
func (c *Catalog) ScanObjects(ctx context.Context, job string) (map[string]ScanObject, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT o.object_key, o.size, coalesce(o.etag, ''), coalesce(o.mtime, ''), o.rows
		FROM scan_objects o JOIN sync_jobs j ON j.id = o.job_id WHERE j.name = ?`, job)
	if err != nil {
		return nil, fmt.Errorf("list loaded objects of %s: %w", job, err)
	}
	defer rows.Close()
	out := map[string]ScanObject{}
	for rows.Next() {
		var o ScanObject
		if err := rows.Scan(&o.Key, &o.Size, &o.ETag, &o.MTime, &o.Rows); err != nil {
			return nil, err
		}
		out[o.Key] = o
	}
	return out, rows.Err()
}

// RecordScanObject remembers an object as loaded by run.
func (c *Catalog) RecordScanObject(ctx context.Context, job, runID string, o ScanObject) error {
	var etag, mtime any
	if o.ETag != "" {
		etag = o.ETag
	}
	if o.MTime != "" {
		mtime = o.MTime
	}
	_, err := c.w.ExecContext(ctx, `INSERT INTO scan_objects (job_id, object_key, size, etag, mtime, rows, run_id, loaded_at)
		SELECT id, ?, ?, ?, ?, ?, ?, ? FROM sync_jobs WHERE name = ?
		ON CONFLICT (job_id, object_key) DO UPDATE SET size = excluded.size, etag = excluded.etag, mtime = excluded.mtime,
			rows = excluded.rows, run_id = excluded.run_id, loaded_at = excluded.loaded_at`,
		o.Key, o.Size, etag, mtime, o.Rows, runID, Now(), job)
	if err != nil {
		return fmt.Errorf("record loaded object %s: %w", o.Key, err)
	}
	return nil
}
