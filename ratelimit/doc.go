// Package ratelimit paces SP-API calls per seller and per operation with a
// schedule kept in Redis and shared by every worker process.
//
// # Model
//
// Amazon limits each (application, seller) pair per operation with a token
// bucket: Rate tokens per second, at most Burst stored (Messaging: 1/s burst
// 5; createUploadDestinationForResource: 10/s burst 10). The limiter mirrors
// it with GCRA in its virtual-scheduling form: a schedule keeps one number,
// its theoretical arrival time TAT, the emission interval is
// T = 1/Rate * (1 + Margin) and the tolerance is (Burst-1)*T. A call booked
// at now gets slot max(now, TAT - tolerance), and TAT becomes
// max(TAT, now) + T. An idle seller can therefore send Burst calls at once,
// then one every T; in any window of length w at most Burst + w/T slots
// fall, which is never more than Amazon's bucket allows. The margin (2% by
// default) absorbs clock and network jitter.
//
// # Reservations, not retries
//
// asynq's documented rate-limit pattern bounces an over-quota task back
// with an error; under a backlog every worker keeps dequeuing tasks only to
// bounce them, once a second or so, and the quota goes unused in between.
// Reserve instead books the job's own future slot and returns it. A job
// whose Wait is short sleeps in process; one whose Wait is long is deferred
// once by asynq to its slot (ProcessIn(Wait) or ProcessAt(Local)). When it
// comes back it calls Reserve again with the same job ID and gets the same
// slot, now due: reservations are idempotent per job, so a deferred job
// never books twice. asynq schedules in whole seconds and may run a task up
// to a second early; the repeated Reserve then returns the remaining
// sub-second Wait to sleep. A booked slot stays usable for Options.Grace
// (10 s) after it is due, enough for asynq's forwarder; a job that comes
// back later books again. Done drops the record after the call.
//
// Each reservation costs one Lua call that reads and writes a fixed number
// of keys (the schedule hash and the job's own record, which expires an
// hour after its slot), so Redis work per message is the same whether the
// seller has ten or twenty thousand jobs booked: nothing scans a set that
// grows with the backlog.
//
// # Transactional and campaign jobs
//
// Transactional jobs book on the main schedule. Campaign jobs must never
// delay them by booking the main schedule far ahead, so a campaign job
// books in two phases:
//
//  1. Its first Reserve books a slot on the seller's campaign schedule,
//     which runs at CampaignShare * Rate and never touches the main one.
//     A backlog of thousands of campaign jobs only pushes the campaign
//     schedule out.
//  2. When that slot arrives and the job calls Reserve again, it takes a
//     main-schedule slot, but only if the main bucket then holds more than
//     the tokens kept for transactional traffic (Burst/2, rounded down),
//     allowing a wait of (Burst/2 - 1) intervals at most. Otherwise it books
//     nothing on the main schedule and gets a turn in the seller's overflow
//     line instead: no earlier than the main bucket will have room, and one
//     job per interval, so jobs that found the main schedule busy come back
//     one after the other rather than all at once. That is a short further
//     wait; a second deferral happens only while transactional traffic
//     alone keeps the main schedule busy, and even then the retries run at
//     one per interval, not one per waiting job.
//
// Campaign traffic therefore delays a transactional job by at most one
// interval, and not at all when Burst >= 2. CampaignShare below 1 leaves
// room for transactional traffic, so campaign jobs rarely find the main
// schedule busy.
//
// # Amazon's answers
//
// Observe stores the rate from the x-amzn-RateLimit-Limit header (rate
// only; the burst stays); later reservations use it, unless a configured
// override (Options.Override, from the sellers file) wins. Effective reports
// the limit in force: override > observed > default. A 429 although the
// call had its slot means the model and Amazon's bucket disagree (another
// application, a lower grant, clock trouble): Throttled then treats the
// bucket as empty, TAT = max(TAT, now + Burst*T), so every process slows
// down at once.
//
// # Redis
//
// All arithmetic runs in Lua on Redis's clock (TIME, in microseconds), so
// processes on several machines agree without synchronised clocks. Keys are
//
//	spmsg:{<seller>}:rl:<operation>               schedule hash (tat, ctat, obs, iv, b)
//	spmsg:{<seller>}:rl:<operation>:job:<job id>  a job's reservation record
//
// The seller in braces is a Redis Cluster hash tag: all keys of one seller
// hash to one slot, and every script touches only keys of one slot, passed
// in KEYS, so the limiter works on Redis Cluster and on proxies that check
// declared keys. Redis 7 or later is required.
package ratelimit
