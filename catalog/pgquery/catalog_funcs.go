package pgquery

import (
	"fmt"
	"strconv"
	"strings"
)

// Functions psql, drivers and BI tools call while browsing the catalog.

// registerCatalogFuncs adds them to scalarFuncs (called from functions.go's
// init so the map exists).
func registerCatalogFuncs() {
	for name, f := range map[string]funcImpl{
		"pg_table_is_visible":                 fnVisible("pg_class", "relnamespace"),
		"pg_type_is_visible":                  fnVisible("pg_type", "typnamespace"),
		"pg_function_is_visible":              fnVisible("pg_proc", "pronamespace"),
		"pg_get_userbyid":                     fnGetUserByID,
		"format_type":                         fnFormatType,
		"pg_get_expr":                         fnGetExpr,
		"pg_get_viewdef":                      fnGetViewdef,
		"pg_encoding_to_char":                 fnEncodingToChar,
		"getdatabaseencoding":                 fnConstText("UTF8"),
		"pg_client_encoding":                  fnConstText("UTF8"),
		"has_table_privilege":                 fnHasPrivilege("table", 2),
		"has_any_column_privilege":            fnHasPrivilege("column", 2),
		"has_column_privilege":                fnHasPrivilege("column", 3),
		"has_schema_privilege":                fnHasPrivilege("schema", 2),
		"has_database_privilege":              fnHasPrivilege("database", 2),
		"has_function_privilege":              fnHasPrivilege("function", 2),
		"has_sequence_privilege":              fnHasPrivilege("sequence", 2),
		"has_type_privilege":                  fnHasPrivilege("type", 2),
		"has_tablespace_privilege":            fnHasPrivilege("tablespace", 2),
		"pg_has_role":                         fnHasRole,
		"obj_description":                     fnObjDescription,
		"col_description":                     fnColDescription,
		"shobj_description":                   fnShobjDescription,
		"current_schemas":                     fnCurrentSchemas,
		"array_to_string":                     fnArrayToString,
		"string_to_array":                     fnStringToArray,
		"array_length":                        fnArrayBound("length"),
		"array_upper":                         fnArrayBound("upper"),
		"array_lower":                         fnArrayBound("lower"),
		"cardinality":                         fnCardinality,
		"quote_ident":                         fnTextFunc("fg_quote_ident"),
		"quote_literal":                       fnTextFunc("fg_quote_literal"),
		"format":                              fnFormat,
		"parse_ident":                         fnParseIdent,
		"json_build_object":                   fnJSONBuild("json_object", oidJSON),
		"jsonb_build_object":                  fnJSONBuild("json_object", oidJSONB),
		"json_build_array":                    fnJSONBuild("json_array", oidJSON),
		"jsonb_build_array":                   fnJSONBuild("json_array", oidJSONB),
		"to_regclass":                         fnToRegclass,
		"pg_typeof":                           fnTypeof,
		"pg_get_serial_sequence":              fnNullText(2, 2),
		"pg_get_constraintdef":                fnNullText(1, 2),
		"pg_get_indexdef":                     fnNullText(1, 3),
		"pg_get_triggerdef":                   fnNullText(1, 2),
		"pg_get_ruledef":                      fnNullText(1, 2),
		"pg_get_partkeydef":                   fnNullText(1, 1),
		"pg_get_statisticsobjdef":             fnNullText(1, 1),
		"pg_get_statisticsobjdef_columns":     fnNullText(1, 1),
		"pg_get_statisticsobjdef_expressions": fnNullText(1, 1),
		"pg_operator_is_visible":              fnVisible("pg_operator", "oprnamespace"),
		"pg_conversion_is_visible":            fnVisible("pg_conversion", "connamespace"),
		"pg_collation_is_visible":             fnVisible("pg_collation", "collnamespace"),
		"pg_opclass_is_visible":               fnVisible("pg_opclass", "opcnamespace"),
		"pg_opfamily_is_visible":              fnVisible("pg_opfamily", "opfnamespace"),
		"pg_ts_config_is_visible":             fnVisible("pg_ts_config", "cfgnamespace"),
		"pg_ts_dict_is_visible":               fnVisible("pg_ts_dict", "dictnamespace"),
		"pg_ts_parser_is_visible":             fnVisible("pg_ts_parser", "prsnamespace"),
		"pg_ts_template_is_visible":           fnVisible("pg_ts_template", "tmplnamespace"),
		"pg_statistics_obj_is_visible":        fnVisible("pg_statistic_ext", "stxnamespace"),
		"pg_tablespace_location":              fnTablespaceLocation,
		"pg_database_size":                    fnDatabaseSize,
		"array_remove":                        fnArrayRemove,
		"pg_get_function_result":              fnProcText("result"),
		"pg_get_function_arguments":           fnProcText("args"),
		"pg_get_function_identity_arguments":  fnProcText("args"),
		"pg_relation_size":                    fnZero(1, 2),
		"pg_total_relation_size":              fnZero(1, 1),
		"pg_table_size":                       fnZero(1, 1),
		"pg_indexes_size":                     fnZero(1, 1),
		"pg_stat_get_numscans":                fnZero(1, 1),
		"pg_size_pretty":                      fnSizePretty,
		"pg_is_in_recovery":                   fnConstBool(false),
		"unnest":                              fnUnnest,
		"generate_subscripts":                 fnGenerateSubscripts,
		"information_schema._pg_expandarray":  fnExpandArray,
		"pg_get_keywords":                     fnFromOnly,
		"generate_series":                     fnFromOnly,
	} {
		scalarFuncs[name] = f
	}
	for name, f := range map[string]funcImpl{
		"pg_char_to_encoding":        fnCharToEncoding,
		"pg_relation_is_publishable": fnConstBoolArg(false),
	} {
		scalarFuncs[name] = f
	}
	aggregates["array_agg"] = true
}

