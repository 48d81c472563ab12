// Package redisguard checks at start-up that a Redis keeps what it
// acknowledges, and confirms before each send that the writes spmsg made
// (the ledger claim and the send mark) would survive a crash or a
// fail-over.
//
// spmsg promises a buyer never gets a message twice. Before a send the
// worker writes a ledger claim and a send mark. If Redis loses them (a crash
// with appendfsync everysec loses up to a second of writes, as does a
// fail-over to a replica that lagged), asynq's acknowledgement vanishes with
// them, the job comes back and the message goes again.
//
// Check reads each master's configuration (CONFIG GET appendonly,
// appendfsync, maxmemory-policy; INFO server and replication) and refuses,
// unless Options.AcceptRisk is set, a Redis that can lose acknowledged
// writes: AOF off, appendfsync no, appendfsync everysec on a Redis older
// than 7.2 (no WAITAOF, so nothing can confirm a write is on disk), or a
// maxmemory-policy other than noeviction. The returned Guard implements
// tasks.Durability; Guard.Confirm is, per master:
//
//   - appendfsync always, no replicas: nothing. Redis answers a write only
//     after its fsync, so what was acknowledged is on disk.
//   - appendfsync everysec on Redis >= 7.2 (or CONFIG forbidden on such a
//     Redis): a probe write and WAITAOF 1 0 <timeout> pipelined on one
//     connection; the answer's local count must be 1. WAITAOF waits for the
//     calling connection's own writes, and the AOF is written and fsynced
//     in order, so the probe on disk means every write acknowledged before
//     it is on disk too.
//   - replicas (INFO replication connected_slaves at Check, or
//     Options.Replicas): a probe write and WAIT <n> <timeout> on one
//     connection; at least n replicas must have it. A replica promoted at
//     fail-over then holds every write acknowledged before the probe.
//
// Confirm waits up to three times (a fresh probe each time: with everysec
// a wait that just missed one fsync tick makes the next); then it is an
// error and the caller must not send (the worker defers the job). Measured with BenchmarkConfirm on the Redis 7.0 of the build
// machine, where only the always (no-op) and WAIT paths can run: WAITAOF
// needs Redis 7.2.
package redisguard

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/internal/keyspace"
)

// DefaultTimeout is how long Confirm waits for the disk and the replicas
// when Options.Timeout is zero.
const DefaultTimeout = time.Second

// DefaultProbeKey is the key Confirm writes when Options.ProbeKey is empty.
// On a cluster a hash tag is appended per master ("{n}").
const DefaultProbeKey = keyspace.DefaultPrefix + ":durable:probe"

// Options tune Check and the Guard it returns. The zero value is the
// production setting.
type Options struct {
	// AcceptRisk turns the problems that refuse a Redis into warnings: the
	// worker then runs on a Redis that can lose acknowledged writes, and a
	// buyer may get a message twice after a crash or fail-over.
	AcceptRisk bool
	// Replicas is how many replicas of each master must have a write
	// before Confirm returns (WAIT). Zero: the number each master reported
	// connected (INFO replication connected_slaves) at Check.
	Replicas int
	// Timeout bounds each wait (WAITAOF, WAIT) in Confirm. Default
	// DefaultTimeout. Twice Timeout must stay below the client's read
	// timeout (3 s by default), as both waits may run in one pipeline.
	Timeout time.Duration
	// ProbeKey is the key Confirm writes. Default DefaultProbeKey.
	ProbeKey string
}

// Warning is a finding about one Redis server: a risk accepted with
// Options.AcceptRisk, or something Check could not verify.
type Warning struct {
	// Addr is the server's host:port.
	Addr string
	// Setting is the configuration item or command concerned, e.g.
	// "appendfsync" or "CONFIG".
	Setting string
	// Message says what is wrong and how to fix it.
	Message string
}

// String formats the warning as "addr: message".
func (w Warning) String() string { return w.Addr + ": " + w.Message }

// RiskError is Check's refusal: the settings that let Redis lose
// acknowledged writes, each with its fix.
type RiskError struct {
	Problems []Warning
}

// Error lists every problem.
func (e *RiskError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "Redis can lose acknowledged writes (a buyer could get a message twice): " + strings.Join(parts, "; ")
}

