package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// Secret markers: each secret a command can be given holds one, so a test
// that finds a marker in output knows which secret leaked.
const (
	MarkLWASecret    = "LWA-SECRET-MARKER-5a1e"
	MarkRedisPass    = "REDIS-PASSWORD-MARKER-9c3b"
	MarkAPITokens    = "ENQUEUE-API-TOKENS-MARKER-77d0"
	MarkAWSSecret    = "AWS-SECRET-MARKER-0f4a"
	MarkAWSSession   = "AWS-SESSION-MARKER-c2e8"
	MarkRefreshToken = "REFRESH-TOKEN-MARKER-3b6d"
)

// SecretMarkers lists every secret marker.
func SecretMarkers() []string {
	return []string{MarkLWASecret, MarkRedisPass, MarkAPITokens, MarkAWSSecret, MarkAWSSession, MarkRefreshToken}
}

// SecretEnv is an environment with every secret variable set to its
// marker: a sellers file (one seller, sellerID) whose refresh token is a
// marker, a Redis URL with a marker password that nothing listens on, and a
// file:// attachment store in a temporary folder.
func SecretEnv(tb testing.TB, sellerID string) map[string]string {
	tb.Helper()
	sellers := filepath.Join(tb.TempDir(), "sellers.json")
	content := `[{"id":"` + sellerID + `","refresh_token":"Atzr|` + MarkRefreshToken + `","region":"na"}]`
	if err := os.WriteFile(sellers, []byte(content), 0o600); err != nil {
		tb.Fatalf("write sellers file: %v", err)
	}
	return map[string]string{
		"SPAPI_LWA_CLIENT_ID":     "amzn1.application-oa2-client.test",
		"SPAPI_LWA_CLIENT_SECRET": MarkLWASecret,
		"SPAPI_SELLERS_FILE":      sellers,
		"REDIS_URL":               "redis://spmsg:" + MarkRedisPass + "@127.0.0.1:1/0",
		"ENQUEUE_API_TOKENS":      MarkAPITokens,
		"AWS_ACCESS_KEY_ID":       "AKIATEST",
		"AWS_SECRET_ACCESS_KEY":   MarkAWSSecret,
		"AWS_SESSION_TOKEN":       MarkAWSSession,
		"ATTACHMENT_STORE":        "file://" + tb.TempDir(),
	}
}
