package attachstore

import (
	"io"
	"mime"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// MIME types that Amazon accepts besides text.
const (
	typePDF  = "application/pdf"
	typeDoc  = "application/msword"
	typeDocx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	typeJPEG = "image/jpeg"
	typeGIF  = "image/gif"
	typePNG  = "image/png"
	typeAPNG = "image/apng"
)

// Sniff reads the first bytes of r (up to 3072, as many as detection
// looks at) and reports their MIME type, without parameters, and whether
// Amazon accepts it as an attachment (see Allowed). The type comes from
// the content only, never from a file name. err is a read error.
func Sniff(r io.Reader) (mimeType string, allowed bool, err error) {
	head, err := io.ReadAll(io.LimitReader(r, sniffLen))
	if err != nil {
		return "", false, err
	}
	mimeType, allowed = SniffBytes(head)
	return mimeType, allowed, nil
}

// SniffBytes is Sniff for content already in memory: head is the start of
// a file, or all of it. An animated PNG is reported as image/png.
func SniffBytes(head []byte) (mimeType string, allowed bool) {
	m := mimetype.Detect(head)
	if m.Is(typeAPNG) {
		return typePNG, true
	}
	mimeType = baseType(m.String())
	return mimeType, Allowed(mimeType)
}

// Allowed reports whether Amazon accepts attachments of the given MIME type
// (parameters are ignored): text files, PDF, Word documents (.doc and
// .docx), JPEG, GIF and PNG images. Text means text/* except types that a
// browser renders or runs, or that embed objects: text/html, text/xml,
// text/javascript and text/rtf. SVG (image/svg+xml), XHTML, JSON, archives,
// executables and everything else are refused.
func Allowed(mimeType string) bool {
	switch t := baseType(mimeType); t {
	case typePDF, typeDoc, typeDocx, typeJPEG, typeGIF, typePNG:
		return true
	case "text/html", "text/xml", "text/javascript", "text/rtf":
		return false
	default:
		return strings.HasPrefix(t, "text/")
	}
}

// baseType returns the lower-cased type/subtype of a MIME type.
func baseType(mimeType string) string {
	if t, _, err := mime.ParseMediaType(mimeType); err == nil {
		return t
	}
	t, _, _ := strings.Cut(mimeType, ";")
	return strings.ToLower(strings.TrimSpace(t))
}
