package cli_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/cli"
)

// Ensure redis-cluster:// URLs give asynq a cluster option and spmsg a
// cluster client, with every node, the credentials and the options.
func TestRedisClusterURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want asynq.RedisClusterClientOpt
		tls  bool
	}{
		{
			name: "NodesOnly",
			url:  "redis-cluster://10.0.0.1:7000,10.0.0.2:7001,redis-c.internal:7002",
			want: asynq.RedisClusterClientOpt{Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7001", "redis-c.internal:7002"}},
		},
		{
			name: "CredentialsDatabaseZeroAndOptions",
			url:  "redis-cluster://spmsg:s%40cret@a:7000,b:7001/0?dial_timeout=3s&read_timeout=2&max_redirects=5",
			want: asynq.RedisClusterClientOpt{Addrs: []string{"a:7000", "b:7001"}, Username: "spmsg", Password: "s@cret",
				DialTimeout: 3 * time.Second, ReadTimeout: 2 * time.Second, MaxRedirects: 5},
		},
		{
			name: "DefaultPortAndIPv6",
			url:  "redis-cluster://a,[::1]:7001,[::2]/",
			want: asynq.RedisClusterClientOpt{Addrs: []string{"a:6379", "[::1]:7001", "[::2]:6379"}},
		},
		{
			name: "TLS",
			url:  "rediss-cluster://:pw@a.example:6380,b.example:6380",
			want: asynq.RedisClusterClientOpt{Addrs: []string{"a.example:6380", "b.example:6380"}, Password: "pw"},
			tls:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt, c, err := cli.Redis(tt.url)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			got, ok := opt.(asynq.RedisClusterClientOpt)
			require.True(t, ok, "want asynq.RedisClusterClientOpt, got %T", opt)
			require.IsType(t, &redis.ClusterClient{}, c)
			if tt.tls {
				require.NotNil(t, got.TLSConfig)
				assert.Empty(t, got.TLSConfig.ServerName, "each node must be verified against its own name")
				got.TLSConfig = nil
			} else {
				assert.Nil(t, got.TLSConfig)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want.Addrs, c.(*redis.ClusterClient).Options().Addrs)
		})
	}
}

// Ensure bad cluster URLs are refused with a reason and without the
// password.
func TestRedisClusterURLErrors(t *testing.T) {
	tests := []struct{ name, url, want string }{
		{"OtherDatabase", "redis-cluster://u:topsecret@a:7000,b:7001/2", "database 0 only"},
		{"NoNodes", "redis-cluster://u:topsecret@/", "no cluster nodes"},
		{"BadPort", "redis-cluster://u:topsecret@a:7000,b:port", `cluster node "b:port"`},
		{"EmptyNode", "redis-cluster://a:7000,,b:7001", `cluster node ""`},
		{"AddrOption", "redis-cluster://a:7000?addr=b:7001", "comma-separated"},
		{"UnknownOption", "redis-cluster://u:topsecret@a:7000?no_such=1", "unexpected option: no_such"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := cli.Redis(tt.url)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "REDIS_URL")
			assert.NotContains(t, err.Error(), "topsecret")
		})
	}
}

// Ensure the single-server schemes still go through asynq's parser.
func TestRedisSingleServerURL(t *testing.T) {
	opt, c, err := cli.Redis("redis://:pw@127.0.0.1:6390/3")
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	assert.Equal(t, asynq.RedisClientOpt{Addr: "127.0.0.1:6390", Password: "pw", DB: 3}, opt)
	assert.IsType(t, &redis.Client{}, c)
}
