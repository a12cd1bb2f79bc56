package dashboard

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// --- overview ---

func (s *Server) overviewData(r *http.Request, datasource string) (map[string]any, error) {
	q := r.URL.Query()
	sp, err := parseSpan(q, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	col, desc, err := parseSort(q.Get("sort"), datasource != "")
	if err != nil {
		return nil, err
	}
	oq := overviewQuery{Span: sp, Search: q.Get("q"), Sort: col, Desc: desc, Datasource: datasource}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if datasource != "" {
		ok, err := s.db.datasourceExists(ctx, datasource)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, notFound("datasource %s", datasource)
		}
	}
	rows, pg, err := s.db.overview(ctx, oq)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"Rows": rows, "SQL": pg, "Query": oq, "Span": sp, "Datasource": datasource}
	// Links keep the other parameters.
	keep := url.Values{}
	for _, k := range []string{"range", "from", "to", "q", "sort"} {
		if v := q.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	d["Keep"] = keep
	return d, nil
}

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := s.overviewData(r, "")
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d["Title"] = "Overview"
	s.render(w, r, http.StatusOK, "overview", v, d)
}

func (s *Server) overviewTablesPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ds := r.PathValue("datasource")
	d, err := s.overviewData(r, ds)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d["Title"] = "Overview: " + ds
	s.render(w, r, http.StatusOK, "overview", v, d)
}

func overviewJSON(d map[string]any) map[string]any {
	sp := d["Span"].(span)
	out := map[string]any{"rows": d["Rows"], "sql": d["SQL"], "from": nil, "to": nil}
	if !sp.From.IsZero() {
		out["from"] = sp.From
	}
	if !sp.To.IsZero() {
		out["to"] = sp.To
	}
	if ds := d["Datasource"].(string); ds != "" {
		out["datasource"] = ds
	}
	return out
}

func (s *Server) apiOverview(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := s.overviewData(r, "")
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	writeJSON(w, overviewJSON(d))
}

func (s *Server) apiOverviewTables(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := s.overviewData(r, r.PathValue("datasource"))
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	writeJSON(w, overviewJSON(d))
}

// --- jobs ---

// nextFires decodes a schedule's next_fires list.
func nextFires(v any) []string {
	raw, ok := v.(json.RawMessage)
	if !ok {
		return nil
	}
	var out []string
	json.Unmarshal(raw, &out)
	return out
}

func (s *Server) jobsPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	jobs, err := s.db.jobs(ctx)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	for _, j := range jobs {
		j["next_fires"] = nextFires(j["next_fires"])
	}
	s.render(w, r, http.StatusOK, "jobs", v, map[string]any{"Title": "Jobs", "Jobs": jobs})
}

func (s *Server) apiJobs(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	jobs, err := s.db.jobs(ctx)
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"jobs": jobs})
}

// --- runs ---

const runsPerPage = 100

type runsQuery struct {
	Job, Status string
	Page        int
}

func parseRunsQuery(r *http.Request) (runsQuery, error) {
	q := r.URL.Query()
	rq := runsQuery{Job: q.Get("job"), Status: q.Get("status"), Page: 1}
	if rq.Status != "" {
		known := false
		for _, st := range runStatuses {
			known = known || st == rq.Status
		}
		if !known {
			return rq, badRequest("unknown status " + strconv.Quote(rq.Status))
		}
	}
	if p := q.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 100000 {
			return rq, badRequest("page must be a positive number")
		}
		rq.Page = n
	}
	return rq, nil
}

// runView is a run in a list, with its stages when it is active.
type runView struct {
	Run    Row
	Stages []Row
	Active bool
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	rq, err := parseRunsQuery(r)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	runs, err := s.db.runs(ctx, rq.Job, rq.Status, runsPerPage+1, (rq.Page-1)*runsPerPage)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	more := len(runs) > runsPerPage
	if more {
		runs = runs[:runsPerPage]
	}
	views := make([]runView, 0, len(runs))
	for _, run := range runs {
		rv := runView{Run: run, Active: activeStatus(str(run["status"]))}
		if rv.Active {
			if rv.Stages, err = s.db.progress(ctx, str(run["run_id"])); err != nil {
				s.fail(w, r, v, err)
				return
			}
		}
		views = append(views, rv)
	}
	jobs, err := s.db.jobNames(ctx)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	page := func(n int) string {
		u := url.Values{}
		if rq.Job != "" {
			u.Set("job", rq.Job)
		}
		if rq.Status != "" {
			u.Set("status", rq.Status)
		}
		u.Set("page", strconv.Itoa(n))
		return "/runs?" + u.Encode()
	}
	d := map[string]any{"Title": "Runs", "Runs": views, "Jobs": jobs, "Statuses": runStatuses, "Q": rq}
	if more {
		d["Older"] = page(rq.Page + 1)
	}
	if rq.Page > 1 {
		d["Newer"] = page(rq.Page - 1)
	}
	s.render(w, r, http.StatusOK, "runs", v, d)
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request, v *viewer) {
	rq, err := parseRunsQuery(r)
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	runs, err := s.db.runs(ctx, rq.Job, rq.Status, runsPerPage, (rq.Page-1)*runsPerPage)
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"runs": runs})
}

