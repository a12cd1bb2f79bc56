package binlog

import (
	"fmt"
)

// Column types as they appear in TABLE_MAP events (MYSQL_TYPE_*).
const (
	TypeDecimal           byte = 0
	TypeTiny              byte = 1
	TypeShort             byte = 2
	TypeLong              byte = 3
	TypeFloat             byte = 4
	TypeDouble            byte = 5
	TypeNull              byte = 6
	TypeTimestamp         byte = 7
	TypeLonglong          byte = 8
	TypeInt24             byte = 9
	TypeDate              byte = 10
	TypeTime              byte = 11
	TypeDatetime          byte = 12
	TypeYear              byte = 13
	TypeNewDate           byte = 14
	TypeVarchar           byte = 15
	TypeBit               byte = 16
	TypeTimestamp2        byte = 17
	TypeDatetime2         byte = 18
	TypeTime2             byte = 19
	TypeBlobCompressed    byte = 140 // MariaDB column compression
	TypeVarcharCompressed byte = 141 // MariaDB column compression
	TypeVector            byte = 242 // MySQL 9
	TypeJSON              byte = 245 // MySQL binary JSON; MariaDB JSON is a LONGTEXT (TypeBlob)
	TypeNewDecimal        byte = 246
	TypeEnum              byte = 247
	TypeSet               byte = 248
	TypeTinyBlob          byte = 249
	TypeMediumBlob        byte = 250
	TypeLongBlob          byte = 251
	TypeBlob              byte = 252
	TypeVarString         byte = 253
	TypeString            byte = 254
	TypeGeometry          byte = 255
)

// TableMap describes a table for the row events that follow it: TABLE_MAP.
type TableMap struct {
	TableID uint64
	Flags   uint16
	Schema  string
	Table   string
	Columns []Column

	// What optional metadata (binlog_row_metadata MINIMAL or FULL) held.
	HasSignedness  bool
	HasCharsets    bool
	HasColumnNames bool
	// PrimaryKey lists column indexes of the primary key (FULL metadata);
	// PrimaryKeyPrefix is parallel, the prefix length in characters or 0
	// for the whole column.
	PrimaryKey       []int
	PrimaryKeyPrefix []int
}

// Column is one column of a TableMap.
type Column struct {
	Type     byte // as logged; ENUM and SET are logged as TypeString
	RealType byte // Type with ENUM/SET resolved from the metadata
	Meta     uint16
	Nullable bool

	// From the per-type metadata.
	Precision   int // NEWDECIMAL
	Scale       int // NEWDECIMAL
	FSP         int // TIME2, DATETIME2, TIMESTAMP2: fractional digits
	MaxLength   int // STRING, VARCHAR: bytes
	LengthBytes int // BLOB family, JSON, GEOMETRY: size of the length prefix; ENUM, SET: value size
	Bits        int // BIT

	// From the optional metadata, when the server logged it.
	Name         string
	Unsigned     bool
	Collation    uint64 // character, ENUM and SET columns; 0 when unknown
	EnumValues   []string
	SetValues    []string
	GeometryType uint64
	Invisible    bool
}

func isNumeric(t byte) bool {
	switch t {
	case TypeTiny, TypeShort, TypeInt24, TypeLong, TypeLonglong, TypeNewDecimal, TypeFloat, TypeDouble:
		return true
	}
	return false
}

// isCharacter says which columns the charset metadata covers; MariaDB counts
// GEOMETRY among them, MySQL does not but counts VECTOR.
func isCharacter(t byte, flavor Flavor) bool {
	switch t {
	case TypeString, TypeVarString, TypeVarchar, TypeBlob:
		return true
	case TypeGeometry:
		return flavor == FlavorMariaDB
	case TypeVector:
		return flavor == FlavorMySQL
	}
	return false
}

// metaLen is the size of a column type's entry in the TABLE_MAP metadata.
func metaLen(t byte) int {
	switch t {
	case TypeString, TypeVarString, TypeVarchar, TypeNewDecimal, TypeBit, TypeEnum, TypeSet, TypeVarcharCompressed:
		return 2
	case TypeFloat, TypeDouble, TypeBlob, TypeTinyBlob, TypeMediumBlob, TypeLongBlob, TypeGeometry,
		TypeJSON, TypeTimestamp2, TypeDatetime2, TypeTime2, TypeBlobCompressed, TypeVector:
		return 1
	}
	return 0
}

