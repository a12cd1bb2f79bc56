package main

// SCAN and files scenarios (-only scan,files), each against a baseline
// measured in the same run:
//   - scan: a SCAN PG->PG with INCREMENTAL ON the indexed ts column picks
//     up 100,000 changed rows of the lineitem table, against a full copy
//     of the table with staging = 'none' (goal <= 0.1 x);
//   - files: the export of lineitem to csv on a file datasource against
//     psql's \copy (SELECT ...) TO 'file' csv (goal <= 1.2 x); the same
//     export to parquet, with its rows/s and its size against the csv's.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

func scanScenarios(ctx context.Context, fg, src, dst *pgx.Conn) ([]result, error) {
	var out []result
	fmt.Println("scan: full copy baseline (staging = 'none') ...")
	for _, t := range []string{"lineitem_scanfull", "lineitem_scan"} {
		if _, err := dst.Exec(ctx, fmt.Sprintf(lineitemPG, t)); err != nil {
			return nil, err
		}
	}
	if _, err := src.Exec(ctx, "CREATE INDEX IF NOT EXISTS lineitem_ts ON lineitem (ts)"); err != nil {
		return nil, err
	}
	if _, err := fg.Exec(ctx, "CREATE SYNC JOB lineitem_scanfull FROM src.lineitem TO dst.lineitem_scanfull MODE BATCH WITH (staging = 'none', algorithm = 'none')"); err != nil {
		return nil, err
	}
	fullSec, fullRows, err := runWait(ctx, fg, "lineitem_scanfull")
	if err != nil {
		return nil, err
	}
	out = append(out, result{name: "PG->PG full copy, staging='none' (baseline)", rows: fullRows, seconds: fullSec})
	if _, err := fg.Exec(ctx, "CREATE SYNC JOB lineitem_scan FROM src.lineitem TO dst.lineitem_scan MODE SCAN INCREMENTAL ON ts"); err != nil {
		return nil, err
	}
	fmt.Println("scan: first scan (the whole table; not compared) ...")
	firstSec, firstRows, _, _, err := runJobWait(ctx, fg, "lineitem_scan")
	if err != nil {
		return nil, err
	}
	out = append(out, result{name: "SCAN PG->PG first scan (whole table)", rows: firstRows, seconds: firstSec})
	if _, err := src.Exec(ctx, "UPDATE lineitem SET qty = qty + 1, ts = now() WHERE id % 20 = 0 AND id <= 2000000"); err != nil {
		return nil, err
	}
	src.Exec(ctx, "VACUUM ANALYZE lineitem")
	var changed int64
	src.QueryRow(ctx, "SELECT count(*) FROM lineitem WHERE ts > now() - interval '1 hour'").Scan(&changed)
	fmt.Printf("scan: %d changed rows ...\n", changed)
	sec, n, _, _, err := runJobWait(ctx, fg, "lineitem_scan")
	if err != nil {
		return nil, err
	}
	out = append(out, result{name: fmt.Sprintf("SCAN PG->PG %d changed rows", changed), rows: n, seconds: sec, base: "full copy", baseSec: fullSec, goal: "<= 0.1"})
	// The server's floor twice: into the table the scan just wrote (its
	// pages cached and written since the last checkpoint: the cheapest
	// case), and into the full copy's table, untouched since it was
	// loaded as the scan's target was before the scan (every page it
	// updates is read, and written whole to WAL after a checkpoint).
	floor, err := upsertFloor(ctx, dst, "lineitem_scan")
	if err != nil {
		return nil, err
	}
	out = append(out, result{name: "  the target server's own upsert of them, again", rows: changed, seconds: floor, base: "full copy", baseSec: fullSec, goal: "floor"})
	cold, err := upsertFloor(ctx, dst, "lineitem_scanfull")
	if err != nil {
		return nil, err
	}
	out = append(out, result{name: "  the same into the untouched full copy", rows: changed, seconds: cold, base: "full copy", baseSec: fullSec, goal: "floor"})
	return out, nil
}

// upsertFloor times what the target server alone spends on the scan's
// writes: the rows the scan wrote upserted into table from a table inside
// the server (no client, no transfer, no parsing), rolled back.
func upsertFloor(ctx context.Context, dst *pgx.Conn, table string) (float64, error) {
	tx, err := dst.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE scan_changed ON COMMIT DROP AS SELECT * FROM lineitem_scan WHERE id % 20 = 0 AND id <= 2000000"); err != nil {
		return 0, err
	}
	t := time.Now()
	_, err = tx.Exec(ctx, `INSERT INTO `+table+` SELECT * FROM scan_changed ON CONFLICT (id) DO UPDATE SET order_id = EXCLUDED.order_id,
		qty = EXCLUDED.qty, price = EXCLUDED.price, discount = EXCLUDED.discount, ship_date = EXCLUDED.ship_date, ts = EXCLUDED.ts, comment = EXCLUDED.comment`)
	return time.Since(t).Seconds(), err
}

func filesScenarios(ctx context.Context, fg *pgx.Conn) ([]result, error) {
	dir, err := os.MkdirTemp("/var/tmp", "flowgate-bench-files-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var out []result
	fmt.Println("files: psql \\copy (SELECT ...) TO file csv (baseline) ...")
	file := filepath.Join(dir, "psql.csv")
	t := time.Now()
	cmd := exec.Command("psql", withDB(*pgURL, "flowgate_bench_src"), "-X", "-q", "-c", `\copy (SELECT * FROM lineitem) to '`+file+`' csv`)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("psql: %w", err)
	}
	baseSec := time.Since(t).Seconds()
	out = append(out, result{name: "psql \\copy (SELECT) to file csv (baseline)", rows: int64(*rows), seconds: baseSec})
	if _, err := fg.Exec(ctx, "CREATE DATASOURCE benchdisk TYPE file OPTIONS (path '"+dir+"')"); err != nil {
		return nil, err
	}
	size := func(prefix string) int64 {
		var n int64
		files, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				n += st.Size()
			}
		}
		return n
	}
	var csvBytes int64
	for _, f := range []string{"csv", "parquet"} {
		job := "lineitem_" + f
		if _, err := fg.Exec(ctx, fmt.Sprintf("CREATE SYNC JOB %s FROM src.lineitem TO benchdisk OBJECT 'out_%s/lineitem' MODE BATCH WITH (file_format = '%s', export_batch_rows = 500000)", job, f, f)); err != nil {
			return nil, err
		}
		fmt.Printf("files: export to %s ...\n", f)
		sec, _, runID, _, err := runJobWait(ctx, fg, job)
		if err != nil {
			return nil, err
		}
		var n int64
		fg.QueryRow(ctx, "SELECT rows_read FROM dataflow.runs WHERE run_id = $1", runID).Scan(&n)
		b := size("out_" + f + "/lineitem")
		r := result{name: fmt.Sprintf("export lineitem to %s on a file datasource", f), rows: n, seconds: sec}
		if f == "csv" {
			csvBytes = b
			r.base, r.baseSec, r.goal = "psql \\copy", baseSec, "<= 1.2"
			fmt.Printf("  csv: %d bytes (psql's file: %d bytes)\n", b, size("psql.csv"))
		} else {
			r.goal = fmt.Sprintf("size %.2f x csv", float64(b)/float64(max(csvBytes, 1)))
			fmt.Printf("  parquet: %d bytes = %.2f x the csv\n", b, float64(b)/float64(max(csvBytes, 1)))
		}
		out = append(out, r)
	}
	return out, nil
}