// runDetail is everything the run page shows.
func (s *Server) runDetail(r *http.Request) (map[string]any, error) {
	id := r.PathValue("run")
	ctx, cancel := s.ctx(r)
	defer cancel()
	run, err := s.db.run(ctx, id)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"Run": run, "Active": activeStatus(str(run["status"]))}
	if d["Tasks"], err = s.db.tasks(ctx, id); err != nil {
		return nil, err
	}
	if d["Stages"], err = s.db.progress(ctx, id); err != nil {
		return nil, err
	}
	if d["Files"], err = s.db.files(ctx, id); err != nil {
		return nil, err
	}
	if d["FileCount"], err = s.db.count(ctx, "dataflow_export_files", id); err != nil {
		return nil, err
	}
	if d["PresentFiles"], err = s.db.count(ctx, "dataflow_export_files", id, "state = 'present'"); err != nil {
		return nil, err
	}
	if d["Diffs"], err = s.db.diffs(ctx, id); err != nil {
		return nil, err
	}
	if d["DiffCount"], err = s.db.count(ctx, "dataflow_run_diffs", id); err != nil {
		return nil, err
	}
	cols, bad, has, err := s.db.badRecords(ctx, id)
	if err != nil {
		return nil, err
	}
	d["BadCols"], d["Bad"], d["HasBad"] = cols, bad, has
	return d, nil
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := s.runDetail(r)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	run := d["Run"].(Row)
	d["Title"] = "Run " + str(run["run_id"])
	d["Limit"] = listLimit
	s.render(w, r, http.StatusOK, "run", v, d)
}

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := s.runDetail(r)
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	out := map[string]any{"run": d["Run"], "tasks": d["Tasks"], "stages": d["Stages"], "files": d["Files"],
		"file_count": d["FileCount"], "diffs": d["Diffs"], "diff_count": d["DiffCount"]}
	if d["HasBad"].(bool) {
		out["bad_records"] = d["Bad"]
	}
	writeJSON(w, out)
}

// apiProgress is what the runs and run pages poll: the run's status and,
// per task and stage, rows, total, percent, rows_per_sec and status
// (dataflow.run_progress).
func (s *Server) apiProgress(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("run")
	ctx, cancel := s.ctx(r)
	defer cancel()
	run, err := s.db.run(ctx, id)
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	stages, err := s.db.progress(ctx, id)
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"run_id": run["run_id"], "job": run["job"], "status": run["status"],
		"started_at": run["started_at"], "finished_at": run["finished_at"], "message": run["message"], "stages": stages})
}

// --- CDC ---

const lagWindow = time.Hour

type cdcJob struct {
	Status  Row
	Tables  []Row
	Samples []Row
	Chart   any
}

func (s *Server) cdcPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	status, err := s.db.cdcStatus(ctx)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	tables, err := s.db.cdcTables(ctx)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	now := s.cfg.Now().UTC()
	var jobs []cdcJob
	for _, st := range status {
		job := str(st["job"])
		cj := cdcJob{Status: st}
		for _, t := range tables {
			if str(t["job"]) == job {
				cj.Tables = append(cj.Tables, t)
			}
		}
		if cj.Samples, err = s.db.cdcLag(ctx, job, now.Add(-lagWindow)); err != nil {
			s.fail(w, r, v, err)
			return
		}
		cj.Chart = lagChart(job, cj.Samples, now.Add(-lagWindow), now)
		jobs = append(jobs, cj)
	}
	s.render(w, r, http.StatusOK, "cdc", v, map[string]any{"Title": "CDC", "Jobs": jobs})
}

func (s *Server) apiCDC(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	status, err := s.db.cdcStatus(ctx)
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	tables, err := s.db.cdcTables(ctx)
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"jobs": status, "tables": tables})
}

// apiCDCLag returns a CDC job's lag samples (dataflow.cdc_lag) of the last
// ?minutes= (default 60, at most 1440: samples are kept for 24 hours).
func (s *Server) apiCDCLag(w http.ResponseWriter, r *http.Request, v *viewer) {
	job := r.PathValue("job")
	minutes := 60
	if m := r.URL.Query().Get("minutes"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > 1440 {
			writeJSONError(w, http.StatusBadRequest, "minutes must be 1 to 1440")
			return
		}
		minutes = n
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	ok, err := s.db.cdcJobExists(ctx, job)
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	if !ok {
		writeJSONError(w, http.StatusNotFound, "no CDC job "+strconv.Quote(job))
		return
	}
	now := s.cfg.Now().UTC()
	from := now.Add(-time.Duration(minutes) * time.Minute)
	samples, err := s.db.cdcLag(ctx, job, from)
	if err != nil {
		s.failJSON(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"job": job, "from": from, "to": now, "samples": samples})
}

// --- DDL, cleanup, datasources ---

type ddlTask struct {
	Task   Row
	Tables []Row
}

func (s *Server) ddlPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	tasks, err := s.db.ddlTasks(ctx)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	tables, err := s.db.ddlTables(ctx)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	var out []ddlTask
	for _, t := range tasks {
		dt := ddlTask{Task: t}
		for _, x := range tables {
			if str(x["task"]) == str(t["name"]) {
				dt.Tables = append(dt.Tables, x)
			}
		}
		out = append(out, dt)
	}
	s.render(w, r, http.StatusOK, "ddl", v, map[string]any{"Title": "DDL tasks", "Tasks": out})
}

func (s *Server) cleanupPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	rows, err := s.db.cleanups(ctx)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	s.render(w, r, http.StatusOK, "cleanup", v, map[string]any{"Title": "Cleanup history", "Rows": rows, "Limit": listLimit})
}

func (s *Server) datasourcesPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	rows, err := s.db.datasources(ctx)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	s.render(w, r, http.StatusOK, "datasources", v, map[string]any{"Title": "Datasources", "Rows": rows})
}
