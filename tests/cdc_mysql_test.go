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
	mustScan(t, c.QueryRow(ctx, "SELECT status FROM dataflow.run_stages WHERE run_id = $1 AND stage = 'Snapshot' LIMIT 1", fresh.RunID), &snap)
	if snap != "completed" {
		t.Fatalf("RESTART FROM SNAPSHOT: stage %s", snap)
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
