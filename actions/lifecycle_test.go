package actions_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/storage"
)

func TestCloseRefusesNewWork(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("alice", "teardown staging"), false, "request 1 awaits approval")
	w.Engine.Close()

	w.Expect(w.As("alice", "deploy staging"), true, "infrabot is shutting down")
	w.Expect(w.As("bob", "approve 1"), true, "infrabot is shutting down")
	runs, err := w.DB.Runs(context.Background(), actions.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].State != actions.AwaitingApproval {
		t.Fatalf("after Close no run may start and the request stays pending; runs: %+v", runs)
	}
	// Queries still answer: Slack's workers drain after the engine closed.
	w.Expect(w.As("alice", "runs"), false, "#1")
}

// watchedRuns is a RunStore that fails UpdateRun as often as told.
type watchedRuns struct {
	actions.RunStore
	t          *testing.T
	failUpdate atomic.Int32 // how many UpdateRun calls still fail; -1 fails all
}

func (s *watchedRuns) UpdateRun(ctx context.Context, id int64, fn func(*actions.Run) error) (*actions.Run, error) {
	if n := s.failUpdate.Load(); n != 0 {
		s.failUpdate.Add(-1)
		if n < 0 {
			s.failUpdate.Store(-1)
		}
		return nil, errors.New("disk on fire")
	}
	return s.RunStore.UpdateRun(ctx, id, fn)
}

// tempDB opens a fresh store in t's temporary directory, closed when t
// ends.
func tempDB(t *testing.T) *storage.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newWatched(t *testing.T) (*watchedRuns, *storage.DB) {
	db := tempDB(t)
	return &watchedRuns{RunStore: db, t: t}, db
}

// startRunning leaves run 1 "running" in a store, as a crash would.
func startRunning(t *testing.T, db *storage.DB) {
	t.Helper()
	ctx := context.Background()
	r := &actions.Run{Action: "deploy", Env: "staging", Command: "deploy staging", Person: "bob", State: actions.Running}
	if err := db.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateLock(ctx, "staging", func(*actions.Lock) (*actions.Lock, error) {
		return &actions.Lock{Person: "bob", RunID: r.ID}, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverRetriesAndSaysWhatItCouldNot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		failures  int32
		wantErr   bool
		wantState actions.RunState
	}{
		{"a passing failure is retried", 1, false, actions.Interrupted},
		{"a lasting failure stops the start", -1, true, actions.Running},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runs, db := newWatched(t)
			startRunning(t, db)
			var logs actionstest.Buffer
			e := actions.NewEngine(actions.Options{
				Policy: policy(), Runs: runs, Locks: db, Audit: db, Environments: []string{"staging"},
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			defer e.Close()
			runs.failUpdate.Store(tc.failures)
			_, err := e.Recover(context.Background())
			if (err != nil) != tc.wantErr {
				t.Fatalf("Recover: err = %v, want an error: %v", err, tc.wantErr)
			}
			if tc.wantErr && !strings.Contains(err.Error(), "run 1") {
				t.Errorf("the error should name the run it could not recover: %v", err)
			}
			if !strings.Contains(logs.String(), "disk on fire") {
				t.Errorf("the failure was not logged:\n%s", logs.String())
			}
			r, err := db.Run(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if r.State != tc.wantState {
				t.Errorf("run 1 is %s, want %s", r.State, tc.wantState)
			}
			locks, _ := db.Locks(context.Background())
			if held := len(locks) == 1; held != tc.wantErr {
				t.Errorf("locks after Recover: %+v", locks)
			}
		})
	}
}

// panickyChat is the world's chat, panicking at every post while armed: a
// bug in an adapter, or in rendering what it posts.
type panickyChat struct {
	*actionstest.Chat
	armed atomic.Bool
}

func (c *panickyChat) Post(ctx context.Context, ch string, m actions.Message) (actions.MessageRef, error) {
	if c.armed.Load() {
		panic("chat exploded")
	}
	return c.Chat.Post(ctx, ch, m)
}

// A panic while a run is being started (posting its live message, after
// its environment was taken) fails the run, gives the environment back
// and lets Wait return, instead of leaving the environment held by a run
// nobody carries out until a restart and Close waiting for it for ever.
func TestPanicStartingARunFreesItsEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		file          string // what alice asks first, if anything
		person, start string // the command that starts run 1
	}{
		{"started at once", "", "bob", "deploy staging"},
		{"started by its approval", "teardown staging", "bob", "approve 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			chat := &panickyChat{Chat: w.Chat}
			w.Engine.AddChat(actionstest.Platform, chat)
			if tc.file != "" {
				w.Expect(w.As("alice", tc.file), false, "request 1 awaits approval")
			}
			chat.armed.Store(true)
			r := func() (r actions.Reply) {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s: `%s` panicked: %v", tc.person, tc.start, p)
					}
				}()
				return w.As(tc.person, tc.start)
			}()
			chat.armed.Store(false)
			w.Expect(r, true, "run 1 could not start", "infrabot's log")
			if strings.Contains(r.Summary, "exploded") {
				t.Errorf("the panic reached chat: %q", r.Summary)
			}
			if run := w.Run(1); run.State != actions.Failed || strings.Contains(run.Error, "exploded") {
				t.Errorf("run 1 = %s %q, want failed, the panic not shown", run.State, run.Error)
			}
			w.Expect(w.As("alice", "deploy staging"), false, "run 2 started")
			close(w.gate)
			waited := make(chan struct{})
			go func() { w.Engine.Wait(); close(waited) }()
			select {
			case <-waited:
			case <-time.After(5 * time.Second):
				t.Fatal("Engine.Wait still waits for run 1, which never started")
			}
			tail, _ := w.DB.Tail(context.Background(), 10)
			if !slices.ContainsFunc(tail, func(a actions.AuditEntry) bool {
				return a.Run == 1 && a.Event == "outcome" && strings.HasPrefix(a.Detail, "failed")
			}) {
				t.Errorf("no failed outcome of run 1 in the audit log: %+v", tail)
			}
		})
	}
}

