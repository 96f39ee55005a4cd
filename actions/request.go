package actions

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"
)

// request starts a run, or files it for approval.
func (e *Engine) request(ctx context.Context, req *Request) (Reply, error) {
	if e.stopping() {
		return Reply{}, errStopping
	}
	act := req.Action
	if req.Env != "" {
		done, err := e.startFiling(req.Env)
		if err != nil {
			return Reply{}, err
		}
		defer done()
		if err := e.lockAllowsRun(ctx, req.Env, req.Person.Name); err != nil {
			return Reply{}, err
		}
	}
	plan, err := act.Plan(ctx, req)
	if err != nil {
		return Reply{}, err
	}
	if plan.Empty && act.Destructive {
		return Reply{Message: Message{Summary: fmt.Sprintf("`%s`: nothing to do", req.Text()), Lines: plan.Lines}}, nil
	}
	now := e.now()
	run := &Run{
		Action: act.Name, Env: req.Env, Command: req.Text(),
		Args: req.Args, Flags: req.Flags,
		Person: req.Person.Name, Origin: req.Origin,
		State: Running, Created: now, Plan: plan,
	}
	s := req.settings
	if s == nil {
		s = e.Settings()
	}
	rule, needsApproval := s.Policy.ApprovalNeeded(act.Name, req.Env, act.Destructive || plan.Deletes)
	if needsApproval {
		run.State = AwaitingApproval
		run.Approval = &Approval{
			State: ApprovalPending, Approvers: rule.Approvers,
			PlanHash: plan.Hash(), Expires: now.Add(rule.Expires),
		}
	}
	e.startMu.RLock()
	err = e.runs.CreateRun(ctx, run)
	if err == nil && !needsApproval {
		e.track(run.ID)
	}
	e.startMu.RUnlock()
	if err != nil {
		return Reply{}, fmt.Errorf("recording the run: %w", err)
	}
	if !needsApproval {
		defer e.untrack(run.ID)
		// The run is recorded as running: it must start, or be recorded
		// as not started, whatever becomes of the caller (a session
		// stopped by Ctrl-C), or it would read as running for ever.
		ctx = context.WithoutCancel(ctx)
		if err := e.begin(ctx, run); err != nil {
			return Reply{}, err
		}
		e.record(ctx, AuditEntry{Person: run.Person, Event: "started", Action: run.Action, Env: run.Env, Run: run.ID, Detail: run.Command + ": " + plan.Summary})
		if err := e.launch(ctx, run, req, plan); err != nil {
			return Reply{}, err
		}
		return Reply{Message: Message{Summary: understood(req, fmt.Sprintf("— run %d started", run.ID))}}, nil
	}
	e.record(ctx, AuditEntry{Person: run.Person, Event: "approval-requested", Action: run.Action, Env: run.Env, Run: run.ID,
		Detail: fmt.Sprintf("%s: %s (plan %s, approvers %v)", run.Command, plan.Summary, run.Approval.PlanHash, rule.Approvers)})
	refs, notice, where := e.postApproval(ctx, run)
	if len(refs) > 0 || notice != nil {
		saved, err := e.runs.UpdateRun(ctx, run.ID, func(r *Run) error { r.Approval.Messages, r.Approval.Notice = refs, notice; return nil })
		switch {
		case err != nil:
			e.runLog(run).Warn("saving the approval message references failed", "err", err)
		case saved.State != AwaitingApproval:
			// Decided (a click on the first copy, an expiry) while the
			// copies were being posted: the decision updated the copies
			// it knew, which were none, so these would offer Approve and
			// Deny for ever.
			e.showApproval(ctx, saved, e.now())
		}
	}
	return Reply{Message: Message{Summary: understood(req, fmt.Sprintf("— request %d awaits approval by %s%s (expires in %s)",
		run.ID, listOr(rule.Approvers, "an approver"), where, elapsed(rule.Expires)))}}, nil
}

