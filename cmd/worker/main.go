// Command worker runs spmsg's asynq server: it takes message jobs from
// Redis and sends them through Amazon's Messaging API, one final outcome per
// job. See `worker --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode maps an error to PRODUCT.md's exit codes: 0 done, 1 runtime
// error, 2 bad usage or bad input.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case isUsage(err):
		fmt.Fprintln(stderr, "worker:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "worker:", err)
		return 1
	}
}
