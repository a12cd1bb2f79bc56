package pgquery

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Only functions listed here are translated; everything else (including
// SQLite's own functions) is "does not exist" so nothing leaks through.

type funcImpl func(t *translator, c *call) (expr, error)

// call is a function call being translated.
type call struct {
	fc   *pg_query.FuncCall
	name string
	args []expr
	sc   *scope
}

func funcName(fc *pg_query.FuncCall) string {
	var parts []string
	for _, n := range fc.GetFuncname() {
		parts = append(parts, n.GetString_().GetSval())
	}
	return strings.Join(parts, ".")
}

var aggregates = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true,
	"bool_and": true, "bool_or": true, "every": true, "string_agg": true,
	"json_agg": true, "jsonb_agg": true,
}

var scalarFuncs map[string]funcImpl

func init() {
	scalarFuncs = map[string]funcImpl{
		"now":                   fnNow,
		"transaction_timestamp": fnNow,
		"statement_timestamp":   fnNow,
		"clock_timestamp":       fnNow,
		"version":               fnVersion,
		"current_database":      fnSession("current_database"),
		"current_schema":        fnSession("current_schema"),
		"current_user":          fnSession("current_user"),
		"session_user":          fnSession("session_user"),
		"current_setting":       fnCurrentSetting,
		"pg_backend_pid":        fnBackendPID,
		"inet_server_addr":      fnNullOf(oidInet),
		"inet_client_addr":      fnNullOf(oidInet),
		"date_trunc":            fnDateTrunc,
		"date_part":             fnExtract,
		"extract":               fnExtract,
		"to_timestamp":          fnToTimestamp,
		"to_char":               fnToChar,
		"lower":                 fnTextMap("lower", "lower"),
		"upper":                 fnTextMap("upper", "upper"),
		"length":                fnLength,
		"char_length":           fnLength,
		"character_length":      fnLength,
		"octet_length":          fnOctetLength,
		"substr":                fnSubstr,
		"substring":             fnSubstr,
		"btrim":                 fnTrim("trim"),
		"ltrim":                 fnTrim("ltrim"),
		"rtrim":                 fnTrim("rtrim"),
		"replace":               fnReplace,
		"concat":                fnConcat,
		"concat_ws":             fnConcatWS,
		"left":                  fnLeft,
		"right":                 fnRight,
		"position":              fnStrpos(true),
		"strpos":                fnStrpos(false),
		"split_part":            fnSplitPart,
		"abs":                   fnAbs,
		"round":                 fnRound,
		"ceil":                  fnCeilFloor(true),
		"ceiling":               fnCeilFloor(true),
		"floor":                 fnCeilFloor(false),
		"trunc":                 fnTrunc,
		"nullif":                fnNullif,
	}
	registerCatalogFuncs()
}

func (t *translator) funcCall(fc *pg_query.FuncCall, sc *scope) (expr, error) {
	full := funcName(fc)
	name := strings.TrimPrefix(full, "pg_catalog.")
	loc := fc.GetLocation()
	if fc.GetAggWithinGroup() || fc.GetFuncVariadic() {
		return expr{}, t.errAt("0A000", loc, "WITHIN GROUP and VARIADIC are not supported by flowgate")
	}
	if fc.GetOver() != nil {
		return t.windowCall(fc, name, sc)
	}
	isAgg := aggregates[name] && !strings.Contains(name, ".")
	impl := scalarFuncs[name]
	if !isAgg && impl == nil {
		// Describe the call like PostgreSQL: function foo(integer, unknown).
		var types []string
		for _, a := range fc.GetArgs() {
			e, err := t.expr(a, sc)
			if err != nil {
				return e, err
			}
			types = append(types, typeName(e.typ))
		}
		err := t.errAt("42883", loc, "function %s(%s) does not exist", full, strings.Join(types, ", "))
		err.Hint = "No function matches the given name and argument types. flowgate supports common PostgreSQL functions only."
		return expr{}, err
	}
	if !isAgg && (fc.GetAggStar() || fc.GetAggDistinct() || fc.GetAggFilter() != nil || len(fc.GetAggOrder()) > 0) {
		return expr{}, t.errAt("42809", loc, "%s is not an aggregate function", name)
	}
	if isAgg && !sc.aggOK {
		return expr{}, t.errAt("42803", loc, "aggregate functions are not allowed here")
	}
	c := &call{fc: fc, name: name, sc: sc}
	if isAgg {
		// set-returning functions may not feed an aggregate
		tl := sc.tlist
		sc.tlist = false
		defer func() { sc.tlist = tl }()
	}
	for _, a := range fc.GetArgs() {
		e, err := t.expr(a, sc)
		if err != nil {
			return e, err
		}
		if isAgg && e.isAgg {
			return e, t.errAt("42803", loc, "aggregate function calls cannot be nested")
		}
		c.args = append(c.args, e)
	}
	var out expr
	var err error
	if isAgg {
		out, err = t.aggregate(c)
	} else {
		out, err = impl(t, c)
	}
	if err != nil {
		return out, err
	}
	if out.name == "" {
		out.name, out.strength = name, 2
	}
	if out.typmod == 0 {
		out.typmod = -1
	}
	if !isAgg {
		out.isAgg = out.isAgg || anyAgg(c.args)
	}
	return out, nil
}

