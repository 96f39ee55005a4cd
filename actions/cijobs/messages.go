package cijobs

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// noticeMessage is what a squad is told about one of its jobs.
func noticeMessage(sq *Squad, s *jobState, ev event, now time.Time) actions.Message {
	job := s.Job.Name
	m := actions.Message{Fields: jobFields(s, ev.Build)}
	if ev.Build != nil && ev.Build.URL != "" {
		m.Links = []actions.Link{{Label: "logs of " + job, URL: ev.Build.URL}}
	}
	result := ""
	if ev.Build != nil {
		result = ev.Build.Result
	}
	switch ev.Kind {
	case evBroken:
		m.Title = "CI job broken: " + job
		m.Tone = actions.ToneDanger
		m.Mentions = actions.MentionAll(sq.Members...)
		m.Summary = fmt.Sprintf("%s is broken: %s", job, result)
		if ev.Failures > 1 {
			m.Text = fmt.Sprintf("%s failed %d times in a row (last: %s), since %s", job, ev.Failures, result, stamp(ev.Since))
		} else {
			m.Text = fmt.Sprintf("%s failed: %s, at %s", job, result, stamp(ev.Since))
		}
		if ev.For > 0 {
			m.Text += fmt.Sprintf(", after %s green.", actions.Span(ev.For))
		} else {
			m.Text += "; it has not passed since infrabot started watching it."
		}
	case evReminder:
		m.Title = "CI job still broken: " + job
		m.Tone = actions.ToneDanger
		m.Mentions = actions.MentionAll(sq.Members...)
		m.Summary = fmt.Sprintf("%s is still broken, for %s: %s", job, actions.Span(ev.For), result)
		m.Text = fmt.Sprintf("%s has been failing since %s (%s, %d failures in a row); last result %s.",
			job, stamp(ev.Since), actions.Span(ev.For), ev.Failures, result)
	case evRecovered:
		m.Title = "CI job passes again: " + job
		m.Tone = actions.ToneSuccess
		m.Summary = fmt.Sprintf("%s passes again, after %s broken", job, actions.Span(ev.For))
		m.Text = fmt.Sprintf("%s passed at %s, after %s broken (since %s).", job, stamp(ev.Build.at()), actions.Span(ev.For), stamp(ev.Since))
	case evStale:
		m.Title = "CI job silent: " + job
		m.Tone = actions.ToneWarning
		m.Mentions = actions.MentionAll(sq.Members...)
		if s.Last == nil {
			m.Summary = fmt.Sprintf("%s has no build since infrabot started watching it, %s ago", job, actions.Span(ev.For))
			m.Text = fmt.Sprintf("%s has not completed a build since %s (%s ago). Is it still scheduled?", job, stamp(ev.Since), actions.Span(ev.For))
		} else {
			m.Summary = fmt.Sprintf("%s has no build since %s (%s ago)", job, stamp(ev.Since), actions.Span(ev.For))
			m.Text = fmt.Sprintf("%s has reported no build since %s (%s ago); a periodic job that stops running is news too. Is it still scheduled?", job, stamp(ev.Since), actions.Span(ev.For))
		}
	case evMissing:
		m.Title = "CI job not found: " + job
		m.Tone = actions.ToneWarning
		m.Mentions = actions.MentionAll(sq.Members...)
		m.Summary = fmt.Sprintf("%s is not found on %s; was it renamed or deleted?", job, s.Source)
		m.Text = fmt.Sprintf("%s has no job %s (it answers 404); its other jobs are watched as before. "+
			"If the job was renamed, put its new name in the config. infrabot does not bring it up again until it is back.", s.Source, job)
	case evReturned:
		m.Tone = actions.ToneInfo
		m.Summary = fmt.Sprintf("%s reports again (%s), after %s without a build", job, result, actions.Span(ev.For))
	}
	return m
}

func jobFields(s *jobState, b *Build) []actions.Field {
	f := []actions.Field{{Label: "job", Value: s.Job.Name}, {Label: "source", Value: s.Source}}
	if s.Job.Pipeline != "" {
		f = append(f, actions.Field{Label: "pipeline", Value: s.Job.Pipeline})
	}
	if s.Job.Project != "" {
		f = append(f, actions.Field{Label: "project", Value: s.Job.Project})
	}
	if s.Job.Branch != "" {
		f = append(f, actions.Field{Label: "branch", Value: s.Job.Branch})
	}
	if b != nil {
		f = append(f, actions.Field{Label: "result", Value: b.Result})
	}
	return f
}

