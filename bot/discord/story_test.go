package discord_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

// The teardown story, over HTTP interactions: bob asks, his own click is
// refused ephemerally, alice's click approves, and the run reports in one
// message edited in place.
func TestTeardownNeedsASecondPersonsClick(t *testing.T) {
	t.Parallel()
	w := newWorld(t)

	r := w.discord.Deliver(t, w.fake.Command(bob, guild, infra, "teardown", map[string]any{"env": "staging"}))
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `"type":5`) {
		t.Fatalf("the command was answered %d %s, want a deferred response (type 5)", r.Status, r.Body)
	}
	request := w.expectMessage(infra, "request 1: teardown staging", "Awaiting approval", "staging-web-1", "[Approve]", "[Deny]")
	original := w.expectMessage(infra, "request 1 awaits approval")
	if !original.Original || original.Thinking {
		t.Errorf("the reply did not edit the deferred response (@original): %+v", original)
	}

	// bob may not approve his own request: only he hears about it.
	if r := w.discord.Deliver(t, w.fake.Click(t, bob, guild, request, "Approve")); !strings.Contains(r.Body, `"type":6`) {
		t.Fatalf("a click was answered %s, want a deferred update (type 6)", r.Body)
	}
	w.expectEphemeral("cannot approve your own request")
	if n := w.teardowns.Load(); n != 0 {
		t.Fatalf("teardown ran %d times before anyone else approved", n)
	}

	w.discord.Deliver(t, w.fake.Click(t, alice, guild, request, "Approve"))
	w.fake.WaitFor(t, "the request updated to approved, without buttons", func() bool {
		m, _ := w.fake.Message(request.ID)
		return strings.Contains(discordtest.Text(m), "Approved by alice") && len(discordtest.Buttons(m)) == 0
	})
	progress := w.expectMessage(infra, "run 1: teardown staging")
	w.waitFor(progress.ID, "succeeded", "delete staging-db-1", "deleted")
	w.settle()
	if n := w.teardowns.Load(); n != 1 {
		t.Fatalf("teardown ran %d times, want 1", n)
	}
	if m, _ := w.fake.Message(progress.ID); m.Edits == 0 {
		t.Errorf("the progress message was never edited in place")
	}
	for _, m := range w.fake.Messages(infra) {
		if m.ID != progress.ID && strings.Contains(discordtest.Text(m), "run 1: teardown staging") {
			t.Errorf("a second progress message was posted:\n%s", discordtest.Text(m))
		}
	}
	if len(w.fake.CallsTo("PATCH /webhooks/{app}/{token}/messages/")) == 0 {
		t.Errorf("no follow-up was edited through the interaction's webhook")
	}
	// A late click on the old message changes nothing.
	w.discord.Deliver(t, w.fake.Click(t, carol, guild, request, "Deny"))
	w.expectEphemeral("carol may not deny")
}

// A run longer than an interaction token's 15 minutes goes on in a bot
// message in the channel; no call is made with a dead token.
func TestLongRunOutlivesTheToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.discord.Deliver(t, w.fake.Command(alice, guild, infra, "deploy", map[string]any{"env": "staging", "force": true}))
	progress := w.expectMessage(infra, "run 1: deploy staging --force")
	if progress.Interaction == "" {
		t.Fatalf("the progress message is not a follow-up of the interaction")
	}
	w.release <- struct{}{}
	w.waitFor(progress.ID, "step 1", "ok")
	// What the adapter had to say so far is out before 16 minutes pass
	// at once: a call under way as the clock jumps would carry a token
	// that died in flight, which no real call can (a minute is kept in
	// hand, and a call times out long before).
	w.expect(infra, "the command's reply in @original", func(m discordtest.Message) bool { return m.Original && !m.Thinking })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.adapter.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	w.clock.advance(16 * time.Minute)
	w.release <- struct{}{}
	moved := w.expect(infra, "the run continued in a bot message", func(m discordtest.Message) bool {
		return m.Interaction == "" && strings.Contains(discordtest.Text(m), "step 2")
	})
	w.release <- struct{}{}
	w.waitFor(moved.ID, "succeeded", "step 3")
	w.settle()
	if len(w.fake.CallsTo("PATCH /channels/{id}/messages/{id}")) == 0 {
		t.Errorf("the bot message was never edited in place")
	}
	for _, c := range w.fake.Calls() {
		if c.Status == http.StatusUnauthorized {
			t.Errorf("a call was made with a dead token: %s %s", c.Method, c.Route)
		}
	}
}

