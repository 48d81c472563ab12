package attachstore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
)

func TestPrepareContentMD5(t *testing.T) {
	ctx := t.Context()
	st, dir := openFileStore(t)
	writeFile(t, filepath.Join(dir, "hello.txt"), []byte("hello world"))

	p, err := attachstore.Prepare(ctx, st, "hello.txt")
	require.NoError(t, err)
	defer p.Close()

	sum := md5.Sum([]byte("hello world"))
	assert.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), p.ContentMD5)
	assert.Equal(t, "XrY7u+Ae7tCTyyK7j1rNww==", p.ContentMD5, "base64 of the raw digest, not of its hex")
	assert.Equal(t, "text/plain", p.MIME)
	assert.Equal(t, int64(11), p.Size)
	assert.Equal(t, "hello.txt", p.Ref)
}

func TestPrepareBody(t *testing.T) {
	ctx := t.Context()
	st, _ := openFileStore(t)
	content := samplePDF()
	ref, err := st.Put(ctx, "invoice.pdf", bytes.NewReader(content))
	require.NoError(t, err)

	p, err := attachstore.Prepare(ctx, st, ref)
	require.NoError(t, err)
	assert.Equal(t, "application/pdf", p.MIME)

	// Each Body is independent and complete.
	a, b := p.Body(), p.Body()
	first, err := io.ReadAll(a)
	require.NoError(t, err)
	second, err := io.ReadAll(b)
	require.NoError(t, err)
	assert.Equal(t, content, first)
	assert.Equal(t, content, second)

	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close twice is fine")
	_, err = io.ReadAll(p.Body())
	assert.ErrorIs(t, err, os.ErrClosed)
}

func TestPrepareNewPutRequest(t *testing.T) {
	ctx := t.Context()
	st, dir := openFileStore(t)
	writeFile(t, filepath.Join(dir, "label.png"), samplePNG())
	p, err := attachstore.Prepare(ctx, st, "label.png")
	require.NoError(t, err)
	defer p.Close()

	type seen struct {
		method, contentType, contentMD5 string
		length                          int64
		chunked                         bool
		body                            []byte
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Content-MD5"),
			r.ContentLength, len(r.TransferEncoding) > 0, body}
	}))
	defer srv.Close()

	req, err := p.NewPutRequest(ctx, srv.URL+"/upload")
	require.NoError(t, err)
	req.Header.Set("x-amz-server-side-encryption", "aws:kms")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	s := <-got
	assert.Equal(t, http.MethodPut, s.method)
	assert.Equal(t, "image/png", s.contentType)
	assert.Equal(t, p.ContentMD5, s.contentMD5)
	assert.Equal(t, int64(len(samplePNG())), s.length)
	assert.False(t, s.chunked, "presigned S3 PUTs need a Content-Length, not chunks")
	assert.Equal(t, samplePNG(), s.body)

	again, err := req.GetBody()
	require.NoError(t, err)
	b, err := io.ReadAll(again)
	require.NoError(t, err)
	assert.Equal(t, samplePNG(), b)
}

func TestPrepareRefusals(t *testing.T) {
	ctx := t.Context()
	st, dir := openFileStore(t)
	writeFile(t, filepath.Join(dir, "page.txt"), []byte("<html><body>Buy now</body></html>"))
	writeFile(t, filepath.Join(dir, "files.zip"), sampleZip(t))
	writeFile(t, filepath.Join(dir, "empty.txt"), nil)

	for ref, want := range map[string]string{
		"page.txt":  "text/html",
		"files.zip": "application/zip",
		"empty.txt": "is empty",
	} {
		p, err := attachstore.Prepare(ctx, st, ref)
		require.ErrorIs(t, err, attachstore.ErrNotAllowed, ref)
		assert.Nil(t, p)
		assert.Contains(t, err.Error(), ref)
		assert.Contains(t, err.Error(), want)
	}

	_, err := attachstore.Prepare(ctx, st, "missing.pdf")
	require.ErrorIs(t, err, attachstore.ErrNotFound)
	_, err = attachstore.Prepare(ctx, st, "../x.pdf")
	require.ErrorIs(t, err, attachstore.ErrInvalidRef)
}

