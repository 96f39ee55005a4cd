package health_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/health/healthtest"
)

func httpCheck(name, url string) health.Check {
	return health.Check{
		Name: name, Kind: health.HTTP, URL: url, Schedule: "@every 1m", Timeout: 2 * time.Second,
		Expect: health.Expect{Status: 200, BodyContains: "ok"},
	}
}

// An outage: two failures open one incident, posted with buttons; more
// failures and a restart open nothing new; an acknowledgement updates the
// message; recovery resolves it; every step is in its timeline and the
// audit log.
func TestOutageOpensOneIncidentUntilRecovery(t *testing.T) {
	t.Parallel()
	tg := healthtest.NewService(t)
	w := newWorld(t, []health.Check{httpCheck("logserver-http", tg.URL)})

	w.step(time.Minute) // first run
	w.Expect(w.As("carol", "checks"), false, "logserver-http", "up", "100.0%", "status 200")
	if n := len(w.Chat.Posts()); n != 0 {
		t.Fatalf("%d messages posted while all is well", n)
	}

	tg.Failing.Store(true)
	w.step(time.Minute)
	if len(w.posts("incident")) != 0 {
		t.Fatal("one failure opened an incident; failures_before_incident is 2")
	}
	w.step(time.Minute)
	m := w.onePost("incident 1: logserver-http")
	want := []string{"Acknowledge=ack 1", "Snooze 1h=snooze 1 1h", "Resolve=resolve 1"}
	if !slices.Equal(buttons(m), want) {
		t.Errorf("buttons %v, want %v", buttons(m), want)
	}
	if !strings.Contains(m.Summary, "status 503, want 200") || !strings.Contains(fmt.Sprint(m.Fields), "failing since") {
		t.Errorf("the incident does not say what fails and since when: %s %v", m.Summary, m.Fields)
	}

	w.step(time.Minute)
	w.restart() // failure counts and the open incident survive
	w.step(time.Minute)
	w.step(time.Minute)
	w.onePost("incident") // still one, and updates after the restart reach it
	w.Expect(w.As("carol", "incidents"), false, "logserver-http", "not acknowledged")
	w.Expect(w.As("carol", "checks"), false, "down (incident 1)")

	w.Expect(w.As("carol", "ack 1"), true, "carol may not ack")
	w.Expect(w.As("bob", "ack 1"), false, "incident 1 (logserver-http) acknowledged by bob")
	w.Expect(w.As("alice", "ack 1"), true, "already acknowledged by bob")
	if m := w.onePost("incident 1"); !strings.Contains(m.Summary, "acknowledged by bob") || len(m.Buttons) != 3 {
		t.Errorf("the message was not updated in place with the ack: %s %v", m.Summary, buttons(m))
	}
	w.Expect(w.As("carol", "incidents"), false, "acknowledged by bob")

	tg.Failing.Store(false)
	w.step(time.Minute)
	if m := w.onePost("incident 1"); strings.Contains(m.Summary, "resolved") {
		t.Fatal("resolved after one success; successes_before_resolve is 2")
	}
	w.step(time.Minute)
	m = w.onePost("incident 1")
	if !strings.Contains(m.Title, "resolved") || len(m.Buttons) != 0 {
		t.Errorf("after recovery the message shows %q with buttons %v", m.Title, buttons(m))
	}
	w.Expect(w.As("carol", "incidents"), false, "no open incidents")
	w.Expect(w.As("carol", "incident 1"), false,
		"opened after 2 failures: status 503", "notified channel:default", "bob", "acknowledged", "resolved: the check passed 2 times")
	w.Expect(w.As("bob", "resolve 1"), true, "already resolved (the check recovered")

	audit := w.Audited()
	for _, e := range []string{"infrabot incident-opened incident 1", "infrabot incident-notified incident 1", "bob incident-acknowledged incident 1", "infrabot incident-resolved incident 1"} {
		if !strings.Contains(audit, e) {
			t.Errorf("the audit log lacks %q:\n%s", e, audit)
		}
	}
	if strings.Count(audit, "incident-opened") != 1 {
		t.Errorf("more than one incident was opened:\n%s", audit)
	}
}

