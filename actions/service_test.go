package actions_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
)

// TestShutdownLetsARunFinishWithinGrace: once Shutdown begins, nothing new
// starts and queries still answer; a run that ends within the grace
// period ends as it would have.
func TestShutdownLetsARunFinishWithinGrace(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("bob", "deploy staging"), false, "run 1 started")
	actionstest.WaitFor(t, func() bool { return len(w.Run(1).Steps) == 1 })
	w.Expect(w.As("alice", "teardown production"), false, "request 2 awaits approval")

	done := make(chan int)
	go func() { done <- w.Engine.Shutdown(context.Background()) }()
	actionstest.WaitFor(t, func() bool {
		return strings.Contains(w.As("alice", "deploy production").Summary, "shutting down")
	})
	w.Expect(w.As("dave", "approve 2"), true, "infrabot is shutting down")
	w.Expect(w.As("alice", "lock production"), true, "shutting down")
	w.Expect(w.As("carol", "runs"), false, "deploy staging")
	select {
	case <-done:
		t.Fatal("Shutdown returned while a run was going and the grace period was not over")
	case <-time.After(50 * time.Millisecond):
	}
	close(w.gate)
	if n := <-done; n != 0 {
		t.Errorf("Shutdown interrupted %d runs, want 0", n)
	}
	if r := w.Run(1); r.State != actions.Succeeded {
		t.Errorf("run 1 = %s %q, want succeeded", r.State, r.Error)
	}
	if r := w.Run(2); r.State != actions.AwaitingApproval {
		t.Errorf("the pending request 2 = %s, want still awaiting approval", r.State)
	}
}

// TestShutdownPastGraceInterrupts: a run still going when the grace period
// ends is cancelled and recorded as interrupted, and the audit chain
// holds.
func TestShutdownPastGraceInterrupts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("bob", "deploy staging"), false, "run 1 started")
	actionstest.WaitFor(t, func() bool { return len(w.Run(1).Steps) == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the grace period is over
	if n := w.Engine.Shutdown(ctx); n != 1 {
		t.Errorf("Shutdown interrupted %d runs, want 1", n)
	}
	r := w.Run(1)
	if r.State != actions.Interrupted || !strings.Contains(r.Error, "not re-run") {
		t.Errorf("run 1 = %s %q, want interrupted", r.State, r.Error)
	}
	if n, err := w.DB.VerifyAudit(context.Background()); err != nil || n == 0 {
		t.Errorf("audit after shutdown: %d records, %v", n, err)
	}
	tail, _ := w.DB.Tail(context.Background(), 1)
	if len(tail) != 1 || tail[0].Event != "outcome" || !strings.Contains(tail[0].Detail, "interrupted") {
		t.Errorf("the last audit record is %+v, want the run's interrupted outcome", tail)
	}
}

func settings(w *world, mutate func(people []*actions.Person, roles []*actions.Role) ([]*actions.Person, []*actions.Role)) actions.Settings {
	people := []*actions.Person{
		{Name: "alice", Roles: []string{"admin"}, IDs: map[string]string{"test": "UALICE"}},
		{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{"test": "UBOB"}},
		{Name: "carol", Roles: []string{"viewer"}},
		{Name: "dave", Roles: []string{"admin"}},
		{Name: "erin"},
	}
	roles := []*actions.Role{
		{Name: "viewer", Allow: []string{"help", "whoami", "status", "plan", "runs", "run"}},
		{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"provision", "teardown", "lock", "unlock", "cancel", "approve", "deny", "deploy"}, Environments: []string{"staging"}},
		{Name: "admin", Inherit: []string{"operator"}, Allow: []string{"*"}, Environments: []string{"*"}},
	}
	people, roles = mutate(people, roles)
	return actions.Settings{
		Policy: actions.NewPolicy(people, roles, []actions.ApprovalRule{
			{Actions: []string{"teardown"}, Environments: []string{"*"}, Approvers: []string{"operator", "admin"}, Expires: 15 * time.Minute},
		}),
		Environments: w.Engine.Settings().Environments,
	}
}

// TestReconfigureSwapsPeopleKeepingWork: a reload makes a new person able
// to run a command at once, and a run going and a request waiting go on
// untouched.
func TestReconfigureSwapsPeopleKeepingWork(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("bob", "deploy staging"), false, "run 1 started")
	w.Expect(w.As("bob", "teardown production"), true, "bob may teardown only on staging")
	w.Expect(w.As("alice", "teardown production"), false, "request 2 awaits approval")
	w.Expect(w.As("heidi", "runs"), true, "infrabot does not know you")

	err := w.Engine.Reconfigure(context.Background(), settings(w, func(p []*actions.Person, r []*actions.Role) ([]*actions.Person, []*actions.Role) {
		return append(p, &actions.Person{Name: "heidi", Roles: []string{"admin"}}), r
	}))
	if err != nil {
		t.Fatal(err)
	}
	w.Expect(w.As("heidi", "runs"), false, "deploy staging")
	w.Expect(w.As("heidi", "approve 2"), false, "approved request 2")
	close(w.gate)
	w.Engine.Wait()
	if r := w.Run(1); r.State != actions.Succeeded {
		t.Errorf("run 1 = %s, want succeeded across the reload", r.State)
	}
	if r := w.Run(2); r.State != actions.Succeeded || r.Approval.DecidedBy != "heidi" {
		t.Errorf("request 2 = %s approved by %q", r.State, r.Approval.DecidedBy)
	}
}

