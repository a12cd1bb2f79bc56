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
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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

// decoder turns one message into the changes it carries.
type decoder struct {
	format   string
	zeroNull bool   // zero_time = 'null' (else 'error')
	ddl      string // ignore | fail | apply
}

// message is a decoded message.
type message struct {
	table   cdc.TableRef // Name only: a message's database does not select a target schema
	columns []cdc.Column // sorted by name; the rows follow this order
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

// textVal is one JSON value as text: strings as their content, numbers
// and booleans as written, objects and arrays as compact JSON; null is nil.
type textVal struct{ v []byte }

func (t *textVal) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return errors.New("empty value")
	case b[0] == 'n':
		t.v = nil
	case b[0] == '"':
		if bytes.IndexByte(b, '\\') < 0 {
			t.v = append(make([]byte, 0, len(b)-2), b[1:len(b)-1]...)
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		t.v = append([]byte{}, s...)
	case b[0] == '{' || b[0] == '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		t.v = buf.Bytes()
	default:
		t.v = append([]byte{}, b...)
	}
	return nil
}

type row = map[string]textVal

// DDL types of canal's "type" (and cloudcanal's "action").
var ddlTypes = map[string]bool{"CREATE": true, "ALTER": true, "ERASE": true, "DROP": true, "TRUNCATE": true, "RENAME": true,
	"CINDEX": true, "DINDEX": true, "QUERY": true}

func (d *decoder) decode(raw []byte) (*message, error) {
	if !json.Valid(raw) {
		return nil, errors.New("not JSON")
	}
	if d.format == FormatCloudCanal {
		return d.cloudCanal(raw)
	}
	return d.canal(raw)
}

type canalMsg struct {
	Data      []row             `json:"data"`
	Database  *string           `json:"database"`
	Table     *string           `json:"table"`
	PkNames   []string          `json:"pkNames"`
	IsDdl     bool              `json:"isDdl"`
	Type      *string           `json:"type"`
	SQL       string            `json:"sql"`
	MysqlType map[string]string `json:"mysqlType"`
	Old       []row             `json:"old"`
}

func (d *decoder) canal(raw []byte) (*message, error) {
	var m canalMsg
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not a canal flat message: %v", jsonErr(err))
	}
	if m.Type == nil || m.Table == nil {
		return nil, errors.New(`not a canal flat message: no "type" or no "table"`)
	}
	kind := strings.ToUpper(*m.Type)
	if kind == "QUERY" && !m.IsDdl {
		return &message{}, nil // a rows-query event: the statement text, no rows
	}
	if m.IsDdl || ddlTypes[kind] {
		return d.ddlMessage(kind, *m.Table, m.SQL)
	}
	op, ok := map[string]cdc.Op{"INSERT": cdc.Insert, "UPDATE": cdc.Update, "DELETE": cdc.Delete}[kind]
	if !ok {
		return nil, fmt.Errorf("canal message of unknown type %q", *m.Type)
	}
	if *m.Table == "" {
		return nil, errors.New(`canal row message without "table"`)
	}
	if len(m.Data) == 0 {
		return nil, fmt.Errorf(`canal %s message without rows in "data"`, kind)
	}
	if op == cdc.Update && len(m.Old) > 0 && len(m.Old) != len(m.Data) {
		return nil, fmt.Errorf(`canal UPDATE message with %d rows in "data" and %d in "old"`, len(m.Data), len(m.Old))
	}
	msg := &message{table: cdc.TableRef{Name: *m.Table}}
	types := m.MysqlType
	cols := columnsOf(m.Data, m.Old)
	conv, err := d.columns(msg, cols, types, nil, m.PkNames)
	if err != nil {
		return nil, err
	}
	for i, r := range m.Data {
		switch op {
		case cdc.Insert:
			v, _, err := conv.values(r, false)
			if err != nil {
				return nil, err
			}
			msg.changes = append(msg.changes, cdc.Change{Table: msg.table, Op: cdc.Insert, New: cdc.Row{Values: v}})
		case cdc.Delete:
			v, _, err := conv.values(r, false)
			if err != nil {
				return nil, err
			}
			msg.changes = append(msg.changes, cdc.Change{Table: msg.table, Op: cdc.Delete, Old: cdc.Row{Values: v}})
		case cdc.Update:
			nv, unchanged, err := conv.values(r, true)
			if err != nil {
				return nil, err
			}
			// The old row: the new one with the changed columns' old values.
			ov := slices.Clone(nv)
			if i < len(m.Old) {
				for name, x := range m.Old[i] {
					j := slices.Index(conv.names, name)
					if j < 0 {
						continue
					}
					if ov[j], err = conv.value(j, x.v); err != nil {
						return nil, err
					}
				}
			}
			msg.changes = append(msg.changes, cdc.Change{Table: msg.table, Op: cdc.Update,
				New: cdc.Row{Values: nv, Unchanged: unchanged}, Old: cdc.Row{Values: ov}})
		}
	}
	return msg, nil
}

type cloudCanalMsg struct {
	Action    *string           `json:"action"`
	Before    []row             `json:"before"`
	Data      []row             `json:"data"`
	DB        string            `json:"db"`
	Schema    string            `json:"schema"`
	Table     *string           `json:"table"`
	Pks       []string          `json:"pks"`
	IsDdl     *bool             `json:"isDdl"`
	Ddl       *bool             `json:"ddl"`
	EntryType string            `json:"entryType"`
	DbValType map[string]string `json:"dbValType"`
	JdbcType  map[string]int    `json:"jdbcType"`
	SQL       string            `json:"sql"`
}

