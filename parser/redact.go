package parser

import "strings"

// Mask replaces secret values in redacted text.
const Mask = "'********'"

// Redact returns text with secrets replaced by Mask: the literal after the keyword
// PASSWORD, and the value of every `key value` / `key = value` item whose key
// isSecretKey (may be nil) reports true. It works on tokens alone, so statements with
// syntax errors, several statements, or a cut-off text are masked too; an
// unterminated literal is masked to the end. It over-masks rather than leak (a
// WHERE password = 'x' is masked as well). Never panics.
func Redact(text string, isSecretKey func(key string) bool) string {
	toks, _ := lex(text, true)
	at := func(i int) token {
		if i >= 0 && i < len(toks) {
			return toks[i]
		}
		return token{kind: tkEOF, pos: len(text), end: len(text)}
	}
	literal := func(t token) bool {
		return t.kind == tkString || t.kind == tkNumber || t.kind == tkBits
	}
	mask := map[int]bool{}
	for i, t := range toks {
		if t.kind != tkIdent {
			continue
		}
		j := i + 1
		if n := at(j); n.kind == tkOp && (n.val == "=" || n.val == ":=") {
			j++
		}
		// A signed number: mask the sign with it.
		if n := at(j); n.kind == tkOp && (n.val == "-" || n.val == "+") && at(j+1).kind == tkNumber {
			mask[j] = true
			j++
		}
		v := at(j)
		switch {
		case isKeyword(t, "password") && literal(v):
			mask[j] = true
		case isSecretKey != nil && isSecretKey(t.val):
			if literal(v) {
				mask[j] = true
				continue
			}
			// A bare word as value, in an option list: ( key word , / ).
			prev, after := at(i-1), at(j+1)
			inList := i > 0 && prev.kind == tkOp && (prev.val == "(" || prev.val == ",")
			ends := after.kind == tkEOF || after.kind == tkOp && (after.val == "," || after.val == ")")
			if v.kind == tkIdent && inList && ends {
				mask[j] = true
			}
		}
	}
	if len(mask) == 0 {
		return text
	}
	var b strings.Builder
	last := 0
	for i, t := range toks {
		if !mask[i] {
			continue
		}
		b.WriteString(text[last:t.pos])
		if toks[i].kind == tkOp { // the sign of a masked number
			last = t.end
			continue
		}
		b.WriteString(Mask)
		last = t.end
	}
	b.WriteString(text[last:])
	return b.String()
}
