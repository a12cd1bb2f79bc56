package pgcatalog

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/catalog/pgquery"
)

// relDef is one system relation as dumped from PostgreSQL.
type relDef struct {
	schema, name string
	oid          uint32
	kind         byte
	cols         string
}

// relInfo is any relation shown in pg_class.
type relInfo struct {
	schema, name string
	oid          uint32
	kind         byte
	cols         []pgquery.Column
}

type model struct {
	views []View
	rels  []relInfo
}

// row maps column name to a SQLite expression; missing columns are NULL.
type row map[string]string

// Markers replaced per session in dynamic relations.
const (
	dbMarker   = "\x01db\x01"
	userMarker = "\x01user\x01"
)

// ownerName is the bootstrap admin's name, read when the query runs.
const ownerName = "coalesce((SELECT name FROM users WHERE id = 1), 'unknown (OID=10)')"

func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
func num[T ~int | ~int16 | ~int32 | ~int64 | ~uint32](n T) string {
	return strconv.FormatInt(int64(n), 10)
}
func boolean(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
func char(c byte) string { return lit(string(c)) }

// generator produces a relation's rows; rows may use the markers.
type generator func(m *model) []row

var generators = map[string]generator{
	"pg_catalog.pg_namespace":              genNamespace,
	"pg_catalog.pg_class":                  genClass,
	"pg_catalog.pg_attribute":              genAttribute,
	"pg_catalog.pg_type":                   genType,
	"pg_catalog.pg_proc":                   genProc,
	"pg_catalog.pg_database":               genDatabase,
	"pg_catalog.pg_description":            genDescription,
	"pg_catalog.pg_am":                     genAm,
	"pg_catalog.pg_collation":              genCollation,
	"pg_catalog.pg_language":               genLanguage,
	"pg_catalog.pg_tablespace":             genTablespace,
	"pg_catalog.pg_tables":                 genTables,
	"pg_catalog.pg_views":                  genViews,
	"information_schema.schemata":          genSchemata,
	"information_schema.tables":            genISTables,
	"information_schema.views":             genISViews,
	"information_schema.columns":           genISColumns,
	"information_schema.table_privileges":  genISTablePrivileges,
	"information_schema.role_table_grants": genISTablePrivileges,
	"information_schema.character_sets":    genISCharacterSets,
	"information_schema.information_schema_catalog_name": func(*model) []row {
		return []row{{"catalog_name": dbMarker}}
	},
	"information_schema.enabled_roles": func(*model) []row {
		return []row{{"role_name": userMarker}}
	},
}

// sqlRelations read flowgate's own tables instead of a fixed list.
var sqlRelations = map[string]string{
	"pg_catalog.pg_roles": `SELECT name AS rolname, role = 'admin' AS rolsuper, 1 AS rolinherit, role = 'admin' AS rolcreaterole,
		0 AS rolcreatedb, 1 AS rolcanlogin, 0 AS rolreplication, -1 AS rolconnlimit, '********' AS rolpassword,
		NULL AS rolvaliduntil, 0 AS rolbypassrls, NULL AS rolconfig, ` + roleOID + ` AS oid FROM users`,
	"pg_catalog.pg_user": `SELECT name AS usename, ` + roleOID + ` AS usesysid, 0 AS usecreatedb, role = 'admin' AS usesuper,
		0 AS userepl, 0 AS usebypassrls, '********' AS passwd, NULL AS valuntil, NULL AS useconfig FROM users`,
	"pg_catalog.pg_authid": `SELECT ` + roleOID + ` AS oid, name AS rolname, role = 'admin' AS rolsuper, 1 AS rolinherit,
		role = 'admin' AS rolcreaterole, 0 AS rolcreatedb, 1 AS rolcanlogin, 0 AS rolreplication, 0 AS rolbypassrls,
		-1 AS rolconnlimit, NULL AS rolpassword, NULL AS rolvaliduntil FROM users`,
}

// roleOID gives the bootstrap admin PostgreSQL's bootstrap superuser OID.
const roleOID = "(CASE WHEN id = 1 THEN 10 ELSE 16000 + id END)"

func (m *model) namespaces() []struct {
	name string
	oid  uint32
} {
	return []struct {
		name string
		oid  uint32
	}{{"pg_catalog", NamespacePGCatalog}, {"information_schema", NamespaceInfoSchema}, {"dataflow", NamespaceDataflow}}
}

func nsOID(schema string) uint32 {
	switch schema {
	case "pg_catalog":
		return NamespacePGCatalog
	case "information_schema":
		return NamespaceInfoSchema
	}
	return NamespaceDataflow
}

func genNamespace(m *model) []row {
	var out []row
	for _, n := range m.namespaces() {
		out = append(out, row{"oid": num(n.oid), "nspname": lit(n.name), "nspowner": num(ownerOID)})
	}
	return out
}

func genClass(m *model) []row {
	var out []row
	for _, r := range m.rels {
		am, replident := "0", "n"
		if r.kind == 'r' {
			am, replident = "2", "d"
		}
		out = append(out, row{
			"oid": num(r.oid), "relname": lit(r.name), "relnamespace": num(nsOID(r.schema)), "reltype": "0",
			"reloftype": "0", "relowner": num(ownerOID), "relam": am, "relfilenode": "0", "reltablespace": "0",
			"relpages": "0", "reltuples": "-1", "relallvisible": "0", "reltoastrelid": "0", "relhasindex": "0",
			"relisshared": "0", "relpersistence": "'p'", "relkind": char(r.kind), "relnatts": num(len(r.cols)),
			"relchecks": "0", "relhasrules": boolean(r.kind == 'v'), "relhastriggers": "0", "relhassubclass": "0",
			"relrowsecurity": "0", "relforcerowsecurity": "0", "relispopulated": "1", "relreplident": lit(replident),
			"relispartition": "0", "relrewrite": "0", "relfrozenxid": "0", "relminmxid": "0",
		})
	}
	return out
}

func genAttribute(m *model) []row {
	var out []row
	for _, r := range m.rels {
		for i, c := range r.cols {
			ti, _ := pgquery.LookupType(c.TypeOID)
			length, byval, align, storage, coll, ndims := "-1", "0", "'i'", "'x'", "0", "0"
			if ti != nil {
				length, byval, align, storage, coll = num(ti.Len), boolean(ti.ByVal), char(ti.Align), char(ti.Storage), num(ti.Collation)
				if ti.Category == 'A' {
					ndims = "1"
				}
			}
			out = append(out, row{
				"attrelid": num(r.oid), "attname": lit(c.Name), "atttypid": num(c.TypeOID), "attstattarget": "-1",
				"attlen": length, "attnum": num(i + 1), "attndims": ndims, "attcacheoff": "-1", "atttypmod": num(c.TypeMod),
				"attbyval": byval, "attalign": align, "attstorage": storage, "attcompression": "''", "attnotnull": "0",
				"atthasdef": "0", "atthasmissing": "0", "attidentity": "''", "attgenerated": "''", "attisdropped": "0",
				"attislocal": "1", "attinhcount": "0", "attcollation": coll,
			})
		}
	}
	return out
}

var preferredTypes = map[string]bool{"bool": true, "text": true, "oid": true, "float8": true, "timestamptz": true, "interval": true, "inet": true}

func procRef(name string) string {
	if oid, ok := pgquery.ProcOID(name); ok {
		return num(oid)
	}
	return "0"
}

func genType(m *model) []row {
	var out []row
	for _, t := range pgquery.BuiltinTypes() {
		out = append(out, row{
			"oid": num(t.OID), "typname": lit(t.Name), "typnamespace": num(NamespacePGCatalog), "typowner": num(ownerOID),
			"typlen": num(t.Len), "typbyval": boolean(t.ByVal), "typtype": char(t.Type), "typcategory": char(t.Category),
			"typispreferred": boolean(preferredTypes[t.Name]), "typisdefined": "1", "typdelim": char(t.Delim),
			"typrelid": "0", "typsubscript": "0", "typelem": num(t.Elem), "typarray": num(t.Array),
			"typinput": procRef(t.Input), "typoutput": procRef(t.Output), "typreceive": "0", "typsend": "0",
			"typmodin": "0", "typmodout": "0", "typanalyze": "0", "typalign": char(t.Align), "typstorage": char(t.Storage),
			"typnotnull": "0", "typbasetype": "0", "typtypmod": "-1", "typndims": "0", "typcollation": num(t.Collation),
		})
	}
	return out
}

func genProc(m *model) []row {
	var out []row
	for _, p := range pgquery.BuiltinProcs() {
		var args []int64
		for _, f := range strings.Fields(p.ArgTypes) {
			n, _ := strconv.ParseInt(f, 10, 64)
			args = append(args, n)
		}
		js, _ := json.Marshal(args)
		if args == nil {
			js = []byte("[]")
		}
		rows := "0"
		if p.RetSet {
			rows = "1000"
		}
		out = append(out, row{
			"oid": num(p.OID), "proname": lit(p.Name), "pronamespace": num(NamespacePGCatalog), "proowner": num(ownerOID),
			"prolang": "12", "procost": "1", "prorows": rows, "provariadic": "0", "prosupport": "0", "prokind": char(p.Kind),
			"prosecdef": "0", "proleakproof": "0", "proisstrict": "1", "proretset": boolean(p.RetSet),
			"provolatile": char(p.Volatile), "proparallel": "'s'", "pronargs": num(len(args)), "pronargdefaults": "0",
			"prorettype": num(p.RetType), "proargtypes": lit(string(js)), "prosrc": lit(p.Name),
		})
	}
	return out
}

func genDatabase(m *model) []row {
	return []row{{
		"oid": num(databaseOID), "datname": dbMarker, "datdba": num(ownerOID), "encoding": "6", "datlocprovider": "'c'",
		"datistemplate": "0", "datallowconn": "1", "datconnlimit": "-1", "datfrozenxid": "0", "datminmxid": "1",
		"dattablespace": "1663", "datcollate": "'C'", "datctype": "'C'",
	}}
}

func genDescription(m *model) []row {
	return []row{{"objoid": num(NamespaceDataflow), "classoid": "2615", "objsubid": "0", "description": lit(descDataflowNamspace)}}
}

func genAm(m *model) []row {
	var out []row
	for _, a := range []struct {
		oid     int
		name    string
		kind    byte
		handler int
	}{{2, "heap", 't', 3}, {403, "btree", 'i', 330}, {405, "hash", 'i', 331}, {783, "gist", 'i', 332}, {2742, "gin", 'i', 333}, {4000, "spgist", 'i', 334}, {3580, "brin", 'i', 335}} {
		out = append(out, row{"oid": num(a.oid), "amname": lit(a.name), "amhandler": num(a.handler), "amtype": char(a.kind)})
	}
	return out
}

func genCollation(m *model) []row {
	return []row{
		{"oid": "100", "collname": "'default'", "collnamespace": "11", "collowner": "10", "collprovider": "'d'", "collisdeterministic": "1", "collencoding": "-1"},
		{"oid": "950", "collname": "'C'", "collnamespace": "11", "collowner": "10", "collprovider": "'c'", "collisdeterministic": "1", "collencoding": "-1", "collcollate": "'C'", "collctype": "'C'"},
		{"oid": "951", "collname": "'POSIX'", "collnamespace": "11", "collowner": "10", "collprovider": "'c'", "collisdeterministic": "1", "collencoding": "-1", "collcollate": "'POSIX'", "collctype": "'POSIX'"},
	}
}

func genLanguage(m *model) []row {
	return []row{
		{"oid": "12", "lanname": "'internal'", "lanowner": "10", "lanispl": "0", "lanpltrusted": "0", "lanplcallfoid": "0", "laninline": "0", "lanvalidator": "0"},
		{"oid": "13", "lanname": "'c'", "lanowner": "10", "lanispl": "0", "lanpltrusted": "0", "lanplcallfoid": "0", "laninline": "0", "lanvalidator": "0"},
		{"oid": "14", "lanname": "'sql'", "lanowner": "10", "lanispl": "0", "lanpltrusted": "1", "lanplcallfoid": "0", "laninline": "0", "lanvalidator": "0"},
	}
}

func genTablespace(m *model) []row {
	return []row{
		{"oid": "1663", "spcname": "'pg_default'", "spcowner": "10"},
		{"oid": "1664", "spcname": "'pg_global'", "spcowner": "10"},
	}
}

func genTables(m *model) []row {
	var out []row
	for _, r := range m.rels {
		if r.kind != 'r' {
			continue
		}
		out = append(out, row{"schemaname": lit(r.schema), "tablename": lit(r.name), "tableowner": ownerName,
			"hasindexes": "0", "hasrules": "0", "hastriggers": "0", "rowsecurity": "0"})
	}
	return out
}

func (m *model) definition(schema, name string) string {
	for _, v := range m.views {
		if v.Rel.Schema == schema && v.Rel.Name == name && v.Definition != "" {
			return lit(v.Definition)
		}
	}
	return "NULL"
}

func genViews(m *model) []row {
	var out []row
	for _, r := range m.rels {
		if r.kind != 'v' {
			continue
		}
		out = append(out, row{"schemaname": lit(r.schema), "viewname": lit(r.name), "viewowner": ownerName, "definition": m.definition(r.schema, r.name)})
	}
	return out
}

func genSchemata(m *model) []row {
	var out []row
	for _, n := range m.namespaces() {
		out = append(out, row{"catalog_name": dbMarker, "schema_name": lit(n.name), "schema_owner": ownerName})
	}
	return out
}

func genISTables(m *model) []row {
	var out []row
	for _, r := range m.rels {
		typ := "'VIEW'"
		if r.kind == 'r' {
			typ = "'BASE TABLE'"
		}
		out = append(out, row{"table_catalog": dbMarker, "table_schema": lit(r.schema), "table_name": lit(r.name),
			"table_type": typ, "is_insertable_into": "'NO'", "is_typed": "'NO'"})
	}
	return out
}

func genISViews(m *model) []row {
	var out []row
	for _, r := range m.rels {
		if r.kind != 'v' {
			continue
		}
		out = append(out, row{"table_catalog": dbMarker, "table_schema": lit(r.schema), "table_name": lit(r.name),
			"view_definition": m.definition(r.schema, r.name), "check_option": "'NONE'", "is_updatable": "'NO'",
			"is_insertable_into": "'NO'", "is_trigger_updatable": "'NO'", "is_trigger_deletable": "'NO'",
			"is_trigger_insertable_into": "'NO'"})
	}
	return out
}

// sqlDataType is information_schema's data_type for a type.
func sqlDataType(oid uint32) string {
	ti, ok := pgquery.LookupType(oid)
	switch {
	case !ok:
		return "USER-DEFINED"
	case ti.Category == 'A':
		return "ARRAY"
	case ti.Name == "bpchar":
		return "character"
	}
	return pgquery.FormatType(oid, -1)
}

func genISColumns(m *model) []row {
	var out []row
	for _, r := range m.rels {
		for i, c := range r.cols {
			ti, _ := pgquery.LookupType(c.TypeOID)
			udt := "NULL"
			if ti != nil {
				udt = lit(ti.Name)
			}
			rw := row{
				"table_catalog": dbMarker, "table_schema": lit(r.schema), "table_name": lit(r.name), "column_name": lit(c.Name),
				"ordinal_position": num(i + 1), "is_nullable": "'YES'", "data_type": lit(sqlDataType(c.TypeOID)),
				"udt_catalog": dbMarker, "udt_schema": "'pg_catalog'", "udt_name": udt, "dtd_identifier": lit(num(i + 1)),
				"is_self_referencing": "'NO'", "is_identity": "'NO'", "identity_cycle": "'NO'", "is_generated": "'NEVER'",
				"is_updatable": "'NO'",
			}
			switch c.TypeOID {
			case 21, 23, 20:
				bits := map[uint32]int{21: 16, 23: 32, 20: 64}[c.TypeOID]
				rw["numeric_precision"], rw["numeric_precision_radix"], rw["numeric_scale"] = num(bits), "2", "0"
			case 700, 701:
				rw["numeric_precision"], rw["numeric_precision_radix"] = map[uint32]string{700: "24", 701: "53"}[c.TypeOID], "2"
			case 1700:
				rw["numeric_precision_radix"] = "10"
			case 25, 1043, 1042:
				rw["character_octet_length"] = "1073741824"
			case 1082:
				rw["datetime_precision"] = "0"
			case 1114, 1184, 1186:
				rw["datetime_precision"] = "6"
			}
			out = append(out, rw)
		}
	}
	return out
}

func genISTablePrivileges(m *model) []row {
	var out []row
	for _, r := range m.rels {
		out = append(out, row{"grantor": ownerName, "grantee": userMarker, "table_catalog": dbMarker,
			"table_schema": lit(r.schema), "table_name": lit(r.name), "privilege_type": "'SELECT'",
			"is_grantable": "'NO'", "with_hierarchy": "'YES'"})
	}
	return out
}

func genISCharacterSets(m *model) []row {
	return []row{{"character_set_catalog": "NULL", "character_set_schema": "NULL", "character_set_name": "'UTF8'",
		"character_repertoire": "'UCS'", "form_of_use": "'UTF8'", "default_collate_catalog": dbMarker,
		"default_collate_schema": "NULL", "default_collate_name": "NULL"}}
}

// valuesSQL builds SELECT ... FROM (VALUES ...) naming the columns;
// columns equal in every row become constants so the text stays small.
func valuesSQL(cols []string, rows []row) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if len(rows) == 0 {
		for i, c := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("NULL AS " + quoteIdent(c))
		}
		b.WriteString(" WHERE 0")
		return b.String()
	}
	constant := make([]bool, len(cols))
	var varying []string
	for i, c := range cols {
		constant[i] = true
		first := valueOf(rows[0], c)
		for _, r := range rows[1:] {
			if valueOf(r, c) != first {
				constant[i] = false
				break
			}
		}
		if !constant[i] {
			varying = append(varying, c)
		}
	}
	n := 0
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		if constant[i] {
			b.WriteString(valueOf(rows[0], c))
		} else {
			n++
			b.WriteString("column" + strconv.Itoa(n))
		}
		b.WriteString(" AS " + quoteIdent(c))
	}
	if len(varying) == 0 {
		if len(rows) > 1 {
			// identical rows: keep their number
			b.WriteString(" FROM (VALUES ")
			for i := range rows {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(0)")
			}
			b.WriteString(")")
		}
		return b.String()
	}
	b.WriteString(" FROM (VALUES ")
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, c := range varying {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(valueOf(r, c))
		}
		b.WriteByte(')')
	}
	b.WriteString(")")
	return b.String()
}

func valueOf(r row, c string) string {
	if v, ok := r[c]; ok {
		return v
	}
	return "NULL"
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
