package attachstore_test

import (
	"bytes"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
)

// fakeS3 is an in-memory S3-compatible server, reached over HTTP.
type fakeS3 struct {
	url    string
	client *s3.Client
}

// startFakeS3 serves gofakes3 on a loopback port with the given buckets
// and returns it with a client for it.
func startFakeS3(t *testing.T, buckets ...string) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		require.NoError(t, backend.CreateBucket(b))
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		UsePathStyle: true,
	})
	return &fakeS3{url: srv.URL, client: client}
}

// putObject writes an object directly, bypassing the store.
func (f *fakeS3) putObject(t *testing.T, bucket, key string, content []byte) {
	t.Helper()
	_, err := f.client.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Body:   bytes.NewReader(content),
	})
	require.NoError(t, err)
}

// useAWSEnv points the default AWS configuration at f, and at nothing else
// on this machine. The endpoint names the host "localhost", not an IP
// address (for which the SDK would choose path-style addressing anyway),
// so that the store must ask for path-style itself.
func useAWSEnv(t *testing.T, f *fakeS3) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_S3":         strings.Replace(f.url, "127.0.0.1", "localhost", 1),
		"AWS_ACCESS_KEY_ID":           "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":       "secret",
		"AWS_REGION":                  "eu-west-1",
		"AWS_CONFIG_FILE":             none,
		"AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_PROFILE":                 "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_ENDPOINT_URL":            "",
	} {
		t.Setenv(k, v)
	}
}

func TestS3PutOpenStat(t *testing.T) {
	ctx := t.Context()
	f := startFakeS3(t, "attachments")
	st, err := attachstore.Open(ctx, "s3://attachments/spmsg/prod/", attachstore.WithS3Client(f.client))
	require.NoError(t, err)

	content := samplePNG()
	ref, err := st.Put(ctx, "label.png", bytes.NewReader(content))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ref, "sha256/") && strings.HasSuffix(ref, ".png"), ref)

	got, info := readRef(t, st, ref)
	assert.Equal(t, content, got)
	assert.Equal(t, int64(len(content)), info.Size)

	info, err = st.Stat(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, int64(len(content)), info.Size)
	assert.False(t, info.ModTime.IsZero())

	// The object sits under the prefix, and an absolute reference reads it.
	abs := "s3://attachments/spmsg/prod/" + ref
	got, _ = readRef(t, st, abs)
	assert.Equal(t, content, got)

	// Objects written by someone else are read by their path.
	f.putObject(t, "attachments", "spmsg/prod/orders/1/invoice.pdf", samplePDF())
	got, _ = readRef(t, st, "orders/1/invoice.pdf")
	assert.Equal(t, samplePDF(), got)
	got, _ = readRef(t, st, "./orders/1/../1/invoice.pdf")
	assert.Equal(t, samplePDF(), got)
}

func TestS3NotFound(t *testing.T) {
	ctx := t.Context()
	f := startFakeS3(t, "attachments")
	st, err := attachstore.Open(ctx, "s3://attachments", attachstore.WithS3Client(f.client))
	require.NoError(t, err)
	for _, ref := range []string{"missing.pdf", "s3://attachments/missing.pdf"} {
		_, _, err := st.Open(ctx, ref)
		require.ErrorIs(t, err, attachstore.ErrNotFound, ref)
		assert.Contains(t, err.Error(), ref)

		_, err = st.Stat(ctx, ref)
		require.ErrorIs(t, err, attachstore.ErrNotFound, ref)
		assert.Contains(t, err.Error(), ref)
	}
}

func TestS3Escapes(t *testing.T) {
	ctx := t.Context()
	f := startFakeS3(t, "attachments")
	f.putObject(t, "attachments", "other/secret.txt", []byte("secret"))
	st, err := attachstore.Open(ctx, "s3://attachments/store", attachstore.WithS3Client(f.client))
	require.NoError(t, err)
	for _, ref := range []string{"../other/secret.txt", "a/../../other/secret.txt", "/other/secret.txt", "/tmp/x.pdf"} {
		_, _, err := st.Open(ctx, ref)
		require.ErrorIs(t, err, attachstore.ErrInvalidRef, ref)
		assert.Contains(t, err.Error(), "attachment source \""+ref+"\" escapes the store")
		_, err = st.Stat(ctx, ref)
		require.ErrorIs(t, err, attachstore.ErrInvalidRef, ref)
	}
	// An explicit S3 reference outside the store's prefix is refused too
	// (TestS3AllowList has the rest).
	_, _, err = st.Open(ctx, "s3://attachments/other/secret.txt")
	require.ErrorIs(t, err, attachstore.ErrOutsideAllowList)
}

func TestS3FromEnvironment(t *testing.T) {
	ctx := t.Context()
	f := startFakeS3(t, "attachments")
	useAWSEnv(t, f)

	// No client given: it comes from the environment, and the custom
	// endpoint needs path-style addressing (the loopback server has no
	// bucket.host names).
	st, err := attachstore.Open(ctx, "s3://attachments/env")
	require.NoError(t, err)
	ref, err := st.Put(ctx, "notes.txt", strings.NewReader("hello from env\n"))
	require.NoError(t, err)
	got, _ := readRef(t, st, ref)
	assert.Equal(t, "hello from env\n", string(got))

	p, err := attachstore.Prepare(ctx, st, ref)
	require.NoError(t, err)
	defer p.Close()
	assert.Equal(t, "text/plain", p.MIME)
}

func TestFileStoreReadsS3Refs(t *testing.T) {
	ctx := t.Context()
	f := startFakeS3(t, "shared")
	f.putObject(t, "shared", "invoices/42.pdf", samplePDF())

	t.Run("not allow-listed", func(t *testing.T) {
		st, err := attachstore.Open(ctx, t.TempDir(), attachstore.WithS3Client(f.client))
		require.NoError(t, err)
		_, _, err = st.Open(ctx, "s3://shared/invoices/42.pdf")
		require.ErrorIs(t, err, attachstore.ErrOutsideAllowList)
		_, err = st.Stat(ctx, "s3://shared/invoices/42.pdf")
		require.ErrorIs(t, err, attachstore.ErrOutsideAllowList)
	})
	t.Run("injected client", func(t *testing.T) {
		st, err := attachstore.Open(ctx, t.TempDir(), attachstore.WithS3Client(f.client),
			attachstore.WithS3Allow("s3://shared/invoices"))
		require.NoError(t, err)
		got, info := readRef(t, st, "s3://shared/invoices/42.pdf")
		assert.Equal(t, samplePDF(), got)
		assert.Equal(t, int64(len(samplePDF())), info.Size)
	})
	t.Run("client from the environment", func(t *testing.T) {
		useAWSEnv(t, f)
		st, err := attachstore.Open(ctx, "file://"+t.TempDir(), attachstore.WithS3Allow("s3://shared"))
		require.NoError(t, err)
		info, err := st.Stat(ctx, "s3://shared/invoices/42.pdf")
		require.NoError(t, err)
		assert.Equal(t, int64(len(samplePDF())), info.Size)

		p, err := attachstore.Prepare(ctx, st, "s3://shared/invoices/42.pdf")
		require.NoError(t, err)
		defer p.Close()
		assert.Equal(t, "application/pdf", p.MIME)

		_, err = st.Stat(ctx, "s3://shared/invoices/43.pdf")
		require.ErrorIs(t, err, attachstore.ErrNotFound)
	})
}
