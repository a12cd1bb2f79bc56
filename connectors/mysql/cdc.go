package mysql

// The row-based binary log of MySQL and MariaDB as a cdc.ChangeSource:
// flowgate registers as a replica (connectors/mysql/binlog) with the job's
// server_id and turns row events into changes, in commit order, with the
// canonical text the batch export writes for the same values (so snapshot
// and stream agree). Nothing is created at the source: MySQL keeps binary
// logs by time or size, not by replica, so there is no slot to drop.
//
//   - cdc.go          positions, checks, OpenStream, errors
//   - cdc_snapshot.go the consistent snapshot the exports read in
//   - cdc_stream.go   the stream: events to changes
//   - cdc_schema.go   each table's structure at each point of the log
//   - cdc_ddl.go      the DDL statements that change it
//   - cdc_values.go   binlog cells to canonical text

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/mysql/binlog"
)

var _ cdc.ChangeSource = (*Conn)(nil)

// heartbeatPeriod is how long the server waits, idle, before it sends a
// heartbeat: the stream then reports its position so an idle job
// checkpoints.
const heartbeatPeriod = time.Second

// binlogPos is a place in the binary log: a file and an offset in it.
type binlogPos struct {
	File string
	Pos  uint32
}

func (p binlogPos) String() string { return p.File + ":" + strconv.FormatUint(uint64(p.Pos), 10) }

func (p binlogPos) isZero() bool { return p.File == "" }

