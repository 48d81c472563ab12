// Command spapi-sandbox serves the local SP-API sandbox (package sandbox):
// Amazon's LWA token endpoint, Messaging v1, Solicitations v1, Uploads
// 2020-11-01 and the S3 upload target on one HTTP address, for demos, manual runs and tests of
// programs in other languages. Run it with --help for the flags and for how
// to point spmsg at it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spmsg/spmsg/sandbox"
)

const (
	defaultAddr     = "127.0.0.1:8090"
	shutdownTimeout = 5 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "spapi-sandbox:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "spapi-sandbox:", err)
		os.Exit(1)
	}
}

// usageError is a bad flag or config file (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run parses args, serves the sandbox until ctx is done, then shuts down
// gracefully. ready, if not nil, is called with the bound address once the
// listener is open (useful with --addr 127.0.0.1:0).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string)) error {
	cfg, addr, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if host, _, _ := net.SplitHostPort(addr); !isLoopback(host) {
		fmt.Fprintf(stderr, "spapi-sandbox: warning: listening on %s, not a loopback address; the sandbox has no TLS and accepts any LWA client unless configured\n", addr)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "spapi-sandbox listening on %s\n  SPAPI_ENDPOINT=%s SPAPI_LWA_ENDPOINT=%s%s\n  inspect: %s%ssent  %s%sstats\n",
		base, base, base, sandbox.TokenPath, base, sandbox.AdminPrefix, base, sandbox.AdminPrefix)
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(stdout, "spapi-sandbox stopped")
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseArgs builds the sandbox configuration: defaults, then the --config
// file, then flags given explicitly.
func parseArgs(args []string, stderr io.Writer) (sandbox.Config, string, error) {
	fs := flag.NewFlagSet("spapi-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultAddr, "listen `address` (host:port); the default binds loopback only")
	seed := fs.Int64("seed", 0, "seed for fault injection and generated ids; the same seed and requests give the same answers")
	cfgFile := fs.String("config", "", "JSON config `file` with sellers, orders, rates and faults (see below)")
	lifetime := fs.Duration("token-lifetime", sandbox.DefaultTokenLifetime, "lifetime of issued access tokens")
	noLimits := fs.Bool("no-rate-limits", false, "turn throttling (429) off; x-amzn-RateLimit-Limit is still sent")
	f5xx := fs.Float64("fault-5xx", 0, "`fraction` (0..1) of SP-API requests answered 500 InternalFailure or 503 ServiceUnavailable")
	latency := fs.Duration("latency", 0, "latency added to every SP-API answer, e.g. 50ms")
	lost := fs.Float64("lost", 0, "`fraction` (0..1) of sends recorded as sent whose connection is then closed without an answer")
	then500 := fs.Float64("send-then-500", 0, "`fraction` (0..1) of sends (review requests included) recorded as sent and then answered 500 InternalFailure")
	auto := fs.Bool("auto-sellers", false, "accept any refresh token: \"Atzr|<sellerID>\" maps to that seller id, others to a derived id (implied when no sellers are configured)")
	clientID := fs.String("client-id", "", "LWA client id to require (default: accept any)")
	clientSecret := fs.String("client-secret", "", "LWA client secret to require (default: accept any)")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return sandbox.Config{}, "", err
		}
		return sandbox.Config{}, "", usageError{err}
	}
	if fs.NArg() > 0 {
		return sandbox.Config{}, "", usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	var cfg sandbox.Config
	if *cfgFile != "" {
		c, err := loadConfig(*cfgFile)
		if err != nil {
			return sandbox.Config{}, "", usageError{err}
		}
		cfg = c
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["seed"] || *cfgFile == "" {
		cfg.Seed = *seed
	}
	if set["token-lifetime"] || cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = *lifetime
	}
	if set["no-rate-limits"] {
		cfg.NoRateLimits = *noLimits
	}
	if set["fault-5xx"] {
		cfg.Faults.Error5xx = *f5xx
	}
	if set["latency"] {
		cfg.Faults.Latency = *latency
	}
	if set["lost"] {
		cfg.Faults.Lost = *lost
	}
	if set["send-then-500"] {
		cfg.Faults.SendThen500 = *then500
	}
	if set["auto-sellers"] {
		cfg.AutoSellers = *auto
	}
	if set["client-id"] {
		cfg.ClientID = *clientID
	}
	if set["client-secret"] {
		cfg.ClientSecret = *clientSecret
	}
	return cfg, *addr, nil
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, `Usage: spapi-sandbox [flags]

Serves a local, stateful stand-in for Amazon's Selling Partner API on one
HTTP address: the LWA token endpoint (POST /auth/o2/token), Messaging v1
(/messaging/v1/...), Solicitations v1 (/solicitations/v1/..., review
requests), Uploads 2020-11-01 (/uploads/2020-11-01/...) and the S3 target
of presigned upload URLs (/s3/...). Requests are checked against Amazon's
models; tokens expire; quotas, faults and message-type availability behave
like Amazon's. A review request (productReviewAndSellerFeedback) succeeds
once per order, from 5 days after the order's earliest delivery date to 30
days after its latest; orders without dates were delivered 10 days before
the sandbox started. SIGINT or SIGTERM stops it gracefully.

Point spmsg at it (any client id and secret are accepted by default):

  SPAPI_ENDPOINT=http://%[1]s \
  SPAPI_LWA_ENDPOINT=http://%[1]s/auth/o2/token \
  SPAPI_LWA_CLIENT_ID=sandbox SPAPI_LWA_CLIENT_SECRET=sandbox \
  go run ./cmd/worker

Refresh tokens "Atzr|<sellerID>" map to that seller when no sellers are
configured (or with --auto-sellers).

Inspect and steer it:

  curl http://%[1]s/_sandbox/sent            messages accepted (?seller= ?order= ?type=)
  curl http://%[1]s/_sandbox/stats           counters
  curl -X POST http://%[1]s/_sandbox/reset   forget everything
  curl -X PUT http://%[1]s/_sandbox/orders/123-1234567-1234567 \
       -d '{"available":["sendInvoice"],"disabled":{"updateFeedback":"Too late."}}'
  curl -X PUT http://%[1]s/_sandbox/orders/123-1234567-1234567/delivery \
       -d '{"earliest":"2026-03-01T00:00:00Z","latest":"2026-03-03T00:00:00Z"}'
  curl -X POST http://%[1]s/_sandbox/faults/send-then-500 \
       -d '{"order":"123-1234567-1234567","count":1}'

The last one records the order's next send (Messaging or review request)
as sent and answers it 500 InternalFailure; GET on the same path lists the
rules in force and DELETE drops them.

Flags:
`, defaultAddr)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Config file (--config), JSON; flags given explicitly win over it:

  {
    "seed": 1,
    "client_id": "amzn1.application-oa2-client.x", "client_secret": "secret",
    "auto_sellers": false,
    "token_lifetime": "1h",
    "sellers": [{"id": "A1SELLER", "refresh_token": "Atzr|one",
                 "rates": {"sendInvoice": {"rate": 5, "burst": 10}}}],
    "default_available": ["confirmOrderDetails", "sendInvoice", "updateFeedback"],
    "orders": [{"id": "123-1234567-1234567", "seller": "A1SELLER",
                "available": ["sendInvoice", "legalDisclosure"],
                "disabled": {"updateFeedback": "Feedback window closed."},
                "locale": "de-DE",
                "delivery": {"earliest": "2026-03-01T00:00:00Z", "latest": "2026-03-03T00:00:00Z"}}],
    "no_rate_limits": false,
    "messaging_rate": {"rate": 1, "burst": 5},
    "uploads_rate": {"rate": 10, "burst": 10},
    "solicitations_rate": {"rate": 1, "burst": 5},
    "rates": {"getMessagingActionsForOrder": {"rate": 2, "burst": 5, "advertise": 2}},
    "faults": {"error_5xx": 0.05, "latency": "20ms", "lost": 0.01,
               "send_then_500": 0.01,
               "send_then_500_rules": [{"order": "123-1234567-1234567", "count": 1}]},
    "upload_url_expiry": "15m"
  }

Type names may be any known Messaging name or alias (invoice or
sendInvoice, negativeFeedbackRemoval or updateFeedback); the name given is
what getMessagingActionsForOrder shows. The review request is not a
Messaging type: getSolicitationActionsForOrder offers it by the delivery
dates. A send-then-500 rule applies to the next "count" sends matching
"order" and "seller" (empty matches any; no count means every send).
`)
}
