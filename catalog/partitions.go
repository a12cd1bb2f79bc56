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

// SuspendedKey is a foreign key a batch run took off a target for its
// load.
type SuspendedKey struct {
	Seq        int64
	Schema     string
	Table      string
	Name       string
	Definition string // as the target prints it (e.g. pg_get_constraintdef)
	Restored   bool
	Message    string
}

// keysTable is created on first use rather than by a numbered migration:
// several features add migrations at once, and this table is only ever
// read by the batch engine (no view).
const keysTable = `CREATE TABLE IF NOT EXISTS run_foreign_keys (
    run_id        TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    seq           INT8 NOT NULL,
    target_schema TEXT NOT NULL,
    target_table  TEXT NOT NULL,
    name          TEXT NOT NULL,
    definition    TEXT NOT NULL,
    restored      BOOLEAN NOT NULL DEFAULT 1,
    message       TEXT,
    PRIMARY KEY (run_id, seq))`

func (c *Catalog) ensureKeysTable(ctx context.Context) error {
	if _, err := c.w.ExecContext(ctx, keysTable); err != nil {
		return fmt.Errorf("create run_foreign_keys: %w", err)
	}
	return nil
}

// SaveSuspendedKeys records the keys a run takes off its targets, unless
// it recorded them before (the first attempt read them from the target;
// later attempts find them gone there), and returns the recorded ones.
func (c *Catalog) SaveSuspendedKeys(ctx context.Context, runID string, keys []SuspendedKey) ([]SuspendedKey, error) {
	if err := c.ensureKeysTable(ctx); err != nil {
		return nil, err
	}
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM run_foreign_keys WHERE run_id = ?`, runID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		for i, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO run_foreign_keys (run_id, seq, target_schema, target_table, name, definition, restored) VALUES (?, ?, ?, ?, ?, ?, 1)`,
				runID, i+1, k.Schema, k.Table, k.Name, k.Definition); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record foreign keys: %w", err)
	}
	return c.SuspendedKeys(ctx, runID)
}

// SuspendedKeys lists the keys a run takes off its targets.
func (c *Catalog) SuspendedKeys(ctx context.Context, runID string) ([]SuspendedKey, error) {
	if err := c.ensureKeysTable(ctx); err != nil {
		return nil, err
	}
	rows, err := c.r.QueryContext(ctx, `SELECT seq, target_schema, target_table, name, definition, restored, coalesce(message, '')
		FROM run_foreign_keys WHERE run_id = ? ORDER BY seq`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SuspendedKey
	for rows.Next() {
		var k SuspendedKey
		if err := rows.Scan(&k.Seq, &k.Schema, &k.Table, &k.Name, &k.Definition, &k.Restored, &k.Message); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// SetKeyRestored records whether a suspended key is on its target again.
func (c *Catalog) SetKeyRestored(ctx context.Context, runID string, seq int64, restored bool, message string) error {
	return c.updateOne(ctx, `UPDATE run_foreign_keys SET restored = ?, message = ? WHERE run_id = ? AND seq = ?`, restored, nullIfEmpty(message), runID, seq)
}
