package mysql

// The DDL statements of the binary log that change a table's columns, read
// well enough to track the structure of captured tables (cdc_schema.go):
//
//	ALTER [ONLINE] [IGNORE] TABLE [IF EXISTS] t
//	    ADD [COLUMN] [IF NOT EXISTS] c def [FIRST | AFTER x] | ADD [COLUMN] (c def, ...)
//	    DROP [COLUMN] [IF EXISTS] c | MODIFY [COLUMN] [IF EXISTS] c def [FIRST | AFTER x]
//	    CHANGE [COLUMN] [IF EXISTS] old new def [FIRST | AFTER x] | RENAME COLUMN old TO new
//	    ADD [CONSTRAINT [s]] PRIMARY KEY (...) | DROP PRIMARY KEY
//	    CONVERT TO CHARACTER SET cs | [DEFAULT] CHARACTER SET [=] cs | RENAME [TO] t2
//	    (indexes, constraints, defaults, table options: no change to the columns)
//	RENAME TABLE a TO b, ...   DROP TABLE ...   DROP DATABASE ...   TRUNCATE [TABLE] t
//	CREATE TABLE ... (structure read from information_schema)
//
// What it cannot read of an ALTER on a captured table (SYSTEM VERSIONING,
// a clause of another form) makes the stream read the structure from
// information_schema instead.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flowgate/flowgate/connectors/schema"
)

// token is one lexical token of a statement.
type token struct {
	kind byte   // 'w' word, 'q' `quoted` identifier, 'd' "double-quoted", 's' 'string', 'n' number, 'p' punctuation
	text string // words and numbers as written, quoted ones unquoted
}

func (t token) is(words ...string) bool {
	if t.kind != 'w' {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(t.text, w) {
			return true
		}
	}
	return false
}

func (t token) punct(c byte) bool { return t.kind == 'p' && len(t.text) == 1 && t.text[0] == c }

func (t token) ident() bool { return t.kind == 'w' || t.kind == 'q' || t.kind == 'd' }

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// tokenize splits a statement into tokens. Comments go, except MySQL's
// executable comments (/*! ... */, /*M! ... */), whose text counts.
func tokenize(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '#' || c == '-' && i+2 < len(s) && s[i+1] == '-' && (s[i+2] == ' ' || s[i+2] == '\t' || s[i+2] == '\n'):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '-' && i+2 == len(s) && s[i+1] == '-':
			i = len(s)
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			j := i + 2
			if j < len(s) && (s[j] == '!' || s[j] == 'M' && j+1 < len(s) && s[j+1] == '!') {
				// Executable comment: skip the marker and version, keep the
				// text; the closing */ is skipped where it appears.
				if s[j] == 'M' {
					j++
				}
				j++
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				i = j
				continue
			}
			end := strings.Index(s[j:], "*/")
			if end < 0 {
				i = len(s)
			} else {
				i = j + end + 2
			}
		case c == '*' && i+1 < len(s) && s[i+1] == '/':
			i += 2
		case c == '`' || c == '\'' || c == '"':
			kind := map[byte]byte{'`': 'q', '\'': 's', '"': 'd'}[c]
			var b strings.Builder
			j := i + 1
			for j < len(s) {
				if s[j] == '\\' && c != '`' && j+1 < len(s) {
					b.WriteByte(unescape(s[j+1]))
					j += 2
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						b.WriteByte(c)
						j += 2
						continue
					}
					j++
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, token{kind: kind, text: b.String()})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i
			for j < len(s) && (isWordByte(s[j]) || s[j] == '.') {
				j++
			}
			// 1e5, 1.5e-3
			if j < len(s) && (s[j] == '-' || s[j] == '+') && j > i && (s[j-1] == 'e' || s[j-1] == 'E') {
				j++
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
			}
			kind := byte('n')
			if strings.IndexFunc(s[i:j], func(r rune) bool { return !strings.ContainsRune("0123456789.eE+-", r) }) >= 0 {
				kind = 'w' // 1abc is an identifier
			}
			out = append(out, token{kind: kind, text: s[i:j]})
			i = j
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			out = append(out, token{kind: 'w', text: s[i:j]})
			i = j
		default:
			out = append(out, token{kind: 'p', text: s[i : i+1]})
			i++
		}
	}
	return out
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case '0':
		return 0
	case 'Z':
		return 26
	}
	return c
}

