package actions

import (
	"context"
	"fmt"
	"strings"
	"time"
)

func (e *Engine) approveAction() *Action {
	return &Action{
		Name: "approve", Summary: "approve a pending request (two-person rule)",
		Help: "Approves request <id> and starts it. You cannot approve your own request; you need an approver role " +
			"for the request's environment, under the rule it was made under and under the config in force. The plan is computed again: if it changed since the request, the approval " +
			"is refused and the request must be made again.",
		Args:    []Arg{{Name: "id", Kind: ArgID}},
		Mutates: true,
		Query: func(ctx context.Context, req *Request) (Message, error) {
			return e.approve(ctx, req.Person, req.ID("id"))
		},
	}
}

func (e *Engine) denyAction() *Action {
	return &Action{
		Name: "deny", Summary: "deny a pending request",
		Args:    []Arg{{Name: "id", Kind: ArgID}, {Name: "reason", Kind: ArgText, Optional: true}},
		Mutates: true,
		Query: func(ctx context.Context, req *Request) (Message, error) {
			return e.deny(ctx, req.Person, req.ID("id"), req.Arg("reason"))
		},
	}
}

// pending loads a run that awaits approval, expiring it if its time is up.
func (e *Engine) pending(ctx context.Context, id int64) (*Run, error) {
	run, err := e.runs.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	if run.Approval == nil {
		return nil, Errorf(Invalid, "run %d did not need approval", id)
	}
	if run.State == AwaitingApproval && !e.now().Before(run.Approval.Expires) {
		e.expire(ctx, id, "")
		run, err = e.runs.Run(ctx, id)
		if err != nil {
			return nil, err
		}
	}
	if run.State != AwaitingApproval {
		return nil, Errorf(Conflict, "request %d is not awaiting approval: %s", id, decided(run))
	}
	return run, nil
}

// showApproval updates every copy of r's request message, and the
// requester's notice of where it was posted.
func (e *Engine) showApproval(ctx context.Context, r *Run, now time.Time) {
	m := ApprovalMessage(r, now)
	e.UpdateAll(ctx, r.Approval.Messages, m)
	e.update(ctx, r.Approval.Notice, approvalNotice(m))
}

// approvalNotice is the one-line copy of an approval request the requester
// sees where they typed it, when the request itself went to the approvals
// channel.
func approvalNotice(m Message) Message {
	return Message{Summary: m.Summary, Tone: m.Tone}
}

// decided says how a request ended.
func decided(r *Run) string {
	a := r.Approval
	switch {
	case a == nil:
		return string(r.State)
	case a.State == ApprovalApproved:
		return fmt.Sprintf("already approved by %s at %s (run %s)", a.DecidedBy, a.DecidedAt.UTC().Format("15:04:05 UTC"), r.State)
	case a.State == ApprovalDenied:
		return fmt.Sprintf("denied by %s", a.DecidedBy)
	case a.State == ApprovalExpired:
		return fmt.Sprintf("it expired at %s; make the request again", a.Expires.UTC().Format("15:04:05 UTC"))
	case a.State == ApprovalVoid:
		return "it is void (" + r.Error + "); make the request again"
	}
	return string(r.State)
}

// mayDecide checks that person may approve or deny run under policy, the
// one in force. A reload may have changed who may approve since the
// request was made, so the decider must hold an approver role both under
// the rule the request was made under (its Approvers) and under the rule
// policy gives it now: a tightened rule reaches the requests already
// waiting, and a widened one, or one a reload dropped, never lets a
// request be decided on fewer checks than it was made with.
func (e *Engine) mayDecide(policy *Policy, person *Person, run *Run, verb string) error {
	if person.Name == run.Person {
		return Errorf(Permission, "you cannot %s your own request %d; another person with %s must", verb, run.ID, listOr(run.Approval.Approvers, "an approver role"))
	}
	// An action this infrabot no longer has is taken at its most guarded.
	destructive := true
	if act, ok := e.catalog.Lookup(run.Action); ok {
		destructive = act.Destructive
	}
	rule, needed := policy.ApprovalNeeded(run.Action, run.Env, destructive || run.Plan.Deletes)
	if needed {
		if err := policy.CanApprove(person, rule.Approvers, run.Env); err != nil {
			return err
		}
	}
	err := policy.CanApprove(person, run.Approval.Approvers, run.Env)
	if err != nil && needed {
		return Errorf(Permission, "request %d was made when only a person holding %s on %s could decide it, and %s does not; ask one of them, or have %s make the request again under the rules in force",
			run.ID, listOr(run.Approval.Approvers, "an approver role"), run.Env, person.Name, run.Person)
	}
	return err
}

