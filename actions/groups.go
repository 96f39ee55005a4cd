package actions

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// StepGroup is a set of like steps of a run, one per item of a batch (a
// server to create, one to delete), declared with its size before the
// first of them starts. A run's message counts a large group's steps —
// "created 143 of 200, 52 building, 3 failed" — and names only those that
// did not succeed, each with its fault, so that it stays one readable
// message whatever the size of the batch; a small group lists each step
// once it has ended. Every step stays in the run's log.
type StepGroup struct {
	// Name is the group's name in the run, unique: "create".
	Name string `json:"name"`
	// Total is how many steps the group has, started or not.
	Total int `json:"total"`
	// Done and Running say for people what a succeeded step did and what
	// a running one is doing: "created", "building". Default "done" and
	// "running".
	Done    string `json:"done,omitempty"`
	Running string `json:"running,omitempty"`
}

const (
	// groupListed is the size up to which a group shows each of its
	// steps once ended; a larger group is counted.
	groupListed = 10
	// unsettledListed is how many of a large group's steps that did not
	// succeed its message names; the others are counted.
	unsettledListed = 10
)

// StepGroupHandle starts the steps of one group of a run in progress.
type StepGroupHandle struct {
	p    *Progress
	name string
}

// Group declares a group of like steps (see StepGroup) before its first
// step starts, so that the run's message counts from the start: "created
// 0 of 200, 200 waiting". Declaring a group of a name the run already has
// adds to its total.
func (p *Progress) Group(ctx context.Context, g StepGroup) *StepGroupHandle {
	p.mu.Lock()
	p.run.Groups = addGroup(p.run.Groups, g)
	p.record(RunEvent{Time: p.e.now(), Group: &g})
	p.mu.Unlock()
	p.flush(ctx)
	return &StepGroupHandle{p: p, name: g.Name}
}

// Step starts a new step of the group, called name.
func (h *StepGroupHandle) Step(ctx context.Context, name string) *StepHandle {
	return h.p.step(ctx, h.name, name)
}

// addGroup adds g to groups, or to the total of the group of its name.
func addGroup(groups []StepGroup, g StepGroup) []StepGroup {
	for i := range groups {
		if groups[i].Name == g.Name {
			groups[i].Total += g.Total
			return groups
		}
	}
	return append(groups, g)
}

// tally is what a run's message says of one group of steps.
type tally struct {
	StepGroup
	started int
	by      map[RunState]int
	// unsettled are the steps of a large group that ended otherwise than
	// succeeded.
	unsettled []Step
}

// large reports whether the group is counted rather than listed.
func (t *tally) large() bool { return max(t.Total, t.started) > groupListed }

// counts says where the group's steps are, for people: "created 143 of
// 200, 52 building, 3 failed, 2 waiting". done says whether the run has
// ended, when steps never started are "not started" rather than waiting.
func (t *tally) counts(done bool) string {
	word := func(w, def string) string {
		if w == "" {
			return def
		}
		return w
	}
	total := max(t.Total, t.started)
	parts := []string{fmt.Sprintf("%s %d of %d", word(t.Done, "done"), t.by[Succeeded], total)}
	if n := t.by[Running]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", n, word(t.Running, "running")))
	}
	for _, st := range []RunState{Failed, Ongoing, Cancelled, Interrupted} {
		if n := t.by[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	if n := total - t.started; n > 0 && done {
		parts = append(parts, fmt.Sprintf("%d not started", n))
	} else if n > 0 {
		parts = append(parts, fmt.Sprintf("%d waiting", n))
	}
	return strings.Join(parts, ", ")
}

// stepLines renders a run's steps for its message: each step outside a
// group as a line with its state, detail and time (and the latest output
// of the last few running or failed ones); a group's running
// steps only in its counts; each ended step of a small group; a large
// group's steps that did not succeed, the first unsettledListed of them by
// name (failed first), each with its fault, and the rest counted in one
// line. counts says where each group is ("created 143 of 200, …"), in
// the groups' order.
func stepLines(r *Run, now time.Time) (lines, counts []string) {
	tallies := make([]*tally, 0, len(r.Groups))
	byName := map[string]*tally{}
	for _, g := range r.Groups {
		t := &tally{StepGroup: g, by: map[RunState]int{}}
		tallies = append(tallies, t)
		byName[g.Name] = t
	}
	for _, s := range r.Steps {
		if s.Group == "" {
			continue
		}
		t := byName[s.Group]
		if t == nil {
			// A step of a group never declared: count it all the same.
			t = &tally{StepGroup: StepGroup{Name: s.Group}, by: map[RunState]int{}}
			tallies = append(tallies, t)
			byName[s.Group] = t
		}
		t.started++
		t.by[s.State]++
	}
	var listed []Step
	for _, s := range r.Steps {
		t := byName[s.Group]
		switch {
		case t == nil:
			listed = append(listed, s)
		case s.State == Running:
			// Counted: its line would change with every poll (a running
			// step with output is a host of a deploy, not in a group).
		case !t.large():
			listed = append(listed, s)
		case s.State != Succeeded:
			t.unsettled = append(t.unsettled, s)
		}
	}
	listed = sortedSteps(listed)
	showOutput := stepsShowingOutput(listed)
	for i, s := range listed {
		lines = append(lines, stepLine(s, now))
		if showOutput[i] {
			for _, l := range s.Latest {
				lines = append(lines, "    │ "+l)
			}
		}
	}
	for _, t := range tallies {
		if t.started > 0 || t.Total > 0 {
			counts = append(counts, t.counts(r.State.Done()))
		}
		if !t.large() || len(t.unsettled) == 0 {
			continue
		}
		slices.SortStableFunc(t.unsettled, func(a, b Step) int {
			if ra, rb := unsettledRank[a.State], unsettledRank[b.State]; ra != rb {
				return ra - rb
			}
			return naturalCompare(a.Name, b.Name)
		})
		shown := t.unsettled[:min(len(t.unsettled), unsettledListed)]
		for _, s := range shown {
			lines = append(lines, stepLine(s, now))
		}
		if rest := t.unsettled[len(shown):]; len(rest) > 0 {
			by := map[RunState]int{}
			for _, s := range rest {
				by[s.State]++
			}
			var parts []string
			for _, st := range []RunState{Failed, Interrupted, Ongoing, Cancelled} {
				if by[st] > 0 {
					parts = append(parts, fmt.Sprintf("%d more %s", by[st], st))
				}
			}
			lines = append(lines, fmt.Sprintf("%s %s: %s, not named here (`run %d log` has each)", stateMark[rest[0].State], t.Name, strings.Join(parts, ", "), r.ID))
		}
	}
	return lines, counts
}

// unsettledRank orders the steps of a large group that did not succeed:
// failures first, as they are what people must act on.
var unsettledRank = map[RunState]int{Failed: 0, Interrupted: 1, Ongoing: 2, Cancelled: 3}

// stepLine shows one step: its state, name, detail and time.
func stepLine(s Step, now time.Time) string {
	line := fmt.Sprintf("%s %s", stateMark[s.State], s.Name)
	if s.Detail != "" {
		line += " — " + s.Detail
	}
	end := now
	if !s.Finished.IsZero() {
		end = s.Finished
	}
	return line + fmt.Sprintf(" (%s)", elapsed(end.Sub(s.Started).Truncate(100*time.Millisecond)))
}
