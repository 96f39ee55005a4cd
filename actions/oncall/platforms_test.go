package oncall_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/oncall"
)

// otherPlatform is a second chat platform's name, beside actionstest's.
const otherPlatform = "other"

// otherChat is a second platform's chat that remembers every message
// and its latest state, with references of its own platform, so that the
// engine routes updates of its messages to it.
type otherChat struct {
	mu    sync.Mutex
	posts []actionstest.Posted
}

func (c *otherChat) Post(ctx context.Context, channel string, m actions.Message) (actions.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref := actions.MessageRef{Platform: otherPlatform, Channel: channel, ID: fmt.Sprint(len(c.posts) + 1)}
	c.posts = append(c.posts, actionstest.Posted{Ref: ref, To: channel, Message: m, Versions: []actions.Message{m}})
	return ref, nil
}

func (c *otherChat) Direct(ctx context.Context, userID string, m actions.Message) (actions.MessageRef, error) {
	return c.Post(ctx, "dm:"+userID, m)
}

func (c *otherChat) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.posts {
		if c.posts[i].Ref == ref {
			c.posts[i].Message = m
			c.posts[i].Versions = append(c.posts[i].Versions, m)
			return nil
		}
	}
	return fmt.Errorf("no message %v", ref)
}

// sent returns the messages sent to to whose summary holds s, in their
// latest state.
func (c *otherChat) sent(to, s string) []actions.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []actions.Message
	for _, p := range c.posts {
		if p.To == to && strings.Contains(p.Message.Summary, s) {
			out = append(out, p.Message)
		}
	}
	return out
}

// peopleOnTwoPlatforms is people() with bob also mapped on the other
// platform, as U2BOB.
func peopleOnTwoPlatforms() *actions.Policy {
	return peopleMapped(map[string]map[string]string{"bob": {otherPlatform: "U2BOB"}})
}

// bob is mapped on two platforms: his page is a direct message on both,
// and his ack from either one's direct message stops the escalation
// (alice is never paged) and turns both pages into "acknowledged by bob",
// without buttons.
func TestPageReachesEveryPlatformAndAckFromEitherStopsIt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		platform, dm, userID string
	}{
		{actionstest.Platform, "dm:UBOB", "UBOB"},
		{otherPlatform, "dm:U2BOB", "U2BOB"},
	} {
		t.Run("ack on "+tc.platform, func(t *testing.T) {
			t.Parallel()
			other := &otherChat{}
			w := newWorldTB(t, []oncall.Escalation{issueEscalation()}, oncall.Options{}, func(w *world) {
				w.policy = peopleOnTwoPlatforms
				w.chats = map[string]actions.Chat{otherPlatform: other}
			})
			w.step(time.Minute)
			w.step(time.Minute) // the incident opens: bob is paged
			pages := map[string]actions.Message{
				actionstest.Platform: w.One("dm:UBOB", "page for you: incident 1"),
			}
			if ms := other.sent("dm:U2BOB", "incident 1"); len(ms) != 1 || !strings.Contains(ms[0].Summary, "page for you: incident 1") {
				t.Fatalf("bob got %d messages on %s, want his page:\n%v", len(ms), otherPlatform, ms)
			} else {
				pages[otherPlatform] = ms[0]
			}
			for p, m := range pages {
				if want := []string{"Acknowledge=ack 1", "Resolve=resolve 1"}; !slices.Equal(buttons(m), want) {
					t.Errorf("bob's page on %s has buttons %v, want %v", p, buttons(m), want)
				}
			}
			if tl := w.timeline("1"); !strings.Contains(tl, "paged level 1 of ci-oncall: bob (schedule:ci-oncall: direct message on 2 platforms)") {
				t.Errorf("the timeline does not say bob was paged on 2 platforms:\n%s", tl)
			}

			// bob clicks Acknowledge in the direct message on tc.platform.
			origin := actions.Origin{Platform: tc.platform, Channel: tc.dm, UserID: tc.userID, Private: true}
			w.Expect(w.In(origin, "bob", pages[tc.platform].Buttons[0].Command), false, "incident 1 (logserver-http) acknowledged by bob")
			w.settle()

			w.step(15 * time.Minute) // alice's level would be due
			w.step(time.Hour)
			w.None("dm:UALICE", "incident 1")
			w.None("C0DEFAULT", "page for")
			if n := len(w.Chat.Sent("dm:UBOB", "incident 1")) + len(other.sent("dm:U2BOB", "incident 1")); n != 2 {
				t.Errorf("bob got %d pages in all, want 2 (one on each platform)", n)
			}
			latest := map[string]actions.Message{
				actionstest.Platform: w.One("dm:UBOB", "incident 1"),
				otherPlatform:        other.sent("dm:U2BOB", "incident 1")[0],
			}
			for p, m := range latest {
				if !strings.Contains(m.Summary, "page: incident 1: logserver-http — acknowledged by bob") || len(m.Buttons) != 0 {
					t.Errorf("bob's page on %s was not updated to acknowledged, without buttons: %s %v", p, m.Summary, buttons(m))
				}
			}
		})
	}
}
