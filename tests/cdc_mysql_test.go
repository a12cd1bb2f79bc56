package tests

// CDC from MySQL/MariaDB (row binlog) through the real binary, against the
// testbed's MariaDB as source: into PostgreSQL, a second MariaDB and SQLite.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
)

const myOrdersDDL = `CREATE TABLE orders (id bigint PRIMARY KEY, customer varchar(40), qty int NOT NULL DEFAULT 0,
	price decimal(12,2), note text, placed datetime(6))`

const pgOrdersDDL = `CREATE TABLE orders (id bigint PRIMARY KEY, customer text, qty int NOT NULL DEFAULT 0,
	price numeric(12,2), note text, placed timestamp(6))`

const (
	myOrdersQuery = `SELECT id, customer, qty, price, note, DATE_FORMAT(placed, '%Y-%m-%d %H:%i:%s.%f') FROM orders ORDER BY id`
	pgOrdersQuery = `SELECT id, customer, qty, price, note, to_char(placed, 'YYYY-MM-DD HH24:MI:SS.US') FROM orders ORDER BY id`
)

// mustMy runs statements on a MySQL connection pool.
func mustMy(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// myTx runs statements in one MySQL transaction.
func myTx(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(s); err != nil {
			tx.Rollback()
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// myWorkload changes orders from several sessions until stop closes:
// inserts, updates, deletes, key changes and multi-row statements, ids
// drawn from [lo, hi).
func myWorkload(t testing.TB, db *sql.DB, sessions, lo, hi int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(s) + time.Now().UnixNano()))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := lo + r.Intn(hi-lo)
				var q string
				switch k := r.Intn(12); {
				case k < 5:
					q = fmt.Sprintf(`INSERT INTO orders VALUES (%d, 'c%d', %d, %d.25, 'n', NOW(6)) ON DUPLICATE KEY UPDATE qty = qty + 1`, id, i, i, i)
				case k < 8:
					q = fmt.Sprintf(`UPDATE orders SET qty = qty + 1, note = 'u%d' WHERE id = %d`, i, id)
				case k < 9:
					q = fmt.Sprintf(`DELETE FROM orders WHERE id = %d`, id)
				case k < 10: // move a row to a free key
					q = fmt.Sprintf(`UPDATE IGNORE orders SET id = %d WHERE id = %d`, id+hi, id)
				case k < 11: // a multi-row insert
					q = fmt.Sprintf(`INSERT IGNORE INTO orders (id, customer, qty) VALUES (%d, 'm', 1), (%d, 'm', 2), (%d, 'm', 3)`, id, id+1, id+2)
				default: // multi-row update and delete
					q = fmt.Sprintf(`UPDATE orders SET price = price + 1 WHERE id BETWEEN %d AND %d`, id, id+20)
				}
				if _, err := db.Exec(q); err != nil {
					t.Errorf("workload: %s: %v", q, err)
					return
				}
			}
		}()
	}
	return &wg
}

// myRig is a source database on the testbed's MariaDB and a target
// database on its PostgreSQL, with a gateway that has datasources src
// and dst for them.
type myRig struct {
	my           *testbed.MySQLServer
	pg           *testbed.PG
	srcDB, dstDB string
	src          *sql.DB
	dst          *pgx.Conn
}

func newMyRig(t testing.TB, prefix string) *myRig {
	t.Helper()
	r := &myRig{my: testbed.MySQL(t), pg: testbed.Postgres(t)}
	r.srcDB, r.dstDB = r.my.NewDatabase(t, prefix+"src"), r.pg.NewDatabase(t, prefix+"dst")
	r.src, r.dst = r.my.Open(t, r.srcDB), r.pg.Connect(t, r.dstDB)
	return r
}

func (r *myRig) start(t testing.TB) (*gateway, *pgx.Conn) {
	t.Helper()
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, mysqlDatasourceSQL("src", r.my, r.my.Password, r.srcDB))
	mustExec(t, c, pgDS("dst", r.pg, r.dstDB))
	return g, c
}

var binlogPosition = regexp.MustCompile(`^binlog\.\d{6}:\d+;gtid=0-1-\d+$`)

