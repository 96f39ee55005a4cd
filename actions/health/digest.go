package health

import (
	"context"
	"fmt"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// ChecksSection is the checks part of a status digest: how many are up
// and down, and a line per check with its uptime over the last 24 hours,
// failing checks first. The wiring hands it to the digests module; since
// is not used (checks are a state, not news).
func (x *Module) ChecksSection(ctx context.Context, since time.Time) (actions.Message, error) {
	r := x.r()
	if len(r.order) == 0 {
		return actions.Message{}, nil
	}
	if err := x.ready(ctx); err != nil {
		return actions.Message{}, err
	}
	now := x.h.Now()
	up, down, pending := 0, 0, 0
	m := actions.Message{Title: "checks"}
	var upLines []string
	for _, name := range r.order {
		cs := r.checks[name]
		cs.mu.Lock()
		last, failingSince := cs.rec.Last, cs.rec.FailingSince
		u, ok := cs.rec.uptime(now)
		cs.mu.Unlock()
		switch {
		case last == nil:
			pending++
		case last.OK:
			up++
			line := fmt.Sprintf("✓ %s up", name)
			if ok {
				line += fmt.Sprintf(" · %.1f%% up in 24h", 100*u)
			}
			upLines = append(upLines, line)
		default:
			down++
			line := fmt.Sprintf("✗ %s down since %s (%s): %s", name, actions.Stamp(failingSince), age(now, failingSince), last.Detail)
			if ok {
				line += fmt.Sprintf(" · %.1f%% up in 24h", 100*u)
			}
			m.Lines = append(m.Lines, line)
		}
	}
	m.Lines = append(m.Lines, upLines...)
	m.Summary = fmt.Sprintf("%d up, %d down", up, down)
	if pending > 0 {
		m.Summary += fmt.Sprintf(", %d not run yet", pending)
	}
	if down > 0 {
		m.Tone = actions.ToneDanger
	}
	return m, nil
}

// IncidentsSection is the open incidents part of a status digest; a zero
// message when none is open.
func (x *Module) IncidentsSection(ctx context.Context, since time.Time) (actions.Message, error) {
	if err := x.ready(ctx); err != nil {
		return actions.Message{}, err
	}
	now := x.h.Now()
	open := x.openIncidents()
	if len(open) == 0 {
		return actions.Message{}, nil
	}
	m := actions.Message{Title: "open incidents", Summary: fmt.Sprintf("%d open", len(open)), Tone: actions.ToneWarning}
	for _, inc := range open {
		who := "not acknowledged"
		if inc.AckedBy != "" {
			who = "acknowledged by " + inc.AckedBy
		}
		m.Lines = append(m.Lines, fmt.Sprintf("#%d %s — %s old, %s: %s", inc.ID, inc.Check, age(now, inc.Opened), who, inc.Detail))
	}
	return m, nil
}
