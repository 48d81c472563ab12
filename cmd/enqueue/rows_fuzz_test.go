package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/tasks"
)

// readAll reads data as format and returns the good jobs, after checking
// that every problem and every error names a line (and a field, for a
// row's problems) that exists.
func readAll(t *testing.T, data []byte, format string) []*tasks.Job {
	t.Helper()
	lines := bytes.Count(data, []byte("\n")) + 1
	var jobs []*tasks.Job
	err := readRows(bytes.NewReader(data), format, func(line int, j *tasks.Job, ps []tasks.FieldError) error {
		require.True(t, line >= 1 && line <= lines, "%s: line %d of %d", format, line, lines)
		require.True(t, j != nil || len(ps) > 0, "%s line %d: no job and no problem", format, line)
		for _, p := range ps {
			require.NotEmpty(t, p.Field, "%s line %d: problem without a field: %q", format, line, p.Reason)
			require.NotEmpty(t, p.Reason, "%s line %d: problem without a reason (field %s)", format, line, p.Field)
		}
		if len(ps) == 0 {
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		require.Regexp(t, lineRE, err.Error(), "%s: an error must name its line", format)
	}
	return jobs
}

var lineRE = regexp.MustCompile(`^(after )?line [1-9][0-9]*: `)

// jobFields renders j as the string fields of a row.
func jobFields(t *testing.T, j *tasks.Job) map[string]string {
	t.Helper()
	m := map[string]string{
		"seller_id": j.SellerID, "marketplace_id": j.MarketplaceID, "order_id": j.OrderID, "type": j.Type,
		"text": j.Text, "campaign": j.Campaign, "idempotency_key": j.IdempotencyKey,
	}
	for name, tp := range map[string]*time.Time{
		"coverage_start": j.CoverageStart, "coverage_end": j.CoverageEnd, "not_before": j.NotBefore,
		"deadline": j.Deadline, "delivered_at": j.DeliveredAt, "delivery_start": j.DeliveryStart, "delivery_end": j.DeliveryEnd,
	} {
		if tp != nil {
			m[name] = tp.UTC().Format(time.RFC3339Nano)
		}
	}
	if len(j.Attachments) > 0 {
		b, err := json.Marshal(j.Attachments)
		require.NoError(t, err)
		m["attachments"] = string(b)
	}
	return m
}

// toJSONL renders jobs as JSONL rows.
func toJSONL(t *testing.T, jobs []*tasks.Job) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, j := range jobs {
		m := map[string]any{}
		for k, v := range jobFields(t, j) {
			m[k] = v
		}
		if len(j.Attachments) > 0 {
			m["attachments"] = j.Attachments
		}
		line, err := json.Marshal(m)
		require.NoError(t, err)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// toCSV renders jobs as a CSV file with every column.
func toCSV(t *testing.T, jobs []*tasks.Job) []byte {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	require.NoError(t, w.Write(tasks.JobFields))
	for _, j := range jobs {
		m := jobFields(t, j)
		rec := make([]string, len(tasks.JobFields))
		for i, f := range tasks.JobFields {
			rec[i] = m[f]
		}
		require.NoError(t, w.Write(rec))
	}
	w.Flush()
	require.NoError(t, w.Error())
	return b.Bytes()
}

// canonical is a job's comparable form: times as instants, no empty
// attachment list.
func canonical(t *testing.T, jobs []*tasks.Job) []string {
	t.Helper()
	out := make([]string, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, strings.Join(mapLines(jobFields(t, j)), "\n"))
	}
	return out
}

func mapLines(m map[string]string) []string {
	var out []string
	for _, f := range tasks.JobFields {
		if v, ok := m[f]; ok && v != "" {
			out = append(out, f+"="+v)
		}
	}
	return out
}

// portable keeps the jobs that both formats can carry unchanged: valid
// UTF-8 (JSON would replace the rest) and no carriage return (a CSV reader
// turns a quoted "\r\n" into "\n").
func portable(t *testing.T, jobs []*tasks.Job) []*tasks.Job {
	t.Helper()
	var out []*tasks.Job
	for _, j := range jobs {
		ok := true
		for _, v := range jobFields(t, j) {
			if !utf8.ValidString(v) || strings.ContainsRune(v, '\r') {
				ok = false
			}
		}
		for _, a := range j.Attachments {
			if !utf8.ValidString(a.Source+a.FileName) || strings.ContainsRune(a.Source+a.FileName, '\r') {
				ok = false
			}
		}
		if ok {
			out = append(out, j)
		}
	}
	return out
}

// FuzzReadRows reads arbitrary input as CSV and as JSONL: it never panics,
// every problem names its line and field, every error its line, and the
// jobs read in one format, written in the other and read back, are the
// same jobs.
func FuzzReadRows(f *testing.F) {
	f.Add([]byte(goodCSV))
	f.Add([]byte(goodJSONL))
	f.Add([]byte("seller_id,text\n\"x\"y,z\nA1,ok\n"))
	f.Add([]byte("\ufeffseller_id,order_id,attachments\r\nA1, 1 ,\"a.pdf|A;b.pdf\"\r\n"))
	f.Add([]byte("seller_id,seller_id\nA,B\n"))
	f.Add([]byte(`{"seller_id":"A1","text":"héllo\nworld","coverage_start":"2026-01-01T00:00:00+02:00"}` + "\n{bad\n"))
	f.Add([]byte(`{"seller_id":"A1","attachments":[{"source":"s3://b/k","file_name":"k"}],"deadline":"soon"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fromCSV := readAll(t, data, "csv")
		fromJSONL := readAll(t, data, "jsonl")

		csvJobs := portable(t, fromCSV)
		back := readAll(t, toJSONL(t, csvJobs), "jsonl")
		assert.Equal(t, canonical(t, csvJobs), canonical(t, back), "CSV jobs written as JSONL")

		jsonJobs := portable(t, fromJSONL)
		back = readAll(t, toCSV(t, jsonJobs), "csv")
		assert.Equal(t, canonical(t, jsonJobs), canonical(t, back), "JSONL jobs written as CSV")
	})
}
