package pgquery

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/mattn/go-sqlite3"
)

// DriverName is the database/sql driver the catalog's read pool must use:
// go-sqlite3 plus the functions translated queries call (regular
// expressions, format(), quote_ident(), arrays, format_type()).
const DriverName = "sqlite3_flowgate"

func init() {
	sql.Register(DriverName, &sqlite3.SQLiteDriver{ConnectHook: registerFuncs})
}

// errPrefix marks errors raised by fg_raise so the executor can turn them
// back into a PgError (see SQLiteError).
const errPrefix = "flowgate-pgerror:"

func registerFuncs(c *sqlite3.SQLiteConn) error {
	funcs := []struct {
		name string
		fn   any
		pure bool
	}{
		{"fg_regexp", fgRegexp, true},
		{"fg_format", fgFormat, true},
		{"fg_quote_ident", fgQuoteIdent, true},
		{"fg_quote_literal", fgQuoteLiteral, true},
		{"fg_qualname", fgQualname, true},
		{"fg_format_type", fgFormatType, true},
		{"fg_string_to_array", fgStringToArray, true},
		{"fg_array_out", fgArrayOut, true},
		{"fg_array_cat", fgArrayCat, true},
		{"fg_parse_ident", fgParseIdent, true},
		{"fg_has_privilege", fgHasPrivilege, true},
		{"fg_size_pretty", fgSizePretty, true},
		{"fg_like_glob", fgLikeGlob, true},
		{"fg_rint", fgRint, true},
		{"fg_raise", fgRaise, false},
		{"fg_divisor", fgDivisor, true},
		{"fg_to_char", fgToChar, true},
	}
	for _, f := range funcs {
		if err := c.RegisterFunc(f.name, f.fn, f.pure); err != nil {
			return fmt.Errorf("register %s: %w", f.name, err)
		}
	}
	return nil
}

// SQLiteError turns an error raised inside SQLite by fg_raise back into
// the PgError it describes; other errors come back unchanged.
func SQLiteError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	i := strings.Index(msg, errPrefix)
	if i < 0 {
		return err
	}
	rest := msg[i+len(errPrefix):]
	code, text, _ := strings.Cut(rest, ":")
	return pgErr(code, 0, "%s", text)
}

// fgRint rounds half to even, as PostgreSQL's round(double precision).
func fgRint(v any) any {
	switch x := v.(type) {
	case float64:
		return math.RoundToEven(x)
	case int64:
		return x
	}
	return nil
}

func fgRaise(code, msg string) (any, error) {
	return nil, errors.New(errPrefix + code + ":" + msg)
}

// fgDivisor passes a divisor through, or raises PostgreSQL's division by
// zero where SQLite would answer NULL.
func fgDivisor(v any) (any, error) {
	switch x := v.(type) {
	case int64:
		if x == 0 {
			return fgRaise("22012", "division by zero")
		}
	case float64:
		if x == 0 {
			return fgRaise("22012", "division by zero")
		}
	}
	return v, nil
}

var (
	reMu    sync.Mutex
	reCache = map[string]*regexp.Regexp{}
)

// compileRegexp compiles a PostgreSQL regular expression with Go's RE2,
// which agrees with PostgreSQL's ARE for the patterns tools send.
func compileRegexp(pattern string, ci bool) (*regexp.Regexp, error) {
	key := pattern
	if ci {
		key = "(?i)" + pattern
	}
	reMu.Lock()
	defer reMu.Unlock()
	if re, ok := reCache[key]; ok {
		return re, nil
	}
	re, err := regexp.Compile(key)
	if err != nil {
		return nil, err
	}
	if len(reCache) > 1000 {
		reCache = map[string]*regexp.Regexp{}
	}
	reCache[key] = re
	return re, nil
}

// isNull: go-sqlite3 hands NULL to an `any` parameter as a nil []byte.
func isNull(v any) bool {
	if v == nil {
		return true
	}
	b, ok := v.([]byte)
	return ok && b == nil
}

// argText reads a text argument; false for NULL.
func argText(v any) (string, bool) {
	if isNull(v) {
		return "", false
	}
	return sqliteText(v), true
}

