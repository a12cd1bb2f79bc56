package mysql

// Each captured table's structure at each point of the binary log. A row
// event carries column types and lengths, but names, signedness,
// character sets and ENUM/SET members only with binlog_row_metadata =
// FULL (MariaDB 10.5+, MySQL 8.0.1+). So:
//
//   - With FULL metadata every row event names its columns; the tracked
//     structure only adds what the log cannot say (tinyint(1) is a
//     boolean, MariaDB's JSON is a JSON column).
//   - Otherwise the stream tracks each table: from information_schema where
//     the stream starts, then from the DDL statements in the log (ALTER
//     TABLE ... ADD/DROP/MODIFY/CHANGE/RENAME COLUMN, CONVERT TO CHARACTER
//     SET, CREATE/DROP/RENAME/TRUNCATE TABLE; cdc_ddl.go), each applied at
//     its place in the log. Every row event is checked against the tracked
//     structure (column count and storage types): a mismatch stops the
//     stream instead of shifting values into the wrong columns.
//
// information_schema only knows the structure now. Where the stream starts
// (a new stream after its snapshot, or a checkpoint after a restart of the
// gateway) that is the structure at the start only if no DDL on the table
// lies between the start and now, so the log in between is read once to
// check. Within one gateway process the structures the stream saw are
// kept (history), so reading again from a checkpoint (after STOP, after a
// new column was added at the target) decodes every event with the
// structure it was written with.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/mysql/binlog"
	"github.com/flowgate/flowgate/connectors/schema"
)

// tableKey is a table by database and name, as the binary log names it.
type tableKey struct{ db, name string }

func (k tableKey) String() string { return quote(k.db) + "." + quote(k.name) }

// colDef is one column of a tracked structure.
type colDef struct {
	Name    string
	Type    schema.Type
	Charset string // character set of character, ENUM and SET columns; "" for others
}

// tableDef is a table's structure at one point of the log; never changed
// once made (a DDL statement makes a new one).
type tableDef struct {
	Cols    []colDef
	PK      []string
	Charset string // the table's default character set, for new columns
}

func (d *tableDef) col(name string) int {
	for i := range d.Cols {
		if strings.EqualFold(d.Cols[i].Name, name) {
			return i
		}
	}
	return -1
}

func (d *tableDef) clone() *tableDef {
	n := &tableDef{Cols: slices.Clone(d.Cols), PK: slices.Clone(d.PK), Charset: d.Charset}
	return n
}

// sameColumns reports whether two structures have the same columns
// (names, types, character sets) and key.
func sameColumns(a, b *tableDef) bool {
	if a == nil || b == nil || len(a.Cols) != len(b.Cols) || !slices.Equal(a.PK, b.PK) {
		return a == b
	}
	for i := range a.Cols {
		x, y := a.Cols[i], b.Cols[i]
		if x.Name != y.Name || x.Charset != y.Charset || x.Type.Kind != y.Type.Kind || x.Type.Native != y.Type.Native ||
			x.Type.Unsigned != y.Type.Unsigned || x.Type.Length != y.Type.Length || !slices.Equal(x.Type.Values, y.Type.Values) {
			return false
		}
	}
	return true
}

