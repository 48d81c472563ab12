package spapi_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

func TestContentMD5(t *testing.T) {
	t.Parallel()
	// RFC 1864 style: base64 of the 16 raw digest bytes, not hex.
	assert.Equal(t, "1B2M2Y8AsgTpgAmY7PhCfg==", spapi.ContentMD5(nil))
	sum := md5.Sum([]byte("hello"))
	assert.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), spapi.ContentMD5([]byte("hello")))
}

// TestUploadRecipe runs Amazon's attachment recipe end to end: reserve a
// destination, PUT the bytes to the strict fake S3, send the invoice.
func TestUploadRecipe(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t)
	c := mustClient(t, f.config())
	ctx := ctxT(t)
	invoice := mustType(t, "invoice")
	content := bytes.Repeat([]byte("%PDF-1.7 binary \x00\xff "), 1000)
	md5b64 := spapi.ContentMD5(content)

	dest, _, err := c.CreateUploadDestination(ctx, sellerOne, invoice.UploadResource(orderID), mpUS, md5b64, "application/pdf")
	require.NoError(t, err)
	assert.NotEmpty(t, dest.ID)
	assert.Equal(t, map[string]string{"Content-MD5": md5b64, "x-amz-server-side-encryption": "aws:kms"}, dest.Headers)

	_, _, reqs := f.snapshot()
	require.Len(t, reqs, 1)
	cr := reqs[0]
	assert.Equal(t, http.MethodPost, cr.Method)
	assert.Equal(t, "/uploads/2020-11-01/uploadDestinations/messaging/v1/orders/"+orderID+"/messages/invoice", cr.RawPath,
		"greedy resource: slashes are not percent-encoded")
	assert.Equal(t, []string{mpUS}, cr.Query["marketplaceIds"])
	assert.Equal(t, []string{md5b64}, cr.Query["contentMD5"])
	assert.Equal(t, []string{"application/pdf"}, cr.Query["contentType"])
	assert.Contains(t, cr.RawQuery, "contentMD5="+strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(md5b64))
	assert.False(t, cr.HasBody)

	require.NoError(t, c.Upload(ctx, dest, bytes.NewReader(content), int64(len(content))))

	f.mu.Lock()
	require.Len(t, f.s3reqs, 1)
	put := f.s3reqs[0]
	stored := f.objects[dest.ID]
	f.mu.Unlock()
	assert.Equal(t, http.MethodPut, put.Method)
	assert.Equal(t, content, stored, "the raw bytes, not multipart")
	assert.Equal(t, md5b64, put.Header.Get("Content-MD5"))
	assert.Equal(t, "aws:kms", put.Header.Get("x-amz-server-side-encryption"))
	assert.Equal(t, "application/pdf", put.Header.Get("Content-Type"))
	assert.Empty(t, put.Header.Get("x-amz-access-token"), "no SP-API token goes to S3")
	assert.Empty(t, put.Header.Get("Transfer-Encoding"))
	assert.Contains(t, put.RawQuery, "X-Amz-Signature=")

	_, err = c.Send(ctx, sellerOne, orderID, mpUS, invoice,
		spapi.SendRequest{Attachments: []spapi.Attachment{{UploadDestinationID: dest.ID, FileName: "invoice.pdf"}}})
	require.NoError(t, err)

	// An attachment whose bytes never arrived is refused, like Amazon does.
	dest2, _, err := c.CreateUploadDestination(ctx, sellerOne, invoice.UploadResource(orderID), mpUS, md5b64, "")
	require.NoError(t, err)
	_, err = c.Send(ctx, sellerOne, orderID, mpUS, invoice,
		spapi.SendRequest{Attachments: []spapi.Attachment{{UploadDestinationID: dest2.ID, FileName: "invoice.pdf"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not exist")
	assert.True(t, spapi.IsPermanent(err))

	violations, _, _ := f.snapshot()
	assert.Empty(t, violations)
}

func TestUploadS3Errors(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t)
	c := mustClient(t, f.config())
	ctx := ctxT(t)
	invoice := mustType(t, "invoice")
	good := []byte("the real invoice")

	t.Run("BadDigest", func(t *testing.T) {
		dest, _, err := c.CreateUploadDestination(ctx, sellerOne, invoice.UploadResource(orderID), mpUS, spapi.ContentMD5(good), "")
		require.NoError(t, err)
		other := []byte("different bytes!")
		err = c.Upload(ctx, dest, bytes.NewReader(other), int64(len(other)))
		require.Error(t, err)
		var e *spapi.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, spapi.OpUpload, e.Operation)
		assert.Equal(t, http.MethodPut, e.Method)
		assert.Equal(t, 400, e.StatusCode)
		assert.Equal(t, "BadDigest", e.Code)
		assert.Equal(t, "The Content-MD5 you specified did not match what we received.", e.Message)
		assert.Equal(t, "S3REQ1", e.RequestID)
		assert.True(t, spapi.IsPermanent(err))
		assert.False(t, spapi.IsRetryable(err))
		assert.NotContains(t, err.Error(), "X-Amz-Signature", "the presigned query stays out of errors")
		assert.NotContains(t, err.Error(), "presignedSIGNATURE")
	})
	t.Run("HeaderNotVerbatim", func(t *testing.T) {
		dest, _, err := c.CreateUploadDestination(ctx, sellerOne, invoice.UploadResource(orderID), mpUS, spapi.ContentMD5(good), "")
		require.NoError(t, err)
		delete(dest.Headers, "x-amz-server-side-encryption")
		err = c.Upload(ctx, dest, bytes.NewReader(good), int64(len(good)))
		var e *spapi.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 403, e.StatusCode)
		assert.Equal(t, "SignatureDoesNotMatch", e.Code)
		assert.False(t, spapi.IsTokenError(err), "an S3 403 is not an SP-API token problem")
		assert.True(t, spapi.IsPermanent(err))
	})
	t.Run("HexMD5Refused", func(t *testing.T) {
		sum := md5.Sum(good)
		_, _, err := c.CreateUploadDestination(ctx, sellerOne, invoice.UploadResource(orderID), mpUS, hex.EncodeToString(sum[:]), "")
		require.Error(t, err)
		assert.ErrorIs(t, err, spapi.ErrInvalidRequest)
	})
	t.Run("BadResource", func(t *testing.T) {
		for _, r := range []string{"", "/", "messaging//v1", "messaging/../x"} {
			_, _, err := c.CreateUploadDestination(ctx, sellerOne, r, mpUS, spapi.ContentMD5(good), "")
			assert.ErrorIs(t, err, spapi.ErrInvalidRequest, r)
		}
	})
	t.Run("FakeS3RefusesPOST", func(t *testing.T) {
		dest, _, err := c.CreateUploadDestination(ctx, sellerOne, invoice.UploadResource(orderID), mpUS, spapi.ContentMD5(good), "")
		require.NoError(t, err)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest.URL, bytes.NewReader(good))
		require.NoError(t, err)
		for k, v := range dest.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		assert.Contains(t, string(body), "<Code>MethodNotAllowed</Code>")
	})
}

