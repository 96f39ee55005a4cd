package actions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// outputShown is how many of a run's latest output lines its message
// shows; the run's event log keeps them all, up to the engine's limit.
const outputShown = 30

// Progress is how a running action reports: timed steps and notes. Each
// is one event appended to the run's log in the store (the run's record
// is not rewritten), and the run's live chat message shows the steps and
// the latest lines. Safe for concurrent use by the action's goroutines:
// events that happen while earlier ones are being written are written
// together, in order, in the next append (one commit for many servers'
// steps), and the message shows only what is written.
type Progress struct {
	e   *Engine
	ref *MessageRef

	// mu guards run, kept, dropped, pending and changed, and orders the
	// events: they reach the store and the chat in the order they
	// happened.
	mu  sync.Mutex
	run *Run
	// kept counts the lines and step details appended against the
	// engine's limit; dropped those beyond it.
	kept, dropped int
	// outs holds, per step index, the output of a step that is still
	// running beyond what its log keeps as it comes (see output.go).
	outs map[int]*stepOutput
	// pending are the events not yet written, oldest first; changed says
	// the run changed since its message was last shown.
	pending []RunEvent
	changed bool
	// writing is held while events are written and the message updated,
	// so that appends and updates go out in order.
	writing sync.Mutex
}

// startProgress records that run starts now and posts its live message.
func (e *Engine) startProgress(ctx context.Context, run *Run) *Progress {
	run.Started = e.now()
	p := &Progress{e: e, run: run}
	p.ref = e.post(ctx, run.Origin, RunMessage(run, run.Started))
	if _, err := e.runs.UpdateRun(context.WithoutCancel(ctx), run.ID, func(r *Run) error {
		r.Started = run.Started
		if p.ref != nil {
			r.Progress = p.ref
		}
		return nil
	}); err != nil {
		e.runLog(run).Error("saving a run's start failed", "err", err)
	}
	return p
}

// StepHandle is one step of a run in progress.
type StepHandle struct {
	p *Progress
	i int
}

// Step starts a new step called name.
func (p *Progress) Step(ctx context.Context, name string) *StepHandle {
	return p.step(ctx, "", name)
}

// step starts a new step called name in the group called group ("" for
// none).
func (p *Progress) step(ctx context.Context, group, name string) *StepHandle {
	p.mu.Lock()
	now := p.e.now()
	p.run.Steps = append(p.run.Steps, Step{Name: name, State: Running, Started: now, Group: group})
	i := len(p.run.Steps) - 1
	p.record(p.stepEvent(i, now))
	p.mu.Unlock()
	p.flush(ctx)
	return &StepHandle{p: p, i: i}
}

// Note adds a line to the run's output. Lines beyond the engine's limit
// are counted, not kept; the count is noted when the run ends.
func (p *Progress) Note(ctx context.Context, format string, args ...any) {
	line := p.e.redact.String(fmt.Sprintf(format, args...))
	p.mu.Lock()
	if p.kept >= p.e.limit {
		p.dropped++
		p.mu.Unlock()
		return
	}
	p.kept++
	p.output(line)
	p.record(RunEvent{Time: p.e.now(), Note: line})
	p.mu.Unlock()
	p.flush(ctx)
}

// output adds line to the lines the run's message shows.
func (p *Progress) output(line string) {
	r := p.run
	r.Output = append(r.Output, line)
	if len(r.Output) > outputShown {
		n := len(r.Output) - outputShown
		r.Output = append(r.Output[:0], r.Output[n:]...)
		r.OutputOmitted += n
	}
}

// Detail replaces the step's detail text, e.g. "BUILD, 12s".
func (h *StepHandle) Detail(ctx context.Context, format string, args ...any) {
	h.set(ctx, Running, fmt.Sprintf(format, args...))
}

// Done marks the step succeeded.
func (h *StepHandle) Done(ctx context.Context, format string, args ...any) {
	h.set(ctx, Succeeded, fmt.Sprintf(format, args...))
}

// Ongoing ends the step with what the remote system goes on doing
// after the run: "deleting", "creating" when the run was cancelled after
// it sent the request. The step is not cancelled, and says so.
func (h *StepHandle) Ongoing(ctx context.Context, format string, args ...any) {
	h.set(ctx, Ongoing, fmt.Sprintf(format, args...))
}

// Fail marks the step failed with err's message for people.
func (h *StepHandle) Fail(ctx context.Context, err error) {
	msg := ErrorMessage(err)
	if errors.Is(err, context.Canceled) {
		msg = "cancelled"
	}
	h.set(ctx, Failed, msg)
}

func (h *StepHandle) set(ctx context.Context, state RunState, detail string) {
	p := h.p
	p.mu.Lock()
	now := p.e.now()
	s := &p.run.Steps[h.i]
	s.State, s.Detail = state, p.e.redact.String(detail)
	switch {
	case state != Running:
		s.Finished = now
		// The step's last lines of output go to the log before its end.
		for _, ev := range p.endOutput(h.i, now) {
			p.record(ev)
		}
		p.record(p.stepEvent(h.i, now))
	case p.kept >= p.e.limit:
		// A detail beyond the limit is shown, not kept: the step's end
		// always is.
		p.changed = true
	default:
		p.kept++
		p.record(p.stepEvent(h.i, now))
	}
	p.mu.Unlock()
	p.flush(ctx)
}

func (p *Progress) stepEvent(i int, now time.Time) RunEvent {
	s := p.run.Steps[i]
	return RunEvent{Time: now, Step: &s, Index: i}
}

