package environments

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// Once the run is cancelled no further item starts, though a slot is
// free: a create that was never sent must not show up as a step that
// failed (TestCancelProvisionStopsOnlyWhatWasNotSent saw one under load,
// when the create in flight gave its slot back before the loop saw the
// cancel).
func TestForEachStartsNothingOnceCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var started atomic.Int32
	errs := forEach(ctx, 1, make([]int, 64), func(context.Context, int) error {
		started.Add(1)
		return nil
	})
	if n := started.Load(); n != 0 {
		t.Errorf("%d items started after the cancel, want none", n)
	}
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("item %d: %v, want the cancel", i, err)
		}
	}
}
