package temporal

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// recordHistory saves a finished BatchRun's history (payloads sealed with
// the tests' key) for executor/temporal's replay test: run with
// FLOWGATE_RECORD_HISTORY=1 after a deliberate change to the workflow.
func recordHistory(t *testing.T, c client.Client, wid string) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), wid, "", false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	out := filepath.Join(filepath.Dir(file), "..", "..", "executor", "temporal", "testdata", "batchrun-stop-retry.json")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events to %s", len(h.Events), out)
}
