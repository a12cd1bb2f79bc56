package wire

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestPsql(t *testing.T) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql not found: apt-get install postgresql-client")
	}
	_, _, addr := startServer(t, Config{})
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, psql, "-X", "-h", host, "-p", port, "-U", "alice", "-d", "db",
		"-v", "ON_ERROR_STOP=1", "-c", "ROWS 2; FAIL")
	cmd.Env = append(cmd.Environ(), "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=5")
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err == nil {
		t.Fatalf("psql succeeded, want an error:\n%s", text)
	}
	// psql prints the last result of the batch? It prints the error with a
	// caret under position 9 ("FAIL").
	want := "LINE 1: ROWS 2; FAIL\n                ^"
	if !strings.Contains(text, `ERROR:  relation "fail" does not exist`) || !strings.Contains(text, want) {
		t.Fatalf("psql output:\n%s", text)
	}

	// Notices arrive and SET is reported.
	cmd = exec.CommandContext(ctx, psql, "-X", "-h", host, "-p", port, "-U", "alice", "-d", "db", "-c", "NOTICE 3", "-c", "SET application_name = 'p'")
	cmd.Env = append(cmd.Environ(), "PGSSLMODE=disable")
	out, err = cmd.CombinedOutput()
	if err != nil || strings.Count(string(out), "NOTICE:  notice") != 3 {
		t.Fatalf("%v:\n%s", err, out)
	}
}
