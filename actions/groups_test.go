package actions_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
)

// batchRun is run 7, provision staging, with a group "create" of total
// servers whose steps are in the given states, in order (web-1, web-2,
// …); steps beyond the states have not started.
func batchRun(state actions.RunState, total int, states ...actions.RunState) *actions.Run {
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	r := &actions.Run{
		ID: 7, Command: "provision staging", Person: "bob", State: state, Created: at, Started: at,
		Groups: []actions.StepGroup{{Name: "create", Total: total, Done: "created", Running: "building"}},
	}
	for i, st := range states {
		s := actions.Step{Name: fmt.Sprintf("create web-%d", i+1), Group: "create", State: st, Started: at}
		switch st {
		case actions.Running:
			s.Detail = "BUILD"
		case actions.Succeeded:
			s.Detail, s.Finished = "ACTIVE", at.Add(3*time.Second)
		case actions.Failed:
			s.Detail, s.Finished = fmt.Sprintf("server web-%d went to ERROR: No valid host was found.", i+1), at.Add(2*time.Second)
		default:
			s.Finished = at.Add(time.Second)
		}
		r.Steps = append(r.Steps, s)
	}
	return r
}

// states is n times st.
func states(n int, st actions.RunState) []actions.RunState {
	return slices.Repeat([]actions.RunState{st}, n)
}

func TestRunMessageCountsLargeGroupsAndNamesOnlyWhatDidNotSucceed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 20, 0, time.UTC)
	// 200 servers: 152 created, 28 building, 12 failed (one in 16), 8
	// not started.
	var mixed []actions.RunState
	for i := range 192 {
		switch {
		case i%16 == 5:
			mixed = append(mixed, actions.Failed)
		case i >= 162:
			mixed = append(mixed, actions.Running)
		default:
			mixed = append(mixed, actions.Succeeded)
		}
	}
	tests := []struct {
		name     string
		run      *actions.Run
		progress string
		lines    []string // exactly the message's lines
	}{
		{
			name:     "small group lists each step once ended",
			run:      batchRun(actions.Running, 3, actions.Succeeded, actions.Running, actions.Failed),
			progress: "created 1 of 3, 1 building, 1 failed",
			lines:    []string{"✓ create web-1 — ACTIVE (3s)", "✗ create web-3 — server web-3 went to ERROR: No valid host was found. (2s)"},
		},
		{
			name:     "large group running: counts only",
			run:      batchRun(actions.Running, 200, append(states(20, actions.Succeeded), states(20, actions.Running)...)...),
			progress: "created 20 of 200, 20 building, 160 waiting",
		},
		{
			name:     "large group: failures named, by name, the first ten",
			run:      batchRun(actions.Running, 200, mixed...),
			progress: "created 152 of 200, 28 building, 12 failed, 8 waiting",
			lines: []string{
				"✗ create web-6 — server web-6 went to ERROR: No valid host was found. (2s)",
				"✗ create web-22 — server web-22 went to ERROR: No valid host was found. (2s)",
				"✗ create web-38 — server web-38 went to ERROR: No valid host was found. (2s)",
				"✗ create web-54 — server web-54 went to ERROR: No valid host was found. (2s)",
				"✗ create web-70 — server web-70 went to ERROR: No valid host was found. (2s)",
				"✗ create web-86 — server web-86 went to ERROR: No valid host was found. (2s)",
				"✗ create web-102 — server web-102 went to ERROR: No valid host was found. (2s)",
				"✗ create web-118 — server web-118 went to ERROR: No valid host was found. (2s)",
				"✗ create web-134 — server web-134 went to ERROR: No valid host was found. (2s)",
				"✗ create web-150 — server web-150 went to ERROR: No valid host was found. (2s)",
				"✗ create: 2 more failed, not named here (`run 7 log` has each)",
			},
		},
		{
			name: "cancelled large group: failed before cancelled, the rest counted",
			run: batchRun(actions.Cancelled, 50, append(append(states(30, actions.Succeeded), states(12, actions.Cancelled)...),
				actions.Failed, actions.Ongoing)...),
			progress: "created 30 of 50, 1 failed, 1 ongoing, 12 cancelled, 6 not started",
			lines: []string{
				"✗ create web-43 — server web-43 went to ERROR: No valid host was found. (2s)",
				"→ create web-44 (1s)",
				"⊘ create web-31 (1s)", "⊘ create web-32 (1s)", "⊘ create web-33 (1s)", "⊘ create web-34 (1s)",
				"⊘ create web-35 (1s)", "⊘ create web-36 (1s)", "⊘ create web-37 (1s)", "⊘ create web-38 (1s)",
				"⊘ create: 4 more cancelled, not named here (`run 7 log` has each)",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := actions.RunMessage(tc.run, now)
			if got := actionstest.Progress(m); got != tc.progress || !strings.HasSuffix(m.Summary, " — "+tc.progress) {
				t.Errorf("summary %q, want it to end with the counts %q", m.Summary, tc.progress)
			}
			if !slices.Equal(m.Lines, tc.lines) {
				t.Errorf("lines:\n  %s\nwant:\n  %s", strings.Join(m.Lines, "\n  "), strings.Join(tc.lines, "\n  "))
			}
		})
	}
}

