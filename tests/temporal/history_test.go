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
	"google.golang.org/protobuf/proto"
)

// recordHistory saves a finished workflow's history (payloads sealed with
// the tests' key; its latest run when runID is "") as testdata/name for executor/temporal's replay test:
// run with FLOWGATE_RECORD_HISTORY=1 after a deliberate change to the
// workflow.
func recordHistory(t *testing.T, c client.Client, wid, runID, name string) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), wid, runID, false, 0)
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
	out := filepath.Join(filepath.Dir(file), "..", "..", "executor", "temporal", "testdata", name)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events to %s", len(h.Events), out)
}

// rawHistory reads a workflow's history as Temporal stores it (no codec):
// the events marshalled end to end, and their types.
func rawHistory(t *testing.T, c client.Client, wid, runID string) (blob []byte, kinds []string) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), wid, runID, false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		blob = append(blob, b...)
		kinds = append(kinds, ev.GetEventType().String())
	}
	return blob, kinds
}
