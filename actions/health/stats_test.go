package health_test

import (
	"context"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/health/healthtest"
)

// Stats count results by type of check (scheduled runs, runs asked for
// in chat, heartbeats' pings and missed deadlines), the durations of
// those that probed something, the open incidents and the pings by kind.
func TestStatsCountByType(t *testing.T) {
	t.Parallel()
	tg := healthtest.NewService(t)
	w := newWorld(t, []health.Check{
		httpCheck("logs-a", tg.URL),
		httpCheck("logs-b", tg.URL),
		{Name: "nightly", Kind: health.Heartbeat, Period: time.Hour, Token: "hb-stats-token"},
	})
	kind := func(k health.Kind) health.KindStats {
		t.Helper()
		for _, ks := range w.mod.Stats().Kinds {
			if ks.Kind == k {
				return ks
			}
		}
		t.Fatalf("no stats for %s", k)
		return health.KindStats{}
	}
	if st := w.mod.Stats(); len(st.Kinds) != len(health.Kinds) || st.OpenIncidents != 0 {
		t.Fatalf("a fresh module's stats: %+v", st)
	}
	if h := kind(health.HTTP); h.Checks != 2 || h.Passed+h.Failed != 0 {
		t.Fatalf("http before any run: %+v", h)
	}

	w.step(time.Minute) // both pass
	tg.Failing.Store(true)
	w.step(time.Minute) // both fail
	w.step(time.Minute) // both fail: two incidents
	w.Expect(w.As("carol", "check logs-a"), false, "failed")

	h := kind(health.HTTP)
	if h.Passed != 2 || h.Failed != 5 {
		t.Errorf("http results: %d ok, %d failed; want 2 and 5", h.Passed, h.Failed)
	}
	if h.Count != 7 || h.Counts[len(h.Counts)-1] != 7 || h.Sum <= 0 {
		t.Errorf("http durations: count %d, buckets %v, sum %v; want 7 in the last bucket", h.Count, h.Counts, h.Sum)
	}
	for i := 1; i < len(h.Counts); i++ {
		if h.Counts[i] < h.Counts[i-1] {
			t.Errorf("buckets are not cumulative: %v", h.Counts)
		}
	}
	if st := w.mod.Stats(); st.OpenIncidents != 2 {
		t.Errorf("%d open incidents, want 2", st.OpenIncidents)
	}

	ctx := context.Background()
	for _, p := range []health.Ping{{}, {Kind: "start"}, {Kind: "fail"}, {ExitCode: 2}, {}} {
		if found, err := w.mod.Ping(ctx, "hb-stats-token", p); !found || err != nil {
			t.Fatalf("ping %+v: %v %v", p, found, err)
		}
	}
	if found, _ := w.mod.Ping(ctx, "not-a-token", health.Ping{}); found {
		t.Fatal("an unknown token was found")
	}
	st := w.mod.Stats()
	if st.Pings[health.PingSuccess] != 2 || st.Pings[health.PingStart] != 1 || st.Pings[health.PingFail] != 2 {
		t.Errorf("pings: %v, want 2 success, 1 start, 2 fail", st.Pings)
	}
	hb := kind(health.Heartbeat)
	if hb.Passed != 2 || hb.Failed != 2 || hb.Count != 0 {
		t.Errorf("heartbeat results: %+v; want 2 ok, 2 failed, no durations", hb)
	}

	tg.Failing.Store(false)
	w.step(time.Minute)
	w.step(time.Minute)
	if st := w.mod.Stats(); st.OpenIncidents != 0 {
		t.Errorf("after recovery %d incidents are open", st.OpenIncidents)
	}
}
