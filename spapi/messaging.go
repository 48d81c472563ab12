package spapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Attachment references an uploaded file in a send body.
type Attachment struct {
	// UploadDestinationID is the id createUploadDestinationForResource
	// returned for the uploaded bytes. Required.
	UploadDestinationID string `json:"uploadDestinationId"`
	// FileName is the name (with extension) the buyer sees. Required.
	FileName string `json:"fileName"`
}

// SendRequest is the content of one message. Only the fields the message
// type takes (MessageType.Fields) may be set; Send rejects the others.
type SendRequest struct {
	// Text is the message text (the live schema calls it rawMessageBody).
	Text string
	// Attachments are uploaded files, at most MessageType.AttachMax.
	Attachments []Attachment
	// CoverageStartDate and CoverageEndDate are the warranty period;
	// nil omits them. They are sent in RFC 3339.
	CoverageStartDate, CoverageEndDate *time.Time
}

// Attributes are the order attributes of GetAttributes.
type Attributes struct {
	// BuyerLocale is the buyer's preferred locale, e.g. "en-US"; "" when
	// Amazon did not say.
	BuyerLocale string
}

// GetMessagingActionsForOrder lists the message types Amazon offers for the
// order now (operationId getMessagingActionsForOrder, GET
// /messaging/v1/orders/{amazonOrderId}; default rate 1 req/s, burst 5). It
// understands the live HAL answer, the model's shape and the static
// sandbox's links-only shape (see Actions).
func (c *Client) GetMessagingActionsForOrder(ctx context.Context, sellerID, orderID, marketplaceID string) (*Actions, *Response, error) {
	cl, err := c.orderCall(OpGetMessagingActionsForOrder, http.MethodGet, sellerID, orderID, marketplaceID, "")
	if err != nil {
		return nil, nil, err
	}
	return c.getActions(ctx, cl)
}

