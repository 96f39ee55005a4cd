package bot

import (
	"context"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Carrier is one chat platform's API as an Outbox uses it. Each method is
// one call to the platform, made once: the Outbox orders, paces and
// retries them, so a Carrier holds no queue, no retry loop and no clock.
type Carrier interface {
	// Post sends m to channel (the platform's channel id) and returns the
	// new message's id, and the preformatted lines of m that did not fit
	// in one message, oldest first; the Outbox hands those to Thread.
	Post(ctx context.Context, channel string, m actions.Message) (id string, overflow []string, err error)
	// Update makes message id in channel show m; overflow is as for Post.
	Update(ctx context.Context, channel, id string, m actions.Message) (overflow []string, err error)
	// Thread posts as many of lines as fit in one message as a reply to
	// message id, and says how many it posted.
	Thread(ctx context.Context, channel, id string, lines []string) (posted int, err error)
	// OpenDM returns the channel of user's direct conversation with the
	// bot, opening it when needed.
	OpenDM(ctx context.Context, user string) (channel string, err error)
	// Classify says what an error returned by one of the calls above
	// means, and for RateLimited how long the platform asked to wait.
	Classify(err error) (Failure, time.Duration)
}

// Failure is the kind of an error a platform answered.
type Failure int

// Failures.
const (
	// Refused is a final answer: a missing channel, a revoked token, a
	// forbidden call (Discord's 401 and 403). Retrying cannot help and is
	// never done.
	Refused Failure = iota
	// Transient is a failure that may go away by itself: a 5xx, a
	// timeout, a dropped connection. The call is retried with backoff.
	Transient
	// RateLimited is a 429 for the whole platform (Slack's, Discord's
	// global limit): every call waits as long as the platform asked, then
	// this one is made again.
	RateLimited
	// RateLimitedRoute is a 429 for one route only (a Discord bucket:
	// one channel's messages, one interaction's webhook): this call waits
	// as long as the platform asked and is made again, while calls on
	// other routes go on. Holding back the route's other calls is the
	// platform client's part (discordgo holds the bucket until its
	// X-RateLimit-Reset-After).
	RateLimitedRoute
	// Gone is a refusal because the message is not there to be changed
	// any more: a person deleted it, its channel was deleted or archived,
	// or the bot was removed from it. It is never retried, and the
	// message's later updates are dropped (counted as failed; the
	// refusal was logged once).
	Gone
)

func (f Failure) String() string {
	switch f {
	case Transient:
		return "transient"
	case RateLimited:
		return "rate-limited"
	case RateLimitedRoute:
		return "rate-limited-route"
	case Gone:
		return "gone"
	}
	return "refused"
}

// Budget is a platform's allowance for message updates, shared by every
// message it keeps up to date (Slack's chat.update is Tier 3: about 50
// calls a minute per workspace). An Outbox spends it fairly: when updates
// come faster than the budget allows, each message's states coalesce
// further and the message that has waited longest goes next.
type Budget struct {
	// PerMinute is how many updates may be sent in any rolling minute;
	// zero means no budget.
	PerMinute int
	// Burst is how many may go at once after a quiet spell; the rest are
	// spread evenly over the minute. At least 1.
	Burst int
}

// pace spends a Budget: a token bucket (Burst tokens, refilled at
// PerMinute a minute) that also never lets more than PerMinute calls into
// any rolling minute, so that a burst cannot overdraw a platform that
// counts by the minute.
type pace struct {
	every  time.Duration
	burst  float64
	tokens float64
	filled time.Time
	// sent is a ring of the times of the last PerMinute sends; next is
	// the oldest.
	sent []time.Time
	next int
}

func newPace(b Budget, now time.Time) *pace {
	if b.PerMinute <= 0 {
		return nil
	}
	burst := min(max(b.Burst, 1), b.PerMinute)
	return &pace{
		every:  time.Minute / time.Duration(b.PerMinute),
		burst:  float64(burst),
		tokens: float64(burst),
		filled: now,
		sent:   make([]time.Time, b.PerMinute),
	}
}

// wait returns how long until one more update may be sent; 0 means now.
func (p *pace) wait(now time.Time) time.Duration {
	if p == nil {
		return 0
	}
	p.refill(now)
	var d time.Duration
	if p.tokens < 1 {
		d = time.Duration((1 - p.tokens) * float64(p.every))
	}
	if oldest := p.sent[p.next]; !oldest.IsZero() {
		d = max(d, oldest.Add(time.Minute).Sub(now))
	}
	return max(d, 0)
}

// spend records an update sent at now; wait(now) must have been 0.
func (p *pace) spend(now time.Time) {
	if p == nil {
		return
	}
	p.refill(now)
	p.tokens = max(p.tokens-1, 0)
	p.sent[p.next] = now
	p.next = (p.next + 1) % len(p.sent)
}

func (p *pace) refill(now time.Time) {
	if el := now.Sub(p.filled); el > 0 {
		p.tokens = min(p.burst, p.tokens+float64(el)/float64(p.every))
		p.filled = now
	}
}
