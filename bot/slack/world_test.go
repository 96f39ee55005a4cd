package slack_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/schedule"
	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/bottest"
	islack "github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
	"github.com/infrabot/infrabot/storage"
)

const (
	botToken = "xoxb-test-not-a-real-token"
	secret   = "test-signing-secret"
	alice    = "U01ALICE"
	bob      = "U02BOB"
	carol    = "U03CAROL"
	infra    = "C0INFRA"
)

// world is infrabot in Slack: a real engine on bbolt with a destructive
// teardown and a multi-step deploy, the Slack adapter serving HTTP on
// loopback, a fake Slack Web API it posts to, and Slack's side that sends
// signed requests.
type world struct {
	t       *testing.T
	fake    *slacktest.Server
	slack   *slacktest.App
	adapter *islack.Adapter
	engine  *actions.Engine
	router  *countingRouter

	teardowns atomic.Int32
	sleeps    *sleepLog
	// clock and sched run modules' jobs: the test moves the clock and
	// fires what is due.
	clock *actionstest.Clock
	sched *schedule.Scheduler
}

// countingRouter counts the lines that reached the engine.
type countingRouter struct {
	r *bot.Router
	n atomic.Int32
}

func (c *countingRouter) Handle(ctx context.Context, in bot.Incoming) (actions.Reply, bool) {
	c.n.Add(1)
	return c.r.Handle(ctx, in)
}

// sleepLog is the adapter's clock: a wait records how long it was asked
// for and moves the clock on at once, so that tests never sleep.
type sleepLog struct {
	mu      sync.Mutex
	d       []time.Duration
	start   time.Time
	skipped time.Duration
}

func (s *sleepLog) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.skipped += d
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepLog) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start.Add(s.skipped)
}

func (s *sleepLog) All() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newWorld(t *testing.T, tweak ...func(*islack.Options)) *world {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, fake: slacktest.NewServer(t, botToken), sleeps: &sleepLog{start: time.Now()}}
	w.clock = actionstest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	w.sched = schedule.New(schedule.Options{LastRuns: db, Now: w.clock.Now, MaxJitter: time.Nanosecond})
	w.engine = actions.NewEngine(actions.Options{
		Policy: actions.NewPolicy(
			[]*actions.Person{
				{Name: "alice", Roles: []string{"admin"}, IDs: map[string]string{"slack": alice}},
				{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{"slack": bob}},
				{Name: "carol", Roles: []string{"viewer"}, IDs: map[string]string{"slack": carol}},
			},
			[]*actions.Role{
				{Name: "viewer", Allow: []string{"help", "whoami", "status", "plan", "runs", "run"}},
				{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"teardown", "deploy", "lock", "unlock", "approve", "deny"}, Environments: []string{"staging"}},
				{Name: "admin", Inherit: []string{"operator"}, Allow: []string{"*"}, Environments: []string{"*"}},
			},
			[]actions.ApprovalRule{{Actions: []string{"teardown"}, Environments: []string{"*"}, Approvers: []string{"operator", "admin"}, Expires: 15 * time.Minute}},
		),
		Runs: db, Locks: db, Audit: db, Stores: db, Scheduler: w.sched,
		Environments:     []string{"staging", "production"},
		Channels:         actions.Channels{"default": {islack.Platform: infra}},
		ApprovalsChannel: "default",
	})
	w.engine.Register(&actions.Action{
		Name: "teardown", Summary: "test-only destructive action",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true, Destructive: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "delete 2 servers", Lines: []string{"- staging-web-1", "- staging-db-1"}, Deletes: true}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			w.teardowns.Add(1)
			for _, s := range []string{"staging-web-1", "staging-db-1"} {
				p.Step(ctx, "delete "+s).Done(ctx, "deleted")
			}
			return nil
		},
	})
	w.engine.Register(&actions.Action{
		Name: "deploy", Summary: "test-only action with many steps",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "deploy"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			for i := 1; i <= 6; i++ {
				p.Step(ctx, fmt.Sprintf("step %d", i)).Done(ctx, "ok")
			}
			return nil
		},
	})
	w.router = &countingRouter{r: &bot.Router{Engine: w.engine}}
	opts := islack.Options{
		BotToken: botToken, SigningSecret: secret, APIURL: w.fake.APIURL(),
		Router: w.router, Sleep: w.sleeps.Sleep, Now: w.sleeps.Now,
	}
	for _, f := range tweak {
		f(&opts)
	}
	w.adapter, err = islack.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	w.engine.AddChat(islack.Platform, w.adapter)
	srv := httptest.NewServer(w.adapter.Handler())
	w.slack = &slacktest.App{URL: srv.URL, Secret: secret, Now: w.sleeps.Now, Workspace: w.fake}
	t.Cleanup(func() {
		srv.Close()
		w.sched.Close()
		w.engine.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := w.adapter.Close(ctx); err != nil {
			t.Errorf("closing the adapter: %v", err)
		}
		db.Close()
	})
	return w
}

