package cli_test

import (
	"bytes"
	"flag"
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

// Ensure a flag wins over its variable, which wins over the default, for
// every kind of flag, and that usage text names the variable but never
// prints its value.
func TestEnvFlagsPrecedenceAndUsage(t *testing.T) {
	const marker = "ENV-VALUE-MARKER-1f9c"
	env := map[string]string{"S": marker, "I": "7", "D": "3s"}
	getenv := func(k string) string { return env[k] }
	define := func(out *bytes.Buffer) (*flag.FlagSet, *string, *int, *time.Duration, *[]string) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(out)
		var s string
		var i int
		var d time.Duration
		var bad []string
		cli.StringVar(fs, &s, "s", "S", "def", getenv, "a string")
		cli.IntVar(fs, &i, "i", "I", 1, getenv, "an int", &bad)
		cli.DurationVar(fs, &d, "d", "D", time.Second, getenv, "a duration", &bad)
		return fs, &s, &i, &d, &bad
	}

	var out bytes.Buffer
	fs, s, i, d, bad := define(&out)
	require.NoError(t, fs.Parse(nil))
	assert.Equal(t, marker, *s, "env over default")
	assert.Equal(t, 7, *i)
	assert.Equal(t, 3*time.Second, *d)
	assert.Empty(t, *bad)

	fs, s, i, d, _ = define(&out)
	require.NoError(t, fs.Parse([]string{"-s", "flag", "-i", "9", "-d", "5m"}))
	assert.Equal(t, "flag", *s, "flag over env")
	assert.Equal(t, 9, *i)
	assert.Equal(t, 5*time.Minute, *d)

	env = map[string]string{}
	fs, s, i, d, _ = define(&out)
	require.NoError(t, fs.Parse(nil))
	assert.Equal(t, "def", *s, "default without env")
	assert.Equal(t, 1, *i)
	assert.Equal(t, time.Second, *d)

	env = map[string]string{"S": marker, "I": "many", "D": "soon"}
	out.Reset()
	fs, _, _, _, bad = define(&out)
	require.ErrorIs(t, fs.Parse([]string{"-help"}), flag.ErrHelp)
	require.Error(t, fs.Parse([]string{"-no-such-flag"}))
	usage := out.String()
	assert.Contains(t, usage, "env S, which is set")
	assert.Contains(t, usage, `(default "def")`)
	assert.NotContains(t, usage, marker)
	assert.Equal(t, []string{`I="many" is not a number`, `D="soon" is not a duration`}, *bad)
}

// Ensure Redact hides the password of well-formed and malformed URLs.
func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:pw@h:1/0", "redis://:xxxxx@h:1/0"},
		{"redis://user:pw@h:1/0", "redis://user:xxxxx@h:1/0"},
		{"redis://pw@h", "redis://xxxxx@h"},
		{"redis://u:p@w@h", "redis://u:xxxxx@h"},
		{"redis:u:pw@h", "redis:xxxxx@h"},
		{"u:pw@redis://h", "u:xxxxx@redis://h"},
		{"pw@h", "xxxxx@h"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, cli.Redact(tt.in), tt.in)
	}
}

// Ensure no malformed REDIS_URL puts its password in the error, whatever
// characters the password holds and however the parser quotes it.
func TestRedisErrorsHidePassword(t *testing.T) {
	const pw = "S3CRET-pw"
	for _, p := range []string{pw, pw + `"q`, pw + `\b`, pw + "%41x", pw + "\x01ctl", pw + "\xffbad", pw + "é", pw + " sp"} {
		for _, url := range []string{
			"redis://u:" + p + "@127.0.0.1:notaport/0",
			"redis://:" + p + "@h:1/notadb",
			"redis://u:" + p + "@h:1/0?no_such_option=1",
			"rediss://" + p + "@[::1",
			"redis-sentinel://:" + p + "@h:1?master=",
			"redis-socket://:" + p + "@",
			"redis-cluster://u:" + p + "@a:1,b:x",
			"redis-cluster://u:" + p + "@a:1?dial_timeout=x",
			"redis:u:" + p + "@h",
			"unknown://u:" + p + "@h",
			"u:" + p + "@redis://h",
			"\x7fredis://u:" + p + "@h",
		} {
			_, c, err := cli.Redis(url)
			if err == nil {
				_ = c.Close()
				continue
			}
			assert.Contains(t, err.Error(), "REDIS_URL", url)
			assert.NotContains(t, err.Error(), "S3CRET", "%q: %v", url, err)
		}
	}
}
