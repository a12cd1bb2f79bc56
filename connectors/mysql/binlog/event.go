package binlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// EventType is the type code in an event header.
type EventType byte

// Event types of MySQL and MariaDB binary logs.
const (
	EventUnknown          EventType = 0
	EventStartV3          EventType = 1
	EventQuery            EventType = 2
	EventStop             EventType = 3
	EventRotate           EventType = 4
	EventIntVar           EventType = 5
	EventRand             EventType = 13
	EventUserVar          EventType = 14
	EventFormatDesc       EventType = 15
	EventXID              EventType = 16
	EventBeginLoadQuery   EventType = 17
	EventExecuteLoadQuery EventType = 18
	EventTableMap         EventType = 19
	EventWriteRowsV1      EventType = 23
	EventUpdateRowsV1     EventType = 24
	EventDeleteRowsV1     EventType = 25
	EventIncident         EventType = 26
	EventHeartbeat        EventType = 27
	EventIgnorable        EventType = 28
	EventRowsQuery        EventType = 29
	EventWriteRowsV2      EventType = 30
	EventUpdateRowsV2     EventType = 31
	EventDeleteRowsV2     EventType = 32
	EventGTID             EventType = 33
	EventAnonymousGTID    EventType = 34
	EventPreviousGTIDs    EventType = 35
	EventTransactionCtx   EventType = 36
	EventViewChange       EventType = 37
	EventXAPrepare        EventType = 38
	EventPartialUpdRows   EventType = 39
	EventTransactionPay   EventType = 40
	EventHeartbeatV2      EventType = 41
	EventGTIDTagged       EventType = 42

	// MariaDB
	EventAnnotateRows           EventType = 160
	EventBinlogCheckpoint       EventType = 161
	EventMariaGTID              EventType = 162
	EventMariaGTIDList          EventType = 163
	EventStartEncryption        EventType = 164
	EventQueryCompressed        EventType = 165
	EventWriteRowsCompressedV1  EventType = 166
	EventUpdateRowsCompressedV1 EventType = 167
	EventDeleteRowsCompressedV1 EventType = 168
	EventWriteRowsCompressed    EventType = 169
	EventUpdateRowsCompressed   EventType = 170
	EventDeleteRowsCompressed   EventType = 171
)

var eventNames = map[EventType]string{
	EventUnknown: "UNKNOWN", EventStartV3: "START_V3", EventQuery: "QUERY", EventStop: "STOP",
	EventRotate: "ROTATE", EventIntVar: "INTVAR", EventRand: "RAND", EventUserVar: "USER_VAR",
	EventFormatDesc: "FORMAT_DESCRIPTION", EventXID: "XID", EventBeginLoadQuery: "BEGIN_LOAD_QUERY",
	EventExecuteLoadQuery: "EXECUTE_LOAD_QUERY", EventTableMap: "TABLE_MAP",
	EventWriteRowsV1: "WRITE_ROWS_V1", EventUpdateRowsV1: "UPDATE_ROWS_V1", EventDeleteRowsV1: "DELETE_ROWS_V1",
	EventIncident: "INCIDENT", EventHeartbeat: "HEARTBEAT", EventIgnorable: "IGNORABLE",
	EventRowsQuery: "ROWS_QUERY", EventWriteRowsV2: "WRITE_ROWS_V2", EventUpdateRowsV2: "UPDATE_ROWS_V2",
	EventDeleteRowsV2: "DELETE_ROWS_V2", EventGTID: "GTID", EventAnonymousGTID: "ANONYMOUS_GTID",
	EventPreviousGTIDs: "PREVIOUS_GTIDS", EventTransactionCtx: "TRANSACTION_CONTEXT",
	EventViewChange: "VIEW_CHANGE", EventXAPrepare: "XA_PREPARE", EventPartialUpdRows: "PARTIAL_UPDATE_ROWS",
	EventTransactionPay: "TRANSACTION_PAYLOAD", EventHeartbeatV2: "HEARTBEAT_V2", EventGTIDTagged: "GTID_TAGGED",
	EventAnnotateRows: "ANNOTATE_ROWS", EventBinlogCheckpoint: "BINLOG_CHECKPOINT",
	EventMariaGTID: "MARIADB_GTID", EventMariaGTIDList: "MARIADB_GTID_LIST",
	EventStartEncryption: "START_ENCRYPTION", EventQueryCompressed: "QUERY_COMPRESSED",
	EventWriteRowsCompressedV1: "WRITE_ROWS_COMPRESSED_V1", EventUpdateRowsCompressedV1: "UPDATE_ROWS_COMPRESSED_V1",
	EventDeleteRowsCompressedV1: "DELETE_ROWS_COMPRESSED_V1", EventWriteRowsCompressed: "WRITE_ROWS_COMPRESSED",
	EventUpdateRowsCompressed: "UPDATE_ROWS_COMPRESSED", EventDeleteRowsCompressed: "DELETE_ROWS_COMPRESSED",
}

