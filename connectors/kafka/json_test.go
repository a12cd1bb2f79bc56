package kafka

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The message reader reads a value as encoding/json does: it accepts
// exactly the texts json.Valid accepts, and a value's text is what
// encoding/json decodes (strings with their escapes, invalid UTF-8 and
// lone surrogates as U+FFFD; numbers as written; objects and arrays
// compacted). Seeds run with go test; go test -fuzz FuzzJSONText looks
// for more.
func FuzzJSONText(f *testing.F) {
	for _, s := range []string{
		`"abc"`, `"a\u00ffb\u0000"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ud83d\u0041"`, `"\ude00\ud83d"`, "\"\xff\xfe\"",
		"\"caf\xc3\xa9 \xe2\x82\"", `"\"\\\/\b\f\n\r\t"`, `"\u00"`, `"\x"`, "\"a\x01\"", `"unterminated`, `{"a": [1, 2, {"b": null}], "c": "d"}`,
		` [ true , false , null ] `, `-0.5e+3`, `0`, `-0`, `01`, `1.`, `.5`, `1e`, `+1`, `-`, `tru`, `nul`, `[`, `]`, `{"a"}`, `{"a":1,}`,
		`[1,]`, `{}`, `[]`, ``, ` `, `"a" "b"`, `1 2`, `{"a":1}x`, "\"tab\tin\"", "\"\"\x00", "\x00", `"\u12G4"`, strings.Repeat("[", 50) + strings.Repeat("]", 50),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &jsonReader{b: b}
		got, err := r.text()
		if err == nil && !r.end() {
			err = r.fail("text after the value")
		}
		if valid := json.Valid(b); (err == nil) != valid {
			t.Fatalf("%q: reader error %v, json.Valid %v", b, err, valid)
		}
		if err != nil {
			return
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var x any
		if err := d.Decode(&x); err != nil {
			t.Fatalf("%q: encoding/json: %v", b, err)
		}
		var want []byte
		switch x := x.(type) {
		case nil:
		case string:
			want = []byte(x)
		case json.Number:
			want = []byte(x)
		case bool:
			want = []byte("false")
			if x {
				want = []byte("true")
			}
		default:
			var buf bytes.Buffer
			json.Compact(&buf, b)
			want = buf.Bytes()
		}
		if (got == nil) != (want == nil) || !bytes.Equal(got, want) {
			t.Fatalf("%q: read %q, encoding/json %q", b, got, want)
		}
	})
}

// Objects nested deeper than encoding/json allows are not JSON.
func TestJSONDepth(t *testing.T) {
	ok := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	deep := "[" + ok + "]"
	for _, c := range []struct {
		text string
		want bool
	}{{ok, true}, {deep, false}} {
		r := &jsonReader{b: []byte(c.text)}
		err := r.skip()
		if (err == nil) != c.want || json.Valid([]byte(c.text)) != c.want {
			t.Errorf("depth %d: reader %v, json.Valid %v, want valid = %v", strings.Count(c.text, "["), err, json.Valid([]byte(c.text)), c.want)
		}
	}
}
