package tests

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// noticeConn connects and collects NOTICE messages.
func (g *gateway) noticeConn(t testing.TB) (*pgx.Conn, func() []string) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []string
	)
	cfg, err := pgx.ParseConfig(g.dsn("admin"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		seen = append(seen, n.Message)
		mu.Unlock()
	}
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

type runRow struct {
	RunID, Job, Status, Trigger string
	StartedAt                   time.Time
	FinishedAt                  *time.Time
	RowsRead, RowsWritten       int64
	Bytes                       int64
	Message                     *string
}

func runJob(t testing.TB, c *pgx.Conn, stmt string) runRow {
	t.Helper()
	var r runRow
	err := c.QueryRow(context.Background(), stmt).Scan(&r.RunID, &r.Job, &r.Status, &r.Trigger, &r.StartedAt, &r.FinishedAt,
		&r.RowsRead, &r.RowsWritten, &r.Bytes, &r.Message)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return r
}

func pgDS(name string, pg *testbed.PG, db string) string {
	return fmt.Sprintf("CREATE DATASOURCE %s TYPE postgres OPTIONS (host %s, port '%d', database %s, user %s, password %s)",
		name, sqlString(pg.Host), pg.Port, sqlString(db), sqlString(pg.User), sqlString(pg.Password))
}

func mustPG(t testing.TB, c *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := c.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// mustScan scans row into dest and fails the test on any error, no row
// included: a check on values that were never read cannot fail.
func mustScan(t testing.TB, row pgx.Row, dest ...any) {
	t.Helper()
	if err := row.Scan(dest...); err != nil {
		t.Fatalf("scan: %v", err)
	}
}

func count(t testing.TB, c *pgx.Conn, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := c.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// pgRig is the usual sync-job setup: two fresh PostgreSQL databases and,
// once started, a gateway with datasources src and dst for them.
type pgRig struct {
	pg           *testbed.PG
	srcDB, dstDB string
	src, dst     *pgx.Conn
}

func newPGRig(t testing.TB, srcPrefix, dstPrefix string) *pgRig {
	t.Helper()
	r := &pgRig{pg: testbed.Postgres(t)}
	r.srcDB, r.dstDB = r.pg.NewDatabase(t, srcPrefix), r.pg.NewDatabase(t, dstPrefix)
	r.src, r.dst = r.pg.Connect(t, r.srcDB), r.pg.Connect(t, r.dstDB)
	return r
}

// datasources creates src and dst through c.
func (r *pgRig) datasources(t testing.TB, c *pgx.Conn) {
	t.Helper()
	mustExec(t, c, pgDS("src", r.pg, r.srcDB))
	mustExec(t, c, pgDS("dst", r.pg, r.dstDB))
}

// start runs a gateway and connects to it with the datasources in place.
func (r *pgRig) start(t testing.TB, mode pgx.QueryExecMode) (*gateway, *pgx.Conn) {
	t.Helper()
	g := startGateway(t)
	c := g.connect(t, "admin", mode)
	r.datasources(t, c)
	return g, c
}

const ordersDDL = `CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(12,2), note text, placed timestamptz, flag boolean)`

func TestBatchJobPostgresToPostgres(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "bsrc", "bdst")
	src, dst := rig.src, rig.dst
	mustPG(t, src, ordersDDL, `INSERT INTO orders SELECT i, i % 97, i * 1.25, CASE WHEN i % 10 = 0 THEN NULL WHEN i % 10 = 1 THEN '' ELSE 'note "' || i || E'",\nline' END,
		'2024-01-01 00:00:00+00'::timestamptz + i * interval '1 minute 0.000123 second', i % 2 = 0 FROM generate_series(1, 5000) i`)
	mustPG(t, dst, ordersDDL)

	g := startGateway(t)
	c, notices := g.noticeConn(t)
	rig.datasources(t, c)
	mustExec(t, c, `CREATE SYNC JOB orders FROM src.orders TO dst.public.orders MODE BATCH WITH (algorithm = 'hashdiff', export_batch_rows = 1000, bisection_threshold = 100, bisection_factor = 4)`)

	r := runJob(t, c, "RUN SYNC JOB orders WAIT")
	if r.Status != "completed" || r.RowsRead != 5000 || r.RowsWritten != 5000 || r.Trigger != "manual" || r.FinishedAt == nil {
		t.Fatalf("run = %+v (message %s)\n%s", r, deref(r.Message), g.logs())
	}
	if got := count(t, dst, "SELECT count(*) FROM orders"); got != 5000 {
		t.Fatalf("target rows = %d", got)
	}
	// Same data, checked by PostgreSQL itself.
	var srcSum, dstSum string
	mustScan(t, src.QueryRow(ctx, "SELECT md5(string_agg(o::text, '|' ORDER BY id)) FROM orders o"), &srcSum)
	mustScan(t, dst.QueryRow(ctx, "SELECT md5(string_agg(o::text, '|' ORDER BY id)) FROM orders o"), &dstSum)
	if srcSum != dstSum {
		t.Fatalf("target differs from source: md5 %s, source %s", dstSum, srcSum)
	}
	joined := strings.Join(notices(), "\n")
	for _, want := range []string{"ExportTable", "ImportTable", "TableDataDiff", "rows/s"} {
		if !strings.Contains(joined, want) {
			t.Errorf("progress NOTICEs lack %q:\n%s", want, joined)
		}
	}
	rows, err := c.Query(ctx, "SELECT stage, status, attempts, rows FROM dataflow.run_stages WHERE run_id = $1 ORDER BY started_at, stage", r.RunID)
	if err != nil {
		t.Fatal(err)
	}
	type stageRow struct {
		Stage, Status  string
		Attempts, Rows int64
	}
	stages, err := pgx.CollectRows(rows, pgx.RowToStructByPos[stageRow])
	if err != nil || len(stages) != 3 {
		t.Fatalf("stages = %+v %v", stages, err)
	}
	for _, s := range stages {
		if s.Status != "completed" || s.Attempts != 1 || s.Rows != 5000 {
			t.Errorf("stage %+v", s)
		}
	}
	if n := count(t, c, "SELECT count(*) FROM dataflow.export_files WHERE run_id = $1 AND state = 'present' AND imported", r.RunID); n != 5 {
		t.Fatalf("export files = %d, want 5", n)
	}
	var uri string
	mustScan(t, c.QueryRow(ctx, "SELECT uri FROM dataflow.export_files WHERE run_id = $1 LIMIT 1", r.RunID), &uri)
	if !strings.HasPrefix(uri, "file://") || !strings.HasSuffix(uri, ".csv.zst") {
		t.Fatalf("uri = %s", uri)
	}
	if _, err := os.Stat(strings.TrimPrefix(uri, "file://")); err != nil {
		t.Fatalf("staged file missing: %v", err)
	}

	// Differences are found and exactly the differing rows are listed: a
	// trigger on the target changes two rows as they load, and the target
	// already holds a row the source does not have.
	mustPG(t, dst, strings.Replace(ordersDDL, "orders", "orders2", 1),
		`CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id IN (17, 4242) THEN NEW.amount := NEW.amount + 1; END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER bump BEFORE INSERT ON orders2 FOR EACH ROW EXECUTE FUNCTION bump()`,
		`INSERT INTO orders2 (id, customer) VALUES (900001, 1)`)
	mustExec(t, c, `CREATE SYNC JOB drift FROM src.orders TO dst.orders2 MODE BATCH WITH (algorithm = 'hashdiff', bisection_threshold = 64, bisection_factor = 8, threads = 3, staging = 'none')`)
	r2 := runJob(t, c, "RUN SYNC JOB drift WAIT")
	if r2.Status != "data_inconsistent" {
		t.Fatalf("drift = %+v %s", r2, deref(r2.Message))
	}
	rows, err = c.Query(ctx, "SELECT key || ':' || side FROM dataflow.run_diffs WHERE run_id = $1 ORDER BY 1", r2.RunID)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, " "); got != `["17"]:source ["17"]:target ["4242"]:source ["4242"]:target ["900001"]:target` {
		t.Fatalf("diffs = %s", got)
	}
	// Fix the target and verify again: RETRY from TableDataDiff only.
	mustPG(t, dst, "UPDATE orders2 SET amount = amount - 1 WHERE id IN (17, 4242)", "DELETE FROM orders2 WHERE id = 900001")
	r3 := runJob(t, c, "RETRY RUN '"+r2.RunID+"' STAGE 'TableDataDiff'")
	if r3.Status != "completed" {
		t.Fatalf("re-verify = %+v %s", r3, deref(r3.Message))
	}
	if n := count(t, dst, "SELECT count(*) FROM orders2"); n != 5000 {
		t.Fatalf("re-verify changed the target: %d rows", n)
	}
	// md5diff finds the same two changed rows: reload with the trigger in
	// place. On a table with a key it checksums key ranges like hashdiff
	// and lists the rows; only a keyless table gets one checksum per side.
	mustExec(t, c, `ALTER SYNC JOB drift SET (algorithm = 'md5diff')`)
	mustPG(t, dst, "TRUNCATE orders2")
	r4 := runJob(t, c, "RUN SYNC JOB drift WAIT")
	if r4.Status != "data_inconsistent" {
		t.Fatalf("md5diff with two changed target rows = %+v %s", r4, deref(r4.Message))
	}
	rows, err = c.Query(ctx, "SELECT key || ':' || side FROM dataflow.run_diffs WHERE run_id = $1 ORDER BY 1", r4.RunID)
	if err != nil {
		t.Fatal(err)
	}
	keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, " "); got != `["17"]:source ["17"]:target ["4242"]:source ["4242"]:target` {
		t.Fatalf("md5diff diffs = %s", got)
	}
	// countdiff sees one extra target row.
	mustExec(t, c, `ALTER SYNC JOB drift SET (algorithm = 'countdiff', enable_pk_duplicate_detect = off)`)
	mustPG(t, dst, "TRUNCATE orders2", "INSERT INTO orders2 (id, customer) VALUES (900001, 1)")
	if r := runJob(t, c, "RUN SYNC JOB drift WAIT"); r.Status != "data_inconsistent" {
		t.Fatalf("countdiff with one extra target row = %+v", r)
	}
	// The overview counts the table operations of all runs.
	var execs, records int64
	if err := c.QueryRow(ctx, "SELECT executions, records FROM dataflow.overview WHERE datasource = 'src' AND operation = 'export'").Scan(&execs, &records); err != nil {
		t.Fatal(err)
	}
	if execs != 4 || records != 20000 {
		t.Fatalf("overview export: %d executions, %d records", execs, records)
	}
	if n := count(t, c, "SELECT count(*) FROM dataflow.overview_tables WHERE datasource = 'dst' AND table_name = 'orders2' AND operation = 'import'"); n != 1 {
		t.Fatalf("overview_tables rows for orders2 = %d", n)
	}
	if n := count(t, c, "SELECT count(*) FROM dataflow.operations WHERE started_at > now() - interval '1 hour' AND operation = 'import'"); n != 4 {
		t.Fatalf("operations = %d", n)
	}
}

