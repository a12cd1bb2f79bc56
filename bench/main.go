// Command bench measures flowgate's batch pipeline against baselines run in
// the same invocation on the same machine, and prints rows/s, seconds and
// the ratio for each scenario. It needs a PostgreSQL and a MariaDB/MySQL
// server (flags or FLOWGATE_BENCH_PG / FLOWGATE_BENCH_MYSQL) and psql; the
// pgloader comparison runs when pgloader is installed.
//
//	go run ./bench            # 2,000,000 rows
//	go run ./bench -rows 10000000
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/mysql"
	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/schema"
)

var (
	rows     = flag.Int("rows", 2_000_000, "rows in the lineitem table")
	pgURL    = flag.String("pg", envOr("FLOWGATE_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL admin URL")
	myDSN    = flag.String("mysql", envOr("FLOWGATE_BENCH_MYSQL", "root@tcp(127.0.0.1:3306)/"), "MySQL/MariaDB admin DSN (go-sql-driver form)")
	only     = flag.String("only", "", "comma-separated scenarios to run (pipe,none,staged,mysql,hashdiff,scan,files,cdc,cdcmysql,mq,temporal); empty = all")
	keepData = flag.Bool("keep", false, "keep the bench databases")
)

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

const lineitemPG = `CREATE TABLE %s (id bigint PRIMARY KEY, order_id bigint NOT NULL, qty numeric(12,2), price numeric(15,2),
	discount double precision, ship_date date, ts timestamptz, comment varchar(120))`

const lineitemMy = "CREATE TABLE lineitem (id bigint PRIMARY KEY, order_id bigint NOT NULL, qty decimal(12,2), price decimal(15,2), " +
	"discount double, ship_date date, ts timestamp(6) NULL, comment varchar(120))"

type result struct {
	name    string
	rows    int64
	seconds float64
	base    string
	baseSec float64
	goal    string
	// ratio, when set, is the median of per-round ratios (paired runs),
	// printed instead of seconds / baseSec.
	ratio float64
}

func main() {
	flag.IntVar(&cdcChanges, "cdc-changes", cdcChanges, "row changes of the CDC catch-up scenario")
	flag.Parse()
	ctx := context.Background()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func want(name string) bool {
	if *only == "" {
		return true
	}
	for _, s := range strings.Split(*only, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

func run(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, *pgURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL (%s): %w", *pgURL, err)
	}
	defer admin.Close(ctx)
	for _, db := range []string{"flowgate_bench_src", "flowgate_bench_dst"} {
		admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			return err
		}
		if !*keepData {
			defer admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		}
	}
	src, err := pgx.Connect(ctx, withDB(*pgURL, "flowgate_bench_src"))
	if err != nil {
		return err
	}
	defer src.Close(ctx)
	dst, err := pgx.Connect(ctx, withDB(*pgURL, "flowgate_bench_dst"))
	if err != nil {
		return err
	}
	defer dst.Close(ctx)

	fmt.Printf("generating %d lineitem rows in PostgreSQL...\n", *rows)
	t0 := time.Now()
	if _, err := src.Exec(ctx, fmt.Sprintf(lineitemPG, "lineitem")); err != nil {
		return err
	}
	if _, err := src.Exec(ctx, fmt.Sprintf(`INSERT INTO lineitem SELECT i, i / 4, (i %% 50) + 0.25, (i %% 100000) / 100.0 + 900, (i %% 11) / 100.0,
		date '1992-01-01' + (i %% 2500), timestamptz '2020-01-01 00:00:00+00' + i * interval '1.000001 second',
		'comment for line ' || i || ' ' || repeat('x', (i %% 40)) FROM generate_series(1, %d) i`, *rows)); err != nil {
		return err
	}
	src.Exec(ctx, "VACUUM ANALYZE lineitem")
	fmt.Printf("  done in %.1fs\n", time.Since(t0).Seconds())

	g, err := startGateway(ctx)
	if err != nil {
		return err
	}
	defer g.stop()
	fg, err := pgx.Connect(ctx, g.url)
	if err != nil {
		return err
	}
	defer fg.Close(ctx)
	pgOpts := func(db string) string {
		u, _ := url.Parse(*pgURL)
		host, port, _ := net.SplitHostPort(u.Host)
		pw, _ := u.User.Password()
		return fmt.Sprintf("host '%s', port '%s', database '%s', user '%s', password '%s'", host, port, db, u.User.Username(), pw)
	}
	for _, s := range []string{
		"CREATE DATASOURCE src TYPE postgres OPTIONS (" + pgOpts("flowgate_bench_src") + ")",
		"CREATE DATASOURCE dst TYPE postgres OPTIONS (" + pgOpts("flowgate_bench_dst") + ")",
	} {
		if _, err := fg.Exec(ctx, s); err != nil {
			return err
		}
	}

	var results []result
	var pipeSec float64
	if want("pipe") || want("none") || want("staged") {
		if _, err := dst.Exec(ctx, fmt.Sprintf(lineitemPG, "lineitem_pipe")); err != nil {
			return err
		}
		fmt.Println("baseline: psql \\copy to stdout | psql \\copy from stdin ...")
		busy := machineCPU()
		if pipeSec, err = rawPipe("lineitem_pipe", ""); err != nil {
			return err
		}
		fmt.Printf("  CPU: whole machine %.1f s (of %.1f s on %d cores)\n", machineCPU()-busy, pipeSec*float64(runtime.NumCPU()), runtime.NumCPU())
		results = append(results, result{name: "raw psql \\copy pipe (baseline)", rows: int64(*rows), seconds: pipeSec})
		// The same pipe in COPY's binary format, which flowgate streams
		// in between two PostgreSQL tables of the same types: printed as
		// a reference, the baseline stays the text pipe above.
		if _, err := dst.Exec(ctx, fmt.Sprintf(lineitemPG, "lineitem_pipe_bin")); err != nil {
			return err
		}
		fmt.Println("reference: the same pipe with (format binary) ...")
		busy = machineCPU()
		binSec, err := rawPipe("lineitem_pipe_bin", " with (format binary)")
		if err != nil {
			return err
		}
		fmt.Printf("  CPU: whole machine %.1f s (of %.1f s on %d cores)\n", machineCPU()-busy, binSec*float64(runtime.NumCPU()), runtime.NumCPU())
		results = append(results, result{name: "raw psql \\copy pipe, binary format (reference)", rows: int64(*rows), seconds: binSec, base: "raw pipe", baseSec: pipeSec, goal: "-"})
		// Two such pipes at once, each half of the keys: what PostgreSQL
		// itself gives two concurrent COPYs into one table here.
		if _, err := dst.Exec(ctx, fmt.Sprintf(lineitemPG, "lineitem_pipe_bin2")); err != nil {
			return err
		}
		fmt.Println("reference: two binary pipes at once, half of the keys each ...")
		busy = machineCPU()
		start := time.Now()
		half := *rows / 2
		errs := make(chan error, 2)
		for _, q := range []string{fmt.Sprintf("(SELECT * FROM lineitem WHERE id <= %d)", half), fmt.Sprintf("(SELECT * FROM lineitem WHERE id > %d)", half)} {
			go func() {
				_, err := rawPipeOf(q, "lineitem_pipe_bin2", " with (format binary)")
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				return err
			}
		}
		twoSec := time.Since(start).Seconds()
		fmt.Printf("  CPU: whole machine %.1f s (of %.1f s on %d cores)\n", machineCPU()-busy, twoSec*float64(runtime.NumCPU()), runtime.NumCPU())
		results = append(results, result{name: "raw binary pipes, 2 at once (reference)", rows: int64(*rows), seconds: twoSec, base: "raw pipe", baseSec: pipeSec, goal: "-"})
	}
	job := func(name, table, with string, goal string) error {
		if _, err := dst.Exec(ctx, fmt.Sprintf(lineitemPG, table)); err != nil {
			return err
		}
		if _, err := fg.Exec(ctx, fmt.Sprintf("CREATE SYNC JOB %s FROM src.lineitem TO dst.%s MODE BATCH WITH (%s)", table, table, with)); err != nil {
			return err
		}
		fmt.Printf("flowgate: %s ...\n", name)
		busy, cpu := machineCPU(), meterCPU(g)
		sec, n, err := runWait(ctx, fg, table)
		if err != nil {
			return err
		}
		fmt.Printf("  %s; whole machine %.1f s (of %.1f s on %d cores)\n", cpu, machineCPU()-busy, sec*float64(runtime.NumCPU()), runtime.NumCPU())
		results = append(results, result{name: name, rows: n, seconds: sec, base: "raw pipe", baseSec: pipeSec, goal: goal})
		return nil
	}
	if want("none") {
		// Partition scaling: the same copy with 1, 2 and 4 partitions
		// streamed at once (parallel_export), each partition its own COPY
		// pair and target transaction.
		for _, n := range []int{1, 2, 4} {
			goal := "-"
			if n > 1 {
				goal = "<= 0.8"
			}
			if err := job(fmt.Sprintf("PG->PG staging='none', %d partition(s) at once", n), fmt.Sprintf("lineitem_none%d", n),
				fmt.Sprintf("staging = 'none', algorithm = 'none', parallel_export = %d", n), goal); err != nil {
				return err
			}
		}
	}
	if want("staged") {
		if err := job("PG->PG staged zstd csv + countdiff, 2 partitions at once", "lineitem_staged", "compression = 'zstd', algorithm = 'countdiff', parallel_export = 2", "<= 2.0"); err != nil {
			return err
		}
	}
	if want("mysql") || want("hashdiff") {
		rs, err := mysqlScenarios(ctx, fg, dst, pipeSec, g.cmd.Process.Pid)
		if err != nil {
			return err
		}
		results = append(results, rs...)
	}
	if want("scan") {
		rs, err := scanScenarios(ctx, fg, src, dst)
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		results = append(results, rs...)
	}
	if want("files") {
		rs, err := filesScenarios(ctx, fg)
		if err != nil {
			return fmt.Errorf("files: %w", err)
		}
		results = append(results, rs...)
	}
	if want("cdc") {
		rs, err := cdcScenarios(ctx, g)
		if err != nil {
			return fmt.Errorf("cdc: %w", err)
		}
		results = append(results, rs...)
	}
	if want("cdcmysql") {
		rs, err := cdcMySQLScenarios(ctx, g)
		if err != nil {
			return fmt.Errorf("cdcmysql: %w", err)
		}
		results = append(results, rs...)
	}
	if want("temporal") {
		rs, err := temporalScenarios(ctx, g, fg, dst, pgOpts)
		if err != nil {
			return fmt.Errorf("temporal: %w", err)
		}
		results = append(results, rs...)
	}
	if want("mq") {
		rs, err := mqScenarios(ctx, g)
		if err != nil {
			return fmt.Errorf("mq: %w", err)
		}
		results = append(results, rs...)
	}
	rss := g.peakRSS()

	fmt.Printf("\n%d rows, %s\n", *rows, time.Now().Format(time.RFC3339))
	fmt.Printf("%-52s %12s %10s %14s %8s %s\n", "scenario", "rows/s", "seconds", "vs", "ratio", "goal")
	for _, r := range results {
		ratio := "-"
		switch {
		case r.ratio > 0:
			ratio = fmt.Sprintf("%.2f", r.ratio)
		case r.baseSec > 0:
			ratio = fmt.Sprintf("%.2f", r.seconds/r.baseSec)
		}
		fmt.Printf("%-52s %12.0f %10.2f %14s %8s %s\n", r.name, float64(r.rows)/r.seconds, r.seconds, r.base, ratio, r.goal)
	}
	fmt.Printf("gateway peak RSS: %.0f MB (goal < 300 MB at 10M rows)\n", float64(rss)/1024)
	return nil
}

func withDB(u, db string) string {
	p, _ := url.Parse(u)
	p.Path = "/" + db
	return p.String()
}

// rawPipe is the baseline: psql's \copy out piped into psql's \copy in.
func rawPipe(table, with string) (float64, error) { return rawPipeOf("lineitem", table, with) }

// rawPipeOf pipes src (a table, or a query in parentheses) into table.
func rawPipeOf(src, table, with string) (float64, error) {
	out := exec.Command("psql", withDB(*pgURL, "flowgate_bench_src"), "-X", "-q", "-c", `\copy `+src+` to stdout`+with)
	in := exec.Command("psql", withDB(*pgURL, "flowgate_bench_dst"), "-X", "-q", "-c", `\copy `+table+` from stdin`+with)
	pipe, err := out.StdoutPipe()
	if err != nil {
		return 0, err
	}
	in.Stdin = pipe
	in.Stderr, out.Stderr = os.Stderr, os.Stderr
	t := time.Now()
	if err := out.Start(); err != nil {
		return 0, fmt.Errorf("psql (is it installed?): %w", err)
	}
	if err := in.Run(); err != nil {
		return 0, fmt.Errorf("psql copy in: %w", err)
	}
	if err := out.Wait(); err != nil {
		return 0, fmt.Errorf("psql copy out: %w", err)
	}
	return time.Since(t).Seconds(), nil
}

// runWait runs a job with WAIT and returns seconds and rows written; a run
// that does not complete is an error.
func runWait(ctx context.Context, fg *pgx.Conn, job string) (float64, int64, error) {
	sec, n, _, status, err := runJobWait(ctx, fg, job)
	if err == nil && status != "completed" {
		err = fmt.Errorf("job %s ended %s", job, status)
	}
	if err != nil {
		return 0, 0, err
	}
	return sec, n, nil
}

// runJobWait runs a job with WAIT, prints its stage times and returns
// seconds, rows written, run id and status; only a failed run is an error.
func runJobWait(ctx context.Context, fg *pgx.Conn, job string) (float64, int64, string, string, error) {
	t := time.Now()
	var status string
	var written int64
	var msg *string
	row := fg.QueryRow(ctx, "RUN SYNC JOB "+job+" WAIT")
	var vals []any
	var runID, jobName, trig string
	var started time.Time
	var finished *time.Time
	var read, bytes int64
	vals = append(vals, &runID, &jobName, &status, &trig, &started, &finished, &read, &written, &bytes, &msg)
	if err := row.Scan(vals...); err != nil {
		return 0, 0, "", "", err
	}
	sec := time.Since(t).Seconds()
	// Each stage's start (from the run's) and length: the gaps are the
	// run's own work (planning, partitioning, keys) between stages.
	if rows, err := fg.Query(ctx, `SELECT s.stage, extract(epoch FROM s.started_at - r.started_at)::float8, extract(epoch FROM s.finished_at - s.started_at)::float8,
			extract(epoch FROM r.finished_at - r.started_at)::float8
		FROM dataflow.run_stages s JOIN dataflow.runs r USING (run_id)
		WHERE run_id = $1 AND s.finished_at IS NOT NULL ORDER BY s.task_id, s.started_at`, runID); err == nil {
		var parts []string
		var runSec float64
		for rows.Next() {
			var st string
			var at, s float64
			rows.Scan(&st, &at, &s, &runSec)
			parts = append(parts, fmt.Sprintf("%s +%.2fs %.2fs", st, at, s))
		}
		rows.Close()
		fmt.Printf("  %.2fs total (the run %.2fs); stages (start, length): %s\n", sec, runSec, strings.Join(parts, ", "))
	}
	if status != "completed" && status != "data_inconsistent" {
		m := ""
		if msg != nil {
			m = *msg
		}
		return 0, 0, runID, status, fmt.Errorf("job %s ended %s: %s", job, status, m)
	}
	return sec, written, runID, status, nil
}

// stageSeconds reads how long a stage of a job's last run took.
func stageSeconds(ctx context.Context, fg *pgx.Conn, job, stage string) (float64, error) {
	var s float64
	err := fg.QueryRow(ctx, `SELECT extract(epoch FROM s.finished_at - s.started_at) FROM dataflow.run_stages s
		JOIN dataflow.runs r ON r.run_id = s.run_id WHERE r.job = $1 AND s.stage = $2 ORDER BY r.started_at DESC LIMIT 1`, job, stage).Scan(&s)
	return s, err
}

// mysqlScenarios loads lineitem into MySQL and measures MySQL->PG and
// hashdiff PG<->MySQL.
func mysqlScenarios(ctx context.Context, fg *pgx.Conn, dst *pgx.Conn, pipeSec float64, gatewayPID int) ([]result, error) {
	admin, err := sql.Open("mysql", *myDSN)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	admin.Exec("DROP DATABASE IF EXISTS flowgate_bench")
	if _, err := admin.Exec("CREATE DATABASE flowgate_bench"); err != nil {
		return nil, fmt.Errorf("MySQL (%s): %w", *myDSN, err)
	}
	if !*keepData {
		defer admin.Exec("DROP DATABASE IF EXISTS flowgate_bench")
	}
	cfg, err := mysqlConfig(*myDSN)
	if err != nil {
		return nil, err
	}
	my, err := sql.Open("mysql", strings.Replace(*myDSN, ")/", ")/flowgate_bench", 1))
	if err != nil {
		return nil, err
	}
	defer my.Close()
	if _, err := my.Exec(lineitemMy); err != nil {
		return nil, err
	}
	if _, err := fg.Exec(ctx, fmt.Sprintf("CREATE DATASOURCE my TYPE mysql OPTIONS (host '%s', port '%s', database 'flowgate_bench', user '%s', password '%s')",
		cfg.host, cfg.port, cfg.user, cfg.password)); err != nil {
		return nil, err
	}
	// Fill MySQL through flowgate itself (PG -> MySQL, no verification).
	if _, err := fg.Exec(ctx, "CREATE SYNC JOB fill_my FROM src.lineitem TO my.lineitem MODE BATCH WITH (staging = 'none', algorithm = 'none')"); err != nil {
		return nil, err
	}
	fmt.Println("flowgate: PG->MySQL (filling MySQL for the next scenarios) ...")
	fillSec, fillRows, err := runWait(ctx, fg, "fill_my")
	if err != nil {
		return nil, err
	}
	out := []result{{name: "PG->MySQL staging='none' (setup)", rows: fillRows, seconds: fillSec, base: "raw pipe", baseSec: pipeSec, goal: "-"}}

	if want("mysql") {
		r, err := mysqlToPG(ctx, fg, dst, cfg, gatewayPID)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if want("hashdiff") {
		pgSrc, err := postgres.Open(map[string]string{"host": hostOf(*pgURL), "port": portOf(*pgURL), "database": "flowgate_bench_src", "user": userOf(*pgURL), "password": passOf(*pgURL), "schema": "public", "sslmode": "disable"})
		if err != nil {
			return nil, err
		}
		defer pgSrc.Close()
		myC, err := mysql.Open(map[string]string{"host": cfg.host, "port": cfg.port, "database": "flowgate_bench", "user": cfg.user, "password": cfg.password})
		if err != nil {
			return nil, err
		}
		defer myC.Close()
		base, err := fullChecksums(ctx, pgSrc.(data.Checksummer), myC.(data.Checksummer), pgSrc.(schema.Introspector), myC.(schema.Introspector))
		if err != nil {
			return nil, fmt.Errorf("baseline checksum: %w", err)
		}
		// Identical rows: a verification-only job (PG source, MySQL target
		// already filled; nothing exported because of WHERE, the target
		// compared whole) would compare 0 against 2M; instead verify
		// MySQL->PG into a fresh table and time the TableDataDiff stage.
		if _, err := dst.Exec(ctx, fmt.Sprintf(lineitemPG, "lineitem_hd")); err != nil {
			return nil, err
		}
		fg.Exec(ctx, "CREATE SYNC JOB lineitem_hd FROM my.lineitem TO dst.lineitem_hd MODE BATCH WITH (staging = 'none', algorithm = 'hashdiff', threads = 2)")
		fmt.Println("flowgate: MySQL->PG + hashdiff of identical rows ...")
		if _, _, err := runWait(ctx, fg, "lineitem_hd"); err != nil {
			return nil, err
		}
		sec, err := stageSeconds(ctx, fg, "lineitem_hd", "TableDataDiff")
		if err != nil {
			return nil, err
		}
		out = append(out, result{name: "hashdiff MySQL<->PG, identical", rows: int64(*rows), seconds: sec, base: "full checksum", baseSec: base, goal: "<= 1.5"})
		// 100 scattered differences, made by a trigger as rows load.
		step := max(1, *rows/100)
		dst.Exec(ctx, fmt.Sprintf(lineitemPG, "lineitem_hd100"))
		dst.Exec(ctx, fmt.Sprintf(`CREATE FUNCTION drift() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id %% %d = 7 THEN NEW.qty := NEW.qty + 1; END IF; RETURN NEW; END $$`, step))
		dst.Exec(ctx, `CREATE TRIGGER drift BEFORE INSERT ON lineitem_hd100 FOR EACH ROW EXECUTE FUNCTION drift()`)
		fg.Exec(ctx, "CREATE SYNC JOB lineitem_hd100 FROM my.lineitem TO dst.lineitem_hd100 MODE BATCH WITH (staging = 'none', algorithm = 'hashdiff', threads = 2)")
		fmt.Println("flowgate: MySQL->PG + hashdiff with 100 differences ...")
		_, _, runID, status, err := runJobWait(ctx, fg, "lineitem_hd100")
		if err != nil {
			return nil, err
		}
		var found int64
		fg.QueryRow(ctx, "SELECT count(DISTINCT key) FROM dataflow.run_diffs WHERE run_id = $1", runID).Scan(&found)
		sec, err = stageSeconds(ctx, fg, "lineitem_hd100", "TableDataDiff")
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("hashdiff MySQL<->PG, 100 differences (found %d, %s)", found, status)
		out = append(out, result{name: name, rows: int64(*rows), seconds: sec, base: "full checksum", baseSec: base, goal: "<= 2.5"})
	}
	return out, nil
}

// fullChecksums runs one whole-table checksum on both sides at once.
func fullChecksums(ctx context.Context, a, b data.Checksummer, ai, bi schema.Introspector) (float64, error) {
	specFor := func(in schema.Introspector, sch string) (data.ChecksumSpec, error) {
		ts, err := in.DescribeTables(ctx, sch, []string{"lineitem"})
		if err != nil {
			return data.ChecksumSpec{}, err
		}
		t := ts[0]
		key, _ := t.Column("id")
		return data.ChecksumSpec{Schema: sch, Table: "lineitem", Key: []schema.Column{*key}, Columns: t.Columns, TimeZone: "UTC"}, nil
	}
	sa, err := specFor(ai, "")
	if err != nil {
		return 0, err
	}
	sb, err := specFor(bi, "")
	if err != nil {
		return 0, err
	}
	t := time.Now()
	var wg sync.WaitGroup
	var e1, e2 error
	var s1, s2 data.Sum
	wg.Add(2)
	go func() { defer wg.Done(); s1, e1 = a.Checksum(ctx, sa) }()
	go func() { defer wg.Done(); s2, e2 = b.Checksum(ctx, sb) }()
	wg.Wait()
	if e1 != nil {
		return 0, e1
	}
	if e2 != nil {
		return 0, e2
	}
	if s1 != s2 {
		fmt.Printf("  note: baseline checksums differ (%v vs %v)\n", s1, s2)
	}
	return time.Since(t).Seconds(), nil
}

type myCfg struct{ host, port, user, password string }

func mysqlConfig(dsn string) (myCfg, error) {
	// user[:password]@tcp(host:port)/
	at := strings.LastIndex(dsn, "@tcp(")
	if at < 0 {
		return myCfg{}, fmt.Errorf("MySQL DSN must look like user[:password]@tcp(host:port)/")
	}
	cred := dsn[:at]
	addr := dsn[at+5 : strings.Index(dsn, ")")]
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return myCfg{}, err
	}
	user, pw, _ := strings.Cut(cred, ":")
	return myCfg{host: host, port: port, user: user, password: pw}, nil
}

// mysqlRounds: rounds of the MySQL->PG scenario. One run of each tool
// differs by 30 % and more here, and whichever runs second used to meet
// the first's aftermath (the autovacuum of 2,000,000 new rows, the
// checkpoint of their WAL), so each round runs both, each after the
// other's table is gone and a CHECKPOINT, in alternating order, and the
// ratio printed is the median of the rounds' own.
var mysqlRounds = flag.Int("mysql-rounds", 3, "rounds of the mysql scenario (flowgate and pgloader in turn)")

// mysqlToPG copies MariaDB's lineitem into PostgreSQL staged (zstd CSV)
// with flowgate and with pgloader, in rounds (see mysqlRounds).
func mysqlToPG(ctx context.Context, fg, dst *pgx.Conn, cfg myCfg, gatewayPID int) (result, error) {
	pl, lookErr := exec.LookPath("pgloader")
	if lookErr != nil {
		fmt.Println("  pgloader is not installed (apt-get install pgloader): no ratio for this scenario")
	}
	var fgSec, plSec, ratios []float64
	var rows int64
	for r := 1; r <= max(1, *mysqlRounds); r++ {
		steps := []string{"flowgate", "pgloader"}
		if r%2 == 0 {
			steps = []string{"pgloader", "flowgate"}
		}
		var f, p float64
		for _, step := range steps {
			table := fmt.Sprintf("lineitem_my%d", r)
			if step == "pgloader" {
				if pl == "" {
					continue
				}
				table = "lineitem_pgloader"
			}
			if _, err := dst.Exec(ctx, fmt.Sprintf(lineitemPG, table)); err != nil {
				return result{}, err
			}
			if _, err := dst.Exec(ctx, "CHECKPOINT"); err != nil {
				return result{}, err
			}
			cpu := startServerCPU()
			if step == "flowgate" {
				if _, err := fg.Exec(ctx, fmt.Sprintf("CREATE SYNC JOB %s FROM my.lineitem TO dst.%s MODE BATCH WITH (algorithm = 'none')", table, table)); err != nil {
					return result{}, err
				}
				fmt.Printf("flowgate: round %d: MySQL->PG staged ...\n", r)
				gw0 := procCPU(gatewayPID)
				sec, n, err := runWait(ctx, fg, table)
				if err != nil {
					return result{}, err
				}
				fmt.Printf("  CPU: gateway %.1f s, %s (of %.1f s)\n", procCPU(gatewayPID)-gw0, cpu, sec*float64(runtime.NumCPU()))
				f, rows = sec, n
			} else {
				fmt.Printf("baseline: round %d: pgloader MySQL->PG ...\n", r)
				sec, plCPU, err := runPgloader(pl, cfg)
				if err != nil {
					return result{}, fmt.Errorf("pgloader: %w", err)
				}
				fmt.Printf("  %.2fs; CPU: pgloader %.1f s, %s (of %.1f s)\n", sec, plCPU, cpu, sec*float64(runtime.NumCPU()))
				p = sec
			}
			if _, err := dst.Exec(ctx, "DROP TABLE "+table); err != nil {
				return result{}, err
			}
		}
		fgSec = append(fgSec, f)
		if p > 0 {
			plSec, ratios = append(plSec, p), append(ratios, f/p)
			fmt.Printf("  round %d: flowgate %.2f x pgloader\n", r, f/p)
		}
	}
	res := result{name: fmt.Sprintf("MySQL->PG staged zstd csv (median of %d)", len(fgSec)), rows: rows, seconds: median(fgSec), goal: "<= 0.5 x pgloader", base: "pgloader n/a"}
	if len(ratios) > 0 {
		res.base, res.baseSec, res.ratio = "pgloader", median(plSec), median(ratios)
	}
	return res, nil
}

func runPgloader(bin string, c myCfg) (sec, cpu float64, err error) {
	dir, err := os.MkdirTemp("", "flowgate-pgloader-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	pw := ""
	if c.password != "" {
		pw = ":" + c.password
	}
	load := fmt.Sprintf(`LOAD DATABASE FROM mysql://%s%s@%s:%s/flowgate_bench INTO %s
WITH data only, truncate, workers = 2, concurrency = 1
INCLUDING ONLY TABLE NAMES MATCHING 'lineitem'
ALTER TABLE NAMES MATCHING 'lineitem' RENAME TO 'lineitem_pgloader'
ALTER SCHEMA 'flowgate_bench' RENAME TO 'public';
`, c.user, pw, c.host, c.port, withDB(*pgURL, "flowgate_bench_dst"))
	f := filepath.Join(dir, "load.load")
	if err := os.WriteFile(f, []byte(load), 0o600); err != nil {
		return 0, 0, err
	}
	t := time.Now()
	cmd := exec.Command(bin, f)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("%v: %s", err, out)
	}
	return time.Since(t).Seconds(), (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(), nil
}

func hostOf(u string) string { p, _ := url.Parse(u); h, _, _ := net.SplitHostPort(p.Host); return h }
func portOf(u string) string {
	p, _ := url.Parse(u)
	_, port, _ := net.SplitHostPort(p.Host)
	return port
}
func userOf(u string) string { p, _ := url.Parse(u); return p.User.Username() }
func passOf(u string) string { p, _ := url.Parse(u); pw, _ := p.User.Password(); return pw }

// gateway is a flowgate process started for the bench.
type gateway struct {
	cmd *exec.Cmd
	dir string
	url string
}

func startGateway(ctx context.Context) (*gateway, error) {
	dir, err := os.MkdirTemp("", "flowgate-bench-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "flowgate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/flowgate")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build flowgate: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--catalog", filepath.Join(dir, "flowgate.db"),
		"--staging-dir", filepath.Join(dir, "staging"), "--metrics-listen", "", "--log-level", envOr("FLOWGATE_BENCH_LOG_LEVEL", "warn"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gateway{cmd: cmd, dir: dir, url: fmt.Sprintf("postgres://admin@127.0.0.1:%d/flowgate?sslmode=disable", port)}
	for i := 0; i < 300; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return g, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.stop()
	return nil, fmt.Errorf("flowgate did not start")
}

// peakRSS is VmHWM of the gateway in KiB.
func (g *gateway) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

func (g *gateway) stop() {
	g.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { g.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		g.cmd.Process.Kill()
	}
	os.RemoveAll(g.dir)
}
