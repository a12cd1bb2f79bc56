package binlog

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Dump flags.
const (
	dumpNonBlock         = 0x01
	dumpSendAnnotateRows = 0x02 // MariaDB
	dumpThroughGTID      = 0x04 // MySQL COM_BINLOG_DUMP_GTID
)

// mariaSlaveCapabilityGTID tells MariaDB this replica understands GTID,
// GTID_LIST and BINLOG_CHECKPOINT events, so it sends them unchanged.
const mariaSlaveCapabilityGTID = 4

// MasterStatus is the server's current binlog position: where a stream
// starts to see only changes made from now on.
type MasterStatus struct {
	File string
	Pos  uint32
	// GTIDSet is the matching GTID position: MariaDB's domain-server-seq
	// list, MySQL's executed GTID set; empty when GTIDs are not in use.
	GTIDSet string
}

// MasterStatus reads the current binlog file and position (SHOW MASTER
// STATUS, or SHOW BINARY LOG STATUS on MySQL 8.2+) and the GTID position
// that goes with it.
func (c *Conn) MasterStatus(ctx context.Context) (MasterStatus, error) {
	var st MasterStatus
	var rows [][]*string
	var err error
	if c.flavor == FlavorMySQL {
		rows, err = c.Query(ctx, "SHOW BINARY LOG STATUS")
		var se *ServerError
		if errors.As(err, &se) && se.Code == 1064 { // before 8.2
			rows, err = c.Query(ctx, "SHOW MASTER STATUS")
		}
	} else {
		rows, err = c.Query(ctx, "SHOW MASTER STATUS")
	}
	if err != nil {
		return st, fmt.Errorf("binlog: master status: %w", err)
	}
	if len(rows) == 0 || len(rows[0]) < 2 || rows[0][0] == nil || rows[0][1] == nil {
		return st, errors.New("binlog: master status: binary logging is disabled on the server")
	}
	st.File = *rows[0][0]
	pos, err := strconv.ParseUint(*rows[0][1], 10, 32)
	if err != nil {
		return st, fmt.Errorf("binlog: master status: position %q: %w", *rows[0][1], err)
	}
	st.Pos = uint32(pos)
	if c.flavor == FlavorMySQL {
		if len(rows[0]) >= 5 && rows[0][4] != nil {
			st.GTIDSet = strings.ReplaceAll(*rows[0][4], "\n", "")
		}
		return st, nil
	}
	// BINLOG_GTID_POS gives the GTID position of exactly this file and
	// offset, even if transactions commit in between.
	g, err := c.Query(ctx, "SELECT BINLOG_GTID_POS("+quoteString(st.File)+", "+strconv.FormatUint(pos, 10)+")")
	if err != nil {
		return st, fmt.Errorf("binlog: master status: %w", err)
	}
	if len(g) == 1 && len(g[0]) == 1 && g[0][0] != nil {
		st.GTIDSet = *g[0][0]
	}
	return st, nil
}

// StartFromPosition starts the stream at pos in binlog file file (pos 4 is
// the start of a file). The connection carries only events afterwards.
func (c *Conn) StartFromPosition(ctx context.Context, file string, pos uint32) error {
	if err := c.prepareDump(ctx); err != nil {
		return err
	}
	flags := uint16(0)
	if c.flavor == FlavorMariaDB && c.cfg.AnnotateRows {
		flags |= dumpSendAnnotateRows
	}
	p := []byte{comBinlogDump}
	p = binary.LittleEndian.AppendUint32(p, pos)
	p = binary.LittleEndian.AppendUint16(p, flags)
	p = binary.LittleEndian.AppendUint32(p, c.cfg.ServerID)
	p = append(p, file...)
	return c.startDump(ctx, p, file)
}

