package pgquery

import (
	"fmt"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// SearchPath is the fixed schema search path: unqualified names and
// pg_table_is_visible() follow it.
var SearchPath = []string{"dataflow", "pg_catalog"}

// NamespaceResolver may be implemented by a Resolver to resolve
// ::regnamespace literals.
type NamespaceResolver interface {
	NamespaceOID(name string) (uint32, bool)
}

// UnsupportedRelations may be implemented by a Resolver to name relations
// that exist in PostgreSQL but that flowgate does not answer: they fail
// with 0A000 instead of 42P01.
type UnsupportedRelations interface {
	Unsupported(schema, name string) (string, bool)
}

// recField is one field of a composite value (kept as a JSON object).
type recField struct {
	name string
	typ  uint32
	sql  string // direct SQL when known, else read from the JSON object
}

func searchPathSQL() string {
	var q []string
	for _, s := range SearchPath {
		q = append(q, quoteString(s))
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// relSource is the SQLite text a relation is read from.
func (t *translator) relSource(r *Relation) string {
	switch {
	case r.Dynamic != nil:
		return "(" + r.Dynamic(t.env) + ")"
	case r.SQL != "":
		return "(" + r.SQL + ")"
	}
	return quoteIdent(r.SQLiteName)
}

// sys returns the source of a pg_catalog relation, or "" if the resolver
// has none (then catalog lookups degrade to their plain forms).
func (t *translator) sys(name string) string {
	if t.res == nil {
		return ""
	}
	r, ok := t.res.Relation("pg_catalog", name)
	if !ok {
		return ""
	}
	return t.relSource(r)
}

// regText renders an OID-alias value as its name, like regclassout etc.
func (t *translator) regText(e expr) string {
	x := e.sql
	plain := "CAST(" + x + " AS TEXT)"
	switch e.typ {
	case oidRegclass:
		cls, ns := t.sys("pg_class"), t.sys("pg_namespace")
		if cls == "" || ns == "" {
			return plain
		}
		return fmt.Sprintf("coalesce((SELECT CASE WHEN rn.nspname IN %s THEN fg_quote_ident(rc.relname) ELSE fg_quote_ident(rn.nspname) || '.' || fg_quote_ident(rc.relname) END FROM %s AS rc JOIN %s AS rn ON rn.oid = rc.relnamespace WHERE rc.oid = %s), %s)",
			searchPathSQL(), cls, ns, x, plain)
	case oidRegtype:
		return fmt.Sprintf("(CASE WHEN fg_format_type(%[1]s, NULL) = '???' THEN %[2]s ELSE fg_format_type(%[1]s, NULL) END)", x, plain)
	case oidRegproc, oidRegprocedure:
		proc := t.sys("pg_proc")
		if proc == "" {
			return plain
		}
		return fmt.Sprintf("coalesce((SELECT rp.proname FROM %s AS rp WHERE rp.oid = %s), CASE WHEN %s = 0 THEN '-' ELSE %s END)", proc, x, x, plain)
	case oidRegnamespace:
		ns := t.sys("pg_namespace")
		if ns == "" {
			return plain
		}
		return fmt.Sprintf("coalesce((SELECT fg_quote_ident(rn.nspname) FROM %s AS rn WHERE rn.oid = %s), %s)", ns, x, plain)
	case oidRegrole:
		roles := t.sys("pg_roles")
		if roles == "" {
			return plain
		}
		return fmt.Sprintf("coalesce((SELECT fg_quote_ident(rr.rolname) FROM %s AS rr WHERE rr.oid = %s), %s)", roles, x, plain)
	}
	return plain
}

// regFromLiteral resolves 'name'::regclass (and friends) while translating.
func (t *translator) regFromLiteral(s string, to uint32, loc int32) (expr, error) {
	out := expr{typ: to, typmod: -1, loc: loc}
	if n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32); err == nil {
		out.sql = strconv.FormatUint(n, 10)
		return out, nil
	}
	switch to {
	case oidRegclass:
		parts, err := splitQualified(s)
		if err != nil || len(parts) > 3 {
			return out, t.errAt("42602", loc, "invalid name syntax")
		}
		if len(parts) == 3 {
			if parts[0] != t.env.Database {
				return out, t.errAt("0A000", loc, "cross-database references are not implemented: %s", s)
			}
			parts = parts[1:]
		}
		schema, name := "", parts[len(parts)-1]
		if len(parts) == 2 {
			schema = parts[0]
		}
		if t.res != nil {
			if r, ok := t.res.Relation(schema, name); ok {
				out.sql = strconv.FormatUint(uint64(r.OID), 10)
				return out, nil
			}
		}
		return out, t.errAt("42P01", loc, "relation %q does not exist", s)
	case oidRegtype:
		ti, ok := typeFromText(s)
		if !ok {
			return out, t.errAt("42704", loc, "type %q does not exist", s)
		}
		out.sql = strconv.FormatUint(uint64(ti.OID), 10)
		return out, nil
	case oidRegproc, oidRegprocedure:
		name := strings.TrimSpace(s)
		if i := strings.IndexByte(name, '('); i >= 0 {
			if to == oidRegproc {
				return out, t.errAt("42601", loc, "invalid name syntax")
			}
			name = name[:i]
		}
		parts, err := splitQualified(name)
		if err != nil || len(parts) > 2 || (len(parts) == 2 && parts[0] != "pg_catalog") {
			return out, t.errAt("42883", loc, "function %q does not exist", s)
		}
		initTypes()
		ps := procByName[parts[len(parts)-1]]
		switch {
		case len(ps) == 0:
			return out, t.errAt("42883", loc, "function %q does not exist", s)
		case len(ps) > 1 && to == oidRegproc:
			return out, t.errAt("42725", loc, "more than one function named %q", s)
		}
		out.sql = strconv.FormatUint(uint64(ps[0].OID), 10)
		return out, nil
	case oidRegnamespace:
		parts, err := splitQualified(s)
		if err != nil || len(parts) != 1 {
			return out, t.errAt("42602", loc, "invalid name syntax")
		}
		if nr, ok := t.res.(NamespaceResolver); ok {
			if oid, ok := nr.NamespaceOID(parts[0]); ok {
				out.sql = strconv.FormatUint(uint64(oid), 10)
				return out, nil
			}
		}
		return out, t.errAt("3F000", loc, "schema %q does not exist", s)
	case oidRegrole:
		e, err := t.textToReg(expr{sql: quoteString(s), typ: oidText}, to, loc)
		return e, err
	}
	return out, t.errAt("0A000", loc, "flowgate cannot convert a literal to type %s", typeName(to))
}

// textToReg converts a text value to an OID-alias type at run time.
func (t *translator) textToReg(e expr, to uint32, loc int32) (expr, error) {
	out := expr{typ: to, typmod: -1, isAgg: e.isAgg}
	x := e.sql
	switch to {
	case oidRegclass:
		cls, ns := t.sys("pg_class"), t.sys("pg_namespace")
		if cls == "" || ns == "" {
			break
		}
		out.sql = fmt.Sprintf("coalesce((SELECT rc.oid FROM %[1]s AS rc JOIN %[2]s AS rn ON rn.oid = rc.relnamespace WHERE rn.nspname || char(31) || rc.relname = fg_qualname(%[3]s) OR (char(31) || rc.relname = fg_qualname(%[3]s) AND rn.nspname IN %[4]s) ORDER BY rn.nspname = %[5]s DESC LIMIT 1), CASE WHEN %[3]s IS NOT NULL THEN fg_raise('42P01', 'relation \"' || %[3]s || '\" does not exist') END)",
			cls, ns, x, searchPathSQL(), quoteString(SearchPath[0]))
		return out, nil
	case oidRegnamespace:
		ns := t.sys("pg_namespace")
		if ns == "" {
			break
		}
		out.sql = fmt.Sprintf("coalesce((SELECT rn.oid FROM %[1]s AS rn WHERE char(31) || rn.nspname = fg_qualname(%[2]s)), CASE WHEN %[2]s IS NOT NULL THEN fg_raise('3F000', 'schema \"' || %[2]s || '\" does not exist') END)", ns, x)
		return out, nil
	case oidRegrole:
		roles := t.sys("pg_roles")
		if roles == "" {
			break
		}
		out.sql = fmt.Sprintf("coalesce((SELECT rr.oid FROM %[1]s AS rr WHERE char(31) || rr.rolname = fg_qualname(%[2]s)), CASE WHEN %[2]s IS NOT NULL THEN fg_raise('42704', 'role \"' || %[2]s || '\" does not exist') END)", roles, x)
		return out, nil
	}
	return out, t.errAt("0A000", loc, "flowgate can convert only constants to type %s", typeName(to))
}

// --- arrays ---

// arrayElemText renders the current json_each value as PostgreSQL text.
func arrayElemText(val string, elem uint32) string {
	if elem == oidBool {
		return "(CASE " + val + " WHEN 1 THEN 't' WHEN 0 THEN 'f' END)"
	}
	return "CAST(" + val + " AS TEXT)"
}

func (t *translator) arrayExpr(a *pg_query.A_ArrayExpr, sc *scope) (expr, error) {
	var items []*pg_query.Node
	items = append(items, a.GetElements()...)
	if len(items) == 0 {
		return expr{sql: "'[]'", typ: oidTextArray, typmod: -1, name: "array", strength: 1}, nil
	}
	args, ty, err := t.commonArgs(items, sc, "ARRAY")
	if err != nil {
		return expr{}, err
	}
	at := arrayOf(ty)
	if at == 0 || isArrayType(ty) {
		return expr{}, t.errAt("0A000", a.GetLocation(), "arrays of %s are not supported by flowgate", typeName(ty))
	}
	var parts []string
	for _, x := range args {
		parts = append(parts, t.jsonValue(x))
	}
	return expr{sql: "json_array(" + strings.Join(parts, ", ") + ")", typ: at, typmod: -1, name: "array", strength: 1, isAgg: anyAgg(args)}, nil
}

// jsonValue renders a value for json_array/json_object.
func (t *translator) jsonValue(e expr) string {
	switch {
	case e.typ == oidBool:
		return "json(CASE WHEN " + e.sql + " THEN 'true' WHEN NOT " + e.sql + " THEN 'false' END)"
	case categoryOf(e.typ) == catJSON:
		return "json(" + e.sql + ")"
	case isTimestamp(e.typ) || isRegType(e.typ) || e.typ == oidInterval:
		return t.toText(e)
	case isArrayType(e.typ):
		return "json(" + e.sql + ")"
	}
	return e.sql
}

// subscript translates arr[i]; vectors count from 0.
func (t *translator) subscript(base expr, idx *pg_query.A_Indices, sc *scope) (expr, error) {
	if idx.GetIsSlice() {
		return expr{}, t.errAt("0A000", base.loc, "array slices are not supported by flowgate")
	}
	if !isArrayType(base.typ) {
		if base.typ == oidUnknown {
			return expr{}, t.errAt("42804", base.loc, "cannot subscript type unknown because it does not support subscripting")
		}
		return expr{}, t.errAt("42804", base.loc, "cannot subscript type %s because it does not support subscripting", typeName(base.typ))
	}
	i, err := t.expr(idx.GetUidx(), sc)
	if err != nil {
		return i, err
	}
	if i, err = t.coerce(i, oidInt4); err != nil {
		return i, err
	}
	if !isInteger(i.typ) {
		return expr{}, t.errAt("42804", i.loc, "array subscript must have type integer")
	}
	lb := arrayLower(base.typ)
	pos := "(" + i.sql + ") - " + strconv.Itoa(lb)
	sql := fmt.Sprintf("(CASE WHEN %[2]s >= 0 THEN json_extract(%[1]s, '$[' || (%[2]s) || ']') END)", base.sql, pos)
	return expr{sql: sql, typ: elemType(base.typ), typmod: -1, isAgg: base.isAgg || i.isAgg}, nil
}

// indirection handles subscripts and (composite).field selection.
func (t *translator) indirection(ind *pg_query.A_Indirection, sc *scope) (expr, error) {
	base, err := t.expr(ind.GetArg(), sc)
	if err != nil {
		return base, err
	}
	for _, n := range ind.GetIndirection() {
		switch v := n.GetNode().(type) {
		case *pg_query.Node_AIndices:
			if base, err = t.subscript(base, v.AIndices, sc); err != nil {
				return base, err
			}
		case *pg_query.Node_String_:
			if base, err = t.fieldSelect(base, v.String_.GetSval()); err != nil {
				return base, err
			}
		default:
			return expr{}, t.errAt("0A000", base.loc, "this kind of field selection is not supported by flowgate")
		}
	}
	return base, nil
}

func (t *translator) fieldSelect(base expr, name string) (expr, error) {
	if len(base.fields) == 0 {
		return expr{}, t.errAt("42809", base.loc, "column notation .%s applied to type %s, which is not a composite type", name, typeName(base.typ))
	}
	for _, f := range base.fields {
		if f.name == name {
			sql := f.sql
			if sql == "" {
				sql = "json_extract(" + base.sql + ", " + quoteString("$."+name) + ")"
			}
			return expr{sql: sql, typ: f.typ, typmod: -1, name: name, strength: 2, isAgg: base.isAgg}, nil
		}
	}
	return expr{}, t.errAt("42703", base.loc, "column %q not found in data type record", name)
}

// anyArray translates x op ANY(array) and x op ALL(array) for any array
// value with PostgreSQL's three-valued result.
func (t *translator) anyArray(a *pg_query.A_Expr, sc *scope, op string, isAny bool) (expr, error) {
	l, err := t.expr(a.GetLexpr(), sc)
	if err != nil {
		return l, err
	}
	arr, err := t.expr(a.GetRexpr(), sc)
	if err != nil {
		return arr, err
	}
	if arr.typ == oidUnknown {
		to := oidTextArray
		if l.typ != oidUnknown && arrayOf(l.typ) != 0 {
			to = arrayOf(l.typ)
		}
		if arr, err = t.coerce(arr, to); err != nil {
			return arr, err
		}
	}
	if !isArrayType(arr.typ) {
		return expr{}, t.errAt("42809", a.GetLocation(), "op ANY/ALL (array) requires array on right side")
	}
	alias := t.newAlias("ae")
	el := expr{sql: quoteIdent(alias) + ".value", typ: elemType(arr.typ), typmod: -1}
	cond, err := t.binop(op, l, el, a.GetLocation())
	if err != nil {
		return cond, err
	}
	if cond.typ != oidBool {
		return expr{}, t.errAt("42809", a.GetLocation(), "op ANY/ALL (array) requires operator to yield boolean")
	}
	from := "json_each(" + arr.sql + ") AS " + quoteIdent(alias)
	var sql string
	if isAny {
		sql = fmt.Sprintf("(CASE WHEN %[1]s IS NULL THEN NULL WHEN EXISTS (SELECT 1 FROM %[2]s WHERE %[3]s) THEN 1 WHEN EXISTS (SELECT 1 FROM %[2]s WHERE (%[3]s) IS NULL) THEN NULL ELSE 0 END)", arr.sql, from, cond.sql)
	} else {
		sql = fmt.Sprintf("(CASE WHEN %[1]s IS NULL THEN NULL WHEN EXISTS (SELECT 1 FROM %[2]s WHERE NOT (%[3]s)) THEN 0 WHEN EXISTS (SELECT 1 FROM %[2]s WHERE (%[3]s) IS NULL) THEN NULL ELSE 1 END)", arr.sql, from, cond.sql)
	}
	return expr{sql: sql, typ: oidBool, isAgg: l.isAgg || arr.isAgg}, nil
}

// arraySublink is ARRAY(SELECT ...).
func (t *translator) arraySublink(s *pg_query.SubLink, out *selectOut) (expr, error) {
	if len(out.cols) != 1 {
		return expr{}, t.errAt("42601", s.GetLocation(), "subquery must return only one column")
	}
	c := out.cols[0]
	at := arrayOf(c.typ)
	if at == 0 || isArrayType(c.typ) {
		return expr{}, t.errAt("0A000", s.GetLocation(), "arrays of %s are not supported by flowgate", typeName(c.typ))
	}
	v := t.jsonValue(expr{sql: quoteIdent("ar") + "." + quoteIdent(c.sqlName), typ: c.typ})
	return expr{sql: "(SELECT json_group_array(" + v + ") FROM (" + out.sql + ") AS \"ar\")", typ: at, typmod: -1, name: "array", strength: 2}, nil
}

// --- regular expressions ---

func (t *translator) regexOp(op string, l, r expr, loc int32) (expr, error) {
	var err error
	if l, err = t.coerce(l, oidText); err != nil {
		return l, err
	}
	constPat := r.lit
	if r, err = t.coerce(r, oidText); err != nil {
		return r, err
	}
	if !isString(l.typ) || !isString(r.typ) {
		return expr{}, t.errAt("42883", loc, "operator does not exist: %s %s %s", typeName(l.typ), op, typeName(r.typ))
	}
	ci := "0"
	if strings.Contains(op, "*") {
		ci = "1"
	}
	if constPat != nil {
		if _, err := compileRegexp(*constPat, ci == "1"); err != nil {
			return expr{}, t.errAt("0A000", loc, "flowgate cannot run this regular expression (%v); it supports RE2 syntax", err)
		}
	}
	sql := "fg_regexp(" + l.sql + ", " + r.sql + ", " + ci + ")"
	if strings.HasPrefix(op, "!") {
		sql = "(NOT " + sql + ")"
	}
	return expr{sql: sql, typ: oidBool, isAgg: l.isAgg || r.isAgg}, nil
}

// --- window functions ---

var windowOnly = map[string]uint32{
	"row_number": oidInt8, "rank": oidInt8, "dense_rank": oidInt8,
	"percent_rank": oidFloat8, "cume_dist": oidFloat8,
}

// frameDefault is FRAMEOPTION_DEFAULTS: RANGE UNBOUNDED PRECEDING to
// CURRENT ROW, the only frame flowgate renders.
const frameDefault = 0x422

func (t *translator) windowCall(fc *pg_query.FuncCall, name string, sc *scope) (expr, error) {
	loc := fc.GetLocation()
	w := fc.GetOver()
	if w.GetName() != "" || w.GetRefname() != "" {
		return expr{}, t.errAt("0A000", loc, "named windows are not supported by flowgate")
	}
	if w.GetFrameOptions() != frameDefault && w.GetFrameOptions() != 0 {
		return expr{}, t.errAt("0A000", loc, "window frame clauses are not supported by flowgate")
	}
	if !sc.aggOK {
		return expr{}, t.errAt("42P20", loc, "window functions are not allowed here")
	}
	var head expr
	if ty, ok := windowOnly[name]; ok {
		if len(fc.GetArgs()) != 0 {
			return expr{}, t.errAt("42883", loc, "function %s with arguments does not exist", name)
		}
		head = expr{sql: name + "()", typ: ty, typmod: -1}
	} else if aggregates[name] {
		c := &call{fc: fc, name: name, sc: sc}
		for _, a := range fc.GetArgs() {
			e, err := t.expr(a, sc)
			if err != nil {
				return e, err
			}
			c.args = append(c.args, e)
		}
		var err error
		if head, err = t.aggregate(c); err != nil {
			return head, err
		}
	} else {
		return expr{}, t.errAt("0A000", loc, "window function %s is not supported by flowgate", name)
	}
	var parts []string
	if p := w.GetPartitionClause(); len(p) > 0 {
		var items []string
		for _, n := range p {
			e, err := t.expr(n, sc)
			if err != nil {
				return e, err
			}
			items = append(items, e.sql)
		}
		parts = append(parts, "PARTITION BY "+strings.Join(items, ", "))
	}
	if o := w.GetOrderClause(); len(o) > 0 {
		var items []string
		for _, n := range o {
			sb := n.GetSortBy()
			e, err := t.expr(sb.GetNode(), sc)
			if err != nil {
				return e, err
			}
			if e, err = t.resolveUnknown(e); err != nil {
				return e, err
			}
			item := e.sql
			desc := sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_DESC
			if desc {
				item += " DESC"
			}
			switch {
			case sb.GetSortbyNulls() == pg_query.SortByNulls_SORTBY_NULLS_FIRST || (desc && sb.GetSortbyNulls() != pg_query.SortByNulls_SORTBY_NULLS_LAST):
				item += " NULLS FIRST"
			default:
				item += " NULLS LAST"
			}
			items = append(items, item)
		}
		parts = append(parts, "ORDER BY "+strings.Join(items, ", "))
	}
	out := expr{sql: head.sql + " OVER (" + strings.Join(parts, " ") + ")", typ: head.typ, typmod: head.typmod, name: name, strength: 2}
	return out, nil
}

// --- composite and set-returning helpers ---

// srfJoin is a set-returning call in a select list, run as a lateral
// json_each join over one array.
type srfJoin struct {
	arg   string
	alias string
}

// tlistSRF joins json_each(arr) for an SRF in the select list; calls on
// the same array share one join, as PostgreSQL runs them in lockstep.
func (t *translator) tlistSRF(sc *scope, arr expr, loc int32, name string) (string, error) {
	if sc == nil || !sc.tlist {
		return "", t.errAt("0A000", loc, "set-returning function %s is supported by flowgate only in FROM or at the top of a select list", name)
	}
	for _, j := range sc.srfs {
		if j.arg == arr.sql {
			return j.alias, nil
		}
	}
	if len(sc.srfs) > 0 {
		return "", t.errAt("0A000", loc, "flowgate runs only one set-returning function (or several over the same array) per select list")
	}
	alias := t.newAlias("srf")
	sc.srfs = append(sc.srfs, srfJoin{arg: arr.sql, alias: alias})
	return alias, nil
}

// arrayConcat is array || array and array || element.
func (t *translator) arrayConcat(l, r expr, loc int32) (expr, error) {
	var err error
	switch {
	case isArrayType(l.typ) && r.typ == oidUnknown:
		r, err = t.coerce(r, l.typ)
	case isArrayType(r.typ) && l.typ == oidUnknown:
		l, err = t.coerce(l, r.typ)
	}
	if err != nil {
		return l, err
	}
	wrap := func(e expr, arr uint32) (string, bool) {
		if isArrayType(e.typ) {
			return e.sql, categoryOf(elemType(e.typ)) == categoryOf(elemType(arr))
		}
		return "json_array(" + t.jsonValue(e) + ")", categoryOf(e.typ) == categoryOf(elemType(arr))
	}
	at := l.typ
	if !isArrayType(at) {
		at = r.typ
	}
	ls, ok1 := wrap(l, at)
	rs, ok2 := wrap(r, at)
	if !ok1 || !ok2 {
		return expr{}, t.errAt("42883", loc, "operator does not exist: %s || %s", typeName(l.typ), typeName(r.typ))
	}
	return expr{sql: "fg_array_cat(" + ls + ", " + rs + ")", typ: at, typmod: -1, isAgg: l.isAgg || r.isAgg}, nil
}
