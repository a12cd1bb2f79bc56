package pgquery

import (
	"fmt"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

type translator struct {
	src      string
	res      Resolver
	env      Env
	declared []uint32
	params   map[int]uint32 // inferred parameter types
	maxParam int
	hidden   []hiddenParam
	ctes     []map[string]*cteDef // innermost last
	aliasN   int
}

func newTranslator(src string, r Resolver, env Env, declared []uint32) *translator {
	return &translator{src: src, res: r, env: env, declared: declared, params: map[int]uint32{}}
}

// column is a column visible in a scope, with the SQL that reads it.
type column struct {
	name     string
	sql      string
	typ      uint32
	typmod   int32
	tableOID uint32
	attnum   int16
	fields   []recField
	hidden   bool  // a system column: not part of *
	dscale   int16 // see expr.dscale
}

// rel is a FROM item visible by name for qualified references.
type rel struct {
	name   string
	schema string
	cols   []column
}

// scope is one query level's FROM namespace.
type scope struct {
	parent *scope
	cols   []column // visible to unqualified names, in * order
	rels   []*rel
	// aggregates allowed here (select list, HAVING, ORDER BY)
	aggOK bool
	// tlist is set while the select list is translated: set-returning
	// functions there become lateral joins (srfs).
	tlist bool
	srfs  []srfJoin
}

type cteDef struct {
	name string
	cols []outCol
}

// outCol is one output column of a translated SELECT.
type outCol struct {
	name     string
	sqlName  string // alias in the generated SQL
	typ      uint32
	typmod   int32
	tableOID uint32
	attnum   int16
	e        expr
}

type selectOut struct {
	sql  string
	cols []outCol
}

func (t *translator) translateTop(raw *pg_query.RawStmt) (*Query, error) {
	sel, err := t.checkTop(raw)
	if err != nil {
		return nil, err
	}
	out, err := t.selectStmt(sel, nil)
	if err != nil {
		return nil, err
	}
	q := &Query{hidden: t.hidden}
	n := t.maxParam
	if len(t.declared) > n {
		n = len(t.declared)
	}
	for i := 1; i <= n; i++ {
		q.ParamOIDs = append(q.ParamOIDs, t.paramType(i))
	}
	sql := out.sql
	if w, ok := t.outputWrap(out); ok {
		sql = w
	}
	for i := range t.hidden {
		sql = strings.ReplaceAll(sql, hiddenMarker(i), "?"+strconv.Itoa(n+1+i))
	}
	q.SQL = sql
	for _, c := range out.cols {
		q.Columns = append(q.Columns, ResultColumn{Name: c.name, TypeOID: c.typ, TypeMod: c.typmod, TableOID: c.tableOID, AttrNum: c.attnum, dscale: c.e.dscale})
	}
	return q, nil
}

func hiddenMarker(i int) string { return "\x00h" + strconv.Itoa(i) + "\x00" }

// paramType is the final type of $n: declared, inferred, else text.
func (t *translator) paramType(n int) uint32 {
	if n <= len(t.declared) && t.declared[n-1] != 0 && t.declared[n-1] != oidPGUnknown {
		return t.declared[n-1]
	}
	if ty, ok := t.params[n]; ok {
		return ty
	}
	return oidText
}

// selectStmt translates any SELECT (simple, set operation, VALUES).
func (t *translator) selectStmt(s *pg_query.SelectStmt, parent *scope) (*selectOut, error) {
	if err := t.checkSelectClauses(s); err != nil {
		return nil, err
	}
	prefix := ""
	if w := s.GetWithClause(); w != nil {
		p, err := t.withClause(w, parent)
		if err != nil {
			return nil, err
		}
		defer func() { t.ctes = t.ctes[:len(t.ctes)-1] }()
		prefix = p
	}
	var out *selectOut
	var err error
	switch {
	case s.GetOp() == pg_query.SetOperation_SETOP_UNION || s.GetOp() == pg_query.SetOperation_SETOP_INTERSECT || s.GetOp() == pg_query.SetOperation_SETOP_EXCEPT:
		out, err = t.setOp(s, parent)
	case len(s.GetValuesLists()) > 0:
		out, err = t.values(s, parent)
	default:
		return t.simpleSelect(s, parent, prefix)
	}
	if err != nil {
		return nil, err
	}
	// ORDER BY / LIMIT on a set operation or VALUES apply to the whole.
	tail, err := t.orderLimit(s, nil, out.cols, true)
	if err != nil {
		return nil, err
	}
	out.sql = prefix + out.sql + tail
	return out, nil
}

// withClause registers CTEs and returns the SQLite WITH prefix.
func (t *translator) withClause(w *pg_query.WithClause, parent *scope) (string, error) {
	defs := map[string]*cteDef{}
	t.ctes = append(t.ctes, defs)
	var parts []string
	for _, n := range w.GetCtes() {
		cte := n.GetCommonTableExpr()
		if err := t.checkCTE(cte); err != nil {
			t.ctes = t.ctes[:len(t.ctes)-1]
			return "", err
		}
		name := cte.GetCtename()
		if _, dup := defs[name]; dup {
			t.ctes = t.ctes[:len(t.ctes)-1]
			return "", t.errAt("42712", cte.GetLocation(), "WITH query name %q specified more than once", name)
		}
		sel := cte.GetCtequery().GetSelectStmt()
		var out *selectOut
		var err error
		if w.GetRecursive() && sel.GetOp() == pg_query.SetOperation_SETOP_UNION {
			out, err = t.recursiveCTE(cte, sel, parent, defs)
		} else {
			out, err = t.selectStmt(sel, parent)
		}
		if err != nil {
			t.ctes = t.ctes[:len(t.ctes)-1]
			return "", err
		}
		cols, err := t.renameCols(out.cols, cte.GetAliascolnames(), name, cte.GetLocation())
		if err != nil {
			t.ctes = t.ctes[:len(t.ctes)-1]
			return "", err
		}
		defs[name] = &cteDef{name: name, cols: cols}
		var names []string
		for _, c := range cols {
			names = append(names, quoteIdent(c.sqlName))
		}
		parts = append(parts, fmt.Sprintf("%s(%s) AS (%s)", quoteIdent(name), strings.Join(names, ", "), out.sql))
	}
	kw := "WITH "
	if w.GetRecursive() {
		kw = "WITH RECURSIVE "
	}
	return kw + strings.Join(parts, ", ") + " ", nil
}

// recursiveCTE types the CTE from its non-recursive arm first.
func (t *translator) recursiveCTE(cte *pg_query.CommonTableExpr, sel *pg_query.SelectStmt, parent *scope, defs map[string]*cteDef) (*selectOut, error) {
	left, err := t.selectStmt(sel.GetLarg(), parent)
	if err != nil {
		return nil, err
	}
	cols, err := t.renameCols(left.cols, cte.GetAliascolnames(), cte.GetCtename(), cte.GetLocation())
	if err != nil {
		return nil, err
	}
	defs[cte.GetCtename()] = &cteDef{name: cte.GetCtename(), cols: cols}
	return t.selectStmt(sel, parent)
}

// renameCols applies an alias column list and makes SQL names unique.
func (t *translator) renameCols(cols []outCol, alias []*pg_query.Node, what string, loc int32) ([]outCol, error) {
	if len(alias) > len(cols) {
		return nil, t.errAt("42P10", loc, "%s has %d columns available but %d columns specified", what, len(cols), len(alias))
	}
	out := make([]outCol, len(cols))
	copy(out, cols)
	for i, a := range alias {
		out[i].name = a.GetString_().GetSval()
	}
	return out, nil
}

// uniqueSQLNames picks distinct SQLite aliases for output columns.
func uniqueSQLNames(cols []outCol) {
	seen := map[string]bool{}
	for i := range cols {
		base := cols[i].name
		name := base
		for n := 2; seen[strings.ToLower(name)]; n++ {
			name = base + "_" + strconv.Itoa(n)
		}
		seen[strings.ToLower(name)] = true
		cols[i].sqlName = name
	}
}

// setOp translates UNION/INTERSECT/EXCEPT.
func (t *translator) setOp(s *pg_query.SelectStmt, parent *scope) (*selectOut, error) {
	op := map[pg_query.SetOperation]string{
		pg_query.SetOperation_SETOP_UNION:     "UNION",
		pg_query.SetOperation_SETOP_INTERSECT: "INTERSECT",
		pg_query.SetOperation_SETOP_EXCEPT:    "EXCEPT",
	}[s.GetOp()]
	if s.GetAll() {
		if op != "UNION" {
			return nil, t.errAt("0A000", -1, "%s ALL is not supported by flowgate", op)
		}
		op += " ALL"
	}
	l, err := t.selectStmt(s.GetLarg(), parent)
	if err != nil {
		return nil, err
	}
	r, err := t.selectStmt(s.GetRarg(), parent)
	if err != nil {
		return nil, err
	}
	if len(l.cols) != len(r.cols) {
		return nil, t.errAt("42601", -1, "each %s query must have the same number of columns", strings.Fields(op)[0])
	}
	cols := make([]outCol, len(l.cols))
	for i := range l.cols {
		ty, err := commonType([]uint32{l.cols[i].typ, r.cols[i].typ})
		if err != nil {
			return nil, t.errAt("42804", -1, "%s %s", strings.Fields(op)[0], err.Error())
		}
		cols[i] = outCol{name: l.cols[i].name, sqlName: l.cols[i].sqlName, typ: ty, typmod: -1}
		if l.cols[i].typ == r.cols[i].typ && l.cols[i].typmod == r.cols[i].typmod {
			cols[i].typmod = l.cols[i].typmod
		}
	}
	return &selectOut{sql: t.compoundArm(s.GetLarg(), l.sql, false) + " " + op + " " + t.compoundArm(s.GetRarg(), r.sql, true), cols: cols}, nil
}

// compoundArm wraps an arm SQLite cannot take bare: one with ORDER BY,
// LIMIT or WITH, and a nested set operation on the right (SQLite has no
// parentheses in compounds and evaluates left to right).
func (t *translator) compoundArm(s *pg_query.SelectStmt, sql string, right bool) string {
	nested := s.GetOp() != pg_query.SetOperation_SETOP_NONE && s.GetOp() != pg_query.SetOperation_SET_OPERATION_UNDEFINED
	if len(s.GetSortClause()) > 0 || s.GetLimitCount() != nil || s.GetLimitOffset() != nil || s.GetWithClause() != nil || (nested && right) || len(s.GetValuesLists()) > 0 {
		return "SELECT * FROM (" + sql + ")"
	}
	return sql
}

// values translates a VALUES list; columns are column1..n like PostgreSQL
// (and SQLite).
func (t *translator) values(s *pg_query.SelectStmt, parent *scope) (*selectOut, error) {
	sc := &scope{parent: parent}
	var rows [][]expr
	for _, l := range s.GetValuesLists() {
		var row []expr
		for _, item := range l.GetList().GetItems() {
			e, err := t.expr(item, sc)
			if err != nil {
				return nil, err
			}
			row = append(row, e)
		}
		if len(rows) > 0 && len(row) != len(rows[0]) {
			return nil, t.errAt("42601", -1, "VALUES lists must all be the same length")
		}
		rows = append(rows, row)
	}
	cols := make([]outCol, len(rows[0]))
	for c := range cols {
		var types []uint32
		for _, r := range rows {
			types = append(types, r[c].typ)
		}
		ty, err := commonType(types)
		if err != nil {
			return nil, t.errAt("42804", -1, "VALUES %s", err.Error())
		}
		for _, r := range rows {
			if r[c], err = t.coerce(r[c], ty); err != nil {
				return nil, err
			}
		}
		name := "column" + strconv.Itoa(c+1)
		cols[c] = outCol{name: name, sqlName: name, typ: ty, typmod: -1}
	}
	var parts []string
	for _, r := range rows {
		var items []string
		for _, e := range r {
			items = append(items, e.sql)
		}
		parts = append(parts, "("+strings.Join(items, ", ")+")")
	}
	return &selectOut{sql: "VALUES " + strings.Join(parts, ", "), cols: cols}, nil
}

// simpleSelect translates SELECT ... FROM ... WHERE ... GROUP BY ...
func (t *translator) simpleSelect(s *pg_query.SelectStmt, parent *scope, prefix string) (*selectOut, error) {
	sc := &scope{parent: parent}
	var from []string
	for _, f := range s.GetFromClause() {
		sql, fi, err := t.fromItem(f, sc)
		if err != nil {
			return nil, err
		}
		for _, r := range fi.rels {
			if err := sc.addRel(t, r); err != nil {
				return nil, err
			}
		}
		sc.cols = append(sc.cols, fi.cols...)
		from = append(from, sql)
	}

	// Target list.
	sc.aggOK = true
	sc.tlist = true
	var cols []outCol
	for _, n := range s.GetTargetList() {
		rt := n.GetResTarget()
		if cr := rt.GetVal().GetColumnRef(); cr != nil && isStar(cr) {
			star, err := t.expandStar(cr, sc)
			if err != nil {
				return nil, err
			}
			cols = append(cols, star...)
			continue
		}
		e, err := t.expr(rt.GetVal(), sc)
		if err != nil {
			return nil, err
		}
		if e, err = t.resolveUnknown(e); err != nil {
			return nil, err
		}
		name := rt.GetName()
		if name == "" {
			name = e.name
			if e.strength == 0 || name == "" {
				name = "?column?"
			}
		}
		if e.ival != nil {
			// A constant interval shows in PostgreSQL's text form.
			e.sql = quoteString(e.ival.String())
		}
		cols = append(cols, outCol{name: name, typ: e.typ, typmod: e.typmod, tableOID: e.tableOID, attnum: e.attnum, e: e})
	}
	sc.tlist = false
	if len(sc.srfs) > 0 {
		// PostgreSQL expands set-returning functions after grouping; a
		// lateral join runs before it, so refuse rather than miscount.
		agg := len(s.GetGroupClause()) > 0 || s.GetHavingClause() != nil
		for _, c := range cols {
			agg = agg || c.e.isAgg
		}
		if agg {
			return nil, t.errAt("0A000", -1, "flowgate does not combine set-returning functions with GROUP BY or aggregates in one select list")
		}
	}
	for _, j := range sc.srfs {
		from = append(from, "json_each("+j.arg+") AS "+quoteIdent(j.alias))
	}
	uniqueSQLNames(cols)

	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString("SELECT ")
	dc := s.GetDistinctClause()
	distinctOn := len(dc) > 1 || len(dc) == 1 && dc[0].GetNode() != nil
	if len(dc) > 0 && !distinctOn {
		b.WriteString("DISTINCT ")
	}
	if len(cols) == 0 {
		return nil, t.errAt("0A000", -1, "SELECT without columns is not supported by flowgate")
	}
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.e.sql)
		b.WriteString(" AS ")
		b.WriteString(quoteIdent(c.sqlName))
	}
	if len(from) > 0 {
		b.WriteString(" FROM ")
		b.WriteString(strings.Join(from, ", "))
	}

	if w := s.GetWhereClause(); w != nil {
		sc.aggOK = false
		e, err := t.boolExpr(w, sc, "WHERE")
		sc.aggOK = true
		if err != nil {
			return nil, err
		}
		b.WriteString(" WHERE ")
		b.WriteString(e.sql)
	}
	if g := s.GetGroupClause(); len(g) > 0 {
		var items []string
		for _, n := range g {
			e, err := t.groupItem(n, sc, cols)
			if err != nil {
				return nil, err
			}
			items = append(items, e)
		}
		b.WriteString(" GROUP BY ")
		b.WriteString(strings.Join(items, ", "))
	}
	if h := s.GetHavingClause(); h != nil {
		e, err := t.boolExpr(h, sc, "HAVING")
		if err != nil {
			return nil, err
		}
		b.WriteString(" HAVING ")
		b.WriteString(e.sql)
	}
	if distinctOn {
		return t.distinctOn(s, sc, cols, prefix, b.String())
	}
	tail, err := t.orderLimit(s, sc, cols, false)
	if err != nil {
		return nil, err
	}
	b.WriteString(tail)
	return &selectOut{sql: b.String(), cols: cols}, nil
}

