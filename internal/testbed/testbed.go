// Package testbed gives tests real, throwaway servers: PostgreSQL and
// MariaDB started once per test binary from the locally installed binaries
// (or taken from an env DSN), and in-process S3 servers. Use Main from
// TestMain so the servers are stopped and their directories removed.
package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long a server may take to accept connections.
const StartTimeout = 60 * time.Second

// server is a process testbed started and must stop.
type server struct {
	name string
	cmd  *exec.Cmd
	dir  string // removed after stopping
	done chan struct{}
	// stopSig asks for a fast, clean shutdown (SIGINT for postgres, SIGTERM
	// for mariadbd).
	stopSig syscall.Signal
	// launch starts the process (again) on the same data and port.
	launch  func() error
	tracked bool
}

var (
	mu      sync.Mutex
	started []*server
)

func track(s *server) {
	mu.Lock()
	defer mu.Unlock()
	started = append(started, s)
}

// stopAll stops every started server and removes its directory.
func stopAll() {
	mu.Lock()
	defer mu.Unlock()
	for _, s := range started {
		s.stop()
	}
	started = nil
}

// halt stops the process and keeps its directory, for a later launch.
func (s *server) halt() {
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(s.stopSig)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(s.stopSig)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// Main runs the tests, stops every server testbed started (also on SIGINT
// or SIGTERM), runs cleanups (in reverse order) and exits with the tests'
// code. Main never returns, so a TestMain's own defers never run: pass
// what they would do as cleanups. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testbed.Main(m) }
func Main(m *testing.M, cleanups ...func()) {
	done := func() {
		stopAll()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		done()
		fmt.Fprintf(os.Stderr, "testbed: stopped servers on %v\n", s)
		os.Exit(130)
	}()
	code := m.Run()
	signal.Stop(sigs)
	done()
	os.Exit(code)
}

// freePort returns a free TCP port on 127.0.0.1 below the kernel's
// ephemeral range (32768 and up on Linux). A port the kernel hands out for
// :0 is also what it hands out for outgoing connections, and the tests
// open thousands of those, so such a port was often taken again before the
// server bound it. Ports are tried from a random start so the test
// packages that run at once rarely try the same ones.
func freePort() (int, error) {
	const lo, hi = 20000, 32767
	start := lo + mrand.IntN(hi-lo)
	for i := 0; i < hi-lo; i++ {
		p := lo + (start-lo+i)%(hi-lo)
		portMu.Lock()
		taken := portsGiven[p]
		portMu.Unlock()
		if taken {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		portMu.Lock()
		portsGiven[p] = true
		portMu.Unlock()
		return p, nil
	}
	return 0, fmt.Errorf("find free port: none free between %d and %d", lo, hi)
}

var (
	portMu     sync.Mutex
	portsGiven = map[int]bool{} // never handed out twice in one process
)

// FreePort is freePort for test harnesses that start their own servers.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// findBinary looks in PATH, then in the given glob patterns (newest last
// when sorted, so the last match wins).
func findBinary(name string, globs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for i := len(globs) - 1; i >= 0; i-- {
		matches, _ := filepath.Glob(globs[i])
		for j := len(matches) - 1; j >= 0; j-- {
			if st, err := os.Stat(matches[j]); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return matches[j], nil
			}
		}
	}
	return "", fmt.Errorf("%s not found in PATH or %v", name, globs)
}

// runAs is the unprivileged user servers run as when the tests run as root
// (initdb and postgres refuse root). Nil when not root.
type runAs struct {
	uid, gid uint32
	name     string
}

func unprivileged(preferred string) (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{preferred, "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &runAs{uid: uint32(uid), gid: uint32(gid), name: name}, nil
	}
	return nil, fmt.Errorf("running as root and neither user %q nor nobody exists to run the server as", preferred)
}

// command builds a server command: output appended to logPath, run as u
// when set, killed if the test binary dies without cleaning up.
func command(u *runAs, dir string, logFile *os.File, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if logFile != nil {
		cmd.Stdout = logFile
		cmd.Stderr = logFile
	}
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if u != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid}
	}
	return cmd
}

// cleanEnv drops client and server settings from the environment so a
// developer's PGDATA or MYSQL_HOST cannot leak into the throwaway servers.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "MYSQL") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "TZ=UTC")
}

// chownTree hands dir and everything in it to u.
func chownTree(dir string, u *runAs) error {
	if u == nil {
		return nil
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(u.uid), int(u.gid))
	})
}

// EnvDir overrides where servers keep their data directories.
const EnvDir = "FLOWGATE_TESTBED_DIR"

// serverRoot is where data directories go: /dev/shm when there is one,
// because writing a fresh data directory to a slow virtual disk can take
// ten times longer than to tmpfs, and throwaway data needs no disk.
func serverRoot() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() && syscall.Access("/dev/shm", 7) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

// ownerFile in every directory testbed makes holds the pid of the test
// binary that made it, so a later run can remove what a killed one left.
const ownerFile = "testbed.pid"

var sweepOnce sync.Once

// sweepStale removes server directories of test binaries that are gone
// (killed before Main could clean up; their servers died with them through
// Pdeathsig). In /dev/shm such leftovers would hold memory until reboot.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(serverRoot(), "flowgate-*", ownerFile))
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(filepath.Dir(f))
		}
	}
}

// tempDir makes a directory the unprivileged user can use.
func tempDir(prefix string, u *runAs) (string, error) {
	sweepOnce.Do(sweepStale)
	dir, err := os.MkdirTemp(serverRoot(), prefix)
	if err != nil {
		return "", fmt.Errorf("temp dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("temp dir: %w", err)
	}
	if err := chownTree(dir, u); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("chown %s: %w", dir, err)
	}
	return dir, nil
}

// logTail returns the last lines of a server log for failure messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// runLogged runs a one-shot setup command, returning its output on failure.
func runLogged(cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(cmd.Path), err, out.String())
	}
	return nil
}

// startAndWait starts s.cmd and polls ready until it succeeds, the process
// exits, or StartTimeout passes.
func startAndWait(s *server, logPath string, ready func(ctx context.Context) error) error {
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	if !s.tracked {
		s.tracked = true
		track(s)
	}
	deadline := time.Now().Add(StartTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited during startup (%v); log %s:\n%s", s.name, s.cmd.ProcessState, logPath, logTail(logPath))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = ready(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not accept connections within %s (last error: %v); log %s:\n%s",
		s.name, StartTimeout, last, logPath, logTail(logPath))
}

// uniqueName makes a database name from prefix that no other test uses.
func uniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	if prefix == "" {
		prefix = "t"
	}
	return fmt.Sprintf("%s_%d_%s", prefix, os.Getpid(), hex.EncodeToString(b[:]))
}
