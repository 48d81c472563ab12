package tasks_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/devredis"
	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

// BenchmarkWorkerCPU measures one worker process sending messages against a
// zero-latency, unthrottled sandbox running in ANOTHER process (so its CPU
// is not counted), and beside it a no-op asynq handler in the same run. It
// prints messages/s and this process's CPU time per message for both.
// Target: the pipeline's CPU per message at most 3x the no-op task's.
func BenchmarkWorkerCPU(b *testing.B) {
	const n = 3000
	ctx := context.Background()
	sbURL := startSandboxProcess(b)

	// Ten sellers with very high plans so the limiter never makes a job wait.
	var sj []string
	for i := 0; i < 10; i++ {
		sj = append(sj, fmt.Sprintf(`{"id":"A%02dBENCH","refresh_token":"Atzr|A%02dBENCH","region":"na","rates":{"messaging":{"rate":100000,"burst":1000}}}`, i, i))
	}
	sellers, err := tasks.ParseSellers(strings.NewReader("[" + strings.Join(sj, ",") + "]"))
	require.NoError(b, err)
	client, err := spapi.NewClient(spapi.Config{LWAClientID: "id", LWAClientSecret: "secret", Endpoint: sbURL,
		LWAEndpoint: sbURL + "/auth/o2/token"}, sellers.SPAPISellers()...)
	require.NoError(b, err)
	store, err := attachstore.Open(ctx, "file://"+b.TempDir())
	require.NoError(b, err)

	for it := 0; it < b.N; it++ {
		rdb := redistest.Client(b)
		p := tasks.NewProducer(rdb, sellers)
		var ids []string
		for i := 0; i < n; i++ {
			j := &tasks.Job{SellerID: fmt.Sprintf("A%02dBENCH", i%10), MarketplaceID: "ATVPDKIKX0DER",
				OrderID: fmt.Sprintf("111-%07d-%07d", it, i), Type: "confirmOrderDetails", Text: "Which size would you like?"}
			res, err := p.Enqueue(ctx, j)
			require.NoError(b, err)
			ids = append(ids, res.ID)
		}
		outcomes := jobstate.NewOutcomeStore(rdb, "", 0)
		lines := tasks.NewDispatcher(rdb, dispatch.Options{})
		require.NoError(b, tasks.ApplyOverrides(ctx, lines, sellers))
		h, err := tasks.NewHandler(tasks.Config{Amazon: client, State: jobstate.New(rdb, lines, 0), Sellers: sellers, Attachments: store})
		require.NoError(b, err)
		srv := tasks.NewServer(rdb, tasks.ServerOptions{Concurrency: 50})
		cpu0, t0 := cpuTime(), time.Now()
		require.NoError(b, srv.Start(tasks.NewServeMux(h)))
		stopRelease := tasks.StartRelease(rdb, lines, nil)
		waitFinal(b, outcomes, n)
		stopRelease()
		el, cpu := time.Since(t0), cpuTime()-cpu0
		srv.Shutdown()
		rep, err := outcomes.Campaign(ctx, "", 0)
		require.NoError(b, err)
		require.Equal(b, int64(n), rep.Outcomes[jobstate.OutcomeSent], "%+v", rep)

		// The no-op baseline: same queue machinery, a handler that does nothing.
		cli := asynq.NewClientFromRedisClient(rdb)
		for i := 0; i < n; i++ {
			_, err := cli.Enqueue(asynq.NewTask("noop", []byte(`{"seller_id":"x"}`)), asynq.Queue(tasks.QueueTransactional))
			require.NoError(b, err)
		}
		noop := tasks.NewServer(rdb, tasks.ServerOptions{Concurrency: 50})
		mux := asynq.NewServeMux()
		mux.HandleFunc("noop", func(context.Context, *asynq.Task) error { return nil })
		ncpu0, nt0 := cpuTime(), time.Now()
		require.NoError(b, noop.Start(mux))
		waitEmpty(b, rdb.Options().Addr, tasks.QueueTransactional)
		nel, ncpu := time.Since(nt0), cpuTime()-ncpu0
		noop.Shutdown()

		perMsg, perNoop := cpu/time.Duration(n), ncpu/time.Duration(n)
		b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
		b.ReportMetric(float64(perMsg.Microseconds()), "cpu-µs/msg")
		b.ReportMetric(float64(perNoop.Microseconds()), "noop-cpu-µs/task")
		b.ReportMetric(float64(perMsg)/float64(perNoop), "cpu-ratio")
		fmt.Printf("worker: %d messages in %s = %.0f msgs/s, CPU %s/msg | no-op asynq: %.0f tasks/s, CPU %s/task | ratio %.2fx (target <= 3x)\n",
			n, el.Round(time.Millisecond), float64(n)/el.Seconds(), perMsg, float64(n)/nel.Seconds(), perNoop, float64(perMsg)/float64(perNoop))
		_ = ids
	}
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitFinal waits until n jobs (of no campaign) have their outcome.
func waitFinal(b *testing.B, outcomes *jobstate.OutcomeStore, n int) {
	b.Helper()
	require.Eventually(b, func() bool {
		rep, err := outcomes.Campaign(context.Background(), "", 0)
		return err == nil && rep.Pending == 0 && rep.Total >= int64(n)
	}, 5*time.Minute, 20*time.Millisecond, "%d jobs not final", n)
}

func waitEmpty(b *testing.B, addr, queue string) {
	b.Helper()
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: addr})
	defer insp.Close()
	require.Eventually(b, func() bool {
		qi, err := insp.GetQueueInfo(queue)
		return err == nil && qi.Pending == 0 && qi.Active == 0 && qi.Scheduled == 0 && qi.Retry == 0
	}, 5*time.Minute, 20*time.Millisecond, "queue %s not drained", queue)
}

// startSandboxProcess builds and runs cmd/spapi-sandbox without rate limits
// on a free port, and returns its URL.
func startSandboxProcess(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "spapi-sandbox")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/spapi-sandbox").CombinedOutput()
	require.NoError(b, err, string(out))
	port, err := devredis.FreePort()
	require.NoError(b, err)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--addr", addr, "--no-rate-limits", "--auto-sellers")
	cmd.Stderr = os.Stderr
	require.NoError(b, cmd.Start())
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(b, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "sandbox did not start")
	return "http://" + addr
}
