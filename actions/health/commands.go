package health

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// MaxSnooze is the longest snooze: past a week, remove the check instead.
const MaxSnooze = 7 * 24 * time.Hour

// query makes a command's Query, reading the store first when needed.
func (x *Module) query(fn func(ctx context.Context, req *actions.Request) (actions.Message, error)) func(ctx context.Context, req *actions.Request) (actions.Message, error) {
	return func(ctx context.Context, req *actions.Request) (actions.Message, error) {
		if err := x.ready(ctx); err != nil {
			return actions.Message{}, err
		}
		return fn(ctx, req)
	}
}

func (x *Module) register() {
	idArg := []actions.Arg{{Name: "id", Kind: actions.ArgID}}
	x.h.Register(&actions.Action{
		Name: "checks", Summary: "every health check: state, last result, latency, uptime over 24 h, snoozes",
		Query: x.query(x.listChecks),
	})
	x.h.Register(&actions.Action{
		Name: "check", Summary: "run one health check now and show its result",
		Help:  "The result counts like a scheduled one: it can open or resolve an incident.",
		Args:  []actions.Arg{{Name: "name", Kind: actions.ArgWord}},
		Query: x.query(x.checkNow),
	})
	x.h.Register(&actions.Action{
		Name: "incidents", Summary: "open incidents, with their age and who acknowledged them",
		Query: x.query(x.listIncidents),
	})
	x.h.Register(&actions.Action{
		Name: "incident", Summary: "one incident and its timeline",
		Args: idArg, Query: x.query(x.showIncident),
	})
	x.h.Register(&actions.Action{
		Name: "ack", Summary: "acknowledge an incident: you are on it",
		Args: idArg, Mutates: true, Query: x.query(x.ack),
	})
	x.h.Register(&actions.Action{
		Name: "resolve", Summary: "resolve an incident by hand",
		Help: "The check's failure count starts again: if it keeps failing, a new incident opens.",
		Args: idArg, Mutates: true, Query: x.query(x.resolve),
	})
	x.h.Register(&actions.Action{
		Name: "snooze", Summary: "silence an incident or a check for a while; it keeps being checked",
		Help: "snooze 12 1h (an incident) or snooze logserver-http 30m deploying (a check). Results are kept; " +
			"recovery resolves as usual; if it still fails when the snooze ends, infrabot notifies again. " +
			"Durations like 30m, 2h, 1d; at most 7d. `snooze <check> 0` ends a check's snooze.",
		Args:    []actions.Arg{{Name: "target", Kind: actions.ArgWord}, {Name: "duration", Kind: actions.ArgWord}, {Name: "reason", Kind: actions.ArgText, Optional: true}},
		Mutates: true, Query: x.query(x.snooze),
	})
}

func (x *Module) lookup(name string) (*checkState, error) {
	cs, ok := x.r().checks[name]
	if !ok {
		return nil, actions.Errorf(actions.NotFound, "there is no check %q; `checks` lists them", name)
	}
	return cs, nil
}

// checkLine is one line of `checks`.
func (x *Module) checkLine(cs *checkState, now time.Time) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	rec := &cs.rec
	state, last := "pending", "never run"
	if rec.Last != nil {
		state = "up"
		if !rec.Last.OK {
			state = "down"
		}
		last = fmt.Sprintf("%s ago", age(now, rec.Last.Time))
		if rec.Last.Latency > 0 {
			last += " in " + actions.Elapsed(rec.Last.Latency)
		}
		last += ": " + rec.Last.Detail
	}
	if rec.Incident != 0 {
		state = fmt.Sprintf("down (incident %d)", rec.Incident)
	}
	up := "-"
	if u, ok := rec.uptime(now); ok {
		up = fmt.Sprintf("%.1f%%", 100*u)
	}
	line := fmt.Sprintf("%-24s %-9s %-20s 24h %-6s %s", cs.d().check.Name, cs.d().check.Kind, state, up, last)
	if s := rec.Snooze; s.active(now) {
		line += fmt.Sprintf(" — snoozed until %s by %s", actions.Stamp(s.Until), s.By)
		if s.Reason != "" {
			line += ": " + s.Reason
		}
	}
	return line
}

