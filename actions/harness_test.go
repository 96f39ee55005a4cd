package actions_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
)

// world is the kernel in actionstest's world, with a steward (frank, who
// may break locks on staging), a redactor, and two test-only actions:
// teardown (destructive; its plan says what planLines holds) and deploy
// (mutating; its step waits on gate).
type world struct {
	*actionstest.World

	planLines atomic.Value // []string: what teardown's plan says
	wipes     atomic.Int32 // how many times teardown executed
	gate      chan struct{}
}

func policy() *actions.Policy {
	return actions.NewPolicy(
		[]*actions.Person{
			{Name: "alice", Roles: []string{"admin"}, IDs: map[string]string{"test": "UALICE"}},
			{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{"test": "UBOB"}},
			{Name: "carol", Roles: []string{"viewer"}},
			{Name: "dave", Roles: []string{"admin"}},
			{Name: "erin"},
			{Name: "frank", Roles: []string{"steward"}},
		},
		[]*actions.Role{
			{Name: "viewer", Allow: []string{"help", "whoami", "status", "plan", "runs", "run"}},
			{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"provision", "teardown", "lock", "unlock", "cancel", "approve", "deny", "deploy"}, Environments: []string{"staging"}},
			{Name: "admin", Inherit: []string{"operator"}, Allow: []string{"*"}, Environments: []string{"*"}},
			{Name: "steward", Allow: []string{"lock", "unlock", "unlock-force"}, Environments: []string{"staging"}},
		},
		[]actions.ApprovalRule{
			{Actions: []string{"teardown"}, Environments: []string{"*"}, Approvers: []string{"operator", "admin"}, Expires: 15 * time.Minute},
			{Actions: []string{"deploy"}, Environments: []string{"production"}, Approvers: []string{"admin"}},
		},
	)
}

func newWorld(t testing.TB) *world { return newWorldWith(t, func(*actionstest.Options) {}) }

// newWorldWith is newWorld with the world's options changed by set before
// the engine is made.
func newWorldWith(t testing.TB, set func(*actionstest.Options)) *world {
	t.Helper()
	w := &world{gate: make(chan struct{})}
	w.planLines.Store([]string{"- wipe everything"})
	opts := actionstest.Options{
		Policy:   policy,
		Channels: actions.Channels{}, // none: the kernel's tests read replies and the chat
		Redactor: actions.NewRedactor("hunter2-secret"),
		Setup:    w.register,
	}
	set(&opts)
	w.World = actionstest.New(t, opts)
	return w
}

// register adds the test-only actions; it runs at every (re)start.
func (w *world) register(aw *actionstest.World) {
	aw.Engine.Register(&actions.Action{
		Name: "teardown", Summary: "test-only destructive action",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true, Destructive: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			lines := w.planLines.Load().([]string)
			return actions.Plan{Summary: fmt.Sprintf("%d changes", len(lines)), Lines: lines, Deletes: true}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			w.wipes.Add(1)
			p.Step(ctx, "wipe").Done(ctx, "wiped")
			return nil
		},
	})
	logger := aw.Opts.Logger
	aw.Engine.Register(&actions.Action{
		Name: "deploy", Summary: "test-only mutating action that waits on a gate",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "touch"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			if logger != nil {
				logger.InfoContext(ctx, "touching", "target", "all")
			}
			step := p.Step(ctx, "touch")
			select {
			case <-w.gate:
				step.Done(ctx, "done")
				return nil
			case <-ctx.Done():
				step.Fail(ctx, ctx.Err())
				return ctx.Err()
			}
		},
	})
}

// copyStore copies the world's bbolt file as it is now, as a crash would
// leave it, and returns the copy's path.
func copyStore(t testing.TB, w *world) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "crashed.db")
	if err := w.DB.Backup(dst); err != nil {
		t.Fatal(err)
	}
	return dst
}
