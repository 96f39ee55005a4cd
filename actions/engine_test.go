package actions_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/storage"
)

func TestDenyByDefault(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tests := []struct {
		name, person, text string
		refused            bool
		want               []string
	}{
		{"unknown person may ask for help", "", "help", false, []string{"does not know you"}},
		{"unknown person may ask who they are", "", "whoami", false, []string{"does not know you"}},
		{"unknown person is refused anything else", "", "runs", true, []string{"does not know you"}},
		{"person without roles is refused", "erin", "runs", true, []string{"erin may not runs", "none"}},
		{"viewer may not lock", "carol", "lock staging", true, []string{"carol may not lock", "viewer"}},
		{"operator may not lock production", "bob", "lock production", true, []string{"bob may lock only on staging, not on production"}},
		{"admin may lock production", "alice", "lock production maintenance", false, []string{"production is locked by alice"}},
		{"unknown command suggests", "alice", "teardwn staging", true, []string{"did you mean `teardown`"}},
		{"unknown environment", "alice", "lock stagin", true, []string{`no environment "stagin"`}},
		{"extra argument refused with usage", "alice", "approve incident 42", true, []string{"Usage: `approve <id>`"}},
		{"not a number", "alice", "run abc", true, []string{`"abc" is not an id`}},
		{"unknown flag", "alice", "unlock staging --hard", true, []string{"no flag --hard"}},
		{"unclosed quote", "alice", `lock staging "oops`, true, []string{"quote is not closed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.T = t
			w.Expect(w.As(tc.person, tc.text), tc.refused, tc.want...)
		})
	}
}

func TestHelpListsOnlyWhatYouMayDo(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	carol := strings.Join(w.As("carol", "help").Lines, "\n")
	if !strings.Contains(carol, "runs") || strings.Contains(carol, "lock <env>") || strings.Contains(carol, "teardown") {
		t.Errorf("carol's help should list runs but not lock or teardown:\n%s", carol)
	}
	alice := strings.Join(w.As("alice", "help").Lines, "\n")
	for _, c := range []string{"lock <env>", "teardown <env>", "audit"} {
		if !strings.Contains(alice, c) {
			t.Errorf("alice's help lacks %q:\n%s", c, alice)
		}
	}
	w.Expect(w.As("carol", "help approve"), false, "usage: approve <id>")
}

func TestLocks(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("bob", `lock staging "db upgrade"`), false, "understood: `lock staging \"db upgrade\"`", "staging is locked by bob")
	w.Expect(w.As("alice", "lock staging"), true, "staging is locked by bob", `"db upgrade"`, "since 2026-11-21 12:00 UTC")
	w.Expect(w.As("alice", "deploy staging"), true, "locked by bob")
	w.Expect(w.As("alice", "unlock staging"), true, "locked by bob, not you", "--force")
	w.Expect(w.As("bob", "unlock staging --force"), true, "`unlock --force` needs a role that allows unlock-force, and none of bob's (operator, viewer) does")

	// bob's own runs go ahead under his lock, and leave it in place.
	w.Expect(w.As("bob", "deploy staging"), false, "run 1 started")
	w.Expect(w.As("bob", "deploy staging"), true, "in use by their run 1")
	close(w.gate)
	w.Engine.Wait()
	if r := w.Run(1); r.State != actions.Succeeded {
		t.Fatalf("run 1: %s %s", r.State, r.Error)
	}
	w.Expect(w.As("alice", "lock staging"), true, "locked by bob")

	// The lock survives a restart; an admin can break it, and it is audited.
	w.Restart()
	w.Expect(w.As("alice", "lock staging"), true, "locked by bob")
	w.Expect(w.As("alice", "unlock staging --force"), false, "bob's lock on staging is broken")
	tail, err := w.DB.Tail(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if !hasEvent(tail, "lock-broken") {
		t.Errorf("breaking a lock is not audited: %+v", tail)
	}
	w.Expect(w.As("alice", "lock staging"), false, "locked by alice")
}

func hasEvent(entries []actions.AuditEntry, event string) bool {
	for _, e := range entries {
		if e.Event == event {
			return true
		}
	}
	return false
}

