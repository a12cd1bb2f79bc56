package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Identifier length limits of the targets.
const (
	PostgresMaxIdentBytes = 63 // NAMEDATALEN-1; longer names are silently cut
	MySQLMaxIdentChars    = 64
)

// hashLen is the number of hex digits of the suffix a truncated name gets.
const hashLen = 8

// Truncate shortens name to at most max bytes (byteLimit) or characters,
// ending it with "_" and 8 hex digits of a SHA-256 of the whole name: two
// long names with a common prefix stay distinct, and the result is the same
// on every run. Names that fit are returned unchanged.
func Truncate(name string, max int, byteLimit bool) string {
	size := utf8.RuneCountInString(name)
	if byteLimit {
		size = len(name)
	}
	if size <= max {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "_" + hex.EncodeToString(sum[:])[:hashLen]
	keep := max - len(suffix)
	var b strings.Builder
	n := 0
	for _, r := range name {
		w := 1
		if byteLimit {
			w = utf8.RuneLen(r)
		}
		if n+w > keep {
			break
		}
		b.WriteRune(r)
		n += w
	}
	return b.String() + suffix
}

// Namer maps source identifiers to target ones: folded to lower case unless
// case-sensitive, then truncated to the target's limit.
type Namer struct {
	CaseSensitive bool
	Max           int  // 0 = no limit
	ByteLimit     bool // Max counts bytes, not characters
}

// Name maps one identifier.
func (n Namer) Name(s string) string {
	if !n.CaseSensitive {
		s = strings.ToLower(s)
	}
	if n.Max > 0 {
		s = Truncate(s, n.Max, n.ByteLimit)
	}
	return s
}

// ColumnNames maps every column name of t, failing when two source columns
// end up with the same target name (e.g. "Id" and "id" folded).
func (n Namer) ColumnNames(t Table) (map[string]string, error) {
	out := make(map[string]string, len(t.Columns))
	seen := make(map[string]string, len(t.Columns))
	for _, c := range t.Columns {
		name := n.Name(c.Name)
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("table %s: columns %s and %s both become %s on the target; use CASE SENSITIVE", t.Name, prev, c.Name, name)
		}
		seen[name] = c.Name
		out[c.Name] = name
	}
	return out, nil
}

// SchemaIndexName names an index for a target where index names are unique
// per schema (PostgreSQL, SQLite). Names read from such a source are kept;
// names from MySQL, unique only per table, get the table name as prefix.
// Unnamed indexes are named table_col1_col2_key (unique) or _idx.
func SchemaIndexName(n Namer, sourceDialect, table string, ix Index, cols []string) string {
	suffix := "_idx"
	if ix.Unique {
		suffix = "_key"
	}
	switch {
	case ix.Name == "" || strings.HasPrefix(ix.Name, "sqlite_autoindex_"):
		return n.Name(table + "_" + strings.Join(cols, "_") + suffix)
	case sourceDialect == Postgres || sourceDialect == SQLite:
		return n.Name(ix.Name)
	default:
		return n.Name(table + "_" + ix.Name)
	}
}
