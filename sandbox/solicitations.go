package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spmsg/spmsg/spapi"
)

// Solicitations API facts (Amazon's solicitations.json model).
const (
	// reviewType is the only solicitation type: a request for a product
	// review and seller feedback. It is also its action name.
	reviewType = spapi.ReviewRequestType
	// opCreateReview is the model's operationId of the review request.
	opCreateReview = spapi.OpCreateProductReviewAndSellerFeedbackSolicitation
	// solicitationsPrefix starts the Solicitations paths.
	solicitationsPrefix = "/solicitations/"

	msgReviewSent   = "The requested solicitation is not available for this amazonOrderId."
	msgReviewWindow = "You can’t use this feature to request a review outside the 5-30 day range after the order delivery date."
)

// messagingTypes returns the message types of the Messaging API: the
// entries of spapi.Types() without the Solicitations ones.
func messagingTypes() []spapi.MessageType {
	all := spapi.Types()
	out := all[:0]
	for _, t := range all {
		if isMessaging(&t) {
			out = append(out, t)
		}
	}
	return out
}

// isMessaging reports whether t is sent through the Messaging API.
func isMessaging(t *spapi.MessageType) bool { return t.API == "" || t.API == spapi.APIMessaging }

// SetDelivery sets an order's delivery dates for every seller (replacing
// seller-specific dates from the configuration); they decide when a review
// may be requested (Delivery). A zero latest means earliest. It returns an
// error for an empty id, a zero earliest or a latest before earliest.
func (s *Sandbox) SetDelivery(orderID string, earliest, latest time.Time) error {
	if orderID == "" {
		return errors.New("sandbox: order id is empty")
	}
	d, err := Delivery{Earliest: earliest, Latest: latest}.check()
	if err != nil {
		return fmt.Errorf("sandbox: order %s: %w", orderID, err)
	}
	s.ordersMu.Lock()
	defer s.ordersMu.Unlock()
	for k := range s.deliveries {
		if k.id == orderID {
			delete(s.deliveries, k)
		}
	}
	s.deliveries[orderKey{"", orderID}] = d
	return nil
}

// delivery returns an order's delivery dates: an entry for the seller, else
// one for every seller, else DefaultDeliveryAge before New.
func (s *Sandbox) delivery(sellerID, orderID string) Delivery {
	s.ordersMu.RLock()
	defer s.ordersMu.RUnlock()
	if d, ok := lookupOrder(s.deliveries, sellerID, orderID); ok {
		return d
	}
	at := s.start.Add(-DefaultDeliveryAge)
	return Delivery{Earliest: at, Latest: at}
}

// reviewOpen reports whether the seller may request a review for the order
// now: not yet requested and inside the window. The caller holds ss.mu.
func (s *Sandbox) reviewOpen(ss *sellerState, orderID string, now time.Time) (sent, inWindow bool) {
	sent = s.orderLocked(ss, orderID).done[reviewType]
	return sent, s.delivery(ss.id, orderID).reviewable(now)
}

// getSolicitationActions answers getSolicitationActionsForOrder in the
// model's HAL shape; the actions list holds productReviewAndSellerFeedback
// while a review can be requested and is empty otherwise.
func (s *Sandbox) getSolicitationActions(k *call) {
	orderID := k.route.PathParams["amazonOrderId"]
	ss := k.seller
	ss.mu.Lock()
	sent, in := s.reviewOpen(ss, orderID, k.now)
	ss.mu.Unlock()

	base := "/solicitations/v1/orders/" + url.PathEscape(orderID)
	query := "?marketplaceIds=" + url.QueryEscape(k.marketplace)
	var b bytes.Buffer
	b.WriteString(`{"_links":{"self":{"href":`)
	writeString(&b, base+query)
	b.WriteString(`},"actions":[`)
	open := !sent && in
	self := base + "/solicitations/" + reviewType + query
	schema := base + "/solicitations/" + reviewType + "/schema" + query
	if open {
		b.WriteString(`{"href":`)
		writeString(&b, self)
		b.WriteString(`,"name":"` + reviewType + `"}`)
	}
	b.WriteString(`]},"_embedded":{"actions":[`)
	if open {
		b.WriteString(`{"_links":{"self":{"href":`)
		writeString(&b, self)
		b.WriteString(`},"schema":{"href":`)
		writeString(&b, schema)
		b.WriteString(`,"name":"` + reviewType + `"}},"_embedded":{"schema":{"_links":{"self":{"href":`)
		writeString(&b, schema)
		b.WriteString(`}},"payload":`)
		b.Write(s.reviewSchema)
		b.WriteString(`}},"payload":{"name":"` + reviewType + `"},"name":"` + reviewType + `"}`)
	}
	b.WriteString(`]}}`)
	k.ok(http.StatusOK, b.Bytes())
}

// requestReview handles createProductReviewAndSellerFeedbackSolicitation:
// 403 once a review was requested for the order or outside the window,
// else it records the request like a Messaging send.
func (s *Sandbox) requestReview(k *call) {
	c := s.counters()
	orderID := k.route.PathParams["amazonOrderId"]
	ss := k.seller
	msg := SentMessage{
		Seller: ss.id, Marketplace: k.marketplace, Order: orderID, Type: reviewType, Operation: opCreateReview,
		RequestID: k.reqID, Time: k.now,
	}
	ss.mu.Lock()
	sent, in := s.reviewOpen(ss, orderID, k.now)
	if sent || !in {
		ss.mu.Unlock()
		c.unavailable.Add(1)
		text := msgReviewSent
		if !sent {
			text = msgReviewWindow
		}
		k.fail(http.StatusForbidden, "Unauthorized", text, "")
		return
	}
	f := s.recordLocked(ss, &msg, true)
	ss.mu.Unlock()
	s.answerSend(k, f)
}

// buildReviewSchema is the embedded schema of productReviewAndSellerFeedback:
// an object without properties, since the request has no body.
func buildReviewSchema() ([]byte, error) {
	return marshal(jsonSchema{
		Schema:      "http://json-schema.org/draft-04/schema#",
		Type:        "object",
		Name:        reviewType,
		Title:       "Request a product review and seller feedback",
		Description: "Ask the buyer, in Amazon's standard message, to review the product and rate the seller. The request has no body; send it once per order, from 5 to 30 days after delivery.",
		Properties:  map[string]jsonObject{},
		Required:    []string{},
	})
}
