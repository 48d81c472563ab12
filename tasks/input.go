package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// jobInput is the producer-facing shape of a job: dates as strings so a bad
// date is reported with its field name.
type jobInput struct {
	SellerID       string       `json:"seller_id"`
	MarketplaceID  string       `json:"marketplace_id"`
	OrderID        string       `json:"order_id"`
	Type           string       `json:"type"`
	Text           string       `json:"text"`
	Attachments    []Attachment `json:"attachments"`
	CoverageStart  string       `json:"coverage_start"`
	CoverageEnd    string       `json:"coverage_end"`
	Campaign       string       `json:"campaign"`
	IdempotencyKey string       `json:"idempotency_key"`
	NotBefore      string       `json:"not_before"`
	Deadline       string       `json:"deadline"`
	DeliveredAt    string       `json:"delivered_at"`
	DeliveryStart  string       `json:"delivery_start"`
	DeliveryEnd    string       `json:"delivery_end"`
}

// JobFields are the field names a job accepts, in PRODUCT.md order (the CSV
// header uses the same names).
var JobFields = []string{"seller_id", "marketplace_id", "order_id", "type", "text", "attachments",
	"coverage_start", "coverage_end", "campaign", "idempotency_key", "not_before", "deadline",
	"delivered_at", "delivery_start", "delivery_end"}

// ParseJobJSON parses one producer-supplied job object (a JSONL row, an HTTP
// body item). Unknown fields, wrong JSON types and bad RFC 3339 dates are
// reported as FieldErrors naming the field; the result is nil when any is
// found.
func ParseJobJSON(b []byte) (*Job, []FieldError) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in jobInput
	if err := dec.Decode(&in); err != nil {
		return nil, []FieldError{jsonFieldError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, []FieldError{{Field: "json", Reason: "unexpected data after the job object"}}
	}
	return in.job()
}

// ParseJobFields builds a job from named string fields (a CSV row). The
// attachments field holds a JSON array of {source, file_name}, or a list of
// "source|file_name" items separated by ";" (file_name defaults to the
// source's base name).
func ParseJobFields(fields map[string]string) (*Job, []FieldError) {
	in := jobInput{
		SellerID: fields["seller_id"], MarketplaceID: fields["marketplace_id"], OrderID: fields["order_id"],
		Type: fields["type"], Text: fields["text"], CoverageStart: fields["coverage_start"],
		CoverageEnd: fields["coverage_end"], Campaign: fields["campaign"], IdempotencyKey: fields["idempotency_key"],
		NotBefore: fields["not_before"], Deadline: fields["deadline"],
		DeliveredAt: fields["delivered_at"], DeliveryStart: fields["delivery_start"], DeliveryEnd: fields["delivery_end"],
	}
	if a := strings.TrimSpace(fields["attachments"]); a != "" {
		if strings.HasPrefix(a, "[") {
			if err := json.Unmarshal([]byte(a), &in.Attachments); err != nil {
				return nil, []FieldError{{Field: "attachments", Reason: "not a JSON array of {source, file_name}: " + err.Error()}}
			}
		} else {
			for _, item := range strings.Split(a, ";") {
				item = strings.TrimSpace(item)
				if item == "" {
					continue
				}
				src, name, _ := strings.Cut(item, "|")
				if name == "" {
					name = baseName(src)
				}
				in.Attachments = append(in.Attachments, Attachment{Source: strings.TrimSpace(src), FileName: strings.TrimSpace(name)})
			}
		}
	}
	return in.job()
}

func baseName(src string) string {
	src = strings.TrimRight(src, "/")
	if i := strings.LastIndexAny(src, "/\\"); i >= 0 {
		return src[i+1:]
	}
	return src
}

func (in *jobInput) job() (*Job, []FieldError) {
	j := &Job{SellerID: strings.TrimSpace(in.SellerID), MarketplaceID: strings.TrimSpace(in.MarketplaceID),
		OrderID: strings.TrimSpace(in.OrderID), Type: strings.TrimSpace(in.Type), Text: in.Text,
		Attachments: in.Attachments, Campaign: in.Campaign, IdempotencyKey: in.IdempotencyKey}
	var ps []FieldError
	for _, d := range []struct {
		field, value string
		dst          **time.Time
	}{
		{"coverage_start", in.CoverageStart, &j.CoverageStart},
		{"coverage_end", in.CoverageEnd, &j.CoverageEnd},
		{"not_before", in.NotBefore, &j.NotBefore},
		{"deadline", in.Deadline, &j.Deadline},
		{"delivered_at", in.DeliveredAt, &j.DeliveredAt},
		{"delivery_start", in.DeliveryStart, &j.DeliveryStart},
		{"delivery_end", in.DeliveryEnd, &j.DeliveryEnd},
	} {
		v := strings.TrimSpace(d.value)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			ps = append(ps, FieldError{Field: d.field, Reason: fmt.Sprintf("%q is not an RFC 3339 time (e.g. 2026-12-01T09:00:00Z)", v)})
			continue
		}
		*d.dst = &t
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return j, nil
}

func jsonFieldError(err error) FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := te.Field
		if f == "" {
			f = "json"
		}
		return FieldError{Field: f, Reason: fmt.Sprintf("must be a JSON %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)}
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		name := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
		return FieldError{Field: name, Reason: "unknown field (known: " + strings.Join(JobFields, ", ") + ")"}
	}
	return FieldError{Field: "json", Reason: "malformed JSON: " + strings.TrimPrefix(msg, "json: ")}
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	case "ptr":
		return "value"
	}
	return k
}
