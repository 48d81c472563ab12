package tasks_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

type dir map[string]spapi.Region

func (d dir) SellerRegion(id string) (spapi.Region, bool) { r, ok := d[id]; return r, ok }

func fieldsOf(err error) []string {
	var out []string
	if ve, ok := err.(*tasks.ValidationError); ok {
		for _, p := range ve.Problems {
			out = append(out, p.Field)
		}
	}
	return out
}

func TestValidate(t *testing.T) {
	v := tasks.Validation{Sellers: dir{"A1SELLER": spapi.RegionNA}}
	ok := func() *tasks.Job {
		return &tasks.Job{SellerID: "A1SELLER", MarketplaceID: "ATVPDKIKX0DER", OrderID: "112-1234567-1234567", Type: "confirmOrderDetails", Text: "Your order ships today."}
	}
	ts := func(s string) *time.Time { x, _ := time.Parse(time.RFC3339, s); return &x }
	tests := []struct {
		name   string
		mut    func(j *tasks.Job)
		fields []string
	}{
		{"OK", func(j *tasks.Job) {}, nil},
		{"MissingSeller", func(j *tasks.Job) { j.SellerID = "" }, []string{"seller_id"}},
		{"UnknownSeller", func(j *tasks.Job) { j.SellerID = "NOPE" }, []string{"seller_id"}},
		{"WrongRegionMarketplace", func(j *tasks.Job) { j.MarketplaceID = "A1PA6795UKMFR9" }, []string{"marketplace_id"}},
		{"BadOrderID", func(j *tasks.Job) { j.OrderID = "12-345" }, []string{"order_id"}},
		{"UnknownType", func(j *tasks.Job) { j.Type = "sendCoupon" }, []string{"type"}},
		{"AliasAccepted", func(j *tasks.Job) {
			j.Type = "sendInvoice"
			j.Text = ""
			j.Attachments = []tasks.Attachment{{Source: "inv.pdf", FileName: "inv.pdf"}}
		}, nil},
		{"TextTooLongCodePoints", func(j *tasks.Job) { j.Type = "digitalAccessKey"; j.Text = strings.Repeat("é", 401) }, []string{"text"}},
		{"TextAtLimitCodePoints", func(j *tasks.Job) { j.Type = "digitalAccessKey"; j.Text = strings.Repeat("é", 400) }, nil},
		{"HTML", func(j *tasks.Job) { j.Text = "Hi <b>there</b>" }, []string{"text"}},
		{"Email", func(j *tasks.Job) { j.Text = "write to me at bob@example.com" }, []string{"text"}},
		{"Mailto", func(j *tasks.Job) { j.Text = "see mailto:x" }, []string{"text"}},
		{"HTTPSLinkOK", func(j *tasks.Job) { j.Text = "Track it at https://track.example.com/123" }, nil},
		{"TextOnAttachmentOnlyType", func(j *tasks.Job) { j.Type = "legalDisclosure" }, []string{"text"}},
		{"InvoiceNeedsAttachment", func(j *tasks.Job) { j.Type = "invoice"; j.Text = "" }, []string{"attachments"}},
		{"TooManyAttachments", func(j *tasks.Job) {
			j.Type = "legalDisclosure"
			j.Text = ""
			for i := 0; i < 6; i++ {
				j.Attachments = append(j.Attachments, tasks.Attachment{Source: "a.pdf", FileName: "a.pdf"})
			}
		}, []string{"attachments"}},
		{"AttachmentNameIsPath", func(j *tasks.Job) {
			j.Type = "legalDisclosure"
			j.Text = ""
			j.Attachments = []tasks.Attachment{{Source: "a.pdf", FileName: "../a.pdf"}}
		}, []string{"attachments[0].file_name"}},
		{"CoverageOnlyWarranty", func(j *tasks.Job) { j.CoverageStart = ts("2026-01-01T00:00:00Z") }, []string{"coverage_start"}},
		{"WarrantyEndBeforeStart", func(j *tasks.Job) {
			j.Type = "warranty"
			j.Text = ""
			j.Attachments = []tasks.Attachment{{Source: "w.pdf", FileName: "w.pdf"}}
			j.CoverageStart, j.CoverageEnd = ts("2026-02-01T00:00:00Z"), ts("2026-01-01T00:00:00Z")
		}, []string{"coverage_end"}},
		{"DeadlineBeforeNotBefore", func(j *tasks.Job) { j.NotBefore, j.Deadline = ts("2026-02-01T00:00:00Z"), ts("2026-01-01T00:00:00Z") }, []string{"deadline"}},
		{"NegativeFeedbackNoBody", func(j *tasks.Job) { j.Type = "updateFeedback"; j.Text = "" }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := ok()
			tc.mut(j)
			err := v.Validate(j)
			if tc.fields == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ElementsMatch(t, tc.fields, fieldsOf(err), err.Error())
		})
	}
}