// setMeta interprets the metadata bytes m of column col.
func (col *Column) setMeta(m []byte) error {
	col.RealType = col.Type
	switch col.Type {
	case TypeString:
		// byte 0 is the real type, byte 1 the length; lengths over 255 keep
		// their bits 8-9, inverted, in bits 4-5 of byte 0.
		b0, b1 := m[0], m[1]
		col.Meta = uint16(b0)<<8 | uint16(b1)
		if b0&0x30 != 0x30 {
			col.RealType = b0 | 0x30
			col.MaxLength = int(b1) | int((b0&0x30)^0x30)<<4
		} else {
			col.RealType = b0
			col.MaxLength = int(b1)
		}
		switch col.RealType {
		case TypeEnum, TypeSet:
			col.LengthBytes = int(b1)
			col.MaxLength = 0
		case TypeString:
		default:
			return fmt.Errorf("STRING column with real type %d", col.RealType)
		}
	case TypeVarchar, TypeVarString, TypeVarcharCompressed:
		col.Meta = uint16(m[0]) | uint16(m[1])<<8
		col.MaxLength = int(col.Meta)
	case TypeNewDecimal:
		col.Meta = uint16(m[0])<<8 | uint16(m[1])
		col.Precision, col.Scale = int(m[0]), int(m[1])
	case TypeBit:
		col.Meta = uint16(m[0]) | uint16(m[1])<<8
		col.Bits = int(m[1])*8 + int(m[0])
	case TypeEnum, TypeSet:
		col.Meta = uint16(m[0])<<8 | uint16(m[1])
		col.LengthBytes = int(m[1])
	case TypeFloat, TypeDouble:
		col.Meta = uint16(m[0])
	case TypeBlob, TypeTinyBlob, TypeMediumBlob, TypeLongBlob, TypeGeometry, TypeJSON, TypeBlobCompressed, TypeVector:
		col.Meta = uint16(m[0])
		col.LengthBytes = int(m[0])
	case TypeTimestamp2, TypeDatetime2, TypeTime2:
		col.Meta = uint16(m[0])
		col.FSP = int(m[0])
		if col.FSP > 6 {
			return fmt.Errorf("fractional precision %d", col.FSP)
		}
	}
	return nil
}

// Optional metadata field types (binlog_row_metadata).
const (
	optSignedness        = 1
	optDefaultCharset    = 2
	optColumnCharset     = 3
	optColumnName        = 4
	optSetValues         = 5
	optEnumValues        = 6
	optGeometryType      = 7
	optSimplePrimaryKey  = 8
	optPrimaryKeyPrefix  = 9
	optEnumSetDefCharset = 10
	optEnumSetColCharset = 11
	optColumnVisibility  = 12
)

func (d *Decoder) decodeTableMap(body []byte) (*TableMap, error) {
	c := cursor{b: body}
	tm := &TableMap{}
	if d.postHeaderLen(EventTableMap, 8) == 6 {
		tm.TableID = uint64(c.u32())
	} else {
		tm.TableID = c.u48()
	}
	tm.Flags = c.u16()
	tm.Schema = string(c.bytes(int(c.u8())))
	c.skip(1)
	tm.Table = string(c.bytes(int(c.u8())))
	c.skip(1)
	n := c.count()
	types := c.bytes(n)
	meta := c.lenencBytes()
	nulls := c.bytes((n + 7) / 8)
	opt := c.rest()
	if c.err != nil {
		return nil, fmt.Errorf("table map: %w", c.err)
	}
	tm.Columns = make([]Column, n)
	mc := cursor{b: meta}
	for i := range tm.Columns {
		col := &tm.Columns[i]
		col.Type = types[i]
		col.Nullable = nulls[i/8]&(1<<(i%8)) != 0
		m := mc.bytes(metaLen(col.Type))
		if mc.err != nil {
			return nil, fmt.Errorf("table map %s.%s: metadata of column %d: %w", tm.Schema, tm.Table, i, mc.err)
		}
		if err := col.setMeta(m); err != nil {
			return nil, fmt.Errorf("table map %s.%s: column %d: %w", tm.Schema, tm.Table, i, err)
		}
	}
	if err := tm.applyOptional(opt, d.flavor); err != nil {
		return nil, fmt.Errorf("table map %s.%s: optional metadata: %w", tm.Schema, tm.Table, err)
	}
	return tm, nil
}

