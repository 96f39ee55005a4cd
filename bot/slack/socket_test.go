package slack_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
	islack "github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

const appToken = "xapp-1-A0INFRABOT-1-test-not-a-real-token"

// newSocketWorld is the world with infrabot reading Slack over Socket
// Mode, connected to the fake before it returns.
func newSocketWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t, func(o *islack.Options) { o.AppToken = appToken })
	w.fake.EnableSocketMode(appToken)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.adapter.RunSocket(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("RunSocket ended with %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("RunSocket did not return after its context ended")
		}
	})
	w.fake.WaitFor(t, "infrabot connecting over Socket Mode", func() bool { return w.fake.OpenSockets() > 0 })
	return w
}

func TestSocketModeAcksAndRunsACommand(t *testing.T) {
	t.Parallel()
	w := newSocketWorld(t)
	id := w.fake.Push(t, w.fake.CommandEnvelope(alice, infra, "whoami"))
	w.fake.WaitAck(t, id)
	w.expectMessage(infra, "alice")
	w.settle()
	if bad := w.fake.BadFrames(); len(bad) > 0 {
		t.Errorf("infrabot sent frames that are not acks: %q", bad)
	}
}

// The teardown story of story_test.go, told through Socket Mode: every
// delivery is an envelope on the socket, acknowledged on it, and
// infrabot answers through the Web API as in HTTP mode.
func TestSocketModeTeardownNeedsASecondPersonsClick(t *testing.T) {
	t.Parallel()
	w := newSocketWorld(t)

	cmd := w.fake.CommandEnvelope(bob, infra, "teardown staging")
	cmd.ID = w.fake.Push(t, cmd)
	w.fake.WaitAck(t, cmd.ID)
	request := w.expectMessage(infra, "request 1: teardown staging", "Awaiting approval", "staging-web-1")
	if !hasButtons(request) {
		t.Fatalf("the approval request has no buttons:\n%s", text(request))
	}
	w.expectMessage(infra, "request 1 awaits approval")

	// Slack redelivers the command (an ack it did not hear in time): it
	// is acknowledged again and runs nothing.
	redelivery := cmd
	redelivery.RetryAttempt, redelivery.RetryReason = 1, "timeout"
	w.fake.Push(t, redelivery)
	w.fake.WaitFor(t, "the redelivery acknowledged", func() bool { return w.fake.Acked(cmd.ID) == 2 })

	// bob may not approve his own request: only he hears about it.
	w.fake.Push(t, w.fake.ClickEnvelope(t, bob, request, "Approve"))
	w.expectEphemeral(bob, "cannot approve your own request")
	if n := w.teardowns.Load(); n != 0 {
		t.Fatalf("teardown ran %d times before anyone else approved", n)
	}

	// alice's click approves it; the run reports in one progress message.
	w.fake.Push(t, w.fake.ClickEnvelope(t, alice, request, "Approve"))
	w.expectApprovedRun(request)
	w.settle()

	if n := w.teardowns.Load(); n != 1 {
		t.Fatalf("teardown ran %d times, want 1", n)
	}
	if n := w.router.n.Load(); n != 3 {
		t.Errorf("%d lines reached the engine, want 3 (the command once, two clicks)", n)
	}
	for _, m := range w.fake.Messages(infra) {
		if !m.Ephemeral && strings.Count(text(m), "request 2") > 0 {
			t.Errorf("the redelivered command made a second request:\n%s", text(m))
		}
	}
	w.fake.WaitFor(t, "every envelope acknowledged", func() bool {
		for _, e := range w.fake.Pushed() {
			if w.fake.Acked(e.ID) == 0 {
				return false
			}
		}
		return true
	})
	for _, a := range w.fake.Acks() {
		if len(a.Payload) > 0 {
			t.Errorf("envelope %s acknowledged with a payload %s: infrabot answers through the Web API", a.EnvelopeID, a.Payload)
		}
	}
}

