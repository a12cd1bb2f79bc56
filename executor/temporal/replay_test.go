package temporal

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/executor/batch"
	"github.com/flowgate/flowgate/executor/cdc"
	"go.temporal.io/sdk/converter"
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

// A CDC run's heartbeat grows with its tables: payloads over 1 KiB are
// deflated before sealing, so a 5,000-table Record stays far under
// Temporal's 2 MB limit, and it comes back whole.
func TestCodecDeflatesLargePayloads(t *testing.T) {
	codec, err := NewCodec(testKey)
	if err != nil {
		t.Fatal(err)
	}
	rec := cdc.Record{Attempt: "wf/run/cdc-0/1", Seq: 42, Tasks: map[int64]string{}}
	for i := int64(1); i <= 5000; i++ {
		table := fmt.Sprintf("public.orders_%05d", i)
		rec.Stages = append(rec.Stages, cdc.RecordStage{TaskID: i, Stage: "Snapshot", Status: "completed", Starts: 1, Rows: 1000 + i, Bytes: 64000 + i,
			Message: fmt.Sprintf("%d rows copied from %s", 1000+i, table)})
		rec.Tasks[i] = "running"
		rec.Progress.Tables = append(rec.Progress.Tables, catalog.CDCTableCounts{SourceTable: table, TargetTable: table, Inserts: i, Updates: 2 * i, Deletes: 3,
			LastEventAt: time.Date(2026, 12, 3, 8, 0, 0, int(i), time.UTC)})
	}
	plain, err := converter.GetDefaultDataConverter().ToPayload(rec)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := codec.DataConverter().ToPayload(rec)
	if err != nil {
		t.Fatal(err)
	}
	if enc := string(sealed.GetMetadata()[metaEncoding]); enc != encodingSealedDeflated {
		t.Fatalf("encoding %q", enc)
	}
	t.Logf("5,000 tables: %d bytes as JSON, %d sealed and deflated", len(plain.GetData()), len(sealed.GetData()))
	if len(sealed.GetData())*4 > len(plain.GetData()) || len(sealed.GetData()) > 1<<20 {
		t.Errorf("sealed %d bytes for %d of JSON: want under a quarter and under 1 MB", len(sealed.GetData()), len(plain.GetData()))
	}
	var back cdc.Record
	if err := codec.DataConverter().FromPayload(sealed, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rec) {
		t.Error("the Record did not come back whole")
	}
	small, err := codec.DataConverter().ToPayload("run 1")
	if err != nil {
		t.Fatal(err)
	}
	if enc := string(small.GetMetadata()[metaEncoding]); enc != encodingSealed {
		t.Errorf("a small payload's encoding %q, want %q", enc, encodingSealed)
	}
}

// A task's partitions go to CopyPartitions steps that start long and end
// short, at most maxChunk each, and every partition once.
func TestCopyChunksAreGuided(t *testing.T) {
	for _, c := range []struct {
		parts, perTask int
		want           []int
	}{
		{20, 2, []int{5, 4, 3, 2, 2, 1, 1, 1, 1}},
		{20, 1, []int{8, 6, 3, 2, 1}},
		{1, 2, []int{1}},
		{100, 1, []int{8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 6, 3, 2, 1}},
	} {
		// The queue after the step's first partition is taken off it, with
		// another task's partition, which does not count.
		queue := func(left int) []batch.PartitionWork {
			q := []batch.PartitionWork{{Task: batch.TaskPlan{ID: 8}}}
			for i := 1; i < left; i++ {
				q = append(q, batch.PartitionWork{Task: batch.TaskPlan{ID: 7}})
			}
			return q
		}
		var got []int
		for left := c.parts; left > 0; {
			n := min(copyChunk(queue(left), 7, c.perTask), left)
			got = append(got, n)
			left -= n
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%d partitions, %d at once: steps of %v, want %v", c.parts, c.perTask, got, c.want)
		}
	}
}
