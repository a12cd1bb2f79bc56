package runopts

import (
	"os"
	"strings"
	"testing"
)

func TestDocsUpToDate(t *testing.T) {
	b, err := os.ReadFile("../../docs/sql-reference.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := FillDoc(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if want != string(b) {
		t.Fatal("docs/sql-reference.md option tables are stale: run `make docs`")
	}
}

func TestCheckNormalizesAndRejects(t *testing.T) {
	got, err := SyncJob.Check(map[string]string{"algorithm": "HashDiff", "verbose": "true", "limit": "10"})
	if err != nil || got["algorithm"] != "hashdiff" || got["verbose"] != "on" || got["limit"] != "10" {
		t.Fatalf("check = %v %v", got, err)
	}
	for _, bad := range []map[string]string{{"algoritm": "x"}, {"limit": "0"}, {"limit": "1001"}, {"algorithm": "sha"}, {"verbose": "maybe"}, {"threads": "two"}} {
		_, err := SyncJob.Check(bad)
		ke, ok := err.(*KeyError)
		if !ok {
			t.Fatalf("%v: err = %v", bad, err)
		}
		for k := range bad {
			if ke.Key != k {
				t.Fatalf("%v: key %q", bad, ke.Key)
			}
		}
	}
	_, err = SyncJob.Check(map[string]string{"algoritm": "x"})
	if !strings.Contains(err.(*KeyError).Hint, "bisection_factor") {
		t.Fatalf("hint lacks the valid keys: %v", err.(*KeyError).Hint)
	}
	v := SyncJob.Resolve(map[string]string{"threads": "4"})
	if v.Int("threads") != 4 || v["algorithm"] != "md5diff" || !v.Bool("enable_pk_duplicate_detect") {
		t.Fatalf("resolve = %v", v)
	}
}
