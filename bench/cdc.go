package main

// CDC scenarios, each against a baseline measured in the same run:
//   - catch-up: the job is stopped while 1,000,000 row changes (70% insert,
//     20% update, 10% delete, in transactions of 1,000) happen at the
//     source; then the time until the target has them all, against
//     PostgreSQL's own logical replication (a subscription into an
//     identical table in another database) catching up the same changes;
//   - steady state: 5,000 row changes per second for 60 s; commit-to-apply
//     lag of every inserted row (the target fills applied_at itself),
//     p50/p99, for flowgate and for the subscription;
//   - one transaction of 1,000,000 rows, with the gateway's peak RSS.
// The local PostgreSQL usually runs with wal_level=replica, so these run on
// throwaway servers started here: the source with wal_level=logical, and a
// second server holding both targets.

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/internal/testbed"
)

var cdcChanges = 1_000_000

const cdcTable = `CREATE TABLE lineitem (id bigint PRIMARY KEY, order_id bigint NOT NULL, qty numeric(12,2), price numeric(15,2),
	discount double precision, ship_date date, comment varchar(120), created_at timestamptz NOT NULL DEFAULT clock_timestamp())`

// The targets record when each row arrived.
const cdcTargetTable = `CREATE TABLE lineitem (id bigint PRIMARY KEY, order_id bigint NOT NULL, qty numeric(12,2), price numeric(15,2),
	discount double precision, ship_date date, comment varchar(120), created_at timestamptz NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT clock_timestamp())`

// cdcSettings are the throwaway servers' settings: a catch-up writes
// gigabytes of WAL, and neither side needs its commits flushed at once.
var cdcSettings = []string{"max_wal_size=4GB", "checkpoint_timeout=30min", "shared_buffers=256MB", "synchronous_commit=off"}

// cdcInitial is the number of rows lineitem holds before the changes.
const cdcInitial = 300_000

// cdcRig is what a PostgreSQL CDC scenario runs on: a throwaway source
// server (wal_level=logical) with database cdc_src holding lineitem and
// its first cdcInitial rows, a throwaway target server for the targets'
// databases, and the gateway's datasource <name>src of the source.
type cdcRig struct {
	name     string
	g        *gateway
	src, tgt *testbed.PG
	srcDB    *pgx.Conn
	fg       *pgx.Conn
	closers  []func()
}

// newCDCRig starts the servers and loads the source. The source and the
// targets live on separate servers, as in real use: on one server each
// walsender would also have to read past the WAL of the other side's
// apply.
func newCDCRig(ctx context.Context, g *gateway, name string) (r *cdcRig, err error) {
	r = &cdcRig{name: name, g: g}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	fmt.Printf("%s: starting throwaway PostgreSQL servers (source with wal_level=logical, target) ...\n", name)
	var stop func()
	if r.src, stop, err = testbed.StartPostgres(append([]string{"wal_level=logical", "logical_decoding_work_mem=64MB"}, cdcSettings...)...); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, stop)
	if r.tgt, stop, err = testbed.StartPostgres(cdcSettings...); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, stop)
	if r.srcDB, err = r.connect(ctx, r.src, "cdc_src", cdcTable, fmt.Sprintf(`INSERT INTO lineitem SELECT i, i / 4, (i %% 50) + 0.25, (i %% 100000) / 100.0 + 900,
		(i %% 11) / 100.0, date '1992-01-01' + (i %% 2500), 'comment ' || i FROM generate_series(1, %d) i`, cdcInitial)); err != nil {
		return nil, err
	}
	if r.fg, err = pgx.Connect(ctx, g.url); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { r.fg.Close(context.Background()) })
	if err := execAll(ctx, r.fg, fmt.Sprintf("CREATE DATASOURCE %ssrc TYPE postgres OPTIONS (%s)", name, pgDSOptions(r.src, "cdc_src"))); err != nil {
		return nil, err
	}
	return r, nil
}

// connect creates database db on server p (with stmts run in it) and
// connects to it; the connection closes with the rig.
func (r *cdcRig) connect(ctx context.Context, p *testbed.PG, db string, stmts ...string) (*pgx.Conn, error) {
	admin, err := pgx.Connect(ctx, p.DSN())
	if err != nil {
		return nil, err
	}
	err = execAll(ctx, admin, "CREATE DATABASE "+db)
	admin.Close(ctx)
	if err != nil {
		return nil, err
	}
	c, err := pgx.Connect(ctx, p.DSNFor(db))
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { c.Close(context.Background()) })
	return c, execAll(ctx, c, stmts...)
}

