package actions

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

var stateMark = map[RunState]string{
	Running: "…", Succeeded: "✓", Failed: "✗", Cancelled: "⊘", Interrupted: "!", Denied: "✗", Expired: "⌛", AwaitingApproval: "?", Ongoing: "→",
}

var stateTone = map[RunState]Tone{
	Succeeded: ToneSuccess, Failed: ToneDanger, Cancelled: ToneWarning, Interrupted: ToneWarning,
	Denied: ToneDanger, Expired: ToneWarning,
}

// RunMessage shows a run: its steps with their times, and its outcome. A
// group of like steps (StepGroup) is counted in the summary, and a large
// one names only the steps that did not succeed, so that the message of a
// run over hundreds of servers is as short as over three.
func RunMessage(r *Run, now time.Time) Message {
	end := now
	if r.State.Done() && !r.Finished.IsZero() {
		end = r.Finished
	}
	start := r.Started
	if start.IsZero() {
		start = r.Created
	}
	took := elapsed(end.Sub(start).Truncate(100 * time.Millisecond))
	// The summary says the state, who and how long; fields add only what
	// it does not, so that an update does not repeat it.
	m := Message{
		Title:   fmt.Sprintf("run %d: %s", r.ID, r.Command),
		Summary: fmt.Sprintf("run %d `%s` by %s: %s (%s)", r.ID, r.Command, r.Person, r.State, took),
		Tone:    stateTone[r.State],
		Tail:    true, // steps, then output as it comes
	}
	if r.Plan.Summary != "" {
		m.Fields = append(m.Fields, Field{"plan", r.Plan.Summary})
	}
	if r.Approval != nil && r.Approval.DecidedBy != "" {
		m.Fields = append(m.Fields, Field{"approved by", r.Approval.DecidedBy})
	}
	lines, counts := stepLines(r, now)
	if len(counts) > 0 {
		m.Summary += " — " + strings.Join(counts, "; ")
	}
	for _, s := range r.Steps {
		if s.Lines > 0 {
			m.Footer = fmt.Sprintf("`run %d log` shows the whole output", r.ID)
		}
	}
	m.Lines = append(m.Lines, lines...)
	if len(r.Steps) == 0 && r.State == AwaitingApproval {
		m.Lines, m.Tail = r.Plan.Lines, false // a plan reads from its start
	}
	if r.OutputOmitted > 0 {
		m.Lines = append(m.Lines, fmt.Sprintf("… %d earlier lines (the run's log keeps them)", r.OutputOmitted))
	}
	m.Lines = append(m.Lines, r.Output...)
	if r.Error != "" {
		m.Summary += ": " + r.Error
	}
	return m
}

// sortedSteps orders steps for showing, the same way whatever order
// parallel work started them in: by phase (the step's first word, in the
// order phases began: deletes before creates), then by name, naturally.
func sortedSteps(steps []Step) []Step {
	phase := map[string]int{}
	verb := func(s Step) string { v, _, _ := strings.Cut(s.Name, " "); return v }
	for _, s := range steps {
		if _, ok := phase[verb(s)]; !ok {
			phase[verb(s)] = len(phase)
		}
	}
	out := slices.Clone(steps)
	slices.SortStableFunc(out, func(a, b Step) int {
		if pa, pb := phase[verb(a)], phase[verb(b)]; pa != pb {
			return pa - pb
		}
		return naturalCompare(a.Name, b.Name)
	})
	return out
}

// stepsShowingOutput picks, among steps in the order shown, those whose
// latest lines a run's message shows: the last running or failed ones
// with output, a few at most, so that a step on many hosts keeps the
// message short.
func stepsShowingOutput(steps []Step) map[int]bool {
	show := map[int]bool{}
	for i := len(steps) - 1; i >= 0 && len(show) < stepsWithOutputShown; i-- {
		if s := steps[i]; len(s.Latest) > 0 && (s.State == Running || s.State == Failed) {
			show[i] = true
		}
	}
	return show
}

