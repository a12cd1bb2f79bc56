package pgquery

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// jsonFields keeps a composite's field list for a column that now holds
// the JSON object, so fields are read back from it.
func jsonFields(fs []recField) []recField {
	if len(fs) == 0 {
		return nil
	}
	out := make([]recField, len(fs))
	for i, f := range fs {
		out[i] = recField{name: f.name, typ: f.typ}
	}
	return out
}

// outputWrap renders OID-alias columns by name, as PostgreSQL's output
// functions do, around the finished query.
func (t *translator) outputWrap(out *selectOut) (string, bool) {
	need := false
	for _, c := range out.cols {
		if isRegType(c.typ) {
			need = true
		}
	}
	if !need {
		return "", false
	}
	var items []string
	for _, c := range out.cols {
		v := quoteIdent("_o") + "." + quoteIdent(c.sqlName)
		if isRegType(c.typ) {
			v = t.regText(expr{sql: v, typ: c.typ})
		}
		items = append(items, v+" AS "+quoteIdent(c.sqlName))
	}
	return "SELECT " + strings.Join(items, ", ") + " FROM (" + out.sql + ") AS " + quoteIdent("_o"), true
}

// rangeFunction translates a function call in FROM.
func (t *translator) rangeFunction(rf *pg_query.RangeFunction, sc *scope) (string, *fromResult, error) {
	fns := rf.GetFunctions()
	if len(fns) != 1 || rf.GetIsRowsfrom() {
		return "", nil, t.errAt("0A000", -1, "ROWS FROM with several functions is not supported by flowgate")
	}
	items := fns[0].GetList().GetItems()
	if len(items) == 0 || items[0].GetFuncCall() == nil {
		return "", nil, t.errAt("0A000", -1, "unsupported function in FROM")
	}
	if len(items) > 1 && items[1] != nil && items[1].GetNode() != nil {
		return "", nil, t.errAt("0A000", -1, "column definition lists are not supported by flowgate")
	}
	fc := items[0].GetFuncCall()
	name := strings.TrimPrefix(funcName(fc), "pg_catalog.")
	loc := fc.GetLocation()
	alias := rf.GetAlias().GetAliasname()
	var colAliases []string
	for _, n := range rf.GetAlias().GetColnames() {
		colAliases = append(colAliases, n.GetString_().GetSval())
	}
	relName := alias
	if relName == "" {
		relName = name[strings.LastIndex(name, ".")+1:]
	}
	sqlAlias := alias
	if sqlAlias == "" {
		sqlAlias = t.newAlias("fn")
	}
	if rf.GetOrdinality() && name != "unnest" {
		return "", nil, t.errAt("0A000", loc, "WITH ORDINALITY is supported by flowgate for unnest() only")
	}
	// colName names output column i: alias list, else the alias of a
	// single-column function, else its own name.
	colName := func(i int, own string, single bool) string {
		if i < len(colAliases) {
			return colAliases[i]
		}
		if single && alias != "" {
			return alias
		}
		return own
	}
	args := func() ([]expr, error) {
		var out []expr
		for _, a := range fc.GetArgs() {
			e, err := t.expr(a, sc)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}
	res := &fromResult{}
	r := &rel{name: relName}
	addCol := func(n, sql string, typ uint32) {
		r.cols = append(r.cols, column{name: n, sql: sql, typ: typ, typmod: -1})
	}
	var src string
	switch name {
	case "generate_series":
		as, err := args()
		if err != nil {
			return "", nil, err
		}
		if len(as) < 2 || len(as) > 3 {
			return "", nil, t.errAt("42883", loc, "function generate_series with %d arguments does not exist", len(as))
		}
		for _, a := range as {
			if a.typ != oidUnknown && !isInteger(a.typ) {
				return "", nil, t.errAt("0A000", loc, "flowgate supports generate_series() over integers only")
			}
		}
		var types []uint32
		for i := range as {
			if as[i].typ == oidUnknown {
				if as[i], err = t.numericUnknown(as[i]); err != nil {
					return "", nil, err
				}
			}
			types = append(types, as[i].typ)
		}
		ty, err := commonType(types)
		if err != nil || !isInteger(ty) {
			return "", nil, t.errAt("0A000", loc, "flowgate supports generate_series() over integers only")
		}
		if ty == oidOID {
			ty = oidInt8
		}
		step := "1"
		if len(as) == 3 {
			step = as[2].sql
		}
		a, b := as[0].sql, as[1].sql
		src = fmt.Sprintf("(WITH RECURSIVE gs(v) AS (SELECT CASE WHEN (%[3]s) = 0 THEN fg_raise('22023', 'step size cannot equal zero') ELSE %[1]s END UNION ALL SELECT v + (%[3]s) FROM gs WHERE CASE WHEN (%[3]s) > 0 THEN v + (%[3]s) <= %[2]s ELSE v + (%[3]s) >= %[2]s END) SELECT v FROM gs WHERE CASE WHEN (%[3]s) > 0 THEN v <= %[2]s ELSE v >= %[2]s END)",
			a, b, step)
		addCol(colName(0, "generate_series", true), quoteIdent(sqlAlias)+".v", ty)
	case "unnest", "generate_subscripts", "information_schema._pg_expandarray":
		as, err := args()
		if err != nil {
			return "", nil, err
		}
		want := 1
		if name == "generate_subscripts" {
			want = 2
		}
		if len(as) != want {
			return "", nil, t.errAt("42883", loc, "function %s with %d arguments does not exist", name, len(as))
		}
		arr := as[0]
		if arr.typ == oidUnknown {
			if arr, err = t.coerce(arr, oidTextArray); err != nil {
				return "", nil, err
			}
		}
		if !isArrayType(arr.typ) {
			return "", nil, t.errAt("42883", loc, "function %s(%s) does not exist", name, typeName(arr.typ))
		}
		if name == "generate_subscripts" && as[1].sql != "1" {
			return "", nil, t.errAt("0A000", loc, "flowgate supports generate_subscripts() on dimension 1 only")
		}
		src = "json_each(" + arr.sql + ")"
		q := quoteIdent(sqlAlias)
		switch name {
		case "unnest":
			addCol(colName(0, "unnest", true), q+".value", elemType(arr.typ))
			if rf.GetOrdinality() {
				addCol(colName(1, "ordinality", false), "("+q+".key + 1)", oidInt8)
			}
		case "generate_subscripts":
			addCol(colName(0, "generate_subscripts", true), "("+q+".key + "+strconv.Itoa(arrayLower(arr.typ))+")", oidInt4)
		default:
			addCol(colName(0, "x", false), q+".value", elemType(arr.typ))
			addCol(colName(1, "n", false), "("+q+".key + 1)", oidInt4)
		}
	case "pg_get_keywords":
		if len(fc.GetArgs()) != 0 {
			return "", nil, t.errAt("42883", loc, "function pg_get_keywords with arguments does not exist")
		}
		src = "(" + keywordsSQL() + ")"
		q := quoteIdent(sqlAlias)
		for i, c := range []struct {
			n string
			t uint32
		}{{"word", oidText}, {"catcode", oidChar}, {"barelabel", oidBool}, {"catdesc", oidText}, {"baredesc", oidText}} {
			addCol(colName(i, c.n, false), q+"."+quoteIdent(c.n), c.t)
		}
	default:
		if aggregates[name] {
			return "", nil, t.errAt("42803", loc, "aggregate functions are not allowed in functions in FROM")
		}
		e, err := t.expr(&pg_query.Node{Node: &pg_query.Node_FuncCall{FuncCall: fc}}, sc)
		if err != nil {
			return "", nil, err
		}
		if e, err = t.resolveUnknown(e); err != nil {
			return "", nil, err
		}
		if len(sc.srfs) > 0 || e.typ == oidRecord {
			return "", nil, t.errAt("0A000", loc, "function %s in FROM is not supported by flowgate", name)
		}
		own := name[strings.LastIndex(name, ".")+1:]
		src = "(SELECT " + e.sql + " AS \"v\")"
		addCol(colName(0, own, true), quoteIdent(sqlAlias)+".\"v\"", e.typ)
		r.cols[0].typmod = e.typmod
	}
	if len(colAliases) > len(r.cols) {
		return "", nil, t.errAt("42P10", loc, "table %q has %d columns available but %d columns specified", relName, len(r.cols), len(colAliases))
	}
	res.cols = r.cols
	res.rels = []*rel{r}
	return src + " AS " + quoteIdent(sqlAlias), res, nil
}

var (
	keywordsOnce    sync.Once
	keywordsSQLText string
)

// keywordsSQL is pg_get_keywords() as a VALUES list.
func keywordsSQL() string {
	keywordsOnce.Do(buildKeywordsSQL)
	return keywordsSQLText
}

func buildKeywordsSQL() {
	desc := map[byte]string{
		'U': "unreserved",
		'C': "unreserved (cannot be function or type name)",
		'T': "reserved (can be function or type name)",
		'R': "reserved",
	}
	var rows []string
	for _, k := range keywords {
		bare, bareDesc := "0", "requires AS"
		if k.bareOK {
			bare, bareDesc = "1", "can be bare label"
		}
		rows = append(rows, fmt.Sprintf("(%s, '%c', %s, %s, %s)", quoteString(k.word), k.cat, bare, quoteString(desc[k.cat]), quoteString(bareDesc)))
	}
	keywordsSQLText = `SELECT column1 AS "word", column2 AS "catcode", column3 AS "barelabel", column4 AS "catdesc", column5 AS "baredesc" FROM (VALUES ` + strings.Join(rows, ", ") + ")"
}
