package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// JobVersion is the version of the stored job wire format. Jobs sit in Redis
// across deploys: fields are only ever added, and a worker refuses a job of a
// newer version than it knows instead of guessing.
const JobVersion = 1

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
//   - otherwise: seller, marketplace, order, type, campaign and content.
//
// Once-per-order types are additionally guarded by the ledger, whatever
// their id.
func (j *Job) ID() string {
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

// Encode returns the job's payload bytes (with its version set).
func (j *Job) Encode() ([]byte, error) {
	c := *j
	c.V = JobVersion
	return json.Marshal(&c)
}

// DecodeJob parses a payload. Unknown fields are refused, so a producer's
// typo never silently drops data.
func DecodeJob(b []byte) (*Job, error) {
	var j Job
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("decode job: %w", err)
	}
	if j.V == 0 {
		j.V = JobVersion
	}
	if j.V > JobVersion {
		return nil, fmt.Errorf("job format version %d is newer than this worker understands (%d)", j.V, JobVersion)
	}
	return &j, nil
}

func canonicalType(name string) string {
	if t, ok := lookupType(name); ok {
		return t.Name
	}
	return name
}