func argInt(v any) (int64, bool) {
	if isNull(v) {
		return 0, false
	}
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	case []byte:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func fgRegexp(sv, pv any, ci int64) (any, error) {
	s, ok1 := argText(sv)
	pattern, ok2 := argText(pv)
	if !ok1 || !ok2 {
		return nil, nil
	}
	re, err := compileRegexp(pattern, ci != 0)
	if err != nil {
		return fgRaise("2201B", fmt.Sprintf("invalid regular expression: %v", err))
	}
	if re.MatchString(s) {
		return int64(1), nil
	}
	return int64(0), nil
}

// fgFormat implements format(): %s, %I, %L, %% and positions (%2$s).
func fgFormat(args ...any) (any, error) {
	if len(args) == 0 || isNull(args[0]) {
		return nil, nil
	}
	f := sqliteText(args[0])
	vals := args[1:]
	var b strings.Builder
	next := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		i++
		if i >= len(f) {
			return fgRaise("22023", "unterminated format() type specifier")
		}
		if f[i] == '%' {
			b.WriteByte('%')
			continue
		}
		j := i
		for j < len(f) && f[j] >= '0' && f[j] <= '9' {
			j++
		}
		arg := next
		if j < len(f) && f[j] == '$' && j > i {
			n, _ := strconv.Atoi(f[i:j])
			arg = n - 1
			i = j + 1
		}
		if i >= len(f) {
			return fgRaise("22023", "unterminated format() type specifier")
		}
		if arg < 0 || arg >= len(vals) {
			return fgRaise("22023", "too few arguments for format()")
		}
		next = arg + 1
		v := vals[arg]
		switch f[i] {
		case 's':
			if !isNull(v) {
				b.WriteString(sqliteText(v))
			}
		case 'I':
			if isNull(v) {
				return fgRaise("22004", "null values cannot be formatted as an SQL identifier")
			}
			b.WriteString(QuoteIdent(sqliteText(v)))
		case 'L':
			if isNull(v) {
				b.WriteString("NULL")
			} else {
				b.WriteString(quoteLiteral(sqliteText(v)))
			}
		default:
			return fgRaise("22023", fmt.Sprintf("unrecognized format() type specifier %q", f[i]))
		}
	}
	return b.String(), nil
}

