package tasks

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spmsg/spmsg/attachstore"
)

// AttachmentResolver turns the attachment sources a producer gives into
// store references, at enqueue time: a local file is checked and copied
// into the store; a store path or s3:// reference must exist. Either way
// its type must be one Amazon allows. Jobs then carry only references,
// never bytes.
type AttachmentResolver struct {
	Store attachstore.Store
	// BaseDir resolves relative local paths (a batch file's folder); empty
	// means the working directory.
	BaseDir string
	// LocalFiles allows local files (the CLI); the HTTP API leaves it off,
	// so a remote caller cannot read the server's files.
	LocalFiles bool
}

// Resolve checks one attachment and returns it with its store reference.
func (r *AttachmentResolver) Resolve(ctx context.Context, a Attachment) (Attachment, error) {
	src := strings.TrimSpace(a.Source)
	if src == "" {
		return a, fmt.Errorf("source is required")
	}
	if r.LocalFiles && !strings.HasPrefix(src, "s3://") {
		p := src
		if !filepath.IsAbs(p) && r.BaseDir != "" {
			p = filepath.Join(r.BaseDir, p)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			ref, err := r.putLocal(ctx, p)
			if err != nil {
				return a, err
			}
			a.Source = ref
			if a.FileName == "" {
				a.FileName = filepath.Base(p)
			}
			return a, nil
		}
	}
	rc, info, err := r.Store.Open(ctx, src)
	if err != nil {
		if r.LocalFiles {
			return a, fmt.Errorf("%v (and no such local file)", err)
		}
		return a, err
	}
	defer rc.Close()
	if info.Size == 0 {
		return a, fmt.Errorf("attachment %q is empty", src)
	}
	if info.Size >= attachstore.MaxFileSize {
		return a, fmt.Errorf("attachment %q is %d bytes; Amazon needs under %d", src, info.Size, attachstore.MaxFileSize)
	}
	if mime, ok, err := attachstore.Sniff(rc); err != nil {
		return a, err
	} else if !ok {
		return a, fmt.Errorf("attachment %q is %s; Amazon allows text, PDF, Word, JPEG, GIF and PNG", src, mime)
	}
	a.Source = src
	if a.FileName == "" {
		a.FileName = baseName(src)
	}
	return a, nil
}

func (r *AttachmentResolver) putLocal(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
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
