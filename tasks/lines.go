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
	"github.com/spmsg/spmsg/internal/keyspace"
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
			cmds = append(cmds, p.LLen(ctx, keyspace.AsynqPending(q)))
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
	task := asynq.NewTask(TypeMessage, withSlot(r.Payload, r.Slot), taskOptions(r.ID, queue)...)
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
