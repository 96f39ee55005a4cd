package oncall_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/oncall"
)

// The issue's story: an incident pages bob, on call this week (a mention
// in the incident's message and a direct message); nobody acknowledges
// in 15 minutes, so alice is paged; bob acknowledges from his direct
// message, which stops it: 30 minutes later the channel is not paged,
// and every page says it was acknowledged.
func TestEscalationPagesThenStopsOnAck(t *testing.T) {
	t.Parallel()
	w := newWorld(t, []oncall.Escalation{issueEscalation()}, oncall.Options{})

	w.step(time.Minute)
	w.step(time.Minute) // two failures: the incident opens
	inc := w.One("C0DEFAULT", "incident 1: logserver-http")
	if got := mentions(inc); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("the incident's message mentions %v, want bob, on call this week", got)
	}
	dm := w.One("dm:UBOB", "page for you: incident 1")
	if want := []string{"Acknowledge=ack 1", "Resolve=resolve 1"}; !slices.Equal(buttons(dm), want) {
		t.Errorf("bob's page has buttons %v, want %v", buttons(dm), want)
	}
	w.None("dm:UALICE", "incident 1")
	w.None("C0DEFAULT", "page for")
	w.wantPages("1/0", "0/0", "0/0") // bob's direct message

	w.step(14 * time.Minute)
	w.None("dm:UALICE", "incident 1")
	w.step(time.Minute) // 15 minutes after bob was paged
	w.One("dm:UALICE", "page for you: incident 1")
	page := w.One("C0DEFAULT", "page for alice: incident 1")
	if got := mentions(page); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("the channel's page mentions %v, want alice", got)
	}
	w.wantPages("3/0", "0/0", "0/0") // and alice's, and her mention in the channel

	// bob clicks Acknowledge in his direct message: the button's command,
	// typed where he reads it.
	r := w.In(actions.Origin{Platform: actionstest.Platform, Channel: "dm:UBOB", UserID: "UBOB", Private: true}, "bob", dm.Buttons[0].Command)
	w.Expect(r, false, "incident 1 (logserver-http) acknowledged by bob")
	w.settle()

	// Nothing more is sent anywhere once bob acknowledged: not the
	// channel's level, due 30 minutes after alice's, nor anything else.
	sent := len(w.Chat.Posts())
	w.step(30 * time.Minute)
	w.step(time.Hour)
	w.None("C0DEFAULT", "page for channel:default")
	if n := len(w.Chat.Posts()); n != sent {
		t.Errorf("%d messages sent after bob acknowledged, want none:\n%s", n-sent, w.Chat.Transcript())
	}
	w.wantPages("3/0", "0/0", "0/0") // acknowledged: nobody more
	if n := len(w.Chat.Sent("dm:UBOB", "incident 1")); n != 1 {
		t.Errorf("bob got %d pages, want 1", n)
	}
	for _, where := range []string{"dm:UBOB", "dm:UALICE"} {
		m := w.One(where, "incident 1")
		if !strings.Contains(m.Summary, "acknowledged by bob") || len(m.Buttons) != 0 {
			t.Errorf("%s's page was not updated to acknowledged, without buttons: %s %v", where, m.Summary, buttons(m))
		}
	}
	tl := w.timeline("1")
	for _, want := range []string{"paged level 1 of ci-oncall: bob (schedule:ci-oncall: direct message on 1 platform)", "paged level 2 of ci-oncall: alice", "bob      acknowledged"} {
		if !strings.Contains(tl, want) {
			t.Errorf("the timeline lacks %q:\n%s", want, tl)
		}
	}
	// Audited twice: the level, before anyone is paged, and what chat did.
	a := w.Audited()
	for _, want := range []string{
		"infrabot incident-paged incident 1: paging level 2 of ci-oncall: alice (person:alice)",
		"infrabot incident-chat-paged incident 1: paged level 2 of ci-oncall in chat: alice (person:alice: direct message on 1 platform, mentioned in the channel)",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("the audit log lacks %q:\n%s", want, a)
		}
	}
}

