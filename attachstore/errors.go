package attachstore

import (
	"errors"
	"fmt"
)

// Error kinds. Every error this package returns about a particular
// attachment names its reference, and those caused by the reference or the
// content (not by the network or the disk) match one of these with
// errors.Is, so a caller can tell a permanent failure from a retryable one.
var (
	// ErrNotFound means the referenced attachment does not exist.
	ErrNotFound = errors.New("attachment not found")
	// ErrInvalidRef means the reference is malformed or points outside the
	// store.
	ErrInvalidRef = errors.New("invalid attachment source")
	// ErrTooLarge means an attachment, or the attachments of one message
	// together, reach Amazon's size limit.
	ErrTooLarge = errors.New("attachment too large")
	// ErrNotAllowed means Amazon does not accept the attachment: its type
	// is not one of the allowed ones, it is empty, or there are too many.
	ErrNotAllowed = errors.New("attachment not allowed")
)

// kindError carries a complete message and matches its kind (one of the Err
// values above) and, when set, the underlying cause.
type kindError struct {
	kind  error
	cause error
	msg   string
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// newError returns an error of the given kind with a formatted message.
func newError(kind, cause error, format string, args ...any) error {
	return &kindError{kind: kind, cause: cause, msg: fmt.Sprintf(format, args...)}
}

// notFound returns the ErrNotFound error for ref.
func notFound(ref string, cause error) error {
	return newError(ErrNotFound, cause, "attachment source %q not found", ref)
}

// escapes returns the ErrInvalidRef error for a ref outside the store.
func escapes(ref string, cause error) error {
	return newError(ErrInvalidRef, cause, "attachment source %q escapes the store", ref)
}

// putError classifies a failure to store the attachment called name.
func putError(name string, err error) error {
	if errors.Is(err, errLimit) {
		return newError(ErrTooLarge, nil,
			"attachment %q is too large: a file must be under %d bytes", name, MaxFileSize)
	}
	return fmt.Errorf("attachment store: storing %q: %w", name, err)
}