func (t EventType) String() string {
	if n, ok := eventNames[t]; ok {
		return n
	}
	return "EVENT_" + strconv.Itoa(int(t))
}

// Header flags.
const (
	FlagArtificial uint16 = 0x20 // made up by the server, not in the file
)

// HeaderLen is the length of the v4 event header.
const HeaderLen = 19

// Header is the common header of every event.
type Header struct {
	Timestamp uint32 // seconds since the epoch, when the statement started
	Type      EventType
	ServerID  uint32 // server that first wrote the event
	EventSize uint32 // header + body + checksum
	LogPos    uint32 // position of the next event in the file; 0 for artificial events
	Flags     uint16
}

// Position is a place in the binary log to start reading from.
type Position struct {
	File string
	Pos  uint32
}

func (p Position) String() string { return fmt.Sprintf("%s:%d", p.File, p.Pos) }

// Event is one decoded binlog event.
type Event struct {
	Header Header
	// File is the binlog file the event is in (for an artificial ROTATE at
	// the start of a stream, the file it announces).
	File string
	// Next is where to resume to get the events after this one: the file
	// and the header's LogPos, the target of a ROTATE, or for events that
	// do not move the position (artificial ones, FORMAT_DESCRIPTION) the
	// position after the previous event. Resume at a transaction boundary
	// (after an XID or a standalone QUERY) to not split a transaction.
	Next Position
	// GTID is the GTID of the transaction the event belongs to: the last
	// GTID event seen on this stream ("domain-server-seq" for MariaDB,
	// "uuid:gno" for MySQL), empty before the first one.
	GTID string
	// Data is one of *FormatDescriptionEvent, *RotateEvent, *QueryEvent,
	// *XIDEvent, *TableMap, *RowsEvent, *MariaGTIDEvent, *MariaGTIDListEvent,
	// *BinlogCheckpointEvent, *AnnotateRowsEvent, *GTIDEvent,
	// *PreviousGTIDsEvent, *RowsQueryEvent, *HeartbeatEvent, or *RawEvent
	// for every other type.
	Data any
}

// FormatDescriptionEvent starts every binlog file and describes its format.
type FormatDescriptionEvent struct {
	BinlogVersion     uint16
	ServerVersion     string
	CreateTimestamp   uint32
	HeaderLength      uint8
	PostHeaderLengths []byte // indexed by event type - 1
	ChecksumAlg       ChecksumAlg
}

// ChecksumAlg is the per-event checksum of a binlog file.
type ChecksumAlg byte

const (
	ChecksumOff   ChecksumAlg = 0
	ChecksumCRC32 ChecksumAlg = 1
	checksumUndef ChecksumAlg = 255
)

// RotateEvent names the next binlog file; the server sends an artificial one
// first, for the file the stream starts in.
type RotateEvent struct {
	Position uint64
	NextFile string
}

// QueryEvent is a statement: BEGIN, DDL, COMMIT of non-transactional
// changes. Compressed is set for MariaDB QUERY_COMPRESSED events.
type QueryEvent struct {
	ThreadID   uint32
	ExecTime   uint32
	ErrorCode  uint16
	StatusVars []byte
	Schema     string
	Query      string
	Compressed bool
}

// XIDEvent commits a transaction.
type XIDEvent struct{ XID uint64 }

// BinlogCheckpointEvent (MariaDB) names the oldest binlog file crash recovery
// needs; replication can skip it.
type BinlogCheckpointEvent struct{ File string }

// AnnotateRowsEvent (MariaDB) holds the statement behind the row events
// that follow.
type AnnotateRowsEvent struct{ Query string }

