package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// TypeText is a native type spelling taken apart: "bigint(20) unsigned"
// gives Name "bigint unsigned" and Args ["20"]; "character varying(10)[]"
// gives Name "character varying", Args ["10"], Array 1; "enum('a','b')"
// gives Name "enum", Args ["a", "b"] (string arguments unquoted).
type TypeText struct {
	Name  string   // lower-cased words outside the parentheses, single-spaced
	Args  []string // the first parenthesized argument list
	Array int      // number of trailing [] pairs
}

// Has reports whether word is one of t's name words, and returns the name
// without it: modifiers such as "unsigned" or "zerofill".
func (t TypeText) Has(word string) (bool, string) {
	words := strings.Fields(t.Name)
	out := words[:0:0]
	found := false
	for _, w := range words {
		if w == word {
			found = true
			continue
		}
		out = append(out, w)
	}
	return found, strings.Join(out, " ")
}

// IntArg returns argument i as a non-negative integer, or def when absent.
func (t TypeText) IntArg(i, def int) (int, error) {
	if i >= len(t.Args) {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(t.Args[i]))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("type argument %q is not a non-negative integer", t.Args[i])
	}
	return n, nil
}

// SplitTypeText takes a native type spelling apart. Single-quoted arguments
// may contain commas, parentheses and doubled or backslash-escaped
// quotes, as MySQL prints enum members.
func SplitTypeText(s string) (TypeText, error) {
	var t TypeText
	s = strings.TrimSpace(s)
	for strings.HasSuffix(s, "]") {
		i := strings.LastIndexByte(s, '[')
		if i < 0 {
			return t, fmt.Errorf("unbalanced [ in type %q", s)
		}
		// PostgreSQL accepts integer[3]; the size is not enforced.
		s = strings.TrimSpace(s[:i])
		t.Array++
	}
	var name strings.Builder
	seenArgs := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '(' || seenArgs {
			if c == '(' || c == ')' {
				return t, fmt.Errorf("unexpected %q in type %q", c, s)
			}
			name.WriteByte(c)
			continue
		}
		seenArgs = true
		args, n, err := splitArgs(s[i+1:])
		if err != nil {
			return t, fmt.Errorf("type %q: %w", s, err)
		}
		t.Args = args
		i += n // now at the closing parenthesis
		name.WriteByte(' ')
	}
	t.Name = strings.ToLower(strings.Join(strings.Fields(name.String()), " "))
	if t.Name == "" {
		return t, fmt.Errorf("empty type name in %q", s)
	}
	return t, nil
}

// splitArgs reads a comma-separated list up to the closing parenthesis and
// returns it with the number of bytes consumed including the parenthesis.
func splitArgs(s string) ([]string, int, error) {
	var args []string
	var cur strings.Builder
	quoted := false // the current argument was a string literal
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			if strings.TrimSpace(cur.String()) == "" {
				cur.Reset() // blanks before the literal
			}
			quoted = true
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '\\' && j+1 < len(s) {
					cur.WriteByte(s[j+1])
					j++
					continue
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						cur.WriteByte('\'')
						j++
						continue
					}
					break
				}
				cur.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, 0, fmt.Errorf("unterminated string")
			}
			i = j
		case c == ',' || c == ')':
			a := cur.String()
			if !quoted {
				a = strings.TrimSpace(a)
			}
			if c == ')' && len(args) == 0 && a == "" && !quoted {
				return nil, i + 1, nil // ()
			}
			args = append(args, a)
			cur.Reset()
			quoted = false
			if c == ')' {
				return args, i + 1, nil
			}
		case c == ' ' && quoted:
		default:
			cur.WriteByte(c)
		}
	}
	return nil, 0, fmt.Errorf("missing )")
}

// QuoteString renders s as a single-quoted SQL string literal with quotes
// doubled; backslashEscapes also doubles backslashes (MySQL's default
// sql_mode reads them as escapes).
func QuoteString(s string, backslashEscapes bool) string {
	s = strings.ReplaceAll(s, "'", "''")
	if backslashEscapes {
		s = strings.ReplaceAll(s, `\`, `\\`)
	}
	return "'" + s + "'"
}

// IsNumeric reports whether k's values are numbers (defaults render bare).
func (k Kind) IsNumeric() bool {
	switch k {
	case Int8, Int16, Int24, Int32, Int64, Decimal, Float32, Float64, Year:
		return true
	}
	return false
}

// IsInteger reports whether k is an integer kind.
func (k Kind) IsInteger() bool {
	switch k {
	case Int8, Int16, Int24, Int32, Int64:
		return true
	}
	return false
}

// IsNumberLiteral reports whether s is a plain decimal number such as -1,
// 2.50 or 1e3.
func IsNumberLiteral(s string) bool {
	if s == "" {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	// ParseFloat also takes inf, nan and hex floats; SQL does not.
	for _, r := range s {
		if !strings.ContainsRune("0123456789.-+eE", r) {
			return false
		}
	}
	return true
}

// IsZeroDate reports whether a literal is MySQL's zero date or datetime
// ('0000-00-00', '0000-00-00 00:00:00[.000]'), which no other database has.
func IsZeroDate(s string) bool {
	return strings.HasPrefix(s, "0000-00-00")
}

// UnsupportedError says a column's type cannot be created on a target.
type UnsupportedError struct {
	Table, Column, Type, Target, Reason string
}

func (e *UnsupportedError) Error() string {
	msg := fmt.Sprintf("column %s.%s: type %s is not supported on %s", e.Table, e.Column, e.Type, e.Target)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// ColumnErrors is every column a table cannot be created with, so one
// DDL task run names them all rather than the first.
type ColumnErrors []error

func (e ColumnErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e ColumnErrors) Unwrap() []error { return e }

// Err is e as an error, nil when empty.
func (e ColumnErrors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// TypeName is how a type is named in messages: its native spelling, or its
// kind when it was built by hand.
func (t Type) TypeName() string {
	if t.Native != "" {
		return t.Native
	}
	return string(t.Kind)
}

// IsTinyIntOne reports whether t is MySQL's tinyint(1), which MySQL
// introspection types Bool (it is MySQL's boolean) and CreateOptions
// .TinyIntOneAsBool = false maps to a small integer instead.
func (t Type) IsTinyIntOne() bool {
	return t.Kind == Bool && strings.HasPrefix(strings.ToLower(t.Native), "tinyint")
}
