package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/flowgate/flowgate/connectors/cdc"
)

var _ cdc.Backlogger = (*stream)(nil)

// A stream is behind when the server's flushed WAL ends more than
// backlogBytes past what the slot's walsender has decoded and sent; that is
// read at most every backlogEvery. (pgoutput's messages carry only their
// own position, and the last change delivered says nothing when the WAL in
// between belongs to other tables.)
const (
	backlogBytes = 8 << 20
	backlogEvery = 250 * time.Millisecond
)

// backlog is what the stream knows of the server's WAL end.
type backlog struct {
	mu      sync.Mutex
	at      time.Time // when the end was last asked for
	reading bool
	behind  bool
}

// Backlog implements cdc.Backlogger: while the stream catches up, the
// pipeline keeps a target transaction open when its queue runs empty for a
// moment (the walsender decodes more slowly than the target applies, the
// more so on a busy machine) instead of committing every few
// transactions; checkpoint_interval still bounds how long one stays open.
// The walsender's progress is read in the background, so Backlog never
// waits.
func (s *stream) Backlog() bool {
	b := &s.backlog
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.reading && time.Since(b.at) >= backlogEvery {
		b.reading, b.at = true, time.Now()
		go s.readEnd()
	}
	return b.behind
}

func (s *stream) readEnd() {
	behind := false
	defer func() {
		s.backlog.mu.Lock()
		s.backlog.reading, s.backlog.behind = false, behind
		s.backlog.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ahead *int64
	err := s.c.pool.QueryRow(ctx, `SELECT (pg_current_wal_flush_lsn() - r.sent_lsn)::int8
		FROM pg_replication_slots sl JOIN pg_stat_replication r ON r.pid = sl.active_pid WHERE sl.slot_name = $1`,
		s.spec.Slot).Scan(&ahead)
	// No row, no privilege to see sent_lsn, a standby: no backlog known.
	behind = err == nil && ahead != nil && *ahead > backlogBytes
}
