// Package oncall is the on-call module: who is on call (schedules that
// rotate their members daily, weekly or every N days at a handoff time in
// a time zone, and overrides people set with `oncall override`), and
// escalation — paging the people, channels, PagerDuty services and
// webhooks an incident's escalation names, level after level, until
// someone acknowledges.
//
// It is the kernel's actions.EscalationPolicy: the health module reports
// incidents through the kernel, and on-call acts on them through the
// kernel's actions.IncidentDesk (an acknowledgement made in PagerDuty, a
// note in an incident's timeline); neither module imports the other.
//
// Escalations and the events for PagerDuty and webhooks are stored before
// they are acted on, and driven by one kernel job (oncall/escalate), so a
// restart pages no one twice and forgets no level that came due while
// infrabot was down: it fires once at start.
package oncall

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Name is the module's name, for Engine.Module.
const Name = "oncall"

// Buckets are the storage buckets the module owns.
var Buckets = []string{bucketOverrides, bucketEscalations, bucketOutbox}

const (
	bucketOverrides   = "overrides"   // id → Override
	bucketEscalations = "escalations" // incident id → escalation
	bucketOutbox      = "outbox"      // sequence → outEvent, until delivered or given up
)

// Schedule is a rotation of people.
type Schedule struct {
	Name     string
	Rotation Rotation
	// Members take shifts in this order.
	Members []string
}

// TargetKind is what an escalation level pages.
type TargetKind string

// Target kinds.
const (
	ToSchedule  TargetKind = "schedule"  // whoever is on call in the schedule
	ToPerson    TargetKind = "person"    // one person
	ToChannel   TargetKind = "channel"   // a named channel
	ToPagerDuty TargetKind = "pagerduty" // a PagerDuty service
	ToWebhook   TargetKind = "webhook"   // a webhook
)

// Target is what a level pages: "schedule:ci-oncall", "person:alice",
// "channel:default", "pagerduty:ci", "webhook:ops".
type Target struct {
	Kind TargetKind
	Name string
}

func (t Target) String() string { return string(t.Kind) + ":" + t.Name }

// ParseTarget reads a level's target.
func ParseTarget(s string) (Target, error) {
	kind, name, ok := strings.Cut(strings.TrimSpace(s), ":")
	t := Target{Kind: TargetKind(kind), Name: name}
	if !ok || name == "" {
		return t, actions.Errorf(actions.Invalid, "%q is not a page target: write schedule:NAME, person:NAME, channel:NAME, pagerduty:SERVICE or webhook:NAME", s)
	}
	switch t.Kind {
	case ToSchedule, ToPerson, ToChannel, ToPagerDuty, ToWebhook:
		return t, nil
	}
	return t, actions.Errorf(actions.Invalid, "%q is not a page target: %q is not schedule, person, channel, pagerduty or webhook", s, kind)
}

// Level is one step of an escalation.
type Level struct {
	// After is how long after the previous level was paged, with no
	// acknowledgement, this one is; 0 for the first level.
	After time.Duration
	// Repeat is how often the last level is paged again while nobody
	// acknowledges; its After when 0. The last level of an escalation
	// whose Repeat and After are both 0 is paged once.
	Repeat time.Duration
	Notify []Target
}

// Escalation is a named list of levels.
type Escalation struct {
	Name   string
	Levels []Level
}

// Options are what the module needs from the wiring.
type Options struct {
	// Pagers deliver the pagerduty: and webhook: targets, by target
	// ("pagerduty:ci", "webhook:ops"). A level naming one that is
	// missing is refused by New.
	Pagers map[string]Pager
	// Schedule is the escalation job's spec; DefaultTick when "".
	Schedule string
}

// DefaultTick is how often due levels and pager retries are looked at.
const DefaultTick = "@every 5s"

// Module is the on-call module.
type Module struct {
	h           *actions.Handle
	schedules   map[string]*Schedule
	order       []string // schedule names, sorted
	escalations map[string]*Escalation
	pagers      map[string]Pager

	loaded  sync.Once // the store is read at first use
	loadErr error

	mu        sync.Mutex // guards overrides, states, nextID
	overrides []*Override
	states    map[int64]*escalation
	// saveMu is held from a change to an escalation in states until it
	// is stored, so that the store sees the changes in the order they
	// were made (an ack stored before a page of the same incident is not
	// overwritten by it). Taken before mu.
	saveMu sync.Mutex

	sendMu sync.Mutex     // one delivery pass over the outbox at a time
	wg     sync.WaitGroup // pages going out

	// pages count the pages sent and failed, by way (PageVias).
	pages [len(PageVias)]struct{ sent, failed atomic.Uint64 }
}

// Ways a page goes, in the order Pages reports them: in chat (a direct
// message, a mention or a page in a channel), or as a trigger event to
// a PagerDuty service or a webhook.
const (
	ViaChat      = "chat"
	ViaPagerDuty = string(ToPagerDuty)
	ViaWebhook   = string(ToWebhook)
)

// PageVias are the ways a page goes.
var PageVias = [...]string{ViaChat, ViaPagerDuty, ViaWebhook}