// startFiling counts a request on env as being filed until done is
// called, once its run is in the store (or it was refused): from then on
// a reload sees the run, and until then it sees the count. It refuses an
// environment a reload has removed since the command was read.
func (e *Engine) startFiling(env string) (done func(), err error) {
	e.filingMu.Lock()
	defer e.filingMu.Unlock()
	if envs := e.Settings().Environments; !slices.Contains(envs, env) {
		return nil, Errorf(NotFound, "there is no environment %q; declared: %s", env, listOr(envs, "none"))
	}
	e.filing[env]++
	return func() {
		e.filingMu.Lock()
		defer e.filingMu.Unlock()
		if e.filing[env]--; e.filing[env] == 0 {
			delete(e.filing, env)
		}
	}, nil
}

// postApproval posts the request message where approvers will see it: in
// the channel it was typed in when that is shared, and in the approvals
// channel when it was typed in a direct message or the console — then the
// requester gets a one-line notice where they typed it, kept up to date.
// It returns the copies posted, the notice, and for the reply where the
// request went.
func (e *Engine) postApproval(ctx context.Context, run *Run) (copies []MessageRef, notice *MessageRef, where string) {
	m := ApprovalMessage(run, run.Created) // the time the reply says, too
	if approvals := e.Settings().ApprovalsChannel; run.Origin.Private && approvals != "" {
		refs, err := e.Notify(ctx, []Target{{Kind: ToChannel, Name: approvals}}, m)
		if err != nil {
			e.runLog(run).Warn("the approval request did not reach every copy of the approvals channel", "err", err)
		}
		if len(refs) > 0 {
			if one, ok := e.chat(run.Origin.Platform).(OneScreen); ok && one.OneScreen() {
				return refs, nil, " in #" + approvals
			}
			return refs, e.post(ctx, run.Origin, approvalNotice(m)), " in #" + approvals
		}
		// Nowhere to show it but here: better than nowhere.
	}
	if ref := e.post(ctx, run.Origin, m); ref != nil {
		return []MessageRef{*ref}, nil, ""
	}
	return nil, nil, ""
}

// begin takes the environment's lock for run before it is launched, so
// that a second run is refused at once. When the lock is held the run is
// recorded as failed and the holder is named.
func (e *Engine) begin(ctx context.Context, run *Run) error {
	if run.Env == "" {
		return nil
	}
	err := e.acquireRunLock(ctx, run)
	if err == nil {
		return nil
	}
	now := e.now()
	if _, uerr := e.runs.UpdateRun(ctx, run.ID, func(r *Run) error {
		r.State, r.Error, r.Started, r.Finished = Failed, e.redact.String("could not start: "+ErrorMessage(err)), now, now
		return nil
	}); uerr != nil {
		e.runLog(run).Error("recording a run that could not start failed", "err", uerr)
	}
	e.record(ctx, AuditEntry{Person: run.Person, Event: "outcome", Action: run.Action, Env: run.Env, Run: run.ID, Detail: "failed: could not start: " + ErrorMessage(err)})
	return err
}

// launch carries out a run, whose lock begin took, in the background.
// A run cancelled while it was starting is not started: it is recorded
// as cancelled, its lock is released, and an error saying so is
// returned. Once Close has begun it starts nothing: the run is recorded
// as interrupted before it began, its lock is released, and errStopping
// is returned. The run's message is posted before launch returns, so that
// it comes after the reply to the command that started the run, never
// before it by chance. A panic before the run's goroutine is under way
// (posting that message: an adapter's bug, a render's) fails the run
// instead of leaving it holding its environment and counted as going.
func (e *Engine) launch(ctx context.Context, run *Run, req *Request, plan Plan) (err error) {
	rctx, cancel := context.WithCancel(WithRun(e.base, run.ID, run.Env))
	e.mu.Lock()
	a := e.active[run.ID] // tracked since it was recorded as running
	if a == nil {
		a = &activeRun{}
		e.active[run.ID] = a
	}
	if by := a.cancelledBy; by != "" || e.closing {
		delete(e.active, run.ID)
		e.mu.Unlock()
		cancel()
		if by != "" {
			reason := "cancelled by " + by + " before it began; it was not run"
			e.notStarted(ctx, run, Cancelled, reason)
			return Errorf(Conflict, "run %d was %s", run.ID, reason)
		}
		e.notStarted(ctx, run, Interrupted, "infrabot stopped before it began; it was not run")
		return errStopping
	}
	a.cancel = cancel
	e.wg.Add(1)
	e.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = e.abandon(ctx, run, cancel, r)
		}
	}()
	ctx = rctx
	p := e.startProgress(ctx, run)
	go func() {
		defer e.wg.Done()
		defer cancel()
		e.carryOut(ctx, run, req, plan, p)
		e.mu.Lock()
		delete(e.active, run.ID)
		e.mu.Unlock()
	}()
	return nil
}