func (e *Engine) approve(ctx context.Context, person *Person, id int64) (Message, error) {
	if e.stopping() {
		return Message{}, errStopping
	}
	run, err := e.pending(ctx, id)
	if err != nil {
		return Message{}, err
	}
	policy := e.Policy()
	if err := e.mayDecide(policy, person, run, "approve"); err != nil {
		return Message{}, err
	}
	act, ok := e.catalog.Lookup(run.Action)
	if !ok {
		return Message{}, Errorf(Internal, "request %d is for %s, which this infrabot no longer has", id, run.Action)
	}
	// The request runs with its requester's rights, which a reload may
	// have taken away since it was made: an approval lends none.
	requester, ok := policy.Person(run.Person)
	if !ok {
		if err := e.void(ctx, person, run, run.Person+" is no longer in the config", "requester no longer in the config"); err != nil {
			return Message{}, err
		}
		return Message{}, Errorf(Permission, "request %d was made by %s, who is no longer in the config, so it cannot be approved; the request is void", id, run.Person)
	}
	allowed := policy.Allowed(requester, act.Name, run.Env)
	if allowed == nil {
		allowed = flagsAllowed(policy, requester, act, run.Flags, run.Env)
	}
	if err := allowed; err != nil {
		why := fmt.Sprintf("%s may no longer `%s`", run.Person, run.Command)
		if verr := e.void(ctx, person, run, why, "requester no longer allowed: "+ErrorMessage(err)); verr != nil {
			return Message{}, verr
		}
		return Message{}, Errorf(Permission, "request %d cannot be approved: %s (their roles changed since they asked); the request is void", id, why)
	}
	req := &Request{Person: requester, Action: act, Args: run.Args, Flags: run.Flags, Env: run.Env, Origin: run.Origin}
	plan, err := act.Plan(ctx, req)
	if err != nil {
		return Message{}, fmt.Errorf("computing the plan again: %w", err)
	}
	if plan.Hash() != run.Approval.PlanHash {
		if err := e.void(ctx, person, run, "the plan changed before it was approved",
			fmt.Sprintf("plan changed: was %s, now %s (%s)", run.Approval.PlanHash, plan.Hash(), plan.Summary)); err != nil {
			return Message{}, err
		}
		return Message{}, Errorf(Conflict, "the plan for request %d changed since it was made (now: %s), so it cannot be approved; %s must ask again with `%s`",
			id, plan.Summary, run.Person, run.Command)
	}
	// Computing the plan again may have taken minutes (a big environment,
	// a cloud that rate-limits): the request may have expired meanwhile,
	// and an approval is taken only while it lives.
	var now time.Time
	expired := false
	e.startMu.RLock()
	approved, err := e.runs.UpdateRun(ctx, id, func(r *Run) error {
		now, expired = e.now(), false
		if r.State != AwaitingApproval {
			return Errorf(Conflict, "request %d is not awaiting approval: %s", id, decided(r))
		}
		if !now.Before(r.Approval.Expires) {
			expired = true
			r.State, r.Finished = Expired, now
			r.Approval.State, r.Error = ApprovalExpired, "nobody approved it in time"
			return nil
		}
		r.State = Running
		r.Approval.State, r.Approval.DecidedBy, r.Approval.DecidedAt = ApprovalApproved, person.Name, now
		return nil
	})
	if err == nil && !expired {
		e.track(id)
	}
	e.startMu.RUnlock()
	if err != nil {
		return Message{}, err
	}
	if expired {
		e.record(ctx, AuditEntry{Person: "infrabot", Event: "expired", Action: run.Action, Env: run.Env, Run: id})
		e.showApproval(ctx, approved, now)
		return Message{}, Errorf(Conflict, "request %d is not awaiting approval: %s", id, decided(approved))
	}
	// The run is recorded as running: it must start, or be recorded as
	// not started, whatever becomes of the approver's context (a session
	// stopped by Ctrl-C), or it would read as running for ever.
	ctx = context.WithoutCancel(ctx)
	defer e.untrack(id)
	e.record(ctx, AuditEntry{Person: person.Name, Event: "approved", Action: run.Action, Env: run.Env, Run: id, Detail: run.Command + " (plan " + run.Approval.PlanHash + ")"})
	e.showApproval(ctx, approved, now)
	if err := e.begin(ctx, approved); err != nil {
		return Message{}, Errorf(Conflict, "approved request %d, but it could not start: %s", id, ErrorMessage(err))
	}
	e.record(ctx, AuditEntry{Person: run.Person, Event: "started", Action: run.Action, Env: run.Env, Run: id, Detail: run.Command + ": " + plan.Summary})
	if err := e.launch(ctx, approved, req, plan); err != nil {
		return Message{}, Errorf(ErrorKind(err), "approved request %d, but it could not start: %s", id, ErrorMessage(err))
	}
	return Message{Summary: fmt.Sprintf("approved request %d (`%s` by %s); run %d started", id, run.Command, run.Person, id), Tone: ToneSuccess}, nil
}