// ddlKind is what a statement does to tables.
type ddlKind int

const (
	ddlNone ddlKind = iota
	ddlAlter
	ddlCreate
	ddlDrop
	ddlRename
	ddlTruncate
	ddlDropDB
)

// ddl is a parsed statement.
type ddl struct {
	kind    ddlKind
	table   tableKey      // alter, create, truncate
	tables  []tableKey    // drop
	renames [][2]tableKey // rename, and an ALTER's RENAME TO
	db      string        // drop database
	specs   []alterSpec   // alter: the clauses that change columns
	// unparsed: an ALTER whose effect on the columns is not known, or a
	// CREATE TABLE whose columns are not known (CREATE ... SELECT).
	unparsed    bool
	ifNotExists bool
	// create: LIKE another table, or the column definitions with the
	// primary key and the table's character set ("" = the database's).
	like    *tableKey
	cols    []colSpec
	pk      []string
	charset string
}

type alterSpec struct {
	op      string // add, drop, modify, change, renamecol, pk, droppk, convert, charset
	name    string // drop, modify, change (old), renamecol (old)
	newName string // change, renamecol
	cols    []colSpec
	first   bool
	after   string
	pk      []string
	charset string
}

// colSpec is a column definition as written.
type colSpec struct {
	name     string
	typeText string
	charset  string
	collate  string
	national bool
	pk       bool
	first    bool
	after    string
}

type parser struct {
	t  []token
	i  int
	db string // the statement's default database
}

func (p *parser) peek(n int) token {
	if p.i+n < len(p.t) {
		return p.t[p.i+n]
	}
	return token{kind: 'e'}
}

func (p *parser) next() token {
	t := p.peek(0)
	if p.i < len(p.t) {
		p.i++
	}
	return t
}

func (p *parser) accept(words ...string) bool {
	if p.peek(0).is(words...) {
		p.i++
		return true
	}
	return false
}

func (p *parser) acceptSeq(words ...string) bool {
	for k, w := range words {
		if !p.peek(k).is(w) {
			return false
		}
	}
	p.i += len(words)
	return true
}

func (p *parser) done() bool { return p.i >= len(p.t) || p.peek(0).punct(';') }

// name reads [db.]table.
func (p *parser) name() (tableKey, bool) {
	t := p.next()
	if !t.ident() {
		return tableKey{}, false
	}
	if p.peek(0).punct('.') && p.peek(1).ident() {
		p.i++
		n := p.next()
		return tableKey{db: t.text, name: n.text}, true
	}
	return tableKey{db: p.db, name: t.text}, true
}

// skipGroup skips a parenthesized group starting at the current '('.
func (p *parser) skipGroup() {
	depth := 0
	for !p.done() || depth > 0 {
		if p.i >= len(p.t) {
			return
		}
		t := p.next()
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			depth--
			if depth <= 0 {
				return
			}
		}
	}
}