func TestBatchJobErrorsAreClear(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "esrc", "edst")
	src, dst := rig.src, rig.dst
	mustPG(t, src, ordersDDL, "INSERT INTO orders (id, customer) VALUES (1, 1), (2, 2)")
	mustPG(t, dst, ordersDDL, "CREATE TABLE small (id bigint PRIMARY KEY, customer text)",
		"CREATE TABLE renamed (oid bigint PRIMARY KEY, cust int NOT NULL, at timestamptz)")
	_, c := rig.start(t, pgx.QueryExecModeExec)
	cases := []struct {
		sql, code, contains string
	}{
		{"CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH WITH (algoritm = 'hashdiff')", "22023", "algoritm"},
		{"CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH WITH (bisection_factor = 100, bisection_threshold = 50)", "22023", "bisection_factor"},
		// A key of another mode is refused, naming the modes it belongs to.
		{"CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH WITH (slot_name = 's')", "22023", "used by MODE CDC only"},
		// pre_action applies to BATCH, with BATCH's values only.
		{"CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH WITH (pre_action = 'rename_create')", "22023", "none | truncate | recreate"},
		{"CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH WITH (checkpoint_interval = 500)", "22023", "does not apply to MODE BATCH"},
		{"CREATE SYNC JOB j FROM src.orders TO dst.missing MODE BATCH", "42P01", "missing"},
		// A DDL task would create "orders", not "missing": the hint says so.
		{"CREATE SYNC JOB j FROM src.orders TO dst.missing MODE BATCH", "42P01", `For a table named "missing", create it yourself`},
		{"CREATE SYNC JOB j FROM src.orders TO dst.orders COLUMNS (id, nosuch AS note) MODE BATCH", "42703", "nosuch"},
		{"CREATE SYNC JOB j FROM src.orders TO dst.orders COLUMNS (id, customer AS placed) MODE BATCH", "42804", "customer"},
		{"CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH WHERE 'nosuch_col > 1'", "42601", "nosuch_col"},
		{"CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH SCHEDULE CRON '*/5 * * *'", "22023", "5 fields"},
		{"CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH SCHEDULE CRON '0 25 * * *'", "22023", "hour"},
		{"CREATE SYNC JOB j FROM nosuch.orders TO dst.orders MODE BATCH", "42704", "nosuch"},
		{"RUN SYNC JOB nosuch", "42704", "nosuch"},
		{"STOP SYNC JOB nosuch", "42704", "nosuch"},
		{"RETRY RUN 'nosuch'", "42704", "nosuch"},
		{"CLEAN EXPORT FILES FOR RUN 'nosuch'", "42704", "nosuch"},
		// Without TARGET WHERE verification selects the target's rows with
		// the source's filter: refused now when the target cannot run it,
		// rather than failing the run after its load.
		{"CREATE SYNC JOB j FROM src.orders TO dst.renamed COLUMNS (id AS oid, customer AS cust) MODE BATCH WHERE 'id > 1'", "42601", "TARGET WHERE"},
		{"CREATE SYNC JOB j FROM src.orders TO dst.renamed COLUMNS (id AS oid, customer AS cust) MODE BATCH WHERE LAST 3 DAYS ON placed", "42703", "\"placed\" is not copied"},
		{"CREATE SYNC JOB j FROM src.orders TO dst.renamed COLUMNS (id AS oid, customer AS cust) MODE BATCH WHERE 'id > 1' TARGET WHERE 'nosuch > 1'", "42601", "nosuch"},
	}
	for _, tc := range cases {
		_, err := c.Exec(ctx, tc.sql)
		pe := wantCode(t, err, tc.code)
		if !strings.Contains(pe.Message+pe.Hint, tc.contains) {
			t.Errorf("%s: message %q hint %q lacks %q", tc.sql, pe.Message, pe.Hint, tc.contains)
		}
	}
	// The cron error points at the bad field.
	_, err := c.Exec(ctx, "CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH SCHEDULE CRON '0 25 * * *'")
	pe := wantCode(t, err, "22023")
	stmt := "CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH SCHEDULE CRON '0 25 * * *'"
	if want := strings.Index(stmt, "25") + 1; int(pe.Position) != want {
		t.Errorf("cron error position %d, want %d", pe.Position, want)
	}
	// Unknown option lists the valid keys.
	_, err = c.Exec(ctx, "CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH WITH (algoritm = 'hashdiff')")
	pe = wantCode(t, err, "22023")
	if !strings.Contains(pe.Hint, "bisection_threshold") {
		t.Errorf("hint does not list valid keys: %q", pe.Hint)
	}

	// The same jobs with a TARGET WHERE in the target's names, or with the
	// column copied, or unverified, are accepted and verify what they load.
	for i, job := range []string{
		"COLUMNS (id AS oid, customer AS cust) MODE BATCH WHERE 'id > 1' TARGET WHERE 'oid > 1'",
		"COLUMNS (id AS oid, customer AS cust, placed AS at) MODE BATCH WHERE LAST 3 DAYS ON placed",
		"COLUMNS (id AS oid, customer AS cust) MODE BATCH WHERE 'id > 1' WITH (algorithm = 'none')",
	} {
		mustPG(t, src, "UPDATE orders SET placed = now()")
		mustPG(t, dst, "TRUNCATE renamed")
		name := fmt.Sprintf("renamed%d", i)
		mustExec(t, c, "CREATE SYNC JOB "+name+" FROM src.orders TO dst.renamed "+job)
		if r := runJob(t, c, "RUN SYNC JOB "+name+" WAIT"); r.Status != "completed" {
			t.Fatalf("%s: run = %+v %s", job, r, deref(r.Message))
		}
		want := int64(1)
		if i == 1 {
			want = 2 // both rows are in the window
		}
		if n := count(t, dst, "SELECT count(*) FROM renamed"); n != want {
			t.Fatalf("%s: target rows = %d, want %d", job, n, want)
		}
		mustExec(t, c, "DROP SYNC JOB "+name)
	}

	mustExec(t, c, "CREATE SYNC JOB ok FROM src.orders TO dst.orders MODE BATCH WITH (algorithm = 'md5diff')")
	_, err = c.Exec(ctx, "ALTER SYNC JOB ok SET (pre_action = 'rename_create')")
	if pe := wantCode(t, err, "22023"); !strings.Contains(pe.Hint, "MODE BATCH") || pe.Position == 0 {
		t.Errorf("ALTER with pre_action: %q hint %q position %d", pe.Message, pe.Hint, pe.Position)
	}
	r := runJob(t, c, "RUN SYNC JOB ok WAIT")
	if r.Status != "completed" {
		t.Fatalf("run = %+v %s", r, deref(r.Message))
	}
	_, err = c.Exec(ctx, "RETRY RUN '"+r.RunID+"'")
	wantCode(t, err, "55000")
	_, err = c.Exec(ctx, "STOP SYNC JOB ok")
	wantCode(t, err, "55000")
	_, err = c.Exec(ctx, "PAUSE SYNC JOB ok")
	wantCode(t, err, "55000")
	_, err = c.Exec(ctx, "DROP DATASOURCE src")
	pe = wantCode(t, err, "2BP01")
	if !strings.Contains(pe.Message, "sync job ok") {
		t.Errorf("drop refusal: %s", pe.Message)
	}
	// Running it again loads the same keys: the duplicate check stops it
	// before anything is imported and names examples.
	r = runJob(t, c, "RUN SYNC JOB ok WAIT")
	if r.Status != "failed" || !strings.Contains(deref(r.Message), "already has keys") || !strings.Contains(deref(r.Message), "e.g. ") {
		t.Fatalf("duplicate run = %+v %s", r, deref(r.Message))
	}
	if n := count(t, dst, "SELECT count(*) FROM orders"); n != 2 {
		t.Fatalf("target rows after refused duplicate run = %d", n)
	}
	// A target-side failure shows the target's own message.
	mustPG(t, dst, "TRUNCATE orders", "ALTER TABLE orders ADD CONSTRAINT big_ids CHECK (id > 1)")
	r = runJob(t, c, "RUN SYNC JOB ok WAIT")
	if r.Status != "failed" || !strings.Contains(deref(r.Message), "big_ids") {
		t.Fatalf("check violation run = %+v %s", r, deref(r.Message))
	}
	var msg string
	mustScan(t, c.QueryRow(ctx, "SELECT message FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'ImportTable'", r.RunID), &msg)
	if !strings.Contains(msg, "big_ids") {
		t.Fatalf("stage message = %q", msg)
	}
	// Fix the target and retry: it finishes without importing twice.
	mustPG(t, dst, "ALTER TABLE orders DROP CONSTRAINT big_ids")
	r2 := runJob(t, c, "RETRY RUN '"+r.RunID+"'")
	if r2.Status != "completed" || r2.RunID != r.RunID {
		t.Fatalf("retry = %+v %s", r2, deref(r2.Message))
	}
	if n := count(t, dst, "SELECT count(*) FROM orders"); n != 2 {
		t.Fatalf("target rows after retry = %d", n)
	}
	var attempts int64
	mustScan(t, c.QueryRow(ctx, "SELECT attempts FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'ImportTable'", r.RunID), &attempts)
	if attempts != 2 {
		t.Fatalf("import attempts = %d", attempts)
	}
	mustScan(t, c.QueryRow(ctx, "SELECT attempts FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'ExportTable'", r.RunID), &attempts)
	if attempts != 1 {
		t.Fatalf("export attempts = %d (retry must not export again)", attempts)
	}
}

