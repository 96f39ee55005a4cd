package schedule_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/schedule"
)

// Europe/Prague goes forward at 01:00 UTC on 2026-03-29 (02:00 CET is
// 03:00 CEST) and back at 01:00 UTC on 2026-10-25 (03:00 CEST is 02:00
// CET again, so 02:00–02:59 happens twice).
var (
	springEve = time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	fallEve   = time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC)
)

// runs records when (on the fake clock) a job ran.
type runs struct {
	mu sync.Mutex
	c  *actionstest.Clock
	at []time.Time
}

func (r *runs) run(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at = append(r.at, r.c.Now())
	return nil
}

func (r *runs) times() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.at...)
}

// day runs spec in Europe/Prague for the 24 hours after from, minute by
// minute, and returns when it ran.
func day(t *testing.T, spec string, from time.Time) []time.Time {
	t.Helper()
	return dayIn(t, spec, "Europe/Prague", from)
}

// dayIn is day in the time zone tz.
func dayIn(t *testing.T, spec, tz string, from time.Time) []time.Time {
	t.Helper()
	c := actionstest.NewClock(from)
	p := start(t, filepath.Join(t.TempDir(), "infrabot.db"), c, nil)
	r := &runs{c: c}
	if err := p.sched.Add(actions.Job{Name: "test/dst", Spec: spec, TimeZone: tz, Run: r.run}); err != nil {
		t.Fatal(err)
	}
	if err := p.sched.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 24*60; i++ {
		c.Advance(time.Minute)
		p.tick()
	}
	return r.times()
}

// A job at a fixed local time runs once on each DST night: once, not
// twice, when 02:30 comes round again; and at 03:00 CEST, the first
// instant after the gap, when 02:30 never comes.
func TestFixedTimeJobRunsOnceOnDSTNights(t *testing.T) {
	for _, tc := range []struct {
		name string
		from time.Time
		want time.Time
	}{
		{"fall back", fallEve, time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)},      // 02:30 CEST
		{"spring forward", springEve, time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)}, // 03:00 CEST
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := day(t, "30 2 * * *", tc.from)
			if len(got) != 1 || !got[0].Equal(tc.want) {
				t.Errorf("30 2 * * * ran at %v, want once at %v", got, tc.want)
			}
		})
	}
}

// Jobs that run every hour or every few minutes keep to elapsed time:
// the repeated hour is run as any other hour, and the skipped hour costs
// no run beyond the clock's own jump.
func TestFrequentJobsKeepElapsedTimeAcrossDST(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		every time.Duration
	}{
		{"0 * * * *", time.Hour},
		{"*/15 * * * *", 15 * time.Minute},
	} {
		for _, from := range []time.Time{fallEve, springEve} {
			got := day(t, tc.spec, from)
			if want := int(24 * time.Hour / tc.every); len(got) != want {
				t.Errorf("%s from %s: %d runs in 24 hours, want %d", tc.spec, from, len(got), want)
			}
			for i := 1; i < len(got); i++ {
				if d := got[i].Sub(got[i-1]); d != tc.every {
					t.Errorf("%s from %s: %s between the runs at %s and %s, want %s", tc.spec, from, d, got[i-1], got[i], tc.every)
				}
			}
		}
	}
}

// A restart within the repeated hour, before or after the second 02:30,
// does not run the job again: the next slot is worked out from the
// recorded last run.
func TestRestartInTheRepeatedHourDoesNotRepeatTheJob(t *testing.T) {
	path := filepath.Join(t.TempDir(), "infrabot.db")
	c := actionstest.NewClock(fallEve)
	r := &runs{c: c}
	job := actions.Job{Name: "digest/default", Spec: "30 2 * * *", TimeZone: "Europe/Prague", Run: r.run}
	boot := func() *process {
		p := start(t, path, c, nil)
		if err := p.sched.Add(job); err != nil {
			t.Fatal(err)
		}
		if err := p.sched.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := boot()
	for c.Now().Before(time.Date(2026, 10, 25, 1, 10, 0, 0, time.UTC)) { // 02:10 CET, the second time
		c.Advance(time.Minute)
		p.tick()
	}
	if n := len(r.times()); n != 1 {
		t.Fatalf("before the restart: %d runs, want 1", n)
	}
	for _, down := range []time.Duration{0, 30 * time.Minute} { // back at 02:10 CET, then at 02:40 CET
		p.stop()
		c.Advance(down)
		p = boot()
		if next, _ := p.sched.Next(job.Name); !next.Equal(time.Date(2026, 10, 26, 1, 30, 0, 0, time.UTC)) {
			t.Errorf("after a restart at %s the next run is at %s, want 02:30 CET the next day", c.Now(), next)
		}
		for i := 0; i < 40; i++ {
			c.Advance(time.Minute)
			p.tick()
		}
	}
	if got := r.times(); len(got) != 1 {
		t.Errorf("restarts in the repeated hour ran the job at %v, want once", got)
	}
}

// Every slot a schedule names within the hours DST moves happens once:
// the four of */15 at 2 each once when the hour comes twice, and once
// together when it never comes.
func TestSlotsInTheMovedHour(t *testing.T) {
	s, err := schedule.Parse("*/15 2 * * *", "Europe/Prague")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from time.Time
		want []string
	}{
		{fallEve, []string{"00:00", "00:15", "00:30", "00:45"}},
		{springEve, []string{"01:00"}},
	} {
		var got []string
		for at := s.Next(tc.from); at.Before(tc.from.Add(24 * time.Hour)); at = s.Next(at) {
			got = append(got, at.UTC().Format("15:04"))
		}
		if len(got) != len(tc.want) {
			t.Errorf("from %s: slots %v (UTC), want %v", tc.from, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("from %s: slots %v (UTC), want %v", tc.from, got, tc.want)
				break
			}
		}
	}
}