// parseDDL parses the statement of a QUERY event; kind ddlNone for
// everything that does not change tables.
func parseDDL(query, db string) ddl {
	p := &parser{t: tokenize(query), db: db}
	switch {
	case p.accept("ALTER"):
		p.accept("ONLINE", "OFFLINE")
		p.accept("IGNORE")
		if !p.accept("TABLE") {
			return ddl{}
		}
		return p.alter()
	case p.accept("CREATE"):
		p.acceptSeq("OR", "REPLACE")
		if p.accept("TEMPORARY") {
			return ddl{}
		}
		if !p.accept("TABLE") {
			return ddl{}
		}
		d := ddl{kind: ddlCreate}
		if p.acceptSeq("IF", "NOT", "EXISTS") {
			d.ifNotExists = true
		}
		var ok bool
		if d.table, ok = p.name(); !ok {
			return ddl{}
		}
		p.create(&d)
		return d
	case p.accept("DROP"):
		if p.accept("DATABASE", "SCHEMA") {
			p.acceptSeq("IF", "EXISTS")
			t := p.next()
			if !t.ident() {
				return ddl{}
			}
			return ddl{kind: ddlDropDB, db: t.text}
		}
		if p.accept("TEMPORARY") || !p.accept("TABLE", "TABLES") {
			return ddl{}
		}
		p.acceptSeq("IF", "EXISTS")
		d := ddl{kind: ddlDrop}
		for {
			k, ok := p.name()
			if !ok {
				break
			}
			d.tables = append(d.tables, k)
			if !p.peek(0).punct(',') {
				break
			}
			p.i++
		}
		return d
	case p.accept("RENAME"):
		if !p.accept("TABLE", "TABLES") {
			return ddl{}
		}
		d := ddl{kind: ddlRename}
		for {
			from, ok := p.name()
			if !ok || !p.accept("TO") {
				break
			}
			to, ok := p.name()
			if !ok {
				break
			}
			d.renames = append(d.renames, [2]tableKey{from, to})
			if !p.peek(0).punct(',') {
				break
			}
			p.i++
		}
		return d
	case p.accept("TRUNCATE"):
		p.accept("TABLE")
		k, ok := p.name()
		if !ok {
			return ddl{}
		}
		return ddl{kind: ddlTruncate, table: k}
	}
	return ddl{}
}

// create reads what follows CREATE TABLE name: LIKE other, (LIKE other),
// or the column definitions and table options; CREATE ... SELECT is
// unparsed (its columns come from the query).
func (p *parser) create(d *ddl) {
	switch {
	case p.accept("LIKE"):
		if k, ok := p.name(); ok {
			d.like = &k
			return
		}
		d.unparsed = true
		return
	case p.peek(0).punct('(') && p.peek(1).is("LIKE"):
		p.i += 2
		if k, ok := p.name(); ok {
			d.like = &k
			return
		}
		d.unparsed = true
		return
	case !p.peek(0).punct('('):
		d.unparsed = true // CREATE TABLE t SELECT ...
		return
	}
	// The definitions: split the parenthesized list at top-level commas.
	p.next()
	depth, start := 0, p.i
	closed := false
	for ; p.i < len(p.t) && !closed; p.i++ {
		t := p.t[p.i]
		switch {
		case t.punct('('):
			depth++
		case t.punct(')') && depth > 0:
			depth--
		case (t.punct(',') || t.punct(')')) && depth == 0:
			sub := &parser{t: p.t[start:p.i], db: p.db}
			first := sub.peek(0)
			switch {
			case first.kind == 'w' && first.is("CONSTRAINT", "PRIMARY"):
				sub.accept("CONSTRAINT")
				if !sub.peek(0).is("PRIMARY", "UNIQUE", "FOREIGN", "CHECK") {
					sub.next()
				}
				if sub.acceptSeq("PRIMARY", "KEY") {
					d.pk = sub.keyColumns()
				}
			case first.kind == 'w' && first.is("INDEX", "KEY", "FULLTEXT", "SPATIAL", "UNIQUE", "FOREIGN", "CHECK", "PERIOD", "VECTOR"):
			default:
				c, ok := sub.colDef()
				if !ok {
					d.unparsed = true
					return
				}
				if c.pk {
					d.pk = []string{c.name}
				}
				d.cols = append(d.cols, c)
			}
			start = p.i + 1
			closed = t.punct(')')
		}
	}
	if !closed || len(d.cols) == 0 {
		d.unparsed = true
		return
	}
	// Table options; a SELECT after them adds its columns.
	for !p.done() {
		switch {
		case p.peek(0).is("SELECT"):
			d.unparsed = true
			return
		case p.peek(0).is("CHARACTER", "CHARSET", "COLLATE", "CHAR", "DEFAULT") && (p.peek(0).is("CHARSET", "COLLATE") || p.peek(1).is("SET", "CHARSET", "COLLATE", "CHARACTER", "CHAR")):
			p.accept("DEFAULT")
			cs, coll := "", ""
			switch {
			case p.acceptSeq("CHARACTER", "SET"), p.acceptSeq("CHAR", "SET"), p.accept("CHARSET"):
				if p.peek(0).punct('=') {
					p.next()
				}
				cs = strings.ToLower(p.next().text)
			case p.accept("COLLATE"):
				if p.peek(0).punct('=') {
					p.next()
				}
				coll = strings.ToLower(p.next().text)
			}
			if cs != "" && cs != "default" {
				d.charset = cs
			} else if coll != "" && d.charset == "" {
				d.charset = collationCharset(coll)
			}
		case p.peek(0).punct('('):
			p.skipGroup()
		default:
			p.next()
		}
	}
}

