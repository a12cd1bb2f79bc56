package catalog

import (
	"context"
	"errors"
	"testing"

	"github.com/flowgate/flowgate/connectors/schema"
)

func orders() schema.Table {
	return schema.Table{Schema: "shop", Name: "orders", Dialect: schema.MySQL, PrimaryKey: []string{"id"},
		Columns: []schema.Column{
			{Name: "id", Type: schema.Type{Kind: schema.Int64, Native: "bigint"}, AutoIncrement: true},
			{Name: "amount", Type: schema.Type{Kind: schema.Decimal, Precision: 12, Scale: 2, Native: "decimal(12,2)"}, Nullable: true},
			{Name: "note", Type: schema.Type{Kind: schema.Varchar, Length: 64, Native: "varchar(64)"}, Nullable: true, Comment: "free text"},
		}}
}

func TestImportModelCreatesUpdatesAndAssociates(t *testing.T) {
	ctx := context.Background()
	c, _ := openTemp(t)
	for _, n := range []string{"shop", "replica"} {
		if err := c.CreateDatasource(ctx, Datasource{Name: n, Type: "mysql", Options: map[string]string{}}, func(string) bool { return false }); err != nil {
			t.Fatal(err)
		}
	}
	tbl := orders()
	if got, err := c.ImportModel(ctx, "shop", tbl); err != nil || got != ModelCreated {
		t.Fatalf("first import = %q, %v", got, err)
	}
	if got, err := c.ImportModel(ctx, "shop", tbl); err != nil || got != ModelUnchanged {
		t.Fatalf("second import = %q, %v", got, err)
	}
	tbl.Columns = append(tbl.Columns, schema.Column{Name: "paid", Type: schema.Type{Kind: schema.Bool, Native: "tinyint(1)"}})
	if got, err := c.ImportModel(ctx, "replica", tbl); err != nil || got != ModelUpdated {
		t.Fatalf("changed import = %q, %v", got, err)
	}
	var cols, assoc int
	c.r.QueryRow(`SELECT count(*) FROM dataflow_columns WHERE schema = 'shop' AND table_name = 'orders'`).Scan(&cols)
	c.r.QueryRow(`SELECT count(*) FROM dataflow_tables WHERE name = 'orders' AND datasource IS NOT NULL`).Scan(&assoc)
	if cols != 4 || assoc != 2 {
		t.Fatalf("columns %d associations %d, want 4 and 2", cols, assoc)
	}
	var length, prec, scale any
	var pk, nullable bool
	c.r.QueryRow(`SELECT length, precision, scale, primary_key, nullable FROM dataflow_columns WHERE name = 'amount'`).Scan(&length, &prec, &scale, &pk, &nullable)
	if length != nil || prec != int64(12) || scale != int64(2) || pk || !nullable {
		t.Fatalf("amount: length %v precision %v scale %v pk %v nullable %v", length, prec, scale, pk, nullable)
	}
	if err := c.MarkDroppedAtSource(ctx, "replica", "shop", "orders"); err != nil {
		t.Fatal(err)
	}
	refs, err := c.DatasourceModels(ctx, "replica")
	if err != nil || len(refs) != 1 || refs[0].State != "dropped_at_source" {
		t.Fatalf("replica models = %+v, %v", refs, err)
	}
	if err := c.AssociateModel(ctx, "shop", "orders", "shop"); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("associate twice: %v", err)
	}
	if err := c.DissociateModel(ctx, "shop", "orders", "replica"); err != nil {
		t.Fatal(err)
	}
	if err := c.DissociateModel(ctx, "shop", "orders", "replica"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dissociate twice: %v", err)
	}
}

func TestUpdateModelIsAtomicAndResolveReportsAmbiguity(t *testing.T) {
	ctx := context.Background()
	c, _ := openTemp(t)
	a := &Model{Schema: "a", Name: "t", Dialect: schema.Postgres, Table: orders()}
	b := &Model{Schema: "b", Name: "t", Dialect: schema.Postgres, Table: orders()}
	for _, m := range []*Model{a, b} {
		if err := c.CreateModel(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CreateModel(ctx, a); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, err := c.ResolveModel(ctx, "", "t"); !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("resolve ambiguous: %v", err)
	}
	if s, err := c.ResolveModel(ctx, "b", "t"); err != nil || s != "b" {
		t.Fatalf("resolve qualified: %q %v", s, err)
	}
	boom := errors.New("boom")
	err := c.UpdateModel(ctx, "a", "t", func(m *Model) error {
		m.Table.Columns = m.Table.Columns[:1]
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update error = %v", err)
	}
	m, err := c.GetModel(ctx, "a", "t")
	if err != nil || len(m.Table.Columns) != 3 {
		t.Fatalf("failed update changed the model: %v %v", m, err)
	}
	err = c.UpdateModel(ctx, "a", "t", func(m *Model) error {
		m.Table.Columns[0], m.Table.Columns[2] = m.Table.Columns[2], m.Table.Columns[0]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var first string
	c.r.QueryRow(`SELECT name FROM dataflow_columns WHERE schema = 'a' AND ordinal = 1`).Scan(&first)
	if first != "note" {
		t.Fatalf("first column after reorder = %q", first)
	}
}

func TestDDLTaskLifecycle(t *testing.T) {
	ctx := context.Background()
	c, _ := openTemp(t)
	for _, n := range []string{"src", "dst"} {
		if err := c.CreateDatasource(ctx, Datasource{Name: n, Type: "postgres", Options: map[string]string{}}, func(string) bool { return false }); err != nil {
			t.Fatal(err)
		}
	}
	task := DDLTask{Name: "t1", Source: "src", Target: "dst", TargetSchema: "public", Tables: []string{"a"}, Options: map[string]string{"parallel": "2"}}
	if err := c.CreateDDLTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	users, err := c.DatasourceUsers(ctx, "dst")
	if err != nil || len(users) != 1 || users[0] != "ddl task t1" {
		t.Fatalf("users = %v %v", users, err)
	}
	if err := c.StartDDLTask(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartDDLTask(ctx, "t1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second start: %v", err)
	}
	if err := c.DropDDLTask(ctx, "t1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("drop while running: %v", err)
	}
	c.RecordDDLTable(ctx, "t1", DDLTableResult{Table: "a", Status: "success", Message: "created", SQL: "CREATE TABLE a ()"})
	c.RecordDDLTable(ctx, "t1", DDLTableResult{Table: "b", Status: "failed", Message: "nope", SQL: "CREATE TABLE b ()"})
	if n, err := c.FailInterruptedDDLTasks(ctx); err != nil || n != 1 {
		t.Fatalf("interrupted = %d %v", n, err)
	}
	var status, msg string
	var ok, failed int
	c.r.QueryRow(`SELECT status, message, succeeded, failed FROM dataflow_ddl_tasks WHERE name = 't1'`).Scan(&status, &msg, &ok, &failed)
	if status != "failed" || msg != "interrupted by restart" || ok != 1 || failed != 1 {
		t.Fatalf("task row: %s %q %d %d", status, msg, ok, failed)
	}
	got, err := c.GetDDLTask(ctx, "t1")
	if err != nil || got.TargetSchema != "public" || got.SourceSchema != "" || got.Options["parallel"] != "2" || len(got.Tables) != 1 {
		t.Fatalf("get = %+v %v", got, err)
	}
	if err := c.DropDDLTask(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	var n int
	c.r.QueryRow(`SELECT count(*) FROM ddl_task_tables`).Scan(&n)
	if n != 0 {
		t.Fatalf("table results left after drop: %d", n)
	}
}
