// Package quota holds the quota, fairness and churn acceptance of issue 5:
// tests that run the whole worker pipeline (the local SP-API sandbox over
// HTTP, the spapi client, tasks.Handler, asynq on a real redis-server) and
// measure what Amazon's side saw, plus a benchmark that prints the Redis
// cost per sent message of the dispatch lines beside asynq's wiki
// rate-limit pattern.
//
// The properties, all measured from the sandbox's record of accepted sends
// (sandbox.Sandbox.Sent timestamps), not from the worker's own view:
//
//   - Quota use: a backlogged seller sends at >= 97% of burst + rate x
//     elapsed (one seller), >= 90% with six sellers at once, one of them
//     granted a higher rate that the worker learns only from the
//     x-amzn-RateLimit-Limit header.
//   - Fairness: a transactional job of another seller is sent within 2 s of
//     enqueue (p99 over 50 tries) while a 5,000-job campaign backlog waits.
//   - Flat cost (BenchmarkChurn, printed, not asserted): Redis commands per
//     sent message, counted over a fixed window in the steady state, stay
//     within 10% from 1,000 to 20,000 jobs of one seller's backlog (5/s)
//     and from 10 to 1,000 backlogged sellers at the same total rate
//     (50/s); no job is deferred.
//
// The non-test files are small measuring helpers; everything else lives in
// the _test.go files. Run the benchmark with
//
//	go test -run '^$' -bench Churn -benchtime 1x ./internal/quota/
package quota
