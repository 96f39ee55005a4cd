package slack_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

func TestTeardownNeedsASecondPersonsClick(t *testing.T) {
	t.Parallel()
	w := newWorld(t)

	if r := w.slack.Command(t, bob, infra, "teardown staging"); r.Status != http.StatusOK {
		t.Fatalf("slash command answered %d %q", r.Status, r.Body)
	}
	request := w.expectMessage(infra, "request 1: teardown staging", "Awaiting approval", "staging-web-1")
	if !hasButtons(request) {
		t.Fatalf("the approval request has no buttons:\n%s", text(request))
	}
	w.expectMessage(infra, "request 1 awaits approval")

	// bob may not approve his own request: only he hears about it.
	w.slack.Click(t, bob, request, "Approve")
	w.expectEphemeral(bob, "cannot approve your own request")
	if n := w.teardowns.Load(); n != 0 {
		t.Fatalf("teardown ran %d times before anyone else approved", n)
	}

	// alice's click approves it: the request shows who decided, without
	// buttons, and the run reports its progress in one message.
	w.slack.Click(t, alice, request, "Approve")
	progress := w.expectApprovedRun(request)
	w.settle()
	if n := w.teardowns.Load(); n != 1 {
		t.Fatalf("teardown ran %d times, want 1", n)
	}
	if m := w.latest(progress.TS); m.Updates == 0 {
		t.Errorf("the progress message was never updated in place")
	}
	for _, m := range w.fake.Messages(infra) {
		if m.TS != progress.TS && strings.Contains(text(m), "run 1: teardown staging") && !m.Ephemeral {
			t.Errorf("a second progress message was posted:\n%s", text(m))
		}
	}
	// A late click on the old message changes nothing.
	w.slack.Click(t, carol, request, "Deny")
	w.expectEphemeral(carol, "carol may not deny")
}

func TestUnknownSlackUserIsRefusedPolitely(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.slack.Command(t, "U09STRANGER", infra, "runs")
	m := w.expectEphemeral("U09STRANGER", "does not know you")
	if m.Channel != infra {
		t.Errorf("refusal went to %s, want an ephemeral in %s", m.Channel, infra)
	}
	w.settle()
	for _, m := range w.fake.Messages(infra) {
		if !m.Ephemeral {
			t.Errorf("the refusal was shown to the whole channel:\n%s", text(m))
		}
	}
}

func TestMentionsAndDirectMessages(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.slack.Send(t, w.slack.EventRequest("Ev01", slacktest.Mention(alice, infra, "whoami"), 0))
	w.expectMessage(infra, "alice")
	w.slack.Send(t, w.slack.EventRequest("Ev02", slacktest.DirectMessage(carol, "D03CAROL", "help"), 0))
	w.expectMessage("D03CAROL", "runs")

	// Ordinary channel chatter and infrabot's own messages are ignored.
	chatter := slacktest.DirectMessage(carol, "D03CAROL", "thanks!")
	chatter["bot_id"] = "B0INFRABOT"
	w.slack.Send(t, w.slack.EventRequest("Ev03", chatter, 0))
	w.settle()
	if n := w.router.n.Load(); n != 2 {
		t.Errorf("%d lines reached the engine, want 2", n)
	}
}

func TestURLVerification(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.slack.Send(t, w.slack.URLVerificationRequest("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"))
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"`) {
		t.Fatalf("url_verification answered %d %q", r.Status, r.Body)
	}
}

func TestForgedStaleAndReplayedRequestsRunNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	forger := &slacktest.App{URL: w.slack.URL, Secret: "not-the-secret"}
	late := &slacktest.App{URL: w.slack.URL, Secret: secret, Now: func() time.Time { return w.sleeps.Now().Add(-6 * time.Minute) }}
	early := &slacktest.App{URL: w.slack.URL, Secret: secret, Now: func() time.Time { return w.sleeps.Now().Add(6 * time.Minute) }}

	unsigned := w.slack.CommandRequest(bob, infra, "lock staging")
	unsigned.Header.Del("X-Slack-Signature")
	tampered := w.slack.CommandRequest(bob, infra, "lock staging")
	tampered.Body = []byte(strings.Replace(string(tampered.Body), "lock", "unlock", 1))

	for name, req := range map[string]*slacktest.Request{
		"wrong secret":            forger.CommandRequest(bob, infra, "lock staging"),
		"stale timestamp":         late.CommandRequest(bob, infra, "lock staging"),
		"timestamp in the future": early.CommandRequest(bob, infra, "lock staging"),
		"unsigned":                unsigned,
		"body changed":            tampered,
		"forged click":            forger.ClickRequest(t, alice, slacktest.Message{Channel: infra, TS: "1.2", Blocks: approveBlocks}, "Approve"),
		"forged event":            forger.EventRequest("Ev9", slacktest.Mention(alice, infra, "lock staging"), 0),
	} {
		if r := w.slack.Send(t, req); r.Status != http.StatusUnauthorized {
			t.Errorf("%s: answered %d, want 401", name, r.Status)
		}
	}

	// The same signed command twice (a replay), and an event with Slack's
	// retries: each runs once.
	cmd := w.slack.CommandRequest(bob, infra, "lock staging")
	for range 3 {
		if r := w.slack.Send(t, cmd); r.Status != http.StatusOK {
			t.Errorf("replay answered %d", r.Status)
		}
	}
	for retry := range 3 {
		if r := w.slack.Send(t, w.slack.EventRequest("Ev42", slacktest.Mention(alice, infra, "runs"), retry)); r.Status != http.StatusOK {
			t.Errorf("event retry %d answered %d", retry, r.Status)
		}
	}
	click := w.slack.ClickRequest(t, carol, slacktest.Message{Channel: infra, TS: "1.2", Blocks: approveBlocks}, "Approve")
	w.slack.Send(t, click)
	w.slack.Send(t, click)
	w.settle()
	if n := w.router.n.Load(); n != 3 {
		t.Errorf("%d lines reached the engine, want 3 (one command, one event, one click)", n)
	}
	w.expectMessage(infra, "staging is locked by bob")
	for _, m := range w.fake.Messages("") {
		if strings.Contains(text(m), "already locked") {
			t.Errorf("the replayed lock ran again:\n%s", text(m))
		}
	}
}