// JobStatus is one job as a squad sees it, for `jobs` and digests.
type JobStatus struct {
	Squad  string
	Source string
	Job    JobID
	// State is broken (the squad was told), failing (not yet enough
	// failures in a row), missing (the source has no such job), silent
	// (no build for the squad's stale_after), passing, or unknown (no
	// build with a result yet).
	State string
	// Since is when the state began: the first failure, the last build,
	// the first pass, when the job was first not found.
	Since time.Time
	Last  *Build
}

// Job states, in the order `jobs` shows them.
const (
	StateBroken  = "broken"
	StateFailing = "failing"
	StateMissing = "missing"
	StateSilent  = "silent"
	StateUnknown = "unknown"
	StatePassing = "passing"
)

var stateOrder = map[string]int{StateBroken: 0, StateFailing: 1, StateMissing: 2, StateSilent: 3, StateUnknown: 4, StatePassing: 5}

func status(s *jobState) JobStatus {
	st := JobStatus{Squad: s.Squad, Source: s.Source, Job: s.Job, Last: s.Last}
	switch {
	case s.Missing:
		st.State, st.Since = StateMissing, s.MissingSince
	case s.Broken:
		st.State, st.Since = StateBroken, s.FailingSince
	case s.Failures > 0:
		st.State, st.Since = StateFailing, s.FailingSince
	case s.Stale:
		st.State, st.Since = StateSilent, s.lastReport()
	case s.Last == nil:
		st.State, st.Since = StateUnknown, s.FirstSeen
	default:
		st.State, st.Since = StatePassing, s.PassingSince
	}
	return st
}

// Jobs returns the jobs of the named squad ("" for every squad), broken
// first, then failing, missing, silent, unknown and passing; by squad and
// name within each.
func (m *Module) Jobs(ctx context.Context, squad string) ([]JobStatus, error) {
	cfg := m.inForce()
	var out []JobStatus
	err := m.h.Store().View(ctx, func(tx actions.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			var s jobState
			if err := get(tx.Bucket(bucketJobs), k, &s); err != nil {
				return err
			}
			sq, ok := cfg.squad(s.Squad)
			if !ok || squad != "" && s.Squad != squad || !sq.Owns(s.Job.Name) || !cfg.watches(s.Source) {
				return nil
			}
			out = append(out, status(&s))
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if stateOrder[a.State] != stateOrder[b.State] {
			return stateOrder[a.State] < stateOrder[b.State]
		}
		if a.Squad != b.Squad {
			return a.Squad < b.Squad
		}
		if a.Job.Name != b.Job.Name {
			return a.Job.Name < b.Job.Name
		}
		return a.Job.key() < b.Job.key()
	})
	return out, err
}

var stateMark = map[string]string{StateBroken: "✗", StateFailing: "!", StateMissing: "⊘", StateSilent: "⌛", StateUnknown: "?", StatePassing: "✓"}

// line shows one job in a list.
func (st JobStatus) line(now time.Time, withSquad bool) string {
	var b strings.Builder
	b.WriteString(stateMark[st.State] + " ")
	if withSquad {
		b.WriteString(st.Squad + ": ")
	}
	b.WriteString(st.Job.Name)
	if w := st.Job.Where(); w != "" {
		b.WriteString(" (" + w + ")")
	}
	switch st.State {
	case StateBroken, StateFailing:
		fmt.Fprintf(&b, " — %s %s since %s (%s)", st.State, st.Last.Result, stamp(st.Since), actions.Span(now.Sub(st.Since)))
	case StateMissing:
		fmt.Fprintf(&b, " — not found on %s since %s", st.Source, stamp(st.Since))
	case StateSilent:
		fmt.Fprintf(&b, " — no build since %s (%s)", stamp(st.Since), actions.Span(now.Sub(st.Since)))
	case StateUnknown:
		fmt.Fprintf(&b, " — no result yet, watched since %s", stamp(st.Since))
	case StatePassing:
		fmt.Fprintf(&b, " — %s, green for %s", st.Last.Result, actions.Span(now.Sub(st.Since)))
	}
	return b.String()
}

