package httpapi_test

import (
	"context"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/httpapi"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

// brokenStore is an attachment store whose disk has failed.
type brokenStore struct{}

var errBroken = errors.New("disk failure")

func (brokenStore) Open(context.Context, string) (io.ReadCloser, attachstore.Info, error) {
	return nil, attachstore.Info{}, errBroken
}
func (brokenStore) Put(context.Context, string, io.Reader) (string, error) { return "", errBroken }
func (brokenStore) Stat(context.Context, string) (attachstore.Info, error) {
	return attachstore.Info{}, errBroken
}

var _ attachstore.Store = brokenStore{}

// newDeadFixture is the API with Redis down and a failed attachment store.
func newDeadFixture(t *testing.T) *fixture {
	t.Helper()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = dead.Close() })
	out := jobstate.NewOutcomeStore(dead, "", 0)
	return newFixture(t, func(c *httpapi.Config) {
		c.Redis, c.Outcomes, c.Store = dead, out, brokenStore{}
		c.Producer = tasks.NewProducer(dead, sellers(t))
	})
}

// documented returns "METHOD /path" of every operation in the document,
// and "METHOD /path STATUS" of every response it documents.
func (s *spec) documented() (ops, responses []string) {
	for path, item := range s.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, method+" "+path)
			for code := range op.Responses.Map() {
				responses = append(responses, method+" "+path+" "+code)
			}
		}
	}
	sort.Strings(ops)
	sort.Strings(responses)
	return ops, responses
}

// Ensure the routes the server serves and the operations openapi.json
// documents are the same, with the same authentication.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	s := loadSpec(t)
	ops, _ := s.documented()
	var served []string
	for _, r := range httpapi.Routes() {
		served = append(served, r.Pattern())
		op := s.doc.Paths.Find(r.Path).GetOperation(r.Method)
		require.NotNil(t, op, r.Pattern())
		public := op.Security != nil && len(*op.Security) == 0
		assert.Equal(t, r.Public, public, "%s: public in the server and in the document", r.Pattern())
	}
	sort.Strings(served)
	assert.Equal(t, ops, served)
}

