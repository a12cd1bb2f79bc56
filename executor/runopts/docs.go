package runopts

import (
	"fmt"
	"strings"
)

// Sections are the generated option tables of docs/sql-reference.md.
var Sections = map[string]Set{"ddl-task-options": DDLTask, "sync-job-options": SyncJob}

// FillDoc replaces every generated section of doc with the current tables.
func FillDoc(doc string) (string, error) {
	for name, set := range Sections {
		begin := "<!-- BEGIN " + name
		end := "<!-- END " + name + " -->"
		i := strings.Index(doc, begin)
		j := strings.Index(doc, end)
		if i < 0 || j < i {
			return "", fmt.Errorf("docs: markers for %s not found", name)
		}
		k := strings.Index(doc[i:], "-->") + i + len("-->\n")
		doc = doc[:k] + set.Markdown() + doc[j:]
	}
	return doc, nil
}
