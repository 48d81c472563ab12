package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// invoiceRow is a JSONL invoice row for order n with one attachment.
func invoiceRow(n int, source string) string {
	b, _ := json.Marshal(map[string]any{
		"seller_id": "A1SELLERNA", "marketplace_id": "ATVPDKIKX0DER", "type": "invoice",
		"order_id":    fmt.Sprintf("111-1111111-%07d", n),
		"attachments": []map[string]string{{"source": source, "file_name": "i.pdf"}},
	})
	return string(b)
}

// storeHolds reports whether any file in the attachment store has content.
func (f *fixture) storeHolds(content string) bool {
	f.t.Helper()
	found := false
	dir := strings.TrimPrefix(f.env["ATTACHMENT_STORE"], "file://")
	require.NoError(f.t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && string(b) == content {
			found = true
		}
		return err
	}))
	return found
}

// batchJSON runs enqueue batch with --json and returns its exit code and
// summary.
func (f *fixture) batchJSON(stdin string, args ...string) (int, batchSummary) {
	f.t.Helper()
	code, out, errOut := f.run(stdin, append([]string{"batch", "--json"}, args...)...)
	var sum batchSummary
	require.NoError(f.t, json.Unmarshal([]byte(out), &sum), out+errOut)
	return code, sum
}

// rejectedAt maps each rejected line to "field: reason".
func rejectedAt(sum batchSummary) map[int]string {
	m := map[int]string{}
	for _, r := range sum.Rejected {
		m[r.Line] = r.Field + ": " + r.Reason
	}
	return m
}

// Ensure a batch row's local files resolve only under the batch file's
// folder: absolute paths, ".." and symbolic links leading out are rejected
// per row (line, attachments[0].source, reason), nothing of them reaches
// the store, and the good rows are still queued.
func TestBatchLocalFilesStayUnderTheBatchFolder(t *testing.T) {
	f := newFixture(t)
	const secret = "%PDF-1.4\naws_secret_access_key = SECRET\n%%EOF\n"
	f.write("secret.pdf", secret) // outside the batch folder
	sub := filepath.Join(f.dir, "batches")
	require.NoError(t, os.MkdirAll(filepath.Join(sub, "nested"), 0o755))
	f.write("batches/ok.pdf", "%PDF-1.4\nok\n%%EOF\n")
	f.write("batches/nested/n.pdf", "%PDF-1.4\nnested\n%%EOF\n")
	require.NoError(t, os.Symlink("ok.pdf", filepath.Join(sub, "link-in.pdf")))
	require.NoError(t, os.Symlink(filepath.Join(f.dir, "secret.pdf"), filepath.Join(sub, "link-out.pdf")))
	require.NoError(t, os.Symlink(f.dir, filepath.Join(sub, "up")))

	rows := []string{
		invoiceRow(1, "ok.pdf"),                                     // good
		invoiceRow(2, filepath.Join(f.dir, "secret.pdf")),           // absolute
		invoiceRow(3, "../secret.pdf"),                              // climbs out
		invoiceRow(4, "nested/../../secret.pdf"),                    // climbs out
		invoiceRow(5, "link-out.pdf"),                               // symlink out
		invoiceRow(6, "up/secret.pdf"),                              // directory symlink out
		invoiceRow(7, "nested/n.pdf"),                               // good
		invoiceRow(8, "link-in.pdf"),                                // good: the link stays inside
		invoiceRow(9, "invoice.pdf"),                                // good: a store path
		invoiceRow(10, filepath.Join(f.dir, "store/../secret.pdf")), // absolute
	}
	path := f.write("batches/rows.jsonl", strings.Join(rows, "\n")+"\n")
	code, sum := f.batchJSON("", path)
	assert.Equal(t, 2, code)
	assert.Equal(t, 4, sum.Accepted)
	got := rejectedAt(sum)
	require.Len(t, got, 6, got)
	for line, want := range map[int]string{2: "absolute path", 3: "leads outside", 4: "leads outside",
		5: "through a symbolic link", 6: "through a symbolic link", 10: "absolute path"} {
		assert.True(t, strings.HasPrefix(got[line], "attachments[0].source: "), got[line])
		assert.Contains(t, got[line], want, "line %d", line)
		assert.Contains(t, got[line], sub, "line %d names the folder", line)
	}
	assert.Len(t, f.queued(), 4)
	assert.False(t, f.storeHolds(secret), "the secret was copied into the attachment store")
	assert.True(t, f.storeHolds("%PDF-1.4\nnested\n%%EOF\n"))
}

