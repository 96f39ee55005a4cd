package actions

import (
	"context"
	"time"
)

// Incidents and escalation meet here. The health module opens incidents;
// the on-call module pages people about them and escalates until someone
// acknowledges. Neither imports the other: the wiring hands the engine an
// EscalationPolicy (on-call) and an IncidentDesk (health), and each module
// reaches the other's through its handle (Handle.Escalation,
// Handle.IncidentDesk). Without them, incidents are only posted, and
// nobody is paged.

// IncidentChange is what happened to an incident.
type IncidentChange string

// Incident changes an escalation policy hears about.
const (
	// IncidentOpened: the incident's message has been posted (Refs);
	// escalation starts.
	IncidentOpened IncidentChange = "opened"
	// IncidentAcknowledged: someone is on it; escalation stops.
	IncidentAcknowledged IncidentChange = "acknowledged"
	// IncidentSnoozed: notifications are held back until Until;
	// escalation waits until then.
	IncidentSnoozed IncidentChange = "snoozed"
	// IncidentResolved: the incident is over; escalation ends.
	IncidentResolved IncidentChange = "resolved"
)

// IncidentEvent is one change in an incident's life, as the module that
// owns incidents reports it.
type IncidentEvent struct {
	Change IncidentChange
	ID     int64
	// Check is what failed; Summary says the incident in one line and
	// Detail why it failed.
	Check, Summary, Detail string
	// Escalation names the escalation policy the incident follows (the
	// check's escalation); "" for none.
	Escalation string
	// Notify are the incident's notification targets: where it is
	// posted, and where a page that cannot be delivered is reported.
	Notify []Target
	// Refs are every copy of the incident's message.
	Refs []MessageRef
	// Links lead back to what failed (an HTTP check's URL).
	Links []Link
	// By is who acknowledged or resolved it ("" when infrabot did: the
	// check recovered); Via is where, when not in infrabot's chat
	// ("pagerduty"), so that a change is not sent back where it came from.
	By, Via string
	// Until is when a snooze ends.
	Until time.Time
	Time  time.Time
}

// EscalationPolicy pages people about incidents, and escalates until one
// of them acknowledges. The on-call module implements it.
type EscalationPolicy interface {
	// Responders returns who the first level of the named escalation
	// pages now, so that the incident's message mentions them.
	Responders(escalation string) []string
	// IncidentChanged hears of an incident's change. It returns once the
	// change is stored; pages go out after. It is told an incident
	// opened at most once per start, and ignores one it already knows.
	IncidentChanged(ctx context.Context, ev IncidentEvent)
}

// IncidentDesk is what the escalation side may do to incidents: take an
// acknowledgement or a resolution that came from outside infrabot's chat
// (PagerDuty), and write in an incident's timeline. The health module
// implements it.
type IncidentDesk interface {
	// Acknowledge acknowledges incident id as by, who acted via (a
	// service's name); acknowledging one already acknowledged is no
	// error.
	Acknowledge(ctx context.Context, id int64, by, via string) error
	// Resolve resolves incident id as by, via; resolving one already
	// resolved is no error.
	Resolve(ctx context.Context, id int64, by, via string) error
	// Note adds a line to incident id's timeline (a page sent, one that
	// failed), shown by `incident <id>`.
	Note(ctx context.Context, id int64, what string) error
}

// SetEscalation makes p the escalation policy incidents are reported to.
// The wiring calls it before the engine starts.
func (e *Engine) SetEscalation(p EscalationPolicy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.escalation = p
}

// SetIncidentDesk makes d the desk escalation acts on incidents through.
// The wiring calls it before the engine starts.
func (e *Engine) SetIncidentDesk(d IncidentDesk) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.desk = d
}

// Escalation returns the escalation policy the wiring set; without one,
// a policy that pages nobody.
func (h *Handle) Escalation() EscalationPolicy {
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	if h.e.escalation == nil {
		return noEscalation{}
	}
	return h.e.escalation
}

// IncidentDesk returns the incident desk the wiring set; without one, a
// desk that refuses with a clear message.
func (h *Handle) IncidentDesk() IncidentDesk {
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	if h.e.desk == nil {
		return noDesk{}
	}
	return h.e.desk
}

type noEscalation struct{}

func (noEscalation) Responders(string) []string                         { return nil }
func (noEscalation) IncidentChanged(context.Context, IncidentEvent)     {}
func (noDesk) Acknowledge(context.Context, int64, string, string) error { return errNoDesk }
func (noDesk) Resolve(context.Context, int64, string, string) error     { return errNoDesk }
func (noDesk) Note(context.Context, int64, string) error                { return errNoDesk }

type noDesk struct{}

var errNoDesk = Errorf(Unavailable, "this infrabot has no incidents (the health module is not wired)")

// Allowed reports whether person may use permission (a name an action
// checks itself, listed in Action.Permissions), under the policy in
// force: nil, or a Permission error saying why not.
func (h *Handle) Allowed(person *Person, permission string) error {
	return h.e.Policy().Allowed(person, permission, "")
}
