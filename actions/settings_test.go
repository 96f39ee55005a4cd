package actions_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
)

// A reload cannot remove an environment under a request being filed on
// it: one whose plan is being computed has no run in the store yet, and
// would be recorded on an environment the config no longer has.
func TestReconfigureRefusesToRemoveAnEnvironmentUnderARequestBeingFiled(t *testing.T) {
	t.Parallel()
	planning, finish := make(chan struct{}), make(chan struct{})
	w := actionstest.New(t, actionstest.Options{Setup: func(w *actionstest.World) {
		h, err := w.Engine.Module("slowplan")
		if err != nil {
			t.Fatal(err)
		}
		h.Register(&actions.Action{Name: "provision", Summary: "plans slowly", Mutates: true,
			Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}},
			Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
				close(planning)
				<-finish
				return actions.Plan{Summary: "create 1"}, nil
			},
			Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
				return nil
			},
		})
	}})
	replied := make(chan actions.Reply)
	go func() { replied <- w.As("alice", "provision staging") }()
	<-planning

	s := *w.Engine.Settings()
	s.Environments = []string{"production"}
	err := w.Engine.Reconfigure(context.Background(), s)
	if actions.ErrorKind(err) != actions.Conflict || !strings.Contains(actions.ErrorMessage(err), "staging (1 request being filed)") {
		t.Errorf("removing staging while a request on it is planned: %v", err)
	}
	if !slices.Contains(w.Engine.Environments(), "staging") {
		t.Error("the refused settings were put in force")
	}
	close(finish)
	w.Expect(<-replied, false, "run 1 started")
	w.Engine.Wait()
	if err := w.Engine.Reconfigure(context.Background(), s); err != nil {
		t.Fatalf("removing staging once idle: %v", err)
	}
	w.Expect(w.As("alice", "provision staging"), true, `there is no environment "staging"`)
}