func TestBatchJobFailedFileResumesWithoutDuplicates(t *testing.T) {
	rig := newPGRig(t, "rsrc", "rdst")
	src, dst := rig.src, rig.dst
	mustPG(t, src, ordersDDL, "INSERT INTO orders (id, customer) SELECT i, i FROM generate_series(1, 1000) i")
	// Rows 1..450 load, the file holding 451..500 fails on the check.
	mustPG(t, dst, ordersDDL, "ALTER TABLE orders ADD CONSTRAINT no_473 CHECK (id <> 473)")
	_, c := rig.start(t, pgx.QueryExecModeSimpleProtocol)
	mustExec(t, c, "CREATE SYNC JOB j FROM src.orders TO dst.orders MODE BATCH WITH (export_batch_rows = 50, import_order_by = 'id', compression = 'gzip', algorithm = 'hashdiff', bisection_threshold = 100, bisection_factor = 4)")
	r := runJob(t, c, "RUN SYNC JOB j WAIT")
	if r.Status != "failed" {
		t.Fatalf("run = %+v", r)
	}
	if n := count(t, dst, "SELECT count(*) FROM orders"); n != 450 {
		t.Fatalf("rows before retry = %d, want 450 (9 files of 50)", n)
	}
	if n := count(t, c, "SELECT count(*) FROM dataflow.export_files WHERE run_id = $1 AND imported", r.RunID); n != 9 {
		t.Fatalf("imported files = %d", n)
	}
	// Retrying from ExportTable after partitions were imported re-exports
	// only the partitions that are not in the target: the ten partitions
	// staged but not imported are left as they are, nine are skipped.
	r = runJob(t, c, "RETRY RUN '"+r.RunID+"' STAGE 'ExportTable'")
	if r.Status != "failed" {
		t.Fatalf("export retry with the check still there = %+v %s", r, deref(r.Message))
	}
	if n := count(t, dst, "SELECT count(*) FROM orders"); n != 450 {
		t.Fatalf("rows after the export retry = %d, want 450", n)
	}
	var exportMsg string
	mustScan(t, c.QueryRow(context.Background(), "SELECT message FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'ExportTable'", r.RunID), &exportMsg)
	if exportMsg != "exported 0 of 20 partitions (20 were done before)" {
		t.Fatalf("export retry message = %q", exportMsg)
	}
	if n := count(t, c, "SELECT count(*) FROM dataflow.run_partitions WHERE run_id = $1 AND imported", r.RunID); n != 9 {
		t.Fatalf("partitions imported = %d, want 9", n)
	}
	mustPG(t, dst, "ALTER TABLE orders DROP CONSTRAINT no_473")
	r = runJob(t, c, "RETRY RUN '"+r.RunID+"' STAGE 'ImportTable'")
	if r.Status != "completed" {
		t.Fatalf("retry = %+v %s", r, deref(r.Message))
	}
	if n := count(t, dst, "SELECT count(*) FROM orders"); n != 1000 {
		t.Fatalf("rows after retry = %d", n)
	}
	var importMsg string
	mustScan(t, c.QueryRow(context.Background(), "SELECT message FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'ImportTable'", r.RunID), &importMsg)
	if importMsg != "imported 11 of 20 partitions (9 were done before)" {
		t.Fatalf("import retry message = %q", importMsg)
	}
	// TARGET WHERE narrows the target side of the verification.
	mustPG(t, dst, "UPDATE orders SET customer = -1 WHERE id = 1")
	mustExec(t, c, "CREATE SYNC JOB again FROM src.orders TO dst.orders MODE BATCH WHERE 'id < 0' TARGET WHERE 'id = 1' WITH (algorithm = 'hashdiff', key_columns = 'id')")
	r = runJob(t, c, "RUN SYNC JOB again WAIT")
	if r.Status != "data_inconsistent" {
		t.Fatalf("again = %+v", r)
	}
	var key, side string
	if err := c.QueryRow(context.Background(), "SELECT key, side FROM dataflow.run_diffs WHERE run_id = $1", r.RunID).Scan(&key, &side); err != nil || key != `["1"]` || side != "target" {
		t.Fatalf("diff = %q %q %v", key, side, err)
	}
	// A run that imported no file (the source filter matches nothing) may
	// export again; it finds the same difference.
	r = runJob(t, c, "RETRY RUN '"+r.RunID+"' STAGE 'ExportTable'")
	if r.Status != "data_inconsistent" {
		t.Fatalf("export retry of a run without imported files = %+v %s", r, deref(r.Message))
	}
	if n := count(t, c, "SELECT count(*) FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'ExportTable' AND attempts = 2", r.RunID); n != 1 {
		t.Fatalf("the retry did not export again")
	}
}