// cutWhenRunning is a RunStore that ends the caller's context the moment
// a run is recorded as running: a console session stopped (Ctrl-C,
// SIGTERM) just as its command started a run.
type cutWhenRunning struct {
	actions.RunStore
	cut context.CancelFunc
}

func (s *cutWhenRunning) CreateRun(ctx context.Context, r *actions.Run) error {
	err := s.RunStore.CreateRun(ctx, r)
	if err == nil && r.State == actions.Running {
		s.cut()
	}
	return err
}

func (s *cutWhenRunning) UpdateRun(ctx context.Context, id int64, fn func(*actions.Run) error) (*actions.Run, error) {
	r, err := s.RunStore.UpdateRun(ctx, id, fn)
	if err == nil && r.State == actions.Running {
		s.cut()
	}
	return r, err
}

// A run recorded as running goes on to its end even when the context of
// the command that started it ends at that moment (its session stopped):
// it is never left running in the store with nothing carrying it out and
// nothing holding its environment, while the audit log says it failed.
func TestRunStartsWhenItsCallerGoesAway(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		file  string // what bob asks first, if anything
		start string // what alice types, whose context then ends
	}{
		{"started at once", "", "deploy staging"},
		{"started by its approval", "teardown staging", "approve 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := tempDB(t)
			runs := &cutWhenRunning{RunStore: db, cut: func() {}}
			e := actions.NewEngine(actions.Options{Policy: actionstest.People(), Runs: runs, Locks: db, Audit: db, Environments: []string{"staging"}})
			defer e.Close()
			for _, name := range []string{"deploy", "teardown"} {
				e.Register(&actions.Action{Name: name, Summary: "changes an environment", Mutates: true, Destructive: name == "teardown",
					Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}},
					Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
						return actions.Plan{Summary: name}, nil
					},
					Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
						return nil
					},
				})
			}
			origin := actions.Origin{Platform: "test", Channel: "C1"}
			if tc.file != "" {
				if r := e.Execute(context.Background(), actions.Invocation{Person: "bob", Text: tc.file, Origin: origin}); !strings.Contains(r.Summary, "awaits approval") {
					t.Fatalf("%s: %s", tc.file, r.Summary)
				}
			}
			ctx, cut := context.WithCancel(context.Background())
			runs.cut = cut
			r := e.Execute(ctx, actions.Invocation{Person: "alice", Text: tc.start, Origin: origin})
			e.Wait()
			run, err := db.Run(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if run.State != actions.Succeeded {
				t.Errorf("`%s` answered %q; run 1 is %s %q, want succeeded", tc.start, r.Summary, run.State, run.Error)
			}
			if locks, _ := db.Locks(context.Background()); len(locks) != 0 {
				t.Errorf("staging still held after run 1 ended: %+v", locks)
			}
			tail, _ := db.Tail(context.Background(), 20)
			if !slices.ContainsFunc(tail, func(a actions.AuditEntry) bool {
				return a.Run == 1 && a.Event == "outcome" && a.Detail == "succeeded"
			}) {
				t.Errorf("no succeeded outcome of run 1 in the audit log: %+v", tail)
			}
		})
	}
}

