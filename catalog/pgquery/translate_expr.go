package pgquery

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// expr is a translated expression. typ 0 means "not yet resolved": an
// untyped string literal (lit), NULL (null) or a parameter (param); the
// context coerces it, as PostgreSQL resolves unknown-typed values.
type expr struct {
	sql    string
	typ    uint32
	typmod int32
	lit    *string
	null   bool
	param  int
	ival   *interval // constant interval; sql holds its seconds
	loc    int32
	// output column naming (PostgreSQL's FigureColname): strength 2 is a
	// real name, 1 a guess (cast type, CASE), 0 none ("?column?").
	name     string
	strength int
	tableOID uint32
	attnum   int16
	isAgg    bool
	fields   []recField // composite values only
	// dscale is a numeric value's display scale plus one (0: none, the
	// value prints in shortest form): PostgreSQL prints extract(epoch ...)
	// with six fraction digits whatever the value.
	dscale int16
}

func exprLoc(n *pg_query.Node) int32 {
	switch v := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		return v.ColumnRef.GetLocation()
	case *pg_query.Node_AConst:
		return v.AConst.GetLocation()
	case *pg_query.Node_AExpr:
		if v.AExpr.GetLexpr() != nil {
			return exprLoc(v.AExpr.GetLexpr())
		}
		return v.AExpr.GetLocation()
	case *pg_query.Node_FuncCall:
		return v.FuncCall.GetLocation()
	case *pg_query.Node_TypeCast:
		if l := exprLoc(v.TypeCast.GetArg()); l >= 0 {
			return l
		}
		return v.TypeCast.GetLocation()
	case *pg_query.Node_ParamRef:
		return v.ParamRef.GetLocation()
	case *pg_query.Node_BoolExpr:
		return v.BoolExpr.GetLocation()
	case *pg_query.Node_SubLink:
		return v.SubLink.GetLocation()
	case *pg_query.Node_CaseExpr:
		return v.CaseExpr.GetLocation()
	case *pg_query.Node_NullTest:
		return v.NullTest.GetLocation()
	case *pg_query.Node_SqlvalueFunction:
		return v.SqlvalueFunction.GetLocation()
	}
	return -1
}

// expr translates one expression node in a scope.
func (t *translator) expr(n *pg_query.Node, sc *scope) (expr, error) {
	e, err := t.expr0(n, sc)
	if err == nil && e.loc == 0 {
		e.loc = exprLoc(n)
	}
	return e, err
}

func (t *translator) expr0(n *pg_query.Node, sc *scope) (expr, error) {
	switch v := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		return t.columnRef(v.ColumnRef, sc)
	case *pg_query.Node_AConst:
		return t.constant(v.AConst)
	case *pg_query.Node_ParamRef:
		return t.paramRef(v.ParamRef)
	case *pg_query.Node_TypeCast:
		return t.typeCast(v.TypeCast, sc)
	case *pg_query.Node_AExpr:
		return t.aExpr(v.AExpr, sc)
	case *pg_query.Node_BoolExpr:
		return t.boolOp(v.BoolExpr, sc)
	case *pg_query.Node_NullTest:
		e, err := t.expr(v.NullTest.GetArg(), sc)
		if err != nil {
			return e, err
		}
		if e, err = t.resolveUnknown(e); err != nil {
			return e, err
		}
		op := " IS NULL)"
		if v.NullTest.GetNulltesttype() == pg_query.NullTestType_IS_NOT_NULL {
			op = " IS NOT NULL)"
		}
		return expr{sql: "(" + e.sql + op, typ: oidBool, isAgg: e.isAgg}, nil
	case *pg_query.Node_BooleanTest:
		bt := v.BooleanTest
		e, err := t.expr(bt.GetArg(), sc)
		if err != nil {
			return e, err
		}
		if e, err = t.coerce(e, oidBool); err != nil {
			return e, err
		}
		if e.typ != oidBool {
			return e, t.errAt("42804", bt.GetLocation(), "argument of IS TRUE must be type boolean, not type %s", typeName(e.typ))
		}
		op := map[pg_query.BoolTestType]string{
			pg_query.BoolTestType_IS_TRUE:        " IS TRUE",
			pg_query.BoolTestType_IS_NOT_TRUE:    " IS NOT TRUE",
			pg_query.BoolTestType_IS_FALSE:       " IS FALSE",
			pg_query.BoolTestType_IS_NOT_FALSE:   " IS NOT FALSE",
			pg_query.BoolTestType_IS_UNKNOWN:     " IS NULL",
			pg_query.BoolTestType_IS_NOT_UNKNOWN: " IS NOT NULL",
		}[bt.GetBooltesttype()]
		return expr{sql: "(" + e.sql + op + ")", typ: oidBool, isAgg: e.isAgg}, nil
	case *pg_query.Node_FuncCall:
		return t.funcCall(v.FuncCall, sc)
	case *pg_query.Node_SqlvalueFunction:
		return t.sqlValueFunction(v.SqlvalueFunction)
	case *pg_query.Node_CaseExpr:
		return t.caseExpr(v.CaseExpr, sc)
	case *pg_query.Node_CoalesceExpr:
		args, ty, err := t.commonArgs(v.CoalesceExpr.GetArgs(), sc, "COALESCE")
		if err != nil {
			return expr{}, err
		}
		e := expr{typ: ty, typmod: -1, name: "coalesce", strength: 2}
		if len(args) == 1 {
			e.sql = args[0].sql
		} else {
			e.sql = "coalesce(" + joinSQL(args) + ")"
		}
		e.isAgg = anyAgg(args)
		return e, nil
	case *pg_query.Node_MinMaxExpr:
		mm := v.MinMaxExpr
		name, fn := "greatest", "max"
		if mm.GetOp() == pg_query.MinMaxOp_IS_LEAST {
			name, fn = "least", "min"
		}
		args, ty, err := t.commonArgs(mm.GetArgs(), sc, strings.ToUpper(name))
		if err != nil {
			return expr{}, err
		}
		e := expr{typ: ty, typmod: -1, name: name, strength: 2, isAgg: anyAgg(args)}
		if len(args) == 1 {
			e.sql = args[0].sql
			return e, nil
		}
		// SQLite's scalar max/min return NULL if any argument is NULL;
		// PostgreSQL ignores NULLs. Rotating coalesce lists fixes that.
		var parts []string
		for i := range args {
			rot := append(append([]expr{}, args[i:]...), args[:i]...)
			parts = append(parts, "coalesce("+joinSQL(rot)+")")
		}
		e.sql = fn + "(" + strings.Join(parts, ", ") + ")"
		return e, nil
	case *pg_query.Node_SubLink:
		return t.subLink(v.SubLink, sc)
	case *pg_query.Node_CollateClause:
		return t.expr(v.CollateClause.GetArg(), sc)
	case *pg_query.Node_AIndirection:
		return t.indirection(v.AIndirection, sc)
	case *pg_query.Node_AArrayExpr:
		return t.arrayExpr(v.AArrayExpr, sc)
	case *pg_query.Node_RowExpr:
		return expr{}, t.errAt("0A000", v.RowExpr.GetLocation(), "row constructors are not supported by flowgate")
	case *pg_query.Node_GroupingFunc:
		return expr{}, t.errAt("0A000", v.GroupingFunc.GetLocation(), "GROUPING is not supported by flowgate")
	}
	return expr{}, t.errAt("0A000", exprLoc(n), "this kind of expression is not supported by flowgate")
}

