package httpapi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/spmsg/spmsg/attachstore"
)

// sniffBytes is how much of an upload is read to tell its type.
const sniffBytes = 3072

// attachmentAnswer is the answer of POST /v1/attachments: the reference
// to put in a job's attachments[].source.
type attachmentAnswer struct {
	Source string `json:"source"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
}

// postAttachment handles POST /v1/attachments: the raw request body is
// streamed into the attachment store. The file name (from ?name= or
// Content-Disposition) only gives the stored reference its extension. A
// type Amazon does not accept is refused with 415, a file of
// attachstore.MaxFileSize bytes or more with 413.
func (a *API) postAttachment(w http.ResponseWriter, r *http.Request) {
	if !checkUploadContentType(w, r) {
		return
	}
	const limit = attachstore.MaxFileSize
	if r.ContentLength >= limit {
		writeTooLarge(w, "the attachment must be under %d bytes", limit)
		return
	}
	name := uploadName(r)
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, limit)}
	head := make([]byte, sniffBytes)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		writeError(w, http.StatusBadRequest, "reading the request body: %v", err)
		return
	}
	if n == 0 {
		writeError(w, http.StatusBadRequest, "empty body: send the file's bytes as the request body")
		return
	}
	mimeType, ok := attachstore.SniffBytes(head[:n])
	if !ok {
		writeError(w, http.StatusUnsupportedMediaType, "the file is %s; Amazon allows text, PDF, Word (.doc, .docx), JPEG, GIF and PNG", mimeType)
		return
	}
	ref, err := a.cfg.Store.Put(r.Context(), name, io.MultiReader(bytes.NewReader(head[:n]), body))
	var mb *http.MaxBytesError
	switch {
	case errors.Is(err, attachstore.ErrTooLarge) || errors.As(err, &mb):
		writeTooLarge(w, "the attachment must be under %d bytes", limit)
		return
	case err != nil:
		a.unavailable(w, r, "storing the attachment", err)
		return
	}
	writeJSON(w, http.StatusCreated, attachmentAnswer{Source: ref, Type: mimeType, Size: body.n})
}

// simpleContentTypes are the Content-Types a web page can send cross-site
// without a CORS preflight (the Fetch standard's CORS-safelisted ones).
var simpleContentTypes = map[string]bool{
	"application/x-www-form-urlencoded": true,
	"multipart/form-data":               true,
	"text/plain":                        true,
}

// checkUploadContentType answers 415 (and returns false) unless the upload
// has exactly one well-formed Content-Type that a web page could not send
// cross-site without a preflight, so that without tokens (loopback) a
// page the user visits cannot store files. The type itself is not
// trusted: the content is sniffed.
func checkUploadContentType(w http.ResponseWriter, r *http.Request) bool {
	cts := r.Header.Values("Content-Type")
	const want = "send the file's bytes with Content-Type: application/octet-stream or the file's own type (e.g. application/pdf)"
	switch {
	case len(cts) == 0:
		writeError(w, http.StatusUnsupportedMediaType, "no Content-Type: %s", want)
		return false
	case len(cts) > 1:
		writeError(w, http.StatusUnsupportedMediaType, "%d Content-Type headers: %s", len(cts), want)
		return false
	}
	ct := cts[0]
	essence, _, _ := strings.Cut(ct, ";")
	if simpleContentTypes[strings.ToLower(strings.TrimSpace(essence))] {
		writeError(w, http.StatusUnsupportedMediaType,
			"Content-Type %q is refused: any web page can send it cross-site (forms, text/plain); %s", ct, want)
		return false
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type %q is malformed: %s", ct, want)
		return false
	}
	return true
}

// uploadName is the upload's file name: ?name=, else the filename of a
// Content-Disposition header, as a base name.
func uploadName(r *http.Request) string {
	name := r.URL.Query().Get("name")
	if name == "" {
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
			name = params["filename"]
		}
	}
	if name == "" {
		return ""
	}
	return path.Base(strings.ReplaceAll(name, `\`, "/"))
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
