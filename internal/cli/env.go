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
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Getenv looks up an environment variable (os.Getenv in main, a map in
// tests).
type Getenv func(string) string

// envUsage appends the variable's name to a flag's usage, and whether it is
// set, never its value: flag's usage text prints defaults, and some
// variables (REDIS_URL, tokens, secrets) hold secrets.
func envUsage(usage, envName string, getenv Getenv) string {
	switch {
	case envName == "":
		return usage
	case getenv(envName) != "":
		return usage + " (env " + envName + ", which is set and replaces the default)"
	default:
		return usage + " (env " + envName + ")"
	}
}

// StringVar defines a string flag that falls back to env var envName, then
// to def: a flag wins over its variable, which wins over the default. The
// variable's value is stored after the flag is defined, never as its
// default, so --help and usage errors cannot print it.
func StringVar(fs *flag.FlagSet, p *string, flagName, envName, def string, getenv Getenv, usage string) {
	fs.StringVar(p, flagName, def, envUsage(usage, envName, getenv))
	if envName == "" {
		return
	}
	if v := getenv(envName); v != "" {
		*p = v
	}
}

// IntVar defines an int flag that falls back to env var envName, then to
// def (see StringVar). A bad value in the environment is appended to bad,
// for the caller to report after parsing.
func IntVar(fs *flag.FlagSet, p *int, flagName, envName string, def int, getenv Getenv, usage string, bad *[]string) {
	fs.IntVar(p, flagName, def, envUsage(usage, envName, getenv))
	if envName == "" {
		return
	}
	if v := getenv(envName); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			*bad = append(*bad, fmt.Sprintf("%s=%q is not a number", envName, v))
			return
		}
		*p = n
	}
}

// DurationVar is IntVar for durations ("30s", "5m").
func DurationVar(fs *flag.FlagSet, p *time.Duration, flagName, envName string, def time.Duration, getenv Getenv, usage string, bad *[]string) {
	fs.DurationVar(p, flagName, def, envUsage(usage, envName, getenv))
	if envName == "" {
		return
	}
	if v := getenv(envName); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			*bad = append(*bad, fmt.Sprintf("%s=%q is not a duration", envName, v))
			return
		}
		*p = d
	}
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

// Redact hides the password of a URL: everything of the userinfo but the
// user name. A malformed URL is redacted too: whatever comes before the last
// '@' (after the scheme, if any) counts as userinfo.
func Redact(url string) string {
	start, ui, ok := userinfo(url)
	if !ok {
		return url
	}
	rest := url[start+len(ui):]
	if i := strings.Index(ui, ":"); i >= 0 {
		return url[:start] + ui[:i] + ":xxxxx" + rest
	}
	return url[:start] + "xxxxx" + rest
}

// userinfo finds a URL's userinfo (possibly malformed) and where it starts.
func userinfo(url string) (start int, ui string, ok bool) {
	at := strings.LastIndex(url, "@")
	if at < 0 {
		return 0, "", false
	}
	if s := strings.Index(url, "://"); s >= 0 && s < at {
		start = s + 3
	}
	return start, url[start:at], true
}

// redactErr is err's text without the URL's userinfo or password, in any
// form a parser may quote it (raw, percent-decoded, Go-quoted). When a
// short password still shows in the text, the text is replaced whole.
func redactErr(err error, url string) string {
	s := err.Error()
	_, ui, ok := userinfo(url)
	if !ok || ui == "" {
		return s
	}
	pw := ui
	if i := strings.Index(ui, ":"); i >= 0 {
		pw = ui[i+1:]
	}
	var forms []string
	for _, v := range []string{ui, pw} {
		forms = append(forms, v)
		if u, err := neturl.PathUnescape(v); err == nil {
			forms = append(forms, u)
		}
		if u, err := neturl.QueryUnescape(v); err == nil {
			forms = append(forms, u)
		}
	}
	for _, v := range forms[:len(forms):len(forms)] {
		q := strconv.Quote(v)
		forms = append(forms, q[1:len(q)-1])
		q = strconv.QuoteToASCII(v)
		forms = append(forms, q[1:len(q)-1])
	}
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	for _, v := range forms {
		if v != "" {
			s = strings.ReplaceAll(s, v, "xxxxx")
		}
	}
	for _, v := range forms {
		if v != "" && strings.Contains(s, v) {
			return "malformed URL (details hidden: they would show the password)"
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
