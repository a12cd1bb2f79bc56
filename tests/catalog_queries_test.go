package tests

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BI-style queries through pgx, with $1 parameters, in every protocol mode.
func TestCatalogQueriesWithParameters(t *testing.T) {
	g := startGateway(t)
	setup := g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)
	for _, s := range []string{
		"CREATE DATASOURCE f1 TYPE file OPTIONS (path '/var/tmp')",
		"CREATE DATASOURCE f2 TYPE file OPTIONS (path '/var/tmp')",
		"CREATE DATASOURCE l1 TYPE sqlite OPTIONS (path '/tmp/x.db')",
	} {
		mustExec(t, setup, s)
	}
	execModes(t, func(t *testing.T, mode pgx.QueryExecMode) {
		ctx := context.Background()
		c := g.connect(t, "admin", mode)
		rows, err := c.Query(ctx, "SELECT type, count(*) FROM dataflow.datasources GROUP BY type ORDER BY 2 DESC")
		if err != nil {
			t.Fatal(err)
		}
		type tc struct {
			typ string
			n   int64
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tc, error) {
			var x tc
			return x, r.Scan(&x.typ, &x.n)
		})
		if err != nil || len(got) != 2 || got[0] != (tc{"file", 2}) || got[1] != (tc{"sqlite", 1}) {
			t.Fatalf("group by: %v %v", got, err)
		}
		var n int64
		if err := c.QueryRow(ctx, "SELECT count(*) FROM dataflow.datasources WHERE type = $1", "file").Scan(&n); err != nil || n != 2 {
			t.Fatalf("param text: %d %v", n, err)
		}
		since := time.Now().Add(-time.Hour)
		rows, err = c.Query(ctx, `SELECT at, "user", statement, sqlstate, duration_ms FROM dataflow.audit_log
			WHERE at > $1 AND "user" = $2 ORDER BY at DESC LIMIT $3`, since, "admin", 5)
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for rows.Next() {
			var at time.Time
			var user, stmt, state string
			var ms float64
			if err := rows.Scan(&at, &user, &stmt, &state, &ms); err != nil {
				t.Fatal(err)
			}
			if at.Before(since) || user != "admin" {
				t.Fatalf("row outside filter: %v %s", at, user)
			}
			count++
		}
		if rows.Err() != nil || count != 5 {
			t.Fatalf("audit rows %d %v", count, rows.Err())
		}
		var recent int64
		err = c.QueryRow(ctx, "SELECT count(*) FROM dataflow.audit_log WHERE at > now() - interval '1 hour'").Scan(&recent)
		if err != nil || recent < 3 {
			t.Fatalf("interval arithmetic: %d %v", recent, err)
		}
		var ver string
		if err := c.QueryRow(ctx, "SELECT version()").Scan(&ver); err != nil || !strings.HasPrefix(ver, "PostgreSQL 16.0") {
			t.Fatalf("version(): %q %v", ver, err)
		}
		var vnum int32
		if err := c.QueryRow(ctx, "SELECT current_setting('server_version_num')::int/100").Scan(&vnum); err != nil || vnum != 1600 {
			t.Fatalf("server_version_num: %d %v", vnum, err)
		}
		if c.PgConn().ParameterStatus("server_version") == "" || c.PgConn().ParameterStatus("client_encoding") != "UTF8" {
			t.Fatalf("parameter status missing")
		}
	})
}

func TestSessionSmallTalk(t *testing.T) {
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeSimpleProtocol)
	ctx := context.Background()
	for _, s := range []string{"SET extra_float_digits = 3", "SET application_name = 'bi-tool'",
		"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED", "BEGIN", "COMMIT", "-- ping", ""} {
		mustExec(t, c, s)
	}
	if got := c.PgConn().ParameterStatus("application_name"); got != "bi-tool" {
		t.Fatalf("application_name ParameterStatus = %q", got)
	}
	for q, want := range map[string]string{
		"SHOW transaction isolation level": "read committed",
		"SHOW search_path":                 "dataflow, pg_catalog",
		"SHOW timezone":                    "UTC",
		"SELECT current_schema()":          "dataflow",
		"SELECT current_user":              "admin",
	} {
		var got string
		if err := c.QueryRow(ctx, q).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", q, got, err, want)
		}
	}
	// A failed transaction block refuses work until ROLLBACK.
	mustExec(t, c, "BEGIN")
	_, err := c.Exec(ctx, "SELECT * FROM nope")
	wantCode(t, err, "42P01")
	_, err = c.Exec(ctx, "SELECT 1")
	wantCode(t, err, "25P02")
	mustExec(t, c, "ROLLBACK")
	mustExec(t, c, "SELECT 1")
}

func TestMetricsEndpoint(t *testing.T) {
	g := startGateway(t)
	c := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, c, "SELECT 1")
	c.Exec(context.Background(), "SELECT * FROM nope")
	resp, err := http.Get("http://127.0.0.1:" + itoa(g.metrics) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`flowgate_sessions 1`,
		`flowgate_statements_total{kind="SELECT",sqlstate_class="00"}`,
		`flowgate_statements_total{kind="SELECT",sqlstate_class="42"} 1`,
		`flowgate_statement_duration_seconds_bucket{kind="SELECT"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