// distinctOn keeps the first row of each DISTINCT ON group in ORDER BY
// order: the select (sql, without ORDER BY) numbers its rows per group
// with row_number() in a subquery, and the outer select keeps row 1,
// then sorts and limits. Sort keys outside the select list ride along as
// hidden columns.
func (t *translator) distinctOn(s *pg_query.SelectStmt, sc *scope, cols []outCol, prefix, sql string) (*selectOut, error) {
	exprSQL := func(key string) string {
		if i, err := strconv.Atoi(key); err == nil {
			return cols[i-1].e.sql
		}
		return key
	}
	var keys []string
	for _, n := range s.GetDistinctClause() {
		k, err := t.sortKey(n, sc, cols, false)
		if err != nil {
			return nil, err
		}
		keys = append(keys, exprSQL(k))
	}
	items, err := t.sortItems(s, sc, cols, false)
	if err != nil {
		return nil, err
	}
	// As PostgreSQL: the DISTINCT ON keys must lead the ORDER BY.
	if len(items) > 0 {
		lead := map[string]bool{}
		for i := 0; i < len(items) && i < len(keys); i++ {
			lead[exprSQL(items[i].key)] = true
		}
		for _, k := range keys {
			if len(items) < len(keys) || !lead[k] {
				return nil, t.errAt("42P10", -1, "SELECT DISTINCT ON expressions must match initial ORDER BY expressions")
			}
		}
	}
	var window, outerOrder, hidden []string
	for _, it := range items {
		window = append(window, exprSQL(it.key)+it.dir)
		if i, ok := it.ordinal(); ok {
			outerOrder = append(outerOrder, quoteIdent(cols[i-1].sqlName)+it.dir)
			continue
		}
		name := fmt.Sprintf("fg_o%d", len(hidden)+1)
		hidden = append(hidden, it.key+" AS "+name)
		outerOrder = append(outerOrder, name+it.dir)
	}
	over := "PARTITION BY " + strings.Join(keys, ", ")
	if len(window) > 0 {
		over += " ORDER BY " + strings.Join(window, ", ")
	}
	// sql is "<prefix>SELECT <cols> FROM ..."; the columns gain the row
	// number and the hidden keys.
	body := strings.TrimPrefix(sql, prefix+"SELECT ")
	extra := append(hidden, "row_number() OVER ("+over+") AS fg_rn")
	inner := "SELECT " + strings.Join(extra, ", ") + ", " + body
	outCols := make([]string, len(cols))
	for i, c := range cols {
		outCols[i] = "fg_d." + quoteIdent(c.sqlName) + " AS " + quoteIdent(c.sqlName)
	}
	var b strings.Builder
	b.WriteString(prefix + "SELECT " + strings.Join(outCols, ", ") + " FROM (" + inner + ") AS fg_d WHERE fg_d.fg_rn = 1")
	if len(outerOrder) > 0 {
		b.WriteString(" ORDER BY " + strings.Join(outerOrder, ", "))
	}
	tail, err := t.limitOffset(s, sc)
	if err != nil {
		return nil, err
	}
	b.WriteString(tail)
	return &selectOut{sql: b.String(), cols: cols}, nil
}

