// Package sandbox is a stateful local stand-in for the parts of Amazon's
// Selling Partner API that spmsg uses: the LWA token endpoint, Messaging v1,
// Uploads 2020-11-01 and the S3 target of presigned upload URLs, all on one
// host. It behaves like Amazon where clients notice: requests are checked
// against Amazon's own models (internal/spapimodel), access tokens expire,
// getMessagingActionsForOrder answers in the live shape (names such as
// sendInvoice and updateFeedback, with embedded JSON schemas), unavailable
// types are refused with 403 "Invalid amazonOrderId and template
// combination.", once-per-order types disappear after a send, uploads
// follow S3's PUT rules, quotas are token buckets per seller and operation,
// and faults (5xx, latency, lost answers) can be injected from a seed.
//
// Use it in tests with net/http/httptest:
//
//	sb, err := sandbox.New(sandbox.Config{Seed: 1})
//	if err != nil { ... }
//	srv := httptest.NewServer(sb)
//	defer srv.Close()
//	// point the client at srv.URL (SP-API) and srv.URL+sandbox.TokenPath (LWA)
//	// ... then inspect sb.Sent() and sb.Stats().
//
// The spapi-sandbox command serves it on a port for demos and manual runs.
package sandbox
