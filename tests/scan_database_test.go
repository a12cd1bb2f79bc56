package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestScanDatabase: FROM DATABASE ... MODE SCAN scans every same-name
// table as a task of its own, each with its own watermark; the next run
// reads only what moved; DROP forgets every table's watermark.
func TestScanDatabase(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "sdsrc", "sddst")
	src, dst := rig.src, rig.dst
	const ddl = `CREATE TABLE %s (id bigint PRIMARY KEY, v text, updated_at timestamptz NOT NULL)`
	for _, tb := range []string{"a", "b", "c"} {
		mustPG(t, src, fmt.Sprintf(ddl, tb),
			fmt.Sprintf(`INSERT INTO %s SELECT i, '%s' || i, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 second' FROM generate_series(1, 25000) i`, tb, tb))
	}
	mustPG(t, dst, fmt.Sprintf(ddl, "a"), fmt.Sprintf(ddl, "b"))
	g, _ := rig.start(t, pgx.QueryExecModeSimpleProtocol)
	c, notices := g.noticeConn(t)

	mustExec(t, c, `CREATE SYNC JOB dbscan FROM DATABASE src TO DATABASE dst MODE SCAN INCREMENTAL ON updated_at WITH (algorithm = 'countdiff')`)
	if got := strings.Join(notices(), "\n"); !strings.Contains(got, "not scanned: c") {
		t.Errorf("no NOTICE naming the table without a target: %q", got)
	}
	r := runJob(t, c, `RUN SYNC JOB dbscan WAIT`)
	if r.Status != "completed" || r.RowsRead != 50000 {
		t.Fatalf("first scan: %s, %d rows: %s", r.Status, r.RowsRead, deref(r.Message))
	}
	if got := rowsOf(t, c, fmt.Sprintf(`SELECT source_table || ' ' || status FROM dataflow.run_tasks WHERE run_id = '%s' ORDER BY task_id`, r.RunID)); strings.Join(got, ",") != "a completed,b completed" {
		t.Errorf("tasks: %v", got)
	}
	if got := rowsOf(t, c, fmt.Sprintf(`SELECT task_id || ' ' || stage || ':' || status || ' ' || rows FROM dataflow.run_stages WHERE run_id = '%s' AND stage <> 'PreAction' ORDER BY task_id, stage`, r.RunID)); strings.Join(got, ",") !=
		"1 ScanTable:completed 25000,1 TableDataDiff:completed 0,2 ScanTable:completed 25000,2 TableDataDiff:completed 0" {
		t.Errorf("stages: %v", got)
	}
	if got := rowsOf(t, c, `SELECT source_table || ' ' || value || ' ' || rows_last_scan FROM dataflow.watermarks WHERE job = 'dbscan' ORDER BY source_table`); len(got) != 2 ||
		got[0] != "a 2024-01-01 06:56:40+00 25000" || got[1] != "b 2024-01-01 06:56:40+00 25000" {
		t.Errorf("watermarks: %v", got)
	}

	// Changes to a and b: the next run reads them, and b's boundary row
	// again (a's, id 25000, is among the moved rows).
	mustPG(t, src, `UPDATE a SET v = 'moved', updated_at = '2024-02-01 00:00:00+00' WHERE id % 100 = 0`,
		`INSERT INTO b SELECT i, 'new', '2024-02-02 00:00:00+00' FROM generate_series(25001, 25500) i`,
		`DELETE FROM b WHERE id = 1`)
	r = runJob(t, c, `RUN SYNC JOB dbscan WAIT`)
	if r.Status != "completed" || r.RowsRead != 250+500+1 {
		t.Fatalf("second scan: %s, %d rows (want 751): %s", r.Status, r.RowsRead, deref(r.Message))
	}
	for _, tb := range []string{"a", "b"} {
		q := fmt.Sprintf(`SELECT count(*) || ' ' || count(*) FILTER (WHERE v = 'moved') || ' ' || max(updated_at) FROM %s`, tb)
		if tb == "b" {
			// Hard deletes at the source are not seen by a scan.
			q = fmt.Sprintf(`SELECT count(*) - 1 || ' ' || count(*) FILTER (WHERE v = 'moved') || ' ' || max(updated_at) FROM %s`, tb)
		}
		if want, got := rowsOf(t, src, fmt.Sprintf(`SELECT count(*) || ' ' || count(*) FILTER (WHERE v = 'moved') || ' ' || max(updated_at) FROM %s`, tb)), rowsOf(t, dst, q); strings.Join(want, "") != strings.Join(got, "") {
			t.Errorf("%s: target %v, source %v", tb, got, want)
		}
	}

	// Every table needs the incremental column.
	mustPG(t, src, `CREATE TABLE d (id bigint PRIMARY KEY, v text)`)
	mustPG(t, dst, `CREATE TABLE d (id bigint PRIMARY KEY, v text)`)
	_, err := c.Exec(ctx, `CREATE SYNC JOB dbscan2 FROM DATABASE src TO DATABASE dst MODE SCAN INCREMENTAL ON updated_at`)
	if pe := wantCode(t, err, "42703"); pe != nil && !strings.Contains(pe.Message, "d") {
		t.Errorf("error does not name the table: %s", pe.Message)
	}
	// EXCLUDE leaves it out.
	mustExec(t, c, `CREATE SYNC JOB dbscan2 FROM DATABASE src TO DATABASE dst EXCLUDE (d) MODE SCAN INCREMENTAL ON updated_at`)

	// DROP forgets both tables' watermarks at the target.
	if n := count(t, dst, `SELECT count(*) FROM flowgate.cdc_checkpoints WHERE job LIKE 'flowgate-scan:dbscan:%'`); n != 2 {
		t.Fatalf("%d watermarks of dbscan at the target, want 2", n)
	}
	mustExec(t, c, `DROP SYNC JOB dbscan`)
	if n := count(t, dst, `SELECT count(*) FROM flowgate.cdc_checkpoints WHERE job LIKE 'flowgate-scan:dbscan:%'`); n != 0 {
		t.Errorf("%d watermarks of dbscan left at the target after DROP", n)
	}
}
