package parser

import "strconv"

// Parse functions of FEATURES.md section 3: table models.

func parseImportTables(p *parser) (Statement, error) {
	st := &ImportTables{}
	var err error
	st.Datasource, st.DatasourcePos, st.Schema, st.SchemaPos, st.Tables, st.TablePos, err = p.tablesFrom()
	if err != nil {
		return nil, err
	}
	return st, nil
}

func parseRefreshTables(p *parser) (Statement, error) {
	st := &RefreshTables{}
	var err error
	st.Datasource, st.DatasourcePos, st.Schema, st.SchemaPos, st.Tables, st.TablePos, err = p.tablesFrom()
	if err != nil {
		return nil, err
	}
	return st, nil
}

// tablesFrom parses FROM name [SCHEMA s] [(t1, ...)] of IMPORT/REFRESH TABLES.
func (p *parser) tablesFrom() (ds string, dsPos int, schema string, schemaPos int, tables []string, tablePos []int, err error) {
	if err = p.expectKeyword("from"); err != nil {
		return
	}
	if ds, dsPos, err = p.identifier("datasource name"); err != nil {
		return
	}
	if p.optionalKeyword("schema") {
		if schema, schemaPos, err = p.identifier("schema name"); err != nil {
			return
		}
	}
	if p.atOp("(") {
		tables, tablePos, err = p.identListPos("table name")
		return
	}
	if !p.atEnd() {
		hint := "expected SCHEMA name, (table, ...) or end of statement"
		if schema != "" {
			hint = "expected (table, ...) or end of statement"
		}
		err = p.errHere(hint)
	}
	return
}

