package batch

import (
	"context"
	"fmt"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// preActions runs pre_action (truncate or recreate) for every task of the
// run that has loaded nothing yet, before any task starts: a RETRY after
// rows were loaded must not remove them. Targets referenced by other
// targets' foreign keys are emptied after those (children first) and
// re-created before them (parents first).
func (rc *runCtx) preActions(ctx context.Context, stages []catalog.StageState) error {
	action := rc.opts["pre_action"]
	if action != "truncate" && action != "recreate" {
		return nil
	}
	imp, err := as[data.Importer](rc.dst, "import rows")
	if err != nil {
		return err
	}
	var todo []TaskPlan
	marksBySchema := map[string]map[string]bool{}
	for _, t := range rc.plan.Tasks {
		if s := findStage(stages, t.ID, StageExport).Status; s == catalog.StageCompleted || s == catalog.StageSkipped {
			continue
		}
		loaded, err := rc.loadedAny(ctx, imp, t, marksBySchema)
		if err != nil {
			return err
		}
		if !loaded {
			todo = append(todo, t)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	din, err := as[schema.Introspector](rc.dst, "read table structure")
	if err != nil {
		return err
	}
	order, err := rc.targetOrder(ctx, din, todo)
	if err != nil {
		return err
	}
	switch action {
	case "truncate":
		em, err := as[data.Emptier](rc.dst, "empty tables")
		if err != nil {
			return err
		}
		for i := len(order) - 1; i >= 0; i-- { // children first
			t := order[i]
			if err := em.EmptyTable(ctx, t.TargetSchema, t.TargetTable); err != nil {
				return fmt.Errorf("pre_action truncate: %s", scrub(rc.dst, err))
			}
		}
	case "recreate":
		if err := rc.recreate(ctx, order); err != nil {
			return err
		}
	}
	return nil
}

// loadedAny reports whether any rows of t were loaded in this run: a
// partition or file imported, or a mark of the run's task in the target.
func (rc *runCtx) loadedAny(ctx context.Context, imp data.Importer, t TaskPlan, cache map[string]map[string]bool) (bool, error) {
	cat := rc.e.cfg.Catalog
	parts, err := cat.Partitions(ctx, rc.id, t.ID)
	if err != nil {
		return false, err
	}
	for _, p := range parts {
		if p.Imported {
			return true, nil
		}
	}
	files, err := cat.ExportFiles(ctx, rc.id, t.ID)
	if err != nil {
		return false, err
	}
	for _, f := range files {
		if f.Imported {
			return true, nil
		}
	}
	marks, ok := cache[t.TargetSchema]
	if !ok {
		ids, err := imp.ImportedMarks(ctx, data.MarkScope{Schema: t.TargetSchema, MarksSchema: rc.opts["marks_schema"]}, rc.id)
		if err != nil {
			// No target table yet (recreate after a crash) is not an error here.
			ids = nil
		}
		marks = set(ids)
		cache[t.TargetSchema] = marks
	}
	prefix := fmt.Sprintf("t%04d-", t.ID)
	for id := range marks {
		if len(id) >= len(prefix) && id[:len(prefix)] == prefix {
			return true, nil
		}
	}
	return false, nil
}

// targetOrder sorts tasks so that a target table comes after the target
// tables it references (parents first); a cycle keeps the plan's order
// among its tables.
func (rc *runCtx) targetOrder(ctx context.Context, din schema.Introspector, tasks []TaskPlan) ([]TaskPlan, error) {
	deps := map[string][]string{}
	index := map[string]int{}
	for i, t := range tasks {
		index[t.TargetSchema+"."+t.TargetTable] = i
	}
	for _, t := range tasks {
		ts, err := din.DescribeTables(ctx, t.TargetSchema, []string{t.TargetTable})
		if err != nil || len(ts) != 1 {
			continue // a missing target (recreate after a crash) has no keys to order by
		}
		for _, fk := range ts[0].ForeignKeys {
			sch := fk.RefSchema
			if sch == "" || sch == ts[0].Schema {
				sch = t.TargetSchema
			}
			deps[t.TargetSchema+"."+t.TargetTable] = append(deps[t.TargetSchema+"."+t.TargetTable], sch+"."+fk.RefTable)
		}
	}
	return topoOrder(tasks, func(t TaskPlan) string { return t.TargetSchema + "." + t.TargetTable }, deps), nil
}

// topoOrder puts items after the items they depend on, keeping the given
// order otherwise; items of a cycle stay in the given order.
func topoOrder[T any](items []T, key func(T) string, deps map[string][]string) []T {
	byKey := map[string]int{}
	for i, it := range items {
		byKey[key(it)] = i
	}
	state := make([]int, len(items)) // 0 new, 1 visiting, 2 done
	var out []T
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return // done, or a cycle: leave it where it is
		}
		state[i] = 1
		for _, d := range deps[key(items[i])] {
			if j, ok := byKey[d]; ok && j != i {
				visit(j)
			}
		}
		state[i] = 2
		out = append(out, items[i])
	}
	for i := range items {
		visit(i)
	}
	return out
}

// recreate drops each target and creates it again from the source's
// structure (renamed as the job maps it), parents first; foreign keys
// are added once every table exists.
func (rc *runCtx) recreate(ctx context.Context, order []TaskPlan) error {
	sin, err := as[schema.Introspector](rc.src, "read table structure")
	if err != nil {
		return err
	}
	ddl, err := as[schema.DDLTarget](rc.dst, "create tables")
	if err != nil {
		return err
	}
	var fks []string
	// Drop children first, so no key refers to a dropped table.
	for i := len(order) - 1; i >= 0; i-- {
		t := order[i]
		if err := ddl.DropTable(ctx, t.TargetSchema, t.TargetTable); err != nil {
			return fmt.Errorf("pre_action recreate: %s", scrub(rc.dst, err))
		}
	}
	for _, t := range order {
		st, err := DescribeOne(ctx, sin, t.SourceSchema, t.SourceTable, "source", rc.plan.Source)
		if err != nil {
			return err
		}
		st = mappedTable(st, t)
		p, err := ddl.PlanCreate(st, schema.CreateOptions{Schema: t.TargetSchema, PrimaryKeys: true, Indexes: true, CaseSensitive: true,
			TinyIntOneAsBool: true, ForeignKeys: true})
		if err != nil {
			return fmt.Errorf("pre_action recreate %s: %w", t.TargetTable, err)
		}
		if err := ddl.Apply(ctx, schema.Plan{Table: p.Table, Statements: p.Statements}); err != nil {
			return fmt.Errorf("pre_action recreate %s: %s", t.TargetTable, scrub(rc.dst, err))
		}
		fks = append(fks, p.ForeignKeys...)
	}
	if len(fks) > 0 {
		if err := ddl.Apply(ctx, schema.Plan{Statements: fks}); err != nil {
			return fmt.Errorf("pre_action recreate: foreign keys: %s", scrub(rc.dst, err))
		}
	}
	return nil
}

// mappedTable is the source's structure as the target of t: the target
// table's name and, with a COLUMNS list, only the mapped columns under
// their target names.
func mappedTable(st schema.Table, t TaskPlan) schema.Table {
	st.Name = t.TargetTable
	if len(t.Columns) == 0 {
		return st
	}
	rename := map[string]string{}
	for _, m := range t.Columns {
		rename[m.Source] = m.Target
	}
	var cols []schema.Column
	for _, c := range st.Columns {
		if n, ok := rename[c.Name]; ok {
			c.Name = n
			cols = append(cols, c)
		}
	}
	st.Columns = cols
	mapList := func(names []string) ([]string, bool) {
		out := make([]string, len(names))
		for i, n := range names {
			m, ok := rename[n]
			if !ok {
				return nil, false
			}
			out[i] = m
		}
		return out, true
	}
	pk, ok := mapList(st.PrimaryKey)
	if !ok {
		pk = nil
	}
	st.PrimaryKey = pk
	var ixs []schema.Index
	for _, ix := range st.Indexes {
		if c, ok := mapList(ix.Columns); ok {
			ix.Columns = c
			ixs = append(ixs, ix)
		}
	}
	st.Indexes = ixs
	var fks []schema.ForeignKey
	for _, fk := range st.ForeignKeys {
		if c, ok := mapList(fk.Columns); ok {
			fk.Columns = c
			fks = append(fks, fk)
		}
	}
	st.ForeignKeys = fks
	return st
}

// suspendKeys takes off the foreign keys of the tables the run loads,
// where the target needs that to load in any order (PostgreSQL:
// data.ForeignKeySuspender; MySQL loads with foreign_key_checks off
// instead, SQLite does not check flowgate's loads): parents may load after
// children (tasks and partitions run in parallel, tables may reference
// each other in a cycle or themselves, or the parent is loaded by another
// job). Each key is recorded in the catalog before it is dropped; the
// first attempt's list holds for every retry.
func (rc *runCtx) suspendKeys(ctx context.Context) ([]catalog.SuspendedKey, error) {
	fs, err := connectors.As[data.ForeignKeySuspender](rc.dst.Conn)
	if err != nil {
		return nil, nil
	}
	cat := rc.e.cfg.Catalog
	bg := context.WithoutCancel(ctx)
	saved, err := cat.SuspendedKeys(bg, rc.id)
	if err != nil {
		return nil, err
	}
	if len(saved) == 0 {
		var keys []catalog.SuspendedKey
		for _, t := range rc.plan.Tasks {
			names, defs, err := fs.ForeignKeys(ctx, t.TargetSchema, t.TargetTable)
			if err != nil {
				return nil, fmt.Errorf("foreign keys: %s", scrub(rc.dst, err))
			}
			for i, n := range names {
				keys = append(keys, catalog.SuspendedKey{Schema: t.TargetSchema, Table: t.TargetTable, Name: n, Definition: defs[i]})
			}
		}
		if len(keys) == 0 {
			return nil, nil
		}
		if saved, err = cat.SaveSuspendedKeys(bg, rc.id, keys); err != nil {
			return nil, err
		}
	}
	var dropped []catalog.SuspendedKey
	for _, k := range saved {
		if err := cat.SetKeyRestored(bg, rc.id, k.Seq, false, "dropped for the load"); err != nil {
			return dropped, err
		}
		ok, err := fs.DropForeignKey(ctx, k.Schema, k.Table, k.Name)
		if err != nil {
			return append(dropped, k), fmt.Errorf("foreign keys: %s", scrub(rc.dst, err))
		}
		if !ok {
			// Not the table's owner: the key stays and checks the load
			// (parents must then load first).
			if err := cat.SetKeyRestored(bg, rc.id, k.Seq, true, "kept: no privilege to drop it, the load is checked"); err != nil {
				return dropped, err
			}
			continue
		}
		dropped = append(dropped, k)
	}
	return dropped, nil
}

// restoreKeys adds the suspended keys back and validates them. failed
// are keys it could not add (the run fails; RETRY adds them); invalid are
// keys the rows do not satisfy (e.g. the parent table is loaded by another
// job, or not yet): they stay NOT VALID, holding for new rows, and the run
// says so.
func (rc *runCtx) restoreKeys(ctx context.Context, keys []catalog.SuspendedKey) (failed, invalid []string) {
	fs, err := connectors.As[data.ForeignKeySuspender](rc.dst.Conn)
	if err != nil || len(keys) == 0 {
		return nil, nil
	}
	cat := rc.e.cfg.Catalog
	for _, k := range keys {
		valid, reason, err := fs.RestoreForeignKey(ctx, k.Schema, k.Table, k.Name, k.Definition)
		msg := "restored and validated"
		switch {
		case err != nil:
			msg = "not restored: " + scrub(rc.dst, err) + "; RETRY RUN adds it back"
			failed = append(failed, fmt.Sprintf("foreign key %s of %s %s", k.Name, k.Table, msg))
		case !valid:
			msg = "restored NOT VALID: " + reason + "; load the referenced rows, then ALTER TABLE ... VALIDATE CONSTRAINT"
			invalid = append(invalid, fmt.Sprintf("foreign key %s of %s %s", k.Name, k.Table, msg))
		}
		if err := cat.SetKeyRestored(ctx, rc.id, k.Seq, err == nil, msg); err != nil {
			rc.e.cfg.Logger.Error("record foreign key", "run", rc.id, "err", err)
		}
	}
	return failed, invalid
}