// ApprovalMessage shows a request for approval: what will happen, who
// asked, who may approve, until when; with buttons while it is pending and
// who decided once it is not.
func ApprovalMessage(r *Run, now time.Time) Message {
	a := r.Approval
	command := visible(r.Command)
	m := Message{
		Title:   fmt.Sprintf("request %d: %s", r.ID, command),
		Summary: fmt.Sprintf("request %d: %s wants `%s` — %s", r.ID, r.Person, command, r.Plan.Summary),
		Lines:   r.Plan.Lines,
		Fields: []Field{
			{"requested by", r.Person},
			{"approvers", listOr(a.Approvers, "none")},
			{"expires", a.Expires.UTC().Format("15:04:05 UTC")},
			{"plan", fmt.Sprintf("%s (%s)", r.Plan.Summary, a.PlanHash)},
		},
		Tone: ToneWarning,
	}
	switch a.State {
	case ApprovalPending:
		m.Text = fmt.Sprintf("Awaiting approval by %s, expires in %s.", listOr(a.Approvers, "an approver"), elapsed(a.Expires.Sub(now).Truncate(time.Second)))
		m.Buttons = []Button{
			{Label: "Approve", Command: fmt.Sprintf("approve %d", r.ID), Style: ToneSuccess},
			{Label: "Deny", Command: fmt.Sprintf("deny %d", r.ID), Style: ToneDanger},
		}
		m.Footer = fmt.Sprintf("or type `approve %d` / `deny %d [reason]`", r.ID, r.ID)
	case ApprovalApproved:
		m.Text = fmt.Sprintf("Approved by %s at %s.", a.DecidedBy, a.DecidedAt.UTC().Format("15:04:05 UTC"))
		m.Tone = ToneSuccess
	case ApprovalDenied:
		m.Text = fmt.Sprintf("Denied by %s at %s.", a.DecidedBy, a.DecidedAt.UTC().Format("15:04:05 UTC"))
		if a.Reason != "" {
			m.Text += " Reason: " + visible(a.Reason)
		}
		m.Tone = ToneDanger
	default:
		m.Text = "Closed: " + r.Error + "."
	}
	m.Summary += " — " + m.Text
	return m
}

// Elapsed formats a duration for people the way every message of
// infrabot does: 850ms, 12s, 3m05s.
func Elapsed(d time.Duration) string { return elapsed(d) }

// ListOr joins items with commas, or says none when there are none.
func ListOr(items []string, none string) string { return listOr(items, none) }

// visible returns s for one line of a message: a control character
// (a line break, an escape, a tab), a line or paragraph separator, or a
// bidirectional override or isolate is written as its Go escape (\n,
// \x1b, \u2028, \u202e), so that text a person typed cannot start what
// looks like another line, nor show the rest of its line reordered. Only
// what is shown is escaped; records keep s as it is.
func visible(s string) string {
	if !strings.ContainsFunc(s, breaksLine) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if breaksLine(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// breaksLine reports whether r may not be shown as it is within a line.
func breaksLine(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' ||
		'\u202a' <= r && r <= '\u202e' || '\u2066' <= r && r <= '\u2069'
}

// Stamp writes a moment for people: "Jan 2 15:04 UTC".
func Stamp(t time.Time) string { return t.UTC().Format("Jan 2 15:04 UTC") }

// Clock writes a moment of today for people: "15:04 UTC".
func Clock(t time.Time) string { return t.UTC().Format("15:04 UTC") }

// Span formats a long duration for people, to its two largest units:
// 45s, 12m, 5h12m, 3d4h. Shorter than a second is 0s.
func Span(d time.Duration) string {
	d = max(d, 0)
	days, hours := int(d/(24*time.Hour)), int(d/time.Hour)%24
	mins, secs := int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd%dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh%02dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	case mins > 0:
		return fmt.Sprintf("%dm", mins)
	}
	return fmt.Sprintf("%ds", secs)
}

// NaturalLess orders names as people count: "web-2" before "web-10".
func NaturalLess(a, b string) bool {
	ai, bi := strings.LastIndexByte(a, '-'), strings.LastIndexByte(b, '-')
	if ai > 0 && bi > 0 && a[:ai] == b[:bi] {
		var an, bn int
		_, ea := fmt.Sscan(a[ai+1:], &an)
		_, eb := fmt.Sscan(b[bi+1:], &bn)
		if ea == nil && eb == nil {
			return an < bn
		}
	}
	return a < b
}

// naturalCompare is NaturalLess as a comparison for slices.SortFunc.
func naturalCompare(a, b string) int {
	switch {
	case NaturalLess(a, b):
		return -1
	case NaturalLess(b, a):
		return 1
	}
	return 0
}