func (t *translator) noSuchFunc(c *call) error {
	var types []string
	for _, a := range c.args {
		types = append(types, typeName(a.typ))
	}
	err := t.errAt("42883", c.fc.GetLocation(), "function %s(%s) does not exist", c.name, strings.Join(types, ", "))
	err.Hint = "No function matches the given name and argument types. You might need to add explicit type casts."
	return err
}

func (t *translator) arity(c *call, min, max int) error {
	if len(c.args) < min || len(c.args) > max {
		return t.noSuchFunc(c)
	}
	return nil
}

// argAs coerces argument i and checks its category.
func (t *translator) argAs(c *call, i int, to uint32) (expr, error) {
	e, err := t.coerce(c.args[i], to)
	if err != nil {
		return e, err
	}
	ok := e.typ == to || categoryOf(e.typ) == categoryOf(to)
	if !ok {
		return e, t.noSuchFunc(c)
	}
	c.args[i] = e
	return e, nil
}

// --- aggregates ---

func (t *translator) aggregate(c *call) (expr, error) {
	fc := c.fc
	distinct := ""
	if fc.GetAggDistinct() {
		distinct = "DISTINCT "
	}
	filter := ""
	if f := fc.GetAggFilter(); f != nil {
		c.sc.aggOK = false
		e, err := t.boolExpr(f, c.sc, "FILTER")
		c.sc.aggOK = true
		if err != nil {
			return e, err
		}
		filter = " FILTER (WHERE " + e.sql + ")"
	}
	out := expr{isAgg: true, typmod: -1}
	wrap := func(fn string, args ...string) string {
		return fn + "(" + distinct + strings.Join(args, ", ") + ")" + filter
	}
	// ORDER BY inside count/sum/avg/min/max/bool_* cannot change the
	// result, so only string_agg and json_agg render it.
	switch c.name {
	case "count":
		out.typ = oidInt8
		if fc.GetAggStar() {
			out.sql = "count(*)" + filter
			return out, nil
		}
		if err := t.arity(c, 1, 1); err != nil {
			return out, err
		}
		a, err := t.resolveUnknown(c.args[0])
		if err != nil {
			return a, err
		}
		out.sql = wrap("count", a.sql)
	case "sum", "avg":
		if err := t.arity(c, 1, 1); err != nil {
			return out, err
		}
		a := c.args[0]
		switch {
		case a.typ == oidUnknown:
			return out, t.noSuchFunc(c)
		case a.typ == oidInterval:
			out.typ = oidInterval
		case c.name == "sum" && (a.typ == oidInt2 || a.typ == oidInt4):
			out.typ = oidInt8
		case isInteger(a.typ) || a.typ == oidNumeric:
			out.typ = oidNumeric
		case a.typ == oidFloat4 && c.name == "sum":
			out.typ = oidFloat4
		case a.typ == oidFloat4 || a.typ == oidFloat8:
			out.typ = oidFloat8
		default:
			return out, t.noSuchFunc(c)
		}
		out.sql = wrap(c.name, a.sql)
	case "min", "max":
		if err := t.arity(c, 1, 1); err != nil {
			return out, err
		}
		a, err := t.resolveUnknown(c.args[0])
		if err != nil {
			return a, err
		}
		if a.typ == oidBool || categoryOf(a.typ) == catJSON {
			return out, t.noSuchFunc(c)
		}
		out.typ, out.typmod = a.typ, a.typmod
		out.sql = wrap(c.name, a.sql)
	case "bool_and", "every", "bool_or":
		if err := t.arity(c, 1, 1); err != nil {
			return out, err
		}
		a, err := t.argAs(c, 0, oidBool)
		if err != nil {
			return a, err
		}
		fn := "min"
		if c.name == "bool_or" {
			fn = "max"
		}
		out.typ = oidBool
		out.sql = wrap(fn, "("+a.sql+" <> 0)")
	case "string_agg":
		if err := t.arity(c, 2, 2); err != nil {
			return out, err
		}
		a, err := t.argAs(c, 0, oidText)
		if err != nil {
			return a, err
		}
		sep, err := t.argAs(c, 1, oidText)
		if err != nil {
			return sep, err
		}
		if distinct != "" {
			return out, t.errAt("0A000", fc.GetLocation(), "string_agg(DISTINCT ...) is not supported by flowgate")
		}
		order, err := t.aggOrder(c)
		if err != nil {
			return out, err
		}
		out.typ = oidText
		out.sql = "group_concat(" + t.toText(a) + ", " + sep.sql + order + ")" + filter
	case "array_agg":
		if err := t.arity(c, 1, 1); err != nil {
			return out, err
		}
		a, err := t.resolveUnknown(c.args[0])
		if err != nil {
			return a, err
		}
		out.typ = arrayOf(a.typ)
		if out.typ == 0 || isArrayType(a.typ) {
			return out, t.errAt("0A000", fc.GetLocation(), "array_agg over %s is not supported by flowgate", typeName(a.typ))
		}
		order, err := t.aggOrder(c)
		if err != nil {
			return out, err
		}
		// json_group_array gives [] over no rows; PostgreSQL gives NULL.
		out.sql = "nullif(json_group_array(" + distinct + t.jsonValue(a) + order + ")" + filter + ", '[]')"
	case "json_agg", "jsonb_agg":
		if err := t.arity(c, 1, 1); err != nil {
			return out, err
		}
		a, err := t.resolveUnknown(c.args[0])
		if err != nil {
			return a, err
		}
		order, err := t.aggOrder(c)
		if err != nil {
			return out, err
		}
		out.typ = oidJSON
		if c.name == "jsonb_agg" {
			out.typ = oidJSONB
		}
		v := a.sql
		switch {
		case categoryOf(a.typ) == catJSON:
			v = "json(" + a.sql + ")"
		case a.typ == oidBool:
			v = "json(CASE WHEN " + a.sql + " THEN 'true' WHEN NOT " + a.sql + " THEN 'false' END)"
		case isTimestamp(a.typ):
			v = t.toText(a)
		}
		out.sql = "json_group_array(" + distinct + v + order + ")" + filter
	}
	return out, nil
}

