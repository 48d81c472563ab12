package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/spmsg/spmsg/internal/redistest"
)

// BenchmarkBatch100k validates and enqueues a 100,000-row JSONL campaign
// (10 sellers) and prints rows/s and the process's peak memory. Target:
// >= 5,000 rows/s and under 100 MB.
func BenchmarkBatch100k(b *testing.B) {
	const rows = 100_000
	dir := b.TempDir()
	sellers := filepath.Join(dir, "sellers.json")
	f, _ := os.Create(sellers)
	fmt.Fprint(f, "[")
	for s := 0; s < 10; s++ {
		if s > 0 {
			fmt.Fprint(f, ",")
		}
		fmt.Fprintf(f, `{"id":"A%02dBENCHSELLER","refresh_token":"Atzr|x","region":"na"}`, s)
	}
	fmt.Fprint(f, "]")
	f.Close()
	path := filepath.Join(dir, "big.jsonl")
	out, _ := os.Create(path)
	w := bufio.NewWriter(out)
	for i := 0; i < rows; i++ {
		fmt.Fprintf(w, `{"seller_id":"A%02dBENCHSELLER","marketplace_id":"ATVPDKIKX0DER","order_id":"111-%07d-%07d","type":"confirmOrderDetails","text":"Your order %d: which size would you like?"}`+"\n", i%10, i/1000, i, i)
	}
	w.Flush()
	out.Close()
	env := map[string]string{"REDIS_URL": redistest.URL(b), "SPAPI_SELLERS_FILE": sellers, "ATTACHMENT_STORE": "file://" + dir}
	for n := 0; n < b.N; n++ {
		redistest.Client(b) // flush
		start := time.Now()
		code := run(context.Background(), []string{"batch", path, "--no-progress"}, func(k string) string { return env[k] }, nil, io.Discard, os.Stderr)
		el := time.Since(start)
		if code != 0 {
			b.Fatalf("batch exited %d", code)
		}
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(rows)/el.Seconds(), "rows/s")
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
		fmt.Printf("batch: %d rows in %s = %.0f rows/s; peak RSS %.1f MB (Go heap sys %.1f MB)\n",
			rows, el.Round(time.Millisecond), float64(rows)/el.Seconds(), float64(ru.Maxrss)/1024, float64(ms.HeapSys)/(1<<20))
	}
}
