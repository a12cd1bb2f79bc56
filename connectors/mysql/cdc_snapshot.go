package mysql

// The snapshot of a new change stream: exports read every table exactly
// as of a binlog position the stream knows, so nothing is missing and
// nothing counted twice.
//
// MariaDB (no lock): each export opens its own session with START
// TRANSACTION WITH CONSISTENT SNAPSHOT and reads the position of that
// snapshot from SHOW STATUS LIKE 'binlog_snapshot_%' (MariaDB keeps it
// consistent with the snapshot, without FLUSH TABLES WITH READ LOCK). The
// stream starts at the smallest of these positions and skips, per table,
// the transactions that began before the table's own snapshot position:
// exact per table, and the parallel exports never wait for each other.
//
// MySQL (no binlog_snapshot_* variables): one short FLUSH TABLES WITH READ
// LOCK, under which a pool of sessions start consistent snapshots and the
// binary log position is read; the lock goes at once and the exports take
// the sessions in turn, all at the same position. This needs RELOAD.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/data"
)

// maxSnapshotSessions bounds the sessions a locked snapshot holds: the
// exports of more tables than that share them, one after another.
const maxSnapshotSessions = 8

// lockedSnapshots forces the FLUSH TABLES WITH READ LOCK method on MariaDB
// too (tests use it; MySQL always needs it).
var lockedSnapshots = false

// snapshotSet is a new stream's snapshot; exports find it by SnapshotID.
type snapshotSet struct {
	id      string
	c       *Conn
	mariadb bool
	locked  bool

	// Locked: the sessions, all inside consistent snapshots taken at pos.
	pool  chan *sql.Conn
	conns []*sql.Conn
	pos   position

	mu sync.Mutex
	// Lockless: each exported table's snapshot position, and how many
	// exports are still reading.
	tables  map[tableKey]binlogPos
	reading int
	closed  bool
}

// snapshots holds the open snapshot sets by id.
var snapshots sync.Map

// snapshotPrefix starts the SnapshotID of a change stream, so Export
// tells it from other snapshot ids.
const snapshotPrefix = "mysql-binlog-snapshot-"

func newSnapshotID() string {
	var b [12]byte
	rand.Read(b[:])
	return snapshotPrefix + hex.EncodeToString(b[:])
}

// isStreamSnapshot reports whether an ExportSpec.Snapshot is a change
// stream's (exportSnapshot reads it).
func isStreamSnapshot(id string) bool { return strings.HasPrefix(id, snapshotPrefix) }

// discard closes a pooled connection and keeps the pool from reusing it
// (it may hold a transaction, a lock or another time zone).
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// openSnapshot prepares a new stream's snapshot for n tables.
func (c *Conn) openSnapshot(ctx context.Context, n int, mariadb bool) (*snapshotSet, error) {
	set := &snapshotSet{id: newSnapshotID(), c: c, mariadb: mariadb, locked: !mariadb || lockedSnapshots,
		tables: map[tableKey]binlogPos{}}
	if set.locked {
		if err := set.lock(ctx, min(n, maxSnapshotSessions)); err != nil {
			set.close()
			return nil, err
		}
	}
	snapshots.Store(set.id, set)
	return set, nil
}

// lock takes n consistent snapshots under one short global read lock and
// reads the binary log position they share.
func (set *snapshotSet) lock(ctx context.Context, n int) error {
	c := set.c
	lockConn, err := c.db.Conn(ctx)
	if err != nil {
		return sqlError(connectors.ScrubError(err, c.password))
	}
	defer discard(lockConn)
	for range n {
		conn, err := c.db.Conn(ctx)
		if err != nil {
			return sqlError(connectors.ScrubError(err, c.password))
		}
		set.conns = append(set.conns, conn)
	}
	// A long statement elsewhere would make the lock wait; give up rather
	// than block writers for long.
	if _, err := lockConn.ExecContext(ctx, "SET SESSION lock_wait_timeout = 60"); err != nil {
		return sqlError(err)
	}
	if _, err := lockConn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		err = sqlError(fmt.Errorf("snapshot: FLUSH TABLES WITH READ LOCK: %w", err))
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			pe.Hint = "A snapshot on MySQL takes a short global read lock, which needs the RELOAD privilege: GRANT RELOAD ON *.* TO <user>;"
		}
		return err
	}
	unlocked := false
	defer func() {
		if !unlocked {
			lockConn.ExecContext(context.Background(), "UNLOCK TABLES")
		}
	}()
	for _, conn := range set.conns {
		if err := beginSnapshot(ctx, conn); err != nil {
			return err
		}
	}
	set.pos, err = masterStatus(ctx, lockConn, set.mariadb)
	if err != nil {
		return err
	}
	if _, err := lockConn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		return sqlError(err)
	}
	unlocked = true
	set.pool = make(chan *sql.Conn, len(set.conns))
	for _, conn := range set.conns {
		set.pool <- conn
	}
	return nil
}

