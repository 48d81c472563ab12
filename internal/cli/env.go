// Package cli holds what spmsg's commands share: flag defaults from the
// environment (a flag wins over its variable, which wins over the default),
// Redis connections from REDIS_URL, and logging setup.
package cli

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
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

// Redis parses a REDIS_URL into asynq's connection option and a go-redis
// client for spmsg's own keys. The URL's password never appears in the
// error. Schemes:
//
//	redis://[[user]:password@]host:port[/db]           one server
//	rediss://...                                       the same over TLS
//	redis-socket://[[user]:password@]/path/to/socket[?db=N]
//	redis-sentinel://[:password@]host:port[,host:port...][?master=name]
//	redis-cluster://[[user]:password@]host:port[,host:port...][?option=value...]
//	rediss-cluster://...                               a cluster over TLS
//
// For a Redis Cluster list one or more nodes (the client discovers the
// rest); the path may only be empty or /0, since a cluster has database 0
// only. Query options are go-redis's ClusterOptions in snake case
// (dial_timeout, read_timeout, write_timeout, max_redirects, pool_size, ...).
func Redis(url string) (asynq.RedisConnOpt, redis.UniversalClient, error) {
	if isClusterURL(url) {
		opt, c, err := redisCluster(url)
		if err != nil {
			return nil, nil, fmt.Errorf("REDIS_URL %s: %v", Redact(url), redactErr(err, url))
		}
		return opt, c, nil
	}
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

const (
	clusterScheme    = "redis-cluster://"
	clusterTLSScheme = "rediss-cluster://"
)

func isClusterURL(url string) bool {
	l := strings.ToLower(url)
	return strings.HasPrefix(l, clusterScheme) || strings.HasPrefix(l, clusterTLSScheme)
}

// redisCluster parses a redis-cluster:// or rediss-cluster:// URL: it
// rewrites the node list into go-redis's cluster URL form (the first node
// as host, the others as addr parameters) and parses that.
func redisCluster(raw string) (asynq.RedisConnOpt, redis.UniversalClient, error) {
	scheme, rest := "redis", raw[len(clusterScheme):]
	if strings.HasPrefix(strings.ToLower(raw), clusterTLSScheme) {
		scheme, rest = "rediss", raw[len(clusterTLSScheme):]
	}
	authority, path, query := rest, "", ""
	if i := strings.IndexByte(authority, '?'); i >= 0 {
		authority, query = authority[:i], authority[i+1:]
	}
	if i := strings.IndexByte(authority, '/'); i >= 0 {
		authority, path = authority[:i], authority[i:]
	}
	if path != "" && path != "/" && path != "/0" {
		return nil, nil, fmt.Errorf("database %q: a Redis Cluster has database 0 only", strings.TrimPrefix(path, "/"))
	}
	userinfo, hostList := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hostList = authority[:i+1], authority[i+1:]
	}
	if hostList == "" {
		return nil, nil, fmt.Errorf("no cluster nodes: want %shost:port[,host:port...]", clusterScheme)
	}
	var nodes []string
	for _, h := range strings.Split(hostList, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil { // no port: Redis's default
			host, port, err = strings.Trim(h, "[]"), "6379", nil
		}
		if _, perr := strconv.ParseUint(port, 10, 16); host == "" || perr != nil || strings.ContainsAny(host, "[]") {
			return nil, nil, fmt.Errorf("cluster node %q: want host:port", h)
		}
		nodes = append(nodes, net.JoinHostPort(host, port))
	}
	q, err := neturl.ParseQuery(query)
	if err != nil {
		return nil, nil, fmt.Errorf("options: %v", err)
	}
	if q.Has("addr") {
		return nil, nil, errors.New("list the cluster nodes comma-separated before the path, not as addr options")
	}
	for _, n := range nodes[1:] {
		q.Add("addr", n)
	}
	opts, err := redis.ParseClusterURL(scheme + "://" + userinfo + nodes[0] + "/?" + q.Encode())
	if err != nil {
		return nil, nil, err
	}
	if opts.TLSConfig != nil {
		// Verify each node against its own host name, not the first one's.
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	connOpt := asynq.RedisClusterClientOpt{Addrs: opts.Addrs, MaxRedirects: opts.MaxRedirects,
		Username: opts.Username, Password: opts.Password, DialTimeout: opts.DialTimeout,
		ReadTimeout: opts.ReadTimeout, WriteTimeout: opts.WriteTimeout, TLSConfig: opts.TLSConfig}
	return connOpt, redis.NewClusterClient(opts), nil
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
