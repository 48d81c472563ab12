package jobstate_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/jobstate"
)

// A worker claims a job's ledger keys before sending and settles them after.
func ExampleLedger_Claim() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	l := jobstate.NewLedger(rdb, "")
	keys := []jobstate.Key{
		jobstate.OrderKey("A2EUQ1WTGCTBG2", "111-2222222-3333333", "negativeFeedbackRemoval"),
		jobstate.IdemKey("A2EUQ1WTGCTBG2", "crm-7781"),
	}

	res, err := l.Claim(ctx, keys, "job-42", 10*time.Minute)
	if err != nil {
		fmt.Println("retry later:", err)
		return
	}
	switch res.Status {
	case jobstate.Claimed:
		// send; on 2xx:
		_ = l.Commit(ctx, keys, "job-42", "request-id-from-amazon")
		// on a definite failure: l.Release(ctx, keys, "job-42")
		// when the answer was lost: l.MarkInDoubt(ctx, keys, "job-42")
	case jobstate.Mine:
		_ = l.MarkInDoubt(ctx, keys, "job-42") // outcome: unconfirmed
	case jobstate.Done:
		fmt.Println("skipped_duplicate:", res.Key, res.Entry.State)
	case jobstate.Busy:
		fmt.Println("another job holds", res.Key, "- retry later")
	}
}
