package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Ensure batch rows and send accept review requests with their delivery
// dates, queue a dated one for the opening of Amazon's window, and warn
// (without rejecting) about a review row that carries no delivery date.
func TestReviewRequestRows(t *testing.T) {
	f := newFixture(t)
	delivered := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second)
	rows := `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-2222222-0000001","type":"requestReview","delivered_at":"` + delivered.Format(time.RFC3339) + `"}
{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-2222222-0000002","type":"productReviewAndSellerFeedback"}
{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-2222222-0000003","type":"confirmOrderDetails","text":"hi","delivered_at":"` + delivered.Format(time.RFC3339) + `"}
`
	code, sum := f.batchJSON("", f.write("reviews.jsonl", rows))
	assert.Equal(t, 2, code, "the confirmOrderDetails row with a delivery date is rejected")
	assert.Equal(t, 2, sum.Accepted)
	assert.Equal(t, map[int]string{3: "delivered_at: only review requests (productReviewAndSellerFeedback) take delivery dates"}, rejectedAt(sum))
	require.Len(t, sum.Warnings, 1)
	assert.Equal(t, 2, sum.Warnings[0].Line)
	assert.Equal(t, "delivered_at", sum.Warnings[0].Field)

	code, _, errOut := f.run("", "batch", "--campaign", "again", f.write("reviews2.jsonl", rows[:len(rows)-1]))
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "line 2: warning: delivered_at: review request without delivered_at")

	code, out, errOut := f.run("", "send", "--seller", "A1SELLERNA", "--marketplace", "ATVPDKIKX0DER",
		"--order", "111-2222222-0000004", "--type", "requestReview", "--delivery-start", delivered.Format(time.RFC3339),
		"--delivery-end", delivered.Add(48*time.Hour).Format(time.RFC3339))
	require.Equal(t, 0, code, out+errOut)
	assert.Regexp(t, `^j_[0-9a-f]{32}\n$`, out)
}

// Ensure an idempotency key reused with another message is an error for
// send and a rejected row for batch, not a silent duplicate.
func TestIdempotencyKeyReusedWithAnotherMessage(t *testing.T) {
	f := newFixture(t)
	send := func(text string) (int, string, string) {
		return f.run("", "send", "--seller", "A1SELLERNA", "--marketplace", "ATVPDKIKX0DER",
			"--order", "111-2222222-0000010", "--type", "confirmOrderDetails", "--text", text, "--idempotency-key", "k-1")
	}
	code, out, errOut := send("Which size?")
	require.Equal(t, 0, code, out+errOut)
	code, out, _ = send("Which size?")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "duplicate of")
	code, _, errOut = send("Which colour?")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "idempotency_key")

	row := `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-2222222-0000010","type":"confirmOrderDetails","text":"Which material?","idempotency_key":"k-1"}` + "\n"
	code, sum := f.batchJSON("", f.write("conflict.jsonl", row))
	assert.Equal(t, 2, code)
	assert.Contains(t, rejectedAt(sum)[1], "idempotency_key: ")
	assert.Zero(t, sum.Duplicates)
}

// Ensure review requests and messages of one batch all join their lines.
func TestBatchLinesReviewRequestsAndMessages(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC().Truncate(time.Second)
	early := now.Add(-2 * 24 * time.Hour) // window opens in 3 days
	inside := now.Add(-10 * 24 * time.Hour)
	var b strings.Builder
	row := func(i int, typ, extra string) {
		fmt.Fprintf(&b, `{"seller_id":"A1SELLERNA","marketplace_id":"ATVPDKIKX0DER","order_id":"111-3333333-%07d","type":"%s"%s}`+"\n", i, typ, extra)
	}
	for i := 0; i < 10; i++ {
		row(i, "requestReview", `,"delivered_at":"`+early.Format(time.RFC3339)+`"`)
	}
	for i := 10; i < 30; i++ {
		row(i, "requestReview", `,"delivered_at":"`+inside.Format(time.RFC3339)+`"`)
	}
	for i := 30; i < 50; i++ {
		row(i, "confirmOrderDetails", `,"text":"Which size?"`)
	}
	code, out, errOut := f.run("", "batch", f.write("mixed.jsonl", b.String()))
	require.Equal(t, 0, code, out+errOut)

	assert.Len(t, f.queued(), 50, "every row waits in its seller's line (package dispatch tests the release)")
}
