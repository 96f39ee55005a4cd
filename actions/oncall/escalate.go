package oncall

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// The module is the kernel's escalation policy.
var _ actions.EscalationPolicy = (*Module)(nil)

// Escalation states.
const (
	paging       = "paging"
	acknowledged = "acknowledged"
	resolved     = "resolved"
)

// escalation is one incident's escalation, stored before anyone is paged.
type escalation struct {
	Incident int64            `json:"incident"`
	Check    string           `json:"check"`
	Summary  string           `json:"summary"`
	Detail   string           `json:"detail"`
	Policy   string           `json:"policy"`
	Notify   []actions.Target `json:"notify,omitempty"`
	Links    []actions.Link   `json:"links,omitempty"`
	Opened   time.Time        `json:"opened"`
	// Mentioned are the people the incident's message mentions (its
	// first level's responders): they get a direct message, no second
	// mention.
	Mentioned []string `json:"mentioned,omitempty"`

	State string `json:"state"`
	// Level is the last level paged (0 is the first); Round counts the
	// times the last level was paged again.
	Level int `json:"level"`
	Round int `json:"round,omitempty"`
	// Due is when the next level (or the last one again) is due by the
	// escalation's own clock; zero when nothing more is. Held is when
	// the incident's snooze ends: the next page is at the later of the
	// two (next). (Before Held was stored, Due held the later of them.)
	Due  time.Time `json:"due,omitzero"`
	Held time.Time `json:"held,omitzero"`
	By   string    `json:"by,omitempty"`
	Via  string    `json:"via,omitempty"`

	// Pages are the chat messages that paged, updated when the incident
	// is acknowledged or resolved; Pagers the services triggered.
	Pages  []pageRef `json:"pages,omitempty"`
	Pagers []string  `json:"pagers,omitempty"`
}

// pageRef is one page sent in chat: Refs by direct message (or in the
// paged channel), Shown the copies in the incident's channels that
// mention Person.
type pageRef struct {
	Level  int                  `json:"level"`
	Person string               `json:"person,omitempty"`
	Target string               `json:"target"`
	Refs   []actions.MessageRef `json:"refs"`
	Shown  []actions.MessageRef `json:"shown,omitempty"`
}

// DedupKey is the key of every PagerDuty event (and webhook event) about
// incident id.
func DedupKey(id int64) string { return "infrabot-incident-" + strconv.FormatInt(id, 10) }

// IncidentFromKey reads an incident id back from its DedupKey.
func IncidentFromKey(key string) (int64, bool) {
	n, ok := strings.CutPrefix(key, "infrabot-incident-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(n, 10, 64)
	return id, err == nil && id > 0
}

func (x *Module) load(ctx context.Context) error {
	return x.h.Store().View(ctx, func(tx actions.Tx) error {
		if err := tx.Bucket(bucketOverrides).ForEach(func(k, v []byte) error {
			var o Override
			if err := json.Unmarshal(v, &o); err != nil {
				return fmt.Errorf("reading override %d: %w", binary.BigEndian.Uint64(k), err)
			}
			x.overrides = append(x.overrides, &o)
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketEscalations).ForEach(func(k, v []byte) error {
			var e escalation
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("reading the escalation of incident %d: %w", binary.BigEndian.Uint64(k), err)
			}
			x.states[e.Incident] = &e
			return nil
		})
	})
}

// save stores e (the caller's copy, made under x.mu, with x.saveMu held).
func (x *Module) save(ctx context.Context, e *escalation) error { return x.store(ctx, e, nil) }

// store stores e as save does and, in the same transaction, puts evs in
// the outbox: the change and the events it causes are stored together
// or not at all.
func (x *Module) store(ctx context.Context, e *escalation, evs []*outEvent) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	now := x.h.Now()
	return x.h.Store().Update(context.WithoutCancel(ctx), func(tx actions.Tx) error {
		if err := enqueue(tx, evs, now); err != nil {
			return err
		}
		return tx.Bucket(bucketEscalations).Put(idKey(e.Incident), v)
	})
}

