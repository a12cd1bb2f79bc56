package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL to PostgreSQL with staging = 'none' streams in COPY's binary
// format when both sides have the same types: every value of every
// built-in type arrives exactly (compared as PostgreSQL's own text of the
// rows on both sides, and by hashdiff), across partitions, with a
// non-UTC source_timezone. A table whose target has a wider type takes
// the CSV path and arrives the same.
func TestBatchStreamBinaryBetweenPostgres(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "binsrc", "bindst")
	const ddl = `CREATE TABLE kinds (id bigint PRIMARY KEY, b boolean, i2 smallint, i4 int%s, n numeric, n2 numeric(12,2), f4 real, f8 double precision,
		c char(5), vc varchar(20), t text, by bytea, d date, tm time(6), ts timestamp(6), tstz timestamptz, iv interval, j json, jb jsonb, u uuid)`
	mustPG(t, rig.src, strings.Replace(ddl, "%s", "", 1),
		`INSERT INTO kinds SELECT g, g % 3 = 0, (g % 30000)::smallint, g * 7, g * 1.000001, g * 1.25, g / 3.0, g * 1e-7,
			'c' || g % 10, 'v' || g, 'line ' || g || E'\n"quoted", \\ tab\t', decode(lpad(to_hex(g), 8, '0'), 'hex'),
			date '2024-02-29' + g, time '00:00:00.000001' + g * interval '1 second', timestamp '1999-12-31 23:59:59.999999' + g * interval '1 minute',
			timestamptz '2024-03-10 06:59:59.123456+00' + g * interval '1 hour', g * interval '1 day 2 hours 3.5 seconds',
			json_build_object('g', g, 's', 'x"y'), jsonb_build_object('g', g, 'a', jsonb_build_array(1, 'two', null)), md5(g::text)::uuid
		FROM generate_series(1, 3000) g`,
		`INSERT INTO kinds VALUES (100001, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
			(100002, false, -32768, -2147483648, 'NaN', -9999999999.99, 'NaN', '-0', '', '', '', '\x', '-infinity', '00:00', '-infinity', '-infinity', '-178000000 years', '[]', '{}', '00000000-0000-0000-0000-000000000000'),
			(100003, true, 32767, 2147483647, 123456789012345678901234567890.123456789012345678901234567890, 9999999999.99, 'Infinity', '-Infinity', 'ééééé', 'ünïcødé ☃', repeat('x', 100000), '\x00ff00', 'infinity', '24:00:00', 'infinity', 'infinity', '178000000 years', '"s"', '{"k": [1.5e300, true]}', 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
			(100004, true, 1, 1, 0.000000000000000000000000000001, 0.01, 1.17549435e-38, 4.9e-324, 'x', 'y', E'\\N', '\x5c4e', '4713-01-01 BC', '23:59:59.999999', '0001-01-01 00:00:00', '1970-01-01 00:00:00.000001+00', '-1 microsecond', 'null', 'null', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')`)
	mustPG(t, rig.dst, strings.Replace(ddl, "%s", "", 1), strings.Replace(strings.Replace(ddl, "%s", "", 1), "kinds", "kinds_wide", 1),
		`ALTER TABLE kinds_wide ALTER COLUMN i4 TYPE bigint`)
	_, c := rig.start(t, pgx.QueryExecModeExec)
	for _, job := range []struct{ name, target string }{{"same", "kinds"}, {"wide", "kinds_wide"}} {
		mustExec(t, c, `CREATE SYNC JOB `+job.name+` FROM src.kinds TO dst.`+job.target+` MODE BATCH
			WITH (staging = 'none', export_batch_rows = 500, parallel_export = 2, algorithm = 'hashdiff', source_timezone = 'America/New_York')`)
		r := runJob(t, c, "RUN SYNC JOB "+job.name+" WAIT")
		if r.Status != "completed" {
			t.Fatalf("%s: run %s: %s", job.name, r.Status, deref(r.Message))
		}
		var parts int64
		mustScan(t, c.QueryRow(ctx, "SELECT count(*) FROM dataflow.run_partitions WHERE run_id = $1 AND imported", r.RunID), &parts)
		if parts < 4 {
			t.Errorf("%s: %d partitions imported, want several", job.name, parts)
		}
		// PostgreSQL's own text of every row, on each side.
		rowsText := func(conn *pgx.Conn, table string) (n int64, sum string) {
			t.Helper()
			mustScan(t, conn.QueryRow(ctx, `SELECT count(*), md5(string_agg(x::text, '|' ORDER BY id)) FROM (SELECT id, b, i2, i4::bigint, n, n2, f4, f8, c, vc, t, by, d, tm, ts, tstz, iv, j::text, jb, u FROM `+table+`) x`), &n, &sum)
			return n, sum
		}
		sn, ssum := rowsText(rig.src, "kinds")
		dn, dsum := rowsText(rig.dst, job.target)
		if sn != 3004 || dn != sn || dsum != ssum {
			t.Errorf("%s: target %d rows (md5 %s), source %d rows (md5 %s)", job.name, dn, dsum, sn, ssum)
		}
	}
}