// RowsQueryEvent (MySQL, binlog_rows_query_log_events) holds the statement
// behind the row events that follow.
type RowsQueryEvent struct{ Query string }

// HeartbeatEvent says the server is alive while it has nothing to send;
// File and Position are where its dump thread stands.
type HeartbeatEvent struct {
	File     string
	Position uint64
	V2       bool // MySQL HEARTBEAT_LOG_EVENT_V2
}

// RawEvent is an event this package does not decode; Body excludes the
// header and checksum.
type RawEvent struct{ Body []byte }

// Decoder turns raw events into Events. It keeps what decoding needs across
// events: the format description, the current file, the checksum algorithm,
// the table maps of the current statement. One Decoder per stream.
type Decoder struct {
	flavor Flavor
	alg    ChecksumAlg // for events before the first FORMAT_DESCRIPTION
	fde    *FormatDescriptionEvent
	file   string
	next   Position
	gtid   string
	tables map[uint64]*TableMap
}

// NewDecoder decodes a stream from a server of flavor whose events carry
// checksums per alg until a FORMAT_DESCRIPTION event says otherwise; file is
// the binlog file the stream starts in, if known.
func NewDecoder(flavor Flavor, alg ChecksumAlg, file string) *Decoder {
	return &Decoder{flavor: flavor, alg: alg, file: file, next: Position{File: file}, tables: map[uint64]*TableMap{}}
}

// postHeaderLen is the post-header length of t from the format description,
// or def before one was seen.
func (d *Decoder) postHeaderLen(t EventType, def int) int {
	if d.fde == nil || t == 0 || int(t) > len(d.fde.PostHeaderLengths) {
		return def
	}
	return int(d.fde.PostHeaderLengths[t-1])
}

func parseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("event of %d bytes is shorter than its header", len(b))
	}
	return Header{
		Timestamp: binary.LittleEndian.Uint32(b),
		Type:      EventType(b[4]),
		ServerID:  binary.LittleEndian.Uint32(b[5:]),
		EventSize: binary.LittleEndian.Uint32(b[9:]),
		LogPos:    binary.LittleEndian.Uint32(b[13:]),
		Flags:     binary.LittleEndian.Uint16(b[17:]),
	}, nil
}

// Decode decodes one event (header, body and checksum, as the server sends
// it after the 0x00 byte of its packet). buf is not copied: the event's
// byte values alias it.
func (d *Decoder) Decode(buf []byte) (*Event, error) {
	h, err := parseHeader(buf)
	if err != nil {
		return nil, err
	}
	if int(h.EventSize) != len(buf) {
		return nil, fmt.Errorf("%s event: header says %d bytes, got %d", h.Type, h.EventSize, len(buf))
	}
	var body []byte
	if h.Type == EventFormatDesc {
		fde, err := parseFormatDescription(buf)
		if err != nil {
			return nil, fmt.Errorf("read format description: %w", err)
		}
		d.fde = fde
		d.alg = fde.ChecksumAlg
		return d.finish(h, fde), nil
	}
	body = buf[HeaderLen:]
	if d.fde != nil && int(d.fde.HeaderLength) > HeaderLen {
		// A longer common header would add fields we do not know; skip them.
		extra := int(d.fde.HeaderLength) - HeaderLen
		if extra > len(body) {
			return nil, fmt.Errorf("%s event shorter than the common header", h.Type)
		}
		body = body[extra:]
	}
	if d.alg == ChecksumCRC32 {
		if len(body) < 4 {
			return nil, fmt.Errorf("%s event too short for its checksum", h.Type)
		}
		if err := verifyCRC(buf); err != nil {
			return nil, fmt.Errorf("%s event at %s: %w", h.Type, Position{d.file, h.LogPos}, err)
		}
		body = body[:len(body)-4]
	}
	data, err := d.decodeBody(h, body)
	if err != nil {
		return nil, fmt.Errorf("read %s event: %w", h.Type, err)
	}
	return d.finish(h, data), nil
}

