package temporal

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"
)

// testKey is the key tests/temporal's gateways and workers use; the
// recorded histories are sealed with it.
var testKey = bytes.Repeat([]byte{0x5a}, 32)

// Recorded BatchRun, CDCRun and ScanRun histories must replay against today's
// workflow code: a change that would break runs in flight (a new activity
// call, another order) fails here. Record a new history
// (FLOWGATE_RECORD_HISTORY=1 go test ./tests/temporal -run
// 'TestTemporalWaitStopRetry|TestTemporalCDCWorker|TestTemporalScanRuns') only together
// with a new Version.
func TestReplayRecordedHistories(t *testing.T) {
	codec, err := NewCodec(testKey)
	if err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".json") {
			continue
		}
		r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: codec.DataConverter()})
		if err != nil {
			t.Fatal(err)
		}
		Register(r)
		if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/"+f.Name()); err != nil {
			t.Errorf("%s: %v", f.Name(), err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no recorded history in testdata")
	}
}

// The codec seals whole payloads and refuses another key by fingerprint.
func TestCodecSealsAndNamesTheKey(t *testing.T) {
	a, _ := NewCodec(testKey)
	b, _ := NewCodec(bytes.Repeat([]byte{0x11}, 32))
	p, err := a.DataConverter().ToPayload(map[string]string{"password": "hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.GetData(), []byte("hunter2")) || bytes.Contains(p.GetData(), []byte("password")) {
		t.Fatal("payload in clear")
	}
	var back map[string]string
	if err := a.DataConverter().FromPayload(p, &back); err != nil || back["password"] != "hunter2" {
		t.Fatalf("round trip: %v %v", back, err)
	}
	err = b.DataConverter().FromPayload(p, &back)
	if err == nil || !strings.Contains(err.Error(), KeyID(testKey)) || !strings.Contains(err.Error(), "--secret-key-file") {
		t.Fatalf("another key: %v", err)
	}
}
