package kafka

// The two message formats, exactly as their producers write them:
//
//   - canal: Alibaba Canal's flat message, {"data":[{...}],"database":"d",
//     "table":"t","pkNames":["id"],"isDdl":false,"type":"INSERT",
//     "es":ms,"ts":ms,"sql":"","sqlType":{...},"mysqlType":{...},
//     "old":[{...}]}. Values are JSON strings or null; UPDATE's old[i]
//     holds the before-values of the columns of data[i] that changed.
//   - cloudcanal: BladePipe / CloudCanal JSON, {"action":"UPDATE",
//     "before":[...],"data":[...],"db":"d","schema":"d","table":"t",
//     "pks":[...],"isDdl":false (older producers: "ddl"),
//     "entryType":"ROWDATA","dbValType":{...},"jdbcType":{...},
//     "execTs":ms,"sendTs":ms,"sql":""}. UPDATE carries full before and
//     after images; DELETE its row in data or in before.
//
// Values become flowgate CSV text (see package data): ENUM indexes and
// SET bitmasks become member names, binary strings (code points = bytes,
// ISO-8859-1) become \x hex, zero dates follow zero_time. What the
// cloudcanal docs leave open is read the way canal writes it, see
// docs/mq.md.

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// Message formats.
const (
	FormatCanal      = "canal"
	FormatCloudCanal = "cloudcanal"
)

// decoder turns one message into the changes it carries; several
// goroutines may use one at once.
type decoder struct {
	format   string
	zeroNull bool   // zero_time = 'null' (else 'error')
	ddl      string // ignore | fail | apply
	layouts  *layoutCache
}

func newDecoder(format string, zeroNull bool, ddl string) decoder {
	if format == "" {
		format = FormatCanal
	}
	if ddl == "" {
		ddl = "ignore"
	}
	return decoder{format: format, zeroNull: zeroNull, ddl: ddl, layouts: &layoutCache{m: map[string]*layout{}}}
}

// message is a decoded message.
type message struct {
	table   cdc.TableRef // Name only: a message's database does not select a target schema
	columns []cdc.Column // sorted by name; the rows follow this order
	sig     string       // the columns' signature (see signature)
	changes []cdc.Change
	// ddl is the DDL type of a DDL message that ddl = 'fail' refuses.
	ddl string
}

// ddlError is a DDL message under ddl = 'fail'.
type ddlError struct{ kind, table, sql string }

func (e *ddlError) Error() string {
	s := fmt.Sprintf("a %s DDL message", e.kind)
	if e.table != "" {
		s += " for table " + e.table
	}
	if e.sql != "" {
		s += fmt.Sprintf(" (%s)", excerpt([]byte(e.sql), 200))
	}
	return s + " and ddl = 'fail'"
}

// DDL types of canal's "type" (and cloudcanal's "action").
var ddlTypes = map[string]bool{"CREATE": true, "ALTER": true, "ERASE": true, "DROP": true, "TRUNCATE": true, "RENAME": true,
	"CINDEX": true, "DINDEX": true, "QUERY": true}

var rowOps = map[string]cdc.Op{"INSERT": cdc.Insert, "UPDATE": cdc.Update, "DELETE": cdc.Delete}

func (d *decoder) decode(raw []byte) (*message, error) {
	if d.format == FormatCloudCanal {
		return d.cloudCanal(raw)
	}
	return d.canal(raw)
}

// formatErr is the error of a message that readMessage refused.
func formatErr(format string, err error) error {
	var se *syntaxError
	if errors.As(err, &se) {
		return errors.New("not JSON")
	}
	return fmt.Errorf("not a %s: %v", format, err)
}

// fieldName is the field of names that key is: the same, else the same
// but for case (as encoding/json matches), else "".
func fieldName(key []byte, names []string) string {
	for _, n := range names {
		if string(key) == n {
			return n
		}
	}
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return n
		}
	}
	return ""
}

// The fields of the formats, those read or type-checked first; the others
// are listed so that they are found without the case-blind search.
var (
	canalFields      = []string{"data", "type", "table", "old", "mysqlType", "pkNames", "isDdl", "sql", "database", "es", "ts", "id", "sqlType", "gtid"}
	cloudCanalFields = []string{"data", "action", "table", "before", "dbValType", "jdbcType", "pks", "isDdl", "ddl", "entryType", "sql", "db", "schema",
		"execTs", "sendTs", "bid"}
)

