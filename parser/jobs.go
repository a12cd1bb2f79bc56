package parser

import (
	"strings"
)

// Parse functions of FEATURES.md sections 4 (DDL tasks) and 5 (sync jobs, runs,
// clean-up).

// clause is one optional clause of a statement whose clauses come in any order.
type clause struct {
	key   string   // names the clause in "given more than once" errors
	hint  string   // how "expected ..." hints spell it; "" leaves it out
	words []string // leading keywords, consumed before parse runs
	parse func(at token) error
}

// clauses parses cs in any order, each at most once, up to the end of the
// statement.
func (p *parser) clauses(cs []clause) error {
	seen := map[string]bool{}
	for !p.atEnd() {
		var c *clause
		for k := range cs {
			if p.atKeyword(cs[k].words...) {
				c = &cs[k]
				break
			}
		}
		if c == nil {
			var names []string
			for _, c := range cs {
				if !seen[c.key] && c.hint != "" {
					names = append(names, c.hint)
				}
			}
			return p.errHere("expected " + strings.Join(names, ", ") + " or end of statement")
		}
		at := p.peek()
		if err := p.once(seen, c.key, at); err != nil {
			return err
		}
		p.i += len(c.words)
		if err := c.parse(at); err != nil {
			return err
		}
	}
	return nil
}

// Section 4.

func parseCreateDDLTask(p *parser) (Statement, error) {
	st := &CreateDDLTask{IfNotExists: p.optionalKeyword("if", "not", "exists")}
	var err error
	if st.Name, st.NamePos, err = p.identifier("DDL task name"); err != nil {
		return nil, err
	}
	if err := p.expectKeyword("from"); err != nil {
		return nil, err
	}
	if st.SourceDS, st.SourceDSPos, err = p.identifier("source datasource name"); err != nil {
		return nil, err
	}
	if p.optionalKeyword("schema") {
		if st.SourceSchema, st.SourceSchemaPos, err = p.identifier("schema name"); err != nil {
			return nil, err
		}
	}
	if !p.atKeyword("to") {
		if st.SourceSchema == "" {
			return nil, p.errHere("expected SCHEMA name or TO")
		}
		return nil, p.errHere("expected TO")
	}
	p.advance()
	if st.TargetDS, st.TargetDSPos, err = p.identifier("target datasource name"); err != nil {
		return nil, err
	}
	if p.optionalKeyword("schema") {
		if st.TargetSchema, st.TargetSchemaPos, err = p.identifier("schema name"); err != nil {
			return nil, err
		}
	}
	cs := []clause{
		{"TABLES", "TABLES (...)", []string{"tables"}, func(token) (err error) {
			st.Tables, st.TablePos, err = p.identListPos("table name")
			return err
		}},
		{"EXCLUDE", "EXCLUDE (...)", []string{"exclude"}, func(token) (err error) {
			st.Exclude, st.ExcludePos, err = p.identListPos("table name")
			return err
		}},
		{"WITH", "WITH (...)", []string{"with"}, func(token) (err error) {
			st.With, err = p.withList()
			return err
		}},
	}
	if err := p.clauses(cs); err != nil {
		return nil, err
	}
	return st, nil
}

func parseRunDDLTask(p *parser) (Statement, error) {
	name, pos, err := p.identifier("DDL task name")
	if err != nil {
		return nil, err
	}
	return &RunDDLTask{Name: name, NamePos: pos}, nil
}

func parseAlterDDLTask(p *parser) (Statement, error) {
	name, pos, err := p.identifier("DDL task name")
	if err != nil {
		return nil, err
	}
	if !p.optionalKeyword("set") {
		return nil, p.errHere("expected SET (setting = value, ...)")
	}
	with, err := p.withList()
	if err != nil {
		return nil, err
	}
	return &AlterDDLTask{Name: name, NamePos: pos, With: with}, nil
}

func parseDropDDLTask(p *parser) (Statement, error) {
	st := &DropDDLTask{IfExists: p.optionalKeyword("if", "exists")}
	var err error
	if st.Name, st.NamePos, err = p.identifier("DDL task name"); err != nil {
		return nil, err
	}
	return st, nil
}

