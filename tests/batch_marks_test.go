package tests

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/internal/testbed"
)

// Where the import marks go: flowgate's own schema by default (the other
// tests check that), marks_schema when the job names one, and the target
// schema for a user who may not create schemas. pre_action for BATCH:
// truncate and recreate happen before the first partition loads.
func TestBatchMarksPlacesAndPreActions(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "msrc", "mdst")
	const rows = 1200
	mustPG(t, rig.src, ordersDDL, fmt.Sprintf("INSERT INTO orders (id, customer, note) SELECT i, i %% 7, 'n' || i FROM generate_series(1, %d) i", rows))
	mustPG(t, rig.dst, ordersDDL,
		strings.Replace(ordersDDL, "orders", "limited", 1),
		// limited's key to a table it does not load: its user does not own
		// the table, so the key stays in place during the load.
		"CREATE TABLE parents (id int PRIMARY KEY)", "INSERT INTO parents SELECT generate_series(-1, 6)",
		"ALTER TABLE limited ADD CONSTRAINT limited_parent FOREIGN KEY (customer) REFERENCES parents (id)",
		// A target of the wrong shape, with rows: recreate replaces it.
		"CREATE TABLE shaped (id bigint, stray text)", "INSERT INTO shaped VALUES (1, 'old'), (2, 'old')",
		// A user who may write the target tables but not create schemas.
		"DROP ROLE IF EXISTS fg_limited", "CREATE ROLE fg_limited LOGIN PASSWORD 'pw'",
		"GRANT USAGE, CREATE ON SCHEMA public TO fg_limited", "GRANT ALL ON limited TO fg_limited")
	t.Cleanup(func() {
		c := rig.pg.Connect(t, rig.dstDB)
		c.Exec(context.Background(), "DROP OWNED BY fg_limited")
		c.Exec(context.Background(), "DROP ROLE IF EXISTS fg_limited")
	})
	mustPG(t, rig.dst, fmt.Sprintf("REVOKE CREATE ON DATABASE %s FROM PUBLIC", pgx.Identifier{rig.dstDB}.Sanitize()))
	_, c := rig.start(t, pgx.QueryExecModeExec)
	mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE lim TYPE postgres OPTIONS (host %s, port '%d', database %s, user 'fg_limited', password 'pw')",
		sqlString(rig.pg.Host), rig.pg.Port, sqlString(rig.dstDB)))

	// marks_schema names the schema.
	mustExec(t, c, "CREATE SYNC JOB named FROM src.orders TO dst.orders MODE BATCH WITH (export_batch_rows = 500, marks_schema = 'fg_marks', algorithm = 'hashdiff')")
	r := runJob(t, c, "RUN SYNC JOB named WAIT")
	if r.Status != "completed" {
		t.Fatalf("named = %+v %s", r, deref(r.Message))
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM fg_marks.flowgate_import_marks WHERE run_id = $1", r.RunID); n != 3 {
		t.Fatalf("marks in fg_marks: %d, want 3 (one per partition)", n)
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM pg_namespace WHERE nspname = 'flowgate'"); n != 0 {
		t.Fatalf("schema flowgate was created although marks_schema names another")
	}

	// No privilege to create schema flowgate: the target schema, as before.
	// A trigger changes one row as it loads: the verification, whose first
	// pass runs over the run's three partitions, finds exactly that row.
	mustPG(t, rig.dst, `CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 1100 THEN NEW.customer := -1; END IF; RETURN NEW; END $$`,
		"CREATE TRIGGER bump BEFORE INSERT ON limited FOR EACH ROW EXECUTE FUNCTION bump()")
	mustExec(t, c, "CREATE SYNC JOB lim FROM src.orders TO lim.limited MODE BATCH WITH (export_batch_rows = 500, algorithm = 'hashdiff')")
	r = runJob(t, c, "RUN SYNC JOB lim WAIT")
	if r.Status != "data_inconsistent" {
		t.Fatalf("limited user = %+v %s", r, deref(r.Message))
	}
	var key, side string
	mustScan(t, c.QueryRow(ctx, "SELECT key, side FROM dataflow.run_diffs WHERE run_id = $1 ORDER BY side LIMIT 1", r.RunID), &key, &side)
	if key != `["1100"]` || count(t, c, "SELECT count(*) FROM dataflow.run_diffs WHERE run_id = $1", r.RunID) != 2 {
		t.Fatalf("differences: %s %s", key, side)
	}
	if n := count(t, c, "SELECT count(*) FROM dataflow.run_partitions WHERE run_id = $1", r.RunID); n != 3 {
		t.Fatalf("partitions = %d", n)
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM pg_constraint WHERE conname = 'limited_parent' AND convalidated"); n != 1 {
		t.Fatalf("the key the limited user may not drop is gone or not valid")
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM public.flowgate_import_marks WHERE run_id = $1", r.RunID); n != 3 {
		t.Fatalf("marks in public for the limited user: %d", n)
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM limited"); n != rows {
		t.Fatalf("limited rows = %d", n)
	}

	// pre_action = 'truncate': the rows of the first run go, the second
	// run's come in, each once.
	mustExec(t, c, "ALTER SYNC JOB named SET (pre_action = 'truncate')")
	mustPG(t, rig.dst, "UPDATE orders SET note = 'stale'")
	r = runJob(t, c, "RUN SYNC JOB named WAIT")
	if r.Status != "completed" {
		t.Fatalf("truncate run = %+v %s", r, deref(r.Message))
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM orders WHERE note IS DISTINCT FROM 'stale'"); n != rows || count(t, rig.dst, "SELECT count(*) FROM orders") != rows {
		t.Fatalf("after truncate: %d fresh rows of %d", n, count(t, rig.dst, "SELECT count(*) FROM orders"))
	}

	// pre_action = 'recreate': the target is built again from the source.
	mustPG(t, rig.dst, "ALTER TABLE shaped ADD COLUMN customer int")
	mustExec(t, c, "CREATE SYNC JOB shaped FROM src.orders TO dst.shaped COLUMNS (id, customer) MODE BATCH WITH (pre_action = 'recreate', algorithm = 'hashdiff')")
	r = runJob(t, c, "RUN SYNC JOB shaped WAIT")
	if r.Status != "completed" {
		t.Fatalf("recreate run = %+v %s", r, deref(r.Message))
	}
	var cols string
	mustScan(t, rig.dst.QueryRow(ctx, `SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_name = 'shaped'`), &cols)
	if cols != "id bigint, customer integer" {
		t.Fatalf("recreated columns: %s", cols)
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM pg_index WHERE indrelid = 'shaped'::regclass AND indisprimary"); n != 1 {
		t.Fatalf("recreated table has no primary key")
	}
	if n := count(t, rig.dst, "SELECT count(DISTINCT id) FROM shaped"); n != rows || count(t, rig.dst, "SELECT count(*) FROM shaped") != rows {
		t.Fatalf("recreated table rows: %d distinct", n)
	}
}

