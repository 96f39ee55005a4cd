package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot/bottest"
)

// A teardown typed in a direct message is put where approvers are: the
// approvals channel. bob is told where, alice approves there, and both
// the request and bob's copy show who decided.
func TestTeardownTypedInADirectMessageGoesToTheApprovalsChannel(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const dm = "D02BOB"

	w.slack.Command(t, bob, dm, "teardown staging")
	request := w.expectMessage(infra, "request 1: teardown staging", "Awaiting approval")
	if !hasButtons(request) {
		t.Fatalf("the request in the approvals channel has no buttons:\n%s", text(request))
	}
	w.expectMessage(dm, "request 1 awaits approval by operator, admin in #default")
	notice := w.expectMessage(dm, "request 1: bob wants `teardown staging`")
	if hasButtons(notice) {
		t.Errorf("bob's own copy has buttons he cannot use:\n%s", text(notice))
	}

	w.slack.Click(t, alice, request, "Approve")
	w.fake.WaitFor(t, "both copies show who decided", func() bool {
		return strings.Contains(text(w.latest(request.TS)), "Approved by alice") && !hasButtons(w.latest(request.TS)) &&
			strings.Contains(text(w.latest(notice.TS)), "Approved by alice")
	})
	progress := w.expectMessage(dm, "run 1: teardown staging")
	w.fake.WaitFor(t, "the run's final state in bob's DM", func() bool {
		return bottest.ContainsAll(text(w.latest(progress.TS)), []string{"succeeded", "delete staging-db-1"})
	})
	w.settle()
	if n := w.teardowns.Load(); n != 1 {
		t.Fatalf("teardown ran %d times, want 1", n)
	}
	for _, m := range w.fake.Messages(dm) {
		if hasButtons(m) {
			t.Errorf("a message with buttons went to bob's DM:\n%s", text(m))
		}
	}
}

// A module registered only here speaks first on a schedule: it tells the
// default channel, mentioning bob, and sends alice a direct message.
func TestAModuleSpeaksFirstOnASchedule(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	h, err := w.engine.Module("pager-test")
	if err != nil {
		t.Fatal(err)
	}
	err = h.Schedule("page", "@every 10s", "", func(ctx context.Context) error {
		_, err := h.Notify(ctx, []actions.Target{{Kind: actions.ToChannel, Name: "default"}, {Kind: actions.ToPerson, Name: "alice"}}, actions.Message{
			Summary:  "logserver-http is down",
			Text:     "logserver-http has failed 3 checks",
			Mentions: actions.MentionAll("bob"),
			Links:    []actions.Link{{Label: "health", URL: "https://logs.example.org/health"}},
			Tone:     actions.ToneDanger,
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.sched.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(10 * time.Second)
	if n := w.sched.RunDue(context.Background()); n != 1 {
		t.Fatalf("%d jobs ran, want 1", n)
	}
	w.sched.Wait()

	m := w.expectMessage(infra, "logserver-http has failed 3 checks")
	if got := text(m); !strings.Contains(got, "<@U02BOB> logserver-http") || !strings.Contains(got, "<https://logs.example.org/health|health>") {
		t.Errorf("the channel message does not mention bob or link:\n%s", got)
	}
	w.expectMessage("D01ALICE", "logserver-http has failed 3 checks")
	opened := false
	for _, c := range w.fake.Calls() {
		if c.Method == "conversations.open" && c.Args.Get("users") == alice {
			opened = true
		}
	}
	if !opened {
		t.Error("no DM was opened to alice")
	}
	if sent, failed := w.engine.DeliveryStats(); sent != 2 || failed != 0 {
		t.Errorf("delivery stats: %d sent, %d failed; want 2, 0", sent, failed)
	}
}

// A channel Slack refuses is logged, counted and returned, never lost
// silently.
func TestAFailedNotificationIsCountedAndReported(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.fake.MissingChannel(infra)
	_, err := w.engine.Notify(context.Background(), []actions.Target{{Kind: actions.ToChannel, Name: "default"}}, actions.Message{Summary: "hello"})
	if err == nil || !strings.Contains(err.Error(), "channel:default on slack") {
		t.Fatalf("Notify to a missing channel: %v", err)
	}
	if _, failed := w.engine.DeliveryStats(); failed != 1 {
		t.Errorf("failed deliveries counted: %d, want 1", failed)
	}
}