func TestPrepareSizeCap(t *testing.T) {
	ctx := t.Context()
	st, dir := openFileStore(t)
	under := append(samplePNG(), make([]byte, attachstore.MaxFileSize-1-len(samplePNG()))...)
	writeFile(t, filepath.Join(dir, "under.png"), under)
	writeFile(t, filepath.Join(dir, "at.png"), append(under, 0))

	p, err := attachstore.Prepare(ctx, st, "under.png")
	require.NoError(t, err)
	assert.Equal(t, int64(attachstore.MaxFileSize-1), p.Size)
	require.NoError(t, p.Close())

	_, err = attachstore.Prepare(ctx, st, "at.png")
	require.ErrorIs(t, err, attachstore.ErrTooLarge)
	assert.Contains(t, err.Error(), `"at.png"`)
}

func TestPrepareStopsReadingAtTheCap(t *testing.T) {
	// A source of unknown size that never ends: Prepare must give up
	// once it has read the limit, not read it whole.
	var read atomic.Int64
	st := endlessStore{read: &read}
	_, err := attachstore.Prepare(t.Context(), st, "endless.txt")
	require.ErrorIs(t, err, attachstore.ErrTooLarge)
	assert.Equal(t, int64(attachstore.MaxFileSize), read.Load())
}

func TestPrepareAll(t *testing.T) {
	ctx := t.Context()
	st, dir := openFileStore(t)
	writeFile(t, filepath.Join(dir, "a.txt"), []byte("a"))
	writeFile(t, filepath.Join(dir, "b.pdf"), samplePDF())
	six := append(samplePNG(), make([]byte, 6<<20)...)
	writeFile(t, filepath.Join(dir, "six1.png"), six)
	writeFile(t, filepath.Join(dir, "six2.png"), six)

	ps, err := attachstore.PrepareAll(ctx, st, []string{"a.txt", "b.pdf"})
	require.NoError(t, err)
	require.Len(t, ps, 2)
	assert.Equal(t, "text/plain", ps[0].MIME)
	assert.Equal(t, "application/pdf", ps[1].MIME)
	require.NoError(t, attachstore.CloseAll(ps))

	_, err = attachstore.PrepareAll(ctx, st, []string{"a.txt", "a.txt", "a.txt", "a.txt", "a.txt", "a.txt"})
	require.ErrorIs(t, err, attachstore.ErrNotAllowed)
	assert.Contains(t, err.Error(), "at most 5")

	_, err = attachstore.PrepareAll(ctx, st, []string{"six1.png", "six2.png"})
	require.ErrorIs(t, err, attachstore.ErrTooLarge)
	assert.Contains(t, err.Error(), `"six2.png"`)
	assert.Contains(t, err.Error(), "total")

	_, err = attachstore.PrepareAll(ctx, st, []string{"a.txt", "missing.txt"})
	require.ErrorIs(t, err, attachstore.ErrNotFound)
}

func TestPrepareCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var read atomic.Int64
	st := endlessStore{read: &read, cancel: cancel, cancelAt: 1 << 20}
	_, err := attachstore.Prepare(ctx, st, "endless.txt")
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, read.Load(), int64(2<<20))
}

// endlessStore serves an endless text file of unknown size, counting the
// bytes read, and can cancel a context after cancelAt bytes.
type endlessStore struct {
	read     *atomic.Int64
	cancel   context.CancelFunc
	cancelAt int64
}

func (s endlessStore) Open(context.Context, string) (io.ReadCloser, attachstore.Info, error) {
	return io.NopCloser(&countingReader{s: s}), attachstore.Info{Size: -1}, nil
}

func (s endlessStore) Put(context.Context, string, io.Reader) (string, error) {
	return "", nil
}

func (s endlessStore) Stat(context.Context, string) (attachstore.Info, error) {
	return attachstore.Info{Size: -1}, nil
}

type countingReader struct{ s endlessStore }

func (r *countingReader) Read(p []byte) (int, error) {
	n := copy(p, strings.Repeat("x", len(p)))
	if total := r.s.read.Add(int64(n)); r.s.cancel != nil && total >= r.s.cancelAt {
		r.s.cancel()
	}
	return n, nil
}

func TestPrepareLeavesNoTempFiles(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	st, dir := openFileStore(t)
	writeFile(t, filepath.Join(dir, "a.txt"), []byte("hello"))

	p, err := attachstore.Prepare(t.Context(), st, "a.txt")
	require.NoError(t, err)
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "the spool file is unlinked at once, so a crash leaks nothing")
	b, err := io.ReadAll(p.Body())
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b))
	require.NoError(t, p.Close())
}