func (x *Module) listChecks(ctx context.Context, req *actions.Request) (actions.Message, error) {
	now := x.h.Now()
	m := actions.Message{Title: "health checks"}
	down := 0
	r := x.r()
	for _, name := range r.order {
		cs := r.checks[name]
		cs.mu.Lock()
		if cs.rec.Last != nil && !cs.rec.Last.OK {
			down++
		}
		cs.mu.Unlock()
		m.Lines = append(m.Lines, x.checkLine(cs, now))
	}
	m.Summary = fmt.Sprintf("%d checks, %d failing", len(r.order), down)
	if len(r.order) == 0 {
		m.Lines = []string{"no checks are declared (see checks: in the config)"}
	}
	return m, nil
}

func (x *Module) checkNow(ctx context.Context, req *actions.Request) (actions.Message, error) {
	cs, err := x.lookup(req.Arg("name"))
	if err != nil {
		return actions.Message{}, err
	}
	r, err := x.run(ctx, cs, time.Time{})
	if err != nil {
		return actions.Message{}, err
	}
	if cs.d().check.Kind == Heartbeat {
		r.Detail = "pings: " + r.Detail
	}
	verdict, tone := "passed", actions.ToneSuccess
	if !r.OK {
		verdict, tone = "failed", actions.ToneWarning
	}
	m := actions.Message{
		Title:   "check " + cs.d().check.Name,
		Summary: fmt.Sprintf("check %s %s in %s: %s", cs.d().check.Name, verdict, actions.Elapsed(r.Latency), r.Detail),
		Tone:    tone,
	}
	m.Lines = []string{x.checkLine(cs, x.h.Now())}
	cs.mu.Lock()
	for i := len(cs.rec.History) - 1; i >= 0 && i >= len(cs.rec.History)-5; i-- {
		h := cs.rec.History[i]
		mark := "✓"
		if !h.OK {
			mark = "✗"
		}
		m.Lines = append(m.Lines, fmt.Sprintf("  %s %s %s", mark, actions.Stamp(h.Time), h.Detail))
	}
	cs.mu.Unlock()
	return m, nil
}

func (x *Module) listIncidents(ctx context.Context, req *actions.Request) (actions.Message, error) {
	now := x.h.Now()
	open := x.openIncidents()
	m := actions.Message{Title: "open incidents", Summary: fmt.Sprintf("%d open incidents", len(open))}
	for _, inc := range open {
		who := "not acknowledged"
		if inc.AckedBy != "" {
			who = "acknowledged by " + inc.AckedBy
		}
		line := fmt.Sprintf("%-5d %-24s open %-8s %s — %s", inc.ID, inc.Check, age(now, inc.Opened), who, inc.Detail)
		if inc.Snooze.active(now) {
			line += fmt.Sprintf(" — snoozed until %s by %s", actions.Stamp(inc.Snooze.Until), inc.Snooze.By)
		}
		m.Lines = append(m.Lines, line)
	}
	if len(open) == 0 {
		m.Lines = []string{"no open incidents"}
	}
	return m, nil
}

func (x *Module) showIncident(ctx context.Context, req *actions.Request) (actions.Message, error) {
	inc, err := x.incident(ctx, req.ID("id"))
	if err != nil {
		return actions.Message{}, err
	}
	m := inc.Message(x.h.Now())
	m.Buttons, m.Footer = nil, ""
	if m.Tone == actions.ToneDanger {
		m.Tone = actions.ToneWarning // a reply, not a refusal
	}
	for _, e := range inc.Timeline {
		m.Lines = append(m.Lines, fmt.Sprintf("%s  %-8s %s", actions.Stamp(e.Time), e.Who, e.What))
	}
	return m, nil
}

