package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/wire"
)

// Secrets of the test datasources: no page or JSON may contain one.
var testSecrets = []string{"pg-Secret-Pw-4711", "my-Secret-Pw-0815", "AKIA-not-secret-id-but-ok", "s3-Secret-Key-9931"}

// fixture is a catalog holding a bit of everything the pages show.
type fixture struct {
	cat   *catalog.Catalog
	runID string // completed batch run, 2 tasks
	live  string // running batch run
	bad   string // data_inconsistent run with diffs
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	cat, err := catalog.Open(ctx, filepath.Join(t.TempDir(), "fg.db"), catalog.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	secret := func(k string) bool { return k == "password" || k == "secret_access_key" }
	must(cat.CreateDatasource(ctx, catalog.Datasource{Name: "pgsrc", Type: "postgres",
		Options: map[string]string{"host": "127.0.0.1", "user": "app", "password": testSecrets[0]}}, secret))
	must(cat.CreateDatasource(ctx, catalog.Datasource{Name: "mydst", Type: "mysql",
		Options: map[string]string{"host": "127.0.0.1", "user": "root", "password": testSecrets[1]}}, secret))
	must(cat.CreateDatasource(ctx, catalog.Datasource{Name: "bucket", Type: "s3",
		Options: map[string]string{"bucket": "b", "access_key_id": testSecrets[2], "secret_access_key": testSecrets[3]}},
		func(k string) bool { return k == "secret_access_key" || k == "access_key_id" }))
	must(cat.CreateJob(ctx, catalog.Job{Name: "orders", Mode: "batch", Kind: "table", Source: "pgsrc", SourceTable: "orders",
		Target: "mydst", TargetTable: "orders", ScheduleKind: "cron", ScheduleExpr: "0 2 * * *", ScheduleState: "active",
		Options: map[string]string{}}))
	must(cat.RecordFire(ctx, "orders", "", []string{"2030-01-01 02:00:00+00", "2030-01-02 02:00:00+00", "2030-01-03 02:00:00+00", "2030-01-04 02:00:00+00"}))
	must(cat.CreateJob(ctx, catalog.Job{Name: "big", Mode: "batch", Kind: "database", Source: "pgsrc", Target: "mydst",
		ScheduleKind: "none", ScheduleState: "none", Options: map[string]string{}}))
	must(cat.CreateJob(ctx, catalog.Job{Name: "stream", Mode: "cdc", Kind: "table", Source: "pgsrc", SourceTable: "t",
		Target: "mydst", TargetTable: "t", ScheduleKind: "none", ScheduleState: "none", Options: map[string]string{}}))

	stages := []string{"ExportTable", "ImportTable", "TableDataDiff"}
	f := &fixture{cat: cat}
	// A completed run of two tables.
	f.runID, err = cat.CreateRun(ctx, "orders", "manual", map[string]any{}, []catalog.RunTask{
		{ID: 1, SourceTable: "orders", TargetTable: "orders"}, {ID: 2, SourceTable: "items", TargetTable: "items"}}, stages)
	must(err)
	must(cat.SetRunStatus(ctx, f.runID, catalog.RunRunning, ""))
	for _, task := range []int64{1, 2} {
		for _, st := range stages {
			_, err := cat.StartStage(ctx, f.runID, task, st)
			must(err)
			must(cat.FinishStage(ctx, f.runID, task, st, catalog.StageCompleted, 1000*task, 5000, ""))
		}
		must(cat.AddExportFile(ctx, f.runID, catalog.ExportFile{TaskID: task, Seq: 1, URI: "orders/run/t1.csv.zst", Rows: 1000 * task, Bytes: 5000}))
	}
	must(cat.SetRunStatus(ctx, f.runID, catalog.RunCompleted, "2 of 2 tables copied and verified"))
	now := time.Now()
	for i, op := range []catalog.Operation{
		{RunID: f.runID, Job: "orders", Datasource: "pgsrc", DatasourceType: "postgres", Table: "orders", Operation: "export", Started: now.Add(-2 * time.Second), Finished: now, Records: 1000},
		{RunID: f.runID, Job: "orders", Datasource: "pgsrc", DatasourceType: "postgres", Table: "items", Operation: "export", Started: now.Add(-3 * time.Second), Finished: now, Records: 2000},
		{RunID: f.runID, Job: "orders", Datasource: "mydst", DatasourceType: "mysql", Table: "orders", Operation: "import", Started: now.Add(-1 * time.Second), Finished: now, Records: 1000},
		// 60 days old: outside this week and this month.
		{RunID: "old", Job: "orders", Datasource: "mydst", DatasourceType: "mysql", Table: "archive", Operation: "import", Started: now.AddDate(0, 0, -60), Finished: now.AddDate(0, 0, -60).Add(time.Minute), Records: 50000},
	} {
		if err := cat.AddOperation(ctx, op); err != nil {
			t.Fatalf("operation %d: %v", i, err)
		}
	}
	must(cat.AddCleanup(ctx, catalog.Cleanup{RunID: f.runID, Kind: "export_files", Host: "local:/tmp/staging", SQL: "remove staged files", User: "admin", Rows: 2}))

	// A running run: export half done with a known total, import with none yet.
	f.live, err = cat.CreateRun(ctx, "big", "manual", map[string]any{}, []catalog.RunTask{{ID: 1, SourceTable: "public.big", TargetTable: "public.big"}}, stages)
	must(err)
	must(cat.SetRunStatus(ctx, f.live, catalog.RunRunning, ""))
	_, err = cat.StartStage(ctx, f.live, 1, "ExportTable")
	must(err)
	must(cat.SetStageTotal(ctx, f.live, 1, "ExportTable", 2000))
	must(cat.StageProgress(ctx, f.live, 1, "ExportTable", 500, 100))
	_, err = cat.StartStage(ctx, f.live, 1, "ImportTable")
	must(err)
	must(cat.StageProgress(ctx, f.live, 1, "ImportTable", 200, 100))

	// An inconsistent run with differing rows.
	must(cat.SetRunStatus(ctx, f.live, catalog.RunRunning, ""))
	must(cat.CreateJob(ctx, catalog.Job{Name: "check", Mode: "batch", Kind: "table", Source: "pgsrc", SourceTable: "c",
		Target: "mydst", TargetTable: "c", ScheduleKind: "none", ScheduleState: "none", Options: map[string]string{}}))
	f.bad, err = cat.CreateRun(ctx, "check", "manual", map[string]any{}, []catalog.RunTask{{ID: 1, SourceTable: "c", TargetTable: "c"}}, stages)
	must(err)
	must(cat.AddDiffs(ctx, f.bad, 1, []catalog.Diff{{Key: `[7]`, Side: "source", Row: `[7,"seven"]`}, {Key: `[7]`, Side: "target", Row: `[7,"SEVEN"]`}}))
	must(cat.SetRunStatus(ctx, f.bad, catalog.RunDataInconsistent, "c differs"))

	// CDC state with a lag sample.
	cdcRun, err := cat.CreateRun(ctx, "stream", "manual", map[string]any{}, []catalog.RunTask{{ID: 1, SourceTable: "public.t", TargetTable: "t"}}, []string{"Snapshot", "Stream"})
	must(err)
	must(cat.StartCDCState(ctx, "stream", cdcRun, "slot", "pub", true))
	must(cat.RecordCDCProgress(ctx, "stream", catalog.CDCProgress{SourcePosition: "0/16B3748", CheckpointPosition: "0/16B3700",
		CheckpointAt: now, LastEventAt: now, LagMS: 1500, Inserts: 3, Updates: 2, Deletes: 1}))
	// A second report within 10 s adds no sample.
	must(cat.RecordCDCProgress(ctx, "stream", catalog.CDCProgress{SourcePosition: "0/16B3800", LagMS: 900, Inserts: 1}))

	// DDL task with a table result.
	must(cat.CreateDDLTask(ctx, catalog.DDLTask{Name: "mig", Source: "pgsrc", Target: "mydst", Options: map[string]string{}}))
	must(cat.StartDDLTask(ctx, "mig"))
	must(cat.RecordDDLTable(ctx, "mig", catalog.DDLTableResult{Table: "orders", Status: "success", Message: "created", SQL: "CREATE TABLE orders (id bigint PRIMARY KEY)"}))
	must(cat.FinishDDLTask(ctx, "mig", catalog.DDLFinished, "1 table"))

	verifier, err := wire.SCRAMVerifier("reader-pass-1")
	must(err)
	must(cat.CreateUser(ctx, catalog.User{Name: "reader", Role: catalog.RoleReadonly, SCRAMVerifier: verifier}))
	return f
}

func newServer(t *testing.T, f *fixture, trust, tls bool) *Server {
	t.Helper()
	s, err := New(Config{Catalog: f.cat, TrustLoopback: trust, TLS: tls})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type resp struct {
	code   int
	body   string
	header http.Header
}

func do(t *testing.T, s http.Handler, method, target, remote string, body io.Reader, mod ...func(*http.Request)) resp {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = remote
	for _, m := range mod {
		m(r)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return resp{code: w.Code, body: w.Body.String(), header: w.Header()}
}

const (
	local  = "127.0.0.1:50000"
	remote = "192.0.2.10:50000" // TEST-NET-1: only an address string, nothing is sent
)

func noSecrets(t *testing.T, what, body string) {
	t.Helper()
	for _, sec := range testSecrets {
		if strings.Contains(body, sec) {
			t.Errorf("%s shows the secret %q", what, sec)
		}
	}
}

func allPaths(f *fixture) []string {
	return []string{"/", "/?range=week", "/?range=month&sort=-records", "/?from=2000-01-01&to=2100-01-01&q=ord",
		"/overview/pgsrc", "/overview/mydst?range=month", "/jobs", "/runs", "/runs?job=orders&status=completed",
		"/runs/" + f.runID, "/runs/" + f.live, "/runs/" + f.bad, "/cdc", "/ddl", "/cleanup", "/datasources",
		"/api/overview", "/api/overview/pgsrc", "/api/jobs", "/api/runs", "/api/runs/" + f.runID, "/api/runs/" + f.live + "/progress",
		"/api/cdc", "/api/cdc/stream/lag", "/api/runs/" + f.bad}
}

func TestPagesUnderLoopbackTrust(t *testing.T) {
	f := newFixture(t)
	s := newServer(t, f, true, false)
	want := map[string][]string{
		"/":                                     {"pgsrc", "mydst", "Records", "This week", "Refresh"},
		"/jobs":                                 {"orders", "CRON &#39;0 2 * * *&#39;", "2030-01-01 02:00:00", "2030-01-04 02:00:00", "completed", "big"},
		"/runs":                                 {f.runID, f.live, `data-progress-run="` + f.live + `"`, "<progress"},
		"/runs/" + f.runID:                      {"orders/run/t1.csv.zst", "TableDataDiff", "CLEAN EXPORT FILES FOR RUN &#39;" + f.runID + "&#39;"},
		"/runs/" + f.bad:                        {"SEVEN", "RETRY RUN &#39;" + f.bad + "&#39;", "data_inconsistent"},
		"/cdc":                                  {"stream", "<svg", "0/16B3800", "0/16B3700"},
		"/ddl":                                  {"mig", "CREATE TABLE orders (id bigint PRIMARY KEY)", "success"},
		"/cleanup":                              {"remove staged files", "local:/tmp/staging"},
		"/datasources":                          {"pgsrc", "bucket", "********"},
		"/api/runs/" + f.runID:                  {`"stages"`, `"files"`},
		"/api/cdc/stream/lag":                   {`"samples"`, `"lag_ms": 1500`},
		"/overview/pgsrc":                       {"items", "orders"},
		"/api/overview/pgsrc":                   {`"table_name": "items"`},
		"/api/jobs":                             {`"next_fires"`},
		"/api/runs":                             {f.bad},
		"/?range=week":                          {"This week: since"},
		"/?from=2000-01-01&to=2100-01-01&q=ord": {"ILIKE"},
	}
	for _, p := range allPaths(f) {
		r := do(t, s, "GET", p, local, nil)
		if r.code != http.StatusOK {
			t.Errorf("GET %s = %d: %s", p, r.code, r.body)
			continue
		}
		noSecrets(t, p, r.body)
		for _, w := range want[p] {
			if !strings.Contains(r.body, w) {
				t.Errorf("GET %s lacks %q", p, w)
			}
		}
		if strings.HasPrefix(p, "/api/") {
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || !json.Valid([]byte(r.body)) {
				t.Errorf("GET %s: content type %q, valid JSON %v", p, ct, json.Valid([]byte(r.body)))
			}
		} else if !strings.Contains(r.body, "<h1>") || !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: not a page with the CSP", p)
		}
	}
	for _, p := range []string{"/runs/nope", "/overview/nope", "/api/runs/nope/progress", "/api/cdc/orders/lag", "/nothing", "/api/nothing"} {
		if r := do(t, s, "GET", p, local, nil); r.code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, r.code)
		}
	}
	for _, p := range []string{"/?range=year", "/?from=yesterday", "/?sort=password", "/runs?status=odd", "/api/cdc/stream/lag?minutes=0"} {
		if r := do(t, s, "GET", p, local, nil); r.code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", p, r.code)
		}
	}
	// The static files are embedded.
	for _, p := range []string{"/static/style.css", "/static/live.js"} {
		if r := do(t, s, "GET", p, local, nil); r.code != http.StatusOK || len(r.body) < 500 {
			t.Errorf("GET %s = %d (%d bytes)", p, r.code, len(r.body))
		}
	}
}

