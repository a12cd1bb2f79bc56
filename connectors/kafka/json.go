package kafka

// A JSON reader for the two message formats. Decoding is most of what a
// message costs (encoding/json into maps took about 20 µs per canal
// message, more than the target's apply), so messages are read in one
// pass: the whole text is checked as encoding/json checks it (RFC 8259,
// nesting at most 10000 deep), only the fields the formats use are
// kept, and a string without escapes is returned as a slice of the
// message itself, not a copy. The message stays in memory until the target
// committed it anyway (the pipeline keeps it for bad-record excerpts).
//
// It reads what encoding/json reads the same way: invalid UTF-8 and lone
// surrogate escapes in strings become U+FFFD; object keys match the
// formats' field names exactly or else without regard to case; the last
// of duplicate keys wins.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

const maxDepth = 10000

// syntaxError is text that is not JSON.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

// typeError is a field holding another JSON type than its format says.
type typeError struct{ field, got string }

func (e *typeError) Error() string { return fmt.Sprintf("field %q holds a JSON %s", e.field, e.got) }

// jsonReader reads one JSON text. The first type error is kept while the
// rest is still read and checked: a text that is not JSON is "not JSON"
// wherever the type error was.
type jsonReader struct {
	b       []byte
	i       int
	depth   int
	typeErr *typeError

	// Scratch space of one message, reused through readers (the pool):
	// the rows' fields, type entries, string lists, column names and the
	// layout key. What a message keeps points into the message itself.
	fields []field
	types  []typeEntry
	strs   [][]byte
	names  [][]byte
	key    []byte
}

var readers = sync.Pool{New: func() any { return new(jsonReader) }}

// newReader is a reader of raw from the pool; release it once nothing
// read from it is used any more.
func newReader(raw []byte) *jsonReader {
	r := readers.Get().(*jsonReader)
	r.b, r.i, r.depth, r.typeErr = raw, 0, 0, nil
	return r
}

func (r *jsonReader) release() {
	// Drop the references into the message, so the pool keeps none alive.
	clear(r.fields)
	clear(r.types)
	clear(r.strs)
	clear(r.names)
	r.fields, r.types, r.strs, r.names, r.key = r.fields[:0], r.types[:0], r.strs[:0], r.names[:0], r.key[:0]
	r.b = nil
	readers.Put(r)
}

func (r *jsonReader) fail(msg string) error { return &syntaxError{off: r.i, msg: msg} }

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek is the next byte after white space, 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// end reports whether only white space is left.
func (r *jsonReader) end() bool {
	r.ws()
	return r.i >= len(r.b)
}

// kindName names the JSON type of the value starting with c, as
// encoding/json's type errors do.
func kindName(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// mismatch records that field holds a value of another type and skips
// the value.
func (r *jsonReader) mismatch(field string) error {
	if r.typeErr == nil {
		r.typeErr = &typeError{field: field, got: kindName(r.peek())}
	}
	return r.skip()
}

// null reads a null if one comes next.
func (r *jsonReader) null() (bool, error) {
	if r.peek() != 'n' {
		return false, nil
	}
	return true, r.literal("null")
}

func (r *jsonReader) literal(word string) error {
	if len(r.b)-r.i < len(word) || string(r.b[r.i:r.i+len(word)]) != word {
		return r.fail("invalid literal")
	}
	r.i += len(word)
	return nil
}

// str reads a string and returns its content: a slice of the text when
// it holds no escapes and only valid UTF-8, else a new decoded copy.
func (r *jsonReader) str() ([]byte, error) {
	if r.peek() != '"' {
		return nil, r.fail("expected a string")
	}
	r.i++
	start := r.i
	for r.i < len(r.b) {
		for r.i < len(r.b) && plainByte[r.b[r.i]] {
			r.i++
		}
		if r.i == len(r.b) {
			break
		}
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return r.b[start : r.i-1], nil
		case c == '\\' || c < 0x20:
			return r.strSlow(start)
		case c < utf8.RuneSelf:
			r.i++
		default:
			ru, size := utf8.DecodeRune(r.b[r.i:])
			if ru == utf8.RuneError && size == 1 {
				return r.strSlow(start)
			}
			r.i += size
		}
	}
	return nil, r.fail("unterminated string")
}

