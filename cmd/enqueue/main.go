// Command enqueue puts message jobs on spmsg's queue and reports their
// outcomes: `enqueue send`, `enqueue batch`, `enqueue status` and
// `enqueue serve` (the HTTP API). See `enqueue --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spmsg/spmsg/internal/cli"
)

const usageText = `enqueue puts message jobs on spmsg's queue and reports their outcomes.

Usage:
  enqueue send   --seller ID --marketplace ID --order ID --type TYPE [--text TEXT] [--attach FILE[:NAME]]...
  enqueue batch  FILE|- [--dry-run] [--strict] [--json]
  enqueue status JOB_ID | --campaign NAME [--json]
  enqueue serve  [--addr 127.0.0.1:8080]

Run "enqueue COMMAND --help" for a command's flags and examples.

Environment: REDIS_URL, SPAPI_SELLERS_FILE, ATTACHMENT_STORE (each has a flag).
Exit codes: 0 done, 1 runtime error, 2 bad usage or bad input.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	os.Exit(code)
}

// run dispatches a subcommand and returns the exit code.
func run(ctx context.Context, args []string, getenv cli.Getenv, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	var err error
	switch args[0] {
	case "send":
		err = runSend(ctx, args[1:], getenv, stdout, stderr)
	case "batch":
		err = runBatch(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "status":
		err = runStatus(ctx, args[1:], getenv, stdout, stderr)
	case "serve":
		err = runServe(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return 0
	default:
		fmt.Fprintf(stderr, "enqueue: unknown command %q\n\n%s", args[0], usageText)
		return 2
	}
	return exitCode(err, stderr)
}

// exitError carries an exit code with an already-printed or printable
// message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, a ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, a...)}
}

// errRejected means input rows were rejected and reported already.
var errRejected = &exitError{code: 2}

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "enqueue:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "enqueue:", err)
	return 1
}