// A restart between levels pages no one twice, and the level that came
// due while infrabot was down fires once at start.
func TestEscalationSurvivesRestart(t *testing.T) {
	t.Parallel()
	w := newPagedWorld(t)

	w.step(5 * time.Minute)
	w.restart() // nothing is due yet: nothing is paged again
	w.step(time.Second)
	w.One("dm:UBOB", "page for you: incident 1")
	w.None("dm:UALICE", "incident 1")

	w.stop()
	w.Close()
	w.Clock.Advance(20 * time.Minute) // alice came due while infrabot was down
	w.Open()
	w.Tick()
	w.settle()
	w.One("dm:UALICE", "page for you: incident 1")
	w.One("dm:UBOB", "page for you: incident 1")
	w.step(time.Minute)
	w.One("dm:UALICE", "page for you: incident 1")

	// The next level counts from when alice was paged, at start.
	w.step(28 * time.Minute)
	w.None("C0DEFAULT", "page for channel:default")
	w.step(time.Minute)
	w.One("C0DEFAULT", "page for channel:default: incident 1")

	// The last level repeats at its interval until someone acknowledges.
	w.step(30 * time.Minute)
	if n := len(w.Chat.Sent("C0DEFAULT", "page for channel:default: incident 1")); n != 2 {
		t.Errorf("the last level was paged %d times, want 2 (repeated after 30m)", n)
	}
	w.Expect(w.As("carol", "ack 1"), false, "acknowledged by carol")
	w.settle()
	sent := len(w.Chat.Posts())
	w.step(time.Hour)
	if n := len(w.Chat.Posts()); n != sent {
		t.Errorf("%d messages sent after the ack, want none:\n%s", n-sent, w.Chat.Transcript())
	}
	if n := len(w.Chat.Sent("C0DEFAULT", "page: incident 1: logserver-http — acknowledged by carol")); n != 3 {
		t.Errorf("%d pages in the channel say carol acknowledged, want 3 (alice's mention and the channel's two)", n)
	}
}

// An override makes carol the one paged; `oncall` shows it, marked, and
// it is audited and removable.
func TestOverrideMakesCarolTheOnePaged(t *testing.T) {
	t.Parallel()
	w := newWorld(t, []oncall.Escalation{issueEscalation()}, oncall.Options{})
	w.Expect(w.As("dave", "oncall"), false, "ci-oncall: bob", "now   bob", "next  alice", "Mon Nov 23 09:00 CET")
	w.Expect(w.As("dave", "oncall override dave 2h"), true, "needs a role that allows oncall-override")

	w.Expect(w.As("carol", "oncall override carol 8h"), false, "override 1: carol is on call in ci-oncall until Sat Nov 21 21:00 CET (instead of bob)")
	r := w.As("dave", "oncall")
	w.Expect(r, false, "ci-oncall: carol (override)", "now   carol", "[override 1 by carol; the rotation has bob]", "#1 carol in ci-oncall, now until Sat Nov 21 21:00 CET, set by carol")
	if a := w.Audited(); !strings.Contains(a, "carol oncall-override-added override 1: carol on call in ci-oncall until Nov 21 20:00 UTC") {
		t.Errorf("the override is not audited:\n%s", a)
	}

	w.step(time.Minute)
	w.step(time.Minute)
	inc := w.One("C0DEFAULT", "incident 1: logserver-http")
	if got := mentions(inc); !slices.Equal(got, []string{"carol"}) {
		t.Errorf("the incident mentions %v, want carol", got)
	}
	w.One("dm:UCAROL", "page for you: incident 1")
	w.None("dm:UBOB", "incident 1")

	w.Expect(w.As("carol", "oncall override remove 1"), false, "override 1 removed")
	w.Expect(w.As("dave", "oncall"), false, "now   bob")
	if a := w.Audited(); !strings.Contains(a, "carol oncall-override-removed override 1") {
		t.Errorf("the removal is not audited:\n%s", a)
	}
	w.Expect(w.As("carol", "oncall override remove 1"), true, "there is no override 1")
	w.Expect(w.As("carol", "oncall override erin 1h"), true, `there is no person "erin"`)
	w.Expect(w.As("carol", "oncall override bob 40d"), true, "at most 31d")
	w.Expect(w.As("carol", "oncall override bob 1h nightly"), true, `there is no schedule "nightly"`)
}

// The handoff across a change to summer time lands at 09:00 local: the
// Monday after Prague's clocks go forward, alice takes over from bob at
// 09:00 CEST (07:00 UTC), an hour earlier in UTC than the week before.
func TestHandoffAcrossDSTAt0900Local(t *testing.T) {
	t.Parallel()
	w := newWorld(t, []oncall.Escalation{issueEscalation()}, oncall.Options{})
	// From Saturday Nov 21 2026 to Saturday Mar 28 2027, 18 weeks: bob
	// again (an even number of weeks).
	w.Clock.Advance(time.Date(2027, 3, 27, 12, 0, 0, 0, time.UTC).Sub(w.Clock.Now()))
	w.Expect(w.As("dave", "oncall"), false, "now   bob        until Mon Mar 29 09:00 CEST", "next  alice      from  Mon Mar 29 09:00 CEST")
	w.Clock.Advance(time.Date(2027, 3, 29, 6, 59, 0, 0, time.UTC).Sub(w.Clock.Now()))
	w.Expect(w.As("dave", "oncall"), false, "now   bob")
	w.Clock.Advance(time.Minute) // 07:00 UTC, 09:00 in Prague
	w.Expect(w.As("dave", "oncall"), false, "now   alice      until Mon Apr 5 09:00 CEST")
}

