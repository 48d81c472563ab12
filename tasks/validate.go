package tasks

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/spmsg/spmsg/spapi"
)

// FieldError is one problem with a job, naming the field.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`

	unknownSeller bool // the seller is not in the sellers file
	unknownType   bool // the type is not in this worker's type table
}

func (e FieldError) Error() string { return e.Field + ": " + e.Reason }

// ValidationError lists every problem found in a job.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return "invalid job: " + strings.Join(parts, "; ")
}

// SellerDirectory tells validation which sellers exist and their region.
type SellerDirectory interface {
	SellerRegion(id string) (spapi.Region, bool)
}

// AttachmentChecker reports whether an attachment source exists and is
// allowed; nil skips the check (the worker checks the bytes anyway).
type AttachmentChecker func(source string) error

// Validation holds what job validation needs beyond the job itself. The
// producer (enqueue, the HTTP API) and the worker run the same checks.
type Validation struct {
	Sellers SellerDirectory
	// CheckAttachment, when set, is called for each attachment source.
	CheckAttachment AttachmentChecker
}

var orderIDRE = regexp.MustCompile(`^\d{3}-\d{7}-\d{7}$`)

// MaxIdempotencyKey bounds idempotency keys (as Stripe does).
const MaxIdempotencyKey = 255

// Validate checks a job against PRODUCT.md's rules and the message-type
// table: required fields, seller known, marketplace in the seller's region,
// order id 3-7-7, type known, fields the type takes, text length in code
// points, content policy, attachment count and names, warranty dates, and
// dates that make sense. It returns nil or a *ValidationError listing every
// problem.
func (v Validation) Validate(j *Job) error {
	var ps []FieldError
	add := func(field, format string, a ...any) {
		ps = append(ps, FieldError{Field: field, Reason: fmt.Sprintf(format, a...)})
	}
	ps = append(ps, v.checkIDs(j)...)
	if nb, dl := j.EffectiveNotBefore(), j.EffectiveDeadline(); nb != nil && dl != nil && !dl.After(*nb) {
		switch {
		case j.Deadline != nil:
			add("deadline", "must be after not_before (or the opening of the review window)")
		default:
			add("not_before", "must be before the close of the review window (30 days after delivery)")
		}
	}
	if j.Type == "" {
		add("type", "is required")
		return finish(ps)
	}
	t, ok := lookupType(j.Type)
	if !ok {
		ps = append(ps, FieldError{Field: "type", Reason: fmt.Sprintf("unknown message type %q (known: %s)", j.Type, strings.Join(spapi.TypeNames(), ", ")), unknownType: true})
		return finish(ps)
	}
	ps = append(ps, checkContent(t, j)...)
	ps = append(ps, checkDelivery(t, j)...)
	ps = append(ps, v.checkAttachments(j)...)
	return finish(ps)
}

// checkIDs checks the seller (known, and the marketplace in its region),
// the marketplace, the order id and the idempotency key's length.
func (v Validation) checkIDs(j *Job) []FieldError {
	var ps []FieldError
	add := func(field, format string, a ...any) {
		ps = append(ps, FieldError{Field: field, Reason: fmt.Sprintf(format, a...)})
	}
	if j.SellerID == "" {
		add("seller_id", "is required")
	} else if v.Sellers != nil {
		region, ok := v.Sellers.SellerRegion(j.SellerID)
		if !ok {
			ps = append(ps, FieldError{Field: "seller_id", Reason: fmt.Sprintf("seller %q is not in the sellers file", j.SellerID), unknownSeller: true})
		} else if j.MarketplaceID != "" {
			if err := spapi.CheckMarketplace(region, j.MarketplaceID); err != nil {
				add("marketplace_id", "%v", err)
			}
		}
	}
	if j.MarketplaceID == "" {
		add("marketplace_id", "is required")
	} else if _, ok := spapi.LookupMarketplace(j.MarketplaceID); !ok && v.Sellers == nil {
		add("marketplace_id", "unknown marketplace id %q", j.MarketplaceID)
	}
	if j.OrderID == "" {
		add("order_id", "is required")
	} else if !orderIDRE.MatchString(j.OrderID) {
		add("order_id", "%q is not an Amazon order id (3-7-7 digits, e.g. 112-1234567-1234567)", j.OrderID)
	}
	if len(j.IdempotencyKey) > MaxIdempotencyKey {
		add("idempotency_key", "is longer than %d characters", MaxIdempotencyKey)
	}
	return ps
}

// checkAttachments checks each attachment's source and file name, and
// calls CheckAttachment, when set, on each source.
func (v Validation) checkAttachments(j *Job) []FieldError {
	var ps []FieldError
	add := func(field, format string, a ...any) {
		ps = append(ps, FieldError{Field: field, Reason: fmt.Sprintf(format, a...)})
	}
	for i, a := range j.Attachments {
		f := fmt.Sprintf("attachments[%d]", i)
		if a.Source == "" {
			add(f+".source", "is required")
		}
		if strings.TrimSpace(a.FileName) == "" {
			add(f+".file_name", "is required")
		} else if strings.ContainsAny(a.FileName, "/\\") {
			add(f+".file_name", "must be a bare file name, not a path")
		}
		if a.Source != "" && v.CheckAttachment != nil {
			if err := v.CheckAttachment(a.Source); err != nil {
				add(f+".source", "%v", err)
			}
		}
	}
	return ps
}

