package main

// MySQL/MariaDB CDC scenarios (-only cdcmysql), on throwaway servers
// started here: a MariaDB source (binlog ROW, FULL images), a second
// MariaDB as its native replica, a third as flowgate's MariaDB target (both
// targets without binary logs of their own: a replica without
// log_slave_updates writes none either), and a PostgreSQL target.
//   - catch-up: both flowgate jobs and the replica are stopped at the same
//     binlog position while 1,000,000 row changes (70% insert, 20% update,
//     10% delete, transactions of 1,000 rows) happen at the source; then
//     the time until the target has them all: MariaDB's own replication
//     (CHANGE MASTER TO that position, START SLAVE; one SQL thread, the
//     default) against flowgate into the third MariaDB; then flowgate into
//     PostgreSQL (rows/s);
//   - steady state into PostgreSQL: 5,000 row changes per second for 60 s;
//     commit-to-applied lag of every inserted row (the target fills
//     applied_at itself), p50/p99.
// The decoder alone: go test -run X -bench Decode ./connectors/mysql/binlog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/internal/testbed"
)

const myLineitem = `CREATE TABLE lineitem (id bigint PRIMARY KEY, order_id bigint NOT NULL, qty decimal(12,2), price decimal(15,2),
	discount double, ship_date date, comment varchar(120), created_at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`

func myExecAll(ctx context.Context, db *sql.DB, stmts ...string) error {
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%.70s: %w", s, err)
		}
	}
	return nil
}

func myCount(ctx context.Context, db *sql.DB, q string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, q).Scan(&n)
	return n, err
}

// myWaitRow waits until the row with id arrives in lineitem.
func myWaitRow(ctx context.Context, db *sql.DB, id int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n, err := myCount(ctx, db, fmt.Sprintf("SELECT COUNT(*) FROM lineitem WHERE id = %d", id))
		if err != nil {
			return err
		}
		if n == 1 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("row %d did not arrive in %s", id, timeout)
}

// myMasterPos is SHOW MASTER STATUS's file and position.
func myMasterPos(ctx context.Context, db *sql.DB) (string, int64, error) {
	var file string
	var pos int64
	err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&file, &pos, new(sql.NullString), new(sql.NullString))
	return file, pos, err
}