func fnFromOnly(t *translator, c *call) (expr, error) {
	return expr{}, t.errAt("0A000", c.fc.GetLocation(), "flowgate supports %s() only in FROM", c.name)
}

func fnConstText(v string) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 0, 0); err != nil {
			return expr{}, err
		}
		return expr{sql: quoteString(v), typ: oidName}, nil
	}
}

func fnConstBool(v bool) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 0, 0); err != nil {
			return expr{}, err
		}
		if v {
			return expr{sql: "1", typ: oidBool}, nil
		}
		return expr{sql: "0", typ: oidBool}, nil
	}
}

// oidArg coerces argument i to oid (reg* values are oids too).
func (t *translator) oidArg(c *call, i int) (expr, error) {
	a := c.args[i]
	var err error
	if a.typ == oidUnknown {
		if a, err = t.coerce(a, oidOID); err != nil {
			return a, err
		}
	}
	if !isInteger(a.typ) && !isRegType(a.typ) {
		return a, t.noSuchFunc(c)
	}
	c.args[i] = a
	return a, nil
}

func fnVisible(rel, nsCol string) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 1, 1); err != nil {
			return expr{}, err
		}
		a, err := t.oidArg(c, 0)
		if err != nil {
			return a, err
		}
		src, ns := t.sys(rel), t.sys("pg_namespace")
		if src == "" || ns == "" {
			return expr{sql: "NULL", typ: oidBool}, nil
		}
		sql := fmt.Sprintf("(SELECT vn.nspname IN %s FROM %s AS vr JOIN %s AS vn ON vn.oid = vr.%s WHERE vr.oid = %s)", searchPathSQL(), src, ns, nsCol, a.sql)
		return expr{sql: sql, typ: oidBool}, nil
	}
}

func fnGetUserByID(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.oidArg(c, 0)
	if err != nil {
		return a, err
	}
	roles := t.sys("pg_roles")
	if roles == "" {
		return expr{sql: "'unknown (OID=' || " + a.sql + " || ')'", typ: oidName}, nil
	}
	sql := fmt.Sprintf("coalesce((SELECT gr.rolname FROM %s AS gr WHERE gr.oid = %s), 'unknown (OID=' || %s || ')')", roles, a.sql, a.sql)
	return expr{sql: sql, typ: oidName}, nil
}

func fnFormatType(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 2); err != nil {
		return expr{}, err
	}
	a, err := t.oidArg(c, 0)
	if err != nil {
		return a, err
	}
	m, err := t.argAs(c, 1, oidInt4)
	if err != nil {
		return m, err
	}
	return expr{sql: "fg_format_type(" + a.sql + ", " + m.sql + ")", typ: oidText}, nil
}

func fnGetExpr(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 3); err != nil {
		return expr{}, err
	}
	// flowgate's catalog holds no expression trees: every pg_node_tree
	// column is NULL, and so is the result.
	return expr{sql: "CAST(" + c.args[0].sql + " AS TEXT)", typ: oidText}, nil
}

