// Package dashboard is flowgate's read-only web dashboard (FEATURES.md
// section 9), served on the metrics listener next to /metrics: the
// overview, jobs, runs with live progress, a run's stages, files, diffs and
// errors, CDC lag, DDL tasks, cleanup history and datasources.
//
// It reads the catalog only through the dataflow_* views, the same rows SQL
// clients see, and changes nothing: every page names the statement to run
// through the wire protocol instead of offering a button. Pages are
// server-rendered html/template; a small embedded script polls the JSON
// endpoints under /api/ for the live parts. Everything it serves is embedded
// in the binary.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flowgate/flowgate/catalog"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config wires a Server.
type Config struct {
	Catalog *catalog.Catalog
	// TrustLoopback lets loopback clients in without a login (--auth
	// trust); everyone else logs in with a flowgate user's password.
	TrustLoopback bool
	// TLS says the listener serves HTTPS: session cookies get Secure.
	TLS bool
	// SessionTTL bounds a login's life; default 8 hours.
	SessionTTL time.Duration
	Logger     *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Server serves the dashboard. It is an http.Handler for every path but
// /metrics.
type Server struct {
	cfg      Config
	db       *viewDB
	pages    map[string]*template.Template
	mux      *http.ServeMux
	sessions *sessions
	log      *slog.Logger
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("dashboard: no catalog")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, db: &viewDB{db: cfg.Catalog.ReadDB()}, pages: pages, log: cfg.Logger,
		sessions: newSessions(cfg.SessionTTL, cfg.Now)}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(static))))
	m.HandleFunc("GET /login", s.loginForm)
	m.HandleFunc("POST /login", s.loginSubmit)
	m.HandleFunc("POST /logout", s.logout)

	page := func(pattern string, h func(w http.ResponseWriter, r *http.Request, v *viewer)) {
		m.Handle("GET "+pattern, s.authed(h, false))
	}
	api := func(pattern string, h func(w http.ResponseWriter, r *http.Request, v *viewer)) {
		m.Handle("GET "+pattern, s.authed(h, true))
	}
	page("/{$}", s.overviewPage)
	page("/overview/{datasource}", s.overviewTablesPage)
	page("/jobs", s.jobsPage)
	page("/runs", s.runsPage)
	page("/runs/{run}", s.runPage)
	page("/cdc", s.cdcPage)
	page("/ddl", s.ddlPage)
	page("/cleanup", s.cleanupPage)
	page("/datasources", s.datasourcesPage)

	api("/api/overview", s.apiOverview)
	api("/api/overview/{datasource}", s.apiOverviewTables)
	api("/api/jobs", s.apiJobs)
	api("/api/runs", s.apiRuns)
	api("/api/runs/{run}", s.apiRun)
	api("/api/runs/{run}/progress", s.apiProgress)
	api("/api/cdc", s.apiCDC)
	api("/api/cdc/{job}/lag", s.apiCDCLag)
	m.Handle("/api/", s.authed(func(w http.ResponseWriter, r *http.Request, v *viewer) {
		writeJSONError(w, http.StatusNotFound, "no such endpoint: see docs/dashboard.md")
	}, true))
	m.Handle("/", s.authed(func(w http.ResponseWriter, r *http.Request, v *viewer) {
		s.errorPage(w, r, v, http.StatusNotFound, "No such page.")
	}, false))
	s.mux = m
}

// ServeHTTP adds the headers every answer carries and dispatches. Only
// GET and HEAD change nothing; POST exists for login and logout alone.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if r.URL.Path != "/login" && r.URL.Path != "/logout" {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard is read-only: statements go through the SQL port", http.StatusMethodNotAllowed)
			return
		}
	default:
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "the dashboard is read-only: statements go through the SQL port", http.StatusMethodNotAllowed)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// viewer is who is looking.
type viewer struct {
	User    string // "" under loopback trust
	Role    string
	Trusted bool // loopback under --auth trust
}

func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *viewer), isAPI bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.who(r)
		if !ok {
			if isAPI {
				writeJSONError(w, http.StatusUnauthorized, "log in first: POST /login with user and password, then send the session cookie")
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, v)
	})
}

// render writes page name with data; errors after the first byte are
// only logged.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v *viewer, data map[string]any) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Viewer"] = v
	data["Path"] = r.URL.Path
	if _, ok := data["Title"]; !ok {
		data["Title"] = name
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		s.log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "could not render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write([]byte(b.String()))
	}
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, v *viewer, status int, msg string) {
	s.render(w, r, status, "error", v, map[string]any{"Title": http.StatusText(status), "Message": msg})
}

// fail answers a catalog error: the page says what failed without
// internals, the log has the error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	if errors.Is(err, errNotFound) {
		s.errorPage(w, r, v, http.StatusNotFound, err.Error())
		return
	}
	var bad badRequest
	if errors.As(err, &bad) {
		s.errorPage(w, r, v, http.StatusBadRequest, bad.Error())
		return
	}
	s.log.Error("dashboard: read catalog", "path", r.URL.Path, "err", err)
	s.errorPage(w, r, v, http.StatusInternalServerError, "Reading the catalog failed; the gateway's log says why.")
}

func (s *Server) failJSON(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotFound) {
		writeJSONError(w, http.StatusNotFound, err.Error())
		return
	}
	var bad badRequest
	if errors.As(err, &bad) {
		writeJSONError(w, http.StatusBadRequest, bad.Error())
		return
	}
	s.log.Error("dashboard: read catalog", "path", r.URL.Path, "err", err)
	writeJSONError(w, http.StatusInternalServerError, "reading the catalog failed; the gateway's log says why")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// errNotFound wraps what a path named but the catalog lacks.
var errNotFound = errors.New("not found")

func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errNotFound)
}

// badRequest is a parameter the page cannot use.
type badRequest string

func (b badRequest) Error() string { return string(b) }

func (s *Server) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 15*time.Second)
}
