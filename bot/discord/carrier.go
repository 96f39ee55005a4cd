package discord

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/actions"
)

// TokenLife is how long Discord accepts an interaction's token.
const TokenLife = 15 * time.Minute

// tokenMargin is kept in hand before a token dies: a message is moved to
// a bot message while its token can still say where it went, and no call
// is ever made with a dead token (Discord counts invalid requests, and
// bans clients that make too many).
const tokenMargin = time.Minute

// exchange is one interaction being answered: its token, and when Discord
// sent it.
type exchange struct {
	id, token, appID string
	channel          string
	user             string // who sent it
	received         time.Time
	// command is true for /infra (answered with a deferred message, the
	// @original to edit), false for a click (a deferred update, so that
	// the reply is a follow-up).
	command bool
	// answered is closed once Discord has the interaction's response:
	// over HTTP when the answer to its POST has been written and flushed,
	// over the gateway when the callback succeeded. Until then the
	// interaction's webhook does not exist (a follow-up gets 10015
	// Unknown Webhook, an edit of @original 10008 Unknown Message, both
	// final), so every call on it waits for this.
	answered chan struct{}
}

// newExchange returns an exchange not answered yet.
func newExchange(id, token, appID, channel, user string, received time.Time) *exchange {
	return &exchange{id: id, token: token, appID: appID, channel: channel, user: user, received: received, answered: make(chan struct{})}
}

// markAnswered records that Discord has the interaction's response.
func (ix *exchange) markAnswered() {
	select {
	case <-ix.answered:
	default:
		close(ix.answered)
	}
}

