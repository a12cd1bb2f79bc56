package kafka

// Kafka as a cdc.ChangeSource: a consumer in a consumer group reads the
// job's topics; each message is one source transaction of the row changes
// it carries (decode.go). The position is every partition's next offset
// (position.go). The pipeline writes it to the target in the same
// transaction as the rows, and resumes from there after a crash, not from
// the group's committed offsets, which lag; Ack then commits the offsets
// to the group so that other tools see the progress. The stream itself is
// in cdc_stream.go.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/flowgate/flowgate/connectors/cdc"
)

func missingTopic(topic string, err error) error {
	msg := fmt.Sprintf("topic %q does not exist", topic)
	if err != nil {
		msg = fmt.Sprintf("topic %q: %v", topic, err)
	}
	return &pgconn.PgError{Severity: "ERROR", Code: "42704", Message: msg,
		Hint: "Create the topic first (flowgate consumes topics, it never creates them), or correct TOPICS (...)."}
}

// groupName is the job's consumer group: consumer_group, else
// flowgate_<job>.
func groupName(spec cdc.StreamSpec) string {
	if g := spec.Options["consumer_group"]; g != "" {
		return g
	}
	return "flowgate_" + spec.Job
}

// CheckCDC checks that the cluster answers; the tables are the target's
// (messages name their own tables), so there is nothing to check about them.
func (c *Conn) CheckCDC(ctx context.Context, _ []cdc.TableRef) error {
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	if _, err := adm.BrokerMetadata(ctx); err != nil {
		return c.scrub(fmt.Errorf("brokers %s: %w", strings.Join(c.brokers, ","), err))
	}
	return nil
}

// CheckSubscription checks that every topic exists.
func (c *Conn) CheckSubscription(ctx context.Context, spec cdc.StreamSpec) error {
	if len(spec.Subscription) == 0 {
		return &pgconn.PgError{Severity: "ERROR", Code: "22023", Message: "a kafka job needs at least one topic"}
	}
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	_, err = topicPartitions(ctx, adm, spec.Subscription)
	return c.scrub(err)
}

// DropCDC has nothing to drop: flowgate creates no topics, and the
// group's committed offsets expire with the cluster's offsets retention.
func (c *Conn) DropCDC(context.Context, cdc.StreamSpec, cdc.Setup) error { return nil }

// ComparePositions orders two positions of the same subscription.
func (c *Conn) ComparePositions(a, b cdc.Position) (int, error) {
	pa, err := parsePosition(a)
	if err != nil {
		return 0, err
	}
	pb, err := parsePosition(b)
	if err != nil {
		return 0, err
	}
	return compare(pa, pb), nil
}

// PositionAt is each partition's earliest offset whose timestamp is at or
// after t (Kafka's offsets-for-times); a partition with no such message
// gets its end offset.
func (c *Conn) PositionAt(ctx context.Context, spec cdc.StreamSpec, t time.Time) (cdc.Position, error) {
	adm, done, err := c.admin()
	if err != nil {
		return "", err
	}
	defer done()
	parts, err := topicPartitions(ctx, adm, spec.Subscription)
	if err != nil {
		return "", c.scrub(err)
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), spec.Subscription...)
	if err != nil {
		return "", c.scrub(fmt.Errorf("offsets after %s: %w", t.UTC().Format(time.RFC3339), err))
	}
	end, err := adm.ListEndOffsets(ctx, spec.Subscription...)
	if err != nil {
		return "", c.scrub(fmt.Errorf("end offsets: %w", err))
	}
	p := position{}
	for topic, ps := range parts {
		for _, part := range ps {
			o, ok := after.Lookup(topic, part)
			if !ok || o.Err != nil || o.Offset < 0 {
				e, ok := end.Lookup(topic, part)
				if !ok || e.Err != nil {
					return "", fmt.Errorf("no offset for %s/%d", topic, part)
				}
				o = e
			}
			p[tp{topic, part}] = o.Offset
		}
	}
	return cdc.Position(p.String()), nil
}

// CommitPosition commits pos as the group's offsets (a stopped job's
// group has no members, so an admin commit is accepted).
func (c *Conn) CommitPosition(ctx context.Context, spec cdc.StreamSpec, pos cdc.Position) error {
	p, err := parsePosition(pos)
	if err != nil {
		return err
	}
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	offs := make(kadm.Offsets)
	for k, o := range p {
		offs.Add(kadm.Offset{Topic: k.topic, Partition: k.part, At: o, LeaderEpoch: -1})
	}
	resp, err := adm.CommitOffsets(ctx, groupName(spec), offs)
	if err == nil {
		resp.EachError(func(o kadm.OffsetResponse) {
			if err == nil {
				err = fmt.Errorf("%s/%d: %w", o.Topic, o.Partition, o.Err)
			}
		})
	}
	if err != nil {
		return c.scrub(fmt.Errorf("commit offsets of group %s: %w", groupName(spec), err))
	}
	return nil
}

// intOpt reads an integer run option with a fallback.
func intOpt(o map[string]string, k string, def int64) int64 {
	if n, err := strconv.ParseInt(o[k], 10, 64); err == nil {
		return n
	}
	return def
}