// Staged files load into PostgreSQL in COPY's binary format, encoded by
// the gateway from the staged CSV, when every target column has a
// built-in type it encodes; a file holding a value it does not render
// exactly (NaN, infinity, BC dates, 24:00) goes in as CSV instead. Both
// arrive exactly, and the metrics say which files went which way.
func TestBatchStagedLoadsBinaryIntoPostgres(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "stbsrc", "stbdst")
	const ddl = `CREATE TABLE kinds (id bigint PRIMARY KEY, b boolean, i2 smallint, i4 int, n numeric, n2 numeric(12,2), f4 real, f8 double precision,
		c char(5), vc varchar(20), t text, by bytea, d date, tm time(6), ts timestamp(3), tstz timestamptz, j json, jb jsonb, u uuid)`
	mustPG(t, rig.src, ddl,
		`INSERT INTO kinds SELECT g, g % 3 = 0, (g % 30000)::smallint, g * 7, g * 1.000001, g * 1.25, g / 3.0, g * 1e-7,
			'c' || g % 10, 'v' || g, 'line ' || g || E'\n"quoted", \\ tab\t', decode(lpad(to_hex(g), 8, '0'), 'hex'),
			date '2024-02-29' + g, time '00:00:00.000001' + g * interval '1 second', timestamp '1999-12-31 23:59:59.999' + g * interval '1 minute 0.0005 second',
			timestamptz '2024-03-10 06:59:59.123456+00' + g * interval '1 hour',
			json_build_object('g', g, 's', 'x"y'), jsonb_build_object('g', g, 'a', jsonb_build_array(1, 'two', null)), md5(g::text)::uuid
		FROM generate_series(1, 3000) g`,
		`INSERT INTO kinds VALUES (3001, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
			(3002, false, -32768, -2147483648, 'NaN', -9999999999.99, 'NaN', '-0', '', '', '', '\x', '-infinity', '00:00', '-infinity', '-infinity', '[]', '{}', '00000000-0000-0000-0000-000000000000'),
			(3003, true, 32767, 2147483647, 123456789012345678901234567890.123456789012345678901234567890, 9999999999.99, 'Infinity', '-Infinity', 'ééééé', 'ünïcødé ☃', repeat('x', 100000), '\x00ff00', 'infinity', '24:00:00', 'infinity', 'infinity', '"s"', '{"k": [1.5e300, true]}', 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
			(3004, true, 1, 1, 0.000000000000000000000000000001, 0.01, 1.17549435e-38, 4.9e-324, 'x', 'y', E'\\N', '\x5c4e', '4713-01-01 BC', '23:59:59.999999', '0001-01-01 00:00:00', '1970-01-01 00:00:00.000001+00', 'null', 'null', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')`)
	mustPG(t, rig.dst, ddl, strings.Replace(ddl, "kinds", "kinds_wide", 1), `ALTER TABLE kinds_wide ALTER COLUMN i4 TYPE bigint, ALTER COLUMN ts TYPE timestamp(6)`)
	g, c := rig.start(t, pgx.QueryExecModeExec)
	for _, job := range []struct{ name, target string }{{"same", "kinds"}, {"wide", "kinds_wide"}} {
		mustExec(t, c, `CREATE SYNC JOB `+job.name+` FROM src.kinds TO dst.`+job.target+` MODE BATCH
			WITH (export_batch_rows = 500, parallel_export = 2, algorithm = 'md5diff', source_timezone = 'America/New_York')`)
		r := runJob(t, c, "RUN SYNC JOB "+job.name+" WAIT")
		if r.Status != "completed" {
			t.Fatalf("%s: run %s: %s", job.name, r.Status, deref(r.Message))
		}
		rowsText := func(conn *pgx.Conn, table string) (n int64, sum string) {
			t.Helper()
			mustScan(t, conn.QueryRow(ctx, `SELECT count(*), md5(string_agg(x::text, '|' ORDER BY id)) FROM (SELECT id, b, i2, i4::bigint, n, n2, f4, f8, c, vc, t, by, d, tm, ts, tstz, j::text, jb, u FROM `+table+`) x`), &n, &sum)
			return n, sum
		}
		sn, ssum := rowsText(rig.src, "kinds")
		dn, dsum := rowsText(rig.dst, job.target)
		if sn != 3004 || dn != sn || dsum != ssum {
			t.Errorf("%s: target %d rows (md5 %s), source %d rows (md5 %s)", job.name, dn, dsum, sn, ssum)
		}
		if temporalAddress != "" {
			// The files load on the worker, which keeps no metrics.
			t.Logf("%s: under --engine temporal the rows are compared, not how the files loaded", job.name)
			continue
		}
		var files int64
		mustScan(t, c.QueryRow(ctx, "SELECT count(*) FROM dataflow.export_files WHERE run_id = $1", r.RunID), &files)
		binary, csv := metricValue(t, g, `flowgate_staged_files_loaded_total{format="binary",job="`+job.name+`"}`),
			metricValue(t, g, `flowgate_staged_files_loaded_total{format="csv",job="`+job.name+`"}`)
		// The last file holds the rows of special values.
		if csv < 1 || binary < 4 || int64(binary+csv) != files {
			t.Errorf("%s: %v files loaded in binary and %v as CSV, of %d", job.name, binary, csv, files)
		}
	}
}

// metricValue reads one series of the gateway's /metrics; a series that
// is not there fails the test.
func metricValue(t *testing.T, g *gateway, series string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", g.metrics))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("metrics lack %s:\n%s", series, body)
	return 0
}
