package spapi

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// OpUpload is the Operation of an *Error from Upload (the presigned PUT).
const OpUpload = "upload"

// UploadDestination is where to PUT an attachment's bytes
// (createUploadDestinationForResource's payload).
type UploadDestination struct {
	// ID is the uploadDestinationId to reference in a send's attachments.
	ID string
	// URL is the presigned S3 URL (valid about 15 minutes). It carries a
	// signature in its query: do not log it.
	URL string
	// Headers must be sent verbatim with the PUT (Content-MD5,
	// x-amz-server-side-encryption ...).
	Headers map[string]string
	// ContentType is the contentType given to CreateUploadDestination;
	// Upload sends it as Content-Type unless Headers has one. It is not a
	// signed header. "" sends none.
	ContentType string
}

// ContentMD5 returns the Content-MD5 value of b: the base64 of the raw
// 16-byte MD5 digest (not the hex form, which S3 rejects).
func ContentMD5(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// CreateUploadDestination reserves an upload slot (operationId
// createUploadDestinationForResource, POST
// /uploads/2020-11-01/uploadDestinations/{resource}; default rate 10 req/s,
// burst 10). resource is MessageType.UploadResource(orderID), e.g.
// "messaging/v1/orders/123-1234567-1234567/messages/invoice"; its slashes
// are kept (greedy path parameter). contentMD5 must be ContentMD5 of the
// bytes to upload; contentType (e.g. "application/pdf") is optional.
//
// When its answer is lost after the request was written, the error is
// IsRetryable (a second slot does no harm), not IsOutcomeUnknown.
func (c *Client) CreateUploadDestination(ctx context.Context, sellerID, resource, marketplaceID, contentMD5, contentType string) (*UploadDestination, *Response, error) {
	const op, method = OpCreateUploadDestinationForResource, http.MethodPost
	path, reason := resourcePath(resource)
	if reason != "" {
		return nil, nil, invalid(op, method, path, "%s", reason)
	}
	if d, err := base64.StdEncoding.DecodeString(contentMD5); err != nil || len(d) != md5.Size {
		return nil, nil, invalid(op, method, path, "contentMD5 must be the base64 of the 16-byte MD5 digest (see ContentMD5)")
	}
	if err := c.checkMarketplace(sellerID, marketplaceID); err != nil {
		return nil, nil, invalid(op, method, path, "%v", err)
	}
	q := url.Values{"marketplaceIds": {marketplaceID}, "contentMD5": {contentMD5}}
	if contentType != "" {
		q.Set("contentType", contentType)
	}
	cl := call{op: op, sellerID: sellerID, method: method, path: path, query: q}
	resp, body, err := c.do(ctx, cl)
	if err != nil {
		return nil, resp, err
	}
	type payload struct {
		ID      string                     `json:"uploadDestinationId"`
		URL     string                     `json:"url"`
		Headers map[string]json.RawMessage `json:"headers"`
	}
	var ans struct {
		Payload *payload `json:"payload"`
		payload
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, resp, badAnswer(cl, resp, err)
	}
	p := ans.payload
	if ans.Payload != nil {
		p = *ans.Payload
	}
	if p.ID == "" || p.URL == "" {
		return nil, resp, badAnswer(cl, resp, errNoDestination)
	}
	dest := &UploadDestination{ID: p.ID, URL: p.URL, Headers: make(map[string]string, len(p.Headers)), ContentType: contentType}
	for k, v := range p.Headers {
		dest.Headers[k] = jsonText(v)
	}
	return dest, resp, nil
}

// errNoDestination: a 2xx answer without uploadDestinationId or url.
const errNoDestination = invalidAnswer("answer has no uploadDestinationId or url")

// invalidAnswer is a constant error about an answer's content.
type invalidAnswer string

func (e invalidAnswer) Error() string { return string(e) }

// resourcePath builds the escaped path for a resource, keeping its
// slashes, or says why the resource is unusable.
func resourcePath(resource string) (path, reason string) {
	const prefix = "/uploads/2020-11-01/uploadDestinations/"
	r := strings.TrimPrefix(strings.TrimSpace(resource), "/")
	if r == "" {
		return prefix, "resource is required"
	}
	segs := strings.Split(r, "/")
	for i, s := range segs {
		if s == "" || s == "." || s == ".." {
			return prefix, "resource has an empty or dot path segment"
		}
		segs[i] = url.PathEscape(s)
	}
	return prefix + strings.Join(segs, "/"), ""
}

// Upload PUTs size bytes from body to dest.URL with every header of
// dest.Headers verbatim and Content-Length size. It sends no access token.
// Success is any 2xx; otherwise an *Error with Operation OpUpload carries
// S3's <Code>/<Message> (BadDigest, SignatureDoesNotMatch, AccessDenied
// ...). The PUT is idempotent: a lost answer is IsRetryable. body is read
// but not closed. The URL must be https unless Config.Endpoint is set.
func (c *Client) Upload(ctx context.Context, dest *UploadDestination, body io.Reader, size int64) error {
	const method = http.MethodPut
	if dest == nil || dest.URL == "" {
		return invalid(OpUpload, method, "", "no upload destination URL")
	}
	u, err := url.Parse(dest.URL)
	if err != nil {
		return invalid(OpUpload, method, "", "upload URL does not parse")
	}
	path := u.EscapedPath()
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && c.cfg.allowHTTP:
	default:
		return invalid(OpUpload, method, path, "upload URL scheme %q not allowed (https only unless Endpoint is set)", u.Scheme)
	}
	if size < 0 {
		return invalid(OpUpload, method, path, "size must be known (got %d)", size)
	}
	req, err := http.NewRequestWithContext(ctx, method, dest.URL, nil)
	if err != nil {
		return invalid(OpUpload, method, path, "cannot build the request")
	}
	req.ContentLength = size
	req.Body = http.NoBody
	if size > 0 {
		if body == nil {
			return invalid(OpUpload, method, path, "no body for %d bytes", size)
		}
		req.Body = io.NopCloser(body)
	}
	req.Header.Set("User-Agent", c.cfg.userAgent)
	hasType := false
	for k, v := range dest.Headers {
		switch textproto.CanonicalMIMEHeaderKey(k) {
		case "Host":
			req.Host = v
			continue
		case "Content-Length":
			continue // ContentLength is size
		case "Content-Type":
			hasType = true
		case "User-Agent":
			req.Header.Del("User-Agent")
		}
		req.Header[k] = []string{v}
	}
	if !hasType && dest.ContentType != "" {
		req.Header.Set("Content-Type", dest.ContentType)
	}
	hresp, written, err := send(c.cfg.uploadClient, req)
	if err != nil {
		e := &Error{Operation: OpUpload, Method: method, Path: path, Err: cleanNetErr(err), Written: written}
		c.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "spapi: upload failed",
			slog.String("host", u.Host), slog.String("path", path), slog.Bool("written", written), slog.String("error", e.Error()))
		return e
	}
	defer hresp.Body.Close()
	c.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "spapi: upload",
		slog.String("host", u.Host), slog.String("path", path), slog.Int64("size", size), slog.Int("status", hresp.StatusCode))
	if hresp.StatusCode >= 200 && hresp.StatusCode <= 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(hresp.Body, maxErrorBodySize))
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(hresp.Body, maxErrorBodySize))
	return s3Error(method, path, hresp, data)
}

// s3Error maps an S3 error answer (<Error><Code>..</Code><Message>..</Message>).
func s3Error(method, path string, hresp *http.Response, data []byte) *Error {
	e := &Error{Operation: OpUpload, Method: method, Path: path, StatusCode: hresp.StatusCode,
		RequestID: hresp.Header.Get("x-amz-request-id"), Written: true}
	var x struct {
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
		RequestID string `xml:"RequestId"`
	}
	if xml.Unmarshal(data, &x) == nil && (x.Code != "" || x.Message != "") {
		e.Code, e.Message = strings.TrimSpace(x.Code), strings.TrimSpace(x.Message)
		if e.RequestID == "" {
			e.RequestID = strings.TrimSpace(x.RequestID)
		}
		return e
	}
	e.Message = trimText(data)
	return e
}