// Lord Howe's clocks move by 30 minutes: back from 02:00 +11 to 01:30
// +1030 on 2026-04-05, forward from 02:00 +1030 to 02:30 +11 on
// 2026-10-04. A job at 09:00 runs at 09:00 on both days; one at 02:00
// runs at 02:00, which comes round once when clocks go back, and at
// 02:30 +11, the first instant after the gap, when they go forward.
func TestLordHoweHalfHourDST(t *testing.T) {
	loc, err := time.LoadLocation("Australia/Lord_Howe")
	if err != nil {
		t.Skip(err)
	}
	fall, spring := time.Date(2026, 4, 4, 12, 0, 0, 0, loc), time.Date(2026, 10, 3, 12, 0, 0, 0, loc)
	for _, tc := range []struct {
		spec string
		from time.Time
		want time.Time
	}{
		{"0 9 * * *", fall, time.Date(2026, 4, 5, 9, 0, 0, 0, loc)},
		{"0 2 * * *", fall, time.Date(2026, 4, 5, 2, 0, 0, 0, loc)},
		{"0 9 * * *", spring, time.Date(2026, 10, 4, 9, 0, 0, 0, loc)},
		{"0 2 * * *", spring, time.Date(2026, 10, 4, 2, 30, 0, 0, loc)},
	} {
		got := dayIn(t, tc.spec, "Australia/Lord_Howe", tc.from)
		if len(got) != 1 || !got[0].Equal(tc.want) {
			t.Errorf("%s from %s ran at %v, want once at %s", tc.spec, tc.from, got, tc.want)
		}
	}
}

// In every zone with DST, a daily job at any quarter hour runs once on
// each local day around each of the 2026 changes: at its local time, or,
// when clocks skip it, at the first instant after the gap. The clock
// moves minute by minute from a day before each change to a day after.
func TestDailyJobsRunOncePerLocalDayAcrossDST(t *testing.T) {
	for _, tz := range []string{"Europe/Prague", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Asia/Tehran"} {
		t.Run(tz, func(t *testing.T) {
			loc, err := time.LoadLocation(tz)
			if err != nil {
				t.Skip(err)
			}
			changes := transitions(loc, 2026)
			if len(changes) == 0 {
				t.Skipf("%s has no DST in 2026 in this tzdata", tz)
			}
			for _, change := range changes {
				from, to := change.Add(-24*time.Hour), change.Add(24*time.Hour)
				c := actionstest.NewClock(from)
				p := start(t, filepath.Join(t.TempDir(), "infrabot.db"), c, nil)
				got := map[string]*runs{}
				for m := 0; m < 24*60; m += 15 {
					spec := fmt.Sprintf("%d %d * * *", m%60, m/60)
					got[spec] = &runs{c: c}
					if err := p.sched.Add(actions.Job{Name: spec, Spec: spec, TimeZone: tz, Run: got[spec].run}); err != nil {
						t.Fatal(err)
					}
				}
				if err := p.sched.Load(context.Background()); err != nil {
					t.Fatal(err)
				}
				for c.Now().Before(to) {
					c.Advance(time.Minute)
					p.tick()
				}
				p.stop()
				for m := 0; m < 24*60; m += 15 {
					spec := fmt.Sprintf("%d %d * * *", m%60, m/60)
					var want []time.Time
					for d := -2; d <= 2; d++ {
						day := change.In(loc).AddDate(0, 0, d)
						w := wallSlot(loc, day.Year(), day.Month(), day.Day(), m/60, m%60)
						if w.After(from) && !w.After(to) {
							want = append(want, w)
						}
					}
					if g := got[spec].times(); !equalTimes(g, want) {
						t.Errorf("change at %s: %s ran at %s, want %s", change, spec, local(g, loc), local(want, loc))
					}
				}
			}
		})
	}
}

// transitions lists the instants in year at which loc's offset changes.
func transitions(loc *time.Location, year int) []time.Time {
	var out []time.Time
	for at := time.Date(year, 1, 1, 0, 0, 0, 0, loc); ; {
		_, end := at.ZoneBounds()
		if end.IsZero() || end.Year() > year {
			return out
		}
		out = append(out, end)
		at = end
	}
}

// wallSlot is the first instant, minute by minute from three hours
// before the local time, at which loc's clocks read that local time or
// later: the time itself, the first time it comes round when it comes
// round twice, or the first instant after a gap that skips it.
func wallSlot(loc *time.Location, year int, month time.Month, day, hour, min int) time.Time {
	want := time.Date(year, month, day, hour, min, 0, 0, time.UTC)
	for at := time.Date(year, month, day, hour, min, 0, 0, loc).Add(-3 * time.Hour); ; at = at.Add(time.Minute) {
		l := at.In(loc)
		if !time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), 0, 0, time.UTC).Before(want) {
			return at
		}
	}
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func local(ts []time.Time, loc *time.Location) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.In(loc).Format("01-02 15:04 -0700")
	}
	return out
}
