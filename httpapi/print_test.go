package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/httpapi"
	"github.com/spmsg/spmsg/internal/testkit"
)

// TestPrintRedactsSecrets prints a Token and a Config that hold marker
// secrets every way a program may print or log them.
func TestPrintRedactsSecrets(t *testing.T) {
	t.Parallel()
	const bare, bound = "BARE-TOKEN-MARKER-41d7c0", "BOUND-TOKEN-MARKER-93ab55"
	toks, err := httpapi.ParseTokens(bare + "," + bound + "=AVISIBLESELLER|BSELLER")
	require.NoError(t, err)
	t.Run("Token", func(t *testing.T) {
		t.Parallel()
		testkit.AssertRedacted(t, toks[1], "AVISIBLESELLER", bound)
	})
	t.Run("Config", func(t *testing.T) {
		t.Parallel()
		testkit.AssertRedacted(t, httpapi.Config{Tokens: toks, MaxJobs: 4242}, "4242", bare, bound)
	})
}