// createDef is the structure a parsed CREATE TABLE makes; dbCharset is
// the database's default character set.
func (d ddl) createDef(dbCharset string) *tableDef {
	cs := d.charset
	if cs == "" {
		cs = dbCharset
	}
	def := &tableDef{Charset: cs, PK: d.pk}
	for _, c := range d.cols {
		def.Cols = append(def.Cols, c.toColDef(cs))
	}
	return def
}

// alter reads an ALTER TABLE after the TABLE keyword.
func (p *parser) alter() ddl {
	d := ddl{kind: ddlAlter}
	p.acceptSeq("IF", "EXISTS")
	var ok bool
	if d.table, ok = p.name(); !ok {
		return ddl{}
	}
	if p.accept("WAIT") {
		p.next()
	}
	p.accept("NOWAIT")
	for _, clause := range p.clauses() {
		s, unparsed := clause.spec(&d)
		if unparsed {
			d.unparsed = true
		}
		if s != nil {
			d.specs = append(d.specs, *s)
		}
	}
	return d
}

// clauses splits the rest of the statement at top-level commas.
func (p *parser) clauses() []*parser {
	var out []*parser
	start, depth := p.i, 0
	for ; p.i <= len(p.t); p.i++ {
		if p.i == len(p.t) || p.t[p.i].punct(';') && depth == 0 {
			if p.i > start {
				out = append(out, &parser{t: p.t[start:p.i], db: p.db})
			}
			break
		}
		switch t := p.t[p.i]; {
		case t.punct('('):
			depth++
		case t.punct(')'):
			depth--
		case t.punct(',') && depth == 0:
			out = append(out, &parser{t: p.t[start:p.i], db: p.db})
			start = p.i + 1
		}
	}
	return out
}

