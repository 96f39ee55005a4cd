package health

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// IncidentState is where an incident is in its life.
type IncidentState string

// Incident states.
const (
	Open     IncidentState = "open"
	Resolved IncidentState = "resolved"
)

// Incident is one outage of one check: opened after the check's
// FailuresBeforeIncident consecutive failures, resolved after
// SuccessesBeforeResolve consecutive successes or by a person. A check
// has at most one open incident.
type Incident struct {
	ID       int64         `json:"id"`
	Check    string        `json:"check"`
	State    IncidentState `json:"state"`
	Opened   time.Time     `json:"opened"`
	Since    time.Time     `json:"since"` // the first failure of the outage
	Detail   string        `json:"detail"`
	Failures int           `json:"failures"`

	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
	Snooze  *Snooze   `json:"snooze,omitempty"`
	// Owed is true when a notification is due and not yet sent: held back
	// by a snooze (sent if the check still fails when it ends), or not
	// yet sent when infrabot stopped.
	Owed bool `json:"owed,omitempty"`

	Resolved    time.Time `json:"resolved,omitzero"`
	ResolvedBy  string    `json:"resolved_by,omitempty"`  // "" when the check recovered
	ResolvedVia string    `json:"resolved_via,omitempty"` // as AckedVia

	Notify   []actions.Target     `json:"notify"`
	Refs     []actions.MessageRef `json:"refs,omitempty"` // every copy posted
	Timeline []Event              `json:"timeline"`

	// Escalation is the check's escalation when the incident opened;
	// Responders are the people its first level paged, mentioned in the
	// message; Escalated is true once the escalation policy was told the
	// incident opened (told again after a restart until it is).
	Escalation string   `json:"escalation,omitempty"`
	Responders []string `json:"responders,omitempty"`
	Escalated  bool     `json:"escalated,omitempty"`
	// AckedVia is where the acknowledgement came from when not from
	// infrabot's chat (pagerduty).
	AckedVia string `json:"acked_via,omitempty"`
	// Untold is an acknowledgement or a resolution stored and not yet
	// told to the escalation policy: it is told as soon as it is stored,
	// before the messages are updated, and again after a restart until
	// it is.
	Untold actions.IncidentChange `json:"untold,omitempty"`
}

// Snooze silences notifications until Until; the check keeps running.
type Snooze struct {
	Until  time.Time `json:"until"`
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
}

// active reports whether s silences at now.
func (s *Snooze) active(now time.Time) bool { return s != nil && now.Before(s.Until) }

// Event is one line of an incident's timeline.
type Event struct {
	Time time.Time `json:"t"`
	Who  string    `json:"who"` // a person, or "infrabot"
	What string    `json:"what"`
}

// bot is who does what infrabot does by itself, in timelines and audit.
const bot = "infrabot"

func (inc *Incident) clone() *Incident {
	cp := *inc
	if inc.Snooze != nil {
		s := *inc.Snooze
		cp.Snooze = &s
	}
	cp.Refs = slices.Clone(inc.Refs)
	cp.Timeline = slices.Clone(inc.Timeline)
	cp.Notify = slices.Clone(inc.Notify)
	cp.Responders = slices.Clone(inc.Responders)
	return &cp
}

func (inc *Incident) event(now time.Time, who, format string, args ...any) {
	inc.Timeline = append(inc.Timeline, Event{Time: now, Who: who, What: fmt.Sprintf(format, args...)})
}

func age(now, t time.Time) string {
	return actions.Elapsed(max(now.Sub(t), 0).Truncate(time.Second))
}

