package sandbox_test

import (
	"testing"

	"github.com/spmsg/spmsg/internal/testkit"
	"github.com/spmsg/spmsg/sandbox"
)

// TestPrintRedactsSecrets prints a Config and a Seller that hold marker
// secrets every way a program may print or log them.
func TestPrintRedactsSecrets(t *testing.T) {
	t.Parallel()
	const secret, refresh = "SANDBOX-SECRET-MARKER-7f21", "Atzr|SANDBOX-REFRESH-MARKER-c044"
	seller := sandbox.Seller{ID: "AVISIBLESELLER", RefreshToken: refresh, Rates: map[string]sandbox.Rate{"sendInvoice": {PerSecond: 2}}}
	t.Run("Config", func(t *testing.T) {
		t.Parallel()
		testkit.AssertRedacted(t, sandbox.Config{ClientID: "visible-client", ClientSecret: secret, Sellers: []sandbox.Seller{seller}},
			"visible-client", secret, "SANDBOX-REFRESH-MARKER")
	})
	t.Run("Seller", func(t *testing.T) {
		t.Parallel()
		testkit.AssertRedacted(t, seller, "AVISIBLESELLER", "SANDBOX-REFRESH-MARKER")
	})
}
