package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/httpapi"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/tasks"
)

// itemResult mirrors one result of POST /v1/messages.
type itemResult struct {
	Error       string `json:"error"`
	Index       int    `json:"index"`
	Status      string `json:"status"`
	ID          string `json:"id"`
	Queue       string `json:"queue"`
	DuplicateOf string `json:"duplicate_of"`
	Reason      string `json:"reason"`
	Errors      []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

// batchAnswer mirrors the answer to an array.
type batchAnswer struct {
	Error      string       `json:"error"`
	Accepted   int          `json:"accepted"`
	Duplicates int          `json:"duplicates"`
	Rejected   int          `json:"rejected"`
	Results    []itemResult `json:"results"`
}

// badJob is one class of bad input of the batch tests, as a job object,
// and the field its first error must name.
type badJob struct {
	name, body, field string
}

func badJobs() []badJob {
	six := strings.TrimSuffix(strings.Repeat(`{"source":"invoice.pdf","file_name":"a.pdf"},`, 6), ",")
	return []badJob{
		{"UnknownSeller", `{"seller_id":"NOSUCH","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000003","type":"confirmOrderDetails","text":"x"}`, "seller_id"},
		{"MarketplaceOfAnotherRegion", `{"seller_id":"A1SELLERNA","marketplace_id":"A1PA6795UKMFR9","order_id":"111-1111111-0000004","type":"confirmOrderDetails","text":"x"}`, "marketplace_id"},
		{"BadOrderID", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"12345","type":"confirmOrderDetails","text":"x"}`, "order_id"},
		{"UnknownType", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000006","type":"sendCoupon","text":"x"}`, "type"},
		{"TextTooLong", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000007","type":"digitalAccessKey","text":"` + strings.Repeat("ü", 401) + `"}`, "text"},
		{"HTML", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000008","type":"confirmOrderDetails","text":"<p>Hi</p>"}`, "text"},
		{"EMail", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000009","type":"confirmOrderDetails","text":"mail a@b.com"}`, "text"},
		{"TooManyAttachments", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000010","type":"legalDisclosure","attachments":[` + six + `]}`, "attachments"},
		{"MissingAttachment", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000011","type":"invoice","attachments":[{"source":"missing.pdf","file_name":"m.pdf"}]}`, "attachments[0].source"},
		{"ServerFileOutsideTheStore", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000016","type":"invoice","attachments":[{"source":"/etc/passwd","file_name":"p.pdf"}]}`, "attachments[0].source"},
		{"RelativePathOutOfTheStore", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000017","type":"invoice","attachments":[{"source":"../../../../etc/hostname","file_name":"p.pdf"}]}`, "attachments[0].source"},
		{"BadDate", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000012","type":"confirmOrderDetails","text":"x","deadline":"tomorrow"}`, "deadline"},
		{"UnknownField", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000015","type":"confirmOrderDetails","txt":"typo"}`, "txt"},
		{"WrongJSONType", `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":111,"type":"confirmOrderDetails","text":"x"}`, "order_id"},
		{"NotAnObject", `"a job"`, "json"},
	}
}

// Ensure every bad-input class of the batch tests, posted as a single
// job object, is answered 400 with the right field, and nothing is queued.
func TestPostOneRejectsEveryBadInputClass(t *testing.T) {
	f := newFixture(t)
	cases := append(badJobs(), badJob{"MalformedJSON", `{"seller_id":"A1SELLERNA",`, "json"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := f.post("/v1/messages", c.body)
			require.Equal(t, http.StatusBadRequest, a.status, string(a.body))
			var r itemResult
			a.decode(t, &r)
			assert.Equal(t, "rejected", r.Status)
			require.NotEmpty(t, r.Errors)
			assert.Equal(t, c.field, r.Errors[0].Field, r.Errors)
			assert.NotEmpty(t, r.Errors[0].Reason)
			assert.Contains(t, r.Error, c.field)
		})
	}
	assert.Zero(t, f.queued())
}

// Ensure an array gets one result per item in order, 207 when some item
// went through, and every bad class names its field.
func TestPostArrayResultsPerItem(t *testing.T) {
	f := newFixture(t)
	bad := badJobs()
	items := []string{jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which size?"`)}
	for _, b := range bad {
		items = append(items, b.body)
	}
	items = append(items, jobJSON("111-1111111-0000014", "invoice", `"attachments":[{"source":"invoice.pdf","file_name":"i.pdf"}]`))
	a := f.post("/v1/messages", "["+strings.Join(items, ",\n")+"]")
	require.Equal(t, http.StatusMultiStatus, a.status, string(a.body))
	var ans batchAnswer
	a.decode(t, &ans)
	assert.Equal(t, 2, ans.Accepted)
	assert.Equal(t, len(bad), ans.Rejected)
	require.Len(t, ans.Results, len(items))
	for i, r := range ans.Results {
		assert.Equal(t, i, r.Index)
		switch i {
		case 0, len(items) - 1:
			assert.Equal(t, "accepted", r.Status, r)
			assert.True(t, strings.HasPrefix(r.ID, "j_"), r.ID)
			assert.Equal(t, "transactional", r.Queue)
		default:
			assert.Equal(t, "rejected", r.Status)
			require.NotEmpty(t, r.Errors, bad[i-1].name)
			assert.Equal(t, bad[i-1].field, r.Errors[0].Field, bad[i-1].name)
			assert.Empty(t, r.ID)
		}
	}
	assert.Equal(t, 2, f.queued())
}

func TestPostArrayAllRejectedIs400(t *testing.T) {
	f := newFixture(t)
	a := f.post("/v1/messages", `[`+badJobs()[0].body+`,`+badJobs()[2].body+`]`)
	require.Equal(t, http.StatusBadRequest, a.status)
	var ans batchAnswer
	a.decode(t, &ans)
	assert.Equal(t, 2, ans.Rejected)
	assert.NotEmpty(t, ans.Error)
	assert.Len(t, ans.Results, 2)
}

// Ensure a re-posted job, alone or in an array, is a duplicate and
// enqueues nothing new.
func TestDuplicatesEnqueueNothingNew(t *testing.T) {
	f := newFixture(t)
	job := jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which size?"`)
	a := f.post("/v1/messages", job)
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
	var first itemResult
	a.decode(t, &first)
	assert.Equal(t, "accepted", first.Status)
	require.Equal(t, 1, f.queued())

	a = f.post("/v1/messages", job)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var dup itemResult
	a.decode(t, &dup)
	assert.Equal(t, "duplicate", dup.Status)
	assert.Equal(t, first.ID, dup.ID)
	assert.Equal(t, first.ID, dup.DuplicateOf)
	assert.NotEmpty(t, dup.Reason)

	// In an array, beside a new job, and twice in the same array.
	other := jobJSON("111-1111111-0000002", "confirmOrderDetails", `"text":"Which colour?"`)
	a = f.post("/v1/messages", "["+job+","+other+","+other+"]")
	require.Equal(t, http.StatusMultiStatus, a.status, string(a.body))
	var ans batchAnswer
	a.decode(t, &ans)
	assert.Equal(t, 1, ans.Accepted)
	assert.Equal(t, 2, ans.Duplicates)
	assert.Equal(t, "duplicate", ans.Results[0].Status)
	assert.Equal(t, first.ID, ans.Results[0].DuplicateOf)
	assert.Equal(t, ans.Results[1].ID, ans.Results[2].ID)
	assert.Equal(t, 2, f.queued())

	// All duplicates is still 207: nothing was rejected.
	a = f.post("/v1/messages", "["+job+","+other+"]")
	require.Equal(t, http.StatusMultiStatus, a.status)
	assert.Equal(t, 2, f.queued())
}

// Ensure the Idempotency-Key header becomes the job's key: a retried POST
// of the same message (header, body key, or both) answers the same id and
// enqueues nothing.
func TestIdempotencyKeyReplay(t *testing.T) {
	f := newFixture(t)
	job := jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which size?"`)
	a := f.post("/v1/messages", job, "Idempotency-Key", "order-1-size")
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
	var first itemResult
	a.decode(t, &first)

	for _, c := range []struct{ body, header string }{
		{job, "order-1-size"},
		{jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which size?","idempotency_key":"order-1-size"`), "order-1-size"},
		{jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which size?","idempotency_key":"order-1-size"`), ""},
		// Scheduling is not the message: a retry paced anew is the same.
		{jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which size?","not_before":"2030-01-01T00:00:00Z","deadline":"2030-02-01T00:00:00Z"`), "order-1-size"},
	} {
		a = f.post("/v1/messages", c.body, "Idempotency-Key", c.header)
		require.Equal(t, http.StatusOK, a.status, string(a.body))
		var r itemResult
		a.decode(t, &r)
		assert.Equal(t, "duplicate", r.Status)
		assert.Equal(t, first.ID, r.ID)
		assert.Equal(t, first.ID, r.DuplicateOf)
	}
	assert.Equal(t, 1, f.queued())

	// Without the key, the same content is a different job.
	a = f.post("/v1/messages", job)
	require.Equal(t, http.StatusAccepted, a.status)
	assert.Equal(t, 2, f.queued())
}

// Ensure an idempotency key reused with a different message is a 422
// naming the key (alone) or a rejected item naming idempotency_key (in an
// array), never a silent 200 duplicate; and that nothing is enqueued.
func TestIdempotencyKeyReusedWithAnotherMessage(t *testing.T) {
	f := newFixture(t)
	job := jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which size?"`)
	a := f.post("/v1/messages", job, "Idempotency-Key", "order-1-size")
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
	var first itemResult
	a.decode(t, &first)

	for name, body := range map[string]string{
		"Text":        jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which size, please?"`),
		"Order":       jobJSON("111-1111111-0000002", "confirmOrderDetails", `"text":"Which size?"`),
		"Type":        jobJSON("111-1111111-0000001", "invoice", `"attachments":[{"source":"invoice.pdf","file_name":"i.pdf"}]`),
		"KeyInBody":   jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which colour?","idempotency_key":"order-1-size"`),
		"OtherCampgn": jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"Which colour?","campaign":"autumn"`),
	} {
		t.Run(name, func(t *testing.T) {
			a := f.post("/v1/messages", body, "Idempotency-Key", "order-1-size")
			require.Equal(t, http.StatusUnprocessableEntity, a.status, string(a.body))
			var r itemResult
			a.decode(t, &r)
			assert.Equal(t, "rejected", r.Status)
			assert.Contains(t, r.Error, `idempotency key "order-1-size" was first used with a different message`)
			require.Len(t, r.Errors, 1)
			assert.Equal(t, "idempotency_key", r.Errors[0].Field)
			assert.Equal(t, first.ID, r.DuplicateOf)
		})
	}
	// In an array: that item is rejected, the others go through.
	a = f.post("/v1/messages", "["+jobJSON("111-1111111-0000003", "confirmOrderDetails", `"text":"Other","idempotency_key":"order-1-size"`)+","+
		jobJSON("111-1111111-0000004", "confirmOrderDetails", `"text":"x"`)+"]")
	require.Equal(t, http.StatusMultiStatus, a.status, string(a.body))
	var ans batchAnswer
	a.decode(t, &ans)
	assert.Equal(t, 1, ans.Accepted)
	assert.Equal(t, 1, ans.Rejected)
	assert.Equal(t, "rejected", ans.Results[0].Status)
	require.Len(t, ans.Results[0].Errors, 1)
	assert.Equal(t, "idempotency_key", ans.Results[0].Errors[0].Field)
	assert.Contains(t, ans.Results[0].Errors[0].Reason, "first used with a different message")

	assert.Equal(t, 2, f.queued(), "the first job and the array's new one only")
	rec, err := f.outcomes.Get(context.Background(), first.ID)
	require.NoError(t, err)
	assert.Equal(t, "111-1111111-0000001", rec.OrderID, "the first message stands")
}

// Ensure the Go producer reports a reused idempotency key distinctly: a
// duplicate with Conflict set when the message differs (whether the first
// job is queued, in another campaign, or already in the ledger), and a
// plain duplicate when it is the same message.
func TestProducerReportsIdempotencyConflict(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p := tasks.NewProducer(f.rdb, sellers(t))
	job := func(text, campaign string) *tasks.Job {
		return &tasks.Job{SellerID: sellerNA, MarketplaceID: mktUS, OrderID: "111-1111111-0000001", Type: "confirmOrderDetails",
			Text: text, Campaign: campaign, IdempotencyKey: "k-1"}
	}
	res, err := p.Enqueue(ctx, job("Which size?", "spring"))
	require.NoError(t, err)
	require.Equal(t, tasks.StatusAccepted, res.Status)

	for _, c := range []struct {
		name     string
		j        *tasks.Job
		conflict bool
	}{
		{"SameMessage", job("Which size?", "spring"), false},
		{"SameMessageOtherCampaign", job("Which size?", "autumn"), false},
		{"OtherText", job("Which colour?", "spring"), true},
		{"OtherTextOtherCampaign", job("Which colour?", "autumn"), true},
	} {
		got, err := p.Enqueue(ctx, c.j)
		require.NoError(t, err, c.name)
		assert.Equal(t, tasks.StatusDuplicate, got.Status, c.name)
		assert.Equal(t, res.ID, got.DuplicateOf, c.name)
		assert.Equal(t, c.conflict, got.Conflict, c.name)
		if c.conflict {
			assert.Contains(t, got.Reason, `idempotency key "k-1" was first used with a different message`, c.name)
		} else {
			assert.NotContains(t, got.Reason, "different message", c.name)
		}
	}

	// Once the ledger says the key went, the record still tells.
	sent := job("Which size?", "spring")
	require.NoError(t, p.Ledger.Commit(ctx, []jobstate.Key{jobstate.IdemKey(sellerNA, "k-1")}, res.ID, "req-1"))
	got, err := p.Enqueue(ctx, sent)
	require.NoError(t, err)
	assert.False(t, got.Conflict)
	assert.Contains(t, got.Reason, "ledger")
	got, err = p.Enqueue(ctx, job("Which colour?", "spring"))
	require.NoError(t, err)
	assert.Equal(t, tasks.StatusDuplicate, got.Status)
	assert.True(t, got.Conflict, got.Reason)
	assert.Equal(t, 1, f.queued())
}

func TestIdempotencyKeyConflicts(t *testing.T) {
	f := newFixture(t)
	a := f.post("/v1/messages", jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x","idempotency_key":"a-key"`),
		"Idempotency-Key", "another-key")
	require.Equal(t, http.StatusBadRequest, a.status)
	var r itemResult
	a.decode(t, &r)
	require.Len(t, r.Errors, 1)
	assert.Equal(t, "idempotency_key", r.Errors[0].Field)

	a = f.post("/v1/messages", "["+jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x"`)+"]", "Idempotency-Key", "k")
	require.Equal(t, http.StatusBadRequest, a.status)
	assert.Contains(t, a.fields(t)["error"], "Idempotency-Key")

	a = f.post("/v1/messages", jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"x"`), "Idempotency-Key", strings.Repeat("k", 256))
	require.Equal(t, http.StatusBadRequest, a.status)
	a.decode(t, &r)
	assert.Equal(t, "idempotency_key", r.Errors[0].Field)
	assert.Zero(t, f.queued())
}

// Ensure bodies that are not a job or an array of jobs are 400s that say
// what is wrong, and bodies over the limits are 413/400.
func TestPostMessagesBadBodies(t *testing.T) {
	f := newFixture(t, func(c *httpapi.Config) { c.MaxBodyBytes = 4096; c.MaxJobs = 3 })
	for _, c := range []struct{ name, body, want string }{
		{"Empty", "  \n", "empty body"},
		{"MalformedArray", `[{"seller_id":"A1SELLERNA"},`, "malformed JSON"},
		{"TrailingData", `[{}] {}`, "malformed JSON"},
		{"EmptyArray", `[]`, "empty array"},
		{"TooManyJobs", `[{},{},{},{}]`, "at most 3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := f.post("/v1/messages", c.body)
			require.Equal(t, http.StatusBadRequest, a.status, string(a.body))
			assert.Contains(t, a.fields(t)["error"], c.want)
		})
	}
	t.Run("TooLarge", func(t *testing.T) {
		a := f.post("/v1/messages", jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"`+strings.Repeat("x", 5000)+`"`))
		require.Equal(t, http.StatusRequestEntityTooLarge, a.status)
		m := a.fields(t)
		assert.Contains(t, m["error"], "too large")
		assert.EqualValues(t, 4096, m["limit"])
	})
	t.Run("TooLargeChunked", func(t *testing.T) {
		// No Content-Length: the limit is enforced while reading.
		req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/messages", strings.NewReader(strings.Repeat(" ", 5000)))
		require.NoError(t, err)
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+token1)
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	})
	assert.Zero(t, f.queued())
}

// Ensure the default limits: 1,000 jobs and 8 MiB.
func TestPostMessagesDefaultLimits(t *testing.T) {
	f := newFixture(t)
	items := make([]string, 1001)
	for i := range items {
		items[i] = jobJSON("111-1111111-"+pad7(i), "confirmOrderDetails", `"text":"x"`)
	}
	a := f.post("/v1/messages", "["+strings.Join(items, ",")+"]")
	require.Equal(t, http.StatusBadRequest, a.status)
	assert.EqualValues(t, 1000, a.fields(t)["limit"])

	a = f.post("/v1/messages", "["+strings.Join(items[:1000], ",")+"]")
	require.Equal(t, http.StatusMultiStatus, a.status)
	var ans batchAnswer
	a.decode(t, &ans)
	assert.Equal(t, 1000, ans.Accepted)
	assert.Equal(t, 1000, f.queued())

	a = f.post("/v1/messages", jobJSON("111-1111111-0000001", "confirmOrderDetails", `"text":"`+strings.Repeat("x", 8<<20)+`"`))
	require.Equal(t, http.StatusRequestEntityTooLarge, a.status)
	assert.EqualValues(t, httpapi.DefaultMaxBodyBytes, a.fields(t)["limit"])
}

func pad7(i int) string {
	s := strconv.Itoa(i)
	return strings.Repeat("0", 7-len(s)) + s
}
