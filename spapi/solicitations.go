package spapi

import (
	"context"
	"net/http"
)

// GetSolicitationActionsForOrder lists the solicitations Amazon offers for
// the order now (operationId getSolicitationActionsForOrder, GET
// /solicitations/v1/orders/{amazonOrderId}; default rate 1 req/s, burst 5).
// Today the only one is productReviewAndSellerFeedback (a review request);
// Find it with Actions.Find. The list is empty while the order is not
// eligible (not shipped, outside the 5-30 day window after delivery, or
// already asked). It understands the model's HAL answer (action names in
// _embedded.actions[]._links.schema.name or name), and the links-only shape
// of the static sandbox.
func (c *Client) GetSolicitationActionsForOrder(ctx context.Context, sellerID, orderID, marketplaceID string) (*Actions, *Response, error) {
	cl, err := c.apiOrderCall("/solicitations/v1/orders/", OpGetSolicitationActionsForOrder, http.MethodGet, sellerID, orderID, marketplaceID, "")
	if err != nil {
		return nil, nil, err
	}
	return c.getActions(ctx, cl)
}

// GetActions lists what Amazon offers for the order in the API of message
// type t: GetSolicitationActionsForOrder for a Solicitations type,
// GetMessagingActionsForOrder otherwise (t.ActionsOperation names it).
// Check the type with Actions.Find(t).
func (c *Client) GetActions(ctx context.Context, sellerID, orderID, marketplaceID string, t MessageType) (*Actions, *Response, error) {
	if t.API == APISolicitations {
		return c.GetSolicitationActionsForOrder(ctx, sellerID, orderID, marketplaceID)
	}
	return c.GetMessagingActionsForOrder(ctx, sellerID, orderID, marketplaceID)
}

// getActions runs an actions listing call and parses its HAL answer.
func (c *Client) getActions(ctx context.Context, cl call) (*Actions, *Response, error) {
	resp, body, err := c.do(ctx, cl)
	if err != nil {
		return nil, resp, err
	}
	a, err := parseActions(body)
	if err != nil {
		return nil, resp, badAnswer(cl, resp, err)
	}
	return a, resp, nil
}