// fileSeq is the sequence number of a binlog file name (mysql-bin.000042
// is 42); files of one server sort by it.
func fileSeq(file string) uint64 {
	i := strings.LastIndexByte(file, '.')
	n, err := strconv.ParseUint(file[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// comparePos orders binlog positions: file sequence number, then offset.
func comparePos(a, b binlogPos) int {
	sa, sb := fileSeq(a.File), fileSeq(b.File)
	switch {
	case sa < sb:
		return -1
	case sa > sb:
		return 1
	case a.Pos < b.Pos:
		return -1
	case a.Pos > b.Pos:
		return 1
	}
	return 0
}

// position is a stream position as checkpoints store it:
// "binlog.000003:4711", followed by ";gtid=<set>" when the server uses
// GTIDs (MariaDB always: domain-server-seq per domain; MySQL with
// gtid_mode=ON: its executed GTID set). It always points between two
// transactions; the stream resumes by file and offset.
type position struct {
	binlogPos
	GTID string
}

func (p position) String() string {
	s := p.binlogPos.String()
	if p.GTID != "" {
		s += ";gtid=" + p.GTID
	}
	return s
}

func (p position) cdc() cdc.Position { return cdc.Position(p.String()) }

var fileName = regexp.MustCompile(`^[^\x00/\\]+\.[0-9]+$`)

func parsePosition(s cdc.Position) (position, error) {
	var p position
	text := string(s)
	if i := strings.IndexByte(text, ';'); i >= 0 {
		for _, f := range strings.Split(text[i+1:], ";") {
			k, v, ok := strings.Cut(f, "=")
			if !ok || k != "gtid" {
				return p, fmt.Errorf("binlog position %q: unknown part %q", s, f)
			}
			p.GTID = v
		}
		text = text[:i]
	}
	i := strings.LastIndexByte(text, ':')
	if i <= 0 {
		return p, fmt.Errorf("binlog position %q: want file:offset, e.g. binlog.000003:4711", s)
	}
	off, err := strconv.ParseUint(text[i+1:], 10, 32)
	if err != nil || off < 4 || !fileName.MatchString(text[:i]) {
		return p, fmt.Errorf("binlog position %q: want file:offset, e.g. binlog.000003:4711", s)
	}
	p.File, p.Pos = text[:i], uint32(off)
	return p, nil
}

// ComparePositions orders two positions by binlog file sequence number and
// offset (the GTID part only describes the same place).
func (c *Conn) ComparePositions(a, b cdc.Position) (int, error) {
	pa, err := parsePosition(a)
	if err != nil {
		return 0, err
	}
	pb, err := parsePosition(b)
	if err != nil {
		return 0, err
	}
	return comparePos(pa.binlogPos, pb.binlogPos), nil
}

// DropCDC has nothing to drop: a replica leaves nothing behind at the
// source.
func (c *Conn) DropCDC(context.Context, cdc.StreamSpec, cdc.Setup) error { return nil }

// binlogConfig is the replication client's configuration: the
// datasource's address, user, password and TLS settings.
func (c *Conn) binlogConfig(serverID uint32) binlog.Config {
	cfg := binlog.Config{Password: c.password, ServerID: serverID, HeartbeatPeriod: heartbeatPeriod}
	if c.cfg != nil {
		cfg.Addr, cfg.User, cfg.ConnectTimeout = c.cfg.Addr, c.cfg.User, c.cfg.Timeout
		if c.cfg.TLS != nil {
			cfg.TLS, cfg.TLSConfig = binlog.TLSRequired, c.cfg.TLS
			if c.cfg.AllowFallbackToPlaintext {
				cfg.TLS = binlog.TLSPreferred
			}
		}
	}
	return cfg
}

// dial opens a replication connection; errors never hold the password.
func (c *Conn) dial(ctx context.Context, serverID uint32) (*binlog.Conn, error) {
	bc, err := binlog.Dial(ctx, c.binlogConfig(serverID))
	if err != nil {
		return nil, sqlError(connectors.ScrubError(err, c.password))
	}
	return bc, nil
}

// serverError is a MySQL server error (*binlog.ServerError or the driver's
// *MySQLError) with a *pgconn.PgError beside it that carries the server's
// SQLSTATE and message to the client.
type serverError struct {
	pe  *pgconn.PgError
	err error
}

func (e *serverError) Error() string   { return e.err.Error() }
func (e *serverError) Unwrap() []error { return []error{e.pe, e.err} }

// sqlError gives a server error in err's chain a *pgconn.PgError with the
// server's SQLSTATE (XX000 for MySQL's catch-all HY000), keeping err.
func sqlError(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return err
	}
	var state string
	var be *binlog.ServerError
	var de *driver.MySQLError
	switch {
	case errors.As(err, &be):
		state = be.State
	case errors.As(err, &de):
		state = string(de.SQLState[:])
	default:
		return err
	}
	if len(state) != 5 || state == "HY000" || state == "00000" {
		state = "XX000"
	}
	return &serverError{pe: &pgconn.PgError{Severity: "ERROR", Code: state, Message: err.Error()}, err: err}
}

func cdcError(msg, hint string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: "55000", Message: msg, Hint: hint}
}

// lostError is a *pgconn.PgError 55000 that also wraps cdc.ErrPositionLost.
type lostError struct{ pe *pgconn.PgError }

func (e *lostError) Error() string   { return e.pe.Message + "; " + e.pe.Hint }
func (e *lostError) Unwrap() []error { return []error{e.pe, cdc.ErrPositionLost} }

var plainJob = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func positionLost(spec cdc.StreamSpec, why string) error {
	job := spec.Job
	if job == "" {
		job = "<job>"
	} else if !plainJob.MatchString(job) {
		job = `"` + strings.ReplaceAll(job, `"`, `""`) + `"`
	}
	return &lostError{cdcError(fmt.Sprintf("%s: %v", why, cdc.ErrPositionLost),
		fmt.Sprintf("RESTART SYNC JOB %s FROM SNAPSHOT recovers: it copies the tables again and streams from a new position.", job))}
}

// isPurged reports a dump refused because its start is no longer in the
// log (error 1236: the file is gone, or MySQL purged the GTIDs).
func isPurged(err error) bool {
	var be *binlog.ServerError
	if !errors.As(err, &be) || be.Code != 1236 {
		return false
	}
	m := strings.ToLower(be.Message)
	return strings.Contains(m, "could not find first log file") || strings.Contains(m, "purged") ||
		strings.Contains(m, "could not open log file") || strings.Contains(m, "could not find gtid")
}

// serverFacts are the settings CDC depends on.
type serverFacts struct {
	version   string
	mariadb   bool
	logBin    bool
	format    string
	rowImage  string
	metadata  string // binlog_row_metadata, "" before MySQL 8.0.1 / MariaDB 10.5
	serverID  uint32
	gtidMode  string // MySQL: @@gtid_mode
	lowerCase int
}

func (c *Conn) facts(ctx context.Context) (serverFacts, error) {
	var f serverFacts
	var logBin, id int64
	// The global settings: what sessions that write start with (a session
	// of the pool may predate a SET GLOBAL).
	err := c.db.QueryRowContext(ctx, "SELECT VERSION(), @@global.log_bin, @@global.binlog_format, @@global.binlog_row_image, @@global.server_id, @@lower_case_table_names").
		Scan(&f.version, &logBin, &f.format, &f.rowImage, &id, &f.lowerCase)
	if err != nil {
		return f, sqlError(connectors.ScrubError(fmt.Errorf("read the server's binary log settings: %w", err), c.password))
	}
	f.logBin, f.serverID = logBin != 0, uint32(id)
	f.mariadb = strings.Contains(strings.ToLower(f.version), "mariadb")
	f.format, f.rowImage = strings.ToUpper(f.format), strings.ToUpper(f.rowImage)
	var meta sql.NullString
	if err := c.db.QueryRowContext(ctx, "SELECT @@global.binlog_row_metadata").Scan(&meta); err == nil {
		f.metadata = strings.ToUpper(meta.String)
	}
	if !f.mariadb {
		var mode sql.NullString
		if err := c.db.QueryRowContext(ctx, "SELECT @@gtid_mode").Scan(&mode); err == nil {
			f.gtidMode = strings.ToUpper(mode.String)
		}
	}
	return f, nil
}

// settingProblems lists the server settings that keep CDC from working,
// each 55000 with what to run.
func (f serverFacts) settingProblems() []error {
	var errs []error
	if !f.logBin {
		errs = append(errs, cdcError("binary logging is off on the MySQL server (log_bin = OFF); change data capture reads the binary log",
			"Add log_bin = mysql-bin, binlog_format = ROW, binlog_row_image = FULL and server_id = 1 to the [mysqld] section of my.cnf and restart the server."))
		return errs
	}
	if f.format != "ROW" {
		errs = append(errs, cdcError(fmt.Sprintf("binlog_format is %s; change data capture needs ROW", f.format),
			"Run SET GLOBAL binlog_format = 'ROW'; and put binlog_format = ROW in my.cnf; sessions opened before keep the old format until they reconnect."))
	}
	if f.rowImage != "FULL" {
		errs = append(errs, cdcError(fmt.Sprintf("binlog_row_image is %s; change data capture needs FULL", f.rowImage),
			"Run SET GLOBAL binlog_row_image = 'FULL'; and put binlog_row_image = FULL in my.cnf; sessions opened before keep the old setting until they reconnect."))
	}
	return errs
}

func joinProblems(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// probeServerID is a replica id for a short check: random in the upper
// half of the range, where configured ids rarely are, and never the
// server's own.
func probeServerID(own uint32) uint32 {
	for {
		var b [4]byte
		rand.Read(b[:])
		id := binary.LittleEndian.Uint32(b[:]) | 1<<31
		if id != own && id != 1<<32-1 {
			return id
		}
	}
}

// checkReplication asks the server for what the stream needs, so a
// missing privilege shows as the server's own error: the binary log
// status (REPLICATION CLIENT; BINLOG MONITOR on MariaDB 10.5+) and a
// binlog dump (REPLICATION SLAVE).
func (c *Conn) checkReplication(ctx context.Context, own uint32) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bc, err := c.dial(ctx, probeServerID(own))
	if err != nil {
		return fmt.Errorf("check cdc: replication connection: %w", err)
	}
	defer bc.Close()
	st, err := bc.MasterStatus(ctx)
	if err != nil {
		return sqlError(fmt.Errorf("check cdc: %w", err))
	}
	if err := bc.StartFromPosition(ctx, st.File, st.Pos); err != nil {
		return sqlError(fmt.Errorf("check cdc: %w", err))
	}
	// The server answers a dump at once: the stream's first event, or
	// its refusal.
	if _, err := bc.NextEvent(ctx); err != nil {
		return sqlError(fmt.Errorf("check cdc: binlog dump: %w", err))
	}
	return nil
}

// CheckCDC verifies the binary log settings (log_bin, binlog_format ROW,
// binlog_row_image FULL), the user's replication privileges (by asking
// for the binary log status and starting a dump: the server's own error)
// and each table's primary key.
func (c *Conn) CheckCDC(ctx context.Context, tables []cdc.TableRef) error {
	f, err := c.facts(ctx)
	if err != nil {
		return err
	}
	problems := f.settingProblems()
	if f.logBin {
		if err := c.checkReplication(ctx, f.serverID); err != nil {
			problems = append(problems, err)
		}
	}
	defs, err := c.describeDefs(ctx, c.keysOf(tables))
	if err != nil {
		problems = append(problems, err)
	}
	for _, ref := range tables {
		if d := defs[c.keyOf(ref)]; d != nil && len(d.PK) == 0 {
			problems = append(problems, noKey(c.keyOf(ref)))
		}
	}
	return joinProblems(problems)
}

func noKey(k tableKey) error {
	pe := cdcError(fmt.Sprintf("table %s has no primary key; change data capture needs one to apply updates and deletes", k),
		fmt.Sprintf("Add one, e.g. ALTER TABLE %s ADD PRIMARY KEY (<key columns>);", k))
	pe.SchemaName, pe.TableName = k.db, k.name
	return pe
}

func (c *Conn) keyOf(ref cdc.TableRef) tableKey {
	return tableKey{db: c.schemaOr(ref.Schema), name: ref.Name}
}

func (c *Conn) keysOf(refs []cdc.TableRef) []tableKey {
	keys := make([]tableKey, len(refs))
	for i, r := range refs {
		keys[i] = c.keyOf(r)
	}
	return keys
}

// binaryLogs lists the binlog files the server has (SHOW BINARY LOGS); ok
// is false when the user may not ask.
func (c *Conn) binaryLogs(ctx context.Context) (files map[string]bool, ok bool) {
	rows, err := c.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, false
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	files = map[string]bool{}
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, false
		}
		files[string(vals[0])] = true
	}
	return files, rows.Err() == nil
}

