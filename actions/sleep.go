package actions

import (
	"context"
	"time"
)

// Sleep waits d on the real clock, or until ctx ends, and then returns
// ctx's error. It is the default of every Sleep option a test replaces
// with a clock of its own (the scheduler's, a chat adapter's delivery
// queue).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
