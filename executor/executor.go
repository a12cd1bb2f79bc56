// Package executor runs statements for a client session: it parses them,
// checks roles, answers them from the catalog or through connectors, and
// records every statement in the audit log. It implements wire.Handler.
package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/catalog/pgcatalog"
	"github.com/flowgate/flowgate/catalog/pgquery"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/cdc"
	"github.com/flowgate/flowgate/executor/fileguard"
	"github.com/flowgate/flowgate/executor/scan"
	"github.com/flowgate/flowgate/executor/schedule"
	"github.com/flowgate/flowgate/wire"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Version is flowgate's own version, shown in server_version and version().
const Version = "0.1.0"

// ServerVersion is the server_version ParameterStatus: drivers parse the
// leading "16.0", the suffix names us.
const ServerVersion = "16.0 (flowgate " + Version + ")"

// VersionText is what version() returns; SQLAlchemy and pgjdbc parse its head.
const VersionText = "PostgreSQL 16.0 (flowgate " + Version + ") on x86_64-pc-linux-gnu, compiled by Go, 64-bit"

// AuthMode says who must present a password.
type AuthMode string

const (
	// AuthTrustLoopback trusts loopback clients and asks everyone else for a
	// SCRAM-SHA-256 password.
	AuthTrustLoopback AuthMode = "trust"
	// AuthPassword asks every client for a password.
	AuthPassword AuthMode = "password"
)

// Config wires an Executor.
type Config struct {
	Catalog      *catalog.Catalog
	Auth         AuthMode
	Logger       *slog.Logger
	Metrics      *Metrics       // nil disables metrics
	BatchMetrics *batch.Metrics // nil disables job metrics
	CDCMetrics   *cdc.Metrics   // nil disables CDC metrics
	StagingDir   string         // local staging directory for batch runs
	// SharedStaging: StagingDir is mounted on every Temporal worker too.
	SharedStaging bool
	// FileGuard keeps sqlite and file datasources away from the gateway's
	// own files and non-admins under the file roots; nil allows any path
	// to admins and none to others.
	FileGuard *fileguard.Guard
	// Remote, when set, runs batch runs' partitions, CDC runs' pipelines
	// and scan, export and load runs on other processes (--engine
	// temporal; a RemoteEngine that is also a cdc.Remote takes the CDC
	// runs, and a scan.Remote the scan runs); nil runs everything here.
	Remote RemoteEngine
}

// RemoteEngine runs batch runs on workers (executor/temporal). Start
// serves what the gateway's side of it needs; Stop leaves runs going on
// without this process.
type RemoteEngine interface {
	batch.Remote
	Start(*batch.Engine, *cdc.Engine, *scan.Engine) error
	Stop()
}

// Executor is the wire.Handler of flowgate.
type Executor struct {
	cat     *catalog.Catalog
	auth    AuthMode
	log     *slog.Logger
	metrics *Metrics
	guard   *fileguard.Guard
	remote  RemoteEngine

	relOnce sync.Once
	rels    *resolver
	relErr  error

	engine    *batch.Engine
	cdc       *cdc.Engine
	scan      *scan.Engine
	sched     *schedule.Scheduler
	closeOnce sync.Once
}

var _ wire.Handler = (*Executor)(nil)

// New makes an Executor. Connector types must already be registered.
func New(cfg Config) *Executor {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Auth == "" {
		cfg.Auth = AuthTrustLoopback
	}
	e := &Executor{cat: cfg.Catalog, auth: cfg.Auth, log: cfg.Logger, metrics: cfg.Metrics, guard: cfg.FileGuard, remote: cfg.Remote}
	bc := batch.Config{Catalog: cfg.Catalog, Open: e.openEndpoint, StagingDir: cfg.StagingDir, SharedStaging: cfg.SharedStaging, Logger: cfg.Logger, Metrics: cfg.BatchMetrics}
	if cfg.Remote != nil {
		bc.Remote = cfg.Remote
	}
	e.engine = batch.New(bc)
	cc := cdc.Config{Catalog: cfg.Catalog, Open: e.openEndpoint, Logger: cfg.Logger, Metrics: cfg.CDCMetrics}
	if r, ok := cfg.Remote.(cdc.Remote); ok && cfg.Remote != nil {
		cc.Remote = r // CDC pipelines run on the workers too
	}
	e.cdc = cdc.New(cc)
	sc := scan.Config{Catalog: cfg.Catalog, Open: e.openEndpoint, StagingDir: cfg.StagingDir, SharedStaging: cfg.SharedStaging, Logger: cfg.Logger}
	if r, ok := cfg.Remote.(scan.Remote); ok && cfg.Remote != nil {
		sc.Remote = r // scan, export and load runs on the workers too
	}
	e.scan = scan.New(sc)
	e.sched = schedule.New(cfg.Catalog, e.fireScheduled, cfg.Logger)
	return e
}

