package actions_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
)

// registerChatty adds "chatty <env>": a run of one step that writes n
// notes.
func registerChatty(w *world, n int) {
	w.Engine.Register(&actions.Action{
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
	w.Expect(w.As("alice", "chatty staging"), false, "run 1 started")
	w.Engine.Wait()

	// The run record keeps the run's state only; its progress is the
	// run's event log.
	rec, err := w.DB.Run(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != actions.Succeeded || len(rec.Steps) != 0 || len(rec.Output) != 0 {
		t.Fatalf("run record: state %s, %d steps, %d output lines; want succeeded with neither", rec.State, len(rec.Steps), len(rec.Output))
	}
	events, err := w.DB.RunEvents(context.Background(), 1, 0, 0)
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
	m := w.As("alice", "run 1")
	text := strings.Join(m.Lines, "\n")
	for _, want := range []string{"✓ talk — said 500 lines", "line 500", "earlier lines"} {
		if !strings.Contains(text, want) {
			t.Errorf("`run 1` lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "line 1\n") || len(m.Lines) > 100 {
		t.Errorf("`run 1` shows all %d lines; it should show the latest:\n%s", len(m.Lines), text)
	}
	r := w.Run(1)
	if len(r.Steps) != 1 || r.Steps[0].State != actions.Succeeded || r.Output[len(r.Output)-1] != "line 500" {
		t.Errorf("run 1 with its progress: steps %+v, output tail %q", r.Steps, r.Output)
	}
}

func TestRunEventLogIsBounded(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, func(o *actionstest.Options) { o.RunEventLimit = 50 })
	registerChatty(w, 200)
	w.Expect(w.As("alice", "chatty staging"), false, "run 1 started")
	w.Engine.Wait()
	events, err := w.DB.RunEvents(context.Background(), 1, 0, 0)
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
	if r := w.Run(1); r.State != actions.Succeeded || r.Steps[0].State != actions.Succeeded {
		t.Errorf("run 1 = %s, steps %+v", r.State, r.Steps)
	}
}

// registerPrinter adds "printer <env>": a run of two steps whose first
// prints n lines in batches of batch through StepHandle.Output.
func registerPrinter(w *world, n, batch int) {
	w.Engine.Register(&actions.Action{
		Name: "printer", Summary: "test-only action that prints step output",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "print"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			step := p.Step(ctx, "print on web-1")
			var lines []string
			for i := 1; i <= n; i++ {
				lines = append(lines, fmt.Sprintf("line %d password=hunter2-secret", i))
				if len(lines) == batch || i == n {
					step.Output(ctx, lines...)
					lines = nil
				}
			}
			step.Fail(ctx, actions.Errorf(actions.Unavailable, "exited with status 3"))
			other := p.Step(ctx, "quiet on web-2")
			other.Done(ctx, "ok")
			return actions.Errorf(actions.Unavailable, "print failed on web-1")
		},
	})
}

func TestStepOutputKeepsHeadAndTailInBatches(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, func(o *actionstest.Options) { o.StepOutputHead, o.StepOutputTail = 10, 20 })
	registerPrinter(w, 1000, 100)
	w.Expect(w.As("alice", "printer staging"), false, "run 1 started")
	w.Engine.Wait()

	events, err := w.DB.RunEvents(context.Background(), 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// One event for the head (the first batch), one saying what was cut,
	// one for the tail, and the steps' own: not one per line or batch.
	var lines []string
	cut := 0
	for _, ev := range events {
		lines = append(lines, ev.Lines...)
		cut += ev.Cut
	}
	if len(events) > 8 {
		t.Errorf("%d events for 1000 lines in 10 batches; want the head, the cut, the tail and the steps", len(events))
	}
	if len(lines) != 30 || cut != 970 {
		t.Fatalf("kept %d lines and cut %d, want 30 and 970", len(lines), cut)
	}
	if lines[0] != "line 1 password=[redacted]" || lines[9] != "line 10 password=[redacted]" ||
		lines[10] != "line 981 password=[redacted]" || lines[29] != "line 1000 password=[redacted]" {
		t.Errorf("kept %q … %q", lines[:11], lines[29])
	}

	// The run's message shows the failed step's latest lines and where
	// the rest is.
	m, _ := w.Chat.Find("run 1")
	text := strings.Join(m.Lines, "\n")
	for _, want := range []string{"✗ print on web-1 — exited with status 3", "│ line 1000 password=[redacted]", "│ line 996"} {
		if !strings.Contains(text, want) {
			t.Errorf("message lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "line 995") || strings.Contains(text, "hunter2") {
		t.Errorf("message shows too much:\n%s", text)
	}
	if !strings.Contains(m.Footer, "run 1 log") {
		t.Errorf("footer %q does not point to the log", m.Footer)
	}
	// Folded again from the store, the run shows the same.
	if r := w.Run(1); r.Steps[0].Lines != 1000 || len(r.Steps[0].Latest) != 5 || r.Steps[0].Latest[4] != "line 1000 password=[redacted]" {
		t.Errorf("folded step: %d lines, latest %q", r.Steps[0].Lines, r.Steps[0].Latest)
	}

	// `run 1 log` is the whole log as kept, under the step's name.
	log := w.As("alice", "run 1 log")
	text = strings.Join(log.Lines, "\n")
	for _, want := range []string{"▶ print on web-1", "── print on web-1 ──", "   line 10 password=[redacted]",
		"970 lines cut here", "   line 981 password=[redacted]", "✗ print on web-1 — exited with status 3", "✓ quiet on web-2 — ok"} {
		if !strings.Contains(text, want) {
			t.Errorf("`run 1 log` lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "line 11 ") || strings.Contains(text, "line 980 ") {
		t.Errorf("`run 1 log` holds cut lines:\n%s", text)
	}
	w.Expect(w.As("alice", "run 1 logs"), true, "`run 1 log`")
}
