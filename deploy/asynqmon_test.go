package deploy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/tasks"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// Ensure asynq's own web UI (asynqmon, as docker-compose runs it) sees
// spmsg's queues and the tasks released to them.
func TestAsynqmonSeesSpmsgQueues(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	sellers, err := tasks.ParseSellers(strings.NewReader(`[{"id":"A1MON","refresh_token":"Atzr|x","region":"na"}]`))
	require.NoError(t, err)
	p := tasks.NewProducer(rdb, sellers)
	for _, campaign := range []string{"", "spring"} {
		res, err := p.Enqueue(ctx, &tasks.Job{SellerID: "A1MON", MarketplaceID: "ATVPDKIKX0DER", OrderID: "112-0000000-0000001",
			Type: "confirmOrderDetails", Text: "Which size?", Campaign: campaign})
		require.NoError(t, err)
		require.Equal(t, tasks.StatusAccepted, res.Status)
	}
	// A worker process's release loop (without its asynq server) hands
	// both jobs from their seller's lines to the queues.
	stop := tasks.StartRelease(rdb, p.Lines, nil)
	defer stop()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	require.Eventually(t, func() bool {
		jobs, err := p.Lines.Jobs(ctx)
		if err != nil || len(jobs) > 0 {
			return false
		}
		for _, q := range []string{tasks.QueueTransactional, tasks.QueueCampaign} {
			if info, err := insp.GetQueueInfo(q); err != nil || info.Pending != 1 {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "both jobs released to their queues")

	opt, err := asynq.ParseRedisURI(redistest.URL(t))
	require.NoError(t, err)
	mon := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: opt})
	defer mon.Close()
	srv := httptest.NewServer(mon)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/monitoring/api/queues")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var out struct {
		Queues []struct {
			Queue string `json:"queue"`
			Size  int    `json:"size"`
		} `json:"queues"`
	}
	require.NoError(t, json.Unmarshal(body, &out), string(body))
	sizes := map[string]int{}
	for _, q := range out.Queues {
		sizes[q.Queue] = q.Size
	}
	assert.Equal(t, 1, sizes[tasks.QueueTransactional], string(body))
	assert.Equal(t, 1, sizes[tasks.QueueCampaign], string(body))
}
