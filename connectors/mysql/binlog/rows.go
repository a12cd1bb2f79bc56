package binlog

import (
	"fmt"
)

// RowsKind is the change a rows event carries.
type RowsKind int

const (
	Insert RowsKind = iota
	Update
	Delete
)

func (k RowsKind) String() string {
	switch k {
	case Insert:
		return "insert"
	case Update:
		return "update"
	default:
		return "delete"
	}
}

// Rows event flags.
const (
	RowsFlagStmtEnd = 0x0001 // last rows event of the statement
)

// Missing is the cell value of a column a row image does not contain
// (binlog_row_image MINIMAL or NOBLOB); NULL is nil.
type Missing struct{}

// RowsEvent is WRITE_ROWS, UPDATE_ROWS or DELETE_ROWS (v1, v2 or MariaDB
// compressed). Cells, by column type:
//
//	NULL                                  nil
//	TINY, SHORT, INT24, LONG, LONGLONG    int64, sign-extended (see Unsigned)
//	FLOAT / DOUBLE                        float32 / float64
//	NEWDECIMAL                            string, exactly Scale fractional digits
//	YEAR                                  int64 (0 or 1901..2155)
//	DATE                                  string YYYY-MM-DD
//	DATETIME(2), TIMESTAMP(2)             string YYYY-MM-DD HH:MM:SS[.fsp digits], timestamps in UTC
//	TIME(2)                               string [-]HH:MM:SS[.fsp digits], hours may exceed 24
//	VARCHAR, STRING, BLOB/TEXT, GEOMETRY  []byte (BINARY(n) loses its trailing zero
//	                                      bytes in the log; they are restored
//	                                      when charset metadata is logged)
//	ENUM                                  int64, 1-based index (0 = the empty error value)
//	SET                                   uint64 bitmask
//	BIT                                   uint64
//	JSON (MySQL binary JSON)              []byte JSON text
type RowsEvent struct {
	Table     *TableMap // nil only for an empty statement-end event
	TableID   uint64
	Kind      RowsKind
	Flags     uint16
	Version   int    // 1 or 2
	ExtraData []byte // v2 extra data, without its length
	// Columns marks the columns present in the before image (Update,
	// Delete) or the after image (Insert); ColumnsAfter those of the after
	// image of an Update.
	Columns      []bool
	ColumnsAfter []bool
	Rows         []Row
	Compressed   bool // MariaDB log_bin_compress
}

// Row is one changed row: After for Insert, Before for Delete, both for
// Update. Each has one cell per table column.
type Row struct {
	Before []any
	After  []any
}

func rowsShape(t EventType) (kind RowsKind, version int, compressed bool) {
	switch t {
	case EventWriteRowsV1:
		return Insert, 1, false
	case EventUpdateRowsV1:
		return Update, 1, false
	case EventDeleteRowsV1:
		return Delete, 1, false
	case EventWriteRowsV2:
		return Insert, 2, false
	case EventUpdateRowsV2:
		return Update, 2, false
	case EventDeleteRowsV2:
		return Delete, 2, false
	case EventWriteRowsCompressedV1:
		return Insert, 1, true
	case EventUpdateRowsCompressedV1:
		return Update, 1, true
	case EventDeleteRowsCompressedV1:
		return Delete, 1, true
	case EventWriteRowsCompressed:
		return Insert, 2, true
	case EventUpdateRowsCompressed:
		return Update, 2, true
	default:
		return Delete, 2, true
	}
}

// maxColumns bounds the column count of a rows event (MySQL allows 4096).
const maxColumns = 1 << 16

func (d *Decoder) decodeRows(h Header, body []byte) (*RowsEvent, error) {
	kind, version, compressed := rowsShape(h.Type)
	e := &RowsEvent{Kind: kind, Version: version, Compressed: compressed}
	defPost := 8
	if version == 2 {
		defPost = 10
	}
	post := d.postHeaderLen(h.Type, defPost)
	c := cursor{b: body}
	if post == 6 {
		e.TableID = uint64(c.u32())
	} else {
		e.TableID = c.u48()
	}
	e.Flags = c.u16()
	if post == 10 {
		n := int(c.u16())
		if c.err == nil && n < 2 {
			return nil, fmt.Errorf("extra data length %d", n)
		}
		e.ExtraData = c.bytes(n - 2)
		e.Version = 2
	} else if post > 8 {
		c.skip(post - 8)
	}
	n, null := c.lenenc()
	if null || n > maxColumns {
		return nil, fmt.Errorf("column count %d", n)
	}
	e.Columns = bitmap(c.bytes(int(n+7)/8), int(n))
	if kind == Update {
		e.ColumnsAfter = bitmap(c.bytes(int(n+7)/8), int(n))
	}
	data := c.rest()
	if c.err != nil {
		return nil, c.err
	}
	if compressed {
		var err error
		if data, err = uncompressMaria(data); err != nil {
			return nil, fmt.Errorf("row data: %w", err)
		}
	}
	tm := d.tables[e.TableID]
	if e.Flags&RowsFlagStmtEnd != 0 {
		// Table ids are only valid within a statement: forget them so the
		// cache holds one statement's maps at most.
		clear(d.tables)
	}
	if len(data) == 0 {
		e.Table = tm
		return e, nil
	}
	if tm == nil {
		return nil, fmt.Errorf("rows for table id %d without a table map", e.TableID)
	}
	if int(n) != len(tm.Columns) {
		return nil, fmt.Errorf("%s.%s: rows event has %d columns, table map %d", tm.Schema, tm.Table, n, len(tm.Columns))
	}
	e.Table = tm
	for len(data) > 0 {
		var r Row
		var err error
		left := len(data)
		switch kind {
		case Insert:
			r.After, data, err = decodeImage(tm, e.Columns, data)
		case Delete:
			r.Before, data, err = decodeImage(tm, e.Columns, data)
		case Update:
			r.Before, data, err = decodeImage(tm, e.Columns, data)
			if err == nil {
				r.After, data, err = decodeImage(tm, e.ColumnsAfter, data)
			}
		}
		if err == nil && len(data) == left {
			// An image of no columns takes no bytes: the data would never end.
			err = fmt.Errorf("empty row image")
		}
		if err != nil {
			return nil, fmt.Errorf("%s.%s row %d: %w", tm.Schema, tm.Table, len(e.Rows)+1, err)
		}
		e.Rows = append(e.Rows, r)
	}
	return e, nil
}

func bitmap(b []byte, n int) []bool {
	if b == nil {
		return nil
	}
	out := make([]bool, n)
	for i := range out {
		out[i] = b[i/8]&(1<<(i%8)) != 0
	}
	return out
}

// decodeImage decodes one row image: a NULL bitmap over the present columns,
// then the values of the present non-NULL columns.
func decodeImage(tm *TableMap, present []bool, data []byte) ([]any, []byte, error) {
	count := 0
	for _, p := range present {
		if p {
			count++
		}
	}
	nb := (count + 7) / 8
	if len(data) < nb {
		return nil, nil, errTruncated
	}
	nulls, data := data[:nb], data[nb:]
	row := make([]any, len(tm.Columns))
	k := 0
	for i := range tm.Columns {
		if !present[i] {
			row[i] = Missing{}
			continue
		}
		isNull := nulls[k/8]&(1<<(k%8)) != 0
		k++
		if isNull {
			continue
		}
		v, n, err := decodeValue(&tm.Columns[i], data)
		if err != nil {
			name := tm.Columns[i].Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			return nil, nil, fmt.Errorf("column %s: %w", name, err)
		}
		row[i] = v
		data = data[n:]
	}
	return row, data, nil
}