func (x *Module) ack(ctx context.Context, req *actions.Request) (actions.Message, error) {
	id, who := req.ID("id"), req.Person.Name
	inc, err := x.acknowledge(ctx, id, who, "")
	if err != nil {
		return actions.Message{}, err
	}
	return actions.Message{Summary: fmt.Sprintf("incident %d (%s) acknowledged by %s", id, inc.Check, who)}, nil
}

// acknowledge acknowledges incident id as who, via a service ("" for
// infrabot's chat), tells the escalation policy and audits it.
func (x *Module) acknowledge(ctx context.Context, id int64, who, via string) (*Incident, error) {
	now := x.h.Now()
	inc, err := x.change(ctx, id, func(inc *Incident, cs *checkState) error {
		if inc.AckedBy != "" {
			return actions.Errorf(actions.Conflict, "incident %d is already acknowledged by %s at %s", id, inc.AckedBy, actions.Clock(inc.AckedAt))
		}
		inc.AckedBy, inc.AckedAt, inc.AckedVia = who, now, via
		inc.untold(actions.IncidentAcknowledged)
		inc.event(now, who, "acknowledged%s", viaText(via))
		return nil
	})
	if err != nil {
		return nil, err
	}
	x.h.Audit(ctx, actions.AuditEntry{Person: who, Event: "incident-acknowledged", Action: "ack", Detail: fmt.Sprintf("incident %d: %s%s", id, inc.Check, viaText(via))})
	return inc, nil
}

func viaText(via string) string {
	if via == "" {
		return ""
	}
	return " in " + via
}

func (x *Module) resolve(ctx context.Context, req *actions.Request) (actions.Message, error) {
	id, who := req.ID("id"), req.Person.Name
	inc, err := x.resolveBy(ctx, id, who, "")
	if err != nil {
		return actions.Message{}, err
	}
	return actions.Message{Summary: fmt.Sprintf("incident %d (%s) resolved by %s", id, inc.Check, who)}, nil
}

