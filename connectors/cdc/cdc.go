// Package cdc declares the change-data-capture capabilities of connectors,
// in one shape for every streaming source and every target (STYLE.md: a
// reader that yields transactions of row changes with their positions, an
// applier that commits a batch and its checkpoint in one target
// transaction, and an acknowledger that tells the source only what the
// target committed). PostgreSQL logical replication and the MySQL binlog
// are ChangeSources; PostgreSQL, MySQL and SQLite are ChangeAppliers. A
// source never knows which applier it feeds.
//
// Row values travel as flowgate CSV text values (see package data): nil is
// NULL, everything else is the canonical text of the value.
package cdc

import (
	"context"
	"errors"
	"time"

	"github.com/flowgate/flowgate/connectors/schema"
)

// Position is a source's resumable position in its own notation (a
// PostgreSQL LSN such as "0/16B3748", a MySQL "binlog.000003:4711" with an
// optional GTID set). Only the source that made it interprets it.
type Position string

// TableRef names a source or target table.
type TableRef struct {
	Schema string // "" = the datasource's default
	Name   string
}

func (t TableRef) String() string {
	if t.Schema == "" {
		return t.Name
	}
	return t.Schema + "." + t.Name
}

// Op is the kind of a row change.
type Op byte

const (
	Insert   Op = 'I'
	Update   Op = 'U'
	Delete   Op = 'D'
	Truncate Op = 'T' // every row of the table goes
)

func (o Op) String() string {
	switch o {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Truncate:
		return "truncate"
	}
	return "unknown"
}

// Row is one row image in the column order of its table's current Schema.
type Row struct {
	Values [][]byte // nil = NULL
	// Unchanged marks values the source did not send because they did not
	// change (PostgreSQL's unchanged TOAST): the target keeps its value.
	// nil when every value is present.
	Unchanged []bool
}

// IsUnchanged reports whether column i was not sent.
func (r Row) IsUnchanged(i int) bool { return r.Unchanged != nil && r.Unchanged[i] }

// Change is one row change of a committed source transaction.
type Change struct {
	Table TableRef
	Op    Op
	// Old is the old key (or the whole old row) of an update that changed
	// the key, and of a delete; its values follow the table's columns,
	// with the non-key ones possibly NULL. Empty for inserts, truncates and
	// updates that kept the key.
	Old Row
	// New is the row after an insert or update.
	New Row
}

// Column is a source column as the stream knows it.
type Column struct {
	Name string
	Type schema.Type
	Key  bool // part of the replica identity / primary key
}

// TableSchema is a source table's columns as the stream sees them now.
type TableSchema struct {
	Table   TableRef
	Columns []Column
}

// EventKind says what an Event carries.
type EventKind int

const (
	// EventBegin starts a source transaction.
	EventBegin EventKind = iota + 1
	// EventChange is one row change of the open transaction.
	EventChange
	// EventCommit ends the transaction; Position is where to resume
	// after it, CommitTime when the source committed it.
	EventCommit
	// EventSchema announces a table's (new) columns; every following
	// change of the table follows them. Sources send one before the first
	// change of each table and after each change of its structure.
	EventSchema
	// EventHeartbeat carries no change: the source is idle at Position
	// (everything before it was delivered), so an applier that has applied
	// everything may checkpoint it and the source may free what lies
	// before it.
	EventHeartbeat
	// EventBad is a record the source could not turn into changes (not
	// decodable, not in the expected format): Err says why, Origin and Raw
	// which record it was; Position is where to resume after it. The
	// pipeline counts it against error_limit and skips it.
	EventBad
)

// Event is one item of a change stream.
type Event struct {
	Kind       EventKind
	Change     Change       // EventChange
	Schema     *TableSchema // EventSchema
	Position   Position     // EventCommit, EventHeartbeat, EventBad
	CommitTime time.Time    // EventBegin, EventCommit: source commit time
	// Origin names the source record of a transaction or bad record in
	// the source's notation (a message queue's topic/partition@offset);
	// Raw is the record itself, for the excerpt kept with a bad record.
	// Both are set on EventBegin and EventBad by sources that have them.
	Origin string
	Raw    []byte
	Err    error // EventBad
	// Size is the transaction's size in bytes at the source (EventCommit),
	// for sources that batch by size (Batcher); 0 when unknown.
	Size int
}

// StreamSpec says which tables to capture and where to start.
type StreamSpec struct {
	Job    string
	Tables []TableRef
	// Slot and Publication are PostgreSQL's replication slot and
	// publication names; ServerID is MySQL's replica id.
	Slot        string
	Publication string
	ServerID    uint32
	// From is the checkpoint to resume after; "" starts a new stream whose
	// snapshot (SnapshotID) is exactly its start.
	From Position
	// Subscription names what a message-queue source reads (topics); its
	// messages name their tables themselves.
	Subscription []string
	// Options are the job's run options with defaults filled in; a source
	// reads its own keys (message_format, consumer_group, ...).
	Options map[string]string
}

