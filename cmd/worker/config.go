package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spmsg/spmsg/internal/cli"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/tasks"
)

// Config is the worker's configuration: flags over environment variables
// over defaults (PRODUCT.md "Configuration").
type Config struct {
	RedisURL        string
	LWAClientID     string
	LWAClientSecret string
	SellersFile     string
	Endpoint        string
	LWAEndpoint     string
	AttachmentStore string

	// AttachmentS3Allow lists, comma-separated, the s3://bucket[/prefix]
	// places that s3:// attachment sources may name besides the store's own.
	AttachmentS3Allow string

	Concurrency     int
	MetricsAddr     string
	LogFormat       string
	LogLevel        string
	ShutdownTimeout time.Duration
	// AcceptRedisRisk runs the worker on a Redis that can lose writes it
	// acknowledged: redisguard's refusals become warnings. --dev sets it.
	AcceptRedisRisk bool
	// ResendAfter5xx retries a send Amazon answered with a 5xx (the buyer
	// may get the message twice).
	ResendAfter5xx bool
	// MaxAge ends a job without a deadline that is still unsent this long
	// after enqueue.
	MaxAge time.Duration
	// Dev starts an embedded Redis (unless REDIS_URL is given) and the
	// local SP-API sandbox, and wires the worker to them.
	Dev bool
	// Demo (with Dev) enqueues a sample campaign, shows progress, prints a
	// summary and exits.
	Demo bool
	// DevRedis picks --dev's Redis: auto (redis-server from PATH, else
	// embedded), redis-server, or miniredis (embedded).
	DevRedis string
}

const usageText = `worker runs spmsg's asynq server: it takes message jobs from Redis, checks
availability, validates and uploads, sends through Amazon's Messaging API and
records one final outcome per job.

Usage:
  worker [flags]

Every flag can also be set by the environment variable named in its help;
a flag wins over its variable.

Examples:
  # production: real Amazon, a local Redis
  SPAPI_LWA_CLIENT_ID=amzn1... SPAPI_LWA_CLIENT_SECRET=... \
  SPAPI_SELLERS_FILE=/etc/spmsg/sellers.json worker

  # try it with nothing installed: embedded Redis + local SP-API sandbox
  go run ./cmd/worker --dev --demo

Flags:
`