// resolveBy resolves incident id by hand, as who via a service ("" for
// infrabot's chat), tells the escalation policy and audits it.
func (x *Module) resolveBy(ctx context.Context, id int64, who, via string) (*Incident, error) {
	now := x.h.Now()
	inc, err := x.change(ctx, id, func(inc *Incident, cs *checkState) error {
		inc.State, inc.Resolved, inc.ResolvedBy, inc.ResolvedVia, inc.Owed = Resolved, now, who, via, false
		inc.untold(actions.IncidentResolved)
		inc.event(now, who, "resolved%s", viaText(via))
		if cs != nil {
			cs.mu.Lock()
			if cs.rec.Incident == id { // not a newer one of the check's
				cs.rec.Incident, cs.rec.Failures, cs.rec.FailingSince = 0, 0, time.Time{}
			}
			cs.mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	x.h.Audit(ctx, actions.AuditEntry{Person: who, Event: "incident-resolved", Action: "resolve", Detail: fmt.Sprintf("incident %d: %s, by hand%s", id, inc.Check, viaText(via))})
	return inc, nil
}

// ParseSnooze reads a snooze duration: Go's (30m, 1h30m) or whole days
// (1d, 7d). It is at most MaxSnooze; 0 ends a snooze.
func ParseSnooze(s string) (time.Duration, error) {
	d, ok := actions.ParseDuration(s)
	switch {
	case !ok:
		return 0, actions.Errorf(actions.Invalid, "%q is not a duration: write it like 30m, 2h or 1d", s)
	case d > MaxSnooze:
		return 0, actions.Errorf(actions.Invalid, "a snooze lasts at most 7d; for longer, take the check out of the config")
	}
	return d, nil
}

func (x *Module) snooze(ctx context.Context, req *actions.Request) (actions.Message, error) {
	target, who, now, reason := req.Arg("target"), req.Person.Name, x.h.Now(), req.Arg("reason")
	d, err := ParseSnooze(req.Arg("duration"))
	if err != nil {
		return actions.Message{}, err
	}
	s := &Snooze{Until: now.Add(d), By: who, Reason: reason}
	if id, err := strconv.ParseInt(strings.TrimPrefix(target, "#"), 10, 64); err == nil {
		if d == 0 {
			return actions.Message{}, actions.Errorf(actions.Invalid, "snooze an incident for a while, like `snooze %d 1h`", id)
		}
		inc, err := x.change(ctx, id, func(inc *Incident, cs *checkState) error {
			inc.Snooze = s
			inc.Owed = true // if it still fails when the snooze ends
			inc.event(now, who, "snoozed until %s%s", actions.Stamp(s.Until), because(reason))
			return nil
		})
		if err != nil {
			return actions.Message{}, err
		}
		x.h.Audit(ctx, actions.AuditEntry{Person: who, Event: "incident-snoozed", Action: "snooze", Detail: fmt.Sprintf("incident %d: %s until %s%s", id, inc.Check, actions.Stamp(s.Until), because(reason))})
		x.report(ctx, actions.IncidentSnoozed, inc, who, "")
		return actions.Message{Summary: fmt.Sprintf("incident %d (%s) snoozed until %s; the check keeps running", id, inc.Check, actions.Stamp(s.Until))}, nil
	}
	cs, err := x.lookup(target)
	if err != nil {
		return actions.Message{}, actions.Errorf(actions.NotFound, "%q is neither an incident number nor a check; `incidents` and `checks` list them", target)
	}
	cs.mu.Lock()
	old := cs.rec.Snooze
	if d == 0 {
		cs.rec.Snooze = nil
	} else {
		cs.rec.Snooze = s
	}
	id := cs.rec.Incident
	cs.mu.Unlock()
	if err := x.commit.save(ctx, []*checkState{cs}, nil); err != nil {
		return actions.Message{}, err
	}
	if d == 0 {
		x.h.Audit(ctx, actions.AuditEntry{Person: who, Event: "check-unsnoozed", Action: "snooze", Detail: cs.d().check.Name})
		msg := fmt.Sprintf("check %s is no longer snoozed", cs.d().check.Name)
		if id != 0 && old.active(now) {
			// Its open incident's snooze ends too, when it took it from
			// the check, and escalation pages again from now.
			if inc, err := x.change(ctx, id, func(inc *Incident, _ *checkState) error {
				is := inc.Snooze
				if !is.active(now) || !is.Until.Equal(old.Until) || is.By != old.By {
					return actions.Errorf(actions.Conflict, "incident %d has a snooze of its own", id)
				}
				ended := *is
				ended.Until = now
				inc.Snooze = &ended
				inc.event(now, who, "check snooze ended")
				return nil
			}); err == nil {
				msg += fmt.Sprintf(", nor is incident %d", id)
				x.report(ctx, actions.IncidentSnoozed, inc, who, "")
			}
		}
		return actions.Message{Summary: msg}, nil
	}
	x.h.Audit(ctx, actions.AuditEntry{Person: who, Event: "check-snoozed", Action: "snooze", Detail: fmt.Sprintf("%s until %s%s", cs.d().check.Name, actions.Stamp(s.Until), because(reason))})
	msg := fmt.Sprintf("check %s snoozed until %s; it keeps running and its results are kept", cs.d().check.Name, actions.Stamp(s.Until))
	if id != 0 {
		// Its open incident is silenced too.
		if inc, err := x.change(ctx, id, func(inc *Incident, _ *checkState) error {
			inc.Snooze = s
			inc.Owed = true
			inc.event(now, who, "check snoozed until %s%s", actions.Stamp(s.Until), because(reason))
			return nil
		}); err == nil {
			msg += fmt.Sprintf(", and so is incident %d", id)
			x.report(ctx, actions.IncidentSnoozed, inc, who, "")
		}
	}
	return actions.Message{Summary: msg}, nil
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}
