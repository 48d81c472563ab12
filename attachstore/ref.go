package attachstore

import (
	"encoding/hex"
	"path"
	"path/filepath"
	"strings"
)

// s3Location is an object in S3.
type s3Location struct {
	bucket, key string
}

// parseS3Ref recognises an absolute S3 reference, s3://bucket/key. isS3 is
// false, with a nil error, for a reference with no scheme (a path); a
// reference with another scheme, or a malformed s3:// one, is an error.
func parseS3Ref(ref string) (loc s3Location, isS3 bool, err error) {
	if err := checkRef(ref); err != nil {
		return s3Location{}, false, err
	}
	scheme, rest, ok := splitScheme(ref)
	if !ok {
		return s3Location{}, false, nil
	}
	if scheme != "s3" {
		return s3Location{}, false, newError(ErrInvalidRef, nil,
			"attachment source %q: unsupported scheme %q (want a path in the attachment store or s3://bucket/key)", ref, scheme)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if !validBucket(bucket) || key == "" || strings.HasSuffix(key, "/") {
		return s3Location{}, false, newError(ErrInvalidRef, nil,
			"attachment source %q: want s3://bucket/key", ref)
	}
	return s3Location{bucket: bucket, key: key}, true, nil
}

// checkRef rejects references that no backend accepts.
func checkRef(ref string) error {
	if ref == "" {
		return newError(ErrInvalidRef, nil, "attachment source is empty")
	}
	if strings.IndexByte(ref, 0) >= 0 {
		return newError(ErrInvalidRef, nil, "attachment source %q contains a NUL byte", ref)
	}
	return nil
}

// localPath returns the cleaned, slash-separated form of p, the relative
// path that reference ref resolves to, which must stay inside the store and
// name something below its root.
func localPath(ref, p string) (string, error) {
	if !filepath.IsLocal(p) {
		return "", escapes(ref, nil)
	}
	clean := filepath.Clean(p)
	if clean == "." {
		return "", newError(ErrInvalidRef, nil, "attachment source %q names the store itself, not a file", ref)
	}
	return filepath.ToSlash(clean), nil
}

// contentDir is the directory, relative to a store's root, that Put
// writes to.
const contentDir = "sha256"

// contentRef returns the reference under which Put stores content whose
// SHA-256 digest is sum: contentDir/<hex digest><ext of name>.
func contentRef(sum []byte, name string) string {
	return contentDir + "/" + hex.EncodeToString(sum) + cleanExt(name)
}

// cleanExt returns the lower-cased extension of name, or "" when it is
// not a short run of ASCII letters and digits.
func cleanExt(name string) string {
	ext := strings.ToLower(path.Ext(filepath.ToSlash(name)))
	if len(ext) < 2 || len(ext) > 11 {
		return ""
	}
	for _, c := range ext[1:] {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return ""
		}
	}
	return ext
}
