package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/cli"
	"github.com/spmsg/spmsg/internal/redisguard"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

// worker is a running worker process: its asynq server and HTTP endpoints.
type worker struct {
	cfg      Config
	log      *slog.Logger
	rdb      redis.UniversalClient
	connOpt  asynq.RedisConnOpt
	srv      *asynq.Server
	http     *http.Server
	httpAddr string
	handler  *tasks.Handler
	sellers  *tasks.Sellers
	outcomes *jobstate.OutcomeStore
	lines    *dispatch.Dispatcher
	// stopRelease ends this process's release of due jobs (set by start).
	stopRelease func()
}

// run parses the configuration, starts the worker and serves until ctx is
// cancelled (SIGTERM), then shuts down gracefully.
func run(ctx context.Context, args []string, getenv cli.Getenv, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.Dev {
		return runDev(ctx, cfg, stdout, stderr)
	}
	sellers, err := loadSellers(cfg)
	if err != nil {
		return err
	}
	w, err := newWorker(ctx, cfg, sellers, stderr)
	if err != nil {
		return err
	}
	if err := w.start(); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			w.shutdown()
			return nil
		case <-hup:
			w.reloadOverrides(ctx)
		}
	}
}

// reloadOverrides reads the sellers file again and applies its rate
// overrides for every worker process from their next release (SIGHUP).
// Other changes (sellers, tokens, regions) take a restart.
func (w *worker) reloadOverrides(ctx context.Context) {
	s, err := tasks.LoadSellersFile(w.cfg.SellersFile)
	if err == nil {
		err = tasks.ApplyOverrides(ctx, w.lines, s)
	}
	if err != nil {
		w.log.Error("SIGHUP: sellers file not reloaded; the earlier overrides stay", "error", err)
		return
	}
	w.log.Info("SIGHUP: rate overrides reloaded from the sellers file (other changes need a restart)", "sellers", len(s.List()))
}

func loadSellers(cfg Config) (*tasks.Sellers, error) {
	s, err := tasks.LoadSellersFile(cfg.SellersFile)
	if err != nil {
		return nil, usageError(err.Error())
	}
	return s, nil
}

// newWorker wires the worker from its configuration.
func newWorker(ctx context.Context, cfg Config, sellers *tasks.Sellers, logOut io.Writer) (*worker, error) {
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, usageError("LOG_LEVEL " + cfg.LogLevel + ": want debug, info, warn or error")
	}
	log, err := cli.Logger(logOut, cfg.LogFormat, level)
	if err != nil {
		return nil, usageError(err.Error())
	}
	connOpt, rdb, err := cli.Redis(cfg.RedisURL)
	if err != nil {
		return nil, usageError(err.Error())
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		return nil, fmt.Errorf("cannot reach Redis at %s: %v", cli.Redact(cfg.RedisURL), err)
	}
	guard, err := checkRedis(ctx, rdb, cfg, log)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	lines := tasks.NewDispatcher(rdb, dispatch.Options{})
	h, err := newHandler(ctx, cfg, sellers, jobstate.New(rdb, lines, 0), guard, tasks.NewMetrics(reg), log)
	if err != nil {
		return nil, err
	}
	if err := tasks.ApplyOverrides(pctx, lines, sellers); err != nil {
		return nil, fmt.Errorf("apply the sellers file's rate overrides: %w", err)
	}
	w := &worker{cfg: cfg, log: log, rdb: rdb, connOpt: connOpt, handler: h, sellers: sellers,
		outcomes: jobstate.NewOutcomeStore(rdb, "", 0), lines: lines}
	reg.MustRegister(newQueueCollector(asynq.NewInspectorFromRedisClient(rdb), lines))
	w.srv = tasks.NewServer(rdb, tasks.ServerOptions{Concurrency: cfg.Concurrency, ShutdownTimeout: cfg.ShutdownTimeout, Logger: log})
	if cfg.MetricsAddr != "" {
		w.http = &http.Server{Addr: cfg.MetricsAddr, Handler: w.endpoints(reg), ReadHeaderTimeout: 5 * time.Second}
	}
	return w, nil
}

