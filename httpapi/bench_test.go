package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/httpapi"
	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/tasks"
)

// benchClients is how many clients post at once.
const benchClients = 50

// newBenchServer serves the API on a loopback listener over a flushed
// Redis, with bearer auth on and an info-level logger that discards.
func newBenchServer(b *testing.B) *httptest.Server {
	b.Helper()
	rdb := redistest.Client(b)
	store, err := attachstore.Open(context.Background(), "file://"+b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{
		Producer: tasks.NewProducer(rdb, sellers(b)),
		Outcomes: jobstate.NewOutcomeStore(rdb, "", 0), Store: store, Redis: rdb, Tokens: []httpapi.Token{{Secret: token1}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api)
	b.Cleanup(srv.Close)
	return srv
}

// benchJob is the body of job i.
func benchJob(i int) []byte {
	return fmt.Appendf(nil, `{"seller_id":"%s","marketplace_id":"%s","order_id":"111-%07d-%07d","type":"confirmOrderDetails","text":"Your order %d: which size would you like?"}`,
		sellerNA, mktUS, i/10_000_000, i%10_000_000, i)
}

// BenchmarkPostArray1000 posts arrays of 1,000 jobs, one request at a
// time, and prints accepted jobs/s.
func BenchmarkPostArray1000(b *testing.B) {
	srv := newBenchServer(b)
	const per = 1000
	bodies := make([][]byte, b.N)
	for n := range bodies {
		parts := make([][]byte, per)
		for i := range parts {
			parts[i] = benchJob(n*per + i)
		}
		bodies[n] = append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
	}
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", bytes.NewReader(bodies[n]))
		req.Header.Set("Authorization", "Bearer "+token1)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMultiStatus {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	el := time.Since(start)
	rate := float64(b.N*per) / el.Seconds()
	b.ReportMetric(rate, "jobs/s")
	fmt.Printf("POST /v1/messages, arrays of %d: %d jobs in %s = %.0f jobs/s\n", per, b.N*per, el.Round(time.Millisecond), rate)
}

// BenchmarkPostOne50Clients posts b.N distinct single-job bodies from 50
// concurrent clients over keep-alive loopback connections (bearer auth
// on, the default info-level log), and prints accepted jobs/s, latency
// percentiles and the CPU each job costs. Target on a 2-core box: >= 3,000 jobs/s, p99 < 20 ms.
// Run: go test -run '^$' -bench PostOne -benchtime 20000x ./httpapi
func BenchmarkPostOne50Clients(b *testing.B) {
	srv := newBenchServer(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: benchClients, MaxIdleConnsPerHost: benchClients,
		MaxConnsPerHost: benchClients, IdleConnTimeout: time.Minute}}
	defer client.CloseIdleConnections()

	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = benchJob(i)
	}
	lat := make([]time.Duration, b.N)
	var next, accepted, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0, redis0 := processCPU(), childCPU("redis-server")
	start := time.Now()
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", bytes.NewReader(bodies[i]))
				req.Header.Set("Authorization", "Bearer "+token1)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode == http.StatusAccepted {
					accepted.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu, redisCPU := processCPU()-cpu0, childCPU("redis-server")-redis0
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d posts failed", failed.Load(), b.N)
	}
	sort.Slice(lat, func(i, k int) bool { return lat[i] < lat[k] })
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	p50, p90, p99, p999 := pct(.50), pct(.90), pct(.99), pct(.999)
	rate := float64(accepted.Load()) / el.Seconds()
	b.ReportMetric(rate, "jobs/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	perJob := (cpu + redisCPU) / time.Duration(b.N)
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	fmt.Printf("POST /v1/messages, %d clients: %d jobs accepted in %s = %.0f jobs/s; latency p50 %s, p90 %s, p99 %s, p99.9 %s, max %s\n",
		benchClients, accepted.Load(), el.Round(time.Millisecond), rate, r(p50), r(p90), r(p99), r(p999), r(lat[len(lat)-1]))
	fmt.Printf("  CPU per job: %s in this process (server and clients) + %s in redis-server = %s, i.e. at most %.0f jobs/s on 2 idle cores\n",
		(cpu / time.Duration(b.N)).Round(time.Microsecond), (redisCPU / time.Duration(b.N)).Round(time.Microsecond),
		perJob.Round(time.Microsecond), 2*float64(time.Second)/float64(perJob))
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is the CPU time used so far by this process's children with
// the given command name (the private redis-server), from /proc; 0 where
// /proc is missing.
func childCPU(name string) time.Duration {
	files, _ := filepath.Glob("/proc/self/task/*/children")
	var total time.Duration
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, pid := range strings.Fields(string(b)) {
			stat, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil || !strings.Contains(string(stat), "("+name+")") {
				continue
			}
			fields := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+2:])
			utime, _ := strconv.ParseInt(fields[11], 10, 64)
			stime, _ := strconv.ParseInt(fields[12], 10, 64)
			total += time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
		}
	}
	return total
}
