package parser

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind classifies lexer tokens. Keywords are not a kind of their own: our grammar
// reserves nothing, so a keyword is an unquoted identifier with the right value.
type tokKind int

const (
	tkEOF    tokKind = iota
	tkIdent          // val: folded (unquoted) or as written ("quoted")
	tkString         // val: decoded contents; '...', E'...', $$...$$, U&'...', N'...'
	tkBits           // B'...' / X'...'; val: the digits
	tkNumber         // val: text without underscores
	tkParam          // $n; val: the digits
	tkOp             // operators and punctuation, val = text
	tkJunk           // a byte no PostgreSQL token starts with
)

type token struct {
	kind   tokKind
	val    string
	pos    int // byte offset of the first byte
	end    int // byte offset after the last byte
	quoted bool
}

// lexer implements the PostgreSQL scanner rules we need (scan.l), with
// standard_conforming_strings on. In lenient mode it never fails: unterminated
// constructs run to the end of the input, which is what Split and Redact want.
type lexer struct {
	src     string
	i       int
	lenient bool
	err     error
}

// lex tokenizes src. Comments and whitespace produce no tokens. On error (strict mode
// only) it returns the tokens read so far and a 42601/22xxx *pgconn.PgError.
func lex(src string, lenient bool) ([]token, error) {
	l := &lexer{src: src, lenient: lenient}
	var toks []token
	for {
		t, ok := l.next()
		if !ok {
			return toks, l.err
		}
		toks = append(toks, t)
		if t.kind == tkEOF {
			return toks, nil
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentCont(c byte) bool {
	return isIdentStart(c) || isDigit(c) || c == '$'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isOpChar(c byte) bool { return strings.IndexByte("+-*/<>=~!@#%^&|`?", c) >= 0 }

func (l *lexer) peekAt(k int) byte {
	if l.i+k < len(l.src) {
		return l.src[l.i+k]
	}
	return 0
}

// fail records a strict-mode error; it reports whether lexing must stop.
func (l *lexer) fail(err error) bool {
	if l.lenient {
		return false
	}
	if l.err == nil {
		l.err = err
	}
	return true
}

// skipSpace skips whitespace and comments; it reports false on an unterminated
// block comment in strict mode.
func (l *lexer) skipSpace() bool {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case isSpace(c):
			l.i++
		case c == '-' && l.peekAt(1) == '-':
			for l.i < len(l.src) && l.src[l.i] != '\n' && l.src[l.i] != '\r' {
				l.i++
			}
		case c == '/' && l.peekAt(1) == '*':
			start := l.i
			depth := 0
			for l.i < len(l.src) {
				if l.src[l.i] == '/' && l.peekAt(1) == '*' {
					depth++
					l.i += 2
				} else if l.src[l.i] == '*' && l.peekAt(1) == '/' {
					depth--
					l.i += 2
					if depth == 0 {
						break
					}
				} else {
					l.i++
				}
			}
			if depth > 0 && l.fail(nearError(l.src, start, "unterminated /* comment", l.src[start:])) {
				return false
			}
		default:
			return true
		}
	}
	return true
}

func (l *lexer) next() (token, bool) {
	if !l.skipSpace() {
		return token{}, false
	}
	start := l.i
	if l.i >= len(l.src) {
		return token{kind: tkEOF, pos: start, end: start}, true
	}
	c := l.src[l.i]
	c1 := l.peekAt(1)
	switch {
	case (c == 'e' || c == 'E') && c1 == '\'':
		l.i++
		return l.quotedString(start, 'e')
	case (c == 'n' || c == 'N') && c1 == '\'':
		l.i++
		return l.quotedString(start, 's')
	case (c == 'b' || c == 'B' || c == 'x' || c == 'X') && c1 == '\'':
		l.i++
		t, ok := l.quotedString(start, 'b')
		t.kind = tkBits
		return t, ok
	case (c == 'u' || c == 'U') && c1 == '&' && (l.peekAt(2) == '\'' || l.peekAt(2) == '"'):
		l.i += 2
		if l.src[l.i] == '"' {
			return l.quotedIdent(start, true)
		}
		return l.quotedString(start, 'u')
	case c == '\'':
		return l.quotedString(start, 's')
	case c == '"':
		return l.quotedIdent(start, false)
	case isIdentStart(c):
		for l.i < len(l.src) && isIdentCont(l.src[l.i]) {
			l.i++
		}
		return token{kind: tkIdent, val: foldIdent(l.src[start:l.i]), pos: start, end: l.i}, true
	case isDigit(c) || c == '.' && isDigit(c1):
		return l.number(start)
	case c == '$':
		if isDigit(c1) {
			l.i++
			for l.i < len(l.src) && isDigit(l.src[l.i]) {
				l.i++
			}
			t := token{kind: tkParam, val: l.src[start+1 : l.i], pos: start, end: l.i}
			// Junk is an identifier glued on ($1a); $1$2 is two parameters.
			if l.i < len(l.src) && isIdentStart(l.src[l.i]) {
				for l.i < len(l.src) && isIdentCont(l.src[l.i]) {
					l.i++
				}
				t.end = l.i
				if l.fail(nearError(l.src, start, "trailing junk after parameter", l.src[start:l.i])) {
					return t, false
				}
			}
			return t, true
		}
		if tag, ok := dollarTag(l.src[l.i:]); ok {
			return l.dollarString(start, tag)
		}
		l.i++
		return token{kind: tkJunk, val: "$", pos: start, end: l.i}, true
	case c == ':' && c1 == ':', c == ':' && c1 == '=', c == '.' && c1 == '.':
		l.i += 2
		return token{kind: tkOp, val: l.src[start:l.i], pos: start, end: l.i}, true
	case strings.IndexByte("(),;[]:.", c) >= 0:
		l.i++
		return token{kind: tkOp, val: l.src[start:l.i], pos: start, end: l.i}, true
	case isOpChar(c):
		t := l.operator(start)
		// Operators are names: at most NAMEDATALEN-1 (63) bytes.
		if len(t.val) >= 64 && l.fail(nearError(l.src, start, "operator too long", t.val)) {
			return t, false
		}
		return t, true
	}
	// A byte that starts no token: PostgreSQL reports a syntax error at it.
	_, size := utf8.DecodeRuneInString(l.src[l.i:])
	l.i += size
	return token{kind: tkJunk, val: l.src[start:l.i], pos: start, end: l.i}, true
}

// foldIdent lower-cases ASCII letters only, like PostgreSQL's downcase_identifier
// for UTF-8 databases.
func foldIdent(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func (l *lexer) operator(start int) token {
	for l.i < len(l.src) && isOpChar(l.src[l.i]) {
		// A comment start ends the operator, even in the middle.
		if l.i > start && (l.src[l.i] == '-' && l.peekAt(1) == '-' || l.src[l.i] == '/' && l.peekAt(1) == '*') {
			break
		}
		l.i++
	}
	op := l.src[start:l.i]
	// scan.l: a multi-char operator can't end in + or - unless it holds one of ~!@#%^&|`?
	// (so that "a=-1" is "=" then "-1").
	if len(op) > 1 && !strings.ContainsAny(op, "~!@#%^&|`?") {
		for len(op) > 1 && (op[len(op)-1] == '+' || op[len(op)-1] == '-') {
			op = op[:len(op)-1]
		}
		l.i = start + len(op)
	}
	return token{kind: tkOp, val: op, pos: start, end: l.i}
}

// endsInIdent reports whether a numeric literal ends in identifier
// characters from a letter or underscore on (0x1f, 1_000, 1e5). PostgreSQL
// also reads it as the digits before that letter and an identifier, and
// takes the longer match: one more identifier character (0o78, 1_0$, 1e5$)
// makes the literal junk.
func endsInIdent(lit string) bool {
	for p := len(lit) - 1; p >= 0 && isIdentCont(lit[p]); p-- {
		if isIdentStart(lit[p]) {
			return true
		}
	}
	return false
}

func (l *lexer) number(start int) (token, bool) {
	digits := func(ok func(byte) bool) {
		for l.i < len(l.src) {
			c := l.src[l.i]
			if ok(c) || c == '_' && l.i+1 < len(l.src) && ok(l.src[l.i+1]) && l.i > start && ok(l.src[l.i-1]) {
				l.i++
				continue
			}
			break
		}
	}
	c1 := l.peekAt(1)
	if l.src[l.i] == '0' && strings.IndexByte("xXoObB", c1) >= 0 {
		var ok func(byte) bool
		switch c1 | 0x20 {
		case 'x':
			ok = func(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }
		case 'o':
			ok = func(c byte) bool { return c >= '0' && c <= '7' }
		default:
			ok = func(c byte) bool { return c == '0' || c == '1' }
		}
		save := l.i
		l.i += 2
		if l.i < len(l.src) && l.src[l.i] == '_' {
			l.i++ // 0x_FF is allowed
		}
		if l.i < len(l.src) && ok(l.src[l.i]) {
			digits(ok)
		} else {
			base := map[byte]string{'x': "hexadecimal", 'o': "octal", 'b': "binary"}[c1|0x20]
			t := token{kind: tkNumber, val: l.src[start:l.i], pos: start, end: l.i}
			if l.fail(nearError(l.src, start, "invalid "+base+" integer", l.src[start:l.i])) {
				return t, false
			}
			l.i = save + 1 // lenient: "0", then the rest lexes on
		}
	} else {
		digits(isDigit)
		if l.i < len(l.src) && l.src[l.i] == '.' && l.peekAt(1) != '.' {
			l.i++
			digits(isDigit)
		}
		if l.i < len(l.src) && (l.src[l.i] == 'e' || l.src[l.i] == 'E') {
			k := l.i + 1
			if k < len(l.src) && (l.src[k] == '+' || l.src[k] == '-') {
				k++
			}
			if k < len(l.src) && isDigit(l.src[k]) {
				l.i = k
				digits(isDigit)
			}
		}
	}
	t := token{kind: tkNumber, val: strings.ReplaceAll(l.src[start:l.i], "_", ""), pos: start, end: l.i}
	if l.i < len(l.src) && (isIdentStart(l.src[l.i]) || isIdentCont(l.src[l.i]) && endsInIdent(l.src[start:l.i])) {
		for l.i < len(l.src) && isIdentCont(l.src[l.i]) {
			l.i++
		}
		t.end = l.i
		if l.fail(nearError(l.src, start, "trailing junk after numeric literal", l.src[start:l.i])) {
			return t, false
		}
	}
	return t, true
}

// quotedString lexes '...' at l.i (the opening quote). mode: 's' standard, 'e'
// backslash escapes, 'u' Unicode escapes, 'b' bit strings (B'...', X'...').
// Segments separated by whitespace that contains a newline are concatenated,
// as in PostgreSQL.
func (l *lexer) quotedString(start int, mode byte) (token, bool) {
	var b strings.Builder
	for {
		l.i++ // opening quote
		closed := false
		for l.i < len(l.src) {
			c := l.src[l.i]
			if c == '\'' {
				// '' is a quote inside a string; B'...' and X'...' have
				// none: B'''' is B'' and ''.
				if l.peekAt(1) == '\'' && mode != 'b' {
					b.WriteByte('\'')
					l.i += 2
					continue
				}
				l.i++
				closed = true
				break
			}
			if c == '\\' && mode == 'e' && l.i+1 < len(l.src) {
				if !l.backslash(&b, start) {
					return token{}, false
				}
				continue
			}
			b.WriteByte(c)
			l.i++
		}
		if !closed {
			t := token{kind: tkString, val: b.String(), pos: start, end: len(l.src)}
			return t, !l.fail(nearError(l.src, start, "unterminated quoted string", l.src[start:]))
		}
		// Continuation: whitespace with a newline, then another quote.
		k, nl := l.i, false
		for k < len(l.src) && isSpace(l.src[k]) {
			nl = nl || l.src[k] == '\n' || l.src[k] == '\r'
			k++
		}
		if !nl || k >= len(l.src) || l.src[k] != '\'' {
			break
		}
		l.i = k
	}
	val := b.String()
	if mode == 'u' {
		v, err := decodeUnicodeEscapes(val, l.src, start)
		if err != nil && l.fail(err) {
			return token{}, false
		}
		val = v
	}
	// Escapes must make UTF-8, and no escape makes a NUL (E'\0', E'\x00').
	if mode == 'e' && (!utf8.ValidString(val) || strings.IndexByte(val, 0) >= 0) {
		err := pgErr("22021", "invalid byte sequence for encoding \"UTF8\"", OffsetToPosition(l.src, start))
		if l.fail(err) {
			return token{}, false
		}
	}
	return token{kind: tkString, val: val, pos: start, end: l.i}, true
}

// backslash decodes one E'...' escape at l.i (the backslash).
func (l *lexer) backslash(b *strings.Builder, start int) bool {
	c := l.src[l.i+1]
	l.i += 2
	hexN := func(max int) (int, int) {
		v, n := 0, 0
		for n < max && l.i < len(l.src) {
			d, ok := hexVal(l.src[l.i])
			if !ok {
				break
			}
			v = v*16 + d
			n++
			l.i++
		}
		return v, n
	}
	switch c {
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case '0', '1', '2', '3', '4', '5', '6', '7':
		v := int(c - '0')
		for n := 0; n < 2 && l.i < len(l.src) && l.src[l.i] >= '0' && l.src[l.i] <= '7'; n++ {
			v = v*8 + int(l.src[l.i]-'0')
			l.i++
		}
		b.WriteByte(byte(v))
	case 'x':
		if v, n := hexN(2); n > 0 {
			b.WriteByte(byte(v))
		} else {
			b.WriteByte('x')
		}
	case 'u', 'U':
		want := 4
		if c == 'U' {
			want = 8
		}
		v, n := hexN(want)
		if n != want || !utf8.ValidRune(rune(v)) || v == 0 {
			err := pgErr("22025", "invalid Unicode escape", OffsetToPosition(l.src, start))
			err.Hint = `Unicode escapes must be \uXXXX or \UXXXXXXXX.`
			if l.fail(err) {
				return false
			}
			return true
		}
		// A UTF-16 surrogate pair written as two \u escapes.
		if v >= 0xD800 && v <= 0xDBFF && l.i+6 <= len(l.src) && l.src[l.i] == '\\' && l.src[l.i+1] == 'u' {
			if lo, err := strconv.ParseUint(l.src[l.i+2:l.i+6], 16, 32); err == nil && lo >= 0xDC00 && lo <= 0xDFFF {
				v = 0x10000 + (v-0xD800)<<10 + int(lo-0xDC00)
				l.i += 6
			}
		}
		b.WriteRune(rune(v))
	default:
		// Any other escaped byte stands for itself (\\, \', ...). Keep whole UTF-8
		// sequences intact.
		l.i--
		_, size := utf8.DecodeRuneInString(l.src[l.i:])
		b.WriteString(l.src[l.i : l.i+size])
		l.i += size
	}
	return true
}

func hexVal(c byte) (int, bool) {
	switch {
	case isDigit(c):
		return int(c - '0'), true
	case c|0x20 >= 'a' && c|0x20 <= 'f':
		return int(c|0x20-'a') + 10, true
	}
	return 0, false
}

// decodeUnicodeEscapes applies U&'...' / U&"..." escapes (\XXXX, \+XXXXXX, \\) with the
// default escape character.
func decodeUnicodeEscapes(s, src string, start int) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '\\' {
			b.WriteByte('\\')
			i += 2
			continue
		}
		n, skip := 4, 1
		if i+1 < len(s) && s[i+1] == '+' {
			n, skip = 6, 2
		}
		v, ok := 0, i+skip+n <= len(s)
		for k := 0; ok && k < n; k++ {
			d, isHex := hexVal(s[i+skip+k])
			ok = isHex
			v = v*16 + d
		}
		if !ok || !utf8.ValidRune(rune(v)) || v == 0 {
			err := pgErr("22025", "invalid Unicode escape value", OffsetToPosition(src, start))
			return s, err
		}
		b.WriteRune(rune(v))
		i += skip + n
	}
	return b.String(), nil
}

// quotedIdent lexes "..." at l.i (the opening quote).
func (l *lexer) quotedIdent(start int, unicode bool) (token, bool) {
	var b strings.Builder
	l.i++
	for l.i < len(l.src) {
		c := l.src[l.i]
		if c == '"' {
			if l.peekAt(1) == '"' {
				b.WriteByte('"')
				l.i += 2
				continue
			}
			l.i++
			val := b.String()
			if unicode {
				v, err := decodeUnicodeEscapes(val, l.src, start)
				if err != nil && l.fail(err) {
					return token{}, false
				}
				val = v
			}
			t := token{kind: tkIdent, val: val, pos: start, end: l.i, quoted: true}
			if val == "" && l.fail(nearError(l.src, start, "zero-length delimited identifier", l.src[start:l.i])) {
				return t, false
			}
			return t, true
		}
		b.WriteByte(c)
		l.i++
	}
	t := token{kind: tkIdent, val: b.String(), pos: start, end: len(l.src), quoted: true}
	return t, !l.fail(nearError(l.src, start, "unterminated quoted identifier", l.src[start:]))
}

// dollarTag reports the delimiter ("$$" or "$tag$") that s starts with.
func dollarTag(s string) (string, bool) {
	if len(s) < 2 || s[0] != '$' {
		return "", false
	}
	if s[1] == '$' {
		return "$$", true
	}
	if !isIdentStart(s[1]) {
		return "", false
	}
	for k := 2; k < len(s); k++ {
		switch {
		case s[k] == '$':
			return s[:k+1], true
		case !isIdentStart(s[k]) && !isDigit(s[k]):
			return "", false
		}
	}
	return "", false
}

func (l *lexer) dollarString(start int, tag string) (token, bool) {
	body := start + len(tag)
	k := strings.Index(l.src[body:], tag)
	if k < 0 {
		l.i = len(l.src)
		t := token{kind: tkString, val: l.src[body:], pos: start, end: l.i}
		return t, !l.fail(nearError(l.src, start, "unterminated dollar-quoted string", l.src[start:]))
	}
	l.i = body + k + len(tag)
	return token{kind: tkString, val: l.src[body : body+k], pos: start, end: l.i}, true
}
