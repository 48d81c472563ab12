package tasks

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// TypeMessage is the asynq task type of a message job. It is a stored wire
// name: never rename it in one step (add the new name, keep this handler
// registered until queues drain).
const TypeMessage = "spmsg:message"

// Queue names. Transactional work (order pipelines: jobs without a campaign)
// is served before campaign work.
const (
	QueueTransactional = "transactional"
	QueueCampaign      = "campaign"
)

// Queues is the asynq Config.Queues for a worker: transactional first
// (used with StrictPriority).
func Queues() map[string]int { return map[string]int{QueueTransactional: 10, QueueCampaign: 1} }

// DefaultMaxAttempts is how many attempts a job gets on transient errors
// (5xx, network before the request was written) before it ends as failed.
// Waiting for quota or a 429 never spends an attempt.
const DefaultMaxAttempts = 8

// asynqMaxRetry is far above DefaultMaxAttempts: asynq archives a task
// (without calling the handler again) once its failures reach MaxRetry,
// counting crashes, timeouts and Redis errors as failures, and even a
// quota wait is archived at that point. spmsg ends a job itself (as
// failed) when its transient attempts are spent, so asynq must never get
// there first and leave a job without an outcome.
const asynqMaxRetry = 10_000

// DefaultTaskTimeout bounds one attempt of a job.
const DefaultTaskTimeout = 3 * time.Minute

// QueueFor returns the queue a job goes to.
func QueueFor(j *Job) string {
	if j.Campaign != "" {
		return QueueCampaign
	}
	return QueueTransactional
}

// NewTask builds the asynq task for a job enqueued straight to asynq, as
// producers before the sellers' lines did (tests use it to play one):
// taskOptions, and not_before (or the opening of a review request's window)
// as ProcessAt. Producers now put jobs in their lines (Producer.Enqueue).
func NewTask(j *Job) (*asynq.Task, error) {
	b, err := j.Encode()
	if err != nil {
		return nil, err
	}
	opts := taskOptions(j.ID(), QueueFor(j))
	if nb := j.EffectiveNotBefore(); nb != nil && nb.After(time.Now()) {
		opts = append(opts, asynq.ProcessAt(*nb))
	}
	return asynq.NewTask(TypeMessage, b, opts...), nil
}

// taskOptions are the asynq options of every message task: the job's id as
// TaskID (a live duplicate is refused), its queue, a MaxRetry asynq never
// reaches (see asynqMaxRetry) and the attempt timeout.
func taskOptions(id, queue string) []asynq.Option {
	return []asynq.Option{asynq.TaskID(id), asynq.Queue(queue), asynq.MaxRetry(asynqMaxRetry), asynq.Timeout(DefaultTaskTimeout)}
}

// DeferError asks asynq to run the job again after RetryIn without counting
// a failed attempt: the job waits for its not_before, a busy ledger entry or
// send mark, Redis's durability confirmation, or Amazon's review window.
// (Quota is never waited for this way: jobs wait for quota in their
// sellers' lines.)
type DeferError struct {
	RetryIn time.Duration
	Reason  DeferReason
}

// DeferReason says why a job was deferred (the reason label of
// spmsg_job_deferrals_total; README lists them).
type DeferReason string

// The deferral reasons.
const (
	DeferNotBefore           DeferReason = "not_before"
	DeferThrottled           DeferReason = "throttled"
	DeferLedgerBusy          DeferReason = "ledger_busy"
	DeferSendInProgress      DeferReason = "send_in_progress"
	DeferDurability          DeferReason = "durability"
	DeferReviewWindowNotOpen DeferReason = "review_window_not_open"
	DeferReviewNotOfferedYet DeferReason = "review_not_offered_yet"
)

// DeferReasons lists every deferral reason.
func DeferReasons() []DeferReason {
	return []DeferReason{DeferNotBefore, DeferThrottled, DeferLedgerBusy, DeferSendInProgress, DeferDurability,
		DeferReviewWindowNotOpen, DeferReviewNotOfferedYet}
}

func (e *DeferError) Error() string {
	return fmt.Sprintf("deferred %s (%s)", e.RetryIn.Round(time.Millisecond), e.Reason)
}

// IsFailure is asynq's Config.IsFailure: a deferral is not a failure.
func IsFailure(err error) bool {
	var d *DeferError
	return err != nil && !errors.As(err, &d)
}

// Backoff is the retry schedule for transient errors: Base doubling per
// failed attempt up to Max, with jitter (0.5x to 1.5x).
type Backoff struct {
	Base, Max time.Duration
}

// DefaultBackoff is 2 s doubling to at most 5 min.
var DefaultBackoff = Backoff{Base: 2 * time.Second, Max: 5 * time.Minute}

// RetryDelay is asynq's Config.RetryDelayFunc with the default back-off.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	return DefaultBackoff.RetryDelay(n, err, t)
}

// RetryDelay is asynq's Config.RetryDelayFunc: a deferral comes back at its
// time (asynq schedules in whole seconds; at least 1 s); transient errors
// back off exponentially with jitter.
func (b Backoff) RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var d *DeferError
	if errors.As(err, &d) {
		if d.RetryIn < time.Second {
			return time.Second
		}
		return d.RetryIn
	}
	base := b.Base << min(n, 16)
	if base > b.Max || base <= 0 {
		base = b.Max
	}
	jitter := 0.5 + rand.Float64() // 0.5x .. 1.5x
	return time.Duration(float64(base) * jitter)
}
