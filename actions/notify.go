package actions

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
)

// TargetKind says who a notification is for.
type TargetKind string

// Target kinds.
const (
	// ToChannel is a named channel from the config's channels, on every
	// platform it has an id on.
	ToChannel TargetKind = "channel"
	// ToPerson is a direct message to a person, on every platform they
	// are mapped on.
	ToPerson TargetKind = "person"
)

// Target is where a notification goes: "channel:NAME" or "person:NAME".
type Target struct {
	Kind TargetKind
	Name string
}

func (t Target) String() string { return string(t.Kind) + ":" + t.Name }

// ParseTarget reads "channel:NAME" or "person:NAME".
func ParseTarget(s string) (Target, error) {
	kind, name, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || name == "" {
		return Target{}, Errorf(Invalid, "%q is not a notification target: write channel:NAME or person:NAME", s)
	}
	switch TargetKind(kind) {
	case ToChannel, ToPerson:
		return Target{Kind: TargetKind(kind), Name: name}, nil
	}
	return Target{}, Errorf(Invalid, "%q is not a notification target: %q is not channel or person", s, kind)
}

// Channels maps infrabot's named channels to their ids per platform:
// Channels["default"]["slack"] = "C0INFRA".
type Channels map[string]map[string]string

// Names returns the channel names, sorted.
func (c Channels) Names() []string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Delivery counts what Notify sent and what it could not, for operators:
// a notification that finally fails is logged and counted, never dropped
// silently.
type Delivery struct {
	Sent, Failed atomic.Int64
}

// Notify sends m to every target: a channel on every platform where it has
// an id, a person as a direct message on every platform they are mapped
// on. It returns a reference per message delivered, for later updates
// (UpdateAll). Adapters retry what can be retried; what still fails is
// logged, counted, and reported in the error, which joins every failure
// (refs holds what did go out). A target that names nothing known is an
// error of kind Invalid.
func (e *Engine) Notify(ctx context.Context, to []Target, m Message) ([]MessageRef, error) {
	var refs []MessageRef
	var errs []error
	for _, t := range to {
		dests, err := e.destinations(t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(dests) == 0 {
			e.log.Warn("notification target reaches no connected chat", "target", t.String(), "summary", m.Summary)
		}
		for _, d := range dests {
			ref, err := e.deliver(ctx, d, m)
			if err != nil {
				e.delivery.Failed.Add(1)
				e.log.Error("notification not delivered", "target", t.String(), "platform", d.platform, "summary", m.Summary, "err", err)
				errs = append(errs, fmt.Errorf("%s on %s: %w", t, d.platform, err))
				continue
			}
			e.delivery.Sent.Add(1)
			refs = append(refs, ref)
		}
	}
	return refs, errors.Join(errs...)
}

// DeliveryStats returns how many notifications were sent and how many
// finally failed since start.
func (e *Engine) DeliveryStats() (sent, failed int64) {
	return e.delivery.Sent.Load(), e.delivery.Failed.Load()
}

// destination is one place on one platform.
type destination struct {
	platform string
	channel  string // a channel id, or "" for a direct message
	user     string // the platform's user id for a direct message
}

// destinations resolves t on every connected platform, in a stable order.
func (e *Engine) destinations(t Target) ([]destination, error) {
	platforms := e.platforms()
	s := e.Settings()
	var out []destination
	switch t.Kind {
	case ToChannel:
		ids, ok := s.Channels[t.Name]
		if !ok {
			return nil, Errorf(Invalid, "there is no channel %q in the config; declared: %s", t.Name, listOr(s.Channels.Names(), "none"))
		}
		for _, p := range platforms {
			if id := ids[p]; id != "" {
				out = append(out, destination{platform: p, channel: id})
			}
		}
	case ToPerson:
		person, ok := s.Policy.Person(t.Name)
		if !ok {
			return nil, Errorf(Invalid, "there is no person %q in the config", t.Name)
		}
		for _, p := range platforms {
			if id := person.IDs[p]; id != "" {
				out = append(out, destination{platform: p, user: id})
			}
		}
	default:
		return nil, Errorf(Invalid, "unknown notification target %q", t)
	}
	return out, nil
}

// platforms returns the connected chat platforms, sorted.
func (e *Engine) platforms() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.chats))
	for p := range e.chats {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (e *Engine) deliver(ctx context.Context, d destination, m Message) (MessageRef, error) {
	c := e.chat(d.platform)
	if c == nil {
		return MessageRef{}, fmt.Errorf("%s is not connected", d.platform)
	}
	m = e.localise(d.platform, m)
	if d.user != "" {
		return c.Direct(ctx, d.user, m)
	}
	return c.Post(ctx, d.channel, m)
}

// UpdateAll shows m in place of every message refs points to; failures
// are logged (adapters have retried them).
func (e *Engine) UpdateAll(ctx context.Context, refs []MessageRef, m Message) {
	for i := range refs {
		e.update(ctx, &refs[i], m)
	}
}

// localise fills in the platform's ids of the people m mentions: adapters
// render a mention with an id as the platform's mention, and one without
// as the person's name in plain text.
func (e *Engine) localise(platform string, m Message) Message {
	if len(m.Mentions) == 0 {
		return m
	}
	mentions := make([]Mention, len(m.Mentions))
	for i, men := range m.Mentions {
		men.ID = ""
		if p, ok := e.Policy().Person(men.Person); ok {
			men.ID = p.IDs[platform]
		}
		mentions[i] = men
	}
	m.Mentions = mentions
	return m
}
