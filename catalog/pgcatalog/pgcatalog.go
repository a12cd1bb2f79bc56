// Package pgcatalog builds flowgate's pg_catalog and information_schema:
// real relations, generated at startup from the dataflow views' own
// definitions, so clients and BI tools can browse the catalog the way they
// browse PostgreSQL. A view added by a later migration appears in
// pg_class, pg_attribute, information_schema.columns and the rest with no
// further work.
//
// Every relation is a SQLite SELECT (mostly a VALUES list) that
// catalog/pgquery inlines where a query names it; pg_roles reads the
// catalog's users table, and pg_settings, pg_database and the
// information_schema read the session (pgquery.Env).
package pgcatalog

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/flowgate/flowgate/catalog/pgquery"
)

// Namespace OIDs: pg_catalog's is PostgreSQL's, the others are fixed so
// they stay the same across restarts.
const (
	NamespacePGCatalog   uint32 = 11
	NamespaceInfoSchema  uint32 = 13207
	NamespaceDataflow    uint32 = 16384
	ownerOID             uint32 = 10 // the bootstrap admin (users.id 1)
	databaseOID          uint32 = 16383
	defaultCollation     uint32 = 100
	descDataflowNamspace        = "flowgate catalog: datasources, users, audit log, table models, tasks, jobs and runs as read-only views"
)

// View is a dataflow view to expose, with its definition text.
type View struct {
	Rel        *pgquery.Relation
	Definition string
}

// Catalog resolves dataflow views and the system relations for
// pgquery.Translate. It is immutable and shared by all sessions.
type Catalog struct {
	byName     map[string]*pgquery.Relation // "schema.name"
	dataflow   []string
	namespaces map[string]uint32
}

var (
	_ pgquery.Resolver             = (*Catalog)(nil)
	_ pgquery.RelationLister       = (*Catalog)(nil)
	_ pgquery.NamespaceResolver    = (*Catalog)(nil)
	_ pgquery.UnsupportedRelations = (*Catalog)(nil)
)

// unsupported are PostgreSQL relations that describe server activity
// flowgate does not expose; they fail with 0A000 rather than answer
// wrongly.
var unsupported = map[string]bool{
	"pg_stat_activity": true, "pg_stat_database": true, "pg_locks": true, "pg_prepared_statements": true,
	"pg_timezone_names": true, "pg_timezone_abbrevs": true, "pg_file_settings": true, "pg_hba_file_rules": true,
	"pg_stat_statements": true, "pg_stat_bgwriter": true, "pg_stat_wal": true, "pg_stat_ssl": true,
	"pg_stat_progress_vacuum": true, "pg_backend_memory_contexts": true, "pg_shmem_allocations": true,
	"pg_largeobject": true, "pg_statistic": true, "pg_stat_io": true,
}

// New builds the catalog from the dataflow views (their OIDs and column
// types decided by the caller).
func New(views []View) (*Catalog, error) {
	c := &Catalog{
		byName: map[string]*pgquery.Relation{},
		namespaces: map[string]uint32{
			"pg_catalog": NamespacePGCatalog, "information_schema": NamespaceInfoSchema, "dataflow": NamespaceDataflow,
		},
	}
	m := &model{views: views}
	for _, v := range views {
		c.byName[v.Rel.Schema+"."+v.Rel.Name] = v.Rel
		c.dataflow = append(c.dataflow, v.Rel.Schema+"."+v.Rel.Name)
		m.rels = append(m.rels, relInfo{schema: v.Rel.Schema, name: v.Rel.Name, oid: v.Rel.OID, kind: 'v', cols: v.Rel.Columns})
	}
	for _, d := range systemRelations {
		if d.schema == "pg_catalog" && unsupported[d.name] {
			continue
		}
		cols, err := parseCols(d.cols)
		if err != nil {
			return nil, fmt.Errorf("relation %s.%s: %w", d.schema, d.name, err)
		}
		m.rels = append(m.rels, relInfo{schema: d.schema, name: d.name, oid: d.oid, kind: d.kind, cols: cols})
	}
	for _, ri := range m.rels[len(views):] {
		rel := &pgquery.Relation{Schema: ri.schema, Name: ri.name, OID: ri.oid, Columns: ri.cols}
		key := ri.schema + "." + ri.name
		names := colNames(ri.cols)
		switch gen, ok := generators[key]; {
		case key == "pg_catalog.pg_settings":
			rel.Dynamic = func(env pgquery.Env) string { return valuesSQL(names, settingsRows(env)) }
		case sqlRelations[key] != "":
			rel.SQL = sqlRelations[key]
		case ok:
			sql := valuesSQL(names, gen(m))
			if strings.Contains(sql, dbMarker) || strings.Contains(sql, userMarker) {
				rel.Dynamic = func(env pgquery.Env) string {
					return strings.NewReplacer(dbMarker, lit(env.Database), userMarker, lit(env.CurrentUser)).Replace(sql)
				}
			} else {
				rel.SQL = sql
			}
		default:
			// Nothing of this kind exists in flowgate: an empty relation.
			rel.SQL = valuesSQL(names, nil)
		}
		c.byName[key] = rel
	}
	sort.Strings(c.dataflow)
	return c, nil
}

