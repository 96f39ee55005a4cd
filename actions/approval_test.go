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

// Who may decide a waiting request is asked of the policy in force, not
// only of the one it was made under: a reload that tightens the approvers
// reaches the requests already waiting, and one that widens them or drops
// the rule lets nobody decide who could not when the request was made.
func TestApprovalDeciderMeetsTheRulesInForce(t *testing.T) {
	t.Parallel()
	people := []*actions.Person{
		{Name: "alice", Roles: []string{"admin"}},
		{Name: "bob", Roles: []string{"operator"}},
		{Name: "dave", Roles: []string{"admin"}},
		{Name: "erin", Roles: []string{"reviewer"}},
	}
	roles := []*actions.Role{
		{Name: "viewer", Allow: []string{"help", "whoami", "status", "plan", "runs", "run"}},
		{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"teardown", "deploy", "approve", "deny"}},
		{Name: "reviewer", Inherit: []string{"viewer"}, Allow: []string{"approve", "deny"}},
		{Name: "admin", Inherit: []string{"operator"}, Allow: []string{"*"}},
	}
	filed := []actions.ApprovalRule{
		{Actions: []string{"teardown"}, Approvers: []string{"operator", "admin"}},
		{Actions: []string{"deploy"}, Approvers: []string{"operator", "admin"}},
	}
	tests := []struct {
		name     string
		command  string
		rules    []actions.ApprovalRule // after the reload
		refused  string                 // who is refused now, approving or denying
		want     string                 // and why
		approver string                 // who may still approve
	}{
		{"approvers tightened", "teardown staging",
			[]actions.ApprovalRule{{Actions: []string{"teardown"}, Approvers: []string{"admin"}}},
			"bob", "only a person holding admin on staging may approve this, and bob does not", "dave"},
		{"approvers widened", "teardown staging",
			[]actions.ApprovalRule{{Actions: []string{"teardown"}, Approvers: []string{"reviewer", "operator", "admin"}}},
			"erin", "request 1 was made when only a person holding operator, admin on staging could decide it", "bob"},
		{"approval no longer asked", "deploy staging",
			[]actions.ApprovalRule{{Actions: []string{"teardown"}, Approvers: []string{"reviewer"}}},
			"erin", "only a person holding operator, admin on staging may approve this, and erin does not", "bob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorldWith(t, func(o *actionstest.Options) {
				o.Policy = func() *actions.Policy { return actions.NewPolicy(people, roles, filed) }
			})
			close(w.gate)
			w.Expect(w.As("alice", tc.command), false, "request 1 awaits approval by operator, admin")
			s := *w.Engine.Settings()
			s.Policy = actions.NewPolicy(people, roles, tc.rules)
			if err := w.Engine.Reconfigure(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			w.Expect(w.As(tc.refused, "approve 1"), true, tc.want)
			w.Expect(w.As(tc.refused, "deny 1"), true, tc.want)
			if run := w.Run(1); run.State != actions.AwaitingApproval {
				t.Fatalf("after %s was refused, run 1 is %s (approved by %q), want still awaiting approval", tc.refused, run.State, run.Approval.DecidedBy)
			}
			w.Expect(w.As(tc.approver, "approve 1"), false, "approved request 1")
			w.Engine.Wait()
			if run := w.Run(1); run.State != actions.Succeeded || run.Approval.DecidedBy != tc.approver {
				t.Errorf("run 1 = %s, approved by %q", run.State, run.Approval.DecidedBy)
			}
		})
	}
}
