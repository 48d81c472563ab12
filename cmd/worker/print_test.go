package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/spmsg/spmsg/internal/testkit"
)

// TestPrintRedactsSecrets prints a Config holding the LWA client secret
// and a Redis URL with a password every way a program may print or log it.
func TestPrintRedactsSecrets(t *testing.T) {
	t.Parallel()
	cfg := Config{
		RedisURL:        "redis://spmsg:" + testkit.MarkRedisPass + "@visible-redis-host:6379/0",
		LWAClientID:     "amzn1.visible-client",
		LWAClientSecret: testkit.MarkLWASecret,
		SellersFile:     "/etc/spmsg/sellers.json",
		Concurrency:     77,
	}
	testkit.AssertRedacted(t, cfg, "visible-redis-host", testkit.MarkRedisPass, testkit.MarkLWASecret)
	assert.Contains(t, cfg.String(), "amzn1.visible-client")
}