// applyOptional reads the optional metadata TLVs (type byte, packed length,
// value) and sets the column fields they describe. Unknown types are skipped.
func (tm *TableMap) applyOptional(opt []byte, flavor Flavor) error {
	c := cursor{b: opt}
	for len(c.b) > 0 {
		typ := c.u8()
		v := c.lenencBytes()
		if c.err != nil {
			return c.err
		}
		vc := cursor{b: v}
		switch typ {
		case optSignedness:
			tm.HasSignedness = true
			k := 0
			for i := range tm.Columns {
				if !isNumeric(tm.Columns[i].RealType) {
					continue
				}
				if k/8 < len(v) {
					tm.Columns[i].Unsigned = v[k/8]&(0x80>>(k%8)) != 0
				}
				k++
			}
		case optDefaultCharset, optEnumSetDefCharset:
			enumSet := typ == optEnumSetDefCharset
			def, _ := vc.lenenc()
			cols := tm.charsetColumns(enumSet, flavor)
			for _, i := range cols {
				tm.Columns[i].Collation = def
			}
			for len(vc.b) > 0 && vc.err == nil {
				idx, _ := vc.lenenc()
				coll, _ := vc.lenenc()
				if idx < uint64(len(cols)) {
					tm.Columns[cols[idx]].Collation = coll
				}
			}
			tm.HasCharsets = true
		case optColumnCharset, optEnumSetColCharset:
			for _, i := range tm.charsetColumns(typ == optEnumSetColCharset, flavor) {
				if len(vc.b) == 0 {
					break
				}
				tm.Columns[i].Collation, _ = vc.lenenc()
			}
			tm.HasCharsets = true
		case optColumnName:
			for i := range tm.Columns {
				if len(vc.b) == 0 {
					break
				}
				tm.Columns[i].Name = string(vc.lenencBytes())
			}
			tm.HasColumnNames = true
		case optSetValues, optEnumValues:
			want := TypeSet
			if typ == optEnumValues {
				want = TypeEnum
			}
			for i := range tm.Columns {
				if tm.Columns[i].RealType != want || len(vc.b) == 0 {
					continue
				}
				vals := make([]string, vc.count())
				for j := range vals {
					vals[j] = string(vc.lenencBytes())
				}
				if want == TypeSet {
					tm.Columns[i].SetValues = vals
				} else {
					tm.Columns[i].EnumValues = vals
				}
			}
		case optGeometryType:
			for i := range tm.Columns {
				if tm.Columns[i].RealType == TypeGeometry && len(vc.b) > 0 {
					tm.Columns[i].GeometryType, _ = vc.lenenc()
				}
			}
		case optSimplePrimaryKey, optPrimaryKeyPrefix:
			for len(vc.b) > 0 && vc.err == nil {
				idx, _ := vc.lenenc()
				prefix := uint64(0)
				if typ == optPrimaryKeyPrefix {
					prefix, _ = vc.lenenc()
				}
				if idx >= uint64(len(tm.Columns)) {
					return fmt.Errorf("primary key column %d of %d", idx, len(tm.Columns))
				}
				tm.PrimaryKey = append(tm.PrimaryKey, int(idx))
				tm.PrimaryKeyPrefix = append(tm.PrimaryKeyPrefix, int(prefix))
			}
		case optColumnVisibility:
			for i := range tm.Columns {
				if i/8 < len(v) {
					tm.Columns[i].Invisible = v[i/8]&(0x80>>(i%8)) == 0
				}
			}
		}
		if vc.err != nil {
			return fmt.Errorf("field %d: %w", typ, vc.err)
		}
	}
	return nil
}

// charsetColumns lists the columns a charset field covers, in order: the
// character columns, or the ENUM and SET columns.
func (tm *TableMap) charsetColumns(enumSet bool, flavor Flavor) []int {
	var cols []int
	for i := range tm.Columns {
		t := tm.Columns[i].RealType
		if enumSet && (t == TypeEnum || t == TypeSet) || !enumSet && isCharacter(t, flavor) {
			cols = append(cols, i)
		}
	}
	return cols
}

// ColumnIndex returns the index of the column named name (known only with
// binlog_row_metadata=FULL), or -1.
func (tm *TableMap) ColumnIndex(name string) int {
	for i := range tm.Columns {
		if tm.Columns[i].Name == name {
			return i
		}
	}
	return -1
}
