package sandbox

import "time"

// bucket is a token bucket: PerSecond tokens per second up to Burst, one
// per request. It starts full. Guarded by the owning sellerState's mutex.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(r Rate, now time.Time) *bucket {
	b := float64(r.burst())
	return &bucket{rate: r.PerSecond, burst: b, tokens: b, last: now}
}

// take refills the bucket up to now and takes a token if there is one.
func (b *bucket) take(now time.Time) bool {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// take spends one token of the seller's bucket for op, creating the bucket
// (full) with plan r on first use.
func (ss *sellerState) take(op string, r Rate, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	b, ok := ss.buckets[op]
	if !ok {
		b = newBucket(r, now)
		ss.buckets[op] = b
	}
	return b.take(now)
}