func joinSQL(args []expr) string {
	var s []string
	for _, a := range args {
		s = append(s, a.sql)
	}
	return strings.Join(s, ", ")
}

func anyAgg(args []expr) bool {
	for _, a := range args {
		if a.isAgg {
			return true
		}
	}
	return false
}

// commonArgs translates arguments and coerces them to their common type.
func (t *translator) commonArgs(nodes []*pg_query.Node, sc *scope, what string) ([]expr, uint32, error) {
	var args []expr
	var types []uint32
	for _, n := range nodes {
		e, err := t.expr(n, sc)
		if err != nil {
			return nil, 0, err
		}
		args = append(args, e)
		types = append(types, e.typ)
	}
	ty, err := commonType(types)
	if err != nil {
		loc := int32(-1)
		if len(nodes) > 0 {
			loc = exprLoc(nodes[0])
		}
		return nil, 0, t.errAt("42804", loc, "%s %s", what, err.Error())
	}
	for i := range args {
		if args[i], err = t.coerce(args[i], ty); err != nil {
			return nil, 0, err
		}
	}
	return args, ty, nil
}

// columnRef resolves a column name through the scopes.
func (t *translator) columnRef(cr *pg_query.ColumnRef, sc *scope) (expr, error) {
	f := cr.GetFields()
	if isStar(cr) {
		return expr{}, t.errAt("42601", cr.GetLocation(), "* is only allowed in the select list and count(*)")
	}
	name := f[len(f)-1].GetString_().GetSval()
	mk := func(c column) expr {
		return expr{sql: c.sql, typ: c.typ, typmod: c.typmod, tableOID: c.tableOID, attnum: c.attnum, name: c.name, strength: 2, fields: c.fields, dscale: c.dscale}
	}
	if len(f) == 1 {
		for s := sc; s != nil; s = s.parent {
			var found *column
			for i := range s.cols {
				if s.cols[i].name == name {
					if found != nil {
						return expr{}, t.errAt("42702", cr.GetLocation(), "column reference %q is ambiguous", name)
					}
					found = &s.cols[i]
				}
			}
			if found != nil {
				return mk(*found), nil
			}
		}
		return expr{}, t.errAt("42703", cr.GetLocation(), "column %q does not exist", name)
	}
	r, err := t.findRel(f[:len(f)-1], sc, cr.GetLocation())
	if err != nil {
		return expr{}, err
	}
	for _, c := range r.cols {
		if c.name == name {
			return mk(c), nil
		}
	}
	return expr{}, t.errAt("42703", cr.GetLocation(), "column %s.%s does not exist", r.name, name)
}

func (t *translator) constant(c *pg_query.A_Const) (expr, error) {
	if c.GetIsnull() {
		return expr{sql: "NULL", null: true, typmod: -1}, nil
	}
	switch v := c.GetVal().(type) {
	case *pg_query.A_Const_Ival:
		return expr{sql: strconv.FormatInt(int64(v.Ival.GetIval()), 10), typ: oidInt4, typmod: -1}, nil
	case *pg_query.A_Const_Fval:
		// Re-render rather than copy: PostgreSQL allows 1_000 and hex
		// forms SQLite does not read.
		s := strings.ReplaceAll(v.Fval.GetFval(), "_", "")
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 0, 64); err == nil {
				return expr{sql: strconv.FormatInt(n, 10), typ: oidInt8, typmod: -1}, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return expr{}, t.errAt("22003", c.GetLocation(), "value out of range: %s", s)
		}
		if strings.Trim(s, "0123456789.") == "" {
			// keep the literal's digits (1.10 stays 1.10 for SQLite), and
			// print them as written, as PostgreSQL's numeric does
			e := expr{sql: s, typ: oidNumeric, typmod: -1}
			if _, frac, ok := strings.Cut(s, "."); ok && len(frac) < 1000 {
				e.dscale = int16(len(frac)) + 1
			}
			return e, nil
		}
		return expr{sql: sqlFloat(f), typ: oidNumeric, typmod: -1}, nil
	case *pg_query.A_Const_Boolval:
		sql := "0"
		if v.Boolval.GetBoolval() {
			sql = "1"
		}
		// PostgreSQL 15+ parses true/false as constants: no column name
		// (before, they were casts named "bool").
		return expr{sql: sql, typ: oidBool, typmod: -1}, nil
	case *pg_query.A_Const_Sval:
		s := v.Sval.GetSval()
		return expr{sql: quoteString(s), lit: &s, typmod: -1}, nil
	}
	return expr{}, t.errAt("0A000", c.GetLocation(), "bit string literals are not supported by flowgate")
}

func (t *translator) paramRef(p *pg_query.ParamRef) (expr, error) {
	n := int(p.GetNumber())
	if n < 1 || n > 65535 {
		return expr{}, t.errAt("42P02", p.GetLocation(), "there is no parameter $%d", n)
	}
	if n > t.maxParam {
		t.maxParam = n
	}
	e := expr{sql: "?" + strconv.Itoa(n), param: n, typmod: -1}
	if n <= len(t.declared) && t.declared[n-1] != 0 && t.declared[n-1] != oidPGUnknown {
		e.typ = t.declared[n-1]
	} else if ty, ok := t.params[n]; ok {
		e.typ = ty
	}
	return e, nil
}

// resolveUnknown gives a still-unknown value its default type, text.
func (t *translator) resolveUnknown(e expr) (expr, error) {
	if e.typ != oidUnknown {
		return e, nil
	}
	return t.coerce(e, oidText)
}

// coerce applies an implicit conversion to type to. Values of a category
// that cannot convert are returned unchanged; callers check types.
func (t *translator) coerce(e expr, to uint32) (expr, error) {
	if e.typ == to && e.typ != oidUnknown {
		return e, nil
	}
	switch {
	case e.lit != nil && e.typ == oidUnknown:
		return t.literalAs(e, to, -1)
	case e.null && e.typ == oidUnknown:
		e.typ = to
		return e, nil
	case e.param > 0 && e.typ == oidUnknown:
		t.params[e.param] = to
		e.typ = to
		return e, nil
	case e.typ == oidUnknown:
		e.typ = to
		return e, nil
	}
	from := e.typ
	switch {
	case categoryOf(from) == catNumeric && categoryOf(to) == catNumeric:
		if numericRank(to) >= numericRank(from) {
			e.typ = to
		}
	case from == oidDate && isTimestamp(to):
		e.sql = "(" + e.sql + " || ' 00:00:00.000000')"
		e.typ = to
	case isTimestamp(from) && isTimestamp(to):
		e.typ = to
	case isString(from) && isString(to):
		if to == oidText {
			e.typ = to
		}
	case categoryOf(from) == catJSON && categoryOf(to) == catJSON:
		e.typ = to
	}
	return e, nil
}