// partition_column cuts a table by a NOT NULL column that is not its key
// (a non-unique one: ranges of equal values are merged); a table with
// neither a primary key nor partition_column is one partition, and the
// stages and dataflow.run_partitions say why; a nullable or unknown
// partition_column fails the run naming the column.
func TestBatchPartitionColumnAndKeylessTable(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "pcsrc", "pcdst")
	const rows = 2000
	const keyless = `CREATE TABLE logbook (at int NOT NULL, msg text)`
	mustPG(t, rig.src, ordersDDL, keyless,
		fmt.Sprintf("INSERT INTO orders (id, customer, amount, note) SELECT i, (i * 7919) %% 50, CASE WHEN i %% 3 = 0 THEN NULL ELSE i END, 'n' || i FROM generate_series(1, %d) i", rows),
		"INSERT INTO logbook SELECT i % 10, 'm' || i FROM generate_series(1, 1500) i")
	mustPG(t, rig.dst, ordersDDL, keyless)
	_, c := rig.start(t, pgx.QueryExecModeExec)

	// Staged (the default local staging directory) and streamed.
	for job, staging := range map[string]string{"pc_staged": "", "pc_stream": ", staging = 'none'"} {
		mustPG(t, rig.dst, "TRUNCATE orders")
		mustExec(t, c, fmt.Sprintf(`CREATE SYNC JOB %s FROM src.orders TO dst.orders MODE BATCH
			WITH (partition_column = 'customer', export_batch_rows = 400, parallel_export = 2, algorithm = 'hashdiff'%s)`, job, staging))
		r := runJob(t, c, "RUN SYNC JOB "+job+" WAIT")
		if r.Status != "completed" {
			t.Fatalf("%s = %+v %s", job, r, deref(r.Message))
		}
		parts := rowsOf(t, c, "SELECT key_columns || '|' || coalesce(lower, '-') || '|' || coalesce(upper, '-') || '|' || rows || '|' || imported FROM dataflow.run_partitions WHERE run_id = '"+r.RunID+"' ORDER BY seq")
		t.Logf("%s partitions (key|lower|upper|rows|imported): %v", job, parts)
		if len(parts) < 3 {
			t.Fatalf("%s: %d partitions, want about %d/400: %v", job, len(parts), rows, parts)
		}
		// Each partition holds the source rows of its customer range, and
		// together they are the table, each row once.
		var sum int64
		for _, p := range parts {
			f := strings.Split(p, "|")
			if !strings.Contains(f[0], "customer") || strings.Contains(f[0], "id") || f[4] != "true" {
				t.Fatalf("%s: partition %s is not an imported range of customer", job, p)
			}
			cond := "true"
			if lo := strings.Trim(f[1], `[]"`); lo != "-" {
				cond += " AND customer >= " + lo
			}
			if hi := strings.Trim(f[2], `[]"`); hi != "-" {
				cond += " AND customer < " + hi
			}
			n, err := strconv.ParseInt(f[3], 10, 64)
			if err != nil || n == 0 || n != count(t, rig.src, "SELECT count(*) FROM orders WHERE "+cond) {
				t.Fatalf("%s: partition %s: %d rows, the source has %d where %s", job, p, n, count(t, rig.src, "SELECT count(*) FROM orders WHERE "+cond), cond)
			}
			sum += n
		}
		if sum != rows || count(t, rig.dst, "SELECT count(DISTINCT id) FROM orders") != rows || count(t, rig.dst, "SELECT count(*) FROM orders") != rows {
			t.Fatalf("%s: partitions hold %d rows, target %d", job, sum, count(t, rig.dst, "SELECT count(*) FROM orders"))
		}
		// The progress total is the rows the partitioning counted.
		if n := count(t, c, "SELECT total FROM dataflow.run_progress WHERE run_id = $1 AND stage = 'ExportTable'", r.RunID); n != rows {
			t.Fatalf("%s: ExportTable's progress total is %d, want %d", job, n, rows)
		}
		if msg := stageMessage(t, c, r.RunID, "ImportTable"); msg != fmt.Sprintf("imported %d of %d partitions", len(parts), len(parts)) {
			t.Fatalf("%s: import message %q", job, msg)
		}
	}

	// A text partition_column with repeated values: cut at split points,
	// equal points merged; every row once. (Seven values make at most
	// eight ranges: the split points may start at the lowest value, which
	// leaves the range below it empty.)
	const tagged = `CREATE TABLE tagged (id int PRIMARY KEY, region text NOT NULL)`
	mustPG(t, rig.src, tagged, "INSERT INTO tagged SELECT i, 'r' || lpad((i % 7)::text, 2, '0') FROM generate_series(1, 2000) i")
	mustPG(t, rig.dst, tagged)
	mustExec(t, c, "CREATE SYNC JOB bytext FROM src.tagged TO dst.tagged MODE BATCH WITH (partition_column = 'region', export_batch_rows = 250, algorithm = 'hashdiff')")
	if r := runJob(t, c, "RUN SYNC JOB bytext WAIT"); r.Status != "completed" {
		t.Fatalf("bytext = %+v %s", r, deref(r.Message))
	} else {
		parts := rowsOf(t, c, "SELECT coalesce(lower, '-') || '|' || coalesce(upper, '-') || '|' || rows FROM dataflow.run_partitions WHERE run_id = '"+r.RunID+"' ORDER BY seq")
		t.Logf("bytext partitions: %v", parts)
		if len(parts) < 4 || len(parts) > 8 || count(t, rig.dst, "SELECT count(*) FROM tagged") != 2000 || count(t, c, "SELECT sum(rows) FROM dataflow.run_partitions WHERE run_id = $1", r.RunID) != 2000 {
			t.Fatalf("bytext: partitions %v, %d rows in the target", parts, count(t, rig.dst, "SELECT count(*) FROM tagged"))
		}
		if n := count(t, c, "SELECT total FROM dataflow.run_progress WHERE run_id = $1 AND stage = 'ExportTable'", r.RunID); n != 2000 {
			t.Fatalf("bytext: ExportTable's progress total is %d, want 2000", n)
		}
	}

	// No primary key and no partition_column: one stream, and it says so.
	mustExec(t, c, "CREATE SYNC JOB keyless FROM src.logbook TO dst.logbook MODE BATCH WITH (export_batch_rows = 100, parallel_export = 4, algorithm = 'countdiff')")
	r := runJob(t, c, "RUN SYNC JOB keyless WAIT")
	if r.Status != "completed" {
		t.Fatalf("keyless = %+v %s", r, deref(r.Message))
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM logbook"); n != 1500 {
		t.Fatalf("logbook rows = %d", n)
	}
	var note string
	mustScan(t, c.QueryRow(ctx, "SELECT coalesce(note, '') FROM dataflow.run_partitions WHERE run_id = $1", r.RunID), &note)
	if count(t, c, "SELECT count(*) FROM dataflow.run_partitions WHERE run_id = $1", r.RunID) != 1 || !strings.Contains(note, "no primary key and no partition_column") {
		t.Fatalf("keyless partitions: note %q", note)
	}
	for _, st := range []string{"ExportTable", "ImportTable"} {
		if msg := stageMessage(t, c, r.RunID, st); !strings.Contains(msg, "as one stream: no primary key and no partition_column") {
			t.Fatalf("keyless %s message %q", st, msg)
		}
	}

	// A partition_column that may be NULL, or is no column: the run fails
	// before anything is copied, naming it.
	mustPG(t, rig.dst, "TRUNCATE orders")
	for col, want := range map[string]string{"amount": `partition_column "amount" of orders may be NULL`, "nosuch": `partition_column "nosuch" is not a column`} {
		mustExec(t, c, fmt.Sprintf("CREATE SYNC JOB bad_%s FROM src.orders TO dst.orders MODE BATCH WITH (partition_column = '%s')", col, col))
		r := runJob(t, c, "RUN SYNC JOB bad_"+col+" WAIT")
		if r.Status != "failed" || !strings.Contains(deref(r.Message), want) {
			t.Fatalf("partition_column = '%s': %s %q, want failed %q", col, r.Status, deref(r.Message), want)
		}
	}
	if n := count(t, rig.dst, "SELECT count(*) FROM orders"); n != 0 {
		t.Fatalf("a failed partition_column copied %d rows", n)
	}
}

