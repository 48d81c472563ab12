package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/tasks"
)

type attachmentRef struct {
	Source string `json:"source"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
}

// Ensure an uploaded file can be referenced by a job, and the queued job
// carries only the reference.
func TestUploadThenReference(t *testing.T) {
	f := newFixture(t)
	a := f.do(http.MethodPost, "/v1/attachments?name=Invoice-1234.PDF", pdfBytes, "Content-Type", "application/pdf")
	require.Equal(t, http.StatusCreated, a.status, string(a.body))
	var ref attachmentRef
	a.decode(t, &ref)
	assert.True(t, strings.HasPrefix(ref.Source, "sha256/") && strings.HasSuffix(ref.Source, ".pdf"), ref.Source)
	assert.Equal(t, "application/pdf", ref.Type)
	assert.EqualValues(t, len(pdfBytes), ref.Size)
	rc, _, err := f.store.Open(context.Background(), ref.Source)
	require.NoError(t, err)
	stored, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, pdfBytes, stored)

	// The same bytes, named by Content-Disposition, give the same reference.
	a = f.do(http.MethodPost, "/v1/attachments", pdfBytes, "Content-Disposition", `attachment; filename="copy.pdf"`)
	require.Equal(t, http.StatusCreated, a.status)
	var again attachmentRef
	a.decode(t, &again)
	assert.Equal(t, ref.Source, again.Source)

	a = f.post("/v1/messages", jobJSON("111-1111111-0000001", "invoice", `"attachments":[{"source":"`+ref.Source+`","file_name":"invoice-1234.pdf"}]`))
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
	var r itemResult
	a.decode(t, &r)
	info, err := asynq.NewInspectorFromRedisClient(f.rdb).GetTaskInfo(tasks.QueueTransactional, r.ID)
	require.NoError(t, err)
	j, err := tasks.DecodeJob(info.Payload)
	require.NoError(t, err)
	assert.Equal(t, []tasks.Attachment{{Source: ref.Source, FileName: "invoice-1234.pdf"}}, j.Attachments)
}

func TestUploadRefusals(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name   string
		body   []byte
		status int
	}{
		{"HTML", []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"), http.StatusUnsupportedMediaType},
		{"SVG", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>`), http.StatusUnsupportedMediaType},
		{"ZIP", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00" + strings.Repeat("\x00", 40)), http.StatusUnsupportedMediaType},
		{"Empty", nil, http.StatusBadRequest},
		{"TenMiB", bytes.Repeat([]byte("a"), attachstore.MaxFileSize), http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := f.do(http.MethodPost, "/v1/attachments?name=x.pdf", c.body)
			require.Equal(t, c.status, a.status, string(a.body))
			assert.NotEmpty(t, a.fields(t)["error"])
		})
	}
	t.Run("TenMiBChunked", func(t *testing.T) {
		// No Content-Length: the store refuses the file as it streams in.
		body := io.MultiReader(bytes.NewReader(pdfBytes), bytes.NewReader(make([]byte, attachstore.MaxFileSize)))
		req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/attachments?name=big.pdf", body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token1)
		resp, err := f.srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	})
	// Just under the limit is fine.
	a := f.do(http.MethodPost, "/v1/attachments?name=big.txt", bytes.Repeat([]byte("a"), attachstore.MaxFileSize-1))
	assert.Equal(t, http.StatusCreated, a.status, string(a.body))
}
