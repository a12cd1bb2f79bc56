package pgquery

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// TypeInfo is one built-in pg_type row.
type TypeInfo struct {
	OID       uint32
	Name      string // typname
	Format    string // format_type(oid, NULL)
	Len       int16
	ByVal     bool
	Type      byte // typtype
	Category  byte // typcategory
	Elem      uint32
	Array     uint32
	Delim     byte
	Input     string // typinput function name
	Output    string
	Align     byte
	Storage   byte
	Collation uint32
}

// ProcInfo is one built-in pg_proc row.
type ProcInfo struct {
	OID      uint32
	Name     string
	Kind     byte
	RetSet   bool
	RetType  uint32
	ArgTypes string // oidvector text, e.g. "25 25"
	Volatile byte
}

// OID-alias and catalog types beyond types.go's core set.
const (
	oidChar         uint32 = 18 // "char"
	oidInt2Vector   uint32 = 22
	oidRegproc      uint32 = 24
	oidOIDVector    uint32 = 30
	oidPGNodeTree   uint32 = 194
	oidAclitem      uint32 = 1033
	oidRegprocedure uint32 = 2202
	oidRegoper      uint32 = 2203
	oidRegoperator  uint32 = 2204
	oidRegclass     uint32 = 2205
	oidRegtype      uint32 = 2206
	oidRecord       uint32 = 2249
	oidRegnamespace uint32 = 4089
	oidRegrole      uint32 = 4096
	oidTextArray    uint32 = 1009
	oidNameArray    uint32 = 1003
	oidInt4Array    uint32 = 1007
	oidInt2Array    uint32 = 1005
	oidOIDArray     uint32 = 1028
)

var (
	typesOnce  sync.Once
	typeByOID  map[uint32]*TypeInfo
	typeByText map[string]*TypeInfo
	procByName map[string][]*ProcInfo
)

func initTypes() {
	typesOnce.Do(func() {
		typeByOID = map[uint32]*TypeInfo{}
		typeByText = map[string]*TypeInfo{}
		for i := range builtinTypes {
			ti := &builtinTypes[i]
			typeByOID[ti.OID] = ti
			typeByText[ti.Name] = ti
			if _, dup := typeByText[ti.Format]; !dup {
				typeByText[ti.Format] = ti
			}
		}
		procByName = map[string][]*ProcInfo{}
		for i := range builtinProcs {
			p := &builtinProcs[i]
			procByName[p.Name] = append(procByName[p.Name], p)
		}
	})
}

// BuiltinTypes lists the pg_type rows flowgate knows.
func BuiltinTypes() []TypeInfo { return builtinTypes }

// BuiltinProcs lists the pg_proc rows flowgate knows.
func BuiltinProcs() []ProcInfo { return builtinProcs }

// LookupType finds a built-in type by OID.
func LookupType(oid uint32) (*TypeInfo, bool) {
	initTypes()
	t, ok := typeByOID[oid]
	return t, ok
}

// ProcOID is the OID of the function name when exactly one exists.
func ProcOID(name string) (uint32, bool) {
	initTypes()
	ps := procByName[name]
	if len(ps) == 0 {
		return 0, false
	}
	return ps[0].OID, true
}

// typeAliases maps SQL spellings to typnames for ::regtype input.
var regtypeAliases = map[string]string{
	"int": "int4", "integer": "int4", "smallint": "int2", "bigint": "int8", "real": "float4",
	"double precision": "float8", "boolean": "bool", "decimal": "numeric", "character varying": "varchar",
	"character": "bpchar", "char": "bpchar", "timestamp without time zone": "timestamp",
	"timestamp with time zone": "timestamptz", "time without time zone": "time", "time with time zone": "timetz",
	`"char"`: "char",
}

// typeFromText resolves a type name as regtype input does.
func typeFromText(s string) (*TypeInfo, bool) {
	initTypes()
	s = strings.TrimSpace(strings.ToLower(s))
	s = strings.TrimPrefix(s, "pg_catalog.")
	arr := false
	if strings.HasSuffix(s, "[]") {
		arr, s = true, strings.TrimSpace(strings.TrimSuffix(s, "[]"))
	}
	if a, ok := regtypeAliases[s]; ok {
		s = a
	}
	ti, ok := typeByText[s]
	if !ok {
		return nil, false
	}
	if arr {
		return LookupType(ti.Array)
	}
	return ti, true
}

// FormatType is PostgreSQL's format_type(oid, typmod); typmod < 0 means
// none.
func FormatType(oid uint32, typmod int32) string {
	ti, ok := LookupType(oid)
	if !ok {
		return "???"
	}
	if ti.Category == 'A' && ti.Elem != 0 && ti.Name != "int2vector" && ti.Name != "oidvector" {
		return FormatType(ti.Elem, typmod) + "[]"
	}
	name := ti.Format
	if typmod < 0 {
		return name
	}
	switch oid {
	case oidVarchar, oidBPChar:
		return fmt.Sprintf("%s(%d)", name, typmod-4)
	case oidNumeric:
		if typmod >= 4 {
			p, s := (typmod-4)>>16, (typmod-4)&0xffff
			return fmt.Sprintf("numeric(%d,%d)", p, s)
		}
	case oidTimestamp:
		return fmt.Sprintf("timestamp(%d) without time zone", typmod)
	case oidTimestamptz:
		return fmt.Sprintf("timestamp(%d) with time zone", typmod)
	case 1083:
		return fmt.Sprintf("time(%d) without time zone", typmod)
	case 1266:
		return fmt.Sprintf("time(%d) with time zone", typmod)
	case 1560, 1562:
		return fmt.Sprintf("%s(%d)", name, typmod)
	}
	return name
}

