package attachstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
)

// openFileStore opens a file store on a new temporary directory.
func openFileStore(t *testing.T) (attachstore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := attachstore.Open(t.Context(), "file://"+dir)
	require.NoError(t, err)
	return st, dir
}

// readRef opens ref in st and returns its content and Info.
func readRef(t *testing.T, st attachstore.Store, ref string) ([]byte, attachstore.Info) {
	t.Helper()
	rc, info, err := st.Open(t.Context(), ref)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b, info
}

func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, content, 0o644))
}

func TestFilePutOpenStat(t *testing.T) {
	ctx := t.Context()
	st, dir := openFileStore(t)
	content := samplePDF()

	ref, err := st.Put(ctx, "Invoice 42.PDF", bytes.NewReader(content))
	require.NoError(t, err)
	sum := sha256.Sum256(content)
	assert.Equal(t, "sha256/"+hex.EncodeToString(sum[:])+".pdf", ref)
	assert.FileExists(t, filepath.Join(dir, filepath.FromSlash(ref)))

	got, info := readRef(t, st, ref)
	assert.Equal(t, content, got)
	assert.Equal(t, int64(len(content)), info.Size)
	assert.False(t, info.ModTime.IsZero())

	info, err = st.Stat(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, int64(len(content)), info.Size)

	again, err := st.Put(ctx, "copy.pdf", bytes.NewReader(content))
	require.NoError(t, err)
	assert.Equal(t, ref, again, "same content, same reference")

	noExt, err := st.Put(ctx, "weird.p df", strings.NewReader("x"))
	require.NoError(t, err)
	assert.NotContains(t, noExt, ".", "an odd extension is dropped")

	entries, err := os.ReadDir(filepath.Join(dir, "sha256"))
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary files are left behind")
}

func TestFileRefForms(t *testing.T) {
	ctx := t.Context()
	st, dir := openFileStore(t)
	writeFile(t, filepath.Join(dir, "orders", "a.txt"), []byte("hello"))

	for _, ref := range []string{
		"orders/a.txt",
		"./orders/a.txt",
		"orders/../orders/a.txt",
		"orders//a.txt",
		filepath.Join(dir, "orders", "a.txt"),
		dir + "/x/../orders/a.txt",
	} {
		got, info := readRef(t, st, ref)
		assert.Equal(t, "hello", string(got), ref)
		assert.Equal(t, int64(5), info.Size, ref)
		_, err := st.Stat(ctx, ref)
		assert.NoError(t, err, ref)
	}
}

func TestFileNotFound(t *testing.T) {
	ctx := t.Context()
	st, dir := openFileStore(t)
	for _, ref := range []string{"missing.pdf", "no/such/dir/x.pdf", filepath.Join(dir, "gone.txt")} {
		_, _, err := st.Open(ctx, ref)
		require.ErrorIs(t, err, attachstore.ErrNotFound, ref)
		assert.ErrorIs(t, err, os.ErrNotExist)
		assert.Contains(t, err.Error(), ref)

		_, err = st.Stat(ctx, ref)
		require.ErrorIs(t, err, attachstore.ErrNotFound, ref)
		assert.Contains(t, err.Error(), ref)
	}

	// A store whose directory does not exist yet has nothing in it.
	empty, err := attachstore.Open(ctx, filepath.Join(t.TempDir(), "not-yet"))
	require.NoError(t, err)
	_, _, err = empty.Open(ctx, "a.txt")
	require.ErrorIs(t, err, attachstore.ErrNotFound)
}

