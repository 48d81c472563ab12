// Package spapi is spmsg's client for Amazon's Selling Partner API:
// Messaging v1 (seller-to-buyer messages), Solicitations v1 (review
// requests: productReviewAndSellerFeedback) and Uploads 2020-11-01 (message
// attachments), for many sellers at once.
//
// One Client holds the application's LWA credentials and any number of
// sellers, each with its own refresh token, region and access-token cache.
// Access tokens are exchanged lazily, once at a time per seller, and
// replaced shortly before they expire. Requests go to the seller's regional
// host, or to Config.Endpoint (a sandbox or test server).
//
// The message types and their API, paths, body fields and limits come from
// the table in types.go (Types, LookupType); the client sends each type to
// the model's path, never to the href of a live action. GetActions lists
// what the type's API offers for an order (GetMessagingActionsForOrder or
// GetSolicitationActionsForOrder); a review request is sent with Send like
// any other type, with no body and no attachments.
//
// Sending an invoice with an attachment:
//
//	c, err := spapi.NewClient(spapi.Config{
//		LWAClientID:     os.Getenv("SPAPI_LWA_CLIENT_ID"),
//		LWAClientSecret: os.Getenv("SPAPI_LWA_CLIENT_SECRET"),
//		Logger:          logger,
//	}, spapi.Seller{ID: "A1SELLER", RefreshToken: refreshToken, Region: spapi.RegionNA})
//	if err != nil {
//		return err
//	}
//	invoice, _ := spapi.LookupType("invoice")
//	actions, _, err := c.GetMessagingActionsForOrder(ctx, "A1SELLER", orderID, "ATVPDKIKX0DER")
//	if err != nil {
//		return err
//	}
//	if a, ok := actions.Find(invoice); !ok || a.Disabled {
//		return errNotOffered // the type is not available for this order now
//	}
//	md5 := spapi.ContentMD5(pdf)
//	dest, _, err := c.CreateUploadDestination(ctx, "A1SELLER", invoice.UploadResource(orderID),
//		"ATVPDKIKX0DER", md5, "application/pdf")
//	if err != nil {
//		return err
//	}
//	if err := c.Upload(ctx, dest, bytes.NewReader(pdf), int64(len(pdf))); err != nil {
//		return err
//	}
//	_, err = c.Send(ctx, "A1SELLER", orderID, "ATVPDKIKX0DER", invoice, spapi.SendRequest{
//		Attachments: []spapi.Attachment{{UploadDestinationID: dest.ID, FileName: "invoice.pdf"}},
//	})
//	switch {
//	case spapi.IsOutcomeUnknown(err): // written, then no answer or a 5xx: do not resend blindly
//	case spapi.IsUnavailable(err): // Amazon no longer offers the type for the order
//	case spapi.IsThrottled(err), spapi.IsRetryable(err): // retry later with back-off
//	case spapi.IsPermanent(err): // fix the request; retrying will not help
//	}
//
// Errors: every call failure is an *Error (or an *LWAError when no access
// token could be obtained), classified by IsThrottled, IsRetryable,
// IsUnavailable, IsOutsideReviewWindow, IsTokenError, IsOutcomeUnknown,
// IsSendServerError and IsPermanent. A send (a Messaging send or a review
// request) that was written and then got no answer, or an answer with
// status >= 500, is IsOutcomeUnknown and never IsRetryable: Amazon may
// have delivered the message before failing, and resending could send it
// twice. IsSendServerError singles out the 5xx case for callers that opt
// in to resending anyway. Calls without side effects (the actions and
// attributes GETs, createUploadDestinationForResource, the upload PUT, the
// LWA exchange) are IsRetryable on 5xx. The client does not retry, except
// that a 403 blaming the access token makes it refresh that seller's token
// and repeat the call once. Credentials (client secret, refresh tokens,
// access tokens) never appear in errors or logs.
package spapi
