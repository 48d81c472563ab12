package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/httpapi"
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
	jobs, err := tasks.NewDispatcher(f.rdb, dispatch.Options{}).Jobs(context.Background())
	require.NoError(t, err)
	j, err := tasks.DecodeJob(jobs[r.ID])
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
		req.Header.Set("Content-Type", "application/pdf")
		resp, err := f.srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	})
	// Just under the limit is fine.
	a := f.do(http.MethodPost, "/v1/attachments?name=big.txt", bytes.Repeat([]byte("a"), attachstore.MaxFileSize-1))
	assert.Equal(t, http.StatusCreated, a.status, string(a.body))
}

// Ensure an upload is refused with 415, and nothing stored, when its
// Content-Type is missing or one a web page can send cross-site without a
// preflight (form, multipart, text/plain), whatever its parameters; also
// without tokens on loopback, where no credential stops a page.
func TestUploadRefusesCrossSiteContentTypes(t *testing.T) {
	f := newFixture(t, func(c *httpapi.Config) { c.Tokens = nil })
	for i, ct := range []string{
		"", // none
		"application/x-www-form-urlencoded",
		"multipart/form-data; boundary=----WebKitFormBoundary",
		"text/plain",
		"text/plain;charset=UTF-8",
		"TEXT/Plain",
		" text/plain ; charset=utf-8",
		"Multipart/Form-Data",
		"application/pdf; =broken", // malformed
		"text/plain, application/pdf",
	} {
		t.Run(fmt.Sprintf("%d %s", i, ct), func(t *testing.T) {
			body := append(append([]byte(nil), pdfBytes...), fmt.Sprintf("%% refused %d\n", i)...)
			a := f.do(http.MethodPost, "/v1/attachments?name=x.pdf", body, "Content-Type", ct)
			require.Equal(t, http.StatusUnsupportedMediaType, a.status, string(a.body))
			assert.Contains(t, a.fields(t)["error"], "Content-Type")
			sum := sha256.Sum256(body)
			_, err := f.store.Stat(context.Background(), "sha256/"+hex.EncodeToString(sum[:])+".pdf")
			require.Error(t, err, "a refused upload was stored")
		})
	}
	t.Run("two headers", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/attachments?name=x.pdf", bytes.NewReader(pdfBytes))
		require.NoError(t, err)
		req.Header["Content-Type"] = []string{"application/pdf", "text/plain"}
		resp, err := f.srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	})
	for _, ct := range []string{"application/pdf", "application/octet-stream", "image/png", "text/csv; charset=utf-8", "application/json"} {
		t.Run("accepts "+ct, func(t *testing.T) {
			a := f.do(http.MethodPost, "/v1/attachments?name=x.pdf", pdfBytes, "Content-Type", ct)
			require.Equal(t, http.StatusCreated, a.status, string(a.body))
		})
	}
}

// Ensure a seller-bound token may attach only the content-addressed
// references POST /v1/attachments answers: a store path or an s3:// object
// (perhaps another seller's document) is rejected naming the source's
// field, while tokens for every seller, and no tokens, keep every source.
func TestAttachmentSourcesOfSellerBoundTokens(t *testing.T) {
	f := newFixture(t)
	a := f.do(http.MethodPost, "/v1/attachments?name=mine.pdf", pdfBytes, "Authorization", "Bearer "+tokenNA)
	require.Equal(t, http.StatusCreated, a.status, string(a.body))
	var ref attachmentRef
	a.decode(t, &ref)
	hexRef := strings.TrimSuffix(strings.TrimPrefix(ref.Source, "sha256/"), ".pdf")
	att := func(sources ...string) string {
		var parts []string
		for _, s := range sources {
			parts = append(parts, `{"source":"`+s+`","file_name":"i.pdf"}`)
		}
		return `"attachments":[` + strings.Join(parts, ",") + `]`
	}
	bound := []string{"Authorization", "Bearer " + tokenNA}

	for i, src := range []string{
		"invoice.pdf", // in the store, but by path
		"s3://other-sellers-bucket/invoices/111.pdf",
		"sha256/" + strings.ToUpper(hexRef) + ".pdf",
		"./" + ref.Source,
		ref.Source + "/../../invoice.pdf",
		"sha256/" + hexRef[:63] + ".pdf",
		"sha256/../invoice.pdf",
	} {
		t.Run(fmt.Sprintf("refuses %d", i), func(t *testing.T) {
			a := f.post("/v1/messages", jobJSON(fmt.Sprintf("111-1111111-%07d", 100+i), "invoice", att(ref.Source, src)), bound...)
			require.Equal(t, http.StatusBadRequest, a.status, string(a.body))
			var r itemResult
			a.decode(t, &r)
			require.Len(t, r.Errors, 1, string(a.body))
			assert.Equal(t, "attachments[1].source", r.Errors[0].Field)
			assert.Contains(t, r.Errors[0].Reason, "POST /v1/attachments")
		})
	}

	// In an array, only the item with a path is rejected.
	a = f.post("/v1/messages", "["+jobJSON("111-1111111-0000201", "invoice", att(ref.Source))+","+
		jobJSON("111-1111111-0000202", "invoice", att("invoice.pdf"))+"]", bound...)
	require.Equal(t, http.StatusMultiStatus, a.status, string(a.body))
	var b batchAnswer
	a.decode(t, &b)
	require.Len(t, b.Results, 2)
	assert.Equal(t, "accepted", b.Results[0].Status, string(a.body))
	assert.Equal(t, "rejected", b.Results[1].Status)
	require.Len(t, b.Results[1].Errors, 1)
	assert.Equal(t, "attachments[0].source", b.Results[1].Errors[0].Field)

	// A token for every seller keeps store paths.
	a = f.post("/v1/messages", jobJSON("111-1111111-0000301", "invoice", att("invoice.pdf")))
	assert.Equal(t, http.StatusAccepted, a.status, string(a.body))
	// So does a loopback server without tokens.
	open := newFixture(t, func(c *httpapi.Config) { c.Tokens = nil })
	a = open.post("/v1/messages", jobJSON("111-1111111-0000302", "invoice", att("invoice.pdf")))
	assert.Equal(t, http.StatusAccepted, a.status, string(a.body))
}