// aggOrder renders ORDER BY inside an aggregate call.
func (t *translator) aggOrder(c *call) (string, error) {
	var items []string
	for _, n := range c.fc.GetAggOrder() {
		sb := n.GetSortBy()
		c.sc.aggOK = false
		e, err := t.expr(sb.GetNode(), c.sc)
		c.sc.aggOK = true
		if err != nil {
			return "", err
		}
		item := e.sql
		if sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_DESC {
			item += " DESC NULLS FIRST"
		} else {
			item += " NULLS LAST"
		}
		items = append(items, item)
	}
	if len(items) == 0 {
		return "", nil
	}
	return " ORDER BY " + strings.Join(items, ", "), nil
}

// --- session and time ---

func fnNow(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 0, 0); err != nil {
		return expr{}, err
	}
	return expr{sql: t.nowSQL(), typ: oidTimestamptz}, nil
}

func fnVersion(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 0, 0); err != nil {
		return expr{}, err
	}
	return expr{sql: quoteString(t.env.Version), typ: oidText}, nil
}

func fnSession(which string) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 0, 0); err != nil {
			return expr{}, err
		}
		return t.sessionValue(which), nil
	}
}

func (t *translator) sessionValue(which string) expr {
	var v string
	switch which {
	case "current_database", "current_catalog":
		v = t.env.Database
	case "current_schema":
		v = "dataflow"
	default:
		v = t.env.CurrentUser
	}
	return expr{sql: quoteString(v), typ: oidName, name: which, strength: 2}
}

