package slack

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/infrabot/infrabot/actions"
)

// outbox sends everything infrabot says in Slack. Messages to one channel
// leave in the order they were queued (one lane per channel); updates to
// one message are coalesced to at most one per interval, the latest state
// always last; a 429 pauses every call for its Retry-After; 5xx and
// network errors are retried with backoff. Nothing is dropped unless a
// call keeps failing past its retries, which is logged.
type outbox struct {
	api      *slack.Client
	log      *slog.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	interval time.Duration

	mu         sync.Mutex
	pauseUntil time.Time
	lanes      map[string]*lane
	live       map[string]*liveMessage
	threaded   map[string]int // lines already moved to a message's thread
	busy       int            // goroutines with work in hand
}

type lane struct {
	ops []func(context.Context)
}

// liveMessage is a posted message that is being kept up to date.
type liveMessage struct {
	channel, ts string
	pending     *actions.Message
	lastSent    time.Time
}

const (
	// maxRateLimited bounds how often one call waits out a 429 before it
	// is given up: Slack's Retry-After is seconds, so this is minutes.
	maxRateLimited = 30
	// maxFailures bounds retries of a call after 5xx or network errors.
	maxFailures = 8
	backoffBase = 500 * time.Millisecond
	backoffMax  = 30 * time.Second
)

func newOutbox(api *slack.Client, log *slog.Logger, now func() time.Time, sleep func(context.Context, time.Duration) error, interval time.Duration) *outbox {
	return &outbox{
		api: api, log: log, now: now, sleep: sleep, interval: interval,
		lanes: map[string]*lane{}, live: map[string]*liveMessage{}, threaded: map[string]int{},
	}
}

// enqueue runs op after everything queued before it for channel.
func (o *outbox) enqueue(channel string, op func(context.Context)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.lanes[channel]
	if l != nil {
		l.ops = append(l.ops, op)
		return
	}
	l = &lane{ops: []func(context.Context){op}}
	o.lanes[channel] = l
	o.busy++
	go o.drainLane(channel, l)
}

func (o *outbox) drainLane(channel string, l *lane) {
	ctx := context.Background()
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
		op(ctx)
	}
}

// post sends m to channel and returns its ts, after what was queued for
// the channel before it. Lines that do not fit go to the thread.
func (o *outbox) post(ctx context.Context, channel string, m actions.Message) (string, error) {
	type result struct {
		ts  string
		err error
	}
	done := make(chan result, 1)
	o.enqueue(channel, func(ctx context.Context) {
		ts, err := o.postNow(ctx, channel, m)
		if err == nil {
			o.mu.Lock()
			// Count the post as the message's last send, so that a first
			// update right behind it waits its turn.
			if _, ok := o.live[channel+"/"+ts]; !ok {
				lm := &liveMessage{channel: channel, ts: ts, lastSent: o.now()}
				o.live[channel+"/"+ts] = lm
				o.busy++
				go o.drainLive(channel+"/"+ts, lm)
			}
			o.mu.Unlock()
		}
		done <- result{ts, err}
	})
	select {
	case r := <-done:
		return r.ts, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// reply queues m for channel without waiting.
func (o *outbox) reply(channel string, m actions.Message) {
	o.enqueue(channel, func(ctx context.Context) {
		if _, err := o.postNow(ctx, channel, m); err != nil {
			o.log.Error("a reply could not be posted to Slack", "channel", channel, "summary", truncate(m.Summary, 80), "err", err)
		}
	})
}

// ephemeral queues m to be shown to user only, in channel. Where Slack
// refuses (a channel the bot is not in, a DM between people), it goes to
// the user's DM with infrabot instead.
func (o *outbox) ephemeral(channel, user string, m actions.Message) {
	o.enqueue(channel, func(ctx context.Context) {
		r := render(m)
		err := o.call(ctx, "chat.postEphemeral", func(ctx context.Context) error {
			_, err := o.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionBlocks(r.Blocks...), slack.MsgOptionText(r.Fallback, false))
			return err
		})
		var se slack.SlackErrorResponse
		if errors.As(err, &se) {
			var dm string
			dm, err = o.openDM(ctx, user)
			if err == nil {
				_, err = o.postNow(ctx, dm, m)
			}
		}
		if err != nil {
			o.log.Error("a private reply could not be delivered in Slack", "channel", channel, "user", user, "summary", truncate(m.Summary, 80), "err", err)
		}
	})
}

// openDM returns the id of user's direct conversation with infrabot.
func (o *outbox) openDM(ctx context.Context, user string) (string, error) {
	var dm string
	err := o.call(ctx, "conversations.open", func(ctx context.Context) error {
		c, _, _, err := o.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
		if err == nil {
			dm = c.ID
		}
		return err
	})
	return dm, err
}

// update queues the new state of a posted message. States queued while
// one is being sent, or within interval of the last send, are coalesced:
// only the latest is sent.
func (o *outbox) update(channel, ts string, m actions.Message) {
	key := channel + "/" + ts
	o.mu.Lock()
	defer o.mu.Unlock()
	lm := o.live[key]
	if lm == nil {
		lm = &liveMessage{channel: channel, ts: ts}
		o.live[key] = lm
		o.busy++
		go o.drainLive(key, lm)
	}
	lm.pending = &m
}

func (o *outbox) drainLive(key string, lm *liveMessage) {
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
			delete(o.live, key)
			o.busy--
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		o.updateNow(ctx, lm.channel, lm.ts, *m)
		o.mu.Lock()
		lm.lastSent = o.now()
		o.mu.Unlock()
	}
}

