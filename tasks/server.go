package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// ServerOptions tune the asynq server that runs message jobs.
type ServerOptions struct {
	// Concurrency is the number of jobs processed at once; default 100.
	Concurrency int
	// ShutdownTimeout is how long running jobs may finish on shutdown;
	// default 65 s (above the SP-API client's 60 s exchange timeout, so a
	// send in flight is not cut off and left unconfirmed).
	ShutdownTimeout time.Duration
	// Backoff is the transient-error schedule; zero means DefaultBackoff.
	Backoff Backoff
	// Logger receives asynq's warnings and failed attempts; nil discards.
	Logger *slog.Logger
}

// NewServer returns the asynq server for message jobs: transactional queue
// strictly before campaign, deferrals that never count as failures, retry
// delays from the deferral or the back-off, a 1 s forwarder so deferred
// jobs come back on time. Jobs reach it from their sellers' lines (see
// Release), not from producers.
func NewServer(rdb redis.UniversalClient, o ServerOptions) *asynq.Server {
	if o.Concurrency <= 0 {
		o.Concurrency = 100
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 65 * time.Second
	}
	if o.Backoff.Base <= 0 {
		o.Backoff = DefaultBackoff
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              o.Concurrency,
		Queues:                   Queues(),
		StrictPriority:           true,
		IsFailure:                IsFailure,
		RetryDelayFunc:           o.Backoff.RetryDelay,
		DelayedTaskCheckInterval: time.Second,
		TaskCheckInterval:        50 * time.Millisecond,
		ShutdownTimeout:          o.ShutdownTimeout,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if IsFailure(err) {
				id, _ := asynq.GetTaskID(ctx)
				log.Warn("job attempt failed", "job_id", id, "error", err)
			}
		}),
	})
}

// NewServeMux routes message jobs to h.
func NewServeMux(h *Handler) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Handle(TypeMessage, h)
	return mux
}

// asynqLogger routes asynq's own log lines to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
