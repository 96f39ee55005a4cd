package discord_test

import (
	"context"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

// The teardown story through the gateway: IDENTIFY, heartbeats, the
// interactions as INTERACTION_CREATE acknowledged through the callback
// endpoint; then a dropped connection, a click sent while it is down,
// and a RESUME that delivers it, once.
func TestTeardownThroughTheGateway(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.fake.HeartbeatInterval(200)
	w.runGateway()
	w.fake.WaitFor(t, "IDENTIFY and a heartbeat", func() bool {
		return w.fake.CountOps(2) == 1 && w.fake.CountOps(1) >= 1 && w.fake.Connected()
	})
	if n := len(w.fake.CallsTo("GET /gateway")); n != 1 {
		t.Errorf("GET /gateway was called %d times, want 1", n)
	}

	w.fake.Dispatch("INTERACTION_CREATE", w.fake.Command(bob, guild, infra, "teardown", map[string]any{"env": "staging"}))
	request := w.expectMessage(infra, "request 1: teardown staging", "[Approve]")
	w.expectMessage(infra, "request 1 awaits approval")
	if calls := w.fake.CallsTo("POST /interactions/{id}/{token}/callback"); len(calls) != 1 || calls[0].Body["type"] != float64(5) {
		t.Fatalf("callbacks %v, want one deferred response (type 5)", calls)
	}
	w.fake.Dispatch("INTERACTION_CREATE", w.fake.Click(t, bob, guild, request, "Approve"))
	w.expectEphemeral("cannot approve your own request")

	// The connection drops; alice clicks meanwhile; discordgo resumes
	// and the click arrives.
	w.fake.Drop()
	click := w.fake.Click(t, alice, guild, request, "Approve")
	w.fake.Dispatch("INTERACTION_CREATE", click)
	w.fake.WaitFor(t, "a RESUME", func() bool { return w.fake.CountOps(6) == 1 && w.fake.Connected() })
	progress := w.expectMessage(infra, "run 1: teardown staging")
	w.waitFor(progress.ID, "succeeded", "delete staging-db-1")

	// The same event again (a replay) runs nothing more; carol's whoami
	// behind it shows it was read.
	w.fake.Dispatch("INTERACTION_CREATE", click)
	w.fake.Dispatch("INTERACTION_CREATE", w.fake.Command(carol, guild, infra, "whoami", nil))
	w.expectMessage(infra, "you are carol")
	w.settle()
	if n := w.teardowns.Load(); n != 1 {
		t.Errorf("teardown ran %d times, want 1", n)
	}
	if n := w.router.n.Load(); n != 4 {
		t.Errorf("%d lines reached the engine, want 4 (request, bob's click, alice's click, carol's whoami)", n)
	}
	if n := w.fake.CountOps(2); n != 1 {
		t.Errorf("IDENTIFY sent %d times, want 1 (a drop resumes)", n)
	}
	for _, m := range w.fake.Messages(infra) {
		if strings.Contains(discordtest.Text(m), "already") {
			t.Errorf("the replayed click ran again:\n%s", discordtest.Text(m))
		}
	}
}

// Status follows the gateway session, for /readyz: up once READY, down
// while dropped, up again once resumed, down once RunGateway returns.
func TestGatewayStatusFollowsTheSession(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.fake.HeartbeatInterval(200)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.adapter.RunGateway(ctx) }()
	up := func() bool { ok, state := w.adapter.Status(); return ok && state == "connected" }
	w.fake.WaitFor(t, "the adapter to say it is connected", up)
	w.fake.Drop()
	w.fake.WaitFor(t, "a RESUME", func() bool { return w.fake.CountOps(6) == 1 && w.fake.Connected() })
	w.fake.WaitFor(t, "connected again", up)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ok, state := w.adapter.Status(); ok || state != "disconnected" {
		t.Errorf("after RunGateway returned: %v %q", ok, state)
	}
}