// StartFromGTID starts the stream after the given GTID position: for
// MariaDB a domain-server-seq list (the last transaction already seen in
// each domain, e.g. "0-1-42"); for MySQL a GTID set (the transactions
// already seen, e.g. "uuid:1-42").
func (c *Conn) StartFromGTID(ctx context.Context, gtidSet string) error {
	if c.flavor == FlavorMariaDB {
		list, err := ParseMariaGTIDList(gtidSet)
		if err != nil {
			return fmt.Errorf("binlog: %w", err)
		}
		parts := make([]string, len(list))
		for i, g := range list {
			parts[i] = g.String()
		}
		if err := c.prepareDump(ctx); err != nil {
			return err
		}
		err = c.exec(ctx,
			"SET @slave_connect_state = "+quoteString(strings.Join(parts, ",")),
			"SET @slave_gtid_strict_mode = 0",
			"SET @slave_gtid_ignore_duplicates = 0")
		if err != nil {
			return fmt.Errorf("binlog: GTID start: %w", err)
		}
		flags := uint16(0)
		if c.cfg.AnnotateRows {
			flags |= dumpSendAnnotateRows
		}
		// With a connect state the server ignores file and position.
		p := []byte{comBinlogDump}
		p = binary.LittleEndian.AppendUint32(p, 4)
		p = binary.LittleEndian.AppendUint16(p, flags)
		p = binary.LittleEndian.AppendUint32(p, c.cfg.ServerID)
		return c.startDump(ctx, p, "")
	}
	set, err := ParseGTIDSet(gtidSet)
	if err != nil {
		return fmt.Errorf("binlog: %w", err)
	}
	if err := c.prepareDump(ctx); err != nil {
		return err
	}
	return c.startDump(ctx, dumpGTIDPacket(c.cfg.ServerID, set), "")
}

// dumpGTIDPacket is COM_BINLOG_DUMP_GTID: flags, server id, file name length
// and name (empty), position (8 bytes, 4), then the encoded GTID set with its
// length.
func dumpGTIDPacket(serverID uint32, set GTIDSet) []byte {
	data := set.encode()
	p := []byte{comBinlogDumpGTID}
	p = binary.LittleEndian.AppendUint16(p, dumpThroughGTID)
	p = binary.LittleEndian.AppendUint32(p, serverID)
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = binary.LittleEndian.AppendUint64(p, 4)
	p = binary.LittleEndian.AppendUint32(p, uint32(len(data)))
	return append(p, data...)
}

// prepareDump sets the session variables the server's dump thread reads:
// checksum awareness, MariaDB's replica capability, heartbeat period, MySQL's
// replica UUID; then registers as a replica.
func (c *Conn) prepareDump(ctx context.Context) error {
	if c.streaming {
		return ErrStreaming
	}
	if c.cfg.ServerID == 0 {
		return errors.New("binlog: Config.ServerID must be non-zero")
	}
	alg := ChecksumOff
	rows, err := c.Query(ctx, "SELECT @@global.binlog_checksum")
	var se *ServerError
	switch {
	case errors.As(err, &se) && se.Code == 1193: // unknown variable: a server without checksums
	case err != nil:
		return fmt.Errorf("binlog: %w", err)
	case len(rows) == 1 && len(rows[0]) == 1 && rows[0][0] != nil:
		switch v := strings.ToUpper(*rows[0][0]); v {
		case "CRC32":
			alg = ChecksumCRC32
		case "NONE":
		default:
			return fmt.Errorf("binlog: binlog_checksum %s: %w", v, ErrUnsupported)
		}
	}
	var stmts []string
	if err == nil {
		// Telling the server which checksum we expect makes it send events
		// with their checksums instead of refusing a checksum-unaware replica.
		stmts = append(stmts, "SET @master_binlog_checksum = @@global.binlog_checksum")
		if c.flavor == FlavorMySQL {
			stmts = append(stmts, "SET @source_binlog_checksum = @@global.binlog_checksum")
		}
	}
	if c.flavor == FlavorMariaDB {
		stmts = append(stmts, "SET @mariadb_slave_capability = "+strconv.Itoa(mariaSlaveCapabilityGTID))
	} else {
		u := randomUUID()
		stmts = append(stmts, "SET @slave_uuid = '"+u+"'", "SET @replica_uuid = '"+u+"'")
	}
	if hb := c.cfg.HeartbeatPeriod; hb > 0 {
		ns := strconv.FormatInt(hb.Nanoseconds(), 10)
		stmts = append(stmts, "SET @master_heartbeat_period = "+ns)
		if c.flavor == FlavorMySQL {
			stmts = append(stmts, "SET @source_heartbeat_period = "+ns)
		}
	}
	if err := c.exec(ctx, stmts...); err != nil {
		return fmt.Errorf("binlog: replication setup: %w", err)
	}
	if err := c.registerSlave(ctx); err != nil {
		// MariaDB refuses registration without REPLICATION SLAVE with a
		// bare "Access denied"; the dump that follows fails with the
		// message naming the privilege, so let it speak.
		var se *ServerError
		if !errors.As(err, &se) || (se.Code != 1045 && se.Code != 1227) {
			return err
		}
	}
	c.dec = NewDecoder(c.flavor, alg, "")
	return nil
}