// spec reads one ALTER clause; nil for clauses that leave the columns
// alone, unparsed for those whose effect is not known.
func (p *parser) spec(d *ddl) (*alterSpec, bool) {
	switch {
	case p.accept("ADD"):
		if p.accept("COLUMN") {
			p.acceptSeq("IF", "NOT", "EXISTS")
			return p.addColumns()
		}
		p.acceptSeq("IF", "NOT", "EXISTS")
		if p.accept("CONSTRAINT") {
			if !p.peek(0).is("PRIMARY", "UNIQUE", "FOREIGN", "CHECK") {
				p.next() // the constraint's name
			}
		}
		switch {
		case p.acceptSeq("PRIMARY", "KEY"):
			return &alterSpec{op: "pk", pk: p.keyColumns()}, false
		case p.peek(0).is("INDEX", "KEY", "FULLTEXT", "SPATIAL", "UNIQUE", "FOREIGN", "CHECK", "PARTITION", "VECTOR"):
			return nil, false
		case p.peek(0).is("PERIOD", "SYSTEM"):
			return nil, true
		}
		return p.addColumns()
	case p.accept("DROP"):
		switch {
		case p.acceptSeq("PRIMARY", "KEY"):
			return &alterSpec{op: "droppk"}, false
		case p.peek(0).is("INDEX", "KEY", "FOREIGN", "CONSTRAINT", "CHECK", "PARTITION"):
			return nil, false
		case p.peek(0).is("SYSTEM", "PERIOD"):
			return nil, true
		}
		p.accept("COLUMN")
		p.acceptSeq("IF", "EXISTS")
		t := p.next()
		if !t.ident() {
			return nil, true
		}
		return &alterSpec{op: "drop", name: t.text}, false
	case p.accept("MODIFY"):
		p.accept("COLUMN")
		p.acceptSeq("IF", "EXISTS")
		c, ok := p.colDef()
		if !ok {
			return nil, true
		}
		return &alterSpec{op: "modify", name: c.name, cols: []colSpec{c}, first: c.first, after: c.after}, false
	case p.accept("CHANGE"):
		p.accept("COLUMN")
		p.acceptSeq("IF", "EXISTS")
		old := p.next()
		if !old.ident() {
			return nil, true
		}
		c, ok := p.colDef()
		if !ok {
			return nil, true
		}
		return &alterSpec{op: "change", name: old.text, newName: c.name, cols: []colSpec{c}, first: c.first, after: c.after}, false
	case p.accept("RENAME"):
		switch {
		case p.accept("COLUMN"):
			old, to, nw := p.next(), p.next(), p.next()
			if !old.ident() || !to.is("TO") || !nw.ident() {
				return nil, true
			}
			return &alterSpec{op: "renamecol", name: old.text, newName: nw.text}, false
		case p.peek(0).is("INDEX", "KEY"):
			return nil, false
		}
		p.accept("TO", "AS")
		if p.peek(0).punct('=') {
			p.next()
		}
		to, ok := p.name()
		if !ok {
			return nil, true
		}
		d.renames = append(d.renames, [2]tableKey{d.table, to})
		return nil, false
	case p.accept("CONVERT"):
		if !p.accept("TO") {
			return nil, true
		}
		if cs := p.charsetClause(); cs != "" {
			return &alterSpec{op: "convert", charset: cs}, false
		}
		return nil, true
	case p.peek(0).is("DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "CHAR"):
		p.accept("DEFAULT")
		if cs := p.charsetClause(); cs != "" {
			return &alterSpec{op: "charset", charset: cs}, false
		}
		return nil, false
	case p.accept("ALTER"):
		return nil, false // [COLUMN] c SET/DROP DEFAULT, SET [IN]VISIBLE; INDEX ...
	case p.peek(0).is("ADD", "DROP", "MODIFY", "CHANGE"):
		return nil, true
	}
	// Table options, ALGORITHM, LOCK, FORCE, ORDER BY, partitioning ...
	return nil, false
}

// charsetClause reads CHARACTER SET [=] cs | CHARSET [=] cs | COLLATE [=]
// c (whose character set is the part before the first underscore) and
// returns the character set.
func (p *parser) charsetClause() string {
	cs, coll := "", ""
	for !p.done() {
		switch {
		case p.acceptSeq("CHARACTER", "SET"), p.acceptSeq("CHAR", "SET"), p.accept("CHARSET"):
			if p.peek(0).punct('=') {
				p.next()
			}
			cs = strings.ToLower(p.next().text)
		case p.accept("COLLATE"):
			if p.peek(0).punct('=') {
				p.next()
			}
			coll = strings.ToLower(p.next().text)
		default:
			p.next()
		}
	}
	if cs == "" && coll != "" {
		cs = collationCharset(coll)
	}
	if cs == "default" {
		return ""
	}
	return cs
}

func collationCharset(coll string) string {
	if coll == "binary" {
		return "binary"
	}
	if i := strings.IndexByte(coll, '_'); i > 0 {
		return coll[:i]
	}
	return ""
}

// keyColumns reads (a, b(10) DESC, ...).
func (p *parser) keyColumns() []string {
	for !p.done() && !p.peek(0).punct('(') {
		p.next() // USING BTREE, the index name
	}
	if !p.peek(0).punct('(') {
		return nil
	}
	p.next()
	var cols []string
	depth := 0
	expectName := true
	for !p.done() {
		t := p.next()
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			if depth == 0 {
				return cols
			}
			depth--
		case t.punct(',') && depth == 0:
			expectName = true
		case expectName && depth == 0 && t.ident():
			cols = append(cols, t.text)
			expectName = false
		}
	}
	return cols
}