// Section 5.

// atDatabaseWord reports whether DATABASE is next as a keyword (not a datasource
// called "database" in database.table).
func (p *parser) atDatabaseWord() bool {
	return p.atKeyword("database") && !(p.peekN(1).kind == tkOp && p.peekN(1).val == ".")
}

const tableRefWhat = "datasource.[schema.]table"

// tableRef parses src.table or src.schema.table.
func (p *parser) tableRef() (TableRef, error) {
	var r TableRef
	var names []string
	var pos []int
	for {
		n, at, err := p.identifier(tableRefWhat)
		if err != nil {
			return r, err
		}
		names, pos = append(names, n), append(pos, at)
		if len(names) == 3 || !p.atOp(".") {
			break
		}
		p.advance()
	}
	switch len(names) {
	case 1:
		return r, p.errHere("expected . and a table name: " + tableRefWhat)
	case 2:
		r = TableRef{Datasource: names[0], Table: names[1], Pos: pos[0], TablePos: pos[1]}
	default:
		r = TableRef{Datasource: names[0], Schema: names[1], Table: names[2], Pos: pos[0], SchemaPos: pos[1], TablePos: pos[2]}
	}
	if p.atOp(".") {
		return r, p.errHere("expected " + tableRefWhat + " with at most 3 parts")
	}
	return r, nil
}

// databaseRef parses src [SCHEMA s] after DATABASE.
func (p *parser) databaseRef(what string) (TableRef, error) {
	var r TableRef
	var err error
	if r.Datasource, r.Pos, err = p.identifier(what); err != nil {
		return r, err
	}
	if p.optionalKeyword("schema") {
		if r.Schema, r.SchemaPos, err = p.identifier("schema name"); err != nil {
			return r, err
		}
	}
	return r, nil
}

// mapList parses ( a [AS x], ... ).
func (p *parser) mapList(what string) ([]ColumnMap, error) {
	var ms []ColumnMap
	err := p.list(func() error {
		n, at, err := p.identifier(what)
		if err != nil {
			return err
		}
		m := ColumnMap{Source: n, Target: n, Pos: at, TargetPos: at}
		if p.optionalKeyword("as") {
			if m.Target, m.TargetPos, err = p.identifier("target " + what); err != nil {
				return err
			}
		}
		ms = append(ms, m)
		return nil
	})
	return ms, err
}

// schedule parses what follows SCHEDULE.
func (p *parser) schedule() (*Schedule, error) {
	t := p.peek()
	s := &Schedule{Pos: t.pos}
	var err error
	switch {
	case p.optionalKeyword("once"):
		s.Kind = ScheduleOnce
	case p.optionalKeyword("none"):
		s.Kind = ScheduleNone
	case p.optionalKeyword("cron"):
		s.Kind = ScheduleCron
		if s.Expr, s.ExprPos, err = p.stringContent("cron expression"); err != nil {
			return nil, err
		}
	case p.optionalKeyword("every"):
		s.Kind = ScheduleEvery
		if n := p.peek(); n.kind == tkNumber {
			// EVERY 30 SECONDS, unquoted.
			p.advance()
			u, _, err := p.identifier("time unit (seconds, minutes, hours, days)")
			if err != nil {
				return nil, err
			}
			s.Expr, s.ExprPos = n.val+" "+u, n.pos
			break
		}
		if s.Expr, s.ExprPos, err = p.stringContent("interval such as '30 seconds'"); err != nil {
			return nil, err
		}
	default:
		return nil, p.errHere("expected ONCE, CRON 'expression', EVERY 'n seconds' or NONE")
	}
	return s, nil
}

var lastUnits = map[string]string{"day": "days", "days": "days", "month": "months", "months": "months", "year": "years", "years": "years"}

