package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/spmsg/spmsg/internal/redistest"
)

// workerBin is the worker binary built once for this test binary. It is
// test infrastructure, set in TestMain before any test runs.
var workerBin string //nolint:gochecknoglobals // built once per test binary

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spmsg-e2e-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	workerBin = filepath.Join(dir, "worker")
	build := exec.Command("go", "build", "-o", workerBin, "github.com/spmsg/spmsg/cmd/worker")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/worker: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := redistest.Main(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