func (o *outbox) postNow(ctx context.Context, channel string, m actions.Message) (string, error) {
	r := render(m)
	var ts string
	err := o.call(ctx, "chat.postMessage", func(ctx context.Context) error {
		var err error
		_, ts, err = o.api.PostMessageContext(ctx, channel, slack.MsgOptionBlocks(r.Blocks...), slack.MsgOptionText(r.Fallback, false))
		return err
	})
	if err != nil {
		return "", err
	}
	o.thread(ctx, channel, ts, r.Overflow)
	return ts, nil
}

func (o *outbox) updateNow(ctx context.Context, channel, ts string, m actions.Message) {
	r := render(m)
	err := o.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := o.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionBlocks(r.Blocks...), slack.MsgOptionText(r.Fallback, false))
		return err
	})
	if err != nil {
		o.log.Error("a message could not be updated in Slack; it shows an older state", "channel", channel, "ts", ts, "summary", truncate(m.Summary, 80), "err", err)
		return
	}
	o.thread(ctx, channel, ts, r.Overflow)
}

// thread posts the lines of overflow not yet in the message's thread.
// Lines leave a growing message from its top, so what left before is
// overflow's prefix.
func (o *outbox) thread(ctx context.Context, channel, ts string, overflow []string) {
	key := channel + "/" + ts
	o.mu.Lock()
	done := o.threaded[key]
	o.mu.Unlock()
	if len(overflow) <= done {
		return
	}
	for _, blocks := range threadChunks(overflow[done:]) {
		err := o.call(ctx, "chat.postMessage", func(ctx context.Context) error {
			_, _, err := o.api.PostMessageContext(ctx, channel, slack.MsgOptionTS(ts), slack.MsgOptionBlocks(blocks...), slack.MsgOptionText("output (continued)", false))
			return err
		})
		if err != nil {
			o.log.Error("output could not be posted to the message's thread", "channel", channel, "ts", ts, "err", err)
			return
		}
	}
	o.mu.Lock()
	o.threaded[key] = len(overflow)
	o.mu.Unlock()
}

// call runs one Web API call until it succeeds, fails for good, or has
// been retried enough.
func (o *outbox) call(ctx context.Context, method string, fn func(context.Context) error) error {
	limited, failed := 0, 0
	for {
		o.mu.Lock()
		wait := o.pauseUntil.Sub(o.now())
		o.mu.Unlock()
		if wait > 0 {
			if err := o.sleep(ctx, wait); err != nil {
				return err
			}
		}
		err := fn(ctx)
		if err == nil {
			return nil
		}
		var rl *slack.RateLimitedError
		switch {
		case errors.As(err, &rl):
			limited++
			if limited > maxRateLimited {
				o.log.Error("giving up on a Slack call: still rate limited", "method", method, "attempts", limited, "err", err)
				return err
			}
			after := max(rl.RetryAfter, time.Second)
			o.mu.Lock()
			if until := o.now().Add(after); until.After(o.pauseUntil) {
				o.pauseUntil = until
			}
			o.mu.Unlock()
			o.log.Warn("Slack rate limit: waiting as asked", "method", method, "retry_after", after)
		case retryable(err):
			failed++
			if failed >= maxFailures {
				o.log.Error("giving up on a Slack call after repeated failures", "method", method, "attempts", failed, "err", err)
				return err
			}
			d := min(backoffBase<<(failed-1), backoffMax)
			d += rand.N(d / 4)
			o.log.Warn("Slack call failed; retrying", "method", method, "attempt", failed, "in", d, "err", err)
			if err := o.sleep(ctx, d); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// retryable reports whether err may go away by itself: Slack's 5xx, its
// own "try again" errors, and network failures. A refusal (ok:false with
// channel_not_found, not_in_channel, invalid_auth…) is not.
func retryable(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return true
		}
		return false
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Retryable()
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// idle reports whether nothing is queued or being sent.
func (o *outbox) idle() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.busy == 0
}
