package file_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/file"
)

func test(path string) (connectors.TestResult, error) {
	return connectors.Test(context.Background(), file.Type(), map[string]string{"path": path})
}

func TestOK(t *testing.T) {
	dir := t.TempDir()
	res, err := test(dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.ServerVersion != "local filesystem" {
		t.Errorf("server version %q", res.ServerVersion)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("test left files: %v", left)
	}
}

func TestMissingDir(t *testing.T) {
	_, err := test(filepath.Join(t.TempDir(), "nope"))
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("err = %v", err)
	}
}

func TestNotADirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := test(f)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("err = %v", err)
	}
}

// A path below a regular file cannot be written even by root, unlike a
// read-only directory.
func TestNotWritable(t *testing.T) {
	f := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := test(filepath.Join(f, "sub"))
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("err = %v", err)
	}
	if os.Geteuid() != 0 {
		ro := t.TempDir()
		if err := os.Chmod(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		_, err := test(ro)
		if err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("read-only dir: err = %v", err)
		}
	}
}
