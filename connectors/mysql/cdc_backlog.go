package mysql

import (
	"context"
	"sync"
	"time"

	"github.com/flowgate/flowgate/connectors/cdc"
)

var _ cdc.Backlogger = (*stream)(nil)

// A stream is behind when the server's binary log ends more than
// backlogBytes past what it read (events of other tables included: what
// was delivered says nothing while they pass); the end is read at most
// every backlogEvery.
const (
	backlogBytes = 4 << 20
	backlogEvery = 250 * time.Millisecond
)

// backlog is what the stream knows of the server's binlog end.
type backlog struct {
	mu      sync.Mutex
	pos     binlogPos // where the stream has read to
	at      time.Time // when the end was last asked for
	reading bool
	behind  bool
}

func (b *backlog) read(p binlogPos) {
	b.mu.Lock()
	b.pos = p
	b.mu.Unlock()
}

// Backlog implements cdc.Backlogger: while the stream catches up, the
// pipeline keeps a target transaction open when its queue runs empty for a
// moment (the binlog is read more slowly than the target applies) instead
// of committing every few thousand rows. The server's end is read in the
// background, so Backlog never waits.
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
	conn, err := s.c.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	end, err := masterStatus(ctx, conn, s.facts.mariadb)
	if err != nil {
		return
	}
	s.backlog.mu.Lock()
	last := s.backlog.pos
	s.backlog.mu.Unlock()
	switch c := comparePos(end.binlogPos, last); {
	case c > 0 && end.File != last.File:
		behind = true
	case c > 0:
		behind = end.Pos-last.Pos > backlogBytes
	}
}
