package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
)

// Amazon is what the worker needs from the SP-API client; *spapi.Client
// implements it.
type Amazon interface {
	// GetActions lists what Amazon offers for the order now, from the API
	// of type t (getMessagingActionsForOrder or
	// getSolicitationActionsForOrder).
	GetActions(ctx context.Context, sellerID, orderID, marketplaceID string, t spapi.MessageType) (*spapi.Actions, *spapi.Response, error)
	CreateUploadDestination(ctx context.Context, sellerID, resource, marketplaceID, contentMD5, contentType string) (*spapi.UploadDestination, *spapi.Response, error)
	Upload(ctx context.Context, dest *spapi.UploadDestination, body io.Reader, size int64) error
	Send(ctx context.Context, sellerID, orderID, marketplaceID string, t spapi.MessageType, req spapi.SendRequest) (*spapi.Response, error)
}

var _ Amazon = (*spapi.Client)(nil)

// Store is the job-state store as an attempt uses it, in the order it does
// (see package jobstate); *jobstate.Store implements it on Redis.
type Store interface {
	// Begin reads what earlier attempts of the job left.
	Begin(ctx context.Context, j jobstate.Ref, keys []jobstate.Key) (jobstate.Prior, error)
	// Reserve books quota slots for a job that holds none; Requeue puts a
	// job back in its seller's line.
	Reserve(ctx context.Context, seller string, ops ...string) (time.Duration, error)
	Requeue(ctx context.Context, e dispatch.Entry) error
	// Right before the send, Claim takes the job's ledger keys and
	// MarkSending marks the job as being sent by the attempt nonce.
	Claim(ctx context.Context, j jobstate.Ref, keys []jobstate.Key, staleAfter time.Duration) (jobstate.ClaimResult, error)
	MarkSending(ctx context.Context, j jobstate.Ref, nonce string) (jobstate.MarkState, time.Duration, error)
	// Settle records the job's final outcome; Undo gives back the claims
	// and the mark of an attempt that sent nothing and did not end the job.
	// Both drop the send mark only when it is the attempt's (nonce).
	Settle(ctx context.Context, j jobstate.Ref, keys []jobstate.Key, res jobstate.Result, nonce string) (first bool, err error)
	Undo(ctx context.Context, j jobstate.Ref, keys []jobstate.Key, nonce string) error
	// Throttled and Observe report a 429 and the rate Amazon announced;
	// Local converts a slot to this process's clock.
	Throttled(ctx context.Context, key dispatch.Key) error
	Observe(ctx context.Context, key dispatch.Key, rate float64) error
	Local(slot time.Time) time.Time
}

var _ Store = (*jobstate.Store)(nil)

// Durability confirms that the writes Redis has already acknowledged are
// durable: on disk (appendfsync always, or WAITAOF) and on the replicas the
// deployment has. Confirm returns an error when that cannot be confirmed in
// time; the caller must then not act on those writes.
type Durability interface {
	Confirm(ctx context.Context) error
}

// DefaultMaxAge is how long a job without a deadline may wait to be sent
// before it ends expired.
const DefaultMaxAge = 7 * 24 * time.Hour

