package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/flowgate/flowgate/connectors/cdc"
)

// commitEvery is how often acknowledged positions go to the group.
const commitEvery = 500 * time.Millisecond

// sized is a delivered message and its size.
type sized struct {
	tp  tp
	off int64
	n   int64
}

// decoded is one message after decoding (or the poller's failure).
type decoded struct {
	tp     tp
	offset int64
	ts     time.Time
	raw    []byte
	msg    *message
	bad    error // a bad record: skipped, counted by the pipeline
	err    error // the stream failed
}

// stream is an open consumer of the job's topics.
//
// Next is called by one goroutine; Ack may be called from another.
type stream struct {
	c      *Conn
	spec   cdc.StreamSpec
	dec    decoder
	group  string
	topics []string
	start  position
	cl     *kgo.Client

	maxPoll, parallel int
	flushBytes        int64
	interval          time.Duration

	// Next's state.
	pos     *posWriter        // next offset per partition after what Next delivered
	schemas map[string]string // table -> signature of the columns last announced
	queue   []cdc.Event       // the events of the message being delivered, from qi on
	qi      int
	cur     decoded // the message queue holds (its offset moves next once delivered)
	obuf    []byte  // origin's buffer
	out     chan []decoded
	polled  []decoded // what Next has not taken yet of the poll it took last

	mu       sync.Mutex
	next     position     // copy of pos for AdjustFetchOffsetsFn (under mu)
	hwm      map[tp]int64 // high watermarks seen in fetches
	away     map[tp]bool  // partitions the group gave another member
	acked    cdc.Position // latest acknowledged position
	commited cdc.Position // latest position committed to the group

	// Memory: bytes of messages taken from the client that the target has
	// not committed yet (being decoded, queued here or in the pipeline, or
	// in its open transaction), with the messages in the order taken;
	// fetching waits above the limit.
	bmu      sync.Mutex
	bcond    *sync.Cond
	inflight int64
	limit    int64
	fifo     []sized

	cancel  context.CancelFunc
	done    chan struct{}
	started bool
	once    sync.Once
}

var (
	_ cdc.ChangeStream      = (*stream)(nil)
	_ cdc.Batcher           = (*stream)(nil)
	_ cdc.PartitionReporter = (*stream)(nil)
	_ cdc.Backlogger        = (*stream)(nil)
)

// OpenStream resolves where every partition of the subscription starts:
// spec.From for the partitions it names, the earliest offset for new
// partitions of topics it knows, start_from for topics it does not know.
// Partitions of topics no longer subscribed are dropped. Nothing is read
// before Start.
func (c *Conn) OpenStream(ctx context.Context, spec cdc.StreamSpec) (cdc.ChangeStream, cdc.Setup, error) {
	if len(spec.Subscription) == 0 {
		return nil, cdc.Setup{}, &pgconn.PgError{Severity: "ERROR", Code: "22023", Message: "a kafka job needs at least one topic"}
	}
	from, err := parsePosition(spec.From)
	if err != nil {
		return nil, cdc.Setup{}, &pgconn.PgError{Severity: "ERROR", Code: "22023", Message: err.Error()}
	}
	o := spec.Options
	s := &stream{c: c, spec: spec, group: groupName(spec), topics: spec.Subscription,
		dec:     newDecoder(o["message_format"], o["zero_time"] != "error", o["ddl"]),
		maxPoll: int(intOpt(o, "max_poll_records", 500)), parallel: int(intOpt(o, "consume_parallel", 1)),
		flushBytes: intOpt(o, "flush_batch_mb", 8) << 20, interval: time.Duration(intOpt(o, "async_flush_interval_sec", 1)) * time.Second,
		schemas: map[string]string{}, hwm: map[tp]int64{}, away: map[tp]bool{}}
	adm, done, err := c.admin()
	if err != nil {
		return nil, cdc.Setup{}, err
	}
	defer done()
	parts, err := topicPartitions(ctx, adm, s.topics)
	if err != nil {
		return nil, cdc.Setup{}, c.scrub(err)
	}
	starts, err := adm.ListStartOffsets(ctx, s.topics...)
	if err != nil {
		return nil, cdc.Setup{}, c.scrub(fmt.Errorf("start offsets: %w", err))
	}
	ends, err := adm.ListEndOffsets(ctx, s.topics...)
	if err != nil {
		return nil, cdc.Setup{}, c.scrub(fmt.Errorf("end offsets: %w", err))
	}
	known := map[string]bool{}
	for k := range from {
		known[k.topic] = true
	}
	s.start = position{}
	for topic, ps := range parts {
		for _, p := range ps {
			k := tp{topic, p}
			lo, ok1 := starts.Lookup(topic, p)
			hi, ok2 := ends.Lookup(topic, p)
			if !ok1 || !ok2 || lo.Err != nil || hi.Err != nil {
				return nil, cdc.Setup{}, fmt.Errorf("offsets of %s: not listed", k)
			}
			s.hwm[k] = hi.Offset
			switch off, ok := from[k]; {
			case ok:
				if off < lo.Offset {
					// Retention removed messages the target never got.
					return nil, cdc.Setup{}, fmt.Errorf("%w: partition %s starts at offset %d now, the checkpoint is at %d",
						cdc.ErrPositionLost, k, lo.Offset, off)
				}
				s.start[k] = off
			case known[topic] || o["start_from"] != "latest":
				s.start[k] = lo.Offset
			default:
				s.start[k] = hi.Offset
			}
		}
	}
	s.pos = newPosWriter(s.start)
	s.next = s.pos.position()
	return s, cdc.Setup{}, nil
}