func fnGetViewdef(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 2); err != nil {
		return expr{}, err
	}
	a := c.args[0]
	var err error
	if a.typ == oidUnknown || isString(a.typ) {
		if a.lit != nil {
			if a, err = t.regFromLiteral(*a.lit, oidRegclass, a.loc); err != nil {
				return a, err
			}
		} else if a, err = t.textToReg(a, oidRegclass, a.loc); err != nil {
			return a, err
		}
	} else if a, err = t.oidArg(c, 0); err != nil {
		return a, err
	}
	views, cls, ns := t.sys("pg_views"), t.sys("pg_class"), t.sys("pg_namespace")
	if views == "" || cls == "" || ns == "" {
		return expr{sql: "NULL", typ: oidText}, nil
	}
	sql := fmt.Sprintf("(SELECT vv.definition FROM %s AS vv JOIN %s AS vn ON vn.nspname = vv.schemaname JOIN %s AS vc ON vc.relnamespace = vn.oid AND vc.relname = vv.viewname WHERE vc.oid = %s)", views, ns, cls, a.sql)
	return expr{sql: sql, typ: oidText}, nil
}

func fnEncodingToChar(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.argAs(c, 0, oidInt4)
	if err != nil {
		return a, err
	}
	return expr{sql: "(CASE " + a.sql + " WHEN 6 THEN 'UTF8' WHEN 0 THEN 'SQL_ASCII' WHEN 8 THEN 'LATIN1' ELSE '' END)", typ: oidName}, nil
}

// fnHasPrivilege: has_X_privilege([user,] object[, column], privilege).
// flowgate is read-only: reading privileges are held, nothing else.
func fnHasPrivilege(kind string, minArgs int) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, minArgs, minArgs+1); err != nil {
			return expr{}, err
		}
		objIdx := len(c.args) - minArgs
		if obj := c.args[objIdx]; (kind == "table" || kind == "column") && obj.lit != nil {
			if _, err := t.regFromLiteral(*obj.lit, oidRegclass, obj.loc); err != nil {
				return expr{}, err
			}
		}
		for i := range c.args {
			if _, err := t.resolveUnknown(c.args[i]); err != nil {
				return expr{}, err
			}
		}
		p, err := t.argAs(c, len(c.args)-1, oidText)
		if err != nil {
			return p, err
		}
		return expr{sql: "fg_has_privilege(" + quoteString(kind) + ", " + p.sql + ")", typ: oidBool}, nil
	}
}

func fnHasRole(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 3); err != nil {
		return expr{}, err
	}
	role := c.args[len(c.args)-2]
	if role.lit == nil {
		return expr{}, t.errAt("0A000", c.fc.GetLocation(), "pg_has_role() needs a constant role name in flowgate")
	}
	// Roles are not granted to each other: a user is a member of itself only.
	v := "0"
	if *role.lit == t.env.CurrentUser {
		v = "1"
	}
	return expr{sql: v, typ: oidBool}, nil
}

func (t *translator) descriptionSQL(obj, classOID, sub string) (string, bool) {
	d := t.sys("pg_description")
	if d == "" {
		return "", false
	}
	sql := fmt.Sprintf("(SELECT dd.description FROM %s AS dd WHERE dd.objoid = %s AND dd.objsubid = %s", d, obj, sub)
	if classOID != "" {
		sql += " AND dd.classoid = " + classOID
	}
	return sql + " LIMIT 1)", true
}

func fnObjDescription(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 2); err != nil {
		return expr{}, err
	}
	a, err := t.oidArg(c, 0)
	if err != nil {
		return a, err
	}
	class := ""
	if len(c.args) == 2 {
		cat := c.args[1]
		if cat.lit == nil {
			return expr{}, t.errAt("0A000", c.fc.GetLocation(), "obj_description() needs a constant catalog name in flowgate")
		}
		r, err := t.regFromLiteral("pg_catalog."+*cat.lit, oidRegclass, cat.loc)
		if err != nil {
			return r, err
		}
		class = r.sql
	}
	sql, ok := t.descriptionSQL(a.sql, class, "0")
	if !ok {
		sql = "NULL"
	}
	return expr{sql: sql, typ: oidText}, nil
}