func TestTwoPersonRule(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("bob", "teardown staging"), false, "request 1 awaits approval by operator, admin")
	msg, ok := w.Chat.Find("request 1")
	if !ok || len(msg.Buttons) != 2 || msg.Buttons[0].Command != "approve 1" {
		t.Fatalf("approval message with buttons not posted: %+v", msg)
	}
	w.Expect(w.As("bob", "approve 1"), true, "cannot approve your own request")
	w.Expect(w.As("carol", "approve 1"), true, "carol may not approve")
	if w.wipes.Load() != 0 {
		t.Fatal("ran before approval")
	}
	w.Expect(w.As("alice", "approve 1"), false, "approved request 1", "run 1 started")
	w.Engine.Wait()
	if got := w.wipes.Load(); got != 1 {
		t.Fatalf("teardown executed %d times, want 1", got)
	}
	w.Expect(w.As("dave", "approve 1"), true, "already approved by alice")
	if r := w.Run(1); r.State != actions.Succeeded || r.Approval.DecidedBy != "alice" {
		t.Errorf("run 1 = %s, approved by %q", r.State, r.Approval.DecidedBy)
	}
	msg, _ = w.Chat.Find("request 1")
	if len(msg.Buttons) != 0 || !strings.Contains(msg.Text, "Approved by alice") {
		t.Errorf("approval message not updated after the decision: %+v", msg)
	}
	if w.wipes.Load() != 1 {
		t.Fatal("a second approval ran it again")
	}
}

func TestApprovalExpires(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.As("bob", "teardown staging")
	w.Clock.Advance(15*time.Minute + time.Second)
	w.Expect(w.As("alice", "approve 1"), true, "expired")
	if r := w.Run(1); r.State != actions.Expired {
		t.Errorf("state %s, want expired", r.State)
	}
	// The sweep, on the scheduler, expires requests nobody touches, and
	// updates their message.
	if err := w.Engine.ScheduleSweep(); err != nil {
		t.Fatal(err)
	}
	w.As("bob", "teardown staging")
	w.Clock.Advance(16 * time.Minute)
	if n := w.Tick(); n != 1 {
		t.Fatalf("%d jobs fired, want the sweep", n)
	}
	if r := w.Run(2); r.State != actions.Expired {
		t.Errorf("swept state %s, want expired", r.State)
	}
	if msg, _ := w.Chat.Find("request 2"); len(msg.Buttons) != 0 {
		t.Errorf("expired request still shows buttons: %+v", msg)
	}
	if w.wipes.Load() != 0 {
		t.Fatal("an expired request ran")
	}
}

func TestPlanChangeVoidsApproval(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.As("bob", "teardown staging")
	w.planLines.Store([]string{"- wipe everything", "- and one more thing"})
	w.Expect(w.As("alice", "approve 1"), true, "plan for request 1 changed", "ask again with `teardown staging`")
	if r := w.Run(1); r.State != actions.Expired || r.Approval.State != actions.ApprovalVoid {
		t.Errorf("run 1 = %s / %s, want expired / void", r.State, r.Approval.State)
	}
	w.Expect(w.As("dave", "approve 1"), true, "not awaiting approval")
	if w.wipes.Load() != 0 {
		t.Fatal("ran with a changed plan")
	}
}

func TestRacingApprovalsRunOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.As("bob", "teardown staging")
	var wg sync.WaitGroup
	var mu sync.Mutex
	approved := 0
	for i := range 16 {
		who := []string{"alice", "dave"}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := w.As(who, "approve 1")
			if r.Tone != actions.ToneDanger {
				mu.Lock()
				approved++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	w.Engine.Wait()
	if approved != 1 || w.wipes.Load() != 1 {
		t.Fatalf("%d approvals accepted, %d executions; want exactly 1 and 1", approved, w.wipes.Load())
	}
}

func TestPendingApprovalSurvivesRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.As("bob", "teardown staging")
	w.Restart()
	w.Expect(w.As("bob", "approve 1"), true, "own request")
	w.Expect(w.As("alice", "approve 1"), false, "approved request 1")
	w.Engine.Wait()
	if w.wipes.Load() != 1 {
		t.Fatal("the approved request did not run after the restart")
	}
}

func TestDenyAndWithdraw(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.As("bob", "teardown staging")
	w.Expect(w.As("alice", "deny 1 not during the release"), false, "denied request 1")
	if r := w.Run(1); r.State != actions.Denied || r.Approval.Reason != "not during the release" {
		t.Errorf("run 1 = %s (%q)", r.State, r.Approval.Reason)
	}
	w.Expect(w.As("dave", "approve 1"), true, "denied by alice")
	w.As("bob", "teardown staging")
	w.Expect(w.As("bob", "cancel 2"), false, "withdrew request 2")
	w.Expect(w.As("alice", "approve 2"), true, "not awaiting approval")
	if w.wipes.Load() != 0 {
		t.Fatal("a denied or withdrawn request ran")
	}
}

func TestCancelRunningRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("bob", "deploy staging"), false, "run 1 started")
	actionstest.WaitFor(t, func() bool { return len(w.Run(1).Steps) == 1 })
	w.Expect(w.As("carol", "cancel 1"), true, "carol may not cancel")
	w.Expect(w.As("alice", "cancel 1"), false, "cancelling run 1")
	w.Engine.Wait()
	r := w.Run(1)
	if r.State != actions.Cancelled || r.Error != "cancelled by alice" {
		t.Errorf("run 1 = %s %q, want cancelled by alice", r.State, r.Error)
	}
	// The run's lock went with it.
	w.Expect(w.As("alice", "lock staging"), false, "locked by alice")
}

func TestInterruptedRunIsMarkedNotRerun(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("bob", "deploy staging"), false, "run 1 started")
	actionstest.WaitFor(t, func() bool { return len(w.Run(1).Steps) == 1 })
	// A crash: the store is left as it was, with the run "running" and
	// holding the lock. Simulate it by reopening a copy of the file.
	crashed := copyStore(t, w)
	w.Path = crashed
	w.Restart()
	w.Engine.Wait() // the announcement is made in the background
	r := w.Run(1)
	if r.State != actions.Interrupted || !strings.Contains(r.Error, "not re-run") {
		t.Fatalf("after a crash run 1 = %s %q, want interrupted", r.State, r.Error)
	}
	announced := ""
	for _, p := range w.Chat.Posts() {
		if strings.Contains(p.Message.Summary, "run 1 (`deploy staging` by bob) was interrupted") {
			announced = p.To
		}
	}
	if announced != "C1" {
		t.Errorf("the interrupted run was announced in %q, want C1, the channel it was requested in", announced)
	}
	w.Expect(w.As("alice", "lock staging"), false, "locked by alice")
}

func TestAuditRecordsEveryStep(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.As("carol", "lock staging")
	w.As("bob", "teardown staging")
	w.As("alice", "approve 1")
	w.Engine.Wait()
	entries, err := w.DB.Tail(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range entries {
		events = append(events, e.Person+":"+e.Event)
	}
	got := strings.Join(events, " ")
	for _, want := range []string{"carol:request", "carol:refused", "bob:approval-requested", "alice:approved", "bob:started", "bob:outcome"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %s: %s", want, got)
		}
	}
	if n, err := w.DB.VerifyAudit(context.Background()); err != nil || n != uint64(len(entries)) {
		t.Errorf("verify = %d, %v", n, err)
	}
	w.Expect(w.As("bob", "audit"), true, "bob may not audit")
	w.Expect(w.As("alice", "audit 3"), false, "the last 3 audit records")
}

// TestAuditOutputShowsOneRecordPerLine checks that a request typed over
// two lines, even by a person with no role, cannot pass for a second
// record in an admin's audit output: the record keeps the text as typed
// (the chain hashes it), and the output shows its line break escaped.
func TestAuditOutputShowsOneRecordPerLine(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	forged := "whoami\n 99 2026-11-21 12:00:00 dave       approved           teardown production run 7\r\x1b[2K\u2028x\u202eyz"
	w.As("erin", forged)
	r := w.As("alice", "audit")
	var request string
	for _, l := range r.Lines {
		if strings.ContainsFunc(l, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u202e' }) {
			t.Errorf("an audit line holds a control character, so it may show as two records: %q", l)
		}
		if strings.Contains(l, "request") && strings.Contains(l, "whoami") {
			request = l
		}
	}
	if want := `— whoami\n 99 2026-11-21 12:00:00 dave       approved           teardown production run 7\r\x1b[2K\u2028x\u202eyz`; !strings.HasSuffix(request, want) {
		t.Errorf("erin's request shows as %q, want it to end %q", request, want)
	}
	entries, err := w.DB.Tail(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e actions.AuditEntry) bool { return e.Event == "request" && e.Detail == forged }) {
		t.Error("the request is not stored as it was typed")
	}
}

// TestUnlockForceIsGrantedByName checks that a role can grant breaking
// locks by naming unlock-force, without "*".
func TestUnlockForceIsGrantedByName(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("bob", "lock staging"), false, "staging is locked by bob")
	w.Expect(w.As("frank", "unlock staging --force"), false, "bob's lock on staging is broken")
	w.Expect(w.As("frank", "lock production"), true, "frank may lock only on staging, not on production")
	if perms := w.Engine.Permissions(); !slices.Contains(perms, "unlock-force") || !slices.Contains(perms, "unlock") ||
		slices.Contains(perms, "oncall") || slices.Contains(perms, "force") {
		t.Errorf("Permissions() = %v: want the catalogue's actions and unlock-force, and no command this engine lacks", perms)
	}
}

