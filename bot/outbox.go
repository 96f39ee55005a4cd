package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Outbox is the delivery queue of one chat platform: everything infrabot
// says there goes through it, and the platform's own calls are behind a
// Carrier.
//
//   - Order: messages to one channel leave in the order they were queued
//     (one lane per channel); the states of one message are sent one at a
//     time, never an older one after a newer one.
//   - Coalescing: updates of one message go at most once per
//     UpdateInterval, and within the platform's Budget; states queued
//     meanwhile are replaced by the latest, which is always delivered.
//   - Retries: a 429 pauses every call for its Retry-After (only the
//     call itself when the Carrier says the limit is its route's);
//     transient failures are retried with exponential backoff; refusals
//     never are. A message the platform says is gone (deleted, or its
//     channel is) is not updated again: its later states are dropped.
//   - Nothing is lost silently: a call that finally fails is logged (one
//     line, naming the channel and the message's summary) and counted
//     (Counts).
//
// Flush waits for the queue to drain; Close does too and, when its context
// ends first, gives up on what is left, saying so in the log.
type Outbox struct {
	carrier  Carrier
	platform string
	log      *slog.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	interval time.Duration
	parallel int
	retain   time.Duration
	retry    Retry

	// base is the context of every call; Close cancels it when it gives
	// up, so that what is left fails at once instead of waiting.
	base   context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	pauseUntil time.Time
	lanes      map[string]*lane
	messages   map[string]*message
	dms        map[string]string // user → direct conversation
	counts     map[string]*Counts
	budget     *pace
	// work counts goroutines with something in hand (lanes, the update
	// dispatcher, updates being sent); idle is closed when it is 0.
	work int
	idle chan struct{}
	// The update dispatcher: at most one runs while updates are pending
	// or being sent. wake tells it something changed; stopWait ends the
	// wait it is in.
	dispatching bool
	sending     int
	wake        chan struct{}
	stopWait    context.CancelFunc
	nextSweep   time.Time
}