func TestNothingChangesThroughTheDashboard(t *testing.T) {
	f := newFixture(t)
	s := newServer(t, f, true, false)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		for _, p := range []string{"/runs", "/runs/" + f.runID, "/api/runs/" + f.runID + "/progress", "/jobs"} {
			if r := do(t, s, m, p, local, strings.NewReader("x=1")); r.code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", m, p, r.code)
			}
		}
	}
	// No form on any page posts anywhere but login and logout.
	for _, p := range allPaths(f) {
		body := do(t, s, "GET", p, local, nil).body
		if strings.Contains(strings.ToLower(body), `method="post"`) && !strings.Contains(body, `action="/logout"`) && !strings.Contains(body, `action="/login"`) {
			t.Errorf("%s has a form that posts", p)
		}
	}
}

func jsonOf(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}

type progressJSON struct {
	RunID  string `json:"run_id"`
	Status string `json:"status"`
	Stages []struct {
		TaskID     int64    `json:"task_id"`
		Stage      string   `json:"stage"`
		Status     string   `json:"status"`
		Rows       int64    `json:"rows"`
		Total      *int64   `json:"total"`
		Percent    *float64 `json:"percent"`
		RowsPerSec *float64 `json:"rows_per_sec"`
	} `json:"stages"`
}

func TestProgressJSON(t *testing.T) {
	f := newFixture(t)
	s := newServer(t, f, true, false)
	var p progressJSON
	jsonOf(t, do(t, s, "GET", "/api/runs/"+f.live+"/progress", local, nil).body, &p)
	if p.RunID != f.live || p.Status != "running" || len(p.Stages) != 3 {
		t.Fatalf("progress = %+v", p)
	}
	ex, im, df := p.Stages[0], p.Stages[1], p.Stages[2]
	if ex.Stage != "ExportTable" || ex.Status != "running" || ex.Rows != 500 || ex.Total == nil || *ex.Total != 2000 || ex.Percent == nil || *ex.Percent != 25 {
		t.Errorf("export = %+v", ex)
	}
	// The import has no total of its own: it follows the export's.
	if im.Stage != "ImportTable" || im.Rows != 200 || im.Total == nil || *im.Total != 2000 || im.Percent == nil || *im.Percent != 10 {
		t.Errorf("import = %+v", im)
	}
	if df.Stage != "TableDataDiff" || df.Status != "pending" || df.Rows != 0 || df.RowsPerSec != nil {
		t.Errorf("diff = %+v", df)
	}
	// The same numbers through the view SQL clients read.
	var pct float64
	if err := f.cat.ReadDB().QueryRow(`SELECT percent FROM dataflow_run_progress WHERE run_id = ? AND stage = 'ExportTable'`, f.live).Scan(&pct); err != nil || pct != 25 {
		t.Errorf("view percent %v, %v", pct, err)
	}
	// A stage with no known total at all is indeterminate on the page.
	ctx := context.Background()
	id, err := f.cat.CreateRun(ctx, "orders", "manual", map[string]any{}, []catalog.RunTask{{ID: 1, SourceTable: "o", TargetTable: "o"}}, []string{"ExportTable", "ImportTable", "TableDataDiff"})
	if err != nil {
		t.Fatal(err)
	}
	f.cat.SetRunStatus(ctx, id, catalog.RunRunning, "")
	f.cat.StartStage(ctx, id, 1, "ExportTable")
	f.cat.StageProgress(ctx, id, 1, "ExportTable", 77, 1)
	jsonOf(t, do(t, s, "GET", "/api/runs/"+id+"/progress", local, nil).body, &p)
	if p.Stages[0].Total != nil || p.Stages[0].Percent != nil || p.Stages[0].Rows != 77 {
		t.Errorf("unknown total: %+v", p.Stages[0])
	}
	page := do(t, s, "GET", "/runs/"+id, local, nil).body
	if strings.Count(page, `aria-busy="true"`) != 1 || !strings.Contains(page, "77 rows") {
		t.Errorf("run page: want one indeterminate bar (the running export; pending stages are empty bars):\n%s", page)
	}
	// Completed stages are 100%.
	jsonOf(t, do(t, s, "GET", "/api/runs/"+f.runID+"/progress", local, nil).body, &p)
	for _, st := range p.Stages {
		if st.Status != "completed" || st.Percent == nil || *st.Percent != 100 || st.Total == nil || *st.Total != st.Rows {
			t.Errorf("completed stage %+v", st)
		}
	}
	page = do(t, s, "GET", "/runs", local, nil).body
	if !strings.Contains(page, `value="25"`) || !strings.Contains(page, "500 of 2,000 rows · 25.0%") {
		t.Errorf("runs page lacks the export's bar at 25%%")
	}
}

