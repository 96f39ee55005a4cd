package main_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/health/healthtest"
	"github.com/infrabot/infrabot/actions/oncall"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

// TestPageAcknowledgedFromSlackDM is the on-call story in Slack: an
// incident on a check with the ci-oncall escalation mentions bob (on call
// this week) in the channel and pages him by direct message; 15 minutes
// without an acknowledgement page alice; bob's signed click on
// Acknowledge in his direct message acknowledges the incident, which
// updates the incident's message in the channel and every page, and
// stops the escalation: 30 minutes later the channel is not paged.
func TestPageAcknowledgedFromSlackDM(t *testing.T) {
	t.Parallel()
	target := healthtest.NewService(t)
	target.Failing.Store(true)
	rot, err := oncall.ParseRotation("weekly", "Mon 09:00", "Europe/Prague", "2026-11-09")
	if err != nil {
		t.Fatal(err)
	}
	var hmod *health.Module
	var omod *oncall.Module
	story := newSlackStory(t, "oncall", func() *actions.Policy {
		return actions.NewPolicy(
			[]*actions.Person{
				{Name: "alice", Roles: []string{"operator"}, IDs: map[string]string{"slack": "U01ALICE"}},
				{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{"slack": "U02BOB"}},
			},
			[]*actions.Role{{Name: "operator", Allow: []string{"checks", "incidents", "incident", "ack", "resolve", "snooze", "oncall"}}}, nil)
	}, func(w *actionstest.World) {
		hmod = logserverCheck(t, w, target.URL, "ci-oncall")
		h, err := w.Engine.Module(oncall.Name, oncall.Buckets...)
		if err != nil {
			t.Fatal(err)
		}
		omod, err = oncall.New(h,
			[]oncall.Schedule{{Name: "ci-oncall", Rotation: rot, Members: []string{"alice", "bob"}}},
			[]oncall.Escalation{{Name: "ci-oncall", Levels: []oncall.Level{
				{Notify: []oncall.Target{{Kind: oncall.ToSchedule, Name: "ci-oncall"}}},
				{After: 15 * time.Minute, Notify: []oncall.Target{{Kind: oncall.ToPerson, Name: "alice"}}},
				{After: 30 * time.Minute, Notify: []oncall.Target{{Kind: oncall.ToChannel, Name: "default"}}},
			}}}, oncall.Options{})
		if err != nil {
			t.Fatal(err)
		}
		w.Engine.SetEscalation(omod)
		w.Engine.SetIncidentDesk(hmod)
	})
	t.Cleanup(func() {
		hmod.Close()
		omod.Close()
	})
	w, fake, slack := story.World, story.fake, story.slack
	step := func(d time.Duration) {
		w.Clock.Advance(d)
		w.Tick()
		hmod.Wait()
		omod.Wait()
	}
	holding := func(channel, s string) []slacktest.Message {
		var out []slacktest.Message
		for _, m := range fake.Messages(channel) {
			if !m.Ephemeral && strings.Contains(m.Text+"\n"+blockText(m), s) {
				out = append(out, m)
			}
		}
		return out
	}

	step(time.Minute)
	step(time.Minute)
	var incident, page slacktest.Message
	fake.WaitFor(t, "the incident mentioning bob, and bob's page by DM", func() bool {
		inc, dm := holding("C0INFRA", "incident 1: logserver-http"), holding("D02BOB", "page: incident 1")
		if len(inc) == 1 && len(dm) == 1 {
			incident, page = inc[0], dm[0]
		}
		return len(inc) == 1 && strings.Contains(blockText(inc[0]), "<@U02BOB>") && len(dm) == 1 && strings.Contains(blockText(dm[0]), "Acknowledge")
	})
	if n := len(holding("D01ALICE", "incident 1")); n != 0 {
		t.Fatalf("alice paged at once")
	}

	step(15 * time.Minute)
	fake.WaitFor(t, "alice paged by DM and mentioned in the channel", func() bool {
		return len(holding("D01ALICE", "page: incident 1")) == 1 && len(holding("C0INFRA", "<@U01ALICE>")) == 1
	})

	if r := slack.Click(t, "U02BOB", page, "Acknowledge"); r.Status != http.StatusOK {
		t.Fatalf("the click answered %d %s", r.Status, r.Body)
	}
	fake.WaitFor(t, "the incident and the pages updated: acknowledged by bob", func() bool {
		inc := holding("C0INFRA", "incident 1: logserver-http")
		dms := slices.Concat(holding("D02BOB", "page: incident 1"), holding("D01ALICE", "page: incident 1"))
		if len(inc) != 1 || inc[0].TS != incident.TS || !strings.Contains(inc[0].Text, "acknowledged") || len(dms) != 2 {
			return false
		}
		for _, m := range dms {
			if !strings.Contains(m.Text, "acknowledged by bob") || strings.Contains(blockText(m), "Acknowledge") {
				return false
			}
		}
		return true
	})
	omod.Wait()
	step(30 * time.Minute)
	step(time.Hour)
	// Messages to a channel go out in order: once this one is there,
	// anything wrongly queued before it is too.
	if _, err := w.Engine.Notify(context.Background(), []actions.Target{{Kind: actions.ToChannel, Name: "default"}}, actions.Message{Summary: "sentinel"}); err != nil {
		t.Fatal(err)
	}
	fake.WaitFor(t, "the sentinel", func() bool { return len(holding("C0INFRA", "sentinel")) == 1 })
	if ms := holding("C0INFRA", "(channel:default)"); len(ms) != 0 {
		t.Errorf("the channel was paged after bob acknowledged: %s", ms[0].Text)
	}
	if n := len(holding("D02BOB", "page: incident 1")); n != 1 {
		t.Errorf("bob got %d DMs, want his one page", n)
	}
}