type canalMsg struct {
	data, old         []row
	table, typ, sql   []byte
	hasTable, hasType bool
	isDdl             bool
	pkNames           [][]byte
	mysqlType         []typeEntry
}

func (d *decoder) canal(raw []byte) (*message, error) {
	var m canalMsg
	r := newReader(raw)
	defer r.release()
	err := r.readMessage(func(key []byte) error {
		var err error
		switch fieldName(key, canalFields) {
		case "data":
			m.data, err = r.rows("data")
		case "old":
			m.old, err = r.rows("old")
		case "type":
			m.typ, m.hasType, err = r.optString("type")
		case "table":
			m.table, m.hasTable, err = r.optString("table")
		case "sql":
			m.sql, _, err = r.optString("sql")
		case "database":
			_, _, err = r.optString("database")
		case "isDdl":
			var v, set bool
			if v, set, err = r.optBool("isDdl"); set {
				m.isDdl = v
			}
		case "pkNames":
			m.pkNames, err = r.stringList("pkNames")
		case "mysqlType":
			m.mysqlType, err = r.typeMap("mysqlType", false)
		default:
			err = r.skip()
		}
		return err
	})
	if err != nil {
		return nil, formatErr("canal flat message", err)
	}
	if !m.hasType || !m.hasTable {
		return nil, errors.New(`not a canal flat message: no "type" or no "table"`)
	}
	kind := strings.ToUpper(string(m.typ))
	if kind == "QUERY" && !m.isDdl {
		return &message{}, nil // a rows-query event: the statement text, no rows
	}
	if m.isDdl || ddlTypes[kind] {
		return d.ddlMessage(kind, string(m.table), string(m.sql))
	}
	op, ok := rowOps[kind]
	if !ok {
		return nil, fmt.Errorf("canal message of unknown type %q", m.typ)
	}
	if len(m.table) == 0 {
		return nil, errors.New(`canal row message without "table"`)
	}
	if len(m.data) == 0 {
		return nil, fmt.Errorf(`canal %s message without rows in "data"`, kind)
	}
	if op == cdc.Update && len(m.old) > 0 && len(m.old) != len(m.data) {
		return nil, fmt.Errorf(`canal UPDATE message with %d rows in "data" and %d in "old"`, len(m.data), len(m.old))
	}
	var old []row
	if op == cdc.Update {
		old = m.old
	}
	l := d.layout(r, columnsOf(r, m.data, old), m.mysqlType, nil, m.pkNames)
	// old[i] holds the before-values of the columns of data[i] that changed.
	return d.changes(string(m.table), op, l, m.data, old)
}

type cloudCanalMsg struct {
	action, table, sql, entryType []byte
	hasAction, hasTable           bool
	before, data                  []row
	pks                           [][]byte
	isDdl, ddl                    bool
	dbValType, jdbcType           []typeEntry
}

