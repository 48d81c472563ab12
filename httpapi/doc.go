// Package httpapi is spmsg's HTTP enqueue API: the producer that `enqueue
// batch` and `enqueue send` use, over HTTP, for order pipelines written in
// any language. `enqueue serve` runs it.
//
// Routes (documented in openapi.json, served at GET /openapi.json):
//
//	POST /v1/messages          one job object, or an array of up to 1,000
//	POST /v1/attachments       store a file; answers {"source": ref} to reference in a job
//	GET  /v1/messages/{id}     a job's record: state, final outcome, Amazon's code and message
//	GET  /v1/campaigns/{name}  a campaign's counts, as `enqueue status --campaign NAME --json`
//	GET  /healthz              Redis reachable (no token needed)
//	GET  /metrics              Prometheus metrics (no token needed)
//	GET  /openapi.json         the OpenAPI 3 description (no token needed)
//
// Status convention for POST /v1/messages: a single job object is answered
// 202 when accepted, 200 when it is a duplicate (the same job, or the same
// idempotency key, is already queued, finished or in the ledger) and 400
// when rejected. An array is answered 207 Multi-Status with one result per
// item when at least one item was accepted or a duplicate, and 400 when
// every item was rejected. Every error answer is a JSON object with an
// "error" string.
//
// Usage:
//
//	api, err := httpapi.New(httpapi.Config{
//		Producer: producer, Outcomes: outcomes, Store: store, Redis: rdb,
//		Tokens: tokens, Logger: log,
//	})
//	if err != nil { ... }
//	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
package httpapi