// settle waits until every accepted command has run, every run has ended
// and Slack has heard everything.
func (w *world) settle() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 3 {
		if err := w.adapter.Drain(ctx); err != nil {
			w.t.Fatal(err)
		}
		w.engine.Wait()
	}
	if err := w.adapter.Flush(ctx); err != nil {
		w.t.Fatal(err)
	}
}

// text is everything a person sees in m.
func text(m slacktest.Message) string {
	var b strings.Builder
	b.WriteString(m.Text)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if s, ok := v["text"].(string); ok {
				b.WriteString("\n" + s)
			}
			for k, x := range v {
				if k != "text" {
					walk(x)
				}
			}
			if t, ok := v["text"].(map[string]any); ok {
				walk(t)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, bl := range m.Blocks {
		walk(bl)
	}
	return b.String()
}

func hasButtons(m slacktest.Message) bool {
	for _, b := range m.Blocks {
		if b["type"] == "actions" {
			return true
		}
	}
	return false
}

// expectMessage waits for a message in channel whose text holds all of
// want, and returns it.
func (w *world) expectMessage(channel string, want ...string) slacktest.Message {
	w.t.Helper()
	return w.expect(channel, fmt.Sprintf("a message in %s with %q", channel, want), func(m slacktest.Message) bool {
		return !m.Ephemeral && bottest.ContainsAll(text(m), want)
	})
}

// expectEphemeral waits for a message only user sees, holding want.
func (w *world) expectEphemeral(user string, want ...string) slacktest.Message {
	w.t.Helper()
	return w.expect("", fmt.Sprintf("an ephemeral message to %s with %q", user, want), func(m slacktest.Message) bool {
		return m.Ephemeral && m.User == user && bottest.ContainsAll(text(m), want)
	})
}

// expect waits for a message in channel (any when "") that match takes,
// and returns it.
func (w *world) expect(channel, what string, match func(slacktest.Message) bool) slacktest.Message {
	w.t.Helper()
	var found slacktest.Message
	w.fake.WaitFor(w.t, what, func() bool {
		for _, m := range w.fake.Messages(channel) {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// expectApprovedRun waits for the approval request to show alice's
// approval without its buttons, and for run 1's progress message to reach
// its final state; it returns the progress message.
func (w *world) expectApprovedRun(request slacktest.Message) slacktest.Message {
	w.t.Helper()
	w.fake.WaitFor(w.t, "the request updated to approved", func() bool {
		m := w.latest(request.TS)
		return strings.Contains(text(m), "Approved by alice") && !hasButtons(m)
	})
	progress := w.expectMessage(infra, "run 1: teardown staging")
	w.fake.WaitFor(w.t, "the run's final state", func() bool {
		return bottest.ContainsAll(text(w.latest(progress.TS)), []string{"succeeded", "delete staging-db-1", "deleted"})
	})
	return progress
}

// latest returns the current state of the message with ts.
func (w *world) latest(ts string) slacktest.Message {
	for _, m := range w.fake.Messages("") {
		if m.TS == ts {
			return m
		}
	}
	w.t.Fatalf("no message %s", ts)
	return slacktest.Message{}
}