// GetAttributes returns the order's attributes, today the buyer's locale
// (operationId GetAttributes, GET /messaging/v1/orders/{amazonOrderId}/attributes;
// default rate 1 req/s, burst 5).
func (c *Client) GetAttributes(ctx context.Context, sellerID, orderID, marketplaceID string) (*Attributes, *Response, error) {
	cl, err := c.orderCall(OpGetAttributes, http.MethodGet, sellerID, orderID, marketplaceID, "/attributes")
	if err != nil {
		return nil, nil, err
	}
	resp, body, err := c.do(ctx, cl)
	if err != nil {
		return nil, resp, err
	}
	type buyer struct {
		Locale string `json:"locale"`
	}
	var ans struct {
		Buyer   *buyer `json:"buyer"`
		Payload *struct {
			Buyer *buyer `json:"buyer"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, resp, badAnswer(cl, resp, err)
	}
	attrs := &Attributes{}
	switch {
	case ans.Buyer != nil:
		attrs.BuyerLocale = ans.Buyer.Locale
	case ans.Payload != nil && ans.Payload.Buyer != nil:
		attrs.BuyerLocale = ans.Payload.Buyer.Locale
	}
	return attrs, resp, nil
}

// Send sends one message of type t (POST to the model path t.Path(orderID),
// e.g. /messages/invoice, never the href of a live action; operationId
// t.OperationID; default rate 1 req/s, burst 5). Messaging types go to
// Messaging v1; a Solicitations type (productReviewAndSellerFeedback, a
// review request) goes to Solicitations v1 with no body and takes no
// fields. The body carries only the type's fields: empty attachments are
// omitted, and a type without fields (negativeFeedbackRemoval,
// productReviewAndSellerFeedback) is sent with no body at all. A field the
// type does not take, missing text, a bad attachment or an attachment count
// outside the type's limits is an *Error wrapping ErrInvalidRequest before
// any call. Success is any 2xx (Amazon answers 201).
//
// A send is never repeated by the client once written, except after a 403
// token rejection (see Client). Check IsOutcomeUnknown on failure: it is
// true when no answer came after the write and when Amazon answered 5xx
// (see IsSendServerError).
func (c *Client) Send(ctx context.Context, sellerID, orderID, marketplaceID string, t MessageType, req SendRequest) (*Response, error) {
	if t.PathSegment == "" || t.OperationID == "" {
		return nil, invalid(t.OperationID, http.MethodPost, "", "unknown message type %q", t.Name)
	}
	if t.API != "" && t.API != APIMessaging && t.API != APISolicitations {
		return nil, invalid(t.OperationID, http.MethodPost, "", "message type %q: unknown API %q", t.Name, t.API)
	}
	cl, err := c.apiOrderCall(t.ordersBase(), t.OperationID, http.MethodPost, sellerID, orderID, marketplaceID, t.sendSuffix())
	if err != nil {
		return nil, err
	}
	body, reason := sendBody(&t, req)
	if reason != "" {
		return nil, invalid(cl.op, cl.method, cl.path, "%s: %s", t.Name, reason)
	}
	cl.body = body
	resp, _, err := c.do(ctx, cl)
	return resp, err
}

// sendFields is the JSON body of a send; unset fields are omitted.
type sendFields struct {
	Text              *string      `json:"text,omitempty"`
	Attachments       []Attachment `json:"attachments,omitempty"`
	CoverageStartDate string       `json:"coverageStartDate,omitempty"`
	CoverageEndDate   string       `json:"coverageEndDate,omitempty"`
}

// sendBody builds the body for t, or returns why req does not fit t. A nil
// body means "no body at all".
func sendBody(t *MessageType, req SendRequest) ([]byte, string) {
	var f sendFields
	if req.Text != "" {
		if !t.Has(FieldText) {
			return nil, "this type takes no text"
		}
	}
	if t.Has(FieldText) {
		n := utf8.RuneCountInString(req.Text)
		if n < max(t.TextMin, 1) {
			return nil, "text is required"
		}
		if t.TextMax > 0 && n > t.TextMax {
			return nil, fmt.Sprintf("text has %d characters, more than %d", n, t.TextMax)
		}
		f.Text = &req.Text
	}
	if len(req.Attachments) > 0 && !t.Has(FieldAttachments) {
		return nil, "this type takes no attachments"
	}
	if t.Has(FieldAttachments) {
		n := len(req.Attachments)
		if n < t.AttachMin {
			return nil, fmt.Sprintf("%d attachments, at least %d required", n, t.AttachMin)
		}
		if t.AttachMax > 0 && n > t.AttachMax {
			return nil, fmt.Sprintf("%d attachments, at most %d allowed", n, t.AttachMax)
		}
		for i, a := range req.Attachments {
			if strings.TrimSpace(a.UploadDestinationID) == "" || strings.TrimSpace(a.FileName) == "" {
				return nil, fmt.Sprintf("attachment %d needs both uploadDestinationId and fileName", i+1)
			}
		}
		f.Attachments = req.Attachments
	}
	for _, d := range []struct {
		field BodyField
		t     *time.Time
		out   *string
	}{
		{FieldCoverageStartDate, req.CoverageStartDate, &f.CoverageStartDate},
		{FieldCoverageEndDate, req.CoverageEndDate, &f.CoverageEndDate},
	} {
		if d.t == nil {
			continue
		}
		if !t.Has(d.field) {
			return nil, fmt.Sprintf("this type takes no %s", d.field)
		}
		*d.out = d.t.Format(time.RFC3339)
	}
	if len(t.Fields) == 0 {
		return nil, ""
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err.Error()
	}
	return b, ""
}

// orderCall checks the common arguments of a Messaging call and builds it.
// suffix follows /messaging/v1/orders/{amazonOrderId}.
func (c *Client) orderCall(op, method, sellerID, orderID, marketplaceID, suffix string) (call, error) {
	return c.apiOrderCall("/messaging/v1/orders/", op, method, sellerID, orderID, marketplaceID, suffix)
}

// apiOrderCall checks the common arguments of a Messaging or Solicitations
// call and builds it: base is the orders collection with a trailing slash
// (e.g. "/solicitations/v1/orders/"), suffix follows {amazonOrderId}.
func (c *Client) apiOrderCall(base, op, method, sellerID, orderID, marketplaceID, suffix string) (call, error) {
	path := base + url.PathEscape(orderID) + suffix
	cl := call{op: op, sellerID: sellerID, method: method, path: path,
		query: url.Values{"marketplaceIds": {marketplaceID}}}
	if strings.TrimSpace(orderID) == "" {
		return cl, invalid(op, method, path, "order id is required")
	}
	if err := c.checkMarketplace(sellerID, marketplaceID); err != nil {
		e := invalid(op, method, path, "%v", err)
		return cl, e
	}
	return cl, nil
}

// checkMarketplace requires a marketplace id and refuses a known
// marketplace of another region than the seller's. Unknown ids pass, so a
// marketplace Amazon adds later still works.
func (c *Client) checkMarketplace(sellerID, marketplaceID string) error {
	if strings.TrimSpace(marketplaceID) == "" {
		return fmt.Errorf("marketplace id is required")
	}
	st, err := c.seller(sellerID)
	if err != nil {
		return nil // do() reports the unknown seller
	}
	if m, ok := LookupMarketplace(marketplaceID); ok && m.Region != st.Region {
		return CheckMarketplace(st.Region, marketplaceID)
	}
	return nil
}

// badAnswer reports a 2xx answer whose body could not be decoded.
func badAnswer(cl call, resp *Response, err error) *Error {
	return &Error{Operation: cl.op, Method: cl.method, Path: cl.path, StatusCode: resp.StatusCode,
		Code: "InvalidResponse", Message: "cannot decode the answer", RequestID: resp.RequestID,
		RateLimit: resp.RateLimit, Err: err, Written: true}
}
