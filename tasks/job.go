package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
)

// JobVersion is the version of the stored job wire format. Jobs sit in Redis
// across deploys: fields are only ever added, and a worker refuses a job of a
// newer version than it knows instead of guessing.
//
// Version 2 added delivered_at, delivery_start and delivery_end (review
// requests).
const JobVersion = 3

// deliveryVersion is the version of a payload with delivery fields;
// version 3 adds slot_us (written by the hand-off from a seller's line) and
// retried (written by a worker that puts a job back in its line).
const deliveryVersion = 2

// Job is one message job: the PRODUCT.md fields, as a JSONL row, a CSV row
// (same names as the header), an HTTP request body, or an asynq payload.
type Job struct {
	// V is the wire-format version; zero means JobVersion.
	V              int          `json:"v,omitempty"`
	SellerID       string       `json:"seller_id"`
	MarketplaceID  string       `json:"marketplace_id"`
	OrderID        string       `json:"order_id"`
	Type           string       `json:"type"`
	Text           string       `json:"text,omitempty"`
	Attachments    []Attachment `json:"attachments,omitempty"`
	CoverageStart  *time.Time   `json:"coverage_start,omitempty"`
	CoverageEnd    *time.Time   `json:"coverage_end,omitempty"`
	Campaign       string       `json:"campaign,omitempty"`
	IdempotencyKey string       `json:"idempotency_key,omitempty"`
	NotBefore      *time.Time   `json:"not_before,omitempty"`
	Deadline       *time.Time   `json:"deadline,omitempty"`
	// DeliveredAt, or DeliveryStart and DeliveryEnd, are the order's
	// delivery (window), for review requests only: they set the default
	// NotBefore and Deadline (see ReviewWindow).
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	DeliveryStart *time.Time `json:"delivery_start,omitempty"`
	DeliveryEnd   *time.Time `json:"delivery_end,omitempty"`
	// Slot is set by the hand-off from the seller's line (never by a
	// producer): when the job's booked slot is, in Unix microseconds on
	// Redis's clock. See package dispatch.
	Slot int64 `json:"slot_us,omitempty"`
	// Retried counts the failed attempts the job had before a worker put
	// it back in its line (a 429, or a retry with no slot soon), so its
	// attempts stay bounded across lines. Set by workers, never by a
	// producer.
	Retried int `json:"retried,omitempty"`

	// AutoCampaign is set by a producer that chose Campaign itself (batch's
	// file name) rather than the user: such a campaign labels the job's
	// reports but is not part of its id, so the same rows from a renamed
	// file or another day's stdin are duplicates. Not part of the payload.
	AutoCampaign bool `json:"-"`
}

// Attachment references a file for a job: Source is a path in the attachment
// store or an s3://bucket/key URL; FileName is what the buyer sees.
type Attachment struct {
	Source   string `json:"source"`
	FileName string `json:"file_name"`
}

// ID returns the job's deterministic id. The same job gets the same id, so a
// re-run of a batch file or a retried POST is recognised as a duplicate:
//   - with an idempotency key: seller + key;
//   - otherwise: seller, marketplace, order, type, the campaign the user
//     named (not one a producer chose, see AutoCampaign) and content.
//
// Every field is length-prefixed, so no text can make two different jobs
// hash alike. Once-per-order types are additionally guarded by the ledger,
// whatever their id.
func (j *Job) ID() string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	if j.IdempotencyKey != "" {
		field("idem")
		field(j.SellerID)
		field(j.IdempotencyKey)
	} else {
		field("job")
		field(j.SellerID)
		if j.AutoCampaign {
			// Not the campaign's name, but not "no campaign" either: a
			// batch row and the same message sent on its own stay two jobs.
			field("auto-campaign")
		} else {
			field("campaign")
			field(j.Campaign)
		}
		j.hashMessage(field)
	}
	return "j_" + hex.EncodeToString(h.Sum(nil))[:32]
}

// hashMessage feeds the message's content to field, one length-prefixed
// field at a time: marketplace, order, type, text, attachments and coverage
// dates (not the seller, campaign, scheduling or delivery fields).
func (j *Job) hashMessage(field func(string)) {
	for _, s := range []string{j.MarketplaceID, j.OrderID, canonicalType(j.Type), j.Text} {
		field(s)
	}
	field(strconv.Itoa(len(j.Attachments)))
	for _, a := range j.Attachments {
		field(a.Source)
		field(a.FileName)
	}
	for _, t := range []*time.Time{j.CoverageStart, j.CoverageEnd} {
		if t != nil {
			field(strconv.FormatInt(t.UnixNano(), 10))
		} else {
			field("-")
		}
	}
}

