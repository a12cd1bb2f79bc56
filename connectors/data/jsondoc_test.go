package data

import (
	"strings"
	"testing"
)

func TestJSONDoc(t *testing.T) {
	same := [][2]string{
		{`{"a":[1,2]}`, `{"a": [1, 2]}`},
		{`{"name":"x","id":7}`, `{"id": 7, "name": "x"}`},
		{`{"p":1.50}`, `{"p": 1.5}`},
		{`[1e300, 0.1, -0.0, 100]`, `[1` + strings.Repeat("0", 300) + `, 1e-1, 0, 1E2]`},
		{`"\u00e9"`, `"é"`},
		{`{"k":1,"k":2}`, `{"k": 2}`},
		{` null `, `null`},
	}
	for _, p := range same {
		a, okA := JSONDoc(p[0])
		b, okB := JSONDoc(p[1])
		if !okA || !okB || a != b {
			t.Errorf("%s and %s: %q (%v) != %q (%v)", p[0], p[1], a, okA, b, okB)
		}
	}
	differ := [][2]string{
		{`{"a":1}`, `{"a":"1"}`},
		{`[1,2]`, `[2,1]`},
		{`{"a":1.5}`, `{"a":1.05}`},
		{`{"a":10}`, `{"a":1}`},
		{`{"a":null}`, `{}`},
		{`true`, `"true"`},
	}
	for _, p := range differ {
		a, _ := JSONDoc(p[0])
		b, _ := JSONDoc(p[1])
		if a == b {
			t.Errorf("%s and %s both canonical %q", p[0], p[1], a)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":1} {"b":2}`, `nope`} {
		if _, ok := JSONDoc(bad); ok {
			t.Errorf("%q taken as a document", bad)
		}
	}
}

func TestSameDocuments(t *testing.T) {
	str := func(s string) *string { return &s }
	a := []*string{str("1"), str(`{"b":1,"a":2}`), nil}
	b := []*string{str("1"), str(`{"a": 2, "b": 1.0}`), nil}
	if !SameDocuments(a, b, []int{1}) {
		t.Error("equal documents differ")
	}
	if SameDocuments(a, b, nil) {
		t.Error("a column not named JSON compared as a document")
	}
	c := []*string{str("2"), str(`{"a": 2, "b": 1}`), nil}
	if SameDocuments(a, c, []int{1}) {
		t.Error("a different key compared equal")
	}
	d := []*string{str("1"), str(`{"a": 2, "b": 1}`), str("x")}
	if SameDocuments(a, d, []int{1}) {
		t.Error("NULL and a value compared equal")
	}
}
