package oncall_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/health/healthtest"
	"github.com/infrabot/infrabot/actions/oncall"
	"github.com/infrabot/infrabot/actions/schedule"
)

// world is on-call in actionstest's world beside the real health module,
// wired as cmd/infrabot wires them: the engine knows the on-call module
// as its escalation policy and the health module as its incident desk.
// A check against a loopback server fails on demand and opens incidents.
type world struct {
	*actionstest.World
	target *healthtest.Service // the check's; it fails at first

	schedules   []oncall.Schedule
	escalations []oncall.Escalation
	opts        oncall.Options
	// policy is the people and roles, people() by default; chats are
	// more chats registered on the engine at every start, by platform.
	policy func() *actions.Policy
	chats  map[string]actions.Chat

	health *health.Module
	oncall *oncall.Module
}

// people are alice (admin), bob and carol (operators, who ack and take
// shifts), and dave (a viewer); each has an id on the test platform.
func people() *actions.Policy { return peopleMapped(nil) }

// peopleMapped is people() with more platform ids: extra[person][platform].
func peopleMapped(extra map[string]map[string]string) *actions.Policy {
	persons := []*actions.Person{
		{Name: "alice", Roles: []string{"admin"}, IDs: map[string]string{actionstest.Platform: "UALICE"}},
		{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{actionstest.Platform: "UBOB"}},
		{Name: "carol", Roles: []string{"operator"}, IDs: map[string]string{actionstest.Platform: "UCAROL"}},
		{Name: "dave", Roles: []string{"viewer"}, IDs: map[string]string{actionstest.Platform: "UDAVE"}},
	}
	for _, p := range persons {
		maps.Copy(p.IDs, extra[p.Name])
	}
	return actions.NewPolicy(
		persons,
		[]*actions.Role{
			{Name: "viewer", Allow: []string{"help", "checks", "incidents", "incident", "oncall"}},
			{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"ack", "resolve", "snooze", "oncall-override"}},
			{Name: "admin", Inherit: []string{"operator"}, Allow: []string{"*"}, Environments: []string{"*"}},
		},
		nil,
	)
}

// ciOncall is the issue's schedule: weekly, Monday 09:00 in Prague,
// alice then bob from the week of Nov 9 2026, so that bob is on call in
// the week of the world's clock (Saturday Nov 21 2026, 12:00 UTC).
func ciOncall(t testing.TB) oncall.Schedule {
	r, err := oncall.ParseRotation("weekly", "Mon 09:00", "Europe/Prague", "2026-11-09")
	if err != nil {
		t.Fatal(err)
	}
	return oncall.Schedule{Name: "ci-oncall", Rotation: r, Members: []string{"alice", "bob"}}
}

func target(kind oncall.TargetKind, name string) []oncall.Target {
	return []oncall.Target{{Kind: kind, Name: name}}
}

// issueEscalation is the issue's: the schedule, alice after 15 minutes,
// the channel after 30 more.
func issueEscalation() oncall.Escalation {
	return oncall.Escalation{Name: "ci-oncall", Levels: []oncall.Level{
		{Notify: target(oncall.ToSchedule, "ci-oncall")},
		{After: 15 * time.Minute, Notify: target(oncall.ToPerson, "alice")},
		{After: 30 * time.Minute, Notify: target(oncall.ToChannel, "default")},
	}}
}

func newWorld(t *testing.T, escalations []oncall.Escalation, opts oncall.Options) *world {
	return newWorldTB(t, escalations, opts)
}

// newPagedWorld is the world with issueEscalation two minutes on: the
// check has failed twice, incident 1 is open and bob was paged for it
// (at 12:02; alice is due at 12:17).
func newPagedWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t, []oncall.Escalation{issueEscalation()}, oncall.Options{})
	w.step(time.Minute)
	w.step(time.Minute)
	w.One("dm:UBOB", "page for you: incident 1")
	return w
}

// snoozeEnded tells on-call that the snooze of incident id ended now, as
// `snooze <check> 0` reports it: with an end that is not after now.
func (w *world) snoozeEnded(id int64) {
	w.oncall.IncidentChanged(w.T.Context(), actions.IncidentEvent{Change: actions.IncidentSnoozed, ID: id, Check: "logserver-http", Escalation: "ci-oncall", Time: w.Clock.Now()})
}