// masterStatus reads the current binlog file and position and the GTID
// position that goes with it, on conn (which may hold a global read lock).
func masterStatus(ctx context.Context, conn *sql.Conn, mariadb bool) (position, error) {
	var p position
	q := "SHOW MASTER STATUS"
	if !mariadb {
		q = "SHOW BINARY LOG STATUS"
	}
	rows, err := conn.QueryContext(ctx, q)
	var de *driver.MySQLError
	if !mariadb && errors.As(err, &de) && de.Number == 1064 { // before MySQL 8.2
		rows, err = conn.QueryContext(ctx, "SHOW MASTER STATUS")
	}
	if err != nil {
		return p, sqlError(fmt.Errorf("binary log status: %w", err))
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return p, sqlError(err)
		}
		return p, cdcError("binary logging is off on the MySQL server (SHOW MASTER STATUS is empty)",
			"Add log_bin = mysql-bin and server_id = 1 to the [mysqld] section of my.cnf and restart the server.")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return p, err
	}
	pos, err := strconv.ParseUint(vals[1].String, 10, 32)
	if err != nil {
		return p, fmt.Errorf("binary log status: position %q: %w", vals[1].String, err)
	}
	p.File, p.Pos = vals[0].String, uint32(pos)
	if !mariadb && len(vals) >= 5 {
		p.GTID = strings.ReplaceAll(vals[4].String, "\n", "")
	}
	rows.Close()
	if mariadb {
		p.GTID, err = gtidPos(ctx, conn, p.binlogPos)
	}
	return p, err
}