// newHandler builds the message handler: the SP-API client for the
// sellers, the attachment store, and the job-state store st.
func newHandler(ctx context.Context, cfg Config, sellers *tasks.Sellers, st *jobstate.Store, guard *redisguard.Guard,
	m *tasks.Metrics, log *slog.Logger) (*tasks.Handler, error) {
	client, err := spapi.NewClient(spapi.Config{
		LWAClientID: cfg.LWAClientID, LWAClientSecret: cfg.LWAClientSecret,
		LWAEndpoint: cfg.LWAEndpoint, Endpoint: cfg.Endpoint, Logger: log,
	}, sellers.SPAPISellers()...)
	if err != nil {
		return nil, usageError(err.Error())
	}
	store, err := attachstore.Open(ctx, cfg.AttachmentStore,
		attachstore.WithS3Allow(cfg.AttachmentS3Allow), attachstore.WithLogger(log))
	if err != nil {
		return nil, usageError(err.Error())
	}
	hc := tasks.Config{Amazon: client, State: st, Sellers: sellers, Attachments: store,
		Metrics: m, Logger: log, ResendAfter5xx: cfg.ResendAfter5xx, MaxAge: cfg.MaxAge}
	if guard != nil {
		hc.Durable = guard // a nil *Guard would be a non-nil Durability
	}
	return tasks.NewHandler(hc)
}

// endpoints serves /metrics from reg and /healthz (Redis and asynq reachable).
func (w *worker) endpoints(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := w.rdb.Ping(ctx).Err(); err != nil {
			http.Error(rw, "redis: unreachable", http.StatusServiceUnavailable)
			return
		}
		if err := w.srv.Ping(); err != nil {
			http.Error(rw, "asynq: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ok")
	})
	return mux
}

// checkRedis runs redisguard's start-up check, logs its warnings and
// returns the guard every send confirms its ledger claim and send mark
// with. It refuses a Redis that can lose acknowledged writes unless
// cfg.AcceptRedisRisk; with it, a check that cannot run at all (e.g. an
// embedded Redis without INFO) gives no guard.
func checkRedis(ctx context.Context, rdb redis.UniversalClient, cfg Config, log *slog.Logger) (*redisguard.Guard, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	g, warnings, err := redisguard.Check(cctx, rdb, redisguard.Options{AcceptRisk: cfg.AcceptRedisRisk})
	for _, w := range warnings {
		log.Warn("redis: "+w.Message, "redis_addr", w.Addr, "setting", w.Setting)
	}
	var risk *redisguard.RiskError
	switch {
	case errors.As(err, &risk):
		return nil, fmt.Errorf("%v; fix Redis, or start with --accept-redis-risk (REDIS_ACCEPT_RISK=1) to run anyway", err)
	case err != nil && cfg.AcceptRedisRisk:
		log.Warn("redis: persistence not checked; sends are not confirmed durable", "error", err)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("check Redis persistence: %v", err)
	}
	log.Info("redis durability", "confirm", g.String())
	return g, nil
}

func (w *worker) start() error {
	if w.http != nil {
		ln, err := net.Listen("tcp", w.http.Addr)
		if err != nil {
			return fmt.Errorf("METRICS_ADDR %s: %w", w.http.Addr, err)
		}
		w.httpAddr = ln.Addr().String()
		go func() {
			if err := w.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				w.log.Error("metrics server stopped", "error", err)
			}
		}()
	}
	if err := w.srv.Start(tasks.NewServeMux(w.handler)); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	w.stopRelease = tasks.StartRelease(w.rdb, w.lines, w.log)
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "redis", cli.Redact(w.cfg.RedisURL),
		"metrics", w.httpAddr, "queues", strings.Join([]string{tasks.QueueTransactional, tasks.QueueCampaign}, ","))
	return nil
}

func (w *worker) shutdown() {
	w.log.Info("shutting down: finishing running jobs", "timeout", w.cfg.ShutdownTimeout)
	if w.stopRelease != nil {
		w.stopRelease() // jobs already released stay queued for any worker
	}
	w.srv.Shutdown()
	if w.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.http.Shutdown(ctx)
	}
	_ = w.rdb.Close()
	w.log.Info("worker stopped")
}