// newBenchWorld is the world with an escalation of one level that does
// not repeat, for benchmarks: nothing ever comes due.
func newBenchWorld(b *testing.B) *world {
	return newWorldTB(b, []oncall.Escalation{{Name: "ci-oncall", Levels: []oncall.Level{{Notify: target(oncall.ToSchedule, "ci-oncall")}}}}, oncall.Options{})
}

// newWorldTB makes the world; shape, when given, changes it before it
// starts (more chats, other people).
func newWorldTB(t testing.TB, escalations []oncall.Escalation, opts oncall.Options, shape ...func(*world)) *world {
	t.Helper()
	w := &world{schedules: []oncall.Schedule{ciOncall(t)}, escalations: escalations, opts: opts, policy: people}
	for _, f := range shape {
		f(w)
	}
	w.target = healthtest.NewService(t)
	w.target.Failing.Store(true)
	w.World = actionstest.New(t, actionstest.Options{Setup: w.setup, Policy: w.policy, KeepChat: true})
	t.Cleanup(w.stop)
	return w
}

func (w *world) stop() {
	if w.health != nil {
		w.health.Close()
	}
	if w.oncall != nil {
		w.oncall.Close()
	}
}

// setup makes both modules, as the wiring does at every start.
func (w *world) setup(aw *actionstest.World) {
	w.stop()
	for platform, c := range w.chats {
		aw.Engine.AddChat(platform, c)
	}
	h, err := aw.Engine.Module(health.Name, health.Buckets...)
	if err != nil {
		aw.T.Fatal(err)
	}
	w.health, err = health.New(h, []health.Check{{
		Name: "logserver-http", Kind: health.HTTP, URL: w.target.URL, Schedule: "@every 1m", Timeout: 2 * time.Second,
		Expect: health.Expect{Status: 200, BodyContains: "ok"}, Escalation: "ci-oncall",
	}}, health.Options{Parse: func(spec, tz string) (health.Schedule, error) { return schedule.Parse(spec, tz) }})
	if err != nil {
		aw.T.Fatal(err)
	}
	h, err = aw.Engine.Module(oncall.Name, oncall.Buckets...)
	if err != nil {
		aw.T.Fatal(err)
	}
	w.oncall, err = oncall.New(h, w.schedules, w.escalations, w.opts)
	if err != nil {
		aw.T.Fatal(err)
	}
	aw.Engine.SetEscalation(w.oncall)
	aw.Engine.SetIncidentDesk(w.health)
}

// step moves the clock by d, fires what is due and waits for checks and
// pages to finish.
func (w *world) step(d time.Duration) {
	w.T.Helper()
	w.Clock.Advance(d)
	w.Tick()
	w.settle()
}

func (w *world) settle() {
	w.health.Wait()
	w.oncall.Wait()
	w.health.Wait()
}

// restart stops infrabot and starts it again on the same store.
func (w *world) restart() {
	w.stop()
	w.Restart()
}

func mentions(m actions.Message) []string {
	var out []string
	for _, men := range m.Mentions {
		out = append(out, men.Person)
	}
	return out
}

func buttons(m actions.Message) []string {
	var out []string
	for _, b := range m.Buttons {
		out = append(out, b.Label+"="+b.Command)
	}
	return out
}

// timeline is `incident id` as alice sees it.
func (w *world) timeline(id string) string {
	r := w.As("alice", "incident "+id)
	return r.Summary + "\n" + strings.Join(r.Lines, "\n")
}

// pages returns the module's page counts by way, as "sent/failed".
func (w *world) pages() map[string]string {
	out := map[string]string{}
	for _, p := range w.oncall.Pages() {
		out[p.Via] = fmt.Sprintf("%d/%d", p.Sent, p.Failed)
	}
	return out
}

// wantPages fails the test unless the module counted chat, PagerDuty
// and webhook pages as want says ("sent/failed" each).
func (w *world) wantPages(chat, pagerduty, webhook string) {
	w.T.Helper()
	want := map[string]string{oncall.ViaChat: chat, oncall.ViaPagerDuty: pagerduty, oncall.ViaWebhook: webhook}
	if got := w.pages(); !maps.Equal(got, want) {
		w.T.Errorf("pages sent/failed %v, want %v", got, want)
	}
}