func fnCurrentSetting(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 2); err != nil {
		return expr{}, err
	}
	a := c.args[0]
	if a.lit == nil {
		return t.currentSettingDynamic(c)
	}
	missingOK := len(c.args) == 2 && c.args[1].sql == "1"
	name := strings.ToLower(*a.lit)
	var v string
	ok := false
	if t.env.Setting != nil {
		v, ok = t.env.Setting(name)
	}
	if !ok {
		if missingOK {
			return expr{sql: "NULL", typ: oidText}, nil
		}
		return expr{}, t.errAt("42704", a.loc, "unrecognized configuration parameter %q", name)
	}
	return expr{sql: quoteString(v), typ: oidText}, nil
}

func fnBackendPID(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 0, 0); err != nil {
		return expr{}, err
	}
	return expr{sql: fmt.Sprint(t.env.BackendPID), typ: oidInt4}, nil
}

func fnNullOf(ty uint32) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 0, 0); err != nil {
			return expr{}, err
		}
		return expr{sql: "NULL", typ: ty}, nil
	}
}

func (t *translator) sqlValueFunction(f *pg_query.SQLValueFunction) (expr, error) {
	switch f.GetOp() {
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
		return expr{sql: t.nowSQL(), typ: oidTimestamptz, typmod: -1, name: "current_timestamp", strength: 2}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		return expr{sql: t.nowSQL(), typ: oidTimestamp, typmod: -1, name: "localtimestamp", strength: 2}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		return expr{sql: "substr(" + t.nowSQL() + ", 1, 10)", typ: oidDate, typmod: -1, name: "current_date", strength: 2}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_USER:
		return t.sessionValue("current_user"), nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:
		return t.sessionValue("current_role"), nil
	case pg_query.SQLValueFunctionOp_SVFOP_SESSION_USER:
		return t.sessionValue("session_user"), nil
	case pg_query.SQLValueFunctionOp_SVFOP_USER:
		return t.sessionValue("user"), nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
		return t.sessionValue("current_catalog"), nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
		return t.sessionValue("current_schema"), nil
	}
	return expr{}, t.errAt("0A000", f.GetLocation(), "time-of-day values (current_time, localtime) are not supported by flowgate")
}

// unitArg reads a constant unit/field name argument.
func (t *translator) unitArg(c *call, i int) (string, error) {
	a := c.args[i]
	if a.lit == nil {
		return "", t.errAt("0A000", c.fc.GetLocation(), "%s() needs a constant field name in flowgate", c.name)
	}
	return normUnit(*a.lit), nil
}

func fnDateTrunc(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 2); err != nil {
		return expr{}, err
	}
	unit, err := t.unitArg(c, 0)
	if err != nil {
		return expr{}, err
	}
	ts := c.args[1]
	if ts.typ == oidUnknown || ts.typ == oidDate {
		if ts, err = t.coerce(ts, oidTimestamptz); err != nil {
			return ts, err
		}
	}
	if !isTimestamp(ts.typ) {
		return expr{}, t.noSuchFunc(c)
	}
	sql, ok := sqlDateTrunc(unit, ts.sql)
	if !ok {
		return expr{}, t.errAt("22023", c.args[0].loc, "unit %q not recognized for type %s", *c.args[0].lit, typeName(ts.typ))
	}
	return expr{sql: sql, typ: ts.typ}, nil
}

