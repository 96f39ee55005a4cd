package bot

import (
	"context"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// dispatch sends pending updates while there are any: each message when
// its interval has passed, one at a time per message, at most parallel at
// once, within the budget, the message that has waited longest first. It
// runs in one goroutine, started by Update and ending when nothing is
// pending or being sent.
func (o *Outbox) dispatch() {
	for {
		o.mu.Lock()
		if o.base.Err() != nil {
			o.dropPendingLocked()
		}
		now := o.now()
		next, due, busy := o.pickLocked(now)
		if next == nil && !busy {
			o.dispatching = false
			o.doneLocked()
			o.mu.Unlock()
			return
		}
		var wait time.Duration
		switch {
		case next == nil && due.IsZero():
			// Only updates in flight, or messages whose next state waits
			// for the one being sent: wait to be told.
			wait = -1
		case next == nil:
			wait = due.Sub(now)
		case o.sending >= o.parallel:
			wait = -1
		default:
			wait = o.budget.wait(now)
		}
		if wait == 0 {
			o.budget.spend(now)
			o.startLocked(next)
			o.mu.Unlock()
			continue
		}
		// Wait, but wake at once when an update arrives or a send ends.
		ctx, stop := context.WithCancel(o.base)
		o.stopWait = stop
		o.mu.Unlock()
		if wait < 0 {
			select {
			case <-o.wake:
			case <-ctx.Done():
			}
		} else {
			_ = o.sleep(ctx, wait)
		}
		o.mu.Lock()
		o.stopWait = nil
		o.mu.Unlock()
		stop()
	}
}

// pickLocked returns the message to update next: of those with a state
// pending, not being sent and past their interval, the one waiting
// longest. Otherwise due is when the earliest of the others is past its
// interval (zero when there is none). busy reports whether any update is
// pending or being sent.
func (o *Outbox) pickLocked(now time.Time) (next *message, due time.Time, busy bool) {
	busy = o.sending > 0
	for _, m := range o.messages {
		if m.pending == nil || m.sending {
			continue
		}
		busy = true
		at := m.lastSent.Add(o.interval)
		if m.lastSent.IsZero() || !at.After(now) {
			if next == nil || m.waiting.Before(next.waiting) ||
				(m.waiting.Equal(next.waiting) && m.channel+m.id < next.channel+next.id) {
				next = m
			}
			continue
		}
		if due.IsZero() || at.Before(due) {
			due = at
		}
	}
	return next, due, busy
}

// startLocked sends m's pending state in a goroutine of its own.
func (o *Outbox) startLocked(m *message) {
	state := *m.pending
	m.pending = nil
	m.sending = true
	o.sending++
	o.busyLocked()
	go o.sendUpdate(m, state)
}

func (o *Outbox) sendUpdate(m *message, state actions.Message) {
	o.mu.Lock()
	threaded, adopted := m.threaded, m.adopted
	o.mu.Unlock()
	var overflow []string
	err := o.Call(o.base, CallUpdate, func(ctx context.Context) error {
		// A retry sends the latest state: an older one is of no use.
		o.mu.Lock()
		if m.pending != nil {
			state = *m.pending
			m.pending = nil
			o.countLocked(CallUpdate).Coalesced++
		}
		o.mu.Unlock()
		var err error
		overflow, err = o.carrier.Update(ctx, m.channel, m.id, state)
		return err
	})
	gone := false
	switch {
	case err == nil && adopted:
		// What overflowed before is in the thread, or lost: either way not
		// this outbox's to post.
		threaded = len(overflow)
	case err == nil:
		threaded = o.thread(o.base, m.channel, m.id, overflow, threaded)
	case o.gone(err):
		gone = true
		o.lost(CallUpdate, "a message could not be updated: it is gone (deleted, or its channel is); its later states are dropped", err, "channel", m.channel, "id", m.id, "summary", Summarise(state))
	default:
		o.lost(CallUpdate, "a message could not be updated; it shows an older state", err, "channel", m.channel, "id", m.id, "summary", Summarise(state))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if gone {
		m.gone = true
		if m.pending != nil {
			m.pending = nil
			o.countLocked(CallUpdate).Failed++
		}
	}
	m.threaded = threaded
	m.adopted = m.adopted && err != nil
	m.lastSent = o.now()
	m.sending = false
	o.sending--
	o.doneLocked()
	o.signalLocked()
}

// gone reports whether err says the message is not there any more.
func (o *Outbox) gone(err error) bool {
	if o.base.Err() != nil {
		return false
	}
	f, _ := o.carrier.Classify(err)
	return f == Gone
}

// signalLocked wakes the dispatcher if it waits.
func (o *Outbox) signalLocked() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
	if o.stopWait != nil {
		o.stopWait()
	}
}

// dropPendingLocked gives up every pending update, once Close has given
// up: each is logged and counted as failed.
func (o *Outbox) dropPendingLocked() {
	for _, m := range o.messages {
		if m.pending == nil {
			continue
		}
		o.countLocked(CallUpdate).Failed++
		o.log.Error("a message could not be updated; it shows an older state (given up at shutdown)",
			"platform", o.platform, "call", CallUpdate, "channel", m.channel, "id", m.id, "summary", Summarise(*m.pending))
		m.pending = nil
	}
}

// sweepLocked forgets, about once a minute, messages with nothing pending
// that have not been posted or updated for retain. Without it every
// message ever posted would be remembered. One with no thread is kept as
// long as one with a thread: forgotten, its next update would take it for
// a message this outbox did not post (adopted), and never thread the
// lines that overflow first.
func (o *Outbox) sweepLocked(now time.Time) {
	if now.Before(o.nextSweep) {
		return
	}
	o.nextSweep = now.Add(time.Minute)
	for k, m := range o.messages {
		if m.pending != nil || m.sending {
			continue
		}
		if now.Sub(m.lastSent) >= o.retain {
			delete(o.messages, k)
		}
	}
}
