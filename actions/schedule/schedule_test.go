package schedule_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/schedule"
	"github.com/infrabot/infrabot/storage"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// process is one infrabot process's scheduler on a store that outlives it.
type process struct {
	t     *testing.T
	path  string
	db    *storage.DB
	sched *schedule.Scheduler
	clock *actionstest.Clock
}

func start(t *testing.T, path string, c *actionstest.Clock, el actions.Elector) *process {
	t.Helper()
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, path: path, db: db, clock: c}
	p.sched = schedule.New(schedule.Options{LastRuns: db, Elector: el, Now: c.Now, MaxJitter: time.Nanosecond})
	t.Cleanup(p.stop)
	return p
}

func (p *process) stop() {
	if p.db == nil {
		return
	}
	p.sched.Close()
	p.db.Close()
	p.db = nil
}

// tick runs what is due and waits for it.
func (p *process) tick() int {
	n := p.sched.RunDue(context.Background())
	p.sched.Wait()
	return n
}

func counter(n *atomic.Int32) func(context.Context) error {
	return func(context.Context) error { n.Add(1); return nil }
}

func TestEveryTenSecondsAndRestartRunsMissedSlotOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "infrabot.db")
	c := actionstest.NewClock(t0)
	var runs atomic.Int32
	p := start(t, path, c, nil)
	if err := p.sched.Add(actions.Job{Name: "test/ping", Spec: "@every 10s", Run: counter(&runs)}); err != nil {
		t.Fatal(err)
	}
	if err := p.sched.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := p.tick(); n != 0 {
		t.Fatalf("a job that never ran fired at start: %d", n)
	}
	c.Advance(10 * time.Second)
	p.tick()
	c.Advance(5 * time.Second)
	p.tick() // not due
	if got := runs.Load(); got != 1 {
		t.Fatalf("after 15s: %d runs, want 1", got)
	}
	p.stop()

	// Down for a minute: six slots missed.
	c.Advance(time.Minute)
	p = start(t, path, c, nil)
	if err := p.sched.Add(actions.Job{Name: "test/ping", Spec: "@every 10s", Run: counter(&runs)}); err != nil {
		t.Fatal(err)
	}
	if err := p.sched.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.tick()
	p.tick()
	if got := runs.Load(); got != 2 {
		t.Fatalf("after a restart spanning six slots: %d runs in all, want 2 (one catch-up)", got)
	}
	c.Advance(10 * time.Second)
	p.tick()
	if got := runs.Load(); got != 3 {
		t.Fatalf("the slot after the catch-up: %d runs, want 3", got)
	}
	// A restart within the interval neither repeats nor catches up.
	p.stop()
	c.Advance(3 * time.Second)
	p = start(t, path, c, nil)
	p.sched.Add(actions.Job{Name: "test/ping", Spec: "@every 10s", Run: counter(&runs)})
	p.sched.Load(context.Background())
	p.tick()
	if got := runs.Load(); got != 3 {
		t.Fatalf("a restart 3s after a run repeated it: %d runs", got)
	}
}

func TestOverlappingSlotIsSkippedAndCloseCancelsRunningJobs(t *testing.T) {
	c := actionstest.NewClock(t0)
	p := start(t, filepath.Join(t.TempDir(), "db"), c, nil)
	started := make(chan struct{}, 4)
	var cancelled atomic.Bool
	p.sched.Add(actions.Job{Name: "test/slow", Spec: "@every 1s", Run: func(ctx context.Context) error {
		started <- struct{}{}
		<-ctx.Done()
		cancelled.Store(true)
		return ctx.Err()
	}})
	p.sched.Load(context.Background())
	c.Advance(time.Second)
	if n := p.sched.RunDue(context.Background()); n != 1 {
		t.Fatalf("started %d, want 1", n)
	}
	<-started
	c.Advance(time.Second)
	if n := p.sched.RunDue(context.Background()); n != 0 {
		t.Fatalf("a second run started while the first still ran (%d)", n)
	}
	p.sched.Close()
	if !cancelled.Load() {
		t.Fatal("Close returned before the running job saw its context end")
	}
}

type refuse struct{ asked atomic.Int32 }

func (r *refuse) MayFire(context.Context, string, time.Time) (bool, error) {
	r.asked.Add(1)
	return false, nil
}

func TestElectorDecidesWhetherToFire(t *testing.T) {
	c := actionstest.NewClock(t0)
	el := &refuse{}
	path := filepath.Join(t.TempDir(), "db")
	p := start(t, path, c, el)
	var runs atomic.Int32
	p.sched.Add(actions.Job{Name: "test/ping", Spec: "@every 10s", Run: counter(&runs)})
	p.sched.Load(context.Background())
	c.Advance(10 * time.Second)
	p.tick()
	if runs.Load() != 0 || el.asked.Load() != 1 {
		t.Fatalf("runs %d, elector asked %d times; want 0 and 1", runs.Load(), el.asked.Load())
	}
	if _, ok, _ := p.db.LastRun(context.Background(), "test/ping"); ok {
		t.Fatal("a slot this replica did not fire was recorded as run")
	}
}

