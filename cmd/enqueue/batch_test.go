package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/tasks"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// fixture is an environment for enqueue: a flushed Redis, a sellers file
// and an attachment store.
type fixture struct {
	t   *testing.T
	dir string
	env map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	redistest.Client(t) // flush
	dir := t.TempDir()
	sellers := filepath.Join(dir, "sellers.json")
	require.NoError(t, os.WriteFile(sellers, []byte(`[
	  {"id":"A1SELLERNA","refresh_token":"Atzr|a","region":"na"},
	  {"id":"A2SELLEREU","refresh_token":"Atzr|b","region":"eu"}]`), 0o600))
	store := filepath.Join(dir, "store")
	require.NoError(t, os.MkdirAll(store, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(store, "invoice.pdf"), []byte("%PDF-1.4\n%%EOF\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "local.pdf"), []byte("%PDF-1.4\nlocal\n%%EOF\n"), 0o600))
	return &fixture{t: t, dir: dir, env: map[string]string{
		"REDIS_URL": redistest.URL(t), "SPAPI_SELLERS_FILE": sellers, "ATTACHMENT_STORE": "file://" + store}}
}

func (f *fixture) run(stdin string, args ...string) (int, string, string) {
	f.t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return f.env[k] }, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func (f *fixture) write(name, content string) string {
	f.t.Helper()
	p := filepath.Join(f.dir, name)
	require.NoError(f.t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// queued returns the payloads of every job waiting in its seller's line,
// sorted.
func (f *fixture) queued() []string {
	f.t.Helper()
	opt, err := redis.ParseURL(f.env["REDIS_URL"])
	require.NoError(f.t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	jobs, err := tasks.NewDispatcher(rdb, dispatch.Options{}).Jobs(context.Background())
	require.NoError(f.t, err)
	var out []string
	for _, p := range jobs {
		j, err := tasks.DecodeJob(p)
		require.NoError(f.t, err)
		b, _ := json.Marshal(j)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

const goodJSONL = `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000001","type":"confirmOrderDetails","text":"Which size?"}
{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000002","type":"invoice","attachments":[{"source":"invoice.pdf","file_name":"inv.pdf"}]}
{"seller_id":"A2SELLEREU","marketplace_id":"A1PA6795UKMFR9","order_id":"222-1111111-0000003","type":"warranty","attachments":[{"source":"local.pdf","file_name":"w.pdf"}],"coverage_start":"2026-01-01T00:00:00Z","coverage_end":"2027-01-01T00:00:00Z"}
`

const goodCSV = `seller_id,marketplace_id,order_id,type,text,attachments,coverage_start,coverage_end
A1SELLERNA,ATVPDKIKX0DER,111-1111111-0000001,confirmOrderDetails,Which size?,,,
A1SELLERNA,ATVPDKIKX0DER,111-1111111-0000002,invoice,,invoice.pdf|inv.pdf,,
A2SELLEREU,A1PA6795UKMFR9,222-1111111-0000003,warranty,,local.pdf|w.pdf,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z
`

// Ensure every kind of bad row is reported with its line, field and
// reason, and exactly the good rows are enqueued.
func TestBatchReportsEveryBadRow(t *testing.T) {
	f := newFixture(t)
	six := strings.TrimSuffix(strings.Repeat(`{"source":"invoice.pdf","file_name":"a.pdf"},`, 6), ",")
	rows := []string{
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000001","type":"confirmOrderDetails","text":"Which size?"}`, // 1 good
		`{"seller_id":"A1SELLERNA",`, // 2 malformed JSON
		`{"seller_id":"NOSUCH","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000003","type":"confirmOrderDetails","text":"x"}`,                                           // 3
		`{"seller_id":"A1SELLERNA","marketplace_id":"A1PA6795UKMFR9","order_id":"111-1111111-0000004","type":"confirmOrderDetails","text":"x"}`,                                      // 4 EU marketplace
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"12345","type":"confirmOrderDetails","text":"x"}`,                                                     // 5
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000006","type":"sendCoupon","text":"x"}`,                                                // 6
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000007","type":"digitalAccessKey","text":"` + strings.Repeat("ü", 401) + `"}`,           // 7
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000008","type":"confirmOrderDetails","text":"<p>Hi</p>"}`,                               // 8
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000009","type":"confirmOrderDetails","text":"mail a@b.com"}`,                            // 9
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000010","type":"legalDisclosure","attachments":[` + six + `]}`,                          // 10
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000011","type":"invoice","attachments":[{"source":"missing.pdf","file_name":"m.pdf"}]}`, // 11
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000012","type":"confirmOrderDetails","text":"x","deadline":"tomorrow"}`,                 // 12
		``, // 13 blank: skipped
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000014","type":"invoice","attachments":[{"source":"invoice.pdf","file_name":"i.pdf"}]}`, // 14 good
		`{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-0000015","type":"confirmOrderDetails","txt":"typo"}`,                                     // 15 unknown field
	}
	path := f.write("campaign.jsonl", strings.Join(rows, "\n")+"\n")
	code, out, _ := f.run("", "batch", path, "--json")
	assert.Equal(t, 2, code)
	var sum batchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	assert.Equal(t, 2, sum.Accepted)
	assert.Equal(t, 14, sum.Rows)
	want := map[int]string{2: "json", 3: "seller_id", 4: "marketplace_id", 5: "order_id", 6: "type", 7: "text", 8: "text",
		9: "text", 10: "attachments", 11: "attachments[0].source", 12: "deadline", 15: "txt"}
	got := map[int]string{}
	for _, r := range sum.Rejected {
		if _, seen := got[r.Line]; !seen {
			got[r.Line] = r.Field
		}
		assert.NotEmpty(t, r.Reason)
	}
	assert.Equal(t, want, got)
	assert.Len(t, f.queued(), 2)
	assert.Equal(t, "campaign", sum.Campaign)
}

// Ensure CSV and JSONL give the same jobs, a re-run enqueues nothing new,
// and local files are copied into the attachment store.
func TestBatchCSVEqualsJSONLAndRerunIsDuplicate(t *testing.T) {
	f := newFixture(t)
	jsonl := f.write("spring.jsonl", goodJSONL)
	csvPath := f.write("spring.csv", goodCSV)

	code, out, errOut := f.run("", "batch", jsonl)
	require.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, "3 accepted")
	fromJSONL := f.queued()
	require.Len(t, fromJSONL, 3)

	code, out, _ = f.run("", "batch", jsonl)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "0 accepted, 3 duplicates")

	redistest.Client(t) // flush, then the same jobs from CSV
	code, out, errOut = f.run("", "batch", csvPath)
	require.Equal(t, 0, code, out+errOut)
	assert.Equal(t, fromJSONL, f.queued())
	assert.Contains(t, fromJSONL[2], "sha256/", "a local file is referenced by its store path")
}

func TestBatchStrictAndDryRun(t *testing.T) {
	f := newFixture(t)
	path := f.write("mixed.jsonl", goodJSONL+`{"seller_id":"A1SELLERNA"}`+"\n")
	code, out, _ := f.run("", "batch", path, "--strict")
	assert.Equal(t, 2, code)
	assert.Contains(t, out, "nothing enqueued")
	assert.Empty(t, f.queued())

	code, out, _ = f.run("", "batch", path, "--dry-run", "--json")
	assert.Equal(t, 2, code)
	var sum batchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &sum))
	assert.Equal(t, 3, sum.Accepted)
	assert.Empty(t, f.queued())

	// From stdin, local paths resolve under --files-dir.
	code, out, _ = f.run(goodJSONL, "batch", "-", "--campaign", "piped", "--files-dir", f.dir)
	assert.Equal(t, 0, code, out)
	assert.Len(t, f.queued(), 3)
}

// Ensure a batch puts every job in its seller's line (the workers release
// them at the seller's rate; see package dispatch) and returns at once.
func TestBatchPutsJobsInTheirSellersLine(t *testing.T) {
	f := newFixture(t)
	var b strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-1111111-%07d","type":"confirmOrderDetails","text":"Which size?"}`+"\n", i)
	}
	code, out, errOut := f.run("", "batch", f.write("lined.jsonl", b.String()))
	require.Equal(t, 0, code, out+errOut)
	assert.Len(t, f.queued(), 20)
}

func TestSendAndStatus(t *testing.T) {
	f := newFixture(t)
	code, out, errOut := f.run("", "send", "--seller", "A1SELLERNA", "--marketplace", "ATVPDKIKX0DER", "--order", "111-1111111-0000001",
		"--type", "invoice", "--attach", filepath.Join(f.dir, "local.pdf")+":my-invoice.pdf")
	require.Equal(t, 0, code, errOut)
	id := strings.TrimSpace(out)
	assert.True(t, strings.HasPrefix(id, "j_"), out)

	code, out, _ = f.run("", "send", "--seller", "A1SELLERNA", "--marketplace", "ATVPDKIKX0DER", "--order", "111-1111111-0000001",
		"--type", "sendInvoice", "--attach", filepath.Join(f.dir, "local.pdf")+":my-invoice.pdf")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "duplicate of "+id)

	code, _, errOut = f.run("", "send", "--seller", "A1SELLERNA", "--marketplace", "ATVPDKIKX0DER", "--order", "bad", "--type", "invoice")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "order_id")

	code, out, _ = f.run("", "status", id)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "pending")
	code, out, _ = f.run("", "status", "--campaign", "", "--json")
	assert.Equal(t, 2, code, out)
	code, _, errOut = f.run("", "status", "j_nosuch")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "not found")
}
