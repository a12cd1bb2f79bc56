package batch

import (
	"reflect"
	"testing"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors/schema"
)

func TestTopoOrderParentsFirstCyclesStay(t *testing.T) {
	items := []string{"rental", "store", "staff", "film", "country", "city"}
	deps := map[string][]string{
		"rental": {"film", "staff"},
		"store":  {"staff"},
		"staff":  {"store", "staff"}, // a cycle and a self-reference
		"city":   {"country"},
	}
	got := topoOrder(items, func(s string) string { return s }, deps)
	pos := map[string]int{}
	for i, s := range got {
		pos[s] = i
	}
	if len(got) != len(items) {
		t.Fatalf("order %v lost or repeated items", got)
	}
	for child, parents := range deps {
		for _, p := range parents {
			if p == child || (child == "store" && p == "staff") || (child == "staff" && p == "store") {
				continue // self-reference, cycle
			}
			if pos[p] > pos[child] {
				t.Errorf("%s before its parent %s: %v", child, p, got)
			}
		}
	}
}

func TestPartitionsCutAndMarkIDs(t *testing.T) {
	key := []schema.Column{{Name: "id", Type: schema.Type{Kind: schema.Int64}}}
	parts := cut(key, [][]string{{"100"}, {"200"}})
	want := []catalog.Partition{
		{Seq: 1, KeyColumns: []string{"id"}, Upper: []string{"100"}},
		{Seq: 2, KeyColumns: []string{"id"}, Lower: []string{"100"}, Upper: []string{"200"}},
		{Seq: 3, KeyColumns: []string{"id"}, Lower: []string{"200"}},
	}
	if !reflect.DeepEqual(parts, want) {
		t.Fatalf("cut = %+v", parts)
	}
	if id := partitionID(3, 12); id != "t0003-p000012" {
		t.Fatalf("partition id %s", id)
	}
	for uri, want := range map[string]string{
		"file:///s/job/run/t0003-p000012.csv.zst":  "t0003-p000012",
		"s3://b/p/job/run/t0001-p000001.parquet":   "t0001-p000001",
		"file:///s/job/run/t0001-a2-000004.csv.gz": "t0001-a2-000004.csv.gz", // staged before partitions
	} {
		if got := markID(catalog.ExportFile{URI: uri}); got != want {
			t.Errorf("markID(%s) = %s, want %s", uri, got, want)
		}
	}
	note := partitionNote("exported", 11, 20, parts)
	if note != "exported 11 of 20 partitions (9 were done before)" {
		t.Errorf("note %q", note)
	}
	if n := partitionNote("imported", 1, 1, []catalog.Partition{{Seq: 1}}); n != "" {
		t.Errorf("one-partition note %q", n)
	}
}

func TestMappedTableRenamesAndDrops(t *testing.T) {
	st := schema.Table{Name: "orders", Columns: []schema.Column{{Name: "id"}, {Name: "cust"}, {Name: "note"}}, PrimaryKey: []string{"id"},
		Indexes:     []schema.Index{{Name: "ix_note", Columns: []string{"note"}}, {Name: "ix_cust", Columns: []string{"cust"}}},
		ForeignKeys: []schema.ForeignKey{{Name: "fk", Columns: []string{"cust"}, RefTable: "customers", RefColumns: []string{"id"}}}}
	got := mappedTable(st, TaskPlan{TargetTable: "o2", Columns: []catalog.ColumnMap{{Source: "id", Target: "id"}, {Source: "cust", Target: "customer"}}})
	if got.Name != "o2" || len(got.Columns) != 2 || got.Columns[1].Name != "customer" || !reflect.DeepEqual(got.PrimaryKey, []string{"id"}) ||
		len(got.Indexes) != 1 || got.Indexes[0].Columns[0] != "customer" || got.ForeignKeys[0].Columns[0] != "customer" {
		t.Fatalf("mapped = %+v", got)
	}
}
