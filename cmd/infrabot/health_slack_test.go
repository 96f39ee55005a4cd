package main_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/health/healthtest"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

// TestIncidentAcknowledgedInSlack is the health story in Slack: a check
// against a loopback server that fails on demand, the engine on bbolt
// with a clock the test moves, the Slack adapter posting to the fake
// Slack, and bob's click on Acknowledge arriving signed. The incident is
// posted once with its buttons, the click updates it in place, more
// failures post nothing new, and recovery resolves it.
func TestIncidentAcknowledgedInSlack(t *testing.T) {
	t.Parallel()
	target := healthtest.NewService(t)
	target.Failing.Store(true)
	var mod *health.Module
	story := newSlackStory(t, "health", func() *actions.Policy {
		return actions.NewPolicy(
			[]*actions.Person{
				{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{"slack": "U02BOB"}},
				{Name: "carol", Roles: []string{"viewer"}, IDs: map[string]string{"slack": "U03CAROL"}},
			},
			[]*actions.Role{
				{Name: "viewer", Allow: []string{"checks", "incidents", "incident"}},
				{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"ack", "resolve", "snooze"}},
			}, nil)
	}, func(w *actionstest.World) { mod = logserverCheck(t, w, target.URL, "") })
	t.Cleanup(func() { mod.Close() })
	w, fake, slack := story.World, story.fake, story.slack
	step := func() {
		w.Clock.Advance(time.Minute)
		w.Tick()
		mod.Wait()
	}
	incidents := func() []slacktest.Message {
		var out []slacktest.Message
		for _, m := range fake.Messages("C0INFRA") {
			if !m.Ephemeral && strings.Contains(m.Text, "incident 1: logserver-http") {
				out = append(out, m)
			}
		}
		return out
	}

	step()
	step()
	var posted slacktest.Message
	fake.WaitFor(t, "the incident posted with its buttons", func() bool {
		ms := incidents()
		if len(ms) == 1 {
			posted = ms[0]
		}
		return len(ms) == 1 && strings.Contains(blockText(ms[0]), "Acknowledge")
	})

	slack.Click(t, "U03CAROL", posted, "Acknowledge")
	fake.WaitFor(t, "carol told she may not ack, privately", func() bool {
		for _, m := range fake.Messages("C0INFRA") {
			if m.Ephemeral && m.User == "U03CAROL" && strings.Contains(m.Text, "carol may not ack") {
				return true
			}
		}
		return false
	})
	if r := slack.Click(t, "U02BOB", posted, "Acknowledge"); r.Status != http.StatusOK {
		t.Fatalf("the click answered %d %s", r.Status, r.Body)
	}
	fake.WaitFor(t, "the incident updated in place: acknowledged by bob", func() bool {
		ms := incidents()
		return len(ms) == 1 && ms[0].TS == posted.TS && strings.Contains(ms[0].Text, "acknowledged: bob")
	})

	step()
	step()
	target.Failing.Store(false)
	step()
	step()
	fake.WaitFor(t, "the incident resolved, without buttons", func() bool {
		ms := incidents()
		return len(ms) == 1 && strings.Contains(ms[0].Text, "resolved") && !strings.Contains(blockText(ms[0]), "Acknowledge")
	})
	if n := len(incidents()); n != 1 {
		t.Errorf("%d incident messages in the channel, want 1 updated in place", n)
	}
}
