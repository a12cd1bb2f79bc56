package schematest_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors/mysql"
	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/connectors/sqlite"
)

const docPath = "../../../docs/type-mapping.md"

// docRow is one table row of the doc, with the section it is in.
type docRow struct {
	section string
	cells   []string
	line    int
}

func readDoc(t *testing.T) []docRow {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var rows []docRow
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
		case strings.HasPrefix(line, "|---"):
			rows = rows[:len(rows)-1] // the header row
		case strings.HasPrefix(line, "|"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for j := range cells {
				cells[j] = strings.TrimSpace(cells[j])
			}
			rows = append(rows, docRow{section, cells, i + 1})
		}
	}
	return rows
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

// code returns the first code span of a cell.
func code(cell string) string {
	m := codeSpan.FindStringSubmatch(cell)
	if m == nil {
		return ""
	}
	return m[1]
}

// targets are DDL targets that are never connected: PlanCreate is pure.
func targets(t *testing.T) map[string]schema.DDLTarget {
	t.Helper()
	pg, err := postgres.Open(map[string]string{"host": "127.0.0.1", "port": "1", "database": "x", "user": "x", "sslmode": "disable", "schema": "public"})
	if err != nil {
		t.Fatal(err)
	}
	my, err := mysql.Open(map[string]string{"host": "127.0.0.1", "port": "1", "database": "x", "user": "x"})
	if err != nil {
		t.Fatal(err)
	}
	lite, err := sqlite.Open(map[string]string{"path": filepath.Join(t.TempDir(), "never.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close(); my.Close(); lite.Close() })
	return map[string]schema.DDLTarget{
		schema.Postgres: pg.(schema.DDLTarget), schema.MySQL: my.(schema.DDLTarget), schema.SQLite: lite.(schema.DDLTarget),
	}
}

var dialectNames = map[string]string{"MySQL": schema.MySQL, "PostgreSQL": schema.Postgres, "SQLite": schema.SQLite}

// dialectPrefix splits "MySQL `x`" into the dialect and the rest.
func dialectPrefix(cell string) (string, string) {
	for name, d := range dialectNames {
		if strings.HasPrefix(cell, name+" ") {
			return d, strings.TrimPrefix(cell, name+" ")
		}
	}
	return "", cell
}

var pgEnum = regexp.MustCompile(`^PG enum ` + "`([a-z]+)`" + ` \((.*)\)$`)

// sourceColumn builds column c from a source cell.
func sourceColumn(t *testing.T, dialect, cell string) schema.Column {
	t.Helper()
	c := schema.Column{Name: "c", Nullable: true}
	if m := pgEnum.FindStringSubmatch(cell); m != nil {
		tt, err := schema.SplitTypeText("e(" + m[2] + ")")
		if err != nil {
			t.Fatal(err)
		}
		c.Type = schema.Type{Kind: schema.Enum, Values: tt.Args, Native: m[1]}
		return c
	}
	text := code(cell)
	rest := strings.TrimSpace(codeSpan.ReplaceAllString(cell, ""))
	if rest == "auto_increment" || rest == "identity" {
		c.AutoIncrement, c.Nullable = true, false
	}
	var err error
	switch dialect {
	case schema.MySQL:
		c.Type, err = mysql.ParseType(text)
	case schema.Postgres:
		c.Type, err = postgres.ParseType(text)
	case schema.SQLite:
		c.Type = sqlite.ParseType(text)
	}
	if err != nil {
		t.Fatalf("source %q: %v", cell, err)
	}
	return c
}

// columnDef extracts column c's definition, without NULL / NOT NULL, from
// a plan's CREATE TABLE.
func columnDef(p schema.Plan) string {
	for _, line := range strings.Split(p.Statements[0], "\n") {
		line = strings.TrimSuffix(strings.TrimSpace(line), ",")
		for _, q := range []string{`"c" `, "`c` "} {
			if strings.HasPrefix(line, q) {
				def := strings.TrimPrefix(line, q)
				if strings.Contains(def, " NOT NULL") {
					return strings.Replace(def, " NOT NULL", "", 1)
				}
				return strings.Replace(def, " NULL", "", 1)
			}
		}
	}
	return ""
}

// TestTypeMappingDoc renders every row of docs/type-mapping.md's tables
// through the code.
func TestTypeMappingDoc(t *testing.T) {
	dst := targets(t)
	checked := map[string]int{}
	for _, r := range readDoc(t) {
		var src, target, srcCell, wantCell string
		switch r.section {
		case "MySQL → PostgreSQL":
			src, target, srcCell, wantCell = schema.MySQL, schema.Postgres, r.cells[0], r.cells[1]
		case "PostgreSQL → MySQL":
			src, target, srcCell, wantCell = schema.Postgres, schema.MySQL, r.cells[0], r.cells[1]
		case "MySQL → SQLite and PostgreSQL → SQLite":
			target, wantCell = schema.SQLite, r.cells[1]
			src, srcCell = dialectPrefix(r.cells[0])
		case "SQLite → PostgreSQL and SQLite → MySQL":
			src, srcCell = schema.SQLite, r.cells[0]
			target, wantCell = dialectPrefix(r.cells[1])
		case "Identifiers":
			checkIdentifierRow(t, dst, r)
			checked[r.section]++
			continue
		case "Index names":
			checkIndexRow(t, dst, r)
			checked[r.section]++
			continue
		default:
			t.Fatalf("line %d: table in unexpected section %q", r.line, r.section)
		}
		if src == "" || target == "" {
			t.Fatalf("line %d: no dialect in %q", r.line, r.cells)
		}
		checked[r.section]++
		col := sourceColumn(t, src, srcCell)
		tb := schema.Table{Name: "t", Dialect: src, Columns: []schema.Column{col}}
		if col.AutoIncrement {
			tb.PrimaryKey, tb.AutoIncrementNext = []string{"c"}, 42
		}
		opts := fullOpts
		if strings.Contains(srcCell, "tinyint-as-boolean off") {
			opts.TinyIntOneAsBool = false
		}
		p, err := dst[target].PlanCreate(tb, opts)
		if wantCell == "*error*" {
			var ue *schema.UnsupportedError
			if !errors.As(err, &ue) || ue.Column != "c" || !strings.Contains(err.Error(), "column t.c: type ") {
				t.Errorf("line %d: %s on %s: want an unsupported-type error, got %v", r.line, srcCell, target, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("line %d: %s: %v", r.line, srcCell, err)
			continue
		}
		if got, want := columnDef(p), code(wantCell); got != want {
			t.Errorf("line %d: %s %s on %s: got %q, doc says %q", r.line, src, srcCell, target, got, want)
		}
		notes := ""
		if len(r.cells) > 2 {
			notes = r.cells[2]
		}
		if warned := len(p.Warnings) > 0; warned != strings.Contains(notes, "warning") {
			t.Errorf("line %d: %s on %s: warnings %q, doc notes %q", r.line, srcCell, target, p.Warnings, notes)
		}
	}
	// Guard against a parser that silently reads nothing.
	for section, min := range map[string]int{"MySQL → PostgreSQL": 35, "PostgreSQL → MySQL": 28, "MySQL → SQLite and PostgreSQL → SQLite": 25,
		"SQLite → PostgreSQL and SQLite → MySQL": 25, "Identifiers": 9, "Index names": 8} {
		if checked[section] < min {
			t.Errorf("section %q: only %d rows checked", section, checked[section])
		}
	}
}

func checkIdentifierRow(t *testing.T, dst map[string]schema.DDLTarget, r docRow) {
	t.Helper()
	target := dialectNames[r.cells[0]]
	opts := fullOpts
	opts.CaseSensitive = r.cells[1] == "on"
	tb := schema.Table{Name: code(r.cells[2]), Dialect: schema.MySQL,
		Columns: []schema.Column{{Name: "c", Type: schema.Type{Kind: schema.Int32}}}}
	p, err := dst[target].PlanCreate(tb, opts)
	if err != nil {
		t.Fatalf("line %d: %v", r.line, err)
	}
	if want := code(r.cells[3]); p.Table != want {
		t.Errorf("line %d: %s on %s: got %q, doc says %q", r.line, tb.Name, target, p.Table, want)
	}
}

func checkIndexRow(t *testing.T, dst map[string]schema.DDLTarget, r docRow) {
	t.Helper()
	src, target := dialectNames[r.cells[0]], dialectNames[r.cells[1]]
	tb := schema.Table{Name: code(r.cells[2]), Dialect: src,
		Columns: []schema.Column{{Name: "email", Type: schema.Type{Kind: schema.Varchar, Length: 20}}},
		Indexes: []schema.Index{{Name: code(r.cells[3]), Unique: true, Columns: []string{"email"}}}}
	p, err := dst[target].PlanCreate(tb, fullOpts)
	if err != nil {
		t.Fatalf("line %d: %v", r.line, err)
	}
	want := code(r.cells[4])
	sql := strings.Join(p.Statements, "\n")
	if !strings.Contains(sql, `INDEX "`+want+`" ON`) && !strings.Contains(sql, "KEY `"+want+"` (") {
		t.Errorf("line %d: index %s of %s on %s: doc says %q, plan is\n%s", r.line, tb.Indexes[0].Name, tb.Name, target, want, sql)
	}
}