func fnColDescription(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 2); err != nil {
		return expr{}, err
	}
	a, err := t.oidArg(c, 0)
	if err != nil {
		return a, err
	}
	n, err := t.argAs(c, 1, oidInt4)
	if err != nil {
		return n, err
	}
	sql, ok := t.descriptionSQL(a.sql, "1259", n.sql)
	if !ok {
		sql = "NULL"
	}
	return expr{sql: sql, typ: oidText}, nil
}

func fnShobjDescription(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 2); err != nil {
		return expr{}, err
	}
	if _, err := t.oidArg(c, 0); err != nil {
		return expr{}, err
	}
	// No shared object carries a comment in flowgate.
	return expr{sql: "NULL", typ: oidText}, nil
}

func fnCurrentSchemas(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	if _, err := t.argAs(c, 0, oidBool); err != nil {
		return expr{}, err
	}
	var parts []string
	for _, s := range SearchPath {
		parts = append(parts, jsonString(s))
	}
	return expr{sql: quoteString("[" + strings.Join(parts, ",") + "]"), typ: oidNameArray}, nil
}

// arrayArg coerces argument i to an array type.
func (t *translator) arrayArg(c *call, i int) (expr, error) {
	a := c.args[i]
	var err error
	if a.typ == oidUnknown {
		if a, err = t.coerce(a, oidTextArray); err != nil {
			return a, err
		}
	}
	if !isArrayType(a.typ) {
		return a, t.noSuchFunc(c)
	}
	c.args[i] = a
	return a, nil
}

func fnArrayToString(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 3); err != nil {
		return expr{}, err
	}
	a, err := t.arrayArg(c, 0)
	if err != nil {
		return a, err
	}
	sep, err := t.argAs(c, 1, oidText)
	if err != nil {
		return sep, err
	}
	el := arrayElemText("ats.value", elemType(a.typ))
	where := " WHERE ats.value IS NOT NULL"
	if len(c.args) == 3 {
		null, err := t.argAs(c, 2, oidText)
		if err != nil {
			return null, err
		}
		el = "coalesce(" + el + ", " + null.sql + ")"
		where = " WHERE ats.value IS NOT NULL OR " + null.sql + " IS NOT NULL"
	}
	sql := fmt.Sprintf("(CASE WHEN %[1]s IS NULL OR %[2]s IS NULL THEN NULL ELSE coalesce((SELECT group_concat(%[3]s, %[2]s) FROM json_each(%[1]s) AS ats%[4]s), '') END)", a.sql, sep.sql, el, where)
	return expr{sql: sql, typ: oidText}, nil
}

func fnStringToArray(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 3); err != nil {
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
	if len(parts) == 2 {
		parts = append(parts, "NULL")
	}
	return expr{sql: "fg_string_to_array(" + strings.Join(parts, ", ") + ")", typ: oidTextArray}, nil
}

func fnArrayBound(which string) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 2, 2); err != nil {
			return expr{}, err
		}
		a, err := t.arrayArg(c, 0)
		if err != nil {
			return a, err
		}
		d, err := t.argAs(c, 1, oidInt4)
		if err != nil {
			return d, err
		}
		n := "json_array_length(" + a.sql + ")"
		lb := arrayLower(a.typ)
		v := n
		switch which {
		case "upper":
			v = fmt.Sprintf("(%s + %d)", n, lb-1)
		case "lower":
			v = strconv.Itoa(lb)
		}
		sql := fmt.Sprintf("(CASE WHEN %s = 1 AND %s > 0 THEN %s END)", d.sql, n, v)
		return expr{sql: sql, typ: oidInt4}, nil
	}
}

func fnCardinality(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.arrayArg(c, 0)
	if err != nil {
		return a, err
	}
	return expr{sql: "json_array_length(" + a.sql + ")", typ: oidInt4}, nil
}

func fnTextFunc(sqlite string) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 1, 1); err != nil {
			return expr{}, err
		}
		a, err := t.coerce(c.args[0], oidText)
		if err != nil {
			return a, err
		}
		return expr{sql: sqlite + "(" + t.toText(a) + ")", typ: oidText}, nil
	}
}

func fnFormat(t *translator, c *call) (expr, error) {
	if len(c.args) == 0 {
		return expr{}, t.noSuchFunc(c)
	}
	f, err := t.argAs(c, 0, oidText)
	if err != nil {
		return f, err
	}
	parts := []string{f.sql}
	for i := 1; i < len(c.args); i++ {
		a, err := t.coerce(c.args[i], oidText)
		if err != nil {
			return a, err
		}
		parts = append(parts, t.toText(a))
	}
	return expr{sql: "fg_format(" + strings.Join(parts, ", ") + ")", typ: oidText}, nil
}