// registerBatch adds "batch <env>": a run with a group of n steps, done
// at most parallel at once, of which the ones named in fail fail.
func registerBatch(w *world, n int, fail ...string) {
	w.Engine.Register(&actions.Action{
		Name: "batch", Summary: "test-only action over a batch of servers",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: fmt.Sprintf("create %d", n)}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			g := p.Group(ctx, actions.StepGroup{Name: "create", Total: n, Done: "created", Running: "building"})
			for i := 1; i <= n; i++ {
				name := fmt.Sprintf("web-%d", i)
				step := g.Step(ctx, "create "+name)
				step.Detail(ctx, "BUILD")
				if slices.Contains(fail, name) {
					step.Fail(ctx, actions.Errorf(actions.Unavailable, "server %s went to ERROR: disk on fire", name))
					continue
				}
				step.Done(ctx, "ACTIVE")
			}
			p.Note(ctx, "%d servers", n)
			return nil
		},
	})
}

func TestStepGroupsAreKeptInTheRunsLog(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	registerBatch(w, 40, "web-3", "web-17")
	w.Expect(w.As("alice", "batch staging"), false, "run 1 started")
	w.Engine.Wait()

	check := func(when string) {
		t.Helper()
		r := w.Run(1)
		if len(r.Groups) != 1 || r.Groups[0] != (actions.StepGroup{Name: "create", Total: 40, Done: "created", Running: "building"}) {
			t.Errorf("%s: groups %+v", when, r.Groups)
		}
		if len(r.Steps) != 40 || r.Steps[39].Group != "create" {
			t.Fatalf("%s: %d steps, the last %+v", when, len(r.Steps), r.Steps[len(r.Steps)-1])
		}
		m := w.As("carol", "run 1")
		if got, want := actionstest.Progress(m.Message), "created 38 of 40, 2 failed"; got != want {
			t.Errorf("%s: `run 1` progress %q, want %q", when, got, want)
		}
		want := []string{
			"✗ create web-3 — server web-3 went to ERROR: disk on fire (0ms)",
			"✗ create web-17 — server web-17 went to ERROR: disk on fire (0ms)",
			"40 servers",
		}
		if !slices.Equal(m.Lines, want) {
			t.Errorf("%s: `run 1` lines %q, want %q", when, m.Lines, want)
		}
	}
	// `run 1 log` has every step, the ones the message does not name too.
	log := w.As("carol", "run 1 log")
	for _, want := range []string{"create: 40 steps", "▶ create web-40", "✓ create web-40 — ACTIVE (0ms)", "✗ create web-17 — server web-17 went to ERROR: disk on fire (0ms)"} {
		if !slices.Contains(log.Lines, want) {
			t.Errorf("`run 1 log` lacks %q:\n%s", want, strings.Join(log.Lines, "\n"))
		}
	}
	if slices.Contains(log.Lines, "") {
		t.Errorf("`run 1 log` has an empty line:\n%s", strings.Join(log.Lines, "\n"))
	}
	check("after the run")
	// The live message ended showing the same.
	live, ok := w.Chat.Find("run 1 `batch staging` by alice: succeeded")
	if !ok || !strings.Contains(live.Summary, "created 38 of 40, 2 failed") {
		t.Errorf("the run's live message: %q", live.Summary)
	}
	w.Restart()
	check("after a restart")
}

