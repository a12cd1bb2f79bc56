package cdctest_test

import (
	"bytes"
	"os"
	"testing"
)

// The applier planner is kept once per connector (the connectors import
// no common code besides the capability packages): the copies must stay
// equal apart from the package clause.
func TestApplyPlanCopiesEqual(t *testing.T) {
	var first []byte
	for _, dir := range []string{"postgres", "mysql", "sqlite"} {
		b, err := os.ReadFile("../../" + dir + "/applyplan.go")
		if err != nil {
			t.Fatal(err)
		}
		pkg := []byte("package " + dir + "\n")
		if !bytes.HasPrefix(b, pkg) {
			t.Fatalf("%s/applyplan.go does not start with %q", dir, pkg)
		}
		b = b[len(pkg):]
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Errorf("%s/applyplan.go differs from postgres/applyplan.go", dir)
		}
	}
}
