package cdc

// Capabilities of sources whose streams name their tables themselves
// (message queues: Kafka topics of Canal or CloudCanal messages). They
// have no tables to list or copy, so a job's tables are the target's; a
// change of a table the job does not map is a bad record. The pipeline
// stays source-neutral: it asks for these with connectors.As.

import (
	"context"
	"time"
)

// Batcher is a ChangeStream that says how its changes are batched into
// target transactions: a transaction commits (at a source commit) once it
// holds MaxBytes of source records or is Interval old, or when nothing
// more is queued. Streams without it use checkpoint_interval.
type Batcher interface {
	Batching() (maxBytes int64, interval time.Duration)
}

// Backlogger is a ChangeStream that knows whether more changes wait at
// the source than it has delivered (a message queue's partitions behind
// their high watermarks). While they do, the pipeline keeps its target
// transaction open when its own queue runs empty for a moment (the
// source is read more slowly than the target applies), so that a backlog
// is applied in transactions as large as the Batcher allows rather than
// in one per fetch; with nothing waiting it commits at once.
type Backlogger interface {
	Backlog() bool
}

// PartitionOffsets is one partition of a partitioned source: the next
// offset after what the target committed, and the partition's end.
type PartitionOffsets struct {
	Topic         string
	Partition     int32
	Committed     int64 // the next offset to read after the target's checkpoint
	HighWatermark int64 // -1 when not known yet
}

// PartitionReporter is a ChangeStream of a partitioned source that
// reports each partition's committed offset and high watermark
// (dataflow.mq_offsets).
type PartitionReporter interface {
	Partitions(committed Position) []PartitionOffsets
}

// Subscriber is a ChangeSource that reads a subscription (topics) rather
// than tables: CheckSubscription verifies every name exists.
type Subscriber interface {
	CheckSubscription(ctx context.Context, spec StreamSpec) error
}

// TimeSeeker is a ChangeSource that can find its position as of a past
// time (Kafka's offsets-for-times: each partition's earliest offset at or
// after t) and make a position its consumers' committed one.
type TimeSeeker interface {
	PositionAt(ctx context.Context, spec StreamSpec, t time.Time) (Position, error)
	CommitPosition(ctx context.Context, spec StreamSpec, pos Position) error
}