func sqliteText(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	case float64:
		return formatFloat(x, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// QuoteIdent quotes an identifier as PostgreSQL's quote_ident does.
func QuoteIdent(s string) string {
	safe := s != "" && (s[0] >= 'a' && s[0] <= 'z' || s[0] == '_')
	for i := 0; safe && i < len(s); i++ {
		c := s[i]
		safe = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
	}
	if safe {
		if k, ok := keywordCategory(s); ok && k != 'U' {
			safe = false
		}
	}
	if safe {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func quoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		return "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

func fgQuoteIdent(v any) any {
	s, ok := argText(v)
	if !ok {
		return nil
	}
	return QuoteIdent(s)
}

func fgQuoteLiteral(v any) any {
	s, ok := argText(v)
	if !ok {
		return nil
	}
	return quoteLiteral(s)
}

var (
	kwOnce sync.Once
	kwCat  map[string]byte
)

type keyword struct {
	word   string
	cat    byte
	bareOK bool
}

func keywordCategory(w string) (byte, bool) {
	kwOnce.Do(func() {
		kwCat = map[string]byte{}
		for _, k := range keywords {
			kwCat[k.word] = k.cat
		}
	})
	c, ok := kwCat[w]
	return c, ok
}

// splitQualified parses a possibly qualified, possibly quoted name the way
// PostgreSQL reads identifiers: unquoted parts fold to lower case.
func splitQualified(s string) ([]string, error) {
	var parts []string
	i := 0
	s = strings.TrimSpace(s)
	for {
		var b strings.Builder
		if i < len(s) && s[i] == '"' {
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated quoted identifier")
				}
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
		} else {
			for i < len(s) && s[i] != '.' && s[i] != ' ' {
				b.WriteByte(s[i])
				i++
			}
			if b.Len() == 0 {
				return nil, fmt.Errorf("invalid name syntax")
			}
			parts = append(parts, strings.ToLower(b.String()))
			b.Reset()
			goto sep
		}
		parts = append(parts, b.String())
	sep:
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return parts, nil
		}
		if s[i] != '.' {
			return nil, fmt.Errorf("invalid name syntax")
		}
		i++
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
}

// fgQualname normalises a relation name for lookups: "schema\x1fname",
// or "\x1fname" when unqualified; NULL if it cannot be parsed.
func fgQualname(v any) any {
	s, ok := argText(v)
	if !ok {
		return nil
	}
	parts, err := splitQualified(s)
	if err != nil || len(parts) > 2 {
		return nil
	}
	if len(parts) == 1 {
		return "\x1f" + parts[0]
	}
	return parts[0] + "\x1f" + parts[1]
}

func fgParseIdent(v any) (any, error) {
	s, ok := argText(v)
	if !ok {
		return nil, nil
	}
	parts, err := splitQualified(s)
	if err != nil {
		return fgRaise("22P02", fmt.Sprintf("string is not a valid identifier: %q", s))
	}
	b, _ := json.Marshal(parts)
	return string(b), nil
}

func fgFormatType(ov, mv any) any {
	oid, ok := argInt(ov)
	if !ok {
		return nil
	}
	tm := int32(-1)
	if m, ok := argInt(mv); ok {
		tm = int32(m)
	}
	return FormatType(uint32(oid), tm)
}

func fgStringToArray(sv, sepv, nullv any) any {
	s, ok := argText(sv)
	if !ok {
		return nil
	}
	sep, hasSep := argText(sepv)
	null, hasNull := argText(nullv)
	var items []string
	switch {
	case s == "":
		items = nil
	case !hasSep:
		for _, r := range s {
			items = append(items, string(r))
		}
	case sep == "":
		items = []string{s}
	default:
		items = strings.Split(s, sep)
	}
	parts := make([]string, len(items))
	for i, it := range items {
		if hasNull && it == null {
			parts[i] = "null"
		} else {
			parts[i] = jsonString(it)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func fgArrayCat(av, bv any) (any, error) {
	a, okA := argText(av)
	b, okB := argText(bv)
	switch {
	case !okA && !okB:
		return nil, nil
	case !okA:
		return b, nil
	case !okB:
		return a, nil
	}
	var x, y []json.RawMessage
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		return nil, err
	}
	out, err := json.Marshal(append(x, y...))
	return string(out), err
}

func fgArrayOut(jv any, elem int64, vector int64) (any, error) {
	js, ok := argText(jv)
	if !ok {
		return nil, nil
	}
	return formatArrayJSON(js, uint32(elem), vector != 0)
}

// formatArrayJSON renders the JSON storage form of an array as PostgreSQL
// text: {a,"b c",NULL}, or "1 2" for int2vector/oidvector.
func formatArrayJSON(js string, elem uint32, vector bool) (string, error) {
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var items []any
	if err := dec.Decode(&items); err != nil {
		return "", fmt.Errorf("array value %q: %w", js, err)
	}
	parts := make([]string, len(items))
	for i, it := range items {
		switch x := it.(type) {
		case nil:
			parts[i] = "NULL"
		case bool:
			parts[i] = formatBool(x)
		case json.Number:
			if elem == oidBool {
				parts[i] = formatBool(x.String() != "0")
			} else {
				parts[i] = x.String()
			}
		case string:
			parts[i] = quoteArrayElem(x)
		default:
			b, _ := json.Marshal(x)
			parts[i] = quoteArrayElem(string(b))
		}
	}
	if vector {
		return strings.Join(parts, " "), nil
	}
	return "{" + strings.Join(parts, ",") + "}", nil
}

func quoteArrayElem(s string) string {
	if s != "" && !strings.EqualFold(s, "NULL") && !strings.ContainsAny(s, "{},\"\\ \t\n\r") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// formatRecordJSON renders a composite kept as a JSON object as (a,b).
func formatRecordJSON(js string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return "", err
	}
	var parts []string
	for dec.More() {
		if _, err := dec.Token(); err != nil { // key
			return "", err
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return "", err
		}
		switch x := v.(type) {
		case nil:
			parts = append(parts, "")
		case json.Number:
			parts = append(parts, x.String())
		case bool:
			parts = append(parts, formatBool(x))
		case string:
			if x == "" || strings.ContainsAny(x, "(),\"\\ \t\n") {
				x = `"` + strings.NewReplacer(`\`, `\\`, `"`, `""`).Replace(x) + `"`
			}
			parts = append(parts, x)
		default:
			b, _ := json.Marshal(x)
			parts = append(parts, string(b))
		}
	}
	return "(" + strings.Join(parts, ",") + ")", nil
}

// fgHasPrivilege answers has_*_privilege: flowgate is read-only, so only
// reading privileges are held. kind is table, schema, database, ...
func fgHasPrivilege(kind string, pv any) any {
	privs, ok := argText(pv)
	if !ok {
		return nil
	}
	held := map[string][]string{
		"table":    {"select"},
		"column":   {"select"},
		"schema":   {"usage"},
		"database": {"connect"},
		"function": {"execute"},
		"sequence": {"select", "usage"},
		"type":     {"usage"},
	}[kind]
	for _, p := range strings.Split(privs, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		p = strings.TrimSuffix(p, " with grant option")
		for _, h := range held {
			if p == h {
				return int64(1)
			}
		}
	}
	return int64(0)
}

func fgSizePretty(nv any) any {
	v, ok := argInt(nv)
	if !ok {
		return nil
	}
	units := []string{"bytes", "kB", "MB", "GB", "TB", "PB"}
	abs := v
	if abs < 0 {
		abs = -abs
	}
	i := 0
	for abs >= 10*1024 && i < len(units)-1 {
		abs = (abs + 512) / 1024
		i++
	}
	if v < 0 {
		abs = -abs
	}
	return fmt.Sprintf("%d %s", abs, units[i])
}

func fgLikeGlob(pv any, esc string) (any, error) {
	p, ok := argText(pv)
	if !ok {
		return nil, nil
	}
	g, err := likeToGlob(p, esc)
	if err != nil {
		return fgRaise("22025", err.Error())
	}
	return g, nil
}