func beginSnapshot(ctx context.Context, conn *sql.Conn) error {
	for _, q := range []string{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return sqlError(fmt.Errorf("snapshot: %s: %w", q, err))
		}
	}
	return nil
}

// snapshotPos reads a MariaDB session's consistent snapshot position.
func snapshotPos(ctx context.Context, conn *sql.Conn) (binlogPos, error) {
	rows, err := conn.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return binlogPos{}, sqlError(fmt.Errorf("snapshot position: %w", err))
	}
	defer rows.Close()
	var p binlogPos
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return p, err
		}
		switch strings.ToLower(name) {
		case "binlog_snapshot_file":
			p.File = value
		case "binlog_snapshot_position":
			n, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				return p, fmt.Errorf("snapshot position %q: %w", value, err)
			}
			p.Pos = uint32(n)
		}
	}
	if err := rows.Err(); err != nil {
		return p, err
	}
	if p.File == "" || p.Pos < 4 {
		return p, errors.New("snapshot position: the server reports no binlog_snapshot_file/position (is binary logging on?)")
	}
	return p, nil
}

// acquire returns a session inside the snapshot for exporting table k,
// and what gives it back.
func (set *snapshotSet) acquire(ctx context.Context, k tableKey) (*sql.Conn, func(), error) {
	set.mu.Lock()
	if set.closed {
		set.mu.Unlock()
		return nil, nil, fmt.Errorf("snapshot %s is closed (the stream started or ended)", set.id)
	}
	set.reading++
	set.mu.Unlock()
	done := func() {
		set.mu.Lock()
		set.reading--
		set.mu.Unlock()
	}
	if set.locked {
		select {
		case conn := <-set.pool:
			return conn, func() { set.pool <- conn; done() }, nil
		case <-ctx.Done():
			done()
			return nil, nil, ctx.Err()
		}
	}
	conn, err := set.c.db.Conn(ctx)
	if err != nil {
		done()
		return nil, nil, sqlError(connectors.ScrubError(err, set.c.password))
	}
	release := func() { discard(conn); done() }
	if err := beginSnapshot(ctx, conn); err != nil {
		release()
		return nil, nil, err
	}
	p, err := snapshotPos(ctx, conn)
	if err != nil {
		release()
		return nil, nil, err
	}
	set.mu.Lock()
	set.tables[k] = p
	set.mu.Unlock()
	return conn, release, nil
}

// startPosition is where the stream starts: the locked snapshot's
// position, or the smallest table snapshot position (nil when no table
// was exported, e.g. snapshot = off).
func (set *snapshotSet) startPosition() (position, map[tableKey]binlogPos, bool) {
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.locked {
		return set.pos, nil, true
	}
	var start binlogPos
	for _, p := range set.tables {
		if start.isZero() || comparePos(p, start) < 0 {
			start = p
		}
	}
	if start.isZero() {
		return position{}, nil, false
	}
	skip := map[tableKey]binlogPos{}
	for k, p := range set.tables {
		if comparePos(p, start) > 0 {
			skip[k] = p
		}
	}
	return position{binlogPos: start}, skip, true
}

// close ends the snapshot sessions; exports still reading fail.
func (set *snapshotSet) close() {
	set.mu.Lock()
	already := set.closed
	set.closed = true
	set.mu.Unlock()
	if already {
		return
	}
	snapshots.Delete(set.id)
	for _, conn := range set.conns {
		discard(conn)
	}
}

// exportSnapshot is Export inside a stream's snapshot (spec.Snapshot).
func (c *Conn) exportSnapshot(ctx context.Context, spec data.ExportSpec, w io.Writer) (int64, error) {
	name := c.dataTable(spec.Schema, spec.Table)
	v, ok := snapshots.Load(spec.Snapshot)
	if !ok {
		return 0, fmt.Errorf("export %s: snapshot %q is gone (the stream started or ended)", name, spec.Snapshot)
	}
	set := v.(*snapshotSet)
	if len(spec.Columns) == 0 {
		return 0, fmt.Errorf("export %s: no columns given", name)
	}
	conn, release, err := set.acquire(ctx, tableKey{db: c.schemaOr(spec.Schema), name: spec.Table})
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	defer release()
	// Inside the transaction the session time zone still applies to the
	// conversions of the SELECT; pooled sessions get theirs per export.
	if _, err := conn.ExecContext(ctx, "SET time_zone = "+dataLiteral(dataTZ(spec.TimeZone))); err != nil {
		return 0, fmt.Errorf("export %s: session time zone %q: %w", name, spec.TimeZone, err)
	}
	rows, err := conn.QueryContext(ctx, c.exportSelect(spec, false))
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	defer rows.Close()
	n, err := writeRows(rows, spec, w)
	if err != nil {
		return n, fmt.Errorf("export %s: %w", name, err)
	}
	return n, nil
}

// waitExports waits (bounded) until no export reads in the snapshot.
func (set *snapshotSet) waitExports(ctx context.Context) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		set.mu.Lock()
		n := set.reading
		set.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
