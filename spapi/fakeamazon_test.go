package spapi_test

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/spapimodel"
	"github.com/spmsg/spmsg/spapi"
)

// fakeAmazon answers like SP-API (under basePath), validates every request
// against Amazon's models, and runs a strict fake S3 for presigned PUTs.
type fakeAmazon struct {
	lwa *lwaServer
	api *httptest.Server
	s3  *httptest.Server
	v   *spapimodel.Validator

	mu         sync.Mutex
	violations []string
	ops        map[string]int
	reqs       []recorded
	dests      map[string]map[string]string // upload id -> headers to require
	objects    map[string][]byte            // upload id -> bytes stored
	s3reqs     []recorded
	seq        int
}

func newFakeAmazon(tb testing.TB) *fakeAmazon {
	tb.Helper()
	v, err := spapimodel.New()
	require.NoError(tb, err)
	f := &fakeAmazon{lwa: newLWA(tb), v: v, ops: map[string]int{},
		dests: map[string]map[string]string{}, objects: map[string][]byte{}}
	f.api = httptest.NewServer(http.StripPrefix(basePath, http.HandlerFunc(f.serveAPI)))
	tb.Cleanup(f.api.Close)
	f.s3 = httptest.NewServer(http.HandlerFunc(f.serveS3))
	tb.Cleanup(f.s3.Close)
	return f
}

func (f *fakeAmazon) config() spapi.Config { return testConfig(f.lwa, f.api.URL) }

func (f *fakeAmazon) snapshot() (violations []string, ops map[string]int, reqs []recorded) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ops = map[string]int{}
	for k, v := range f.ops {
		ops[k] = v
	}
	return append([]string(nil), f.violations...), ops, append([]recorded(nil), f.reqs...)
}

func (f *fakeAmazon) serveAPI(w http.ResponseWriter, r *http.Request) {
	rec := record(r)
	route, err := f.v.Validate(r.Context(), r)
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	if err != nil {
		f.violations = append(f.violations, err.Error())
	}
	if route != nil {
		f.ops[route.OperationID]++
	}
	f.mu.Unlock()
	w.Header().Set("x-amzn-RequestId", fmt.Sprintf("req-%d", len(rec.Path)))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidInput", "Invalid Input", err.Error())
		return
	}
	if _, ok := f.lwa.owner(r.Header.Get("x-amz-access-token")); !ok {
		writeAPIError(w, http.StatusForbidden, "Unauthorized", "Access to requested resource is denied.",
			"The access token you provided is revoked, malformed or invalid.")
		return
	}
	mp := r.URL.Query().Get("marketplaceIds")
	w.Header().Set("Content-Type", "application/hal+json")
	w.Header().Set("x-amzn-RateLimit-Limit", "1.0")
	switch route.OperationID {
	case spapi.OpGetMessagingActionsForOrder:
		_, _ = w.Write(liveActions(route.PathParams["amazonOrderId"], mp))
	case spapi.OpGetSolicitationActionsForOrder:
		_, _ = w.Write(solicitationActionsBody(route.PathParams["amazonOrderId"], mp))
	case spapi.OpGetAttributes:
		_, _ = io.WriteString(w, `{"buyer":{"locale":"en-US"}}`)
	case spapi.OpCreateUploadDestinationForResource:
		f.createDestination(w, r)
	default:
		if msg := f.checkAttachments(rec.Body); msg != "" {
			writeAPIError(w, http.StatusBadRequest, "InvalidInput", msg, "")
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{}`)
	}
}

func (f *fakeAmazon) createDestination(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seq++
	id := fmt.Sprintf("4e936e26-7b72-4b84-af27-%012d", f.seq)
	headers := map[string]string{
		"Content-MD5":                  r.URL.Query().Get("contentMD5"),
		"x-amz-server-side-encryption": "aws:kms",
	}
	f.dests[id] = headers
	f.mu.Unlock()
	w.Header().Set("x-amzn-RateLimit-Limit", "10.0")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"payload": map[string]any{
		"uploadDestinationId": id,
		"url": f.s3.URL + "/buyer-seller-messaging-test-draft-attachment-namarketplace/%2F068/" + id +
			"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-SignedHeaders=content-md5%3Bhost%3Bx-amz-server-side-encryption" +
			"&X-Amz-Expires=900&X-Amz-Signature=presignedSIGNATUREshouldneverleak",
		"headers": headers,
	}})
}

// checkAttachments reports attachments whose bytes never reached S3, like
// Amazon's "Attachment with ID ... does not exist".
func (f *fakeAmazon) checkAttachments(body []byte) string {
	var b struct {
		Attachments []spapi.Attachment `json:"attachments"`
	}
	_ = json.Unmarshal(body, &b)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range b.Attachments {
		if _, ok := f.objects[a.UploadDestinationID]; !ok && strings.HasPrefix(a.UploadDestinationID, "4e936e26-7b72-4b84-af27-0") {
			return "Attachment with ID " + a.UploadDestinationID + " does not exist"
		}
	}
	return ""
}

// serveS3 is a strict presigned-PUT endpoint: PUT only (POST -> 405), every
// signed header exactly as returned (else 403), Content-MD5 must match the
// body (else 400 BadDigest), and no SP-API access token.
func (f *fakeAmazon) serveS3(w http.ResponseWriter, r *http.Request) {
	rec := record(r)
	f.mu.Lock()
	f.s3reqs = append(f.s3reqs, rec)
	f.mu.Unlock()
	w.Header().Set("x-amz-request-id", "S3REQ1")
	if r.Method != http.MethodPut {
		s3Err(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
		return
	}
	id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	f.mu.Lock()
	want, ok := f.dests[id]
	f.mu.Unlock()
	if !ok || r.URL.Query().Get("X-Amz-Signature") == "" {
		s3Err(w, http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	}
	for k, v := range want {
		if r.Header.Get(k) != v {
			s3Err(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
			return
		}
	}
	if r.Header.Get("x-amz-access-token") != "" {
		s3Err(w, http.StatusBadRequest, "InvalidArgument", "Unexpected header")
		return
	}
	if r.ContentLength != int64(len(rec.Body)) {
		s3Err(w, http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
		return
	}
	sum := md5.Sum(rec.Body)
	if r.Header.Get("Content-MD5") != base64.StdEncoding.EncodeToString(sum[:]) {
		s3Err(w, http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.")
		return
	}
	f.mu.Lock()
	f.objects[id] = rec.Body
	f.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func s3Err(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><RequestId>S3REQ1</RequestId><HostId>host</HostId></Error>`, code, msg)
}

