package clients

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/testbed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	_ "github.com/mattn/go-sqlite3"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// replaySessionDependent lists the replayed pure-expression queries whose
// answer is the session's, not the translation's: they are not compared.
var replaySessionDependent = map[string]string{
	"metabase.sql/#4 current_catalog":     "the database name",
	"dbeaver.sql/current schema and user": "the session user",
	"dbeaver.sql/version":                 "flowgate's version string",
	"grafana.sql/version":                 "flowgate reports 16, the testbed runs its own version",
}

// replayClass says how a replayed statement can be compared with a real
// PostgreSQL: "dataflow" (a SELECT over dataflow views only; views lists
// them), "expr" (a SELECT over no relation), or why not. Calls of pg_*
// functions and casts to reg* types ask about the server's catalog, like
// queries of pg_catalog: not compared.
func replayClass(t *testing.T, query string, dataflowViews map[string]bool) (class string, views []string) {
	t.Helper()
	js, err := pg_query.ParseToJSON(query)
	if err != nil {
		t.Fatalf("parse %q: %v", query, err)
	}
	var tree struct {
		Stmts []struct {
			Stmt map[string]any `json:"stmt"`
		} `json:"stmts"`
	}
	if err := json.Unmarshal([]byte(js), &tree); err != nil {
		t.Fatal(err)
	}
	if len(tree.Stmts) != 1 {
		return "not one statement", nil
	}
	if _, ok := tree.Stmts[0].Stmt["SelectStmt"]; !ok {
		return "not a SELECT", nil
	}
	ctes := map[string]bool{}
	var rels [][2]string
	var catalogUse string
	lastName := func(names any) string {
		list, _ := names.([]any)
		if len(list) == 0 {
			return ""
		}
		str, _ := list[len(list)-1].(map[string]any)["String"].(map[string]any)
		name, _ := str["sval"].(string)
		return name
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if fc, ok := x["FuncCall"].(map[string]any); ok {
				if name := lastName(fc["funcname"]); strings.HasPrefix(name, "pg_") && catalogUse == "" {
					catalogUse = "calls " + name
				}
			}
			if tc, ok := x["TypeCast"].(map[string]any); ok {
				tn, _ := tc["typeName"].(map[string]any)
				if name := lastName(tn["names"]); strings.HasPrefix(name, "reg") && catalogUse == "" {
					catalogUse = "casts to " + name
				}
			}
			if rv, ok := x["RangeVar"].(map[string]any); ok {
				schema, _ := rv["schemaname"].(string)
				name, _ := rv["relname"].(string)
				rels = append(rels, [2]string{schema, name})
			}
			if cte, ok := x["CommonTableExpr"].(map[string]any); ok {
				name, _ := cte["ctename"].(string)
				ctes[name] = true
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(tree.Stmts[0].Stmt)
	if catalogUse != "" {
		return catalogUse, nil
	}
	if len(rels) == 0 {
		return "expr", nil
	}
	seen := map[string]bool{}
	for _, r := range rels {
		switch {
		case r[0] == "" && ctes[r[1]]:
		case (r[0] == "dataflow" || r[0] == "") && dataflowViews[r[1]]:
			if !seen[r[1]] {
				seen[r[1]] = true
				views = append(views, r[1])
			}
		default:
			return "reads " + strings.TrimPrefix(r[0]+"."+r[1], "."), nil
		}
	}
	sort.Strings(views)
	return "dataflow", views
}

// textResult is a statement's answer in text format.
type textResult struct {
	names []string
	oids  []uint32
	rows  [][]string // "NULL" for NULL
}

func execText(t *testing.T, c *pgconn.PgConn, query string, args [][]byte, paramOIDs []uint32) (textResult, error) {
	t.Helper()
	res := c.ExecParams(context.Background(), query, args, paramOIDs, nil, nil).Read()
	if res.Err != nil {
		return textResult{}, res.Err
	}
	var out textResult
	for _, f := range res.FieldDescriptions {
		out.names = append(out.names, f.Name)
		out.oids = append(out.oids, f.DataTypeOID)
	}
	for _, row := range res.Rows {
		r := make([]string, len(row))
		for i, v := range row {
			if v == nil {
				r[i] = "NULL"
			} else {
				r[i] = string(v)
			}
		}
		out.rows = append(out.rows, r)
	}
	return out, nil
}

// seedForReplay gives the views more rows than startGateway's two
// datasources: a commented datasource, users, and a finished sync run
// between two SQLite files.
func seedForReplay(t *testing.T, g *gateway) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"src.db", "dst.db"} {
		db, err := sql.Open("sqlite3", filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		stmts := []string{"CREATE TABLE items (id integer PRIMARY KEY, name text, price real)"}
		if f == "src.db" {
			stmts = append(stmts, "INSERT INTO items VALUES (1, 'bolt', 0.25), (2, NULL, 12.5), (3, 'nut ''m6''', NULL)")
		}
		for _, s := range stmts {
			if _, err := db.Exec(s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		db.Close()
	}
	c := g.connect(t, pgx.QueryExecModeSimpleProtocol)
	for _, s := range []string{
		fmt.Sprintf("CREATE DATASOURCE docs TYPE file OPTIONS (path '%s') COMMENT 'shared files'", t.TempDir()),
		fmt.Sprintf("CREATE DATASOURCE s_src TYPE sqlite OPTIONS (path '%s')", filepath.Join(dir, "src.db")),
		fmt.Sprintf("CREATE DATASOURCE s_dst TYPE sqlite OPTIONS (path '%s')", filepath.Join(dir, "dst.db")),
		"CREATE USER analyst PASSWORD 'analyst-pass-1' ROLE readonly",
		"CREATE SYNC JOB items FROM s_src.items TO s_dst.items MODE BATCH WITH (algorithm = 'hashdiff')",
	} {
		if _, err := c.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	var status string
	if err := c.QueryRow(context.Background(), "RUN SYNC JOB items WAIT").Scan(nil, nil, &status, nil, nil, nil, nil, nil, nil, nil); err != nil || status != "completed" {
		t.Fatalf("RUN SYNC JOB items: %q %v\n%s", status, err, g.logs())
	}
}

// TestReplayMatchesPostgres is the differential test of the BI replays:
// each replayed SELECT that reads only dataflow views, or no relation at
// all, runs on the gateway and on a real PostgreSQL (the testbed's) whose
// schema dataflow holds tables shaped like those views (the types the
// gateway reports) with the rows the gateway's query saw; names, types and
// values as text must agree. Queries of pg_catalog and information_schema
// are not compared: their rows describe flowgate, not that PostgreSQL
// (docs/sql-reference.md, "Differences from PostgreSQL").
func TestReplayMatchesPostgres(t *testing.T) {
	g := startGateway(t)
	seedForReplay(t, g)
	gw := g.connect(t, pgx.QueryExecModeDescribeExec)
	ctx := context.Background()
	viewRows, err := gw.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'dataflow'")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(viewRows, pgx.RowTo[string])
	if err != nil || len(names) == 0 {
		t.Fatalf("dataflow views: %v %v", names, err)
	}
	dataflowViews := map[string]bool{}
	for _, n := range names {
		dataflowViews[n] = true
	}

	pg := testbed.Postgres(t)
	pc := pg.Connect(t, pg.NewDatabase(t, "replay"))
	for _, s := range []string{"CREATE SCHEMA dataflow", "SET search_path = dataflow, pg_catalog", "SET TimeZone = 'UTC'"} {
		if _, err := pc.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	typeMap := pgtype.NewMap()

	// load makes dataflow.<view> on PostgreSQL a table holding rows.
	load := func(t *testing.T, view string, snap textResult) {
		t.Helper()
		var cols []string
		for i, n := range snap.names {
			typ, ok := typeMap.TypeForOID(snap.oids[i])
			if !ok {
				t.Fatalf("%s.%s: no PostgreSQL type for OID %d", view, n, snap.oids[i])
			}
			cols = append(cols, pgx.Identifier{n}.Sanitize()+" "+typ.Name)
		}
		table := "dataflow." + pgx.Identifier{view}.Sanitize()
		for _, s := range []string{"DROP TABLE IF EXISTS " + table, fmt.Sprintf("CREATE TABLE %s (%s)", table, strings.Join(cols, ", "))} {
			if _, err := pc.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		var ph []string
		for i := range snap.names {
			ph = append(ph, fmt.Sprintf("$%d", i+1))
		}
		insert := fmt.Sprintf("INSERT INTO %s VALUES (%s)", table, strings.Join(ph, ", "))
		for _, row := range snap.rows {
			args := make([][]byte, len(row))
			for i, v := range row {
				if v != "NULL" {
					args[i] = []byte(v)
				}
			}
			if _, err := execText(t, pc.PgConn(), insert, args, snap.oids); err != nil {
				t.Fatalf("%s %q: %v", insert, row, err)
			}
		}
	}

	compared := map[string]int{}
	for _, f := range []string{"psql.sql", "pgjdbc.sql", "dbeaver.sql", "metabase.sql", "grafana.sql"} {
		for _, q := range loadReplay(t, f) {
			key := f + "/" + q.name
			class, views := replayClass(t, q.sql, dataflowViews)
			if class != "dataflow" && class != "expr" {
				continue // pg_catalog, information_schema, SET, SHOW
			}
			if why, ok := replaySessionDependent[key]; ok {
				t.Logf("%s: not compared (%s)", key, why)
				continue
			}
			if q.expect != "" || len(q.params) > 0 {
				t.Fatalf("%s: a compared query with params or an expected error: teach this test to bind them", key)
			}
			compared[class]++
			t.Run(key, func(t *testing.T) {
				got, err := execText(t, gw.PgConn(), q.sql, nil, nil)
				if err != nil {
					t.Fatalf("gateway: %v\n%s", err, q.sql)
				}
				// The views as the query saw them: audit_log first (it
				// grows by one row per statement), less the query's own row.
				order := slices.Clone(views)
				sort.SliceStable(order, func(i, j int) bool { return order[i] == "audit_log" })
				for _, v := range order {
					snap, err := execText(t, gw.PgConn(), "SELECT * FROM dataflow."+pgx.Identifier{v}.Sanitize(), nil, nil)
					if err != nil {
						t.Fatalf("snapshot %s: %v", v, err)
					}
					if v == "audit_log" {
						snap.rows = withoutOwnRow(t, snap, q.sql)
					}
					load(t, v, snap)
				}
				want, err := execText(t, pc.PgConn(), q.sql, nil, nil)
				if err != nil {
					t.Fatalf("PostgreSQL: %v\n%s", err, q.sql)
				}
				if !slices.Equal(got.names, want.names) {
					t.Errorf("column names %q, PostgreSQL %q", got.names, want.names)
				}
				if !slices.Equal(got.oids, want.oids) {
					t.Errorf("column types %v, PostgreSQL %v", got.oids, want.oids)
				}
				gotRows, wantRows := got.rows, want.rows
				if !topLevelOrderBy(t, q.sql) {
					gotRows, wantRows = sortRows(gotRows), sortRows(wantRows)
				}
				if len(wantRows) == 0 && len(views) > 0 {
					t.Errorf("PostgreSQL has no rows for this query: the comparison shows nothing")
				}
				if !reflect.DeepEqual(gotRows, wantRows) {
					t.Errorf("rows\n gateway    %q\n PostgreSQL %q", gotRows, wantRows)
				}
			})
		}
	}
	// The replays must keep giving this test something to compare.
	if compared["dataflow"] < 5 || compared["expr"] < 1 {
		t.Errorf("compared %v: the replays lost their dataflow or expression queries", compared)
	}
	for key := range replaySessionDependent {
		file, name, _ := strings.Cut(key, "/")
		found := false
		for _, q := range loadReplay(t, file) {
			found = found || q.name == name
		}
		if !found {
			t.Errorf("replaySessionDependent names no query: %s", key)
		}
	}
}

// withoutOwnRow drops the audit row of query itself (the last one with its
// text) from a snapshot of dataflow.audit_log taken right after it ran.
func withoutOwnRow(t *testing.T, snap textResult, query string) [][]string {
	t.Helper()
	stmt, at := slices.Index(snap.names, "statement"), slices.Index(snap.names, "at")
	if stmt < 0 || at < 0 {
		t.Fatalf("audit_log columns %q", snap.names)
	}
	last := -1
	for i, r := range snap.rows {
		if r[stmt] == query && (last < 0 || r[at] >= snap.rows[last][at]) {
			last = i
		}
	}
	if last < 0 {
		t.Fatalf("the query's own audit row is not in the snapshot")
	}
	return slices.Delete(slices.Clone(snap.rows), last, last+1)
}

func topLevelOrderBy(t *testing.T, query string) bool {
	tree, err := pg_query.Parse(query)
	if err != nil {
		t.Fatal(err)
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	return sel != nil && len(sel.GetSortClause()) > 0
}

func sortRows(rows [][]string) [][]string {
	out := slices.Clone(rows)
	sort.Slice(out, func(i, j int) bool { return strings.Join(out[i], "\x00") < strings.Join(out[j], "\x00") })
	return out
}
