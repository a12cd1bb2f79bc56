package binlog

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MariaGTID is a MariaDB global transaction id, written domain-server-seq.
type MariaGTID struct {
	Domain   uint32
	ServerID uint32
	Seq      uint64
}

func (g MariaGTID) String() string {
	return fmt.Sprintf("%d-%d-%d", g.Domain, g.ServerID, g.Seq)
}

// ParseMariaGTIDList parses a comma-separated list of MariaDB GTIDs, at most
// one per domain, as @@gtid_binlog_pos shows it.
func ParseMariaGTIDList(s string) ([]MariaGTID, error) {
	var out []MariaGTID
	seen := map[uint32]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, "-")
		if len(f) != 3 {
			return nil, fmt.Errorf("MariaDB GTID %q: want domain-server-seq", part)
		}
		d, err1 := strconv.ParseUint(f[0], 10, 32)
		sv, err2 := strconv.ParseUint(f[1], 10, 32)
		seq, err3 := strconv.ParseUint(f[2], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("MariaDB GTID %q: %w", part, err)
		}
		if seen[uint32(d)] {
			return nil, fmt.Errorf("MariaDB GTID list %q: domain %d twice", s, d)
		}
		seen[uint32(d)] = true
		out = append(out, MariaGTID{Domain: uint32(d), ServerID: uint32(sv), Seq: seq})
	}
	return out, nil
}

// MariaDB GTID event flags (flags2).
const (
	MariaGTIDStandalone    = 0x01 // the group is one statement with no XID (DDL, non-transactional)
	MariaGTIDGroupCommitID = 0x02
	MariaGTIDTransactional = 0x04
	MariaGTIDAllowParallel = 0x08
	MariaGTIDWaited        = 0x10
	MariaGTIDDDL           = 0x20
	MariaGTIDPreparedXA    = 0x40
	MariaGTIDCompletedXA   = 0x80
)

// MariaGTIDEvent starts a transaction (event group) in MariaDB.
type MariaGTIDEvent struct {
	GTID       MariaGTID // ServerID comes from the event header
	Flags      byte
	CommitID   uint64 // group commit id when Flags has MariaGTIDGroupCommitID
	XID        []byte // XA transaction id (format id, gtrid, bqual) for XA groups
	FlagsExtra byte
}

func (e *MariaGTIDEvent) String() string { return e.GTID.String() }

// Standalone is set for groups of one statement without XID, such as DDL.
func (e *MariaGTIDEvent) Standalone() bool { return e.Flags&MariaGTIDStandalone != 0 }

func decodeMariaGTID(h Header, body []byte) (*MariaGTIDEvent, error) {
	c := cursor{b: body}
	e := &MariaGTIDEvent{}
	e.GTID.Seq = c.u64()
	e.GTID.Domain = c.u32()
	e.GTID.ServerID = h.ServerID
	e.Flags = c.u8()
	if e.Flags&MariaGTIDGroupCommitID != 0 {
		e.CommitID = c.u64()
	}
	if e.Flags&(MariaGTIDPreparedXA|MariaGTIDCompletedXA) != 0 {
		start := c.b
		c.skip(4)
		g, b := int(c.u8()), int(c.u8())
		c.skip(g + b)
		if c.err == nil {
			e.XID = start[:6+g+b]
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	// Without a commit id the post-header is zero padded, so a zero byte
	// here is padding or "no extra flags" alike.
	if len(c.b) > 0 {
		e.FlagsExtra = c.b[0]
	}
	return e, nil
}

// MariaGTIDListEvent (MariaDB) starts each binlog file with the last GTID of
// every domain and server so far.
type MariaGTIDListEvent struct {
	GTIDs []MariaGTID
	Flags uint8 // the top 4 bits of the count field
}

func decodeMariaGTIDList(body []byte) (*MariaGTIDListEvent, error) {
	c := cursor{b: body}
	v := c.u32()
	n := int(v & (1<<28 - 1))
	if c.err != nil || n > len(c.b)/16 {
		return nil, errTruncated
	}
	e := &MariaGTIDListEvent{Flags: uint8(v >> 28), GTIDs: make([]MariaGTID, n)}
	for i := range e.GTIDs {
		e.GTIDs[i] = MariaGTID{Domain: c.u32(), ServerID: c.u32(), Seq: c.u64()}
	}
	return e, c.err
}

// UUID is a MySQL server UUID (the source id of a GTID).
type UUID [16]byte

func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

func parseUUID(s string) (UUID, error) {
	var u UUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return u, fmt.Errorf("UUID %q", s)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("UUID %q: %w", s, err)
	}
	return u, nil
}

// GTIDInterval is a range of transaction numbers, both ends included.
type GTIDInterval struct{ Start, End int64 }

// GTIDSetEntry is the transactions of one source.
type GTIDSetEntry struct {
	SID       UUID
	Intervals []GTIDInterval
}

// GTIDSet is a MySQL GTID set such as "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7".
type GTIDSet []GTIDSetEntry

// ParseGTIDSet parses MySQL's text form (as in @@gtid_executed). Tagged
// GTIDs (MySQL 8.3+) are not supported.
func ParseGTIDSet(s string) (GTIDSet, error) {
	var set GTIDSet
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, ":")
		sid, err := parseUUID(strings.TrimSpace(f[0]))
		if err != nil {
			return nil, fmt.Errorf("GTID set %q: %w", part, err)
		}
		e := GTIDSetEntry{SID: sid}
		for _, r := range f[1:] {
			r = strings.TrimSpace(r)
			lo, hi, isRange := strings.Cut(r, "-")
			a, err := strconv.ParseInt(lo, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("GTID set %q: interval %q (tagged GTIDs are not supported): %w", part, r, err)
			}
			b := a
			if isRange {
				if b, err = strconv.ParseInt(hi, 10, 64); err != nil {
					return nil, fmt.Errorf("GTID set %q: interval %q: %w", part, r, err)
				}
			}
			if a < 1 || b < a {
				return nil, fmt.Errorf("GTID set %q: bad interval %q", part, r)
			}
			e.Intervals = append(e.Intervals, GTIDInterval{Start: a, End: b})
		}
		if len(e.Intervals) == 0 {
			return nil, fmt.Errorf("GTID set %q: no interval", part)
		}
		set = append(set, e)
	}
	return set, nil
}

