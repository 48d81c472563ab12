package attachstore

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

// Prepared is an attachment read once from the store and checked, ready
// to be uploaded to Amazon. Its bytes sit in a private temporary file, so
// the upload sends exactly the bytes that were sniffed and hashed, and can
// be retried. Close it when done.
type Prepared struct {
	// Ref is the reference the attachment was read from.
	Ref string
	// MIME is the sniffed type, without parameters, e.g. "application/pdf".
	MIME string
	// Size is the length in bytes.
	Size int64
	// ContentMD5 is the base64 encoding of the raw 16-byte MD5 digest of
	// the content: the value for Amazon's contentMD5 parameter and the
	// upload's Content-MD5 header.
	ContentMD5 string

	file *tempFile
}

// Prepare reads the attachment that ref names from store once, as a
// stream: it stops with ErrTooLarge as soon as MaxFileSize bytes have been
// read, refuses an empty file or a type that Allowed rejects (ErrNotAllowed),
// and otherwise returns the attachment's type, size and Content-MD5 with its
// bytes kept for the upload.
func Prepare(ctx context.Context, store Store, ref string) (*Prepared, error) {
	return prepare(ctx, store, ref, MaxFileSize, func() error {
		return newError(ErrTooLarge, nil,
			"attachment source %q is too large: a file must be under %d bytes", ref, MaxFileSize)
	})
}

// PrepareAll prepares the attachments of one message, in order. It refuses
// more than MaxAttachments of them (ErrNotAllowed) and stops with
// ErrTooLarge as soon as their total reaches MaxTotalSize. On error, the
// attachments already prepared are closed; otherwise the caller closes
// them all (CloseAll).
func PrepareAll(ctx context.Context, store Store, refs []string) ([]*Prepared, error) {
	if len(refs) > MaxAttachments {
		return nil, newError(ErrNotAllowed, nil,
			"%d attachments: Amazon accepts at most %d per message", len(refs), MaxAttachments)
	}
	var total int64
	out := make([]*Prepared, 0, len(refs))
	for _, ref := range refs {
		p, err := prepare(ctx, store, ref, MaxTotalSize-total, func() error {
			return newError(ErrTooLarge, nil,
				"attachment source %q is too large: the attachments of a message must total under %d bytes",
				ref, MaxTotalSize)
		})
		if err != nil {
			_ = CloseAll(out)
			return nil, err
		}
		out = append(out, p)
		total += p.Size
	}
	return out, nil
}

// prepare is Prepare with a byte limit: content of limit bytes or more
// gets the error tooLarge returns.
func prepare(ctx context.Context, store Store, ref string, limit int64, tooLarge func() error) (*Prepared, error) {
	rc, info, err := store.Open(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if info.Size >= limit {
		return nil, tooLarge()
	}
	tmp, err := newTempFile()
	if err != nil {
		return nil, fmt.Errorf("attachment source %q: %w", ref, err)
	}
	p, err := spoolChecked(ctx, tmp, rc, ref, limit)
	if err != nil {
		_ = tmp.Close()
		if errors.Is(err, errLimit) {
			return nil, tooLarge()
		}
		return nil, err
	}
	return p, nil
}

// spoolChecked copies the attachment ref from r into tmp, hashing it, and
// checks its size and type.
func spoolChecked(ctx context.Context, tmp *tempFile, r io.Reader, ref string, limit int64) (*Prepared, error) {
	h := md5.New()
	res, err := copyLimited(ctx, io.MultiWriter(tmp, h), r, limit)
	if errors.Is(err, errLimit) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("attachment source %q: reading: %w", ref, err)
	}
	if res.size == 0 {
		return nil, newError(ErrNotAllowed, nil, "attachment source %q is empty", ref)
	}
	mimeType, ok := SniffBytes(res.head)
	if !ok {
		return nil, newError(ErrNotAllowed, nil,
			"attachment source %q is %s, which Amazon does not accept (allowed: text, PDF, Word, JPEG, GIF, PNG)",
			ref, mimeType)
	}
	return &Prepared{
		Ref:        ref,
		MIME:       mimeType,
		Size:       res.size,
		ContentMD5: base64.StdEncoding.EncodeToString(h.Sum(nil)),
		file:       tmp,
	}, nil
}

// Body returns a new reader of the whole content, independent of any other
// (several may be read at once). It reads from the spooled copy, so it is
// valid until Close.
func (p *Prepared) Body() *io.SectionReader {
	if p.file == nil {
		return io.NewSectionReader(closedFile{}, 0, p.Size)
	}
	return io.NewSectionReader(p.file, 0, p.Size)
}

// closedFile is what Body reads after Close.
type closedFile struct{}

func (closedFile) ReadAt([]byte, int64) (int, error) { return 0, os.ErrClosed }

// NewPutRequest returns a PUT of the content to url, as Amazon's upload
// destination expects: with Content-Length set (never a chunked body),
// Content-Type and Content-MD5 set from p, and GetBody so that the client
// can resend it. Add the headers that createUploadDestinationForResource
// returned (they include the same Content-MD5) before sending.
func (p *Prepared) NewPutRequest(ctx context.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, p.Body())
	if err != nil {
		return nil, err
	}
	req.ContentLength = p.Size
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(p.Body()), nil }
	req.Header.Set("Content-Type", p.MIME)
	req.Header.Set("Content-MD5", p.ContentMD5)
	return req, nil
}

// Close removes the spooled copy. It is safe to call more than once, but
// not at the same time as a read of Body.
func (p *Prepared) Close() error {
	if p == nil || p.file == nil {
		return nil
	}
	err := p.file.Close()
	p.file = nil
	return err
}

// CloseAll closes every attachment in ps and returns the first error.
func CloseAll(ps []*Prepared) error {
	var first error
	for _, p := range ps {
		if err := p.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
