package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/tasks"
)

// An order pipeline enqueues one job per event ("order shipped: send the
// invoice") and gets the job id back, or a duplicate answer when the same
// event is delivered twice.
func ExampleProducer_Enqueue() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	sellers, err := tasks.LoadSellersFile("/etc/spmsg/sellers.json")
	if err != nil {
		log.Fatal(err)
	}
	p := tasks.NewProducer(rdb, sellers)

	res, err := p.Enqueue(ctx, &tasks.Job{
		SellerID:       "A1EXAMPLESELLER",
		MarketplaceID:  "ATVPDKIKX0DER",
		OrderID:        "112-1234567-1234567",
		Type:           "invoice",
		Attachments:    []tasks.Attachment{{Source: "invoices/112-1234567-1234567.pdf", FileName: "invoice.pdf"}},
		IdempotencyKey: "invoice:112-1234567-1234567",
	})
	var invalid *tasks.ValidationError
	switch {
	case errors.As(err, &invalid):
		for _, p := range invalid.Problems {
			fmt.Println("bad job:", p.Field, p.Reason)
		}
	case err != nil:
		log.Fatal(err) // Redis unreachable: retry the event later
	case res.Status == tasks.StatusDuplicate:
		fmt.Println("already queued or sent as", res.DuplicateOf)
	default:
		fmt.Println("queued", res.ID)
	}
}

// Ensure the order-pipeline use of the Go producer API works as the
// example shows, against a real Redis.
func TestOrderPipelineProducer(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	sellers, err := tasks.ParseSellers(strings.NewReader(sellersJSON()))
	require.NoError(t, err)
	p := tasks.NewProducer(rdb, sellers)
	deadline := time.Now().Add(time.Hour)
	j := &tasks.Job{SellerID: sellerNA, MarketplaceID: mktUS, OrderID: "112-1234567-1234567", Type: "confirmOrderDetails",
		Text: "Which size would you like?", IdempotencyKey: "size:112-1234567-1234567", Deadline: &deadline}
	res, err := p.Enqueue(ctx, j)
	require.NoError(t, err)
	assert.Equal(t, tasks.StatusAccepted, res.Status)
	assert.Equal(t, tasks.QueueTransactional, res.Queue)

	again, err := p.Enqueue(ctx, j)
	require.NoError(t, err)
	assert.Equal(t, tasks.StatusDuplicate, again.Status)
	assert.Equal(t, res.ID, again.DuplicateOf)

	bad := *j
	bad.OrderID, bad.Text, bad.IdempotencyKey = "nope", "<b>hi</b>", ""
	_, err = p.Enqueue(ctx, &bad)
	var ve *tasks.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Problems, 2)

	rec, err := p.Outcomes.Get(ctx, res.ID)
	require.NoError(t, err)
	assert.Equal(t, "pending", rec.State)
}

// Ensure a job whose record exists without a line entry (its producer died
// between the two steps) is queued by the next Enqueue, never lost.
func TestProducerRequeuesOrphanedRecord(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	sellers, err := tasks.ParseSellers(strings.NewReader(sellersJSON()))
	require.NoError(t, err)
	p := tasks.NewProducer(rdb, sellers)
	j := &tasks.Job{SellerID: sellerNA, MarketplaceID: mktUS, OrderID: "112-1234567-7654321", Type: "confirmOrderDetails", Text: "Which size?"}
	created, _, err := p.Outcomes.Accept(ctx, j.Ref(j.ID())) // the first half only
	require.NoError(t, err)
	require.True(t, created)

	res, err := p.Enqueue(ctx, j)
	require.NoError(t, err)
	assert.Equal(t, tasks.StatusAccepted, res.Status)
	waiting, err := p.Lines.Waiting(ctx, sellerNA, res.ID)
	require.NoError(t, err)
	assert.True(t, waiting, "in its seller's line")

	again, err := p.Enqueue(ctx, j)
	require.NoError(t, err)
	assert.Equal(t, tasks.StatusDuplicate, again.Status)
	rep, err := p.Outcomes.Campaign(ctx, "", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(1), rep.Total, "counted once")
}

// Ensure an idempotency key used again in another campaign is the same job:
// a duplicate, counted in neither campaign twice.
func TestIdempotencyKeyAcrossCampaigns(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	sellers, err := tasks.ParseSellers(strings.NewReader(sellersJSON()))
	require.NoError(t, err)
	p := tasks.NewProducer(rdb, sellers)
	j := &tasks.Job{SellerID: sellerNA, MarketplaceID: mktUS, OrderID: "112-1234567-1111111", Type: "confirmOrderDetails",
		Text: "Which size?", IdempotencyKey: "k-1", Campaign: "a"}
	res, err := p.Enqueue(ctx, j)
	require.NoError(t, err)
	require.Equal(t, tasks.StatusAccepted, res.Status)
	k := *j
	k.Campaign = "b"
	again, err := p.Enqueue(ctx, &k)
	require.NoError(t, err)
	assert.Equal(t, tasks.StatusDuplicate, again.Status)
	assert.Equal(t, res.ID, again.DuplicateOf)
	repB, err := p.Outcomes.Campaign(ctx, "b", 0)
	require.NoError(t, err)
	assert.Zero(t, repB.Total)
	rec, err := p.Outcomes.Get(ctx, res.ID)
	require.NoError(t, err)
	assert.Equal(t, "a", rec.Campaign)
}
