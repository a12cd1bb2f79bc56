package tests

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the repository's root directory (the tests run in tests/).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// goCommand is the go binary the test binary was built with (TestMain's
// build uses "go" from PATH too).
func goCommand(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go not found in PATH: the demo test runs `make demo`, which builds with it")
	}
	return p
}

// TestDemo runs `make demo` as a newcomer would, on whatever machine runs
// the tests (it needs no database server): it must exit 0, show the data
// moving (IMPORT TABLES, the DDL task, RUN ... WAIT with progress NOTICEs,
// the export files, the overview, the rows in the target) and leave
// nothing behind: the gateway stopped, the temporary directory removed.
func TestDemo(t *testing.T) {
	psqlPath(t)
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Fatal("make not found: install it with `apt-get install make`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mk, "-C", repoRoot(t), "demo", "GO="+goCommand(t))
	cmd.Env = os.Environ()
	start := time.Now()
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	t.Logf("make demo took %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		" main   | orders     | created |       6 | model created and associated with shop",
		" orders     | success | created | CREATE TABLE \"orders\" (",
		"NOTICE:  items: ImportTable done, 5032 of 5032 rows (100.0%)",
		"NOTICE:  run ", "completed: 3 of 3 tables copied and verified",
		" items        | TableDataDiff | completed | 5032",
		"/files/shop_copy/", "| present | t",
		" shop       | export    |          3 |    7332 |",
		" warehouse  | import    |          3 |    7332 |",
		"  customers                   300 rows",
		"  items                      5032 rows",
		"  orders                     2000 rows",
		"demo: gateway stopped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("make demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("make demo printed:\n%s", out)
	}

	// Nothing left behind.
	m := regexp.MustCompile(`demo: gateway pid (\d+) listening on (\S+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("make demo does not say which gateway it started:\n%s", out)
	}
	pid, _ := strconv.Atoi(m[1])
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("gateway pid %d still exists after make demo (kill 0: %v)", pid, err)
	}
	if c, err := net.DialTimeout("tcp", m[2], time.Second); err == nil {
		c.Close()
		t.Errorf("something still listens on %s after make demo", m[2])
	}
	dash := regexp.MustCompile(`demo: dashboard while the demo runs: http://(\S+)/`).FindStringSubmatch(out)
	if dash == nil {
		t.Fatalf("make demo does not say where the dashboard is:\n%s", out)
	}
	if c, err := net.DialTimeout("tcp", dash[1], time.Second); err == nil {
		c.Close()
		t.Errorf("the dashboard still listens on %s after make demo", dash[1])
	}
	d := regexp.MustCompile(`demo: removed (\S+)`).FindStringSubmatch(out)
	if d == nil {
		t.Fatalf("make demo does not say it removed its directory:\n%s", out)
	}
	if _, err := os.Stat(d[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after make demo (%v)", d[1], err)
	}
}

// TestDemoWithoutPsql: without psql the demo stops before doing anything
// and names the package to install.
func TestDemoWithoutPsql(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "flowgate-demo")
	build := exec.Command(goCommand(t), "build", "-o", bin, "./cmd/flowgate-demo")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the demo: %v\n%s", err, out)
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	cmd := exec.Command(bin)
	cmd.Dir = repoRoot(t)
	cmd.Env = []string{"PATH=" + empty, "HOME=" + dir, "TMPDIR=" + dir}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("want exit code 1 without psql, got %v:\n%s", err, out)
	}
	if !strings.Contains(string(out), "psql not found: install the postgresql-client package") {
		t.Errorf("the message does not name the package:\n%s", out)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "flowgate-demo-*"))
	if len(left) > 0 {
		t.Errorf("the demo created %v before giving up", left)
	}
}
