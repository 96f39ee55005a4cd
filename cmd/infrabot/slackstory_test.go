package main_test

import (
	"context"
	"net/http/httptest"
	"strings"
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

// slackStory is the engine in actionstest's world (bbolt, a clock the
// test moves) speaking Slack: the real adapter posting to the fake Slack
// through slack-go, and Slack's side sending signed clicks to the
// adapter's endpoints. The channel "default" is C0INFRA.
type slackStory struct {
	*actionstest.World
	fake  *slacktest.Server
	slack *slacktest.App
}

// newSlackStory starts a story named name (its token and signing secret
// say it) with policy; setup makes the modules under test, as the wiring
// does, before the adapter is added.
func newSlackStory(t *testing.T, name string, policy func() *actions.Policy, setup func(w *actionstest.World)) *slackStory {
	t.Helper()
	token, secret := "xoxb-"+name+"-story", name+"-story-signing-secret"
	s := &slackStory{fake: slacktest.NewServer(t, token)}
	var adapter *islack.Adapter
	s.World = actionstest.New(t, actionstest.Options{
		Policy:           policy,
		Channels:         actions.Channels{"default": {"slack": "C0INFRA"}},
		ApprovalsChannel: "default",
		Setup: func(w *actionstest.World) {
			setup(w)
			var err error
			adapter, err = islack.New(islack.Options{
				BotToken: token, SigningSecret: secret, APIURL: s.fake.APIURL(),
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		adapter.Close(ctx)
	})
	s.slack = &slacktest.App{URL: srv.URL, Secret: secret, Workspace: s.fake}
	return s
}

// logserverCheck makes the health module with one HTTP check,
// logserver-http, every minute against url, escalated by escalation
// (none when "").
func logserverCheck(t *testing.T, w *actionstest.World, url, escalation string) *health.Module {
	t.Helper()
	h, err := w.Engine.Module(health.Name, health.Buckets...)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := health.New(h, []health.Check{{
		Name: "logserver-http", Kind: health.HTTP, URL: url, Schedule: "@every 1m",
		Expect: health.Expect{Status: 200, BodyContains: "ok"}, Escalation: escalation,
	}}, health.Options{Parse: func(spec, tz string) (health.Schedule, error) { return schedule.Parse(spec, tz) }})
	if err != nil {
		t.Fatal(err)
	}
	return mod
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
