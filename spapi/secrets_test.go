package spapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

// TestSecretsNeverInErrorsOrLogs drives successes and every kind of failure
// (some answers even echo the credentials back) and scans every error text
// and the debug log for the client secret, refresh tokens, access tokens and
// the presigned URL's signature.
func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	secrets := []string{testClientSecret, refreshOne, refreshTwo, accessPrefix, "shouldneverleak"}
	logger, logs := debugLogger()
	ctx := ctxT(t)
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	// 1. A full happy path plus upload errors against the fake Amazon.
	f := newFakeAmazon(t)
	cfg := f.config()
	cfg.Logger = logger
	c := mustClient(t, cfg,
		spapi.Seller{ID: sellerOne, RefreshToken: refreshOne, Region: spapi.RegionNA},
		spapi.Seller{ID: sellerTwo, RefreshToken: refreshTwo, Region: spapi.RegionNA})
	invoice := mustType(t, "invoice")
	_, _, err := c.GetMessagingActionsForOrder(ctx, sellerOne, orderID, mpUS)
	require.NoError(t, err)
	content := []byte("pdf")
	dest, _, err := c.CreateUploadDestination(ctx, sellerTwo, invoice.UploadResource(orderID), mpUS, spapi.ContentMD5(content), "application/pdf")
	require.NoError(t, err)
	collect(c.Upload(ctx, dest, strings.NewReader("not the pdf"), 11)) // BadDigest
	require.NoError(t, c.Upload(ctx, dest, bytes.NewReader(content), 3))
	_, err = c.Send(ctx, sellerTwo, orderID, mpUS, invoice, spapi.SendRequest{Attachments: []spapi.Attachment{{UploadDestinationID: dest.ID, FileName: "i.pdf"}}})
	require.NoError(t, err)
	_, err = c.Send(ctx, sellerOne, orderID, mpUS, invoice, spapi.SendRequest{Text: "nope"})
	collect(err)

	// 2. SP-API answers that echo the access token it got.
	echo := newScripted(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		tok := r.Header.Get("x-amz-access-token")
		writeAPIError(w, http.StatusForbidden, "Unauthorized "+tok, "Access to requested resource is denied.",
			"The access token you provided is revoked, malformed or invalid: "+tok)
	})
	lwa := newLWA(t)
	cfg2 := testConfig(lwa, echo.URL)
	cfg2.Logger = logger
	c2 := mustClient(t, cfg2)
	_, _, err = c2.GetAttributes(ctx, sellerOne, orderID, mpUS)
	collect(err)
	require.True(t, spapi.IsTokenError(err))

	// 3. LWA answers that echo the refresh token and the client secret.
	bad := newLWA(t)
	bad.set(func(l *lwaServer) {
		l.errStatus = 400
		l.errBody = fmt.Sprintf(`{"error":"invalid_grant","error_description":"bad refresh_token %s for client secret %s"}`, refreshOne, testClientSecret)
	})
	cfg3 := testConfig(bad, echo.URL)
	cfg3.Logger = logger
	c3 := mustClient(t, cfg3)
	_, _, err = c3.GetAttributes(ctx, sellerOne, orderID, mpUS)
	collect(err)
	bad.set(func(l *lwaServer) { l.errBody = "<html>" + refreshOne + "</html>" })
	c3b := mustClient(t, cfg3)
	_, _, err = c3b.GetAttributes(ctx, sellerOne, orderID, mpUS)
	collect(err)

	// 4. Network failures (with the presigned query in the URL).
	drop := newScripted(t, hangUp)
	cfg4 := testConfig(newLWA(t), drop.URL)
	cfg4.Logger = logger
	c4 := mustClient(t, cfg4)
	_, err = c4.Send(ctx, sellerOne, orderID, mpUS, mustType(t, "unexpectedProblem"), spapi.SendRequest{Text: "late"})
	collect(err)
	collect(c4.Upload(ctx, &spapi.UploadDestination{URL: drop.URL + "/b/k?X-Amz-Signature=shouldneverleak&X-Amz-Credential=shouldneverleak"}, strings.NewReader("x"), 1))

	// 5. Config errors.
	_, err = spapi.NewClient(spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret, LWAEndpoint: "http://lwa/" + testClientSecret})
	collect(err)
	_, err = spapi.NewClient(spapi.Config{LWAClientSecret: testClientSecret}, spapi.Seller{RefreshToken: refreshOne})
	collect(err)

	logger.Info("values", "seller", spapi.Seller{ID: sellerOne, RefreshToken: refreshOne, Region: "na"}, "config", cfg)

	require.GreaterOrEqual(t, len(errs), 8)
	for _, e := range errs {
		for _, text := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%v", e)} {
			for _, s := range secrets {
				assert.NotContains(t, text, s, "error text leaks a secret")
			}
		}
	}
	out := logs.String()
	require.NotEmpty(t, out)
	assert.Contains(t, out, "spapi: request")
	assert.Contains(t, out, "LWA access token refreshed")
	for _, s := range secrets {
		assert.NotContains(t, out, s, "log leaks a secret")
	}
	assert.Contains(t, errs[len(errs)-1].Error()+errs[len(errs)-2].Error(), "LWA")
}
