package shopdata

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/examples/shop-*.sql from the generator")

// TestFiles keeps the shipped sample files equal to the generator's output,
// so the MySQL and SQLite samples always hold the same rows.
func TestFiles(t *testing.T) {
	for _, d := range []Dialect{MySQL, SQLite} {
		path := filepath.Join("..", "..", "docs", "examples", "shop-"+string(d)+".sql")
		want := SQL(d)
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s differs from the generator's output: run go test ./internal/shopdata -update", path)
		}
	}
}
