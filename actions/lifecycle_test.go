package actions_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

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

func newWatched(t *testing.T) (*watchedRuns, *storage.DB) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
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