// OutboxOptions configures an Outbox.
type OutboxOptions struct {
	// Platform names the platform in logs and counts ("slack").
	Platform string
	// Logger receives failures (one line each) and waits; nothing by
	// default. Message contents other than a short summary are never
	// logged.
	Logger *slog.Logger
	// UpdateInterval is the least time between two updates of one
	// message. Default 1s.
	UpdateInterval time.Duration
	// UpdateBudget is the platform-wide allowance for updates; none when
	// zero.
	UpdateBudget Budget
	// Parallel bounds how many updates (of different messages) are sent
	// at once. Default 4.
	Parallel int
	// Retain is how long a message is remembered after it was posted or
	// last updated, so that a later update threads only new lines (and
	// knows which lines are new: a message it does not remember is taken
	// for one posted before a restart), and so that the later updates of
	// one that is gone are dropped. Default 1h.
	Retain time.Duration
	// Retry bounds retries; see Retry for the defaults.
	Retry Retry
	// Now and Sleep are the clock, for tests; Sleep returns early with
	// ctx's error.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Retry bounds how a call is retried.
type Retry struct {
	// Attempts bounds the attempts of a call failing transiently.
	// Default 8.
	Attempts int
	// RateLimited bounds how often one call waits out a 429 before it is
	// given up. Default 30 (Retry-After is seconds, so this is minutes).
	RateLimited int
	// Base is the first backoff, doubled at each attempt up to Max.
	// Defaults 500ms and 30s.
	Base, Max time.Duration
}

// Counts is what happened to one kind of call on one platform.
type Counts struct {
	// Delivered counts calls the platform accepted.
	Delivered int64
	// Retried counts attempts made again after a transient failure.
	Retried int64
	// RateLimited counts 429s waited out.
	RateLimited int64
	// Failed counts calls given up: refused, out of attempts, or cut
	// short by shutdown. Each was logged.
	Failed int64
	// Coalesced counts states of a message replaced by a newer one
	// before they were sent (updates only).
	Coalesced int64
}

// Calls made through an Outbox, as named in Counts and in the log.
const (
	CallPost   = "post"
	CallUpdate = "update"
	CallThread = "thread"
	CallOpenDM = "open_dm"
	// CallAnswer is a reply carried in the acknowledgement of the
	// request it answers (a Slack slash command's 200), not a call of
	// its own; the adapter counts it with Answered.
	CallAnswer = "answer"
)

// lane is the queue of one channel.
type lane struct {
	ops []func(context.Context)
}

// message is a posted message: when it was last sent, the state waiting
// to be sent, and how many of its overflowing lines are in its thread.
type message struct {
	channel, id string
	pending     *actions.Message
	waiting     time.Time // when pending first held a state not yet sent
	lastSent    time.Time
	sending     bool
	threaded    int
	// adopted is set for a message this outbox did not post (before a
	// restart) or has forgotten (idle for retain): what is in its thread
	// is not known, so its first update threads nothing, and later ones
	// only the lines that overflow after it.
	adopted bool
	// gone is set when the platform said the message is not there any
	// more (Gone): its later states are dropped, not sent. lastSent is
	// then when the latest was dropped, so that it is remembered while
	// states keep coming.
	gone bool
}

// NewOutbox returns an empty outbox delivering through c.
func NewOutbox(c Carrier, opts OutboxOptions) *Outbox {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.UpdateInterval <= 0 {
		opts.UpdateInterval = time.Second
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	if opts.Retain <= 0 {
		opts.Retain = time.Hour
	}
	if opts.Retry.Attempts <= 0 {
		opts.Retry.Attempts = 8
	}
	if opts.Retry.RateLimited <= 0 {
		opts.Retry.RateLimited = 30
	}
	if opts.Retry.Base <= 0 {
		opts.Retry.Base = 500 * time.Millisecond
	}
	if opts.Retry.Max <= 0 {
		opts.Retry.Max = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = actions.Sleep
	}
	base, cancel := context.WithCancel(context.Background())
	idle := make(chan struct{})
	close(idle)
	return &Outbox{
		carrier: c, platform: opts.Platform, log: opts.Logger,
		now: opts.Now, sleep: opts.Sleep, interval: opts.UpdateInterval,
		parallel: opts.Parallel, retain: opts.Retain, retry: opts.Retry,
		base: base, cancel: cancel,
		lanes: map[string]*lane{}, messages: map[string]*message{}, dms: map[string]string{},
		counts: map[string]*Counts{}, budget: newPace(opts.UpdateBudget, opts.Now()),
		idle: idle, wake: make(chan struct{}, 1),
	}
}

// Post sends m to channel after everything queued for the channel before
// it, and returns the message's id once the platform has it. A rate limit
// makes Post wait, not fail. When ctx ends before the message's turn came,
// Post returns ctx's error and the message is never sent; when it ends
// during the call, the call is cut short and Post reports how it ended.
// An error means the message was not delivered as far as the outbox
// knows, not that the platform certainly lacks it: a call whose answer
// was lost (the connection dropped, a timeout, ctx ending in flight) may
// have been carried out, and the Carrier's error may say so (Slack's: the
// message may have been posted). The Carrier's call is made with a
// context derived from ctx, values included: a platform may say there
// where the message belongs (Discord: the interaction it answers).
func (o *Outbox) Post(ctx context.Context, channel string, m actions.Message) (string, error) {
	type result struct {
		id  string
		err error
	}
	done := make(chan result, 1)
	var claimed atomic.Bool
	o.enqueue(channel, func(context.Context) {
		if !claimed.CompareAndSwap(false, true) {
			return // the caller gave up before its turn
		}
		ctx, stop := o.joined(ctx)
		defer stop()
		id, err := o.postNow(ctx, channel, m)
		done <- result{id, err}
	})
	select {
	case r := <-done:
		return r.id, r.err
	case <-ctx.Done():
		if claimed.CompareAndSwap(false, true) {
			return "", ctx.Err()
		}
		r := <-done // under way: cut short by ctx, so it ends promptly
		return r.id, r.err
	}
}

// Send queues m for channel and returns at once; a failure is logged.
func (o *Outbox) Send(channel string, m actions.Message) {
	o.enqueue(channel, func(ctx context.Context) {
		if _, err := o.postNow(ctx, channel, m); err != nil {
			o.lost(CallPost, "a message could not be posted", err, "channel", channel, "summary", Summarise(m))
		}
	})
}

// Direct sends m to user's direct conversation with the bot, opening it
// the first time (its channel is remembered), and returns the
// conversation's channel and the message's id. Direct messages to one
// person leave in order.
func (o *Outbox) Direct(ctx context.Context, user string, m actions.Message) (channel, id string, err error) {
	type result struct {
		channel, id string
		err         error
	}
	done := make(chan result, 1)
	// claimed and posting are taken by the op that starts (opening the
	// conversation, then posting to it), or by the caller giving up first.
	var claimed, posting atomic.Bool
	o.enqueue(dmLane(user), func(context.Context) {
		if !claimed.CompareAndSwap(false, true) {
			return // the caller gave up before its turn
		}
		jctx, stop := o.joined(ctx)
		ch, err := o.openDM(jctx, user)
		stop()
		if err != nil {
			done <- result{err: err}
			return
		}
		o.enqueue(ch, func(context.Context) {
			if !posting.CompareAndSwap(false, true) {
				return
			}
			ctx, stop := o.joined(ctx)
			defer stop()
			id, err := o.postNow(ctx, ch, m)
			if err != nil {
				o.forgetDM(user, ch, err)
			}
			done <- result{ch, id, err}
		})
	})
	select {
	case r := <-done:
		return r.channel, r.id, r.err
	case <-ctx.Done():
		if claimed.CompareAndSwap(false, true) || posting.CompareAndSwap(false, true) {
			return "", "", ctx.Err()
		}
		r := <-done // under way: cut short by ctx, so it ends promptly
		return r.channel, r.id, r.err
	}
}

// SendDirect queues m for user's direct conversation and returns at once;
// a failure is logged.
func (o *Outbox) SendDirect(user string, m actions.Message) {
	o.enqueue(dmLane(user), func(ctx context.Context) {
		ch, err := o.openDM(ctx, user)
		if err != nil {
			o.lost(CallOpenDM, "a direct message could not be delivered", err, "user", user, "summary", Summarise(m))
			return
		}
		o.enqueue(ch, func(ctx context.Context) {
			if _, err := o.postNow(ctx, ch, m); err != nil {
				o.forgetDM(user, ch, err)
				o.lost(CallPost, "a direct message could not be delivered", err, "user", user, "channel", ch, "summary", Summarise(m))
			}
		})
	})
}

// Do runs op in channel's order (after what was queued for channel before
// it), for a call the Carrier does not cover; op makes its calls through
// Call and reports its own failures.
func (o *Outbox) Do(channel string, op func(ctx context.Context)) {
	o.enqueue(channel, op)
}

// Update queues the new state of message id in channel and returns at
// once. States queued while one is being sent, or before the message's
// interval or the platform's budget allow the next, are coalesced: only
// the latest is sent.
func (o *Outbox) Update(channel, id string, m actions.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	key := channel + "\x00" + id
	rec := o.messages[key]
	if rec == nil {
		rec = &message{channel: channel, id: id, adopted: true}
		o.messages[key] = rec
	}
	if rec.gone {
		o.countLocked(CallUpdate).Failed++
		rec.lastSent = now
		return
	}
	if rec.pending != nil {
		o.countLocked(CallUpdate).Coalesced++
	} else {
		rec.waiting = now
	}
	rec.pending = &m
	if !o.dispatching {
		o.dispatching = true
		o.busyLocked()
		go o.dispatch()
	} else {
		o.signalLocked()
	}
	o.sweepLocked(now)
}

// Counts returns what happened to each kind of call so far, by call
// name (CallPost, CallUpdate… and those given to Call).
func (o *Outbox) Counts() map[string]Counts {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]Counts, len(o.counts))
	for k, c := range o.counts {
		out[k] = *c
	}
	return out
}