func TestGroupDeclaredTwiceAddsToItsTotal(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Engine.Register(&actions.Action{
		Name: "batch", Summary: "test-only action declaring its group in two parts",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "create 15"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			p.Group(ctx, actions.StepGroup{Name: "create", Total: 5})
			g := p.Group(ctx, actions.StepGroup{Name: "create", Total: 10})
			g.Step(ctx, "create web-1").Done(ctx, "ACTIVE")
			return errors.New("stop here")
		},
	})
	w.As("alice", "batch staging")
	w.Engine.Wait()
	if got, want := actionstest.Progress(w.As("carol", "run 1").Message), "done 1 of 15, 14 not started"; got != want {
		t.Errorf("progress %q, want %q", got, want)
	}
}

// registerParallelBatch adds "batch <env>": a group of n steps run by
// parallel goroutines at once, each step started, given a detail and
// ended, as provision does with servers.
func registerParallelBatch(w *world, n, parallel int) {
	w.Engine.Register(&actions.Action{
		Name: "batch", Summary: "test-only action over a batch of servers, in parallel",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: fmt.Sprintf("create %d", n)}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			g := p.Group(ctx, actions.StepGroup{Name: "create", Total: n, Done: "created", Running: "building"})
			work := make(chan int)
			var wg sync.WaitGroup
			for range parallel {
				wg.Go(func() {
					for i := range work {
						step := g.Step(ctx, fmt.Sprintf("create web-%d", i))
						step.Detail(ctx, "BUILD")
						step.Done(ctx, "ACTIVE")
					}
				})
			}
			for i := 1; i <= n; i++ {
				work <- i
			}
			close(work)
			wg.Wait()
			return nil
		},
	})
}

func TestParallelStepsAreLoggedInTheOrderTheyHappened(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	registerParallelBatch(w, 100, 25)
	w.Expect(w.As("alice", "batch staging"), false, "run 1 started")
	w.Engine.Wait()

	events, err := w.DB.RunEvents(context.Background(), 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each step's events come in its order: started, BUILD, ACTIVE; the
	// step's index is the order steps started in.
	seen := map[int][]string{}
	for _, ev := range events {
		if ev.Step == nil {
			continue
		}
		if len(seen[ev.Index]) == 0 && ev.Index != len(seen) {
			t.Fatalf("step %d started before step %d", ev.Index, len(seen))
		}
		seen[ev.Index] = append(seen[ev.Index], string(ev.Step.State)+" "+ev.Step.Detail)
	}
	want := []string{"running ", "running BUILD", "succeeded ACTIVE"}
	for i := range 100 {
		if !slices.Equal(seen[i], want) {
			t.Errorf("events of step %d: %q, want %q", i, seen[i], want)
		}
	}
	if m := w.As("carol", "run 1"); actionstest.Progress(m.Message) != "created 100 of 100" {
		t.Errorf("`run 1` progress %q", actionstest.Progress(m.Message))
	}
	live, _ := w.Chat.Find("run 1 `batch staging`")
	if !strings.Contains(live.Summary, "succeeded") || actionstest.Progress(live) != "created 100 of 100" {
		t.Errorf("the live message ended as %q, %q", live.Summary, actionstest.Progress(live))
	}
}