// Start recovers from the previous process (runs and DDL tasks it left
// running are marked failed, "interrupted by restart"; RETRY RUN resumes a
// run) and arms the schedules.
func (e *Executor) Start(ctx context.Context) error {
	if n, err := e.cat.FailInterruptedDDLTasks(ctx); err != nil {
		return err
	} else if n > 0 {
		e.log.Warn("DDL tasks interrupted by the last shutdown marked failed", "count", n)
	}
	if n, err := e.cat.FailInterruptedRuns(ctx, e.remote != nil); err != nil {
		return err
	} else if n > 0 {
		e.log.Warn("runs interrupted by the last shutdown marked failed; RETRY RUN resumes them", "count", n)
	}
	if e.remote != nil {
		if err := e.followRemoteRuns(ctx); err != nil {
			return err
		}
	}
	if err := e.cdc.Resume(ctx); err != nil {
		return err
	}
	return e.sched.Reload(ctx)
}

// followRemoteRuns serves the remote engine and follows the runs its
// workflows went on with while the gateway was away.
func (e *Executor) followRemoteRuns(ctx context.Context) error {
	if err := e.remote.Start(e.engine, e.cdc, e.scan); err != nil {
		return err
	}
	runs, err := e.cat.ActiveRemoteRuns(ctx)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if j, err := e.cat.GetJob(ctx, r.Job); err == nil && scan.Handles(j) {
			plan, err := scan.DecodePlan(r.Plan)
			if err != nil {
				return err
			}
			e.scan.Attach(r.Job, r.RunID, plan)
			e.log.Info("following a run on temporal", "run", r.RunID, "workflow", r.WorkflowID)
			continue
		}
		plan, err := batch.DecodePlan(r.Plan)
		if err != nil {
			return err
		}
		e.engine.Attach(r.Job, r.RunID, plan)
		e.log.Info("following a run on temporal", "run", r.RunID, "workflow", r.WorkflowID)
	}
	return nil
}

// Close stops the schedules and the running runs (they end failed and can
// be retried) and waits for them to record that.
func (e *Executor) Close() {
	e.closeOnce.Do(func() {
		e.sched.Stop()
		e.engine.StopAll()
		e.cdc.StopAll()
		e.scan.StopAll()
		e.engine.Wait()
		e.cdc.Wait()
		e.scan.Wait()
		if e.remote != nil {
			e.remote.Stop()
		}
	})
}

// Auth implements wire.Handler.
func (e *Executor) Auth(ctx context.Context, user string, remote net.Addr) (wire.AuthDecision, error) {
	u, err := e.cat.GetUser(ctx, user)
	if errors.Is(err, catalog.ErrNotFound) {
		if e.auth == AuthTrustLoopback && isLoopback(remote) {
			return wire.AuthDecision{Method: wire.AuthReject, RejectMessage: fmt.Sprintf("role %q does not exist", user)}, nil
		}
		// Same exchange as a real user, so a prober can't tell names apart.
		return wire.AuthDecision{Method: wire.AuthSCRAM, SCRAMVerifier: randomVerifier()}, nil
	}
	if err != nil {
		return wire.AuthDecision{}, err
	}
	if e.auth == AuthTrustLoopback && isLoopback(remote) {
		return wire.AuthDecision{Method: wire.AuthTrust}, nil
	}
	if u.SCRAMVerifier == "" {
		return wire.AuthDecision{Method: wire.AuthSCRAM, SCRAMVerifier: randomVerifier()}, nil
	}
	return wire.AuthDecision{Method: wire.AuthSCRAM, SCRAMVerifier: u.SCRAMVerifier}, nil
}