// Resolving by hand closes the incident; a check that keeps failing
// opens a new one after N more failures, not at once.
func TestResolveByHand(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	w := newWorld(t, []health.Check{httpCheck("registry", tg.URL)})
	w.openIncident("incident 1")
	w.Expect(w.As("bob", "resolve 1"), false, "incident 1 (registry) resolved by bob")
	if m := w.onePost("incident 1"); !strings.Contains(m.Summary, "resolved by bob") || len(m.Buttons) != 0 {
		t.Errorf("message after resolve: %s %v", m.Summary, buttons(m))
	}
	w.step(time.Minute)
	if len(w.posts("incident 2")) != 0 {
		t.Fatal("a new incident opened on the first failure after a manual resolve")
	}
	w.step(time.Minute)
	w.onePost("incident 2")
	w.Expect(w.As("bob", "ack 99"), true, "there is no incident 99")
}

// Snoozing an incident silences it while the check keeps running; when
// the snooze ends and it still fails, infrabot notifies again.
func TestSnoozeSilencesThenRenotifies(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	w := newWorld(t, []health.Check{httpCheck("promoter", tg.URL)})
	w.openIncident("incident 1")

	w.Expect(w.As("bob", "snooze 1 30m waiting for the vendor"), false, "incident 1 (promoter) snoozed until")
	m := w.onePost("incident 1")
	if !strings.Contains(m.Summary, "snoozed until Nov 21 12:32 UTC by bob: waiting for the vendor") {
		t.Errorf("the message does not show the snooze: %s", m.Summary)
	}
	hits := tg.Hits.Load()
	for range 20 {
		w.step(time.Minute) // 20 more failures within the snooze
	}
	if tg.Hits.Load()-hits != 20 {
		t.Errorf("the check ran %d times during the snooze, want 20: snooze must keep checking", tg.Hits.Load()-hits)
	}
	w.onePost("incident 1")
	w.Expect(w.As("carol", "check promoter"), false, "check promoter failed", "status 503")

	w.step(10 * time.Minute) // the snooze is over, still failing
	if ps := w.posts("incident 1"); len(ps) != 2 {
		t.Fatalf("%d posts of incident 1 after the snooze ended, want 2 (a new notification)", len(ps))
	} else if !strings.Contains(ps[1].Text, "still failing after the snooze") {
		t.Errorf("the new notification says %q", ps[1].Text)
	}
	w.Expect(w.As("carol", "incident 1"), false, "bob", "snoozed until Nov 21 12:32 UTC: waiting for the vendor", "still failing after the snooze")
}

// A snooze of days says until which day, in the incident's message,
// `incidents` and the timeline.
func TestSnoozeTimesHaveADate(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	w := newWorld(t, []health.Check{httpCheck("promoter", tg.URL)})
	w.step(time.Minute)
	w.step(time.Minute)
	w.Expect(w.As("bob", "snooze 1 3d"), false, "snoozed until Nov 24 12:02 UTC")
	if m := w.onePost("incident 1"); !strings.Contains(m.Summary, "snoozed until Nov 24 12:02 UTC by bob") ||
		!strings.Contains(fmt.Sprint(m.Fields), "until Nov 24 12:02 UTC by bob") {
		t.Errorf("the message does not say the snooze's day: %s %v", m.Summary, m.Fields)
	}
	w.Expect(w.As("carol", "incidents"), false, "snoozed until Nov 24 12:02 UTC by bob")
	w.Expect(w.As("carol", "incident 1"), false, "snoozed until Nov 24 12:02 UTC")
	w.Expect(w.As("bob", "snooze promoter 2d"), false, "and so is incident 1")
	w.Expect(w.As("carol", "incident 1"), false, "check snoozed until Nov 23 12:02 UTC")
}