func parseCreateTableModel(p *parser) (Statement, error) {
	st := &CreateTableModel{IfNotExists: p.optionalKeyword("if", "not", "exists")}
	var err error
	if st.Schema, st.Name, st.NamePos, err = p.schemaName("table name"); err != nil {
		return nil, err
	}
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	for {
		if p.atKeyword("primary") || p.atKeyword("constraint") {
			if p.optionalKeyword("constraint") {
				if _, _, err := p.identifier("constraint name"); err != nil {
					return nil, err
				}
			}
			t := p.peek()
			if st.PrimaryKey != nil {
				return nil, syntaxErrorAt(p.text, t, "PRIMARY KEY (...) is given more than once")
			}
			if err := p.expectKeyword("primary", "key"); err != nil {
				return nil, err
			}
			st.PrimaryKeyPos = t.pos
			if st.PrimaryKey, err = p.identList("column name"); err != nil {
				return nil, err
			}
		} else {
			if p.peek().kind != tkIdent {
				return nil, p.errHere("expected column name or PRIMARY KEY (column, ...)")
			}
			c, err := p.columnDef()
			if err != nil {
				return nil, err
			}
			st.Columns = append(st.Columns, c)
			if !p.atOp(",") && !p.atOp(")") {
				return nil, p.errHere("expected NOT NULL, NULL, DEFAULT, PRIMARY KEY, COMMENT, , or )")
			}
		}
		if p.optionalOp(",") {
			continue
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		break
	}
	seen := map[string]bool{}
	for !p.atEnd() {
		t := p.peek()
		switch {
		case p.atKeyword("case"):
			if err := p.once(seen, "CASE SENSITIVE", t); err != nil {
				return nil, err
			}
			if err := p.expectKeyword("case", "sensitive"); err != nil {
				return nil, err
			}
			st.CaseSensitive = true
		case p.atKeyword("title"):
			if err := p.once(seen, "TITLE", t); err != nil {
				return nil, err
			}
			p.advance()
			s, _, err := p.stringLiteral("title")
			if err != nil {
				return nil, err
			}
			st.Title = &s
		case p.atKeyword("comment"):
			if err := p.once(seen, "COMMENT", t); err != nil {
				return nil, err
			}
			p.advance()
			s, _, err := p.stringLiteral("comment")
			if err != nil {
				return nil, err
			}
			st.Comment = &s
		default:
			return nil, p.errHere("expected CASE SENSITIVE, TITLE 'title', COMMENT 'comment' or end of statement")
		}
	}
	return st, nil
}

// columnDef parses name type [NOT NULL | NULL] [DEFAULT expr] [PRIMARY KEY]
// [COMMENT 'c'], the constraints in any order.
func (p *parser) columnDef() (ColumnDef, error) {
	var c ColumnDef
	var err error
	if c.Name, c.NamePos, err = p.identifier("column name"); err != nil {
		return c, err
	}
	if c.Type, err = p.typeName(); err != nil {
		return c, err
	}
	for {
		t := p.peek()
		switch {
		case p.atKeyword("not", "null") || p.atKeyword("null"):
			if c.NotNull || c.Null {
				return c, syntaxErrorAt(p.text, t, "conflicting or repeated NULL/NOT NULL for column "+c.Name)
			}
			if p.optionalKeyword("not") {
				c.NotNull = true
			} else {
				c.Null = true
			}
			p.advance()
		case p.atKeyword("default"):
			if c.Default != nil {
				return c, syntaxErrorAt(p.text, t, "DEFAULT is given more than once for column "+c.Name)
			}
			p.advance()
			d, pos, err := p.defaultExpr()
			if err != nil {
				return c, err
			}
			c.Default, c.DefaultPos = &d, pos
		case p.atKeyword("primary"):
			if c.PrimaryKey {
				return c, syntaxErrorAt(p.text, t, "PRIMARY KEY is given more than once for column "+c.Name)
			}
			if err := p.expectKeyword("primary", "key"); err != nil {
				return c, err
			}
			c.PrimaryKey = true
		case p.atKeyword("comment"):
			if c.Comment != nil {
				return c, syntaxErrorAt(p.text, t, "COMMENT is given more than once for column "+c.Name)
			}
			p.advance()
			s, _, err := p.stringLiteral("column comment")
			if err != nil {
				return c, err
			}
			c.Comment = &s
		default:
			return c, nil
		}
	}
}

// defaultExpr takes the tokens of a DEFAULT expression up to the next column
// constraint keyword, ',' or ')' outside parentheses, and returns its source text.
func (p *parser) defaultExpr() (string, int, error) {
	first := p.peek()
	if first.kind == tkEOF || first.kind == tkOp && (first.val == "," || first.val == ")" || first.val == ";") {
		return "", 0, p.errHere("expected a DEFAULT expression")
	}
	depth := 0
	end := first.end
	for n := 0; ; n++ {
		t := p.peek()
		if t.kind == tkEOF || t.kind == tkOp && t.val == ";" {
			if depth > 0 {
				return "", 0, p.errHere("expected )")
			}
			break
		}
		if depth == 0 && n > 0 {
			if t.kind == tkOp && (t.val == "," || t.val == ")") {
				break
			}
			if p.atKeyword("not", "null") || p.atKeyword("null") || p.atKeyword("default") ||
				p.atKeyword("primary", "key") || p.atKeyword("comment") {
				break
			}
		}
		if t.kind == tkOp {
			switch t.val {
			case "(", "[":
				depth++
			case ")", "]":
				if depth == 0 {
					return "", 0, p.errHere("expected a DEFAULT expression")
				}
				depth--
			}
		}
		end = t.end
		p.advance()
	}
	return p.text[first.pos:end], first.pos, nil
}

// notTypeWords start column constraints, so a type can't be called that unquoted.
var notTypeWords = map[string]bool{"not": true, "null": true, "default": true, "primary": true, "comment": true, "constraint": true}

// typeName parses a column type: one or more words (double precision, character
// varying, timestamp with time zone, ...) or a qualified name, then optional (p[, s]),
// UNSIGNED and [] / ARRAY.
func (p *parser) typeName() (TypeName, error) {
	start := p.peek()
	if start.kind != tkIdent || !start.quoted && notTypeWords[start.val] {
		return TypeName{}, p.errHere("expected column type")
	}
	p.advance()
	tn := TypeName{Name: start.val, Pos: start.pos}
	timeLike := false
	if !start.quoted {
		switch start.val {
		case "double":
			if p.optionalKeyword("precision") {
				tn.Name = "double precision"
			}
		case "national":
			if p.atKeyword("character") || p.atKeyword("char") {
				tn.Name += " " + p.advance().val
				if p.optionalKeyword("varying") {
					tn.Name += " varying"
				}
			}
		case "character", "char", "nchar", "bit":
			if p.optionalKeyword("varying") {
				tn.Name += " varying"
			}
		case "time", "timestamp":
			timeLike = true
		}
	}
	if tn.Name == start.val {
		for p.atOp(".") && p.peekN(1).kind == tkIdent {
			p.advance()
			tn.Name += "." + p.advance().val
		}
	}
	if p.atOp("(") {
		err := p.list(func() error {
			t := p.peek()
			neg := false
			if t.kind == tkOp && t.val == "-" && p.peekN(1).kind == tkNumber && p.peekN(1).pos == t.end {
				p.advance()
				neg = true
			}
			n := p.peek()
			v, err := strconv.Atoi(n.val)
			if n.kind != tkNumber || err != nil {
				return syntaxErrorAt(p.text, n, "expected type modifier: a whole number")
			}
			p.advance()
			if neg {
				v = -v
			}
			tn.Mods = append(tn.Mods, v)
			return nil
		})
		if err != nil {
			return TypeName{}, err
		}
	}
	if timeLike {
		switch {
		case p.optionalKeyword("with", "time", "zone"):
			tn.Name += " with time zone"
		case p.optionalKeyword("without", "time", "zone"):
			tn.Name += " without time zone"
		case p.atKeyword("with") || p.atKeyword("without"):
			p.advance()
			return TypeName{}, p.errHere("expected TIME ZONE")
		}
	}
	tn.Unsigned = p.optionalKeyword("unsigned")
	for {
		if p.atOp("[") {
			p.advance()
			if p.peek().kind == tkNumber {
				p.advance()
			}
			if err := p.expectOp("]"); err != nil {
				return TypeName{}, err
			}
			tn.Array = true
			continue
		}
		if !tn.Array && p.optionalKeyword("array") {
			tn.Array = true
			if p.atOp("[") {
				continue
			}
		}
		break
	}
	tn.Text = p.text[start.pos:p.toks[p.i-1].end]
	return tn, nil
}

func parseAlterTableModel(p *parser) (Statement, error) {
	st := &AlterTableModel{}
	var err error
	if st.Schema, st.Name, st.NamePos, err = p.schemaName("table name"); err != nil {
		return nil, err
	}
	column := func() error {
		p.optionalKeyword("column")
		st.ColumnName, st.ColumnPos, err = p.identifier("column name")
		return err
	}
	position := func(required bool) error {
		switch {
		case p.optionalKeyword("first"):
			st.First = true
		case p.optionalKeyword("after"):
			st.After, st.AfterPos, err = p.identifier("column name")
			return err
		case required:
			return p.errHere("expected AFTER column or FIRST")
		}
		return nil
	}
	switch {
	case p.optionalKeyword("add"):
		st.Action = AlterAddColumn
		p.optionalKeyword("column")
		if st.Column, err = p.columnDef(); err != nil {
			return nil, err
		}
		if err := position(false); err != nil {
			return nil, err
		}
		if !p.atEnd() {
			return nil, p.errHere("expected NOT NULL, NULL, DEFAULT, PRIMARY KEY, COMMENT, AFTER column, FIRST or end of statement")
		}
	case p.optionalKeyword("alter"):
		st.Action = AlterColumnType
		if err := column(); err != nil {
			return nil, err
		}
		if p.optionalKeyword("set") {
			if err := p.expectKeyword("data", "type"); err != nil {
				return nil, err
			}
		} else if !p.optionalKeyword("type") {
			return nil, p.errHere("expected TYPE or SET DATA TYPE")
		}
		if st.NewType, err = p.typeName(); err != nil {
			return nil, err
		}
	case p.optionalKeyword("drop"):
		st.Action = AlterDropColumn
		if err := column(); err != nil {
			return nil, err
		}
	case p.optionalKeyword("rename"):
		st.Action = AlterRenameColumn
		if err := column(); err != nil {
			return nil, err
		}
		if err := p.expectKeyword("to"); err != nil {
			return nil, err
		}
		if st.NewName, st.NewNamePos, err = p.identifier("new column name"); err != nil {
			return nil, err
		}
	case p.optionalKeyword("move"):
		st.Action = AlterMoveColumn
		if err := column(); err != nil {
			return nil, err
		}
		if err := position(true); err != nil {
			return nil, err
		}
	case p.atKeyword("comment") || p.atKeyword("set", "comment"):
		st.Action = AlterSetComment
		p.optionalKeyword("set")
		p.advance()
		s, _, err := p.stringLiteral("comment")
		if err != nil {
			return nil, err
		}
		st.Text2 = &s
	case p.atKeyword("title") || p.atKeyword("set", "title"):
		st.Action = AlterSetTitle
		p.optionalKeyword("set")
		p.advance()
		s, _, err := p.stringLiteral("title")
		if err != nil {
			return nil, err
		}
		st.Text2 = &s
	default:
		return nil, p.errHere("expected ADD COLUMN, ALTER COLUMN, DROP COLUMN, RENAME COLUMN, MOVE COLUMN, COMMENT or TITLE")
	}
	return st, nil
}

func parseDropTableModel(p *parser) (Statement, error) {
	st := &DropTableModel{IfExists: p.optionalKeyword("if", "exists")}
	var err error
	if st.Schema, st.Name, st.NamePos, err = p.schemaName("table name"); err != nil {
		return nil, err
	}
	return st, nil
}

func parseAssociateTable(p *parser) (Statement, error) {
	st := &AssociateTable{}
	var err error
	if st.Schema, st.Name, st.NamePos, st.Datasource, st.DatasourcePos, err = p.tableAndDatasource("with"); err != nil {
		return nil, err
	}
	return st, nil
}

func parseDissociateTable(p *parser) (Statement, error) {
	st := &DissociateTable{}
	var err error
	if st.Schema, st.Name, st.NamePos, st.Datasource, st.DatasourcePos, err = p.tableAndDatasource("from"); err != nil {
		return nil, err
	}
	return st, nil
}

// tableAndDatasource parses [schema.]t <word> datasource.
func (p *parser) tableAndDatasource(word string) (schema, name string, pos int, ds string, dsPos int, err error) {
	p.optionalModelWord(word)
	if schema, name, pos, err = p.schemaName("table name"); err != nil {
		return
	}
	if err = p.expectKeyword(word); err != nil {
		return
	}
	ds, dsPos, err = p.identifier("datasource name")
	return
}

// optionalModelWord skips MODEL in ASSOCIATE TABLE MODEL t, unless "model" is the
// table's name (followed by . or by next).
func (p *parser) optionalModelWord(next string) {
	if p.atKeyword("model") && p.peekN(1).kind == tkIdent && !isKeyword(p.peekN(1), next) {
		p.advance()
	}
}
