package main

import (
	"context"
	"io"

	"github.com/spmsg/spmsg/internal/cli"
)

func runServe(ctx context.Context, args []string, getenv cli.Getenv, stdout, stderr io.Writer) error {
	return usageErr("serve: the HTTP API is not built yet")
}