// Ending a check's snooze ends the snooze its open incident took from
// it, and tells the escalation policy the snooze ends now; the incident
// is notified again at its next failure.
func TestEndingACheckSnoozeReleasesItsIncident(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	w := newWorld(t, []health.Check{escalated(httpCheck("logserver-http", tg.URL))})
	w.openIncident("incident 1")
	w.Expect(w.As("bob", "snooze logserver-http 4h deploying"), false, "and so is incident 1")
	w.step(time.Minute)
	w.Expect(w.As("bob", "snooze logserver-http 0"), false, "check logserver-http is no longer snoozed, nor is incident 1")

	if r := w.As("carol", "incidents"); strings.Contains(strings.Join(r.Lines, "\n"), "snoozed") {
		t.Errorf("incident 1 is still listed as snoozed: %v", r.Lines)
	}
	if m := w.onePost("incident 1"); strings.Contains(m.Summary, "snoozed") {
		t.Errorf("incident 1's message still shows the snooze: %s", m.Summary)
	}
	if told, want := w.pager.Told(), "opened 1\nsnoozed 1 by bob until Nov 21 16:02 UTC\nsnoozed 1 by bob until Nov 21 12:03 UTC"; told != want {
		t.Errorf("the escalation policy was told:\n%s\nwant:\n%s", told, want)
	}
	w.step(time.Minute)
	if ps := w.posts("incident 1"); len(ps) != 2 {
		t.Errorf("%d posts of incident 1 after its snooze ended and it failed again, want 2", len(ps))
	}
	w.Expect(w.As("carol", "incident 1"), false, "check snooze ended", "still failing after the snooze")
}

// A check snoozed before it fails opens its incident silently; recovery
// during the snooze resolves it as usual, and nobody is told of either.
func TestCheckSnoozeAndRecoveryDuringIt(t *testing.T) {
	t.Parallel()
	tg := healthtest.NewService(t)
	w := newWorld(t, []health.Check{httpCheck("runner", tg.URL)})
	w.step(time.Minute)
	w.Expect(w.As("bob", "snooze runner 2h upgrading the runners"), false, "check runner snoozed until")
	w.Expect(w.As("carol", "checks"), false, "snoozed until Nov 21 14:01 UTC by bob: upgrading the runners")
	tg.Failing.Store(true)
	w.step(time.Minute)
	w.step(time.Minute)
	if n := len(w.Chat.Posts()); n != 0 {
		t.Fatalf("%d messages posted during the check's snooze", n)
	}
	w.Expect(w.As("carol", "incidents"), false, "runner", "snoozed until")
	tg.Failing.Store(false)
	w.step(time.Minute)
	w.step(time.Minute)
	w.Expect(w.As("carol", "incidents"), false, "no open incidents")
	w.Expect(w.As("carol", "incident 1"), false, "notifications held back", "resolved: the check passed")
	w.step(3 * time.Hour)
	if n := len(w.Chat.Posts()); n != 0 {
		t.Fatalf("%d messages posted for an incident resolved during the snooze", n)
	}

	// A snooze that ends while the check fails notifies then.
	w.Expect(w.As("bob", "snooze runner 10m"), false, "snoozed")
	tg.Failing.Store(true)
	w.step(time.Minute)
	w.step(time.Minute)
	if n := len(w.Chat.Posts()); n != 0 {
		t.Fatalf("%d messages posted during the check's snooze", n)
	}
	w.step(10 * time.Minute)
	w.onePost("incident 2")

	for _, bad := range []string{"snooze runner 8d", "snooze runner soon", "snooze nothing 1h", "snooze 2 0"} {
		w.Expect(w.As("bob", bad), true)
	}
}