func TestSocketModeMentionsAndEventRedeliveries(t *testing.T) {
	t.Parallel()
	w := newSocketWorld(t)
	ev := w.fake.EventEnvelope("Ev01", slacktest.Mention(alice, infra, "whoami"))
	ev.ID = w.fake.Push(t, ev)
	w.expectMessage(infra, "alice")
	// A redelivery of the event in a new envelope, as Slack retries.
	again := w.fake.EventEnvelope("Ev01", slacktest.Mention(alice, infra, "whoami"))
	again.RetryAttempt, again.RetryReason = 1, "timeout"
	again.ID = w.fake.Push(t, again)
	w.fake.WaitAck(t, again.ID)
	w.fake.Push(t, w.fake.EventEnvelope("Ev02", slacktest.DirectMessage(carol, "D03CAROL", "help")))
	w.expectMessage("D03CAROL", "runs")
	w.settle()
	if n := w.router.n.Load(); n != 2 {
		t.Errorf("%d lines reached the engine, want 2", n)
	}
	if w.fake.Acked(ev.ID) != 1 {
		t.Errorf("envelope %s acknowledged %d times, want 1", ev.ID, w.fake.Acked(ev.ID))
	}
}

// Slack recycles connections with a "disconnect" message; infrabot opens
// a new one and goes on.
func TestSocketModeReconnectsWhenSlackAsks(t *testing.T) {
	t.Parallel()
	w := newSocketWorld(t)
	w.fake.Disconnect(t)
	w.fake.WaitFor(t, "a second connection", func() bool { return w.fake.Connects() >= 2 && w.fake.OpenSockets() == 1 })
	id := w.fake.Push(t, w.fake.CommandEnvelope(alice, infra, "whoami"))
	w.fake.WaitAck(t, id)
	w.expectMessage(infra, "alice")
}

// A malformed or unknown envelope is still acknowledged, so that Slack
// does not redeliver it; it runs nothing.
func TestSocketModeAcksWhatItCannotRead(t *testing.T) {
	t.Parallel()
	w := newSocketWorld(t)
	odd := w.fake.Push(t, slacktest.Envelope{Type: "something_new", Payload: map[string]any{"x": 1}})
	broken := w.fake.Push(t, slacktest.Envelope{Type: "interactive", Payload: "not an object"})
	w.fake.WaitAck(t, odd)
	w.fake.WaitAck(t, broken)
	w.settle()
	if n := w.router.n.Load(); n != 0 {
		t.Errorf("%d lines reached the engine, want none", n)
	}
}

func TestSocketModeRefusesTheWrongToken(t *testing.T) {
	t.Parallel()
	for name, token := range map[string]string{"bot token": botToken, "revoked app token": "xapp-1-A0INFRABOT-9-revoked"} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, func(o *islack.Options) { o.AppToken = token })
			w.fake.EnableSocketMode(appToken)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := w.adapter.RunSocket(ctx)
			if err == nil || ctx.Err() != nil {
				t.Fatalf("RunSocket with a %s returned %v (context: %v), want an error at once", name, err, ctx.Err())
			}
			t.Logf("%s: %v", name, err)
		})
	}
}

// Status follows the connection, for /readyz: up once connected, down
// while Slack has it reconnect, down once refused.
func TestSocketModeStatusFollowsTheConnection(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(o *islack.Options) { o.AppToken = appToken })
	w.fake.EnableSocketMode(appToken)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.adapter.RunSocket(ctx) }()
	connected := func() bool { ok, state := w.adapter.Status(); return ok && state == "connected" }
	w.fake.WaitFor(t, "the adapter to say it is connected", connected)
	w.fake.Disconnect(t)
	w.fake.WaitFor(t, "a second connection", func() bool { return w.fake.Connects() >= 2 && w.fake.OpenSockets() == 1 })
	w.fake.WaitFor(t, "connected again", connected)
	cancel()
	<-errc
	if ok, state := w.adapter.Status(); ok || state != "disconnected" {
		t.Errorf("after RunSocket returned: %v %q", ok, state)
	}

	refused := newWorld(t, func(o *islack.Options) { o.AppToken = "xapp-1-A0INFRABOT-9-revoked" })
	refused.fake.EnableSocketMode(appToken)
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	if err := refused.adapter.RunSocket(rctx); err == nil {
		t.Fatal("a revoked token was accepted")
	}
	if ok, _ := refused.adapter.Status(); ok {
		t.Error("a refused adapter says it is up")
	}
}

// failingStore is a replay store whose disk fails every write.
type failingStore struct{ *bot.MemoryReplays }

func (failingStore) Remember([]string, time.Time, time.Time) func() error {
	return func() error { return errors.New("disk full") }
}
func (failingStore) Remembered(time.Time, func(string, time.Time)) error    { return nil }
func (failingStore) Unremember(context.Context, map[string]time.Time) error { return nil }