func (d *decoder) cloudCanal(raw []byte) (*message, error) {
	var m cloudCanalMsg
	r := newReader(raw)
	defer r.release()
	err := r.readMessage(func(key []byte) error {
		var err error
		switch f := fieldName(key, cloudCanalFields); f {
		case "data":
			m.data, err = r.rows("data")
		case "before":
			m.before, err = r.rows("before")
		case "action":
			m.action, m.hasAction, err = r.optString("action")
		case "table":
			m.table, m.hasTable, err = r.optString("table")
		case "sql":
			m.sql, _, err = r.optString("sql")
		case "entryType":
			m.entryType, _, err = r.optString("entryType")
		case "db", "schema":
			_, _, err = r.optString(f)
		case "isDdl":
			var v, set bool
			if v, set, err = r.optBool(f); set {
				m.isDdl = v
			}
		case "ddl":
			var v, set bool
			if v, set, err = r.optBool(f); set {
				m.ddl = v
			}
		case "pks":
			m.pks, err = r.stringList("pks")
		case "dbValType":
			m.dbValType, err = r.typeMap("dbValType", false)
		case "jdbcType":
			m.jdbcType, err = r.typeMap("jdbcType", true)
		default:
			err = r.skip()
		}
		return err
	})
	if err != nil {
		return nil, formatErr("cloudcanal message", err)
	}
	if !m.hasAction || !m.hasTable {
		return nil, errors.New(`not a cloudcanal message: no "action" or no "table"`)
	}
	kind := strings.ToUpper(string(m.action))
	if m.isDdl || m.ddl || ddlTypes[kind] {
		return d.ddlMessage(kind, string(m.table), string(m.sql))
	}
	if et := strings.ToUpper(string(m.entryType)); et != "" && et != "ROWDATA" {
		return &message{}, nil // transaction markers and the like carry no rows
	}
	op, ok := rowOps[kind]
	if !ok {
		return nil, fmt.Errorf("cloudcanal message of unknown action %q", m.action)
	}
	if len(m.table) == 0 {
		return nil, errors.New(`cloudcanal row message without "table"`)
	}
	rows := m.data
	if op == cdc.Delete && len(rows) == 0 {
		rows = m.before // producers differ: take whichever holds the row
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf(`cloudcanal %s message without rows`, kind)
	}
	if op == cdc.Update && len(m.before) > 0 && len(m.before) != len(rows) {
		return nil, fmt.Errorf(`cloudcanal UPDATE message with %d rows in "data" and %d in "before"`, len(rows), len(m.before))
	}
	var before []row
	if op == cdc.Update {
		before = m.before
	}
	l := d.layout(r, columnsOf(r, rows, before), m.dbValType, m.jdbcType, m.pks)
	// before[i] is the full before image of rows[i].
	return d.changes(string(m.table), op, l, rows, before)
}

// changes makes a message of the changes of rows; for an update, the old
// row is the new one with the values of old[i] (all of them, or the
// changed ones).
func (d *decoder) changes(table string, op cdc.Op, l *layout, rows, old []row) (*message, error) {
	msg := &message{table: cdc.TableRef{Name: table}, columns: l.columns, sig: l.sig, changes: make([]cdc.Change, 0, len(rows))}
	for i, r := range rows {
		v, unchanged, err := d.values(l, r, op == cdc.Update)
		if err != nil {
			return nil, err
		}
		ch := cdc.Change{Table: msg.table, Op: op}
		switch op {
		case cdc.Insert:
			ch.New = cdc.Row{Values: v}
		case cdc.Delete:
			ch.Old = cdc.Row{Values: v}
		case cdc.Update:
			ch.New = cdc.Row{Values: v, Unchanged: unchanged}
			ov, ou := slices.Clone(v), slices.Clone(unchanged)
			if i < len(old) {
				for _, f := range old[i] {
					j := l.index(f.name)
					if ov[j], err = d.value(l, j, f.v); err != nil {
						return nil, err
					}
					if ou != nil {
						ou[j] = false
					}
				}
			}
			ch.Old = cdc.Row{Values: ov, Unchanged: ou}
		}
		msg.changes = append(msg.changes, ch)
	}
	return msg, nil
}

// ddlMessage applies the ddl policy to a DDL message.
func (d *decoder) ddlMessage(kind, table, sql string) (*message, error) {
	switch {
	case d.ddl == "fail":
		return nil, &ddlError{kind: kind, table: table, sql: sql}
	case d.ddl == "apply" && kind == "TRUNCATE" && table != "":
		ref := cdc.TableRef{Name: table}
		return &message{table: ref, changes: []cdc.Change{{Table: ref, Op: cdc.Truncate}}}, nil
	}
	return &message{ddl: kind}, nil // ignored
}

// columnsOf lists the column names of rows, sorted, each once (in the
// reader's scratch space).
func columnsOf(r *jsonReader, sets ...[]row) [][]byte {
	names := r.names[:0]
	for _, rows := range sets {
		for _, rw := range rows {
			for _, f := range rw {
				names = append(names, f.name)
			}
		}
	}
	r.names = names
	slices.SortFunc(names, bytes.Compare)
	return slices.CompactFunc(names, bytes.Equal)
}

// colType is what a column's declared type says about its values.
type colType struct {
	kind    schema.Kind
	members []string // enum and set members
}