func (s *stream) SnapshotID() string               { return "" }
func (s *stream) StartPosition() cdc.Position      { return cdc.Position(s.start.String()) }
func (s *stream) Batching() (int64, time.Duration) { return s.flushBytes, s.interval }

// Start joins the consumer group and starts fetching.
func (s *stream) Start(ctx context.Context) error {
	opts, err := s.c.clientOpts()
	if err != nil {
		return err
	}
	total := int(intOpt(s.spec.Options, "total_data_in_mem_mb", 64) << 20)
	s.limit = int64(total)
	s.bcond = sync.NewCond(&s.bmu)
	opts = append(opts,
		kgo.ConsumerGroup(s.group),
		// Static membership: a gateway that was killed and starts again
		// takes its old place at once, instead of waiting out the dead
		// member's session before the group hands out partitions.
		kgo.InstanceID("flowgate-"+s.spec.Job),
		kgo.ConsumeTopics(s.topics...),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(time.Duration(intOpt(s.spec.Options, "session_timeout_ms", 30000))*time.Millisecond),
		kgo.FetchMaxBytes(int32(min(total, 1<<30))),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// The target's checkpoint, not the group's committed offsets,
		// says where each partition goes on: those lag behind it.
		kgo.AdjustFetchOffsetsFn(s.adjust),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.setAway(m, false) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.setAway(m, true) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.setAway(m, true) }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return s.c.scrub(err)
	}
	s.cl = cl
	pctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	// Room for what the limit lets in, so that decoding goes on while the
	// target applies a batch (memory is bounded by the limit, not by this).
	s.out = make(chan []decoded, max(16, 8192/s.maxPoll))
	s.started = true
	go s.poll(pctx)
	go s.commitLoop(pctx)
	return nil
}

// adjust sets where assigned partitions are read from: after what this
// stream delivered (so a partition that comes back after a rebalance
// continues exactly there), the earliest offset for partitions new to it.
func (s *stream) adjust(_ context.Context, m map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range m {
		for p := range ps {
			if off, ok := s.next[tp{topic, p}]; ok {
				ps[p] = kgo.NewOffset().At(off)
			} else {
				ps[p] = kgo.NewOffset().AtStart()
			}
		}
	}
	return m, nil
}

// poll fetches records, decodes them with consume_parallel workers and
// hands them on in offset order per partition. Fetching pauses while
// total_data_in_mem_mb of records wait in memory.
func (s *stream) poll(ctx context.Context) {
	defer close(s.out)
	for {
		s.bmu.Lock()
		for s.inflight > s.limit && ctx.Err() == nil {
			s.bcond.Wait()
		}
		s.bmu.Unlock()
		fs := s.cl.PollRecords(ctx, s.maxPoll)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		var recs []*kgo.Record
		var ferr error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Err != nil {
				if !errors.Is(p.Err, context.Canceled) && ferr == nil {
					ferr = fmt.Errorf("fetch %s/%d: %w", p.Topic, p.Partition, p.Err)
				}
				return
			}
			s.mu.Lock()
			if p.HighWatermark >= 0 {
				s.hwm[tp{p.Topic, p.Partition}] = p.HighWatermark
			}
			s.mu.Unlock()
			recs = append(recs, p.Records...)
		})
		if ferr != nil && retriable(ferr) {
			slog.Debug("kafka fetch", "err", ferr)
			ferr = nil
		}
		if ferr != nil {
			select {
			case s.out <- []decoded{{err: s.c.scrub(ferr)}}:
			case <-ctx.Done():
			}
			return
		}
		s.bmu.Lock()
		for _, r := range recs {
			s.inflight += int64(len(r.Value))
			s.fifo = append(s.fifo, sized{tp{r.Topic, r.Partition}, r.Offset, int64(len(r.Value))})
		}
		s.bmu.Unlock()
		if len(recs) == 0 {
			continue
		}
		// One poll's messages go on together (a channel operation per
		// message cost more than decoding one).
		select {
		case s.out <- s.decodeAll(recs):
		case <-ctx.Done():
			return
		}
	}
}