// PageCount is how many pages went one way so far: sent, or failed.
type PageCount struct {
	Via          string
	Sent, Failed uint64
}

// Pages returns the pages sent and failed since the module was made,
// one count for each of PageVias, for metrics. A chat page is sent when
// every connected platform took it, failed when one did not or the
// person is on none; a pager's trigger event is counted once, when the
// service took it or when it was refused or given up after its retries
// (an event waiting for a retry is in neither count).
func (x *Module) Pages() []PageCount {
	out := make([]PageCount, len(PageVias))
	for i, via := range PageVias {
		out[i] = PageCount{Via: via, Sent: x.pages[i].sent.Load(), Failed: x.pages[i].failed.Load()}
	}
	return out
}

// counted counts one page that went via: sent (ok) or failed.
func (x *Module) counted(via string, ok bool) {
	for i, v := range PageVias {
		if v != via {
			continue
		}
		if ok {
			x.pages[i].sent.Add(1)
		} else {
			x.pages[i].failed.Add(1)
		}
	}
}

// New makes the module on h, which must own Buckets: it registers
// `oncall` and the escalation job. Schedules naming unknown people,
// escalations naming unknown schedules or pagers, are errors of kind
// Invalid.
func New(h *actions.Handle, schedules []Schedule, escalations []Escalation, opts Options) (*Module, error) {
	x := &Module{
		h: h, schedules: map[string]*Schedule{}, escalations: map[string]*Escalation{},
		pagers: opts.Pagers, states: map[int64]*escalation{},
	}
	for i := range schedules {
		s := schedules[i]
		if len(s.Members) == 0 {
			return nil, actions.Errorf(actions.Invalid, "schedule %s has no members", s.Name)
		}
		if s.Rotation.Days <= 0 || s.Rotation.Location == nil {
			return nil, actions.Errorf(actions.Invalid, "schedule %s has no rotation", s.Name)
		}
		if _, dup := x.schedules[s.Name]; dup {
			return nil, actions.Errorf(actions.Invalid, "schedule %s is declared twice", s.Name)
		}
		x.schedules[s.Name] = &s
		x.order = append(x.order, s.Name)
	}
	sort.Strings(x.order)
	for i := range escalations {
		e := escalations[i]
		if len(e.Levels) == 0 {
			return nil, actions.Errorf(actions.Invalid, "escalation %s has no levels", e.Name)
		}
		for j, l := range e.Levels {
			if len(l.Notify) == 0 {
				return nil, actions.Errorf(actions.Invalid, "escalation %s: level %d pages nobody", e.Name, j+1)
			}
			for _, t := range l.Notify {
				if err := x.known(t); err != nil {
					return nil, actions.Errorf(actions.Invalid, "escalation %s: level %d: %s", e.Name, j+1, actions.ErrorMessage(err))
				}
			}
		}
		x.escalations[e.Name] = &e
	}
	x.register()
	spec := opts.Schedule
	if spec == "" {
		spec = DefaultTick
	}
	if err := h.Schedule("escalate", spec, "", x.tick); err != nil {
		return nil, err
	}
	return x, nil
}

// known checks that t names something declared.
func (x *Module) known(t Target) error {
	switch t.Kind {
	case ToSchedule:
		if _, ok := x.schedules[t.Name]; !ok {
			return actions.Errorf(actions.Invalid, "there is no schedule %q", t.Name)
		}
	case ToPagerDuty, ToWebhook:
		if _, ok := x.pagers[t.String()]; !ok {
			return actions.Errorf(actions.Invalid, "%s is not configured", t)
		}
	}
	return nil
}

// ready reads overrides and escalations from the store the first time
// anything needs them, so that a build made only to list its commands
// can make the module.
func (x *Module) ready(ctx context.Context) error {
	x.loaded.Do(func() { x.loadErr = x.load(ctx) })
	return x.loadErr
}

// Wait blocks until every page started so far has gone out (or been
// queued for a retry).
func (x *Module) Wait() { x.wg.Wait() }

// Close waits for pages going out; the wiring calls it after the
// scheduler is closed and before the store is.
func (x *Module) Close() { x.Wait() }

// Schedules returns the schedules' names, sorted.
func (x *Module) Schedules() []string { return slices.Clone(x.order) }

// Responders returns who the first level of the escalation called name
// pages now: the people on call in its schedules and the people it
// names. The health module mentions them in the incident's message.
func (x *Module) Responders(name string) []string {
	e, ok := x.escalations[name]
	if !ok {
		return nil
	}
	if err := x.ready(context.Background()); err != nil {
		x.h.Log().Error("reading on-call state failed", "err", err)
	}
	var out []string
	for _, t := range e.Levels[0].Notify {
		for _, p := range x.people(t, x.h.Now()) {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// people returns who target t pages at now: the person on call in a
// schedule, or the person named.
func (x *Module) people(t Target, now time.Time) []string {
	switch t.Kind {
	case ToSchedule:
		if s, ok := x.schedules[t.Name]; ok {
			return []string{x.onCall(s, now).Person}
		}
	case ToPerson:
		return []string{t.Name}
	}
	return nil
}

// local writes t in loc as people there read it.
func local(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Mon Jan 2 15:04 MST")
}