// describeDefs reads the tables' structures now (missing tables are
// absent from the result).
func (c *Conn) describeDefs(ctx context.Context, keys []tableKey) (map[tableKey]*tableDef, error) {
	byDB := map[string][]string{}
	for _, k := range keys {
		byDB[k.db] = append(byDB[k.db], k.name)
	}
	out := map[tableKey]*tableDef{}
	for db, names := range byDB {
		for _, name := range names {
			ts, err := c.DescribeTables(ctx, db, []string{name})
			if errors.Is(err, schema.ErrTableNotFound) {
				continue
			}
			if err != nil {
				return nil, sqlError(err)
			}
			d := &tableDef{PK: ts[0].PrimaryKey}
			charsets := map[string]string{}
			rows, err := c.db.QueryContext(ctx, `SELECT c.COLUMN_NAME, IFNULL(c.CHARACTER_SET_NAME, ''), IFNULL(l.CHARACTER_SET_NAME, '')
				FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
				LEFT JOIN information_schema.COLLATIONS l ON l.COLLATION_NAME = t.TABLE_COLLATION
				WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ?`, db, name)
			if err != nil {
				return nil, sqlError(fmt.Errorf("character sets of %s: %w", tableKey{db, name}, err))
			}
			for rows.Next() {
				var col, cs string
				if err := rows.Scan(&col, &cs, &d.Charset); err != nil {
					rows.Close()
					return nil, err
				}
				charsets[strings.ToLower(col)] = cs
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
			for _, col := range ts[0].Columns {
				cd := colDef{Name: col.Name, Type: col.Type, Charset: charsets[strings.ToLower(col.Name)]}
				if col.Type.Kind == schema.JSON && cd.Charset == "" {
					cd.Charset = "utf8mb4"
				}
				d.Cols = append(d.Cols, cd)
			}
			out[tableKey{db, name}] = d
		}
	}
	return out, nil
}

// charsetByCollation maps MySQL collation ids (TABLE_MAP charset
// metadata) to character sets, read from the server once per stream.
func (c *Conn) collations(ctx context.Context) (map[uint64]string, error) {
	rows, err := c.db.QueryContext(ctx, "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL")
	if err != nil {
		return nil, sqlError(fmt.Errorf("collations: %w", err))
	}
	defer rows.Close()
	out := map[uint64]string{}
	for rows.Next() {
		var id uint64
		var cs string
		if err := rows.Scan(&id, &cs); err != nil {
			return nil, err
		}
		out[id] = cs
	}
	return out, rows.Err()
}

// compatible reports whether a tracked column type can be the column a
// TABLE_MAP describes (same storage type).
func compatible(t schema.Type, col *binlog.Column, mariadb bool) bool {
	rt := col.RealType
	switch t.Kind {
	case schema.Bool:
		return rt == binlog.TypeTiny || rt == binlog.TypeBit
	case schema.Int8:
		return rt == binlog.TypeTiny
	case schema.Int16:
		return rt == binlog.TypeShort
	case schema.Int24:
		return rt == binlog.TypeInt24
	case schema.Int32:
		return rt == binlog.TypeLong
	case schema.Int64:
		return rt == binlog.TypeLonglong
	case schema.Decimal:
		return rt == binlog.TypeNewDecimal && (t.Precision == 0 || t.Precision == col.Precision && t.Scale == col.Scale)
	case schema.Float32:
		return rt == binlog.TypeFloat
	case schema.Float64:
		return rt == binlog.TypeDouble
	case schema.Char, schema.Binary, schema.UUID:
		return rt == binlog.TypeString
	case schema.Varchar, schema.Varbinary:
		return rt == binlog.TypeVarchar || rt == binlog.TypeVarString
	case schema.Text, schema.Blob:
		return isBlobType(rt)
	case schema.JSON:
		return rt == binlog.TypeJSON || isBlobType(rt)
	case schema.Date:
		return rt == binlog.TypeDate || rt == binlog.TypeNewDate
	case schema.Time:
		return rt == binlog.TypeTime || rt == binlog.TypeTime2
	case schema.Timestamp:
		return rt == binlog.TypeDatetime || rt == binlog.TypeDatetime2
	case schema.TimestampTZ:
		return rt == binlog.TypeTimestamp || rt == binlog.TypeTimestamp2
	case schema.Year:
		return rt == binlog.TypeYear
	case schema.Enum:
		return rt == binlog.TypeEnum
	case schema.Set:
		return rt == binlog.TypeSet
	case schema.Bit:
		return rt == binlog.TypeBit && (t.Length == 0 || t.Length == col.Bits)
	case schema.Geometry:
		return rt == binlog.TypeGeometry
	case schema.Other:
		switch strings.ToLower(t.Native) {
		case "inet4", "inet6":
			return rt == binlog.TypeString
		}
		return true
	}
	return false
}

func isBlobType(t byte) bool {
	switch t {
	case binlog.TypeBlob, binlog.TypeTinyBlob, binlog.TypeMediumBlob, binlog.TypeLongBlob:
		return true
	}
	return false
}

// mbMaxLen is the bytes per character of common character sets, to turn
// the byte lengths of a TABLE_MAP into character lengths.
func mbMaxLen(cs string) int {
	switch cs {
	case "utf8mb4", "utf16", "utf16le", "utf32":
		return 4
	case "utf8", "utf8mb3", "ujis", "eucjpms":
		return 3
	case "ucs2", "gbk", "gb2312", "big5", "cp932", "sjis", "euckr":
		return 2
	case "gb18030":
		return 4
	}
	return 1
}

// typeFromMap types a column from its TABLE_MAP alone (a column the
// tracked structure does not know, with FULL metadata).
func typeFromMap(col *binlog.Column, charset string) schema.Type {
	u := ""
	if col.Unsigned {
		u = " unsigned"
	}
	t := schema.Type{Unsigned: col.Unsigned}
	text := charset != "binary"
	switch col.RealType {
	case binlog.TypeTiny:
		t.Kind, t.Native = schema.Int8, "tinyint"+u
	case binlog.TypeShort:
		t.Kind, t.Native = schema.Int16, "smallint"+u
	case binlog.TypeInt24:
		t.Kind, t.Native = schema.Int24, "mediumint"+u
	case binlog.TypeLong:
		t.Kind, t.Native = schema.Int32, "int"+u
	case binlog.TypeLonglong:
		t.Kind, t.Native = schema.Int64, "bigint"+u
	case binlog.TypeNewDecimal:
		t.Kind, t.Precision, t.Scale = schema.Decimal, col.Precision, col.Scale
		t.Native = fmt.Sprintf("decimal(%d,%d)%s", col.Precision, col.Scale, u)
	case binlog.TypeFloat:
		t.Kind, t.Native = schema.Float32, "float"
	case binlog.TypeDouble:
		t.Kind, t.Native = schema.Float64, "double"
	case binlog.TypeYear:
		t.Kind, t.Native = schema.Year, "year"
	case binlog.TypeDate, binlog.TypeNewDate:
		t.Kind, t.Native = schema.Date, "date"
	case binlog.TypeTime, binlog.TypeTime2:
		t.Kind, t.Precision, t.Native = schema.Time, col.FSP, withFsp("time", col.FSP)
	case binlog.TypeDatetime, binlog.TypeDatetime2:
		t.Kind, t.Precision, t.Native = schema.Timestamp, col.FSP, withFsp("datetime", col.FSP)
	case binlog.TypeTimestamp, binlog.TypeTimestamp2:
		t.Kind, t.Precision, t.Native = schema.TimestampTZ, col.FSP, withFsp("timestamp", col.FSP)
	case binlog.TypeVarchar, binlog.TypeVarString:
		if text {
			t.Kind, t.Length = schema.Varchar, col.MaxLength/mbMaxLen(charset)
			t.Native = fmt.Sprintf("varchar(%d)", t.Length)
		} else {
			t.Kind, t.Length, t.Native = schema.Varbinary, col.MaxLength, fmt.Sprintf("varbinary(%d)", col.MaxLength)
		}
	case binlog.TypeString:
		if text {
			t.Kind, t.Length = schema.Char, col.MaxLength/mbMaxLen(charset)
			t.Native = fmt.Sprintf("char(%d)", t.Length)
		} else {
			t.Kind, t.Length, t.Native = schema.Binary, col.MaxLength, fmt.Sprintf("binary(%d)", col.MaxLength)
		}
	case binlog.TypeEnum:
		t.Kind, t.Values, t.Native = schema.Enum, col.EnumValues, "enum"
	case binlog.TypeSet:
		t.Kind, t.Values, t.Native = schema.Set, col.SetValues, "set"
	case binlog.TypeBit:
		t.Kind, t.Length, t.Native = schema.Bit, col.Bits, fmt.Sprintf("bit(%d)", col.Bits)
		if col.Bits == 1 {
			t.Kind, t.Length = schema.Bool, 0
		}
	case binlog.TypeBlob, binlog.TypeTinyBlob, binlog.TypeMediumBlob, binlog.TypeLongBlob:
		sizes := [...]int{0, tinySize, textSize, mediumSize, longSize}
		names := [...]string{"", "tiny", "", "medium", "long"}
		n := min(max(col.LengthBytes, 1), 4)
		t.Length = sizes[n]
		if text {
			t.Kind, t.Native = schema.Text, names[n]+"text"
		} else {
			t.Kind, t.Native = schema.Blob, names[n]+"blob"
		}
	case binlog.TypeJSON:
		t.Kind, t.Native = schema.JSON, "json"
	case binlog.TypeGeometry:
		t.Kind, t.Native = schema.Geometry, "geometry"
	default:
		t.Kind, t.Native = schema.Other, fmt.Sprintf("binlog type %d", col.RealType)
	}
	return t
}

// history is what the streams of one job in this process saw: each
// table's structure from a position on, valid from start up to readTo.
type history struct {
	mu      sync.Mutex
	start   binlogPos
	readTo  binlogPos
	entries map[tableKey][]histEntry
}

type histEntry struct {
	from    binlogPos // the structure holds for transactions starting here or later
	def     *tableDef // nil: the table does not exist
	unknown bool      // not known (DDL statements the stream did not follow)
}

// histories by job and server address.
var histories sync.Map

func (s *stream) historyKey() string { return s.spec.Job + "\x00" + s.c.cfg.Addr }

// at returns the structures at p when the history covers p and every
// table in keys.
func (h *history) at(p binlogPos, keys []tableKey) (map[tableKey]*tableDef, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if comparePos(p, h.start) < 0 || comparePos(p, h.readTo) > 0 {
		return nil, false
	}
	out := map[tableKey]*tableDef{}
	for _, k := range keys {
		es, ok := h.entries[k]
		if !ok {
			return nil, false
		}
		var cur *histEntry
		for i := range es {
			if comparePos(es[i].from, p) <= 0 {
				cur = &es[i]
			}
		}
		if cur == nil || cur.unknown {
			return nil, false
		}
		out[k] = cur.def
	}
	return out, true
}

// others returns the structures at p of the tables not captured (the
// stream's shadows) that the history knows.
func (h *history) others(p binlogPos, captured map[tableKey]*tableState) map[tableKey]*tableDef {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[tableKey]*tableDef{}
	for k, es := range h.entries {
		if captured[k] != nil {
			continue
		}
		var cur *histEntry
		for i := range es {
			if comparePos(es[i].from, p) <= 0 {
				cur = &es[i]
			}
		}
		if cur != nil && !cur.unknown && cur.def != nil {
			out[k] = cur.def
		}
	}
	return out
}

// record notes a table's new structure from position from on.
func (h *history) record(k tableKey, from binlogPos, def *tableDef) {
	h.mu.Lock()
	defer h.mu.Unlock()
	es := h.entries[k]
	// Reading again from an earlier checkpoint sees the same statements:
	// drop what lies at or after from before recording.
	for len(es) > 1 && comparePos(es[len(es)-1].from, from) >= 0 {
		es = es[:len(es)-1]
	}
	h.entries[k] = append(es, histEntry{from: from, def: def})
}

func (h *history) advance(p binlogPos) {
	h.mu.Lock()
	if comparePos(p, h.readTo) > 0 {
		h.readTo = p
	}
	h.mu.Unlock()
}

// scanResult is what the log between two positions holds for one table.
type scanResult struct {
	lastDDL binlogPos // end of the last statement that changed its structure
	// rowsBefore is set when row events without column names precede
	// lastDDL.
	rowsBefore bool
}

// scanDDL reads the log from from to to and reports, per captured table,
// the statements that change its structure.
func (s *stream) scanDDL(ctx context.Context, from, to binlogPos) (map[tableKey]*scanResult, error) {
	out := map[tableKey]*scanResult{}
	if comparePos(from, to) >= 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	bc, err := s.c.dial(ctx, s.spec.ServerID)
	if err != nil {
		return nil, err
	}
	defer bc.Close()
	if err := bc.StartFromPosition(ctx, from.File, from.Pos); err != nil {
		return nil, sqlError(err)
	}
	rowsSeen := map[tableKey]bool{}
	for {
		ev, err := bc.NextEvent(ctx)
		if err != nil {
			if isPurged(err) {
				return nil, positionLost(s.spec, fmt.Sprintf("the binlog at %s is no longer on the server (purged)", from))
			}
			return nil, sqlError(fmt.Errorf("read the binlog from %s to %s: %w", from, to, err))
		}
		switch d := ev.Data.(type) {
		case *binlog.QueryEvent:
			var keys []tableKey
			for _, k := range ddlTables(d.Query, d.Schema) {
				if k.name == "" { // every table of a database
					for _, c := range s.order {
						if c.db == k.db {
							keys = append(keys, c)
						}
					}
				} else if _, ok := s.tables[k]; ok {
					keys = append(keys, k)
				}
			}
			for _, k := range keys {
				r := out[k]
				if r == nil {
					r = &scanResult{}
					out[k] = r
				}
				r.lastDDL = binlogPos(ev.Next)
				r.rowsBefore = r.rowsBefore || rowsSeen[k]
			}
		case *binlog.RowsEvent:
			if d.Table != nil && !d.Table.HasColumnNames {
				rowsSeen[tableKey{d.Table.Schema, d.Table.Table}] = true
			}
		case *binlog.HeartbeatEvent:
			if comparePos(binlogPos{d.File, uint32(d.Position)}, to) >= 0 {
				return out, nil
			}
		}
		if ev.Header.LogPos != 0 && comparePos(binlogPos(ev.Next), to) >= 0 {
			return out, nil
		}
	}
}

// resolveDefs finds every table's structure at the stream's start: from
// the history of an earlier stream of the job in this process, or from
// information_schema when no DDL statement on the table lies between the
// start and now (the log in between is read to know).
func (s *stream) resolveDefs(ctx context.Context) error {
	keys := s.keys()
	if v, ok := histories.Load(s.historyKey()); ok {
		if defs, ok := v.(*history).at(s.start.binlogPos, keys); ok {
			s.history = v.(*history)
			for k, t := range s.tables {
				t.def = defs[k]
			}
			s.shadows = s.history.others(s.start.binlogPos, s.tables)
			return nil
		}
	}
	defs, err := s.c.describeDefs(ctx, keys)
	if err != nil {
		return err
	}
	now, err := s.masterPos(ctx)
	if err != nil {
		return err
	}
	changed, err := s.scanDDL(ctx, s.start.binlogPos, now)
	if err != nil {
		return err
	}
	var problems []error
	for k, t := range s.tables {
		t.def = defs[k]
		r := changed[k]
		if r == nil {
			continue
		}
		if r.rowsBefore {
			problems = append(problems, cdcError(fmt.Sprintf("the structure of table %s changed at %s, after the stream's start %s, and row events before the change have no column names (binlog_row_metadata is not FULL): they cannot be decoded with the structure they were written with",
				k, r.lastDDL, s.start.binlogPos),
				fmt.Sprintf("RESTART SYNC JOB %s FROM SNAPSHOT copies the tables again. SET GLOBAL binlog_row_metadata = 'FULL' (and binlog_row_metadata = FULL in my.cnf) makes every row event name its columns.", s.spec.Job)))
			continue
		}
		// information_schema already shows what these statements did, and
		// no row event of the table comes before them.
		t.skipDDLUntil = r.lastDDL
	}
	if err := joinProblems(problems); err != nil {
		return err
	}
	h := &history{start: s.start.binlogPos, readTo: s.start.binlogPos, entries: map[tableKey][]histEntry{}}
	for k, t := range s.tables {
		if t.skipDDLUntil.isZero() {
			h.entries[k] = []histEntry{{from: s.start.binlogPos, def: t.def}}
		} else {
			h.entries[k] = []histEntry{{from: s.start.binlogPos, unknown: true}, {from: t.skipDDLUntil, def: t.def}}
		}
	}
	histories.Store(s.historyKey(), h)
	s.history = h
	return nil
}

// tableState is one captured table in a stream.
type tableState struct {
	ref  cdc.TableRef
	key  tableKey
	def  *tableDef // nil: the table does not exist at this point
	defV int       // bumped when def changes
	// uncertain is set when def was read from information_schema after a
	// statement the stream could not follow, while later statements may
	// have changed the table again: every row event is checked against it.
	uncertain bool
	// skipDDLUntil: statements on the table ending at or before this
	// position are already in def.
	skipDDLUntil binlogPos
	// skipBefore: transactions starting before this position are in the
	// table's snapshot.
	skipBefore binlogPos

	emitted *cdc.TableSchema // last schema event sent
	lastTM  *binlog.TableMap
	lastLay *layout
	lays    map[string]*layout // by TABLE_MAP signature, for defV
	laysV   int
}

// layout is how to read a table's row events of one TABLE_MAP shape.
type layout struct {
	schema *cdc.TableSchema
	conv   []convFunc
	keys   []int
}

// mapSignature identifies what a TABLE_MAP says about the columns.
func mapSignature(tm *binlog.TableMap) string {
	var b strings.Builder
	for i := range tm.Columns {
		c := &tm.Columns[i]
		b.WriteByte(c.Type)
		b.WriteByte(c.RealType)
		b.WriteString(strconv.Itoa(int(c.Meta)))
		if tm.HasColumnNames {
			b.WriteString(c.Name)
		}
		if tm.HasSignedness && c.Unsigned {
			b.WriteByte('u')
		}
		if tm.HasCharsets {
			b.WriteString(strconv.FormatUint(c.Collation, 10))
		}
		b.WriteByte(0)
	}
	for _, k := range tm.PrimaryKey {
		b.WriteString(strconv.Itoa(k))
		b.WriteByte(',')
	}
	return b.String()
}

// layoutFor returns the layout of a row event's TABLE_MAP (tm nil: the
// tracked structure alone, for a TRUNCATE).
func (s *stream) layoutFor(t *tableState, tm *binlog.TableMap) (*layout, error) {
	if tm != nil && tm == t.lastTM && t.laysV == t.defV {
		return t.lastLay, nil
	}
	if t.laysV != t.defV || t.lays == nil {
		t.lays, t.laysV = map[string]*layout{}, t.defV
	}
	sig := "\x00def"
	if tm != nil {
		sig = mapSignature(tm)
	}
	l := t.lays[sig]
	if l == nil {
		var err error
		if l, err = s.buildLayout(t, tm); err != nil {
			return nil, err
		}
		t.lays[sig] = l
	}
	if tm != nil {
		t.lastTM, t.lastLay = tm, l
	}
	return l, nil
}

func (s *stream) buildLayout(t *tableState, tm *binlog.TableMap) (*layout, error) {
	def := t.def
	var cols []colDef
	var bcols []*binlog.Column
	switch {
	case tm != nil && tm.HasColumnNames:
		for i := range tm.Columns {
			bc := &tm.Columns[i]
			cd := colDef{Name: bc.Name}
			j := -1
			if def != nil {
				j = def.col(bc.Name)
			}
			charset := ""
			if tm.HasCharsets && bc.Collation != 0 {
				charset = s.charsetOf(bc.Collation)
			}
			if j >= 0 && compatible(def.Cols[j].Type, bc, s.facts.mariadb) {
				cd = def.Cols[j]
				cd.Name = bc.Name
				if tm.HasSignedness {
					cd.Type.Unsigned = bc.Unsigned
				}
				if charset != "" && cd.Charset != "" {
					cd.Charset = charset
				}
				if len(bc.EnumValues) > 0 {
					cd.Type.Values = bc.EnumValues
				}
				if len(bc.SetValues) > 0 {
					cd.Type.Values = bc.SetValues
				}
			} else {
				if charset == "" && def != nil {
					charset = def.Charset
				}
				cd.Type = typeFromMap(bc, charset)
				if isCharType(cd.Type.Kind) {
					cd.Charset = charset
				}
			}
			cols, bcols = append(cols, cd), append(bcols, bc)
		}
	case def == nil:
		return nil, cdcError(fmt.Sprintf("row event for table %s, which does not exist at this point of the binlog as flowgate followed it", t.key),
			fmt.Sprintf("RESTART SYNC JOB %s FROM SNAPSHOT copies the tables again; binlog_row_metadata = FULL lets every row event name its columns.", s.spec.Job))
	case tm == nil:
		cols = def.Cols
		bcols = make([]*binlog.Column, len(cols))
	default:
		ok := len(tm.Columns) == len(def.Cols)
		for i := 0; ok && i < len(def.Cols); i++ {
			ok = compatible(def.Cols[i].Type, &tm.Columns[i], s.facts.mariadb)
		}
		if !ok {
			return nil, cdcError(fmt.Sprintf("a row event of table %s has %d columns (%s), but flowgate's structure of the table at this point of the binlog has %d (%s): a DDL statement it could not follow changed the table",
				t.key, len(tm.Columns), mapTypes(tm), len(def.Cols), defTypes(def)),
				fmt.Sprintf("SET GLOBAL binlog_row_metadata = 'FULL' (and in my.cnf) so row events name their columns, then RESTART SYNC JOB %s FROM SNAPSHOT.", s.spec.Job))
		}
		cols = def.Cols
		for i := range tm.Columns {
			bcols = append(bcols, &tm.Columns[i])
		}
	}
	l := &layout{schema: &cdc.TableSchema{Table: t.ref, Columns: make([]cdc.Column, len(cols))}, conv: make([]convFunc, len(cols))}
	var pk []string
	if tm != nil && tm.HasColumnNames && len(tm.PrimaryKey) > 0 {
		for _, i := range tm.PrimaryKey {
			pk = append(pk, cols[i].Name)
		}
	} else if def != nil {
		pk = def.PK
	}
	for i, cd := range cols {
		key := slices.ContainsFunc(pk, func(k string) bool { return strings.EqualFold(k, cd.Name) })
		l.schema.Columns[i] = cdc.Column{Name: cd.Name, Type: cd.Type, Key: key}
		if key {
			l.keys = append(l.keys, i)
		}
		conv, err := s.converter(cd, bcols[i])
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", t.key, cd.Name, err)
		}
		l.conv[i] = conv
	}
	if len(l.keys) == 0 {
		return nil, noKey(t.key)
	}
	return l, nil
}