// next is when the next page is: the next level's due time, or the end
// of the snooze that holds it back; zero when nothing more is paged.
func (e *escalation) next() time.Time {
	if e.Due.IsZero() || !e.Held.After(e.Due) {
		return e.Due
	}
	return e.Held
}

func (e *escalation) clone() *escalation {
	cp := *e
	cp.Notify = slices.Clone(e.Notify)
	cp.Links = slices.Clone(e.Links)
	cp.Mentioned = slices.Clone(e.Mentioned)
	cp.Pages = slices.Clone(e.Pages)
	cp.Pagers = slices.Clone(e.Pagers)
	return &cp
}

// IncidentChanged starts, pauses or ends the escalation of ev's incident.
// The change is stored before it returns; pages go out in the background
// (Wait waits for them).
func (x *Module) IncidentChanged(ctx context.Context, ev actions.IncidentEvent) {
	if err := x.ready(ctx); err != nil {
		x.h.Log().Error("reading on-call state failed; the incident is not escalated", "incident", ev.ID, "err", err)
		return
	}
	switch ev.Change {
	case actions.IncidentOpened:
		x.opened(ctx, ev)
	case actions.IncidentAcknowledged:
		x.stop(ctx, ev, acknowledged)
	case actions.IncidentResolved:
		x.stop(ctx, ev, resolved)
	case actions.IncidentSnoozed:
		x.snoozed(ctx, ev)
	}
}

// snoozed holds the next page of ev's incident back until its snooze
// ends (ev.Until), shorter or longer than a snooze before; a snooze that
// ended (Until not after now) holds nothing: the next page is at the
// level's own due time, or now if that passed.
func (x *Module) snoozed(ctx context.Context, ev actions.IncidentEvent) {
	now := x.h.Now()
	x.saveMu.Lock()
	x.mu.Lock()
	e, ok := x.states[ev.ID]
	// Nothing more due (the last level was paged and does not repeat):
	// a snooze has no page to hold back.
	if !ok || e.State != paging || e.Due.IsZero() {
		x.mu.Unlock()
		x.saveMu.Unlock()
		return
	}
	before, held := e.next(), ev.Until
	if !held.After(now) {
		held = time.Time{}
	}
	e.Held = held
	next := e.next()
	if next.Equal(before) {
		x.mu.Unlock()
		x.saveMu.Unlock()
		return
	}
	cp := e.clone()
	x.mu.Unlock()
	err := x.save(ctx, cp)
	x.saveMu.Unlock()
	if err != nil {
		x.h.Log().Error("storing an escalation failed", "incident", ev.ID, "err", err)
	}
	if held.IsZero() {
		if next.Before(now) {
			next = now // paged at the next tick
		}
		x.note(ctx, ev.ID, fmt.Sprintf("escalation goes on, the snooze ended: next page at %s", actions.Stamp(next)))
		return
	}
	x.note(ctx, ev.ID, fmt.Sprintf("escalation waits for the snooze: next page at %s", actions.Stamp(next)))
}

func (x *Module) opened(ctx context.Context, ev actions.IncidentEvent) {
	pol, ok := x.escalations[ev.Escalation]
	if !ok {
		x.h.Log().Error("an incident names an escalation that is not declared; nobody is paged", "incident", ev.ID, "escalation", ev.Escalation)
		x.note(ctx, ev.ID, fmt.Sprintf("nobody paged: escalation %q is not declared", ev.Escalation))
		return
	}
	now := x.h.Now()
	x.saveMu.Lock()
	x.mu.Lock()
	if _, known := x.states[ev.ID]; known {
		x.mu.Unlock()
		x.saveMu.Unlock()
		return
	}
	e := &escalation{
		Incident: ev.ID, Check: ev.Check, Summary: ev.Summary, Detail: ev.Detail, Policy: pol.Name,
		Notify: ev.Notify, Links: ev.Links, Opened: now, State: paging, Level: -1, Due: now,
	}
	// The message mentions the first level's responders (Responders);
	// they are paged by direct message only.
	for _, t := range pol.Levels[0].Notify {
		e.Mentioned = append(e.Mentioned, x.peopleLocked(t, now)...)
	}
	x.states[ev.ID] = e
	cp := e.clone()
	x.mu.Unlock()
	// Stored before the caller goes on (the health module marks the
	// incident escalated): a restart pages it. Should the store fail, the
	// first level is stored with its page, or retried at the next tick.
	err := x.save(ctx, cp)
	x.saveMu.Unlock()
	if err != nil {
		x.h.Log().Error("storing an escalation failed", "incident", ev.ID, "err", err)
	}
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.advance(context.WithoutCancel(ctx), ev.ID)
	}()
}

