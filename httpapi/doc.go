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
// idempotency key with the same message, is already queued, finished or
// in the ledger), 400 when rejected, 403 when the token may not act for
// its seller, and 422 when its idempotency key was first used with a
// different message (nothing is enqueued). An array is answered 207
// Multi-Status with one result per item when at least one item was
// accepted or a duplicate, and 400 when every item was rejected; an item
// of another seller, or reusing an idempotency key with another message,
// is rejected naming seller_id or idempotency_key. The body must be sent
// as Content-Type: application/json (415 otherwise), so a web page cannot
// post jobs cross-site. Every error answer is a JSON object with an
// "error" string.
//
// Tokens (see Token and ParseTokens) may be bound to sellers: such a token
// enqueues only for its sellers, GET /v1/messages/{id} answers 404 for
// another seller's job, and GET /v1/campaigns/{name} answers 404 unless
// every job of the campaign is of its sellers. Without tokens (a loopback
// listener only), every route answers 421 unless the Host header is
// localhost, a loopback IP or [::1]: the DNS-rebinding defense.
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