// MySQL (MariaDB) to PostgreSQL, a database job: the snapshot while
// sessions write, then inserts, updates, deletes, key changes and
// multi-row statements; a transfer between two tables is atomic at the
// target; a rolled-back transaction never arrives; a binlog rotation
// mid-stream; cdc_status shows file:pos and the GTID; STOP, RESTART (no
// snapshot, nothing lost), RESTART FROM SNAPSHOT, DROP.
func TestCDCMySQLToPostgres(t *testing.T) {
	ctx := context.Background()
	r := newMyRig(t, "cdcmy")
	mustMy(t, r.src, myOrdersDDL, "INSERT INTO orders SELECT seq, CONCAT('c', seq), seq % 7, seq * 1.5, NULL, '2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_20000",
		"CREATE TABLE checking (id int PRIMARY KEY, balance bigint NOT NULL)", "CREATE TABLE savings (id int PRIMARY KEY, balance bigint NOT NULL)",
		"INSERT INTO checking SELECT seq, 1000 FROM seq_1_to_50", "INSERT INTO savings SELECT seq, 1000 FROM seq_1_to_50")
	mustPG(t, r.dst, pgOrdersDDL, "CREATE TABLE checking (id int PRIMARY KEY, balance bigint NOT NULL)",
		"CREATE TABLE savings (id int PRIMARY KEY, balance bigint NOT NULL)")
	_, c := r.start(t)

	stop := make(chan struct{})
	wg := myWorkload(t, r.src, 3, 1, 25000, stop)
	mustExec(t, c, "CREATE SYNC JOB shop_rt FROM DATABASE src TO DATABASE dst SCHEMA public MODE CDC WITH (parallelism = 2)")
	run := runJob(t, c, "RUN SYNC JOB shop_rt WAIT")
	if run.Status != "running" {
		t.Fatalf("after RUN ... WAIT the run is %s: %s", run.Status, deref(run.Message))
	}
	time.Sleep(time.Second)
	mustMy(t, r.src, "FLUSH BINARY LOGS") // rotation mid-stream, while sessions write
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	src := func() []string { return sqlRows(t, r.src, myOrdersQuery) }
	dst := func() []string { return rowsOf(t, r.dst, pgOrdersQuery) }
	waitSame(t, 30*time.Second, "after the workload", src, dst)
	var stages []string
	rows, err := c.Query(ctx, "SELECT DISTINCT stage || ':' || status FROM dataflow.run_stages WHERE run_id = $1 ORDER BY 1", run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if stages, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if strings.Join(stages, ",") != "Snapshot:completed,Stream:running" {
		t.Fatalf("stages %v", stages)
	}
	st := getCDCStatus(t, c, "shop_rt")
	if st.Status != "running" || st.SnapshotRows < 20100 || st.Inserts == 0 || st.Updates == 0 || st.Deletes == 0 ||
		!binlogPosition.MatchString(st.SourcePos) || !binlogPosition.MatchString(st.CheckpointPos) || st.Lag == nil {
		t.Fatalf("cdc_status: %+v", st)
	}

	// Transfers between two tables: a reader of the target never sees
	// half of one. A rolled-back transaction never arrives.
	var torn, reads atomic.Int64
	rstop, rdone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(rdone)
		rc, err := pgx.Connect(ctx, r.pg.DSNFor(r.dstDB))
		if err != nil {
			t.Errorf("reader: %v", err)
			return
		}
		defer rc.Close(ctx)
		for {
			select {
			case <-rstop:
				return
			default:
			}
			var sum int64
			if err := rc.QueryRow(ctx, "SELECT (SELECT sum(balance) FROM checking) + (SELECT sum(balance) FROM savings)").Scan(&sum); err != nil {
				t.Errorf("reader: %v", err)
				return
			}
			reads.Add(1)
			if sum != 100*1000 {
				torn.Add(1)
			}
		}
	}()
	waitFor(t, 10*time.Second, "the reader", func() bool { return reads.Load() > 0 })
	for i := 0; i < 300; i++ {
		a, b := 1+i%50, 1+(i*7)%50
		time.Sleep(2 * time.Millisecond)
		myTx(t, r.src, fmt.Sprintf("UPDATE checking SET balance = balance - 5 WHERE id = %d", a), fmt.Sprintf("UPDATE savings SET balance = balance + 5 WHERE id = %d", b))
		if i == 100 {
			tx, err := r.src.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("INSERT INTO orders (id, customer) VALUES (777777, 'rolled back')"); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("UPDATE checking SET balance = 0"); err != nil {
				t.Fatal(err)
			}
			tx.Rollback()
		}
	}
	for _, tb := range []string{"checking", "savings"} {
		waitSame(t, 20*time.Second, tb, func() []string { return sqlRows(t, r.src, "SELECT * FROM "+tb+" ORDER BY id") },
			func() []string { return rowsOf(t, r.dst, "SELECT * FROM "+tb+" ORDER BY id") })
	}
	close(rstop)
	<-rdone
	if torn.Load() != 0 || reads.Load() < 20 {
		t.Fatalf("%d of %d reads saw half a transfer", torn.Load(), reads.Load())
	}
	if n := count(t, r.dst, "SELECT count(*) FROM orders WHERE id = 777777"); n != 0 {
		t.Fatal("the rolled-back insert arrived")
	}

	// Idle: writes the job does not capture (another database) still move
	// the checkpoint to the server's position, by heartbeats.
	other := r.my.NewDatabase(t, "cdcmyother")
	mustMy(t, r.src, "CREATE TABLE `"+other+"`.t (id int PRIMARY KEY)", "INSERT INTO `"+other+"`.t VALUES (1), (2)")
	var file string
	var pos int64
	if err := r.src.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, new(string), new(string)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the checkpoint to reach the server's position", func() bool {
		cp := getCDCStatus(t, c, "shop_rt").CheckpointPos
		return strings.HasPrefix(cp, fmt.Sprintf("%s:%d;", file, pos))
	})

	// STOP, changes while stopped, RESTART: no snapshot, nothing lost.
	stopRun := runJob(t, c, "STOP SYNC JOB shop_rt")
	if stopRun.Status != "terminated" || deref(stopRun.Message) != "execution terminated gracefully" {
		t.Fatalf("STOP: %s %q", stopRun.Status, deref(stopRun.Message))
	}
	mustMy(t, r.src, "INSERT INTO orders VALUES (900001, 'while stopped', 1, 1, NULL, NOW(6))",
		"UPDATE orders SET id = 900002 WHERE id = 900001", "DELETE FROM orders WHERE id BETWEEN 100 AND 110")
	restart := runJob(t, c, "RESTART SYNC JOB shop_rt")
	waitSame(t, 20*time.Second, "after RESTART", src, dst)
	var snap string
	mustScan(t, c.QueryRow(ctx, "SELECT status FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'Snapshot' LIMIT 1", restart.RunID), &snap)
	if snap != "skipped" {
		t.Fatalf("RESTART took a snapshot: stage %s", snap)
	}

	// RESTART FROM SNAPSHOT copies again; a row changed only at the
	// target goes back to the source's value.
	runJob(t, c, "STOP SYNC JOB shop_rt")
	mustPG(t, r.dst, "UPDATE orders SET customer = 'target only' WHERE id = 5")
	fresh := runJob(t, c, "RESTART SYNC JOB shop_rt FROM SNAPSHOT")
	waitSame(t, 30*time.Second, "after RESTART FROM SNAPSHOT", src, dst)
	// Every table's Snapshot stage completes (the one compared above may
	// finish before the others are recorded).
	var statuses string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var open, all int64
		mustScan(t, c.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status <> 'completed'), count(*), string_agg(status, ',')
			FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'Snapshot'`, fresh.RunID), &open, &all, &statuses)
		if all > 0 && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RESTART FROM SNAPSHOT: Snapshot stages %s", statuses)
		}
	}
	runJob(t, c, "STOP SYNC JOB shop_rt")
	mustExec(t, c, "DROP SYNC JOB shop_rt")
}

const myKindsDDL = `CREATE TABLE kinds (id int PRIMARY KEY, bu bigint unsigned, dec1 decimal(65,30), tm time(6), dt datetime(6),
	ts timestamp(6) NULL, u8 varchar(60), l1 varchar(60) CHARACTER SET latin1, bl blob, e enum('s','m','l'), st set('a','b','c'),
	b64 bit(64), j json, flag tinyint(1), f double, y year, d date)`

// allByteValues is the 256 byte values in hex.
var allByteValues = func() string {
	var b strings.Builder
	for i := range 256 {
		fmt.Fprintf(&b, "%02X", i)
	}
	return b.String()
}()

var myKindsRows = []string{
	`(1, 18446744073709551615, '99999999999999999999999999999999999.999999999999999999999999999999', '838:59:59.000000',
	'9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '😀 𝄞 four bytes', 'Ünïcödé £ ÿ', UNHEX('` + allByteValues + `'),
	'l', 'a,b,c', 0xFFFFFFFFFFFFFFFF, '{"k": [1, 2.5, null], "s": "é😀"}', 1, 1.7976931348623157e308, 2155, '9999-12-31')`,
	`(2, 0, '-99999999999999999999999999999999999.999999999999999999999999999999', '-838:59:59.000000',
	'1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000001', '', '', '', 's', '', 0, '[]', 0, -2.2250738585072014e-308, 1901, '1000-01-01')`,
	`(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
}

