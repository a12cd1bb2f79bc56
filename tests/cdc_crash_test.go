package tests

import (
	"context"
	"database/sql"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// kill -9 of the gateway at random points of a stream (and once during
// the snapshot), five times, with sessions changing the source all along:
// each start continues the run from its checkpoint by itself, and the
// target ends exactly equal to the source.
func TestCDCSurvivesKill9(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "cdckillsrc", "cdckilldst")
	dropSlotsAfter(t, rig.pg, rig.srcDB)
	mustPG(t, rig.src, cdcOrdersDDL,
		`INSERT INTO orders SELECT g, 'c' || g, g % 7, g * 1.5, NULL, now() FROM generate_series(1, 200000) g`)
	mustPG(t, rig.dst, cdcOrdersDDL)
	g, c := rig.start(t, pgx.QueryExecModeExec)
	stop := make(chan struct{})
	wg := workload(t, rig.pg.DSNFor(rig.srcDB), 2, 1, 30000, stop)
	mustExec(t, c, "CREATE SYNC JOB k FROM src.public.orders TO dst.public.orders MODE CDC WITH (checkpoint_interval = 200)")
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
	// Five kills at random points of the stream.
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; i < 5; i++ {
		wait := time.Duration(300+r.Intn(2000)) * time.Millisecond
		time.Sleep(wait)
		c.Close(ctx)
		g.kill9()
		t.Logf("kill %d after %s of streaming", i+1, wait)
		g.restart()
		c = g.connect(t, "admin", pgx.QueryExecModeExec)
		waitFor(t, 30*time.Second, "the stream to continue", streaming)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	waitSame(t, 90*time.Second, "after 5 kills", func() []string {
		return rowsOf(t, rig.src, "SELECT * FROM orders ORDER BY id")
	}, func() []string {
		return rowsOf(t, rig.dst, "SELECT * FROM orders ORDER BY id")
	})
	st := getCDCStatus(t, c, "k")
	if st.Run != run.RunID || st.Status != "running" || st.Restarts < 5 {
		t.Fatalf("after the kills: %+v (run %s)", st, run.RunID)
	}
	runJob(t, c, "STOP SYNC JOB k")
	mustExec(t, c, "DROP SYNC JOB k")
}

// SIGTERM in the middle of a stream: the gateway stops at a checkpoint,
// and the run continues by itself at the next start without losing what
// changed while the gateway was down.
func TestCDCContinuesAfterSIGTERM(t *testing.T) {
	rig := newPGRig(t, "cdctermsrc", "cdctermdst")
	dropSlotsAfter(t, rig.pg, rig.srcDB)
	mustPG(t, rig.src, cdcOrdersDDL, `INSERT INTO orders SELECT g, 'c', 1, 1, NULL, now() FROM generate_series(1, 1000) g`)
	mustPG(t, rig.dst, cdcOrdersDDL)
	g, c := rig.start(t, pgx.QueryExecModeExec)
	mustExec(t, c, "CREATE SYNC JOB term FROM src.public.orders TO dst.public.orders MODE CDC")
	run := runJob(t, c, "RUN SYNC JOB term WAIT")
	stop := make(chan struct{})
	wg := workload(t, rig.pg.DSNFor(rig.srcDB), 2, 1, 3000, stop)
	time.Sleep(time.Second)
	c.Close(context.Background())
	g.stop()
	// The stopped gateway left the run to continue, saying so.
	cat, err := sql.Open("sqlite3", filepath.Join(g.dir, "flowgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	var status, msg string
	if err := cat.QueryRow("SELECT status, message FROM runs WHERE run_id = ?", run.RunID).Scan(&status, &msg); err != nil {
		t.Fatal(err)
	}
	cat.Close()
	if status != "restarting" || !strings.Contains(msg, "continues from its checkpoint at the next start") {
		t.Fatalf("after SIGTERM the run is %s: %s", status, msg)
	}
	time.Sleep(time.Second) // changes while the gateway is down
	close(stop)
	wg.Wait()
	g.restart()
	c = g.connect(t, "admin", pgx.QueryExecModeExec)
	waitSame(t, 30*time.Second, "after SIGTERM and restart", func() []string {
		return rowsOf(t, rig.src, "SELECT * FROM orders ORDER BY id")
	}, func() []string {
		return rowsOf(t, rig.dst, "SELECT * FROM orders ORDER BY id")
	})
	st := getCDCStatus(t, c, "term")
	if st.Run != run.RunID || st.Status != "running" {
		t.Fatalf("after restart: %+v", st)
	}
	runJob(t, c, "STOP SYNC JOB term")
	mustExec(t, c, "DROP SYNC JOB term")
}