// void ends run's request unapproved because it can no longer be
// approved as it was made (why, for people), audited with detail as
// found by person, and updates its messages.
func (e *Engine) void(ctx context.Context, person *Person, run *Run, why, detail string) error {
	now := e.now()
	voided, err := e.runs.UpdateRun(ctx, run.ID, func(r *Run) error {
		if r.State != AwaitingApproval {
			return Errorf(Conflict, "request %d is not awaiting approval: %s", r.ID, decided(r))
		}
		r.State, r.Error, r.Finished = Expired, why, now
		r.Approval.State = ApprovalVoid
		return nil
	})
	if err != nil {
		return err
	}
	e.record(ctx, AuditEntry{Person: person.Name, Event: "approval-void", Action: run.Action, Env: run.Env, Run: run.ID, Detail: detail})
	e.showApproval(ctx, voided, now)
	return nil
}

func (e *Engine) deny(ctx context.Context, person *Person, id int64, reason string) (Message, error) {
	run, err := e.pending(ctx, id)
	if err != nil {
		return Message{}, err
	}
	if err := e.mayDecide(e.Policy(), person, run, "deny"); err != nil {
		return Message{}, err
	}
	now := e.now()
	denied, err := e.runs.UpdateRun(ctx, id, func(r *Run) error {
		if r.State != AwaitingApproval {
			return Errorf(Conflict, "request %d is not awaiting approval: %s", id, decided(r))
		}
		r.State, r.Finished = Denied, now
		r.Error = "denied by " + person.Name
		if reason != "" {
			r.Error += ": " + reason
		}
		r.Approval.State, r.Approval.DecidedBy, r.Approval.DecidedAt, r.Approval.Reason = ApprovalDenied, person.Name, now, reason
		return nil
	})
	if err != nil {
		return Message{}, err
	}
	e.record(ctx, AuditEntry{Person: person.Name, Event: "denied", Action: run.Action, Env: run.Env, Run: id, Detail: reason})
	e.showApproval(ctx, denied, now)
	return Message{Summary: fmt.Sprintf("denied request %d (`%s` by %s)", id, run.Command, run.Person), Tone: ToneWarning}, nil
}