// finish fills the position and GTID fields and updates the stream state.
func (d *Decoder) finish(h Header, data any) *Event {
	ev := &Event{Header: h, File: d.file, Data: data}
	switch v := data.(type) {
	case *RotateEvent:
		if h.Flags&FlagArtificial != 0 || h.LogPos == 0 {
			ev.File = v.NextFile
		}
		d.file = v.NextFile
		d.next = Position{File: v.NextFile, Pos: uint32(v.Position)}
	case *FormatDescriptionEvent:
		// Sent again (with LogPos cleared) when a stream starts mid-file:
		// never a place to resume from.
	case *HeartbeatEvent:
		// Where the dump thread stands; not a transaction boundary.
	case *MariaGTIDEvent:
		d.gtid = v.String()
	case *GTIDEvent:
		d.gtid = v.String()
	}
	switch data.(type) {
	case *RotateEvent, *FormatDescriptionEvent, *HeartbeatEvent:
	default:
		if h.LogPos != 0 {
			d.next = Position{File: d.file, Pos: h.LogPos}
		}
	}
	ev.Next = d.next
	ev.GTID = d.gtid
	return ev
}

func verifyCRC(buf []byte) error {
	n := len(buf) - 4
	want := binary.LittleEndian.Uint32(buf[n:])
	if got := crc32.ChecksumIEEE(buf[:n]); got != want {
		return fmt.Errorf("%w: computed %08x, event has %08x", ErrChecksum, got, want)
	}
	return nil
}

// parseFormatDescription decodes a FORMAT_DESCRIPTION event and checks its
// own checksum (its algorithm byte says whether it has one).
func parseFormatDescription(buf []byte) (*FormatDescriptionEvent, error) {
	c := cursor{b: buf[HeaderLen:]}
	f := &FormatDescriptionEvent{BinlogVersion: c.u16()}
	ver := c.bytes(50)
	f.CreateTimestamp = c.u32()
	f.HeaderLength = c.u8()
	rest := c.rest()
	if c.err != nil {
		return nil, c.err
	}
	if i := strings.IndexByte(string(ver), 0); i >= 0 {
		ver = ver[:i]
	}
	f.ServerVersion = string(ver)
	if f.HeaderLength < HeaderLen {
		return nil, fmt.Errorf("common header length %d", f.HeaderLength)
	}
	f.ChecksumAlg = ChecksumOff
	if checksumAware(f.ServerVersion) {
		// The algorithm byte and 4 checksum bytes always end the event,
		// even when checksums are off.
		if len(rest) < 5 {
			return nil, errTruncated
		}
		alg := ChecksumAlg(rest[len(rest)-5])
		rest = rest[:len(rest)-5]
		switch alg {
		case ChecksumOff, checksumUndef:
			f.ChecksumAlg = ChecksumOff
		case ChecksumCRC32:
			f.ChecksumAlg = ChecksumCRC32
			if err := verifyCRC(buf); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("checksum algorithm %d: %w", alg, ErrUnsupported)
		}
	}
	f.PostHeaderLengths = rest
	return f, nil
}

// checksumAware says whether a server of version v writes the checksum
// algorithm into FORMAT_DESCRIPTION: MySQL 5.6.1 and MariaDB 5.3 on.
func checksumAware(v string) bool {
	var n [3]int
	s := v
	for i := range n {
		j := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n[i], _ = strconv.Atoi(s[:j])
		s = s[j:]
		if len(s) == 0 || s[0] != '.' {
			break
		}
		s = s[1:]
	}
	split := [3]int{5, 6, 1}
	if strings.Contains(strings.ToLower(v), "mariadb") {
		split = [3]int{5, 3, 0}
	}
	for i := range n {
		if n[i] != split[i] {
			return n[i] > split[i]
		}
	}
	return true
}