// myContents is a count and an order-independent checksum of lineitem.
func myContents(ctx context.Context, db *sql.DB) (string, error) {
	var n, sum int64
	err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, order_id, qty, price, discount, ship_date, comment, created_at))), 0)
		FROM lineitem`).Scan(&n, &sum)
	return fmt.Sprintf("%d rows, checksum %d", n, sum), err
}

// myChangeBatches runs n transactions of 700 inserts, 200 updates and 100
// deletes; batch k touches its own id ranges, so every change is a real
// change (as changeBatches does for PostgreSQL).
func myChangeBatches(ctx context.Context, db *sql.DB, n int) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for k := 0; k < n; k++ {
		ins := 1_000_000 + int64(k)*700
		upd := int64(k)*200 + 1
		del := 200_001 + int64(k)*100
		for _, q := range []string{"BEGIN",
			fmt.Sprintf(`INSERT INTO lineitem (id, order_id, qty, price, discount, ship_date, comment)
				SELECT seq, seq DIV 4, 1.25, 99.5, 0.01, '2024-01-01', CONCAT('new ', seq) FROM seq_%d_to_%d`, ins, ins+699),
			fmt.Sprintf("UPDATE lineitem SET price = price + 1 WHERE id BETWEEN %d AND %d", upd, upd+199),
			fmt.Sprintf("DELETE FROM lineitem WHERE id BETWEEN %d AND %d", del, del+99),
			"COMMIT"} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%.60s: %w", q, err)
			}
		}
	}
	return nil
}

// mySteady runs perSec row changes each second (transactions of 50 rows:
// 35 inserts, 10 updates, 5 deletes, each sent in one round trip) for d;
// a tick that falls behind is made up at the next.
func mySteady(ctx context.Context, m *testbed.MySQLServer, perSec int, d time.Duration) error {
	cfg, err := driver.ParseDSN(m.DSNFor("bench"))
	if err != nil {
		return err
	}
	cfg.MultiStatements = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	next := int64(3_000_000_000)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	perTx := 50
	done := 0
	for time.Since(start) < d {
		<-tick.C
		due := int(time.Since(start).Seconds() * float64(perSec) / float64(perTx))
		for ; done < due; done++ {
			q := fmt.Sprintf(`BEGIN; INSERT INTO lineitem (id, order_id, qty, price, discount, ship_date, comment)
				SELECT seq, seq, 1, 1, 0, '2024-01-01', 's' FROM seq_%d_to_%d;
				UPDATE lineitem SET qty = qty + 1 WHERE id BETWEEN %d AND %d;
				DELETE FROM lineitem WHERE id BETWEEN %d AND %d; COMMIT`, next, next+34, next-500, next-491, next-1000, next-996)
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return err
			}
			next += 35
		}
	}
	fmt.Printf("  %d transactions of %d row changes in %.1fs\n", done, perTx, time.Since(start).Seconds())
	return nil
}

func cdcMySQLScenarios(ctx context.Context, g *gateway) ([]result, error) {
	fmt.Println("CDC MySQL: starting throwaway MariaDB servers (source, native replica, flowgate target) and a PostgreSQL target ...")
	common := []string{"--innodb-buffer-pool-size=512M", "--innodb-log-file-size=256M", "--max-allowed-packet=256M"}
	srv, stopSrc, err := testbed.StartMySQL(append([]string{"--server-id=1"}, common...)...)
	if err != nil {
		return nil, err
	}
	defer stopSrc()
	rep, stopRep, err := testbed.StartMySQL(append([]string{"--server-id=2", "--skip-log-bin"}, common...)...)
	if err != nil {
		return nil, err
	}
	defer stopRep()
	tgt, stopTgt, err := testbed.StartMySQL(append([]string{"--server-id=3", "--skip-log-bin"}, common...)...)
	if err != nil {
		return nil, err
	}
	defer stopTgt()
	pg, stopPG, err := testbed.StartPostgres("max_wal_size=4GB", "checkpoint_timeout=30min", "shared_buffers=256MB", "synchronous_commit=off")
	if err != nil {
		return nil, err
	}
	defer stopPG()

	open := func(m *testbed.MySQLServer, db string) (*sql.DB, error) { return sql.Open("mysql", m.DSNFor(db)) }
	srcAdmin, err := open(srv, "")
	if err != nil {
		return nil, err
	}
	defer srcAdmin.Close()
	const initial = 300_000
	if err := myExecAll(ctx, srcAdmin, "CREATE DATABASE bench"); err != nil {
		return nil, err
	}
	src, err := open(srv, "bench")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if err := myExecAll(ctx, src, myLineitem, fmt.Sprintf(`INSERT INTO lineitem (id, order_id, qty, price, discount, ship_date, comment)
		SELECT seq, seq DIV 4, (seq %% 50) + 0.25, (seq %% 100000) / 100.0 + 900, (seq %% 11) / 100.0, '1992-01-01' + INTERVAL (seq %% 2500) DAY,
		CONCAT('comment ', seq) FROM seq_1_to_%d`, initial)); err != nil {
		return nil, err
	}
	// The native replica copies everything from the first binlog file on.
	repAdmin, err := open(rep, "")
	if err != nil {
		return nil, err
	}
	defer repAdmin.Close()
	if err := myExecAll(ctx, repAdmin, fmt.Sprintf(`CHANGE MASTER TO MASTER_HOST = '%s', MASTER_PORT = %d, MASTER_USER = '%s', MASTER_PASSWORD = '%s',
		MASTER_LOG_FILE = 'binlog.000001', MASTER_LOG_POS = 4`, srv.Host, srv.Port, srv.User, srv.Password), "START SLAVE"); err != nil {
		return nil, err
	}
	tgtAdmin, err := open(tgt, "")
	if err != nil {
		return nil, err
	}
	defer tgtAdmin.Close()
	if err := myExecAll(ctx, tgtAdmin, "CREATE DATABASE bench", "CREATE TABLE bench."+strings.TrimPrefix(myLineitem, "CREATE TABLE ")); err != nil {
		return nil, err
	}
	pgAdmin, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		return nil, err
	}
	defer pgAdmin.Close(ctx)
	if err := execAll(ctx, pgAdmin, "CREATE DATABASE cdcmy"); err != nil {
		return nil, err
	}
	pgdb, err := pgx.Connect(ctx, pg.DSNFor("cdcmy"))
	if err != nil {
		return nil, err
	}
	defer pgdb.Close(ctx)
	if err := execAll(ctx, pgdb, cdcTargetTable); err != nil {
		return nil, err
	}
	fg, err := pgx.Connect(ctx, g.url)
	if err != nil {
		return nil, err
	}
	defer fg.Close(ctx)
	myOpts := func(m *testbed.MySQLServer) string {
		return fmt.Sprintf("host '%s', port '%d', database 'bench', user '%s', password '%s'", m.Host, m.Port, m.User, m.Password)
	}
	if err := execAll(ctx, fg, "CREATE DATASOURCE mysrc TYPE mysql OPTIONS ("+myOpts(srv)+")",
		"CREATE DATASOURCE mytgt TYPE mysql OPTIONS ("+myOpts(tgt)+")",
		fmt.Sprintf("CREATE DATASOURCE mypg TYPE postgres OPTIONS (host '%s', port '%d', database 'cdcmy', user '%s', password '%s')", pg.Host, pg.Port, pg.User, pg.Password),
		"CREATE SYNC JOB cdcmy_my FROM mysrc.lineitem TO mytgt.lineitem MODE CDC",
		"CREATE SYNC JOB cdcmy_pg FROM mysrc.lineitem TO mypg.public.lineitem COLUMNS (id, order_id, qty, price, discount, ship_date, comment, created_at) MODE CDC"); err != nil {
		return nil, err
	}
	fmt.Println("CDC MySQL: initial copies (native replica from the binlog, flowgate snapshots) ...")
	for _, job := range []string{"cdcmy_my", "cdcmy_pg"} {
		if _, err := fg.Exec(ctx, "RUN SYNC JOB "+job+" WAIT"); err != nil {
			return nil, err
		}
	}
	tdb, err := open(tgt, "bench")
	if err != nil {
		return nil, err
	}
	defer tdb.Close()
	rdb, err := open(rep, "bench")
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	// All three stop at the same binlog position: the replica's SQL thread
	// and both jobs' checkpoints (idle heartbeats) reach the source's.
	file, pos, err := myMasterPos(ctx, src)
	if err != nil {
		return nil, err
	}
	at := fmt.Sprintf("%s:%d", file, pos)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var execFile string
		var execPos int64
		rows, err := repAdmin.QueryContext(ctx, "SHOW SLAVE STATUS")
		if err != nil {
			return nil, err
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			for i, c := range cols {
				switch c {
				case "Relay_Master_Log_File":
					execFile = string(vals[i])
				case "Exec_Master_Log_Pos":
					fmt.Sscan(string(vals[i]), &execPos)
				}
			}
		}
		rows.Close()
		var cps []string
		crows, err := fg.Query(ctx, "SELECT coalesce(checkpoint_position, '') FROM dataflow.cdc_status WHERE job IN ('cdcmy_my', 'cdcmy_pg')")
		if err != nil {
			return nil, err
		}
		if cps, err = pgx.CollectRows(crows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
		ready := execFile == file && execPos == pos && len(cps) == 2
		for _, cp := range cps {
			ready = ready && strings.HasPrefix(cp, at+";")
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("replica (%s:%d) and jobs (%v) did not reach %s", execFile, execPos, cps, at)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, q := range []string{"STOP SYNC JOB cdcmy_my", "STOP SYNC JOB cdcmy_pg"} {
		if _, err := fg.Exec(ctx, q); err != nil {
			return nil, err
		}
	}
	if err := myExecAll(ctx, repAdmin, "STOP SLAVE",
		fmt.Sprintf("CHANGE MASTER TO MASTER_LOG_FILE = '%s', MASTER_LOG_POS = %d", file, pos)); err != nil {
		return nil, err
	}
	fmt.Printf("  all three at %s; %d row changes at the source while they are stopped ...\n", at, cdcChanges)
	t0 := time.Now()
	if err := myChangeBatches(ctx, src, cdcChanges/1000); err != nil {
		return nil, err
	}
	fmt.Printf("  done in %.1fs\n", time.Since(t0).Seconds())
	marker := int64(9_000_000_000)
	if err := myExecAll(ctx, src, fmt.Sprintf("INSERT INTO lineitem (id, order_id) VALUES (%d, 0)", marker)); err != nil {
		return nil, err
	}

	fmt.Println("baseline: MariaDB replication (START SLAVE) catches up ...")
	t0 = time.Now()
	if err := myExecAll(ctx, repAdmin, "START SLAVE"); err != nil {
		return nil, err
	}
	if err := myWaitRow(ctx, rdb, marker, 30*time.Minute); err != nil {
		return nil, err
	}
	nativeSec := time.Since(t0).Seconds()
	fmt.Printf("  %.1fs\n", nativeSec)
	fmt.Println("flowgate: RESTART SYNC JOB catches up into the MariaDB target ...")
	t0 = time.Now()
	if _, err := fg.Exec(ctx, "RESTART SYNC JOB cdcmy_my"); err != nil {
		return nil, err
	}
	if err := myWaitRow(ctx, tdb, marker, 30*time.Minute); err != nil {
		return nil, err
	}
	fgSec := time.Since(t0).Seconds()
	fmt.Printf("  %.1fs\n", fgSec)
	want, err := myContents(ctx, src)
	if err != nil {
		return nil, err
	}
	for name, db := range map[string]*sql.DB{"native replica": rdb, "flowgate target": tdb} {
		got, err := myContents(ctx, db)
		if err != nil {
			return nil, err
		}
		if got != want {
			return nil, fmt.Errorf("%s differs from the source: %s, source %s", name, got, want)
		}
	}
	fmt.Printf("  source, replica and flowgate's target equal: %s\n", want)
	if _, err := fg.Exec(ctx, "STOP SYNC JOB cdcmy_my"); err != nil {
		return nil, err
	}
	if err := myExecAll(ctx, repAdmin, "STOP SLAVE"); err != nil {
		return nil, err
	}

	fmt.Println("flowgate: RESTART SYNC JOB catches up into PostgreSQL ...")
	t0 = time.Now()
	if _, err := fg.Exec(ctx, "RESTART SYNC JOB cdcmy_pg"); err != nil {
		return nil, err
	}
	if err := waitRow(ctx, pgdb, marker, 30*time.Minute); err != nil {
		return nil, err
	}
	pgSec := time.Since(t0).Seconds()
	var n1, n2 int64
	var p1, p2 string
	if err := src.QueryRowContext(ctx, "SELECT COUNT(*), CAST(COALESCE(SUM(price), 0) AS CHAR) FROM lineitem").Scan(&n1, &p1); err != nil {
		return nil, err
	}
	if err := pgdb.QueryRow(ctx, "SELECT count(*), coalesce(sum(price), 0)::text FROM lineitem").Scan(&n2, &p2); err != nil {
		return nil, err
	}
	if n1 != n2 || p1 != p2 {
		return nil, fmt.Errorf("PostgreSQL target differs: %d rows, sum(price) %s; source %d, %s", n2, p2, n1, p1)
	}
	fmt.Printf("  %.1fs; source and PostgreSQL equal (%d rows, sum(price) %s)\n", pgSec, n1, p1)
	results := []result{
		{name: "CDC MySQL catch-up: MariaDB replication (baseline)", rows: int64(cdcChanges), seconds: nativeSec},
		{name: "CDC MySQL catch-up: flowgate MySQL->MariaDB", rows: int64(cdcChanges), seconds: fgSec, base: "native", baseSec: nativeSec, goal: "<= 1.5"},
		{name: "CDC MySQL catch-up: flowgate MySQL->PostgreSQL", rows: int64(cdcChanges), seconds: pgSec, goal: "-"},
	}

	fmt.Println("CDC MySQL: steady state into PostgreSQL, 5,000 row changes per second for 60 s ...")
	steadyFrom := time.Now()
	if err := mySteady(ctx, srv, 5000, 60*time.Second); err != nil {
		return nil, err
	}
	marker++
	if err := myExecAll(ctx, src, fmt.Sprintf("INSERT INTO lineitem (id, order_id) VALUES (%d, 0)", marker)); err != nil {
		return nil, err
	}
	if err := waitRow(ctx, pgdb, marker, 5*time.Minute); err != nil {
		return nil, err
	}
	p50, p99, n, err := lagPercentiles(ctx, pgdb, steadyFrom)
	if err != nil {
		return nil, err
	}
	fmt.Printf("steady state flowgate MySQL->PostgreSQL: %d inserted rows, commit-to-applied lag p50 %.0f ms, p99 %.0f ms\n", n, p50, p99)
	results = append(results, result{name: fmt.Sprintf("CDC MySQL steady 5k/s ->PG: lag p50 %.0f ms p99 %.0f ms", p50, p99),
		rows: n, seconds: 60, goal: "p99 < 1 s"})
	for _, q := range []string{"STOP SYNC JOB cdcmy_pg", "DROP SYNC JOB cdcmy_pg", "DROP SYNC JOB cdcmy_my"} {
		if _, err := fg.Exec(ctx, q); err != nil {
			return nil, err
		}
	}
	return results, nil
}