// whereClause parses what follows WHERE: 'expr' or LAST n DAYS|MONTHS|YEARS ON col.
func (p *parser) whereClause(where **string, wherePos *int, last **LastWindow) error {
	if p.optionalKeyword("last") {
		n, npos, err := p.positiveInt("number of days, months or years", 31)
		if err != nil {
			return err
		}
		t := p.peek()
		unit, ok := lastUnits[t.val]
		if t.kind != tkIdent || t.quoted || !ok {
			return p.errHere("expected DAYS, MONTHS or YEARS")
		}
		p.advance()
		if err := p.expectKeyword("on"); err != nil {
			return err
		}
		col, cpos, err := p.identifier("column name")
		if err != nil {
			return err
		}
		*last = &LastWindow{N: int(n), Unit: unit, Column: col, NPos: npos, ColumnPos: cpos}
		return nil
	}
	if p.peek().kind != tkString {
		return p.errHere("expected 'expression' as a string literal or LAST n DAYS|MONTHS|YEARS ON column")
	}
	s, pos, err := p.stringContent("expression")
	if err != nil {
		return err
	}
	*where, *wherePos = &s, pos
	return nil
}

var syncModes = map[string]bool{"batch": true, "scan": true, "cdc": true}

func parseCreateSyncJob(p *parser) (Statement, error) {
	st := &CreateSyncJob{IfNotExists: p.optionalKeyword("if", "not", "exists")}
	var err error
	if st.Name, st.NamePos, err = p.identifier("sync job name"); err != nil {
		return nil, err
	}
	if err := p.expectKeyword("from"); err != nil {
		return nil, err
	}
	if p.peek().kind == tkIdent && isKeyword(p.peekN(1), "topics") {
		// FROM bus TOPICS ('a', ...) TO DATABASE dst [SCHEMA s]
		st.JobKind = "database"
		if st.From.Datasource, st.From.Pos, err = p.identifier("source datasource name"); err != nil {
			return nil, err
		}
		p.advance()
		if st.Topics, st.TopicsPos, err = p.stringList("topic name"); err != nil {
			return nil, err
		}
		if err := p.expectKeyword("to"); err != nil {
			return nil, err
		}
		if !p.atDatabaseWord() {
			return nil, p.errHere("expected DATABASE: a job FROM TOPICS writes to TO DATABASE dst [SCHEMA s]")
		}
		p.advance()
		if st.To, err = p.databaseRef("target datasource name"); err != nil {
			return nil, err
		}
	} else if p.atDatabaseWord() {
		st.JobKind = "database"
		p.advance()
		if st.From, err = p.databaseRef("source datasource name"); err != nil {
			return nil, err
		}
		if !p.atKeyword("to") {
			if st.From.Schema == "" {
				return nil, p.errHere("expected SCHEMA name or TO DATABASE")
			}
			return nil, p.errHere("expected TO DATABASE")
		}
		p.advance()
		if !p.atDatabaseWord() {
			return nil, p.errHere("expected DATABASE: a FROM DATABASE job copies to TO DATABASE dst [SCHEMA s]")
		}
		p.advance()
		if st.To, err = p.databaseRef("target datasource name"); err != nil {
			return nil, err
		}
	} else {
		st.JobKind = "table"
		if err := p.tableOrObjectEnds(st); err != nil {
			return nil, err
		}
	}
	table := st.JobKind == "table"
	onlyFor := func(hint string) func(at token) error {
		return func(at token) error { return syntaxErrorAt(p.text, at, hint) }
	}
	cs := []clause{
		{"COLUMNS", "", []string{"columns"}, func(token) (err error) {
			st.Columns, err = p.mapList("column name")
			return err
		}},
		{"TABLES", "TABLES (...)", []string{"tables"}, func(token) (err error) {
			st.Tables, err = p.mapList("table name")
			return err
		}},
		{"EXCLUDE", "EXCLUDE (...)", []string{"exclude"}, func(token) (err error) {
			st.Exclude, st.ExcludePos, err = p.identListPos("table name")
			return err
		}},
		{"MODE", "MODE", []string{"mode"}, func(token) error {
			t := p.peek()
			if t.kind != tkIdent || t.quoted || !syncModes[t.val] {
				return p.errHere("expected BATCH, SCAN or CDC")
			}
			p.advance()
			st.Mode, st.ModePos = t.val, t.pos
			return nil
		}},
		{"INCREMENTAL ON", "INCREMENTAL ON", []string{"incremental"}, func(token) (err error) {
			if err := p.expectKeyword("on"); err != nil {
				return err
			}
			st.IncrementalOn, st.IncrementalOnPos, err = p.identifier("column name")
			return err
		}},
		{"WHERE", "WHERE", []string{"where"}, func(token) error {
			return p.whereClause(&st.Where, &st.WherePos, &st.WhereLast)
		}},
		{"TARGET WHERE", "TARGET WHERE", []string{"target"}, func(token) (err error) {
			if err := p.expectKeyword("where"); err != nil {
				return err
			}
			if p.peek().kind != tkString {
				return p.errHere("expected 'expression' as a string literal")
			}
			s, pos, err := p.stringContent("expression")
			st.TargetWhere, st.TargetWherePos = &s, pos
			return err
		}},
		{"SCHEDULE", "SCHEDULE", []string{"schedule"}, func(token) (err error) {
			st.Schedule, err = p.schedule()
			if err == nil && st.Schedule.Kind == ScheduleNone {
				st.Schedule = nil // same as no SCHEDULE clause
			}
			return err
		}},
		{"WITH", "WITH (...)", []string{"with"}, func(token) (err error) {
			st.With, err = p.withList()
			return err
		}},
	}
	if table {
		cs[0].hint = "COLUMNS (...)"
		cs[1].hint, cs[1].parse = "", onlyFor("TABLES (...) is for FROM DATABASE jobs; a table job maps columns with COLUMNS (...)")
		cs[2].hint, cs[2].parse = "", onlyFor("EXCLUDE (...) is for FROM DATABASE jobs")
	} else {
		cs[0].parse = onlyFor("COLUMNS (...) is for table jobs; a FROM DATABASE job takes TABLES (...) and EXCLUDE (...)")
	}
	cs = append(cs, p.formatClause(st))
	if err := p.clauses(cs); err != nil {
		return nil, err
	}
	if st.Mode == "" {
		return nil, p.errHere("expected MODE BATCH, SCAN or CDC")
	}
	return st, nil
}