// peopleLocked is people with x.mu held.
func (x *Module) peopleLocked(t Target, now time.Time) []string {
	if t.Kind == ToSchedule {
		if s, ok := x.schedules[t.Name]; ok {
			return []string{x.onCallLocked(s, now).Person}
		}
		return nil
	}
	if t.Kind == ToPerson {
		return []string{t.Name}
	}
	return nil
}

// advance pages the next level of incident id's escalation (the last
// one again when it is there), if it is still paging and due. The level
// is stored as paged, with its events for PagerDuty and webhooks in the
// outbox, in one transaction before anyone is paged, and audited: a
// restart never pages it again in chat, and never loses its events. When
// the store fails, nothing moves on: the next tick tries again.
func (x *Module) advance(ctx context.Context, id int64) {
	x.saveMu.Lock()
	now := x.h.Now()
	x.mu.Lock()
	e, ok := x.states[id]
	var pol *Escalation
	if ok {
		pol = x.escalations[e.Policy]
	}
	if !ok || pol == nil || e.State != paging || e.next().IsZero() || e.next().After(now) {
		x.mu.Unlock()
		x.saveMu.Unlock()
		return
	}
	cp := e.clone()
	x.mu.Unlock()
	level, repeat := cp.Level+1, false
	if level >= len(pol.Levels) {
		level, repeat = len(pol.Levels)-1, true
		cp.Round++
	}
	cp.Level = level
	cp.Due, cp.Held = time.Time{}, time.Time{}
	if level+1 < len(pol.Levels) {
		cp.Due = now.Add(pol.Levels[level+1].After)
	} else if every := cmp.Or(pol.Levels[level].Repeat, pol.Levels[level].After); every > 0 {
		cp.Due = now.Add(every)
	}
	var out []*outEvent
	var said []string
	for _, t := range pol.Levels[level].Notify {
		switch t.Kind {
		case ToSchedule, ToPerson:
			for _, p := range x.people(t, now) {
				said = append(said, fmt.Sprintf("%s (%s)", p, t))
			}
		case ToChannel:
			said = append(said, t.String())
		case ToPagerDuty, ToWebhook:
			out = append(out, &outEvent{Target: t.String(), Notify: cp.Notify, Event: PagerEvent{
				Action: Trigger, DedupKey: DedupKey(cp.Incident), Incident: cp.Incident, Check: cp.Check,
				Summary: cp.Summary, Source: cp.Check, Severity: "critical", Links: cp.Links, Level: level + 1, Time: now,
			}})
			if !slices.Contains(cp.Pagers, t.String()) {
				cp.Pagers = append(cp.Pagers, t.String())
			}
			said = append(said, t.String()+" (queued)")
		}
	}
	err := x.store(ctx, cp, out)
	if err == nil {
		x.mu.Lock()
		x.states[id] = cp.clone()
		x.mu.Unlock()
	}
	x.saveMu.Unlock()
	if err != nil {
		x.h.Log().Error("storing an escalation failed; its level is paged at the next tick", "incident", id, "level", level+1, "err", err)
		return
	}
	what := fmt.Sprintf("paging level %d of %s: %s", level+1, pol.Name, strings.Join(said, ", "))
	if repeat {
		what = fmt.Sprintf("paging level %d of %s again (not acknowledged): %s", level+1, pol.Name, strings.Join(said, ", "))
	}
	x.h.Audit(ctx, actions.AuditEntry{Person: "infrabot", Event: "incident-paged", Action: "oncall", Detail: fmt.Sprintf("incident %d: %s", id, what)})
	// PagerDuty and webhooks are sent alongside the chat pages: a
	// platform slow to take a page (a 429 with a long Retry-After) must
	// not hold up the pager, nor a slow pager the chat.
	var sent sync.WaitGroup
	if len(out) > 0 {
		sent.Go(func() {
			if err := x.flush(ctx); err != nil {
				x.h.Log().Error("sending page events failed", "err", err)
			}
		})
	}
	x.page(ctx, cp, pol, level, repeat, now)
	sent.Wait()
}

