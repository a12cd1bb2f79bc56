// Package ddltask runs a DDL task: read table structures from a source
// database and create them on a target, one table at a time, several at
// once. A table that fails does not stop the others; each gets a result
// with the target's own message and the exact SQL run.
package ddltask

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/flowgate/flowgate/connectors/schema"
)

// Table statuses.
const (
	Success = "success"
	Failed  = "failed"
)

// Options are a task's WITH options, parsed.
type Options struct {
	CreateIfMissing  bool // skip tables that exist (success, message says skipped)
	Recreate         bool // drop tables that exist and create them again
	Indexes          bool
	PrimaryKeys      bool
	Parallel         int
	CaseSensitive    bool
	TinyIntOneAsBool bool
	ForeignKeys      bool   // create the source's foreign keys (after every table exists)
	EnumAs           string // "check" or "type" (PostgreSQL targets)
	SetAs            string // "text" or "array" (PostgreSQL targets)
}

// Spec is one run.
type Spec struct {
	Source       schema.Introspector
	Target       schema.DDLTarget
	SourceSchema string   // "" = the source's default
	TargetSchema string   // "" = the target's default
	Tables       []string // "" = every table of the source schema
	Exclude      []string
	Options      Options
}

// Result is one table's outcome.
type Result struct {
	Table   string
	Status  string
	Message string
	SQL     string
}

// Tables resolves the task's table list against the source: every base
// table of the schema, or the named ones (a missing name is an error), less
// the excluded ones, sorted.
func Tables(ctx context.Context, src schema.Introspector, sourceSchema string, tables, exclude []string) ([]string, error) {
	all, err := src.ListTables(ctx, sourceSchema)
	if err != nil {
		return nil, fmt.Errorf("list source tables: %w", err)
	}
	have := make(map[string]bool, len(all))
	for _, t := range all {
		have[t] = true
	}
	picked := all
	if len(tables) > 0 {
		picked = nil
		var missing []string
		for _, t := range tables {
			if !have[t] {
				missing = append(missing, t)
				continue
			}
			picked = append(picked, t)
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%w: %s", schema.ErrTableNotFound, strings.Join(missing, ", "))
		}
	}
	skip := make(map[string]bool, len(exclude))
	for _, t := range exclude {
		skip[t] = true
	}
	out := make([]string, 0, len(picked))
	seen := map[string]bool{}
	for _, t := range picked {
		if !skip[t] && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Run creates every table of spec on the target. report is called once per
// table as soon as it is done (from several goroutines, never at once); a
// table with foreign keys is done once its keys are added, after every
// table exists (tables may reference each other in a cycle, as Sakila's
// store and staff do). The returned error is for failures before any
// table was attempted; table failures are results.
func Run(ctx context.Context, spec Spec, report func(Result) error) ([]Result, error) {
	tables, err := Tables(ctx, spec.Source, spec.SourceSchema, spec.Tables, spec.Exclude)
	if err != nil {
		return nil, err
	}
	parallel := spec.Options.Parallel
	if parallel < 1 {
		parallel = 1
	}
	var (
		mu        sync.Mutex
		results   = make([]Result, len(tables))
		keys      = make([][]string, len(tables))
		reportErr error
		wg        sync.WaitGroup
		sem       = make(chan struct{}, parallel)
	)
	send := func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		if report != nil && reportErr == nil {
			reportErr = report(r)
		}
	}
	for i, name := range tables {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = Result{Table: name, Status: Failed, Message: "canceled: " + ctx.Err().Error()}
				return
			}
			r, fks := runTable(ctx, spec, name)
			<-sem
			results[i], keys[i] = r, fks
			if len(fks) == 0 || r.Status != Success {
				send(r)
			}
		}()
	}
	wg.Wait()
	// Second phase: the foreign keys of the tables created.
	for i := range tables {
		if len(keys[i]) == 0 || results[i].Status != Success {
			continue
		}
		r := &results[i]
		r.SQL = joinSQL(append(splitSQL(r.SQL), keys[i]...))
		if err := spec.Target.Apply(ctx, schema.Plan{Table: r.Table, Statements: keys[i]}); err != nil {
			r.Status, r.Message = Failed, "foreign keys: "+err.Error()
		} else {
			r.Message += fmt.Sprintf("; %d foreign key(s) added", len(keys[i]))
		}
		send(*r)
	}
	return results, reportErr
}

func splitSQL(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(s, ";\n") {
		out = append(out, strings.TrimSuffix(l, ";"))
	}
	return out
}

func runTable(ctx context.Context, spec Spec, name string) (Result, []string) {
	res := Result{Table: name, Status: Failed}
	tables, err := spec.Source.DescribeTables(ctx, spec.SourceSchema, []string{name})
	if err != nil {
		res.Message = "read source structure: " + err.Error()
		return res, nil
	}
	if len(tables) != 1 {
		res.Message = fmt.Sprintf("read source structure: got %d tables for %s", len(tables), name)
		return res, nil
	}
	o := spec.Options
	plan, err := spec.Target.PlanCreate(tables[0], schema.CreateOptions{
		Schema: spec.TargetSchema, PrimaryKeys: o.PrimaryKeys, Indexes: o.Indexes,
		CaseSensitive: o.CaseSensitive, TinyIntOneAsBool: o.TinyIntOneAsBool,
		ForeignKeys: o.ForeignKeys, EnumAs: o.EnumAs, SetAs: o.SetAs,
	})
	if err != nil {
		res.Message = err.Error()
		return res, nil
	}
	res.SQL = joinSQL(plan.Statements)
	exists, err := spec.Target.TableExists(ctx, spec.TargetSchema, plan.Table)
	if err != nil {
		res.Message = "check target: " + err.Error()
		return res, nil
	}
	var notes []string
	if exists {
		switch {
		case o.Recreate:
			if err := spec.Target.DropTable(ctx, spec.TargetSchema, plan.Table); err != nil {
				res.Message = "drop existing table: " + err.Error()
				return res, nil
			}
			notes = append(notes, "dropped the existing table")
		case o.CreateIfMissing:
			res.Status = Success
			res.Message = fmt.Sprintf("skipped: table %s already exists on the target (create_if_missing = on; set recreate = on to replace it)", plan.Table)
			res.SQL = ""
			return res, nil
		}
		// Neither option: run CREATE anyway so the target says why not.
	}
	if err := spec.Target.Apply(ctx, plan); err != nil {
		res.Message = err.Error()
		if errors.Is(err, context.Canceled) {
			res.Message = "canceled"
		}
		return res, nil
	}
	res.Status = Success
	msg := "created"
	if len(notes) > 0 {
		msg = strings.Join(notes, "; ") + "; created"
	}
	if len(plan.Warnings) > 0 {
		msg += "; warnings: " + strings.Join(plan.Warnings, "; ")
	}
	res.Message = msg
	return res, plan.ForeignKeys
}

func joinSQL(stmts []string) string {
	var b strings.Builder
	for i, s := range stmts {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(strings.TrimRight(s, "; \n"))
		b.WriteString(";")
	}
	return b.String()
}
