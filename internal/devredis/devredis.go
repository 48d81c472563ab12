// Package devredis starts a Redis for development and the demo: a private
// redis-server from PATH when there is one, otherwise an embedded
// miniredis. It never touches a Redis it did not start: it always takes a
// free port.
package devredis

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Server is a running development Redis.
type Server struct {
	// URL is the redis:// URL to use (db 0).
	URL string
	// Kind is "redis-server" or "miniredis".
	Kind string
	stop func()
}

// Stop stops the server and removes its files.
func (s *Server) Stop() {
	if s != nil && s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// Start starts a private redis-server on a free loopback port when
// redis-server is on PATH (preferNative), else an embedded miniredis whose
// clock follows real time (miniredis only expires keys when told to).
func Start(ctx context.Context, preferNative bool) (*Server, error) {
	if preferNative {
		if bin, err := exec.LookPath("redis-server"); err == nil {
			if s, err := startNative(bin); err == nil {
				return s, nil
			}
		}
	}
	return startMini(ctx)
}

// StartNative starts a private redis-server from PATH, or fails.
func StartNative() (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH (apt-get install redis-server), or use the embedded Redis")
	}
	return startNative(bin)
}

func startNative(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "spmsg-dev-redis-*")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = os.RemoveAll(dir)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if Ping(addr) {
			return &Server{URL: "redis://" + addr + "/0", Kind: "redis-server", stop: stop}, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return nil, fmt.Errorf("redis-server on %s did not start", addr)
}

func startMini(ctx context.Context) (*Server, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded Redis: %w", err)
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		// Advance miniredis's TTL clock with real time.
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-tctx.Done():
				return
			case now := <-t.C:
				mr.SetTime(now)
				mr.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	return &Server{URL: "redis://" + mr.Addr() + "/0", Kind: "miniredis", stop: func() { cancel(); mr.Close() }}, nil
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Ping reports whether a Redis answers PING at addr.
func Ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}
