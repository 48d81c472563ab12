package attachstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// fileStore keeps attachments in a directory. Every access goes through
// os.Root, so neither ".." nor a symbolic link can reach outside it.
type fileStore struct {
	dir string // absolute and clean
	s3  *s3Access
}

// newFileStore returns the store for directory dir, taken from rawURL.
// The directory need not exist yet: Put creates it.
func newFileStore(rawURL, dir string, o options) (*fileStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, configError(rawURL, "directory: %v", err)
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return nil, configError(rawURL, "%s is not a directory", abs)
	}
	a, err := o.newS3Access()
	if err != nil {
		return nil, err
	}
	return &fileStore{dir: abs, s3: a}, nil
}

// rel resolves a path reference to a slash-separated path below the root.
// An absolute path is accepted when it lies inside the root.
func (s *fileStore) rel(ref string) (string, error) {
	if !filepath.IsAbs(ref) {
		return localPath(ref, ref)
	}
	rel, err := filepath.Rel(s.dir, filepath.Clean(ref))
	if err != nil {
		return "", escapes(ref, nil)
	}
	return localPath(ref, rel)
}

// Open implements Store.
func (s *fileStore) Open(ctx context.Context, ref string) (io.ReadCloser, Info, error) {
	if loc, isS3, err := parseS3Ref(ref); err != nil || isS3 {
		if err != nil {
			return nil, Info{}, err
		}
		return s.s3.open(ctx, ref, loc)
	}
	rel, err := s.rel(ref)
	if err != nil {
		return nil, Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, err
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, Info{}, fsError(ref, err)
	}
	defer root.Close()
	// Stat first, so that opening a FIFO or a device cannot block.
	fi, err := root.Stat(rel)
	if _, err := regular(ref, fi, err); err != nil {
		return nil, Info{}, err
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, Info{}, fsError(ref, err)
	}
	fi, err = f.Stat()
	info, err := regular(ref, fi, err)
	if err != nil {
		f.Close()
		return nil, Info{}, err
	}
	return f, info, nil
}

// Stat implements Store.
func (s *fileStore) Stat(ctx context.Context, ref string) (Info, error) {
	if loc, isS3, err := parseS3Ref(ref); err != nil || isS3 {
		if err != nil {
			return Info{}, err
		}
		return s.s3.stat(ctx, ref, loc)
	}
	rel, err := s.rel(ref)
	if err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return Info{}, fsError(ref, err)
	}
	defer root.Close()
	fi, err := root.Stat(rel)
	return regular(ref, fi, err)
}

// Put implements Store. The content is written to a temporary file in the
// store and renamed into place, so a reference never names a partial file.
func (s *fileStore) Put(ctx context.Context, name string, r io.Reader) (string, error) {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return "", fmt.Errorf("attachment store: %w", err)
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return "", fmt.Errorf("attachment store: %w", err)
	}
	defer root.Close()
	if err := root.MkdirAll(contentDir, 0o750); err != nil {
		return "", fmt.Errorf("attachment store: %w", err)
	}
	tmp := contentDir + "/.tmp-" + rand.Text()
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", fmt.Errorf("attachment store: %w", err)
	}
	h := sha256.New()
	_, err = copyLimited(ctx, io.MultiWriter(f, h), r, MaxFileSize)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		_ = root.Remove(tmp)
		return "", putError(name, err)
	}
	ref := contentRef(h.Sum(nil), name)
	if err := root.Rename(tmp, ref); err != nil {
		_ = root.Remove(tmp)
		return "", fmt.Errorf("attachment store: %w", err)
	}
	return ref, nil
}

// regular turns the result of a stat into Info, refusing anything but a
// regular file.
func regular(ref string, fi fs.FileInfo, err error) (Info, error) {
	if err != nil {
		return Info{}, fsError(ref, err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, newError(ErrInvalidRef, nil, "attachment source %q is not a regular file", ref)
	}
	return Info{Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// fsError classifies a file system error about ref.
func fsError(ref string, err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return notFound(ref, err)
	case errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent":
		// os.Root's (unexported) error for a symbolic link that leads
		// outside the root.
		return escapes(ref, err)
	default:
		return fmt.Errorf("attachment source %q: %w", ref, err)
	}
}