// legacyID is the id that releases before the length-prefixed one gave the
// job (fields joined with NUL; a batch-chosen campaign included). The
// producer looks it up so that rows enqueued before an upgrade are still
// recognised as duplicates while their records are kept (30 days).
// Remove once legacyIDsKept is false.
func (j *Job) legacyID() string {
	h := sha256.New()
	if j.IdempotencyKey != "" {
		fmt.Fprintf(h, "idem\x00%s\x00%s", j.SellerID, j.IdempotencyKey)
	} else {
		fmt.Fprintf(h, "job\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", j.SellerID, j.MarketplaceID, j.OrderID, canonicalType(j.Type), j.Campaign, j.Text)
		for _, a := range j.Attachments {
			fmt.Fprintf(h, "\x00%s\x00%s", a.Source, a.FileName)
		}
		for _, t := range []*time.Time{j.CoverageStart, j.CoverageEnd} {
			if t != nil {
				fmt.Fprintf(h, "\x00%d", t.UnixNano())
			} else {
				fmt.Fprint(h, "\x00-")
			}
		}
	}
	return "j_" + hex.EncodeToString(h.Sum(nil))[:32]
}

// legacyIDsKept reports whether records under legacy ids may still exist
// at now: until this release plus DefaultRetention, with margin. From then
// on the producer no longer looks them up.
func legacyIDsKept(now time.Time) bool {
	return now.Before(time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC))
}

// Amazon's review-request window: from ReviewWindowOpens after the earliest
// delivery to ReviewWindowCloses after the latest.
const (
	ReviewWindowOpens  = spapi.ReviewWindowOpens
	ReviewWindowCloses = spapi.ReviewWindowCloses
)

// ReviewWindow returns when Amazon allows a review request for the job's
// order: from 5 days after its (earliest) delivery to 30 days after its
// (latest) delivery. ok is false when the job carries no delivery date.
func (j *Job) ReviewWindow() (opens, closes time.Time, ok bool) {
	earliest, latest := j.DeliveryStart, j.DeliveryEnd
	if j.DeliveredAt != nil {
		earliest, latest = j.DeliveredAt, j.DeliveredAt
	}
	if earliest == nil || latest == nil {
		return time.Time{}, time.Time{}, false
	}
	return earliest.Add(ReviewWindowOpens), latest.Add(ReviewWindowCloses), true
}

// EffectiveNotBefore is NotBefore, else the opening of the review window.
func (j *Job) EffectiveNotBefore() *time.Time {
	if j.NotBefore != nil {
		return j.NotBefore
	}
	if opens, _, ok := j.ReviewWindow(); ok {
		return &opens
	}
	return nil
}

// EffectiveDeadline is Deadline, else the close of the review window.
func (j *Job) EffectiveDeadline() *time.Time {
	if j.Deadline != nil {
		return j.Deadline
	}
	if _, closes, ok := j.ReviewWindow(); ok {
		return &closes
	}
	return nil
}

// Encode returns the job's payload bytes (with its version set).
//
// A job without the fields version 2 added is written as version 1, so
// workers that predate them still take it during a rolling update.
func (j *Job) Encode() ([]byte, error) {
	c := *j
	c.V, c.Slot = deliveryVersion, 0
	switch {
	case c.Retried > 0:
		c.V = JobVersion // older workers must not decode it without retried
	case c.DeliveredAt == nil && c.DeliveryStart == nil && c.DeliveryEnd == nil:
		c.V = 1
	}
	return json.Marshal(&c)
}

// ErrNewerVersion means a payload was written by a newer producer than this
// worker (a rolling update).
var ErrNewerVersion = errors.New("job format is newer than this worker understands")

// DecodeJob parses a payload. Unknown fields are refused, so a producer's
// typo never silently drops data.
func DecodeJob(b []byte) (*Job, error) {
	var j Job
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		// A newer producer may add fields this worker does not know.
		var v struct {
			V int `json:"v"`
		}
		if json.Unmarshal(b, &v) == nil && v.V > JobVersion {
			return nil, fmt.Errorf("%w: version %d, this worker understands %d", ErrNewerVersion, v.V, JobVersion)
		}
		return nil, fmt.Errorf("decode job: %w", err)
	}
	if j.V > JobVersion {
		return nil, fmt.Errorf("%w: version %d, this worker understands %d", ErrNewerVersion, j.V, JobVersion)
	}
	// Every earlier version is a subset of this one (fields are only ever
	// added): the decoded job is in the current format.
	j.V = JobVersion
	if len(j.Attachments) == 0 {
		j.Attachments = nil // "attachments": [] is no attachments, as encoded
	}
	return &j, nil
}

func canonicalType(name string) string {
	if t, ok := lookupType(name); ok {
		return t.Name
	}
	return name
}

// Ref is how the job-state store names the job, recorded under id.
func (j *Job) Ref(id string) jobstate.Ref {
	return jobstate.Ref{ID: id, Campaign: j.Campaign, Seller: j.SellerID, Order: j.OrderID, Type: canonicalType(j.Type)}
}

// messageDigest is the digest of a job's message: what is sent, to whom,
// for which order (the content fields of Job.ID, without the campaign).
// Scheduling (campaign, not_before, deadline, delivery dates) is left out:
// a retried request paced anew, or re-run from a renamed batch file, is the
// same message. A later job with the same idempotency key and another
// digest is a conflict, not a duplicate.
func messageDigest(j *Job) string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	field("msg1")
	field(j.SellerID)
	j.hashMessage(field)
	return hex.EncodeToString(h.Sum(nil))
}