// A MySQL or PostgreSQL table with a dense integer primary key is cut by
// its statistics' estimate, without counting it first: ranges of
// export_batch_rows keys from the smallest (a gap only makes a range
// hold fewer rows), and the progress total ends as the rows exported. A
// sparse key (the estimate fills a small part of the key width) is
// counted and cut by row numbers instead of into mostly empty ranges.
func TestBatchPartitionsFromStatistics(t *testing.T) {
	my := testbed.MySQL(t)
	myDB := my.NewDatabase(t, "pstat")
	m := my.Open(t, myDB)
	for _, s := range []string{
		"CREATE TABLE dense (id bigint PRIMARY KEY, v varchar(20))",
		"INSERT INTO dense SELECT seq + 7, CONCAT('d', seq) FROM seq_1_to_5000",
		"DELETE FROM dense WHERE id BETWEEN 1000 AND 1599",
		"CREATE TABLE sparse (id bigint PRIMARY KEY, v varchar(20))",
		"INSERT INTO sparse SELECT seq * 10007, CONCAT('s', seq) FROM seq_1_to_5000",
		"ANALYZE TABLE dense, sparse",
	} {
		if _, err := m.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tbl := range []string{"dense", "sparse"} {
		var est int64
		if err := m.QueryRow("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", tbl).Scan(&est); err != nil {
			t.Fatal(err)
		}
		if est < 2000 {
			t.Fatalf("%s: InnoDB estimates %d rows after ANALYZE TABLE, want about 5000", tbl, est)
		}
	}
	pg := testbed.Postgres(t)
	srcDB, pgDB := pg.NewDatabase(t, "pstatsrc"), pg.NewDatabase(t, "pstat")
	mustPG(t, pg.Connect(t, srcDB), "CREATE TABLE dense (id bigint PRIMARY KEY, v varchar(20))",
		"INSERT INTO dense SELECT g + 7, 'd' || g FROM generate_series(1, 5000) g", "DELETE FROM dense WHERE id BETWEEN 1000 AND 1599",
		"CREATE TABLE sparse (id bigint PRIMARY KEY, v varchar(20))", "INSERT INTO sparse SELECT g * 10007, 's' || g FROM generate_series(1, 5000) g",
		"ANALYZE dense", "ANALYZE sparse")
	dst := pg.Connect(t, pgDB)
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, mysqlDatasourceSQL("my", my, my.Password, myDB))
	mustExec(t, c, pgDS("pgsrc", pg, srcDB))
	mustExec(t, c, pgDS("pg", pg, pgDB))
	for _, src := range []string{"my", "pgsrc"} {
		for _, tc := range []struct {
			table     string
			rows      int64
			wantParts func(n int) bool
		}{
			// Keys 8..5007 less 600: ten ranges of 500 keys (counting
			// first would have made nine of 556).
			{"dense", 4400, func(n int) bool { return n == 10 }},
			// 5000 keys over 50 million: about ten ranges by row
			// numbers, not one hundred thousand of 500 keys.
			{"sparse", 5000, func(n int) bool { return n >= 5 && n <= 12 }},
		} {
			job, target := src+"_"+tc.table, src+"_"+tc.table
			mustPG(t, dst, "CREATE TABLE "+target+" (id bigint PRIMARY KEY, v varchar(20))")
			mustExec(t, c, fmt.Sprintf("CREATE SYNC JOB %s FROM %s.%s TO pg.%s MODE BATCH WITH (export_batch_rows = 500, algorithm = 'hashdiff')", job, src, tc.table, target))
			r := runJob(t, c, "RUN SYNC JOB "+job+" WAIT")
			if r.Status != "completed" {
				t.Fatalf("%s: %+v %s", job, r, deref(r.Message))
			}
			parts := rowsOf(t, c, "SELECT coalesce(lower, '-') || '|' || coalesce(upper, '-') || '|' || rows FROM dataflow.run_partitions WHERE run_id = '"+r.RunID+"' ORDER BY seq")
			t.Logf("%s partitions (lower|upper|rows): %v", job, parts)
			if !tc.wantParts(len(parts)) {
				t.Fatalf("%s: %d partitions", job, len(parts))
			}
			var sum int64
			for i, p := range parts {
				f := strings.Split(p, "|")
				n, _ := strconv.ParseInt(f[2], 10, 64)
				sum += n
				if tc.table == "dense" {
					lo, hi := strings.Trim(f[0], `[]"`), strings.Trim(f[1], `[]"`)
					if i > 0 && lo != strconv.Itoa(7+500*i+1) || i < len(parts)-1 && hi != strconv.Itoa(7+500*(i+1)+1) || n > 500 {
						t.Fatalf("%s: partition %d is %s, want keys [%d, %d) of at most 500 rows", job, i+1, p, 7+500*i+1, 7+500*(i+1)+1)
					}
				}
			}
			if sum != tc.rows || count(t, dst, "SELECT count(*) FROM "+target) != tc.rows {
				t.Fatalf("%s: partitions hold %d rows, the target %d, want %d", job, sum, count(t, dst, "SELECT count(*) FROM "+target), tc.rows)
			}
			for _, stage := range []string{"ExportTable", "ImportTable"} {
				if n := count(t, c, "SELECT total FROM dataflow.run_progress WHERE run_id = $1 AND stage = $2", r.RunID, stage); n != tc.rows {
					t.Fatalf("%s: %s's progress total is %d, want %d", job, stage, n, tc.rows)
				}
			}
		}
	}
}