// ChangeStream is an open stream. Next returns events in source commit
// order; Ack tells the source that everything up to pos is committed at
// the target, so it may free it. Ack is called only after the target
// committed (explicit acknowledgement).
type ChangeStream interface {
	// SnapshotID is set for a new stream: a source-specific handle under
	// which a data.ExportSpec reads the tables exactly as of the stream's
	// start (nothing missing, nothing twice). Empty when resuming.
	SnapshotID() string
	// StartPosition is the position the stream starts at (the snapshot's
	// position for a new stream).
	StartPosition() Position
	// Start begins delivering changes; for a new stream it is called once
	// the snapshot exports are done (PostgreSQL keeps the exported
	// snapshot only while the slot's connection is idle).
	Start(ctx context.Context) error
	Next(ctx context.Context) (Event, error)
	Ack(ctx context.Context, pos Position) error
	Close() error
}

// Setup is what a source created for a job (so DROP removes exactly
// that and nothing a user made).
type Setup struct {
	CreatedSlot        bool
	CreatedPublication bool
}

// ChangeSource is a datasource that can stream its changes.
type ChangeSource interface {
	// CheckCDC verifies the source can stream these tables: settings,
	// privileges, keys. Problems are *pgconn.PgError 55000 with a hint
	// saying what to run (or the server's own error).
	CheckCDC(ctx context.Context, tables []TableRef) error
	// OpenStream opens (creating what it needs, reported in Setup) a
	// stream for spec. A From that the source no longer has fails with
	// ErrPositionLost.
	OpenStream(ctx context.Context, spec StreamSpec) (ChangeStream, Setup, error)
	// DropCDC removes what Setup says flowgate created for spec.
	DropCDC(ctx context.Context, spec StreamSpec, setup Setup) error
	// ComparePositions orders two positions of this source: <0, 0, >0.
	ComparePositions(a, b Position) (int, error)
}

// ErrPositionLost means the source no longer holds the changes after the
// checkpoint (slot dropped or invalidated, binlog purged): only a new
// snapshot recovers.
var ErrPositionLost = errors.New("the source no longer has the changes after the checkpoint")

// TargetTable is a target table with the columns changes are mapped to.
type TargetTable struct {
	Table   TableRef
	Columns []schema.Column // in the order of MappedChange values
	Key     []int           // indexes into Columns of the primary key
}

// MappedChange is a Change in a target table's column order.
type MappedChange struct {
	Target *TargetTable
	Op     Op
	Old    Row // key values at Target.Key positions (others nil); for deletes and key changes
	New    Row
}

// KeyChanged reports whether an update moved the row to another key.
func (c MappedChange) KeyChanged() bool { return c.Op == Update && c.Old.Values != nil }

// ApplySpec configures an apply session.
type ApplySpec struct {
	Job string
	// Schema is where the checkpoint table lives ("" = the datasource's
	// default); appliers use a schema of their own (flowgate) where the
	// target allows it.
	Schema   string
	TimeZone string // session time zone of the target, "" = UTC
}

// ApplyTx is one open target transaction.
type ApplyTx interface {
	// Apply applies changes in order. Re-applying a change is harmless
	// (upserts and deletes by key), so a batch re-read after a crash
	// leaves the same rows. An applier may return before the target ran
	// the changes, so the caller reads the next ones meanwhile; their
	// failure then shows at the next Apply or Commit (Apply with no
	// changes waits for them), and Commit never commits after one. The
	// changes' values must stay as they are until then: an applier may
	// write them again (as upserts, when a faster form met a key).
	Apply(ctx context.Context, changes []MappedChange) error
	// Commit records pos as the job's checkpoint in the same transaction
	// and commits.
	Commit(ctx context.Context, pos Position) error
	Rollback() error
}

// ChangeApplier is a datasource that can apply changes.
type ChangeApplier interface {
	Begin(ctx context.Context, spec ApplySpec) (ApplyTx, error)
	// Checkpoint returns the job's committed position; ok false when none.
	Checkpoint(ctx context.Context, spec ApplySpec) (pos Position, ok bool, err error)
	// ClearCheckpoint forgets the job's position (RESTART FROM SNAPSHOT,
	// DROP SYNC JOB).
	ClearCheckpoint(ctx context.Context, spec ApplySpec) error
	// AddColumn adds a column to a target table (schema_changes = apply),
	// outside any apply transaction; a column that exists is left alone.
	// col.Type is as the source (of sourceDialect) describes it, mapped
	// as a DDL task maps it.
	AddColumn(ctx context.Context, table TableRef, col schema.Column, sourceDialect string) error
}

// CheckpointTable is the table appliers keep checkpoints in: (job,
// position, updated_at), one row per job.
const CheckpointTable = "cdc_checkpoints"
