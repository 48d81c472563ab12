package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spmsg/spmsg/attachstore"
)

// AttachmentResolver turns the attachment sources a producer gives into
// store references, at enqueue time: a local file is checked and copied
// into the store; a store path or s3:// reference must exist (and s3://
// ones lie where the store allows). Either way its type must be one Amazon
// allows. Jobs then carry only references, never bytes.
type AttachmentResolver struct {
	Store attachstore.Store
	// BaseDir resolves relative local paths when LocalDir is empty; empty
	// means the working directory.
	BaseDir string
	// LocalFiles allows local files (the CLI); the HTTP API leaves it off,
	// so a remote caller cannot read the server's files.
	LocalFiles bool
	// LocalDir, when set (with LocalFiles), confines local files to that
	// directory, as for the rows of a batch file that may come from
	// anywhere: a local source must be a relative path that stays inside
	// LocalDir, also through symbolic links, and an absolute path or one
	// that climbs out is refused. Empty means any local path (enqueue send:
	// a user at a terminal naming their own files).
	LocalDir string
	// NoLocalHint, when LocalFiles is off, is added to the reason a source
	// is not in the store (say, how to allow local files).
	NoLocalHint string
}

// Resolve checks one attachment and returns it with its store reference.
func (r *AttachmentResolver) Resolve(ctx context.Context, a Attachment) (Attachment, error) {
	src := strings.TrimSpace(a.Source)
	if src == "" {
		return a, fmt.Errorf("source is required")
	}
	local := r.LocalFiles && !strings.HasPrefix(src, "s3://")
	if local {
		ref, name, found, err := r.putLocalSource(ctx, src)
		if err != nil {
			return a, err
		}
		if found {
			a.Source = ref
			if a.FileName == "" {
				a.FileName = name
			}
			return a, nil
		}
	}
	if err := r.checkStored(ctx, src, local); err != nil {
		return a, err
	}
	a.Source = src
	if a.FileName == "" {
		a.FileName = baseName(src)
	}
	return a, nil
}

// putLocalSource copies the local file src into the store, confined to
// LocalDir when that is set. found is false (with a nil error) when there
// is no such file, so that src may still name a store path.
func (r *AttachmentResolver) putLocalSource(ctx context.Context, src string) (ref, name string, found bool, err error) {
	if r.LocalDir != "" {
		return r.putConfined(ctx, src)
	}
	p := src
	if !filepath.IsAbs(p) && r.BaseDir != "" {
		p = filepath.Join(r.BaseDir, p)
	}
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
		return "", "", false, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return "", "", false, err
	}
	defer f.Close()
	ref, err = r.putLocal(ctx, f, p)
	if err != nil {
		return "", "", false, err
	}
	return ref, filepath.Base(p), true, nil
}

// checkStored checks that the store holds src and that it is not empty,
// is under Amazon's size limit and of a type Amazon allows. local says src
// could also have named a local file, which the not-found error mentions.
func (r *AttachmentResolver) checkStored(ctx context.Context, src string, local bool) error {
	rc, info, err := r.Store.Open(ctx, src)
	if err != nil {
		switch {
		case local && r.LocalDir != "":
			return fmt.Errorf("%v (and no such file under %s)", err, r.LocalDir)
		case local:
			return fmt.Errorf("%v (and no such local file)", err)
		case r.NoLocalHint != "" && (errors.Is(err, attachstore.ErrNotFound) || errors.Is(err, attachstore.ErrInvalidRef)):
			return fmt.Errorf("%v; %s", err, r.NoLocalHint)
		}
		return err
	}
	defer rc.Close()
	if info.Size == 0 {
		return fmt.Errorf("attachment %q is empty", src)
	}
	if info.Size >= attachstore.MaxFileSize {
		return fmt.Errorf("attachment %q is %d bytes; Amazon needs under %d", src, info.Size, attachstore.MaxFileSize)
	}
	if mime, ok, err := attachstore.Sniff(rc); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("attachment %q is %s; Amazon allows text, PDF, Word, JPEG, GIF and PNG", src, mime)
	}
	return nil
}

// putConfined copies the local file src, which must lie inside LocalDir,
// into the store. found is false (with a nil error) when there is no such
// file, so that src may still name a store path.
func (r *AttachmentResolver) putConfined(ctx context.Context, src string) (ref, name string, found bool, err error) {
	if filepath.IsAbs(src) {
		return "", "", false, fmt.Errorf("%q is an absolute path; local files must be named relative to %s", src, r.LocalDir)
	}
	if !filepath.IsLocal(src) {
		return "", "", false, fmt.Errorf("%q leads outside %s; local files must lie inside it", src, r.LocalDir)
	}
	root, err := os.OpenRoot(r.LocalDir)
	if err != nil {
		return "", "", false, fmt.Errorf("local files directory: %w", err)
	}
	defer root.Close()
	// Stat first, so that opening a FIFO or a device cannot block.
	fi, err := root.Stat(src)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return "", "", false, nil
	case err != nil && isRootEscape(err):
		return "", "", false, fmt.Errorf("%q leads outside %s through a symbolic link; local files must lie inside it", src, r.LocalDir)
	case err != nil:
		return "", "", false, fmt.Errorf("local file %q: %w", src, err)
	case !fi.Mode().IsRegular():
		return "", "", false, fmt.Errorf("local file %q is not a regular file", src)
	}
	f, err := root.Open(src)
	if err != nil {
		return "", "", false, fmt.Errorf("local file %q: %w", src, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", "", false, fmt.Errorf("local file %q is not a regular file", src)
	}
	ref, err = r.putLocal(ctx, f, src)
	if err != nil {
		return "", "", false, err
	}
	return ref, filepath.Base(src), true, nil
}

// isRootEscape reports os.Root's (unexported) error for a path, or a
// symbolic link on it, that leads outside the root.
func isRootEscape(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent"
}

// putLocal checks the type of the open local file f, named path, and
// copies it into the store.
func (r *AttachmentResolver) putLocal(ctx context.Context, f *os.File, path string) (string, error) {
	mime, ok, err := attachstore.Sniff(f)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if !ok {
		return "", fmt.Errorf("file %s is %s; Amazon allows text, PDF, Word, JPEG, GIF and PNG", path, mime)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	ref, err := r.Store.Put(ctx, filepath.Base(path), f)
	if err != nil {
		return "", fmt.Errorf("copy %s into the attachment store: %w", path, err)
	}
	return ref, nil
}

// ResolveJob resolves every attachment of a job in place, returning one
// FieldError per bad attachment.
func (r *AttachmentResolver) ResolveJob(ctx context.Context, j *Job) []FieldError {
	var ps []FieldError
	for i, a := range j.Attachments {
		res, err := r.Resolve(ctx, a)
		if err != nil {
			ps = append(ps, FieldError{Field: fmt.Sprintf("attachments[%d].source", i), Reason: err.Error()})
			continue
		}
		j.Attachments[i] = res
	}
	return ps
}