// plainByte marks the bytes a string holds as they are: ASCII but for
// quotes, backslashes and control characters.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// strSlow decodes a string with escapes or invalid UTF-8 from start (just
// after the opening quote).
func (r *jsonReader) strSlow(start int) ([]byte, error) {
	out := append(make([]byte, 0, r.i-start+16), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return out, nil
		case c < 0x20:
			return nil, r.fail("control character in string")
		case c == '\\':
			ru, err := r.escape()
			if err != nil {
				return nil, err
			}
			if utf16.IsSurrogate(ru) {
				// A pair of escapes is one character; anything else leaves
				// the first one a replacement character.
				save := r.i
				if lo, err := r.escape(); err == nil {
					if dec := utf16.DecodeRune(ru, lo); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						continue
					}
				}
				r.i = save
				ru = utf8.RuneError
			}
			out = utf8.AppendRune(out, ru)
		case c < utf8.RuneSelf:
			out = append(out, c)
			r.i++
		default:
			ru, size := utf8.DecodeRune(r.b[r.i:])
			r.i += size
			out = utf8.AppendRune(out, ru) // invalid bytes become U+FFFD
		}
	}
	return nil, r.fail("unterminated string")
}

// escape reads one backslash escape.
func (r *jsonReader) escape() (rune, error) {
	if r.i+1 >= len(r.b) || r.b[r.i] != '\\' {
		return 0, r.fail("invalid escape")
	}
	c := r.b[r.i+1]
	r.i += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		if r.i+4 > len(r.b) {
			return 0, r.fail("invalid \\u escape")
		}
		var n rune
		for _, h := range r.b[r.i : r.i+4] {
			switch {
			case '0' <= h && h <= '9':
				n = n<<4 | rune(h-'0')
			case 'a' <= h && h <= 'f':
				n = n<<4 | rune(h-'a'+10)
			case 'A' <= h && h <= 'F':
				n = n<<4 | rune(h-'A'+10)
			default:
				return 0, r.fail("invalid \\u escape")
			}
		}
		r.i += 4
		return n, nil
	}
	return 0, r.fail("invalid escape")
}

// number reads a number as written.
func (r *jsonReader) number() ([]byte, error) {
	start := r.i
	digits := func() int {
		n := 0
		for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case digits() == 0:
		return nil, r.fail("invalid number")
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if digits() == 0 {
			return nil, r.fail("invalid number")
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if digits() == 0 {
			return nil, r.fail("invalid number")
		}
	}
	return r.b[start:r.i], nil
}

// object reads an object, calling member for each key with the reader at
// the key's value, which member must read.
func (r *jsonReader) object(member func(key []byte) error) error {
	if r.peek() != '{' {
		return r.fail("expected an object")
	}
	if r.depth++; r.depth > maxDepth {
		return r.fail("nested too deep")
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		r.depth--
		return nil
	}
	for {
		key, err := r.str()
		if err != nil {
			return err
		}
		if r.peek() != ':' {
			return r.fail("expected ':'")
		}
		r.i++
		if err := member(key); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			r.depth--
			return nil
		default:
			return r.fail("expected ',' or '}'")
		}
	}
}

// array reads an array, calling elem with the reader at each element.
func (r *jsonReader) array(elem func() error) error {
	if r.peek() != '[' {
		return r.fail("expected an array")
	}
	if r.depth++; r.depth > maxDepth {
		return r.fail("nested too deep")
	}
	r.i++
	if r.peek() == ']' {
		r.i++
		r.depth--
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			r.depth--
			return nil
		default:
			return r.fail("expected ',' or ']'")
		}
	}
}

// skip reads and checks a value of any type.
func (r *jsonReader) skip() error {
	switch c := r.peek(); {
	case c == '{':
		return r.object(func([]byte) error { return r.skip() })
	case c == '[':
		return r.array(r.skip)
	case c == '"':
		_, err := r.str()
		return err
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		_, err := r.number()
		return err
	}
	return r.fail("expected a value")
}

// text reads a value as a message value's text: a string's content, a
// number or boolean as written, an object or array as compact JSON; nil
// for null.
func (r *jsonReader) text() ([]byte, error) {
	switch c := r.peek(); c {
	case '"':
		return r.str()
	case 'n':
		return nil, r.literal("null")
	case '{', '[':
		start := r.i
		if err := r.skip(); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, r.b[start:r.i]); err != nil {
			return nil, r.fail(err.Error())
		}
		return buf.Bytes(), nil
	default:
		start := r.i
		if err := r.skip(); err != nil {
			return nil, err
		}
		return r.b[start:r.i], nil
	}
}