// retriable reports fetch errors the client recovers from by itself.
func retriable(err error) bool {
	var ke interface{ IsRetriable() bool }
	if errors.As(err, &ke) {
		return ke.IsRetriable()
	}
	return false
}

// decodeAll decodes records in parallel, keeping their order.
func (s *stream) decodeAll(recs []*kgo.Record) []decoded {
	out := make([]decoded, len(recs))
	work := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := recs[i]
			d := decoded{tp: tp{r.Topic, r.Partition}, offset: r.Offset, ts: r.Timestamp, raw: r.Value}
			d.msg, d.bad = s.dec.decode(r.Value)
			var de *ddlError
			if errors.As(d.bad, &de) {
				d.err = &pgconn.PgError{Severity: "ERROR", Code: "55000",
					Message: fmt.Sprintf("%s at %s@%d", de.Error(), d.tp, d.offset),
					Hint:    "Apply the change to the target yourself, then RESET SYNC JOB ... POSITION TO TIMESTAMP past it, or set ddl = 'ignore'."}
				d.bad = nil
			}
			out[i] = d
		}
	}
	n := max(1, min(s.parallel, len(recs)/64))
	if n == 1 {
		work(0, len(recs))
		return out
	}
	var wg sync.WaitGroup
	step := (len(recs) + n - 1) / n
	for lo := 0; lo < len(recs); lo += step {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			work(lo, hi)
		}(lo, min(lo+step, len(recs)))
	}
	wg.Wait()
	return out
}

// Next returns the next event: per message EventBegin, EventSchema when
// the message's table shows other columns than before, its changes and
// EventCommit; EventBad for a message that cannot be decoded.
func (s *stream) Next(ctx context.Context) (cdc.Event, error) {
	if !s.started {
		return cdc.Event{}, errors.New("next: the stream is not started")
	}
	for s.qi == len(s.queue) {
		// Refilled from the start: popping does not wear the array away.
		s.queue, s.qi = s.queue[:0], 0
		for len(s.polled) == 0 {
			var ok bool
			select {
			case s.polled, ok = <-s.out:
			case <-ctx.Done():
				return cdc.Event{}, ctx.Err()
			}
			if !ok {
				return cdc.Event{}, errors.New("kafka consumer closed")
			}
		}
		d := s.polled[0]
		s.polled[0] = decoded{}
		s.polled = s.polled[1:]
		if d.err != nil {
			return cdc.Event{}, d.err
		}
		if off, known := s.pos.get(d.tp); known && d.offset < off {
			continue // read again after a rebalance: already delivered
		}
		s.pos.set(d.tp, d.offset+1)
		s.cur = decoded{tp: d.tp, offset: d.offset}
		pos := cdc.Position(s.pos.String())
		origin := s.origin(d.tp, d.offset)
		if d.bad != nil {
			s.queue = append(s.queue, cdc.Event{Kind: cdc.EventBad, Position: pos, Origin: origin, Raw: d.raw, Err: d.bad})
			break
		}
		s.queue = append(s.queue, cdc.Event{Kind: cdc.EventBegin, CommitTime: d.ts, Origin: origin, Raw: d.raw})
		if m := d.msg; len(m.changes) > 0 && m.columns != nil {
			if s.schemas[m.table.Name] != m.sig {
				s.schemas[m.table.Name] = m.sig
				s.queue = append(s.queue, cdc.Event{Kind: cdc.EventSchema, Schema: &cdc.TableSchema{Table: m.table, Columns: m.columns}})
			}
		}
		for _, ch := range d.msg.changes {
			s.queue = append(s.queue, cdc.Event{Kind: cdc.EventChange, Change: ch})
		}
		s.queue = append(s.queue, cdc.Event{Kind: cdc.EventCommit, Position: pos, CommitTime: d.ts, Size: len(d.raw)})
	}
	ev := s.queue[s.qi]
	s.queue[s.qi] = cdc.Event{}
	s.qi++
	if s.qi == len(s.queue) {
		// The message's last event is out: only now does Backlog stop
		// counting it, so that the pipeline, which asks Backlog before
		// looking at its own queue, never takes it for caught up while
		// events of the message are still in this one.
		s.mu.Lock()
		s.next[s.cur.tp] = s.cur.offset + 1
		s.mu.Unlock()
	}
	return ev, nil
}