// abandon ends run, which launch counted as going, after a panic kept
// its goroutine from starting: the run is recorded and audited as
// failed, then its lock is given back and it is no longer counted, so
// that its environment is free at once and Wait and Close do not wait
// for it for ever. The panic is logged; chat is told only that the run
// could not start.
func (e *Engine) abandon(ctx context.Context, run *Run, cancel context.CancelFunc, panicked any) error {
	defer e.wg.Done() // last: Close may close the store once it returns
	defer cancel()
	ctx = context.WithoutCancel(ctx)
	e.runLog(run).Error("starting a run panicked; it was not run", "command", run.Command, "panic", panicked, "stack", string(debug.Stack()))
	now := e.now()
	reason := "could not start: infrabot hit an internal error; it was not run"
	if _, err := e.runs.UpdateRun(ctx, run.ID, func(r *Run) error {
		r.State, r.Error, r.Finished = Failed, reason, now
		if r.Started.IsZero() {
			r.Started = now
		}
		return nil
	}); err != nil {
		e.runLog(run).Error("recording a run that could not start failed", "err", err)
	}
	e.record(ctx, AuditEntry{Person: run.Person, Event: "outcome", Action: run.Action, Env: run.Env, Run: run.ID, Detail: "failed: " + reason})
	if run.Env != "" {
		e.releaseRunLock(ctx, run)
	}
	e.mu.Lock()
	delete(e.active, run.ID)
	e.mu.Unlock()
	return &Error{Kind: Internal, Message: fmt.Sprintf("run %d could not start: infrabot hit an internal error (the details are in infrabot's log); it was not run", run.ID),
		Err: fmt.Errorf("panic: %v", panicked)}
}

// notStarted records and audits that run, whose lock begin took, was
// never started, ending in state for reason (cancelled while it was
// starting, or interrupted because infrabot is stopping), then gives the
// lock back.
func (e *Engine) notStarted(ctx context.Context, run *Run, state RunState, reason string) {
	ctx = context.WithoutCancel(ctx)
	now := e.now()
	if _, err := e.runs.UpdateRun(ctx, run.ID, func(r *Run) error {
		r.State, r.Error, r.Finished = state, reason, now
		return nil
	}); err != nil {
		e.runLog(run).Error("recording a run that could not start failed", "err", err)
	}
	e.record(ctx, outcomeEntry(run, state, reason))
	if run.Env != "" {
		e.releaseRunLock(ctx, run)
	}
}

// carryOut runs the action and ends run with its outcome. A panic past
// the action (an adapter's bug in showing or recording the outcome) is
// recovered by endAfterPanic, which does what is left of ending the run:
// it must not end the process, and every run in flight with it.
func (e *Engine) carryOut(ctx context.Context, run *Run, req *Request, plan Plan, p *Progress) {
	state, reason := Failed, "infrabot hit an internal error while ending it"
	audited, released := false, false
	defer func() {
		if r := recover(); r != nil {
			e.endAfterPanic(ctx, run, r, state, reason, audited, released)
		}
	}()
	err := runSafely(ctx, req.Action, req, plan, p)
	state, reason = Succeeded, ""
	if err != nil {
		state, reason = Failed, ErrorMessage(err)
		// Only a run stopped by the cancel (or the stop) ends cancelled
		// (interrupted): one that failed on its own keeps its reason.
		cut := ctx.Err() != nil && errors.Is(err, ctx.Err())
		switch {
		case cut:
			state, reason = e.cancelOutcome(run.ID)
		case ctx.Err() != nil:
			if by := e.cancelledBy(run.ID); by != "" {
				reason += " (a cancel by " + by + " came meanwhile)"
			}
		}
		if ErrorKind(err) == Internal && !cut {
			e.runLog(run).Error("run failed", "command", run.Command, "err", err)
		}
	}
	// The outcome is stored before the environment is given back: a
	// crash between the two leaves an ended run holding it (released at
	// the next start), never a succeeded run marked interrupted, nor a
	// second run going while the first still reads as running. It is
	// audited at once: a run stored as ended is never recovered, so its
	// outcome must not wait for the chat, which may be down.
	show := p.finish(context.WithoutCancel(ctx), state, reason)
	e.observe.RunEnded(run.Action, state, e.now().Sub(run.Started))
	audited = true // before, not after: an outcome is audited at most once
	e.record(ctx, outcomeEntry(run, state, reason))
	if state == Interrupted {
		e.runLog(run).Warn("run cut off by the stop; recorded as interrupted", "command", run.Command, "person", run.Person)
	}
	if run.Env != "" {
		released = true
		e.releaseRunLock(context.WithoutCancel(ctx), run)
	}
	show()
}