// field is one column value of a row: v is nil for NULL.
type field struct {
	name []byte
	v    []byte
}

// row is a row image as the message lists it.
type row []field

// rows reads an array of row objects (null: none; a null element: a row
// without columns).
func (r *jsonReader) rows(name string) ([]row, error) {
	if null, err := r.null(); null || err != nil {
		return nil, err
	}
	if r.peek() != '[' {
		return nil, r.mismatch(name)
	}
	var out []row
	err := r.array(func() error {
		if null, err := r.null(); null || err != nil {
			out = append(out, nil)
			return err
		}
		if r.peek() != '{' {
			return r.mismatch(name)
		}
		start := len(r.fields)
		err := r.object(func(key []byte) error {
			v, err := r.text()
			if err != nil {
				return err
			}
			for i := start; i < len(r.fields); i++ {
				if string(r.fields[i].name) == string(key) {
					r.fields[i].v = v // the last of duplicate keys wins
					return nil
				}
			}
			r.fields = append(r.fields, field{key, v})
			return nil
		})
		out = append(out, row(r.fields[start:len(r.fields):len(r.fields)]))
		return err
	})
	return out, err
}

// optString reads a string or null (nil, false).
func (r *jsonReader) optString(name string) ([]byte, bool, error) {
	if null, err := r.null(); null || err != nil {
		return nil, false, err
	}
	if r.peek() != '"' {
		return nil, false, r.mismatch(name)
	}
	s, err := r.str()
	return s, err == nil, err
}

// optBool reads a boolean or null (false, false).
func (r *jsonReader) optBool(name string) (val, set bool, err error) {
	switch r.peek() {
	case 't':
		return true, true, r.literal("true")
	case 'f':
		return false, true, r.literal("false")
	case 'n':
		return false, false, r.literal("null")
	}
	return false, false, r.mismatch(name)
}

// stringList reads an array of strings (null elements are "").
func (r *jsonReader) stringList(name string) ([][]byte, error) {
	if null, err := r.null(); null || err != nil {
		return nil, err
	}
	if r.peek() != '[' {
		return nil, r.mismatch(name)
	}
	start := len(r.strs)
	err := r.array(func() error {
		s, _, err := r.optString(name)
		r.strs = append(r.strs, s)
		return err
	})
	return r.strs[start:len(r.strs):len(r.strs)], err
}

// typeEntry is one member of a column-type object: mysqlType and
// dbValType map names to MySQL types, jdbcType to java.sql.Types codes.
type typeEntry struct {
	name []byte
	typ  []byte // MySQL type; for jdbcType the code as written
}

// typeMap reads an object of strings (jdbc: of integers).
func (r *jsonReader) typeMap(name string, jdbc bool) ([]typeEntry, error) {
	if null, err := r.null(); null || err != nil {
		return nil, err
	}
	if r.peek() != '{' {
		return nil, r.mismatch(name)
	}
	start := len(r.types)
	err := r.object(func(key []byte) error {
		var v []byte
		var err error
		switch c := r.peek(); {
		case c == 'n':
			err = r.literal("null")
		case !jdbc && c == '"':
			v, err = r.str()
		case jdbc && (c == '-' || '0' <= c && c <= '9'):
			if v, err = r.number(); err == nil && bytes.ContainsAny(v, ".eE") {
				if r.typeErr == nil {
					r.typeErr = &typeError{field: name + "." + string(key), got: "number " + string(v)}
				}
				v = nil
			}
		default:
			return r.mismatch(name + "." + string(key))
		}
		r.types = append(r.types, typeEntry{key, v})
		return err
	})
	return r.types[start:len(r.types):len(r.types)], err
}

// readMessage reads a message object, calling member for each key; it
// returns a *syntaxError for text that is not JSON and else the first
// *typeError.
func (r *jsonReader) readMessage(member func(key []byte) error) error {
	var err error
	if r.peek() == '{' {
		err = r.object(member)
	} else {
		err = r.mismatch("")
	}
	if err == nil && !r.end() {
		err = r.fail("text after the value")
	}
	if err != nil {
		return err
	}
	if r.typeErr != nil {
		return r.typeErr
	}
	return nil
}
