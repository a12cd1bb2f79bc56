package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildFlowgate builds the flowgate binary into a temporary directory for
// the end-to-end tests, which drive the real program over real sockets;
// remove deletes the directory. On failure it prints why and exits, as a
// TestMain would.
func BuildFlowgate() (bin string, remove func()) {
	dir, err := os.MkdirTemp("", "flowgate-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "flowgate")
	build := exec.Command("go", "build", "-o", bin, "github.com/flowgate/flowgate/cmd/flowgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build flowgate:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	return bin, func() { os.RemoveAll(dir) }
}