// parseFlags reads the configuration from args and the environment.
func parseFlags(args []string, getenv cli.Getenv, stderr io.Writer) (Config, error) {
	var c Config
	var bad []string
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	cwd, _ := os.Getwd()
	cli.StringVar(fs, &c.RedisURL, "redis-url", "REDIS_URL", "", getenv, "Redis URL: redis://, rediss:// (TLS), redis-sentinel://, redis-cluster://host1:6379,host2:6379; default "+cli.DefaultRedisURL)
	cli.StringVar(fs, &c.LWAClientID, "lwa-client-id", "SPAPI_LWA_CLIENT_ID", "", getenv, "LWA client id of the SP-API application")
	cli.StringVar(fs, &c.LWAClientSecret, "lwa-client-secret", "SPAPI_LWA_CLIENT_SECRET", "", getenv, "LWA client secret (prefer the variable: flags show in ps)")
	cli.StringVar(fs, &c.SellersFile, "sellers-file", "SPAPI_SELLERS_FILE", "", getenv, "JSON array of sellers: id, refresh_token, region (na, eu, fe), optional rates")
	cli.StringVar(fs, &c.Endpoint, "spapi-endpoint", "SPAPI_ENDPOINT", "", getenv, "one SP-API base URL for every region (a sandbox); default Amazon's regional hosts")
	cli.StringVar(fs, &c.LWAEndpoint, "lwa-endpoint", "SPAPI_LWA_ENDPOINT", "", getenv, "LWA token URL; default Amazon's")
	cli.StringVar(fs, &c.AttachmentStore, "attachment-store", "ATTACHMENT_STORE", "", getenv, "where attachment bytes live: file:///dir or s3://bucket/prefix; default file://./attachments (with --dev: a temporary folder)")
	cli.StringVar(fs, &c.AttachmentS3Allow, "attachment-s3-allow", "ATTACHMENT_S3_ALLOW", "", getenv, "comma-separated s3://bucket[/prefix] places that s3:// attachment sources may name besides the store's own bucket and prefix")
	cli.IntVar(fs, &c.Concurrency, "concurrency", "WORKER_CONCURRENCY", 100, getenv, "jobs processed at once by this process; a job waiting (up to 2 s) for its seller's slot holds one, so use at least twice the messages/s you expect from this process", &bad)
	cli.StringVar(fs, &c.MetricsAddr, "metrics-addr", "METRICS_ADDR", "127.0.0.1:9090", getenv, "address for /metrics and /healthz; empty disables")
	cli.StringVar(fs, &c.LogFormat, "log-format", "LOG_FORMAT", "text", getenv, "log format: text or json")
	cli.StringVar(fs, &c.LogLevel, "log-level", "LOG_LEVEL", "info", getenv, "log level: debug, info, warn, error")
	cli.DurationVar(fs, &c.ShutdownTimeout, "shutdown-timeout", "WORKER_SHUTDOWN_TIMEOUT", 65*time.Second, getenv, "how long running jobs may finish after SIGTERM", &bad)
	boolVar(fs, &c.AcceptRedisRisk, "accept-redis-risk", "REDIS_ACCEPT_RISK", getenv, "start even on a Redis that can lose writes it acknowledged (appendonly no, appendfsync no, appendfsync everysec before Redis 7.2, a maxmemory-policy that evicts): after a Redis crash or fail-over a buyer may get a message twice; --dev sets it", &bad)
	boolVar(fs, &c.ResendAfter5xx, "resend-after-5xx", "RESEND_AFTER_5XX", getenv, "retry a send Amazon answered with a 5xx instead of ending it unconfirmed; Amazon may have delivered it, so the buyer may get the message twice", &bad)
	cli.DurationVar(fs, &c.MaxAge, "max-age", "JOB_MAX_AGE", tasks.DefaultMaxAge, getenv, "a job without a deadline still unsent this long after enqueue ends expired", &bad)
	fs.BoolVar(&c.Dev, "dev", false, "development mode: embedded Redis (unless REDIS_URL is set) and the local SP-API sandbox")
	fs.BoolVar(&c.Demo, "demo", false, "with --dev: enqueue a sample campaign, show progress, print a summary and exit")
	fs.StringVar(&c.DevRedis, "dev-redis", "auto", "with --dev and no REDIS_URL: auto (redis-server from PATH, else embedded miniredis), redis-server or miniredis")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageError(err.Error()) // exit code 2, as PRODUCT.md says
	}
	if fs.NArg() > 0 {
		return c, usageError("unexpected arguments: " + strings.Join(fs.Args(), " "))
	}
	if len(bad) > 0 {
		return c, usageError(strings.Join(bad, "; "))
	}
	if c.Demo && !c.Dev {
		c.Dev = true
	}
	if c.Dev {
		c.AcceptRedisRisk = true // a laptop's Redis; the demo must run
	}
	if c.MaxAge <= 0 {
		return c, usageError("--max-age must be positive")
	}
	if c.MaxAge > jobstate.DefaultRetention {
		return c, usageError(fmt.Sprintf("--max-age %s is longer than the %s that outcome records (and their enqueue times) are kept", c.MaxAge, jobstate.DefaultRetention))
	}
	switch c.DevRedis {
	case "auto", "redis-server", "miniredis":
	default:
		return c, usageError("--dev-redis must be auto, redis-server or miniredis")
	}
	if c.Concurrency < 1 {
		return c, usageError("--concurrency must be at least 1")
	}
	if !c.Dev {
		var missing []string
		if c.LWAClientID == "" {
			missing = append(missing, "SPAPI_LWA_CLIENT_ID (--lwa-client-id)")
		}
		if c.LWAClientSecret == "" {
			missing = append(missing, "SPAPI_LWA_CLIENT_SECRET (--lwa-client-secret)")
		}
		if c.SellersFile == "" {
			missing = append(missing, "SPAPI_SELLERS_FILE (--sellers-file)")
		}
		if len(missing) > 0 {
			return c, usageError("missing configuration: " + strings.Join(missing, ", ") + " (or use --dev for the local sandbox)")
		}
	}
	if c.RedisURL == "" && !c.Dev {
		c.RedisURL = cli.DefaultRedisURL
	}
	if c.AttachmentStore == "" && !c.Dev {
		c.AttachmentStore = "file://" + filepath.Join(cwd, "attachments")
	}
	return c, nil
}

