package actions_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions"
)

// registerChatty adds "chatty <env>": a run of one step that writes n
// notes.
func registerChatty(w *world, n int) {
	w.engine.Register(&actions.Action{
		Name: "chatty", Summary: "test-only action that writes many notes",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "talk"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			step := p.Step(ctx, "talk")
			for i := 1; i <= n; i++ {
				p.Note(ctx, "line %d", i)
			}
			step.Done(ctx, "said %d lines", n)
			return nil
		},
	})
}

func TestProgressIsAnEventLogNotARewrite(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	registerChatty(w, 500)
	w.expect(w.as("alice", "chatty staging"), false, "run 1 started")
	w.engine.Wait()

	// The run record keeps the run's state only; its progress is the
	// run's event log.
	rec, err := w.db.Run(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != actions.Succeeded || len(rec.Steps) != 0 || len(rec.Output) != 0 {
		t.Fatalf("run record: state %s, %d steps, %d output lines; want succeeded with neither", rec.State, len(rec.Steps), len(rec.Output))
	}
	events, err := w.db.RunEvents(context.Background(), 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	notes := 0
	for i, ev := range events {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i+1, ev.Seq)
		}
		if ev.Note != "" {
			notes++
		}
	}
	if notes != 500 {
		t.Errorf("%d notes in the event log, want 500", notes)
	}

	// `run 1` shows the steps and the latest lines, saying how many came
	// before.
	m := w.as("alice", "run 1")
	text := strings.Join(m.Lines, "\n")
	for _, want := range []string{"✓ talk — said 500 lines", "line 500", "earlier lines"} {
		if !strings.Contains(text, want) {
			t.Errorf("`run 1` lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "line 1\n") || len(m.Lines) > 100 {
		t.Errorf("`run 1` shows all %d lines; it should show the latest:\n%s", len(m.Lines), text)
	}
	r := w.run(1)
	if len(r.Steps) != 1 || r.Steps[0].State != actions.Succeeded || r.Output[len(r.Output)-1] != "line 500" {
		t.Errorf("run 1 with its progress: steps %+v, output tail %q", r.Steps, r.Output)
	}
}

func TestRunEventLogIsBounded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.close()
	w.limit = 50
	w.open()
	registerChatty(w, 200)
	w.expect(w.as("alice", "chatty staging"), false, "run 1 started")
	w.engine.Wait()
	events, err := w.db.RunEvents(context.Background(), 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The step's start and end are always kept; notes beyond the bound
	// are counted, and the count is said once at the end.
	if len(events) > 50+3 {
		t.Fatalf("%d events kept, want at most the bound and the step's own", len(events))
	}
	last := events[len(events)-1]
	if !strings.Contains(last.Note, fmt.Sprintf("%d lines of output were not kept", 200-50)) {
		t.Errorf("last event %+v should say how many lines were dropped", last)
	}
	if r := w.run(1); r.State != actions.Succeeded || r.Steps[0].State != actions.Succeeded {
		t.Errorf("run 1 = %s, steps %+v", r.State, r.Steps)
	}
}