func fnParseIdent(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 2); err != nil {
		return expr{}, err
	}
	a, err := t.argAs(c, 0, oidText)
	if err != nil {
		return a, err
	}
	return expr{sql: "fg_parse_ident(" + a.sql + ")", typ: oidTextArray}, nil
}

func fnJSONBuild(sqlite string, ty uint32) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if sqlite == "json_object" && len(c.args)%2 != 0 {
			return expr{}, t.errAt("22023", c.fc.GetLocation(), "argument list must have even number of elements")
		}
		var parts []string
		for i := range c.args {
			a, err := t.resolveUnknown(c.args[i])
			if err != nil {
				return a, err
			}
			if sqlite == "json_object" && i%2 == 0 {
				parts = append(parts, t.toText(a))
				continue
			}
			parts = append(parts, t.jsonValue(a))
		}
		return expr{sql: sqlite + "(" + strings.Join(parts, ", ") + ")", typ: ty}, nil
	}
}

func fnToRegclass(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.argAs(c, 0, oidText)
	if err != nil {
		return a, err
	}
	cls, ns := t.sys("pg_class"), t.sys("pg_namespace")
	if cls == "" || ns == "" {
		return expr{sql: "NULL", typ: oidRegclass}, nil
	}
	sql := fmt.Sprintf("(SELECT rc.oid FROM %[1]s AS rc JOIN %[2]s AS rn ON rn.oid = rc.relnamespace WHERE rn.nspname || char(31) || rc.relname = fg_qualname(%[3]s) OR (char(31) || rc.relname = fg_qualname(%[3]s) AND rn.nspname IN %[4]s) ORDER BY rn.nspname = %[5]s DESC LIMIT 1)",
		cls, ns, a.sql, searchPathSQL(), quoteString(SearchPath[0]))
	return expr{sql: sql, typ: oidRegclass}, nil
}

func fnTypeof(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.resolveUnknown(c.args[0])
	if err != nil {
		return a, err
	}
	return expr{sql: strconv.FormatUint(uint64(a.typ), 10), typ: oidRegtype}, nil
}

func fnNullText(min, max int) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, min, max); err != nil {
			return expr{}, err
		}
		// Describes constraints, indexes, triggers, rules, sequences or
		// partitions: flowgate's views have none, and PostgreSQL answers
		// NULL for an object that does not exist.
		return expr{sql: "NULL", typ: oidText}, nil
	}
}

// fnProcText describes a built-in function's result or arguments.
func fnProcText(which string) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 1, 1); err != nil {
			return expr{}, err
		}
		a, err := t.oidArg(c, 0)
		if err != nil {
			return a, err
		}
		var whens []string
		for _, p := range builtinProcs {
			var v string
			if which == "result" {
				v = FormatType(p.RetType, -1)
				if p.RetSet {
					v = "SETOF " + v
				}
			} else {
				var args []string
				for _, f := range strings.Fields(p.ArgTypes) {
					n, _ := strconv.ParseUint(f, 10, 32)
					args = append(args, FormatType(uint32(n), -1))
				}
				v = strings.Join(args, ", ")
			}
			whens = append(whens, fmt.Sprintf("WHEN %d THEN %s", p.OID, quoteString(v)))
		}
		return expr{sql: "(CASE " + a.sql + " " + strings.Join(whens, " ") + " END)", typ: oidText}, nil
	}
}

func fnZero(min, max int) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, min, max); err != nil {
			return expr{}, err
		}
		if _, err := t.oidArg(c, 0); err != nil {
			return expr{}, err
		}
		// Views and flowgate's catalog relations occupy no storage and
		// are never scanned through an index.
		return expr{sql: "(CASE WHEN " + c.args[0].sql + " IS NULL THEN NULL ELSE 0 END)", typ: oidInt8}, nil
	}
}

func fnSizePretty(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.argAs(c, 0, oidInt8)
	if err != nil {
		return a, err
	}
	return expr{sql: "fg_size_pretty(" + a.sql + ")", typ: oidText}, nil
}

// --- set-returning functions at the top of a select list ---