// Over Socket Mode the envelope is acknowledged before anything else, so
// a command whose delivery cannot be recorded is not run, and its author
// is told so: there is no request left to answer.
func TestSocketModeCommandThatCannotBeRecordedIsNotRunAndSaysSo(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(o *islack.Options) {
		o.AppToken = appToken
		o.Replays = failingStore{bot.NewMemoryReplays()}
	})
	w.fake.EnableSocketMode(appToken)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.adapter.RunSocket(ctx)
	w.fake.WaitFor(t, "infrabot connecting over Socket Mode", func() bool { return w.fake.OpenSockets() > 0 })

	id := w.fake.Push(t, w.fake.CommandEnvelope(alice, infra, "whoami"))
	w.fake.WaitAck(t, id)
	w.expectEphemeral(alice, "could not record", "whoami", "did not run")
	if n := w.router.n.Load(); n != 0 {
		t.Errorf("%d commands ran, want none", n)
	}
}

// holdRouter holds one person's lines until release is closed, saying
// which line it holds on entered, and passes everyone else's straight on.
type holdRouter struct {
	inner   islack.Router
	person  string
	entered chan string
	release chan struct{}
	once    sync.Once
}

func newHoldRouter(inner islack.Router, person string) *holdRouter {
	return &holdRouter{inner: inner, person: person, entered: make(chan string, 16), release: make(chan struct{})}
}

// Release lets the held lines, and every later one, through.
func (h *holdRouter) Release() { h.once.Do(func() { close(h.release) }) }

func (h *holdRouter) Handle(ctx context.Context, in bot.Incoming) (actions.Reply, bool) {
	if in.UserID == h.person {
		h.entered <- in.Text
		<-h.release
	}
	return h.inner.Handle(ctx, in)
}

// Over Socket Mode every envelope arrives on one connection: a person
// whose own queue is full is told they are busy, as over HTTP, rather
// than waited for, so that everyone else's envelopes are still read,
// acknowledged and run.
func TestSocketModeOnePersonsFullQueueDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	var hold *holdRouter
	w := newWorld(t, func(o *islack.Options) {
		o.AppToken = appToken
		o.Workers, o.Queue, o.PerPerson = 1, 16, 1
		hold = newHoldRouter(o.Router, bob)
		o.Router = hold
	})
	t.Cleanup(hold.Release) // before the adapter's Close, which waits for the workers
	w.fake.EnableSocketMode(appToken)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.adapter.RunSocket(ctx)
	w.fake.WaitFor(t, "infrabot connecting over Socket Mode", func() bool { return w.fake.OpenSockets() > 0 })

	// bob's first command holds the only worker, his second fills his
	// queue, his third finds no room.
	w.fake.Push(t, w.fake.CommandEnvelope(bob, infra, "help"))
	<-hold.entered
	w.fake.WaitAck(t, w.fake.Push(t, w.fake.CommandEnvelope(bob, infra, "runs")))
	refused := w.fake.CommandEnvelope(bob, infra, "whoami")
	refused.ID = w.fake.Push(t, refused)

	// alice is not held up by bob's queue, and bob is told.
	w.fake.WaitAck(t, w.fake.Push(t, w.fake.CommandEnvelope(alice, infra, "whoami")))
	w.expectEphemeral(bob, "busy", "whoami", "try again")
	hold.Release()
	w.expectMessage(infra, "alice")
	w.settle()
	if n := w.router.n.Load(); n != 3 {
		t.Fatalf("%d commands ran, want 3 (bob's first two, alice's)", n)
	}

	// The refused delivery was forgotten: should Slack deliver it again
	// (an ack it did not hear), it runs.
	refused.RetryAttempt, refused.RetryReason = 1, "timeout"
	w.fake.Push(t, refused)
	w.fake.WaitFor(t, "the refused command run on its redelivery", func() bool { return w.router.n.Load() == 4 })
}

// An envelope acknowledged once the adapter has stopped taking commands
// (shutdown) cannot run, and Slack will not send it again: its author is
// told so rather than left waiting.
func TestSocketModeCommandAcknowledgedAtShutdownSaysItDidNotRun(t *testing.T) {
	t.Parallel()
	w := newSocketWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.adapter.Close(ctx); err != nil {
		t.Fatal(err)
	}
	w.fake.WaitAck(t, w.fake.Push(t, w.fake.CommandEnvelope(alice, infra, "whoami")))
	w.expectEphemeral(alice, "shutting down", "whoami", "did not run")
	if n := w.router.n.Load(); n != 0 {
		t.Errorf("%d commands ran, want none", n)
	}
}