func isRegType(oid uint32) bool {
	switch oid {
	case oidRegproc, oidRegprocedure, oidRegoper, oidRegoperator, oidRegclass, oidRegtype, oidRegnamespace, oidRegrole:
		return true
	}
	return false
}

// isArrayType reports array types, including int2vector and oidvector.
func isArrayType(oid uint32) bool {
	if oid == oidInt2Vector || oid == oidOIDVector {
		return true
	}
	ti, ok := LookupType(oid)
	return ok && ti.Category == 'A' && ti.Elem != 0
}

// elemType is the element type of an array type.
func elemType(oid uint32) uint32 {
	switch oid {
	case oidInt2Vector:
		return oidInt2
	case oidOIDVector:
		return oidOID
	}
	if ti, ok := LookupType(oid); ok {
		return ti.Elem
	}
	return 0
}

// arrayOf is the array type of an element type (0 if none).
func arrayOf(elem uint32) uint32 {
	if ti, ok := LookupType(elem); ok {
		return ti.Array
	}
	return 0
}

// arrayLower is the lower subscript bound: vectors start at 0.
func arrayLower(oid uint32) int {
	if oid == oidInt2Vector || oid == oidOIDVector {
		return 0
	}
	return 1
}

// parseArrayLiteral reads a one-dimensional PostgreSQL array literal
// ('{a,"b c",NULL}') into its elements; nil marks NULL.
func parseArrayLiteral(s string) ([]*string, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, fmt.Errorf("malformed array literal: %q", s)
	}
	body := s[1 : len(s)-1]
	var out []*string
	if strings.TrimSpace(body) == "" {
		return out, nil
	}
	i := 0
	for {
		for i < len(body) && body[i] == ' ' {
			i++
		}
		var b strings.Builder
		quoted := false
		if i < len(body) && body[i] == '"' {
			quoted = true
			i++
			for i < len(body) && body[i] != '"' {
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				b.WriteByte(body[i])
				i++
			}
			if i >= len(body) {
				return nil, fmt.Errorf("malformed array literal: %q", s)
			}
			i++
		} else {
			for i < len(body) && body[i] != ',' {
				if body[i] == '{' || body[i] == '"' {
					return nil, fmt.Errorf("malformed array literal: %q (flowgate supports one-dimensional arrays)", s)
				}
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				b.WriteByte(body[i])
				i++
			}
		}
		v := b.String()
		if !quoted {
			v = strings.TrimRight(v, " ")
		}
		if !quoted && strings.EqualFold(v, "NULL") {
			out = append(out, nil)
		} else {
			out = append(out, &v)
		}
		for i < len(body) && body[i] == ' ' {
			i++
		}
		if i >= len(body) {
			return out, nil
		}
		if body[i] != ',' {
			return nil, fmt.Errorf("malformed array literal: %q", s)
		}
		i++
	}
}

// arrayLiteralJSON converts an array literal of element type elem into
// the JSON storage form.
func arrayLiteralJSON(s string, elem uint32) (string, error) {
	items, err := parseArrayLiteral(s)
	if err != nil {
		return "", err
	}
	parts := make([]string, len(items))
	for i, it := range items {
		if it == nil {
			parts[i] = "null"
			continue
		}
		switch {
		case isInteger(elem) || isRegType(elem):
			n, err := strconv.ParseInt(strings.TrimSpace(*it), 10, 64)
			if err != nil {
				return "", fmt.Errorf("invalid input syntax for type %s: %q", typeName(elem), *it)
			}
			parts[i] = strconv.FormatInt(n, 10)
		case elem == oidFloat4 || elem == oidFloat8 || elem == oidNumeric:
			f, err := strconv.ParseFloat(strings.TrimSpace(*it), 64)
			if err != nil {
				return "", fmt.Errorf("invalid input syntax for type %s: %q", typeName(elem), *it)
			}
			parts[i] = strconv.FormatFloat(f, 'g', -1, 64)
		case elem == oidBool:
			b, ok := parseBoolPG(*it)
			if !ok {
				return "", fmt.Errorf("invalid input syntax for type boolean: %q", *it)
			}
			parts[i] = "false"
			if b {
				parts[i] = "true"
			}
		default:
			parts[i] = jsonString(*it)
		}
	}
	return "[" + strings.Join(parts, ",") + "]", nil
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TypeByName finds a built-in type by its typname.
func TypeByName(typname string) (*TypeInfo, bool) {
	for i := range builtinTypes {
		if builtinTypes[i].Name == typname {
			return &builtinTypes[i], true
		}
	}
	return nil, false
}