// Platform is the name the outbox was given.
func (o *Outbox) Platform() string { return o.platform }

// Flush waits until nothing is queued or being sent, or ctx ends.
func (o *Outbox) Flush(ctx context.Context) error {
	for {
		o.mu.Lock()
		idle, done := o.idle, o.work == 0
		o.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close waits like Flush. If ctx ends first, what is still queued is
// given up: each message is logged and counted as failed, and Close
// returns ctx's error once the queue is empty. Messages queued after
// Close are still sent, unless Close gave up.
func (o *Outbox) Close(ctx context.Context) error {
	err := o.Flush(ctx)
	if err == nil {
		return nil
	}
	o.log.Error("delivery stopped before the queue was empty; what is left is given up", "platform", o.platform, "queued", o.Queued())
	o.cancel()
	o.mu.Lock()
	o.signalLocked()
	o.mu.Unlock()
	wait, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = o.Flush(wait)
	return err
}

// Queued returns how many messages and updates wait to be sent: the
// delivery queue's depth, for metrics. What is being sent right now is
// not counted.
func (o *Outbox) Queued() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, l := range o.lanes {
		n += len(l.ops)
	}
	for _, m := range o.messages {
		if m.pending != nil {
			n++
		}
	}
	return n
}

// enqueue runs op after everything queued before it under key.
func (o *Outbox) enqueue(key string, op func(context.Context)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if l := o.lanes[key]; l != nil {
		l.ops = append(l.ops, op)
		return
	}
	l := &lane{ops: []func(context.Context){op}}
	o.lanes[key] = l
	o.busyLocked()
	go o.drainLane(key, l)
}

func (o *Outbox) drainLane(key string, l *lane) {
	for {
		o.mu.Lock()
		if len(l.ops) == 0 {
			delete(o.lanes, key)
			o.doneLocked()
			o.mu.Unlock()
			return
		}
		op := l.ops[0]
		l.ops[0] = nil
		l.ops = l.ops[1:]
		o.mu.Unlock()
		op(o.base)
	}
}

func dmLane(user string) string { return "\x00dm " + user }

// joined returns a context that ends when ctx or the outbox's base does.
func (o *Outbox) joined(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(o.base, cancel)
	return ctx, func() { stop(); cancel() }
}

// busyLocked and doneLocked count work in hand; mu is held.
func (o *Outbox) busyLocked() {
	if o.work == 0 {
		o.idle = make(chan struct{})
	}
	o.work++
}

func (o *Outbox) doneLocked() {
	o.work--
	if o.work == 0 {
		close(o.idle)
	}
}

// postNow posts m and threads what did not fit.
func (o *Outbox) postNow(ctx context.Context, channel string, m actions.Message) (string, error) {
	var id string
	var overflow []string
	err := o.Call(ctx, CallPost, func(ctx context.Context) error {
		var err error
		id, overflow, err = o.carrier.Post(ctx, channel, m)
		return err
	})
	if err != nil {
		return "", err
	}
	threaded := o.thread(ctx, channel, id, overflow, 0)
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	// The post counts as the message's last send, so that an update right
	// behind it waits its turn.
	key := channel + "\x00" + id
	if rec := o.messages[key]; rec == nil {
		o.messages[key] = &message{channel: channel, id: id, lastSent: now, threaded: threaded}
	}
	o.sweepLocked(now)
	return id, nil
}

// thread posts the lines of overflow past done to message id's thread and
// returns how many are there now. Lines leave a growing message from its
// top, so what left before is overflow's prefix.
func (o *Outbox) thread(ctx context.Context, channel, id string, overflow []string, done int) int {
	for done < len(overflow) {
		var n int
		err := o.Call(ctx, CallThread, func(ctx context.Context) error {
			var err error
			n, err = o.carrier.Thread(ctx, channel, id, overflow[done:])
			return err
		})
		if err != nil {
			o.lost(CallThread, "output could not be posted to the message's thread", err, "channel", channel, "id", id)
			return done
		}
		if n <= 0 {
			n = len(overflow) - done
		}
		done += n
	}
	return max(done, len(overflow))
}

func (o *Outbox) openDM(ctx context.Context, user string) (string, error) {
	o.mu.Lock()
	ch, ok := o.dms[user]
	o.mu.Unlock()
	if ok {
		return ch, nil
	}
	err := o.Call(ctx, CallOpenDM, func(ctx context.Context) error {
		var err error
		ch, err = o.carrier.OpenDM(ctx, user)
		return err
	})
	if err != nil {
		return "", err
	}
	o.mu.Lock()
	o.dms[user] = ch
	o.mu.Unlock()
	return ch, nil
}

// forgetDM drops a remembered conversation the platform refused, so that
// the next direct message opens it again.
func (o *Outbox) forgetDM(user, channel string, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	if f, _ := o.carrier.Classify(err); f != Refused && f != Gone {
		return
	}
	o.mu.Lock()
	if o.dms[user] == channel {
		delete(o.dms, user)
	}
	o.mu.Unlock()
}

// Call makes one platform call until it succeeds, is refused, or has been
// retried enough, and counts what happened under method. It does not log
// a final failure: the caller does, with what it knows of the message.
// fn's context carries the call's key (CallKey), the same at every
// attempt.
func (o *Outbox) Call(ctx context.Context, method string, fn func(context.Context) error) error {
	ctx = context.WithValue(ctx, callKey{}, fmt.Sprintf("%016x", rand.Uint64()))
	limited, failed := 0, 0
	for {
		o.mu.Lock()
		wait := o.pauseUntil.Sub(o.now())
		o.mu.Unlock()
		if wait > 0 {
			if err := o.sleep(ctx, wait); err != nil {
				return o.failed(method, err)
			}
		}
		err := fn(ctx)
		if err == nil {
			o.mu.Lock()
			o.countLocked(method).Delivered++
			o.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return o.failed(method, err)
		}
		kind, after := o.carrier.Classify(err)
		switch kind {
		case RateLimited, RateLimitedRoute:
			limited++
			if limited > o.retry.RateLimited {
				return o.failed(method, err)
			}
			if after <= 0 {
				after = time.Second
			}
			o.mu.Lock()
			o.countLocked(method).RateLimited++
			if until := o.now().Add(after); kind == RateLimited && until.After(o.pauseUntil) {
				o.pauseUntil = until
			}
			o.mu.Unlock()
			o.log.Warn("rate limited: waiting as asked", "platform", o.platform, "call", method, "retry_after", after, "scope", scope(kind))
			if err := o.sleep(ctx, after); err != nil {
				return o.failed(method, err)
			}
		case Transient:
			failed++
			if failed >= o.retry.Attempts {
				return o.failed(method, err)
			}
			o.mu.Lock()
			o.countLocked(method).Retried++
			o.mu.Unlock()
			d := min(o.retry.Base<<(failed-1), o.retry.Max)
			d += rand.N(d/4 + 1)
			o.log.Warn("a call failed; retrying", "platform", o.platform, "call", method, "attempt", failed, "in", d, "err", err)
			if err := o.sleep(ctx, d); err != nil {
				return o.failed(method, err)
			}
		default:
			return o.failed(method, err)
		}
	}
}

type callKey struct{}

// CallKey returns the key of the Outbox call whose attempt ctx belongs
// to: the same at every attempt of one call, another for every call; ""
// outside Call. A network failure can lose the answer to a call the
// platform carried out, so a retried post could be delivered twice: a
// Carrier sends the key with a post (Discord's nonce, Slack's message
// metadata) to find out, at the next attempt, whether the platform has it
// already.
func CallKey(ctx context.Context) string {
	k, _ := ctx.Value(callKey{}).(string)
	return k
}

// scope names what a 429 holds back, for the log.
func scope(kind Failure) string {
	if kind == RateLimitedRoute {
		return "route"
	}
	return "platform"
}

func (o *Outbox) failed(method string, err error) error {
	o.mu.Lock()
	o.countLocked(method).Failed++
	o.mu.Unlock()
	return err
}

// lost logs a message that finally failed; Call has counted it.
func (o *Outbox) lost(method, what string, err error, attrs ...any) {
	kind, _ := o.carrier.Classify(err)
	if o.base.Err() != nil {
		what += " (given up at shutdown)"
	}
	o.log.Error(what, append([]any{"platform", o.platform, "call", method, "failure", kind.String(), "err", err}, attrs...)...)
}

// Answered counts a reply the adapter delivered in the acknowledgement of
// the request it answers (CallAnswer), so that Counts shows every reply.
func (o *Outbox) Answered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.countLocked(CallAnswer).Delivered++
}

func (o *Outbox) countLocked(method string) *Counts {
	c := o.counts[method]
	if c == nil {
		c = &Counts{}
		o.counts[method] = c
	}
	return c
}

// Summarise is a message's summary cut for a log line.
func Summarise(m actions.Message) string {
	s := m.Summary
	if s == "" {
		s = m.Title
	}
	if r := []rune(s); len(r) > 80 {
		s = string(r[:79]) + "…"
	}
	return s
}