type overviewJSONRow struct {
	Datasource string  `json:"datasource"`
	Table      string  `json:"table_name"`
	Operation  string  `json:"operation"`
	Executions int64   `json:"executions"`
	Records    int64   `json:"records"`
	Avg        float64 `json:"avg_seconds"`
	Total      float64 `json:"total_seconds"`
}

func TestOverviewEqualsTheViews(t *testing.T) {
	f := newFixture(t)
	s := newServer(t, f, true, false)
	db := f.cat.ReadDB()
	query := func(q string, args ...any) []overviewJSONRow {
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []overviewJSONRow
		for rows.Next() {
			var r overviewJSONRow
			if err := rows.Scan(&r.Datasource, &r.Operation, &r.Executions, &r.Records, &r.Avg, &r.Total); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	get := func(p string) []overviewJSONRow {
		var v struct{ Rows []overviewJSONRow }
		r := do(t, s, "GET", p, local, nil)
		if r.code != 200 {
			t.Fatalf("GET %s = %d %s", p, r.code, r.body)
		}
		jsonOf(t, r.body, &v)
		return v.Rows
	}
	same := func(what string, got, want []overviewJSONRow) {
		t.Helper()
		if len(want) == 0 {
			t.Fatalf("%s: the view has no rows to compare", what)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s:\n got %s\nwant %s", what, gb, wb)
		}
	}
	all := query(`SELECT datasource, operation, executions, records, avg_seconds, total_seconds FROM dataflow_overview ORDER BY datasource, operation`)
	same("all time", get("/api/overview"), all)
	// The query shown is what a client would write: no column twice.
	for p, order := range map[string]string{"/api/overview": "ORDER BY datasource, operation;", "/api/overview?sort=-records": "ORDER BY records DESC, datasource, operation;"} {
		var v struct{ SQL string }
		jsonOf(t, do(t, s, "GET", p, local, nil).body, &v)
		if !strings.HasSuffix(v.SQL, order) {
			t.Errorf("GET %s: sql %q, want it to end %q", p, v.SQL, order)
		}
	}
	// This week: the view's own aggregates over the week's operations.
	monday := time.Now().UTC().Truncate(24 * time.Hour)
	monday = monday.AddDate(0, 0, -((int(monday.Weekday()) + 6) % 7))
	week := query(`SELECT datasource, operation, count(*), sum(records), avg(seconds), sum(seconds) FROM dataflow_operations
		WHERE started_at >= ? GROUP BY datasource, operation ORDER BY datasource, operation`, catalog.FormatTime(monday))
	same("this week", get("/api/overview?range=week"), week)
	var weekRecords, allRecords int64
	for _, r := range week {
		weekRecords += r.Records
	}
	for _, r := range all {
		allRecords += r.Records
	}
	if allRecords-weekRecords != 50000 {
		t.Errorf("the 60-day-old operation should be outside this week: all %d, week %d", allRecords, weekRecords)
	}
	// Sorted by records, both ways.
	byRec := get("/api/overview?sort=-records")
	if !sort.SliceIsSorted(byRec, func(i, j int) bool { return byRec[i].Records > byRec[j].Records }) || len(byRec) != len(all) {
		t.Errorf("sort=-records: %+v", byRec)
	}
	byRec = get("/api/overview?sort=records")
	if !sort.SliceIsSorted(byRec, func(i, j int) bool { return byRec[i].Records < byRec[j].Records }) || byRec[0].Records == byRec[len(byRec)-1].Records {
		t.Errorf("sort=records: %+v", byRec)
	}
	// Search by table name, table dimension of one datasource.
	for _, r := range get("/api/overview/mydst?q=ARCH") {
		if r.Table != "archive" {
			t.Errorf("q=ARCH found %+v", r)
		}
	}
	if got := get("/api/overview/mydst?q=ARCH"); len(got) != 1 || got[0].Records != 50000 {
		t.Errorf("q=ARCH: %+v", got)
	}
	if got := get("/api/overview?from=2000-01-01&to=2000-01-31"); len(got) != 0 {
		t.Errorf("a range without operations: %+v", got)
	}
	// The page's records column sorts the same way.
	page := do(t, s, "GET", "/?sort=-records", local, nil).body
	if !strings.Contains(page, `aria-sort="descending"`) {
		t.Errorf("the sorted column is not marked")
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		trust  bool
		tls    bool
		client string
	}{{"trust-remote", true, false, remote}, {"password-loopback", false, false, local}, {"password-tls", false, true, local}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, f, tc.trust, tc.tls)
			r := do(t, s, "GET", "/runs?job=orders", tc.client, nil)
			if r.code != http.StatusSeeOther || r.header.Get("Location") != "/login?next="+url.QueryEscape("/runs?job=orders") {
				t.Fatalf("anonymous GET /runs = %d, Location %q", r.code, r.header.Get("Location"))
			}
			if r := do(t, s, "GET", "/api/runs/"+f.runID+"/progress", tc.client, nil); r.code != http.StatusUnauthorized || strings.Contains(r.body, f.runID) {
				t.Fatalf("anonymous API = %d %s", r.code, r.body)
			}
			if r := do(t, s, "GET", "/login", tc.client, nil); r.code != 200 || !strings.Contains(r.body, `type="password"`) {
				t.Fatalf("login form = %d", r.code)
			}
			post := func(user, pw string, mod ...func(*http.Request)) resp {
				form := url.Values{"user": {user}, "password": {pw}, "next": {"/runs?job=orders"}}
				return do(t, s, "POST", "/login", tc.client, strings.NewReader(form.Encode()), append([]func(*http.Request){func(r *http.Request) {
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}}, mod...)...)
			}
			for _, bad := range [][2]string{{"reader", "wrong"}, {"nobody", "reader-pass-1"}, {"admin", ""}, {"reader", ""}} {
				r := post(bad[0], bad[1])
				if r.code != http.StatusUnauthorized || r.header.Get("Set-Cookie") != "" || !strings.Contains(r.body, "Wrong user name or password") {
					t.Errorf("login %q/%q = %d, cookie %q", bad[0], bad[1], r.code, r.header.Get("Set-Cookie"))
				}
				if strings.Contains(r.body, bad[1]) && bad[1] != "" {
					t.Errorf("the refused password is echoed")
				}
			}
			if r := post("reader", "reader-pass-1", func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }); r.code != http.StatusForbidden {
				t.Errorf("cross-origin login = %d", r.code)
			}
			if r := post("reader", "reader-pass-1", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }); r.code != http.StatusForbidden {
				t.Errorf("cross-site login = %d", r.code)
			}
			r = post("reader", "reader-pass-1")
			if r.code != http.StatusSeeOther || r.header.Get("Location") != "/runs?job=orders" {
				t.Fatalf("login = %d, Location %q: %s", r.code, r.header.Get("Location"), r.body)
			}
			c := (&http.Response{Header: r.header}).Cookies()
			if len(c) != 1 || c[0].Name != cookieName || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Secure != tc.tls || len(c[0].Value) < 40 {
				t.Fatalf("cookie %+v", c)
			}
			withCookie := func(r *http.Request) { r.AddCookie(c[0]) }
			for _, p := range allPaths(f) {
				r := do(t, s, "GET", p, tc.client, nil, withCookie)
				if r.code != 200 {
					t.Errorf("GET %s as reader = %d", p, r.code)
				}
				noSecrets(t, p, r.body)
				if !strings.HasPrefix(p, "/api/") && !strings.Contains(r.body, "reader (readonly)") {
					t.Errorf("GET %s does not say who is logged in", p)
				}
			}
			// A forged or foreign token is nobody.
			if r := do(t, s, "GET", "/jobs", tc.client, nil, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: cookieName, Value: "forged"}) }); r.code != http.StatusSeeOther {
				t.Errorf("forged cookie = %d", r.code)
			}
			// A password change ends the session.
			v2, _ := wire.SCRAMVerifier("reader-pass-2")
			if err := f.cat.SetUserVerifier(context.Background(), "reader", v2); err != nil {
				t.Fatal(err)
			}
			if r := do(t, s, "GET", "/jobs", tc.client, nil, withCookie); r.code != http.StatusSeeOther {
				t.Errorf("session after a password change = %d", r.code)
			}
			r = post("reader", "reader-pass-2")
			c = (&http.Response{Header: r.header}).Cookies()
			if r.code != http.StatusSeeOther || len(c) != 1 {
				t.Fatalf("login with the new password = %d", r.code)
			}
			// Logout ends it.
			if r := do(t, s, "POST", "/logout", tc.client, nil, func(r *http.Request) { r.AddCookie(c[0]) }); r.code != http.StatusSeeOther {
				t.Errorf("logout = %d", r.code)
			}
			if r := do(t, s, "GET", "/jobs", tc.client, nil, func(r *http.Request) { r.AddCookie(c[0]) }); r.code != http.StatusSeeOther {
				t.Errorf("session after logout = %d", r.code)
			}
			v1, _ := wire.SCRAMVerifier("reader-pass-1")
			f.cat.SetUserVerifier(context.Background(), "reader", v1)
		})
	}
}

