package attachstore

import (
	"context"
	"errors"
	"io"
	"os"
)

// sniffLen is how many leading bytes are kept for type detection; it is
// the read limit that mimetype uses by default.
const sniffLen = 3072

// errLimit reports that a copy reached its byte limit.
var errLimit = errors.New("size limit reached")

// copyResult is what a bounded copy saw.
type copyResult struct {
	size int64
	head []byte // the first sniffLen bytes, or fewer
}

// copyLimited copies r to w, stopping with errLimit once limit bytes have
// been read (the content is then not strictly smaller than limit), and
// with ctx's error once ctx is done.
func copyLimited(ctx context.Context, w io.Writer, r io.Reader, limit int64) (copyResult, error) {
	head := &headWriter{}
	n, err := io.Copy(io.MultiWriter(w, head), io.LimitReader(ctxReader{ctx, r}, limit))
	res := copyResult{size: n, head: head.buf}
	if err != nil {
		return res, err
	}
	if n >= limit {
		return res, errLimit
	}
	return res, nil
}

// headWriter keeps the first sniffLen bytes written to it.
type headWriter struct{ buf []byte }

func (h *headWriter) Write(p []byte) (int, error) {
	if room := sniffLen - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// ctxReader fails reads once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// tempFile is a private scratch file. Where the system allows it (Unix) it
// is unlinked as soon as it is created, so it vanishes with the process
// even if Close is never called.
type tempFile struct {
	*os.File
	path string // still to be removed on Close, when early unlinking failed
}

// newTempFile creates a tempFile in the system's temporary directory.
func newTempFile() (*tempFile, error) {
	f, err := os.CreateTemp("", "spmsg-attachment-*")
	if err != nil {
		return nil, err
	}
	t := &tempFile{File: f}
	if err := os.Remove(f.Name()); err != nil {
		t.path = f.Name()
	}
	return t, nil
}

// Close closes and removes the file.
func (t *tempFile) Close() error {
	err := t.File.Close()
	if t.path != "" {
		if rmErr := os.Remove(t.path); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	return err
}
