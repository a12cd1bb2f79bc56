package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	_ "github.com/mattn/go-sqlite3"

	"github.com/flowgate/flowgate/catalog"
)

// The secret of a datasource that exists only to be looked for.
const dashSecret = "Dash-Secret-Pw-7731"

type barState struct {
	Key    string  `json:"key"`
	Status string  `json:"status"`
	Pos    float64 `json:"pos"` // -1: indeterminate
	Value  float64 `json:"value"`
	Text   string  `json:"text"`
	Label  string  `json:"label"`
	Aria   string  `json:"aria"`
}

type runState struct {
	Status string     `json:"status"`
	Live   string     `json:"live"`
	Mark   bool       `json:"mark"` // set before the first read: gone after a reload
	Bars   []barState `json:"bars"`
}

func readProgress(b *browser, runID string) *runState {
	b.t.Helper()
	return evalJS[*runState](b, fmt.Sprintf(`(() => {
		const box = document.querySelector('[data-progress-run=%q]');
		if (!box) return null;
		const st = box.querySelector('[data-run-status]');
		return {status: st ? st.textContent : '', live: box.getAttribute('data-live') || '', mark: window.__fgMark === 1,
			bars: Array.from(box.querySelectorAll('tr[data-key]')).map(tr => {
				const p = tr.querySelector('progress');
				return {key: tr.getAttribute('data-key'), status: tr.querySelector('.stage-status').textContent,
					pos: p.position, value: p.value, text: tr.querySelector('.ptext').textContent,
					label: p.getAttribute('aria-label') || '', aria: p.getAttribute('aria-valuetext') || ''};
			})};
	})()`, runID))
}

// overviewRows reads the overview table: first cell, operation,
// executions, records (data-value).
func overviewRows(b *browser) [][]string {
	b.t.Helper()
	return evalJS[[][]string](b, `Array.from(document.querySelectorAll('#overview tbody tr')).filter(tr => tr.querySelector('[data-col=records]')).map(tr => {
		const c = tr.children;
		return [c[0].textContent.trim(), c[1].textContent.trim(), c[2].textContent.trim().replaceAll(',', ''), tr.querySelector('[data-col=records]').getAttribute('data-value')];
	})`)
}