// Relation implements pgquery.Resolver; an unqualified name follows the
// search path.
func (c *Catalog) Relation(schema, name string) (*pgquery.Relation, bool) {
	if schema != "" {
		r, ok := c.byName[schema+"."+name]
		return r, ok
	}
	for _, s := range pgquery.SearchPath {
		if r, ok := c.byName[s+"."+name]; ok {
			return r, true
		}
	}
	return nil, false
}

// Relations implements pgquery.RelationLister: the dataflow views.
func (c *Catalog) Relations() []string { return c.dataflow }

// NamespaceOID implements pgquery.NamespaceResolver.
func (c *Catalog) NamespaceOID(name string) (uint32, bool) {
	oid, ok := c.namespaces[name]
	return oid, ok
}

// Unsupported implements pgquery.UnsupportedRelations.
func (c *Catalog) Unsupported(schema, name string) (string, bool) {
	if (schema == "" || schema == "pg_catalog") && unsupported[name] {
		return fmt.Sprintf("pg_catalog.%s is not available in flowgate: it exposes pg_catalog and information_schema for browsing the dataflow views, not server activity", name), true
	}
	return "", false
}

// ViewDefinitions reads each dataflow view's SELECT from the catalog
// database, keyed by SQLite view name.
func ViewDefinitions(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'view' AND name LIKE 'dataflow\_%' ESCAPE '\'`)
	if err != nil {
		return nil, fmt.Errorf("read view definitions: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, text string
		if err := rows.Scan(&name, &text); err != nil {
			return nil, fmt.Errorf("read view definitions: %w", err)
		}
		out[name] = viewBody(text)
	}
	return out, rows.Err()
}

// viewBody keeps what follows "CREATE VIEW name AS".
func viewBody(s string) string {
	u := strings.ToUpper(s)
	if i := strings.Index(u, " AS"); i >= 0 && strings.HasPrefix(strings.TrimSpace(u), "CREATE") {
		s = s[i+3:]
	}
	return strings.TrimSpace(s)
}

func parseCols(spec string) ([]pgquery.Column, error) {
	var cols []pgquery.Column
	for _, p := range strings.Split(spec, ",") {
		name, typ, ok := strings.Cut(p, ":")
		if !ok {
			return nil, fmt.Errorf("bad column spec %q", p)
		}
		if d, ok := domains[typ]; ok {
			typ = d
		}
		ti, ok := pgquery.TypeByName(typ)
		if !ok {
			return nil, fmt.Errorf("column %s: unknown type %s", name, typ)
		}
		cols = append(cols, pgquery.Column{Name: name, TypeOID: ti.OID, TypeMod: -1})
	}
	return cols, nil
}

// domains are information_schema's domains, shown as their base types.
var domains = map[string]string{
	"sql_identifier": "name", "cardinal_number": "int4", "character_data": "varchar",
	"yes_or_no": "varchar", "time_stamp": "timestamptz",
	// statistics types flowgate never fills, shown as text
	"pg_dependencies": "text", "pg_mcv_list": "text", "pg_ndistinct": "text", "_pg_statistic": "text",
}

func colNames(cols []pgquery.Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// settingsRows is pg_settings for one session.
func settingsRows(env pgquery.Env) []row {
	if env.Settings == nil {
		return nil
	}
	var out []row
	for _, st := range env.Settings() {
		ctx := "'user'"
		if st.ReadOnly {
			ctx = "'internal'"
		}
		out = append(out, row{"name": lit(st.Name), "setting": lit(st.Value), "category": "'Ungrouped'",
			"short_desc": lit(st.Description), "context": ctx, "vartype": "'string'", "source": "'default'",
			"boot_val": lit(st.Value), "reset_val": lit(st.Value), "pending_restart": "0"})
	}
	return out
}