// plan is what Confirm does on one master.
type plan struct {
	waitAOF  bool // WAITAOF 1 0: everysec on Redis >= 7.2
	replicas int  // WAIT replicas; 0: none
}

func (p plan) needed() bool { return p.waitAOF || p.replicas > 0 }

// Guard confirms, on every master, that the writes Redis acknowledged are
// on disk and on the replicas. It implements tasks.Durability and is safe
// for concurrent use.
type Guard struct {
	rdb     redis.UniversalClient
	timeout time.Duration
	probe   string
	plans   map[string]plan // by master address
	strict  plan            // for a master Check did not see
	noop    bool            // no master needs anything

	mu        sync.Mutex
	probeKeys map[string]string // cluster: master address -> key in its slots
}

// Check reads the configuration of rdb's server (every master of a
// *redis.ClusterClient) and returns a Guard for it, with the warnings to
// log. It returns a *RiskError naming each unsafe setting and its fix,
// unless opts.AcceptRisk makes them warnings. A server that forbids CONFIG
// (managed services) is a warning: on Redis >= 7.2 the Guard then uses
// WAITAOF, which Check tries once.
func Check(ctx context.Context, rdb redis.UniversalClient, opts Options) (*Guard, []Warning, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ProbeKey == "" {
		opts.ProbeKey = DefaultProbeKey
	}
	if opts.Replicas < 0 {
		return nil, nil, fmt.Errorf("redisguard: Options.Replicas %d: must not be negative", opts.Replicas)
	}
	g := &Guard{rdb: rdb, timeout: opts.Timeout, probe: opts.ProbeKey, plans: map[string]plan{}, probeKeys: map[string]string{}}
	var (
		mu                 sync.Mutex
		problems, warnings []Warning
	)
	checkNode := func(ctx context.Context, c *redis.Client) error {
		if rt := c.Options().ReadTimeout; rt > 0 && 2*opts.Timeout >= rt {
			return fmt.Errorf("redisguard: Options.Timeout %s: twice it must stay below the Redis read timeout %s", opts.Timeout, rt)
		}
		f, err := inspect(ctx, c, opts)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		g.plans[f.addr] = f.plan
		problems = append(problems, f.problems...)
		warnings = append(warnings, f.warnings...)
		return nil
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, checkNode)
	case *redis.Client:
		err = checkNode(ctx, c)
	default:
		err = fmt.Errorf("redisguard: unsupported client %T: want *redis.Client or *redis.ClusterClient", rdb)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(problems) > 0 && !opts.AcceptRisk {
		return nil, warnings, &RiskError{Problems: problems}
	}
	warnings = append(problems, warnings...)
	g.noop = true
	for _, p := range g.plans {
		g.strict.waitAOF = g.strict.waitAOF || p.waitAOF
		g.strict.replicas = max(g.strict.replicas, p.replicas)
		if p.needed() {
			g.noop = false
		}
	}
	return g, warnings, nil
}

// findings is what Check learned about one server.
type findings struct {
	addr               string
	plan               plan
	problems, warnings []Warning
}

