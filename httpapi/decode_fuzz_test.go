package httpapi

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/tasks"
)

// fuzzMaxJobs keeps arrays small enough for the fuzzer to reach the limit.
const fuzzMaxJobs = 4

// FuzzDecodeMessages feeds decodeMessages arbitrary bodies and
// Idempotency-Key headers. It must never panic; a refused body says why;
// every rejected item names a field; every parsed job re-encodes (its
// queue payload) and decodes to the same job with the same id.
func FuzzDecodeMessages(f *testing.F) {
	job := `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000001","type":"confirmOrderDetails","text":"Which size?"}`
	for _, c := range []struct{ body, idem string }{
		{job, ""},
		{job, "order-1-size"},
		{"[" + job + "," + job + "]", ""},
		{"[" + job + "]", "k"},
		{`{"seller_id":"A1SELLERNA","idempotency_key":"a","campaign":"spring","not_before":"2026-12-01T09:00:00+02:00","deadline":"2026-12-02T09:00:00.123456789Z"}`, "b"},
		{`{"seller_id":"A1","type":"warranty","coverage_start":"2026-01-01T00:00:00Z","coverage_end":"2027-01-01T00:00:00-05:00","attachments":[{"source":"sha256/ab.pdf","file_name":"w.pdf"}]}`, ""},
		{`{"seller_id":"A1","type":"review","delivered_at":"2026-01-01T00:00:00Z","delivery_start":"x"}`, ""},
		{`[{},null,1,"x",[],{"txt":1},{"order_id":111}]`, ""},
		{`{"":1}`, ""},
		{`{"seller_id":"A1SELLERNA",`, ""},
		{`[{}] {}`, ""},
		{`[{},{},{},{},{}]`, ""},
		{"  \n", ""},
		{`[]`, ""},
		{`{"text":"\ud800 \u0000 caf\u00e9"}` + "\xff", ""},
	} {
		f.Add([]byte(c.body), c.idem)
	}
	f.Fuzz(func(t *testing.T, body []byte, idem string) {
		items, single, bad := decodeMessages(body, idem, fuzzMaxJobs)
		if bad != nil {
			require.Nil(t, items)
			assert.NotEmpty(t, bad.body.Error, "a refused body says why")
			assert.Equal(t, 400, bad.status)
			for _, e := range bad.body.Errors {
				assert.NotEmpty(t, e.Field)
			}
			return
		}
		require.NotEmpty(t, items)
		require.LessOrEqual(t, len(items), fuzzMaxJobs)
		if single {
			require.Len(t, items, 1)
		}
		for i, p := range items {
			require.Equal(t, i, p.res.Index)
			if p.job == nil {
				require.Equal(t, resultRejected, p.res.Status, "item %d", i)
				require.NotEmpty(t, p.res.Errors, "item %d: a rejected item says why", i)
				for _, e := range p.res.Errors {
					assert.NotEmpty(t, e.Field, "item %d: every problem names a field (%q)", i, e.Reason)
					assert.NotEmpty(t, e.Reason, "item %d", i)
				}
				continue
			}
			require.Empty(t, p.res.Status, "item %d is pending", i)
			if single && idem != "" {
				assert.Equal(t, idem, p.job.IdempotencyKey, "the header is the job's key")
			}
			b, err := p.job.Encode()
			require.NoError(t, err)
			back, err := tasks.DecodeJob(b)
			require.NoError(t, err, "%s", b)
			assertSameJob(t, p.job, back)
			assert.Equal(t, p.job.ID(), back.ID())
		}
	})
}

// assertSameJob compares two jobs field by field; times compare as
// instants with the same offset (their *time.Location may differ).
func assertSameJob(t *testing.T, want, got *tasks.Job) {
	t.Helper()
	w, g := *want, *got
	if w.V == 0 {
		w.V = tasks.JobVersion
	}
	wt, gt := timesOf(&w), timesOf(&g)
	require.Equal(t, len(wt), len(gt))
	for i := range wt {
		switch {
		case wt[i] == nil || gt[i] == nil:
			assert.Equal(t, wt[i] == nil, gt[i] == nil, "time #%d", i)
		default:
			assert.True(t, wt[i].Equal(*gt[i]), "time #%d: %v != %v", i, wt[i], gt[i])
			_, wo := wt[i].Zone()
			_, goff := gt[i].Zone()
			assert.Equal(t, wo, goff, "time #%d offset", i)
		}
	}
	clearTimes(&w)
	clearTimes(&g)
	wb, err := json.Marshal(w)
	require.NoError(t, err)
	gb, err := json.Marshal(g)
	require.NoError(t, err)
	assert.JSONEq(t, string(wb), string(gb))
	assert.Equal(t, w, g)
}

// timesOf returns a job's time fields (every *time.Time, found by
// reflection so fields added later are covered too).
func timesOf(j *tasks.Job) []*time.Time {
	var out []*time.Time
	v := reflect.ValueOf(j).Elem()
	for i := range v.NumField() {
		if t, ok := v.Field(i).Interface().(*time.Time); ok {
			out = append(out, t)
		}
	}
	return out
}

// clearTimes sets a job's time fields to nil.
func clearTimes(j *tasks.Job) {
	v := reflect.ValueOf(j).Elem()
	for i := range v.NumField() {
		if _, ok := v.Field(i).Interface().(*time.Time); ok {
			v.Field(i).SetZero()
		}
	}
}
