// Package e2e holds spmsg's acceptance tests across processes: the worker
// binary (built once per test run from ./cmd/worker) runs as several OS
// processes against one Redis, the local SP-API sandbox runs in the test
// process, and jobs go in through tasks.Producer as an order pipeline or a
// campaign would put them.
//
// The tests cover these deployments:
//
//   - TestMultiProcess: three workers, 30 sellers, 1,200 jobs; every job
//     final, every message sent once, every seller within its quota.
//   - TestCrashAndRedisRestart: injected 5xx and lost answers, planted
//     duplicates (feedback requests and review requests twice per order), one worker killed with SIGKILL mid-run and restarted, and
//     Redis (AOF) killed and restarted; no once-per-order duplicate, no job
//     lost, one final outcome per job.
//   - TestOncePerOrderRedeliveredAfterSend: the exact state a worker
//     killed between a once-per-order send and its ledger commit leaves
//     behind, then asynq's redelivery.
//   - TestRedisCluster: the multi-process scenario on a 3-node Redis
//     Cluster, configured with REDIS_URL=redis-cluster://host:port,...,
//     with every node's script cache flushed mid-run.
//   - TestRedisKilledMidBurstAlways: workers started without accepting
//     any Redis risk, Redis (appendfsync always) killed with SIGKILL
//     mid-burst and restarted from its AOF; no message sent twice.
//   - TestWorkerRefusesEverysecWithoutWAITAOF: appendfsync everysec on a
//     Redis without WAITAOF (< 7.2) is refused at start, naming the
//     setting, unless the risk is accepted.
//
// They need redis-server and redis-cli on PATH and fail (never skip)
// without them. The package has no non-test code.
package e2e
