package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/ratelimit"
)

// A worker's handler reserves before each SP-API call. A short wait is
// slept in process; a long one defers the job to its slot (with asynq, for
// example, by returning an error whose retry delay is r.Wait and that
// IsFailure does not count). When the job comes back, Reserve returns the
// same slot, now due.
func ExampleLimiter_Reserve() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	l := ratelimit.New(rdb, ratelimit.Options{CampaignShare: 0.8})
	key := ratelimit.Key{Seller: "A2EUQ1WTGCTBG2", Operation: "createLegalDisclosure"}
	def := ratelimit.Limit{Rate: 1, Burst: 5} // Messaging's default plan

	r, err := l.Reserve(ctx, key, ratelimit.Campaign, "job-42", def)
	if err != nil {
		fmt.Println("retry later:", err)
		return
	}
	for !r.Ready() {
		if r.Wait > 2*time.Second {
			fmt.Println("defer the job by", r.Wait)
			return
		}
		time.Sleep(r.Wait)
		if r, err = l.Reserve(ctx, key, ratelimit.Campaign, "job-42", def); err != nil {
			fmt.Println("retry later:", err)
			return
		}
	}
	// ... call Amazon, then:
	_ = l.Observe(ctx, key, 1.0) // when x-amzn-RateLimit-Limit was present
	// _ = l.Throttled(ctx, key)  // when Amazon answered 429
	_ = l.Done(ctx, key, "job-42")
}