// outcomeEntry is the audit record of run's outcome.
func outcomeEntry(run *Run, state RunState, reason string) AuditEntry {
	detail := string(state)
	if reason != "" {
		detail += ": " + reason
	}
	return AuditEntry{Person: run.Person, Event: "outcome", Action: run.Action, Env: run.Env, Run: run.ID, Detail: detail}
}

// endAfterPanic ends run after a panic past its action, which carryOut
// recovered: the panic is logged with its stack, and what carryOut had
// not yet done is done, in its order: the outcome the action gave (state,
// reason) is stored unless the run is stored as ended already, and
// audited unless it was (audited), then the run's environment is given
// back unless it was (released). Its chat message is not tried again.
func (e *Engine) endAfterPanic(ctx context.Context, run *Run, panicked any, state RunState, reason string, audited, released bool) {
	ctx = context.WithoutCancel(ctx)
	e.runLog(run).Error("ending a run panicked; its outcome is kept", "command", run.Command, "state", state, "panic", panicked, "stack", string(debug.Stack()))
	if !audited {
		e.guarded(run, "storing the outcome", func() {
			now := e.now()
			if _, err := e.runs.UpdateRun(ctx, run.ID, func(r *Run) error {
				if !r.State.Done() {
					r.State, r.Error, r.Finished = state, e.redact.String(reason), now
				}
				return nil
			}); err != nil {
				e.runLog(run).Error("saving a run's outcome failed", "err", err)
			}
		})
		e.guarded(run, "auditing the outcome", func() { e.record(ctx, outcomeEntry(run, state, reason)) })
	}
	if !released && run.Env != "" {
		e.guarded(run, "releasing the environment", func() { e.releaseRunLock(ctx, run) })
	}
}

// guarded calls f, logging a panic in it rather than letting it through:
// what ends a run after a panic must not panic in turn.
func (e *Engine) guarded(run *Run, what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			e.runLog(run).Error(what+" after a panic panicked too", "panic", r)
		}
	}()
	f()
}

// runSafely turns a panic in an action into a failed run: one bad action
// must not take down the bot and every other run with it.
func runSafely(ctx context.Context, a *Action, req *Request, plan Plan, p *Progress) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Kind: Internal, Message: "the action crashed", Err: fmt.Errorf("panic: %v", r)}
		}
	}()
	return a.Execute(ctx, req, plan, p)
}

// cancelledBy returns who cancelled run id, "" if nobody did.
func (e *Engine) cancelledBy(id int64) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a := e.active[id]; a != nil {
		return a.cancelledBy
	}
	return ""
}

func (e *Engine) cancelOutcome(id int64) (RunState, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a := e.active[id]; a != nil && a.cancelledBy != "" {
		return Cancelled, "cancelled by " + a.cancelledBy
	}
	if e.closing {
		return Interrupted, "infrabot stopped while this ran; it was not re-run"
	}
	return Cancelled, "cancelled"
}

// elapsed formats a duration for people: 850ms, 12s, 3m05s.
func elapsed(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", d.Seconds())
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