func fnUnnest(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.arrayArg(c, 0)
	if err != nil {
		return a, err
	}
	alias, err := t.tlistSRF(c.sc, a, c.fc.GetLocation(), c.name)
	if err != nil {
		return expr{}, err
	}
	return expr{sql: quoteIdent(alias) + ".value", typ: elemType(a.typ)}, nil
}

func fnGenerateSubscripts(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 3); err != nil {
		return expr{}, err
	}
	a, err := t.arrayArg(c, 0)
	if err != nil {
		return a, err
	}
	d := c.args[1]
	if d.sql != "1" {
		return expr{}, t.errAt("0A000", c.fc.GetLocation(), "flowgate supports generate_subscripts() on dimension 1 only")
	}
	if len(c.args) == 3 {
		return expr{}, t.errAt("0A000", c.fc.GetLocation(), "generate_subscripts(..., reverse) is not supported by flowgate")
	}
	alias, err := t.tlistSRF(c.sc, a, c.fc.GetLocation(), c.name)
	if err != nil {
		return expr{}, err
	}
	return expr{sql: fmt.Sprintf("(%s.key + %d)", quoteIdent(alias), arrayLower(a.typ)), typ: oidInt4}, nil
}

// fnExpandArray is information_schema._pg_expandarray(arr): one (x, n)
// record per element.
func fnExpandArray(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.arrayArg(c, 0)
	if err != nil {
		return a, err
	}
	alias, err := t.tlistSRF(c.sc, a, c.fc.GetLocation(), "_pg_expandarray")
	if err != nil {
		return expr{}, err
	}
	x, n := quoteIdent(alias)+".value", quoteIdent(alias)+".key + 1"
	return expr{sql: "json_object('x', " + x + ", 'n', " + n + ")", typ: oidRecord, name: "_pg_expandarray", strength: 2,
		fields: []recField{{name: "x", typ: elemType(a.typ), sql: x}, {name: "n", typ: oidInt4, sql: "(" + n + ")"}}}, nil
}

func fnTablespaceLocation(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	if _, err := t.oidArg(c, 0); err != nil {
		return expr{}, err
	}
	// Both tablespaces are built in, where PostgreSQL reports ''.
	return expr{sql: "(CASE WHEN " + c.args[0].sql + " IS NULL THEN NULL ELSE '' END)", typ: oidText}, nil
}

// fnDatabaseSize reports the catalog database file: it is the database.
func fnDatabaseSize(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.resolveUnknown(c.args[0])
	if err != nil {
		return a, err
	}
	return expr{sql: "(SELECT ps.page_size * pc.page_count FROM pragma_page_size() AS ps, pragma_page_count() AS pc)", typ: oidInt8}, nil
}

func fnArrayRemove(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 2, 2); err != nil {
		return expr{}, err
	}
	a, err := t.arrayArg(c, 0)
	if err != nil {
		return a, err
	}
	v, err := t.coerce(c.args[1], elemType(a.typ))
	if err != nil {
		return v, err
	}
	sql := fmt.Sprintf("(CASE WHEN %[1]s IS NULL THEN NULL ELSE (SELECT json_group_array(ar.value) FROM json_each(%[1]s) AS ar WHERE ar.value IS NOT %[2]s) END)", a.sql, v.sql)
	return expr{sql: sql, typ: a.typ}, nil
}

func fnCharToEncoding(t *translator, c *call) (expr, error) {
	if err := t.arity(c, 1, 1); err != nil {
		return expr{}, err
	}
	a, err := t.argAs(c, 0, oidText)
	if err != nil {
		return a, err
	}
	return expr{sql: "(CASE upper(" + a.sql + ") WHEN 'UTF8' THEN 6 WHEN 'SQL_ASCII' THEN 0 WHEN 'LATIN1' THEN 8 ELSE -1 END)", typ: oidInt4}, nil
}

// fnConstBoolArg answers a one-argument predicate that is the same for
// every object flowgate has (no publications, for one).
func fnConstBoolArg(v bool) funcImpl {
	return func(t *translator, c *call) (expr, error) {
		if err := t.arity(c, 1, 1); err != nil {
			return expr{}, err
		}
		if _, err := t.resolveUnknown(c.args[0]); err != nil {
			return expr{}, err
		}
		return expr{sql: "(CASE WHEN " + c.args[0].sql + " IS NULL THEN NULL ELSE " + boolSQL(v) + " END)", typ: oidBool}, nil
	}
}

func boolSQL(v bool) string {
	if v {
		return "1"
	}
	return "0"
}
