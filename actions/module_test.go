package actions_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
)

// pager is a module that exists only in these tests: every 10 seconds it
// tells the default channel, mentioning bob, and sends alice a direct
// message; it counts its runs in its own bucket.
type pager struct {
	h     *actions.Handle
	fired atomic.Int32
}

func newPager(w *actionstest.World) *pager {
	h, err := w.Engine.Module("pager", "pages")
	if err != nil {
		w.T.Fatal(err)
	}
	p := &pager{h: h}
	if err := h.Schedule("page", "@every 10s", "", p.page); err != nil {
		w.T.Fatal(err)
	}
	return p
}

func (p *pager) page(ctx context.Context) error {
	p.fired.Add(1)
	err := p.h.Store().Update(ctx, func(tx actions.Tx) error {
		b := tx.Bucket("pages")
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put([]byte{byte(n)}, []byte(p.h.Now().Format(time.RFC3339)))
	})
	if err != nil {
		return err
	}
	_, err = p.h.Notify(ctx, []actions.Target{{Kind: actions.ToChannel, Name: "default"}, {Kind: actions.ToPerson, Name: "alice"}},
		actions.Message{Summary: "logserver is down", Mentions: actions.MentionAll("bob", "carol")})
	return err
}

func (p *pager) pages(t *testing.T) int {
	n := 0
	p.h.Store().View(context.Background(), func(tx actions.Tx) error {
		return tx.Bucket("pages").ForEach(func(k, v []byte) error { n++; return nil })
	})
	return n
}

func TestAModuleOnAScheduleNotifiesAndSurvivesRestarts(t *testing.T) {
	var p *pager
	w := actionstest.New(t, actionstest.Options{Setup: func(w *actionstest.World) { p = newPager(w) }})
	w.Clock.Advance(10 * time.Second)
	if n := w.Tick(); n != 1 {
		t.Fatalf("%d jobs ran at the first slot, want 1", n)
	}
	posts := w.Chat.Posts()
	if len(posts) != 2 {
		t.Fatalf("posts: %+v, want one to the channel and one DM", posts)
	}
	if posts[0].To != "C0DEFAULT" || posts[1].To != "dm:UALICE" {
		t.Errorf("sent to %s and %s, want C0DEFAULT and dm:UALICE", posts[0].To, posts[1].To)
	}
	want := []actions.Mention{{Person: "bob", ID: "UBOB"}, {Person: "carol"}}
	if got := posts[0].Message.Mentions; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("mentions as delivered: %+v, want %+v (carol has no id on this platform)", got, want)
	}

	// Down for a minute and a half: nine slots missed, one catch-up.
	w.Close()
	w.Clock.Advance(90 * time.Second)
	w.Open()
	w.Tick()
	w.Tick()
	if got := p.pages(t); got != 2 {
		t.Fatalf("pages recorded after the restart: %d, want 2", got)
	}
	w.Clock.Advance(10 * time.Second)
	w.Tick()
	if got := p.pages(t); got != 3 {
		t.Fatalf("pages after the next slot: %d, want 3", got)
	}
}

func TestModuleNamesAndTargets(t *testing.T) {
	w := actionstest.New(t, actionstest.Options{})
	if _, err := w.Engine.Module("pager"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pager", "Pager", "", "has space"} {
		if _, err := w.Engine.Module(name); err == nil {
			t.Errorf("Module(%q) was accepted", name)
		}
	}
	ctx := context.Background()
	_, err := w.Engine.Notify(ctx, []actions.Target{{Kind: actions.ToChannel, Name: "nowhere"}}, actions.Message{Summary: "x"})
	if actions.ErrorKind(err) != actions.Invalid || !strings.Contains(err.Error(), `no channel "nowhere"`) {
		t.Errorf("notify an undeclared channel: %v", err)
	}
	_, err = w.Engine.Notify(ctx, []actions.Target{{Kind: actions.ToPerson, Name: "mallory"}}, actions.Message{Summary: "x"})
	if actions.ErrorKind(err) != actions.Invalid {
		t.Errorf("notify an unknown person: %v", err)
	}
	// carol is mapped on no platform: nothing to deliver, nothing failed.
	refs, err := w.Engine.Notify(ctx, []actions.Target{{Kind: actions.ToPerson, Name: "carol"}}, actions.Message{Summary: "x"})
	if err != nil || len(refs) != 0 {
		t.Errorf("notify carol: %v, %v", refs, err)
	}
	for in, want := range map[string]actions.Target{
		"channel:ci": {Kind: actions.ToChannel, Name: "ci"}, "person:bob": {Kind: actions.ToPerson, Name: "bob"},
	} {
		if got, err := actions.ParseTarget(in); err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"bob", "channel:", "pager:duty", ""} {
		if _, err := actions.ParseTarget(in); !errors.As(err, new(*actions.Error)) {
			t.Errorf("ParseTarget(%q) = %v, want an Invalid error", in, err)
		}
	}
}

// A request typed where only its author reads goes to the approvals
// channel; the author gets a one-line copy; deciding updates both.
func TestApprovalRequestsTypedInPrivateGoToTheApprovalsChannel(t *testing.T) {
	w := actionstest.New(t, actionstest.Options{Setup: func(w *actionstest.World) {
		h, _ := w.Engine.Module("wipe")
		h.Register(&actions.Action{
			Name: "teardown", Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true, Destructive: true,
			Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
				return actions.Plan{Summary: "delete 1", Lines: []string{"- delete staging-web-1"}, Deletes: true}, nil
			},
			Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
				return nil
			},
		})
	}})
	dm := actions.Origin{Platform: actionstest.Platform, Channel: "DBOB", UserID: "UBOB", Private: true}
	w.Expect(w.In(dm, "bob", "teardown staging"), false, "request 1 awaits approval by operator, admin in #default")
	posts := w.Chat.Posts()
	if len(posts) != 2 || posts[0].To != "C0DEFAULT" || len(posts[0].Message.Buttons) != 2 || posts[1].To != "DBOB" || len(posts[1].Message.Buttons) != 0 {
		t.Fatalf("posts: %+v\nwant the request with buttons in C0DEFAULT and a copy without in DBOB", posts)
	}
	w.Expect(w.As("alice", "approve 1"), false, "approved request 1")
	w.Engine.Wait()
	for _, p := range w.Chat.Posts()[:2] {
		if !strings.Contains(p.Message.Summary, "Approved by alice") {
			t.Errorf("the copy in %s was not updated: %s", p.To, p.Message.Summary)
		}
	}
	// Typed in a shared channel, the request stays there.
	w.Expect(w.As("bob", "teardown production"), true, "bob may teardown only on staging")
	w.Expect(w.As("alice", "teardown production"), false, "request 2 awaits approval")
	last := w.Chat.Posts()
	if p := last[len(last)-1]; p.To != "C1" || len(p.Message.Buttons) != 2 {
		t.Errorf("a request typed in C1 went to %s", p.To)
	}
}

func TestSpan(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 0: "0s", 45 * time.Second: "45s", 12 * time.Minute: "12m",
		5*time.Hour + 12*time.Minute + 30*time.Second: "5h12m", 2 * time.Hour: "2h",
		3*24*time.Hour + 4*time.Hour + 59*time.Minute: "3d4h", 48 * time.Hour: "2d",
	} {
		if got := actions.Span(d); got != want {
			t.Errorf("Span(%v) = %q, want %q", d, got, want)
		}
	}
}
