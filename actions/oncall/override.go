package oncall

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Override puts Person on call in Schedule from From until Until, in
// place of the rotation. The newest override covering a time wins.
type Override struct {
	ID       int64     `json:"id"`
	Schedule string    `json:"schedule"`
	Person   string    `json:"person"`
	From     time.Time `json:"from"`
	Until    time.Time `json:"until"`
	By       string    `json:"by"`
	Created  time.Time `json:"created"`
}

// MaxOverride is the longest override: longer, change the schedule.
const MaxOverride = 31 * 24 * time.Hour

// Turn is who is on call at a time, and why.
type Turn struct {
	Person      string
	From, Until time.Time
	// Override is the override that put Person there; nil for the
	// rotation.
	Override *Override
	// Rotation is who the rotation has at that time.
	Rotation string
}

func idKey(id int64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(id))
	return k
}

// onCall returns who is on call in s at t. The caller holds no lock.
func (x *Module) onCall(s *Schedule, t time.Time) Turn {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.onCallLocked(s, t)
}

func (x *Module) onCallLocked(s *Schedule, t time.Time) Turn {
	k, from, until := s.Rotation.Shift(t)
	n := len(s.Members)
	turn := Turn{Person: s.Members[((k%n)+n)%n], From: from, Until: until}
	turn.Rotation = turn.Person
	var best *Override
	for _, o := range x.overrides {
		if o.Schedule != s.Name || t.Before(o.From) || !t.Before(o.Until) {
			continue
		}
		if best == nil || o.ID > best.ID {
			best = o
		}
	}
	if best != nil {
		turn.Person, turn.Override = best.Person, best
		turn.From, turn.Until = best.From, best.Until
		// Another override may start (or the rotation change) before
		// this one ends, and a newer one wins: the turn ends there.
		for _, o := range x.overrides {
			if o.Schedule == s.Name && o.ID > best.ID && o.From.After(t) && o.From.Before(turn.Until) {
				turn.Until = o.From
			}
		}
	} else {
		for _, o := range x.overrides {
			if o.Schedule == s.Name && o.From.After(t) && o.From.Before(turn.Until) {
				turn.Until = o.From
			}
		}
	}
	return turn
}

// next returns the turn after the one holding t whose person differs,
// looking at most a few turns ahead.
func (x *Module) next(s *Schedule, now Turn) Turn {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := now.Until
	for range 64 {
		turn := x.onCallLocked(s, t)
		if turn.Person != now.Person {
			turn.From = t
			return turn
		}
		t = turn.Until
	}
	return Turn{Person: now.Person, From: t, Until: t, Rotation: now.Rotation}
}

// addOverride stores a new override.
func (x *Module) addOverride(ctx context.Context, o *Override) error {
	err := x.h.Store().Update(ctx, func(tx actions.Tx) error {
		b := tx.Bucket(bucketOverrides)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		o.ID = int64(seq)
		v, err := json.Marshal(o)
		if err != nil {
			return err
		}
		return b.Put(idKey(o.ID), v)
	})
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.overrides = append(x.overrides, o)
	x.mu.Unlock()
	return nil
}

// removeOverride deletes override id, returning it.
func (x *Module) removeOverride(ctx context.Context, id int64) (*Override, error) {
	x.mu.Lock()
	var found *Override
	for _, o := range x.overrides {
		if o.ID == id {
			found = o
		}
	}
	x.mu.Unlock()
	if found == nil {
		return nil, actions.Errorf(actions.NotFound, "there is no override %d; `oncall` lists them", id)
	}
	if err := x.h.Store().Update(ctx, func(tx actions.Tx) error {
		return tx.Bucket(bucketOverrides).Delete(idKey(id))
	}); err != nil {
		return nil, err
	}
	x.mu.Lock()
	for i, o := range x.overrides {
		if o.ID == id {
			x.overrides = append(x.overrides[:i], x.overrides[i+1:]...)
			break
		}
	}
	x.mu.Unlock()
	return found, nil
}