func TestMistypedCommandSuggestsFromTheCatalogue(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("alice", "aprove 3"), true, "there is no command `aprove` (did you mean `approve`?)")
	w.Expect(w.As("alice", "cancle 3"), true, "(did you mean `cancel`?)")
	w.Expect(w.As("alice", "oncall"), true, "there is no command `oncall`")
}

// TestDrainRefusesNewWorkAndLetsRunsFinish checks the first half of a
// stop: nothing new starts, and a run in flight goes on to its end.
func TestDrainRefusesNewWorkAndLetsRunsFinish(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("alice", "deploy staging"), false, "run 1 started")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := w.Engine.Drain(ctx); err == nil {
		t.Fatal("Drain returned while run 1 was still waiting on its gate")
	}
	w.Expect(w.As("alice", "deploy production"), true, "infrabot is shutting down")
	close(w.gate)
	if err := w.Engine.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := w.Run(1); r.State != actions.Succeeded {
		t.Errorf("run 1 is %s (%s), want succeeded: a drain lets it finish", r.State, r.Error)
	}
}

// One cancel decides a run's end: a second, while the run is still
// reaching its safe point, is refused and changes neither who the run
// says cancelled it nor the audit log.
func TestSecondCancelChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	stopped := make(chan struct{})
	w.Engine.Register(&actions.Action{
		Name: "drain", Summary: "test-only action that takes its time to stop",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "drain"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			step := p.Step(ctx, "drain")
			<-ctx.Done()
			<-stopped
			step.Fail(ctx, ctx.Err())
			return ctx.Err()
		},
	})
	w.Expect(w.As("alice", "drain staging"), false, "run 1 started")
	actionstest.WaitFor(t, func() bool { return len(w.Run(1).Steps) == 1 })
	w.Expect(w.As("bob", "cancel 1"), false, "cancelling run 1")
	w.Expect(w.As("alice", "cancel 1"), true, "being cancelled already, by bob")
	close(stopped)
	w.Engine.Wait()
	if r := w.Run(1); r.State != actions.Cancelled || r.Error != "cancelled by bob" {
		t.Errorf("run 1 = %s %q, want cancelled by bob", r.State, r.Error)
	}
	entries, err := w.DB.Tail(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	cancels := 0
	for _, e := range entries {
		if e.Event == "cancel" && e.Run == 1 {
			cancels++
		}
	}
	if cancels != 1 {
		t.Errorf("%d cancel decisions audited for run 1, want 1", cancels)
	}
}

// A run that failed on its own and is cancelled before it returns (it
// was cleaning up) ends failed with its own reason, which a cancel must
// not hide; the reason says a cancel came meanwhile. A run that stops
// because of the cancel still ends cancelled by whoever asked.
func TestCancelDoesNotHideARunsOwnFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	hold := make(chan struct{})
	w.Engine.Register(&actions.Action{
		Name: "fail", Summary: "test-only action that fails on its own, then cleans up",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "fail"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			err := actions.Errorf(actions.Conflict, "the cloud said no")
			p.Step(ctx, "ask").Fail(ctx, err)
			<-hold
			return err
		},
	})
	w.Expect(w.As("alice", "fail staging"), false, "run 1 started")
	actionstest.WaitFor(t, func() bool { s := w.Run(1).Steps; return len(s) == 1 && s[0].State == actions.Failed })
	w.Expect(w.As("bob", "cancel 1"), false, "cancelling run 1")
	close(hold)
	w.Engine.Wait()
	if r := w.Run(1); r.State != actions.Failed || r.Error != "the cloud said no (a cancel by bob came meanwhile)" {
		t.Errorf("run 1 = %s %q, want failed: the cloud said no, saying bob's cancel came meanwhile", r.State, r.Error)
	}
}

// startHeld is the store's AuditLog, holding the record that run 1
// started until release is closed (entered is closed when it is held):
// the moment a run is recorded as running but not yet carried out.
type startHeld struct {
	*storage.DB
	entered, release chan struct{}
}