// setAway records partitions taken from this member (or given back).
func (s *stream) setAway(m map[string][]int32, away bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, parts := range m {
		for _, p := range parts {
			if away {
				s.away[tp{topic, p}] = true
			} else {
				delete(s.away, tp{topic, p})
			}
		}
	}
}

// Backlog reports whether a partition this member reads has messages
// after what Next delivered, as of the latest fetch's high watermarks.
// Partitions another member of the group holds do not count: nothing of
// them comes until they are back.
func (s *stream) Backlog() bool {
	if s.paused() {
		return false // nothing more comes before a commit frees memory
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, hw := range s.hwm {
		if off, ok := s.next[k]; ok && off < hw && !s.away[k] {
			return true
		}
	}
	return false
}

// origin names a message: topic/partition@offset.
func (s *stream) origin(k tp, off int64) string {
	b := append(s.obuf[:0], k.topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(k.part), 10)
	b = append(b, '@')
	b = strconv.AppendInt(b, off, 10)
	s.obuf = b
	return string(b)
}

func signature(cols []cdc.Column) string {
	var b []byte
	for _, c := range cols {
		b = append(b, c.Name...)
		b = append(b, 0)
		b = append(b, c.Type.Kind...)
		for _, v := range c.Type.Values {
			b = append(b, 1)
			b = append(b, v...)
		}
		b = append(b, 0)
	}
	return string(b)
}

// paused reports whether fetching waits for memory (total_data_in_mem_mb).
func (s *stream) paused() bool {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	return s.inflight > s.limit
}

// Ack records pos as committed at the target; the commit loop passes it
// on to the group.
func (s *stream) Ack(_ context.Context, pos cdc.Position) error {
	p, err := parsePosition(pos)
	if err != nil {
		return err
	}
	s.bmu.Lock()
	n := 0
	for n < len(s.fifo) {
		m := s.fifo[n]
		if off, ok := p[m.tp]; !ok || m.off >= off {
			break
		}
		s.inflight -= m.n
		n++
	}
	s.fifo = s.fifo[n:]
	if len(s.fifo) == 0 {
		s.fifo = nil
	}
	s.bmu.Unlock()
	if s.bcond != nil {
		s.bcond.Broadcast()
	}
	s.mu.Lock()
	s.acked = pos
	s.mu.Unlock()
	return nil
}

// commitLoop commits the latest acknowledged position to the group. A
// failed commit (a rebalance, a broker away) only delays what other tools
// see: the target's checkpoint is what counts.
func (s *stream) commitLoop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(commitEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.commitAcked(ctx)
		}
	}
}

func (s *stream) commitAcked(ctx context.Context) {
	s.mu.Lock()
	acked, done := s.acked, s.commited
	s.mu.Unlock()
	if acked == "" || acked == done {
		return
	}
	p, err := parsePosition(acked)
	if err != nil {
		return
	}
	offs := map[string]map[int32]kgo.EpochOffset{}
	for k, o := range p {
		if offs[k.topic] == nil {
			offs[k.topic] = map[int32]kgo.EpochOffset{}
		}
		offs[k.topic][k.part] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s.cl.CommitOffsetsSync(cctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			slog.Debug("kafka: commit offsets to the group", "group", s.group, "err", err)
			return
		}
		s.mu.Lock()
		s.commited = acked
		s.mu.Unlock()
	})
}

// Partitions reports the committed offset and high watermark of every
// partition of the subscription.
func (s *stream) Partitions(committed cdc.Position) []cdc.PartitionOffsets {
	p, err := parsePosition(committed)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []cdc.PartitionOffsets
	for _, k := range p.sorted() {
		hw, ok := s.hwm[k]
		if !ok {
			hw = -1
		}
		out = append(out, cdc.PartitionOffsets{Topic: k.topic, Partition: k.part, Committed: p[k], HighWatermark: hw})
	}
	return out
}

// Close commits the last acknowledged position to the group, leaves it
// and closes the client.
func (s *stream) Close() error {
	s.once.Do(func() {
		if !s.started {
			return
		}
		s.cancel()
		s.bmu.Lock()
		s.bcond.Broadcast()
		s.bmu.Unlock()
		<-s.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.commitAcked(ctx)
		cancel()
		s.cl.Close()
		for range s.out {
		}
	})
	return nil
}
