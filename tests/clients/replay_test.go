package clients

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// replayQuery is one statement of a tool's recorded query list
// (testdata/replay/*.sql): "-- name:" starts an entry, "-- params:" binds
// values (int:N, regclass:schema.view, else text), "-- expect:" names an
// expected SQLSTATE.
type replayQuery struct {
	name   string
	sql    string
	params []string
	expect string
}

func loadReplay(t *testing.T, file string) []replayQuery {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "replay", file))
	if err != nil {
		t.Fatal(err)
	}
	var out []replayQuery
	var cur *replayQuery
	var body []string
	flush := func() {
		if cur != nil {
			cur.sql = strings.TrimSpace(strings.Join(body, "\n"))
			out = append(out, *cur)
		}
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "-- name: "):
			flush()
			cur, body = &replayQuery{name: strings.TrimPrefix(line, "-- name: ")}, nil
		case cur != nil && len(body) == 0 && strings.HasPrefix(line, "-- params: "):
			for _, p := range strings.Split(strings.TrimPrefix(line, "-- params: "), " | ") {
				cur.params = append(cur.params, strings.TrimSpace(p))
			}
		case cur != nil && len(body) == 0 && strings.HasPrefix(line, "-- expect: "):
			cur.expect = strings.TrimPrefix(line, "-- expect: ")
		case cur != nil:
			body = append(body, line)
		}
	}
	flush()
	if len(out) == 0 {
		t.Fatalf("%s holds no queries", file)
	}
	return out
}

// args turns the params into Go values pgx binds with the server's types.
func (q replayQuery) args(t *testing.T, c *pgx.Conn) []any {
	var out []any
	for _, p := range q.params {
		switch {
		case strings.HasPrefix(p, "int:"):
			n, err := strconv.ParseInt(strings.TrimPrefix(p, "int:"), 10, 64)
			if err != nil {
				t.Fatalf("%s: bad param %q", q.name, p)
			}
			out = append(out, n)
		case strings.HasPrefix(p, "regclass:"):
			var oid uint32
			name := strings.TrimPrefix(p, "regclass:")
			if err := c.QueryRow(context.Background(), fmt.Sprintf("SELECT '%s'::regclass::oid", name)).Scan(&oid); err != nil {
				t.Fatalf("%s: resolve %s: %v", q.name, name, err)
			}
			out = append(out, int64(oid))
		default:
			out = append(out, p)
		}
	}
	return out
}

// result is a query's rows as text.
type result [][]string

func (r result) col(i int) []string {
	var out []string
	for _, row := range r {
		out = append(out, row[i])
	}
	return out
}