// page sends the chat pages of level of e's escalation (its events for
// PagerDuty and webhooks are in the outbox): a direct message to each
// person (and, from the second level on, a mention in the incident's
// channels), a page in each channel.
func (x *Module) page(ctx context.Context, e *escalation, pol *Escalation, level int, repeat bool, now time.Time) {
	lv := pol.Levels[level]
	var pages []pageRef
	var said, chat []string
	for _, t := range lv.Notify {
		switch t.Kind {
		case ToSchedule, ToPerson:
			for _, p := range x.people(t, now) {
				dm := x.pageMessage(e, pol, level, repeat, t, p, true)
				refs, err := x.h.Notify(ctx, []actions.Target{{Kind: actions.ToPerson, Name: p}}, dm)
				how := fmt.Sprintf("direct message on %s", actions.Plural(len(refs), "platform"))
				if len(refs) == 0 {
					how = "no direct message: not on any connected chat platform"
				}
				if err != nil {
					x.h.Log().Warn("a page by direct message did not reach every platform", "incident", e.Incident, "person", p, "err", err)
					how += ", some failed"
				}
				x.counted(ViaChat, err == nil && len(refs) > 0)
				pr := pageRef{Level: level, Person: p, Target: t.String(), Refs: refs}
				if level > 0 || repeat || !slices.Contains(e.Mentioned, p) {
					// The incident's message mentions only the first
					// level's responders: a later page is said in its
					// channels too.
					cm := x.pageMessage(e, pol, level, repeat, t, p, false)
					chans := channelsOf(e.Notify)
					crefs, err := x.h.Notify(ctx, chans, cm)
					if err == nil || len(crefs) > 0 {
						pr.Shown = crefs
						how += ", mentioned in the channel"
					}
					if len(chans) > 0 {
						x.counted(ViaChat, err == nil && len(crefs) > 0)
					}
				}
				pages = append(pages, pr)
				said = append(said, fmt.Sprintf("%s (%s: %s)", p, t, how))
				chat = append(chat, said[len(said)-1])
			}
		case ToChannel:
			m := x.pageMessage(e, pol, level, repeat, t, "", false)
			refs, err := x.h.Notify(ctx, []actions.Target{{Kind: actions.ToChannel, Name: t.Name}}, m)
			how := ""
			if err != nil {
				x.h.Log().Warn("a page in a channel did not reach every platform", "incident", e.Incident, "channel", t.Name, "err", err)
				how = " (some failed)"
			}
			x.counted(ViaChat, err == nil && len(refs) > 0)
			pages = append(pages, pageRef{Level: level, Target: t.String(), Refs: refs})
			said = append(said, t.String())
			chat = append(chat, t.String()+how)
		case ToPagerDuty, ToWebhook:
			said = append(said, t.String()+" (queued)")
		}
	}
	x.saveMu.Lock()
	x.mu.Lock()
	if cur, ok := x.states[e.Incident]; ok {
		cur.Pages = append(cur.Pages, pages...)
		e = cur.clone()
	}
	stopped := e.State != paging
	x.mu.Unlock()
	err := x.save(ctx, e)
	x.saveMu.Unlock()
	if err != nil {
		x.h.Log().Error("storing an escalation's pages failed", "incident", e.Incident, "err", err)
	}
	if stopped {
		// Acknowledged or resolved while we paged: the pages just sent
		// say so too.
		x.updatePages(ctx, e, pages)
	}
	again := ""
	if repeat {
		again = " again (not acknowledged)"
	}
	x.note(ctx, e.Incident, fmt.Sprintf("paged level %d of %s%s: %s", level+1, pol.Name, again, strings.Join(said, "; ")))
	if len(chat) > 0 {
		x.h.Audit(ctx, actions.AuditEntry{Person: "infrabot", Event: "incident-chat-paged", Action: "oncall",
			Detail: fmt.Sprintf("incident %d: paged level %d of %s%s in chat: %s", e.Incident, level+1, pol.Name, again, strings.Join(chat, "; "))})
	}
}