// target creates a target database on the target server with an empty
// lineitem that records when each row arrived.
func (r *cdcRig) target(ctx context.Context, db string) (*pgx.Conn, error) {
	return r.connect(ctx, r.tgt, db, cdcTargetTable)
}

// job is the rig's flowgate CDC job from the source's lineitem.
func (r *cdcRig) job() string { return r.name + "_bench" }

// startFlowgate creates the flowgate job into target database db (a
// datasource <name>dw) and runs it until its snapshot is in.
func (r *cdcRig) startFlowgate(ctx context.Context, db string, target *pgx.Conn) error {
	if err := execAll(ctx, r.fg, fmt.Sprintf("CREATE DATASOURCE %sdw TYPE postgres OPTIONS (%s)", r.name, pgDSOptions(r.tgt, db)),
		fmt.Sprintf(`CREATE SYNC JOB %s FROM %ssrc.public.lineitem TO %sdw.public.lineitem
		COLUMNS (id, order_id, qty, price, discount, ship_date, comment, created_at) MODE CDC`, r.job(), r.name, r.name),
		"RUN SYNC JOB "+r.job()+" WAIT"); err != nil {
		return err
	}
	return waitCount(ctx, target, cdcInitial, time.Minute)
}

// changes makes n row changes at the source (see changeBatches), then
// inserts a marker row whose arrival says a target has them all.
func (r *cdcRig) changes(ctx context.Context, n int, marker int64) error {
	fmt.Printf("%s: %d row changes at the source ...\n", r.name, n)
	t0 := time.Now()
	if err := changeBatches(ctx, r.srcDB, n/1000, 0); err != nil {
		return err
	}
	fmt.Printf("  done in %.1fs\n", time.Since(t0).Seconds())
	return execAll(ctx, r.srcDB, fmt.Sprintf("INSERT INTO lineitem (id, order_id) VALUES (%d, 0)", marker))
}

// catchUp restarts the stopped flowgate job and returns the seconds until
// the marker row is in target.
func (r *cdcRig) catchUp(ctx context.Context, target *pgx.Conn, marker int64) (float64, error) {
	fmt.Println("flowgate: RESTART SYNC JOB catches up ...")
	defer profileGateway(r.name+"-cdc-catchup", 10)()
	cpu := meterCPU(r.g)
	t0 := time.Now()
	if err := execAll(ctx, r.fg, "RESTART SYNC JOB "+r.job()); err != nil {
		return 0, err
	}
	if err := waitRow(ctx, target, marker, 20*time.Minute); err != nil {
		return 0, err
	}
	sec := time.Since(t0).Seconds()
	fmt.Printf("  %.2fs; %s\n", sec, cpu)
	return sec, nil
}

func (r *cdcRig) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

// pgDSOptions is the OPTIONS list of a postgres datasource for db on p.
func pgDSOptions(p *testbed.PG, db string) string {
	return fmt.Sprintf("host '%s', port '%d', database '%s', user '%s', password '%s'", p.Host, p.Port, db, p.User, p.Password)
}

