package discord_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

// Notifications from modules reach Discord: a channel post with a mention
// that pings, a person not on Discord named in plain text, and a direct
// message through a DM channel created for it.
func TestNotificationsReachDiscord(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	msg := actions.Message{Summary: "job promote-images broke", Tone: actions.ToneDanger,
		Mentions: actions.MentionAll("bob", "dave"), Links: []actions.Link{{Label: "log", URL: "https://logs.example/42"}}}
	refs, err := w.engine.Notify(ctx, []actions.Target{{Kind: actions.ToChannel, Name: "default"}, {Kind: actions.ToPerson, Name: "alice"}}, msg)
	if err != nil || len(refs) != 2 {
		t.Fatalf("Notify: %v, %d refs", err, len(refs))
	}
	w.settle()
	post := w.expectMessage(infra, "job promote-images broke")
	if !strings.Contains(post.Content, "<@"+bob.ID+">") || !strings.Contains(post.Content, "dave") || strings.Contains(post.Content, "<@dave") {
		t.Errorf("mentions rendered as %q, want <@%s> and dave in plain text", post.Content, bob.ID)
	}
	if !strings.Contains(discordtest.Text(post), "[log](https://logs.example/42)") {
		t.Errorf("the link is missing:\n%s", discordtest.Text(post))
	}
	if len(w.fake.CallsTo("POST /users/@me/channels")) != 1 {
		t.Errorf("the DM channel was not created once: %v", w.fake.CallsTo("POST /users/@me/channels"))
	}
	dm := w.expectMessage("7"+alice.ID[1:], "job promote-images broke")
	// Updating every copy edits both in place.
	w.engine.UpdateAll(ctx, refs, actions.Message{Summary: "job promote-images recovered", Tone: actions.ToneSuccess})
	w.waitFor(post.ID, "recovered")
	w.waitFor(dm.ID, "recovered")
}

// A 429 is waited out as Discord asks (retry_after) and the message is
// sent once; 401 and 403 are never retried.
func TestRateLimitsAndRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.fake.Fail(discordtest.Fault{Route: "POST /channels", Status: http.StatusTooManyRequests, RetryAfter: 300 * time.Millisecond, Bucket: "abcd1234"})
	if _, err := w.adapter.Post(ctx, infra, actions.Message{Summary: "after the limit"}); err != nil {
		t.Fatalf("Post after a 429: %v", err)
	}
	if n := len(w.fake.Messages(infra)); n != 1 {
		t.Errorf("%d messages in the channel, want 1", n)
	}
	if !slices.Contains(w.clock.Sleeps(), 300*time.Millisecond) {
		t.Errorf("the adapter waited %v, want retry_after 0.3s among them", w.clock.Sleeps())
	}
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		before := len(w.fake.CallsTo("POST /channels"))
		w.fake.Fail(discordtest.Fault{Route: "POST /channels", Status: status})
		if _, err := w.adapter.Post(ctx, infra, actions.Message{Summary: "refused"}); err == nil {
			t.Errorf("%d: Post succeeded", status)
		}
		if n := len(w.fake.CallsTo("POST /channels")) - before; n != 1 {
			t.Errorf("%d was tried %d times, want once (never retried)", status, n)
		}
	}
	// A 5xx is retried.
	w.fake.Fail(discordtest.Fault{Route: "POST /channels", Status: http.StatusBadGateway})
	if _, err := w.adapter.Post(ctx, infra, actions.Message{Summary: "after a 502"}); err != nil {
		t.Errorf("Post after a 502: %v", err)
	}
}

// Edits of one message coalesce: many states queued at once reach
// Discord as few edits, the last state last.
func TestEditsCoalesce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	ref, err := w.adapter.Post(ctx, infra, actions.Message{Summary: "state 0"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		w.adapter.Update(ctx, ref, actions.Message{Summary: "state " + itoa(i)})
	}
	w.settle()
	m := w.waitFor(ref.ID, "state 50")
	if m.Edits > 10 {
		t.Errorf("50 states took %d edits", m.Edits)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// A Discord id that is not a number (a user name, as "bob#1234") is
// never put in <@…> or allowed_mentions, which Discord would refuse with
// the whole message: the person is named in plain text, as Slack does.
func TestMentionOfAnIDThatIsNotAnIDIsPlainText(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	msg := actions.Message{Summary: "incident 9: web down", Tone: actions.ToneDanger,
		Mentions: []actions.Mention{{Person: "bob", ID: "bob#1234"}, {Person: "carol", ID: carol.ID}}}
	if _, err := w.adapter.Post(context.Background(), infra, msg); err != nil {
		t.Fatalf("Post: %v", err)
	}
	post := w.expectMessage(infra, "incident 9: web down")
	if want := "bob <@" + carol.ID + ">"; post.Content != want {
		t.Errorf("mentions rendered as %q, want %q", post.Content, want)
	}
}
