package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/slack-go/slack"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// DefaultUpdateBudget is chat.update's allowance: Tier 3, about 50 calls
// a minute per workspace, shared by every message infrabot keeps up to
// date.
var DefaultUpdateBudget = bot.Budget{PerMinute: 50, Burst: 5}

// carrier is Slack's Web API as the delivery queue (bot.Outbox) uses it:
// one call per method, rendered as Block Kit.
//
// Slack has no idempotency key, and a post whose answer was lost (the
// connection dropped, the client's timeout fired) may be in the channel:
// posting it again would deliver it twice. So every post carries its
// call's key (bot.CallKey) in its metadata, and the carrier remembers
// the keys of posts whose fate it does not know; the next attempt of
// such a post first looks for it (conversations.history among the
// channel's newest messages, conversations.replies in a thread) and
// returns it when Slack has it. When Slack refuses the look (not_in_channel
// in a public channel infrabot posts to without being a member,
// missing_scope on an install without the history scopes), the post is
// sent again, and the log says it may be there twice: a duplicate beats a
// lost page.
type carrier struct {
	api *slack.Client
	log *slog.Logger

	mu     sync.Mutex
	unsure map[string]time.Time // call key → when a post Slack may have was sent
}

var _ bot.Carrier = (*carrier)(nil)

func newCarrier(api *slack.Client, log *slog.Logger) *carrier {
	return &carrier{api: api, log: log, unsure: map[string]time.Time{}}
}

// postKind is the event_type of the metadata a post carries its key in.
const postKind = "infrabot_post"

// unsureFor is how long the key of a post whose answer was lost is kept;
// the delivery queue gives up on a call well before.
const unsureFor = time.Hour

func (c *carrier) Post(ctx context.Context, channel string, m actions.Message) (string, []string, error) {
	r := render(m)
	ts, err := c.post(ctx, channel, "", slack.MsgOptionBlocks(r.Blocks...), slack.MsgOptionText(r.Fallback, false))
	if err != nil {
		return "", nil, err
	}
	return ts, r.Overflow, nil
}

// post makes chat.postMessage (a reply in thread when thread is set),
// at most once per call key: see carrier.
func (c *carrier) post(ctx context.Context, channel, thread string, opts ...slack.MsgOption) (string, error) {
	key := bot.CallKey(ctx)
	if key != "" {
		c.mu.Lock()
		_, unsure := c.unsure[key]
		c.mu.Unlock()
		if unsure {
			ts, err := c.find(ctx, channel, thread, key)
			switch f, _ := c.Classify(err); {
			case err == nil && ts != "":
				c.settle(key)
				return ts, nil
			case err == nil:
			case f == bot.Refused || f == bot.Gone:
				// The look's refusal is not the post's: never give the
				// post up for it.
				c.log.Warn("a post whose answer was lost could not be looked for; it is posted again and may be in the channel twice",
					"channel", channel, "thread", thread, "err", err)
			default:
				return "", &maybePosted{fmt.Errorf("looking for it: %w", err)}
			}
		}
		opts = append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{EventType: postKind, EventPayload: map[string]any{"key": key}}))
	}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	_, ts, err := c.api.PostMessageContext(ctx, channel, opts...)
	switch {
	case key == "":
	case err == nil || notSent(err):
		c.settle(key)
	default:
		now := time.Now()
		c.mu.Lock()
		for k, at := range c.unsure {
			if now.Sub(at) > unsureFor {
				delete(c.unsure, k)
			}
		}
		c.unsure[key] = now
		c.mu.Unlock()
		return "", &maybePosted{err}
	}
	return ts, err
}

// settle forgets key: its post is known to be in Slack, or not.
func (c *carrier) settle(key string) {
	c.mu.Lock()
	delete(c.unsure, key)
	c.mu.Unlock()
}