func (d *decoder) cloudCanal(raw []byte) (*message, error) {
	var m cloudCanalMsg
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not a cloudcanal message: %v", jsonErr(err))
	}
	if m.Action == nil || m.Table == nil {
		return nil, errors.New(`not a cloudcanal message: no "action" or no "table"`)
	}
	kind := strings.ToUpper(*m.Action)
	isDDL := m.IsDdl != nil && *m.IsDdl || m.Ddl != nil && *m.Ddl
	if isDDL || ddlTypes[kind] {
		return d.ddlMessage(kind, *m.Table, m.SQL)
	}
	if et := strings.ToUpper(m.EntryType); et != "" && et != "ROWDATA" {
		return &message{}, nil // transaction markers and the like carry no rows
	}
	op, ok := map[string]cdc.Op{"INSERT": cdc.Insert, "UPDATE": cdc.Update, "DELETE": cdc.Delete}[kind]
	if !ok {
		return nil, fmt.Errorf("cloudcanal message of unknown action %q", *m.Action)
	}
	if *m.Table == "" {
		return nil, errors.New(`cloudcanal row message without "table"`)
	}
	rows := m.Data
	if op == cdc.Delete && len(rows) == 0 {
		rows = m.Before // producers differ: take whichever holds the row
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf(`cloudcanal %s message without rows`, kind)
	}
	if op == cdc.Update && len(m.Before) > 0 && len(m.Before) != len(rows) {
		return nil, fmt.Errorf(`cloudcanal UPDATE message with %d rows in "data" and %d in "before"`, len(rows), len(m.Before))
	}
	msg := &message{table: cdc.TableRef{Name: *m.Table}}
	var before []row
	if op == cdc.Update {
		before = m.Before
	}
	conv, err := d.columns(msg, columnsOf(rows, before), m.DbValType, m.JdbcType, m.Pks)
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		nv, unchanged, err := conv.values(r, op == cdc.Update)
		if err != nil {
			return nil, err
		}
		switch op {
		case cdc.Insert:
			msg.changes = append(msg.changes, cdc.Change{Table: msg.table, Op: op, New: cdc.Row{Values: nv}})
		case cdc.Delete:
			msg.changes = append(msg.changes, cdc.Change{Table: msg.table, Op: op, Old: cdc.Row{Values: nv}})
		case cdc.Update:
			ov := slices.Clone(nv)
			if i < len(before) {
				for name, x := range before[i] {
					if j := slices.Index(conv.names, name); j >= 0 {
						if ov[j], err = conv.value(j, x.v); err != nil {
							return nil, err
						}
					}
				}
			}
			msg.changes = append(msg.changes, cdc.Change{Table: msg.table, Op: op, New: cdc.Row{Values: nv, Unchanged: unchanged}, Old: cdc.Row{Values: ov}})
		}
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

func jsonErr(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q holds a JSON %s", te.Field, te.Value)
	}
	return err.Error()
}

// columnsOf lists the column names of rows, sorted.
func columnsOf(sets ...[]row) []string {
	seen := map[string]bool{}
	var names []string
	for _, rows := range sets {
		for _, r := range rows {
			for k := range r {
				if !seen[k] {
					seen[k] = true
					names = append(names, k)
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

// colType is what a column's declared type says about its values.
type colType struct {
	kind    schema.Kind
	members []string // enum and set members
}

// converter converts the values of one message's columns.
type converter struct {
	d     *decoder
	names []string
	types []colType
}

// columns sets msg.columns from the names and the message's type maps.
func (d *decoder) columns(msg *message, names []string, dbTypes map[string]string, jdbc map[string]int, pks []string) (*converter, error) {
	c := &converter{d: d, names: names, types: make([]colType, len(names))}
	msg.columns = make([]cdc.Column, len(names))
	for i, n := range names {
		t := parseDBType(dbTypes[n])
		if t.kind == "" {
			t = jdbcKind(jdbc, n)
		}
		c.types[i] = t
		k := t.kind
		if k == "" {
			k = schema.Text
		}
		msg.columns[i] = cdc.Column{Name: n, Type: schema.Type{Kind: k, Values: t.members}, Key: slices.Contains(pks, n)}
	}
	return c, nil
}

// values converts a row into column order; with partial, a column the row
// lacks is marked unchanged (else NULL).
func (c *converter) values(r row, partial bool) ([][]byte, []bool, error) {
	out := make([][]byte, len(c.names))
	var unchanged []bool
	for i, n := range c.names {
		x, ok := r[n]
		if !ok {
			if partial {
				if unchanged == nil {
					unchanged = make([]bool, len(c.names))
				}
				unchanged[i] = true
			}
			continue
		}
		v, err := c.value(i, x.v)
		if err != nil {
			return nil, nil, err
		}
		out[i] = v
	}
	return out, unchanged, nil
}

func (c *converter) value(i int, v []byte) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	t := c.types[i]
	fail := func(format string, args ...any) error {
		return fmt.Errorf("column %s: %s", c.names[i], fmt.Sprintf(format, args...))
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
			if c.d.zeroNull {
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
func jdbcKind(jdbc map[string]int, name string) colType {
	code, ok := jdbc[name]
	if !ok {
		return colType{}
	}
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
