package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spmsg/spmsg/internal/cli"
	"github.com/spmsg/spmsg/internal/devredis"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/tasks"
)

// Demo sellers: one per region.
var demoSellers = []struct{ id, region, marketplace string }{
	{"A1DEMOSELLERNA", "na", "ATVPDKIKX0DER"},
	{"A2DEMOSELLEREU", "eu", "A1PA6795UKMFR9"},
	{"A3DEMOSELLERFE", "fe", "A1VC38T7YXB528"},
}

const (
	devClientID     = "amzn1.application-oa2-client.spmsgdev"
	devClientSecret = "spmsg-dev-secret"
)

// devEnv is what --dev starts besides the worker.
type devEnv struct {
	dir      string
	redis    *devredis.Server
	sb       *sandbox.Sandbox
	sbURL    string
	sbServer *http.Server
}

func (d *devEnv) close() {
	if d.sbServer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = d.sbServer.Shutdown(ctx)
		cancel()
	}
	d.redis.Stop()
	if d.dir != "" {
		_ = os.RemoveAll(d.dir)
	}
}

// runDev starts a Redis (unless REDIS_URL or --redis-url names one), the
// local SP-API sandbox and a worker wired to them. With --demo it runs a
// sample campaign and exits; otherwise it serves until interrupted. It
// changes nothing but the wiring: the worker is the production one.
func runDev(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	d := &devEnv{}
	defer d.close()
	var err error
	if d.dir, err = os.MkdirTemp("", "spmsg-dev-*"); err != nil {
		return err
	}
	if err := d.startRedis(ctx, &cfg, stdout); err != nil {
		return err
	}
	file, err := d.startSandbox()
	if err != nil {
		return err
	}
	s, err := d.configure(&cfg, file)
	if err != nil {
		return err
	}
	w, err := startDevWorker(ctx, cfg, s, stderr)
	if err != nil {
		return err
	}
	defer w.shutdown()
	fmt.Fprintf(stdout, "dev: SP-API sandbox at %s; worker metrics at http://%s/metrics\n", d.sbURL, w.httpAddr)
	fmt.Fprintf(stdout, "dev: in another terminal:\n  export REDIS_URL=%s SPAPI_SELLERS_FILE=%s ATTACHMENT_STORE=%s\n  go run ./cmd/enqueue send --seller %s --marketplace %s --order 112-0000000-0000001 --type confirmOrderDetails --text 'Which size?'\n",
		cli.Redact(cfg.RedisURL), cfg.SellersFile, cfg.AttachmentStore, demoSellers[0].id, demoSellers[0].marketplace)
	if cfg.Demo {
		return runDemo(ctx, w, d, stdout)
	}
	fmt.Fprintln(stdout, "dev: serving; Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

// startRedis starts a Redis for cfg unless cfg names one.
func (d *devEnv) startRedis(ctx context.Context, cfg *Config, stdout io.Writer) error {
	if cfg.RedisURL != "" {
		fmt.Fprintf(stdout, "dev: using the Redis you named: %s\n", cli.Redact(cfg.RedisURL))
		return nil
	}
	var err error
	if cfg.DevRedis == "redis-server" {
		d.redis, err = devredis.StartNative()
	} else {
		d.redis, err = devredis.Start(ctx, cfg.DevRedis == "auto")
	}
	if err != nil {
		return err
	}
	cfg.RedisURL = d.redis.URL
	fmt.Fprintf(stdout, "dev: started %s at %s (a Redis on 6379, if any, is left alone)\n", d.redis.Kind, d.redis.URL)
	return nil
}

// startSandbox starts the SP-API sandbox for the demo sellers and returns their sellers-file entries.
func (d *devEnv) startSandbox() ([]tasks.SellerConfig, error) {
	var sellers []sandbox.Seller
	var file []tasks.SellerConfig
	for _, s := range demoSellers {
		tok := "Atzr|" + s.id + "|dev"
		sellers = append(sellers, sandbox.Seller{ID: s.id, RefreshToken: tok})
		file = append(file, tasks.SellerConfig{ID: s.id, RefreshToken: tok, Region: s.region})
	}
	var err error
	if d.sb, err = sandbox.New(sandbox.Config{Seed: 1, ClientID: devClientID, ClientSecret: devClientSecret,
		Sellers: sellers, AutoSellers: true, Orders: demoOrders()}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d.sbURL = "http://" + ln.Addr().String()
	d.sbServer = &http.Server{Handler: d.sb, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.sbServer.Serve(ln) }()
	return file, nil
}

// configure writes the sellers file and the attachment folder into d.dir,
// points cfg at them and the sandbox, and returns the sellers.
func (d *devEnv) configure(cfg *Config, file []tasks.SellerConfig) (*tasks.Sellers, error) {
	sellersFile := filepath.Join(d.dir, "sellers.json")
	b, _ := json.MarshalIndent(file, "", "  ")
	if err := os.WriteFile(sellersFile, b, 0o600); err != nil {
		return nil, err
	}
	attachDir := filepath.Join(d.dir, "attachments")
	if err := os.MkdirAll(attachDir, 0o755); err != nil {
		return nil, err
	}
	cfg.SellersFile, cfg.Endpoint, cfg.LWAEndpoint = sellersFile, d.sbURL, d.sbURL+sandbox.TokenPath
	cfg.LWAClientID, cfg.LWAClientSecret = devClientID, devClientSecret
	if cfg.AttachmentStore == "" {
		cfg.AttachmentStore = "file://" + attachDir
	}
	if cfg.Demo {
		cfg.MetricsAddr = "127.0.0.1:0"
		if cfg.LogLevel == "info" {
			cfg.LogLevel = "warn" // the demo prints its own progress
		}
	}
	return tasks.ParseSellers(strings.NewReader(string(b)))
}

// startDevWorker starts a worker for cfg, on a free metrics port if the configured one is busy.
func startDevWorker(ctx context.Context, cfg Config, s *tasks.Sellers, stderr io.Writer) (*worker, error) {
	w, err := newWorker(ctx, cfg, s, stderr)
	if err != nil {
		return nil, err
	}
	if err := w.start(); err != nil {
		// A busy METRICS_ADDR should not stop a dev run.
		cfg.MetricsAddr = "127.0.0.1:0"
		if w, err = newWorker(ctx, cfg, s, stderr); err != nil {
			return nil, err
		}
		if err := w.start(); err != nil {
			return nil, err
		}
	}
	return w, nil
}