// liveActions is a getMessagingActionsForOrder answer in the live HAL shape
// (spapi-notes §1.5): every type under its live name, each with name, title,
// disabled, disabledReason and the schema itself under _embedded.schema.
func liveActions(order, mp string) []byte {
	type link = map[string]string
	var links []link
	var embedded []map[string]any
	for _, t := range spapi.Types() {
		if t.API != spapi.APIMessaging {
			continue
		}
		name := t.Name
		switch t.Name {
		case "invoice":
			name = "sendInvoice"
		case "negativeFeedbackRemoval":
			name = "updateFeedback"
		}
		href := fmt.Sprintf("/messaging/v1/orders/%s/messages/%s?marketplaceIds=%s", order, name, mp)
		props := map[string]any{}
		var required []string
		if t.Has(spapi.FieldText) {
			props["rawMessageBody"] = map[string]any{"type": "string", "minLength": t.TextMin, "maxLength": t.TextMax,
				"description": fmt.Sprintf("%d character limit. Only links related to order completion are allowed, no HTML or email addresses.", t.TextMax)}
			required = append(required, "rawMessageBody")
		}
		if t.Has(spapi.FieldAttachments) {
			props["attachments"] = map[string]any{"type": "array", "minItems": t.AttachMin, "maxItems": t.AttachMax,
				"items": map[string]any{"type": "object"}}
		}
		links = append(links, link{"href": href, "name": name})
		embedded = append(embedded, map[string]any{
			"_links": map[string]any{"self": link{"href": href, "name": name},
				"schema": link{"href": "/messaging/v1/orders/" + order + "/schemas/" + name, "name": name}},
			"_embedded": map[string]any{"schema": map[string]any{
				"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "name": name,
				"title": "Template " + name, "properties": props, "required": required, "x-ui-hidden": false,
				"_links": map[string]any{"self": link{"href": "/messaging/v1/orders/" + order + "/schemas/" + name}},
			}},
			"name": name, "title": "Template " + name, "disabled": false, "disabledReason": nil,
		})
	}
	b, _ := json.Marshal(map[string]any{
		"_links":    map[string]any{"self": link{"href": "/messaging/v1/orders/" + order + "?marketplaceIds=" + mp}, "actions": links},
		"_embedded": map[string]any{"actions": embedded},
	})
	return b
}

// solicitationActionsBody is a getSolicitationActionsForOrder answer in the
// model's shape (GetSolicitationActionsForOrderResponse): _links.self and
// _links.actions, and per embedded action _links.self/_links.schema, the
// schema under _embedded.schema and a name.
func solicitationActionsBody(order, mp string) []byte {
	type link = map[string]string
	const name = "productReviewAndSellerFeedback"
	href := fmt.Sprintf("/solicitations/v1/orders/%s/solicitations/%s?marketplaceIds=%s", order, name, mp)
	schemaHref := "/solicitations/v1/orders/" + order + "/solicitations/" + name + "/schema"
	b, _ := json.Marshal(map[string]any{
		"_links": map[string]any{"self": link{"href": "/solicitations/v1/orders/" + order + "?marketplaceIds=" + mp},
			"actions": []link{{"href": href, "name": name}}},
		"_embedded": map[string]any{"actions": []map[string]any{{
			"_links": map[string]any{"self": link{"href": href, "name": name}, "schema": link{"href": schemaHref, "name": name}},
			"_embedded": map[string]any{"schema": map[string]any{
				"_links":  map[string]any{"self": link{"href": schemaHref}},
				"payload": map[string]any{"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "properties": map[string]any{}},
			}},
			"name": name,
		}}},
	})
	return b
}
