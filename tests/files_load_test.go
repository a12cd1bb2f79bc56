package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/internal/testbed"
)

// TestFilesLoadFromObjects: S3File -> PostgreSQL (seed 000): each new or
// changed object once, in key order, csv and parquet; truncate deletes
// only the rows of the objects loaded again; bad records up to error_limit.
func TestFilesLoadFromObjects(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "flsrc", "fldst")
	src, dst := rig.src, rig.dst
	mustPG(t, src, filesOrdersDDL, `INSERT INTO orders SELECT i, i % 5, i * 1.25, 'n' || i, '2024-01-01 00:00:00'::timestamp + i * interval '1 minute', date '2024-01-01' + i FROM generate_series(1, 100) i`)
	mustPG(t, dst, `CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(12,2), note text, updated_at timestamp NOT NULL, day date, src_file text)`)
	s3 := testbed.S3(t)
	g, c := rig.start(t, pgx.QueryExecModeSimpleProtocol)
	mustExec(t, c, s3DS("lake", s3, ""))
	put := func(key, body string) {
		t.Helper()
		if _, err := s3.Backend.PutObject(s3.Bucket, key, map[string]string{}, strings.NewReader(body), int64(len(body)), nil); err != nil {
			t.Fatal(err)
		}
	}
	put("landing/orders/a.csv", "id,customer,amount,note,updated_at,day\n1,1,1.50,first,2024-01-01 10:00:00,2024-01-01\n2,2,2.50,,2024-01-01 10:00:01,\n")
	put("landing/orders/b.csv", "id,customer,amount,note,updated_at,day\n3,3,3.50,\"x,y\",2024-01-01 10:00:02,2024-01-02\n")
	put("landing/other/c.csv", "id\n99\n")

	_, err := c.Exec(ctx, `CREATE SYNC JOB bad FROM lake OBJECT 'landing/orders/' FORMAT csv TO dst.orders MODE SCAN WITH (pre_action = 'truncate')`)
	wantCode(t, err, "22023") // truncate needs source_file_column
	_, err = c.Exec(ctx, `CREATE SYNC JOB bad FROM lake OBJECT 'landing/orders/' FORMAT csv TO dst.orders MODE BATCH`)
	wantCode(t, err, "0A000")

	mustExec(t, c, `CREATE SYNC JOB land FROM lake OBJECT 'landing/orders/' FORMAT csv TO dst.orders MODE SCAN
		WITH (header = on, pre_action = 'truncate', source_file_column = 'src_file', error_limit = 2)`)
	r := runJob(t, c, `RUN SYNC JOB land WAIT`)
	if r.Status != "completed" {
		t.Fatalf("load: %s %s", r.Status, deref(r.Message))
	}
	got := rowsOf(t, dst, `SELECT id || '|' || coalesce(note, 'NULL') || '|' || coalesce(day::text, 'NULL') || '|' || src_file FROM orders ORDER BY id`)
	want := []string{"1|first|2024-01-01|landing/orders/a.csv", "2|NULL|NULL|landing/orders/a.csv", "3|x,y|2024-01-02|landing/orders/b.csv"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s", strings.Join(got, "\n"))
	}
	if n := count(t, c, `SELECT count(*) FROM dataflow.scan_objects WHERE job = 'land'`); n != 2 {
		t.Errorf("%d objects remembered", n)
	}
	// Nothing new: nothing loaded.
	r = runJob(t, c, `RUN SYNC JOB land WAIT`)
	if r.RowsWritten != 0 || !strings.Contains(deref(r.Message), "0 objects loaded") {
		t.Errorf("second run: %d rows, %s", r.RowsWritten, deref(r.Message))
	}
	// a.csv changes: its old rows go (id 2 is no longer in it), b.csv's stay;
	// two bad records are skipped and kept.
	put("landing/orders/a.csv", "id,customer,amount,note,updated_at,day\n1,1,9.99,changed,2024-01-01 10:00:00,2024-01-01\n4,x,1,bad number,2024-01-01 10:00:00,2024-01-01\n5,1,1,bad date,2024-13-45 10:00:00,2024-01-01\n")
	r = runJob(t, c, `RUN SYNC JOB land WAIT`)
	if r.Status != "completed" {
		t.Fatalf("reload: %s %s", r.Status, deref(r.Message))
	}
	got = rowsOf(t, dst, `SELECT id || '|' || amount FROM orders ORDER BY id`)
	if strings.Join(got, ",") != "1|9.99,3|3.50" {
		t.Fatalf("after reload: %v", got)
	}
	errs := rowsOf(t, c, fmt.Sprintf(`SELECT position || ' ' || error FROM dataflow.run_errors WHERE run_id = '%s' ORDER BY position`, r.RunID))
	if len(errs) != 2 || !strings.HasPrefix(errs[0], "landing/orders/a.csv:3 ") || !strings.Contains(errs[0], "not an integer") || !strings.Contains(errs[1], "2024-13-45") {
		t.Errorf("run_errors: %v", errs)
	}
	// A third bad record exceeds error_limit = 2: the run fails with the count.
	put("landing/orders/c.csv", "id,customer,amount,note,updated_at,day\n6,y,1,a,2024-01-01 10:00:00,2024-01-01\n7,z,1,b,2024-01-01 10:00:00,2024-01-01\n8,w,1,c,2024-01-01 10:00:00,2024-01-01\n")
	r = runJob(t, c, `RUN SYNC JOB land WAIT`)
	if r.Status != "failed" || !strings.Contains(deref(r.Message), "3 bad records, more than error_limit = 2") {
		t.Errorf("over the limit: %s %s", r.Status, deref(r.Message))
	}

	// Parquet objects written by an export are loaded back, with a schedule.
	dir := filepath.Join("/var/tmp", fmt.Sprintf("flowgate-load-%d", os.Getpid()))
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	mustExec(t, c, "CREATE DATASOURCE disk TYPE file OPTIONS (path "+sqlString(dir)+")")
	mustExec(t, c, `CREATE SYNC JOB out FROM src.orders TO disk OBJECT 'pq/orders' MODE BATCH WITH (file_format = 'parquet', export_batch_rows = 30)`)
	if r := runJob(t, c, `RUN SYNC JOB out WAIT`); r.Status != "completed" {
		t.Fatalf("parquet export: %s %s", r.Status, deref(r.Message))
	}
	mustPG(t, dst, `TRUNCATE orders`)
	mustExec(t, c, `CREATE SYNC JOB back FROM disk OBJECT 'pq/' FORMAT parquet TO dst.orders MODE SCAN SCHEDULE EVERY '1 second' WITH (source_file_column = 'src_file')`)
	wantRows := rowsOf(t, src, `SELECT id || '|' || customer || '|' || amount || '|' || note || '|' || updated_at || '|' || day FROM orders ORDER BY id`)
	waitSame(t, 30*time.Second, "parquet objects loaded", func() []string { return wantRows },
		func() []string {
			return rowsOf(t, dst, `SELECT id || '|' || customer || '|' || amount || '|' || note || '|' || updated_at || '|' || day FROM orders ORDER BY id`)
		})
	mustExec(t, c, `PAUSE SYNC JOB back`)
	if n := count(t, dst, `SELECT count(DISTINCT src_file) FROM orders`); n != 4 {
		t.Errorf("rows came from %d objects, want 4", n)
	}
	_ = g
}
