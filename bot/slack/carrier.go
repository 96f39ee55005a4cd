package slack

import (
	"context"
	"errors"
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
type carrier struct {
	api *slack.Client
}

var _ bot.Carrier = carrier{}

func (c carrier) Post(ctx context.Context, channel string, m actions.Message) (string, []string, error) {
	r := render(m)
	_, ts, err := c.api.PostMessageContext(ctx, channel, slack.MsgOptionBlocks(r.Blocks...), slack.MsgOptionText(r.Fallback, false))
	if err != nil {
		return "", nil, err
	}
	return ts, r.Overflow, nil
}

func (c carrier) Update(ctx context.Context, channel, ts string, m actions.Message) ([]string, error) {
	r := render(m)
	_, _, _, err := c.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionBlocks(r.Blocks...), slack.MsgOptionText(r.Fallback, false))
	if err != nil {
		return nil, err
	}
	return r.Overflow, nil
}

// Thread posts the first code block's worth of lines as a reply in the
// message's thread.
func (c carrier) Thread(ctx context.Context, channel, ts string, lines []string) (int, error) {
	chunk, n := codeChunk(lines)
	_, _, err := c.api.PostMessageContext(ctx, channel, slack.MsgOptionTS(ts),
		slack.MsgOptionBlocks(slack.NewSectionBlock(mrkdwn(chunk), nil, nil)), slack.MsgOptionText("output (continued)", false))
	if err != nil {
		return 0, err
	}
	return n, nil
}

// OpenDM opens (or finds) user's direct conversation with infrabot:
// conversations.open.
func (c carrier) OpenDM(ctx context.Context, user string) (string, error) {
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
func (carrier) Classify(err error) (bot.Failure, time.Duration) {
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