func randomVerifier() string {
	b := make([]byte, 24)
	rand.Read(b)
	v, err := wire.SCRAMVerifier(hex.EncodeToString(b))
	if err != nil {
		return ""
	}
	return v
}

func isLoopback(a net.Addr) bool {
	switch x := a.(type) {
	case *net.TCPAddr:
		return x.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewSession implements wire.Handler.
func (e *Executor) NewSession(ctx context.Context, info wire.SessionInfo) (wire.Session, error) {
	u, err := e.cat.GetUser(ctx, info.User)
	if err != nil {
		return nil, fatal(pgErr(codeInvalidAuthSpec, "role %q does not exist", info.User))
	}
	rels, err := e.resolver(ctx)
	if err != nil {
		return nil, err
	}
	s := &Session{
		ex:       e,
		info:     info,
		user:     u.Name,
		role:     u.Role,
		rels:     rels,
		txStatus: 'I',
	}
	s.settings = defaultSettings(ServerVersion, u.Name, u.Role == catalog.RoleAdmin)
	s.settings["application_name"].value = info.ApplicationName
	if e.metrics != nil {
		e.metrics.sessionOpened()
	}
	return s, nil
}

func fatal(e *pgconn.PgError) *pgconn.PgError {
	e.Severity, e.SeverityUnlocalized = "FATAL", "FATAL"
	return e
}

// resolver builds the relation list from the catalog's views once: views
// change only with migrations, which run before the server starts.
func (e *Executor) resolver(ctx context.Context) (*resolver, error) {
	e.relOnce.Do(func() {
		views, err := e.cat.Views(ctx)
		if err != nil {
			e.relErr = err
			return
		}
		r := &resolver{byName: map[string]*pgquery.Relation{}}
		m := pgtype.NewMap()
		for _, v := range views {
			rel := &pgquery.Relation{Schema: v.Schema, Name: v.Name, SQLiteName: v.SQLiteName, OID: relationOID(v.Schema, v.Name)}
			for _, c := range v.Columns {
				oid, err := typeOID(m, c.PGType)
				if err != nil {
					e.relErr = fmt.Errorf("view %s.%s column %s: %w", v.Schema, v.Name, c.Name, err)
					return
				}
				rel.Columns = append(rel.Columns, pgquery.Column{Name: c.Name, TypeOID: oid, TypeMod: -1})
			}
			r.byName[v.Schema+"."+v.Name] = rel
			r.names = append(r.names, v.Schema+"."+v.Name)
		}
		if e.relErr = e.addPGCatalog(ctx, r); e.relErr != nil {
			return
		}
		e.rels = r
	})
	return e.rels, e.relErr
}

// relationOID gives each view a stable OID above PostgreSQL's reserved range.
func relationOID(schema, name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(schema + "." + name))
	return 16384 + h.Sum32()%(1<<30)
}

var typeAliases = map[string]string{
	"boolean": "bool", "integer": "int4", "int": "int4", "bigint": "int8", "smallint": "int2",
	"double precision": "float8", "real": "float4", "timestamp with time zone": "timestamptz",
	"timestamp without time zone": "timestamp", "character varying": "varchar", "decimal": "numeric",
}

func typeOID(m *pgtype.Map, name string) (uint32, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if a, ok := typeAliases[name]; ok {
		name = a
	}
	t, ok := m.TypeForName(name)
	if !ok {
		return 0, fmt.Errorf("unknown PostgreSQL type %q", name)
	}
	return t.OID, nil
}

type resolver struct {
	byName map[string]*pgquery.Relation
	names  []string
	pg     *pgcatalog.Catalog // dataflow views plus pg_catalog and information_schema
}

func (r *resolver) Relation(schema, name string) (*pgquery.Relation, bool) {
	if r.pg != nil {
		return r.pg.Relation(schema, name)
	}
	if schema == "" {
		schema = "dataflow"
	}
	rel, ok := r.byName[schema+"."+name]
	return rel, ok
}

func (r *resolver) Relations() []string { return r.names }

// secretKey reports option keys sealed and masked for datasource type t.
func secretKey(t connectors.Type) func(string) bool { return t.IsSecret }
