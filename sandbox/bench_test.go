package sandbox_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/spmsg/spmsg/sandbox"
)

// BenchmarkHTTP drives the sandbox over real loopback HTTP with a
// keep-alive client and many goroutines, rate limits lifted, and reports
// requests per second.
func BenchmarkHTTP(b *testing.B) {
	cases := []struct {
		name  string
		build func(base, tok string, i int) *http.Request
		want  int
	}{
		{"getMessagingActionsForOrder", func(base, tok string, i int) *http.Request {
			req, _ := http.NewRequest(http.MethodGet, base+actionsPath(fmt.Sprintf("111-%07d-1234567", i%5000)), nil)
			return req
		}, http.StatusOK},
		{"createConfirmOrderDetails", func(base, tok string, i int) *http.Request {
			body := []byte(`{"text":"Your order is on its way. Thank you!"}`)
			req, _ := http.NewRequest(http.MethodPost, base+sendPath(fmt.Sprintf("111-%07d-1234567", i%5000), "confirmOrderDetails"), bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			return req
		}, http.StatusCreated},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			e := setup(b, sandbox.Config{NoRateLimits: true, Now: time.Now})
			tok := e.token("Atzr|A1BENCH")
			client := &http.Client{Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}}
			defer client.CloseIdleConnections()
			b.SetParallelism(32) // 32 goroutines per CPU
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var n int64
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					req := bc.build(e.srv.URL, tok, i)
					req.Header.Set("User-Agent", "spmsg-bench/1.0 (Language=Go)")
					req.Header.Set("x-amz-access-token", tok)
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					_ = res.Body.Close()
					if res.StatusCode != bc.want {
						b.Errorf("status %d, want %d", res.StatusCode, bc.want)
						return
					}
				}
			})
			n = int64(b.N)
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "req/s")
		})
	}
}
