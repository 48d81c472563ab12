package attachstore_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/testkit"

	"github.com/spmsg/spmsg/attachstore"
)

// Ensure s3:// references read only the store's own bucket and prefix and
// the allow-listed places, matched on path boundaries and immune to dot
// segments, and that a refusal says the same whether or not the object
// exists.
func TestS3AllowList(t *testing.T) {
	ctx := t.Context()
	f := startFakeS3(t, "attachments", "shared", "pub", "private")
	for _, o := range []struct{ bucket, key string }{
		{"attachments", "store/own.pdf"},
		{"attachments", "other/secret.txt"},
		{"attachments", "store-other/x.pdf"},
		{"shared", "invoices/42.pdf"},
		{"shared", "invoices-old/42.pdf"},
		{"shared", "secret.txt"},
		{"shared", "invoices/%2e%2e/42.pdf"},
		{"shared", "invoices/%2E%2E/42.pdf"},
		{"pub", "any/where.pdf"},
		{"private", "x.pdf"},
	} {
		f.putObject(t, o.bucket, o.key, samplePDF())
	}
	stores := map[string]attachstore.Store{}
	var err error
	stores["s3 store"], err = attachstore.Open(ctx, "s3://attachments/store", attachstore.WithS3Client(f.client),
		attachstore.WithS3Allow(" s3://shared/invoices/ , s3://pub"))
	require.NoError(t, err)
	stores["file store"], err = attachstore.Open(ctx, t.TempDir(), attachstore.WithS3Client(f.client),
		attachstore.WithS3Allow("s3://attachments/store"), attachstore.WithS3Allow("s3://shared/invoices,s3://pub/"))
	require.NoError(t, err)

	allowed := []string{
		"s3://attachments/store/own.pdf",
		"s3://shared/invoices/42.pdf",
		"s3://pub/any/where.pdf",
	}
	refused := []string{
		"s3://attachments/other/secret.txt",
		"s3://attachments/store-other/x.pdf",   // not on a path boundary
		"s3://shared/invoices-old/42.pdf",      // not on a path boundary
		"s3://shared/invoices",                 // the prefix itself
		"s3://shared/invoices/../secret.txt",   // dot segments
		"s3://shared/invoices/./42.pdf",        // dot segments
		"s3://shared/invoices//42.pdf",         // empty segment
		"s3://shared/invoices/%2e%2e/42.pdf",   // encoded dot segments (the object exists)
		"s3://shared/invoices/%2E%2E/42.pdf",   // the same, upper case
		"s3://shared/invoices/%2e/42.pdf",      // encoded "."
		"s3://shared/invoices/a%2f..%2f42.pdf", // encoded slashes
		"s3://shared/invoices\\..\\secret.txt",
		"s3://private/x.pdf",
		"s3://private/missing.pdf",
		"s3://no-such-bucket/x.pdf",
		"s3://Shared/invoices/42.pdf",
	}
	for name, st := range stores {
		t.Run(name, func(t *testing.T) {
			for _, ref := range allowed {
				got, _ := readRef(t, st, ref)
				assert.Equal(t, samplePDF(), got, ref)
			}
			for _, ref := range refused {
				want := fmt.Sprintf("attachment source %q is outside the allowed buckets/prefixes", ref)
				_, _, err := st.Open(ctx, ref)
				require.ErrorIs(t, err, attachstore.ErrOutsideAllowList, ref)
				require.ErrorIs(t, err, attachstore.ErrNotAllowed, ref)
				assert.EqualError(t, err, want)
				_, err = st.Stat(ctx, ref)
				require.ErrorIs(t, err, attachstore.ErrOutsideAllowList, ref)
				assert.EqualError(t, err, want)
				_, err = attachstore.Prepare(ctx, st, ref)
				require.ErrorIs(t, err, attachstore.ErrOutsideAllowList, ref)
				assert.EqualError(t, err, want)
			}
		})
	}
}

// Ensure a file store with no allow-list reads no s3:// reference.
func TestFileStoreRefusesS3ByDefault(t *testing.T) {
	ctx := t.Context()
	f := startFakeS3(t, "shared")
	f.putObject(t, "shared", "x.pdf", samplePDF())
	st, err := attachstore.Open(ctx, t.TempDir(), attachstore.WithS3Client(f.client))
	require.NoError(t, err)
	_, _, err = st.Open(ctx, "s3://shared/x.pdf")
	require.ErrorIs(t, err, attachstore.ErrOutsideAllowList)
	assert.EqualError(t, err, `attachment source "s3://shared/x.pdf" is outside the allowed buckets/prefixes`)
}

func TestS3AllowBadEntries(t *testing.T) {
	for _, entry := range []string{
		"http://bucket/x", "bucket/x", "s3://", "s3://a", "s3://bucket/pre?x=1",
		"s3://bucket/a/../b", "s3://bucket/a//b", "s3://bucket/%2e%2e/b", "s3://bucket/./b",
	} {
		_, err := attachstore.Open(t.Context(), t.TempDir(), attachstore.WithS3Allow("s3://ok-bucket,"+entry))
		require.Error(t, err, entry)
		assert.Contains(t, err.Error(), `ATTACHMENT_S3_ALLOW entry "`+entry+`"`)
	}
}

// Ensure an S3 failure on an allowed object reaches callers as a generic
// "cannot read" error while its detail goes to the log.
func TestS3ReadErrorsAreGeneric(t *testing.T) {
	ctx := t.Context()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("attachments"))
	fake := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "denied") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			if r.Method != http.MethodHead {
				_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>` +
					`<Message>User arn:aws:iam::123456789012:user/spmsg is not authorized</Message><RequestId>R1</RequestId></Error>`))
			}
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	var logBuf testkit.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := attachstore.Open(ctx, "s3://attachments/store", attachstore.WithS3Client(client), attachstore.WithLogger(log))
	require.NoError(t, err)

	for _, ref := range []string{"denied/x.pdf", "s3://attachments/store/denied/y.pdf"} {
		_, _, err := st.Open(ctx, ref)
		require.Error(t, err)
		assert.EqualError(t, err, `cannot read attachment source "`+ref+`"`)
		assert.NotErrorIs(t, err, attachstore.ErrNotFound)
		_, err = st.Stat(ctx, ref)
		assert.EqualError(t, err, `cannot read attachment source "`+ref+`"`)
		_, err = attachstore.Prepare(ctx, st, ref)
		assert.EqualError(t, err, `cannot read attachment source "`+ref+`"`)
	}
	assert.Contains(t, logBuf.String(), "AccessDenied")
	assert.Contains(t, logBuf.String(), "arn:aws:iam::123456789012")
	assert.Contains(t, logBuf.String(), `source=denied/x.pdf`)

	// A missing object in an allowed place is still ErrNotFound, with no S3
	// text in the message.
	_, _, err = st.Open(ctx, "s3://attachments/store/missing.pdf")
	require.ErrorIs(t, err, attachstore.ErrNotFound)
	assert.EqualError(t, err, `attachment source "s3://attachments/store/missing.pdf" not found`)
}
