// Package wait sleeps for as long as a context allows.
package wait

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends, and returns ctx's error if it ended
// first (also when d <= 0: a cancelled caller stops at once).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
