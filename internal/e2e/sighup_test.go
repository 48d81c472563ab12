package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

// Ensure a worker applies the sellers file's rate overrides for every
// process at start, applies an edited file on SIGHUP, and keeps the earlier
// overrides (and keeps running) when the edited file is broken.
func TestSIGHUPReloadsOverrides(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	d := newDeployment(t, srv.URL(), 2, sandbox.Config{Seed: 31}, func(i int, _ *sandbox.Seller, e *sellerEntry) {
		if i == 0 {
			e.Rates = map[string]tasks.Rate{"messaging": {Rate: 5, Burst: 5}}
		}
	})
	w := d.startWorker(5)
	key := dispatch.Key{Seller: d.sellers[0], Operation: spapi.OpGetMessagingActionsForOrder}
	plan := func() dispatch.Plan {
		p, err := d.producer.Lines.Effective(context.Background(), key)
		require.NoError(t, err)
		return p
	}
	assert.Equal(t, dispatch.Plan{Rate: 5, Burst: 5}, plan(), "applied at start")

	var entries []sellerEntry
	b, err := os.ReadFile(d.sellersFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &entries))
	entries[0].Rates = map[string]tasks.Rate{"messaging": {Rate: 7, Burst: 3}}
	b, err = json.Marshal(entries)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(d.sellersFile, b, 0o600))
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return plan() == dispatch.Plan{Rate: 7, Burst: 3} }, 5*time.Second, 20*time.Millisecond,
		"the edited override applies after SIGHUP")
	require.Eventually(t, func() bool { return len(d.grepLogs("rate overrides reloaded")) == 1 }, 5*time.Second, 20*time.Millisecond)

	require.NoError(t, os.WriteFile(d.sellersFile, []byte("[{"), 0o600))
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return len(d.grepLogs("sellers file not reloaded")) == 1 }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, dispatch.Plan{Rate: 7, Burst: 3}, plan(), "a broken file changes nothing")
	assert.False(t, w.exitedUnexpectedly(), "the worker keeps running")
	code, _ := w.healthz()
	assert.Equal(t, 200, code)
}