// literalAs converts an untyped string literal to a typed SQLite constant.
func (t *translator) literalAs(e expr, to uint32, typmod int32) (expr, error) {
	s := *e.lit
	out := expr{typ: to, typmod: -1, loc: e.loc, name: e.name, strength: e.strength}
	bad := func(code, tn string) error {
		return t.errAt(code, e.loc, "invalid input syntax for type %s: %q", tn, s)
	}
	switch {
	case isRegType(to):
		r, err := t.regFromLiteral(s, to, e.loc)
		r.name, r.strength = e.name, e.strength
		return r, err
	case isArrayType(to):
		js, err := arrayLiteralJSON(s, elemType(to))
		if err != nil {
			return out, t.errAt("22P02", e.loc, "%s", err.Error())
		}
		out.sql = quoteString(js)
		return out, nil
	}
	switch to {
	case oidText, oidName, oidJSON, oidJSONB, oidBPChar, oidVarchar, oidUnknown, oidChar, oidPGNodeTree:
		if to == oidUnknown {
			out.typ = oidText
		}
		out.sql = quoteString(s)
		out.lit = nil
		if to == oidJSON || to == oidJSONB {
			if !jsonValid(s) {
				return out, t.errAt("22P02", e.loc, "invalid input syntax for type json")
			}
		}
	case oidInt2, oidInt4, oidInt8, oidOID:
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return out, bad("22P02", typeName(to))
		}
		if (to == oidInt4 && (v < math.MinInt32 || v > math.MaxInt32)) || (to == oidInt2 && (v < math.MinInt16 || v > math.MaxInt16)) {
			return out, t.errAt("22003", e.loc, "value %q is out of range for type %s", s, typeName(to))
		}
		out.sql = strconv.FormatInt(v, 10)
	case oidFloat4, oidFloat8, oidNumeric:
		v, err := parseFloatPG(s)
		if err != nil {
			return out, bad("22P02", typeName(to))
		}
		out.sql = sqlFloat(v)
	case oidBool:
		v, ok := parseBoolPG(s)
		if !ok {
			return out, bad("22P02", "boolean")
		}
		out.sql = "0"
		if v {
			out.sql = "1"
		}
	case oidTimestamptz, oidTimestamp:
		if strings.EqualFold(strings.TrimSpace(s), "now") {
			out.sql = t.nowSQL()
			break
		}
		ts, err := parseTimestamp(s)
		if err != nil {
			return out, bad("22007", typeName(to))
		}
		out.sql = quoteString(storageTime(ts))
	case oidDate:
		ts, err := parseTimestamp(s)
		if err != nil {
			return out, bad("22007", "date")
		}
		out.sql = quoteString(ts.Format("2006-01-02"))
	case oidInterval:
		iv, err := parseInterval(s)
		if err != nil {
			return out, bad("22007", "interval")
		}
		out.ival = &iv
		out.sql = sqlFloat(iv.seconds())
	default:
		return out, t.errAt("0A000", e.loc, "flowgate cannot convert a literal to type %s", typeName(to))
	}
	return t.applyTypmod(out, typmod), nil
}

// sqlFloat renders a float constant SQLite reads back exactly.
func sqlFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "9e999"
	case math.IsInf(v, -1):
		return "-9e999"
	case math.IsNaN(v):
		return "NULL"
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		// keep it an integer when it is one; SQLite then does exact math
		return s
	}
	return s
}

func parseFloatPG(s string) (float64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "infinity", "+infinity", "inf", "+inf":
		return math.Inf(1), nil
	case "-infinity", "-inf":
		return math.Inf(-1), nil
	case "nan":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}

func parseBoolPG(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "t", "tr", "tru", "true", "y", "ye", "yes", "on", "1":
		return true, true
	case "f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0":
		return false, true
	}
	return false, false
}

// nowSQL is the statement timestamp, bound at execution as a hidden
// parameter so every use in one statement agrees and has microseconds.
func (t *translator) nowSQL() string {
	for i, h := range t.hidden {
		if h.kind == hiddenNow {
			return hiddenMarker(i)
		}
	}
	t.hidden = append(t.hidden, hiddenParam{kind: hiddenNow})
	return hiddenMarker(len(t.hidden) - 1)
}

// applyTypmod enforces varchar(n) and numeric(p,s).
func (t *translator) applyTypmod(e expr, typmod int32) expr {
	if typmod < 0 {
		return e
	}
	switch e.typ {
	case oidVarchar, oidBPChar:
		e.sql = fmt.Sprintf("substr(%s, 1, %d)", e.sql, typmod-4)
	case oidNumeric:
		if sc := numericScale(typmod); sc >= 0 {
			e.sql = fmt.Sprintf("round(%s, %d)", e.sql, sc)
		}
	}
	e.typmod = typmod
	return e
}

func (t *translator) typeCast(tc *pg_query.TypeCast, sc *scope) (expr, error) {
	to, typmod, err := t.resolveTypeName(tc.GetTypeName())
	if err != nil {
		return expr{}, err
	}
	e, err := t.expr(tc.GetArg(), sc)
	if err != nil {
		return e, err
	}
	out, err := t.cast(e, to, typmod, tc.GetLocation())
	if err != nil {
		return out, err
	}
	out.name, out.strength = e.name, e.strength
	out.tableOID, out.attnum = 0, 0
	out.isAgg = e.isAgg
	if e.strength <= 1 {
		tn := tc.GetTypeName().GetNames()
		out.name = tn[len(tn)-1].GetString_().GetSval()
		out.strength = 1
	}
	return out, nil
}