// registerSlave sends COM_REGISTER_SLAVE: server id, report host, user,
// password (all empty here but the host), port, rank, master id.
func (c *Conn) registerSlave(ctx context.Context) error {
	host, _ := os.Hostname()
	if len(host) > 60 {
		host = host[:60]
	}
	p := []byte{comRegisterSlave}
	p = binary.LittleEndian.AppendUint32(p, c.cfg.ServerID)
	p = append(p, byte(len(host)))
	p = append(p, host...)
	p = append(p, 0, 0) // user, password: not reported
	p = binary.LittleEndian.AppendUint16(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 0)
	err := c.withContext(ctx, func() error {
		c.pc.resetSeq()
		if err := c.pc.writePacket(p); err != nil {
			return err
		}
		r, err := c.pc.readPacket()
		if err != nil {
			return err
		}
		if len(r) > 0 && r[0] == 0xff {
			return parseErrPacket(r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("binlog: register as replica %d: %w", c.cfg.ServerID, err)
	}
	return nil
}

// startDump sends a dump command. Errors the server finds (privileges,
// unknown file, purged GTIDs) arrive as the first reply and are returned by
// the first NextEvent.
func (c *Conn) startDump(ctx context.Context, packet []byte, file string) error {
	err := c.withContext(ctx, func() error {
		c.streaming = true
		c.pc.resetSeq()
		return c.pc.writePacket(packet)
	})
	if err != nil {
		return fmt.Errorf("binlog: start dump: %w", err)
	}
	c.dec.file = file
	c.dec.next = Position{File: file}
	return nil
}

// NextEvent waits for and decodes the next event. Cancelling ctx (or its
// deadline) returns ctx's error; if that happened between two events the
// stream stays usable, otherwise the connection is broken and every later
// call fails. A server error (such as a missing REPLICATION SLAVE privilege)
// is a *ServerError; the end of a non-blocking dump is io.EOF.
func (c *Conn) NextEvent(ctx context.Context) (*Event, error) {
	if !c.streaming {
		return nil, ErrNotStreaming
	}
	var p []byte
	end := false
	err := c.withContext(ctx, func() error {
		var err error
		if p, err = c.pc.readPacket(); err != nil {
			return err
		}
		switch {
		case len(p) == 0:
			return errors.New("empty packet in the stream")
		case p[0] == 0xff:
			err := parseErrPacket(p)
			c.broken = fmt.Errorf("binlog: stream ended: %w", err)
			return err
		case p[0] == 0xfe && len(p) < 9:
			end = true
			c.broken = fmt.Errorf("binlog: stream ended: %w", io.EOF)
			return io.EOF
		case p[0] != 0x00:
			return fmt.Errorf("unexpected packet 0x%02x in the stream", p[0])
		}
		return nil
	})
	if end {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("binlog: read event: %w", err)
	}
	ev, err := c.dec.Decode(p[1:])
	if err != nil {
		return nil, fmt.Errorf("binlog: %w", err)
	}
	return ev, nil
}

func randomUUID() string {
	var u UUID
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}