func TestJobIDDeterministic(t *testing.T) {
	a := tasks.Job{SellerID: "S", MarketplaceID: "M", OrderID: "O", Type: "invoice"}
	b := a
	b.Type = "sendInvoice" // an alias is the same job
	assert.Equal(t, a.ID(), b.ID())
	c := a
	c.Campaign = "other"
	assert.NotEqual(t, a.ID(), c.ID())
	d := a
	d.IdempotencyKey = "k1"
	e := c
	e.IdempotencyKey = "k1"
	assert.Equal(t, d.ID(), e.ID(), "same seller and idempotency key is the same job")
}

func TestDecodeJobRefusesUnknownFieldsAndNewerVersions(t *testing.T) {
	_, err := tasks.DecodeJob([]byte(`{"seller_id":"S","txet":"typo"}`))
	require.ErrorContains(t, err, "txet")
	_, err = tasks.DecodeJob([]byte(`{"v":99,"seller_id":"S"}`))
	require.ErrorContains(t, err, "newer")
	j := &tasks.Job{SellerID: "S", Type: "invoice"}
	b, err := j.Encode()
	require.NoError(t, err)
	got, err := tasks.DecodeJob(b)
	require.NoError(t, err)
	assert.Equal(t, tasks.JobVersion, got.V)
}

const liveSchema = `{
  "$schema": "http://json-schema.org/draft-04/schema#",
  "type": "object", "name": "x", "title": "Confirm customization details", "x-ui-hidden": false,
  "_links": {"self": {"href": "/x"}},
  "properties": {
    "rawMessageBody": {"type": "string", "minLength": 1, "maxLength": 10},
    "attachments": {"type": "array", "maxLength": 2,
      "items": {"type": "object", "properties": {"uploadDestinationId": {"type": "string"}, "name": {"type": "string", "minLength": 1}}, "required": ["uploadDestinationId", "name"]}}
  },
  "required": ["rawMessageBody"]
}`

func TestCheckLiveSchema(t *testing.T) {
	typ, _ := spapi.LookupType("confirmCustomizationDetails")
	j := &tasks.Job{Text: "short", Attachments: []tasks.Attachment{{Source: "a", FileName: "a.png"}}}
	ps, err := tasks.CheckLiveSchema(json.RawMessage(liveSchema), typ, j)
	require.NoError(t, err)
	assert.Empty(t, ps)

	j.Text = "much longer than ten"
	j.Attachments = append(j.Attachments, j.Attachments[0], j.Attachments[0])
	ps, err = tasks.CheckLiveSchema(json.RawMessage(liveSchema), typ, j)
	require.NoError(t, err)
	var fields []string
	for _, p := range ps {
		fields = append(fields, p.Field)
	}
	assert.ElementsMatch(t, []string{"text", "attachments"}, fields, "%v", ps)

	j = &tasks.Job{}
	ps, err = tasks.CheckLiveSchema(json.RawMessage(liveSchema), typ, j)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "text", ps[0].Field)

	ps, err = tasks.CheckLiveSchema(nil, typ, j)
	require.NoError(t, err)
	assert.Empty(t, ps)
}

func TestCheckLiveSchemaEmptyRequired(t *testing.T) {
	typ, _ := spapi.LookupType("legalDisclosure")
	schema := `{"$schema":"http://json-schema.org/draft-04/schema#","type":"object","required":[],
	  "properties":{"attachments":{"type":"array","maxItems":1,"items":{"type":"object"}}}}`
	j := &tasks.Job{Attachments: []tasks.Attachment{{Source: "a", FileName: "a.pdf"}, {Source: "b", FileName: "b.pdf"}}}
	ps, err := tasks.CheckLiveSchema(json.RawMessage(schema), typ, j)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "attachments", ps[0].Field)
}
