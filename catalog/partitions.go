package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// Partition is one key range of a batch task: the unit of export,
// staging, import, marking and retry.
type Partition struct {
	Seq        int64
	KeyColumns []string // source columns the bounds are values of; nil = whole table
	Lower      []string // inclusive; nil = unbounded
	Upper      []string // exclusive; nil = unbounded
	Note       string   // why the table is one stream, when it is
	Rows       int64    // rows imported, once Imported
	Imported   bool
}

// SavePartitions stores a task's partitions unless it has some already,
// and returns the ones that hold: the first derivation wins, so a RETRY
// reads the same ranges.
func (c *Catalog) SavePartitions(ctx context.Context, runID string, taskID int64, parts []Partition) ([]Partition, error) {
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM run_partitions WHERE run_id = ? AND task_id = ?`, runID, taskID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		for _, p := range parts {
			keys, err := json.Marshal(p.KeyColumns)
			if err != nil {
				return err
			}
			if p.KeyColumns == nil {
				keys = []byte("[]")
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO run_partitions (run_id, task_id, seq, key_columns, lower, upper, note) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				runID, taskID, p.Seq, string(keys), jsonOrNull(p.Lower), jsonOrNull(p.Upper), nullIfEmpty(p.Note)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record partitions: %w", err)
	}
	return c.Partitions(ctx, runID, taskID)
}

func jsonOrNull(v []string) any {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Partitions lists a task's partitions in order (none before the first
// export of a run from before partitions existed).
func (c *Catalog) Partitions(ctx context.Context, runID string, taskID int64) ([]Partition, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT seq, key_columns, lower, upper, note, rows, imported FROM run_partitions
		WHERE run_id = ? AND task_id = ? ORDER BY seq`, runID, taskID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Partition
	for rows.Next() {
		var (
			p                  Partition
			keys               string
			lower, upper, note sql.NullString
			n                  sql.NullInt64
		)
		if err := rows.Scan(&p.Seq, &keys, &lower, &upper, &note, &n, &p.Imported); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(keys), &p.KeyColumns); err != nil {
			return nil, fmt.Errorf("partition %d: key columns: %w", p.Seq, err)
		}
		if len(p.KeyColumns) == 0 {
			p.KeyColumns = nil
		}
		for _, b := range []struct {
			s   sql.NullString
			dst *[]string
		}{{lower, &p.Lower}, {upper, &p.Upper}} {
			if b.s.Valid {
				if err := json.Unmarshal([]byte(b.s.String), b.dst); err != nil {
					return nil, fmt.Errorf("partition %d: bound: %w", p.Seq, err)
				}
			}
		}
		p.Note, p.Rows = note.String, n.Int64
		out = append(out, p)
	}
	return out, rows.Err()
}

// MarkPartitionImported records that a partition's rows are in the target.
func (c *Catalog) MarkPartitionImported(ctx context.Context, runID string, taskID, seq, rows int64) error {
	return c.updateOne(ctx, `UPDATE run_partitions SET imported = 1, rows = ? WHERE run_id = ? AND task_id = ? AND seq = ?`, rows, runID, taskID, seq)
}
