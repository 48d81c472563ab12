package spapi_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/spapi"
)

// Ensure the client works end to end against the local sandbox for every
// Messaging type, attachments included: discovery, upload destination for
// the exact send operation, PUT with the returned headers, and send.
func TestClientAgainstSandboxEveryType(t *testing.T) {
	const seller, mkt = "A1SANDBOXSELLER", "ATVPDKIKX0DER"
	var offered []string
	var types []spapi.MessageType
	for _, ty := range spapi.Types() {
		if ty.API != spapi.APIMessaging {
			continue // the review request has its own test below
		}
		types = append(types, ty)
		offered = append(offered, ty.Names()[len(ty.Names())-1]) // live names where they differ
	}
	sb, err := sandbox.New(sandbox.Config{Seed: 3, ClientID: "cid", ClientSecret: "csecret", NoRateLimits: true,
		Sellers: []sandbox.Seller{{ID: seller, RefreshToken: "Atzr|" + seller}}, DefaultAvailable: offered})
	require.NoError(t, err)
	ts := httptest.NewServer(sb)
	defer ts.Close()
	c, err := spapi.NewClient(spapi.Config{LWAClientID: "cid", LWAClientSecret: "csecret", Endpoint: ts.URL,
		LWAEndpoint: ts.URL + sandbox.TokenPath}, spapi.Seller{ID: seller, RefreshToken: "Atzr|" + seller, Region: spapi.RegionNA})
	require.NoError(t, err)
	ctx := context.Background()
	pdf := []byte("%PDF-1.4\n%%EOF\n")
	for i, ty := range types {
		t.Run(ty.Name, func(t *testing.T) {
			order := "112-0000000-00000" + string(rune('1'+i/10)) + string(rune('0'+i%10))
			acts, _, err := c.GetMessagingActionsForOrder(ctx, seller, order, mkt)
			require.NoError(t, err)
			a, ok := acts.Find(ty)
			require.True(t, ok, "sandbox offers %s", ty.Name)
			assert.NotEmpty(t, a.Schema)
			req := spapi.SendRequest{}
			if ty.Has(spapi.FieldText) {
				req.Text = "Hello from the client test."
			}
			if ty.Has(spapi.FieldAttachments) {
				md5 := spapi.ContentMD5(pdf)
				dest, _, err := c.CreateUploadDestination(ctx, seller, ty.UploadResource(order), mkt, md5, "application/pdf")
				require.NoError(t, err)
				require.NoError(t, c.Upload(ctx, dest, bytes.NewReader(pdf), int64(len(pdf))))
				req.Attachments = []spapi.Attachment{{UploadDestinationID: dest.ID, FileName: "doc.pdf"}}
			}
			if ty.Has(spapi.FieldCoverageStartDate) {
				s, e := time.Now().UTC(), time.Now().UTC().AddDate(1, 0, 0)
				req.CoverageStartDate, req.CoverageEndDate = &s, &e
			}
			resp, err := c.Send(ctx, seller, order, mkt, ty, req)
			require.NoError(t, err)
			assert.NotEmpty(t, resp.RequestID)
		})
	}
	st := sb.Stats()
	assert.Zero(t, st.Violations)
	assert.Equal(t, int64(len(types)), st.Sent)
	assert.Equal(t, int64(1), st.TokenExchanges)
}

// Ensure a review request goes end to end against the local sandbox: the
// Solicitations listing offers it inside the delivery window, the send is
// accepted once, a repeat is IsUnavailable, and an order delivered too
// long ago is IsOutsideReviewWindow.
func TestClientAgainstSandboxReviewRequest(t *testing.T) {
	const seller, mkt, order, late = "A1SANDBOXSELLER", "ATVPDKIKX0DER", "112-0000000-0000101", "112-0000000-0000102"
	sb, err := sandbox.New(sandbox.Config{Seed: 3, ClientID: "cid", ClientSecret: "csecret", NoRateLimits: true,
		Sellers: []sandbox.Seller{{ID: seller, RefreshToken: "Atzr|" + seller}}})
	require.NoError(t, err)
	delivered := time.Now().AddDate(0, 0, -60)
	require.NoError(t, sb.SetDelivery(late, delivered, delivered))
	ts := httptest.NewServer(sb)
	defer ts.Close()
	c, err := spapi.NewClient(spapi.Config{LWAClientID: "cid", LWAClientSecret: "csecret", Endpoint: ts.URL,
		LWAEndpoint: ts.URL + sandbox.TokenPath}, spapi.Seller{ID: seller, RefreshToken: "Atzr|" + seller, Region: spapi.RegionNA})
	require.NoError(t, err)
	ctx := ctxT(t)
	review := mustType(t, "requestReview")

	acts, _, err := c.GetActions(ctx, seller, order, mkt, review)
	require.NoError(t, err)
	_, ok := acts.Find(review)
	require.True(t, ok, "offered inside the window")
	msgActs, _, err := c.GetMessagingActionsForOrder(ctx, seller, order, mkt)
	require.NoError(t, err)
	_, ok = msgActs.Find(review)
	assert.False(t, ok, "Messaging never lists the review request")

	resp, err := c.Send(ctx, seller, order, mkt, review, spapi.SendRequest{})
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)

	acts, _, err = c.GetActions(ctx, seller, order, mkt, review)
	require.NoError(t, err)
	_, ok = acts.Find(review)
	assert.False(t, ok, "no longer offered once sent")
	_, err = c.Send(ctx, seller, order, mkt, review, spapi.SendRequest{})
	require.Error(t, err)
	assert.True(t, spapi.IsUnavailable(err), "%v", err)
	assert.False(t, spapi.IsOutsideReviewWindow(err))
	assert.True(t, spapi.IsPermanent(err))

	_, err = c.Send(ctx, seller, late, mkt, review, spapi.SendRequest{})
	require.Error(t, err)
	assert.True(t, spapi.IsOutsideReviewWindow(err), "%v", err)
	assert.True(t, spapi.IsUnavailable(err))

	st := sb.Stats()
	assert.Zero(t, st.Violations)
	assert.Equal(t, int64(1), st.Sent)
}
