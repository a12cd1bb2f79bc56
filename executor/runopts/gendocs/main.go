// Command gendocs rewrites the option tables in docs/sql-reference.md from
// the declarations in executor/runopts.
package main

import (
	"fmt"
	"os"

	"github.com/flowgate/flowgate/executor/runopts"
)

func main() {
	const path = "docs/sql-reference.md"
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := runopts.FillDoc(string(b))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
