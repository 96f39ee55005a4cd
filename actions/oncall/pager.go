package oncall

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Pager delivers page events to a service outside chat: a PagerDuty
// service (actions/pagerduty), a webhook (actions/webhook). The module
// keeps every event in its outbox until the pager took it, retrying as
// the pager's errors say.
type Pager interface {
	// Send delivers ev once. nil means the service took it. An error
	// that is a *Refusal is final (the service said the event is wrong:
	// shown, never retried); a *RateLimit means it was not taken and is
	// retried, never dropped; anything else (a 5xx, the network) is
	// retried up to MaxAttempts.
	Send(ctx context.Context, ev PagerEvent) error
}

// Actions of a page event.
const (
	Trigger     = "trigger"
	Acknowledge = "acknowledge"
	Resolve     = "resolve"
)

// PagerEvent is one event about an incident, for a service outside chat.
type PagerEvent struct {
	// Action is Trigger, Acknowledge or Resolve.
	Action string `json:"action"`
	// DedupKey is the same for every event of one incident.
	DedupKey string `json:"dedup_key"`
	Incident int64  `json:"incident"`
	Check    string `json:"check"`
	Summary  string `json:"summary"`
	// Source is what failed (the check); Severity is critical for a
	// trigger.
	Source   string         `json:"source"`
	Severity string         `json:"severity"`
	Links    []actions.Link `json:"links,omitempty"`
	// Level is the escalation level that paged (trigger); By who
	// acknowledged or resolved ("" when the check recovered).
	Level int       `json:"level,omitempty"`
	By    string    `json:"by,omitempty"`
	Time  time.Time `json:"time"`
}

// Refusal is a pager's final "no": the event is invalid (PagerDuty's
// 400). Message is the service's reason, safe to show.
type Refusal struct{ Message string }

func (r *Refusal) Error() string { return "refused: " + r.Message }

// RateLimit says the service did not take the event because too many
// came (429); After is how long it asked to wait, 0 when it did not say.
type RateLimit struct{ After time.Duration }

func (r *RateLimit) Error() string { return "rate limited" }

// RetryAfter is the wait a 429's Retry-After header asks for, in seconds
// (HTTP dates are not used by the services paged): 0 when absent or not a
// number, at most an hour.
func RetryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 3600)) * time.Second
}

// MaxAttempts is how many times an event is sent when it fails with a
// server error or a network error; rate limits are retried for ever.
const MaxAttempts = 8

// backoff is the wait before attempt n+1 after n failures: 5 s doubling
// to at most 5 minutes.
func backoff(n int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// outEvent is an event in the outbox, with its attempts so far.
type outEvent struct {
	Seq      uint64           `json:"seq"`
	Target   string           `json:"target"` // pagerduty:ci, webhook:ops
	Event    PagerEvent       `json:"event"`
	Attempts int              `json:"attempts"`
	Limited  int              `json:"limited,omitempty"` // 429s so far
	Due      time.Time        `json:"due"`
	Notify   []actions.Target `json:"notify,omitempty"` // where a final failure is shown
}

func seqKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

// enqueue puts events in tx's outbox, due at now.
func enqueue(tx actions.Tx, evs []*outEvent, now time.Time) error {
	b := tx.Bucket(bucketOutbox)
	for _, ev := range evs {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		ev.Seq, ev.Due = seq, now
		v, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(seq), v); err != nil {
			return err
		}
	}
	return nil
}

