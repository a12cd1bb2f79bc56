package schema

import (
	"strconv"
	"strings"
)

// Referential actions as ForeignKey spells them.
const (
	NoAction   = "NO ACTION"
	Restrict   = "RESTRICT"
	Cascade    = "CASCADE"
	SetNull    = "SET NULL"
	SetDefault = "SET DEFAULT"
)

// Action normalizes a referential action ("" and unknown spellings are NO
// ACTION).
func Action(a string) string {
	switch s := strings.ToUpper(strings.Join(strings.Fields(a), " ")); s {
	case Restrict, Cascade, SetNull, SetDefault:
		return s
	}
	return NoAction
}

// ForeignKeyName names fk on the target: the source's name (folded and cut
// like any identifier) or <table>_<columns>_fkey when it has none, unique
// among used (case-insensitively: MySQL compares constraint names so, and
// wants them unique in the database).
func ForeignKeyName(n Namer, table string, fk ForeignKey, cols []string, used map[string]bool) string {
	base := fk.Name
	if base == "" || strings.HasPrefix(base, "sqlite_") {
		base = table + "_" + strings.Join(cols, "_") + "_fkey"
	}
	name := n.Name(base)
	for i := 2; used[strings.ToLower(name)]; i++ {
		name = n.Name(base + "_" + strconv.Itoa(i))
	}
	used[strings.ToLower(name)] = true
	return name
}

// OnUpdateColumns lists the columns of t with ON UPDATE CURRENT_TIMESTAMP.
func OnUpdateColumns(t Table) []Column {
	var out []Column
	for _, c := range t.Columns {
		if c.OnUpdateCurrentTimestamp {
			out = append(out, c)
		}
	}
	return out
}
