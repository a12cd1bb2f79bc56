package tests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
)

// dropSlotsAfter drops the replication slots left on db when the test
// ends (before its database is dropped: a slot keeps a database alive).
func dropSlotsAfter(t testing.TB, pg *testbed.PG, db string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, pg.DSN())
		if err != nil {
			t.Errorf("drop slots: %v", err)
			return
		}
		defer c.Close(ctx)
		for i := 0; i < 20; i++ {
			c.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`, db)
			if _, err := c.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, db); err == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("could not drop the replication slots of %s", db)
	})
}

// rowsOf returns a query's rows as text lines, for comparing tables.
func rowsOf(t testing.TB, c *pgx.Conn, q string) []string {
	t.Helper()
	out, err := queryLines(c, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// rowsOrError is rowsOf for a query that may fail for a while (a column
// that is still being added): the error is the one line returned.
func rowsOrError(c *pgx.Conn, q string) []string {
	out, err := queryLines(c, q)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	return out
}

func queryLines(c *pgx.Conn, q string) ([]string, error) {
	rows, err := c.Query(context.Background(), q, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals := rows.RawValues()
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				parts[i] = "<null>"
			} else {
				parts[i] = string(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out, rows.Err()
}

// waitSame polls until got() equals want() (both re-read each time) or
// fails after timeout showing the first difference.
func waitSame(t testing.TB, timeout time.Duration, what string, want, got func() []string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var w, g []string
	for {
		w, g = want(), got()
		if slices.Equal(w, g) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: target differs from source after %s: %s", what, timeout, firstDiff(w, g))
}

func firstDiff(want, got []string) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Sprintf("%d source rows, %d target rows; row %d: source %q, target %q", len(want), len(got), i, w, g)
		}
	}
	return "equal"
}

// cdcStatus is one row of dataflow.cdc_status.
type cdcStatus struct {
	Run, Status, SourcePos, CheckpointPos string
	Lag                                   *int64
	Events, Inserts, Updates, Deletes     int64
	SnapshotRows, Restarts                int64
}

func getCDCStatus(t testing.TB, c *pgx.Conn, job string) cdcStatus {
	t.Helper()
	var s cdcStatus
	var run, status, src, cp *string
	err := c.QueryRow(context.Background(), `SELECT run_id, status, source_position, checkpoint_position, lag_ms, events, inserts, updates,
		deletes, snapshot_rows, restarts FROM dataflow.cdc_status WHERE job = $1`, job).
		Scan(&run, &status, &src, &cp, &s.Lag, &s.Events, &s.Inserts, &s.Updates, &s.Deletes, &s.SnapshotRows, &s.Restarts)
	if err != nil {
		t.Fatalf("cdc_status of %s: %v", job, err)
	}
	s.Run, s.Status, s.SourcePos, s.CheckpointPos = deref(run), deref(status), deref(src), deref(cp)
	return s
}

// runStatusOf reads a run's status and message.
func runStatusOf(t testing.TB, c *pgx.Conn, runID string) (string, string) {
	t.Helper()
	var status string
	var msg *string
	if err := c.QueryRow(context.Background(), "SELECT status, message FROM dataflow.runs WHERE run_id = $1", runID).Scan(&status, &msg); err != nil {
		t.Fatalf("run %s: %v", runID, err)
	}
	return status, deref(msg)
}
