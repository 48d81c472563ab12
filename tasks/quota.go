package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/spapi"
)

// NewDispatcher returns the per-seller lines with Amazon's default plans
// for every operation a job can call. Apply the sellers file's overrides
// with ApplyOverrides.
func NewDispatcher(rdb redis.UniversalClient, o dispatch.Options) *dispatch.Dispatcher {
	if o.Queued == nil {
		o.Queued = func(ctx context.Context) (int, error) { return queued(ctx, rdb) }
	}
	o.Defaults = func(op string) dispatch.Plan {
		rate, burst := spapi.DefaultPlan(op)
		return dispatch.Plan{Rate: rate, Burst: burst}
	}
	o.Operations = operations()
	return dispatch.New(rdb, o)
}

// queued counts the released jobs waiting for a worker: the lengths of
// asynq's pending lists (asynq's key layout, stable since v0.18).
func queued(ctx context.Context, rdb redis.UniversalClient) (int, error) {
	var cmds []*redis.IntCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for q := range Queues() {
			cmds = append(cmds, p.LLen(ctx, "asynq:{"+q+"}:pending"))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n, nil
}

// operations lists every operation a job can call.
func operations() []string {
	ops := []string{spapi.OpCreateUploadDestinationForResource}
	seen := map[string]bool{}
	for _, t := range spapi.Types() {
		for _, op := range []string{t.ActionsOperation(), t.OperationID} {
			if !seen[op] {
				seen[op] = true
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// ApplyOverrides makes the sellers file's rate overrides the ones every
// worker applies from the next release on (replacing earlier ones).
func ApplyOverrides(ctx context.Context, d *dispatch.Dispatcher, s *Sellers) error {
	plans := map[dispatch.Key]dispatch.Plan{}
	for _, c := range s.List() {
		for _, op := range operations() {
			if r, ok := s.override(c.ID, op); ok {
				plans[dispatch.Key{Seller: c.ID, Operation: op}] = dispatch.Plan{Rate: r.Rate, Burst: r.Burst}
			}
		}
	}
	return d.SetOverrides(ctx, plans)
}

// lineEntry is a job's entry in its seller's line.
func lineEntry(id string, j *Job, t spapi.MessageType, payload []byte) dispatch.Entry {
	e := dispatch.Entry{ID: id, Seller: j.SellerID, ActionsOp: t.ActionsOperation(), SendOp: t.OperationID,
		Campaign: j.Campaign != "", Payload: payload}
	if nb := j.EffectiveNotBefore(); nb != nil {
		e.Eligible = *nb
	}
	if dl := j.EffectiveDeadline(); dl != nil {
		e.Deadline = *dl
	}
	return e
}

// Release hands each seller's due jobs to the asynq queues until ctx ends
// (see dispatch.Dispatcher.Run). Every worker process runs it.
func Release(ctx context.Context, d *dispatch.Dispatcher, client *asynq.Client, insp *asynq.Inspector, log *slog.Logger) error {
	return d.Run(ctx, func(ctx context.Context, r dispatch.Released) error {
		return handOff(ctx, client, insp, r)
	}, log)
}

// handOff puts a released job on its asynq queue, with its slot added to
// the payload. A task of the same id that is already queued (not running)
// is the job itself; one that is running is an earlier delivery that put
// the job back in its line, so the hand-off waits for it to end.
func handOff(ctx context.Context, client *asynq.Client, insp *asynq.Inspector, r dispatch.Released) error {
	queue := QueueTransactional
	if r.Campaign {
		queue = QueueCampaign
	}
	task := asynq.NewTask(TypeMessage, withSlot(r.Payload, r.Slot), asynq.TaskID(r.ID), asynq.Queue(queue),
		asynq.MaxRetry(asynqMaxRetry), asynq.Timeout(DefaultTaskTimeout))
	_, err := client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		info, ierr := insp.GetTaskInfo(queue, r.ID)
		if ierr == nil && info.State == asynq.TaskStateActive {
			return fmt.Errorf("job %s is still running", r.ID)
		}
		return nil
	}
	return err
}

// withSlot adds the job's slot to its payload (a JSON object) as slot_us,
// and version 3, which workers that do not know slot_us retry rather than
// fail (a rolling update).
func withSlot(payload []byte, slot time.Time) []byte {
	n := len(payload)
	for n > 0 && (payload[n-1] == ' ' || payload[n-1] == '\n') {
		n--
	}
	if slot.IsZero() || n < 2 || payload[n-1] != '}' {
		return payload
	}
	out := make([]byte, 0, n+40)
	out = append(out, payload[:n-1]...)
	out = append(out, `,"slot_us":`...)
	out = strconv.AppendInt(out, slot.UnixMicro(), 10)
	out = append(out, `,"v":3}`...)
	return out
}

// slotGrace is how late a released job may start and still use the slot it
// was released with. A job that comes later (a retry, a deferral, a
// redelivery, a job that waited for a free worker) books a new one.
const slotGrace = time.Second

// acquire waits for the job's quota: the slots its release booked, or,
// when it holds none, slots booked now. A job whose new slots are further
// away than MaxInlineWait goes back to its line instead of waiting here;
// acquire then reports requeued.
func (r *run) acquire(ctx context.Context) (requeued bool, err error) {
	h, j := r.h, r.job
	retried, _ := asynq.GetRetryCount(ctx)
	if j.Slot > 0 && retried == 0 {
		at := h.Lines.Local(time.UnixMicro(j.Slot))
		if time.Since(at) <= slotGrace {
			return false, r.waitQuota(ctx, time.Until(at))
		}
	}
	wait, err := h.Lines.Reserve(ctx, j.SellerID, r.typ.ActionsOperation(), r.typ.OperationID)
	if err != nil {
		return false, err
	}
	if wait <= h.maxInlineWait() {
		return false, r.waitQuota(ctx, wait)
	}
	return true, r.requeue(ctx, time.Now())
}

// requeue puts the job back in its seller's line, to be released from
// eligible on.
func (r *run) requeue(ctx context.Context, eligible time.Time) error {
	j := *r.job
	j.Retried = r.retried(ctx)
	payload, err := j.Encode()
	if err != nil {
		return err
	}
	e := lineEntry(r.id, &j, r.typ, payload)
	if e.Eligible.Before(eligible) {
		e.Eligible = eligible
	}
	if _, err := r.h.Lines.Push(ctx, e); err != nil {
		return err
	}
	r.h.Metrics.requeued()
	r.log.Debug("job back in its seller's line")
	return nil
}

// waitQuota sleeps for a quota wait and records it.
func (r *run) waitQuota(ctx context.Context, d time.Duration) error {
	r.h.Metrics.quotaWait(max(d, 0))
	return sleep(ctx, d)
}

// release drops the job's send mark once its outcome is recorded, or when
// the send definitely did not happen.
func (r *run) release(ctx context.Context) {
	if !r.guarded || (r.sendAttempted && !r.sendRefused && !r.settled) {
		return
	}
	r.guarded = false
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = r.h.Outcomes.rdb.Del(ctx, r.h.Outcomes.guardKey(r.job.Campaign, r.id)).Err()
}

// observe stores the rate Amazon reported in x-amzn-RateLimit-Limit (sent
// on 2xx, 400 and 404 answers) for the seller's next release.
func (r *run) observe(ctx context.Context, key dispatch.Key, resp *spapi.Response, err error) {
	rate := 0.0
	if resp != nil {
		rate = resp.RateLimit
	}
	var e *spapi.Error
	if rate == 0 && errors.As(err, &e) {
		rate = e.RateLimit
	}
	if rate <= 0 {
		return
	}
	if _, overridden := r.h.Sellers.override(key.Seller, key.Operation); overridden {
		return
	}
	// Amazon repeats the header on every answer; store it (a Redis round
	// trip) only when the rate changes, or again after a while in case it
	// expired.
	now := time.Now()
	if v, ok := r.h.observed.Load(key); ok {
		if o := v.(observation); o.rate == rate && now.Sub(o.at) < observeRefresh {
			return
		}
	}
	if r.h.Lines.Observe(ctx, key, rate) == nil {
		r.h.observed.Store(key, observation{rate: rate, at: now})
	}
}

// observeRefresh is how long a reported rate is trusted to be stored.
const observeRefresh = time.Minute

// observation is the last rate a worker stored for a key.
type observation struct {
	rate float64
	at   time.Time
}

// StartRelease runs Release on rdb in the background; stop ends it and
// waits for it.
func StartRelease(rdb redis.UniversalClient, d *dispatch.Dispatcher, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = Release(ctx, d, asynq.NewClientFromRedisClient(rdb), asynq.NewInspectorFromRedisClient(rdb), log)
	}()
	return func() {
		cancel()
		<-done
	}
}
