package all_test

import (
	"os"
	"testing"

	"github.com/flowgate/flowgate/connectors/all"
)

func TestDocsUpToDate(t *testing.T) {
	got, err := os.ReadFile("../../docs/datasources.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != all.Docs() {
		t.Fatal("docs/datasources.md is out of date; regenerate with: go run ./connectors/gendocs > docs/datasources.md")
	}
}

func TestTypesOpen(t *testing.T) {
	for _, typ := range all.Types() {
		if typ.Open == nil || len(typ.Options) == 0 || typ.Description == "" {
			t.Errorf("%s: incomplete declaration", typ.Name)
		}
		for _, o := range typ.Options {
			if o.Description == "" {
				t.Errorf("%s.%s: no description", typ.Name, o.Name)
			}
		}
	}
}