// Message shows the incident in chat, with buttons while it is open.
func (inc *Incident) Message(now time.Time) actions.Message {
	m := actions.Message{
		Title: fmt.Sprintf("incident %d: %s failing", inc.ID, inc.Check),
		Text:  inc.Detail,
		Fields: []actions.Field{
			{Label: "check", Value: inc.Check},
			{Label: "failing since", Value: fmt.Sprintf("%s (%s)", actions.Stamp(inc.Since), age(now, inc.Since))},
			{Label: "failures", Value: fmt.Sprint(inc.Failures)},
		},
		Tone:     actions.ToneDanger,
		Mentions: actions.MentionAll(inc.Responders...),
	}
	if len(inc.Responders) > 0 {
		m.Fields = append(m.Fields, actions.Field{Label: "paged", Value: strings.Join(inc.Responders, ", ")})
	}
	state := "open"
	if inc.AckedBy != "" {
		state = fmt.Sprintf("acknowledged by %s at %s", inc.AckedBy, actions.Clock(inc.AckedAt))
		m.Fields = append(m.Fields, actions.Field{Label: "acknowledged", Value: fmt.Sprintf("%s at %s", inc.AckedBy, actions.Clock(inc.AckedAt))})
		m.Tone = actions.ToneWarning
	}
	if inc.Snooze.active(now) {
		s := inc.Snooze
		v := fmt.Sprintf("until %s by %s", actions.Stamp(s.Until), s.By)
		if s.Reason != "" {
			v += ": " + s.Reason
		}
		m.Fields = append(m.Fields, actions.Field{Label: "snoozed", Value: v})
		state += ", snoozed " + v
	}
	if inc.State == Resolved {
		m.Title = fmt.Sprintf("incident %d: %s resolved", inc.ID, inc.Check)
		how := "the check recovered"
		if inc.ResolvedBy != "" {
			how = "by " + inc.ResolvedBy
		}
		state = fmt.Sprintf("resolved %s at %s after %s", how, actions.Clock(inc.Resolved), age(inc.Resolved, inc.Since))
		m.Fields = append(m.Fields, actions.Field{Label: "resolved", Value: fmt.Sprintf("%s at %s", how, actions.Clock(inc.Resolved))})
		m.Tone = actions.ToneSuccess
	} else {
		m.Buttons = []actions.Button{
			{Label: "Acknowledge", Command: fmt.Sprintf("ack %d", inc.ID), Style: actions.ToneSuccess},
			{Label: "Snooze 1h", Command: fmt.Sprintf("snooze %d 1h", inc.ID)},
			{Label: "Resolve", Command: fmt.Sprintf("resolve %d", inc.ID)},
		}
		m.Footer = fmt.Sprintf("or type `ack %d`, `snooze %d <duration> [reason]`, `resolve %d`; `incident %d` shows its timeline", inc.ID, inc.ID, inc.ID, inc.ID)
	}
	m.Summary = fmt.Sprintf("incident %d: %s — %s — %s", inc.ID, inc.Check, inc.Detail, state)
	return m
}