// addColumns reads the column definition(s) of ADD [COLUMN].
func (p *parser) addColumns() (*alterSpec, bool) {
	if p.peek(0).punct('(') {
		p.next()
		var cols []colSpec
		depth, start := 0, p.i
		for ; p.i < len(p.t); p.i++ {
			t := p.t[p.i]
			switch {
			case t.punct('('):
				depth++
			case t.punct(')') && depth > 0:
				depth--
			case (t.punct(',') || t.punct(')')) && depth == 0:
				sub := &parser{t: p.t[start:p.i], db: p.db}
				if sub.peek(0).is("INDEX", "KEY", "PRIMARY", "UNIQUE", "FULLTEXT", "SPATIAL", "CONSTRAINT", "FOREIGN", "CHECK") {
					return nil, true
				}
				c, ok := sub.colDef()
				if !ok {
					return nil, true
				}
				cols = append(cols, c)
				start = p.i + 1
				if t.punct(')') {
					return &alterSpec{op: "add", cols: cols}, false
				}
			}
		}
		return nil, true
	}
	c, ok := p.colDef()
	if !ok {
		return nil, true
	}
	return &alterSpec{op: "add", cols: []colSpec{c}, first: c.first, after: c.after}, false
}

// typeAliases are type names ParseType does not know, as it spells them.
var typeAliases = map[string]string{
	"int1": "tinyint", "int2": "smallint", "int3": "mediumint", "middleint": "mediumint", "int4": "int",
	"int8": "bigint", "float4": "float", "float8": "double", "serial": "bigint unsigned",
}

// colDef reads a column definition: name, type, attributes.
func (p *parser) colDef() (colSpec, bool) {
	var c colSpec
	n := p.next()
	if !n.ident() {
		return c, false
	}
	c.name = n.text
	tt := p.next()
	if tt.kind != 'w' {
		return c, false
	}
	name := strings.ToLower(tt.text)
	switch {
	case name == "national" || name == "nchar" || name == "nvarchar":
		c.national = true
		if name == "national" {
			name = "national " + strings.ToLower(p.next().text)
		}
		if p.accept("VARYING") {
			name = "nvarchar"
		}
	case name == "double" && p.accept("PRECISION"):
		name = "double precision"
	case (name == "character" || name == "char") && p.accept("VARYING"):
		name = "varchar"
	case name == "long":
		if p.peek(0).is("VARCHAR", "VARBINARY") {
			name = "long " + strings.ToLower(p.next().text)
		} else if p.accept("VARCHAR") {
			name = "long varchar"
		}
	}
	if a, ok := typeAliases[name]; ok {
		name = a
	}
	text := name
	if p.peek(0).punct('(') {
		p.next()
		var args []string
		var cur strings.Builder
		depth := 0
		for !p.done() {
			t := p.next()
			if t.punct(')') && depth == 0 {
				break
			}
			switch {
			case t.punct('('):
				depth++
			case t.punct(')'):
				depth--
			}
			if t.punct(',') && depth == 0 {
				args = append(args, cur.String())
				cur.Reset()
				continue
			}
			switch t.kind {
			case 's', 'd':
				cur.WriteString(schema.QuoteString(t.text, false))
			default:
				cur.WriteString(t.text)
			}
		}
		args = append(args, cur.String())
		text += "(" + strings.Join(args, ",") + ")"
	}
	var mods []string
	keyWord := false
	for !p.done() {
		t := p.peek(0)
		switch {
		case t.punct('('):
			p.skipGroup()
			continue
		case t.is("UNSIGNED", "SIGNED", "ZEROFILL"):
			mods = append(mods, strings.ToLower(t.text))
		case t.is("CHARACTER", "CHARSET", "CHAR") && (t.is("CHARSET") || p.peek(1).is("SET")):
			if !t.is("CHARSET") {
				p.next()
			}
			p.next()
			if p.peek(0).punct('=') {
				p.next()
			}
			c.charset = strings.ToLower(p.peek(0).text)
		case t.is("COLLATE"):
			p.next()
			if p.peek(0).punct('=') {
				p.next()
			}
			c.collate = strings.ToLower(p.peek(0).text)
		case t.is("ASCII"):
			c.charset = "latin1"
		case t.is("UNICODE"):
			c.charset = "ucs2"
		case t.is("BYTE"):
			c.charset = "binary"
		case t.is("PRIMARY"):
			c.pk = true
		case t.is("UNIQUE"):
			keyWord = true // UNIQUE [KEY] is not the primary key
		case t.is("KEY"):
			if !keyWord && !p.i0isPrimary() {
				c.pk = true
			}
			keyWord = false
		case t.is("FIRST"):
			c.first = true
		case t.is("AFTER"):
			p.next()
			c.after = p.peek(0).text
		case t.is("DEFAULT"), t.is("UPDATE"):
			p.next()
			p.skipExpr()
			continue
		case t.is("COMMENT"):
			p.next()
		case t.is("REFERENCES"):
			// REFERENCES t (cols) [MATCH ...] [ON DELETE ...]: nothing of ours.
			for !p.done() {
				p.next()
			}
			continue
		}
		p.next()
	}
	if cs := strings.ToLower(strings.Join(mods, " ")); cs != "" {
		text += " " + cs
	}
	c.typeText = text
	return c, true
}