func (m *Module) jobsCommand(ctx context.Context, req *actions.Request) (actions.Message, error) {
	name := req.Arg("squad")
	cfg := m.inForce()
	if name != "" {
		if _, ok := cfg.squad(name); !ok {
			return actions.Message{}, actions.Errorf(actions.NotFound, "there is no squad %q; squads: %s", name, actions.ListOr(cfg.squadNames(), "none"))
		}
	}
	jobs, err := m.Jobs(ctx, name)
	if err != nil {
		return actions.Message{}, err
	}
	now := m.h.Now()
	m2 := actions.Message{Title: "CI jobs"}
	if name != "" {
		m2.Title = "CI jobs of squad " + name
	}
	counts := map[string]int{}
	for _, st := range jobs {
		counts[st.State]++
		m2.Lines = append(m2.Lines, st.line(now, name == ""))
		if (st.State == StateBroken || st.State == StateFailing) && st.Last != nil && st.Last.URL != "" {
			m2.Links = append(m2.Links, actions.Link{Label: "logs of " + st.Job.Name, URL: st.Last.URL})
		}
	}
	switch {
	case len(cfg.squads) == 0:
		m2.Summary = "no squads are configured; see docs/ci-jobs.md"
	case len(jobs) == 0:
		m2.Summary = "no builds seen yet of any watched job"
	default:
		m2.Summary = fmt.Sprintf("%d jobs: %d broken, %d failing, %d silent, %d passing",
			len(jobs), counts[StateBroken], counts[StateFailing], counts[StateSilent], counts[StatePassing])
		if n := counts[StateMissing]; n > 0 {
			m2.Summary += fmt.Sprintf(", %d not found", n)
		}
	}
	if counts[StateBroken] > 0 {
		m2.Tone = actions.ToneWarning
	}
	var down []string
	_ = m.h.Store().View(ctx, func(tx actions.Tx) error {
		for _, w := range cfg.sources {
			var src sourceState
			if err := get(tx.Bucket(bucketSources), []byte(w.Name), &src); err == nil && src.Down {
				down = append(down, fmt.Sprintf("%s cannot be read since %s: %s", w.Name, stamp(src.DownSince), src.Error))
			}
		}
		return nil
	})
	m2.Footer = strings.Join(down, "\n")
	return m2, nil
}

// DigestSection is the module's part of a status digest: the broken,
// not found and silent jobs of every squad, with the logs of the broken
// ones. It is empty when every job is well.
func (m *Module) DigestSection(ctx context.Context, since time.Time) (actions.Message, error) {
	jobs, err := m.Jobs(ctx, "")
	if err != nil {
		return actions.Message{}, err
	}
	now := m.h.Now()
	sec := actions.Message{Title: "CI jobs"}
	squads := map[string]bool{}
	counts := map[string]int{}
	for _, st := range jobs {
		if st.State != StateBroken && st.State != StateMissing && st.State != StateSilent {
			continue
		}
		squads[st.Squad] = true
		counts[st.State]++
		sec.Lines = append(sec.Lines, st.line(now, true))
		if st.State == StateBroken && st.Last.URL != "" {
			sec.Links = append(sec.Links, actions.Link{Label: "logs of " + st.Job.Name, URL: st.Last.URL})
		}
	}
	if len(sec.Lines) == 0 {
		return actions.Message{}, nil
	}
	var parts []string
	if n := counts[StateBroken]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d broken", n))
		sec.Tone = actions.ToneDanger
	}
	if n := counts[StateMissing]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d not found", n))
		if sec.Tone == "" {
			sec.Tone = actions.ToneWarning
		}
	}
	if n := counts[StateSilent]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d silent", n))
		if sec.Tone == "" {
			sec.Tone = actions.ToneWarning
		}
	}
	names := sortedKeys(squads)
	if len(names) == 1 {
		sec.Summary = strings.Join(parts, ", ") + " in squad " + names[0]
	} else {
		sec.Summary = fmt.Sprintf("%s in %d squads", strings.Join(parts, ", "), len(names))
	}
	return sec, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