func (a *startHeld) Append(ctx context.Context, e actions.AuditEntry) (actions.AuditEntry, error) {
	if e.Event == "started" && e.Run == 1 {
		close(a.entered)
		<-a.release
	}
	return a.DB.Append(ctx, e)
}

// A cancel of a run that is starting (recorded as running, its
// goroutine not yet under way) is taken, not refused as "not running in
// this infrabot" while the run goes ahead: the run ends cancelled, having
// done nothing, and the command that started it says so.
func TestCancelWhileARunStartsStopsIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		file  string // what alice asks first, if anything
		start string // what starts run 1
		reply string // what the starter is answered
	}{
		{"started at once", "", "deploy staging", "run 1 was cancelled by bob before it began"},
		{"started by its approval", "teardown staging", "approve 1", "approved request 1, but it could not start: run 1 was cancelled by bob before it began"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := tempDB(t)
			audit := &startHeld{DB: db, entered: make(chan struct{}), release: make(chan struct{})}
			e := actions.NewEngine(actions.Options{Policy: actionstest.People(), Runs: db, Locks: db, Audit: audit, Environments: []string{"staging"}})
			defer e.Close()
			var ran atomic.Int32
			for _, name := range []string{"deploy", "teardown"} {
				e.Register(&actions.Action{Name: name, Summary: "changes an environment", Mutates: true, Destructive: name == "teardown",
					Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}},
					Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
						return actions.Plan{Summary: name}, nil
					},
					Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
						ran.Add(1)
						return nil
					},
				})
			}
			as := func(person, text string) actions.Reply {
				return e.Execute(context.Background(), actions.Invocation{Person: person, Text: text, Origin: actions.Origin{Platform: "test", Channel: "C1"}})
			}
			if tc.file != "" {
				if r := as("alice", tc.file); !strings.Contains(r.Summary, "awaits approval") {
					t.Fatalf("%s: %s", tc.file, r.Summary)
				}
			}
			started := make(chan actions.Reply)
			go func() { started <- as("dave", tc.start) }()
			<-audit.entered
			cancel := as("bob", "cancel 1")
			close(audit.release)
			start := <-started
			e.Wait()
			if !strings.Contains(cancel.Summary, "cancelling run 1") {
				t.Errorf("cancel 1 while run 1 started answered %q, want cancelling run 1", cancel.Summary)
			}
			if !strings.Contains(start.Summary, tc.reply) {
				t.Errorf("`%s` answered %q, want %q", tc.start, start.Summary, tc.reply)
			}
			run, err := db.Run(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if run.State != actions.Cancelled || !strings.HasPrefix(run.Error, "cancelled by bob") || ran.Load() != 0 {
				t.Errorf("run 1 = %s %q, carried out %d times; want cancelled by bob, not carried out", run.State, run.Error, ran.Load())
			}
			if locks, _ := db.Locks(context.Background()); len(locks) != 0 {
				t.Errorf("staging still held after run 1 ended: %+v", locks)
			}
			tail, _ := db.Tail(context.Background(), 20)
			if !slices.ContainsFunc(tail, func(a actions.AuditEntry) bool {
				return a.Run == 1 && a.Event == "outcome" && strings.HasPrefix(a.Detail, "cancelled: cancelled by bob")
			}) {
				t.Errorf("no cancelled outcome of run 1 in the audit log: %+v", tail)
			}
		})
	}
}

// TestRunsAndApprovalsShowOneLinePerItem checks that text a person typed
// and a run keeps (its command, a deny reason; a run stored before the
// parser refused control characters in quotes may hold one) shows its
// line breaks escaped, so that it cannot pass for another line.
func TestRunsAndApprovalsShowOneLinePerItem(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	now := w.Clock.Now()
	run := &actions.Run{Action: "lock", Env: "staging", Command: "lock staging \"x\n#99   succeeded  teardown production\"", Person: "bob",
		State: actions.Denied, Created: now, Finished: now,
		Approval: &actions.Approval{State: actions.ApprovalDenied, DecidedBy: "alice", DecidedAt: now, Reason: "no\nApproved by dave."}}
	if err := w.DB.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	for _, l := range w.As("alice", "runs").Lines {
		if strings.Contains(l, "\n") {
			t.Errorf("a runs line holds a line break, so it shows as two runs: %q", l)
		}
	}
	m := actions.ApprovalMessage(run, now)
	if strings.Contains(m.Summary, "\n") || !strings.HasSuffix(m.Text, `Reason: no\nApproved by dave.`) {
		t.Errorf("the deny reason shows as %q (summary %q), want its line break escaped", m.Text, m.Summary)
	}
}