func (sc *scope) addRel(t *translator, r *rel) error {
	for _, o := range sc.rels {
		if o.name == r.name && o.schema == r.schema {
			return t.errAt("42712", -1, "table name %q specified more than once", r.name)
		}
	}
	sc.rels = append(sc.rels, r)
	return nil
}

func isStar(cr *pg_query.ColumnRef) bool {
	f := cr.GetFields()
	return len(f) > 0 && f[len(f)-1].GetAStar() != nil
}

// expandStar expands * or t.* in relation column order.
func (t *translator) expandStar(cr *pg_query.ColumnRef, sc *scope) ([]outCol, error) {
	f := cr.GetFields()
	var src []column
	if len(f) == 1 {
		if len(sc.cols) == 0 {
			return nil, t.errAt("42601", cr.GetLocation(), "SELECT * with no tables specified is not valid")
		}
		src = sc.cols
	} else {
		r, err := t.findRel(f[:len(f)-1], sc, cr.GetLocation())
		if err != nil {
			return nil, err
		}
		src = r.cols
	}
	var out []outCol
	for _, c := range src {
		if c.hidden {
			continue
		}
		e := expr{sql: c.sql, typ: c.typ, typmod: c.typmod, tableOID: c.tableOID, attnum: c.attnum, name: c.name, strength: 2}
		out = append(out, outCol{name: c.name, typ: c.typ, typmod: c.typmod, tableOID: c.tableOID, attnum: c.attnum, e: e})
	}
	return out, nil
}