// change applies fn to the open incident id under the module's lock,
// stores it and the check's record, tells the escalation policy of an
// acknowledgement or a resolution fn marked Untold, and updates its
// messages. fn returns an error to refuse the change.
func (x *Module) change(ctx context.Context, id int64, fn func(inc *Incident, cs *checkState) error) (*Incident, error) {
	x.mu.Lock()
	inc, ok := x.open[id]
	if !ok {
		x.mu.Unlock()
		old, err := x.incident(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, actions.Errorf(actions.Conflict, "incident %d is already resolved (%s)", id, old.resolvedHow())
	}
	cs := x.r().checks[inc.Check]
	if err := fn(inc, cs); err != nil {
		x.mu.Unlock()
		return nil, err
	}
	if inc.State == Resolved {
		delete(x.open, id)
		x.closing[id] = inc
	}
	cp := inc.clone()
	x.mu.Unlock()
	var checks []*checkState
	if cs != nil {
		checks = append(checks, cs)
	}
	err := x.commit.save(ctx, checks, []*Incident{inc})
	if err == nil && cp.Untold != "" {
		// Before the messages are updated: a platform slow to take the
		// update (a 429) holds up no acknowledgement.
		if err := x.tell(ctx, inc, cp); err != nil {
			x.h.Log().Error("storing that the escalation policy was told failed", "incident", id, "err", err)
		}
	}
	if cp.State == Resolved {
		x.closed(id)
	}
	if err != nil {
		return nil, err
	}
	x.h.Update(ctx, cp.Refs, cp.Message(x.h.Now()))
	return cp, nil
}

// untold marks inc's change (an acknowledgement or a resolution) to be
// told to the escalation policy, when it follows one.
func (inc *Incident) untold(change actions.IncidentChange) {
	if inc.Escalation != "" {
		inc.Untold = change
	}
}

// tell tells the escalation policy of inc's untold change (cp is a
// copy), then marks it told. Told first and marked after, as escalate
// does: a crash in between tells it again at the next start, and the
// policy ignores an acknowledgement or a resolution it knows.
func (x *Module) tell(ctx context.Context, inc, cp *Incident) error {
	change, by, via := cp.Untold, cp.AckedBy, cp.AckedVia
	if change == actions.IncidentResolved {
		by, via = cp.ResolvedBy, cp.ResolvedVia
	}
	x.report(ctx, change, cp, by, via)
	x.mu.Lock()
	told := inc.Untold == change // not resolved meanwhile
	if told {
		inc.Untold = ""
	}
	x.mu.Unlock()
	if !told {
		return nil
	}
	return x.commit.save(ctx, nil, []*Incident{inc})
}

// closed forgets incident id, resolved and stored: a note from now on
// reads it from the store. Under noteMu, so that a note written into it
// (which holds noteMu until it is stored) is on disk first.
func (x *Module) closed(id int64) {
	x.noteMu.Lock()
	x.mu.Lock()
	delete(x.closing, id)
	x.mu.Unlock()
	x.noteMu.Unlock()
}

func (inc *Incident) resolvedHow() string {
	if inc.ResolvedBy != "" {
		return fmt.Sprintf("by %s at %s", inc.ResolvedBy, actions.Stamp(inc.Resolved))
	}
	return "the check recovered at " + actions.Stamp(inc.Resolved)
}

// openIncident opens an incident for cs, whose record says it failed
// enough; the caller holds no lock. It is stored before anyone is told,
// so that a restart finds it and opens no second one.
func (x *Module) openIncident(ctx context.Context, cs *checkState, r Result) error {
	now := x.h.Now()
	x.mu.Lock()
	cs.mu.Lock()
	if cs.rec.Incident != 0 { // opened meanwhile by a concurrent run
		cs.mu.Unlock()
		x.mu.Unlock()
		return nil
	}
	x.nextID++
	c := cs.d().check
	inc := &Incident{
		ID: x.nextID, Check: c.Name, State: Open, Opened: now,
		Since: cs.rec.FailingSince, Detail: r.Detail, Failures: cs.rec.Failures,
		Notify: c.Notify, Owed: true, Escalation: c.Escalation,
	}
	if inc.Since.IsZero() {
		inc.Since = now
	}
	inc.event(now, bot, "opened after %d failures: %s", inc.Failures, r.Detail)
	if s := cs.rec.Snooze; s.active(now) {
		cp := *s
		inc.Snooze = &cp
		inc.event(now, bot, "notifications held back: %s snoozed the check until %s", s.By, actions.Stamp(s.Until))
	}
	cs.rec.Incident = inc.ID
	x.open[inc.ID] = inc
	cs.mu.Unlock()
	x.mu.Unlock()
	if err := x.commit.save(ctx, []*checkState{cs}, []*Incident{inc}); err != nil {
		return err
	}
	x.h.Audit(ctx, actions.AuditEntry{Person: bot, Event: "incident-opened", Action: "check", Detail: fmt.Sprintf("incident %d: %s: %s", inc.ID, inc.Check, r.Detail)})
	return x.notifyOwed(ctx, inc.ID, "")
}

// notifyOwed posts the incident to its targets when a notification is
// owed and no snooze holds it back.
func (x *Module) notifyOwed(ctx context.Context, id int64, why string) error {
	now := x.h.Now()
	x.mu.Lock()
	inc, ok := x.open[id]
	if !ok || !inc.Owed || inc.Snooze.active(now) {
		x.mu.Unlock()
		return nil
	}
	inc.Owed = false
	first := inc.Escalation != "" && !inc.Escalated && len(inc.Refs) == 0
	if first {
		inc.Responders = x.h.Escalation().Responders(inc.Escalation)
	}
	m := inc.Message(now)
	if why != "" {
		m.Text = why + "\n" + m.Text
	}
	targets := inc.Notify
	x.mu.Unlock()

	refs, err := x.h.Notify(ctx, targets, m)
	if err != nil {
		x.h.Log().Warn("an incident notification did not reach every target", "incident", id, "err", err)
	}
	x.mu.Lock()
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.String()
	}
	inc.Refs = append(inc.Refs, refs...)
	what := "notified " + strings.Join(names, ", ")
	if why != "" {
		what += " (" + why + ")"
	}
	if err != nil {
		what += fmt.Sprintf("; %d copies delivered, some failed", len(refs))
	}
	inc.event(now, bot, "%s", what)
	changed := inc.State == Resolved || inc.AckedBy != "" // changed while we posted
	cp := inc.clone()
	x.mu.Unlock()
	if changed {
		x.h.Update(ctx, refs, cp.Message(x.h.Now()))
	}
	x.h.Audit(ctx, actions.AuditEntry{Person: bot, Event: "incident-notified", Action: "check", Detail: fmt.Sprintf("incident %d: %s", id, what)})
	if err := x.commit.save(ctx, nil, []*Incident{inc}); err != nil {
		return err
	}
	if first {
		return x.escalate(ctx, id)
	}
	return nil
}

