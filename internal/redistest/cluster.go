package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// StartCluster starts a private Redis Cluster of n master nodes without
// replicas, every one of the 16384 slots assigned, and returns the nodes'
// host:port addresses. The nodes are stopped when the test ends.
//
// With n >= 3 the cluster is created as an operator would, with
// `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`; a
// missing redis-cli fails the test with a message saying how to install it.
// With n of 1 or 2 (which redis-cli refuses to create) the slots are
// assigned with CLUSTER ADDSLOTSRANGE and the nodes joined with CLUSTER
// MEET, so redis-cli is not needed. A single node is enough to catch
// CROSSSLOT errors: Redis checks slots, not nodes.
//
// StartCluster returns once every node reports cluster_state:ok and knows
// all n nodes. It fails the test when n < 1 or the cluster does not form
// within 30 s.
func StartCluster(tb testing.TB, n int) []string {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("redistest: StartCluster needs at least one node, got %d", n)
	}
	cli := ""
	if n >= 3 {
		var err error
		if cli, err = exec.LookPath("redis-cli"); err != nil {
			tb.Fatalf("redistest: redis-cli not found on PATH; it creates the test cluster (Debian: apt-get install redis-tools, which redis-server pulls in)")
		}
	}
	// Reserve 2n distinct ports at once: a data port and a cluster-bus
	// port per node (the default bus port, data port + 10000, may be taken
	// or above 65535).
	ports, err := freePorts(2 * n)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	addrs := make([]string, n)
	for i := range n {
		o := Options{Args: []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", // in the node's own --dir
			"--cluster-port", strconv.Itoa(ports[2*i+1]),
			"--cluster-node-timeout", "5000",
		}}
		srv, err := start(tb.TempDir(), o, ports[2*i])
		if err != nil {
			tb.Fatalf("redistest: cluster node %d: %v", i, err)
		}
		tb.Cleanup(srv.Stop)
		addrs[i] = srv.Addr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cli != "" {
		args := append([]string{"--cluster", "create"}, addrs...)
		args = append(args, "--cluster-replicas", "0", "--cluster-yes")
		out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
		if err != nil {
			tb.Fatalf("redistest: redis-cli --cluster create %s: %v\n%s", strings.Join(addrs, " "), err, tail(string(out), 30))
		}
	} else if err := joinSmallCluster(ctx, addrs); err != nil {
		tb.Fatalf("redistest: form cluster of %v: %v", addrs, err)
	}
	if err := waitClusterOK(ctx, addrs); err != nil {
		tb.Fatalf("redistest: cluster %v did not become ready: %v", addrs, err)
	}
	return addrs
}

// NewClusterClient returns a go-redis cluster client on addrs, closed when
// the test ends. It fails the test when the cluster does not answer PING.
func NewClusterClient(tb testing.TB, addrs []string) *redis.ClusterClient {
	tb.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	tb.Cleanup(func() { _ = cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cc.Ping(ctx).Err(); err != nil {
		tb.Fatalf("redistest: PING cluster %v: %v", addrs, err)
	}
	return cc
}

// ClusterURL is the REDIS_URL of a cluster for spmsg's commands:
// redis-cluster://host1:port1,host2:port2,...
func ClusterURL(addrs []string) string {
	return "redis-cluster://" + strings.Join(addrs, ",")
}

// joinSmallCluster splits the slots evenly over one or two nodes and
// makes them meet.
func joinSmallCluster(ctx context.Context, addrs []string) error {
	per := clusterSlots / len(addrs)
	for i, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		lo, hi := i*per, (i+1)*per-1
		if i == len(addrs)-1 {
			hi = clusterSlots - 1
		}
		err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err()
		if err == nil && i > 0 {
			host, port, _ := net.SplitHostPort(addrs[0])
			err = c.ClusterMeet(ctx, host, port).Err()
		}
		_ = c.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", a, err)
		}
	}
	return nil
}

// waitClusterOK polls every node until it reports cluster_state:ok, all
// slots assigned and all nodes known.
func waitClusterOK(ctx context.Context, addrs []string) error {
	want := []string{"cluster_state:ok", "cluster_slots_assigned:" + strconv.Itoa(clusterSlots),
		"cluster_known_nodes:" + strconv.Itoa(len(addrs))}
	last := ""
	for {
		ready := 0
		for _, a := range addrs {
			c := redis.NewClient(&redis.Options{Addr: a})
			info, err := c.ClusterInfo(ctx).Result()
			_ = c.Close()
			if err != nil {
				last = a + ": " + err.Error()
				break
			}
			ok := true
			for _, w := range want {
				if !strings.Contains(info, w+"\r\n") && !strings.Contains(info, w+"\n") {
					ok, last = false, a+": "+strings.Join(strings.Fields(info), " ")
					break
				}
			}
			if !ok {
				break
			}
			ready++
		}
		if ready == len(addrs) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last seen: %s", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePorts returns n distinct free TCP ports on 127.0.0.1, holding every
// listener open until all are chosen so none is handed out twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// KeySlot is Redis Cluster's key-to-slot mapping: CRC16 (XMODEM) of the
// hash tag (the part between the first '{' and the next '}', when not
// empty) or of the whole key, modulo 16384. Tests use it to show that keys
// meant to share a slot do.
func KeySlot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for _, b := range []byte(key) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}
