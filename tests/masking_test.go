package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
)

// Short or common passwords ("x", "public") must not mangle messages that
// merely contain those letters: masking replaces whole tokens only. A
// server message that really holds the password as a token is masked,
// and its SQLSTATE survives.
func TestMaskingOnlyWholeTokens(t *testing.T) {
	ctx := context.Background()
	my := testbed.MySQL(t)
	pg := testbed.Postgres(t)
	srcDB := my.NewDatabase(t, "masksrc")
	m := my.Open(t, srcDB)
	for _, s := range []string{
		"CREATE TABLE tagged (id int PRIMARY KEY, tags set('red','green','blue'), note text)",
		"INSERT INTO tagged VALUES (1, 'red,blue', 'public text'), (2, '', 'x'), (3, 'green', NULL)",
	} {
		if _, err := m.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	admin := pg.Connect(t, "")
	g := startGateway(t)
	c, notices := g.noticeConn(t)
	mustExec(t, c, mysqlDatasourceSQL("shop", my, my.Password, srcDB))

	for i, password := range []string{"x", "public"} {
		role := fmt.Sprintf("pw_%d_%s", i, password)
		if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, password)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
		db := pg.NewDatabase(t, "maskdw")
		if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", db, role)); err != nil {
			t.Fatal(err)
		}
		dw := pg.Connect(t, db)
		if _, err := dw.Exec(ctx, "ALTER SCHEMA public OWNER TO "+role); err != nil {
			t.Fatal(err)
		}
		ds := "dw" + fmt.Sprint(i)
		mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE %s TYPE postgres OPTIONS (host %s, port '%d', database %s, user %s, password %s)",
			ds, sqlString(pg.Host), pg.Port, sqlString(db), sqlString(role), sqlString(password)))
		if r := testDatasource(t, c, ds); !r.OK || deref(r.Message) != "ok" {
			t.Fatalf("TEST DATASOURCE %s: ok=%v %q", ds, r.OK, deref(r.Message))
		}

		// DDL task: MySQL SET -> text, with the warning that used to read
		// "te********t" for the password x.
		task := "t" + fmt.Sprint(i)
		mustExec(t, c, fmt.Sprintf("CREATE DDL TASK %s FROM shop TO %s SCHEMA public", task, ds))
		res := runDDLTask(t, c, task)
		r, ok := res["tagged"]
		if !ok || r.Status != "success" {
			t.Fatalf("password %q: DDL result %+v", password, res)
		}
		if want := "column tags: set became text holding the comma-separated members"; !strings.Contains(r.Message, want) {
			t.Fatalf("password %q: DDL message %q, want it to contain %q unchanged", password, r.Message, want)
		}
		var stored string
		if err := c.QueryRow(ctx, "SELECT message FROM dataflow.ddl_task_tables WHERE task = $1 AND table_name = 'tagged'", task).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != r.Message {
			t.Fatalf("stored message %q differs from the returned %q", stored, r.Message)
		}

		// A batch run: its NOTICEs, run and stage messages stay as written.
		job := "j" + fmt.Sprint(i)
		mustExec(t, c, fmt.Sprintf("CREATE SYNC JOB %s FROM shop.tagged TO %s.public.tagged MODE BATCH WITH (algorithm = 'md5diff')", job, ds))
		before := len(notices())
		run := runJob(t, c, "RUN SYNC JOB "+job+" WAIT")
		if run.Status != "completed" {
			t.Fatalf("password %q: run %s: %s", password, run.Status, deref(run.Message))
		}
		seen := notices()[before:]
		if len(seen) == 0 {
			t.Fatal("no progress NOTICEs")
		}
		msgs := append(seen, deref(run.Message))
		rows, err := c.Query(ctx, "SELECT coalesce(message, '') FROM dataflow.run_stages WHERE run_id = $1", run.RunID)
		if err != nil {
			t.Fatal(err)
		}
		stageMsgs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(stageMsgs) != 3 {
			t.Fatalf("stage messages %v: %v", stageMsgs, err)
		}
		for _, msg := range append(msgs, stageMsgs...) {
			if strings.Contains(msg, "********") {
				t.Errorf("password %q: message masked although it holds no password token: %q", password, msg)
			}
		}
		if !strings.Contains(strings.Join(seen, "\n"), "ExportTable") {
			t.Errorf("NOTICEs do not name the stages: %q", seen)
		}
		var got int64
		if err := dw.QueryRow(ctx, "SELECT count(*) FROM public.tagged WHERE tags = 'red,blue' AND note = 'public text'").Scan(&got); err != nil || got != 1 {
			t.Fatalf("target rows: %d %v", got, err)
		}

		// A server message that does hold the password as a token: the
		// database named like the password does not exist.
		bad := "bad" + fmt.Sprint(i)
		mustExec(t, c, fmt.Sprintf("CREATE DATASOURCE %s TYPE postgres OPTIONS (host %s, port '%d', database %s, user %s, password %s)",
			bad, sqlString(pg.Host), pg.Port, sqlString(password), sqlString(role), sqlString(password)))
		tr := testDatasource(t, c, bad)
		if tr.OK || !strings.Contains(deref(tr.Message), `database "********" does not exist`) {
			t.Fatalf("password %q: TEST of a missing database: ok=%v %q", password, tr.OK, deref(tr.Message))
		}
		if strings.Contains(deref(tr.Message), `"`+password+`"`) {
			t.Fatalf("password shown: %q", deref(tr.Message))
		}
		_, err = c.Exec(ctx, "IMPORT TABLES FROM "+bad)
		pe := wantCode(t, err, "3D000")
		if !strings.Contains(pe.Message, `database "********" does not exist`) || strings.Contains(pe.Message, `"`+password+`"`) {
			t.Fatalf("password %q: IMPORT TABLES error %q", password, pe.Message)
		}
	}
}