func (s GTIDSet) String() string {
	var b strings.Builder
	for i, e := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.SID.String())
		for _, iv := range e.Intervals {
			b.WriteByte(':')
			b.WriteString(strconv.FormatInt(iv.Start, 10))
			if iv.End != iv.Start {
				b.WriteByte('-')
				b.WriteString(strconv.FormatInt(iv.End, 10))
			}
		}
	}
	return b.String()
}

// encode is the binary form of COM_BINLOG_DUMP_GTID and PREVIOUS_GTIDS:
// number of sources (8 bytes); per source its UUID, number of intervals
// (8 bytes) and each interval as start and end, the end exclusive (8 bytes
// each). All little-endian.
func (s GTIDSet) encode() []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(s)))
	for _, e := range s {
		b = append(b, e.SID[:]...)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(e.Intervals)))
		for _, iv := range e.Intervals {
			b = binary.LittleEndian.AppendUint64(b, uint64(iv.Start))
			b = binary.LittleEndian.AppendUint64(b, uint64(iv.End+1))
		}
	}
	return b
}

func decodeGTIDSet(b []byte) (GTIDSet, error) {
	c := cursor{b: b}
	n := c.u64()
	if c.err != nil || n > uint64(len(c.b)/24) {
		return nil, errTruncated
	}
	set := make(GTIDSet, n)
	for i := range set {
		copy(set[i].SID[:], c.bytes(16))
		m := c.u64()
		if c.err != nil || m > uint64(len(c.b)/16) {
			return nil, errTruncated
		}
		set[i].Intervals = make([]GTIDInterval, m)
		for j := range set[i].Intervals {
			start, end := int64(c.u64()), int64(c.u64())
			set[i].Intervals[j] = GTIDInterval{Start: start, End: end - 1}
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	return set, nil
}

// PreviousGTIDsEvent (MySQL) starts each binlog file with the GTIDs of all
// earlier files.
type PreviousGTIDsEvent struct{ Set GTIDSet }

// GTIDEvent is MySQL's GTID_LOG_EVENT (or ANONYMOUS_GTID_LOG_EVENT, with
// GNO 0) that starts a transaction.
type GTIDEvent struct {
	Anonymous      bool
	Flags          byte // 1 = may contain statement-based events
	SID            UUID
	GNO            int64
	LastCommitted  int64
	SequenceNumber int64
	// Commit timestamps in microseconds since the epoch (MySQL 8.0.1+; 0
	// when absent).
	ImmediateCommitTimestamp uint64
	OriginalCommitTimestamp  uint64
	TransactionLength        uint64
}

func (e *GTIDEvent) String() string {
	if e.Anonymous {
		return ""
	}
	return e.SID.String() + ":" + strconv.FormatInt(e.GNO, 10)
}

func decodeMySQLGTID(h Header, body []byte) (*GTIDEvent, error) {
	c := cursor{b: body}
	e := &GTIDEvent{Anonymous: h.Type == EventAnonymousGTID, Flags: c.u8()}
	copy(e.SID[:], c.bytes(16))
	e.GNO = int64(c.u64())
	if c.err != nil {
		return nil, c.err
	}
	// Later fields were added over versions; each is read only if present.
	if len(c.b) >= 17 && c.b[0] == 2 { // logical timestamp type code
		c.skip(1)
		e.LastCommitted = int64(c.u64())
		e.SequenceNumber = int64(c.u64())
		if len(c.b) >= 7 {
			ts := c.bytes(7)
			v := uint64(ts[0]) | uint64(ts[1])<<8 | uint64(ts[2])<<16 | uint64(ts[3])<<24 |
				uint64(ts[4])<<32 | uint64(ts[5])<<40 | uint64(ts[6])<<48
			e.ImmediateCommitTimestamp = v &^ (1 << 55)
			e.OriginalCommitTimestamp = e.ImmediateCommitTimestamp
			if v&(1<<55) != 0 {
				ts := c.bytes(7)
				if ts != nil {
					e.OriginalCommitTimestamp = uint64(ts[0]) | uint64(ts[1])<<8 | uint64(ts[2])<<16 |
						uint64(ts[3])<<24 | uint64(ts[4])<<32 | uint64(ts[5])<<40 | uint64(ts[6])<<48
				}
			}
			if len(c.b) > 0 {
				e.TransactionLength, _ = c.lenenc()
			}
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	return e, nil
}