func TestUnknownDiscordUserIsRefusedPolitely(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	stranger := discordtest.User{ID: "409999999999999999", Name: "stranger"}
	w.discord.Deliver(t, w.fake.Command(stranger, guild, infra, "runs", nil))
	w.expectEphemeral("does not know you")
	w.settle()
	for _, m := range w.fake.Messages(infra) {
		if !m.Ephemeral {
			t.Errorf("the refusal was shown to the whole channel:\n%s", discordtest.Text(m))
		}
	}
}

func TestForgedStaleAndReplayedInteractionsRunNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if r := w.discord.Deliver(t, w.fake.Ping()); r.Status != http.StatusOK || strings.TrimSpace(r.Body) != `{"type":1}` {
		t.Fatalf("PING answered %d %q, want {\"type\":1}", r.Status, r.Body)
	}
	_, otherKey, _ := ed25519GenerateKey()
	forger := &discordtest.App{URL: w.discord.URL, Key: otherKey, Now: w.clock.Now}
	late := &discordtest.App{URL: w.discord.URL, Key: w.discord.Key, Now: func() time.Time { return w.clock.Now().Add(-6 * time.Minute) }}
	early := &discordtest.App{URL: w.discord.URL, Key: w.discord.Key, Now: func() time.Time { return w.clock.Now().Add(6 * time.Minute) }}

	lock := func() discordtest.Interaction {
		return w.fake.Command(bob, guild, infra, "lock", map[string]any{"env": "staging"})
	}
	unsigned := w.discord.Sign(lock())
	unsigned.Header.Del("X-Signature-Ed25519")
	tampered := w.discord.Sign(lock())
	tampered.Body = []byte(strings.Replace(string(tampered.Body), `"lock"`, `"unlock"`, 1))
	for name, req := range map[string]*discordtest.Request{
		"wrong key":               forger.Sign(lock()),
		"6-minute-old timestamp":  late.Sign(lock()),
		"timestamp in the future": early.Sign(lock()),
		"unsigned":                unsigned,
		"body changed":            tampered,
		"forged ping":             forger.Sign(w.fake.Ping()),
	} {
		if r := w.discord.Send(t, req); r.Status != http.StatusUnauthorized {
			t.Errorf("%s: answered %d, want 401", name, r.Status)
		}
	}

	// The same interaction delivered three times runs once.
	again := w.discord.Sign(lock())
	for range 3 {
		if r := w.discord.Send(t, again); r.Status != http.StatusOK {
			t.Errorf("a repeated interaction answered %d", r.Status)
		}
	}
	w.settle()
	if n := w.router.n.Load(); n != 1 {
		t.Errorf("%d lines reached the engine, want 1", n)
	}
	w.expectMessage(infra, "staging is locked by bob")
}

// A command's reply is often ready before the answer to Discord's POST
// has gone out (a refusal is): it waits for it, since until Discord has
// the response the interaction's webhook does not exist, and a follow-up
// sent then is refused (10015 Unknown Webhook) and lost. Discord's answer
// is held back here, as a slow network would.
func TestRepliesWaitForTheResponse(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	req := w.discord.Sign(w.fake.Command(carol, guild, infra, "teardown", map[string]any{"env": "staging"}))
	release := w.discord.Hold(t, w.adapter.Handler(), req)
	w.fake.WaitFor(t, "carol's line handled", func() bool { return w.router.n.Load() == 1 })
	// Give a reply sent too early time to reach Discord: it would, in
	// well under this, and a correct adapter sends nothing meanwhile.
	select {
	case <-w.fake.Changed():
	case <-time.After(300 * time.Millisecond):
	}
	var early []discordtest.Call
	for _, c := range w.fake.Calls() {
		if strings.Contains(c.Route, " /webhooks/") {
			early = append(early, c)
		}
	}
	if len(early) != 0 {
		t.Errorf("a reply was sent before Discord had the response: %v", early)
	}
	if r := release(); r.Status != http.StatusOK || !strings.Contains(r.Body, `"type":5`) {
		t.Fatalf("the command was answered %d %s, want a deferred response (type 5)", r.Status, r.Body)
	}
	w.expectEphemeral("carol may not teardown")
	w.settle()
	for _, c := range w.fake.Calls() {
		if c.Status >= 400 {
			t.Errorf("Discord refused %s %s: %d", c.Method, c.Route, c.Status)
		}
	}
}
