package cijobs

import (
	"slices"
	"time"
)

// jobState is what the module knows of one job for one squad: each squad
// counts failures and reminds on its own terms.
type jobState struct {
	Squad     string
	Source    string
	Job       JobID
	FirstSeen time.Time

	// Last is the newest build that said pass or fail.
	Last *Build `json:",omitempty"`
	// SeenEnd and SeenIDs mark the newest builds taken in (of any
	// outcome), so that a build is never counted twice.
	SeenEnd time.Time
	SeenIDs []string `json:",omitempty"`

	// Failures counts failures in a row; FailingSince is when the first
	// of them happened.
	Failures     int
	FailingSince time.Time
	// PassingSince is when the job last started passing.
	PassingSince time.Time
	// Broken is true once the squad was told the job is broken, until it
	// passes again; Reminded is when it was last told.
	Broken   bool
	Reminded time.Time
	// Stale is true once the squad was told the job stopped reporting,
	// until it reports again.
	Stale bool
	// Missing is true once the squad was told the source has no such
	// job (renamed or deleted), until the source lists it again;
	// MissingSince is when that was first seen.
	Missing      bool      `json:",omitempty"`
	MissingSince time.Time `json:",omitempty"`
}

// eventKind is what a squad hears about a job.
type eventKind string

const (
	evBroken    eventKind = "broken"
	evReminder  eventKind = "reminder"
	evRecovered eventKind = "recovered"
	evStale     eventKind = "stale"
	evReturned  eventKind = "returned" // a stale job reports again
	evMissing   eventKind = "missing"  // the source has no such job
)

// event is one thing a squad is told about a job, with what it needs to
// say it.
type event struct {
	Kind  eventKind
	Build *Build // the build that caused it, if any
	// For is how long the job had been green (broken), broken
	// (recovered, reminder), or silent (stale, returned).
	For   time.Duration
	Since time.Time
	// Failures in a row, for broken and reminder.
	Failures int
}

// isNew reports whether b was not taken in yet.
func (s *jobState) isNew(b Build) bool {
	at := b.at()
	return at.After(s.SeenEnd) || at.Equal(s.SeenEnd) && !slices.Contains(s.SeenIDs, b.ID)
}

// lastReport is when the job last said pass or fail, or when it was
// first seen when it never has.
func (s *jobState) lastReport() time.Time {
	if s.Last != nil {
		return s.Last.at()
	}
	return s.FirstSeen
}

// take applies one new build, oldest first, and returns what the squad
// hears because of it. now is when the poll happens.
func (s *jobState) take(sq *Squad, b Build, now time.Time) []event {
	at := b.at()
	if at.After(s.SeenEnd) {
		s.SeenEnd, s.SeenIDs = at, nil
	}
	s.SeenIDs = append(s.SeenIDs, b.ID)
	if b.Outcome == NoSignal {
		return nil
	}
	var out []event
	if s.Stale {
		out = append(out, event{Kind: evReturned, Build: &b, Since: s.lastReport(), For: at.Sub(s.lastReport())})
		s.Stale = false
	}
	prev := s.Last
	s.Last = &b
	switch b.Outcome {
	case Pass:
		if s.Broken {
			out = append(out, event{Kind: evRecovered, Build: &b, Since: s.FailingSince, For: at.Sub(s.FailingSince)})
		}
		if prev == nil || prev.Outcome != Pass {
			s.PassingSince = at
		}
		s.Failures, s.FailingSince, s.Broken = 0, time.Time{}, false
	case Fail:
		s.Failures++
		if s.Failures == 1 {
			s.FailingSince = at
		}
		if !s.Broken && s.Failures >= sq.FailuresBeforeNotice {
			ev := event{Kind: evBroken, Build: &b, Since: s.FailingSince, Failures: s.Failures}
			if !s.PassingSince.IsZero() {
				ev.For = s.FailingSince.Sub(s.PassingSince)
			}
			out = append(out, ev)
			s.Broken, s.Reminded = true, now
		}
	}
	return out
}

// tick returns what the squad hears at a poll because of time alone: a
// reminder that a job is still broken, or that it stopped reporting. A
// job its source no longer has was told once, and is not brought up
// again.
func (s *jobState) tick(sq *Squad, now time.Time) []event {
	if s.Missing {
		return nil
	}
	var out []event
	if s.Broken && now.Sub(s.Reminded) >= sq.RemindEvery {
		out = append(out, event{Kind: evReminder, Build: s.Last, Since: s.FailingSince, For: now.Sub(s.FailingSince), Failures: s.Failures})
		s.Reminded = now
	}
	if sq.StaleAfter > 0 && !s.Stale && now.Sub(s.lastReport()) >= sq.StaleAfter {
		out = append(out, event{Kind: evStale, Build: s.Last, Since: s.lastReport(), For: now.Sub(s.lastReport())})
		s.Stale = true
	}
	return out
}