func cdcScenarios(ctx context.Context, g *gateway) ([]result, error) {
	r, err := newCDCRig(ctx, g, "cdc")
	if err != nil {
		return nil, err
	}
	defer r.close()
	src, fg := r.srcDB, r.fg
	native, err := r.target(ctx, "cdc_native")
	if err != nil {
		return nil, err
	}
	fgdb, err := r.target(ctx, "cdc_fg")
	if err != nil {
		return nil, err
	}
	conninfo := fmt.Sprintf("host=%s port=%d dbname=cdc_src user=%s password=%s", r.src.Host, r.src.Port, r.src.User, r.src.Password)
	if err := execAll(ctx, src, "CREATE PUBLICATION native_pub FOR TABLE lineitem"); err != nil {
		return nil, err
	}
	if err := execAll(ctx, native, fmt.Sprintf(`CREATE SUBSCRIPTION native_sub CONNECTION '%s' PUBLICATION native_pub
		WITH (copy_data = true)`, conninfo)); err != nil {
		return nil, err
	}
	fmt.Println("CDC: initial copies (subscription copy_data, flowgate snapshot) ...")
	if err := r.startFlowgate(ctx, "cdc_fg", fgdb); err != nil {
		return nil, err
	}
	if err := waitCount(ctx, native, cdcInitial, 5*time.Minute); err != nil {
		return nil, err
	}

	// Catch-up.
	if err := execAll(ctx, native, "ALTER SUBSCRIPTION native_sub DISABLE"); err != nil {
		return nil, err
	}
	if err := execAll(ctx, fg, "STOP SYNC JOB "+r.job()); err != nil {
		return nil, err
	}
	marker := int64(9_000_000_000)
	if err := r.changes(ctx, cdcChanges, marker); err != nil {
		return nil, err
	}
	fmt.Println("baseline: PostgreSQL logical replication catches up ...")
	t0 := time.Now()
	if err := execAll(ctx, native, "ALTER SUBSCRIPTION native_sub ENABLE"); err != nil {
		return nil, err
	}
	if err := waitRow(ctx, native, marker, 20*time.Minute); err != nil {
		return nil, err
	}
	nativeSec := time.Since(t0).Seconds()
	fgSec, err := r.catchUp(ctx, fgdb, marker)
	if err != nil {
		return nil, err
	}
	if err := sameContents(ctx, src, native, fgdb); err != nil {
		return nil, err
	}
	results := []result{
		{name: "CDC catch-up: native logical replication (baseline)", rows: int64(cdcChanges), seconds: nativeSec},
		{name: "CDC catch-up: flowgate PG->PG", rows: int64(cdcChanges), seconds: fgSec, base: "native", baseSec: nativeSec, goal: "<= 1.0"},
	}

	// Steady state: lag of each inserted row.
	fmt.Println("CDC: steady state, 5,000 row changes per second for 60 s ...")
	steadyFrom := time.Now()
	if err := steady(ctx, src, 5000, 60*time.Second); err != nil {
		return nil, err
	}
	marker++
	if err := execAll(ctx, src, fmt.Sprintf("INSERT INTO lineitem (id, order_id) VALUES (%d, 0)", marker)); err != nil {
		return nil, err
	}
	for _, c := range []*pgx.Conn{native, fgdb} {
		if err := waitRow(ctx, c, marker, 5*time.Minute); err != nil {
			return nil, err
		}
	}
	for _, side := range []struct {
		name string
		c    *pgx.Conn
		goal string
	}{{"native", native, ""}, {"flowgate", fgdb, "p99 < 1 s"}} {
		p50, p99, n, err := lagPercentiles(ctx, side.c, steadyFrom)
		if err != nil {
			return nil, err
		}
		fmt.Printf("steady state %s: %d inserted rows, commit-to-applied lag p50 %.0f ms, p99 %.0f ms\n", side.name, n, p50, p99)
		results = append(results, result{name: fmt.Sprintf("CDC steady 5k/s %s: lag p50 %.0f ms p99 %.0f ms", side.name, p50, p99),
			rows: n, seconds: 60, goal: side.goal})
	}

	// One transaction of 1,000,000 rows.
	fmt.Println("CDC: one transaction of 1,000,000 rows ...")
	t0 = time.Now()
	if err := execAll(ctx, src, `INSERT INTO lineitem SELECT 5000000000 + i, i, 1, 1, 0, date '2000-01-01', 'big transaction' FROM generate_series(1, 1000000) i`); err != nil {
		return nil, err
	}
	if err := waitRow(ctx, fgdb, 5000000000+1000000, 20*time.Minute); err != nil {
		return nil, err
	}
	results = append(results, result{name: "CDC one 1,000,000-row transaction (from commit start)", rows: 1_000_000, seconds: time.Since(t0).Seconds()})
	if err := execAll(ctx, fg, "STOP SYNC JOB "+r.job(), "DROP SYNC JOB "+r.job()); err != nil {
		return nil, err
	}
	execAll(ctx, native, "DROP SUBSCRIPTION native_sub")
	return results, nil
}

func execAll(ctx context.Context, c *pgx.Conn, stmts ...string) error {
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s); err != nil {
			return fmt.Errorf("%.60s: %w", s, err)
		}
	}
	return nil
}

// changeBatches runs n transactions of 700 inserts, 200 updates and 100
// deletes each; batch k touches its own id ranges, so every change is a
// real change.
func changeBatches(ctx context.Context, c *pgx.Conn, n, offset int) error {
	for k := offset; k < offset+n; k++ {
		ins := 1_000_000 + int64(k)*700
		upd := int64(k)*200 + 1
		del := 200_001 + int64(k)*100
		_, err := c.Exec(ctx, fmt.Sprintf(`BEGIN;
			INSERT INTO lineitem SELECT i, i / 4, 1.25, 99.5, 0.01, date '2024-01-01', 'new ' || i FROM generate_series(%d, %d) i;
			UPDATE lineitem SET price = price + 1 WHERE id BETWEEN %d AND %d;
			DELETE FROM lineitem WHERE id BETWEEN %d AND %d;
			COMMIT`, ins, ins+699, upd, upd+199, del, del+99))
		if err != nil {
			return err
		}
	}
	return nil
}