func runReplay(t *testing.T, c *pgx.Conn, q replayQuery) (result, error) {
	rows, err := c.Query(context.Background(), q.sql, q.args(t, c)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out result
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = fmt.Sprint(v)
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// replayChecks look at the answers that matter, by file and query name.
var replayChecks = map[string]func(t *testing.T, r result){
	"psql.sql/\\dn #1": func(t *testing.T, r result) { wantRows(t, r, [][]string{{"dataflow", "admin"}}) },
	"psql.sql/\\l #1":  func(t *testing.T, r result) { wantCol(t, r, 0, "flowgate") },
	"pgjdbc.sql/getSchemas": func(t *testing.T, r result) {
		wantEqual(t, r.col(0), []string{"dataflow", "information_schema", "pg_catalog"})
	},
	"pgjdbc.sql/getTables VIEW": func(t *testing.T, r result) {
		wantContains(t, r.col(2), "audit_log", "datasources", "runs", "users")
		wantContains(t, r.col(3), "VIEW")
	},
	"pgjdbc.sql/getColumns": func(t *testing.T, r result) {
		wantEqual(t, r.col(2), []string{"at", "user", "client_addr", "application_name", "statement", "sqlstate", "duration_ms"})
		wantEqual(t, r.col(8), []string{"1", "2", "3", "4", "5", "6", "7"})
	},
	"pgjdbc.sql/getPrimaryKeys":            func(t *testing.T, r result) { wantRows(t, r, nil) },
	"pgjdbc.sql/TypeInfoCache type by oid": func(t *testing.T, r result) { wantRows(t, r, [][]string{{"true", "pg_catalog", "_aclitem"}}) },
	// typtype is "char": pgx hands it over as the byte 'b' (98).
	"pgjdbc.sql/TypeInfoCache array type":  func(t *testing.T, r result) { wantRows(t, r, [][]string{{"true", "98", "_aclitem", "1034"}}) },
	"pgjdbc.sql/TypeInfoCache oid by name": func(t *testing.T, r result) { wantRows(t, r, [][]string{{"18", "char"}}) },
	"pgjdbc.sql/getSQLKeywords":            func(t *testing.T, r result) { wantSubstrings(t, r[0][0], "ilike", "analyze") },
	"metabase.sql/#7 schemas":              func(t *testing.T, r result) { wantContains(t, r.col(0), "dataflow") },
	"metabase.sql/#8 table privileges": func(t *testing.T, r result) {
		// role, schema, table, update, select, insert, delete
		if len(r) == 0 {
			t.Fatal("no tables")
		}
		for _, row := range r {
			if row[1] != "dataflow" || row[3] != "false" || row[4] != "true" || row[5] != "false" || row[6] != "false" {
				t.Errorf("privileges row %v", row)
			}
		}
		wantContains(t, r.col(2), "audit_log", "datasources", "runs")
	},
	"metabase.sql/#9 tables": func(t *testing.T, r result) {
		wantContains(t, r.col(1), "audit_log", "datasources", "runs")
		wantContains(t, r.col(2), "VIEW")
	},
	"metabase.sql/#12 describe fields": func(t *testing.T, r result) {
		found := false
		for _, row := range r {
			if row[0] == "duration_ms" && row[1] == "float8" && row[4] == "audit_log" && row[5] == "false" {
				found = true
			}
		}
		if !found {
			t.Errorf("audit_log.duration_ms float8 not described: %v", r)
		}
	},
	"metabase.sql/#13 getColumns":     func(t *testing.T, r result) { wantContains(t, r.col(3), "run_id", "status", "started_at") },
	"metabase.sql/#14 getPrimaryKeys": func(t *testing.T, r result) { wantRows(t, r, nil) },
	"metabase.sql/#15 foreign keys":   func(t *testing.T, r result) { wantRows(t, r, nil) },
	"dbeaver.sql/schemas": func(t *testing.T, r result) {
		wantEqual(t, r.col(2), []string{"dataflow", "information_schema", "pg_catalog"})
	},
	"dbeaver.sql/tables of schema":            func(t *testing.T, r result) { wantContains(t, r.col(2), "datasources", "runs") },
	"dbeaver.sql/columns of view":             func(t *testing.T, r result) { wantContains(t, r.col(2), "name", "type", "options", "created_at") },
	"psql.sql/\\sv dataflow.users #2":         func(t *testing.T, r result) { wantSubstrings(t, r[0][3], "FROM users") },
	"dbeaver.sql/standard_conforming_strings": func(t *testing.T, r result) { wantCol(t, r, 1, "on") },
	"grafana.sql/version":                     func(t *testing.T, r result) { wantRows(t, r, [][]string{{"1600"}}) },
	"grafana.sql/timescaledb":                 func(t *testing.T, r result) { wantRows(t, r, nil) },
	"grafana.sql/schemas":                     func(t *testing.T, r result) { wantRows(t, r, [][]string{{"dataflow"}}) },
	"grafana.sql/tables of schema":            func(t *testing.T, r result) { wantContains(t, r.col(0), "audit_log", "runs") },
	"grafana.sql/tables on search path": func(t *testing.T, r result) {
		wantContains(t, r.col(0), "audit_log", "runs")
	},
	"grafana.sql/columns of table": func(t *testing.T, r result) {
		wantContains(t, r.col(0), "run_id", "started_at")
	},
	"grafana.sql/columns of qualified table": func(t *testing.T, r result) {
		wantContains(t, r.col(0), "at", "duration_ms")
		wantContains(t, r.col(1), "timestamp with time zone", "double precision")
	},
	"grafana.sql/audit time series panel": func(t *testing.T, r result) {
		if len(r) == 0 {
			t.Error("no audit buckets")
		}
	},
}

func wantRows(t *testing.T, r result, want [][]string) {
	t.Helper()
	if len(r) != len(want) {
		t.Fatalf("rows = %v, want %v", r, want)
	}
	for i := range want {
		wantEqual(t, r[i], want[i])
	}
}

func wantCol(t *testing.T, r result, i int, want string) {
	t.Helper()
	if len(r) == 0 || r[0][i] != want {
		t.Errorf("column %d = %v, want %q", i, r, want)
	}
}

func wantEqual(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func wantContains(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%q missing from %q", w, got)
		}
	}
}

func wantSubstrings(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%q missing from %q", w, got)
		}
	}
}

// TestReplay sends each tool's recorded connect-and-browse queries through
// the extended protocol (types described by the server, as drivers do) and
// the simple protocol. Every one must answer, or fail with the SQLSTATE
// its entry expects.
func TestReplay(t *testing.T) {
	g := startGateway(t)
	files := []string{"psql.sql", "pgjdbc.sql", "dbeaver.sql", "metabase.sql", "grafana.sql"}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeDescribeExec, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			c := g.connect(t, mode)
			for _, f := range files {
				for _, q := range loadReplay(t, f) {
					t.Run(f+"/"+q.name, func(t *testing.T) {
						r, err := runReplay(t, c, q)
						if q.expect != "" {
							var pe *pgconn.PgError
							if !errors.As(err, &pe) || pe.Code != q.expect {
								t.Fatalf("want SQLSTATE %s, got %v", q.expect, err)
							}
							return
						}
						if err != nil {
							t.Fatalf("%v\n%s", err, q.sql)
						}
						if check := replayChecks[f+"/"+q.name]; check != nil {
							check(t, r)
						}
					})
				}
			}
		})
	}
	for key := range replayChecks {
		file, name, _ := strings.Cut(key, "/")
		found := false
		for _, q := range loadReplay(t, file) {
			found = found || q.name == name
		}
		if !found {
			t.Errorf("check %q names no query", key)
		}
	}
}

// Grafana's health check is pgx's Ping: the comment-only "-- ping".
func TestGrafanaHealthCheck(t *testing.T) {
	g := startGateway(t)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		if err := g.connect(t, mode).Ping(context.Background()); err != nil {
			t.Errorf("%s: ping: %v", mode, err)
		}
	}
}
