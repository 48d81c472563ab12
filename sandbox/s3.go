package sandbox

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// s3Error is S3's XML error document.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
}

// serveS3 is the target of presigned upload URLs. Like S3 it takes only a
// PUT of the raw bytes, within the URL's lifetime, with the signed header
// values (Content-MD5 as given to createUploadDestinationForResource and
// x-amz-server-side-encryption: aws:kms), and checks the body's MD5.
func (s *Sandbox) serveS3(w http.ResponseWriter, r *http.Request) {
	c := s.counters()
	c.request(opS3Put)
	reqID := s.reqIDs.uuid()
	w.Header().Set("x-amz-request-id", reqID)
	w.Header().Set("x-amzn-RequestId", reqID)
	fail := func(status int, code, msg string) {
		c.uploadErrors.Add(1)
		body, _ := xml.Marshal(s3Error{Code: code, Message: msg, RequestID: reqID})
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, xml.Header)
		_, _ = w.Write(body)
	}
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		fail(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
		return
	}
	bucket, id, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, S3Prefix), "/")
	q := r.URL.Query()
	date, expires, sig := q.Get("X-Amz-Date"), q.Get("X-Amz-Expires"), q.Get("X-Amz-Signature")
	if date == "" || expires == "" || sig == "" {
		fail(http.StatusForbidden, "AccessDenied", "Query-string authentication requires the X-Amz-Date, X-Amz-Expires and X-Amz-Signature parameters.")
		return
	}
	t, err1 := time.Parse(amzDateFormat, date)
	secs, err2 := strconv.Atoi(expires)
	if err1 != nil || err2 != nil {
		fail(http.StatusForbidden, "AccessDenied", "X-Amz-Date or X-Amz-Expires is malformed.")
		return
	}
	if !s.p.Now().Before(t.Add(time.Duration(secs) * time.Second)) {
		fail(http.StatusForbidden, "AccessDenied", "Request has expired")
		return
	}
	md5h := r.Header.Get("Content-MD5")
	if md5h != "" && !validMD5(md5h) {
		fail(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified was not valid.")
		return
	}
	want := s.urlSignature(id, date, expires, md5h, r.Header.Get("x-amz-server-side-encryption"))
	if bucket != UploadBucket || !hmac.Equal([]byte(sig), []byte(want)) {
		fail(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
		return
	}
	if r.ContentLength < 0 {
		fail(http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
		return
	}
	if r.ContentLength > maxPutBytes {
		fail(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
		return
	}
	h := md5.New()
	var sniff sniffer
	n, err := io.Copy(io.MultiWriter(h, &sniff), io.LimitReader(r.Body, maxPutBytes))
	if err != nil || n != r.ContentLength {
		fail(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
		return
	}
	sum := h.Sum(nil)
	if base64.StdEncoding.EncodeToString(sum) != md5h {
		fail(http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.")
		return
	}
	s.uploadsMu.Lock()
	u, ok := s.uploads[id]
	if ok {
		u.done, u.size, u.md5, u.mime = true, n, md5h, http.DetectContentType(sniff.b)
	}
	s.uploadsMu.Unlock()
	if !ok { // signed by us but forgotten by Reset
		fail(http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	}
	c.uploads.Add(1)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum)+`"`)
	w.WriteHeader(http.StatusOK)
}

// sniffer keeps the first 512 bytes written, for DetectContentType.
type sniffer struct{ b []byte }

func (s *sniffer) Write(p []byte) (int, error) {
	if room := 512 - len(s.b); room > 0 {
		s.b = append(s.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
