package cdc

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	change "github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/runopts"
	"github.com/jackc/pgx/v5/pgconn"
)

// Plan is what a CDC run captures; it is resolved again at every start,
// since tables may change while a job is stopped.
type Plan struct {
	Job         string           `json:"job"`
	Source      string           `json:"source"`
	Target      string           `json:"target"`
	Tasks       []batch.TaskPlan `json:"tasks"`
	Options     runopts.Values   `json:"options"`
	Slot        string           `json:"slot,omitempty"`
	Publication string           `json:"publication,omitempty"`
	ServerID    uint32           `json:"server_id,omitempty"`
	// Unmatched are source tables of a database job without a target
	// table (not captured).
	Unmatched []string `json:"-"`
	// NoKey are target tables of a job whose source names its tables
	// (a message queue) that have no primary key (not written).
	NoKey []string `json:"-"`
}

// table is one captured table of an attempt: its description on both
// sides and the current mapping of source columns to target columns.
type table struct {
	task     batch.TaskPlan
	src, dst change.TableRef
	srcDesc  schema.Table
	dstDesc  schema.Table
	pairs    []batch.ColumnPair // for the snapshot
	explicit map[string]string  // COLUMNS (a AS x): source -> target; nil = same names
	// Set from the stream's schema events:
	target   *change.TargetTable
	srcIndex []int                          // stream column -> index in target.Columns, -1 = not written
	convert  []func([]byte) ([]byte, error) // per target column, nil = as is
	identity bool                           // every stream column written, in order, as is
	ignored  map[string]bool                // new source columns left out (schema_changes = 'ignore')
	lastCols []string                       // the stream's previous column names
	// schemaErr is why the stream's columns cannot be mapped now (a strict
	// source: its changes are bad records until a mappable schema comes).
	schemaErr error
	counts    catalog.CDCTableCounts // since the last report
	streamed  int64                  // changes applied this run
}

// endpoints is an attempt's open datasources and their capabilities.
type endpoints struct {
	src, dst *batch.Endpoint
	source   change.ChangeSource
	applier  change.ChangeApplier
	exporter data.Exporter // nil for sources without tables to copy
	importer data.Importer
	// describes is set for sources that can list and describe their
	// tables; the others (message queues) name tables in their changes.
	describes bool
}

func (ep *endpoints) close() {
	ep.src.Close()
	ep.dst.Close()
}

// nameFor makes a PostgreSQL slot/publication name from a job name:
// lower case letters, digits and underscores, at most 63 bytes.
func nameFor(job string) string {
	var b strings.Builder
	b.WriteString("flowgate_")
	for _, r := range strings.ToLower(job) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 63 {
		h := fnv.New32a()
		h.Write([]byte(job))
		s = fmt.Sprintf("%s_%08x", s[:54], h.Sum32())
	}
	return s
}

// serverID derives a MySQL replica id from the job name (never 0 or 1).
func serverID(job string) uint32 {
	h := fnv.New32a()
	h.Write([]byte("flowgate:" + job))
	id := h.Sum32()
	if id < 2 {
		id += 2
	}
	return id
}