// expire ends a pending request whose time is up. by is "" for expiry, or
// the person who withdrew it.
func (e *Engine) expire(ctx context.Context, id int64, by string) (*Run, error) {
	now := e.now()
	r, err := e.runs.UpdateRun(ctx, id, func(r *Run) error {
		if r.State != AwaitingApproval {
			return Errorf(Conflict, "request %d is not awaiting approval: %s", id, decided(r))
		}
		r.Finished = now
		if by == "" {
			if now.Before(r.Approval.Expires) {
				return Errorf(Conflict, "request %d has not expired", id)
			}
			r.State, r.Approval.State, r.Error = Expired, ApprovalExpired, "nobody approved it in time"
		} else {
			r.State, r.Approval.State, r.Error = Cancelled, ApprovalVoid, "withdrawn by "+by
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	event := "expired"
	if by != "" {
		event = "withdrawn"
	}
	e.record(ctx, AuditEntry{Person: nonEmpty(by, "infrabot"), Event: event, Action: r.Action, Env: r.Env, Run: id})
	e.showApproval(ctx, r, now)
	return r, nil
}

func nonEmpty(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// ExpireApprovals ends every pending request whose time is up and updates
// its messages. The scheduler calls it every 15 seconds (ScheduleSweep).
func (e *Engine) ExpireApprovals(ctx context.Context) error {
	runs, err := e.runs.Runs(ctx, RunFilter{States: []RunState{AwaitingApproval}})
	if err != nil {
		return err
	}
	now := e.now()
	for _, r := range runs {
		if r.Approval != nil && !now.Before(r.Approval.Expires) {
			if _, err := e.expire(ctx, r.ID, ""); err != nil && ErrorKind(err) != Conflict {
				return err
			}
		}
	}
	return nil
}

// Recover is called once at start: runs that were going when infrabot
// stopped (a crash, kill -9) are marked interrupted, never re-run, their
// environments' run locks are released and each is audited before it
// returns; each is then announced where it was requested, in the
// background, so that a chat that is down does not hold up the start
// (Wait and Close wait for the announcements, Close at most
// CloseChatWait). It returns the interrupted runs. A run that cannot be
// marked is retried a few times, each failure logged; if it still cannot
// be, Recover goes on with the others and then returns an error naming
// it: infrabot must not serve with a run recorded as running and its lock
// held by nobody.
func (e *Engine) Recover(ctx context.Context) ([]*Run, error) {
	runs, err := e.runs.Runs(ctx, RunFilter{States: []RunState{Running}})
	if err != nil {
		return nil, err
	}
	var out []*Run
	var failed []string
	var announce []func(context.Context)
	for _, r := range runs {
		saved, err := e.interrupt(ctx, r.ID)
		if err != nil {
			failed = append(failed, fmt.Sprintf("run %d (%s): %v", r.ID, r.Command, err))
			continue
		}
		if saved == nil {
			continue // it ended meanwhile
		}
		now := e.now()
		if saved.Env != "" {
			e.releaseRunLock(ctx, saved)
		}
		e.record(ctx, AuditEntry{Person: "infrabot", Event: "interrupted", Action: saved.Action, Env: saved.Env, Run: saved.ID, Detail: saved.Command})
		shown := RunMessage(saved, now)
		notice := Message{
			Summary: fmt.Sprintf("run %d (`%s` by %s) was interrupted: infrabot stopped while it ran. It was not re-run; check `status %s` and run it again if needed.",
				saved.ID, saved.Command, saved.Person, saved.Env),
			Tone: ToneWarning,
		}
		announce = append(announce, func(ctx context.Context) {
			e.update(ctx, saved.Progress, shown)
			e.post(ctx, saved.Origin, notice)
		})
		out = append(out, saved)
	}
	e.releaseStaleHolds(ctx)
	if len(announce) > 0 {
		e.announcing.Add(1)
		go func() {
			defer e.announcing.Done()
			ctx, cancel := e.chatContext(ctx)
			defer cancel()
			for _, a := range announce {
				a(ctx)
			}
		}()
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("%d runs left running by the last stop could not be marked interrupted: %s", len(failed), strings.Join(failed, "; "))
	}
	return out, nil
}

// releaseStaleHolds gives back every environment held by a run that has
// ended (or is gone): a hold outlives its run when giving it back failed
// once (a store error), and nothing else would ever clear it.
func (e *Engine) releaseStaleHolds(ctx context.Context) {
	locks, err := e.locks.Locks(ctx)
	if err != nil {
		e.log.Error("reading the locks to release those of ended runs failed", "err", err)
		return
	}
	for _, l := range locks {
		if l.RunID == 0 {
			continue
		}
		ended, state := e.holdEnded(ctx, l.RunID)
		if !ended {
			continue
		}
		run := &Run{ID: l.RunID, Env: l.Env, Person: l.Person}
		e.runLog(run).Warn("a run's hold on its environment outlived the run; released", "state", state)
		e.releaseRunLock(ctx, run)
		e.record(ctx, AuditEntry{Person: "infrabot", Event: "run-lock-released", Env: l.Env, Run: l.RunID,
			Detail: fmt.Sprintf("run %d had ended (%s) but still held %s", l.RunID, state, l.Env)})
	}
}

// holdEnded reports whether run id, which holds an environment, has
// ended (or is not in the store), and its state for people.
func (e *Engine) holdEnded(ctx context.Context, id int64) (bool, string) {
	r, err := e.runs.Run(ctx, id)
	switch {
	case ErrorKind(err) == NotFound:
		return true, "not in the store"
	case err != nil:
		e.log.Error("reading a run that holds an environment failed", "run", id, "err", err)
		return false, ""
	}
	return r.State.Done(), string(r.State)
}

// recoverAttempts and recoverBackoff bound how hard Recover tries to mark
// one run interrupted.
var (
	recoverAttempts = 3
	recoverBackoff  = 50 * time.Millisecond
)

// interrupt marks run id interrupted, retrying a failed update. It returns
// nil, nil when the run is no longer running.
func (e *Engine) interrupt(ctx context.Context, id int64) (*Run, error) {
	var err error
	for attempt := 1; attempt <= recoverAttempts; attempt++ {
		now := e.now()
		var saved *Run
		ended := false
		saved, err = e.runs.UpdateRun(ctx, id, func(r *Run) error {
			if r.State != Running {
				ended = true
				return Errorf(Conflict, "run %d is no longer running", r.ID)
			}
			r.State, r.Finished = Interrupted, now
			r.Error = "infrabot stopped while this ran; it was not re-run — check the environment and run it again if needed"
			return nil
		})
		if ended {
			return nil, nil
		}
		if err == nil {
			if ierr := e.interruptSteps(ctx, saved, now); ierr != nil {
				e.log.Error("recording the interrupted steps of a run failed", "run", id, "err", ierr)
			}
			return saved, nil
		}
		e.log.Error("marking a run interrupted failed", "run", id, "attempt", attempt, "of", recoverAttempts, "err", err)
		if attempt < recoverAttempts {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt) * recoverBackoff):
			}
		}
	}
	return nil, err
}