// cast is an explicit conversion (CAST / ::).
func (t *translator) cast(e expr, to uint32, typmod int32, loc int32) (expr, error) {
	if e.typ == oidUnknown {
		if e.lit != nil {
			return t.literalAs(e, to, typmod)
		}
		if e.param > 0 && isRegType(to) {
			// A parameter cast to regclass arrives as a name.
			e, _ = t.coerce(e, oidText)
			return t.textToReg(e, to, loc)
		}
		e, _ = t.coerce(e, to)
		return t.applyTypmod(e, typmod), nil
	}
	from := e.typ
	out := e
	out.typ, out.typmod, out.lit, out.ival = to, -1, nil, nil
	if from == to {
		out.ival = e.ival
		return t.applyTypmod(out, typmod), nil
	}
	fc, tc := categoryOf(from), categoryOf(to)
	switch {
	case tc == catString:
		out.sql = t.toText(e)
	case isRegType(to):
		switch {
		case isInteger(from), isRegType(from):
		case fc == catString:
			return t.textToReg(e, to, loc)
		default:
			return out, t.cannotCast(from, to, loc)
		}
	case isArrayType(to):
		if !isArrayType(from) || categoryOf(elemType(from)) != categoryOf(elemType(to)) {
			return out, t.cannotCast(from, to, loc)
		}
	case isInteger(to):
		switch {
		case isInteger(from), from == oidBool, isRegType(from):
			// no-op
		case fc == catNumeric:
			out.sql = "CAST(round(" + e.sql + ") AS INTEGER)"
		case fc == catString:
			out.sql = "CAST(trim(" + e.sql + ") AS INTEGER)"
		default:
			return out, t.cannotCast(from, to, loc)
		}
	case to == oidFloat4 || to == oidFloat8:
		if fc != catNumeric && fc != catString {
			return out, t.cannotCast(from, to, loc)
		}
		out.sql = "CAST(" + e.sql + " AS REAL)"
	case to == oidNumeric:
		switch fc {
		case catNumeric:
		case catString:
			out.sql = "CAST(trim(" + e.sql + ") AS NUMERIC)"
		default:
			return out, t.cannotCast(from, to, loc)
		}
	case to == oidBool:
		switch {
		case from == oidInt4 || from == oidInt8 || from == oidInt2:
			out.sql = "(" + e.sql + " <> 0)"
		case fc == catString:
			out.sql = "(CASE WHEN lower(trim(" + e.sql + ")) IN ('t','true','y','yes','on','1') THEN 1 WHEN lower(trim(" + e.sql + ")) IN ('f','false','n','no','off','0') THEN 0 END)"
		default:
			return out, t.cannotCast(from, to, loc)
		}
	case isTimestamp(to):
		switch {
		case isTimestamp(from):
		case from == oidDate:
			out.sql = "(" + e.sql + " || ' 00:00:00.000000')"
		case fc == catString:
			// already in storage form: keep; otherwise let SQLite parse it
			// (milliseconds survive, microseconds do not).
			out.sql = fmt.Sprintf("(CASE WHEN %[1]s GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]' THEN %[1]s ELSE strftime('%%Y-%%m-%%d %%H:%%M:%%f', %[1]s) || '000' END)", e.sql)
		default:
			return out, t.cannotCast(from, to, loc)
		}
	case to == oidDate:
		switch {
		case isTimestamp(from):
			out.sql = "substr(" + e.sql + ", 1, 10)"
		case fc == catString:
			out.sql = "date(" + e.sql + ")"
		default:
			return out, t.cannotCast(from, to, loc)
		}
	case to == oidInterval:
		return out, t.errAt("0A000", loc, "flowgate can only cast constants and parameters to interval")
	case tc == catJSON:
		if fc != catString && fc != catJSON {
			return out, t.cannotCast(from, to, loc)
		}
	default:
		return out, t.cannotCast(from, to, loc)
	}
	return t.applyTypmod(out, typmod), nil
}

func (t *translator) cannotCast(from, to uint32, loc int32) error {
	return t.errAt("42846", loc, "cannot cast type %s to %s", typeName(from), typeName(to))
}

// toText renders a value the way PostgreSQL's ::text would.
func (t *translator) toText(e expr) string {
	switch {
	case isRegType(e.typ):
		return t.regText(e)
	case isArrayType(e.typ):
		vec := 0
		if e.typ == oidInt2Vector || e.typ == oidOIDVector {
			vec = 1
		}
		return fmt.Sprintf("fg_array_out(%s, %d, %d)", e.sql, elemType(e.typ), vec)
	case e.typ == oidUnknown || isString(e.typ) || categoryOf(e.typ) == catJSON || e.typ == oidDate:
		return e.sql
	case e.typ == oidBool:
		return "(CASE WHEN " + e.sql + " THEN 'true' WHEN NOT " + e.sql + " THEN 'false' END)"
	case isTimestamp(e.typ):
		zone := ""
		if e.typ == oidTimestamptz {
			zone = " || '+00'"
		}
		return fmt.Sprintf("(CASE WHEN instr(%[1]s, '.') THEN rtrim(rtrim(%[1]s, '0'), '.') ELSE %[1]s END%[2]s)", e.sql, zone)
	case e.typ == oidInterval:
		if e.ival != nil {
			return quoteString(e.ival.String())
		}
		return fmt.Sprintf("printf('%%02d:%%02d:%%02d', CAST(%[1]s AS INTEGER) / 3600, (CAST(%[1]s AS INTEGER) %% 3600) / 60, CAST(%[1]s AS INTEGER) %% 60)", e.sql)
	}
	return "CAST(" + e.sql + " AS TEXT)"
}

// boolExpr translates a condition (WHERE, ON, HAVING, CASE WHEN).
func (t *translator) boolExpr(n *pg_query.Node, sc *scope, what string) (expr, error) {
	e, err := t.expr(n, sc)
	if err != nil {
		return e, err
	}
	if e, err = t.coerce(e, oidBool); err != nil {
		return e, err
	}
	if e.typ != oidBool {
		return e, t.errAt("42804", exprLoc(n), "argument of %s must be type boolean, not type %s", what, typeName(e.typ))
	}
	if e.isAgg && !sc.aggOK {
		return e, t.errAt("42803", exprLoc(n), "aggregate functions are not allowed in %s", what)
	}
	return e, nil
}

func (t *translator) boolOp(b *pg_query.BoolExpr, sc *scope) (expr, error) {
	what := map[pg_query.BoolExprType]string{
		pg_query.BoolExprType_AND_EXPR: "AND",
		pg_query.BoolExprType_OR_EXPR:  "OR",
		pg_query.BoolExprType_NOT_EXPR: "NOT",
	}[b.GetBoolop()]
	var parts []string
	out := expr{typ: oidBool, typmod: -1}
	for _, a := range b.GetArgs() {
		e, err := t.expr(a, sc)
		if err != nil {
			return e, err
		}
		if e, err = t.coerce(e, oidBool); err != nil {
			return e, err
		}
		if e.typ != oidBool {
			return e, t.errAt("42804", exprLoc(a), "argument of %s must be type boolean, not type %s", what, typeName(e.typ))
		}
		out.isAgg = out.isAgg || e.isAgg
		parts = append(parts, e.sql)
	}
	if what == "NOT" {
		out.sql = "(NOT " + parts[0] + ")"
	} else {
		out.sql = "(" + strings.Join(parts, " "+what+" ") + ")"
	}
	return out, nil
}