// boolVar defines a bool flag that falls back to env var envName ("1",
// "true", "0", "false", ...), then to false; a bad value is appended to bad.
func boolVar(fs *flag.FlagSet, p *bool, flagName, envName string, getenv cli.Getenv, usage string, bad *[]string) {
	fs.BoolVar(p, flagName, false, usage+" (env "+envName+"=1)")
	if v := getenv(envName); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			*bad = append(*bad, fmt.Sprintf("%s=%q is not a boolean (1 or 0)", envName, v))
			return
		}
		*p = b
	}
}

type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usageError(msg string) error { return &usageErr{msg: msg} }

func isUsage(err error) bool {
	var u *usageErr
	return errors.As(err, &u) || errors.Is(err, flag.ErrHelp)
}

// String describes the configuration without the LWA client secret or the
// Redis password (URLs print through cli.Redact).
func (c Config) String() string {
	return fmt.Sprintf("worker.Config{RedisURL:%q LWAClientID:%q LWAClientSecret:%s SellersFile:%q Endpoint:%q LWAEndpoint:%q "+
		"AttachmentStore:%q AttachmentS3Allow:%q Concurrency:%d MetricsAddr:%q LogFormat:%q LogLevel:%q ShutdownTimeout:%s "+
		"AcceptRedisRisk:%t ResendAfter5xx:%t MaxAge:%s Dev:%t Demo:%t DevRedis:%q}",
		cli.Redact(c.RedisURL), c.LWAClientID, redactedIfSet(c.LWAClientSecret), c.SellersFile, cli.Redact(c.Endpoint),
		cli.Redact(c.LWAEndpoint), cli.Redact(c.AttachmentStore), cli.Redact(c.AttachmentS3Allow), c.Concurrency,
		c.MetricsAddr, c.LogFormat, c.LogLevel, c.ShutdownTimeout, c.AcceptRedisRisk, c.ResendAfter5xx, c.MaxAge,
		c.Dev, c.Demo, c.DevRedis)
}

// GoString is String, so %#v hides the secrets too.
func (c Config) GoString() string { return c.String() }

// Format prints String for every verb, so no verb (%d, %x, %q, %#v, ...)
// can reach a secret through fmt's field-by-field printing.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer without the secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("redis_url", cli.Redact(c.RedisURL)),
		slog.String("lwa_client_id", c.LWAClientID),
		slog.Bool("lwa_client_secret_set", c.LWAClientSecret != ""),
		slog.String("sellers_file", c.SellersFile),
		slog.String("spapi_endpoint", cli.Redact(c.Endpoint)),
		slog.String("lwa_endpoint", cli.Redact(c.LWAEndpoint)),
		slog.String("attachment_store", cli.Redact(c.AttachmentStore)),
		slog.Int("concurrency", c.Concurrency),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.Bool("dev", c.Dev),
	)
}

// MarshalJSON encodes the configuration without the secrets, so a Config
// nested in a value that slog's JSON handler marshals stays redacted too.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		RedisURL           string `json:"redis_url"`
		LWAClientID        string `json:"lwa_client_id"`
		LWAClientSecretSet bool   `json:"lwa_client_secret_set"`
		SellersFile        string `json:"sellers_file"`
		Endpoint           string `json:"spapi_endpoint"`
		LWAEndpoint        string `json:"lwa_endpoint"`
		AttachmentStore    string `json:"attachment_store"`
		Concurrency        int    `json:"concurrency"`
		MetricsAddr        string `json:"metrics_addr"`
		Dev                bool   `json:"dev"`
	}{cli.Redact(c.RedisURL), c.LWAClientID, c.LWAClientSecret != "", c.SellersFile, cli.Redact(c.Endpoint),
		cli.Redact(c.LWAEndpoint), cli.Redact(c.AttachmentStore), c.Concurrency, c.MetricsAddr, c.Dev})
}

func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}
