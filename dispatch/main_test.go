package dispatch_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// plans are the test's defaults: actions and send at 1/s burst 5, like
// Amazon's Messaging operations.
func plans(string) dispatch.Plan { return dispatch.Plan{Rate: 1, Burst: 5} }

const (
	actions = "getMessagingActionsForOrder"
	send    = "createConfirmOrderDetails"
)

func newDispatcher(tb testing.TB, rdb redis.UniversalClient, o dispatch.Options) *dispatch.Dispatcher {
	tb.Helper()
	if o.Defaults == nil {
		o.Defaults = plans
		o.Operations = []string{actions, send}
	}
	return dispatch.New(rdb, o)
}

// push puts n jobs of a seller in its line.
func push(tb testing.TB, d *dispatch.Dispatcher, seller string, campaign bool, ids ...string) {
	tb.Helper()
	for _, id := range ids {
		ok, err := d.Push(context.Background(), dispatch.Entry{ID: id, Seller: seller, ActionsOp: actions, SendOp: send,
			Campaign: campaign, Payload: []byte("payload of " + id)})
		require.NoError(tb, err)
		require.True(tb, ok, "push %s", id)
	}
}

// collect runs the dispatcher's release loop until want jobs were handed
// off (or timeout) and returns them in hand-off order with the local time
// of each hand-off.
func collect(tb testing.TB, d *dispatch.Dispatcher, want int, timeout time.Duration) []handed {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ch := make(chan handed, want+100)
	go func() {
		_ = d.Run(ctx, func(_ context.Context, r dispatch.Released) error {
			ch <- handed{Released: r, at: time.Now()}
			return nil
		}, nil)
	}()
	var out []handed
	for len(out) < want {
		select {
		case h := <-ch:
			out = append(out, h)
		case <-ctx.Done():
			tb.Fatalf("only %d of %d jobs released in %s", len(out), want, timeout)
		}
	}
	cancel()
	return out
}

type handed struct {
	dispatch.Released
	at time.Time
}