func TestFileEscapes(t *testing.T) {
	ctx := t.Context()
	parent := t.TempDir()
	dir := filepath.Join(parent, "store")
	writeFile(t, filepath.Join(dir, "ok.txt"), []byte("ok"))
	writeFile(t, filepath.Join(parent, "secret.txt"), []byte("secret"))
	writeFile(t, filepath.Join(parent, "store-evil", "x.txt"), []byte("evil"))
	require.NoError(t, os.Symlink(filepath.Join(parent, "secret.txt"), filepath.Join(dir, "link.txt")))
	require.NoError(t, os.Symlink("../secret.txt", filepath.Join(dir, "rel-link.txt")))
	st, err := attachstore.Open(ctx, dir)
	require.NoError(t, err)

	for _, ref := range []string{
		"../secret.txt",
		"ok/../../secret.txt",
		"..",
		filepath.Join(parent, "secret.txt"),
		filepath.Join(parent, "store-evil", "x.txt"), // shares the root's name as a prefix
		"/etc/passwd",
		"link.txt",     // absolute symbolic link out of the store
		"rel-link.txt", // relative symbolic link out of the store
	} {
		_, _, err := st.Open(ctx, ref)
		require.ErrorIs(t, err, attachstore.ErrInvalidRef, ref)
		assert.Contains(t, err.Error(), "attachment source \""+ref+"\" escapes the store")

		_, err = st.Stat(ctx, ref)
		require.ErrorIs(t, err, attachstore.ErrInvalidRef, ref)
	}
}

func TestFileInvalidRefs(t *testing.T) {
	ctx := t.Context()
	st, dir := openFileStore(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	for ref, msg := range map[string]string{
		"":                    "attachment source is empty",
		".":                   "names the store itself",
		dir:                   "names the store itself",
		"sub":                 "is not a regular file",
		"http://example.com/": `unsupported scheme "http"`,
		"s3://bucket":         "want s3://bucket/key",
		"s3://bucket/":        "want s3://bucket/key",
		"s3:///key":           "want s3://bucket/key",
		"a\x00b":              "NUL",
	} {
		_, _, err := st.Open(ctx, ref)
		require.ErrorIs(t, err, attachstore.ErrInvalidRef, ref)
		assert.Contains(t, err.Error(), msg, ref)
	}
}

func TestFilePutTooLarge(t *testing.T) {
	st, dir := openFileStore(t)
	_, err := st.Put(t.Context(), "big.txt", io.LimitReader(zeros{}, attachstore.MaxFileSize))
	require.ErrorIs(t, err, attachstore.ErrTooLarge)
	assert.Contains(t, err.Error(), `"big.txt"`)
	entries, err := os.ReadDir(filepath.Join(dir, "sha256"))
	require.NoError(t, err)
	assert.Empty(t, entries, "the partial file is removed")
}

func TestFilePutCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	st, _ := openFileStore(t)
	_, err := st.Put(ctx, "a.txt", strings.NewReader("hello"))
	require.ErrorIs(t, err, context.Canceled)
}

func TestOpenURLForms(t *testing.T) {
	ctx := t.Context()
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "rel", "a.txt"), []byte("rel"))
	writeFile(t, filepath.Join(base, "with space", "a.txt"), []byte("space"))
	writeFile(t, filepath.Join(base, "attachments", "a.txt"), []byte("default"))
	t.Chdir(base)

	for rawURL, want := range map[string]string{
		"file://" + base + "/rel":          "rel",
		"file://localhost" + base + "/rel": "rel",
		"file://./rel":                     "rel",
		"file://rel/":                      "rel",
		base + "/rel":                      "rel",
		"rel":                              "rel",
		"./rel":                            "rel",
		"file://" + url.PathEscape(base+"/with space"): "space",
		base + "/with space":                           "space",
		"":                                             "default",
		attachstore.DefaultURL:                         "default",
	} {
		st, err := attachstore.Open(ctx, rawURL)
		require.NoError(t, err, rawURL)
		got, _ := readRef(t, st, "a.txt")
		assert.Equal(t, want, string(got), rawURL)
	}
}

func TestOpenBadURLs(t *testing.T) {
	ctx := t.Context()
	notDir := filepath.Join(t.TempDir(), "file")
	writeFile(t, notDir, []byte("x"))
	for _, rawURL := range []string{
		"gs://bucket/prefix",
		"http://example.com/x",
		"file://",
		"file:///tmp/x?y=1",
		"file:///tmp/%zz",
		"file://" + notDir,
		"s3://",
		"s3:///prefix",
		"s3://a/prefix",
		"s3://bucket?region=x",
		"s3://bucket/a/../b",
		"s3://bucket/a//b",
	} {
		_, err := attachstore.Open(ctx, rawURL)
		require.Error(t, err, rawURL)
		assert.Contains(t, err.Error(), "ATTACHMENT_STORE", rawURL)
	}

	_, err := attachstore.Open(ctx, "s3://user:hunter2@bucket/x")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