// Many checks failing at once open one incident each, never two.
func TestManyChecksFailingAtOnce(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	var checks []health.Check
	for i := range 40 {
		checks = append(checks, httpCheck(fmt.Sprintf("web-%02d", i), tg.URL))
	}
	w := newWorld(t, checks)
	for range 4 {
		w.step(time.Minute)
	}
	ps := w.posts("incident")
	w.restart()
	w.step(time.Minute)
	w.step(time.Minute)
	if len(ps) != 40 || len(w.posts("incident")) != 40 {
		t.Fatalf("%d incidents posted, and %d after a restart; want 40 and no more", len(ps), len(w.posts("incident")))
	}
	seen := map[string]bool{}
	for _, p := range ps {
		check := strings.Fields(p.Summary)[2]
		if seen[check] {
			t.Errorf("two incidents for %s", check)
		}
		seen[check] = true
	}
	if n := strings.Count(w.Audited(), "incident-opened"); n != 40 {
		t.Errorf("%d incidents opened, want 40", n)
	}
	r := w.As("carol", "incidents")
	if len(r.Lines) != 40 || !strings.HasPrefix(r.Lines[39], "40 ") {
		t.Errorf("incidents lists %d lines, want 40 numbered 1 to 40:\n%s", len(r.Lines), strings.Join(r.Lines, "\n"))
	}
}

// A restart between the first and the second failure keeps the count:
// the second failure after it opens the incident.
func TestFailureCountSurvivesRestart(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	w := newWorld(t, []health.Check{httpCheck("registry", tg.URL)})
	w.step(time.Minute)
	w.restart()
	w.step(time.Minute)
	w.onePost("incident 1: registry")
}

// The digest's sections say what is down and which incidents are open.
func TestDigestSections(t *testing.T) {
	t.Parallel()
	tg := healthtest.NewService(t)
	w := newWorld(t, []health.Check{httpCheck("logserver-http", tg.URL), httpCheck("registry", tg.URL+"/r")})
	ctx := context.Background()
	if m, _ := w.mod.IncidentsSection(ctx, time.Time{}); m.Summary != "" {
		t.Errorf("incidents section with none open: %q", m.Summary)
	}
	w.step(time.Minute)
	// Up checks are listed too, each with its uptime over 24 hours.
	m, err := w.mod.ChecksSection(ctx, time.Time{})
	if want := []string{"✓ logserver-http up · 100.0% up in 24h", "✓ registry up · 100.0% up in 24h"}; err != nil || m.Summary != "2 up, 0 down" || !slices.Equal(m.Lines, want) {
		t.Errorf("checks section, all up: %v %q %q, want lines %q", err, m.Summary, m.Lines, want)
	}
	tg.Failing.Store(true)
	w.step(time.Minute)
	w.step(time.Minute)
	w.Expect(w.As("bob", "ack 1"), false)
	m, err = w.mod.ChecksSection(ctx, time.Time{})
	if err != nil || m.Summary != "0 up, 2 down" || len(m.Lines) != 2 || !strings.Contains(m.Lines[0], "✗ logserver-http down since Nov 21 12:02 UTC") ||
		!strings.HasSuffix(m.Lines[0], " · 33.3% up in 24h") {
		t.Errorf("checks section: %v %q %q", err, m.Summary, m.Lines)
	}
	m, _ = w.mod.IncidentsSection(ctx, time.Time{})
	// The two incidents open in the same tick, in either order.
	if all := strings.Join(m.Lines, "\n"); m.Summary != "2 open" || !strings.HasPrefix(all, "#1 ") ||
		!strings.Contains(all, "— 0ms old, acknowledged by bob: status 503") || !strings.Contains(all, "#2 ") || !strings.Contains(all, "not acknowledged") {
		t.Errorf("incidents section: %q %q", m.Summary, m.Lines)
	}
}