func finish(ps []FieldError) error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// checkContent applies the type table's field rules and the content policy.
func checkContent(t spapi.MessageType, j *Job) []FieldError {
	var ps []FieldError
	add := func(field, format string, a ...any) {
		ps = append(ps, FieldError{Field: field, Reason: fmt.Sprintf(format, a...)})
	}
	if t.Has(spapi.FieldText) {
		n := utf8.RuneCountInString(j.Text)
		switch {
		case n < t.TextMin:
			add("text", "is required for %s", t.Name)
		case n > t.TextMax:
			add("text", "is %d characters; %s allows at most %d", n, t.Name, t.TextMax)
		}
		if !utf8.ValidString(j.Text) {
			add("text", "is not valid UTF-8")
		}
		for _, p := range PolicyViolations(j.Text) {
			add("text", "%s", p)
		}
	} else if j.Text != "" {
		add("text", "%s takes no text", t.Name)
	}
	if t.Has(spapi.FieldAttachments) {
		n := len(j.Attachments)
		if n < t.AttachMin {
			add("attachments", "%s needs at least %d attachment(s)", t.Name, t.AttachMin)
		}
		if n > t.AttachMax {
			add("attachments", "%d attachments; %s allows at most %d", n, t.Name, t.AttachMax)
		}
	} else if len(j.Attachments) > 0 {
		add("attachments", "%s takes no attachments", t.Name)
	}
	if !t.Has(spapi.FieldCoverageStartDate) && j.CoverageStart != nil {
		add("coverage_start", "only warranty takes coverage dates")
	}
	if !t.Has(spapi.FieldCoverageEndDate) && j.CoverageEnd != nil {
		add("coverage_end", "only warranty takes coverage dates")
	}
	if j.CoverageStart != nil && j.CoverageEnd != nil && j.CoverageEnd.Before(*j.CoverageStart) {
		add("coverage_end", "is before coverage_start")
	}
	return ps
}

// checkDelivery checks the delivery fields: review requests only, either
// delivered_at or both delivery_start and delivery_end, in order.
func checkDelivery(t spapi.MessageType, j *Job) []FieldError {
	var ps []FieldError
	add := func(field, reason string) { ps = append(ps, FieldError{Field: field, Reason: reason}) }
	if j.DeliveredAt == nil && j.DeliveryStart == nil && j.DeliveryEnd == nil {
		return nil
	}
	if t.API != spapi.APISolicitations {
		for _, f := range []struct {
			name string
			set  bool
		}{{"delivered_at", j.DeliveredAt != nil}, {"delivery_start", j.DeliveryStart != nil}, {"delivery_end", j.DeliveryEnd != nil}} {
			if f.set {
				add(f.name, "only review requests ("+spapi.ReviewRequestType+") take delivery dates")
			}
		}
		return ps
	}
	switch {
	case j.DeliveredAt != nil && (j.DeliveryStart != nil || j.DeliveryEnd != nil):
		add("delivered_at", "give delivered_at or delivery_start and delivery_end, not both")
	case j.DeliveredAt == nil && j.DeliveryStart == nil:
		add("delivery_start", "is required with delivery_end")
	case j.DeliveredAt == nil && j.DeliveryEnd == nil:
		add("delivery_end", "is required with delivery_start")
	case j.DeliveryStart != nil && j.DeliveryEnd.Before(*j.DeliveryStart):
		add("delivery_end", "is before delivery_start")
	}
	return ps
}

var (
	htmlTagRE = regexp.MustCompile(`(?i)<\s*/?\s*[a-z][a-z0-9]*(\s[^<>]*)?/?\s*>|&(?:[a-z]+|#\d+|#x[0-9a-f]+);|<!--`)
	emailRE   = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(\.[a-z0-9\-]+)*\.[a-z]{2,}`)
	schemeRE  = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.\-]*):(//)?\S+`)
)

// PolicyViolations returns the messaging-policy problems of a text: HTML
// (tags, entities, comments), e-mail addresses (also as mailto: links), and
// links other than http(s). Amazon allows links related to the message's
// purpose; spmsg cannot judge purpose, so it allows plain http(s) links and
// refuses every other scheme.
func PolicyViolations(text string) []string {
	var out []string
	if strings.ContainsAny(text, "<&") && htmlTagRE.MatchString(text) {
		out = append(out, "contains HTML, which Amazon does not allow in messages")
	}
	if strings.Contains(text, "@") && emailRE.MatchString(text) {
		out = append(out, "contains an e-mail address, which Amazon does not allow in messages")
	}
	if !strings.Contains(text, ":") {
		return out
	}
	bad := map[string]bool{}
	for _, m := range schemeRE.FindAllStringSubmatch(text, -1) {
		s := strings.ToLower(m[1])
		if s == "http" || s == "https" {
			continue
		}
		if m[2] == "" && s != "mailto" && s != "javascript" && s != "data" && s != "tel" && s != "ftp" && s != "file" {
			continue // "note:this" is not a link
		}
		bad[s] = true
	}
	if len(bad) > 0 {
		var names []string
		for s := range bad {
			names = append(names, s+":")
		}
		sort.Strings(names)
		out = append(out, "contains a link with scheme "+strings.Join(names, ", ")+"; only http(s) links are allowed")
	}
	return out
}

func lookupType(name string) (spapi.MessageType, bool) { return spapi.LookupType(name) }