func (t *translator) caseExpr(c *pg_query.CaseExpr, sc *scope) (expr, error) {
	var arg expr
	var err error
	hasArg := c.GetArg() != nil
	if hasArg {
		if arg, err = t.expr(c.GetArg(), sc); err != nil {
			return arg, err
		}
	}
	var conds, results []expr
	var types []uint32
	for _, w := range c.GetArgs() {
		cw := w.GetCaseWhen()
		var cond expr
		if hasArg {
			if cond, err = t.expr(cw.GetExpr(), sc); err != nil {
				return cond, err
			}
			if arg, cond, err = t.unifyPair(arg, cond, "="); err != nil {
				return cond, err
			}
		} else if cond, err = t.boolExpr(cw.GetExpr(), sc, "CASE/WHEN"); err != nil {
			return cond, err
		}
		r, err := t.expr(cw.GetResult(), sc)
		if err != nil {
			return r, err
		}
		conds = append(conds, cond)
		results = append(results, r)
		types = append(types, r.typ)
	}
	var def *expr
	if d := c.GetDefresult(); d != nil {
		e, err := t.expr(d, sc)
		if err != nil {
			return e, err
		}
		def = &e
		types = append(types, e.typ)
	}
	ty, err := commonType(types)
	if err != nil {
		return expr{}, t.errAt("42804", c.GetLocation(), "CASE %s", err.Error())
	}
	var b strings.Builder
	b.WriteString("CASE")
	if hasArg {
		b.WriteString(" " + arg.sql)
	}
	out := expr{typ: ty, typmod: -1, name: "case", strength: 1, isAgg: arg.isAgg}
	for i := range conds {
		r, err := t.coerce(results[i], ty)
		if err != nil {
			return r, err
		}
		b.WriteString(" WHEN " + conds[i].sql + " THEN " + r.sql)
		out.isAgg = out.isAgg || conds[i].isAgg || r.isAgg
	}
	if def != nil {
		r, err := t.coerce(*def, ty)
		if err != nil {
			return r, err
		}
		b.WriteString(" ELSE " + r.sql)
		out.isAgg = out.isAgg || r.isAgg
		if def.strength == 2 {
			out.name, out.strength = def.name, 2
		}
	}
	b.WriteString(" END")
	out.sql = "(" + b.String() + ")"
	return out, nil
}

// unifyPair resolves unknowns on either side of a comparison and checks
// the two sides can be compared.
func (t *translator) unifyPair(l, r expr, op string) (expr, expr, error) {
	var err error
	switch {
	case l.typ == oidUnknown && r.typ == oidUnknown:
		if l, err = t.coerce(l, oidText); err != nil {
			return l, r, err
		}
		r, err = t.coerce(r, oidText)
		return l, r, err
	case l.typ == oidUnknown:
		l, err = t.coerce(l, r.typ)
		return l, r, err
	case r.typ == oidUnknown:
		r, err = t.coerce(r, l.typ)
		return l, r, err
	}
	lc, rc := categoryOf(l.typ), categoryOf(r.typ)
	if lc != rc {
		return l, r, t.errAt("42883", l.loc, "operator does not exist: %s %s %s", typeName(l.typ), op, typeName(r.typ))
	}
	if lc == catDatetime && l.typ != r.typ {
		target := oidTimestamptz
		if l.typ != oidTimestamptz && r.typ != oidTimestamptz {
			target = oidTimestamp
		}
		l, _ = t.coerce(l, target)
		r, _ = t.coerce(r, target)
	}
	return l, r, nil
}

func opName(names []*pg_query.Node) string {
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1].GetString_().GetSval()
}

func (t *translator) aExpr(a *pg_query.A_Expr, sc *scope) (expr, error) {
	op := opName(a.GetName())
	switch a.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		if a.GetLexpr() == nil {
			return t.unary(op, a, sc)
		}
		switch op {
		case "~~", "!~~", "~~*", "!~~*":
			return t.like(a, sc, op)
		}
		l, err := t.expr(a.GetLexpr(), sc)
		if err != nil {
			return l, err
		}
		r, err := t.expr(a.GetRexpr(), sc)
		if err != nil {
			return r, err
		}
		return t.binop(op, l, r, a.GetLocation())
	case pg_query.A_Expr_Kind_AEXPR_LIKE, pg_query.A_Expr_Kind_AEXPR_ILIKE:
		return t.like(a, sc, op)
	case pg_query.A_Expr_Kind_AEXPR_DISTINCT, pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		l, r, err := t.pair(a, sc, "=")
		if err != nil {
			return l, err
		}
		kw := " IS NOT "
		if a.GetKind() == pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT {
			kw = " IS "
		}
		return expr{sql: "(" + l.sql + kw + r.sql + ")", typ: oidBool, isAgg: l.isAgg || r.isAgg}, nil
	case pg_query.A_Expr_Kind_AEXPR_NULLIF:
		l, r, err := t.pair(a, sc, "=")
		if err != nil {
			return l, err
		}
		return expr{sql: "nullif(" + l.sql + ", " + r.sql + ")", typ: l.typ, typmod: l.typmod, name: "nullif", strength: 2, isAgg: l.isAgg || r.isAgg}, nil
	case pg_query.A_Expr_Kind_AEXPR_IN:
		return t.inList(a, sc, op == "<>")
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		return t.between(a, sc)
	case pg_query.A_Expr_Kind_AEXPR_OP_ANY, pg_query.A_Expr_Kind_AEXPR_OP_ALL:
		return t.anyAll(a, sc, op)
	case pg_query.A_Expr_Kind_AEXPR_SIMILAR:
		return expr{}, t.errAt("0A000", a.GetLocation(), "SIMILAR TO is not supported by flowgate; use LIKE or ILIKE")
	}
	return expr{}, t.errAt("0A000", a.GetLocation(), "unsupported operator %s", op)
}

// pair translates both operands of a comparison-like A_Expr.
func (t *translator) pair(a *pg_query.A_Expr, sc *scope, op string) (expr, expr, error) {
	l, err := t.expr(a.GetLexpr(), sc)
	if err != nil {
		return l, l, err
	}
	r, err := t.expr(a.GetRexpr(), sc)
	if err != nil {
		return l, r, err
	}
	return t.unifyPair(l, r, op)
}

func (t *translator) unary(op string, a *pg_query.A_Expr, sc *scope) (expr, error) {
	e, err := t.expr(a.GetRexpr(), sc)
	if err != nil {
		return e, err
	}
	if e.typ == oidUnknown {
		if e.lit != nil {
			if _, err := strconv.ParseInt(*e.lit, 10, 32); err == nil {
				e, err = t.coerce(e, oidInt4)
			} else {
				e, err = t.coerce(e, oidNumeric)
			}
		} else {
			e, err = t.coerce(e, oidNumeric)
		}
		if err != nil {
			return e, err
		}
	}
	switch {
	case op == "-" && categoryOf(e.typ) == catNumeric:
		return expr{sql: "(-" + e.sql + ")", typ: e.typ, typmod: -1, isAgg: e.isAgg}, nil
	case op == "-" && e.typ == oidInterval:
		out := expr{sql: "(-" + e.sql + ")", typ: oidInterval, typmod: -1, isAgg: e.isAgg}
		if e.ival != nil {
			iv := e.ival.neg()
			out.ival = &iv
		}
		return out, nil
	case op == "+" && (categoryOf(e.typ) == catNumeric || e.typ == oidInterval):
		return e, nil
	}
	return expr{}, t.errAt("42883", a.GetLocation(), "operator does not exist: %s %s", op, typeName(e.typ))
}

