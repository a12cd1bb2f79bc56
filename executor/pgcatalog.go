package executor

import (
	"context"
	"fmt"

	"github.com/flowgate/flowgate/catalog/pgcatalog"
	"github.com/flowgate/flowgate/catalog/pgquery"
)

// addPGCatalog gives the resolver pg_catalog and information_schema,
// generated from the same views and OIDs the resolver already holds, so
// RowDescription's table OIDs match pg_class.oid.
func (e *Executor) addPGCatalog(ctx context.Context, r *resolver) error {
	defs, err := pgcatalog.ViewDefinitions(ctx, e.cat.ReadDB())
	if err != nil {
		return err
	}
	var views []pgcatalog.View
	for _, name := range r.names {
		rel := r.byName[name]
		views = append(views, pgcatalog.View{Rel: rel, Definition: defs[rel.SQLiteName]})
	}
	pg, err := pgcatalog.New(views)
	if err != nil {
		return fmt.Errorf("build pg_catalog: %w", err)
	}
	r.pg = pg
	return nil
}

// NamespaceOID implements pgquery.NamespaceResolver.
func (r *resolver) NamespaceOID(name string) (uint32, bool) {
	if r.pg == nil {
		return 0, false
	}
	return r.pg.NamespaceOID(name)
}

// Unsupported implements pgquery.UnsupportedRelations.
func (r *resolver) Unsupported(schema, name string) (string, bool) {
	if r.pg == nil {
		return "", false
	}
	return r.pg.Unsupported(schema, name)
}

// settingRows lists the session's settings for pg_settings.
func (s *Session) settingRows() []pgquery.Setting {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []pgquery.Setting
	for _, st := range sortedSettings(s.settings) {
		out = append(out, pgquery.Setting{Name: displayName(st.name), Value: st.value, Description: st.description, ReadOnly: st.readOnly})
	}
	return out
}
