package discord

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// outbox sends everything infrabot says in Discord through the carrier.
// Messages to one channel leave in order (one lane per channel); edits of
// one message are coalesced to one per interval, the latest state always
// last; a 429 waits its retry_after, holding up only the calls behind it
// in its lane (discordgo's limiter reads the X-RateLimit-* headers and
// holds the 429's bucket, or every bucket for a global limit); 5xx and network errors are retried with backoff; 401, 403
// and other refusals never are. It is the platform-neutral delivery
// queue's shape, kept here until that queue lands in package bot.
type outbox struct {
	rest     *carrier
	log      *slog.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	interval time.Duration

	mu    sync.Mutex
	lanes map[string]*lane
	live  map[string]*liveMessage
	busy  int
}

type lane struct{ ops []func(context.Context) }

type liveMessage struct {
	channel, id string
	pending     *actions.Message
	lastSent    time.Time
}

const (
	maxRateLimited = 30
	maxFailures    = 8
	backoffBase    = 500 * time.Millisecond
	backoffMax     = 30 * time.Second
)

func newOutbox(rest *carrier, log *slog.Logger, now func() time.Time, sleep func(context.Context, time.Duration) error, interval time.Duration) *outbox {
	return &outbox{rest: rest, log: log, now: now, sleep: sleep, interval: interval, lanes: map[string]*lane{}, live: map[string]*liveMessage{}}
}

// enqueue runs op after everything queued before it for channel.
func (o *outbox) enqueue(channel string, op func(context.Context)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if l := o.lanes[channel]; l != nil {
		l.ops = append(l.ops, op)
		return
	}
	l := &lane{ops: []func(context.Context){op}}
	o.lanes[channel] = l
	o.busy++
	go o.drainLane(channel, l)
}

func (o *outbox) drainLane(channel string, l *lane) {
	for {
		o.mu.Lock()
		if len(l.ops) == 0 {
			delete(o.lanes, channel)
			o.busy--
			o.mu.Unlock()
			return
		}
		op := l.ops[0]
		l.ops = l.ops[1:]
		o.mu.Unlock()
		op(context.Background())
	}
}

// post sends m after what was queued for its channel and returns its id.
func (o *outbox) post(ctx context.Context, channel string, m actions.Message) (string, error) {
	type result struct {
		id  string
		err error
	}
	ch, _ := splitChannel(channel)
	done := make(chan result, 1)
	o.enqueue(ch, func(ctx context.Context) {
		var id string
		err := o.call(ctx, "post", func(ctx context.Context) error {
			var err error
			id, err = o.rest.Post(ctx, channel, m)
			return err
		})
		if err == nil {
			o.mu.Lock()
			if _, ok := o.live[id]; !ok {
				// The post counts as the message's last send, so that a
				// first edit right behind it waits its turn.
				lm := &liveMessage{channel: ch, id: id, lastSent: o.now()}
				o.live[id] = lm
				o.busy++
				go o.drainLive(lm)
			}
			o.mu.Unlock()
		}
		done <- result{id, err}
	})
	select {
	case r := <-done:
		return r.id, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// answer queues the reply to an interaction: public replies edit the
// deferred response of a command, or follow a click; private ones are
// ephemeral follow-ups (flag 64), the command's "thinking…" response
// removed. Once the token is too old, a public reply is posted in the
// channel and a private one sent as a direct message.
func (o *outbox) answer(ix *exchange, m actions.Message, private bool) {
	o.enqueue(ix.channel, func(ctx context.Context) {
		var err error
		switch {
		case !o.rest.usable(ix) && private:
			var dm string
			if err = o.call(ctx, "create_dm", func(ctx context.Context) error { var err error; dm, err = o.rest.OpenDM(ctx, ix.user); return err }); err == nil {
				err = o.call(ctx, "post", func(ctx context.Context) error { _, err := o.rest.Post(ctx, dm, m); return err })
			}
		case !o.rest.usable(ix):
			err = o.call(ctx, "post", func(ctx context.Context) error { _, err := o.rest.Post(ctx, ix.channel, m); return err })
		case !private && ix.command:
			err = o.call(ctx, "edit_original", func(ctx context.Context) error { return o.rest.editOriginal(ctx, ix, m) })
		case private && ix.command:
			if derr := o.call(ctx, "delete_original", func(ctx context.Context) error { return o.rest.deleteOriginal(ctx, ix) }); derr != nil {
				o.log.Warn("the deferred response could not be removed", "err", derr)
			}
			fallthrough
		default:
			err = o.call(ctx, "follow_up", func(ctx context.Context) error { return o.rest.followUp(ctx, ix, m, private) })
		}
		if err != nil {
			o.log.Error("a reply could not be delivered in Discord", "channel", ix.channel, "summary", truncate(m.Summary, 80), "err", err)
		}
	})
}

// update queues the new state of a posted message; states queued while
// one is sent, or within interval of the last send, coalesce.
func (o *outbox) update(channel, id string, m actions.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	lm := o.live[id]
	if lm == nil {
		lm = &liveMessage{channel: channel, id: id}
		o.live[id] = lm
		o.busy++
		go o.drainLive(lm)
	}
	lm.pending = &m
}

func (o *outbox) drainLive(lm *liveMessage) {
	ctx := context.Background()
	for {
		o.mu.Lock()
		wait := time.Duration(0)
		if !lm.lastSent.IsZero() {
			wait = lm.lastSent.Add(o.interval).Sub(o.now())
		}
		o.mu.Unlock()
		if wait > 0 {
			_ = o.sleep(ctx, wait)
		}
		o.mu.Lock()
		m := lm.pending
		lm.pending = nil
		if m == nil {
			delete(o.live, lm.id)
			o.busy--
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		err := o.call(ctx, "edit", func(ctx context.Context) error { return o.rest.Update(ctx, lm.channel, lm.id, *m) })
		if err != nil {
			o.log.Error("a message could not be edited in Discord; it shows an older state", "channel", lm.channel, "message", lm.id, "summary", truncate(m.Summary, 80), "err", err)
		}
		o.mu.Lock()
		lm.lastSent = o.now()
		o.mu.Unlock()
	}
}

// call runs one REST call until it succeeds, is refused, or has been
// retried enough.
func (o *outbox) call(ctx context.Context, what string, fn func(context.Context) error) error {
	limited, failed := 0, 0
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		kind, after := classify(err)
		switch kind {
		case rateLimited:
			limited++
			if limited > maxRateLimited {
				o.log.Error("giving up on a Discord call: still rate limited", "call", what, "attempts", limited)
				return err
			}
			after = max(after, 50*time.Millisecond)
			o.log.Warn("Discord rate limit: waiting as asked", "call", what, "retry_after", after)
			if err := o.sleep(ctx, after); err != nil {
				return err
			}
		case transient:
			failed++
			if failed >= maxFailures {
				o.log.Error("giving up on a Discord call after repeated failures", "call", what, "attempts", failed, "err", err)
				return err
			}
			d := min(backoffBase<<(failed-1), backoffMax)
			d += rand.N(d / 4)
			o.log.Warn("Discord call failed; retrying", "call", what, "attempt", failed, "in", d, "err", err)
			if err := o.sleep(ctx, d); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

func (o *outbox) idle() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.busy == 0
}
