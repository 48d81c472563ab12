// Command worker runs spmsg's asynq server: it takes message jobs from
// Redis and sends them through Amazon's Messaging API, one final outcome per
// job. See `worker --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "--probe" {
		// A container healthcheck without curl: GET the URL, exit 0 on 200.
		os.Exit(probe(os.Args[2], os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// probe GETs url and returns 0 when it answers 200 within 3 s.
func probe(url string, stderr io.Writer) int {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(stderr, "probe:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "probe:", resp.Status)
		return 1
	}
	return 0
}

// exitCode maps an error to PRODUCT.md's exit codes: 0 done, 1 runtime
// error, 2 bad usage or bad input.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case isUsage(err):
		fmt.Fprintln(stderr, "worker:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "worker:", err)
		return 1
	}
}
