// Command flowgate is the data-integration gateway: a PostgreSQL-protocol
// server whose statements manage datasources and data movement.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with FLOWGATE_PPROF_LISTEN
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors/all"
	"github.com/flowgate/flowgate/dashboard"
	"github.com/flowgate/flowgate/executor"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/cdc"
	"github.com/flowgate/flowgate/executor/fileguard"
	"github.com/flowgate/flowgate/executor/temporal"
	"github.com/flowgate/flowgate/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type config struct {
	listen        string
	catalog       string
	stagingDir    string
	sharedStaging bool
	metricsListen string
	secretKeyFile string
	tlsCert       string
	tlsKey        string
	auth          string
	logLevel      string
	fileRoots     string
	engine        string
	temporal      temporalFlags
}

// envOr gives every flag an environment variable fallback.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("flowgate", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", envOr("FLOWGATE_LISTEN", "127.0.0.1:5433"), "address of the PostgreSQL protocol listener (FLOWGATE_LISTEN)")
	fs.StringVar(&c.catalog, "catalog", envOr("FLOWGATE_CATALOG", "./flowgate.db"), "SQLite catalog file (FLOWGATE_CATALOG)")
	fs.StringVar(&c.stagingDir, "staging-dir", envOr("FLOWGATE_STAGING_DIR", "./flowgate-staging"), "local staging directory for batch runs (FLOWGATE_STAGING_DIR)")
	fs.BoolVar(&c.sharedStaging, "shared-staging", envOr("FLOWGATE_SHARED_STAGING", "") == "true" || envOr("FLOWGATE_SHARED_STAGING", "") == "1",
		"under --engine temporal: the staging directory (and file datasources used as staging) is mounted at the same path on every worker, so runs may stage there; without it such runs are refused and s3 staging is the way (FLOWGATE_SHARED_STAGING=true)")
	fs.StringVar(&c.metricsListen, "metrics-listen", envOr("FLOWGATE_METRICS_LISTEN", "127.0.0.1:9187"), "address of /metrics; empty turns metrics off (FLOWGATE_METRICS_LISTEN)")
	fs.StringVar(&c.secretKeyFile, "secret-key-file", envOr("FLOWGATE_SECRET_KEY_FILE", ""), "file holding the 32-byte key that encrypts secrets; default <catalog>.key, created on first start (FLOWGATE_SECRET_KEY_FILE; FLOWGATE_SECRET_KEY holds the key itself)")
	fs.StringVar(&c.tlsCert, "tls-cert", envOr("FLOWGATE_TLS_CERT", ""), "TLS certificate (PEM); with --tls-key enables SSL (FLOWGATE_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", envOr("FLOWGATE_TLS_KEY", ""), "TLS private key (PEM) (FLOWGATE_TLS_KEY)")
	fs.StringVar(&c.auth, "auth", envOr("FLOWGATE_AUTH", "trust"), "trust: loopback clients need no password, others use SCRAM; password: every client uses SCRAM (FLOWGATE_AUTH)")
	fs.StringVar(&c.fileRoots, "file-roots", envOr("FLOWGATE_FILE_ROOTS", ""), "directories (comma- or colon-separated, absolute) under which manage users may create sqlite and file datasources; without it only admin may (FLOWGATE_FILE_ROOTS)")
	fs.StringVar(&c.logLevel, "log-level", envOr("FLOWGATE_LOG_LEVEL", "info"), "debug, info, warn or error (FLOWGATE_LOG_LEVEL)")
	fs.StringVar(&c.engine, "engine", envOr("FLOWGATE_ENGINE", "embedded"), "embedded: runs execute in the gateway; temporal: batch and CDC runs are Temporal workflows whose partition exports, imports and copies and CDC pipelines run on `flowgate worker` processes (FLOWGATE_ENGINE)")
	c.temporal.register(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.engine != "embedded" && c.engine != "temporal" {
		return c, fmt.Errorf("--engine must be embedded or temporal, not %q", c.engine)
	}
	return c, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(workerMain(os.Args[2:]))
	}
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowgate:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "flowgate:", err)
		os.Exit(1)
	}
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// keyFile is the secret key's file, "" when FLOWGATE_SECRET_KEY holds it.
func keyFile(cfg config) string {
	if os.Getenv("FLOWGATE_SECRET_KEY") != "" {
		return ""
	}
	if cfg.secretKeyFile != "" {
		return cfg.secretKeyFile
	}
	return cfg.catalog + ".key"
}

