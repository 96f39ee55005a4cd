package actions_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/storage"
)

// registerTouch registers `touch <env>`, a mutating action that needs no
// approval; it waits for gate when gate is not nil.
func registerTouch(w *actionstest.World, gate chan struct{}) {
	h, err := w.Engine.Module("touch")
	if err != nil {
		w.T.Fatal(err)
	}
	h.Register(&actions.Action{Name: "touch", Summary: "changes an environment", Mutates: true,
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}},
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "touch"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			if gate != nil {
				select {
				case <-gate:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		},
	})
}

// holdFor leaves env held by run id, as a release that failed once (a
// store error) leaves it.
func holdFor(w *actionstest.World, env string, id int64, manual bool) {
	w.T.Helper()
	if _, err := w.DB.UpdateLock(context.Background(), env, func(*actions.Lock) (*actions.Lock, error) {
		return &actions.Lock{Env: env, Person: "bob", Reason: "touch " + env, Since: w.Clock.Now(), RunID: id, Manual: manual}, nil
	}); err != nil {
		w.T.Fatal(err)
	}
}

// A run's hold on its environment that outlived the run (its release
// failed) is given back at the next start; a person's lock under it stays.
func TestStartReleasesHoldsOfEndedRuns(t *testing.T) {
	t.Parallel()
	w := actionstest.New(t, actionstest.Options{Setup: func(w *actionstest.World) { registerTouch(w, nil) }})
	w.Expect(w.As("alice", "touch staging"), false, "run 1 started")
	w.Engine.Wait()
	if st := w.Run(1).State; st != actions.Succeeded {
		t.Fatalf("run 1: %s", st)
	}
	holdFor(w, "staging", 1, false)    // run 1 succeeded
	holdFor(w, "production", 77, true) // no run 77; bob's own lock under it
	w.Expect(w.As("alice", "touch staging"), true, "in use by run 1")

	w.Restart()
	locks, err := w.DB.Locks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 || locks[0].Env != "production" || !locks[0].Manual || locks[0].RunID != 0 || locks[0].Person != "bob" {
		t.Errorf("locks after the start: %+v", locks)
	}
	w.Expect(w.As("alice", "touch staging"), false, "run 2 started")
	w.Engine.Wait()
}

// `unlock --force` clears the hold of a run that has ended, without a
// restart, but never that of a run still going.
func TestUnlockForceClearsTheHoldOfAnEndedRun(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	w := actionstest.New(t, actionstest.Options{Setup: func(w *actionstest.World) { registerTouch(w, gate) }})
	close(gate)
	w.Expect(w.As("alice", "touch staging"), false, "run 1 started")
	w.Engine.Wait()
	holdFor(w, "staging", 1, false)
	w.Expect(w.As("alice", "touch staging"), true, "in use by run 1")
	w.Expect(w.As("alice", "unlock staging"), true, "run 1 holds it", "unlock staging --force")
	w.Expect(w.As("alice", "unlock staging --force"), false, "run 1 had ended (succeeded) but still held staging; its hold is cleared")
	w.Expect(w.As("alice", "touch staging"), false, "run 2 started")
	w.Engine.Wait()

	// A hold by a run that does not exist, under bob's lock: the lock is
	// broken and the hold cleared.
	holdFor(w, "production", 77, true)
	w.Expect(w.As("alice", "unlock production --force"), false, "bob's lock on production is broken", "the hold of run 77, which had ended, is cleared")
	if locks, _ := w.DB.Locks(context.Background()); len(locks) != 0 {
		t.Errorf("locks left: %+v", locks)
	}
}

func TestUnlockForceKeepsTheHoldOfARunGoing(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	w := actionstest.New(t, actionstest.Options{Setup: func(w *actionstest.World) { registerTouch(w, gate) }})
	w.Expect(w.As("alice", "touch staging"), false, "run 1 started")
	w.Expect(w.As("alice", "unlock staging --force"), true, "staging is not locked by anyone; run 1 holds it while it runs")
	w.Expect(w.As("dave", "touch staging"), true, "in use by run 1")
	close(gate)
	w.Engine.Wait()
	if st := w.Run(1).State; st != actions.Succeeded {
		t.Errorf("run 1: %s", st)
	}
	w.Expect(w.As("dave", "touch staging"), false, "run 2 started")
	w.Engine.Wait()
}

// releaseWatch is the store's LockStore, noting the state run holding an
// environment is stored in at the moment its hold is given back, and
// whether its outcome is in the audit log by then.
type releaseWatch struct {
	*storage.DB
	mu      sync.Mutex
	states  []actions.RunState
	audited []bool
}

