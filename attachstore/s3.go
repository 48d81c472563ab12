package attachstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3Store keeps attachments as objects under a key prefix in one bucket.
type s3Store struct {
	bucket string
	prefix string // no leading or trailing slash; may be empty
	s3     *s3Access
}

// newS3Store returns the store for s3://bucket/prefix, building its client
// now (unless one was given) so that a bad AWS configuration shows at once.
func newS3Store(ctx context.Context, bucket, prefix string, o options) (*s3Store, error) {
	a, err := o.newS3Access(s3Prefix{bucket: bucket, prefix: prefix})
	if err != nil {
		return nil, err
	}
	if _, err := a.get(ctx); err != nil {
		return nil, fmt.Errorf("ATTACHMENT_STORE \"s3://%s/%s\": %w", bucket, prefix, err)
	}
	return &s3Store{bucket: bucket, prefix: prefix, s3: a}, nil
}

// loc resolves a path reference to an object of the store. Absolute paths
// are refused: they name local files, which are not in the store.
func (s *s3Store) loc(ref string) (s3Location, error) {
	if strings.HasPrefix(ref, "/") {
		return s3Location{}, escapes(ref, nil)
	}
	rel, err := localPath(ref, ref)
	if err != nil {
		return s3Location{}, err
	}
	return s3Location{bucket: s.bucket, key: path.Join(s.prefix, rel)}, nil
}

// Open implements Store.
func (s *s3Store) Open(ctx context.Context, ref string) (io.ReadCloser, Info, error) {
	loc, isS3, err := parseS3Ref(ref)
	if err == nil && !isS3 {
		loc, err = s.loc(ref)
	}
	if err != nil {
		return nil, Info{}, err
	}
	return s.s3.open(ctx, ref, loc)
}

// Stat implements Store.
func (s *s3Store) Stat(ctx context.Context, ref string) (Info, error) {
	loc, isS3, err := parseS3Ref(ref)
	if err == nil && !isS3 {
		loc, err = s.loc(ref)
	}
	if err != nil {
		return Info{}, err
	}
	return s.s3.stat(ctx, ref, loc)
}

// Put implements Store. The content is spooled to a temporary file first:
// its digest names the object, and the upload needs a known length.
func (s *s3Store) Put(ctx context.Context, name string, r io.Reader) (string, error) {
	tmp, err := newTempFile()
	if err != nil {
		return "", fmt.Errorf("attachment store: %w", err)
	}
	defer tmp.Close()
	h := sha256.New()
	res, err := copyLimited(ctx, io.MultiWriter(tmp, h), r, MaxFileSize)
	if err != nil {
		return "", putError(name, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", putError(name, err)
	}
	ref := contentRef(h.Sum(nil), name)
	client, err := s.s3.get(ctx)
	if err != nil {
		return "", putError(name, err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(path.Join(s.prefix, ref)),
		Body:          tmp,
		ContentLength: aws.Int64(res.size),
	})
	if err != nil {
		return "", putError(name, err)
	}
	return ref, nil
}

// s3Access reads objects from S3 with a client that is built on first use
// (or given). It is shared by both backends, since any store reads
// s3://bucket/key references, and it is where the allow-list is enforced:
// every read of S3 goes through open or stat.
type s3Access struct {
	mu     sync.Mutex
	client *s3.Client
	allow  []s3Prefix
	log    *slog.Logger
}

// get returns the client, building it from the default AWS configuration
// if there is none yet. A failure is not remembered.
func (a *s3Access) get(ctx context.Context) (*s3.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client == nil {
		c, err := newDefaultS3Client(ctx)
		if err != nil {
			return nil, err
		}
		a.client = c
	}
	return a.client, nil
}

// newDefaultS3Client builds an S3 client from the standard AWS environment
// and files. A custom endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or
// the shared config's endpoint_url) switches to path-style addressing, which
// S3-compatible servers expect. The region defaults to us-east-1.
func newDefaultS3Client(ctx context.Context) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
	}), nil
}

// open streams the object at loc, which reference ref named.
func (a *s3Access) open(ctx context.Context, ref string, loc s3Location) (io.ReadCloser, Info, error) {
	if err := a.allowed(ref, loc); err != nil {
		return nil, Info{}, err
	}
	client, err := a.get(ctx)
	if err != nil {
		return nil, Info{}, a.readError(ctx, ref, err)
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(loc.bucket),
		Key:    aws.String(loc.key),
	})
	if err != nil {
		return nil, Info{}, a.s3Error(ctx, ref, err)
	}
	return out.Body, objectInfo(out.ContentLength, out.LastModified), nil
}

// stat describes the object at loc, which reference ref named.
func (a *s3Access) stat(ctx context.Context, ref string, loc s3Location) (Info, error) {
	if err := a.allowed(ref, loc); err != nil {
		return Info{}, err
	}
	client, err := a.get(ctx)
	if err != nil {
		return Info{}, a.readError(ctx, ref, err)
	}
	out, err := client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(loc.bucket),
		Key:    aws.String(loc.key),
	})
	if err != nil {
		return Info{}, a.s3Error(ctx, ref, err)
	}
	return objectInfo(out.ContentLength, out.LastModified), nil
}

// objectInfo builds Info from an S3 response's fields.
func objectInfo(size *int64, modTime *time.Time) Info {
	info := Info{Size: -1, ModTime: aws.ToTime(modTime)}
	if size != nil {
		info.Size = *size
	}
	return info
}

// s3Error classifies an S3 error about ref, an allowed reference: a
// missing key or bucket is ErrNotFound; anything else is a generic read
// error. The S3 error itself is logged, never returned.
func (a *s3Access) s3Error(ctx context.Context, ref string, err error) error {
	var (
		noKey    *types.NoSuchKey
		noBucket *types.NoSuchBucket
		noObject *types.NotFound
		resp     *awshttp.ResponseError
	)
	switch {
	case errors.As(err, &noKey), errors.As(err, &noBucket), errors.As(err, &noObject),
		errors.As(err, &resp) && resp.HTTPStatusCode() == 404:
		a.log.DebugContext(ctx, "attachment store: S3 object not found", "source", ref, "error", err)
		return notFound(ref, nil)
	default:
		return a.readError(ctx, ref, err)
	}
}