// flush sends every due event of the outbox, oldest first. An event
// waits while an earlier one for the same target and incident is still
// in the outbox, so that PagerDuty never gets an acknowledge before its
// trigger.
func (x *Module) flush(ctx context.Context) error {
	x.sendMu.Lock()
	defer x.sendMu.Unlock()
	var evs []*outEvent
	err := x.h.Store().View(ctx, func(tx actions.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			var ev outEvent
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("reading outbox event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			evs = append(evs, &ev)
			return nil
		})
	})
	if err != nil {
		return err
	}
	blocked := map[string]bool{}
	for _, ev := range evs {
		key := ev.Target + "\x00" + ev.Event.DedupKey
		if blocked[key] {
			continue
		}
		if ev.Due.After(x.h.Now()) {
			blocked[key] = true
			continue
		}
		if !x.send(ctx, ev) {
			blocked[key] = true
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// send makes one attempt at ev and stores the outcome: gone from the
// outbox when taken or finally failed, due again later otherwise. It
// reports whether ev left the outbox.
func (x *Module) send(ctx context.Context, ev *outEvent) bool {
	pager, ok := x.pagers[ev.Target]
	var err error
	if !ok {
		err = &Refusal{Message: ev.Target + " is no longer configured"}
	} else {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = pager.Send(sctx, ev.Event)
		cancel()
	}
	now := x.h.Now()
	what := fmt.Sprintf("%s %s", pagerName(ev.Target), ev.Event.Action)
	var refused *Refusal
	var limited *RateLimit
	done := false
	switch {
	case err == nil:
		done = true
		x.note(ctx, ev.Event.Incident, what+" taken")
	case ctx.Err() != nil:
		return false // stopping: tried again at the next start
	case errors.As(err, &refused):
		done = true
		x.failed(ctx, ev, fmt.Sprintf("%s refused: %s; not retried", what, refused.Message))
	case errors.As(err, &limited):
		ev.Limited++
		ev.Due = now.Add(max(limited.After, backoff(ev.Limited)))
		if ev.Limited == 1 {
			x.note(ctx, ev.Event.Incident, fmt.Sprintf("%s not taken: rate limited; retrying until it is", what))
		}
		x.h.Log().Warn("page event rate limited; retrying", "target", ev.Target, "action", ev.Event.Action, "incident", ev.Event.Incident, "retry_at", ev.Due)
	default:
		ev.Attempts++
		if ev.Attempts >= MaxAttempts {
			done = true
			x.h.Log().Error("page event not delivered", "target", ev.Target, "action", ev.Event.Action, "incident", ev.Event.Incident, "attempts", ev.Attempts, "err", err)
			x.failed(ctx, ev, fmt.Sprintf("%s failed after %d attempts: %s", what, ev.Attempts, actions.ErrorMessage(err)))
		} else {
			ev.Due = now.Add(backoff(ev.Attempts))
			x.h.Log().Warn("page event not delivered; retrying", "target", ev.Target, "action", ev.Event.Action, "incident", ev.Event.Incident, "attempt", ev.Attempts, "retry_at", ev.Due, "err", err)
		}
	}
	if done && ev.Event.Action == Trigger {
		if t, perr := ParseTarget(ev.Target); perr == nil {
			x.counted(string(t.Kind), err == nil)
		}
	}
	serr := x.h.Store().Update(context.WithoutCancel(ctx), func(tx actions.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if done {
			return b.Delete(seqKey(ev.Seq))
		}
		v, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		return b.Put(seqKey(ev.Seq), v)
	})
	if serr != nil {
		x.h.Log().Error("storing a page event's outcome failed", "target", ev.Target, "err", serr)
	}
	return done
}

// failed makes a page that finally failed visible: in the incident's
// timeline and in its channels.
func (x *Module) failed(ctx context.Context, ev *outEvent, what string) {
	x.note(ctx, ev.Event.Incident, "page failed: "+what)
	x.h.Audit(ctx, actions.AuditEntry{Person: "infrabot", Event: "page-failed", Action: "oncall", Detail: fmt.Sprintf("incident %d: %s", ev.Event.Incident, what)})
	var channels []actions.Target
	for _, t := range ev.Notify {
		if t.Kind == actions.ToChannel {
			channels = append(channels, t)
		}
	}
	if len(channels) == 0 {
		return
	}
	m := actions.Message{
		Title:   fmt.Sprintf("page failed: incident %d (%s)", ev.Event.Incident, ev.Event.Check),
		Text:    what,
		Summary: fmt.Sprintf("page failed for incident %d (%s): %s", ev.Event.Incident, ev.Event.Check, what),
		Footer:  fmt.Sprintf("`incident %d` shows its timeline", ev.Event.Incident),
		Tone:    actions.ToneWarning,
	}
	if _, err := x.h.Notify(ctx, channels, m); err != nil {
		x.h.Log().Error("telling the channel a page failed did not work either", "incident", ev.Event.Incident, "err", err)
	}
}

// note writes what in incident id's timeline.
func (x *Module) note(ctx context.Context, id int64, what string) {
	// A service's answer is quoted in notes: whatever it echoes back of
	// a request, secrets never land in the timeline.
	what = x.h.Redactor().String(what)
	if err := x.h.IncidentDesk().Note(context.WithoutCancel(ctx), id, what); err != nil {
		x.h.Log().Warn("writing in an incident's timeline failed", "incident", id, "note", what, "err", err)
	}
}

// pagerName says a pager target as people read it: "PagerDuty ci",
// "webhook ops".
func pagerName(target string) string {
	t, err := ParseTarget(target)
	if err != nil {
		return target
	}
	if t.Kind == ToPagerDuty {
		return "PagerDuty " + t.Name
	}
	return string(t.Kind) + " " + t.Name
}