func (l *releaseWatch) UpdateLock(ctx context.Context, env string, fn func(*actions.Lock) (*actions.Lock, error)) (*actions.Lock, error) {
	var holder int64
	if locks, err := l.DB.Locks(ctx); err == nil {
		for _, lk := range locks {
			if lk.Env == env {
				holder = lk.RunID
			}
		}
	}
	var state actions.RunState
	audited := false
	if holder != 0 {
		if r, err := l.DB.Run(ctx, holder); err == nil {
			state = r.State
		}
		tail, _ := l.DB.Tail(ctx, 100)
		audited = slices.ContainsFunc(tail, func(a actions.AuditEntry) bool { return a.Run == holder && a.Event == "outcome" })
	}
	after, err := l.DB.UpdateLock(ctx, env, fn)
	if err == nil && holder != 0 && (after == nil || after.RunID != holder) {
		l.mu.Lock()
		l.states = append(l.states, state)
		l.audited = append(l.audited, audited)
		l.mu.Unlock()
	}
	return after, err
}

// A run's outcome is stored before its environment is given back: a crash
// in between must leave an ended run (its hold released at the next
// start), not a succeeded run that restarts as interrupted while another
// run already took the environment.
func TestRunOutcomeIsStoredBeforeItsEnvironmentIsGivenBack(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	locks := &releaseWatch{DB: db}
	e := actions.NewEngine(actions.Options{Policy: actionstest.People(), Runs: db, Locks: locks, Audit: db, Environments: []string{"staging"}})
	defer e.Close()
	var outcome atomic.Value // error: what the next run ends with
	e.Register(&actions.Action{Name: "touch", Summary: "changes an environment", Mutates: true,
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}},
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "touch"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			err, _ := outcome.Load().(error)
			return err
		},
	})
	for _, err := range []error{nil, errors.New("the cloud said no")} {
		if err != nil {
			outcome.Store(err)
		}
		r := e.Execute(context.Background(), actions.Invocation{Person: "alice", Text: "touch staging", Origin: actions.Origin{Platform: "test", Channel: "C1"}})
		if r.Tone == actions.ToneDanger {
			t.Fatalf("touch staging: %s", r.Summary)
		}
		e.Wait()
	}
	locks.mu.Lock()
	defer locks.mu.Unlock()
	if want := []actions.RunState{actions.Succeeded, actions.Failed}; !slices.Equal(locks.states, want) {
		t.Errorf("the runs' states when their holds were given back: %v, want %v", locks.states, want)
	}
}

// A run's outcome is in the audit log before its environment is given
// back, however it ended: the next run's start is never audited while the
// log still shows the last one going, and a crash in between does not
// lose the outcome (a run stored as ended is never recovered).
func TestRunOutcomeIsAuditedBeforeItsEnvironmentIsGivenBack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before is called as the run is planned: it arranges how the
		// run ends.
		before func(e *actions.Engine, chat *panickyChat)
	}{
		{"it ended", func(*actions.Engine, *panickyChat) {}},
		{"its start panicked", func(_ *actions.Engine, chat *panickyChat) { chat.armed.Store(true) }},
		{"infrabot stopped as it started", func(e *actions.Engine, _ *panickyChat) { e.Drain(context.Background()) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := tempDB(t)
			locks := &releaseWatch{DB: db}
			e := actions.NewEngine(actions.Options{Policy: actionstest.People(), Runs: db, Locks: locks, Audit: db, Environments: []string{"staging"}})
			defer e.Close()
			chat := &panickyChat{Chat: &actionstest.Chat{}}
			e.AddChat(actionstest.Platform, chat)
			e.Register(&actions.Action{Name: "touch", Summary: "changes an environment", Mutates: true,
				Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}},
				Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
					tc.before(e, chat)
					return actions.Plan{Summary: "touch"}, nil
				},
				Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
					return nil
				},
			})
			e.Execute(context.Background(), actions.Invocation{Person: "alice", Text: "touch staging", Origin: actions.Origin{Platform: actionstest.Platform, Channel: "C1"}})
			e.Wait()
			locks.mu.Lock()
			defer locks.mu.Unlock()
			if want := []bool{true}; !slices.Equal(locks.audited, want) {
				t.Errorf("run 1's outcome audited when its hold was given back: %v, want %v (states %v)", locks.audited, want, locks.states)
			}
		})
	}
}