// i0isPrimary reports whether the KEY at the current token follows PRIMARY.
func (p *parser) i0isPrimary() bool { return p.i > 0 && p.t[p.i-1].is("PRIMARY") }

// skipExpr skips a DEFAULT or ON UPDATE value: a literal, a signed number,
// a function call or a parenthesized expression.
func (p *parser) skipExpr() {
	t := p.peek(0)
	switch {
	case t.punct('('):
		p.skipGroup()
	case t.punct('-') || t.punct('+'):
		p.next()
		p.next()
	case t.kind == 'w' && p.peek(1).punct('('):
		p.next()
		p.skipGroup()
	case t.kind == 'w' && (t.is("_binary") || strings.HasPrefix(t.text, "_")) && p.peek(1).kind == 's':
		p.next()
		p.next()
	default:
		p.next()
	}
}

// ddlTables lists the tables whose columns a statement may change (a
// tableKey with an empty name stands for every table of its database).
func ddlTables(query, db string) []tableKey {
	d := parseDDL(query, db)
	switch d.kind {
	case ddlAlter:
		var out []tableKey
		if len(d.specs) > 0 || d.unparsed || len(d.renames) > 0 {
			out = append(out, d.table)
		}
		for _, r := range d.renames {
			out = append(out, r[1])
		}
		return out
	case ddlCreate:
		return []tableKey{d.table}
	case ddlDrop:
		return d.tables
	case ddlRename:
		var out []tableKey
		for _, r := range d.renames {
			out = append(out, r[0], r[1])
		}
		return out
	case ddlDropDB:
		return []tableKey{{db: d.db}}
	}
	return nil
}

// toColDef types a column definition; charset is the table's default.
func (c colSpec) toColDef(tableCharset string) colDef {
	typ, err := ParseType(c.typeText)
	if err != nil {
		typ = schema.Type{Kind: schema.Other, Native: c.typeText}
	}
	typ.Native = c.typeText
	cd := colDef{Name: c.name, Type: typ}
	cs := c.charset
	if cs == "" && c.collate != "" {
		cs = collationCharset(c.collate)
	}
	if cs == "" && c.national {
		cs = "utf8mb3"
	}
	if cs == "" {
		cs = tableCharset
	}
	switch typ.Kind {
	case schema.JSON:
		cd.Charset = "utf8mb4"
	case schema.Char, schema.Varchar, schema.Text, schema.Enum, schema.Set:
		cd.Charset = cs
		if cs == "binary" {
			cd.Type, cd.Charset = toBinary(typ), ""
		}
	}
	return cd
}

