package parser

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// parser is a recursive-descent parser over the token stream of one statement.
// Helpers return *pgconn.PgError syntax errors positioned at the offending token.
type parser struct {
	text string
	toks []token // always ends with tkEOF
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekN(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

// errHere is a syntax error at the current token.
func (p *parser) errHere(hint string) *pgconn.PgError {
	return syntaxErrorAt(p.text, p.peek(), hint)
}

func isKeyword(t token, kw string) bool {
	return t.kind == tkIdent && !t.quoted && t.val == kw
}

// atKeyword reports whether the next tokens are the keywords kws (lower case).
func (p *parser) atKeyword(kws ...string) bool {
	for n, kw := range kws {
		if !isKeyword(p.peekN(n), kw) {
			return false
		}
	}
	return true
}

// optionalKeyword consumes the keyword sequence kws if it is next.
func (p *parser) optionalKeyword(kws ...string) bool {
	if !p.atKeyword(kws...) {
		return false
	}
	p.i += len(kws)
	return true
}

// expectKeyword consumes the keyword sequence kws or fails at the first mismatch
// with the hint "expected KWS".
func (p *parser) expectKeyword(kws ...string) error {
	for _, kw := range kws {
		if !isKeyword(p.peek(), kw) {
			return p.errHere("expected " + strings.ToUpper(strings.Join(kws, " ")))
		}
		p.advance()
	}
	return nil
}

// expectOp consumes the operator/punctuation op.
func (p *parser) expectOp(op string) error {
	if !p.atOp(op) {
		return p.errHere("expected " + op)
	}
	p.advance()
	return nil
}

func (p *parser) atOp(op string) bool {
	t := p.peek()
	return t.kind == tkOp && t.val == op
}

func (p *parser) optionalOp(op string) bool {
	if p.atOp(op) {
		p.advance()
		return true
	}
	return false
}

// identifier reads a name; what is used in the hint ("expected datasource name").
func (p *parser) identifier(what string) (string, int, error) {
	t := p.peek()
	if t.kind != tkIdent {
		return "", 0, p.errHere("expected " + what)
	}
	p.advance()
	return t.val, t.pos, nil
}

// qualifiedName reads a.b.c (at most max parts, at least one).
func (p *parser) qualifiedName(what string, max int) ([]string, int, error) {
	name, pos, err := p.identifier(what)
	if err != nil {
		return nil, 0, err
	}
	parts := []string{name}
	for p.atOp(".") {
		if len(parts) == max {
			return nil, 0, p.errHere("expected " + what + " with at most " + strconv.Itoa(max) + " parts")
		}
		p.advance()
		part, _, err := p.identifier(what)
		if err != nil {
			return nil, 0, err
		}
		parts = append(parts, part)
	}
	return parts, pos, nil
}

// stringLiteral reads a string literal in any quoting style.
func (p *parser) stringLiteral(what string) (string, int, error) {
	t := p.peek()
	if t.kind != tkString {
		return "", 0, p.errHere("expected " + what + " as a string literal")
	}
	p.advance()
	return t.val, t.pos, nil
}

// value reads an option value: a string, a (signed) number or a word
// (identifier/keyword such as on, off, true, false).
func (p *parser) value(what string) (string, ValueKind, int, error) {
	t := p.peek()
	switch {
	case t.kind == tkString:
		p.advance()
		return t.val, ValString, t.pos, nil
	case t.kind == tkNumber:
		p.advance()
		return t.val, ValNumber, t.pos, nil
	case t.kind == tkOp && (t.val == "-" || t.val == "+") && p.peekN(1).kind == tkNumber && p.peekN(1).pos == t.end:
		p.advance()
		n := p.advance()
		v := n.val
		if t.val == "-" {
			v = "-" + v
		}
		return v, ValNumber, t.pos, nil
	case t.kind == tkIdent:
		p.advance()
		return t.val, ValWord, t.pos, nil
	}
	return "", 0, 0, p.errHere("expected " + what + ": a string, number or word")
}

// list parses '(' item {',' item} ')'. An empty list is an error.
func (p *parser) list(item func() error) error {
	if err := p.expectOp("("); err != nil {
		return err
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if p.optionalOp(",") {
			continue
		}
		if !p.atOp(")") {
			return p.errHere("expected , or )")
		}
		p.advance()
		return nil
	}
}

// optionList parses ( key 'value' [, ...] ), the OPTIONS form.
func (p *parser) optionList() ([]Option, error) {
	var opts []Option
	err := p.list(func() error {
		key, kpos, err := p.identifier("option name")
		if err != nil {
			return err
		}
		v, kind, vpos, err := p.value("value of option " + key)
		if err != nil {
			return err
		}
		opts = append(opts, Option{Key: key, Value: v, Kind: kind, KeyPos: kpos, ValuePos: vpos})
		return nil
	})
	return opts, err
}

// withList parses ( key = value [, ...] ), the WITH/SET form.
func (p *parser) withList() ([]Option, error) {
	var opts []Option
	err := p.list(func() error {
		key, kpos, err := p.identifier("setting name")
		if err != nil {
			return err
		}
		if err := p.expectOp("="); err != nil {
			return err
		}
		v, kind, vpos, err := p.value("value of " + key)
		if err != nil {
			return err
		}
		opts = append(opts, Option{Key: key, Value: v, Kind: kind, KeyPos: kpos, ValuePos: vpos})
		return nil
	})
	return opts, err
}

// identList parses ( a, b, ... ) of plain names.
func (p *parser) identList(what string) ([]string, error) {
	var names []string
	err := p.list(func() error {
		n, _, err := p.identifier(what)
		names = append(names, n)
		return err
	})
	return names, err
}

// expectEnd accepts trailing semicolons, then requires the end of input.
func (p *parser) expectEnd() error {
	for p.optionalOp(";") {
	}
	if p.peek().kind != tkEOF {
		return p.errHere("expected end of statement")
	}
	return nil
}

// stringContent reads a string literal like stringLiteral and also returns the byte
// offset of its first character inside the quotes.
func (p *parser) stringContent(what string) (string, int, error) {
	t := p.peek()
	v, _, err := p.stringLiteral(what)
	if err != nil {
		return "", 0, err
	}
	return v, contentPos(p.text, t), nil
}

// contentPos is the byte offset just inside the opening delimiter of string token t.
func contentPos(text string, t token) int {
	switch c := text[t.pos]; {
	case c == '\'':
		return t.pos + 1
	case c == '$':
		tag, _ := dollarTag(text[t.pos:])
		return t.pos + len(tag)
	case c|0x20 == 'u': // U&'
		return t.pos + 3
	default: // E'...', N'...'
		return t.pos + 2
	}
}

// LiteralOffset maps byte k of a decoded string literal whose contents start at
// byte contentPos of text (a WherePos or ExprPos) to a byte offset in text, so an
// error inside the literal's value can be pointed at. It undoes doubled quotes in
// '...' literals and is exact for those and for $$...$$; for E'...' escapes and
// literals continued over lines it is approximate. The result is clamped to text.
func LiteralOffset(text string, contentPos, k int) int {
	if contentPos < 0 || contentPos > len(text) {
		return len(text)
	}
	quoted := contentPos > 0 && text[contentPos-1] == '\''
	i := contentPos
	for ; k > 0 && i < len(text); k-- {
		if quoted && text[i] == '\'' && i+1 < len(text) && text[i+1] == '\'' {
			i++
		}
		i++
	}
	if i > len(text) {
		i = len(text)
	}
	return i
}

// once records that the clause name starts at token t; a second one is an error.
func (p *parser) once(seen map[string]bool, name string, t token) error {
	if seen[name] {
		return syntaxErrorAt(p.text, t, name+" is given more than once")
	}
	seen[name] = true
	return nil
}

// atEnd reports whether only semicolons are left.
func (p *parser) atEnd() bool {
	for k := p.i; ; k++ {
		t := p.toks[k]
		if t.kind == tkEOF {
			return true
		}
		if t.kind != tkOp || t.val != ";" {
			return false
		}
	}
}

// positiveInt reads a whole number > 0 that fits in bits bits.
func (p *parser) positiveInt(what string, bits int) (int64, int, error) {
	t := p.peek()
	if t.kind == tkNumber {
		if n, err := strconv.ParseInt(t.val, 10, bits); err == nil && n > 0 {
			p.advance()
			return n, t.pos, nil
		}
	}
	return 0, 0, p.errHere("expected " + what + ": a positive whole number")
}

// identListPos parses ( a, b, ... ) and returns the names with their offsets.
func (p *parser) identListPos(what string) ([]string, []int, error) {
	var names []string
	var pos []int
	err := p.list(func() error {
		n, at, err := p.identifier(what)
		names = append(names, n)
		pos = append(pos, at)
		return err
	})
	return names, pos, err
}

// schemaName reads an optional [schema.]name; schema is "" without one.
func (p *parser) schemaName(what string) (schema, name string, pos int, err error) {
	parts, pos, err := p.qualifiedName(what, 2)
	if err != nil {
		return "", "", 0, err
	}
	if len(parts) == 2 {
		return parts[0], parts[1], pos, nil
	}
	return "", parts[0], pos, nil
}
