package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHealthzMetricsOpenAPI(t *testing.T) {
	f := newFixture(t)
	a := f.get("/healthz", "Authorization", "")
	require.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "ok", a.fields(t)["status"])

	f.post("/v1/messages", jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x"`))
	f.post("/v1/messages", jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x"`))
	f.post("/v1/messages", `{"seller_id":""}`)
	f.get("/v1/messages/j_x", "Authorization", "")
	a = f.get("/metrics", "Authorization", "")
	require.Equal(t, http.StatusOK, a.status)
	body := string(a.body)
	for _, want := range []string{
		`spmsg_api_requests_total{route="POST /v1/messages",status="202"} 1`,
		`spmsg_api_requests_total{route="POST /v1/messages",status="200"} 1`,
		`spmsg_api_requests_total{route="POST /v1/messages",status="400"} 1`,
		`spmsg_api_requests_total{route="GET /v1/messages/{id}",status="401"} 1`,
		`spmsg_api_jobs_total{result="accepted"} 1`,
		`spmsg_api_jobs_total{result="duplicate"} 1`,
		`spmsg_api_jobs_total{result="rejected"} 1`,
		`spmsg_api_request_duration_seconds_count{route="POST /v1/messages"} 3`,
		`go_goroutines`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, token1)

	a = f.get("/openapi.json", "Authorization", "")
	require.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "application/json", a.header.Get("Content-Type"))
	assert.Contains(t, a.fields(t), "openapi")
}

// Ensure unknown routes and methods get JSON errors too.
func TestNotFoundAndMethodNotAllowedAreJSON(t *testing.T) {
	f := newFixture(t)
	a := f.get("/v2/nothing")
	assert.Equal(t, http.StatusNotFound, a.status)
	assert.Equal(t, "application/json", a.header.Get("Content-Type"))
	assert.Contains(t, a.fields(t)["error"], "no such route")

	a = f.get("/v1/messages")
	assert.Equal(t, http.StatusMethodNotAllowed, a.status)
	assert.Equal(t, "POST", a.header.Get("Allow"))
	assert.Contains(t, a.fields(t)["error"], "not allowed")

	a = f.do(http.MethodDelete, "/v1/messages/j_1", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, a.status)
	assert.True(t, strings.Contains(a.header.Get("Allow"), "GET"))
}