// decodeBody decodes the body (after the header, without checksum) of a
// non-FORMAT_DESCRIPTION event.
func (d *Decoder) decodeBody(h Header, body []byte) (any, error) {
	switch h.Type {
	case EventRotate:
		c := cursor{b: body}
		r := &RotateEvent{}
		if d.postHeaderLen(EventRotate, 8) >= 8 {
			r.Position = c.u64()
		}
		r.NextFile = string(c.rest())
		if c.err != nil {
			return nil, c.err
		}
		return r, nil
	case EventQuery, EventQueryCompressed:
		return d.decodeQuery(h, body)
	case EventXID:
		c := cursor{b: body}
		x := &XIDEvent{XID: c.u64()}
		return x, c.err
	case EventTableMap:
		tm, err := d.decodeTableMap(body)
		if err != nil {
			return nil, err
		}
		d.tables[tm.TableID] = tm
		return tm, nil
	case EventWriteRowsV1, EventUpdateRowsV1, EventDeleteRowsV1,
		EventWriteRowsV2, EventUpdateRowsV2, EventDeleteRowsV2,
		EventWriteRowsCompressedV1, EventUpdateRowsCompressedV1, EventDeleteRowsCompressedV1,
		EventWriteRowsCompressed, EventUpdateRowsCompressed, EventDeleteRowsCompressed:
		return d.decodeRows(h, body)
	case EventMariaGTID:
		return decodeMariaGTID(h, body)
	case EventMariaGTIDList:
		return decodeMariaGTIDList(body)
	case EventBinlogCheckpoint:
		c := cursor{b: body}
		n := c.u32()
		name := c.bytes(int(n))
		if c.err != nil {
			return nil, c.err
		}
		return &BinlogCheckpointEvent{File: string(name)}, nil
	case EventAnnotateRows:
		return &AnnotateRowsEvent{Query: string(body)}, nil
	case EventRowsQuery:
		// One length byte (which overflows for long statements) precedes
		// the text; the text runs to the end of the event.
		if len(body) < 1 {
			return nil, errTruncated
		}
		return &RowsQueryEvent{Query: string(body[1:])}, nil
	case EventGTID, EventAnonymousGTID:
		return decodeMySQLGTID(h, body)
	case EventPreviousGTIDs:
		set, err := decodeGTIDSet(body)
		if err != nil {
			return nil, err
		}
		return &PreviousGTIDsEvent{Set: set}, nil
	case EventHeartbeat:
		return &HeartbeatEvent{File: string(body), Position: uint64(h.LogPos)}, nil
	case EventHeartbeatV2:
		return decodeHeartbeatV2(body)
	case EventTransactionPay:
		return nil, fmt.Errorf("compressed transaction payload (binlog_transaction_compression=ON): %w", ErrUnsupported)
	case EventPartialUpdRows:
		return nil, fmt.Errorf("partial JSON row update (binlog_row_value_options=PARTIAL_JSON): %w", ErrUnsupported)
	case EventGTIDTagged:
		return nil, fmt.Errorf("tagged GTID event (MySQL 8.3+ tagged GTIDs): %w", ErrUnsupported)
	default:
		return &RawEvent{Body: body}, nil
	}
}

func (d *Decoder) decodeQuery(h Header, body []byte) (*QueryEvent, error) {
	post := d.postHeaderLen(h.Type, 13)
	c := cursor{b: body}
	q := &QueryEvent{ThreadID: c.u32(), ExecTime: c.u32()}
	schemaLen := int(c.u8())
	q.ErrorCode = c.u16()
	varsLen := 0
	if post >= 13 {
		varsLen = int(c.u16())
	}
	if post > 13 {
		c.skip(post - 13)
	}
	q.StatusVars = c.bytes(varsLen)
	q.Schema = string(c.bytes(schemaLen))
	c.skip(1)
	text := c.rest()
	if c.err != nil {
		return nil, c.err
	}
	if h.Type == EventQueryCompressed {
		var err error
		if text, err = uncompressMaria(text); err != nil {
			return nil, fmt.Errorf("statement text: %w", err)
		}
		q.Compressed = true
	}
	q.Query = string(text)
	return q, nil
}

// decodeHeartbeatV2 reads MySQL's TLV heartbeat: type and length as packed
// integers, 1 = file name, 2 = position (itself packed), 0 ends.
func decodeHeartbeatV2(body []byte) (*HeartbeatEvent, error) {
	hb := &HeartbeatEvent{V2: true}
	c := cursor{b: body}
	for len(c.b) > 0 && c.err == nil {
		typ, _ := c.lenenc()
		if typ == 0 {
			break
		}
		n := c.count()
		v := c.bytes(n)
		switch typ {
		case 1:
			hb.File = string(v)
		case 2:
			vc := cursor{b: v}
			hb.Position, _ = vc.lenenc()
			if vc.err != nil {
				return nil, vc.err
			}
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	return hb, nil
}
