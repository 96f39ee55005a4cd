package oncall_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/oncall"
)

// BenchmarkShift is who is on call at a moment: the rotation's share of
// `oncall`, a page and the digest.
func BenchmarkShift(b *testing.B) {
	r, err := oncall.ParseRotation("weekly", "Mon 09:00", "Europe/Prague", "2026-01-05")
	if err != nil {
		b.Fatal(err)
	}
	t := time.Date(2027, 3, 28, 12, 0, 0, 0, time.UTC)
	for b.Loop() {
		r.Shift(t)
	}
}

// BenchmarkEscalationTick is one run of the escalation job with 1,000
// incidents being escalated and none due (an escalation of one level
// that does not repeat): what infrabot spends every 5 s during a large
// outage, besides paging; the scheduler's own cost is included.
func BenchmarkEscalationTick(b *testing.B) {
	w := newBenchWorld(b)
	w.target.Failing.Store(false) // the check passes: no incident of its own
	ctx := context.Background()
	for i := 1; i <= 1000; i++ {
		w.oncall.IncidentChanged(ctx, actions.IncidentEvent{
			Change: actions.IncidentOpened, ID: int64(1000 + i), Check: fmt.Sprintf("check-%d", i),
			Summary: "failing", Escalation: "ci-oncall", Notify: []actions.Target{{Kind: actions.ToChannel, Name: "default"}},
			Time: w.Clock.Now(),
		})
	}
	w.oncall.Wait()
	for b.Loop() {
		w.Clock.Advance(5 * time.Second)
		w.Tick()
	}
	b.StopTimer()
	if n := len(w.Chat.Posts()); n != 1000 {
		b.Fatalf("%d messages sent, want the 1,000 first pages only", n)
	}
}
