// Package jobstate keeps everything Redis holds about a job, in one place:
// its record and final outcome (OutcomeStore), the mark of an attempt that
// is sending it, its entries in the permanent dedup ledger (Ledger), and,
// through package dispatch, its place in its seller's line and the quota
// slots it books. Store puts them behind the few steps a worker's attempt
// takes. internal/keyspace/keys.go lists every key.
//
// # One attempt
//
//	prior, err := st.Begin(ctx, job, keys)   // record, send mark, ledger entries: one round trip
//	wait, err  := st.Reserve(ctx, seller, actionsOp, sendOp)   // unless the release booked its slots
//	res, err   := st.Claim(ctx, job, keys, 10*time.Minute)     // ledger, before the send
//	state, ...  := st.MarkSending(ctx, job, nonce)             // the send mark
//	// ... send ...
//	first, err := st.Settle(ctx, job, keys, result, true)      // ledger, outcome, mark dropped
//	// or, when nothing was sent and the job does not end:
//	err = st.Undo(ctx, job, keys, true)                        // claims and mark given back
//
// # The ledger
//
// asynq's TaskID and Unique only stop duplicates while a task is queued;
// delivery is at least once (a crashed or timed-out worker's task runs
// again). The ledger is what makes "at most one send" hold for the two
// promises spmsg makes: a once-per-order message type goes at most once per
// (seller, order, type), and an idempotency key goes at most once per
// (seller, key), ever.
//
// A worker, before sending:
//
//	res, err := l.Claim(ctx, keys, jobID, 10*time.Minute)
//	switch res.Status {
//	case jobstate.Claimed: // send; then Commit (2xx), Release (definite failure,
//	                       // nothing sent) or MarkInDoubt (answer lost)
//	case jobstate.Mine:    // redelivered after a crash mid-send: it may have gone;
//	                       // MarkInDoubt, outcome unconfirmed
//	case jobstate.Done:    // res.Entry says sent or in_doubt: skipped_duplicate
//	                       // (or sent/unconfirmed when res.Entry.JobID is this job)
//	case jobstate.Busy:    // another live job holds it: retry later
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
// Ledger entries are hashes (state, job, req, claimed, updated; times in
// microseconds on Redis's clock) under the seller's hash tag, so all entries
// of one seller live in one slot and every script touches keys of one slot
// only, passed in KEYS. A ledger call may therefore not mix sellers. A job's
// record and send mark share its campaign's tag, so the outcome, the
// campaign's counters and the mark change in one script.
package jobstate
