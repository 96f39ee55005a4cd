package health

import (
	"context"

	"github.com/infrabot/infrabot/actions"
)

// The module is the kernel's actions.IncidentDesk: escalation (on-call)
// acknowledges and resolves incidents acted on in PagerDuty, and writes
// what it paged in their timelines, through the kernel, never by
// importing this package.
var _ actions.IncidentDesk = (*Module)(nil)

// Acknowledge acknowledges incident id as by, who acted in via; an
// incident already acknowledged or resolved is left as it is.
func (x *Module) Acknowledge(ctx context.Context, id int64, by, via string) error {
	if err := x.ready(ctx); err != nil {
		return err
	}
	_, err := x.acknowledge(ctx, id, by, via)
	if actions.ErrorKind(err) == actions.Conflict {
		return nil
	}
	return err
}

// Resolve resolves incident id as by, who acted in via; an incident
// already resolved is left as it is.
func (x *Module) Resolve(ctx context.Context, id int64, by, via string) error {
	if err := x.ready(ctx); err != nil {
		return err
	}
	_, err := x.resolveBy(ctx, id, by, via)
	if actions.ErrorKind(err) == actions.Conflict {
		return nil
	}
	return err
}

// Note adds what to incident id's timeline, as infrabot, open or
// resolved.
func (x *Module) Note(ctx context.Context, id int64, what string) error {
	if err := x.ready(ctx); err != nil {
		return err
	}
	now := x.h.Now()
	x.mu.Lock()
	if inc, ok := x.open[id]; ok {
		inc.event(now, bot, "%s", what)
		x.mu.Unlock()
		return x.commit.save(ctx, nil, []*Incident{inc})
	}
	x.mu.Unlock()
	// A resolved incident is read, added to and written back: one note
	// at a time, so that none is lost. One being resolved is written to
	// as it is, so that the note and the resolution are stored together.
	x.noteMu.Lock()
	defer x.noteMu.Unlock()
	x.mu.Lock()
	if inc, ok := x.closing[id]; ok {
		inc.event(now, bot, "%s", what)
		x.mu.Unlock()
		return x.commit.save(ctx, nil, []*Incident{inc})
	}
	x.mu.Unlock()
	inc, err := x.incident(ctx, id)
	if err != nil {
		return err
	}
	x.mu.Lock()
	inc.event(now, bot, "%s", what)
	x.mu.Unlock()
	return x.commit.save(ctx, nil, []*Incident{inc})
}