// layout is what the messages of one shape share: their columns in name
// order, with types and key flags, and the columns' signature.
type layout struct {
	names   []string
	types   []colType
	columns []cdc.Column
	sig     string
}

// index is the column of name (a name of the layout's rows).
func (l *layout) index(name []byte) int {
	for i, n := range l.names {
		if n == string(name) {
			return i
		}
	}
	return -1
}

// layoutCache keeps the layouts of the shapes seen; messages of a topic
// mostly share a few.
type layoutCache struct {
	mu sync.Mutex
	m  map[string]*layout
}

// maxLayouts bounds the cache; it starts over when full.
const maxLayouts = 4096

// lookupType is the type entry of name (the last one, as duplicate keys
// go); nil when there is none.
func lookupType(entries []typeEntry, name []byte) []byte {
	for i := len(entries) - 1; i >= 0; i-- {
		if string(entries[i].name) == string(name) {
			return entries[i].typ
		}
	}
	return nil
}

// layout returns the layout of columns names (sorted) with the message's
// type maps and key names.
func (d *decoder) layout(r *jsonReader, names [][]byte, dbTypes, jdbc []typeEntry, pks [][]byte) *layout {
	// The shape: each column's name, declared type, JDBC code and key flag.
	key := r.key[:0]
	defer func() { r.key = key }()
	for _, n := range names {
		key = append(key, n...)
		key = append(key, 0)
		key = append(key, lookupType(dbTypes, n)...)
		key = append(key, 0)
		key = append(key, lookupType(jdbc, n)...)
		if slices.ContainsFunc(pks, func(p []byte) bool { return bytes.Equal(p, n) }) {
			key = append(key, 1)
		}
		key = append(key, 0)
	}
	c := d.layouts
	if c != nil {
		c.mu.Lock()
		l := c.m[string(key)]
		c.mu.Unlock()
		if l != nil {
			return l
		}
	}
	l := &layout{names: make([]string, len(names)), types: make([]colType, len(names)), columns: make([]cdc.Column, len(names))}
	for i, nb := range names {
		n := string(nb)
		t := parseDBType(string(lookupType(dbTypes, nb)))
		if t.kind == "" {
			code, _ := strconv.Atoi(string(lookupType(jdbc, nb)))
			t = jdbcKind(code)
		}
		k := t.kind
		if k == "" {
			k = schema.Text
		}
		l.names[i], l.types[i] = n, t
		isKey := slices.ContainsFunc(pks, func(p []byte) bool { return string(p) == n })
		l.columns[i] = cdc.Column{Name: n, Type: schema.Type{Kind: k, Values: t.members}, Key: isKey}
	}
	l.sig = signature(l.columns)
	if c != nil {
		c.mu.Lock()
		if len(c.m) >= maxLayouts {
			clear(c.m)
		}
		c.m[string(key)] = l
		c.mu.Unlock()
	}
	return l
}

// values converts a row into column order; with partial, a column the row
// lacks is marked unchanged (else NULL).
func (d *decoder) values(l *layout, r row, partial bool) ([][]byte, []bool, error) {
	out := make([][]byte, len(l.names))
	for _, f := range r {
		j := l.index(f.name)
		v, err := d.value(l, j, f.v)
		if err != nil {
			return nil, nil, err
		}
		out[j] = v
	}
	var unchanged []bool
	if partial && len(r) < len(l.names) {
		// Row keys are distinct and all among the layout's names.
		unchanged = make([]bool, len(l.names))
		for i := range unchanged {
			unchanged[i] = true
		}
		for _, f := range r {
			unchanged[l.index(f.name)] = false
		}
	}
	return out, unchanged, nil
}