// ParseDuration reads an override's length: Go's (90m, 2h30m) or whole
// days (3d), more than nothing and at most MaxOverride.
func ParseDuration(s string) (time.Duration, error) {
	d, ok := actions.ParseDuration(s)
	switch {
	case !ok || d == 0:
		return 0, actions.Errorf(actions.Invalid, "%q is not a duration: write it like 90m, 8h or 2d", s)
	case d > MaxOverride:
		return 0, actions.Errorf(actions.Invalid, "an override lasts at most 31d; for longer, change the schedule's members")
	}
	return d, nil
}

// override is `oncall override <person> <duration> [schedule]` and
// `oncall override remove <id>`.
func (x *Module) override(ctx context.Context, req *actions.Request, words []string) (actions.Message, error) {
	if err := x.h.Allowed(req.Person, PermissionOverride); err != nil {
		return actions.Message{}, actions.Errorf(actions.Permission, "%s; `oncall override` needs a role that allows %s", actions.ErrorMessage(err), PermissionOverride)
	}
	usage := "write `oncall override <person> <duration> [schedule]`, like `oncall override carol 8h`, or `oncall override remove <id>`"
	if len(words) == 2 && (words[0] == "remove" || words[0] == "rm" || words[0] == "delete") {
		id, err := strconv.ParseInt(strings.TrimPrefix(words[1], "#"), 10, 64)
		if err != nil || id <= 0 {
			return actions.Message{}, actions.Errorf(actions.Invalid, "%q is not an override number; `oncall` lists them", words[1])
		}
		o, err := x.removeOverride(ctx, id)
		if err != nil {
			return actions.Message{}, err
		}
		x.h.Audit(ctx, actions.AuditEntry{Person: req.Person.Name, Event: "oncall-override-removed", Action: "oncall", Detail: fmt.Sprintf("override %d: %s on %s until %s", o.ID, o.Person, o.Schedule, actions.Stamp(o.Until))})
		return actions.Message{Summary: fmt.Sprintf("override %d removed: %s is no longer on call in %s by override", o.ID, o.Person, o.Schedule)}, nil
	}
	if len(words) < 2 || len(words) > 3 {
		return actions.Message{}, actions.Errorf(actions.Invalid, "%s", usage)
	}
	person, dur := words[0], words[1]
	if _, ok := x.h.Person(person); !ok {
		return actions.Message{}, actions.Errorf(actions.NotFound, "there is no person %q in the config", person)
	}
	d, err := ParseDuration(dur)
	if err != nil {
		return actions.Message{}, err
	}
	var s *Schedule
	switch {
	case len(words) == 3:
		var ok bool
		if s, ok = x.schedules[words[2]]; !ok {
			return actions.Message{}, actions.Errorf(actions.NotFound, "there is no schedule %q; schedules: %s", words[2], strings.Join(x.order, ", "))
		}
	case len(x.order) == 1:
		s = x.schedules[x.order[0]]
	case len(x.order) == 0:
		return actions.Message{}, actions.Errorf(actions.NotFound, "there are no schedules (see oncall.schedules in the config)")
	default:
		return actions.Message{}, actions.Errorf(actions.Invalid, "which schedule? write `oncall override %s %s <schedule>`; schedules: %s", person, dur, strings.Join(x.order, ", "))
	}
	now := x.h.Now()
	o := &Override{Schedule: s.Name, Person: person, From: now, Until: now.Add(d), By: req.Person.Name, Created: now}
	if err := x.addOverride(ctx, o); err != nil {
		return actions.Message{}, err
	}
	x.h.Audit(ctx, actions.AuditEntry{Person: req.Person.Name, Event: "oncall-override-added", Action: "oncall", Detail: fmt.Sprintf("override %d: %s on call in %s until %s", o.ID, person, s.Name, actions.Stamp(o.Until))})
	return actions.Message{
		Summary: fmt.Sprintf("override %d: %s is on call in %s until %s (instead of %s); `oncall override remove %d` ends it",
			o.ID, person, s.Name, local(o.Until, s.Rotation.Location), x.onCallRotation(s, now), o.ID),
	}, nil
}

// onCallRotation is who the rotation alone has in s at t.
func (x *Module) onCallRotation(s *Schedule, t time.Time) string {
	k, _, _ := s.Rotation.Shift(t)
	n := len(s.Members)
	return s.Members[((k%n)+n)%n]
}
