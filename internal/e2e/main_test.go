package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/spmsg/spmsg/internal/redistest"
)

// workerBin and enqueueBin are the commands built once for this test binary. It is
// test infrastructure, set in TestMain before any test runs.
var workerBin, enqueueBin string //nolint:gochecknoglobals // built once per test binary

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spmsg-e2e-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	workerBin, enqueueBin = filepath.Join(dir, "worker"), filepath.Join(dir, "enqueue")
	build := exec.Command("go", "build", "-o", dir, "github.com/spmsg/spmsg/cmd/worker", "github.com/spmsg/spmsg/cmd/enqueue")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/worker ./cmd/enqueue: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := redistest.Main(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
