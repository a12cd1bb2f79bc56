package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/sqlite"
)

func TestOK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (id int)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	res, err := connectors.Test(context.Background(), sqlite.Type(), map[string]string{"path": path})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ServerVersion, "3.") {
		t.Errorf("server version %q", res.ServerVersion)
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	_, err := connectors.Test(context.Background(), sqlite.Type(), map[string]string{"path": path})
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("test created the file: %v", err)
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("this is not sqlite\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := connectors.Test(context.Background(), sqlite.Type(), map[string]string{"path": path})
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "not a database") {
		t.Errorf("err = %v", err)
	}
}
