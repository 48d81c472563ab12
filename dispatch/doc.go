// Package dispatch keeps one line of jobs per seller and API in Redis and
// releases each seller's jobs to the worker queues when that seller's quota
// has a slot for them, at the rate in force at that moment. It is the one
// place spmsg paces calls to Amazon.
//
// # Model
//
// Amazon limits each (application, seller) pair per operation with a token
// bucket: Rate tokens per second, at most Burst stored (Messaging: 1/s burst
// 5 per operation; createUploadDestinationForResource: 10/s burst 10). A
// schedule mirrors one bucket with GCRA in its virtual-scheduling form: it
// keeps one number, the theoretical arrival time TAT; the emission interval
// is T = 1/Rate x (1 + Margin) and the tolerance (Burst-1) x T (less a small
// Slack, so an idle seller's burst is spread over 150 ms). A call at slot s
// is allowed when s >= TAT - tolerance, and TAT becomes max(TAT, s) + T, so
// in any window w at most Burst + w/T slots fall: never more than Amazon's
// bucket allows. The margin (0.5%) absorbs jitter.
//
// A message job makes two calls under quota: its API's actions operation
// (getMessagingActionsForOrder or getSolicitationActionsForOrder) and its
// send operation. Its seller's line for that API releases it when both
// schedules have a slot within Lead (80 ms) of now; the release books both
// at that slot and hands the job to the queue with the slot in its payload.
// The worker that picks it up waits out the rest of the lead (a few tens of
// milliseconds) and calls. A job never waits for quota while holding a
// worker: waiting happens in the line, which costs nothing.
//
// The plan in force is read at each release: the sellers file's override
// (SetOverrides, reapplied on SIGHUP), else the rate Amazon last reported in
// x-amzn-RateLimit-Limit (Observe), else Amazon's default. A change applies
// to the seller's next release, for every job already waiting and every
// process; when the interval changes, the schedule's debt is rescaled so it
// stays the same number of tokens. A 429 (Throttled) treats the bucket as
// empty, TAT = max(TAT, now + Burst x T): the seller's next release waits an
// interval, and its burst refills before it is used again.
//
// Each line is two sorted sets: transactional jobs (no campaign) and
// campaign jobs, each first in, first out, scored by when the job may go
// (enqueue time, or not_before / the opening of a review request's window).
// A release takes the transactional head first, so a seller's own order
// messages wait at most one slot behind its campaign. Campaign jobs may use
// at most CampaignShare of the rate (a second GCRA schedule, ctat). Sellers
// never wait on each other: each line has its own schedules.
//
// # Release
//
// Sellers are spread over Shards (16) shards. Each shard keeps a due index,
// a sorted set of its lines scored by when each is next worth looking at
// (its next slot, or its head's eligibility). Every worker process runs Run:
// one release step (a Lua script) per shard, in one pipeline, when the
// shard's earliest line is due. A push to an idle line publishes the shard
// on <p>:dispatch:wake, which wakes every loop at once; idle shards are
// also polled every IdlePoll (1 s) in case a wake-up was lost. The
// step is atomic in Redis, so any number of processes share the work with
// no leader; the step reads and writes only the due lines' heads and
// schedules, so Redis work per released job does not grow with the number
// of sellers or the backlog.
//
// A released job moves to the shard's handoff set; the process puts it on
// the asynq queue (task id = job id) and then drops it from the handoff set
// and the jobs hash. A process that dies in between leaves it there; after
// HandoffTimeout (15 s) any release step hands it off again, without a slot
// (the worker then books one with Reserve). asynq refuses a second task with
// the same id, so a job is queued once.
//
// Reserve books slots for the few calls that are not released from a line:
// a retry after a transient error, a redelivery after a crash, and
// attachment uploads. A retried job whose slot is further than a second away
// goes back to its line instead of waiting in the worker.
//
// # Redis keys
//
// All keys of a shard carry the hash tag {dNN} (NN = shard), so every script
// touches one Redis Cluster slot; keys the release step derives from a due
// line's name are in that slot too. internal/keyspace/keys.go lists them
// with every other key spmsg keeps.
//
// All arithmetic runs on Redis's clock (TIME, µs), so processes on several
// machines agree without synchronised clocks; each process converts a slot
// to its own clock with the offset it measures on every release step.
// Redis 6.2 or later is required (ZRANGE BYSCORE).
package dispatch