const myKindsQuery = `SELECT id, bu, CAST(dec1 AS CHAR), CAST(tm AS CHAR), DATE_FORMAT(dt, '%Y-%m-%d %H:%i:%s.%f'),
	DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), u8, l1, LOWER(HEX(bl)), e, st, LPAD(BIN(b64), 64, '0'), j, flag <> 0, f, y, CAST(d AS CHAR)
	FROM kinds ORDER BY id`

// normFloat rewrites field i of each row (a double) to Go's shortest
// form, so the databases' spellings compare.
func normFloat(rows []string, i int) []string {
	out := make([]string, len(rows))
	for k, r := range rows {
		f := strings.Split(r, "|")
		if v, err := strconv.ParseFloat(f[i], 64); err == nil {
			f[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		out[k] = strings.Join(f, "|")
	}
	return out
}

// CDC from MySQL into PostgreSQL, a second MariaDB and SQLite: the edge
// values of the issue (unsigned bigint max, DECIMAL(65,30) extremes, TIME
// -838:59:59.000000, DATETIME(6) 9999-12-31 23:59:59.999999, TIMESTAMP
// written in a +05:30 session, 4-byte UTF-8, latin1, all 256 byte values,
// ENUM, SET, BIT(64), JSON) through the snapshot and the stream, each read
// back with the target's own query.
func TestCDCMySQLTypesIntoThreeTargets(t *testing.T) {
	my, pg := testbed.MySQL(t), testbed.Postgres(t)
	srcDB := my.NewDatabase(t, "cdcmykinds")
	src := my.Open(t, srcDB)
	mustMy(t, src, myKindsDDL)
	for _, r := range myKindsRows {
		mustMy(t, src, "INSERT INTO kinds VALUES "+r)
	}
	my2 := testbed.MySQLWith(t, "--server-id=2")
	myDB := my2.NewDatabase(t, "cdcmykinds")
	mydst := my2.Open(t, myDB)
	mustMy(t, mydst, myKindsDDL)
	pgDB := pg.NewDatabase(t, "cdcmykinds")
	pgdst := pg.Connect(t, pgDB)
	mustPG(t, pgdst, `CREATE TABLE kinds (id int PRIMARY KEY, bu numeric(20), dec1 numeric(65,30), tm text, dt timestamp(6), ts timestamptz(6),
		u8 text, l1 text, bl bytea, e text, st text, b64 bit(64), j json, flag boolean, f double precision, y smallint, d date)`)
	litePath := filepath.Join(t.TempDir(), "dw.db")
	makeSQLiteDB(t, litePath, `CREATE TABLE kinds (id INTEGER PRIMARY KEY, bu TEXT, dec1 TEXT, tm TEXT, dt DATETIME, ts TIMESTAMPTZ,
		u8 TEXT, l1 TEXT, bl BLOB, e TEXT, st TEXT, b64 TEXT, j JSON, flag BOOLEAN, f REAL, y INTEGER, d DATE)`)
	lite, err := sql.Open("sqlite3", litePath)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()

	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, mysqlDatasourceSQL("src", my, my.Password, srcDB))
	mustExec(t, c, mysqlDatasourceSQL("my2", my2, my2.Password, myDB))
	mustExec(t, c, pgDS("pgdw", pg, pgDB))
	mustExec(t, c, "CREATE DATASOURCE lite TYPE sqlite OPTIONS (path "+sqlString(litePath)+")")
	for _, to := range []string{"my2.kinds", "pgdw.public.kinds", "lite.kinds"} {
		job := "k_" + strings.Split(to, ".")[0]
		mustExec(t, c, fmt.Sprintf("CREATE SYNC JOB %s FROM src.kinds TO %s MODE CDC", job, to))
		if run := runJob(t, c, "RUN SYNC JOB "+job+" WAIT"); run.Status != "running" {
			t.Fatalf("%s: %s %s", job, run.Status, deref(run.Message))
		}
	}
	pgQuery := `SELECT id, bu::text, dec1::text, tm, to_char(dt, 'YYYY-MM-DD HH24:MI:SS.US'), to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
		u8, l1, encode(bl, 'hex'), e, st, b64::text, j::text, flag::int, f::text, y, d::text FROM kinds ORDER BY id`
	// SQLite keeps what the applier wrote: timestamps as text, bytes as
	// blobs, booleans as 0/1.
	liteQuery := `SELECT id, bu, dec1, tm, CASE WHEN instr(dt, '.') = 0 THEN dt || '.000000' ELSE substr(dt || '000000', 1, 26) END,
		CASE WHEN instr(ts, '.') = 0 THEN ts || '.000000' ELSE substr(ts || '000000', 1, 26) END, u8, l1,
		CASE WHEN bl IS NULL THEN NULL ELSE lower(hex(bl)) END, e, st, b64, j, CAST(flag AS INTEGER), f, y, CAST(d AS TEXT) FROM kinds ORDER BY id`
	source := func() []string { return normFloat(sqlRows(t, src, myKindsQuery), 14) }
	check := func(stage string) {
		// Every column as stored (tinyint(1) is a boolean: 5 arrives as 1,
		// as a batch copy does).
		const q = "SELECT id, bu, dec1, tm, dt, ts, u8, l1, bl, e, st, b64, j, flag <> 0, f, y, d FROM kinds ORDER BY id"
		waitSame(t, 20*time.Second, stage+" into MariaDB", func() []string { return sqlRows(t, src, q) },
			func() []string { return sqlRows(t, mydst, q) })
		waitSame(t, 20*time.Second, stage+" into PostgreSQL", source, func() []string { return normFloat(rowsOf(t, pgdst, pgQuery), 14) })
		waitSame(t, 20*time.Second, stage+" into SQLite", source, func() []string { return normFloat(sqlRows(t, lite, liteQuery), 14) })
	}
	check("snapshot")
	// The stream: a session in another time zone writes TIMESTAMPs.
	ctx := context.Background()
	conn, err := src.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"SET time_zone = '+05:30'",
		strings.Replace(myKindsRows[0], "(1,", "INSERT INTO kinds VALUES (10,", 1),
		strings.Replace(strings.Replace(myKindsRows[1], "(2,", "INSERT INTO kinds VALUES (11,", 1), "1970-01-01 00:00:01.000001", "1970-01-01 05:30:01.000001", 1),
		"INSERT INTO kinds (id, ts, u8, l1, e, st, b64, flag, f) VALUES (12, '2024-06-01 12:00:00.5', 'tab\there', 'ß', 'm', 'b,c', b'101', 5, 0.1)",
		"UPDATE kinds SET u8 = 'changed 😀', dec1 = dec1 / 3, bl = UNHEX('00'), ts = NOW(6) WHERE id = 1",
		"UPDATE kinds SET id = 20 WHERE id = 2", "DELETE FROM kinds WHERE id = 3"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	check("stream")
	var ts string
	mustScan(t, pgdst.QueryRow(ctx, "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM kinds WHERE id = 12"), &ts)
	if ts != "2024-06-01 06:30:00.500000" {
		t.Fatalf("TIMESTAMP written at +05:30 arrived as %s UTC", ts)
	}
	for _, job := range []string{"k_my2", "k_pgdw", "k_lite"} {
		runJob(t, c, "STOP SYNC JOB "+job)
		mustExec(t, c, "DROP SYNC JOB "+job)
	}
}

// ALTER TABLE between row events (ADD COLUMN, then DROP COLUMN and MODIFY,
// sent in one burst): every row event is read with the structure it was
// written with, the new column is added at the target (schema_changes =
// apply, the stream read again from the checkpoint), the dropped one is no
// longer written. Then one transaction of 500,000 rows streams through
// with the gateway's memory bounded.
func TestCDCMySQLSchemaChangesAndBigTransaction(t *testing.T) {
	ctx := context.Background()
	r := newMyRig(t, "cdcmyddl")
	mustMy(t, r.src, "CREATE TABLE items (id int PRIMARY KEY, name varchar(20), obsolete varchar(10), qty int)",
		"INSERT INTO items VALUES (1, 'a', 'x', 1), (2, 'b', 'y', 2)", "CREATE TABLE big (id int PRIMARY KEY, v varchar(80), n int)")
	mustPG(t, r.dst, "CREATE TABLE items (id int PRIMARY KEY, name text, obsolete text, qty bigint)", "CREATE TABLE big (id int PRIMARY KEY, v text, n int)")
	g, c := r.start(t)
	mustExec(t, c, "CREATE SYNC JOB items FROM src.items TO dst.public.items MODE CDC")
	mustExec(t, c, "CREATE SYNC JOB big FROM src.big TO dst.public.big MODE CDC")
	runJob(t, c, "RUN SYNC JOB items WAIT")
	runJob(t, c, "RUN SYNC JOB big WAIT")
	// Changes committed one by one just before the ALTER: some of them
	// land after the last progress report when the ADD COLUMN ends the
	// stream attempt.
	for i := 0; i < 20; i++ {
		qty := 100 + i
		if i == 19 {
			qty = 2
		}
		mustMy(t, r.src, fmt.Sprintf("UPDATE items SET qty = %d WHERE id = 2", qty))
		time.Sleep(30 * time.Millisecond)
	}
	mustMy(t, r.src,
		"INSERT INTO items VALUES (3, 'c', 'z', 3)",
		"ALTER TABLE items ADD COLUMN price decimal(10,2) AFTER name",
		"INSERT INTO items VALUES (4, 'd', 4.50, 'w', 4)",
		"UPDATE items SET price = 1.25 WHERE id = 1",
		"ALTER TABLE items DROP COLUMN obsolete, MODIFY qty bigint",
		"INSERT INTO items VALUES (5, 'e', 5.5, 5000000000)",
		"UPDATE items SET name = 'aa' WHERE id = 1")
	waitSame(t, 30*time.Second, "after ALTERs between row events", func() []string {
		return []string{"1|aa|x|1|1.25", "2|b|y|2|<null>", "3|c|z|3|<null>", "4|d|w|4|4.50", "5|e|<null>|5000000000|5.50"}
	}, func() []string {
		return rowsOrError(r.dst, "SELECT id, name, obsolete, qty, price FROM items ORDER BY id")
	})
	// The counters hold each applied change once: the changes committed
	// before the ADD COLUMN re-read (which used to be dropped) and none
	// of the re-read ones twice.
	var counts string
	deadline := time.Now().Add(10 * time.Second)
	for {
		counts = strings.Join(rowsOf(t, c, "SELECT inserts, updates, deletes FROM dataflow.cdc_tables WHERE job = 'items'"), ",")
		if counts == "3|22|0" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a late report must not add more
	if counts = strings.Join(rowsOf(t, c, "SELECT inserts, updates, deletes FROM dataflow.cdc_tables WHERE job = 'items'"), ","); counts != "3|22|0" {
		t.Fatalf("cdc_tables counts for items = %q, want 3|22|0 (inserts|updates|deletes)", counts)
	}
	var typ string
	mustScan(t, r.dst.QueryRow(ctx, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'price'"), &typ)
	if typ != "numeric(10,2)" {
		t.Fatalf("added column has type %s", typ)
	}
	// A column with a constant default: MariaDB fills the rows it has
	// (including one inserted just before, read again after the column
	// is added at the target) without logging a change; so does the
	// target.
	mustMy(t, r.src, "INSERT INTO items (id, name, qty) VALUES (6, 'f', 6)", "ALTER TABLE items ADD COLUMN grade int DEFAULT 7",
		"INSERT INTO items (id, name, qty, grade) VALUES (7, 'g', 7, 8)")
	waitSame(t, 30*time.Second, "after ADD COLUMN with a default", func() []string {
		return []string{"1|7", "2|7", "3|7", "4|7", "5|7", "6|7", "7|8"}
	}, func() []string {
		return rowsOrError(r.dst, "SELECT id, grade FROM items ORDER BY id")
	})

	start := time.Now()
	mustMy(t, r.src, "INSERT INTO big SELECT seq, CONCAT('value ', seq, ' ', REPEAT('x', 50)), seq % 100 FROM seq_1_to_500000")
	var peak int64
	waitFor(t, 120*time.Second, "the 500,000 rows", func() bool {
		if rss := vmHWM(t, g.cmd.Process.Pid); rss > peak {
			peak = rss
		}
		return count(t, r.dst, "SELECT count(*) FROM big") == 500000
	})
	t.Logf("500,000-row transaction applied in %s; gateway peak RSS %d MB", time.Since(start).Round(time.Millisecond), peak>>20)
	if peak > 300<<20 {
		t.Fatalf("gateway peak RSS %d MB, want < 300 MB", peak>>20)
	}
	if got := rowsOf(t, r.dst, "SELECT count(*), sum(n), max(v) FROM big"); got[0] != "500000|24750000|value 99999 "+strings.Repeat("x", 50) {
		t.Fatalf("big: %v", got)
	}
	runJob(t, c, "STOP SYNC JOB items")
	runJob(t, c, "STOP SYNC JOB big")
}

// kill -9 of the gateway once during the snapshot and five times at random
// points of the stream, with two sessions changing the source all along:
// each start continues the run from its checkpoint, and the target ends
// exactly equal to the source. Then SIGTERM: the run continues by itself
// at the next start, with what changed while the gateway was down.
func TestCDCMySQLSurvivesKill9AndSIGTERM(t *testing.T) {
	ctx := context.Background()
	r := newMyRig(t, "cdcmykill")
	mustMy(t, r.src, myOrdersDDL, "INSERT INTO orders SELECT seq, CONCAT('c', seq), seq % 7, seq * 1.5, NULL, NOW(6) FROM seq_1_to_200000")
	mustPG(t, r.dst, pgOrdersDDL)
	g, c := r.start(t)
	stop := make(chan struct{})
	wg := myWorkload(t, r.src, 2, 1, 30000, stop)
	mustExec(t, c, "CREATE SYNC JOB k FROM src.orders TO dst.public.orders MODE CDC WITH (checkpoint_interval = 200)")
	run := runJob(t, c, "RUN SYNC JOB k")
	// One kill lands in the snapshot of 200,000 rows: it starts over.
	time.Sleep(400 * time.Millisecond)
	c.Close(ctx)
	g.kill9()
	g.restart()
	c = g.connect(t, "admin", pgx.QueryExecModeExec)
	streaming := func() bool {
		return count(t, c, "SELECT count(*) FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'Stream' AND status = 'running'", run.RunID) == 1
	}
	waitFor(t, 60*time.Second, "the stream after the snapshot", streaming)
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; i < 5; i++ {
		wait := time.Duration(300+rnd.Intn(2000)) * time.Millisecond
		time.Sleep(wait)
		c.Close(ctx)
		g.kill9()
		t.Logf("kill %d after %s of streaming", i+1, wait)
		g.restart()
		c = g.connect(t, "admin", pgx.QueryExecModeExec)
		waitFor(t, 30*time.Second, "the stream to continue", streaming)
	}
	time.Sleep(time.Second)
	src := func() []string { return sqlRows(t, r.src, myOrdersQuery) }
	dst := func() []string { return rowsOf(t, r.dst, pgOrdersQuery) }
	// SIGTERM while sessions write: the gateway stops at a checkpoint and
	// leaves the run to continue.
	c.Close(ctx)
	g.stop()
	time.Sleep(time.Second) // changes while the gateway is down
	close(stop)
	wg.Wait()
	mustMy(t, r.src, "INSERT INTO orders VALUES (990001, 'while down', 1, 1, NULL, NOW(6))")
	g.restart()
	c = g.connect(t, "admin", pgx.QueryExecModeExec)
	waitSame(t, 90*time.Second, "after 6 kills and a SIGTERM", src, dst)
	st := getCDCStatus(t, c, "k")
	// The embedded engine's pipeline dies with each gateway and restarts
	// with the next; under --engine temporal it runs on a worker
	// throughout and the gateway only follows it.
	restartsWanted := int64(6)
	if temporalAddress != "" {
		restartsWanted = 0
	}
	if st.Run != run.RunID || st.Status != "running" || st.Restarts < restartsWanted {
		t.Fatalf("after the kills: %+v (run %s)", st, run.RunID)
	}
	runJob(t, c, "STOP SYNC JOB k")
	mustExec(t, c, "DROP SYNC JOB k")
}

// The target (a MariaDB of this test) goes away for a while: under
// fixed-delay the run is restarting and catches up once the target is
// back; under none it fails with the target's message, and RESTART
// continues it.
func TestCDCMySQLTargetOutage(t *testing.T) {
	my := testbed.MySQL(t)
	srcDB := my.NewDatabase(t, "cdcmyoutsrc")
	src := my.Open(t, srcDB)
	mustMy(t, src, myOrdersDDL, "INSERT INTO orders SELECT seq, 'c', 1, 1, NULL, NOW(6) FROM seq_1_to_500")
	target := testbed.OwnMySQL(t, "--server-id=3")
	dstDB := target.NewDatabase(t, "cdcmyoutdst")
	mustMy(t, target.Open(t, dstDB), myOrdersDDL)
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, mysqlDatasourceSQL("src", my, my.Password, srcDB))
	mustExec(t, c, mysqlDatasourceSQL("dst", target.MySQLServer, target.Password, dstDB))
	mustExec(t, c, "CREATE SYNC JOB o FROM src.orders TO dst.orders MODE CDC WITH (restart_strategy = 'fixed-delay', restart_delay = 1)")
	run := runJob(t, c, "RUN SYNC JOB o WAIT")
	srcRows := func() []string { return sqlRows(t, src, "SELECT * FROM orders ORDER BY id") }
	dstRows := func() []string {
		db, err := sql.Open("mysql", target.DSNFor(dstDB))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return sqlRows(t, db, "SELECT * FROM orders ORDER BY id")
	}
	waitSame(t, 20*time.Second, "the snapshot", srcRows, dstRows)

	target.Stop(t)
	down := time.Now()
	mustMy(t, src, "INSERT INTO orders VALUES (1000, 'during outage', 1, 1, NULL, NOW(6))", "DELETE FROM orders WHERE id < 10")
	waitFor(t, 15*time.Second, "the run to be restarting", func() bool {
		s, _ := runStatusOf(t, c, run.RunID)
		return s == "restarting"
	})
	time.Sleep(6*time.Second - time.Since(down))
	target.Start(t)
	waitSame(t, 30*time.Second, "after the target came back", srcRows, dstRows)
	if s, msg := runStatusOf(t, c, run.RunID); s != "running" {
		t.Fatalf("run %s: %s", s, msg)
	}
	if st := getCDCStatus(t, c, "o"); st.Restarts == 0 {
		t.Fatalf("no restarts counted: %+v", st)
	}

	runJob(t, c, "STOP SYNC JOB o")
	mustExec(t, c, "ALTER SYNC JOB o SET (restart_strategy = 'none')")
	run2 := runJob(t, c, "RESTART SYNC JOB o")
	waitFor(t, 15*time.Second, "the restarted run to stream", func() bool {
		s, _ := runStatusOf(t, c, run2.RunID)
		return s == "running"
	})
	target.Stop(t)
	mustMy(t, src, "UPDATE orders SET qty = 77 WHERE id = 100")
	waitFor(t, 20*time.Second, "the run to fail", func() bool {
		s, _ := runStatusOf(t, c, run2.RunID)
		return s == "failed"
	})
	if _, msg := runStatusOf(t, c, run2.RunID); !strings.Contains(msg, "dst") {
		t.Fatalf("failure message does not name the target: %s", msg)
	}
	target.Start(t)
	runJob(t, c, "RESTART SYNC JOB o")
	waitSame(t, 30*time.Second, "after RESTART", srcRows, dstRows)
	runJob(t, c, "STOP SYNC JOB o")
	mustExec(t, c, "DROP SYNC JOB o")
}

// The checks of a MySQL source, at CREATE (55000 with what to run, or the
// server's own error for privileges), and a binlog purged while the job
// was stopped: the run fails saying so, RESTART ... FROM SNAPSHOT recovers.
func TestCDCMySQLChecksAndPurgedBinlog(t *testing.T) {
	ctx := context.Background()
	pg := testbed.Postgres(t)
	dstDB := pg.NewDatabase(t, "cdcmychk")
	dst := pg.Connect(t, dstDB)
	mustPG(t, dst, pgOrdersDDL, "CREATE TABLE nokey (a int PRIMARY KEY)")
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, pgDS("dst", pg, dstDB))
	source := func(name string, my *testbed.MySQLServer, user, password string) *sql.DB {
		db := my.NewDatabase(t, "cdcmychk")
		conn := my.Open(t, db)
		mustMy(t, conn, myOrdersDDL, "CREATE TABLE nokey (a int)", "INSERT INTO orders SELECT seq, 'c', 1, 1, NULL, NOW(6) FROM seq_1_to_100")
		if user != my.User {
			mustMy(t, conn, fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'", user, password),
				fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", db, user))
			t.Cleanup(func() { conn.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
		}
		mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE %s TYPE mysql OPTIONS (host %s, port '%d', database %s, user %s, password %s)",
			name, sqlString(my.Host), my.Port, sqlString(db), sqlString(user), sqlString(password)))
		return conn
	}
	my := testbed.MySQL(t)
	source("main", my, my.User, my.Password)
	stmtSrv := testbed.MySQLWith(t, "--binlog-format=STATEMENT")
	stmt := source("stmt", stmtSrv, stmtSrv.User, stmtSrv.Password)
	noBin := testbed.MySQLWith(t, "--skip-log-bin")
	source("nobin", noBin, noBin.User, noBin.Password)
	source("plain", my, "fg_plain", "plain-pass-1")
	for _, tc := range []struct{ from, code, text, hint string }{
		{"main.nokey", "55000", "no primary key", "PRIMARY KEY"},
		{"stmt.orders", "55000", "binlog_format is STATEMENT", "SET GLOBAL binlog_format = 'ROW'"},
		{"nobin.orders", "55000", "binary logging is off", "log_bin"},
		{"plain.orders", "42000", "BINLOG MONITOR", ""},
	} {
		to := "dst.public.orders"
		if strings.HasSuffix(tc.from, "nokey") {
			to = "dst.public.nokey"
		}
		_, err := c.Exec(ctx, fmt.Sprintf("CREATE SYNC JOB j FROM %s TO %s MODE CDC", tc.from, to))
		pe := wantCode(t, err, tc.code)
		if !strings.Contains(pe.Message, tc.text) || !strings.Contains(pe.Hint, tc.hint) {
			t.Errorf("%s: %q hint %q", tc.from, pe.Message, pe.Hint)
		}
	}
	// binlog_row_image MINIMAL (set globally: new sessions write that way).
	mustMy(t, stmt, "SET GLOBAL binlog_format = 'ROW'", "SET GLOBAL binlog_row_image = 'MINIMAL'")
	_, err := c.Exec(ctx, "CREATE SYNC JOB j FROM stmt.orders TO dst.public.orders MODE CDC")
	if pe := wantCode(t, err, "55000"); !strings.Contains(pe.Message, "binlog_row_image is MINIMAL") || !strings.Contains(pe.Hint, "SET GLOBAL binlog_row_image = 'FULL'") {
		t.Errorf("row image: %q hint %q", pe.Message, pe.Hint)
	}
	// With the binlog status but without REPLICATION SLAVE: the dump is
	// refused, in the server's words.
	mustMy(t, my.Open(t, ""), "GRANT BINLOG MONITOR ON *.* TO 'fg_plain'@'%'")
	_, err = c.Exec(ctx, "CREATE SYNC JOB j FROM plain.orders TO dst.public.orders MODE CDC")
	if pe := wantCode(t, err, "42000"); !strings.Contains(pe.Message, "REPLICATION SLAVE") {
		t.Errorf("without REPLICATION SLAVE: %q", pe.Message)
	}

	// A binlog purged while the job is stopped (on a server of its own).
	purgeSrv := testbed.MySQLWith(t, "--server-id=12")
	p := source("psrc", purgeSrv, purgeSrv.User, purgeSrv.Password)
	mustExec(t, c, "CREATE SYNC JOB pj FROM psrc.orders TO dst.public.orders MODE CDC")
	runJob(t, c, "RUN SYNC JOB pj WAIT")
	runJob(t, c, "STOP SYNC JOB pj")
	mustMy(t, p, "INSERT INTO orders VALUES (500, 'lost', 1, 1, NULL, NOW(6))", "FLUSH BINARY LOGS")
	var file string
	if err := p.QueryRow("SHOW MASTER STATUS").Scan(&file, new(int64), new(string), new(string)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "PURGE BINARY LOGS", func() bool {
		mustMy(t, p, "PURGE BINARY LOGS TO '"+file+"'")
		return len(sqlRows(t, p, "SHOW BINARY LOGS")) == 1
	})
	run := runJob(t, c, "RESTART SYNC JOB pj")
	waitFor(t, 20*time.Second, "the run to fail", func() bool {
		s, _ := runStatusOf(t, c, run.RunID)
		return s == "failed"
	})
	if _, msg := runStatusOf(t, c, run.RunID); !strings.Contains(msg, "purged") || !strings.Contains(msg, "RESTART SYNC JOB pj FROM SNAPSHOT") {
		t.Fatalf("purged binlog: %q", msg)
	}
	runJob(t, c, "RESTART SYNC JOB pj FROM SNAPSHOT")
	waitSame(t, 20*time.Second, "after FROM SNAPSHOT", func() []string { return sqlRows(t, p, myOrdersQuery) },
		func() []string { return rowsOf(t, dst, pgOrdersQuery) })
	runJob(t, c, "STOP SYNC JOB pj")
	mustExec(t, c, "DROP SYNC JOB pj")
}