// fnExtract serves extract(field FROM x) (numeric, PostgreSQL 14+) and
// date_part(field, x) (double precision).
func fnExtract(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 2); err != nil {
		return expr{}, err
	}
	field, err := t.unitArg(c, 0)
	if err != nil {
		return expr{}, err
	}
	v := c.args[1]
	if v.typ == oidUnknown {
		if v, err = t.coerce(v, oidTimestamptz); err != nil {
			return v, err
		}
	}
	ty := oidNumeric
	if c.name == "date_part" {
		ty = oidFloat8
	}
	var sql string
	switch {
	case v.typ == oidInterval:
		if field != "epoch" {
			return expr{}, t.errAt("0A000", c.fc.GetLocation(), "only epoch can be extracted from an interval in flowgate")
		}
		sql = v.sql
	case isTimestamp(v.typ) || v.typ == oidDate:
		var ok bool
		if sql, ok = sqlExtract(field, v.sql); !ok {
			return expr{}, t.errAt("22023", c.args[0].loc, "unit %q not recognized for type %s", *c.args[0].lit, typeName(v.typ))
		}
	default:
		return expr{}, t.noSuchFunc(c)
	}
	if ty == oidFloat8 {
		return expr{sql: "CAST(" + sql + " AS REAL)", typ: ty}, nil
	}
	// extract is numeric (PostgreSQL 14+) and prints a fixed number of
	// fraction digits: six for epoch and second, three for milliseconds.
	e := expr{sql: sql, typ: ty}
	switch {
	case field == "epoch" && (v.typ == oidInterval || isTimestamp(v.typ)), field == "second" && isTimestamp(v.typ):
		e.dscale = 6 + 1
	case field == "milliseconds" && isTimestamp(v.typ):
		e.dscale = 3 + 1
	}
	return e, nil
}

func fnToTimestamp(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.argAs(c, 0, oidFloat8)
	if err != nil {
		return a, err
	}
	return expr{sql: sqlMicrosTS("CAST(round((" + a.sql + ") * 1000000) AS INTEGER)"), typ: oidTimestamptz}, nil
}

// --- strings ---

func fnTextMap(name, sqlite string) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 1, 1); err != nil {
			return expr{}, err
		}
		a, err := t.argAs(c, 0, oidText)
		if err != nil {
			return a, err
		}
		return expr{sql: sqlite + "(" + a.sql + ")", typ: oidText}, nil
	}
}

func fnLength(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.argAs(c, 0, oidText)
	if err != nil {
		return a, err
	}
	return expr{sql: "length(" + a.sql + ")", typ: oidInt4}, nil
}

func fnOctetLength(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.argAs(c, 0, oidText)
	if err != nil {
		return a, err
	}
	return expr{sql: "length(CAST(" + a.sql + " AS BLOB))", typ: oidInt4}, nil
}

func fnSubstr(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 3); err != nil {
		return expr{}, err
	}
	s, err := t.argAs(c, 0, oidText)
	if err != nil {
		return s, err
	}
	for i := 1; i < len(c.args); i++ {
		if _, err := t.argAs(c, i, oidInt4); err != nil {
			return expr{}, err
		}
		if !isInteger(c.args[i].typ) {
			return expr{}, t.noSuchFunc(c)
		}
	}
	if len(c.args) == 2 {
		return expr{sql: "substr(" + s.sql + ", max(" + c.args[1].sql + ", 1))", typ: oidText}, nil
	}
	// PostgreSQL counts characters from a start before 1 too.
	from, n := c.args[1].sql, c.args[2].sql
	sql := fmt.Sprintf("substr(%s, max(%s, 1), max(%s + %s - max(%s, 1), 0))", s.sql, from, from, n, from)
	return expr{sql: sql, typ: oidText}, nil
}

func fnTrim(sqlite string) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 1, 2); err != nil {
			return expr{}, err
		}
		var parts []string
		for i := range c.args {
			a, err := t.argAs(c, i, oidText)
			if err != nil {
				return a, err
			}
			parts = append(parts, a.sql)
		}
		return expr{sql: sqlite + "(" + strings.Join(parts, ", ") + ")", typ: oidText}, nil
	}
}

func fnReplace(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 3, 3); err != nil {
		return expr{}, err
	}
	for i := range c.args {
		if _, err := t.argAs(c, i, oidText); err != nil {
			return expr{}, err
		}
	}
	return expr{sql: "replace(" + joinSQL(c.args) + ")", typ: oidText}, nil
}

func fnConcat(t *translator, c *call) (expr, error) {
	if len(c.args) == 0 {
		return expr{}, t.noSuchFunc(c)
	}
	var parts []string
	for i := range c.args {
		a, err := t.coerce(c.args[i], oidText)
		if err != nil {
			return a, err
		}
		parts = append(parts, "coalesce("+t.toText(a)+", '')")
	}
	return expr{sql: "(" + strings.Join(parts, " || ") + ")", typ: oidText}, nil
}