// A reload that adds a check starts probing it without a restart, and a
// check that stays (its timeout changed) keeps its failure count: its
// second failure opens the incident, as without the reload. A check
// removed stops running; a check the module cannot run is refused and
// changes nothing.
func TestReconfigureKeepsFailureCounts(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	other := healthtest.NewService(t)
	gone := healthtest.NewService(t)
	w := newWorld(t, []health.Check{httpCheck("registry", tg.URL), httpCheck("gone", gone.URL)})
	w.step(time.Minute) // registry's first failure
	if len(w.posts("incident")) != 0 {
		t.Fatal("one failure opened an incident")
	}
	ctx := context.Background()
	if err := w.mod.Reconfigure(ctx, []health.Check{{Name: "bad", Kind: "ping"}}); err == nil {
		t.Fatal("a check of an unknown type was taken")
	}
	registry := httpCheck("registry", tg.URL)
	registry.Timeout = 3 * time.Second
	if err := w.mod.Reconfigure(ctx, []health.Check{registry, httpCheck("logs", other.URL)}); err != nil {
		t.Fatal(err)
	}
	before := gone.Hits.Load()
	w.step(time.Minute) // registry's second failure; logs' first run
	w.onePost("incident 1: registry")
	w.Expect(w.As("carol", "checks"), false, "2 checks, 1 failing", "logs", "status 200")
	if gone.Hits.Load() != before {
		t.Error("a removed check still runs")
	}
	if s := w.mod.Stats(); s.Kinds[0].Kind != health.HTTP || s.Kinds[0].Checks != 2 {
		t.Errorf("stats count %+v, want 2 http checks", s.Kinds[0])
	}
}

// A check taken out of the config with its incident open, the incident
// resolved by hand, then the check put back by a reload: as after any
// resolve by hand its failure count starts again, and its second failure
// opens a new incident (its record still named the resolved one, so it
// opened none, and each recovery tried to resolve that one again).
func TestCheckPutBackAfterItsIncidentWasResolvedOpensIncidents(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	registry := httpCheck("registry", tg.URL)
	w := newWorld(t, []health.Check{registry})
	w.openIncident("incident 1: registry")
	ctx := context.Background()
	if err := w.mod.Reconfigure(ctx, nil); err != nil {
		t.Fatal(err)
	}
	w.Expect(w.As("bob", "resolve 1"), false, "incident 1 (registry) resolved by bob")
	if err := w.mod.Reconfigure(ctx, []health.Check{registry}); err != nil {
		t.Fatal(err)
	}
	if r := w.As("carol", "checks"); strings.Contains(strings.Join(r.Lines, "\n"), "incident 1") {
		t.Errorf("the check put back still shows the resolved incident: %q", r.Lines)
	}
	w.step(time.Minute)
	if len(w.posts("incident 2")) != 0 {
		t.Fatal("the first failure after the check was put back opened an incident; its count starts again")
	}
	w.step(time.Minute)
	w.onePost("incident 2: registry")
	w.Expect(w.As("carol", "checks"), false, "down (incident 2)")
	tg.Failing.Store(false)
	w.step(time.Minute)
	w.step(time.Minute)
	if m := w.onePost("incident 2"); !strings.Contains(m.Title, "resolved") {
		t.Errorf("recovery did not resolve the new incident: %s", m.Summary)
	}
}

// The same across restarts: started without the check while its incident
// is open, the incident resolved by hand, then started with it again.
func TestCheckPutBackAtARestartAfterItsIncidentWasResolvedOpensIncidents(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	registry := httpCheck("registry", tg.URL)
	w := newWorld(t, []health.Check{registry})
	w.openIncident("incident 1: registry")
	w.checks = nil
	w.restart()
	w.Expect(w.As("bob", "resolve 1"), false, "incident 1 (registry) resolved by bob")
	w.checks = []health.Check{registry}
	w.restart()
	w.step(time.Minute)
	if len(w.posts("incident 2")) != 0 {
		t.Fatal("the first failure after the check was put back opened an incident; its count starts again")
	}
	w.step(time.Minute)
	w.onePost("incident 2: registry")
}