// groupItem resolves a GROUP BY entry: ordinal, input column, output
// alias, or expression.
func (t *translator) groupItem(n *pg_query.Node, sc *scope, cols []outCol) (string, error) {
	if c := n.GetAConst(); c != nil && c.GetIval() != nil {
		i := int(c.GetIval().GetIval())
		if i < 1 || i > len(cols) {
			return "", t.errAt("42P10", c.GetLocation(), "GROUP BY position %d is not in select list", i)
		}
		return cols[i-1].e.sql, nil
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 && cr.GetFields()[0].GetString_() != nil {
		name := cr.GetFields()[0].GetString_().GetSval()
		if !sc.hasColumn(name) {
			for _, c := range cols {
				if c.name == name {
					return c.e.sql, nil
				}
			}
		}
	}
	sc.aggOK = false
	e, err := t.expr(n, sc)
	sc.aggOK = true
	if err != nil {
		return "", err
	}
	if e, err = t.resolveUnknown(e); err != nil {
		return "", err
	}
	return e.sql, nil
}

func (sc *scope) hasColumn(name string) bool {
	for _, c := range sc.cols {
		if c.name == name {
			return true
		}
	}
	return false
}

// orderLimit renders ORDER BY, LIMIT and OFFSET. ORDER BY names and
// ordinals refer to output columns (rendered as ordinals); in a set
// operation (sc == nil) nothing else is allowed.
func (t *translator) orderLimit(s *pg_query.SelectStmt, sc *scope, cols []outCol, compound bool) (string, error) {
	items, err := t.sortItems(s, sc, cols, compound)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if len(items) > 0 {
		keys := make([]string, len(items))
		for i, it := range items {
			keys[i] = it.key + it.dir
		}
		b.WriteString(" ORDER BY ")
		b.WriteString(strings.Join(keys, ", "))
	}
	tail, err := t.limitOffset(s, sc)
	if err != nil {
		return "", err
	}
	return b.String() + tail, nil
}

// sortItem is one ORDER BY key: an output ordinal ("2") or an expression,
// and its direction with PostgreSQL's NULL placement.
type sortItem struct{ key, dir string }

func (it sortItem) ordinal() (int, bool) {
	i, err := strconv.Atoi(it.key)
	return i, err == nil
}

func (t *translator) sortItems(s *pg_query.SelectStmt, sc *scope, cols []outCol, compound bool) ([]sortItem, error) {
	var items []sortItem
	for _, n := range s.GetSortClause() {
		sb := n.GetSortBy()
		if sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_USING {
			return nil, t.errAt("0A000", sb.GetLocation(), "ORDER BY USING is not supported by flowgate")
		}
		key, err := t.sortKey(sb.GetNode(), sc, cols, compound)
		if err != nil {
			return nil, err
		}
		dir := ""
		desc := sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_DESC
		if desc {
			dir = " DESC"
		}
		// PostgreSQL sorts NULLs as larger than any value.
		switch sb.GetSortbyNulls() {
		case pg_query.SortByNulls_SORTBY_NULLS_FIRST:
			dir += " NULLS FIRST"
		case pg_query.SortByNulls_SORTBY_NULLS_LAST:
			dir += " NULLS LAST"
		default:
			if desc {
				dir += " NULLS FIRST"
			} else {
				dir += " NULLS LAST"
			}
		}
		items = append(items, sortItem{key: key, dir: dir})
	}
	return items, nil
}

// limitOffset renders LIMIT and OFFSET.
func (t *translator) limitOffset(s *pg_query.SelectStmt, sc *scope) (string, error) {
	var b strings.Builder
	lim, off := s.GetLimitCount(), s.GetLimitOffset()
	if lim != nil || off != nil {
		ls := "-1"
		if lim != nil {
			e, err := t.limitExpr(lim, sc, "LIMIT")
			if err != nil {
				return "", err
			}
			if !e.null {
				ls = "coalesce(" + e.sql + ", -1)"
			}
		}
		b.WriteString(" LIMIT " + ls)
		if off != nil {
			e, err := t.limitExpr(off, sc, "OFFSET")
			if err != nil {
				return "", err
			}
			b.WriteString(" OFFSET " + e.sql)
		}
	}
	return b.String(), nil
}

func (t *translator) limitExpr(n *pg_query.Node, sc *scope, what string) (expr, error) {
	if sc == nil {
		sc = &scope{}
	}
	e, err := t.expr(n, sc)
	if err != nil {
		return e, err
	}
	if e.null {
		return e, nil
	}
	if e, err = t.coerce(e, oidInt8); err != nil {
		return e, err
	}
	if !isInteger(e.typ) {
		return e, t.errAt("42804", exprLoc(n), "argument of %s must be type bigint, not type %s", what, typeName(e.typ))
	}
	return e, nil
}

func (t *translator) sortKey(n *pg_query.Node, sc *scope, cols []outCol, compound bool) (string, error) {
	if c := n.GetAConst(); c != nil && c.GetIval() != nil {
		i := int(c.GetIval().GetIval())
		if i < 1 || i > len(cols) {
			return "", t.errAt("42P10", c.GetLocation(), "ORDER BY position %d is not in select list", i)
		}
		return strconv.Itoa(i), nil
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 && cr.GetFields()[0].GetString_() != nil {
		name := cr.GetFields()[0].GetString_().GetSval()
		match := -1
		for i, c := range cols {
			if c.name == name {
				if match >= 0 && compound {
					return "", t.errAt("42702", cr.GetLocation(), "ORDER BY %q is ambiguous", name)
				}
				if match < 0 {
					match = i
				}
			}
		}
		if match >= 0 {
			return strconv.Itoa(match + 1), nil
		}
	}
	if compound || sc == nil {
		return "", t.errAt("0A000", exprLoc(n), "ORDER BY on a UNION/INTERSECT/EXCEPT result must name a result column")
	}
	e, err := t.expr(n, sc)
	if err != nil {
		return "", err
	}
	if e, err = t.resolveUnknown(e); err != nil {
		return "", err
	}
	// An expression equal to an output expression sorts by that column.
	for i, c := range cols {
		if c.e.sql == e.sql {
			return strconv.Itoa(i + 1), nil
		}
	}
	return e.sql, nil
}

// --- FROM ---

type fromResult struct {
	cols []column
	rels []*rel
}

func (t *translator) newAlias(base string) string {
	t.aliasN++
	return fmt.Sprintf("%s_%d", base, t.aliasN)
}

func (t *translator) fromItem(n *pg_query.Node, sc *scope) (string, *fromResult, error) {
	switch v := n.GetNode().(type) {
	case *pg_query.Node_RangeVar:
		return t.rangeVar(v.RangeVar)
	case *pg_query.Node_RangeSubselect:
		rs := v.RangeSubselect
		parent := sc.parent
		if rs.GetLateral() {
			parent = sc
		}
		out, err := t.selectStmt(rs.GetSubquery().GetSelectStmt(), parent)
		if err != nil {
			return "", nil, err
		}
		name := rs.GetAlias().GetAliasname()
		sqlAlias := name
		if name == "" {
			sqlAlias = t.newAlias("subquery")
		}
		cols, err := t.renameCols(out.cols, rs.GetAlias().GetColnames(), "subquery "+name, -1)
		if err != nil {
			return "", nil, err
		}
		r := &rel{name: name}
		for _, c := range cols {
			r.cols = append(r.cols, column{name: c.name, sql: quoteIdent(sqlAlias) + "." + quoteIdent(c.sqlName), typ: c.typ, typmod: c.typmod, tableOID: c.tableOID, attnum: c.attnum, fields: jsonFields(c.e.fields), dscale: c.e.dscale})
		}
		res := &fromResult{cols: r.cols}
		if name != "" {
			res.rels = []*rel{r}
		}
		return "(" + out.sql + ") AS " + quoteIdent(sqlAlias), res, nil
	case *pg_query.Node_JoinExpr:
		return t.join(v.JoinExpr, sc)
	case *pg_query.Node_RangeFunction:
		return t.rangeFunction(v.RangeFunction, sc)
	}
	return "", nil, t.errAt("0A000", -1, "unsupported FROM item; %s", supportedMsg)
}

func (t *translator) lookupCTE(name string) *cteDef {
	for i := len(t.ctes) - 1; i >= 0; i-- {
		if d, ok := t.ctes[i][name]; ok {
			return d
		}
	}
	return nil
}

func (t *translator) rangeVar(rv *pg_query.RangeVar) (string, *fromResult, error) {
	alias := rv.GetAlias().GetAliasname()
	ref := rv.GetRelname()
	if alias != "" {
		ref = alias
	}
	if rv.GetCatalogname() != "" && rv.GetCatalogname() != t.env.Database {
		return "", nil, t.errAt("0A000", rv.GetLocation(), "cross-database references are not implemented: %s.%s.%s", rv.GetCatalogname(), rv.GetSchemaname(), rv.GetRelname())
	}
	r := &rel{name: ref}
	var sqlName, src string
	if d := t.lookupCTE(rv.GetRelname()); d != nil && rv.GetSchemaname() == "" {
		sqlName = d.name
		for _, c := range d.cols {
			r.cols = append(r.cols, column{name: c.name, sql: quoteIdent(ref) + "." + quoteIdent(c.sqlName), typ: c.typ, typmod: c.typmod, dscale: c.e.dscale})
		}
	} else {
		var rel *Relation
		var ok bool
		if t.res != nil {
			rel, ok = t.res.Relation(rv.GetSchemaname(), rv.GetRelname())
		}
		if !ok {
			name := rv.GetRelname()
			if rv.GetSchemaname() != "" {
				name = rv.GetSchemaname() + "." + name
			}
			return "", nil, t.missingRelation(rv.GetSchemaname(), rv.GetRelname(), name, rv.GetLocation())
		}
		sqlName = ""
		src = t.relSource(rel)
		if alias == "" {
			r.schema = rel.Schema
		}
		for i, c := range rel.Columns {
			r.cols = append(r.cols, column{name: c.Name, sql: quoteIdent(ref) + "." + quoteIdent(c.Name), typ: c.TypeOID, typmod: c.TypeMod, tableOID: rel.OID, attnum: int16(i + 1)})
		}
		if rel.Schema == "pg_catalog" {
			// System catalogs carry tableoid; psql joins pg_description on it.
			r.cols = append(r.cols, column{name: "tableoid", sql: strconv.FormatUint(uint64(rel.OID), 10), typ: oidOID, typmod: -1, hidden: true})
		}
	}
	if cn := rv.GetAlias().GetColnames(); len(cn) > 0 {
		if len(cn) > len(r.cols) {
			return "", nil, t.errAt("42P10", rv.GetLocation(), "table %q has %d columns available but %d columns specified", ref, len(r.cols), len(cn))
		}
		for i, a := range cn {
			r.cols[i].name = a.GetString_().GetSval()
		}
	}
	if sqlName != "" {
		src = quoteIdent(sqlName)
	}
	return src + " AS " + quoteIdent(ref), &fromResult{cols: r.cols, rels: []*rel{r}}, nil
}

func (t *translator) join(j *pg_query.JoinExpr, sc *scope) (string, *fromResult, error) {
	lsql, l, err := t.fromItem(j.GetLarg(), sc)
	if err != nil {
		return "", nil, err
	}
	rsql, r, err := t.fromItem(j.GetRarg(), sc)
	if err != nil {
		return "", nil, err
	}
	if j.GetRarg().GetJoinExpr() != nil {
		rsql = "(" + rsql + ")"
	}
	kw := map[pg_query.JoinType]string{
		pg_query.JoinType_JOIN_INNER: "JOIN",
		pg_query.JoinType_JOIN_LEFT:  "LEFT JOIN",
		pg_query.JoinType_JOIN_RIGHT: "RIGHT JOIN",
		pg_query.JoinType_JOIN_FULL:  "FULL JOIN",
	}[j.GetJointype()]
	if kw == "" {
		return "", nil, t.errAt("0A000", -1, "unsupported join type")
	}
	res := &fromResult{rels: append(append([]*rel{}, l.rels...), r.rels...)}
	// duplicate table names across the two sides
	tmp := &scope{}
	for _, x := range res.rels {
		if err := tmp.addRel(t, x); err != nil {
			return "", nil, err
		}
	}

	var using []string
	for _, u := range j.GetUsingClause() {
		using = append(using, u.GetString_().GetSval())
	}
	if j.GetIsNatural() {
		for _, lc := range l.cols {
			for _, rc := range r.cols {
				if lc.name == rc.name && !lc.hidden && !rc.hidden {
					using = append(using, lc.name)
				}
			}
		}
	}
	var cond string
	if len(using) > 0 || j.GetIsNatural() {
		merged := map[string]bool{}
		var conds []string
		for _, name := range using {
			lc, lok := findCol(l.cols, name)
			rc, rok := findCol(r.cols, name)
			if !lok || !rok {
				side := "left"
				if lok {
					side = "right"
				}
				return "", nil, t.errAt("42703", -1, "column %q specified in USING clause does not exist in %s table", name, side)
			}
			merged[name] = true
			c := lc
			switch j.GetJointype() {
			case pg_query.JoinType_JOIN_RIGHT:
				c = rc
			case pg_query.JoinType_JOIN_FULL:
				c.sql = "coalesce(" + lc.sql + ", " + rc.sql + ")"
				c.tableOID, c.attnum = 0, 0
			}
			res.cols = append(res.cols, c)
			conds = append(conds, lc.sql+" = "+rc.sql)
		}
		for _, c := range l.cols {
			if !merged[c.name] {
				res.cols = append(res.cols, c)
			}
		}
		for _, c := range r.cols {
			if !merged[c.name] {
				res.cols = append(res.cols, c)
			}
		}
		if len(conds) > 0 {
			cond = " ON " + strings.Join(conds, " AND ")
		} else if kw == "JOIN" {
			cond = ""
		} else {
			cond = " ON 1"
		}
	} else {
		res.cols = append(append([]column{}, l.cols...), r.cols...)
		if q := j.GetQuals(); q != nil {
			js := &scope{parent: sc.parent, cols: res.cols, rels: res.rels}
			e, err := t.boolExpr(q, js, "JOIN/ON")
			if err != nil {
				return "", nil, err
			}
			cond = " ON " + e.sql
		} else if kw != "JOIN" {
			cond = " ON 1"
		}
	}
	if a := j.GetAlias(); a != nil {
		// An aliased join hides the tables inside it.
		r := &rel{name: a.GetAliasname(), cols: res.cols}
		if cn := a.GetColnames(); len(cn) > 0 {
			r.cols = append([]column{}, res.cols...)
			for i, n := range cn {
				if i < len(r.cols) {
					r.cols[i].name = n.GetString_().GetSval()
				}
			}
			res.cols = r.cols
		}
		res.rels = []*rel{r}
	}
	return lsql + " " + kw + " " + rsql + cond, res, nil
}

func findCol(cols []column, name string) (column, bool) {
	for _, c := range cols {
		if c.name == name && !c.hidden {
			return c, true
		}
	}
	return column{}, false
}

// findRel resolves a qualifier (rel or schema.rel) through the scopes.
func (t *translator) findRel(q []*pg_query.Node, sc *scope, loc int32) (*rel, error) {
	var schema, name string
	switch len(q) {
	case 1:
		name = q[0].GetString_().GetSval()
	case 2:
		schema, name = q[0].GetString_().GetSval(), q[1].GetString_().GetSval()
	default:
		return nil, t.errAt("0A000", loc, "cross-database references are not implemented")
	}
	for s := sc; s != nil; s = s.parent {
		for _, r := range s.rels {
			if r.name == name && (schema == "" || r.schema == schema) {
				return r, nil
			}
		}
	}
	return nil, t.errAt("42P01", loc, "missing FROM-clause entry for table %q", name)
}
