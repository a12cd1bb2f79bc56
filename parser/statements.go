package parser

// Parse functions of extension statements. Each starts after the rule's leading
// keywords; Parse checks the end of input afterwards.

const typeHint = "expected TYPE postgres|mysql|sqlite|s3|file"

func parseCreateDatasource(p *parser) (Statement, error) {
	st := &CreateDatasource{}
	st.IfNotExists = p.optionalKeyword("if", "not", "exists")
	var err error
	if st.Name, st.NamePos, err = p.identifier("datasource name"); err != nil {
		return nil, err
	}
	if !p.optionalKeyword("type") {
		return nil, p.errHere(typeHint)
	}
	if st.Type, st.TypePos, err = p.identifier("datasource type postgres|mysql|sqlite|s3|file"); err != nil {
		return nil, err
	}
	if err := p.expectKeyword("options"); err != nil {
		return nil, err
	}
	if st.Options, err = p.optionList(); err != nil {
		return nil, err
	}
	if p.optionalKeyword("comment") {
		c, _, err := p.stringLiteral("comment")
		if err != nil {
			return nil, err
		}
		st.Comment = &c
	}
	return st, nil
}

func parseAlterDatasource(p *parser) (Statement, error) {
	name, pos, err := p.identifier("datasource name")
	if err != nil {
		return nil, err
	}
	switch {
	case p.optionalKeyword("set"):
		if err := p.expectKeyword("options"); err != nil {
			return nil, err
		}
		opts, err := p.optionList()
		if err != nil {
			return nil, err
		}
		return &AlterDatasourceOptions{Name: name, NamePos: pos, Options: opts}, nil
	case p.optionalKeyword("rename"):
		if err := p.expectKeyword("to"); err != nil {
			return nil, err
		}
		nn, npos, err := p.identifier("new datasource name")
		if err != nil {
			return nil, err
		}
		return &AlterDatasourceRename{Name: name, NamePos: pos, NewName: nn, NewNamePos: npos}, nil
	case p.optionalKeyword("comment"):
		c, _, err := p.stringLiteral("comment")
		if err != nil {
			return nil, err
		}
		return &AlterDatasourceComment{Name: name, NamePos: pos, Comment: c}, nil
	}
	return nil, p.errHere("expected SET OPTIONS, RENAME TO or COMMENT")
}

func parseDropDatasource(p *parser) (Statement, error) {
	st := &DropDatasource{IfExists: p.optionalKeyword("if", "exists")}
	var err error
	if st.Name, st.NamePos, err = p.identifier("datasource name"); err != nil {
		return nil, err
	}
	st.Purge = p.optionalKeyword("purge")
	return st, nil
}

func parseRestoreDatasource(p *parser) (Statement, error) {
	name, pos, err := p.identifier("datasource name")
	if err != nil {
		return nil, err
	}
	return &RestoreDatasource{Name: name, NamePos: pos}, nil
}

func parseTestDatasource(p *parser) (Statement, error) {
	name, pos, err := p.identifier("datasource name")
	if err != nil {
		return nil, err
	}
	return &TestDatasource{Name: name, NamePos: pos}, nil
}

// userItems parses PASSWORD 'p' and ROLE r in any order, each at most once.
func (p *parser) userItems() (password, role *string, rolePos int, err error) {
	rolePos = -1
	p.optionalKeyword("with") // PostgreSQL's CREATE/ALTER USER name WITH PASSWORD
	for {
		switch {
		case password == nil && p.optionalKeyword("password"):
			pw, _, err := p.stringLiteral("password")
			if err != nil {
				return nil, nil, 0, err
			}
			password = &pw
		case role == nil && p.optionalKeyword("role"):
			t := p.peek()
			if t.kind != tkIdent && t.kind != tkString {
				return nil, nil, 0, p.errHere("expected ROLE admin|manage|readonly")
			}
			p.advance()
			r := t.val
			if t.kind == tkString {
				r = foldIdent(r)
			}
			role, rolePos = &r, t.pos
		default:
			return password, role, rolePos, nil
		}
	}
}

func parseCreateUser(p *parser) (Statement, error) {
	name, pos, err := p.identifier("user name")
	if err != nil {
		return nil, err
	}
	pw, role, rolePos, err := p.userItems()
	if err != nil {
		return nil, err
	}
	if pw == nil {
		return nil, p.errHere("expected PASSWORD 'password'")
	}
	st := &CreateUser{Name: name, NamePos: pos, Password: *pw, Role: DefaultRole, RolePos: rolePos}
	if role != nil {
		st.Role = *role
	}
	return st, nil
}

func parseAlterUser(p *parser) (Statement, error) {
	name, pos, err := p.identifier("user name")
	if err != nil {
		return nil, err
	}
	pw, role, rolePos, err := p.userItems()
	if err != nil {
		return nil, err
	}
	if pw == nil && role == nil {
		return nil, p.errHere("expected PASSWORD 'password' or ROLE admin|manage|readonly")
	}
	return &AlterUser{Name: name, NamePos: pos, Password: pw, Role: role, RolePos: rolePos}, nil
}

func parseDropUser(p *parser) (Statement, error) {
	st := &DropUser{IfExists: p.optionalKeyword("if", "exists")}
	var err error
	if st.Name, st.NamePos, err = p.identifier("user name"); err != nil {
		return nil, err
	}
	return st, nil
}
