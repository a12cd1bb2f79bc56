package parser

// Files and object storage as sync-job ends (FEATURES.md section 5b):
//
//	FROM src.t TO store OBJECT 'orders/${date}/x' ...
//	FROM store OBJECT 'landing/orders/' FORMAT csv TO dst.t ...

// ObjectRef is store OBJECT 'name': an s3 or file datasource and an object
// name (a target, with ${variables}) or key prefix (a source).
type ObjectRef struct {
	Datasource string
	Pos        int
	Object     string
	ObjectPos  int // first character inside the quotes
}

// atObjectRef reports whether name OBJECT is next.
func (p *parser) atObjectRef() bool {
	return p.peek().kind == tkIdent && isKeyword(p.peekN(1), "object")
}

// objectRef parses store OBJECT 'name'.
func (p *parser) objectRef(what string) (*ObjectRef, error) {
	r := &ObjectRef{}
	var err error
	if r.Datasource, r.Pos, err = p.identifier(what); err != nil {
		return nil, err
	}
	if err := p.expectKeyword("object"); err != nil {
		return nil, err
	}
	if p.peek().kind != tkString {
		return nil, p.errHere("expected the object name or prefix as a string literal, e.g. OBJECT 'orders/${date}/orders_${startTime}'")
	}
	if r.Object, r.ObjectPos, err = p.stringContent("object name"); err != nil {
		return nil, err
	}
	return r, nil
}

// tableOrObjectEnds parses the FROM ... TO ... of a table job: each end is
// src.[schema.]table or store OBJECT '...' (not both objects).
func (p *parser) tableOrObjectEnds(st *CreateSyncJob) error {
	var err error
	if p.atObjectRef() {
		if st.FromObject, err = p.objectRef("source datasource name"); err != nil {
			return err
		}
		st.From = TableRef{Datasource: st.FromObject.Datasource, Pos: st.FromObject.Pos}
		if p.atKeyword("format") {
			p.advance()
			if err := p.format(st); err != nil {
				return err
			}
		}
	} else if st.From, err = p.tableRef(); err != nil {
		return err
	}
	if err := p.expectKeyword("to"); err != nil {
		return err
	}
	if p.atDatabaseWord() {
		return p.errHere("expected " + tableRefWhat + ": a job FROM a table copies to a table (or use FROM DATABASE ... TO DATABASE ...)")
	}
	if p.atObjectRef() {
		if st.FromObject != nil {
			return p.errHere("expected " + tableRefWhat + ": a job FROM an OBJECT loads a table")
		}
		if st.ToObject, err = p.objectRef("target datasource name"); err != nil {
			return err
		}
		st.To = TableRef{Datasource: st.ToObject.Datasource, Pos: st.ToObject.Pos}
		return nil
	}
	st.To, err = p.tableRef()
	return err
}

var objectFormats = map[string]bool{"csv": true, "txt": true, "parquet": true}

// format parses what follows FORMAT.
func (p *parser) format(st *CreateSyncJob) error {
	t := p.peek()
	if st.Format != "" {
		return syntaxErrorAt(p.text, p.toks[p.i-1], "FORMAT is given more than once")
	}
	v := t.val
	if t.kind != tkString && (t.kind != tkIdent || t.quoted) {
		v = ""
	}
	if !objectFormats[v] {
		return p.errHere("expected CSV, TXT or PARQUET")
	}
	p.advance()
	st.Format, st.FormatPos = v, t.pos
	return nil
}

// formatClause is FORMAT csv|txt|parquet among the clauses after TO.
func (p *parser) formatClause(st *CreateSyncJob) clause {
	hint := ""
	if st.FromObject != nil && st.Format == "" {
		hint = "FORMAT"
	}
	return clause{"FORMAT", hint, []string{"format"}, func(token) error { return p.format(st) }}
}
