// Package cli holds what spmsg's commands share: flag defaults from the
// environment (a flag wins over its variable, which wins over the default),
// Redis connections from REDIS_URL, and logging setup.
package cli

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Getenv looks up an environment variable (os.Getenv in main, a map in
// tests).
type Getenv func(string) string

// StringVar defines a string flag whose default comes from env var name.
func StringVar(fs *flag.FlagSet, p *string, flagName, envName, def string, getenv Getenv, usage string) {
	if v := getenv(envName); v != "" {
		def = v
	}
	if envName != "" {
		usage += " (env " + envName + ")"
	}
	fs.StringVar(p, flagName, def, usage)
}

// IntVar defines an int flag whose default comes from env var name; a bad
// value in the environment is reported when the flags are parsed.
func IntVar(fs *flag.FlagSet, p *int, flagName, envName string, def int, getenv Getenv, usage string, bad *[]string) {
	if v := getenv(envName); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			*bad = append(*bad, fmt.Sprintf("%s=%q is not a number", envName, v))
		} else {
			def = n
		}
	}
	if envName != "" {
		usage += " (env " + envName + ")"
	}
	fs.IntVar(p, flagName, def, usage)
}

// DurationVar is IntVar for durations ("30s", "5m").
func DurationVar(fs *flag.FlagSet, p *time.Duration, flagName, envName string, def time.Duration, getenv Getenv, usage string, bad *[]string) {
	if v := getenv(envName); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			*bad = append(*bad, fmt.Sprintf("%s=%q is not a duration", envName, v))
		} else {
			def = d
		}
	}
	if envName != "" {
		usage += " (env " + envName + ")"
	}
	fs.DurationVar(p, flagName, def, usage)
}

// DefaultRedisURL is used when REDIS_URL is not set.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// Redis parses a REDIS_URL (redis://, rediss://, redis-socket://,
// redis-sentinel://) into asynq's connection option and a go-redis client
// for spmsg's own keys. The URL's password never appears in the error.
func Redis(url string) (asynq.RedisConnOpt, redis.UniversalClient, error) {
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL %s: %v", Redact(url), redactErr(err, url))
	}
	c, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, nil, fmt.Errorf("REDIS_URL %s: unsupported connection type", Redact(url))
	}
	return opt, c, nil
}

// Redact hides the password of a URL.
func Redact(url string) string {
	at := strings.LastIndex(url, "@")
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return url
	}
	userinfo := url[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return url[:scheme+3] + userinfo[:i] + ":xxxxx" + url[at:]
	}
	return url[:scheme+3] + "xxxxx" + url[at:]
}

func redactErr(err error, url string) string {
	s := err.Error()
	at := strings.LastIndex(url, "@")
	scheme := strings.Index(url, "://")
	if at > scheme && scheme >= 0 {
		if ui := url[scheme+3 : at]; ui != "" {
			s = strings.ReplaceAll(s, ui, "xxxxx")
		}
	}
	return s
}

// Logger builds the slog logger for LOG_FORMAT (text or json).
func Logger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("LOG_FORMAT %q: want text or json", format)
}
