// Package ledger is spmsg's permanent dedup ledger in Redis.
//
// asynq's TaskID and Unique only stop duplicates while a task is queued;
// delivery is at least once (a crashed or timed-out worker's task runs
// again). The ledger is what makes "at most one send" hold for the two
// promises spmsg makes: a once-per-order message type goes at most once per
// (seller, order, type), and an idempotency key goes at most once per
// (seller, key), ever.
//
// # Protocol
//
// A worker, before sending:
//
//	res, err := l.Claim(ctx, keys, jobID, 10*time.Minute)
//	switch res.Status {
//	case ledger.Claimed: // send; then Commit (2xx), Release (definite failure,
//	                     // nothing sent) or MarkInDoubt (answer lost)
//	case ledger.Mine:    // redelivered after a crash mid-send: it may have gone;
//	                     // MarkInDoubt, outcome unconfirmed
//	case ledger.Done:    // res.Entry says sent or in_doubt: skipped_duplicate
//	                     // (or sent/unconfirmed when res.Entry.JobID is this job)
//	case ledger.Busy:    // another live job holds it: retry later
//	}
//
// Entry states:
//
//	(none) --Claim--> claimed --Commit-->      sent      (permanent)
//	                          --MarkInDoubt--> in_doubt  (permanent)
//	                          --Release-->     (none)
//
// Claim covers all of a job's keys in one Lua call, so two jobs can never
// each get half. A claim held by another job for longer than staleAfter is
// never taken over (that job may have sent before dying): Claim reports it
// as Done with State in_doubt, without changing the stored entry, and its
// owner can still Commit, MarkInDoubt or Release it. Release only deletes a
// claim still held by the releasing job. No entry ever has a TTL; run Redis
// with AOF (appendfsync everysec or always) and maxmemory-policy noeviction.
//
// # Redis
//
// Keys (one hash per entry: state, job, req, claimed, updated; times in
// microseconds on Redis's clock):
//
//	spmsg:{<seller>}:ledger:order:<order>:<type>
//	spmsg:{<seller>}:ledger:idem:<idempotency key>
//
// The seller in braces is the Redis Cluster hash tag, so all entries of one
// seller live in one slot and every script touches keys of one slot only,
// passed in KEYS. A call may therefore not mix sellers.
package ledger