// ready waits until Discord has the interaction's response, or ctx ends.
// A command's reply is usually ready before its HTTP answer is written:
// without this wait it would race the answer and lose.
func (ix *exchange) ready(ctx context.Context) error {
	select {
	case <-ix.answered:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// carrier makes the REST calls, one call per method, with no retry of its
// own: the outbox orders and retries them. It knows which messages are
// an interaction's follow-ups (edited through the interaction's webhook
// while its token lives) and which were moved to a bot message since.
type carrier struct {
	s     *discordgo.Session
	appID string
	now   func() time.Time
	log   *slog.Logger

	mu        sync.Mutex
	exchanges map[string]*exchange // interaction id → exchange
	owned     map[string]*exchange // follow-up message id → its interaction
	moved     map[string]string    // follow-up id → the bot message it continues in
	dms       map[string]string    // user → DM channel
}

// remember keeps ix for as long as its token lives, and forgets expired
// ones.
func (c *carrier) remember(ix *exchange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for id, x := range c.exchanges {
		if now.Sub(x.received) > TokenLife {
			delete(c.exchanges, id)
		}
	}
	c.exchanges[ix.id] = ix
}

// usable reports whether ix's token may still be used.
func (c *carrier) usable(ix *exchange) bool {
	return ix != nil && c.now().Sub(ix.received) < TokenLife-tokenMargin
}

func (c *carrier) exchange(id string) *exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exchanges[id]
}

// Post sends m: as a follow-up of the interaction channel names while its
// token lives, otherwise as a bot message in the channel.
func (c *carrier) Post(ctx context.Context, channel string, m actions.Message) (string, error) {
	ch, ixID := splitChannel(channel)
	r := render(m)
	if ix := c.exchange(ixID); ixID != "" && c.usable(ix) {
		if err := ix.ready(ctx); err != nil {
			return "", err
		}
		msg, err := c.s.FollowupMessageCreate(ix.interaction(), true, &discordgo.WebhookParams{
			Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: r.AllowedMentions,
		}, discordgo.WithContext(ctx))
		if err != nil {
			return "", err
		}
		c.mu.Lock()
		c.owned[msg.ID] = ix
		c.mu.Unlock()
		return msg.ID, nil
	}
	msg, err := c.s.ChannelMessageSendComplex(ch, &discordgo.MessageSend{
		Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: r.AllowedMentions,
	}, discordgo.WithContext(ctx))
	if err != nil {
		return "", err
	}
	return msg.ID, nil
}

// Update makes message id show m. A follow-up is edited through its
// interaction's webhook while the token lives; when it is about to die,
// the message continues in a new bot message (the old one says so), which
// later updates edit (PATCH /channels/{id}/messages/{id}).
func (c *carrier) Update(ctx context.Context, channel, id string, m actions.Message) error {
	r := render(m)
	c.mu.Lock()
	target, moved := c.moved[id]
	ix := c.owned[id]
	c.mu.Unlock()
	switch {
	case moved:
		return c.edit(ctx, channel, target, r)
	case ix != nil && c.usable(ix):
		_, err := c.s.FollowupMessageEdit(ix.interaction(), id, r.webhookEdit(), discordgo.WithContext(ctx))
		return err
	case ix != nil:
		msg, err := c.s.ChannelMessageSendComplex(channel, &discordgo.MessageSend{
			Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: r.AllowedMentions,
		}, discordgo.WithContext(ctx))
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.moved[id] = msg.ID
		delete(c.owned, id)
		c.mu.Unlock()
		if c.now().Sub(ix.received) < TokenLife {
			note := render(actions.Message{Summary: m.Summary, Title: m.Title, Text: "Continued in a new message below: this one can no longer be edited."})
			if _, err := c.s.FollowupMessageEdit(ix.interaction(), id, note.webhookEdit(), discordgo.WithContext(ctx)); err != nil {
				c.log.Info("a moved message could not point to its continuation", "message", id, "err", err)
			}
		}
		return nil
	}
	return c.edit(ctx, channel, id, r)
}

func (c *carrier) edit(ctx context.Context, channel, id string, r rendered) error {
	e := discordgo.NewMessageEdit(channel, id)
	e.Content, e.Embeds, e.Components, e.AllowedMentions = &r.Content, &r.Embeds, &r.Components, r.AllowedMentions
	_, err := c.s.ChannelMessageEditComplex(e, discordgo.WithContext(ctx))
	return err
}

// OpenDM returns the DM channel with user, creating it once.
func (c *carrier) OpenDM(ctx context.Context, user string) (string, error) {
	c.mu.Lock()
	dm := c.dms[user]
	c.mu.Unlock()
	if dm != "" {
		return dm, nil
	}
	ch, err := c.s.UserChannelCreate(user, discordgo.WithContext(ctx))
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.dms[user] = ch.ID
	c.mu.Unlock()
	return ch.ID, nil
}

// respond sends an interaction's initial response through the callback
// endpoint (gateway mode; over HTTP it is the answer to Discord's POST).
func (c *carrier) respond(ctx context.Context, ix *exchange, resp *discordgo.InteractionResponse) error {
	return c.s.InteractionRespond(ix.interaction(), resp, discordgo.WithContext(ctx))
}

// editOriginal makes the deferred response show m.
func (c *carrier) editOriginal(ctx context.Context, ix *exchange, m actions.Message) error {
	if err := ix.ready(ctx); err != nil {
		return err
	}
	_, err := c.s.InteractionResponseEdit(ix.interaction(), render(m).webhookEdit(), discordgo.WithContext(ctx))
	return err
}

// deleteOriginal removes the deferred response ("infrabot is thinking…").
func (c *carrier) deleteOriginal(ctx context.Context, ix *exchange) error {
	if err := ix.ready(ctx); err != nil {
		return err
	}
	return c.s.InteractionResponseDelete(ix.interaction(), discordgo.WithContext(ctx))
}

// followUp sends m as a follow-up of ix, seen only by its author when
// ephemeral (flag 64).
func (c *carrier) followUp(ctx context.Context, ix *exchange, m actions.Message, ephemeral bool) error {
	if err := ix.ready(ctx); err != nil {
		return err
	}
	r := render(m)
	p := &discordgo.WebhookParams{Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: r.AllowedMentions}
	if ephemeral {
		p.Flags = discordgo.MessageFlagsEphemeral
	}
	_, err := c.s.FollowupMessageCreate(ix.interaction(), true, p, discordgo.WithContext(ctx))
	return err
}

func (ix *exchange) interaction() *discordgo.Interaction {
	return &discordgo.Interaction{ID: ix.id, AppID: ix.appID, Token: ix.token}
}

// failure is what an error from Discord means for the outbox.
type failure int

const (
	// refused: 4xx but 429 (a bad token, a missing channel, a forbidden
	// call); never retried.
	refused failure = iota
	// transient: 5xx, a dropped connection; retried with backoff.
	transient
	// rateLimited: 429; waited out for retry_after, then retried.
	rateLimited
)

// classify says what err means, and for a 429 how long to wait.
func classify(err error) (f failure, wait time.Duration) {
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) && rl.RateLimit != nil && rl.TooManyRequests != nil {
		return rateLimited, rl.RetryAfter
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		if re.Response.StatusCode >= http.StatusInternalServerError {
			return transient, 0
		}
		return refused, 0
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return refused, 0
	}
	return transient, 0
}
