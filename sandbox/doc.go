// Package sandbox is a stateful local stand-in for the parts of Amazon's
// Selling Partner API that spmsg uses: the LWA token endpoint, Messaging v1,
// Solicitations v1, Uploads 2020-11-01 and the S3 target of presigned
// upload URLs, all on one host. It behaves like Amazon where clients
// notice: requests are checked against Amazon's own models
// (internal/spapimodel), access tokens expire, getMessagingActionsForOrder
// answers in the live shape (names such as sendInvoice and updateFeedback,
// with embedded JSON schemas), unavailable types are refused with 403
// "Invalid amazonOrderId and template combination.", once-per-order types
// disappear after a send, uploads follow S3's PUT rules, quotas are token
// buckets per seller and operation, and faults (5xx, latency, lost answers,
// a 500 after the send was processed) can be injected from a seed or, for
// sends, by rule.
//
// Review requests (Solicitations productReviewAndSellerFeedback) follow
// Amazon's window: from ReviewWindowStart (5 days) after an order's
// earliest delivery date to ReviewWindowEnd (30 days) after its latest,
// once per order. getSolicitationActionsForOrder lists the action only
// while a request would succeed; createProductReviewAndSellerFeedbackSolicitation
// answers 201 {} then, and 403 Unauthorized otherwise ("The requested
// solicitation is not available for this amazonOrderId." once requested,
// "You can’t use this feature to request a review outside the 5-30 day
// range after the order delivery date." outside the window). Delivery
// dates come from Order.Delivery in the Config, Sandbox.SetDelivery or PUT
// /_sandbox/orders/{id}/delivery; an order without them was delivered
// DefaultDeliveryAge (10 days) before New, which is inside the window.
// Review requests are recorded in Sent like Messaging sends (Type
// "productReviewAndSellerFeedback").
//
// The send-then-500 fault records a send exactly as a 201 would (it is in
// Sent, once-per-order types and the review request are used up) and then
// answers 500 InternalFailure, as Amazon may when it fails after
// processing. Faults.SendThen500 draws it from the seed; SendThen500Rule
// (Faults.SendThen500Rules, Sandbox.AddSendThen500, POST
// /_sandbox/faults/send-then-500) applies it to the next N sends, or to
// every send, of an order or a seller.
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
// Admin and inspection endpoints (JSON) under AdminPrefix:
//
//	GET    /_sandbox/sent                    recorded sends; ?seller= ?order= ?type= filter
//	GET    /_sandbox/stats                   Stats
//	POST   /_sandbox/reset                   Reset
//	PUT    /_sandbox/orders/{id}             SetOrder (body: Order)
//	PUT    /_sandbox/orders/{id}/delivery    SetDelivery (body: {"earliest": RFC 3339, "latest": RFC 3339})
//	GET    /_sandbox/faults/send-then-500    rules in force
//	POST   /_sandbox/faults/send-then-500    AddSendThen500 (body: {"order", "seller", "count"})
//	DELETE /_sandbox/faults/send-then-500    ClearSendThen500
//
// The spapi-sandbox command serves it on a port for demos and manual runs.
package sandbox
