package runopts

// Keys of CDC jobs that read a message queue (FEATURES.md section 7), and
// the CDC keys that only database sources use. A key given to a job whose
// source it does not apply to is refused at CREATE/ALTER, naming the
// datasource types that use it.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

var (
	kafkaOnly    = []string{"kafka"}
	databaseOnly = []string{"postgres", "mysql"}
)

// sourceTypes lists, for keys that depend on the source, the datasource
// types they apply to.
var sourceTypes = map[string][]string{
	"snapshot": databaseOnly, "parallelism": databaseOnly, "slot_name": databaseOnly, "publication_name": databaseOnly,
	"server_id": databaseOnly, "schema_changes": databaseOnly, "checkpoint_interval": databaseOnly,
}

// mqOptions are the message-queue keys, in seed 004's spelling.
var mqOptions = Set{
	{Name: "message_format", Kind: Enum, Default: "canal", Values: []string{"canal", "cloudcanal"}, Modes: cdcOnly, Description: "Kafka source: the messages' format, Alibaba Canal flat messages or CloudCanal JSON (docs/mq.md)."},
	{Name: "consumer_group", Kind: String, Modes: cdcOnly, Description: "Kafka source: the consumer group (default flowgate_<job>); offsets are committed to it after the target committed."},
	{Name: "start_from", Kind: Enum, Default: "earliest", Values: []string{"earliest", "latest"}, Modes: cdcOnly, Description: "Kafka source: where a topic the job has no position for starts: its oldest message, or messages produced after the run started."},
	{Name: "consume_parallel", Kind: Int, Default: "1", Min: 1, Max: 64, Modes: cdcOnly, Description: "Kafka source: messages decoded at once (each partition's order is kept)."},
	{Name: "max_poll_records", Kind: Int, Default: "500", Min: 1, Max: 100000, Modes: cdcOnly, Description: "Kafka source: messages taken from the consumer per poll."},
	{Name: "session_timeout_ms", Kind: Int, Default: "30000", Min: 1000, Max: 3600000, Modes: cdcOnly, Description: "Kafka source: the consumer group session timeout (the broker bounds it by group.min/max.session.timeout.ms)."},
	{Name: "flush_batch_mb", Kind: Int, Default: "8", Min: 1, Max: 4096, Modes: cdcOnly, Description: "Kafka source: a target transaction commits once it holds this many MB of messages."},
	{Name: "async_flush_interval_sec", Kind: Int, Default: "1", Min: 1, Max: 3600, Modes: cdcOnly, Description: "Kafka source: a target transaction commits at the latest this many seconds after it began (also as soon as nothing more is waiting)."},
	{Name: "total_data_in_mem_mb", Kind: Int, Default: "64", Min: 1, Max: 65536, Modes: cdcOnly, Description: "Kafka source: fetching pauses while this many MB of messages are read but not yet committed at the target."},
	{Name: "zero_time", Kind: Enum, Default: "null", Values: []string{"null", "error"}, Modes: cdcOnly, Description: "Kafka source: a MySQL zero date ('0000-00-00 00:00:00') becomes NULL, or makes the message a bad record."},
	{Name: "ddl", Kind: Enum, Default: "ignore", Values: []string{"ignore", "fail", "apply"}, Modes: cdcOnly, Description: "Kafka source: DDL messages are skipped (ignore), stop the run (fail), or TRUNCATE empties the target table and other DDL is skipped (apply)."},
}

func init() {
	for _, o := range mqOptions {
		sourceTypes[o.Name] = kafkaOnly
	}
	SyncJob = append(SyncJob, mqOptions...)
}

// CheckSource refuses keys in given that a job from a datasource of type
// srcType does not use.
func (s Set) CheckSource(given map[string]string, srcType string) error {
	keys := make([]string, 0, len(given))
	for k := range given {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		types, ok := sourceTypes[k]
		if !ok || slices.Contains(types, srcType) {
			continue
		}
		return &KeyError{Key: k, Message: fmt.Sprintf("option %q does not apply to jobs from a %s datasource", k, srcType),
			Hint: fmt.Sprintf("%s is used by CDC jobs from %s datasources only.", k, strings.Join(types, " and "))}
	}
	return nil
}
