package zuul_test

import (
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/cijobs"
	"github.com/infrabot/infrabot/actions/zuul"
	"github.com/infrabot/infrabot/actions/zuul/zuultest"
)

// The story of a long job: it starts before two short ones, which finish
// and are taken in while it runs; when it fails hours later it sits on
// Zuul's second page, behind builds that ended before the previous poll.
// The squad hears that it is broken once — not at the next poll, nor
// after a restart, though every poll lists it again — and never hears of
// the short ones twice.
func TestLongJobIsToldOnce(t *testing.T) {
	t.Parallel()
	fake := zuultest.New("rdo", zuultest.Nested)
	t.Cleanup(fake.Close)
	squad := cijobs.Squad{Name: "ci", Members: []string{"alice"}, Channel: "ci", Jobs: []string{"periodic-*"}, RemindEvery: 24 * time.Hour}
	w := actionstest.New(t, actionstest.Options{
		Channels:         actions.Channels{"default": {actionstest.Platform: "C0DEFAULT"}, "ci": {actionstest.Platform: "C0CI"}},
		ApprovalsChannel: "default",
		Setup: func(w *actionstest.World) {
			h, err := w.Engine.Module(cijobs.Name, cijobs.Buckets...)
			if err != nil {
				t.Fatal(err)
			}
			src, err := zuul.New(zuul.Options{URL: fake.URL, Tenant: "rdo", Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cijobs.New(h, []cijobs.Squad{squad}, []cijobs.Watch{{Name: "rdo-zuul", Schedule: "@every 5m", Source: src}}); err != nil {
				t.Fatal(err)
			}
		},
	})
	seen := 0
	poll := func(after time.Duration) []string {
		t.Helper()
		w.Clock.Advance(after)
		if w.Tick() == 0 {
			t.Fatal("no poll was due")
		}
		posts := w.Chat.Posts()
		if len(posts) < seen { // a restart brings a fresh chat
			seen = 0
		}
		var out []string
		for _, p := range posts[seen:] {
			out = append(out, p.Message.Summary)
		}
		seen = len(posts)
		return out
	}
	now := w.Clock.Now()
	fake.Add(
		zuultest.Build{UUID: "long", Job: "periodic-long", Pipeline: "periodic", Start: now}, // running
		zuultest.Build{UUID: "s1", Job: "periodic-short", Pipeline: "periodic", Result: "FAILURE", Start: now.Add(time.Minute), End: now.Add(10 * time.Minute)},
		zuultest.Build{UUID: "s2", Job: "periodic-other", Pipeline: "periodic", Result: "SUCCESS", Start: now.Add(2 * time.Minute), End: now.Add(11 * time.Minute)},
	)
	if got := poll(15 * time.Minute); len(got) != 1 || !strings.Contains(got[0], "periodic-short is broken") {
		t.Fatalf("first poll told %q, want periodic-short broken", got)
	}
	fake.Finish("long", "TIMED_OUT", now.Add(3*time.Hour))
	w.Clock.Advance(3 * time.Hour)
	if got := poll(5 * time.Minute); len(got) != 1 || !strings.Contains(got[0], "periodic-long is broken") {
		t.Fatalf("after the long job ended the squad was told %q, want periodic-long broken", got)
	}
	if got := poll(5 * time.Minute); len(got) != 0 {
		t.Errorf("the next poll told %q again", got)
	}
	w.Restart()
	if got := poll(5 * time.Minute); len(got) != 0 {
		t.Errorf("after a restart the squad was told %q again", got)
	}
}