// binop translates a binary operator.
func (t *translator) binop(op string, l, r expr, loc int32) (expr, error) {
	agg := l.isAgg || r.isAgg
	bad := func() error {
		return t.errAt("42883", loc, "operator does not exist: %s %s %s", typeName(l.typ), op, typeName(r.typ))
	}
	var err error
	switch op {
	case "=", "<>", "!=", "<", ">", "<=", ">=":
		if l.typ != oidUnknown && r.typ != oidUnknown && categoryOf(l.typ) != categoryOf(r.typ) {
			return expr{}, bad() // at the operator, as PostgreSQL reports it
		}
		if l, r, err = t.unifyPair(l, r, op); err != nil {
			return l, err
		}
		if op == "!=" {
			op = "<>"
		}
		return expr{sql: "(" + l.sql + " " + op + " " + r.sql + ")", typ: oidBool, isAgg: agg}, nil
	case "||":
		if isArrayType(l.typ) || isArrayType(r.typ) {
			return t.arrayConcat(l, r, loc)
		}
		// As PostgreSQL resolves it: text || json (or jsonb) is textanycat,
		// the document's text; json has no || of its own, so an untyped
		// literal is text too; jsonb || jsonb (or a literal) is jsonb's
		// merge.
		lj, rj := categoryOf(l.typ) == catJSON, categoryOf(r.typ) == catJSON
		switch {
		case !lj && !rj, lj && isString(r.typ), rj && isString(l.typ):
		case l.typ == oidJSONB || r.typ == oidJSONB:
			return expr{}, t.errAt("0A000", loc, "jsonb concatenation is not supported by flowgate")
		case lj && rj:
			return expr{}, bad()
		case l.typ != oidUnknown && r.typ != oidUnknown:
			return expr{}, bad()
		}
		if l, err = t.coerce(l, oidText); err != nil {
			return l, err
		}
		if r, err = t.coerce(r, oidText); err != nil {
			return r, err
		}
		return expr{sql: "(" + t.toText(l) + " || " + t.toText(r) + ")", typ: oidText, typmod: -1, isAgg: agg}, nil
	case "->", "->>":
		if l.typ == oidUnknown {
			if l, err = t.coerce(l, oidJSON); err != nil {
				return l, err
			}
		}
		if categoryOf(l.typ) != catJSON {
			return expr{}, bad()
		}
		if r.typ == oidUnknown {
			if r, err = t.coerce(r, oidText); err != nil {
				return r, err
			}
		}
		if !isString(r.typ) && !isInteger(r.typ) {
			return expr{}, bad()
		}
		if op == "->" {
			return expr{sql: "(" + l.sql + " -> " + r.sql + ")", typ: l.typ, typmod: -1, isAgg: agg}, nil
		}
		// SQLite's ->> yields 1/0 for JSON booleans; PostgreSQL says true/false.
		sql := fmt.Sprintf("(CASE WHEN json_type(%[1]s -> %[2]s) IN ('true','false') THEN %[1]s -> %[2]s ELSE %[1]s ->> %[2]s END)", l.sql, r.sql)
		return expr{sql: sql, typ: oidText, typmod: -1, isAgg: agg}, nil
	case "+", "-", "*", "/", "%":
		return t.arith(op, l, r, loc)
	case "~", "~*", "!~", "!~*":
		return t.regexOp(op, l, r, loc)
	case "&", "|", "#", "<<", ">>":
		return t.bitwise(op, l, r, loc)
	case "^":
		return expr{}, t.errAt("0A000", loc, "operator ^ is not supported by flowgate")
	}
	return expr{}, t.errAt("42883", loc, "operator does not exist: %s %s %s", typeName(l.typ), op, typeName(r.typ))
}

// arith handles + - * / % for numbers, timestamps, dates and intervals.
func (t *translator) arith(op string, l, r expr, loc int32) (expr, error) {
	agg := l.isAgg || r.isAgg
	bad := func() error {
		return t.errAt("42883", loc, "operator does not exist: %s %s %s", typeName(l.typ), op, typeName(r.typ))
	}
	var err error
	// Unknown next to a timestamp is an interval ('1 hour'), next to an
	// interval or date arithmetic as PostgreSQL would pick.
	if l.typ == oidUnknown && r.typ != oidUnknown {
		to := r.typ
		if isTimestamp(r.typ) || r.typ == oidDate {
			to = oidInterval
			if op == "-" {
				to = r.typ
			}
		}
		if l, err = t.coerce(l, to); err != nil {
			return l, err
		}
	}
	if r.typ == oidUnknown && l.typ != oidUnknown {
		to := l.typ
		if isTimestamp(l.typ) {
			to = oidInterval
		} else if l.typ == oidDate {
			to = oidInt4
		} else if l.typ == oidInterval && (op == "*" || op == "/") {
			to = oidFloat8
		}
		if r, err = t.coerce(r, to); err != nil {
			return r, err
		}
	}
	if l.typ == oidUnknown && r.typ == oidUnknown {
		if l, err = t.numericUnknown(l); err != nil {
			return l, err
		}
		if r, err = t.numericUnknown(r); err != nil {
			return r, err
		}
	}
	lc, rc := categoryOf(l.typ), categoryOf(r.typ)
	switch {
	case lc == catNumeric && rc == catNumeric:
		ty := l.typ
		if numericRank(r.typ) > numericRank(ty) {
			ty = r.typ
		}
		if ty == oidOID {
			ty = oidInt8
		}
		out := expr{typ: ty, typmod: -1, isAgg: agg}
		divisor := r.sql
		if op == "/" || op == "%" {
			divisor = "fg_divisor(" + r.sql + ")" // SQLite answers NULL
		}
		switch {
		case op == "/" && !isInteger(ty):
			// SQLite divides integers as integers; numeric/float must not.
			out.sql = "(CAST(" + l.sql + " AS REAL) / " + divisor + ")"
		case op == "/" || op == "%":
			out.sql = "(" + l.sql + " " + op + " " + divisor + ")"
		default:
			out.sql = "(" + l.sql + " " + op + " " + r.sql + ")"
		}
		return out, nil
	case isTimestamp(l.typ) && r.typ == oidInterval && (op == "+" || op == "-"):
		return t.tsPlusInterval(l, r, op == "-"), nil
	case l.typ == oidInterval && isTimestamp(r.typ) && op == "+":
		return t.tsPlusInterval(r, l, false), nil
	case l.typ == oidDate && r.typ == oidInterval && (op == "+" || op == "-"):
		l, _ = t.coerce(l, oidTimestamp)
		return t.tsPlusInterval(l, r, op == "-"), nil
	case l.typ == oidInterval && r.typ == oidDate && op == "+":
		r, _ = t.coerce(r, oidTimestamp)
		return t.tsPlusInterval(r, l, false), nil
	case isTimestamp(l.typ) && isTimestamp(r.typ) && op == "-":
		return expr{sql: sqlTSDiff(l.sql, r.sql), typ: oidInterval, typmod: -1, isAgg: agg}, nil
	case l.typ == oidDate && r.typ == oidDate && op == "-":
		return expr{sql: "CAST(julianday(" + l.sql + ") - julianday(" + r.sql + ") AS INTEGER)", typ: oidInt4, typmod: -1, isAgg: agg}, nil
	case l.typ == oidDate && isTimestamp(r.typ) && op == "-", isTimestamp(l.typ) && r.typ == oidDate && op == "-":
		l, _ = t.coerce(l, oidTimestamptz)
		r, _ = t.coerce(r, oidTimestamptz)
		return expr{sql: sqlTSDiff(l.sql, r.sql), typ: oidInterval, typmod: -1, isAgg: agg}, nil
	case l.typ == oidDate && isInteger(r.typ) && (op == "+" || op == "-"):
		return expr{sql: "date(" + l.sql + ", (" + op + r.sql + ") || ' days')", typ: oidDate, typmod: -1, isAgg: agg}, nil
	case isInteger(l.typ) && r.typ == oidDate && op == "+":
		return expr{sql: "date(" + r.sql + ", (" + l.sql + ") || ' days')", typ: oidDate, typmod: -1, isAgg: agg}, nil
	case l.typ == oidInterval && r.typ == oidInterval && (op == "+" || op == "-"):
		out := expr{sql: "(" + l.sql + " " + op + " " + r.sql + ")", typ: oidInterval, typmod: -1, isAgg: agg}
		if l.ival != nil && r.ival != nil {
			ri := *r.ival
			if op == "-" {
				ri = ri.neg()
			}
			iv := interval{months: l.ival.months + ri.months, days: l.ival.days + ri.days, micros: l.ival.micros + ri.micros}
			out.ival = &iv
		}
		return out, nil
	case l.typ == oidInterval && rc == catNumeric && (op == "*" || op == "/"):
		return expr{sql: "(" + l.sql + " " + op + " CAST(" + r.sql + " AS REAL))", typ: oidInterval, typmod: -1, isAgg: agg}, nil
	case lc == catNumeric && r.typ == oidInterval && op == "*":
		return expr{sql: "(CAST(" + l.sql + " AS REAL) * " + r.sql + ")", typ: oidInterval, typmod: -1, isAgg: agg}, nil
	}
	return expr{}, bad()
}