// find returns the ts of the post carrying key in channel (in thread's
// replies when thread is set), or "" when Slack does not have it.
func (c *carrier) find(ctx context.Context, channel, thread, key string) (string, error) {
	var msgs []slack.Message
	if thread == "" {
		// The post is a moment old: it is among the newest messages.
		h, err := c.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: channel, Limit: 100, IncludeAllMetadata: true})
		if err != nil {
			return "", err
		}
		msgs = h.Messages
	} else {
		p := &slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: thread, Limit: 200, IncludeAllMetadata: true}
		for {
			page, more, cursor, err := c.api.GetConversationRepliesContext(ctx, p)
			if err != nil {
				return "", err
			}
			msgs = append(msgs, page...)
			if !more || cursor == "" {
				break
			}
			p.Cursor = cursor
		}
	}
	for _, m := range msgs {
		if md := m.Metadata; md.EventType == postKind && md.EventPayload["key"] == key {
			return m.Timestamp, nil
		}
	}
	return "", nil
}

// notSent reports whether err says the post certainly did not reach
// Slack: Slack refused it or asked to wait, or the connection was never
// made. Not internal_error nor fatal_error: Slack says part of the call
// may have been carried out.
func notSent(err error) bool {
	var rl *slack.RateLimitedError
	var se slack.SlackErrorResponse
	var dns *net.DNSError
	var op *net.OpError
	if errors.As(err, &se) {
		return se.Err != "internal_error" && se.Err != "fatal_error"
	}
	return errors.As(err, &rl) || errors.As(err, &dns) ||
		(errors.As(err, &op) && op.Op == "dial") || errors.Is(err, syscall.ECONNREFUSED)
}

// maybePosted is the failure of a post Slack may have: its answer was
// lost, or was internal_error or fatal_error. The next attempt looks for
// it before posting; when the delivery queue gives up instead, its log
// line says so.
type maybePosted struct{ error }

func (e *maybePosted) Error() string {
	return "the message may have been posted (Slack's answer was lost or unsure): " + e.error.Error()
}

func (e *maybePosted) Unwrap() error { return e.error }

func (c *carrier) Update(ctx context.Context, channel, ts string, m actions.Message) ([]string, error) {
	r := render(m)
	_, _, _, err := c.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionBlocks(r.Blocks...), slack.MsgOptionText(r.Fallback, false))
	if err != nil {
		return nil, err
	}
	return r.Overflow, nil
}

// Thread posts the first code block's worth of lines as a reply in the
// message's thread.
func (c *carrier) Thread(ctx context.Context, channel, ts string, lines []string) (int, error) {
	chunk, n := codeChunk(lines)
	_, err := c.post(ctx, channel, ts,
		slack.MsgOptionBlocks(slack.NewSectionBlock(mrkdwn(chunk), nil, nil)), slack.MsgOptionText("output (continued)", false))
	if err != nil {
		return 0, err
	}
	return n, nil
}

// OpenDM opens (or finds) user's direct conversation with infrabot:
// conversations.open.
func (c *carrier) OpenDM(ctx context.Context, user string) (string, error) {
	ch, _, _, err := c.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err != nil {
		return "", err
	}
	return ch.ID, nil
}

// Classify: a 429 is rate limited for its Retry-After; Slack's 5xx, its
// own "try again" errors and network failures are transient; a refusal
// (ok:false with invalid_auth, no_text…) is final, and one that says the
// message or its channel is not there any more (message_not_found,
// channel_not_found, is_archived, not_in_channel…) is Gone.
func (*carrier) Classify(err error) (bot.Failure, time.Duration) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return bot.RateLimited, rl.RetryAfter
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return bot.Transient, 0
		case "message_not_found", "cant_update_message", "channel_not_found", "is_archived", "not_in_channel":
			return bot.Gone, 0
		}
		return bot.Refused, 0
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		if sc.Retryable() {
			return bot.Transient, 0
		}
		return bot.Refused, 0
	}
	// A network failure, the HTTP client's Timeout included, may go away.
	// (The caller's own cancellation is not retried: Outbox.Call checks
	// its context first.)
	return bot.Transient, 0
}

// isRefusal reports whether Slack answered err with ok:false: a final refusal.
func isRefusal(err error) bool {
	var se slack.SlackErrorResponse
	return errors.As(err, &se)
}
