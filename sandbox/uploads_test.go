package sandbox_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/sandbox"
)

var pdf = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

func TestUploadHappyPath(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	tok := e.token("Atzr|A1")
	d := e.createUpload(tok, orderID, "invoice", pdf)

	assert.Len(t, d.ID, 36)
	u, err := url.Parse(d.URL)
	require.NoError(t, err)
	srv, _ := url.Parse(e.srv.URL)
	assert.Equal(t, srv.Host, u.Host, "the URL points back at this host")
	assert.Equal(t, "/s3/buyer-seller-messaging-sandbox/"+d.ID, u.Path)
	q := u.Query()
	assert.Equal(t, "AWS4-HMAC-SHA256", q.Get("X-Amz-Algorithm"))
	assert.Equal(t, "content-md5;host;x-amz-server-side-encryption", q.Get("X-Amz-SignedHeaders"))
	assert.Equal(t, "900", q.Get("X-Amz-Expires"))
	assert.Equal(t, e.clock.Now().UTC().Format("20060102T150405Z"), q.Get("X-Amz-Date"))
	assert.Len(t, q.Get("X-Amz-Signature"), 64)
	assert.Contains(t, d.URL, "X-Amz-SignedHeaders=content-md5%3Bhost%3Bx-amz-server-side-encryption")
	assert.Equal(t, map[string]string{"Content-MD5": md5b64(pdf), "x-amz-server-side-encryption": "aws:kms"}, d.Headers)

	r := e.put(d.URL, d.Headers, pdf)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	sum := md5.Sum(pdf)
	assert.Equal(t, `"`+hex.EncodeToString(sum[:])+`"`, r.header.Get("ETag"))

	s := e.spapi(http.MethodPost, sendPath(orderID, "invoice"), tok, map[string]any{"attachments": []any{attachment(d.ID, "invoice-42.pdf")}})
	require.Equal(t, http.StatusCreated, s.status, "%s", s.body)
	sent := e.sb.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, "invoice", sent[0].Type)
	assert.Equal(t, "sendInvoice", sent[0].Operation)
	assert.Equal(t, []sandbox.SentAttachment{{
		UploadDestinationID: d.ID, FileName: "invoice-42.pdf", Size: int64(len(pdf)), MD5: md5b64(pdf), MIME: "application/pdf",
	}}, sent[0].Attachments)
	st := e.sb.Stats()
	assert.EqualValues(t, 1, st.Uploads)
	assert.EqualValues(t, 1, st.Requests["s3:PutObject"])
	assert.EqualValues(t, 1, st.Requests["createUploadDestinationForResource"])
}

func s3Code(t *testing.T, r resp) string {
	t.Helper()
	var doc struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}
	require.NoError(t, xml.Unmarshal(r.body, &doc), "%s", r.body)
	assert.NotEmpty(t, doc.Message)
	return doc.Code
}