func dashSQLRows(t testing.TB, c *pgx.Conn, q string) [][]string {
	t.Helper()
	rows, err := c.Query(context.Background(), q, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var r []string
		for _, v := range vals {
			r = append(r, fmt.Sprint(v))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func recordsOf(t testing.TB, rows [][]string) []int64 {
	t.Helper()
	var out []int64
	for _, r := range rows {
		n, err := strconv.ParseInt(r[3], 10, 64)
		if err != nil {
			t.Fatalf("records %q: %v", r[3], err)
		}
		out = append(out, n)
	}
	return out
}

// TestDashboardInTheBrowser runs a 2,000,000-row PostgreSQL batch job and
// a CDC job against the real binary and looks at every page in headless
// Chromium: the runs page's bar moves without a reload and ends at 100%
// and completed; the overview equals dataflow.overview, sorts by records
// and filters by this week; no page or JSON shows a datasource secret.
func TestDashboardInTheBrowser(t *testing.T) {
	started := time.Now()
	ctx := context.Background()
	rig := newPGRig(t, "dashsrc", "dashdst")
	dropSlotsAfter(t, rig.pg, rig.srcDB)
	const bigDDL = `CREATE TABLE big (id bigint PRIMARY KEY, n int NOT NULL, note text)`
	mustPG(t, rig.src, bigDDL, `INSERT INTO big SELECT g, g % 1000, 'row ' || g FROM generate_series(1, 2000000) g`,
		`CREATE TABLE small (id bigint PRIMARY KEY, v text)`, `INSERT INTO small VALUES (1, 'one')`)
	mustPG(t, rig.dst, bigDDL, `CREATE TABLE small (id bigint PRIMARY KEY, v text)`)
	t.Logf("source loaded in %s", time.Since(started).Round(time.Millisecond))

	g, c := rig.start(t, pgx.QueryExecModeExec)
	mustExec(t, c, fmt.Sprintf(`CREATE DATASOURCE vault TYPE postgres OPTIONS (host '127.0.0.1', port '1', database 'x', user 'u', password %s)`, sqlString(dashSecret)))
	secrets := []string{dashSecret, rig.pg.Password}
	base := fmt.Sprintf("http://127.0.0.1:%d", g.metrics)

	// An operation from 60 days ago, written straight into the catalog (no
	// statement can backdate one): outside this week, inside all time.
	catDB, err := sql.Open("sqlite3", "file:"+filepath.Join(g.dir, "flowgate.db")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().AddDate(0, 0, -60)
	if _, err := catDB.Exec(`INSERT INTO operations (run_id, job, datasource, datasource_type, table_name, operation, started_at, finished_at, seconds, records, bytes)
		VALUES ('old-run', 'big', 'dst', 'postgres', 'archive', 'import', ?, ?, 60, 12345, 1)`, catalog.FormatTime(old), catalog.FormatTime(old.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	catDB.Close()

	mustExec(t, c, `CREATE SYNC JOB big FROM src.public.big TO dst.public.big MODE BATCH WITH (export_batch_rows = 20000)`)
	b := newBrowser(t, base)

	// --- live progress of a 2,000,000-row run ---
	run := runJob(t, c, "RUN SYNC JOB big")
	if run.Status != "created" && run.Status != "running" {
		t.Fatalf("RUN SYNC JOB big: %+v", run)
	}
	runStarted := time.Now()
	b.open("/runs")
	evalJS[chromedp.Void](b, `window.__fgMark = 1`)
	if st := readProgress(b, run.RunID); st == nil || len(st.Bars) != 3 {
		t.Fatalf("the runs page shows no progress bars for the running run %s:\n%s", run.RunID, b.html())
	}
	seen := map[string]float64{}
	var moved string
	deadline := time.Now().Add(90 * time.Second)
	for moved == "" && time.Now().Before(deadline) {
		st := readProgress(b, run.RunID)
		if st == nil || st.Status != "running" && st.Status != "created" {
			break
		}
		for _, bar := range st.Bars {
			if bar.Pos < 0 || bar.Status != "running" {
				continue
			}
			if prev, ok := seen[bar.Key]; ok && bar.Value > prev {
				moved = fmt.Sprintf("%s: %.1f%% then %.1f%% (%s)", bar.Key, prev, bar.Value, bar.Text)
				break
			}
			seen[bar.Key] = bar.Value
		}
		time.Sleep(300 * time.Millisecond)
	}
	if moved == "" {
		t.Fatalf("no progress bar's value increased between two reads while the run was running (values seen %v)\n%s", seen, g.logs())
	}
	t.Logf("bar moved: %s", moved)
	b.shot("runs-running")
	var final *runState
	for time.Since(runStarted) < 150*time.Second {
		final = readProgress(b, run.RunID)
		done := final != nil && final.Status == "completed" && final.Live == "done"
		for _, bar := range final.Bars {
			done = done && bar.Status == "completed" && bar.Pos >= 0 && bar.Value == 100
		}
		if done {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if final == nil || final.Status != "completed" || !final.Mark {
		t.Fatalf("run did not reach completed on the page without a reload: %+v\n%s", final, g.logs())
	}
	for _, bar := range final.Bars {
		if bar.Status != "completed" || bar.Value != 100 || !strings.Contains(bar.Text, "2,000,000 of 2,000,000 rows · 100.0%") ||
			bar.Label == "" || bar.Aria != bar.Text {
			t.Errorf("final bar %+v", bar)
		}
	}
	t.Logf("run %s completed in %s", run.RunID, time.Since(runStarted).Round(time.Millisecond))
	b.shot("runs-completed")
	var status string
	mustScan(t, c.QueryRow(ctx, "SELECT status FROM dataflow.runs WHERE run_id = $1", run.RunID), &status)
	if status != "completed" {
		t.Fatalf("dataflow.runs says %s", status)
	}

	// --- a CDC job, for the CDC page ---
	mustExec(t, c, `CREATE SYNC JOB rt FROM src.public.small TO dst.public.small MODE CDC`)
	runJob(t, c, "RUN SYNC JOB rt WAIT")
	mustPG(t, rig.src, `INSERT INTO small SELECT g, 'v' || g FROM generate_series(2, 50) g`, `UPDATE small SET v = 'changed' WHERE id < 10`)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if count(t, c, "SELECT coalesce(sum(events), 0) FROM dataflow.cdc_status WHERE job = 'rt'") >= 58 &&
			count(t, c, "SELECT count(*) FROM dataflow.cdc_lag WHERE job = 'rt'") >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CDC job rt did not apply 58 events with a lag sample within 30 s\n%s", g.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// --- overview: equal to dataflow.overview, sorted, filtered ---
	b.open("/")
	page := overviewRows(b)
	want := dashSQLRows(t, c, `SELECT datasource, operation, executions, records FROM dataflow.overview ORDER BY datasource, operation`)
	if fmtRows(page) != fmtRows(want) || len(want) < 2 {
		t.Errorf("overview page:\n%s\ndataflow.overview:\n%s", fmtRows(page), fmtRows(want))
	}
	b.shot("overview")
	b.clickAndWait("#sort-records", "sort=records")
	asc := recordsOf(t, overviewRows(b))
	b.clickAndWait("#sort-records", "sort=-records")
	desc := recordsOf(t, overviewRows(b))
	if len(asc) != len(want) || len(desc) != len(want) || asc[0] == asc[len(asc)-1] {
		t.Fatalf("sorted rows: %v / %v (need different values to see an order)", asc, desc)
	}
	for i := 1; i < len(asc); i++ {
		if asc[i-1] > asc[i] || desc[i-1] < desc[i] {
			t.Errorf("records not sorted: ascending %v, descending %v", asc, desc)
		}
	}
	b.clickAndWait("#range-week", "range=week")
	weekPage := overviewRows(b)
	weekSQL := dashSQLRows(t, c, `SELECT datasource, operation, count(*), sum(records)::int8 AS records FROM dataflow.operations
		WHERE started_at >= date_trunc('week', now()) GROUP BY datasource, operation ORDER BY records DESC, datasource, operation`)
	if fmtRows(weekPage) != fmtRows(weekSQL) {
		t.Errorf("this week on the page:\n%s\nin SQL:\n%s", fmtRows(weekPage), fmtRows(weekSQL))
	}
	var allTotal, weekTotal int64
	for _, n := range recordsOf(t, want) {
		allTotal += n
	}
	for _, n := range recordsOf(t, weekPage) {
		weekTotal += n
	}
	if allTotal-weekTotal != 12345 {
		t.Errorf("this week should leave out exactly the 60-day-old operation's 12345 records: all %d, week %d", allTotal, weekTotal)
	}
	b.shot("overview-this-week")
	// One click to the table dimension.
	b.clickAndWait(`#overview tbody a[href^="/overview/src"]`, "/overview/src")
	// big's export, and small's from the CDC snapshot.
	tables := fmtRows(overviewRows(b))
	if !strings.Contains(tables, "public.big | export | 1 | 2000000\n") || !strings.Contains(tables, "public.small | export | 1 | 1\n") {
		t.Errorf("src's tables this week:\n%s", tables)
	}
	b.shot("overview-tables")

	// --- the other pages ---
	pages := []struct{ path, name, want string }{
		{"/jobs", "jobs", "rt"},
		{"/runs?job=big", "runs-filtered", run.RunID},
		{"/runs/" + run.RunID, "run", "TableDataDiff"},
		{"/cdc", "cdc", "<svg"},
		{"/ddl", "ddl", "DDL tasks"},
		{"/cleanup", "cleanup", "Cleanup history"},
		{"/datasources", "datasources", "********"},
	}
	for _, p := range pages {
		b.open(p.path)
		h := b.html()
		if !strings.Contains(h, p.want) {
			t.Errorf("%s lacks %q", p.path, p.want)
		}
		noSecretIn(t, p.path, h, secrets...)
		b.shot(p.name)
	}
	b.open("/cdc")
	cdcFacts := evalJS[string](b, `document.querySelector('section.cdc').textContent`)
	if !strings.Contains(cdcFacts, "rt") || !strings.Contains(cdcFacts, "inserts") {
		t.Errorf("CDC section: %s", cdcFacts)
	}
	for _, p := range []string{"/", "/?range=month", "/overview/src", "/api/overview", "/api/jobs", "/api/runs", "/api/runs/" + run.RunID,
		"/api/runs/" + run.RunID + "/progress", "/api/cdc", "/api/cdc/rt/lag", "/datasources"} {
		code, body := httpGet(t, base+p, nil)
		if code != 200 {
			t.Errorf("GET %s = %d", p, code)
		}
		noSecretIn(t, p, body, secrets...)
	}
	if code, body := httpGet(t, base+"/api/cdc/rt/lag", nil); code != 200 || !strings.Contains(body, `"lag_ms"`) {
		t.Errorf("lag JSON = %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/metrics", nil); code != 200 || !strings.Contains(body, "flowgate_") {
		t.Errorf("/metrics = %d", code)
	}
	mustExec(t, c, "STOP SYNC JOB rt")
	mustExec(t, c, "DROP SYNC JOB rt")
	t.Logf("screenshots in %s; whole test %s", b.shots, time.Since(started).Round(time.Millisecond))
}

// TestDashboardLoginInTheBrowser: under --auth password every client logs
// in, loopback too; a wrong password is refused, a readonly user sees the
// pages, the session cookie is HttpOnly and SameSite=Strict.
func TestDashboardLoginInTheBrowser(t *testing.T) {
	g := startGateway(t)
	admin := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, admin, "ALTER USER admin PASSWORD 'admin-dash-1'")
	mustExec(t, admin, "CREATE USER viewer PASSWORD 'viewer-dash-1' ROLE readonly")
	mustExec(t, admin, fmt.Sprintf(`CREATE DATASOURCE vault TYPE postgres OPTIONS (host '127.0.0.1', port '1', database 'x', user 'u', password %s)`, sqlString(dashSecret)))
	admin.Close(context.Background())
	g.stop()
	g.args = append(g.args, "--auth", "password")
	g.restart()
	base := fmt.Sprintf("http://127.0.0.1:%d", g.metrics)

	if code, _ := httpGet(t, base+"/api/runs", nil); code != http.StatusUnauthorized {
		t.Errorf("anonymous /api/runs = %d", code)
	}
	if code, _ := httpGet(t, base+"/metrics", nil); code != 200 {
		t.Errorf("/metrics must stay open as before: %d", code)
	}
	b := newBrowser(t, base)
	b.do("open /runs", chromedp.Navigate(base+"/runs"), chromedp.WaitVisible(chromedp.CSS("#password")))
	if loc := b.location(); loc != "/login?next=%2Fruns" {
		t.Fatalf("anonymous /runs went to %s", loc)
	}
	b.shot("login")
	b.do("wrong password", chromedp.SendKeys(chromedp.CSS("#user"), "viewer"), chromedp.SendKeys(chromedp.CSS("#password"), "not-the-password"),
		chromedp.Click(chromedp.CSS("#login-submit")), chromedp.WaitVisible(chromedp.CSS("#login-error")))
	cookies := b.cookies()
	if len(cookies) != 0 || b.location() != "/login" {
		t.Fatalf("a wrong password got cookies %v at %s", cookies, b.location())
	}
	b.shot("login-refused")
	// The refused form keeps the user name and an empty password field.
	b.do("right password", chromedp.SendKeys(chromedp.CSS("#password"), "viewer-dash-1"))
	b.clickAndWait("#login-submit", "/runs")
	if loc := b.location(); loc != "/runs" {
		t.Fatalf("after login: %s", loc)
	}
	cookies = b.cookies()
	if len(cookies) != 1 || !cookies[0].HTTPOnly || cookies[0].SameSite != network.CookieSameSiteStrict || cookies[0].Secure {
		t.Fatalf("session cookie %+v", cookies)
	}
	for _, p := range []string{"/", "/jobs", "/runs", "/cdc", "/ddl", "/cleanup", "/datasources"} {
		b.open(p)
		h := b.html()
		if !strings.Contains(h, "viewer (readonly)") || strings.Contains(h, `id="password"`) {
			t.Errorf("%s as viewer: not logged in", p)
		}
		noSecretIn(t, p, h, dashSecret, "viewer-dash-1", "admin-dash-1")
	}
	b.open("/datasources")
	b.shot("datasources-as-viewer")
	// The session works for scripts too; without it, nothing.
	cookie := &http.Cookie{Name: cookies[0].Name, Value: cookies[0].Value}
	if code, body := httpGet(t, base+"/api/runs", cookie); code != 200 || !strings.Contains(body, `"runs"`) {
		t.Errorf("/api/runs with the session = %d %s", code, body)
	}
	// Log out: the cookie is dead.
	b.clickAndWait(`form[action="/logout"] button`, "/login")
	if code, _ := httpGet(t, base+"/api/runs", cookie); code != http.StatusUnauthorized {
		t.Errorf("/api/runs after logout = %d", code)
	}
}

// TestDashboardOverTLS: with --tls-cert/--tls-key the metrics listener
// speaks HTTPS only (dashboard and /metrics), and a login's session cookie
// is Secure.
func TestDashboardOverTLS(t *testing.T) {
	ca, cert, key := makeCerts(t)
	g := startGateway(t, "--tls-cert", cert, "--tls-key", key)
	admin := g.connect(t, "admin", pgx.QueryExecModeExec)
	mustExec(t, admin, "CREATE USER viewer PASSWORD 'viewer-tls-1' ROLE readonly")
	pemCA, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := fmt.Sprintf("https://127.0.0.1:%d", g.metrics)
	for _, p := range []string{"/metrics", "/runs"} {
		resp, err := client.Get(base + p)
		if err != nil {
			t.Fatalf("GET %s over TLS: %v", p, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.TLS == nil {
			t.Fatalf("%s over TLS = %d", p, resp.StatusCode)
		}
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", g.metrics)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP served /metrics on the TLS listener")
		}
	}
	resp, err := client.PostForm(base+"/login", url.Values{"user": {"viewer"}, "password": {"viewer-tls-1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login over TLS = %d, cookies %+v", resp.StatusCode, cs)
	}
}
