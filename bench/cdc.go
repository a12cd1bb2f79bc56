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

func cdcScenarios(ctx context.Context, g *gateway) ([]result, error) {
	// The source and the targets live on separate servers, as in real use:
	// on one server each walsender would also have to read past the WAL
	// of the other side's apply.
	fmt.Println("CDC: starting throwaway PostgreSQL servers (source with wal_level=logical, target) ...")
	settings := []string{"max_wal_size=4GB", "checkpoint_timeout=30min", "shared_buffers=256MB", "synchronous_commit=off"}
	pg, stopPG, err := testbed.StartPostgres(append([]string{"wal_level=logical", "logical_decoding_work_mem=64MB"}, settings...)...)
	if err != nil {
		return nil, err
	}
	defer stopPG()
	tpg, stopTarget, err := testbed.StartPostgres(settings...)
	if err != nil {
		return nil, err
	}
	defer stopTarget()
	admin, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		return nil, err
	}
	defer admin.Close(ctx)
	tadmin, err := pgx.Connect(ctx, tpg.DSN())
	if err != nil {
		return nil, err
	}
	defer tadmin.Close(ctx)
	if err := execAll(ctx, admin, "CREATE DATABASE cdc_src"); err != nil {
		return nil, err
	}
	if err := execAll(ctx, tadmin, "CREATE DATABASE cdc_native", "CREATE DATABASE cdc_fg"); err != nil {
		return nil, err
	}
	src, err := pgx.Connect(ctx, pg.DSNFor("cdc_src"))
	if err != nil {
		return nil, err
	}
	defer src.Close(ctx)
	native, err := pgx.Connect(ctx, tpg.DSNFor("cdc_native"))
	if err != nil {
		return nil, err
	}
	defer native.Close(ctx)
	fgdb, err := pgx.Connect(ctx, tpg.DSNFor("cdc_fg"))
	if err != nil {
		return nil, err
	}
	defer fgdb.Close(ctx)
	const initial = 300_000
	if err := execAll(ctx, src, cdcTable, fmt.Sprintf(`INSERT INTO lineitem SELECT i, i / 4, (i %% 50) + 0.25, (i %% 100000) / 100.0 + 900,
		(i %% 11) / 100.0, date '1992-01-01' + (i %% 2500), 'comment ' || i FROM generate_series(1, %d) i`, initial),
		"CREATE PUBLICATION native_pub FOR TABLE lineitem"); err != nil {
		return nil, err
	}
	for _, c := range []*pgx.Conn{native, fgdb} {
		if err := execAll(ctx, c, cdcTargetTable); err != nil {
			return nil, err
		}
	}
	conninfo := fmt.Sprintf("host=%s port=%d dbname=cdc_src user=%s password=%s", pg.Host, pg.Port, pg.User, pg.Password)
	if err := execAll(ctx, native, fmt.Sprintf(`CREATE SUBSCRIPTION native_sub CONNECTION '%s' PUBLICATION native_pub
		WITH (copy_data = true)`, conninfo)); err != nil {
		return nil, err
	}
	fg, err := pgx.Connect(ctx, g.url)
	if err != nil {
		return nil, err
	}
	defer fg.Close(ctx)
	opts := func(p *testbed.PG, db string) string {
		return fmt.Sprintf("host '%s', port '%d', database '%s', user '%s', password '%s'", p.Host, p.Port, db, p.User, p.Password)
	}
	if err := execAll(ctx, fg, "CREATE DATASOURCE cdcsrc TYPE postgres OPTIONS ("+opts(pg, "cdc_src")+")",
		"CREATE DATASOURCE cdcdw TYPE postgres OPTIONS ("+opts(tpg, "cdc_fg")+")",
		"CREATE SYNC JOB cdc_bench FROM cdcsrc.public.lineitem TO cdcdw.public.lineitem COLUMNS (id, order_id, qty, price, discount, ship_date, comment, created_at) MODE CDC"); err != nil {
		return nil, err
	}
	fmt.Println("CDC: initial copies (subscription copy_data, flowgate snapshot) ...")
	if _, err := fg.Exec(ctx, "RUN SYNC JOB cdc_bench WAIT"); err != nil {
		return nil, err
	}
	if err := waitCount(ctx, native, initial, 5*time.Minute); err != nil {
		return nil, err
	}
	if err := waitCount(ctx, fgdb, initial, time.Minute); err != nil {
		return nil, err
	}

	// Catch-up.
	if err := execAll(ctx, native, "ALTER SUBSCRIPTION native_sub DISABLE"); err != nil {
		return nil, err
	}
	if _, err := fg.Exec(ctx, "STOP SYNC JOB cdc_bench"); err != nil {
		return nil, err
	}
	fmt.Printf("CDC: %d row changes at the source while both are stopped ...\n", cdcChanges)
	t0 := time.Now()
	if err := changeBatches(ctx, src, cdcChanges/1000, 0); err != nil {
		return nil, err
	}
	fmt.Printf("  done in %.1fs\n", time.Since(t0).Seconds())
	marker := int64(9_000_000_000)
	if err := execAll(ctx, src, fmt.Sprintf("INSERT INTO lineitem (id, order_id) VALUES (%d, 0)", marker)); err != nil {
		return nil, err
	}
	fmt.Println("baseline: PostgreSQL logical replication catches up ...")
	t0 = time.Now()
	if err := execAll(ctx, native, "ALTER SUBSCRIPTION native_sub ENABLE"); err != nil {
		return nil, err
	}
	if err := waitRow(ctx, native, marker, 20*time.Minute); err != nil {
		return nil, err
	}
	nativeSec := time.Since(t0).Seconds()
	fmt.Println("flowgate: RESTART SYNC JOB catches up ...")
	t0 = time.Now()
	if _, err := fg.Exec(ctx, "RESTART SYNC JOB cdc_bench"); err != nil {
		return nil, err
	}
	if err := waitRow(ctx, fgdb, marker, 20*time.Minute); err != nil {
		return nil, err
	}
	fgSec := time.Since(t0).Seconds()
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
	if _, err := fg.Exec(ctx, "STOP SYNC JOB cdc_bench"); err != nil {
		return nil, err
	}
	if _, err := fg.Exec(ctx, "DROP SYNC JOB cdc_bench"); err != nil {
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

// steady runs perSec row changes each second (transactions of 50 rows,
// 35 inserts, 10 updates, 5 deletes) for d.
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
			_, err := c.Exec(ctx, fmt.Sprintf(`BEGIN;
				INSERT INTO lineitem SELECT i, i, 1, 1, 0, date '2024-01-01', 's' FROM generate_series(%d, %d) i;
				UPDATE lineitem SET qty = qty + 1 WHERE id BETWEEN %d AND %d;
				DELETE FROM lineitem WHERE id BETWEEN %d AND %d;
				COMMIT`, next, next+34, next-500, next-491, next-1000, next-996))
			if err != nil {
				return err
			}
			next += 35
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