func TestS3Failures(t *testing.T) {
	t.Parallel()
	other := []byte("something else")
	tests := []struct {
		name    string
		method  string
		headers func(h map[string]string)
		body    []byte
		advance time.Duration
		status  int
		code    string
	}{
		{name: "PostIsNotAllowed", method: http.MethodPost, status: http.StatusMethodNotAllowed, code: "MethodNotAllowed"},
		{name: "Expired", advance: 901 * time.Second, status: http.StatusForbidden, code: "AccessDenied"},
		{name: "MissingEncryptionHeader", headers: func(h map[string]string) { delete(h, "x-amz-server-side-encryption") }, status: http.StatusForbidden, code: "SignatureDoesNotMatch"},
		{name: "OtherEncryptionValue", headers: func(h map[string]string) { h["x-amz-server-side-encryption"] = "AES256" }, status: http.StatusForbidden, code: "SignatureDoesNotMatch"},
		{name: "ContentMD5NotTheSignedOne", headers: func(h map[string]string) { h["Content-MD5"] = md5b64(other) }, body: other, status: http.StatusForbidden, code: "SignatureDoesNotMatch"},
		{name: "MissingContentMD5", headers: func(h map[string]string) { delete(h, "Content-MD5") }, status: http.StatusForbidden, code: "SignatureDoesNotMatch"},
		{name: "BodyDiffers", body: other, status: http.StatusBadRequest, code: "BadDigest"},
		{name: "HexContentMD5", headers: func(h map[string]string) { s := md5.Sum(pdf); h["Content-MD5"] = hex.EncodeToString(s[:]) }, status: http.StatusBadRequest, code: "InvalidDigest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, sandbox.Config{})
			tok := e.token("Atzr|A1")
			d := e.createUpload(tok, orderID, "invoice", pdf)
			h := map[string]string{}
			for k, v := range d.Headers {
				h[k] = v
			}
			if tc.headers != nil {
				tc.headers(h)
			}
			body := pdf
			if tc.body != nil {
				body = tc.body
			}
			e.clock.Advance(tc.advance)
			method := http.MethodPut
			if tc.method != "" {
				method = tc.method
			}
			req, err := http.NewRequest(method, d.URL, bytes.NewReader(body))
			require.NoError(t, err)
			for k, v := range h {
				req.Header.Set(k, v)
			}
			res, err := e.srv.Client().Do(req)
			require.NoError(t, err)
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(res.Body)
			_ = res.Body.Close()
			r := resp{status: res.StatusCode, header: res.Header, body: buf.Bytes()}
			require.Equal(t, tc.status, r.status, "%s", r.body)
			assert.Equal(t, tc.code, s3Code(t, r))
			if tc.name == "Expired" {
				assert.Contains(t, string(r.body), "Request has expired")
			}
			assert.EqualValues(t, 1, e.sb.Stats().UploadErrors)

			// A failed PUT leaves nothing to attach.
			s := e.spapi(http.MethodPost, sendPath(orderID, "invoice"), tok, map[string]any{"attachments": []any{attachment(d.ID, "i.pdf")}})
			require.Equal(t, http.StatusBadRequest, s.status, "%s", s.body)
			_, msg, _ := s.apiError(t)
			assert.Equal(t, "Attachment with ID "+d.ID+" does not exist", msg)
		})
	}
}

func TestS3TamperedURL(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	d := e.createUpload(e.token("Atzr|A1"), orderID, "invoice", pdf)
	longer := strings.Replace(d.URL, "X-Amz-Expires=900", "X-Amz-Expires=90000", 1)
	r := e.put(longer, d.Headers, pdf)
	require.Equal(t, http.StatusForbidden, r.status)
	assert.Equal(t, "SignatureDoesNotMatch", s3Code(t, r))
}

func TestUploadHexContentMD5IsInvalidInput(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	sum := md5.Sum(pdf)
	r := e.spapi(http.MethodPost, uploadPath("messaging/v1/orders/"+orderID+"/messages/invoice", hex.EncodeToString(sum[:])), e.token("Atzr|A1"), nil)
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	code, msg, _ := r.apiError(t)
	assert.Equal(t, "InvalidInput", code)
	assert.Contains(t, msg, "contentMD5")
	assert.Equal(t, "10.0", r.header.Get("x-amzn-RateLimit-Limit"))
	assert.EqualValues(t, 1, e.sb.Stats().Violations)
}

func TestUploadResourceMustBeASendPath(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{})
	tok := e.token("Atzr|A1")
	for _, res := range []string{
		"messaging",
		"messaging/v1/orders/" + orderID,
		"messaging/v1/orders/" + orderID + "/messages/sendInvoice", // a live name, not a path
		"aplus/2020-11-01/contentDocuments",
	} {
		r := e.spapi(http.MethodPost, uploadPath(res, md5b64(pdf)), tok, nil)
		require.Equal(t, http.StatusForbidden, r.status, "%s: %s", res, r.body)
		code, msg, _ := r.apiError(t)
		assert.Equal(t, "Unauthorized", code)
		assert.Equal(t, "Access to requested resource is denied.", msg)
	}
}