func fnConcatWS(t *translator, c *call) (expr, error) {
	if len(c.args) < 2 {
		return expr{}, t.noSuchFunc(c)
	}
	sep, err := t.argAs(c, 0, oidText)
	if err != nil {
		return sep, err
	}
	// Each non-NULL value gets the separator in front; the first one is
	// cut off afterwards.
	var parts []string
	for i := 1; i < len(c.args); i++ {
		a, err := t.coerce(c.args[i], oidText)
		if err != nil {
			return a, err
		}
		parts = append(parts, "coalesce("+sep.sql+" || "+t.toText(a)+", '')")
	}
	sql := fmt.Sprintf("substr(%s, length(%s) + 1)", strings.Join(parts, " || "), sep.sql)
	return expr{sql: "(CASE WHEN " + sep.sql + " IS NULL THEN NULL ELSE " + sql + " END)", typ: oidText}, nil
}

func fnLeft(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 2); err != nil {
		return expr{}, err
	}
	s, err := t.argAs(c, 0, oidText)
	if err != nil {
		return s, err
	}
	n, err := t.argAs(c, 1, oidInt4)
	if err != nil {
		return n, err
	}
	sql := fmt.Sprintf("(CASE WHEN %[2]s >= 0 THEN substr(%[1]s, 1, %[2]s) ELSE substr(%[1]s, 1, max(length(%[1]s) + %[2]s, 0)) END)", s.sql, n.sql)
	return expr{sql: sql, typ: oidText}, nil
}

func fnRight(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 2); err != nil {
		return expr{}, err
	}
	s, err := t.argAs(c, 0, oidText)
	if err != nil {
		return s, err
	}
	n, err := t.argAs(c, 1, oidInt4)
	if err != nil {
		return n, err
	}
	sql := fmt.Sprintf("(CASE WHEN %[2]s = 0 THEN '' WHEN %[2]s > 0 THEN substr(%[1]s, max(length(%[1]s) - %[2]s + 1, 1)) ELSE substr(%[1]s, 1 - %[2]s) END)", s.sql, n.sql)
	return expr{sql: sql, typ: oidText}, nil
}

// fnStrpos: position(sub IN s) arrives as position(s, sub), like strpos.
func fnStrpos(isPosition bool) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 2, 2); err != nil {
			return expr{}, err
		}
		s, err := t.argAs(c, 0, oidText)
		if err != nil {
			return s, err
		}
		sub, err := t.argAs(c, 1, oidText)
		if err != nil {
			return sub, err
		}
		return expr{sql: "instr(" + s.sql + ", " + sub.sql + ")", typ: oidInt4}, nil
	}
}

func fnSplitPart(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 3, 3); err != nil {
		return expr{}, err
	}
	s, err := t.argAs(c, 0, oidText)
	if err != nil {
		return s, err
	}
	d, err := t.argAs(c, 1, oidText)
	if err != nil {
		return d, err
	}
	n := c.args[2]
	if n.typ != oidInt4 || strings.ContainsAny(n.sql, "?( ") {
		return expr{}, t.errAt("0A000", c.fc.GetLocation(), "split_part() needs a constant field number in flowgate")
	}
	var k int
	fmt.Sscan(n.sql, &k)
	if k < 1 {
		return expr{}, t.errAt("0A000", c.fc.GetLocation(), "split_part() field numbers below 1 are not supported by flowgate")
	}
	// Walk k-1 delimiters forward with nested substr/instr.
	rest := s.sql + " || " + d.sql
	for i := 1; i < k; i++ {
		rest = fmt.Sprintf("(CASE WHEN instr(%[1]s, %[2]s) > 0 THEN substr(%[1]s, instr(%[1]s, %[2]s) + length(%[2]s)) ELSE '' END)", rest, d.sql)
	}
	sql := fmt.Sprintf("(CASE WHEN instr(%[1]s, %[2]s) > 0 THEN substr(%[1]s, 1, instr(%[1]s, %[2]s) - 1) ELSE '' END)", rest, d.sql)
	return expr{sql: sql, typ: oidText}, nil
}

// --- numbers ---

