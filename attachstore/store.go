package attachstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// DefaultURL is the store used when ATTACHMENT_STORE is empty: the
// directory "attachments" under the working directory.
const DefaultURL = "file://./attachments"

// Store holds attachment bytes. Implementations are safe for concurrent use.
type Store interface {
	// Open streams the attachment that ref names. The caller closes the
	// reader. Info.Size is the size the backend reports, or -1 if unknown.
	Open(ctx context.Context, ref string) (io.ReadCloser, Info, error)
	// Put stores the bytes read from r and returns the reference to put in
	// a job. Storage is content-addressed: the reference is
	// "sha256/<hex digest><ext>", where ext is the lower-cased extension
	// of name (name is used for nothing else), so storing the same bytes
	// twice gives the same reference and a stored reference never changes
	// meaning. Content of MaxFileSize bytes or more is refused.
	Put(ctx context.Context, name string, r io.Reader) (ref string, err error)
	// Stat reports on the attachment that ref names without reading it.
	Stat(ctx context.Context, ref string) (Info, error)
}

// Info describes a stored attachment.
type Info struct {
	// Size is the length in bytes, or -1 if the backend did not say.
	Size int64
	// ModTime is when the attachment was last written, if known.
	ModTime time.Time
}

// Option configures Open.
type Option func(*options)

type options struct {
	s3Client *s3.Client
	s3Allow  []string
	logger   *slog.Logger
}

// newS3Access returns the S3 reader for a store, allowed to read the
// prefixes of the allow-list and own (the store's own objects, if any).
func (o *options) newS3Access(own ...s3Prefix) (*s3Access, error) {
	allow, err := parseS3Allow(o.s3Allow)
	if err != nil {
		return nil, err
	}
	log := o.logger
	if log == nil {
		log = slog.Default()
	}
	return &s3Access{client: o.s3Client, allow: append(own, allow...), log: log}, nil
}

// WithS3Client makes the store use c for every S3 access (an s3:// store and
// s3://bucket/key references) instead of a client built from the default
// AWS configuration.
func WithS3Client(c *s3.Client) Option {
	return func(o *options) { o.s3Client = c }
}

// Open returns the Store that rawURL (the value of ATTACHMENT_STORE)
// describes; see the package documentation for the accepted forms. An S3
// client is built from the default AWS configuration when the store is on
// S3, and otherwise only when an s3:// reference is first read. s3://
// references are read only inside the store's own bucket and prefix and
// the places WithS3Allow adds.
func Open(ctx context.Context, rawURL string, opts ...Option) (Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if rawURL == "" {
		rawURL = DefaultURL
	}
	scheme, rest, ok := splitScheme(rawURL)
	switch {
	case !ok:
		return newFileStore(rawURL, rawURL, o)
	case scheme == "file":
		dir, err := fileURLPath(rawURL, rest)
		if err != nil {
			return nil, err
		}
		return newFileStore(rawURL, dir, o)
	case scheme == "s3":
		bucket, prefix, err := s3URL(rawURL, rest)
		if err != nil {
			return nil, err
		}
		return newS3Store(ctx, bucket, prefix, o)
	default:
		return nil, configError(rawURL, "unsupported scheme %q (want file:// or s3://)", scheme)
	}
}

// configError reports a bad ATTACHMENT_STORE value.
func configError(rawURL, format string, args ...any) error {
	return fmt.Errorf("ATTACHMENT_STORE %q: %s", redact(rawURL), fmt.Sprintf(format, args...))
}

// redact hides the password of a URL that has one.
func redact(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		return u.Redacted()
	}
	return rawURL
}

// splitScheme splits "scheme://rest". ok is false when s has no scheme.
func splitScheme(s string) (scheme, rest string, ok bool) {
	scheme, rest, ok = strings.Cut(s, "://")
	if !ok || scheme == "" {
		return "", s, false
	}
	for i, c := range scheme {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		other := '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
		if !letter && (i == 0 || !other) {
			return "", s, false
		}
	}
	return strings.ToLower(scheme), rest, true
}

// fileURLPath returns the directory of a file:// URL whose part after the
// scheme is rest: "/abs", "localhost/abs", or a relative path such as
// "./rel". Percent-escapes are decoded.
func fileURLPath(rawURL, rest string) (string, error) {
	if strings.ContainsAny(rest, "?#") {
		return "", configError(rawURL, "a file:// URL takes no query or fragment")
	}
	if after, ok := strings.CutPrefix(rest, "localhost/"); ok {
		rest = "/" + after
	}
	dir, err := url.PathUnescape(rest)
	if err != nil {
		return "", configError(rawURL, "bad escape in path: %v", err)
	}
	if dir == "" {
		return "", configError(rawURL, "no directory (want file:///abs/dir or file://./rel/dir)")
	}
	return filepath.FromSlash(dir), nil
}

// s3URL returns the bucket and key prefix of an s3:// store URL whose part
// after the scheme is rest.
func s3URL(rawURL, rest string) (bucket, prefix string, err error) {
	if strings.ContainsAny(rest, "?#") {
		return "", "", configError(rawURL, "an s3:// URL takes no query or fragment")
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !validBucket(bucket) {
		return "", "", configError(rawURL, "bad or missing bucket name (want s3://bucket/prefix)")
	}
	prefix = strings.Trim(prefix, "/")
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "." || seg == ".." || (seg == "" && prefix != "") {
			return "", "", configError(rawURL, "prefix must not contain empty, \".\" or \"..\" segments")
		}
	}
	return bucket, prefix, nil
}

// validBucket reports whether name could be an S3 bucket name: 3 to 63
// lower-case letters, digits, dots and hyphens (underscores and capitals
// are tolerated for S3-compatible servers), starting and ending with a
// letter or digit.
func validBucket(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i, c := range name {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if alnum {
			continue
		}
		if i == 0 || i == len(name)-1 || (c != '.' && c != '-' && c != '_') {
			return false
		}
	}
	return true
}