func TestSessionsExpire(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	s, err := New(Config{Catalog: f.cat, SessionTTL: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"user": {"reader"}, "password": {"reader-pass-1"}}
	r := do(t, s, "POST", "/login", local, strings.NewReader(form.Encode()), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	})
	c := (&http.Response{Header: r.header}).Cookies()
	if len(c) != 1 {
		t.Fatalf("login = %d", r.code)
	}
	if r := do(t, s, "GET", "/", local, nil, func(r *http.Request) { r.AddCookie(c[0]) }); r.code != 200 {
		t.Fatalf("fresh session = %d", r.code)
	}
	now = now.Add(61 * time.Minute)
	if r := do(t, s, "GET", "/", local, nil, func(r *http.Request) { r.AddCookie(c[0]) }); r.code != http.StatusSeeOther {
		t.Fatalf("expired session = %d", r.code)
	}
}

func TestCheckPasswordAgainstWireVerifier(t *testing.T) {
	v, err := wire.SCRAMVerifier("pässword with spaces")
	if err != nil {
		t.Fatal(err)
	}
	if !checkPassword(v, "pässword with spaces") || checkPassword(v, "pässword with space") || checkPassword(v, "") {
		t.Fatal("checkPassword disagrees with wire.SCRAMVerifier")
	}
	for _, bad := range []string{"", "md5abc", "SCRAM-SHA-256$x:salt$a:b", "SCRAM-SHA-256$4096:c2FsdA==$YQ==:Yg=="} {
		if checkPassword(bad, "") {
			t.Errorf("verifier %q accepted", bad)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/runs?job=a": "/runs?job=a", "//evil.example/": "/", "https://evil.example": "/",
		"/\\evil.example": "/", "": "/", "runs": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCDCLagSamples(t *testing.T) {
	f := newFixture(t)
	s := newServer(t, f, true, false)
	var v struct {
		Samples []struct {
			At    time.Time `json:"at"`
			LagMS int64     `json:"lag_ms"`
			Event int64     `json:"events"`
		}
	}
	jsonOf(t, do(t, s, "GET", "/api/cdc/stream/lag", local, nil).body, &v)
	// Two reports within 10 s: one sample, the first report's lag.
	if len(v.Samples) != 1 || v.Samples[0].LagMS != 1500 || v.Samples[0].Event != 6 {
		t.Fatalf("samples = %+v", v.Samples)
	}
	page := do(t, s, "GET", "/cdc", local, nil).body
	if !strings.Contains(page, "<polyline") && !strings.Contains(page, "<circle") {
		t.Errorf("the CDC page draws no line")
	}
	// Age the sample by 25 h (test only: straight into the table): the
	// next report appends a sample and prunes the old one.
	db := f.cat.ReadDB()
	if _, err := db.Exec(`UPDATE cdc_lag_samples SET at = ?`, catalog.FormatTime(time.Now().Add(-25*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := f.cat.RecordCDCProgress(context.Background(), "stream", catalog.CDCProgress{LagMS: 700}); err != nil {
		t.Fatal(err)
	}
	var n int
	var lag int64
	if err := db.QueryRow(`SELECT count(*), max(lag_ms) FROM dataflow_cdc_lag WHERE job = 'stream'`).Scan(&n, &lag); err != nil || n != 1 || lag != 700 {
		t.Fatalf("after pruning: %d samples, lag %d, %v", n, lag, err)
	}
}

// A failed run's page shows the database's error on its stage, the bad
// records it skipped, and RETRY RUN as text; the runs list filters by job
// and by status (the other runs are not on the page).
func TestFailedRunPageAndRunFilters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	failed, err := f.cat.CreateRun(ctx, "check", "manual", map[string]any{}, []catalog.RunTask{{ID: 1, SourceTable: "c", TargetTable: "c"}},
		[]string{"ExportTable", "ImportTable", "TableDataDiff"})
	must(err)
	must(f.cat.SetRunStatus(ctx, failed, catalog.RunRunning, ""))
	_, err = f.cat.StartStage(ctx, failed, 1, "ExportTable")
	must(err)
	must(f.cat.FinishStage(ctx, failed, 1, "ExportTable", catalog.StageCompleted, 10, 100, ""))
	_, err = f.cat.StartStage(ctx, failed, 1, "ImportTable")
	must(err)
	const dbErr = `ERROR: new row for relation "c" violates check constraint "no_473" (SQLSTATE 23514)`
	must(f.cat.FinishStage(ctx, failed, 1, "ImportTable", catalog.StageFailed, 4, 40, dbErr))
	for i, rec := range []string{"7,<not a number>", "8,\"unterminated"} {
		_, err := f.cat.AddRunError(ctx, catalog.RunError{RunID: failed, TaskID: 1, Position: fmt.Sprintf("c.csv:%d", i+2), Error: "bad value in column id", Record: rec})
		must(err)
	}
	must(f.cat.SetRunStatus(ctx, failed, catalog.RunFailed, "ImportTable of c failed"))
	s := newServer(t, f, true, false)

	r := do(t, s, "GET", "/runs/"+failed, local, nil)
	if r.code != 200 {
		t.Fatalf("GET /runs/%s = %d", failed, r.code)
	}
	for _, w := range []string{
		"violates check constraint &#34;no_473&#34; (SQLSTATE 23514)", // the stage's message, escaped
		"<h2>Bad records</h2>", "c.csv:2", "c.csv:3", "bad value in column id", "7,&lt;not a number&gt;",
		"RETRY RUN &#39;" + failed + "&#39;", "ImportTable of c failed",
	} {
		if !strings.Contains(r.body, w) {
			t.Errorf("the failed run's page lacks %q", w)
		}
	}
	if strings.Contains(r.body, "<not a number>") {
		t.Errorf("a bad record is not escaped")
	}
	var api map[string]any
	jsonOf(t, do(t, s, "GET", "/api/runs/"+failed, local, nil).body, &api)
	if b, _ := json.Marshal(api); !strings.Contains(string(b), "no_473") {
		t.Errorf("/api/runs/%s lacks the stage's error: %s", failed, b)
	}

	for _, c := range []struct {
		query     string
		want, not []string
	}{
		{"job=orders", []string{f.runID}, []string{f.live, f.bad, failed}},
		{"status=failed", []string{failed}, []string{f.runID, f.live, f.bad}},
		{"job=check&status=data_inconsistent", []string{f.bad}, []string{failed, f.runID, f.live}},
		{"status=running", []string{f.live}, []string{f.runID, f.bad, failed}},
	} {
		body := do(t, s, "GET", "/runs?"+c.query, local, nil).body
		for _, id := range c.want {
			if !strings.Contains(body, id) {
				t.Errorf("/runs?%s lacks run %s", c.query, id)
			}
		}
		for _, id := range c.not {
			if strings.Contains(body, id) {
				t.Errorf("/runs?%s shows run %s", c.query, id)
			}
		}
		api := do(t, s, "GET", "/api/runs?"+c.query, local, nil).body
		for _, id := range c.not {
			if strings.Contains(api, id) {
				t.Errorf("/api/runs?%s lists run %s", c.query, id)
			}
		}
	}
}