func parseAlterSyncJob(p *parser) (Statement, error) {
	st := &AlterSyncJob{}
	var err error
	if st.Name, st.NamePos, err = p.identifier("sync job name"); err != nil {
		return nil, err
	}
	schedule := func(token) (err error) {
		st.Schedule, err = p.schedule()
		return err
	}
	cs := []clause{
		{"SCHEDULE", "", []string{"set", "schedule"}, schedule},
		{"TOPICS", "SET TOPICS (...)", []string{"set", "topics"}, func(token) (err error) {
			st.Topics, st.TopicsPos, err = p.stringList("topic name")
			return err
		}},
		{"SET", "SET (...)", []string{"set"}, func(token) (err error) {
			st.With, err = p.withList()
			return err
		}},
		{"SCHEDULE", "SCHEDULE", []string{"schedule"}, schedule},
	}
	if p.atEnd() {
		return nil, p.errHere("expected SET (setting = value, ...), SET TOPICS (...) or SCHEDULE")
	}
	if err := p.clauses(cs); err != nil {
		return nil, err
	}
	return st, nil
}

func parseDropSyncJob(p *parser) (Statement, error) {
	st := &DropSyncJob{IfExists: p.optionalKeyword("if", "exists")}
	var err error
	if st.Name, st.NamePos, err = p.identifier("sync job name"); err != nil {
		return nil, err
	}
	return st, nil
}

func parseRunSyncJob(p *parser) (Statement, error) {
	name, pos, err := p.identifier("sync job name")
	if err != nil {
		return nil, err
	}
	st := &RunSyncJob{Name: name, NamePos: pos, Wait: p.optionalKeyword("wait")}
	if p.optionalKeyword("with") {
		if st.With, err = p.withList(); err != nil {
			return nil, err
		}
		if !st.Wait {
			st.Wait = p.optionalKeyword("wait")
		}
	}
	return st, nil
}

func parseStopSyncJob(p *parser) (Statement, error) {
	name, pos, err := p.identifier("sync job name")
	if err != nil {
		return nil, err
	}
	return &StopSyncJob{Name: name, NamePos: pos}, nil
}

