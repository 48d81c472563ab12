package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/spmsg/spmsg/internal/testkit"
)

// TestPrintRedactsSecrets prints the option structs holding the Redis URL
// or the bearer tokens every way a program may print or log them.
func TestPrintRedactsSecrets(t *testing.T) {
	t.Parallel()
	c := common{redisURL: "redis://spmsg:" + testkit.MarkRedisPass + "@visible-redis-host:6379/0", sellersFile: "/etc/sellers.json"}
	t.Run("common", func(t *testing.T) {
		t.Parallel()
		testkit.AssertRedacted(t, c, "visible-redis-host", testkit.MarkRedisPass)
	})
	t.Run("serveOpts", func(t *testing.T) {
		t.Parallel()
		o := serveOpts{common: c, addr: "127.0.0.1:18080", tokens: testkit.MarkAPITokens + "=ASELLER"}
		testkit.AssertRedacted(t, o, "127.0.0.1:18080", testkit.MarkRedisPass, testkit.MarkAPITokens)
		assert.Contains(t, o.String(), "visible-redis-host")
	})
	t.Run("batchOpts", func(t *testing.T) {
		t.Parallel()
		testkit.AssertRedacted(t, batchOpts{common: c, campaign: "visible-campaign"}, "visible-campaign", testkit.MarkRedisPass)
	})
}