// inspect reads one server's settings and decides its plan.
func inspect(ctx context.Context, c *redis.Client, opts Options) (*findings, error) {
	f := &findings{addr: c.Options().Addr}
	problem := func(setting, format string, a ...any) {
		f.problems = append(f.problems, Warning{Addr: f.addr, Setting: setting, Message: fmt.Sprintf(format, a...)})
	}
	warn := func(setting, format string, a ...any) {
		f.warnings = append(f.warnings, Warning{Addr: f.addr, Setting: setting, Message: fmt.Sprintf(format, a...)})
	}
	server, err := c.Info(ctx, "server").Result()
	if err != nil {
		return nil, fmt.Errorf("redisguard: INFO server on %s: %w", f.addr, err)
	}
	repl, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return nil, fmt.Errorf("redisguard: INFO replication on %s: %w", f.addr, err)
	}
	version := infoField(server, "redis_version")
	hasWaitAOF := versionAtLeast(version, 7, 2)
	f.plan.replicas = opts.Replicas
	if f.plan.replicas == 0 {
		if n, err := strconv.Atoi(infoField(repl, "connected_slaves")); err == nil {
			f.plan.replicas = n
		}
	}

	cfg, err := configGet(ctx, c, "appendonly", "appendfsync", "maxmemory-policy")
	switch {
	case err != nil && forbidden(err):
		msg := "CONFIG GET is not allowed (" + err.Error() + "), so appendonly, appendfsync and maxmemory-policy cannot be checked: make sure of appendonly yes, appendfsync always (or everysec on Redis >= 7.2) and maxmemory-policy noeviction"
		if !hasWaitAOF {
			warn("CONFIG", "%s; Redis %s has no WAITAOF, so spmsg cannot confirm writes are on disk", msg, version)
			return f, nil
		}
		warn("CONFIG", "%s; spmsg confirms each send's writes with WAITAOF", msg)
		f.plan.waitAOF = true
		// WAITAOF fails at once on a server without AOF: find out now.
		if err := c.WaitAOF(ctx, 1, 0, opts.Timeout).Err(); err != nil {
			problem("appendonly", "WAITAOF failed (%v): AOF is off or WAITAOF is not allowed: set appendonly yes, appendfsync always (or everysec)", err)
			f.plan.waitAOF = false
		}
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("redisguard: CONFIG GET on %s: %w", f.addr, err)
	}

	if p := cfg["maxmemory-policy"]; p != "noeviction" {
		problem("maxmemory-policy", "maxmemory-policy is %s: Redis may evict spmsg's ledger, send marks and jobs: set maxmemory-policy noeviction", p)
	}
	if cfg["appendonly"] != "yes" {
		problem("appendonly", "AOF is off: set appendonly yes, appendfsync always (or everysec on Redis >= 7.2)")
		return f, nil
	}
	switch fsync := cfg["appendfsync"]; {
	case fsync == "always":
	case fsync == "everysec" && hasWaitAOF:
		f.plan.waitAOF = true
	case fsync == "everysec":
		problem("appendfsync", "appendfsync everysec on Redis %s: a crash loses the last second of writes and Redis < 7.2 has no WAITAOF, so nothing can confirm a write is on disk: set appendfsync always, or use Redis >= 7.2", version)
	default:
		problem("appendfsync", "appendfsync is %s: a crash loses writes Redis acknowledged: set appendfsync always (or everysec on Redis >= 7.2)", fsync)
	}
	return f, nil
}

// configGet reads parameters with one CONFIG GET each, pipelined (CONFIG
// GET with several parameters needs Redis 7).
func configGet(ctx context.Context, c *redis.Client, params ...string) (map[string]string, error) {
	cmds := make([]*redis.MapStringStringCmd, len(params))
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, name := range params {
			cmds[i] = p.ConfigGet(ctx, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, name := range params {
		v, ok := cmds[i].Val()[name]
		if !ok {
			// A proxy that answers CONFIG GET with nothing hides the
			// setting as surely as one that refuses it.
			return nil, fmt.Errorf("ERR CONFIG GET %s: no value", name)
		}
		out[name] = v
	}
	return out, nil
}

// forbidden reports whether err is a server refusing CONFIG: renamed or
// disabled (unknown command), an ACL (NOPERM), or a managed service's own
// ERR message about CONFIG.
func forbidden(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "unknown command") || strings.HasPrefix(s, "noperm") ||
		(strings.HasPrefix(s, "err") && strings.Contains(s, "config"))
}

// infoField returns a field of an INFO section ("" when absent).
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// versionAtLeast reports whether version "x.y.z" is at least major.minor.
func versionAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// Needed reports whether Confirm does anything: false when every master
// runs appendfsync always without replicas (or risks were accepted and
// nothing can be confirmed).
func (g *Guard) Needed() bool { return !g.noop }

// String describes what Confirm does, for the start-up log.
func (g *Guard) String() string {
	if g.noop {
		return "nothing to confirm: Redis fsyncs each write before answering (appendfsync always) and has no replicas"
	}
	var parts []string
	if g.strict.waitAOF {
		parts = append(parts, "WAITAOF (on disk)")
	}
	if g.strict.replicas > 0 {
		parts = append(parts, fmt.Sprintf("WAIT %d (on the replicas)", g.strict.replicas))
	}
	return "each send waits for " + strings.Join(parts, " and ") + fmt.Sprintf(", up to %s each", g.timeout)
}

// Confirm returns nil once every write Redis acknowledged before the call
// is on disk and on the replicas, on every master; an error when that
// cannot be confirmed within the timeout (or ctx ends). It implements
// tasks.Durability.
func (g *Guard) Confirm(ctx context.Context) error {
	if g.noop {
		return nil
	}
	switch c := g.rdb.(type) {
	case *redis.ClusterClient:
		err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			key, err := g.clusterProbeKey(ctx, c, m.Options().Addr)
			if err != nil {
				return err
			}
			for try := 0; try < confirmTries; try++ {
				if err = g.confirmNode(ctx, m, key); !errors.Is(err, errNotYet) {
					return err
				}
			}
			return err
		})
		if err != nil {
			g.mu.Lock()
			clear(g.probeKeys) // slots may have moved: choose keys again
			g.mu.Unlock()
		}
		return err
	case *redis.Client:
		var err error
		// With everysec, Redis fsyncs once a second: a wait that just
		// missed one tick makes the next. A few tries, each a fresh probe
		// within the read timeout, spare the caller a deferral (which would
		// repeat its availability check and uploads).
		for try := 0; try < confirmTries; try++ {
			if err = g.confirmNode(ctx, c, g.probe); !errors.Is(err, errNotYet) {
				return err
			}
		}
		return err
	default:
		return fmt.Errorf("redisguard: unsupported client %T", g.rdb)
	}
}

