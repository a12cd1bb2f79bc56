package runopts

import (
	"strings"
	"testing"
)

func TestMessageQueueKeys(t *testing.T) {
	given := map[string]string{"message_format": "CloudCanal", "start_from": "latest", "flush_batch_mb": "16", "ddl": "apply", "zero_time": "error", "error_limit": "5"}
	got, err := SyncJob.Check(given)
	if err != nil {
		t.Fatal(err)
	}
	if got["message_format"] != "cloudcanal" {
		t.Errorf("message_format = %q", got["message_format"])
	}
	if err := SyncJob.CheckMode(got, CDC); err != nil {
		t.Fatalf("CDC: %v", err)
	}
	if err := SyncJob.CheckMode(map[string]string{"message_format": "canal"}, Batch); err == nil || !strings.Contains(err.Error(), "MODE BATCH") {
		t.Errorf("message_format for BATCH: %v", err)
	}
	if err := SyncJob.CheckMode(map[string]string{"error_limit": "1"}, CDC); err != nil {
		t.Errorf("error_limit is a CDC key: %v", err)
	}
	if err := SyncJob.CheckSource(got, "kafka"); err != nil {
		t.Errorf("kafka: %v", err)
	}
	err = SyncJob.CheckSource(map[string]string{"error_limit": "1", "start_from": "latest"}, "postgres")
	ke, ok := err.(*KeyError)
	if !ok || ke.Key != "start_from" || !strings.Contains(ke.Message, "postgres datasource") || !strings.Contains(ke.Hint, "kafka datasources only") {
		t.Fatalf("start_from for postgres: %#v", err)
	}
	err = SyncJob.CheckSource(map[string]string{"slot_name": "s"}, "kafka")
	if ke, ok := err.(*KeyError); !ok || ke.Key != "slot_name" || !strings.Contains(ke.Hint, "postgres and mysql") {
		t.Fatalf("slot_name for kafka: %#v", err)
	}
	if v := SyncJob.Resolve(nil); v["message_format"] != "canal" || v["total_data_in_mem_mb"] != "64" || v["ddl"] != "ignore" {
		t.Errorf("defaults: %v", v)
	}
	if _, err := SyncJob.Check(map[string]string{"ddl": "drop"}); err == nil {
		t.Error("ddl = drop accepted")
	}
}