func TestUploadRetryableAndRefusals(t *testing.T) {
	t.Parallel()
	lwa := newLWA(t)
	s3 := newScripted(t, answer(503, `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`,
		map[string]string{"x-amz-request-id": "S3X"}))
	c := mustClient(t, testConfig(lwa, s3.URL))
	ctx := ctxT(t)
	dest := &spapi.UploadDestination{ID: "id", URL: s3.URL + basePath + "/bucket/id?X-Amz-Signature=sig", Headers: map[string]string{"Content-MD5": spapi.ContentMD5(nil)}}
	err := c.Upload(ctx, dest, nil, 0)
	require.Error(t, err)
	assert.True(t, spapi.IsRetryable(err))
	var e *spapi.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "SlowDown", e.Code)
	assert.Equal(t, "S3X", e.RequestID)
	req := s3.requests()[0]
	assert.Equal(t, "0", req.Header.Get("Content-Length"), "an empty body still says its length")

	assert.ErrorIs(t, c.Upload(ctx, nil, nil, 0), spapi.ErrInvalidRequest)
	assert.ErrorIs(t, c.Upload(ctx, dest, strings.NewReader("x"), -1), spapi.ErrInvalidRequest)
	assert.ErrorIs(t, c.Upload(ctx, &spapi.UploadDestination{URL: "ftp://x/y"}, nil, 0), spapi.ErrInvalidRequest)

	// Without Endpoint, a plain-http upload URL is refused.
	strict, err := spapi.NewClient(spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret},
		spapi.Seller{ID: sellerOne, RefreshToken: refreshOne, Region: spapi.RegionNA})
	require.NoError(t, err)
	err = strict.Upload(ctx, dest, nil, 0)
	assert.ErrorIs(t, err, spapi.ErrInvalidRequest)
	assert.Len(t, s3.requests(), 1)
}

func TestUploadLostAnswerIsRetryable(t *testing.T) {
	t.Parallel()
	s3 := newScripted(t, hangUp)
	c := mustClient(t, testConfig(newLWA(t), s3.URL))
	dest := &spapi.UploadDestination{ID: "id", URL: s3.URL + basePath + "/bucket/id?X-Amz-Signature=secretsig"}
	err := c.Upload(ctxT(t), dest, strings.NewReader("abc"), 3)
	require.Error(t, err)
	assert.True(t, spapi.IsRetryable(err), "a PUT is idempotent")
	assert.False(t, spapi.IsOutcomeUnknown(err))
	assert.NotContains(t, err.Error(), "secretsig")
}
