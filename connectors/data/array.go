package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/flowgate/flowgate/connectors/schema"
)

// ArrayToJSON turns a PostgreSQL array literal ({1,2,NULL}, {"a b",c},
// {{1,2},{3,4}}) into a JSON array, as a change stream must when a source
// array goes into a JSON column (the batch export asks PostgreSQL's
// array_to_json instead). Elements of numeric kinds become JSON numbers,
// booleans true/false, NULL null, everything else strings.
func ArrayToJSON(v []byte, elem schema.Kind) ([]byte, error) {
	p := arrayParser{s: string(v)}
	if i := strings.Index(p.s, "={"); i >= 0 && strings.HasPrefix(p.s, "[") {
		p.s = p.s[i+1:] // drop explicit bounds: [0:1]={...}
	}
	var b strings.Builder
	if err := p.array(&b, elem); err != nil {
		return nil, fmt.Errorf("array %q: %w", truncate(v), err)
	}
	if p.i != len(p.s) {
		return nil, fmt.Errorf("array %q: trailing text", truncate(v))
	}
	return []byte(b.String()), nil
}

type arrayParser struct {
	s string
	i int
}

var errArraySyntax = errors.New("malformed array literal")

func (p *arrayParser) array(b *strings.Builder, elem schema.Kind) error {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return errArraySyntax
	}
	p.i++
	b.WriteByte('[')
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		b.WriteByte(']')
		return nil
	}
	for n := 0; ; n++ {
		if n > 0 {
			b.WriteByte(',')
		}
		if err := p.element(b, elem); err != nil {
			return err
		}
		if p.i >= len(p.s) {
			return errArraySyntax
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			b.WriteByte(']')
			return nil
		default:
			return errArraySyntax
		}
	}
}

func (p *arrayParser) element(b *strings.Builder, elem schema.Kind) error {
	if p.i >= len(p.s) {
		return errArraySyntax
	}
	switch p.s[p.i] {
	case '{':
		return p.array(b, elem)
	case '"':
		var sb strings.Builder
		for p.i++; ; p.i++ {
			if p.i >= len(p.s) {
				return errArraySyntax
			}
			c := p.s[p.i]
			if c == '\\' && p.i+1 < len(p.s) {
				p.i++
				sb.WriteByte(p.s[p.i])
				continue
			}
			if c == '"' {
				p.i++
				break
			}
			sb.WriteByte(c)
		}
		writeJSONScalar(b, sb.String(), elem)
		return nil
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != '}' {
		p.i++
	}
	tok := strings.TrimSpace(p.s[start:p.i])
	if strings.EqualFold(tok, "NULL") {
		b.WriteString("null")
		return nil
	}
	writeJSONScalar(b, tok, elem)
	return nil
}

func writeJSONScalar(b *strings.Builder, v string, elem schema.Kind) {
	switch {
	case elem == schema.Bool && (v == "t" || v == "f"):
		b.WriteString(map[string]string{"t": "true", "f": "false"}[v])
		return
	case elem.IsInteger() || elem == schema.Decimal || elem == schema.Float32 || elem == schema.Float64:
		if json.Valid([]byte(v)) && v != "" && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
			b.WriteString(v)
			return
		}
	}
	q, _ := json.Marshal(v)
	b.Write(q)
}
