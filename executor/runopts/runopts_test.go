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
	for _, bad := range []map[string]string{{"algoritm": "x"}, {"limit": "0"}, {"limit": "1001"}, {"algorithm": "sha"}, {"verbose": "maybe"}, {"threads": "two"},
		{"slot_name": "Bad-Name!"}, {"slot_name": strings.Repeat("s", 64)}, {"slot_name": ""}} {
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
	if _, err := SyncJob.Check(map[string]string{"slot_name": "flowgate_orders_2"}); err != nil {
		t.Fatalf("a valid slot name refused: %v", err)
	}
	if _, err := SyncJob.Check(map[string]string{"slot_name": "Bad"}); !strings.Contains(err.(*KeyError).Hint, "lower case") {
		t.Fatalf("slot_name hint: %v", err.(*KeyError).Hint)
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

func TestCheckModeNamesTheModes(t *testing.T) {
	err := SyncJob.CheckMode(map[string]string{"slot_name": "s", "algorithm": "hashdiff"}, Batch)
	ke, ok := err.(*KeyError)
	if !ok || ke.Key != "slot_name" || !strings.Contains(ke.Message, "MODE BATCH") || !strings.Contains(ke.Hint, "MODE CDC") {
		t.Fatalf("err = %#v", err)
	}
	// pre_action applies to BATCH and SCAN, each with its own values.
	for _, v := range []string{"none", "truncate", "recreate"} {
		if err := SyncJob.CheckMode(map[string]string{"pre_action": v}, Batch); err != nil {
			t.Errorf("pre_action %s for BATCH: %v", v, err)
		}
	}
	err = SyncJob.CheckMode(map[string]string{"pre_action": "rename_create"}, Batch)
	if ke, ok := err.(*KeyError); !ok || ke.Key != "pre_action" || !strings.Contains(ke.Hint, "none | truncate | recreate") {
		t.Fatalf("rename_create for BATCH: %#v", err)
	}
	err = SyncJob.CheckMode(map[string]string{"pre_action": "recreate"}, Scan)
	if ke, ok := err.(*KeyError); !ok || !strings.Contains(ke.Hint, "rename_create") {
		t.Fatalf("recreate for SCAN: %#v", err)
	}
	err = SyncJob.CheckMode(map[string]string{"algorithm": "hashdiff"}, CDC)
	if ke, ok := err.(*KeyError); !ok || !strings.Contains(ke.Hint, "MODE BATCH, MODE SCAN") {
		t.Fatalf("algorithm for CDC: %v", err)
	}
	for mode, keys := range map[string][]string{
		Batch: {"algorithm", "staging", "verbose", "source_timezone"},
		CDC:   {"checkpoint_interval", "restart_strategy", "slot_name", "schema_changes", "verbose"},
	} {
		given := map[string]string{}
		for _, k := range keys {
			given[k] = "x"
		}
		if err := SyncJob.CheckMode(given, mode); err != nil {
			t.Errorf("%s: %v", mode, err)
		}
	}
	if err := SyncJob.CheckMode(map[string]string{"throttle_mbps": "3"}, CDC); err == nil || !strings.Contains(err.Error(), "does not apply to MODE CDC") {
		t.Errorf("throttle_mbps: %v", err)
	}
	for _, k := range []string{"scan_delay", "source_file_column"} {
		if err := SyncJob.CheckMode(map[string]string{k: "1"}, Batch); err == nil || !strings.Contains(err.Error(), "does not apply to MODE BATCH") {
			t.Errorf("%s for BATCH: %v", k, err)
		}
	}
	if err := SyncJob.CheckMode(map[string]string{"window_start": "-70 minutes", "write_mode": "append", "error_limit": "10"}, Scan); err != nil {
		t.Errorf("file keys for SCAN: %v", err)
	}
}
