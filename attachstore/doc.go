// Package attachstore reads and writes the bytes of message attachments.
//
// A message job never carries file contents: it carries a reference (the
// job's attachment "source") into an attachment store, configured with the
// ATTACHMENT_STORE environment variable. Open turns that setting into a
// Store:
//
//	file:///abs/dir      a directory on local disk
//	file://./rel/dir     a directory relative to the working directory
//	/abs/dir, rel/dir    the same, written as a plain path
//	s3://bucket/prefix   objects under prefix in an S3 (or S3-compatible) bucket
//	""                   DefaultURL
//
// The S3 backend uses the standard AWS configuration (AWS_REGION,
// AWS_ACCESS_KEY_ID, AWS_PROFILE, ...); AWS_ENDPOINT_URL_S3 points it at an
// S3-compatible server, and then path-style addressing is used.
//
// A reference is either a slash-separated path inside the store (it may not
// climb out of it with ".." or name an absolute path outside it) or an
// absolute S3 reference, s3://bucket/key, which is read from S3 whatever the
// store's own backend is, but only inside the store's own bucket and prefix
// (an s3:// store) or an entry of the allow-list (WithS3Allow, the
// ATTACHMENT_S3_ALLOW setting). Prefixes match on path boundaries, and a key
// with an empty, "." or ".." segment (also percent-encoded) matches none.
// Any other s3:// reference is refused with ErrOutsideAllowList, whether or
// not the object exists, and a failure to read an allowed object is
// reported only as "cannot read attachment source": S3's own error goes to
// the log (WithLogger), never to the caller.
//
// Before an attachment is uploaded to Amazon, Prepare reads it once as a
// stream, enforcing the size limit as it goes, sniffs its real type from
// its first bytes (Sniff), computes its Content-MD5 and spools it to a
// private temporary file from which the upload is sent.
package attachstore

// Amazon's limits for the attachments of one message.
const (
	// MaxAttachments is the largest number of attachments in one message.
	MaxAttachments = 5
	// MaxTotalSize is Amazon's limit on the total size of one message's
	// attachments, in bytes: the total must be strictly less than it.
	MaxTotalSize = 10 * 1024 * 1024
	// MaxFileSize caps one attachment, in bytes: a file must be strictly
	// smaller. A single file can never be larger than the total allowed.
	MaxFileSize = MaxTotalSize
)