var approveBlocks = []map[string]any{{
	"type": "actions", "block_id": "infrabot-actions",
	"elements": []any{map[string]any{"type": "button", "action_id": "infrabot-0", "value": "approve 1",
		"text": map[string]any{"type": "plain_text", "text": "Approve"}}},
}}

func TestBadInputIs400(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for name, req := range map[string]*slacktest.Request{
		"malformed form":       w.slack.Sign("/slack/commands", "application/x-www-form-urlencoded", []byte("text=%zz&user_id=U1")),
		"command without user": w.slack.Sign("/slack/commands", "application/x-www-form-urlencoded", []byte("text=runs&channel_id=C1")),
		"no payload":           w.slack.Sign("/slack/interactions", "application/x-www-form-urlencoded", []byte("foo=bar")),
		"payload not JSON":     w.slack.Sign("/slack/interactions", "application/x-www-form-urlencoded", []byte("payload=%7Bnope")),
		"event not JSON":       w.slack.Sign("/slack/events", "application/json", []byte(`{"type":`)),
	} {
		if r := w.slack.Send(t, req); r.Status != http.StatusBadRequest {
			t.Errorf("%s: answered %d %q, want 400", name, r.Status, r.Body)
		}
	}
	big := w.slack.Sign("/slack/commands", "application/x-www-form-urlencoded", []byte("text="+strings.Repeat("a", 2<<20)))
	if r := w.slack.Send(t, big); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MiB body answered %d, want 413", r.Status)
	}
	w.settle()
	if n := w.router.n.Load(); n != 0 {
		t.Errorf("%d lines reached the engine, want none", n)
	}
}

// TestMentionsTypedIntoALockReasonPingNoOne: bob locks staging with
// <!channel> and <@U03CAROL> in his reason. The in-channel answer echoes
// his command; neither their blocks nor
// their top-level text (Slack's notification text) carries a mention, nor
// does the refusal that shows the reason to alice.
func TestMentionsTypedIntoALockReasonPingNoOne(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	resp := w.slack.Command(t, bob, infra, "lock staging <!channel> <@U03CAROL> db upgrade")
	var r commandResponse
	if err := json.Unmarshal([]byte(resp.Body), &r); err != nil || r.ResponseType != "in_channel" {
		t.Fatalf("the lock was answered %q (%v), want an answer in the channel", resp.Body, err)
	}
	answer := slacktest.Message{Text: r.Text, Blocks: r.Blocks}
	w.slack.Send(t, w.slack.EventRequest("Ev01", slacktest.DirectMessage(alice, "D01ALICE", "lock staging"), 0))
	refusal := w.expectMessage("D01ALICE", "locked by bob")
	for name, m := range map[string]slacktest.Message{"the answer": answer, "the refusal": refusal} {
		if s := text(m); strings.Contains(s, "<!channel>") || strings.Contains(s, "<@U03CAROL>") {
			t.Errorf("%s carries a Slack mention:\n%s", name, s)
		}
		if !strings.Contains(m.Text, "&lt;!channel&gt; &lt;@U03CAROL&gt; db upgrade") {
			t.Errorf("%s's text does not show the reason, escaped: %q", name, m.Text)
		}
	}
}

// TestWhatPeopleTypeIsShownAsTheyTypedIt: Slack sends "db & cache <!here>",
// typed by bob in a DM, as "db &amp; cache &lt;!here&gt;". infrabot keeps
// the reason bob typed and shows it escaped once: neither "&amp;amp;" on
// screen nor a <!here> that pings, in the answer to bob or in the
// refusal that alice's slash command gets later.
func TestWhatPeopleTypeIsShownAsTheyTypedIt(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.slack.Send(t, w.slack.EventRequest("Ev01", slacktest.DirectMessage(bob, "D02BOB", "lock staging db &amp; cache &lt;!here&gt;"), 0))
	answer := w.expectMessage("D02BOB", "locked by bob")
	resp := w.slack.Command(t, alice, infra, "lock staging")
	var r commandResponse
	if err := json.Unmarshal([]byte(resp.Body), &r); err != nil || r.ResponseType != "ephemeral" {
		t.Fatalf("alice's lock was answered %q (%v), want a refusal only she sees", resp.Body, err)
	}
	refusal := slacktest.Message{Text: r.Text, Blocks: r.Blocks}
	for name, m := range map[string]slacktest.Message{"the answer": answer, "the refusal": refusal} {
		s := text(m)
		if strings.Contains(s, "&amp;amp;") || strings.Contains(s, "&amp;lt;") || strings.Contains(s, "<!here>") {
			t.Errorf("%s shows the reason escaped twice, or pings:\n%s", name, s)
		}
		if !strings.Contains(m.Text, "db &amp; cache &lt;!here&gt;") {
			t.Errorf("%s's text does not show the reason, escaped once: %q", name, m.Text)
		}
	}
}