func (t *translator) numArg(c *call, i int) (expr, error) {
	a := c.args[i]
	var err error
	if a.typ == oidUnknown {
		if a, err = t.numericUnknown(a); err != nil {
			return a, err
		}
	}
	if categoryOf(a.typ) != catNumeric {
		return a, t.noSuchFunc(c)
	}
	c.args[i] = a
	return a, nil
}

func fnAbs(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.numArg(c, 0)
	if err != nil {
		return a, err
	}
	return expr{sql: "abs(" + a.sql + ")", typ: a.typ}, nil
}

func fnRound(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 2); err != nil {
		return expr{}, err
	}
	a, err := t.numArg(c, 0)
	if err != nil {
		return a, err
	}
	ty := oidNumeric
	if a.typ == oidFloat8 || a.typ == oidFloat4 {
		ty = oidFloat8
	}
	if len(c.args) == 2 {
		n, err := t.argAs(c, 1, oidInt4)
		if err != nil {
			return n, err
		}
		if ty == oidFloat8 {
			return expr{}, t.noSuchFunc(c)
		}
		return expr{sql: "round(" + a.sql + ", " + n.sql + ")", typ: oidNumeric}, nil
	}
	sql := "round(" + a.sql + ")"
	switch {
	case isInteger(a.typ):
		sql = a.sql
	case ty == oidFloat8:
		sql = "fg_rint(" + a.sql + ")" // half to even, as C's rint
	}
	return expr{sql: sql, typ: ty}, nil
}

// fnCeilFloor avoids SQLite's optional math functions.
func fnCeilFloor(ceil bool) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 1, 1); err != nil {
			return expr{}, err
		}
		a, err := t.numArg(c, 0)
		if err != nil {
			return a, err
		}
		ty := oidNumeric
		if a.typ == oidFloat8 || a.typ == oidFloat4 {
			ty = oidFloat8
		}
		if isInteger(a.typ) {
			return expr{sql: a.sql, typ: ty}, nil
		}
		var sql string
		if ceil {
			sql = fmt.Sprintf("(CAST(%[1]s AS INTEGER) + (%[1]s > CAST(%[1]s AS INTEGER)))", a.sql)
		} else {
			sql = fmt.Sprintf("(CAST(%[1]s AS INTEGER) - (%[1]s < CAST(%[1]s AS INTEGER)))", a.sql)
		}
		return expr{sql: sql, typ: ty}, nil
	}
}

func fnTrunc(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.numArg(c, 0)
	if err != nil {
		return a, err
	}
	ty := oidNumeric
	if a.typ == oidFloat8 || a.typ == oidFloat4 {
		ty = oidFloat8
	}
	return expr{sql: "CAST(" + a.sql + " AS INTEGER)", typ: ty}, nil
}

func fnNullif(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 2); err != nil {
		return expr{}, err
	}
	l, r, err := t.unifyPair(c.args[0], c.args[1], "=")
	if err != nil {
		return l, err
	}
	return expr{sql: "nullif(" + l.sql + ", " + r.sql + ")", typ: l.typ}, nil
}

// currentSettingDynamic is current_setting(expr): a CASE over the
// session's settings.
func (t *translator) currentSettingDynamic(c *call) (expr, error) {
	a, err := t.argAs(c, 0, oidText)
	if err != nil {
		return a, err
	}
	if t.env.Settings == nil {
		return expr{}, t.errAt("0A000", c.fc.GetLocation(), "current_setting() needs a constant setting name here")
	}
	missing := "fg_raise('42704', 'unrecognized configuration parameter \"' || " + a.sql + " || '\"')"
	if len(c.args) == 2 {
		m, err := t.argAs(c, 1, oidBool)
		if err != nil {
			return m, err
		}
		missing = "(CASE WHEN " + m.sql + " THEN NULL ELSE " + missing + " END)"
	}
	var b strings.Builder
	b.WriteString("(CASE WHEN " + a.sql + " IS NULL THEN NULL ELSE CASE lower(" + a.sql + ")")
	for _, s := range t.env.Settings() {
		b.WriteString(" WHEN " + quoteString(strings.ToLower(s.Name)) + " THEN " + quoteString(s.Value))
	}
	b.WriteString(" ELSE " + missing + " END END)")
	return expr{sql: b.String(), typ: oidText}, nil
}
