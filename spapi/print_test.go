package spapi_test

import (
	"testing"

	"github.com/spmsg/spmsg/internal/testkit"
	"github.com/spmsg/spmsg/spapi"
)

// TestPrintRedactsSecrets prints a Config and a Seller that hold marker
// secrets every way a program may print or log them.
func TestPrintRedactsSecrets(t *testing.T) {
	t.Parallel()
	const secret, refresh = "CLIENT-SECRET-MARKER-e1f0", "Atzr|REFRESH-MARKER-a9c2"
	t.Run("Config", func(t *testing.T) {
		t.Parallel()
		testkit.AssertRedacted(t, spapi.Config{LWAClientID: "amzn1.visible-client", LWAClientSecret: secret,
			Endpoint: "http://127.0.0.1:1"}, "amzn1.visible-client", secret)
	})
	t.Run("Seller", func(t *testing.T) {
		t.Parallel()
		testkit.AssertRedacted(t, spapi.Seller{ID: "AVISIBLESELLER", RefreshToken: refresh, Region: spapi.RegionNA},
			"AVISIBLESELLER", refresh, "REFRESH-MARKER")
	})
}
