// Package redistest gives tests a real Redis: a private redis-server started
// on a free port for the test binary, or the server named by REDIS_URL.
//
// A missing redis-server is a test failure with a clear message, never a
// skip: spmsg's queue, limiter and ledger are only ever tested against a real
// Redis.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/internal/devredis"
)

// Server is a redis-server process owned by a test.
type Server struct {
	Addr string
	Dir  string
	cmd  *exec.Cmd
	args []string
}

// Options tune a private server.
type Options struct {
	// AppendOnly turns AOF persistence on (appendfsync always), for tests
	// that restart Redis and expect their data back.
	AppendOnly bool
	// Args are extra redis-server arguments, e.g. "--cluster-enabled", "yes".
	Args []string
}

// shared is the per-test-binary private server, started once on first use.
// It is test infrastructure, not product state.
type shared struct {
	once sync.Once
	srv  *Server
	url  string
	err  error
}

var binaryServer shared //nolint:gochecknoglobals // one server per test binary

// URL returns the Redis URL tests should use: REDIS_URL when set, otherwise a
// private redis-server started for this test binary on a free port (db 0).
// It fails the test when no Redis can be had.
func URL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	binaryServer.once.Do(func() {
		dir, err := os.MkdirTemp("", "spmsg-redistest-*")
		if err != nil {
			binaryServer.err = err
			return
		}
		srv, err := start(dir, Options{}, 0)
		if err != nil {
			binaryServer.err = err
			return
		}
		binaryServer.srv = srv
		binaryServer.url = "redis://" + srv.Addr + "/0"
	})
	if binaryServer.err != nil {
		tb.Fatalf("redistest: %v", binaryServer.err)
	}
	return binaryServer.url
}

// Client returns a go-redis client on URL(tb) after flushing the database, so
// each test starts empty. The client is closed when the test ends. Tests that
// use this helper must not run in parallel with each other in one package.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(URL(tb))
	if err != nil {
		tb.Fatalf("redistest: bad REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.FlushDB(ctx).Err(); err != nil {
		tb.Fatalf("redistest: flush %s: %v", opt.Addr, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Start starts a private redis-server owned by this test, stopped when the
// test ends. Use it for tests that restart Redis or need AOF.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	srv, err := start(tb.TempDir(), o, 0)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(srv.Stop)
	return srv
}

// StartIn is Start with a chosen data directory, for a restart that must
// find the previous AOF files.
func StartIn(tb testing.TB, dir string, o Options) *Server {
	tb.Helper()
	srv, err := start(dir, o, 0)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(srv.Stop)
	return srv
}

// URL is the server's redis:// URL (db 0).
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 5 s).
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Restart starts the server again on the same port and directory.
func (s *Server) Restart() error {
	s.Stop()
	return s.run()
}

// start starts redis-server in dir on port (0: a free port).
func start(dir string, o Options, port int) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH: install it (Debian: apt-get install redis-server) or set REDIS_URL to a Redis 7 server; spmsg's Redis-backed tests never run against a mock")
	}
	if port == 0 {
		if port, err = devredis.FreePort(); err != nil {
			return nil, err
		}
	}
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--save", "", "--daemonize", "no",
		"--logfile", filepath.Join(dir, "redis.log"),
	}
	if o.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, o.Args...)
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, args: append([]string{bin}, args...)}
	if err := s.run(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) run() error {
	cmd := exec.Command(s.args[0], s.args[1:]...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if devredis.Ping(s.Addr) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return fmt.Errorf("redis-server on %s did not answer PING within 10s; log:\n%s", s.Addr, tail(string(log), 20))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Main wraps a package's TestMain so the private server is stopped when the
// test binary ends: func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if binaryServer.srv != nil {
		binaryServer.srv.Stop()
		_ = os.RemoveAll(binaryServer.srv.Dir)
	}
	return code
}