// Config configures a Handler. Amazon, State and Sellers are required;
// every other field has a usable zero value.
type Config struct {
	Amazon Amazon
	// State is the job-state store: jobstate.New on the worker's Redis.
	State   Store
	Sellers *Sellers
	// Attachments reads attachment sources; nil fails every job that has
	// attachments (attachment_invalid).
	Attachments attachstore.Store
	// Metrics nil records none; Logger nil logs nothing.
	Metrics *Metrics
	Logger  *slog.Logger
	// Durable confirms, after a send's ledger claim and send mark are
	// written and before the send, that Redis has them on disk (and on its
	// replicas). A send that cannot be confirmed is not made; the job is
	// deferred. nil sends without confirmation (--dev, or a deployment
	// that accepted the risk).
	Durable Durability
	// ResendAfter5xx retries a send that Amazon answered with a 5xx
	// instead of ending it unconfirmed. Amazon may have processed such a
	// send, so the buyer can get the message twice. Off by default.
	ResendAfter5xx bool
	// MaxInlineWait is the longest quota wait slept inside the handler by a
	// job that holds no slot from its line (a retry, a redelivery); such a
	// job with a longer wait goes back to its seller's line. 0 means 1 s.
	MaxInlineWait time.Duration
	// StaleClaim is how old another job's ledger claim must be before it is
	// treated as in doubt. 0 means 10 min.
	StaleClaim time.Duration
	// MaxAge ends a job that has no deadline as expired once it is this
	// old (from enqueue). 0 means DefaultMaxAge.
	MaxAge time.Duration
	// ReviewRecheck is how long a review request waits before asking
	// again when its order is inside the review window but Amazon does not
	// offer it yet. 0 means DefaultReviewRecheck.
	ReviewRecheck time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler processes message jobs, one attempt at a time (see attempt.go):
// availability, schema and policy checks, attachments, quota, the dedup
// ledger, the send, and one final outcome per job.
type Handler struct {
	c        Config
	log      *slog.Logger
	schemas  schemaCache
	observed sync.Map // dispatch.Key -> observation
}

// NewHandler returns a handler for c, with c's zero values replaced by
// their defaults.
func NewHandler(c Config) (*Handler, error) {
	switch {
	case c.Amazon == nil:
		return nil, errors.New("tasks: NewHandler: Config.Amazon is required")
	case c.State == nil:
		return nil, errors.New("tasks: NewHandler: Config.State is required")
	case c.Sellers == nil:
		return nil, errors.New("tasks: NewHandler: Config.Sellers is required")
	}
	c.MaxInlineWait = orDefault(c.MaxInlineWait, time.Second)
	c.StaleClaim = orDefault(c.StaleClaim, 10*time.Minute)
	c.MaxAge = orDefault(c.MaxAge, DefaultMaxAge)
	c.ReviewRecheck = orDefault(c.ReviewRecheck, DefaultReviewRecheck)
	if c.Now == nil {
		c.Now = time.Now
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{c: c, log: log}, nil
}

// Config returns the handler's configuration, defaults filled in.
func (h *Handler) Config() Config { return h.c }

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ProcessTask implements asynq.Handler: one attempt at the task's job.
func (h *Handler) ProcessTask(ctx context.Context, task *asynq.Task) error {
	start := time.Now()
	id, _ := asynq.GetTaskID(ctx)
	j, err := DecodeJob(task.Payload())
	if err != nil {
		if id == "" {
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		return h.badPayload(ctx, id, task.Payload(), start, err)
	}
	if id == "" {
		id = j.ID()
	}
	return h.newAttempt(ctx, id, j, start).do(ctx)
}

// badPayload handles a payload this worker cannot decode. One of a newer
// format version comes from a newer producer during a rolling update: it is
// retried with back-off (a newer worker may take it) and, when its attempts
// are spent, ends failed. Anything else is failed at once. Either way the
// outcome is recorded under the job's own campaign when the payload names
// one, so that campaign's pending count drops.
func (h *Handler) badPayload(ctx context.Context, id string, payload []byte, start time.Time, derr error) error {
	a := h.newAttempt(ctx, id, decodeLenient(payload), start)
	res := jobstate.Result{Outcome: jobstate.OutcomeFailed, Reason: jobstate.ReasonBadPayload, Message: derr.Error()}
	if errors.Is(derr, ErrNewerVersion) {
		if n, _ := asynq.GetRetryCount(ctx); n+1 < DefaultMaxAttempts {
			a.log.Warn("job of a newer format; will retry (a newer worker may take it)", "error", derr)
			return derr
		}
		res.Reason = jobstate.ReasonNewerVersion
	}
	return a.exit(ctx, end(res))
}