// outcomePanics is the world's chat, panicking at the update that shows
// a run's outcome: a bug in an adapter, or in rendering what it shows.
type outcomePanics struct{ *actionstest.Chat }

func (c outcomePanics) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	if strings.Contains(m.Summary, ": succeeded") {
		panic("chat exploded")
	}
	return c.Chat.Update(ctx, ref, m)
}

// runEndedPanics is an Observer with a bug: it panics when told a run
// ended, before the run's outcome is audited.
type runEndedPanics struct{}

func (runEndedPanics) Command(string, string) {}
func (runEndedPanics) RunEnded(string, actions.RunState, time.Duration) {
	panic("observer exploded")
}
func (runEndedPanics) Audited(string) {}

// A panic while a run's outcome is counted or shown is an adapter's
// failure, not the run's, and not the process's: the run stays
// succeeded, its outcome is audited once, its environment is free, and
// infrabot goes on (an unrecovered panic here ends the test binary, as
// it ended infrabot with every run in flight). The panic is logged with
// where it happened.
func TestPanicEndingARunLeavesTheRestGoing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		set   func(*actionstest.Options)
		chat  func(*actionstest.Chat) actions.Chat
		where string // in the panic's stack
	}{
		{"showing it", func(*actionstest.Options) {}, func(c *actionstest.Chat) actions.Chat { return outcomePanics{c} }, "outcomePanics.Update"},
		{"counting it", func(o *actionstest.Options) { o.Observer = runEndedPanics{} }, func(c *actionstest.Chat) actions.Chat { return c }, "runEndedPanics.RunEnded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs actionstest.Buffer
			w := newWorldWith(t, func(o *actionstest.Options) {
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
				tc.set(o)
			})
			w.Engine.AddChat(actionstest.Platform, tc.chat(w.Chat))
			w.Expect(w.As("alice", "deploy staging"), false, "run 1 started")
			w.gate <- struct{}{}
			w.Engine.Wait()
			if r := w.Run(1); r.State != actions.Succeeded {
				t.Errorf("run 1 = %s %q, want succeeded", r.State, r.Error)
			}
			tail, err := w.DB.Tail(context.Background(), 100)
			if err != nil {
				t.Fatal(err)
			}
			var outcomes []string
			for _, a := range tail {
				if a.Run == 1 && a.Event == "outcome" {
					outcomes = append(outcomes, a.Detail)
				}
			}
			if !slices.Equal(outcomes, []string{"succeeded"}) {
				t.Errorf("run 1's outcomes audited: %q, want one, succeeded", outcomes)
			}
			if log := logs.String(); !strings.Contains(log, "exploded") || !strings.Contains(log, tc.where) {
				t.Errorf("the panic is not logged with its stack:\n%s", log)
			}
			w.Expect(w.As("bob", "deploy staging"), false, "run 2 started")
			close(w.gate)
			w.Engine.Wait()
			if r := w.Run(2); r.State != actions.Succeeded {
				t.Errorf("run 2 = %s %q, want succeeded", r.State, r.Error)
			}
		})
	}
}
