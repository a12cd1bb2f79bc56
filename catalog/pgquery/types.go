package pgquery

import (
	"fmt"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// PostgreSQL type OIDs used here (same values as pgtype.*OID).
const (
	oidUnknown     uint32 = 0 // not yet resolved: string literal, NULL or $n
	oidBool        uint32 = 16
	oidName        uint32 = 19
	oidInt8        uint32 = 20
	oidInt2        uint32 = 21
	oidInt4        uint32 = 23
	oidText        uint32 = 25
	oidOID         uint32 = 26
	oidJSON        uint32 = 114
	oidFloat4      uint32 = 700
	oidFloat8      uint32 = 701
	oidPGUnknown   uint32 = 705
	oidInet        uint32 = 869
	oidBPChar      uint32 = 1042
	oidVarchar     uint32 = 1043
	oidDate        uint32 = 1082
	oidTimestamp   uint32 = 1114
	oidTimestamptz uint32 = 1184
	oidInterval    uint32 = 1186
	oidNumeric     uint32 = 1700
	oidJSONB       uint32 = 3802
)

// typeCategory groups types the way PostgreSQL's implicit casts do.
type typeCategory int

const (
	catUnknown typeCategory = iota
	catBool
	catNumeric
	catString
	catDatetime
	catInterval
	catJSON
	catArray
	catOther
)

func categoryOf(oid uint32) typeCategory {
	switch oid {
	case oidUnknown, oidPGUnknown:
		return catUnknown
	case oidBool:
		return catBool
	case oidInt2, oidInt4, oidInt8, oidOID, oidFloat4, oidFloat8, oidNumeric:
		return catNumeric
	case oidText, oidVarchar, oidBPChar, oidName, oidChar, oidPGNodeTree:
		return catString
	case oidDate, oidTimestamp, oidTimestamptz:
		return catDatetime
	case oidInterval:
		return catInterval
	case oidJSON, oidJSONB:
		return catJSON
	}
	if isRegType(oid) {
		return catNumeric
	}
	if isArrayType(oid) {
		return catArray
	}
	return catOther
}

func isInteger(oid uint32) bool {
	return oid == oidInt2 || oid == oidInt4 || oid == oidInt8 || oid == oidOID
}

func isString(oid uint32) bool { return categoryOf(oid) == catString }

func isTimestamp(oid uint32) bool { return oid == oidTimestamp || oid == oidTimestamptz }

// numericRank orders numeric types by PostgreSQL's preference when mixing.
func numericRank(oid uint32) int {
	switch oid {
	case oidInt2:
		return 1
	case oidInt4, oidOID:
		return 2
	case oidRegproc, oidRegprocedure, oidRegoper, oidRegoperator, oidRegclass, oidRegtype, oidRegnamespace, oidRegrole:
		return 2
	case oidInt8:
		return 3
	case oidNumeric:
		return 4
	case oidFloat4:
		return 5
	case oidFloat8:
		return 6
	}
	return 0
}

// typeName is the name PostgreSQL uses for a type in messages.
func typeName(oid uint32) string {
	switch oid {
	case oidUnknown, oidPGUnknown:
		return "unknown"
	case oidBool:
		return "boolean"
	case oidName:
		return "name"
	case oidInt8:
		return "bigint"
	case oidInt2:
		return "smallint"
	case oidInt4:
		return "integer"
	case oidText:
		return "text"
	case oidOID:
		return "oid"
	case oidJSON:
		return "json"
	case oidFloat4:
		return "real"
	case oidFloat8:
		return "double precision"
	case oidInet:
		return "inet"
	case oidBPChar:
		return "character"
	case oidVarchar:
		return "character varying"
	case oidDate:
		return "date"
	case oidTimestamp:
		return "timestamp without time zone"
	case oidTimestamptz:
		return "timestamp with time zone"
	case oidInterval:
		return "interval"
	case oidNumeric:
		return "numeric"
	case oidJSONB:
		return "jsonb"
	}
	if ti, ok := LookupType(oid); ok {
		return FormatType(ti.OID, -1)
	}
	return "oid " + strconv.FormatUint(uint64(oid), 10)
}

// internalTypeName is the pg_type.typname, used for column names of casts
// (SELECT 1::int is named "int4").
func internalTypeName(oid uint32) string {
	switch oid {
	case oidBool:
		return "bool"
	case oidInt8:
		return "int8"
	case oidInt2:
		return "int2"
	case oidInt4:
		return "int4"
	case oidFloat4:
		return "float4"
	case oidFloat8:
		return "float8"
	case oidBPChar:
		return "bpchar"
	case oidVarchar:
		return "varchar"
	case oidTimestamp:
		return "timestamp"
	case oidTimestamptz:
		return "timestamptz"
	}
	if ti, ok := LookupType(oid); ok {
		return ti.Name
	}
	return typeName(oid)
}

// typeByName maps the type names casts may use (after the grammar has
// rewritten INT, DOUBLE PRECISION, ... into pg_catalog names).
var typeByName = map[string]uint32{
	"bool": oidBool, "boolean": oidBool,
	"int2": oidInt2, "smallint": oidInt2,
	"int4": oidInt4, "int": oidInt4, "integer": oidInt4,
	"int8": oidInt8, "bigint": oidInt8,
	"float4": oidFloat4, "real": oidFloat4,
	"float8": oidFloat8, "double precision": oidFloat8,
	"numeric": oidNumeric, "decimal": oidNumeric,
	"text": oidText, "varchar": oidVarchar, "character varying": oidVarchar,
	"bpchar": oidBPChar, "character": oidBPChar,
	"char":     oidChar, // only a quoted "char" reaches here: the grammar turns CHAR into bpchar
	"regclass": oidRegclass, "regtype": oidRegtype, "regproc": oidRegproc, "regprocedure": oidRegprocedure,
	"regnamespace": oidRegnamespace, "regrole": oidRegrole, "int2vector": oidInt2Vector, "oidvector": oidOIDVector,
	"pg_node_tree": oidPGNodeTree,
	"name":         oidName,
	"date":         oidDate,
	"timestamp":    oidTimestamp,
	"timestamptz":  oidTimestamptz,
	"interval":     oidInterval,
	"json":         oidJSON, "jsonb": oidJSONB,
	"oid": oidOID,
}

// knownButUnsupported are real PostgreSQL types we cannot represent.
var knownButUnsupported = map[string]bool{
	"regoper": true, "regoperator": true, "bytea": true, "uuid": true, "inet": true, "cidr": true,
	"time": true, "timetz": true, "xml": true, "money": true, "bit": true, "varbit": true,
	"point": true, "tsvector": true, "tsquery": true,
}

// resolveTypeName turns a TypeName node into an OID and typmod.
func (t *translator) resolveTypeName(tn *pg_query.TypeName) (uint32, int32, error) {
	var parts []string
	for _, n := range tn.GetNames() {
		parts = append(parts, n.GetString_().GetSval())
	}
	name := parts[len(parts)-1]
	if len(parts) > 1 && parts[0] != "pg_catalog" {
		return 0, 0, t.errAt("42704", tn.GetLocation(), "type %q does not exist", strings.Join(parts, "."))
	}
	oid, ok := typeByName[name]
	if len(tn.GetArrayBounds()) > 0 {
		if len(tn.GetArrayBounds()) > 1 || !ok || arrayOf(oid) == 0 || oid == oidInterval || categoryOf(oid) == catJSON {
			return 0, 0, t.errAt("0A000", tn.GetLocation(), "flowgate does not support this array type (%s[])", name)
		}
		return arrayOf(oid), -1, nil
	}
	if !ok {
		if knownButUnsupported[name] {
			return 0, 0, t.errAt("0A000", tn.GetLocation(), "flowgate does not support type %s in queries", name)
		}
		return 0, 0, t.errAt("42704", tn.GetLocation(), "type %q does not exist", name)
	}
	typmod := int32(-1)
	var mods []int64
	for _, m := range tn.GetTypmods() {
		c := m.GetAConst()
		if c == nil || c.GetIval() == nil {
			return 0, 0, t.errAt("22023", tn.GetLocation(), "type modifiers must be simple constants")
		}
		mods = append(mods, int64(c.GetIval().GetIval()))
	}
	switch oid {
	case oidVarchar, oidBPChar:
		if len(mods) == 1 {
			typmod = int32(mods[0]) + 4
		} else if oid == oidBPChar && name == "bpchar" && len(mods) == 0 {
			typmod = -1
		} else if oid == oidBPChar {
			typmod = 1 + 4 // char without length is char(1)
		}
	case oidNumeric:
		switch len(mods) {
		case 1:
			typmod = int32(mods[0]<<16) + 4
		case 2:
			typmod = int32(mods[0]<<16|mods[1]&0xffff) + 4
		}
	}
	return oid, typmod, nil
}

// numericScale returns the scale from a numeric typmod, or -1.
func numericScale(typmod int32) int {
	if typmod < 4 {
		return -1
	}
	return int((typmod - 4) & 0xffff)
}

// commonType finds the type CASE, COALESCE, UNION and friends resolve to.
// Unknown inputs are ignored; all-unknown gives text.
func commonType(types []uint32) (uint32, error) {
	var out uint32
	for _, ty := range types {
		if ty == oidUnknown || ty == oidPGUnknown {
			continue
		}
		if out == oidUnknown {
			out = ty
			continue
		}
		if out == ty {
			continue
		}
		ca, cb := categoryOf(out), categoryOf(ty)
		if ca != cb {
			return 0, fmt.Errorf("types %s and %s cannot be matched", typeName(out), typeName(ty))
		}
		switch ca {
		case catNumeric:
			if numericRank(ty) > numericRank(out) {
				out = ty
			}
		case catString:
			out = oidText
		case catDatetime:
			if ty == oidTimestamptz || out == oidDate {
				out = ty
			}
		case catJSON:
			out = oidJSONB
		default:
			return 0, fmt.Errorf("types %s and %s cannot be matched", typeName(out), typeName(ty))
		}
	}
	if out == oidUnknown {
		out = oidText
	}
	return out, nil
}