// TestReconfigureRefusesToStrandWork: an environment with a request
// waiting cannot leave the config; the settings in force stay.
func TestReconfigureRefusesToStrandWork(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("bob", "teardown staging"), false, "request 1 awaits approval")
	s := settings(w, func(p []*actions.Person, r []*actions.Role) ([]*actions.Person, []*actions.Role) { return p, r })
	s.Environments = []string{"production"}
	err := w.Engine.Reconfigure(context.Background(), s)
	if actions.ErrorKind(err) != actions.Conflict || !strings.Contains(actions.ErrorMessage(err), "staging (awaiting approval 1)") {
		t.Fatalf("removing a busy environment: %v", err)
	}
	if !slices.Contains(w.Engine.Environments(), "staging") {
		t.Error("the refused settings were put in force")
	}
	w.Expect(w.As("alice", "approve 1"), false, "approved request 1")
	w.Engine.Wait()
	if err := w.Engine.Reconfigure(context.Background(), s); err != nil {
		t.Fatalf("removing staging once idle: %v", err)
	}
	w.Expect(w.As("alice", "lock staging"), true, `there is no environment "staging"`)
}

// observed records what an Observer is told.
type observed struct {
	mu       sync.Mutex
	commands []string
	runs     []string
	events   []string
}

func (o *observed) Command(action, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.commands = append(o.commands, action+" "+outcome)
}

func (o *observed) RunEnded(action string, state actions.RunState, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.runs = append(o.runs, action+" "+string(state)+" "+took.String())
}

func (o *observed) Audited(event string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, event)
}

// last is the last command the Observer was told of, "" before any.
func (o *observed) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.commands) == 0 {
		return ""
	}
	return o.commands[len(o.commands)-1]
}

func TestObserverIsToldEveryCommandRunAndRecord(t *testing.T) {
	t.Parallel()
	obs := &observed{}
	w := newWorldWith(t, func(o *actionstest.Options) { o.Observer = obs })
	w.As("carol", "runs")
	w.As("carol", "deploy staging")
	w.As("carol", "florp")
	w.As("carol", "lock")
	w.As("bob", "teardown staging")
	w.As("alice", "approve 1")
	w.Engine.Wait()
	w.As("bob", "deploy staging")
	actionstest.WaitFor(t, func() bool { return len(w.Run(2).Steps) == 1 })
	w.Clock.Advance(90 * time.Second)
	close(w.gate)
	w.Engine.Wait()

	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []string{"runs ok", "deploy permission", "unknown not_found", "lock invalid", "teardown ok", "approve ok", "deploy ok"}
	if !slices.Equal(obs.commands, want) {
		t.Errorf("commands:\n got %q\nwant %q", obs.commands, want)
	}
	if !slices.Equal(obs.runs, []string{"teardown succeeded 0s", "deploy succeeded 1m30s"}) {
		t.Errorf("runs: %q", obs.runs)
	}
	n, err := w.DB.VerifyAudit(context.Background())
	if err != nil || int(n) != len(obs.events) {
		t.Errorf("the observer was told of %d audit records, the log has %d (%v)", len(obs.events), n, err)
	}
	for _, ev := range []string{"request", "refused", "approval-requested", "approved", "started", "outcome"} {
		if !slices.Contains(obs.events, ev) {
			t.Errorf("no %q record was observed: %q", ev, obs.events)
		}
	}
}

// TestRunLogLinesCarryRunAndEnv: a line logged with a run's context, by
// the action or any adapter it calls, names the run and its environment,
// and so do the engine's own lines about the run.
func TestRunLogLinesCarryRunAndEnv(t *testing.T) {
	t.Parallel()
	var buf actionstest.Buffer
	log := slog.New(actions.LogHandler(slog.NewJSONHandler(&buf, nil)))
	w := newWorldWith(t, func(o *actionstest.Options) { o.Logger = log })
	w.Expect(w.As("bob", "deploy staging"), false, "run 1 started")
	actionstest.WaitFor(t, func() bool { return len(w.Run(1).Steps) == 1 })
	w.Engine.Shutdown(canceled())

	var lines int
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		if rec["msg"] == "touching" {
			lines++
			if rec["run"] != float64(1) || rec["env"] != "staging" {
				t.Errorf("the action's line lacks its run: %s", line)
			}
		}
		if _, ok := rec["run"]; ok && rec["env"] == nil {
			t.Errorf("a line about a run has no environment: %s", line)
		}
	}
	if lines != 1 {
		t.Errorf("%d lines from the action, want 1:\n%s", lines, buf.String())
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