func channelsOf(ts []actions.Target) []actions.Target {
	var out []actions.Target
	for _, t := range ts {
		if t.Kind == actions.ToChannel {
			out = append(out, t)
		}
	}
	return out
}

// pageMessage is a page: to person by direct message (dm), or in a
// channel, mentioning person when there is one.
func (x *Module) pageMessage(e *escalation, pol *Escalation, level int, repeat bool, t Target, person string, dm bool) actions.Message {
	why := "incident opened"
	if level > 0 || repeat {
		why = fmt.Sprintf("not acknowledged after %s", actions.Elapsed(x.h.Now().Sub(e.Opened).Truncate(time.Minute)))
	}
	m := actions.Message{
		Title: fmt.Sprintf("page: incident %d — %s failing", e.Incident, e.Check),
		Text:  e.Detail,
		Fields: []actions.Field{
			{Label: "escalation", Value: fmt.Sprintf("%s, level %d of %d (%s)", pol.Name, level+1, len(pol.Levels), t)},
			{Label: "why", Value: why},
		},
		Links: e.Links,
		Tone:  actions.ToneDanger,
		Buttons: []actions.Button{
			{Label: "Acknowledge", Command: fmt.Sprintf("ack %d", e.Incident), Style: actions.ToneSuccess},
			{Label: "Resolve", Command: fmt.Sprintf("resolve %d", e.Incident)},
		},
		Footer: fmt.Sprintf("or type `ack %d`; `incident %d` shows its timeline", e.Incident, e.Incident),
	}
	to := "you"
	if !dm && person != "" {
		m.Mentions = actions.MentionAll(person)
		to = person
	} else if !dm {
		to = t.String()
	}
	m.Summary = fmt.Sprintf("page for %s: incident %d: %s failing — %s — level %d of %s, %s", to, e.Incident, e.Check, e.Detail, level+1, pol.Name, why)
	return m
}

// stop ends the paging of ev's incident: acknowledged or resolved. Pages
// sent are updated, and pagers told with the same dedup key.
func (x *Module) stop(ctx context.Context, ev actions.IncidentEvent, state string) {
	x.saveMu.Lock()
	x.mu.Lock()
	e, ok := x.states[ev.ID]
	if !ok {
		// Not paged (yet): remember, so that a late "opened" pages no one.
		e = &escalation{Incident: ev.ID, Check: ev.Check, Summary: ev.Summary, Policy: ev.Escalation, Notify: ev.Notify, Opened: ev.Time, Level: -1}
		x.states[ev.ID] = e
	}
	if e.State == resolved || (e.State == acknowledged && state == acknowledged) {
		x.mu.Unlock()
		x.saveMu.Unlock()
		return
	}
	e.State, e.Due, e.By, e.Via = state, time.Time{}, ev.By, ev.Via
	cp := e.clone()
	x.mu.Unlock()
	action := Acknowledge
	if state == resolved {
		action = Resolve
	}
	var out []*outEvent
	for _, target := range cp.Pagers {
		if ev.Via == "pagerduty" && strings.HasPrefix(target, string(ToPagerDuty)+":") {
			continue // PagerDuty knows: that is where it was done
		}
		out = append(out, &outEvent{Target: target, Notify: cp.Notify, Event: PagerEvent{
			Action: action, DedupKey: DedupKey(cp.Incident), Incident: cp.Incident, Check: cp.Check,
			Summary: cp.Summary, Source: cp.Check, By: ev.By, Time: x.h.Now(),
		}})
	}
	// Stored with the events it causes: a crash while the pages are
	// updated still tells the pagers at the next start.
	err := x.store(ctx, cp, out)
	x.saveMu.Unlock()
	if err != nil {
		x.h.Log().Error("storing an escalation failed", "incident", ev.ID, "err", err)
		if len(out) > 0 {
			x.note(ctx, ev.ID, fmt.Sprintf("%s not sent to pagers: the events could not be stored", action))
		}
		out = nil
	}
	if len(cp.Pages) == 0 && len(out) == 0 {
		return
	}
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		ctx := context.WithoutCancel(ctx)
		x.updatePages(ctx, cp, cp.Pages)
		if len(out) > 0 {
			if err := x.flush(ctx); err != nil {
				x.h.Log().Error("sending page events failed", "err", err)
			}
		}
	}()
}