func TestAttachmentMustMatchOrderAndType(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	forOther := e.upload(tok, otherID, "invoice", pdf)
	forLegal := e.upload(tok, orderID, "legalDisclosure", pdf)
	for name, id := range map[string]string{"OtherOrder": forOther, "OtherType": forLegal} {
		r := e.spapi(http.MethodPost, sendPath(orderID, "invoice"), tok, map[string]any{"attachments": []any{attachment(id, "i.pdf")}})
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", name, r.body)
		code, msg, details := r.apiError(t)
		assert.Equal(t, "InvalidInput", code)
		assert.Equal(t, "Attachment with ID "+id+" does not exist", msg)
		assert.Contains(t, details, "was created for resource")
	}
	// Another seller cannot use the upload either.
	r := e.spapi(http.MethodPost, sendPath(otherID, "invoice"), e.token("Atzr|A2"), map[string]any{"attachments": []any{attachment(forOther, "i.pdf")}})
	assert.Equal(t, http.StatusBadRequest, r.status)
	// The right order and type work.
	r = e.spapi(http.MethodPost, sendPath(orderID, "legalDisclosure"), tok, map[string]any{"attachments": []any{attachment(forLegal, "terms.pdf")}})
	assert.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.EqualValues(t, 3, e.sb.Stats().Rejected)
}

func TestAttachmentUnknownOrNotUploaded(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	unknown := "4e936e26-7b72-4b84-af27-e6baee1d546d"
	notPut := e.createUpload(tok, orderID, "invoice", pdf).ID
	for _, id := range []string{unknown, notPut} {
		r := e.spapi(http.MethodPost, sendPath(orderID, "invoice"), tok, map[string]any{"attachments": []any{attachment(id, "i.pdf")}})
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		code, msg, _ := r.apiError(t)
		assert.Equal(t, "InvalidInput", code)
		assert.Equal(t, "Attachment with ID "+id+" does not exist", msg)
	}
	// sendInvoice needs at least one attachment.
	r := e.spapi(http.MethodPost, sendPath(orderID, "invoice"), tok, map[string]any{"attachments": []any{}})
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
}

func TestAttachmentTotalSize(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{NoRateLimits: true})
	tok := e.token("Atzr|A1")
	half := bytes.Repeat([]byte("a"), sandbox.MaxAttachmentBytes/2)
	a := e.upload(tok, orderID, "confirmCustomizationDetails", half)
	b := e.upload(tok, orderID, "confirmCustomizationDetails", half)
	c := e.upload(tok, orderID, "confirmCustomizationDetails", half[1:])

	r := e.spapi(http.MethodPost, sendPath(orderID, "confirmCustomizationDetails"), tok, map[string]any{
		"text": "Please check the proofs.", "attachments": []any{attachment(a, "a.txt"), attachment(b, "b.txt")},
	})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	_, msg, _ := r.apiError(t)
	assert.Contains(t, msg, "less than 10 MB")

	r = e.spapi(http.MethodPost, sendPath(orderID, "confirmCustomizationDetails"), tok, map[string]any{
		"text": "Please check the proofs.", "attachments": []any{attachment(a, "a.txt"), attachment(c, "c.txt")},
	})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	atts := e.sb.Sent()[0].Attachments
	require.Len(t, atts, 2)
	assert.Equal(t, "text/plain; charset=utf-8", atts[0].MIME)
	assert.EqualValues(t, sandbox.MaxAttachmentBytes-1, atts[0].Size+atts[1].Size)
}

func TestRemovedAmazonMotorsWhenOffered(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Config{Orders: []sandbox.Order{{ID: orderID, Available: []string{"amazonMotors"}}}})
	tok := e.token("Atzr|A1")
	id := e.upload(tok, orderID, "amazonMotors", []byte("fitment notes"))
	r := e.spapi(http.MethodPost, sendPath(orderID, "amazonMotors"), tok, map[string]any{"attachments": []any{attachment(id, "AmazonMotors.txt")}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Equal(t, "CreateAmazonMotors", e.sb.Sent()[0].Operation)
}
