package actions_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
)

// wipeAction is a destructive action on an environment whose plan deletes
// one server; plan, when set, runs first each time the plan is computed,
// and executed counts the runs carried out.
type wipeAction struct {
	plan     func(n int32)
	planned  atomic.Int32
	executed atomic.Int32
}

func (a *wipeAction) register(w *actionstest.World) {
	h, err := w.Engine.Module("wipe")
	if err != nil {
		w.T.Fatal(err)
	}
	h.Register(&actions.Action{Name: "teardown", Summary: "deletes everything", Destructive: true,
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}},
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			if n := a.planned.Add(1); a.plan != nil {
				a.plan(n)
			}
			return actions.Plan{Summary: "delete 1", Items: []actions.PlanItem{{Op: actions.OpDelete, Name: "web", ID: "1"}}, Deletes: true}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			a.executed.Add(1)
			return nil
		},
	})
}

// An approval counts only while the request lives: when computing the
// plan again at approval takes past the request's expiry (a slow cloud),
// the request expires instead of running.
func TestApprovalThatOutlivesTheRequestIsRefused(t *testing.T) {
	t.Parallel()
	var clock *actionstest.Clock
	wipe := &wipeAction{plan: func(n int32) {
		if n == 2 { // the plan computed again at approval takes two minutes
			clock.Advance(2 * time.Minute)
		}
	}}
	w := actionstest.New(t, actionstest.Options{Setup: func(w *actionstest.World) {
		clock = w.Clock
		wipe.register(w)
	}})
	w.Expect(w.As("alice", "teardown staging"), false, "request 1 awaits approval")
	w.Clock.Advance(14 * time.Minute) // one minute before the 15-minute expiry
	w.Expect(w.As("bob", "approve 1"), true, "request 1 is not awaiting approval", "expired")
	w.Engine.Wait()
	run := w.Run(1)
	if run.State != actions.Expired || run.Approval.State != actions.ApprovalExpired || run.Approval.DecidedBy != "" {
		t.Errorf("run 1: state %s, approval %s by %q", run.State, run.Approval.State, run.Approval.DecidedBy)
	}
	if n := wipe.executed.Load(); n != 0 {
		t.Errorf("the expired request ran %d times", n)
	}
	m, ok := w.Chat.Find("request 1")
	if !ok || len(m.Buttons) != 0 {
		t.Errorf("the approval message after expiry: %+v", m)
	}
}

// A request runs with its requester's rights, not the approver's: when a
// reload takes them away while it waits, approving it voids it instead.
func TestApprovalVoidWhenTheRequesterLostTheRight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		people func() []*actions.Person
		want   string
	}{
		{"requester lost their role", func() []*actions.Person {
			return []*actions.Person{{Name: "carol", Roles: []string{"viewer"}}, {Name: "bob", Roles: []string{"operator"}}}
		}, "carol may no longer `teardown staging`"},
		{"requester left the config", func() []*actions.Person {
			return []*actions.Person{{Name: "bob", Roles: []string{"operator"}}}
		}, "made by carol, who is no longer in the config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			roles := []*actions.Role{
				{Name: "viewer", Allow: []string{"help", "whoami", "status", "plan", "runs", "run"}},
				{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"teardown", "approve", "deny"}, Environments: []string{"staging"}},
			}
			rules := []actions.ApprovalRule{{Actions: []string{"teardown"}, Environments: []string{"*"}, Approvers: []string{"operator"}, Expires: 15 * time.Minute}}
			wipe := &wipeAction{}
			w := actionstest.New(t, actionstest.Options{
				Policy: func() *actions.Policy {
					return actions.NewPolicy([]*actions.Person{{Name: "carol", Roles: []string{"operator"}}, {Name: "bob", Roles: []string{"operator"}}}, roles, rules)
				},
				Setup: wipe.register,
			})
			w.Expect(w.As("carol", "teardown staging"), false, "request 1 awaits approval")
			s := *w.Engine.Settings()
			s.Policy = actions.NewPolicy(tc.people(), roles, rules)
			if err := w.Engine.Reconfigure(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			w.Expect(w.As("bob", "approve 1"), true, tc.want, "the request is void")
			w.Engine.Wait()
			if run := w.Run(1); run.State != actions.Expired || run.Approval.State != actions.ApprovalVoid {
				t.Errorf("run 1: %s, approval %s", run.State, run.Approval.State)
			}
			if n := wipe.executed.Load(); n != 0 {
				t.Errorf("the request of a person who may no longer teardown ran %d times", n)
			}
			w.Expect(w.As("bob", "approve 1"), true, "request 1 is not awaiting approval: it is void")
		})
	}
}

// clickingChat is the world's chat, calling onPost after each message is
// posted: a person acting on it at once.
type clickingChat struct {
	*actionstest.Chat
	onPost func(m actions.Message)
}

func (c clickingChat) Post(ctx context.Context, ch string, m actions.Message) (actions.MessageRef, error) {
	ref, err := c.Chat.Post(ctx, ch, m)
	if err == nil && c.onPost != nil {
		c.onPost(m)
	}
	return ref, err
}

// A request decided while its approval message was still being filed
// (bob clicks Approve on the copy as it appears) leaves no copy offering
// Approve and Deny.
func TestApprovalDecidedWhilePostedLeavesNoLiveButtons(t *testing.T) {
	t.Parallel()
	var clicked atomic.Bool
	wipe := &wipeAction{}
	w := actionstest.New(t, actionstest.Options{Setup: func(w *actionstest.World) {
		wipe.register(w)
		w.Engine.AddChat(actionstest.Platform, clickingChat{Chat: w.Chat, onPost: func(m actions.Message) {
			if len(m.Buttons) > 0 && clicked.CompareAndSwap(false, true) {
				w.Expect(w.As("bob", "approve 1"), false, "approved request 1")
			}
		}})
	}})
	w.Expect(w.As("alice", "teardown staging"), false, "request 1 awaits approval")
	w.Engine.Wait()
	if !clicked.Load() {
		t.Fatal("no approval message with buttons was posted")
	}
	if st := w.Run(1).State; st != actions.Succeeded {
		t.Errorf("run 1: %s", st)
	}
	for _, p := range w.Chat.Posts() {
		if len(p.Versions[0].Buttons) > 0 && len(p.Message.Buttons) > 0 {
			t.Errorf("the approval message still offers %d buttons after the request was approved: %q", len(p.Message.Buttons), p.Message.Summary)
		}
	}
}