// finish records the run's outcome: steps still running end in state.
// It returns what shows the outcome in chat, for the caller to call once
// the run's environment is given back: the chat may be slow, and the
// environment need not wait for it. Once Close has begun, showing it is
// cut short after CloseChatWait.
func (p *Progress) finish(ctx context.Context, state RunState, reason string) (show func()) {
	ctx = context.WithoutCancel(ctx)
	reason = p.e.redact.String(reason)
	p.writing.Lock()
	defer p.writing.Unlock()
	p.mu.Lock()
	now := p.e.now()
	events := p.pending
	p.pending, p.changed = nil, false
	for i := range p.run.Steps {
		if s := &p.run.Steps[i]; s.State == Running {
			s.State, s.Finished = state, now
			events = append(events, p.endOutput(i, now)...)
			events = append(events, p.stepEvent(i, now))
		}
	}
	if p.dropped > 0 {
		line := fmt.Sprintf("… %d lines of output were not kept: a run keeps at most %d", p.dropped, p.e.limit)
		p.output(line)
		events = append(events, RunEvent{Time: now, Note: line})
	}
	r := p.run
	r.State, r.Error, r.Finished = state, reason, now
	m := RunMessage(r, now)
	p.mu.Unlock()
	if len(events) > 0 {
		if err := p.e.runs.AppendRunEvents(ctx, r.ID, events...); err != nil {
			p.e.runLog(r).Error("saving run progress failed", "err", err)
		}
	}
	if _, err := p.e.runs.UpdateRun(ctx, r.ID, func(saved *Run) error {
		saved.State, saved.Error, saved.Finished = state, reason, now
		return nil
	}); err != nil {
		p.e.runLog(r).Error("saving a run's outcome failed", "err", err)
	}
	ref := p.ref
	return func() {
		// In turn with flushes, as the outcome's update always was.
		p.writing.Lock()
		defer p.writing.Unlock()
		ctx, cancel := p.e.chatContext(ctx)
		defer cancel()
		if ref == nil {
			// Its message could not be posted when the run started (the
			// chat was down): try once more, so that the outcome is seen.
			p.e.post(ctx, r.Origin, m)
			return
		}
		p.e.update(ctx, ref, m)
	}
}

// record queues ev to be written by the next flush. p.mu is held.
func (p *Progress) record(ev RunEvent) {
	p.pending = append(p.pending, ev)
	p.changed = true
}

// flush appends the events recorded so far to the run's log, in one
// append, and then shows the run as they leave it. While one flush
// writes, the events of others queue up, and the next flush writes them
// all: a caller whose events an earlier flush took returns once that
// flush is done, having nothing left to do. p.mu is not held.
func (p *Progress) flush(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	p.writing.Lock()
	defer p.writing.Unlock()
	p.mu.Lock()
	events, changed := p.pending, p.changed
	p.pending, p.changed = nil, false
	var m Message
	if changed {
		m = RunMessage(p.run, p.e.now())
	}
	p.mu.Unlock()
	if !changed {
		return
	}
	if len(events) > 0 {
		if err := p.e.runs.AppendRunEvents(ctx, p.run.ID, events...); err != nil {
			p.e.runLog(p.run).Error("saving run progress failed", "err", err)
		}
	}
	p.e.update(ctx, p.ref, m)
}

// Run returns run id with its progress (steps and latest output lines)
// folded from its event log.
func (e *Engine) Run(ctx context.Context, id int64) (*Run, error) {
	r, err := e.runs.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := e.foldProgress(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// foldProgress sets r's steps and output from its event log. A run
// recorded before the log existed keeps the progress its record holds.
func (e *Engine) foldProgress(ctx context.Context, r *Run) error {
	events, err := e.runs.RunEvents(ctx, r.ID, 0, 0)
	if err != nil {
		return fmt.Errorf("reading the progress of run %d: %w", r.ID, err)
	}
	if len(events) == 0 {
		return nil
	}
	p := &Progress{run: r}
	r.Steps, r.Output, r.OutputOmitted, r.Groups = nil, nil, 0, nil
	for _, ev := range events {
		switch {
		case ev.Group != nil:
			r.Groups = addGroup(r.Groups, *ev.Group)
		case ev.Step != nil && ev.Index >= 0 && ev.Index < len(r.Steps):
			// The step's output is folded from output events, not
			// stored with the step.
			latest, lines := r.Steps[ev.Index].Latest, r.Steps[ev.Index].Lines
			r.Steps[ev.Index] = *ev.Step
			r.Steps[ev.Index].Latest, r.Steps[ev.Index].Lines = latest, lines
		case ev.Step != nil && ev.Index == len(r.Steps):
			r.Steps = append(r.Steps, *ev.Step)
		case ev.Lines != nil || ev.Cut > 0:
			if ev.Index >= 0 && ev.Index < len(r.Steps) {
				s := &r.Steps[ev.Index]
				s.Lines += len(ev.Lines) + ev.Cut
				s.Latest = latest(s.Latest, ev.Lines)
			}
		case ev.Step == nil:
			p.output(ev.Note)
		}
	}
	return nil
}

// interruptSteps ends, in state Interrupted, the steps of r that were
// running when infrabot stopped, and folds r's progress for its message.
func (e *Engine) interruptSteps(ctx context.Context, r *Run, now time.Time) error {
	if err := e.foldProgress(ctx, r); err != nil {
		return err
	}
	var events []RunEvent
	for i := range r.Steps {
		if s := &r.Steps[i]; s.State == Running {
			s.State, s.Finished = Interrupted, now
			st := *s
			events = append(events, RunEvent{Time: now, Step: &st, Index: i})
		}
	}
	if len(events) == 0 {
		return nil
	}
	return e.runs.AppendRunEvents(ctx, r.ID, events...)
}