// Resolving ends the escalation: a recovery before anyone acknowledged
// pages no further level, and the pages say it is resolved.
func TestRecoveryEndsEscalation(t *testing.T) {
	t.Parallel()
	w := newPagedWorld(t)
	w.target.Failing.Store(false)
	w.step(time.Minute)
	w.step(time.Minute) // two successes resolve it
	w.settle()
	w.step(time.Hour)
	w.None("dm:UALICE", "incident 1")
	if m := w.One("dm:UBOB", "incident 1"); !strings.Contains(m.Summary, "resolved: the check recovered") || len(m.Buttons) != 0 {
		t.Errorf("bob's page does not say it resolved: %s", m.Summary)
	}
}

// A snooze of an escalation with nothing more to page (one level, paged
// once, that does not repeat) changes nothing: bob is not paged again
// when the snooze ends, and the timeline promises no next page.
func TestSnoozeOfAFinishedEscalationPagesNoMore(t *testing.T) {
	t.Parallel()
	w := newWorld(t, []oncall.Escalation{{Name: "ci-oncall", Levels: []oncall.Level{{Notify: target(oncall.ToSchedule, "ci-oncall")}}}}, oncall.Options{})
	w.step(time.Minute)
	w.step(time.Minute)
	w.One("dm:UBOB", "page for you: incident 1")
	w.Expect(w.As("bob", "snooze 1 30m"), false, "snoozed until")
	w.step(31 * time.Minute)
	w.step(time.Hour)
	w.One("dm:UBOB", "page for you: incident 1")
	if tl := w.timeline("1"); strings.Contains(tl, "next page") {
		t.Errorf("the timeline promises a next page of an escalation with nothing more to page:\n%s", tl)
	}
}

// Shortening an incident's snooze brings its escalation back sooner: a
// 4h snooze, then one of 20m, holds alice's level (due 15 minutes after
// bob's) until the 20 minutes are over, not the 4 hours; a restart keeps
// both the level's own due time and the snooze's end.
func TestShorterSnoozeShortensEscalationHold(t *testing.T) {
	t.Parallel()
	w := newPagedWorld(t) // 12:02: bob is paged, alice is due at 12:17
	w.Expect(w.As("bob", "snooze 1 4h"), false, "snoozed until")
	w.Expect(w.As("bob", "snooze 1 20m"), false, "snoozed until Nov 21 12:22 UTC")
	w.restart()

	w.step(19 * time.Minute) // 12:21: alice's level waits for the snooze
	w.None("dm:UALICE", "incident 1")
	w.step(2 * time.Minute)
	w.One("dm:UALICE", "page for you: incident 1")
}

// A snooze that ended (reported with an end not after now, as `snooze
// <check> 0` does) lets the escalation go on: the level held back is
// paged at once when it was due, and the next counts from it.
func TestEndedSnoozeReleasesEscalation(t *testing.T) {
	t.Parallel()
	w := newPagedWorld(t)
	w.Expect(w.As("bob", "snooze 1 4h"), false, "snoozed until")
	w.step(20 * time.Minute) // 12:22: alice was due at 12:17
	w.None("dm:UALICE", "incident 1")

	w.snoozeEnded(1)
	w.step(5 * time.Second) // the escalation job's next run
	w.One("dm:UALICE", "page for you: incident 1")
	w.step(29 * time.Minute)
	w.None("C0DEFAULT", "page for channel:default")
	w.step(time.Minute)
	w.One("C0DEFAULT", "page for channel:default: incident 1")
}

// The timeline says when a snooze holds the next page back until with
// its date: a snooze can last days.
func TestSnoozeNoteSaysTheDayOfTheNextPage(t *testing.T) {
	t.Parallel()
	w := newPagedWorld(t)
	w.Expect(w.As("bob", "snooze 1 2d"), false, "snoozed until")
	if tl := w.timeline("1"); !strings.Contains(tl, "escalation waits for the snooze: next page at Nov 23 12:02 UTC") {
		t.Errorf("the timeline does not say the day of the next page:\n%s", tl)
	}
	w.snoozeEnded(1)
	if tl := w.timeline("1"); !strings.Contains(tl, "escalation goes on, the snooze ended: next page at Nov 21 12:17 UTC") {
		t.Errorf("the timeline does not say the day of the next page once the snooze ended:\n%s", tl)
	}
}
