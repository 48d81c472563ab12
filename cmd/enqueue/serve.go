package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spmsg/spmsg/httpapi"
	"github.com/spmsg/spmsg/internal/cli"
)

const serveUsage = `Usage: enqueue serve [--addr 127.0.0.1:8080] [flags]

Serves the producer over HTTP, for order pipelines in any language:

  POST /v1/messages          one job object (202 accepted, 200 duplicate,
                             400 rejected, 403 seller not allowed, 422
                             idempotency key reused with another message)
                             or an array of up to 1,000 (207 with a result
                             per item; 400 if all rejected). Needs
                             Content-Type: application/json (415 otherwise)
  POST /v1/attachments       store a file (raw body, Content-Type application/octet-stream or its own
                             type); answers {"source": ...}, the only source a seller-bound token may use
  GET  /v1/messages/{id}     a job's state and final outcome
  GET  /v1/campaigns/{name}  a campaign's counts (as status --campaign --json)
  GET  /openapi.json, /healthz, /metrics   (no token needed)

Clients send "Authorization: Bearer TOKEN" with one of the tokens of
ENQUEUE_API_TOKENS: comma-separated entries (several, so tokens can be
rotated), each either TOKEN, which may act for every seller, or
TOKEN=SELLER1|SELLER2, which may enqueue only for those sellers of the
sellers file and read only their jobs, and campaigns whose every job is
theirs (404 for the others). Errors name a token by its position only.
Prefer the variable to --tokens: flags show in ps.

Without tokens the server only starts on a loopback address, serves
without authentication, and answers 421 to a request whose Host header is
not localhost, a loopback IP or [::1] (DNS-rebinding defense).

Examples:
  ENQUEUE_API_TOKENS=$(openssl rand -hex 24) enqueue serve --addr :8080
  ENQUEUE_API_TOKENS="$ADMIN_TOKEN,$SHOP_TOKEN=A1EXAMPLE|A2EXAMPLE" enqueue serve --addr :8080
  enqueue serve    # 127.0.0.1:8080, no authentication

Flags:
`

// HTTP server limits: slow clients cannot hold a connection forever, and a
// 10 MiB upload still has time on a slow link.
const (
	serveReadHeaderTimeout = 5 * time.Second
	serveReadTimeout       = 2 * time.Minute
	serveWriteTimeout      = 2 * time.Minute
	serveIdleTimeout       = 2 * time.Minute
	serveMaxHeaderBytes    = 64 << 10
)

// serveOpts are the serve command's settings.
type serveOpts struct {
	common
	addr, tokens, logFormat string
	logLevel                string
	shutdownTimeout         time.Duration
}

func runServe(ctx context.Context, args []string, getenv cli.Getenv, stdout, stderr io.Writer) error {
	var o serveOpts
	var bad []string
	fs := flag.NewFlagSet("enqueue serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage); fs.PrintDefaults() }
	o.common.flags(fs, getenv)
	cli.StringVar(fs, &o.addr, "addr", "ENQUEUE_API_ADDR", "127.0.0.1:8080", getenv, "listen address HOST:PORT")
	// Not cli.StringVar: a default taken from the environment would print
	// the tokens in --help.
	fs.StringVar(&o.tokens, "tokens", "", "bearer tokens, comma-separated, each TOKEN or TOKEN=SELLER1|SELLER2 (env ENQUEUE_API_TOKENS, preferred)")
	cli.StringVar(fs, &o.logFormat, "log-format", "LOG_FORMAT", "text", getenv, "log format: text or json")
	cli.StringVar(fs, &o.logLevel, "log-level", "LOG_LEVEL", "info", getenv, "log level: debug (one line per request), info, warn or error")
	cli.DurationVar(fs, &o.shutdownTimeout, "shutdown-timeout", "", 10*time.Second, getenv, "how long in-flight requests may finish on shutdown", &bad)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return usageErr("serve takes no arguments (got %q)", fs.Arg(0))
	}
	if len(bad) > 0 {
		return usageErr("%s", bad[0])
	}
	if o.tokens == "" {
		o.tokens = getenv("ENQUEUE_API_TOKENS")
	}
	return o.run(ctx, stdout, stderr)
}

func (o *serveOpts) run(ctx context.Context, stdout, stderr io.Writer) error {
	tokens, err := httpapi.ParseTokens(o.tokens)
	if err != nil {
		return usageErr("%v", err)
	}
	loopback, err := httpapi.IsLoopback(o.addr)
	if err != nil {
		return usageErr("--addr: %v", err)
	}
	if !loopback && len(tokens) == 0 {
		return usageErr("refusing to serve on %s without authentication: set ENQUEUE_API_TOKENS (or --tokens), "+
			"or listen on a loopback address such as 127.0.0.1:8080", o.addr)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usageErr("LOG_LEVEL %q: want debug, info, warn or error", o.logLevel)
	}
	log, err := cli.Logger(stderr, o.logFormat, level)
	if err != nil {
		return usageErr("%v", err)
	}
	o.common.logger = log
	a, err := o.common.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.close()
	api, err := httpapi.New(httpapi.Config{Producer: a.producer, Outcomes: a.outcomes, Store: a.store, Redis: a.rdb,
		Tokens: tokens, Logger: log})
	if err != nil {
		return usageErr("ENQUEUE_API_TOKENS: %v", strings.TrimPrefix(err.Error(), "httpapi: ")) // a token's seller list
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: serveReadHeaderTimeout, ReadTimeout: serveReadTimeout,
		WriteTimeout: serveWriteTimeout, IdleTimeout: serveIdleTimeout, MaxHeaderBytes: serveMaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if len(tokens) == 0 {
		log.Warn("ENQUEUE_API_TOKENS is not set: serving WITHOUT authentication (loopback address only)", "addr", ln.Addr().String())
	}
	log.Info("serving the HTTP enqueue API", "addr", ln.Addr().String(), "tokens", len(tokens))
	fmt.Fprintf(stdout, "enqueue serve: listening on http://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// String describes the serve settings without the bearer tokens or the
// Redis URL's password.
func (o serveOpts) String() string {
	tokens := `""`
	if o.tokens != "" {
		tokens = "[redacted]"
	}
	return fmt.Sprintf("serveOpts{%s addr:%q tokens:%s logFormat:%q logLevel:%q shutdownTimeout:%s}",
		o.common, o.addr, tokens, o.logFormat, o.logLevel, o.shutdownTimeout)
}

// GoString is String, so %#v hides the secrets too.
func (o serveOpts) GoString() string { return o.String() }

// Format prints String for every verb, so no verb (%d, %x, %q, %#v, ...)
// can reach a secret through fmt's field-by-field printing.
func (o serveOpts) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, o.String()) }

// LogValue implements slog.LogValuer without the secrets.
func (o serveOpts) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("common", o.common), slog.String("addr", o.addr),
		slog.Bool("tokens_set", o.tokens != ""))
}
