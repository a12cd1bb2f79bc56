package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/internal/testbed"
)

// nextCommit reads events up to the next EventCommit; ok is false when
// none comes within wait.
func nextCommit(t *testing.T, s cdc.ChangeStream, wait time.Duration) (cdc.Event, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		ev, err := s.Next(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return cdc.Event{}, false
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if ev.Kind == cdc.EventBad {
			t.Fatalf("bad record at %s: %v", ev.Origin, ev.Err)
		}
		if ev.Kind == cdc.EventCommit {
			return ev, true
		}
	}
}

func openTestStream(t *testing.T, k *testbed.KafkaCluster, job string, opts map[string]string) cdc.ChangeStream {
	t.Helper()
	c, err := Open(map[string]string{"brokers": k.Addr, "client_id": "flowgate"})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := c.(*Conn).OpenStream(context.Background(), cdc.StreamSpec{Job: job, Subscription: []string{"bl"}, Options: opts})
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The stream reports a backlog while messages after what it delivered
// wait in the partition, and none once it delivered them all. With
// total_data_in_mem_mb = 1 it stops taking messages from the client once
// 1 MB of them are not acknowledged (committed at the target), reports no
// backlog then (only a commit frees memory), and goes on after Ack.
func TestStreamBacklogAndMemoryPause(t *testing.T) {
	k := testbed.Kafka(t)
	k.CreateTopic(t, "bl", 1)
	const n, size = 50, 100_000
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "bl", Value: fmt.Appendf(nil,
			`{"data":[{"id":"%d","note":"%s"}],"database":"d","table":"t","pkNames":["id"],"isDdl":false,"type":"INSERT","old":null}`,
			i, strings.Repeat("x", size))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := k.Client(t).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	s := openTestStream(t, k, "backlog", map[string]string{"max_poll_records": "2"})
	b, ok := s.(cdc.Backlogger)
	if !ok {
		t.Fatal("the kafka stream is no cdc.Backlogger")
	}
	if _, ok := nextCommit(t, s, 30*time.Second); !ok {
		t.Fatal("no message")
	}
	if !b.Backlog() {
		t.Fatal("no backlog after the first of 50 messages")
	}
	for i := 1; i < n-1; i++ {
		if _, ok := nextCommit(t, s, 30*time.Second); !ok {
			t.Fatalf("message %d did not come", i)
		}
	}
	// The last message counts until its last event is delivered: the
	// pipeline takes no backlog and an empty queue for caught up.
	if ev, err := s.Next(ctx); err != nil || ev.Kind != cdc.EventBegin {
		t.Fatalf("the last message starts with %+v, %v", ev, err)
	}
	if !b.Backlog() {
		t.Fatal("no backlog while the last message's changes and commit are not delivered")
	}
	if _, ok := nextCommit(t, s, 30*time.Second); !ok {
		t.Fatal("the last message did not end")
	}
	if b.Backlog() {
		t.Fatal("a backlog after every message was delivered")
	}

	s = openTestStream(t, k, "pause", map[string]string{"max_poll_records": "2", "total_data_in_mem_mb": "1"})
	b = s.(cdc.Backlogger)
	delivered, rounds := 0, 0
	for delivered < n {
		var last cdc.Position
		got := 0
		for {
			ev, ok := nextCommit(t, s, 2*time.Second)
			if !ok {
				break
			}
			got++
			last = ev.Position
			if want := fmt.Sprintf("bl/0:%d", delivered+got); string(ev.Position) != want {
				t.Fatalf("position %s, want %s", ev.Position, want)
			}
		}
		// Polls of at most 2 messages go on while at most 1 MB waits.
		if got == 0 || got*size > 1<<20+2*(size+200) || delivered+got < n && got*size < 1<<20 {
			t.Fatalf("round %d: %d messages of %d bytes delivered before the stream waited", rounds, got, size)
		}
		delivered += got
		if delivered < n && b.Backlog() {
			t.Fatalf("round %d: a backlog reported while fetching waits for memory", rounds)
		}
		if err := s.Ack(context.Background(), last); err != nil {
			t.Fatal(err)
		}
		rounds++
	}
	if rounds < 4 {
		t.Fatalf("5 MB read in %d rounds of at most 1 MB", rounds)
	}
}

// A partition the group gave another member does not count as a backlog,
// though messages past what the stream delivered of it are still there:
// nothing of it comes until it is back, so waiting for it would only hold
// the target's transaction open.
func TestStreamBacklogLeavesOutPartitionsOfOtherMembers(t *testing.T) {
	k := testbed.Kafka(t)
	k.CreateTopic(t, "bl", 2)
	const n, size = 20, 100_000
	var recs []*kgo.Record
	for p := int32(0); p < 2; p++ {
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: "bl", Partition: p, Value: fmt.Appendf(nil,
				`{"data":[{"id":"%d","note":"%s"}],"database":"d","table":"t","pkNames":["id"],"isDdl":false,"type":"INSERT","old":null}`,
				int(p)*n+i, strings.Repeat("x", size))})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// total_data_in_mem_mb = 1: the stream holds at most about 12 of the 40
	// messages before they are acknowledged.
	s := openTestStream(t, k, "away", map[string]string{"consumer_group": "away", "max_poll_records": "2",
		"total_data_in_mem_mb": "1", "session_timeout_ms": "3000"})
	if _, ok := nextCommit(t, s, 30*time.Second); !ok {
		t.Fatal("no message")
	}
	other := k.Client(t, kgo.ConsumerGroup("away"), kgo.ConsumeTopics("bl"), kgo.SessionTimeout(3*time.Second))
	var taken []int32
	deadline := time.Now().Add(30 * time.Second)
	for len(taken) == 0 && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		other.PollFetches(pctx).EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 {
				taken = append(taken, p.Partition)
			}
		})
		pcancel()
	}
	if len(taken) != 1 {
		t.Fatalf("the second member got records of partitions %v, want one partition", taken)
	}
	// Everything the stream still gets is delivered and acknowledged.
	var last cdc.Position
	for {
		ev, ok := nextCommit(t, s, 3*time.Second)
		if !ok {
			break
		}
		last = ev.Position
		if err := s.Ack(context.Background(), last); err != nil {
			t.Fatal(err)
		}
	}
	p, err := parsePosition(last)
	if err != nil {
		t.Fatal(err)
	}
	own := 1 - taken[0]
	if p[tp{"bl", own}] != n || p[tp{"bl", taken[0]}] >= n {
		t.Fatalf("position %s: want all %d messages of partition %d and not all of partition %d", last, n, own, taken[0])
	}
	if s.(cdc.Backlogger).Backlog() {
		t.Fatalf("a backlog reported at %s, though the rest is another member's", last)
	}
}
