package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"unicode/utf8"

	"github.com/spmsg/spmsg/spapi"
)

// sendBody is the union of the send operations' bodies.
type sendBody struct {
	Text        *string `json:"text"`
	Attachments []struct {
		UploadDestinationID string `json:"uploadDestinationId"`
		FileName            string `json:"fileName"`
	} `json:"attachments"`
	CoverageStartDate string `json:"coverageStartDate"`
	CoverageEndDate   string `json:"coverageEndDate"`
}

// contentRules are the messaging policy checks on text.
type contentRules struct {
	html, email *regexp.Regexp
}

func newContentRules() contentRules {
	return contentRules{
		html:  regexp.MustCompile(`<\s*/?\s*[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?\s*>`),
		email: regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`),
	}
}

// rejection is a 400 InvalidInput for a send's content.
type rejection struct{ msg, details string }

// send handles a Messaging send operation: availability (403), content
// rules and attachments (400), then records the message and answers 201
// {} (or drops the answer, per Faults.Lost, or answers 500 per the
// send-then-500 fault).
func (s *Sandbox) send(k *call, t *spapi.MessageType) {
	c := s.counters()
	orderID := k.route.PathParams["amazonOrderId"]
	ss := k.seller
	ss.mu.Lock()
	a, ok := s.orderLocked(ss, orderID).available(t.Name)
	ss.mu.Unlock()
	if !ok || a.disabled {
		c.unavailable.Add(1)
		k.fail(http.StatusForbidden, "Unauthorized", "Invalid amazonOrderId and template combination.", "")
		return
	}
	var body sendBody
	if len(t.Fields) > 0 {
		raw, err := io.ReadAll(k.r.Body)
		if err == nil {
			err = json.Unmarshal(raw, &body)
		}
		if err != nil { // the model check has passed, so this is unexpected
			c.violations.Add(1)
			k.fail(http.StatusBadRequest, "InvalidInput", "The request body is not valid JSON.", "")
			return
		}
	}
	msg := SentMessage{
		Seller: ss.id, Marketplace: k.marketplace, Order: orderID, Type: t.Name, Operation: t.OperationID,
		CoverageStart: body.CoverageStartDate, CoverageEnd: body.CoverageEndDate,
		RequestID: k.reqID, Time: k.now,
	}
	if body.Text != nil {
		msg.Text = *body.Text
	}
	rej := s.content.checkText(t, body.Text)
	if rej == nil {
		msg.Attachments, rej = s.checkAttachments(ss.id, orderID, t, body)
	}
	if rej != nil {
		c.rejected.Add(1)
		k.fail(http.StatusBadRequest, "InvalidInput", rej.msg, rej.details)
		return
	}
	ss.mu.Lock()
	o := s.orderLocked(ss, orderID)
	if a, ok := o.available(t.Name); !ok || a.disabled { // lost a race with a twin send
		ss.mu.Unlock()
		c.unavailable.Add(1)
		k.fail(http.StatusForbidden, "Unauthorized", "Invalid amazonOrderId and template combination.", "")
		return
	}
	f := s.recordLocked(ss, &msg, t.OncePerOrder)
	ss.mu.Unlock()
	s.answerSend(k, f)
}

// sendFault is what happens to the answer of a recorded send.
type sendFault int

const (
	faultNone    sendFault = iota // 201 {}
	faultLost                     // connection closed, no answer
	faultThen500                  // 500 InternalFailure
)

// recordLocked records msg as sent (giving it its Seq), uses up its type
// for the order when once is set, and decides the answer's fault: a
// SendThen500 rule, else the Lost draw, else the SendThen500 draw. The
// caller holds ss.mu.
func (s *Sandbox) recordLocked(ss *sellerState, msg *SentMessage, once bool) sendFault {
	f := s.ruleFault(ss.id, msg.Order)
	if f == faultNone && s.p.Faults.Lost > 0 && s.lost.float() < s.p.Faults.Lost {
		f = faultLost
	}
	if f == faultNone && s.p.Faults.SendThen500 > 0 && s.then500.float() < s.p.Faults.SendThen500 {
		f = faultThen500
	}
	msg.Lost = f == faultLost
	msg.Answered500 = f == faultThen500
	if once {
		o := s.orderLocked(ss, msg.Order)
		if o.done == nil {
			o.done = map[string]bool{}
		}
		o.done[msg.Type] = true
	}
	msg.Seq = s.seq.Add(1)
	ss.sent = append(ss.sent, *msg)
	return f
}

// answerSend answers a recorded send: 201 {}, no answer at all, or 500.
func (s *Sandbox) answerSend(k *call, f sendFault) {
	c := s.counters()
	c.sent.Add(1)
	switch f {
	case faultLost:
		c.lost.Add(1)
		dropConnection(k.w)
	case faultThen500:
		c.sendThen500.Add(1)
		k.fail(http.StatusInternalServerError, "InternalFailure", "We encountered an internal error. Please try again.")
	default:
		k.ok(http.StatusCreated, []byte("{}"))
	}
}

// checkText applies the type's text length (in code points) and the
// no-HTML / no-e-mail policy.
func (cr contentRules) checkText(t *spapi.MessageType, text *string) *rejection {
	if !t.Has(spapi.FieldText) {
		return nil
	}
	s := ""
	if text != nil {
		s = *text
	}
	if n := utf8.RuneCountInString(s); n < t.TextMin || n > t.TextMax {
		return &rejection{
			fmt.Sprintf("text must be %d to %d characters long; it has %d", t.TextMin, t.TextMax, n),
			"Text length is counted in Unicode code points.",
		}
	}
	if cr.html.MatchString(s) {
		return &rejection{"text must not contain HTML", "HTML tags are not allowed in buyer messages."}
	}
	if cr.email.MatchString(s) {
		return &rejection{"text must not contain email addresses", "Email addresses are not allowed in buyer messages."}
	}
	return nil
}

// checkAttachments resolves the attachments: each must be an upload of
// this seller whose PUT succeeded, created for this order and message
// type, and together they must be under MaxAttachmentBytes.
func (s *Sandbox) checkAttachments(seller, orderID string, t *spapi.MessageType, body sendBody) ([]SentAttachment, *rejection) {
	if !t.Has(spapi.FieldAttachments) {
		return nil, nil
	}
	if n := len(body.Attachments); n < t.AttachMin || n > t.AttachMax {
		return nil, &rejection{fmt.Sprintf("attachments must have %d to %d items; it has %d", t.AttachMin, t.AttachMax, n), ""}
	}
	want := t.UploadResource(orderID)
	var out []SentAttachment
	var total int64
	for _, a := range body.Attachments {
		missing := "Attachment with ID " + a.UploadDestinationID + " does not exist"
		u, ok := s.uploadFor(seller, a.UploadDestinationID)
		switch {
		case !ok:
			return nil, &rejection{missing, "No upload destination with this id was created for this seller."}
		case !u.done:
			return nil, &rejection{missing, "Nothing was uploaded to this destination (a PUT with a matching Content-MD5 is required)."}
		case u.resource != want:
			return nil, &rejection{missing, "The upload destination was created for resource " + u.resource + ", not " + want + "."}
		}
		total += u.size
		out = append(out, SentAttachment{UploadDestinationID: u.id, FileName: a.FileName, Size: u.size, MD5: u.md5, MIME: u.mime})
	}
	if total >= MaxAttachmentBytes {
		return nil, &rejection{fmt.Sprintf("the total size of the attachments must be less than 10 MB; it is %d bytes", total), ""}
	}
	return out, nil
}

// dropConnection closes the client connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2 or a wrapped writer: abort the stream
}
