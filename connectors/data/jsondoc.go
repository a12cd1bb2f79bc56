package data

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// JSONDoc is the canonical text of a JSON document, for comparing JSON
// columns whose two databases print equal documents differently (the
// checksum normal form compares JSON as printed): MariaDB
// keeps the text as written, PostgreSQL's jsonb sorts keys and adds
// spaces, MySQL prints numbers as doubles. Keys are sorted (the last of a
// duplicated key wins, as in jsonb), numbers compare as decimals (1.50 is
// 1.5e0), strings by their characters. ok is false for text that is not
// one JSON document.
func JSONDoc(s string) (string, bool) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", false
	}
	if _, err := d.Token(); err == nil {
		return "", false // more than one document
	}
	var b bytes.Buffer
	writeJSONDoc(&b, v)
	return b.String(), true
}

func writeJSONDoc(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONDoc(b, k)
			b.WriteByte(':')
			writeJSONDoc(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONDoc(b, e)
		}
		b.WriteByte(']')
	case json.Number:
		b.WriteString(decimalNumber(string(x)))
	default: // string, bool, nil
		enc, _ := json.Marshal(x)
		b.Write(enc)
	}
}

// decimalNumber writes a JSON number as its significant digits and an
// exponent ("-15e-1" for -1.50), so equal decimals spell the same.
func decimalNumber(s string) string {
	sign := ""
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		sign, s = "-", rest
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return sign + s
		}
		mant, exp = s[:i], e
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	exp -= len(frac)
	if digits == "" {
		return "0"
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	return sign + trimmed + "e" + strconv.Itoa(exp)
}

// SameDocuments reports whether two rows of normal-form values are equal
// once the values at jsonCols are read as JSON documents (JSONDoc).
func SameDocuments(a, b []*string, jsonCols []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		switch {
		case a[i] == nil || b[i] == nil:
			if a[i] != b[i] {
				return false
			}
		case *a[i] == *b[i]:
		case slices.Contains(jsonCols, i):
			x, okX := JSONDoc(*a[i])
			y, okY := JSONDoc(*b[i])
			if !okX || !okY || x != y {
				return false
			}
		default:
			return false
		}
	}
	return true
}
