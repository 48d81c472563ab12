package attachstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// ErrOutsideAllowList means an s3://bucket/key reference names an object
// outside the store's own bucket and prefix and outside every entry of the
// allow-list (WithS3Allow). Such errors also match ErrNotAllowed, and their
// message says nothing about the object, not even whether it exists.
var ErrOutsideAllowList = errors.New("attachment source outside the allowed S3 buckets/prefixes")

// s3Prefix is one place in S3 that s3:// references may read: every key in
// bucket when prefix is empty, else every key below the folder prefix.
type s3Prefix struct {
	bucket string
	prefix string // no leading or trailing slash; may be empty
}

// contains reports whether the object at loc lies in p. The match is on
// path boundaries: s3://b/pre contains s3://b/pre/x but not
// s3://b/prefix-other/x nor s3://b/pre itself.
func (p s3Prefix) contains(loc s3Location) bool {
	if loc.bucket != p.bucket {
		return false
	}
	return p.prefix == "" || strings.HasPrefix(loc.key, p.prefix+"/")
}

// WithS3Allow adds the places that s3://bucket/key references may read
// besides the store's own bucket and prefix. list is the value of the
// ATTACHMENT_S3_ALLOW setting: comma-separated entries of the form
// s3://bucket (the whole bucket) or s3://bucket/prefix (the keys below the
// folder prefix: s3://b/pre allows s3://b/pre/x.pdf but not
// s3://b/prefix-other/x.pdf; a trailing slash changes nothing). Without an
// entry, a file:// store refuses every s3:// reference and an s3:// store
// accepts only its own objects. Open reports a malformed entry.
func WithS3Allow(list string) Option {
	return func(o *options) { o.s3Allow = append(o.s3Allow, list) }
}

// WithLogger sets where the store logs what it keeps out of its errors:
// the S3 error behind a "cannot read attachment source" error. The default
// is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// parseS3Allow parses the lists given to WithS3Allow.
func parseS3Allow(lists []string) ([]s3Prefix, error) {
	var out []s3Prefix
	for _, list := range lists {
		for _, entry := range strings.Split(list, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			p, err := parseAllowEntry(entry)
			if err != nil {
				return nil, fmt.Errorf("ATTACHMENT_S3_ALLOW entry %q: %s", entry, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// parseAllowEntry parses one allow-list entry, s3://bucket[/prefix].
func parseAllowEntry(entry string) (s3Prefix, error) {
	scheme, rest, ok := splitScheme(entry)
	if !ok || scheme != "s3" {
		return s3Prefix{}, errors.New("want s3://bucket or s3://bucket/prefix")
	}
	if strings.ContainsAny(rest, "?#") {
		return s3Prefix{}, errors.New("takes no query or fragment")
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !validBucket(bucket) {
		return s3Prefix{}, errors.New("bad or missing bucket name (want s3://bucket/prefix)")
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" && !cleanKey(prefix) {
		return s3Prefix{}, errors.New(`prefix must not contain empty, "." or ".." segments (also percent-encoded)`)
	}
	return s3Prefix{bucket: bucket, prefix: prefix}, nil
}

// cleanKey reports whether an S3 key (or prefix) has no empty, "." or
// ".." segment, literally or once percent-decoded, and no backslash. S3
// keys are opaque strings, but a proxy or an S3-compatible server might
// normalise such paths, which would move a key out of the prefix it was
// checked against.
func cleanKey(key string) bool {
	if strings.ContainsRune(key, '\\') {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if dec, err := url.PathUnescape(seg); err == nil {
			if dec == "." || dec == ".." || strings.ContainsAny(dec, `/\`) {
				return false
			}
		}
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// allowed returns nil if the reference ref, naming loc, may be read, and
// otherwise an ErrOutsideAllowList error that names only ref.
func (a *s3Access) allowed(ref string, loc s3Location) error {
	if cleanKey(loc.key) {
		for _, p := range a.allow {
			if p.contains(loc) {
				return nil
			}
		}
	}
	return newError(ErrNotAllowed, ErrOutsideAllowList,
		"attachment source %q is outside the allowed buckets/prefixes", ref)
}

// readError is what callers see when S3 could not be read for ref: the
// cause goes to the log, the error names only ref (and keeps a context's
// cancellation, so a caller can tell a shutdown).
func (a *s3Access) readError(ctx context.Context, ref string, cause error) error {
	a.log.WarnContext(ctx, "attachment store: reading from S3 failed", "source", ref, "error", cause)
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(cause, ctxErr) {
		return fmt.Errorf("cannot read attachment source %q: %w", ref, ctxErr)
	}
	return fmt.Errorf("cannot read attachment source %q", ref)
}
