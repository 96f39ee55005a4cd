package main_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/schedule"
	ibot "github.com/infrabot/infrabot/bot"
	islack "github.com/infrabot/infrabot/bot/slack"
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
	var failing atomic.Bool
	failing.Store(true)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(target.Close)

	const token, secret = "xoxb-health-story", "health-story-signing-secret"
	fake := slacktest.NewServer(t, token)
	var mod *health.Module
	var adapter *islack.Adapter
	w := actionstest.New(t, actionstest.Options{
		Policy: func() *actions.Policy {
			return actions.NewPolicy(
				[]*actions.Person{
					{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{"slack": "U02BOB"}},
					{Name: "carol", Roles: []string{"viewer"}, IDs: map[string]string{"slack": "U03CAROL"}},
				},
				[]*actions.Role{
					{Name: "viewer", Allow: []string{"checks", "incidents", "incident"}},
					{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"ack", "resolve", "snooze"}},
				}, nil)
		},
		Channels:         actions.Channels{"default": {"slack": "C0INFRA"}},
		ApprovalsChannel: "default",
		Setup: func(w *actionstest.World) {
			h, err := w.Engine.Module(health.Name, health.Buckets...)
			if err != nil {
				t.Fatal(err)
			}
			mod, err = health.New(h, []health.Check{{
				Name: "logserver-http", Kind: health.HTTP, URL: target.URL, Schedule: "@every 1m",
				Expect: health.Expect{Status: 200, BodyContains: "ok"},
			}}, health.Options{Parse: func(spec, tz string) (health.Schedule, error) { return schedule.Parse(spec, tz) }})
			if err != nil {
				t.Fatal(err)
			}
			adapter, err = islack.New(islack.Options{
				BotToken: token, SigningSecret: secret, APIURL: fake.APIURL(),
				Router: &ibot.Router{Engine: w.Engine},
				Sleep:  func(ctx context.Context, d time.Duration) error { return ctx.Err() },
			})
			if err != nil {
				t.Fatal(err)
			}
			w.Engine.AddChat(islack.Platform, adapter)
		},
	})
	srv := httptest.NewServer(adapter.Handler())
	t.Cleanup(func() {
		srv.Close()
		mod.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		adapter.Close(ctx)
	})
	slack := &slacktest.App{URL: srv.URL, Secret: secret}
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
	failing.Store(false)
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

// blockText is the text of a message's blocks, buttons included.
func blockText(m slacktest.Message) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			b.WriteString(v + "\n")
		}
	}
	for _, bl := range m.Blocks {
		walk(bl)
	}
	return b.String()
}