func isCharType(k schema.Kind) bool {
	switch k {
	case schema.Char, schema.Varchar, schema.Text, schema.Enum, schema.Set, schema.JSON:
		return true
	}
	return false
}

func mapTypes(tm *binlog.TableMap) string {
	var parts []string
	for _, c := range tm.Columns {
		parts = append(parts, typeFromMap(&c, "").Native)
	}
	return strings.Join(parts, ", ")
}

func defTypes(d *tableDef) string {
	var parts []string
	for _, c := range d.Cols {
		parts = append(parts, c.Name+" "+c.Type.Native)
	}
	return strings.Join(parts, ", ")
}

// sameSchema reports whether two schema events carry the same columns.
func sameSchema(a, b *cdc.TableSchema) bool {
	if a == nil || b == nil || len(a.Columns) != len(b.Columns) {
		return false
	}
	for i := range a.Columns {
		x, y := a.Columns[i], b.Columns[i]
		if x.Name != y.Name || x.Key != y.Key || x.Type.Kind != y.Type.Kind || x.Type.Native != y.Type.Native ||
			x.Type.Unsigned != y.Type.Unsigned || !slices.Equal(x.Type.Values, y.Type.Values) {
			return false
		}
	}
	return true
}

// describeNow reads one table's structure from information_schema, for a
// statement the stream could not follow.
func (s *stream) describeNow(ctx context.Context, k tableKey) (*tableDef, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	defs, err := s.c.describeDefs(ctx, []tableKey{k})
	if err != nil {
		return nil, err
	}
	return defs[k], nil
}

// masterPos is the server's current binlog position.
func (s *stream) masterPos(ctx context.Context) (binlogPos, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	conn, err := s.c.db.Conn(ctx)
	if err != nil {
		return binlogPos{}, err
	}
	defer conn.Close()
	p, err := masterStatus(ctx, conn, s.facts.mariadb)
	return p.binlogPos, err
}
