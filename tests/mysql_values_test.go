package tests

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
)

// TestMySQLEdgeValuesVerifyIntoPostgres copies MariaDB/MySQL values at
// the edges of their types into PostgreSQL (through a DDL task) and
// verifies them with md5diff and hashdiff, as a batch and as a scan. Found
// by hand: the zero YEAR compared as "0000" against PostgreSQL's 0, and
// JSON compared as printed ({"a":[1,2]} against jsonb's {"a": [1, 2]}),
// so every such run ended data_inconsistent with equal data.
func TestMySQLEdgeValuesVerifyIntoPostgres(t *testing.T) {
	ctx := context.Background()
	my := testbed.MySQL(t)
	pg := testbed.Postgres(t)
	myDB := my.NewDatabase(t, "edge")
	m := my.Open(t, myDB)
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range []string{
		"SET SESSION sql_mode = ''", // zero dates, as old applications wrote them
		`CREATE TABLE t (id int PRIMARY KEY, d date, dt datetime, y year, ub bigint unsigned, b bit(3), e enum('a','b'), s set('x','y'),
			tb tinyint(1), j json, dec65 decimal(65,30), bin varbinary(10), c char(5), f float, dbl double, txt text, tm time) CHARSET utf8mb4`,
		`INSERT INTO t VALUES
			(1, '0000-00-00', '0000-00-00 00:00:00', 0, 18446744073709551615, b'101', 'b', 'x,y', 1, '{"b":[1,2.50],"a":{"z":null,"y":"é"}}',
			 12345678901234567890123456789012345.123456789012345678901234567890, x'00ff10', 'ab ', 1.5, -0.0, 'emoji 😀', '23:59:59'),
			(2, '2024-02-29', '2024-02-29 23:59:59', 2155, 0, b'0', 'a', '', 0, 'null', -1, x'', ' ', 3.4e38, 1.7976931348623157e308, '', '00:00:00'),
			(3, '1000-01-01', '9999-12-31 23:59:59', 1901, 1, b'111', NULL, 'y', NULL, '[1e2, "\\u00e9", true, false, {}]', 0, NULL, NULL, -1.5, 2.5e-300, NULL, '12:30:00'),
			(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
	} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	dwDB := pg.NewDatabase(t, "edgedw")
	dw := pg.Connect(t, dwDB)
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, mysqlDatasourceSQL("my", my, my.Password, myDB))
	mustExec(t, c, pgDS("dw", pg, dwDB))
	mustExec(t, c, "CREATE DDL TASK d FROM my TO dw TABLES (t)")
	// The DDL task warns where the target cannot hold every source value.
	if r := runDDLTask(t, c, "d"); r["t"].Status != "success" || !strings.Contains(r["t"].Message, "column tm: MySQL time holds -838:59:59") {
		t.Fatalf("DDL task: %+v", r)
	}
	lite := filepath.Join(t.TempDir(), "lite.db")
	ldb, err := sql.Open("sqlite3", lite)
	if err != nil {
		t.Fatal(err)
	}
	defer ldb.Close()
	if _, err := ldb.Exec("CREATE TABLE keep (x int)"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "CREATE DATASOURCE lite TYPE sqlite OPTIONS (path "+sqlString(lite)+")")
	mustExec(t, c, "CREATE DDL TASK dl FROM my TO lite TABLES (t)")
	r := runDDLTask(t, c, "dl")
	for _, want := range []string{"column ub: values above 9223372036854775807 keep 15 significant digits", "column dec65: SQLite keeps 15 significant digits"} {
		if r["t"].Status != "success" || !strings.Contains(r["t"].Message, want) {
			t.Fatalf("DDL task into SQLite lacks %q: %+v", want, r)
		}
	}
	var jtype string
	mustScan(t, dw.QueryRow(ctx, "SELECT data_type FROM information_schema.columns WHERE table_name = 't' AND column_name = 'j'"), &jtype)
	if jtype != "jsonb" {
		t.Fatalf("json became %s", jtype)
	}

	for _, alg := range []string{"md5diff", "hashdiff"} {
		mustPG(t, dw, "TRUNCATE t")
		job := "b_" + alg
		mustExec(t, c, "CREATE SYNC JOB "+job+" FROM my.t TO dw.public.t MODE BATCH WITH (algorithm = '"+alg+"')")
		r := runJob(t, c, "RUN SYNC JOB "+job+" WAIT")
		if r.Status != "completed" || r.RowsWritten != 4 {
			t.Fatalf("%s: %+v %s; diffs %v", alg, r, deref(r.Message), diffRows(t, c, r.RunID))
		}
	}
	var y *int
	var j *string
	mustScan(t, dw.QueryRow(ctx, "SELECT y, j::text FROM t WHERE id = 1"), &y, &j)
	if y == nil || *y != 0 || j == nil || *j != `{"a": {"y": "é", "z": null}, "b": [1, 2.50]}` {
		t.Fatalf("row 1: year %v, json %v", y, deref(j))
	}

	// A scan of the same table into its own copy, verified.
	mustPG(t, dw, "CREATE TABLE t2 (LIKE t INCLUDING ALL)")
	mustExec(t, c, "CREATE SYNC JOB sc FROM my.t TO dw.public.t2 MODE SCAN WITH (algorithm = 'md5diff')")
	if r := runJob(t, c, "RUN SYNC JOB sc WAIT"); r.Status != "completed" || !strings.Contains(deref(r.Message), "verified with md5diff") {
		t.Fatalf("scan: %+v %s", r, deref(r.Message))
	}

	// A document that differs in value still differs: a trigger in the
	// target changes one number as rows arrive, and every job finds it.
	mustPG(t, dw, `CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.id = 1 THEN NEW.j := '{"a": {"y": "é", "z": null}, "b": [1, 2.51]}'; END IF; RETURN NEW; END $$`,
		"CREATE TRIGGER bump BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION bump()",
		"CREATE TRIGGER bump BEFORE INSERT OR UPDATE ON t2 FOR EACH ROW EXECUTE FUNCTION bump()")
	mustExec(t, c, "CREATE SYNC JOB sc2 FROM my.t TO dw.public.t2 MODE SCAN WITH (algorithm = 'hashdiff')")
	mustExec(t, c, "CREATE SYNC JOB sc3 FROM my.t TO dw.public.t2 MODE SCAN WITH (algorithm = 'md5diff')")
	for _, job := range []string{"b_md5diff", "b_hashdiff", "sc2", "sc3"} {
		if strings.HasPrefix(job, "b_") {
			mustPG(t, dw, "TRUNCATE t")
		}
		r := runJob(t, c, "RUN SYNC JOB "+job+" WAIT")
		if r.Status != "data_inconsistent" {
			t.Fatalf("%s after a changed document: %+v %s", job, r, deref(r.Message))
		}
		if d := diffRows(t, c, r.RunID); job != "sc3" && !strings.Contains(strings.Join(d, " "), "2.51") {
			t.Fatalf("%s diffs: %v", job, d)
		}
	}
}

// diffRows is a run's dataflow.run_diffs as "key side row".
func diffRows(t testing.TB, c *pgx.Conn, runID string) []string {
	t.Helper()
	return rowsOf(t, c, "SELECT key || ' ' || side || ' ' || row FROM dataflow.run_diffs WHERE run_id = "+sqlString(runID)+" ORDER BY key, side")
}