// steadyRanges is a steady-state transaction of 50 row changes: 35
// inserts, 10 updates of rows inserted 500 ids before, 5 deletes of rows
// inserted 1,000 ids before (inclusive id ranges).
type steadyRanges struct{ ins, upd, del [2]int64 }

// steadyTx is the steady state's transaction starting at id next.
func steadyTx(next int64) steadyRanges {
	return steadyRanges{ins: [2]int64{next, next + 34}, upd: [2]int64{next - 500, next - 491}, del: [2]int64{next - 1000, next - 996}}
}

// steady runs perSec row changes each second (transactions of 50 rows,
// see steadyTx) for d.
func steady(ctx context.Context, c *pgx.Conn, perSec int, d time.Duration) error {
	next := int64(3_000_000_000)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(d)
	per := perSec / 100 / 50 // transactions per tick
	if per < 1 {
		per = 1
	}
	for time.Now().Before(end) {
		<-tick.C
		for i := 0; i < per; i++ {
			tx := steadyTx(next)
			_, err := c.Exec(ctx, fmt.Sprintf(`BEGIN;
				INSERT INTO lineitem SELECT i, i, 1, 1, 0, date '2024-01-01', 's' FROM generate_series(%d, %d) i;
				UPDATE lineitem SET qty = qty + 1 WHERE id BETWEEN %d AND %d;
				DELETE FROM lineitem WHERE id BETWEEN %d AND %d;
				COMMIT`, tx.ins[0], tx.ins[1], tx.upd[0], tx.upd[1], tx.del[0], tx.del[1]))
			if err != nil {
				return err
			}
			next = tx.ins[1] + 1
		}
	}
	return nil
}

func waitCount(ctx context.Context, c *pgx.Conn, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var got int64
		if err := c.QueryRow(ctx, "SELECT count(*) FROM lineitem").Scan(&got); err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("target did not reach %d rows in %s", n, timeout)
}

func waitRow(ctx context.Context, c *pgx.Conn, id int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var n int64
		if err := c.QueryRow(ctx, "SELECT count(*) FROM lineitem WHERE id = $1", id).Scan(&n); err != nil {
			return err
		}
		if n == 1 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("row %d did not arrive in %s", id, timeout)
}

// sameContents compares count and an order-independent hash of the
// replicated columns on the source and both targets.
func sameContents(ctx context.Context, src *pgx.Conn, targets ...*pgx.Conn) error {
	const q = `SELECT count(*), coalesce(sum(hashtext(id || '|' || order_id || '|' || coalesce(qty::text, '') || '|' ||
		coalesce(price::text, '') || '|' || coalesce(comment, '') || '|' || created_at)), 0) FROM lineitem`
	var n, h int64
	if err := src.QueryRow(ctx, q).Scan(&n, &h); err != nil {
		return err
	}
	for i, t := range targets {
		var tn, th int64
		if err := t.QueryRow(ctx, q).Scan(&tn, &th); err != nil {
			return err
		}
		if tn != n || th != h {
			return fmt.Errorf("target %d differs from the source: %d rows (source %d), hash %d (source %d)", i, tn, n, th, h)
		}
	}
	fmt.Printf("  source and targets equal: %d rows\n", n)
	return nil
}

// lagPercentiles reads applied_at - created_at of rows inserted since from.
func lagPercentiles(ctx context.Context, c *pgx.Conn, from time.Time) (p50, p99 float64, n int64, err error) {
	rows, err := c.Query(ctx, `SELECT extract(epoch FROM applied_at - created_at) * 1000 FROM lineitem
		WHERE created_at >= $1 AND id >= 3000000000 AND id < 4000000000`, from)
	if err != nil {
		return 0, 0, 0, err
	}
	lags, err := pgx.CollectRows(rows, pgx.RowTo[float64])
	if err != nil {
		return 0, 0, 0, err
	}
	if len(lags) == 0 {
		return 0, 0, 0, fmt.Errorf("no rows to measure lag on")
	}
	sort.Float64s(lags)
	at := func(p float64) float64 { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	return at(0.50), at(0.99), int64(len(lags)), nil
}