// value converts the value of column i.
func (d *decoder) value(l *layout, i int, v []byte) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	t := l.types[i]
	fail := func(format string, args ...any) error {
		return fmt.Errorf("column %s: %s", l.names[i], fmt.Sprintf(format, args...))
	}
	switch t.kind {
	case schema.Enum:
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return v, nil // already the member's name
		}
		switch {
		case n == 0:
			return []byte{}, nil // MySQL's error value ''
		case n < 0 || n > len(t.members):
			return nil, fail("ENUM index %d out of range (%d members)", n, len(t.members))
		}
		return []byte(t.members[n-1]), nil
	case schema.Set:
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return v, nil // already member names
		}
		var names []string
		for b := 0; n != 0; b++ {
			if n&1 == 1 {
				if b >= len(t.members) {
					return nil, fail("SET bitmask %s has bit %d set, the set has %d members", v, b, len(t.members))
				}
				names = append(names, t.members[b])
			}
			n >>= 1
		}
		return []byte(strings.Join(names, ",")), nil
	case schema.Binary, schema.Varbinary, schema.Blob:
		// Code points are the bytes (ISO-8859-1).
		b := make([]byte, 0, len(v))
		for len(v) > 0 {
			r, size := utf8.DecodeRune(v)
			if r > 0xff || r == utf8.RuneError && size == 1 {
				return nil, fail("binary value has a character beyond ISO-8859-1 (U+%04X)", r)
			}
			b = append(b, byte(r))
			v = v[size:]
		}
		return data.AppendHex(nil, b), nil
	case schema.Date, schema.Timestamp, schema.TimestampTZ:
		if isDigits(v) {
			// Epoch milliseconds (a JSON number some producers write).
			ms, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return nil, fail("%s is not a time", v)
			}
			ts := time.UnixMilli(ms).UTC()
			if t.kind == schema.Date {
				return []byte(ts.Format("2006-01-02")), nil
			}
			return []byte(ts.Format("2006-01-02 15:04:05.999")), nil
		}
		if zeroDate(v) {
			if d.zeroNull {
				return nil, nil
			}
			return nil, fail("zero date %q and zero_time = 'error'", v)
		}
	}
	return v, nil
}

func isDigits(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, b := range v {
		if b < '0' || b > '9' {
			return false
		}
	}
	return true
}

// zeroDate reports MySQL's zero and partly zero dates: year 0000, month 00
// or day 00.
func zeroDate(v []byte) bool {
	if len(v) < 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	return string(v[:4]) == "0000" || string(v[5:7]) == "00" || string(v[8:10]) == "00"
}

// parseDBType reads a MySQL column type as canal's mysqlType and
// cloudcanal's dbValType write it: "int(11)", "enum('a','b')",
// "varbinary(16)", "datetime(3)".
func parseDBType(s string) colType {
	s = strings.TrimSpace(s)
	if s == "" {
		return colType{}
	}
	base := strings.ToLower(s)
	args := ""
	if i := strings.IndexByte(base, '('); i >= 0 {
		if j := strings.LastIndexByte(s, ')'); j > i {
			args = s[i+1 : j]
		}
		base = base[:i]
	}
	base = strings.TrimSpace(strings.Fields(base + " ")[0])
	switch base {
	case "enum":
		return colType{kind: schema.Enum, members: quotedList(args)}
	case "set":
		return colType{kind: schema.Set, members: quotedList(args)}
	case "binary":
		return colType{kind: schema.Binary}
	case "varbinary":
		return colType{kind: schema.Varbinary}
	case "blob", "tinyblob", "mediumblob", "longblob":
		return colType{kind: schema.Blob}
	case "date":
		return colType{kind: schema.Date}
	case "datetime":
		return colType{kind: schema.Timestamp}
	case "timestamp":
		return colType{kind: schema.TimestampTZ}
	}
	return colType{}
}

// jdbcKind maps java.sql.Types codes of binary and temporal columns.
func jdbcKind(code int) colType {
	switch code {
	case -2:
		return colType{kind: schema.Binary}
	case -3, -4:
		return colType{kind: schema.Varbinary}
	case 2004:
		return colType{kind: schema.Blob}
	case 91:
		return colType{kind: schema.Date}
	case 93:
		return colType{kind: schema.Timestamp}
	case 2014:
		return colType{kind: schema.TimestampTZ}
	}
	return colType{}
}

// quotedList reads 'a','b”c' into its members.
func quotedList(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '\'' {
			continue
		}
		var b strings.Builder
		for i++; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				break
			}
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
		out = append(out, b.String())
	}
	return out
}

// excerpt is at most n bytes of b, cut at a character boundary, with
// invalid UTF-8 replaced.
func excerpt(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
		return strings.ToValidUTF8(string(b), "?") + "..."
	}
	return strings.ToValidUTF8(string(b), "?")
}