// numericUnknown types an unknown operand of arithmetic: int4 if it looks
// like one, else numeric.
func (t *translator) numericUnknown(e expr) (expr, error) {
	if e.lit != nil {
		if _, err := strconv.ParseInt(strings.TrimSpace(*e.lit), 10, 32); err == nil {
			return t.coerce(e, oidInt4)
		}
	}
	return t.coerce(e, oidNumeric)
}

// tsPlusInterval adds (or subtracts) an interval to a timestamp.
func (t *translator) tsPlusInterval(ts, iv expr, minus bool) expr {
	out := expr{typ: ts.typ, typmod: -1, isAgg: ts.isAgg || iv.isAgg}
	if iv.ival != nil {
		sign := int64(1)
		if minus {
			sign = -1
		}
		out.sql = sqlTSAddInterval(ts.sql, *iv.ival, sign)
		return out
	}
	sign := "+"
	if minus {
		sign = "-"
	}
	out.sql = sqlTSAddSeconds(ts.sql, iv.sql, sign)
	return out
}

// like translates LIKE/ILIKE and ~~ operators. SQLite's LIKE ignores ASCII
// case, so case-sensitive LIKE becomes GLOB with a converted pattern.
func (t *translator) like(a *pg_query.A_Expr, sc *scope, op string) (expr, error) {
	ilike := op == "~~*" || op == "!~~*"
	negate := strings.HasPrefix(op, "!")
	l, err := t.expr(a.GetLexpr(), sc)
	if err != nil {
		return l, err
	}
	if l, err = t.coerce(l, oidText); err != nil {
		return l, err
	}
	if !isString(l.typ) {
		return l, t.errAt("42883", a.GetLocation(), "operator does not exist: %s %s unknown", typeName(l.typ), op)
	}
	pn := a.GetRexpr()
	esc := `\`
	if fc := pn.GetFuncCall(); fc != nil && strings.HasSuffix(funcName(fc), "like_escape") && len(fc.GetArgs()) == 2 {
		ec := fc.GetArgs()[1].GetAConst().GetSval()
		if ec == nil || len([]rune(ec.GetSval())) > 1 {
			return l, t.errAt("22019", a.GetLocation(), "invalid escape string")
		}
		esc = ec.GetSval()
		pn = fc.GetArgs()[0]
	}
	p, err := t.expr(pn, sc)
	if err != nil {
		return p, err
	}
	var constPat *string
	if p.typ == oidUnknown && p.lit != nil {
		constPat = p.lit
	}
	if p, err = t.coerce(p, oidText); err != nil {
		return p, err
	}
	if !isString(p.typ) {
		return p, t.errAt("42883", a.GetLocation(), "operator does not exist: text %s %s", op, typeName(p.typ))
	}
	var sql string
	switch {
	case ilike:
		escClause := ""
		if esc != "" {
			escClause = " ESCAPE " + quoteString(esc)
		}
		sql = l.sql + " LIKE " + p.sql + escClause
	case constPat != nil:
		g, err := likeToGlob(*constPat, esc)
		if err != nil {
			return p, t.errAt("22025", exprLoc(pn), "%s", err.Error())
		}
		sql = l.sql + " GLOB " + quoteString(g)
	case p.param > 0:
		t.hidden = append(t.hidden, hiddenParam{kind: hiddenGlob, src: p.param, esc: esc})
		sql = l.sql + " GLOB " + hiddenMarker(len(t.hidden)-1)
	default:
		// A computed pattern: convert it at run time, escapes included.
		sql = l.sql + " GLOB fg_like_glob(" + p.sql + ", " + quoteString(esc) + ")"
	}
	if negate {
		sql = "NOT (" + sql + ")"
	}
	return expr{sql: "(" + sql + ")", typ: oidBool, isAgg: l.isAgg || p.isAgg}, nil
}

// likeToGlob converts a LIKE pattern to a GLOB pattern.
func likeToGlob(p, esc string) (string, error) {
	var b strings.Builder
	escaped := false
	for _, c := range p {
		switch {
		case escaped:
			escaped = false
			writeGlobLiteral(&b, c)
		case esc != "" && string(c) == esc:
			escaped = true
		case c == '%':
			b.WriteByte('*')
		case c == '_':
			b.WriteByte('?')
		default:
			writeGlobLiteral(&b, c)
		}
	}
	if escaped {
		return "", fmt.Errorf("LIKE pattern must not end with escape character")
	}
	return b.String(), nil
}

func writeGlobLiteral(b *strings.Builder, c rune) {
	if c == '*' || c == '?' || c == '[' {
		b.WriteByte('[')
		b.WriteRune(c)
		b.WriteByte(']')
		return
	}
	b.WriteRune(c)
}

func (t *translator) inList(a *pg_query.A_Expr, sc *scope, not bool) (expr, error) {
	l, err := t.expr(a.GetLexpr(), sc)
	if err != nil {
		return l, err
	}
	items := a.GetRexpr().GetList().GetItems()
	var list []expr
	types := []uint32{l.typ}
	for _, n := range items {
		e, err := t.expr(n, sc)
		if err != nil {
			return e, err
		}
		list = append(list, e)
		types = append(types, e.typ)
	}
	target := l.typ
	if target == oidUnknown {
		if target, err = commonType(types); err != nil {
			return l, t.errAt("42804", a.GetLocation(), "IN %s", err.Error())
		}
	}
	if l, err = t.coerce(l, target); err != nil {
		return l, err
	}
	agg := l.isAgg
	for i := range list {
		if l, list[i], err = t.unifyPair(l, list[i], "="); err != nil {
			return l, err
		}
		agg = agg || list[i].isAgg
	}
	kw := " IN ("
	if not {
		kw = " NOT IN ("
	}
	return expr{sql: "(" + l.sql + kw + joinSQL(list) + "))", typ: oidBool, isAgg: agg}, nil
}

func (t *translator) between(a *pg_query.A_Expr, sc *scope) (expr, error) {
	l, err := t.expr(a.GetLexpr(), sc)
	if err != nil {
		return l, err
	}
	bounds := a.GetRexpr().GetList().GetItems()
	if len(bounds) != 2 {
		return l, t.errAt("42601", a.GetLocation(), "BETWEEN needs two bounds")
	}
	lo, err := t.expr(bounds[0], sc)
	if err != nil {
		return lo, err
	}
	hi, err := t.expr(bounds[1], sc)
	if err != nil {
		return hi, err
	}
	if l.typ == oidUnknown {
		ty, err := commonType([]uint32{lo.typ, hi.typ})
		if err != nil {
			return l, t.errAt("42804", a.GetLocation(), "BETWEEN %s", err.Error())
		}
		if l, err = t.coerce(l, ty); err != nil {
			return l, err
		}
	}
	if l, lo, err = t.unifyPair(l, lo, ">="); err != nil {
		return l, err
	}
	if l, hi, err = t.unifyPair(l, hi, "<="); err != nil {
		return l, err
	}
	agg := l.isAgg || lo.isAgg || hi.isAgg
	var sql string
	switch a.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN:
		sql = fmt.Sprintf("(%s BETWEEN %s AND %s)", l.sql, lo.sql, hi.sql)
	case pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		sql = fmt.Sprintf("(%s NOT BETWEEN %s AND %s)", l.sql, lo.sql, hi.sql)
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM:
		sql = fmt.Sprintf("(%[1]s BETWEEN %[2]s AND %[3]s OR %[1]s BETWEEN %[3]s AND %[2]s)", l.sql, lo.sql, hi.sql)
	default:
		sql = fmt.Sprintf("(NOT (%[1]s BETWEEN %[2]s AND %[3]s OR %[1]s BETWEEN %[3]s AND %[2]s))", l.sql, lo.sql, hi.sql)
	}
	return expr{sql: sql, typ: oidBool, isAgg: agg}, nil
}

// anyAll handles x = ANY(ARRAY[...]) and x <> ALL(ARRAY[...]) as IN lists.
func (t *translator) anyAll(a *pg_query.A_Expr, sc *scope, op string) (expr, error) {
	arr := a.GetRexpr().GetAArrayExpr()
	isAny := a.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP_ANY
	if arr == nil || !((isAny && op == "=") || (!isAny && (op == "<>" || op == "!="))) {
		return t.anyArray(a, sc, op, isAny)
	}
	in := &pg_query.A_Expr{Kind: pg_query.A_Expr_Kind_AEXPR_IN, Lexpr: a.GetLexpr(), Location: a.GetLocation(),
		Rexpr: &pg_query.Node{Node: &pg_query.Node_List{List: &pg_query.List{Items: arr.GetElements()}}}}
	return t.inList(in, sc, !isAny)
}

func (t *translator) subLink(s *pg_query.SubLink, sc *scope) (expr, error) {
	sel := s.GetSubselect().GetSelectStmt()
	out, err := t.selectStmt(sel, sc)
	if err != nil {
		return expr{}, err
	}
	switch s.GetSubLinkType() {
	case pg_query.SubLinkType_ARRAY_SUBLINK:
		return t.arraySublink(s, out)
	case pg_query.SubLinkType_EXISTS_SUBLINK:
		return expr{sql: "(EXISTS (" + out.sql + "))", typ: oidBool, name: "exists", strength: 2}, nil
	case pg_query.SubLinkType_EXPR_SUBLINK:
		if len(out.cols) != 1 {
			return expr{}, t.errAt("42601", s.GetLocation(), "subquery must return only one column")
		}
		c := out.cols[0]
		e := expr{sql: "(" + out.sql + ")", typ: c.typ, typmod: c.typmod, name: c.name, strength: 2}
		if c.e.strength < 2 && c.e.name == "" {
			e.strength = 0
		}
		return e, nil
	case pg_query.SubLinkType_ANY_SUBLINK, pg_query.SubLinkType_ALL_SUBLINK:
		op := opName(s.GetOperName())
		isAny := s.GetSubLinkType() == pg_query.SubLinkType_ANY_SUBLINK
		if !((isAny && (op == "=" || op == "")) || (!isAny && (op == "<>" || op == "!="))) {
			return expr{}, t.errAt("0A000", s.GetLocation(), "only IN, = ANY and <> ALL subqueries are supported by flowgate")
		}
		if len(out.cols) != 1 {
			return expr{}, t.errAt("42601", s.GetLocation(), "subquery has too many columns")
		}
		l, err := t.expr(s.GetTestexpr(), sc)
		if err != nil {
			return l, err
		}
		rhs := expr{sql: "x", typ: out.cols[0].typ}
		if l, _, err = t.unifyPair(l, rhs, "="); err != nil {
			return l, err
		}
		kw := " IN ("
		if !isAny {
			kw = " NOT IN ("
		}
		return expr{sql: "(" + l.sql + kw + out.sql + "))", typ: oidBool, isAgg: l.isAgg}, nil
	}
	return expr{}, t.errAt("0A000", s.GetLocation(), "this kind of subquery is not supported by flowgate")
}

// bitwise is & | # << >> on integers.
func (t *translator) bitwise(op string, l, r expr, loc int32) (expr, error) {
	var err error
	if l.typ == oidUnknown {
		if l, err = t.numericUnknown(l); err != nil {
			return l, err
		}
	}
	if r.typ == oidUnknown {
		if r, err = t.coerce(r, l.typ); err != nil {
			return r, err
		}
	}
	if !isInteger(l.typ) || !isInteger(r.typ) {
		return expr{}, t.errAt("42883", loc, "operator does not exist: %s %s %s", typeName(l.typ), op, typeName(r.typ))
	}
	ty := l.typ
	if op != "<<" && op != ">>" && numericRank(r.typ) > numericRank(ty) {
		ty = r.typ
	}
	sql := "(" + l.sql + " " + op + " " + r.sql + ")"
	if op == "#" {
		sql = fmt.Sprintf("((%[1]s | %[2]s) - (%[1]s & %[2]s))", l.sql, r.sql)
	}
	return expr{sql: sql, typ: ty, typmod: -1, isAgg: l.isAgg || r.isAgg}, nil
}