// errNotYet marks a wait that ended before the disk or the replicas had the
// write: Confirm tries again, up to confirmTries times in all.
var errNotYet = errors.New("not confirmed yet")

// confirmTries is how many waits Confirm makes before it gives up.
const confirmTries = 3

// confirmNode writes key and waits, on one connection, for it to reach the
// disk (WAITAOF) and the replicas (WAIT).
func (g *Guard) confirmNode(ctx context.Context, c *redis.Client, key string) error {
	addr := c.Options().Addr
	p, ok := g.plans[addr]
	if !ok {
		p = g.strict
	}
	if !p.needed() {
		return nil
	}
	conn := c.Conn()
	defer conn.Close()
	var aof *redis.Cmd
	var wait *redis.Cmd
	_, err := conn.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, key, "1", 10*time.Minute)
		if p.waitAOF {
			aof = pipe.Do(ctx, "WAITAOF", 1, 0, g.timeout.Milliseconds()) // not in Pipeliner
		}
		if p.replicas > 0 {
			wait = pipe.Do(ctx, "WAIT", p.replicas, g.timeout.Milliseconds())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisguard: confirm on %s: %w", addr, err)
	}
	if aof != nil {
		if v, err := aof.Int64Slice(); err != nil || len(v) < 1 || v[0] < 1 {
			return fmt.Errorf("redisguard: WAITAOF on %s: %w: the write is not on disk after %s", addr, errNotYet, g.timeout)
		}
	}
	if wait != nil {
		if n, err := wait.Int64(); err != nil || n < int64(p.replicas) {
			return fmt.Errorf("redisguard: WAIT on %s: %w: %d of %d replicas have the write after %s", addr, errNotYet, n, p.replicas, g.timeout)
		}
	}
	return nil
}

// clusterProbeKey returns a probe key in a slot served by the master at
// addr, choosing keys for every master when addr has none yet.
func (g *Guard) clusterProbeKey(ctx context.Context, c *redis.ClusterClient, addr string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if k, ok := g.probeKeys[addr]; ok {
		return k, nil
	}
	// Keys spread evenly over the 16384 slots; a master holding at least
	// one slot is found long before the bound.
	for i := 0; i < 1<<16; i++ {
		key := g.probe + "{" + strconv.Itoa(i) + "}"
		m, err := c.MasterForKey(ctx, key)
		if err != nil {
			return "", fmt.Errorf("redisguard: find the master of %s: %w", key, err)
		}
		if _, ok := g.probeKeys[m.Options().Addr]; !ok {
			g.probeKeys[m.Options().Addr] = key
		}
		if k, ok := g.probeKeys[addr]; ok {
			return k, nil
		}
	}
	return "", fmt.Errorf("redisguard: no slot of the cluster is served by %s", addr)
}