// toBinary is the binary type of a character type with CHARACTER SET
// binary: char(n) is binary(n), varchar(n) varbinary(n), text a blob.
func toBinary(t schema.Type) schema.Type {
	switch t.Kind {
	case schema.Char:
		t.Kind = schema.Binary
	case schema.Varchar:
		t.Kind = schema.Varbinary
	case schema.Text:
		t.Kind = schema.Blob
	}
	return t
}

// applyAlter applies an ALTER's column clauses to def; an error means the
// statement did not fit the structure as tracked.
func applyAlter(def *tableDef, specs []alterSpec) (*tableDef, error) {
	d := def.clone()
	place := func(cd colDef, first bool, after string) error {
		switch {
		case first:
			d.Cols = slices.Insert(d.Cols, 0, cd)
		case after != "":
			i := d.col(after)
			if i < 0 {
				return fmt.Errorf("AFTER %s: no such column", after)
			}
			d.Cols = slices.Insert(d.Cols, i+1, cd)
		default:
			d.Cols = append(d.Cols, cd)
		}
		return nil
	}
	renamePK := func(old, nw string) {
		for i, k := range d.PK {
			if strings.EqualFold(k, old) {
				d.PK[i] = nw
			}
		}
	}
	for _, s := range specs {
		switch s.op {
		case "add":
			for _, cs := range s.cols {
				if d.col(cs.name) >= 0 {
					continue // ADD ... IF NOT EXISTS of an existing column
				}
				// A list (ADD (a ..., b ...)) goes to the end in its order.
				first, after := cs.first, cs.after
				if len(s.cols) > 1 {
					first, after = false, ""
				}
				if err := place(cs.toColDef(d.Charset), first, after); err != nil {
					return nil, err
				}
				if cs.pk {
					d.PK = []string{cs.name}
				}
			}
		case "drop":
			i := d.col(s.name)
			if i < 0 {
				continue // DROP ... IF EXISTS
			}
			d.Cols = slices.Delete(d.Cols, i, i+1)
			d.PK = slices.DeleteFunc(d.PK, func(k string) bool { return strings.EqualFold(k, s.name) })
		case "modify", "change":
			i := d.col(s.name)
			if i < 0 {
				return nil, fmt.Errorf("%s %s: no such column", strings.ToUpper(s.op), s.name)
			}
			// Without CHARACTER SET the column takes the table's default
			// (as MySQL does), which toColDef uses.
			cs := s.cols[0]
			cd := cs.toColDef(d.Charset)
			d.Cols = slices.Delete(d.Cols, i, i+1)
			if !s.first && s.after == "" {
				d.Cols = slices.Insert(d.Cols, i, cd)
			} else if err := place(cd, s.first, s.after); err != nil {
				return nil, err
			}
			if s.op == "change" {
				renamePK(s.name, cs.name)
			}
			if cs.pk {
				d.PK = []string{cs.name}
			}
		case "renamecol":
			i := d.col(s.name)
			if i < 0 {
				return nil, fmt.Errorf("RENAME COLUMN %s: no such column", s.name)
			}
			d.Cols[i].Name = s.newName
			renamePK(s.name, s.newName)
		case "pk":
			d.PK = s.pk
		case "droppk":
			d.PK = nil
		case "convert":
			for i := range d.Cols {
				switch d.Cols[i].Type.Kind {
				case schema.Char, schema.Varchar, schema.Text, schema.Enum, schema.Set, schema.JSON:
					d.Cols[i].Charset = s.charset
					if s.charset == "binary" {
						d.Cols[i].Type = toBinary(d.Cols[i].Type)
					}
				}
			}
			d.Charset = s.charset
		case "charset":
			d.Charset = s.charset
		}
	}
	return d, nil
}