func loadKey(cfg config) ([]byte, error) {
	if v := os.Getenv("FLOWGATE_SECRET_KEY"); v != "" {
		k, err := catalog.ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("FLOWGATE_SECRET_KEY: %w", err)
		}
		return k, nil
	}
	return catalog.LoadOrCreateKey(keyFile(cfg))
}

func splitRoots(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == os.PathListSeparator })
}

func run(ctx context.Context, cfg config) error {
	log, err := newLogger(cfg.logLevel)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	mode := executor.AuthMode(cfg.auth)
	if mode != executor.AuthTrustLoopback && mode != executor.AuthPassword {
		return fmt.Errorf("--auth must be trust or password, not %q", cfg.auth)
	}
	if mode == executor.AuthTrustLoopback && !loopbackAddr(cfg.listen) {
		return fmt.Errorf("refusing to listen on %s with trust authentication: use a loopback address or --auth password (set a password first with ALTER USER admin PASSWORD '...')", cfg.listen)
	}
	var tlsConfig *tls.Config
	if cfg.tlsCert != "" || cfg.tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	key, err := loadKey(cfg)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(cfg.catalog); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create catalog directory: %w", err)
		}
	}
	cat, err := catalog.Open(ctx, cfg.catalog, catalog.Options{SecretKey: key})
	if err != nil {
		return err
	}
	defer cat.Close()
	all.Register()
	guard, err := fileguard.New(fileguard.Paths{Catalog: cfg.catalog, KeyFile: keyFile(cfg), StagingDir: cfg.stagingDir}, splitRoots(cfg.fileRoots))
	if err != nil {
		return fmt.Errorf("--file-roots: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := executor.NewMetrics(reg)
	var remote executor.RemoteEngine
	if cfg.engine == "temporal" {
		o := cfg.temporal.options(key, log)
		c, codec, err := temporal.Dial(ctx, o)
		if err != nil {
			return err
		}
		defer c.Close()
		remote = temporal.NewEngine(c, codec, o, cat)
		log.Info("engine temporal", "address", o.Address, "namespace", o.Namespace, "gateway_queue", o.GatewayQueue(), "data_queue", o.DataQueue())
	}
	ex := executor.New(executor.Config{Catalog: cat, Auth: mode, Logger: log, Metrics: metrics,
		BatchMetrics: batch.NewMetrics(reg), CDCMetrics: cdc.NewMetrics(reg), StagingDir: cfg.stagingDir, SharedStaging: cfg.sharedStaging, FileGuard: guard, Remote: remote})
	if err := ex.Start(ctx); err != nil {
		return err
	}
	defer ex.Close()
	srv := wire.NewServer(wire.Config{Handler: ex, TLSConfig: tlsConfig, Logger: log})

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var metricsSrv *http.Server
	if cfg.metricsListen != "" {
		mln, err := net.Listen("tcp", cfg.metricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		// The read-only dashboard (FEATURES.md section 9) serves every
		// other path: loopback needs no login under trust only.
		dash, err := dashboard.New(dashboard.Config{Catalog: cat, TrustLoopback: mode == executor.AuthTrustLoopback,
			TLS: tlsConfig != nil, Logger: log})
		if err != nil {
			mln.Close()
			ln.Close()
			return err
		}
		mux.Handle("/", dash)
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		if tlsConfig != nil {
			// Same certificate as the SQL port: logins never cross the wire in clear.
			go metricsSrv.Serve(tls.NewListener(mln, tlsConfig.Clone()))
		} else {
			go metricsSrv.Serve(mln)
		}
		log.Info("metrics and dashboard listening", "addr", mln.Addr().String(), "tls", tlsConfig != nil)
	}
	if err := servePprof(); err != nil {
		return err
	}
	log.Info("flowgate ready", "version", executor.Version, "addr", ln.Addr().String(), "catalog", cfg.catalog, "auth", cfg.auth, "tls", tlsConfig != nil)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Runs end first (failed, "interrupted by gateway shutdown", resumable
	// with RETRY RUN), so sessions waiting on them finish before the
	// server waits for statements.
	ex.Close()
	log.Info("shutting down: waiting for running statements")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if metricsSrv != nil {
		metricsSrv.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}

func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// servePprof serves net/http/pprof on FLOWGATE_PPROF_LISTEN, if set: for
// benchmarks only, so never on a public address.
func servePprof() error {
	addr := os.Getenv("FLOWGATE_PPROF_LISTEN")
	if addr == "" {
		return nil
	}
	if !loopbackAddr(addr) {
		return fmt.Errorf("FLOWGATE_PPROF_LISTEN must be a loopback address, not %s", addr)
	}
	go http.ListenAndServe(addr, http.DefaultServeMux)
	return nil
}
