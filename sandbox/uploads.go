package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spmsg/spmsg/spapi"
)

// upload is one upload destination and, once a PUT succeeded, its file.
// Guarded by Sandbox.uploadsMu.
type upload struct {
	id, seller string
	resource   string // e.g. messaging/v1/orders/<id>/messages/invoice
	contentMD5 string // as given to createUploadDestinationForResource
	// Set by a successful PUT:
	done bool
	size int64
	md5  string // base64
	mime string
}

const amzDateFormat = "20060102T150405Z"

// createUpload answers createUploadDestinationForResource with a presigned
// PUT URL on this host (derived from the request's Host, so it works behind
// httptest and on a real listener).
func (s *Sandbox) createUpload(k *call) {
	c := s.counters()
	resource := strings.TrimPrefix(k.route.PathParams["resource"], "/")
	if !isMessagingSendResource(resource) {
		c.unauthorized.Add(1)
		k.fail(http.StatusForbidden, "Unauthorized", "Access to requested resource is denied.", "")
		return
	}
	md5b64 := k.r.URL.Query().Get("contentMD5")
	if !validMD5(md5b64) {
		c.violations.Add(1)
		k.fail(http.StatusBadRequest, "InvalidInput", "Invalid contentMD5: "+md5b64,
			"contentMD5 must be the base64 encoding of the 16-byte MD5 digest of the file (not hex).")
		return
	}
	id := s.upIDs.uuid()
	date := k.now.UTC().Format(amzDateFormat)
	expires := strconv.Itoa(max(1, int(s.p.UploadURLExpiry/time.Second)))
	sig := s.urlSignature(id, date, expires, md5b64, "aws:kms")

	s.uploadsMu.Lock()
	s.uploads[id] = &upload{id: id, seller: k.seller.id, resource: resource, contentMD5: md5b64}
	s.uploadsMu.Unlock()

	scheme := "http"
	if k.r.TLS != nil {
		scheme = "https"
	}
	if p := k.r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	u := scheme + "://" + k.r.Host + S3Prefix + UploadBucket + "/" + id +
		"?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Date=" + date +
		"&X-Amz-SignedHeaders=content-md5%3Bhost%3Bx-amz-server-side-encryption" +
		"&X-Amz-Expires=" + expires +
		"&X-Amz-Credential=SANDBOXACCESSKEY%2F" + date[:8] + "%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Signature=" + sig
	type destination struct {
		UploadDestinationID string            `json:"uploadDestinationId"`
		URL                 string            `json:"url"`
		Headers             map[string]string `json:"headers"`
	}
	body, _ := marshal(struct {
		Payload destination `json:"payload"`
	}{destination{id, u, map[string]string{"Content-MD5": md5b64, "x-amz-server-side-encryption": "aws:kms"}}})
	k.ok(http.StatusCreated, body)
}

// isMessagingSendResource reports whether resource is the path of a
// Messaging send operation: messaging/v1/orders/<id>/messages/<segment>.
func isMessagingSendResource(resource string) bool {
	p := strings.Split(resource, "/")
	if len(p) != 6 || p[0] != "messaging" || p[1] != "v1" || p[2] != "orders" || p[3] == "" || p[4] != "messages" {
		return false
	}
	for _, t := range spapi.Types() {
		if t.PathSegment == p[5] {
			return true
		}
	}
	return false
}

// validMD5 reports whether v is base64 of a 16-byte digest.
func validMD5(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == 16
}

// urlSignature signs what a presigned URL fixes: the object, the time
// window and the values of the signed headers.
func (s *Sandbox) urlSignature(id, date, expires, contentMD5, sse string) string {
	m := hmac.New(sha256.New, s.key)
	for _, part := range []string{"PUT", UploadBucket, id, date, expires, "content-md5:" + contentMD5, "x-amz-server-side-encryption:" + sse} {
		m.Write([]byte(part))
		m.Write([]byte{'\n'})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// uploadFor returns a copy of an upload destination of the seller.
func (s *Sandbox) uploadFor(seller, id string) (upload, bool) {
	s.uploadsMu.Lock()
	defer s.uploadsMu.Unlock()
	u, ok := s.uploads[id]
	if !ok || u.seller != seller {
		return upload{}, false
	}
	return *u, true
}