func parseRestartSyncJob(p *parser) (Statement, error) {
	name, pos, err := p.identifier("sync job name")
	if err != nil {
		return nil, err
	}
	st := &RestartSyncJob{Name: name, NamePos: pos}
	if p.optionalKeyword("from") {
		if err := p.expectKeyword("snapshot"); err != nil {
			return nil, err
		}
		st.FromSnapshot = true
	}
	return st, nil
}

func parseResetSyncJob(p *parser) (Statement, error) {
	name, pos, err := p.identifier("sync job name")
	if err != nil {
		return nil, err
	}
	if err := p.expectKeyword("position", "to", "timestamp"); err != nil {
		return nil, err
	}
	st := &ResetSyncJob{Name: name, NamePos: pos}
	if st.Timestamp, st.TimestampPos, err = p.stringContent("timestamp such as '2024-05-01 00:00:00+00'"); err != nil {
		return nil, err
	}
	return st, nil
}

// stringList parses ( 'a', 'b', ... ) with each literal's content position.
func (p *parser) stringList(what string) ([]string, []int, error) {
	var vals []string
	var pos []int
	err := p.list(func() error {
		v, at, err := p.stringContent(what)
		if err != nil {
			return err
		}
		if v == "" {
			return syntaxErrorAt(p.text, p.toks[p.i-1], "expected a non-empty "+what)
		}
		vals, pos = append(vals, v), append(pos, at)
		return nil
	})
	return vals, pos, err
}

func parsePauseSyncJob(p *parser) (Statement, error) {
	name, pos, err := p.identifier("sync job name")
	if err != nil {
		return nil, err
	}
	return &PauseSyncJob{Name: name, NamePos: pos}, nil
}

func parseResumeSyncJob(p *parser) (Statement, error) {
	name, pos, err := p.identifier("sync job name")
	if err != nil {
		return nil, err
	}
	return &ResumeSyncJob{Name: name, NamePos: pos}, nil
}

// runID reads a run id: a string literal (a number is accepted too).
func (p *parser) runID() (string, int, error) {
	t := p.peek()
	if t.kind == tkNumber {
		p.advance()
		return t.val, t.pos, nil
	}
	return p.stringLiteral("run id")
}

func parseRetryRun(p *parser) (Statement, error) {
	st := &RetryRun{}
	var err error
	if st.RunID, st.RunIDPos, err = p.runID(); err != nil {
		return nil, err
	}
	if p.optionalKeyword("stage") {
		t := p.peek()
		var s string
		switch t.kind {
		case tkString:
			s = t.val
		case tkIdent:
			s = t.val
			if !t.quoted {
				s = p.text[t.pos:t.end] // as written: STAGE ImportTable
			}
		default:
			return nil, p.errHere("expected stage name such as 'ImportTable'")
		}
		p.advance()
		st.Stage, st.StagePos = &s, t.pos
	}
	return st, nil
}

func parseCleanSourceData(p *parser) (Statement, error) {
	st := &CleanSourceData{}
	var err error
	if err := p.expectKeyword("for", "run"); err != nil {
		return nil, err
	}
	if st.RunID, st.RunIDPos, err = p.runID(); err != nil {
		return nil, err
	}
	cs := []clause{
		{"WHERE", "WHERE 'expression'", []string{"where"}, func(token) error {
			if p.peek().kind != tkString {
				return p.errHere("expected 'expression' as a string literal")
			}
			s, pos, err := p.stringContent("expression")
			st.Where, st.WherePos = &s, pos
			return err
		}},
		{"BATCH", "BATCH n", []string{"batch"}, func(token) (err error) {
			st.Batch, st.BatchPos, err = p.positiveInt("batch size", 64)
			return err
		}},
		{"FORCE", "FORCE", []string{"force"}, func(token) error {
			st.Force = true
			return nil
		}},
	}
	if err := p.clauses(cs); err != nil {
		return nil, err
	}
	return st, nil
}

func parseCleanExportFiles(p *parser) (Statement, error) {
	st := &CleanExportFiles{}
	var err error
	if err := p.expectKeyword("for", "run"); err != nil {
		return nil, err
	}
	if st.RunID, st.RunIDPos, err = p.runID(); err != nil {
		return nil, err
	}
	return st, nil
}