// Ensure every documented response of every route is produced by the real
// handlers, and each answer validates against the document (the fixture
// checks every answer it gets); the valid requests validate too.
func TestOpenAPIEveryResponseExercised(t *testing.T) {
	f := newFixture(t)
	dead := newDeadFixture(t)
	noTokens := newFixture(t, func(c *httpapi.Config) { c.Tokens = nil }) // before f's requests: it flushes Redis
	job := jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which size?"`)
	other := jobJSON("111-1111111-0000002", "invoice", `"attachments":[{"source":"invoice.pdf","file_name":"i.pdf"}],"campaign":"spring","deadline":"2030-01-01T00:00:00Z"`)
	big := `{"text":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}`

	valid := []struct {
		method, path, body string
		headers            []string
		want               int
	}{
		{"POST", "/v1/messages", job, []string{"Idempotency-Key", "k-1"}, 202},
		{"POST", "/v1/messages", job, []string{"Idempotency-Key", "k-1"}, 200},
		{"POST", "/v1/messages", "[" + job + "," + other + "]", nil, 207},
		{"GET", "/v1/campaigns/spring", "", nil, 200},
		{"GET", "/v1/campaigns/spring?problems=5", "", nil, 200},
		{"GET", "/healthz", "", nil, 200},
		{"GET", "/metrics", "", nil, 200},
		{"GET", "/openapi.json", "", nil, 200},
	}
	for _, c := range valid {
		f.spec.checkRequest(t, c.method, c.path, []byte(c.body), c.headers...)
		a := f.do(c.method, c.path, []byte(c.body), c.headers...)
		require.Equal(t, c.want, a.status, "%s %s: %s", c.method, c.path, a.body)
	}
	var r itemResult
	f.post("/v1/messages", job).decode(t, &r)
	a := f.get("/v1/messages/" + r.ID)
	require.Equal(t, 200, a.status)
	a = f.do("POST", "/v1/attachments?name=a.pdf", pdfBytes, "Content-Type", "application/octet-stream")
	require.Equal(t, 201, a.status)

	bad := []struct {
		f                  *fixture
		method, path, body string
		headers            []string
		want               int
	}{
		{f, "POST", "/v1/messages", `{"seller_id":"A1SELLERNA",`, nil, 400},
		{f, "POST", "/v1/messages", `[{"seller_id":"NOSUCH"}]`, nil, 400},
		{f, "POST", "/v1/messages", `[]`, nil, 400},
		{f, "POST", "/v1/messages", job, []string{"Authorization", ""}, 401},
		{f, "POST", "/v1/messages", big, nil, 413},
		{dead, "POST", "/v1/messages", job, nil, 503},
		{f, "GET", "/v1/messages/j_nosuch", "", []string{"Authorization", "Bearer nope"}, 401},
		{f, "GET", "/v1/messages/j_nosuch", "", nil, 404},
		{dead, "GET", "/v1/messages/j_nosuch", "", nil, 503},
		{f, "GET", "/v1/campaigns/spring?problems=many", "", nil, 400},
		{f, "GET", "/v1/campaigns/spring", "", []string{"Authorization", ""}, 401},
		{dead, "GET", "/v1/campaigns/spring", "", nil, 503},
		{f, "POST", "/v1/attachments", "", nil, 400},
		{f, "POST", "/v1/attachments", "x", []string{"Authorization", ""}, 401},
		{f, "POST", "/v1/attachments", strings.Repeat("x", attachstore.MaxFileSize), nil, 413},
		{f, "POST", "/v1/attachments", "<html><body>hi</body></html>", nil, 415},
		{dead, "POST", "/v1/attachments", string(pdfBytes), nil, 503},
		{dead, "GET", "/healthz", "", nil, 503},
		{f, "POST", "/v1/messages", job, []string{"Content-Type", "text/plain"}, 415},
		{f, "POST", "/v1/messages", job, []string{"Authorization", "Bearer " + tokenEU}, 403},
		{f, "POST", "/v1/messages", jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which colour?"`), []string{"Idempotency-Key", "k-1"}, 422},
		{f, "GET", "/v1/messages/" + r.ID, "", []string{"Authorization", "Bearer " + tokenEU}, 404},
		{f, "GET", "/v1/campaigns/spring", "", []string{"Authorization", "Bearer " + tokenEU}, 404},
	}
	for _, rt := range httpapi.Routes() {
		bad = append(bad, struct {
			f                  *fixture
			method, path, body string
			headers            []string
			want               int
		}{noTokens, rt.Method, strings.ReplaceAll(strings.ReplaceAll(rt.Path, "{id}", "j_x"), "{name}", "spring"), "",
			[]string{"Host", "rebound.example:8080"}, 421})
	}
	for _, c := range bad {
		a := c.f.do(c.method, c.path, []byte(c.body), c.headers...)
		require.Equal(t, c.want, a.status, "%s %s: %s", c.method, c.path, a.body)
		require.NotEmpty(t, a.fields(t)["error"], "every error answer has an error string")
		if c.want == 503 && c.path != "/healthz" {
			assert.Equal(t, "1", a.header.Get("Retry-After"))
			assert.NotContains(t, string(a.body), "127.0.0.1:1", "internal addresses stay in the log")
		}
	}

	_, documented := f.spec.documented()
	for _, other := range []*fixture{dead, noTokens} {
		for k := range other.seen {
			f.seen[k] = true
		}
	}
	var exercised []string
	for k := range f.seen {
		exercised = append(exercised, k)
	}
	sort.Strings(exercised)
	assert.Equal(t, documented, exercised, "every documented response, and nothing else, is produced")
}

// Ensure the Job schema documents exactly the fields a job accepts, and
// every message type by its canonical name.
func TestOpenAPIJobSchemaMatchesJobFields(t *testing.T) {
	s := loadSpec(t)
	job := s.doc.Components.Schemas["Job"]
	require.NotNil(t, job)
	var documented []string
	for name := range job.Value.Properties {
		documented = append(documented, name)
	}
	sort.Strings(documented)
	want := append([]string(nil), tasks.JobFields...)
	sort.Strings(want)
	assert.Equal(t, want, documented)
	desc := job.Value.Properties["type"].Value.Description
	for _, name := range spapi.TypeNames() {
		assert.Contains(t, desc, name)
	}
}
