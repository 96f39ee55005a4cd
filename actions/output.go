package actions

import (
	"context"
	"fmt"
	"time"
)

// A step's output is what a remote command printed while the step ran:
// possibly a great deal (a playbook, a runaway loop). It reaches the
// run's log in batches (one event per StepHandle.Output call, so the
// caller decides how often the store and the chat are touched), and the
// log keeps it bounded: the step's first lines as they come, its last
// lines when it ends, and how many were cut between them. The live
// message shows each running or failed step's latest lines.

// latestShown is how many of a step's latest lines its run's message
// shows.
const latestShown = 5

// stepsWithOutputShown bounds how many steps show their latest lines in
// the run's message (the latest steps that are running or failed).
const stepsWithOutputShown = 8

// stepOutput is what a running step printed beyond its log's head: a
// ring of its latest lines, written to the log when the step ends.
type stepOutput struct {
	stored int      // lines of the head already in the log
	ring   []string // the latest lines beyond the head
	next   int      // where the ring's next line goes, once full
	cut    int      // lines beyond the head that left the ring
}

func (o *stepOutput) push(line string, size int) {
	if size <= 0 {
		o.cut++
		return
	}
	if len(o.ring) < size {
		o.ring = append(o.ring, line)
		return
	}
	o.ring[o.next] = line
	o.next = (o.next + 1) % size
	o.cut++
}

func (o *stepOutput) tail() []string {
	out := make([]string, 0, len(o.ring))
	out = append(out, o.ring[o.next:]...)
	return append(out, o.ring[:o.next]...)
}

// Output adds lines the step printed, in order. Each call is one event
// in the run's log (when any of its lines are kept) and one update of
// the run's live message, so a caller with many lines batches them.
// Lines are redacted. The log keeps the step's first lines as they come
// and its last lines when it ends (Options.StepOutputHead and
// StepOutputTail), saying how many were cut between them; a run's
// RunEventLimit bounds the lines all its steps keep.
func (h *StepHandle) Output(ctx context.Context, lines ...string) {
	if len(lines) == 0 {
		return
	}
	p := h.p
	red := make([]string, len(lines))
	for i, l := range lines {
		red[i] = p.e.redact.String(l)
	}
	p.mu.Lock()
	s := &p.run.Steps[h.i]
	s.Lines += len(red)
	s.Latest = latest(s.Latest, red)
	if p.outs == nil {
		p.outs = map[int]*stepOutput{}
	}
	o := p.outs[h.i]
	if o == nil {
		o = &stepOutput{}
		p.outs[h.i] = o
	}
	n := min(max(p.e.head-o.stored, 0), len(red))
	head := p.keep(red[:n])
	o.stored += n
	for _, l := range red[n:] {
		o.push(l, p.e.tail)
	}
	if len(head) == 0 {
		p.changed = true
	} else {
		p.record(RunEvent{Time: p.e.now(), Index: h.i, Lines: head})
	}
	p.mu.Unlock()
	p.flush(ctx)
}

// keep returns the part of lines the run's RunEventLimit leaves room
// for, counting them, and counts the rest as dropped. p.mu is held.
func (p *Progress) keep(lines []string) []string {
	room := max(p.e.limit-p.kept, 0)
	if len(lines) > room {
		p.dropped += len(lines) - room
		lines = lines[:room]
	}
	p.kept += len(lines)
	return lines
}

// endOutput returns the events that end step i's output in the log: how
// many lines were cut, and its last lines. p.mu is held.
func (p *Progress) endOutput(i int, now time.Time) []RunEvent {
	o := p.outs[i]
	if o == nil {
		return nil
	}
	delete(p.outs, i)
	var events []RunEvent
	if o.cut > 0 {
		events = append(events, RunEvent{Time: now, Index: i, Cut: o.cut})
	}
	if tail := p.keep(o.tail()); len(tail) > 0 {
		events = append(events, RunEvent{Time: now, Index: i, Lines: tail})
	}
	return events
}

// latest returns the last latestShown lines of shown followed by more.
func latest(shown, more []string) []string {
	if len(more) >= latestShown {
		return append([]string(nil), more[len(more)-latestShown:]...)
	}
	out := append(shown, more...)
	if len(out) > latestShown {
		out = append(out[:0:0], out[len(out)-latestShown:]...)
	}
	return out
}

// RunLog returns run id's whole log, as kept: its steps as they started
// and ended, the notes, and each step's output under the step's name
// (the first and last lines of a long one, with how many were cut).
func (e *Engine) RunLog(ctx context.Context, id int64) (*Run, []string, error) {
	r, err := e.runs.Run(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	events, err := e.runs.RunEvents(ctx, id, 0, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the log of run %d: %w", id, err)
	}
	var out []string
	names := map[int]string{}
	started := map[int]time.Time{}
	current := -1 // the step whose output was shown last
	for _, ev := range events {
		switch {
		case ev.Group != nil:
			out = append(out, fmt.Sprintf("%s: %d steps", ev.Group.Name, ev.Group.Total))
			current = -1
		case ev.Step != nil:
			s := ev.Step
			if _, seen := names[ev.Index]; !seen {
				names[ev.Index], started[ev.Index] = s.Name, s.Started
				out = append(out, "▶ "+s.Name)
				current = -1
			}
			if s.State.Done() || s.State == Ongoing {
				line := fmt.Sprintf("%s %s", stateMark[s.State], s.Name)
				if s.Detail != "" {
					line += " — " + s.Detail
				}
				line += fmt.Sprintf(" (%s)", elapsed(s.Finished.Sub(s.Started).Truncate(100*time.Millisecond)))
				out = append(out, line)
				current = -1
			}
		case ev.Lines != nil || ev.Cut > 0:
			if ev.Index != current {
				out = append(out, "── "+names[ev.Index]+" ──")
				current = ev.Index
			}
			if ev.Cut > 0 {
				out = append(out, fmt.Sprintf("   … %d lines cut here (a step's log keeps its first %d and last %d lines) …", ev.Cut, e.head, e.tail))
			}
			for _, l := range ev.Lines {
				out = append(out, "   "+l)
			}
		default:
			out = append(out, ev.Note)
			current = -1
		}
	}
	return r, out, nil
}

// RunLogMessage shows a run's whole log (see Engine.RunLog).
func RunLogMessage(r *Run, lines []string) Message {
	m := Message{
		Title:   fmt.Sprintf("run %d log: %s", r.ID, r.Command),
		Summary: fmt.Sprintf("the log of run %d `%s` (%s): %d lines", r.ID, r.Command, r.State, len(lines)),
		Lines:   lines,
		Tail:    true,
	}
	if len(lines) == 0 {
		m.Summary = fmt.Sprintf("run %d `%s` (%s) has nothing in its log", r.ID, r.Command, r.State)
	}
	if r.Error != "" {
		m.Text = r.Error
	}
	return m
}