// updatePages shows in every page of pages that e is acknowledged or
// resolved, without buttons.
func (x *Module) updatePages(ctx context.Context, e *escalation, pages []pageRef) {
	for _, p := range pages {
		m := x.stoppedMessage(e, p)
		if len(p.Shown) > 0 {
			shown := m
			shown.Mentions = actions.MentionAll(p.Person)
			x.h.Update(ctx, p.Shown, shown)
		}
		x.h.Update(ctx, p.Refs, m)
	}
}

func (x *Module) stoppedMessage(e *escalation, p pageRef) actions.Message {
	how := e.State
	if e.By != "" {
		how += " by " + e.By
	} else if e.State == resolved {
		how += ": the check recovered"
	}
	if e.Via != "" {
		how += " in " + e.Via
	}
	m := actions.Message{
		Title:  fmt.Sprintf("page: incident %d — %s %s", e.Incident, e.Check, how),
		Text:   e.Detail,
		Fields: []actions.Field{{Label: "escalation", Value: fmt.Sprintf("%s, level %d (%s)", e.Policy, p.Level+1, p.Target)}},
		Links:  e.Links,
		Tone:   actions.ToneSuccess,
	}
	if e.State == acknowledged {
		m.Tone = actions.ToneWarning
	}
	m.Summary = fmt.Sprintf("page: incident %d: %s — %s", e.Incident, e.Check, how)
	return m
}

// tick is the escalation job: it pages the levels that came due (once,
// however long ago: after a restart, a level due while infrabot was down
// fires now) and sends the pager events due for a retry.
func (x *Module) tick(ctx context.Context) error {
	if err := x.ready(ctx); err != nil {
		return err
	}
	now := x.h.Now()
	x.mu.Lock()
	var due []int64
	for id, e := range x.states {
		if next := e.next(); e.State == paging && !next.IsZero() && !next.After(now) {
			due = append(due, id)
		}
	}
	x.mu.Unlock()
	slices.Sort(due)
	for _, id := range due {
		x.advance(ctx, id)
	}
	return x.flush(ctx)
}

// FromPagerDuty takes an acknowledgement or a resolution made in
// PagerDuty (its webhook): the incident the dedup key names is
// acknowledged or resolved in infrabot, as by. A key that names no
// incident of infrabot's is ignored.
func (x *Module) FromPagerDuty(ctx context.Context, dedupKey, action, by string) error {
	id, ok := IncidentFromKey(dedupKey)
	if !ok {
		return nil
	}
	if by == "" {
		by = "someone"
	}
	desk := x.h.IncidentDesk()
	var err error
	switch action {
	case Acknowledge:
		err = desk.Acknowledge(ctx, id, by, "pagerduty")
	case Resolve:
		err = desk.Resolve(ctx, id, by, "pagerduty")
	}
	if actions.ErrorKind(err) == actions.NotFound {
		// Not an error to retry: PagerDuty would deliver it again and
		// again.
		x.h.Log().Info("a PagerDuty webhook names no incident here; ignored", "incident_key", dedupKey, "action", action)
		return nil
	}
	return err
}