// querier is a *sql.DB or *sql.Conn.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// gtidPos is MariaDB's GTID position at a binlog position.
func gtidPos(ctx context.Context, q querier, p binlogPos) (string, error) {
	var g sql.NullString
	if err := q.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", p.File, p.Pos).Scan(&g); err != nil {
		return "", sqlError(fmt.Errorf("GTID position of %s: %w", p, err))
	}
	return g.String, nil
}

// OpenStream checks the server and the tables and opens a stream. A new
// stream (no From) prepares the consistent snapshot the exports read in
// (SnapshotID) and starts reading at Start; a resumed one checks that
// the checkpoint's binlog file still exists and starts reading at once,
// so a purged position fails here with cdc.ErrPositionLost.
func (c *Conn) OpenStream(ctx context.Context, spec cdc.StreamSpec) (cdc.ChangeStream, cdc.Setup, error) {
	switch {
	case len(spec.Tables) == 0:
		return nil, cdc.Setup{}, &pgconn.PgError{Severity: "ERROR", Code: "22023", Message: "a change stream needs at least one table"}
	case spec.ServerID == 0:
		return nil, cdc.Setup{}, &pgconn.PgError{Severity: "ERROR", Code: "22023", Message: "a MySQL change stream needs a non-zero server_id"}
	}
	f, err := c.facts(ctx)
	if err != nil {
		return nil, cdc.Setup{}, err
	}
	if err := joinProblems(f.settingProblems()); err != nil {
		return nil, cdc.Setup{}, err
	}
	if spec.ServerID == f.serverID {
		return nil, cdc.Setup{}, cdcError(fmt.Sprintf("server_id %d of the job is the MySQL server's own server_id", spec.ServerID),
			fmt.Sprintf("Give the job another one: ALTER SYNC JOB %s SET (server_id = %d);", spec.Job, probeServerID(f.serverID)&0x7fffffff|2))
	}
	s := newStream(c, spec, f)
	var problems []error
	for _, ref := range spec.Tables {
		s.addTable(ref)
	}
	defs, err := c.describeDefs(ctx, s.keys())
	if err != nil {
		return nil, cdc.Setup{}, err
	}
	for k, t := range s.tables {
		if d := defs[k]; d == nil || len(d.PK) == 0 {
			problems = append(problems, noKey(k))
		} else {
			t.def = d
		}
	}
	if err := joinProblems(problems); err != nil {
		return nil, cdc.Setup{}, err
	}
	if spec.From == "" {
		if err := s.prepareSnapshot(ctx); err != nil {
			s.Close()
			return nil, cdc.Setup{}, err
		}
		return s, cdc.Setup{}, nil
	}
	from, err := parsePosition(spec.From)
	if err != nil {
		return nil, cdc.Setup{}, fmt.Errorf("open stream: %w", err)
	}
	if files, ok := c.binaryLogs(ctx); ok && !files[from.File] {
		return nil, cdc.Setup{}, positionLost(spec, fmt.Sprintf("binlog file %s of the checkpoint %s is no longer on the server (purged)", from.File, from.binlogPos))
	}
	s.start = from
	if err := s.begin(ctx); err != nil {
		s.Close()
		return nil, cdc.Setup{}, err
	}
	return s, cdc.Setup{}, nil
}