// escalate tells the escalation policy that incident id opened, then
// marks it told. Told first and marked after: a crash in between tells
// it again at the next start, and the policy ignores an incident it
// knows; the other order could forget it.
func (x *Module) escalate(ctx context.Context, id int64) error {
	x.mu.Lock()
	inc, ok := x.open[id]
	if !ok || inc.Escalated || inc.Escalation == "" {
		x.mu.Unlock()
		return nil
	}
	cp := inc.clone()
	x.mu.Unlock()
	x.report(ctx, actions.IncidentOpened, cp, "", "")
	x.mu.Lock()
	inc.Escalated = true
	x.mu.Unlock()
	return x.commit.save(ctx, nil, []*Incident{inc})
}

// report tells the escalation policy of a change of inc (a copy), when
// it follows an escalation.
func (x *Module) report(ctx context.Context, change actions.IncidentChange, inc *Incident, by, via string) {
	if inc.Escalation == "" {
		return
	}
	ev := actions.IncidentEvent{
		Change: change, ID: inc.ID, Check: inc.Check, Detail: inc.Detail,
		Summary:    fmt.Sprintf("incident %d: %s failing: %s", inc.ID, inc.Check, inc.Detail),
		Escalation: inc.Escalation, Notify: inc.Notify, Refs: inc.Refs,
		By: by, Via: via, Time: x.h.Now(),
	}
	if inc.Snooze != nil {
		ev.Until = inc.Snooze.Until
	}
	if cs, ok := x.r().checks[inc.Check]; ok {
		if c := cs.d().check; c.Kind == HTTP {
			ev.Links = []actions.Link{{Label: inc.Check, URL: c.URL}}
		}
	}
	x.h.Escalation().IncidentChanged(ctx, ev)
}

// record counts r in the check's record and opens, resolves or re-notifies
// its incident as the counts say.
func (x *Module) record(ctx context.Context, cs *checkState, r Result) error {
	now := x.h.Now()
	cs.mu.Lock()
	rec := &cs.rec
	rec.add(r)
	if r.OK {
		rec.Successes++
		rec.Failures = 0
		rec.FailingSince = time.Time{}
	} else {
		rec.Failures++
		rec.Successes = 0
		if rec.FailingSince.IsZero() {
			rec.FailingSince = r.Time
		}
	}
	id := rec.Incident
	c := cs.d().check
	failures, successes := rec.Failures, rec.Successes
	cs.mu.Unlock()
	if id != 0 && x.forget(cs, id) {
		id = 0
	}
	open := id == 0 && failures >= c.FailuresBeforeIncident
	resolve := id != 0 && successes >= c.SuccessesBeforeResolve

	switch {
	case open:
		return x.openIncident(ctx, cs, r)
	case resolve:
		_, err := x.change(ctx, id, func(inc *Incident, cs *checkState) error {
			inc.State, inc.Resolved = Resolved, now
			inc.Owed = false
			inc.untold(actions.IncidentResolved)
			inc.event(now, bot, "resolved: the check passed %d times in a row (%s)", c.SuccessesBeforeResolve, r.Detail)
			if cs != nil { // nil when a reload took the check out meanwhile
				cs.mu.Lock()
				if cs.rec.Incident == id {
					cs.rec.Incident = 0
				}
				cs.mu.Unlock()
			}
			return nil
		})
		if err == nil {
			x.h.Audit(ctx, actions.AuditEntry{Person: bot, Event: "incident-resolved", Action: "check", Detail: fmt.Sprintf("incident %d: %s recovered", id, cs.d().check.Name)})
		}
		return err
	case id != 0 && !r.OK:
		var incs []*Incident
		why := ""
		x.mu.Lock()
		if inc, ok := x.open[id]; ok {
			inc.Failures, inc.Detail = failures, r.Detail
			incs = append(incs, inc)
			if inc.Snooze != nil {
				why = "still failing after the snooze"
			}
		}
		x.mu.Unlock()
		if err := x.commit.save(ctx, []*checkState{cs}, incs); err != nil {
			return err
		}
		return x.notifyOwed(ctx, id, why)
	}
	x.commit.later(cs)
	return nil
}

// forget clears cs's incident id when it is not open (resolved by hand
// while the check was out of the config, say), and reports whether it
// was not: the check then opens a new incident when it fails enough.
func (x *Module) forget(cs *checkState, id int64) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.open[id] != nil {
		return false
	}
	cs.mu.Lock()
	if cs.rec.Incident == id {
		cs.rec.Incident = 0
	}
	cs.mu.Unlock()
	return true
}