// Ensure --files-dir replaces the batch file's folder, and that rows from
// stdin name local files only with --files-dir (else rejected with that
// hint, while store paths still work).
func TestBatchFilesDirAndStdin(t *testing.T) {
	f := newFixture(t)
	files := filepath.Join(f.dir, "files")
	require.NoError(t, os.MkdirAll(files, 0o755))
	f.write("files/a.pdf", "%PDF-1.4\na\n%%EOF\n")
	rows := invoiceRow(1, "a.pdf") + "\n" + invoiceRow(2, "local.pdf") + "\n" + invoiceRow(3, "invoice.pdf") + "\n"
	path := f.write("rows.jsonl", rows)

	// The batch file's folder holds local.pdf but not a.pdf.
	code, sum := f.batchJSON("", path, "--dry-run")
	assert.Equal(t, 2, code)
	assert.Equal(t, 2, sum.Accepted)
	assert.Contains(t, rejectedAt(sum)[1], "attachments[0].source: ")
	assert.Contains(t, rejectedAt(sum)[1], "no such file under "+f.dir)

	// --files-dir: a.pdf, but no longer local.pdf.
	code, sum = f.batchJSON("", path, "--dry-run", "--files-dir", files)
	assert.Equal(t, 2, code)
	assert.Equal(t, 2, sum.Accepted)
	assert.Contains(t, rejectedAt(sum)[2], "no such file under "+files)

	// stdin without --files-dir: no local file at all.
	code, sum = f.batchJSON(rows, "-", "--dry-run")
	assert.Equal(t, 2, code)
	assert.Equal(t, 1, sum.Accepted)
	for _, line := range []int{1, 2} {
		assert.Contains(t, rejectedAt(sum)[line], "attachments[0].source: ")
		assert.Contains(t, rejectedAt(sum)[line], "--files-dir", "line %d", line)
	}
	abs := invoiceRow(4, filepath.Join(f.dir, "local.pdf"))
	code, sum = f.batchJSON(abs+"\n", "-", "--dry-run")
	assert.Equal(t, 2, code)
	assert.Contains(t, rejectedAt(sum)[1], "--files-dir")

	// stdin with --files-dir.
	code, sum = f.batchJSON(rows, "-", "--dry-run", "--files-dir", files)
	assert.Equal(t, 2, code)
	assert.Equal(t, 2, sum.Accepted)
	assert.Contains(t, rejectedAt(sum)[2], "no such file under "+files)

	code, _, errOut := f.run(rows, "batch", "-", "--files-dir", filepath.Join(f.dir, "nope"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--files-dir")
}

// Ensure the default campaign (the file name, or stdin-DATE) is not part of
// the job id: the same rows from a renamed file and from stdin are
// duplicates, while a newly named campaign makes them new jobs.
func TestBatchDefaultCampaignIsNotPartOfTheID(t *testing.T) {
	f := newFixture(t)
	first := f.write("spring.jsonl", goodJSONL)
	code, sum := f.batchJSON("", first)
	require.Equal(t, 0, code, sum)
	assert.Equal(t, 3, sum.Accepted)
	assert.Equal(t, "spring", sum.Campaign)
	for _, q := range f.queued() {
		assert.Contains(t, q, `"campaign":"spring"`, "the default campaign still labels the job")
	}

	renamed := f.write("spring-copy.jsonl", goodJSONL)
	code, sum = f.batchJSON("", renamed)
	require.Equal(t, 0, code, sum)
	assert.Equal(t, 0, sum.Accepted)
	assert.Equal(t, 3, sum.Duplicates)

	code, sum = f.batchJSON(goodJSONL, "-", "--files-dir", f.dir)
	require.Equal(t, 0, code, sum)
	assert.True(t, strings.HasPrefix(sum.Campaign, "stdin-"), sum.Campaign)
	assert.Equal(t, 0, sum.Accepted)
	assert.Equal(t, 3, sum.Duplicates)

	code, sum = f.batchJSON("", renamed, "--campaign", "autumn")
	require.Equal(t, 0, code, sum)
	assert.Equal(t, 3, sum.Accepted)
	code, sum = f.batchJSON("", first, "--campaign", "autumn")
	require.Equal(t, 0, code, sum)
	assert.Equal(t, 3, sum.Duplicates, "a named campaign is part of the id")
	assert.Len(t, f.queued(), 6)
}

// Ensure a CSV record whose first field is malformed is a rejected row
// (it used to crash the reader), and the rows after it still count.
func TestBatchCSVMalformedFirstField(t *testing.T) {
	f := newFixture(t)
	path := f.write("quotes.csv", "seller_id,marketplace_id,order_id,type,text\n"+
		`"A1SELLERNA"x,ATVPDKIKX0DER,111-1111111-0000001,confirmOrderDetails,hi`+"\n"+
		"A1SELLERNA,ATVPDKIKX0DER,111-1111111-0000002,confirmOrderDetails,Which size?\n")
	code, sum := f.batchJSON("", path, "--dry-run")
	assert.Equal(t, 2, code)
	assert.Equal(t, 2, sum.Rows)
	assert.Equal(t, 1, sum.Accepted)
	require.Len(t, sum.Rejected, 1)
	assert.Equal(t, rejection{Line: 2, Field: "csv", Reason: `extraneous or missing " in quoted-field`}, sum.Rejected[0])
}
