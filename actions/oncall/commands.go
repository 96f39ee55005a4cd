package oncall

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// PermissionOverride is what a role must allow, besides oncall, to set or
// remove overrides.
const PermissionOverride = "oncall-override"

func (x *Module) register() {
	x.h.Register(&actions.Action{
		Name:    "oncall",
		Summary: "who is on call now and next in every schedule; `oncall override` to take a shift",
		Help: "`oncall` shows every schedule: who is on call now, until when, and who is next, with overrides marked. " +
			"`oncall override <person> <duration> [schedule]` puts someone on call from now (durations like 90m, 8h, 2d; at most 31d); " +
			"`oncall override remove <id>` ends one. Overrides need a role that allows oncall-override.",
		Args:        []actions.Arg{{Name: "what", Kind: actions.ArgText, Optional: true}},
		Permissions: []string{PermissionOverride},
		Query: func(ctx context.Context, req *actions.Request) (actions.Message, error) {
			if err := x.ready(ctx); err != nil {
				return actions.Message{}, err
			}
			words := strings.Fields(req.Arg("what"))
			switch {
			case len(words) == 0:
				return x.show(), nil
			case words[0] == "override" || words[0] == "overrides":
				if len(words) == 1 {
					return x.show(), nil
				}
				return x.override(ctx, req, words[1:])
			}
			if s, ok := x.schedules[words[0]]; ok && len(words) == 1 {
				return x.showOnly(s), nil
			}
			return actions.Message{}, actions.Errorf(actions.Invalid, "`oncall %s` is not understood: write `oncall`, `oncall <schedule>`, `oncall override <person> <duration> [schedule]` or `oncall override remove <id>`", req.Arg("what"))
		},
	})
}

// show is `oncall`: every schedule, now and next, and the overrides.
func (x *Module) show() actions.Message {
	m := actions.Message{Title: "on call"}
	if len(x.order) == 0 {
		m.Summary = "no schedules"
		m.Lines = []string{"no schedules are declared (see oncall.schedules in the config)"}
		return m
	}
	var now []string
	for _, name := range x.order {
		s := x.schedules[name]
		lines, who := x.scheduleLines(s)
		m.Lines = append(m.Lines, lines...)
		now = append(now, fmt.Sprintf("%s: %s", name, who))
	}
	m.Summary = "on call now — " + strings.Join(now, ", ")
	if ol := x.overrideLines(""); len(ol) > 0 {
		m.Lines = append(m.Lines, "overrides:")
		m.Lines = append(m.Lines, ol...)
	}
	m.Footer = "`oncall override <person> <duration> [schedule]` takes a shift; `oncall override remove <id>` ends one"
	return m
}

func (x *Module) showOnly(s *Schedule) actions.Message {
	lines, who := x.scheduleLines(s)
	m := actions.Message{Title: "on call in " + s.Name, Summary: fmt.Sprintf("%s: %s on call now", s.Name, who), Lines: lines}
	if ol := x.overrideLines(s.Name); len(ol) > 0 {
		m.Lines = append(m.Lines, "overrides:")
		m.Lines = append(m.Lines, ol...)
	}
	return m
}

// scheduleLines are a schedule's lines in `oncall`, and who is on call.
func (x *Module) scheduleLines(s *Schedule) ([]string, string) {
	now := x.h.Now()
	loc := s.Rotation.Location
	cur := x.onCall(s, now)
	nxt := x.next(s, cur)
	lines := []string{fmt.Sprintf("%s — %s; %s", s.Name, s.Rotation, strings.Join(s.Members, ", "))}
	lines = append(lines, fmt.Sprintf("  now   %-10s until %s%s", cur.Person, local(cur.Until, loc), overrideMark(cur)))
	lines = append(lines, fmt.Sprintf("  next  %-10s from  %s%s", nxt.Person, local(nxt.From, loc), overrideMark(nxt)))
	who := cur.Person
	if cur.Override != nil {
		who += " (override)"
	}
	return lines, who
}

func overrideMark(t Turn) string {
	if t.Override == nil {
		return ""
	}
	return fmt.Sprintf("  [override %d by %s; the rotation has %s]", t.Override.ID, t.Override.By, t.Rotation)
}

// overrideLines lists the overrides not yet over, of schedule (every
// schedule when "").
func (x *Module) overrideLines(schedule string) []string {
	now := x.h.Now()
	x.mu.Lock()
	var os []*Override
	for _, o := range x.overrides {
		if (schedule == "" || o.Schedule == schedule) && o.Until.After(now) {
			os = append(os, o)
		}
	}
	x.mu.Unlock()
	sort.Slice(os, func(i, j int) bool { return os[i].ID < os[j].ID })
	var out []string
	for _, o := range os {
		loc := time.UTC
		if s, ok := x.schedules[o.Schedule]; ok {
			loc = s.Rotation.Location
		}
		state := "from " + local(o.From, loc)
		if !o.From.After(now) {
			state = "now"
		}
		out = append(out, fmt.Sprintf("  #%d %s in %s, %s until %s, set by %s", o.ID, o.Person, o.Schedule, state, local(o.Until, loc), o.By))
	}
	return out
}

// DigestSection is the on-call part of a status digest: who is on call
// now in every schedule, and until when. The wiring hands it to the
// digests module; since is not used (on call is a state, not news).
func (x *Module) DigestSection(ctx context.Context, since time.Time) (actions.Message, error) {
	if len(x.order) == 0 {
		return actions.Message{}, nil
	}
	if err := x.ready(ctx); err != nil {
		return actions.Message{}, err
	}
	now := x.h.Now()
	m := actions.Message{Title: "on call"}
	var who []string
	for _, name := range x.order {
		s := x.schedules[name]
		cur := x.onCall(s, now)
		line := fmt.Sprintf("%s: %s until %s", name, cur.Person, local(cur.Until, s.Rotation.Location))
		if cur.Override != nil {
			line += fmt.Sprintf(" (override, instead of %s)", cur.Rotation)
		}
		m.Lines = append(m.Lines, line)
		who = append(who, cur.Person)
	}
	m.Summary = strings.Join(who, ", ")
	return m, nil
}