func planErr(code, hint, format string, args ...any) *batch.PlanError {
	return &batch.PlanError{Code: code, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// open opens both datasources of j and checks their CDC capabilities.
func (e *Engine) open(ctx context.Context, j *catalog.Job) (*endpoints, error) {
	src, err := e.cfg.Open(ctx, j.Source)
	if err != nil {
		return nil, err
	}
	dst, err := e.cfg.Open(ctx, j.Target)
	if err != nil {
		src.Close()
		return nil, err
	}
	ep := &endpoints{src: src, dst: dst}
	fail := func(err error) (*endpoints, error) {
		ep.close()
		return nil, err
	}
	if ep.source, err = connectors.As[change.ChangeSource](src.Conn); err != nil {
		return fail(planErr("0A000", "CDC sources are PostgreSQL and MySQL/MariaDB datasources.",
			"datasource %q of type %s cannot be a CDC source", src.Name, src.Type))
	}
	if ep.applier, err = connectors.As[change.ChangeApplier](dst.Conn); err != nil {
		return fail(planErr("0A000", "CDC targets are PostgreSQL, MySQL/MariaDB and SQLite datasources.",
			"datasource %q of type %s cannot be a CDC target", dst.Name, dst.Type))
	}
	_, err = connectors.As[schema.Introspector](src.Conn)
	ep.describes = err == nil
	if !ep.describes {
		// A source whose stream names its tables has nothing to copy.
		return ep, nil
	}
	if ep.exporter, err = connectors.As[data.Exporter](src.Conn); err != nil {
		return fail(planErr("0A000", "", "datasource %q of type %s cannot export rows for a snapshot", src.Name, src.Type))
	}
	if ep.importer, err = connectors.As[data.Importer](dst.Conn); err != nil {
		return fail(planErr("0A000", "", "datasource %q of type %s cannot import rows for a snapshot", dst.Name, dst.Type))
	}
	return ep, nil
}

// plan resolves j's tables on both sides and checks what CDC needs: a
// primary key at the source and the target, the target key among the
// mapped columns, and the source's own prerequisites (CheckCDC).
func (e *Engine) plan(ctx context.Context, j *catalog.Job, ep *endpoints) (*Plan, []*table, error) {
	if !ep.describes {
		return e.planFromTarget(ctx, j, ep)
	}
	sin, err := connectors.As[schema.Introspector](ep.src.Conn)
	if err != nil {
		return nil, nil, planErr("0A000", "", "datasource %q cannot read table structure", ep.src.Name)
	}
	din, err := connectors.As[schema.Introspector](ep.dst.Conn)
	if err != nil {
		return nil, nil, planErr("0A000", "", "datasource %q cannot read table structure", ep.dst.Name)
	}
	tasks, unmatched, err := batch.TasksFor(ctx, j, sin, din)
	if err != nil {
		return nil, nil, remote(ep.src, err)
	}
	opts := runopts.SyncJob.Resolve(j.Options)
	p := &Plan{Job: j.Name, Source: j.Source, Target: j.Target, Tasks: tasks, Options: opts,
		Slot: opts["slot_name"], Publication: opts["publication_name"], Unmatched: unmatched}
	if p.Slot == "" {
		p.Slot = nameFor(j.Name)
	}
	if p.Publication == "" {
		p.Publication = nameFor(j.Name)
	}
	if id := opts.Int("server_id"); id > 0 {
		p.ServerID = uint32(id)
	} else {
		p.ServerID = serverID(j.Name)
	}
	var tables []*table
	var refs []change.TableRef
	for _, t := range tasks {
		tb := &table{task: t, src: change.TableRef{Schema: t.SourceSchema, Name: t.SourceTable},
			dst: change.TableRef{Schema: t.TargetSchema, Name: t.TargetTable}}
		if tb.srcDesc, err = batch.DescribeOne(ctx, sin, t.SourceSchema, t.SourceTable, "source", j.Source); err != nil {
			return nil, nil, remote(ep.src, err)
		}
		if tb.dstDesc, err = batch.DescribeOne(ctx, din, t.TargetSchema, t.TargetTable, "target", j.Target); err != nil {
			return nil, nil, remote(ep.dst, err)
		}
		if tb.pairs, err = batch.PairColumns(tb.srcDesc, tb.dstDesc, t.Columns); err != nil {
			return nil, nil, err
		}
		if len(t.Columns) > 0 {
			tb.explicit = map[string]string{}
			for _, m := range t.Columns {
				tb.explicit[m.Source] = m.Target
			}
		}
		if len(tb.srcDesc.PrimaryKey) == 0 {
			return nil, nil, planErr("55000", fmt.Sprintf("Give it one, e.g. ALTER TABLE %s ADD PRIMARY KEY (id); CDC applies changes by key.", t.SourceTable),
				"source table %s has no primary key", tb.src)
		}
		if len(tb.dstDesc.PrimaryKey) == 0 {
			return nil, nil, planErr("55000", fmt.Sprintf("Give it one, e.g. ALTER TABLE %s ADD PRIMARY KEY (id), or create it with a DDL task.", t.TargetTable),
				"target table %s has no primary key", tb.dst)
		}
		for _, k := range tb.dstDesc.PrimaryKey {
			found := false
			for _, pr := range tb.pairs {
				found = found || pr.Dst.Name == k
			}
			if !found {
				return nil, nil, planErr("55000", "Map a source column to every column of the target's primary key.",
					"target key column %q of %s is not written by the job", k, tb.dst)
			}
		}
		tables = append(tables, tb)
		refs = append(refs, tb.src)
	}
	if err := ep.source.CheckCDC(ctx, refs); err != nil {
		return nil, nil, remote(ep.src, err)
	}
	return p, tables, nil
}

// Check is the CREATE-time check of a CDC job.
func (e *Engine) Check(ctx context.Context, j *catalog.Job) (*Plan, error) {
	ep, err := e.open(ctx, j)
	if err != nil {
		return nil, err
	}
	defer ep.close()
	p, _, err := e.plan(ctx, j, ep)
	return p, err
}

// remote keeps PlanErrors and database errors (with their SQLSTATE) and
// masks the datasource's secrets in the rest.
func remote(ep *batch.Endpoint, err error) error {
	var pe *batch.PlanError
	if errors.As(err, &pe) {
		return err
	}
	err = connectors.ScrubError(err, ep.Secrets...)
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		cp := *pg
		cp.Message = fmt.Sprintf("datasource %q: %s", ep.Name, pg.Message)
		// A datasource's FATAL ended its connection, not the client's.
		cp.Severity, cp.SeverityUnlocalized = "ERROR", "ERROR"
		return &cp
	}
	return fmt.Errorf("datasource %q: %w", ep.Name, err)
}