func TestTimeZoneAndJitter(t *testing.T) {
	c := actionstest.NewClock(time.Date(2026, 12, 1, 7, 30, 0, 0, time.UTC)) // 08:30 in Prague
	db, err := storage.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := schedule.New(schedule.Options{LastRuns: db, Now: c.Now})
	defer s.Close()
	noop := func(context.Context) error { return nil }
	if err := s.Add(actions.Job{Name: "digest", Spec: "0 9 * * 1-5", TimeZone: "Europe/Prague", Run: noop}); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := s.Add(actions.Job{Name: "check-" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Spec: "@every 1m", Run: noop}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	next, _ := s.Next("digest")
	prague, _ := time.LoadLocation("Europe/Prague")
	if got := next.In(prague); got.Hour() != 9 || got.Minute() != 0 || got.Day() != 1 {
		t.Errorf("digest fires at %v, want 09:00 Prague time today (jitter at most 2s)", got)
	}
	seen := map[time.Time]bool{}
	for i := range 100 {
		n, _ := s.Next("check-" + string(rune('a'+i/26)) + string(rune('a'+i%26)))
		slot := c.Now().Add(time.Minute)
		if n.Before(slot) || !n.Before(slot.Add(6*time.Second)) {
			t.Fatalf("a @every 1m job fires at %v, want within 6s (a tenth of its interval) after %v", n, slot)
		}
		seen[n] = true
	}
	if len(seen) < 90 {
		t.Errorf("100 jobs on @every 1m fire at only %d distinct instants", len(seen))
	}
}

func TestBadSchedulesAreRefusedClearly(t *testing.T) {
	for _, tc := range []struct{ spec, tz, want string }{
		{"every 5m", "", `"every 5m" is not a schedule`},
		{"61 * * * *", "", "is not a schedule"},
		{"@every 1m", "Mars/Olympus", `"Mars/Olympus" is not a time zone`},
	} {
		_, err := schedule.Parse(tc.spec, tc.tz)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q, %q) = %v, want an error with %q", tc.spec, tc.tz, err, tc.want)
		}
	}
	for _, spec := range []string{"*/5 * * * *", "30 */5 * * * *", "@every 90s", "@daily", "0 9 * * 1-5"} {
		if _, err := schedule.Parse(spec, "Europe/Prague"); err != nil {
			t.Errorf("Parse(%q): %v", spec, err)
		}
	}
}

// A reload replaces jobs: one whose schedule stays keeps its next slot
// (a slot already run is not run again) and runs the new function; one
// whose schedule changed waits for the new schedule's next slot, not the
// slot it "missed"; a removed job stops firing and keeps its last run, so
// adding it back does not repeat a slot.
func TestReplaceAndRemoveKeepLastRuns(t *testing.T) {
	t.Parallel()
	c := actionstest.NewClock(t0.Add(-time.Minute)) // 08:59
	p := start(t, filepath.Join(t.TempDir(), "s.db"), c, nil)
	var daily, daily2, hourly, other atomic.Int32
	for _, j := range []actions.Job{
		{Name: "digest", Spec: "0 9 * * *", Run: counter(&daily)},
		{Name: "report", Spec: "0 9 * * *", Run: counter(&hourly)},
		{Name: "gone", Spec: "0 9 * * *", Run: counter(&other)},
	} {
		if err := p.sched.Add(j); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.sched.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute) // 09:00: all three fire
	if n := p.tick(); n != 3 {
		t.Fatalf("%d jobs ran at 09:00, want 3", n)
	}
	c.Advance(30 * time.Minute) // 09:30: the reload
	if err := p.sched.Replace(actions.Job{Name: "digest", Spec: "0 9 * * *", Run: counter(&daily2)}); err != nil {
		t.Fatal(err)
	}
	// 08:00 has passed today: a restart would call it missed; a reload
	// waits for tomorrow's.
	if err := p.sched.Replace(actions.Job{Name: "report", Spec: "0 8 * * *", Run: counter(&hourly)}); err != nil {
		t.Fatal(err)
	}
	if !p.sched.Remove("gone") || p.sched.Remove("gone") {
		t.Fatal("Remove does not say whether the job was there")
	}
	if err := p.sched.Replace(actions.Job{Name: "new", Spec: "@every 1h", Run: counter(&other)}); err != nil {
		t.Fatal(err)
	}
	if err := p.sched.Replace(actions.Job{Name: "bad", Spec: "every day"}); err == nil {
		t.Error("a job without a function or with a bad spec was taken")
	}
	if n := p.tick(); n != 0 {
		t.Fatalf("%d jobs fired again at the reload", n)
	}
	if next, _ := p.sched.Next("report"); !next.Equal(t0.Add(23 * time.Hour)) {
		t.Errorf("report's next slot = %s, want tomorrow 08:00", next)
	}
	if next, _ := p.sched.Next("digest"); !next.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("digest's next slot = %s, want tomorrow 09:00", next)
	}
	if _, ok := p.sched.Next("gone"); ok {
		t.Error("a removed job still has a slot")
	}
	// Added back: its 09:00 run is remembered, so it waits for tomorrow.
	if err := p.sched.Replace(actions.Job{Name: "gone", Spec: "0 9 * * *", Run: counter(&other)}); err != nil {
		t.Fatal(err)
	}
	if next, _ := p.sched.Next("gone"); !next.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("re-added job's next slot = %s, want tomorrow 09:00", next)
	}
	c.Advance(23*time.Hour + 30*time.Minute) // tomorrow 09:00
	p.tick()
	if daily.Load() != 1 || daily2.Load() != 1 {
		t.Errorf("digest ran old %d, new %d times; want the old once (today) and the new once (tomorrow)", daily.Load(), daily2.Load())
	}
	if hourly.Load() != 2 || other.Load() != 3 {
		t.Errorf("report ran %d times (want 2), gone and new %d (want 3: gone today, both tomorrow)", hourly.Load(), other.Load())
	}
}
