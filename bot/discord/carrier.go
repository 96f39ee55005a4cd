package discord

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// TokenLife is how long Discord accepts an interaction's token.
const TokenLife = 15 * time.Minute

// tokenMargin is kept in hand before a token dies: a message is moved to
// a bot message while its token can still say where it went, and no call
// is ever made with a dead token (Discord counts invalid requests, and
// bans clients that make too many).
const tokenMargin = time.Minute

// Calls made outside the Carrier, as named in the delivery counts.
const (
	callRespond        = "respond"
	callEditOriginal   = "edit_original"
	callDeleteOriginal = "delete_original"
	callFollowUp       = "follow_up"
)

// errTokenDead is returned instead of a call that would carry an
// interaction token too close to its end; the caller says it another way.
var errTokenDead = errors.New("discord: the interaction's token is too old to use")

// errNoThread: Discord messages carry no overflow, so nothing is ever
// threaded (see carrier.Thread).
var errNoThread = errors.New("discord: messages have no thread to continue in")

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

func (ix *exchange) interaction() *discordgo.Interaction {
	return &discordgo.Interaction{ID: ix.id, AppID: ix.appID, Token: ix.token}
}

// interactionKey marks, in the context of a Post, the interaction the
// message answers ("CHANNEL/INTERACTION" channels): the delivery queue
// orders it with the channel's other messages and hands the context on to
// the carrier, which decides at the moment of the call whether the token
// still lives.
type interactionKey struct{}

func withInteraction(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, interactionKey{}, id)
}

func interactionOf(ctx context.Context) string {
	id, _ := ctx.Value(interactionKey{}).(string)
	return id
}

// carrier is Discord's REST API as the delivery queue (bot.Outbox) uses
// it: one call per method, with no retry or rate-limit wait of its own
// beyond discordgo's per-bucket limiter, which reads the X-RateLimit-*
// headers and holds a bucket that is spent. It knows which messages are
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
}

var _ bot.Carrier = (*carrier)(nil)

func newCarrier(s *discordgo.Session, appID string, now func() time.Time, log *slog.Logger) *carrier {
	return &carrier{s: s, appID: appID, now: now, log: log,
		exchanges: map[string]*exchange{}, owned: map[string]*exchange{}, moved: map[string]string{}}
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

// Post sends m to channel: as a follow-up of the interaction ctx names
// (withInteraction) while its token lives, otherwise as a bot message in
// the channel. There is no overflow: render keeps a message's latest
// output lines in its embed.
func (c *carrier) Post(ctx context.Context, channel string, m actions.Message) (string, []string, error) {
	r := render(m)
	if ix := c.exchange(interactionOf(ctx)); c.usable(ix) {
		if err := ix.ready(ctx); err != nil {
			return "", nil, err
		}
		var msg *discordgo.Message
		err := do(ctx, func(ctx context.Context) (err error) {
			msg, err = c.s.FollowupMessageCreate(ix.interaction(), true, &discordgo.WebhookParams{
				Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: r.AllowedMentions,
			}, discordgo.WithContext(ctx))
			return err
		})
		if err != nil {
			return "", nil, err
		}
		c.mu.Lock()
		c.owned[msg.ID] = ix
		c.mu.Unlock()
		return msg.ID, nil, nil
	}
	id, err := c.send(ctx, channel, r)
	return id, nil, err
}

// send posts a bot message in channel (POST /channels/{id}/messages). It
// carries the delivery queue's call key as its nonce, with enforce_nonce:
// when the answer to an attempt was lost, Discord answers the next one
// with the message it created instead of creating it again.
func (c *carrier) send(ctx context.Context, channel string, r rendered) (string, error) {
	nonce := bot.CallKey(ctx)
	if nonce == "" {
		nonce = strconv.FormatUint(rand.Uint64(), 16)
	}
	for _, e := range r.Embeds {
		if e.Type == "" {
			e.Type = discordgo.EmbedTypeRich
		}
	}
	body := nonced{
		MessageSend: &discordgo.MessageSend{Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: r.AllowedMentions},
		Nonce:       nonce, EnforceNonce: true,
	}
	var msg *discordgo.Message
	err := do(ctx, func(ctx context.Context) error {
		// discordgo's MessageSend has no nonce: the same call, made by hand.
		endpoint := discordgo.EndpointChannelMessages(channel)
		resp, err := c.s.RequestWithBucketID(http.MethodPost, endpoint, body, endpoint, discordgo.WithContext(ctx))
		if err != nil {
			return err
		}
		return json.Unmarshal(resp, &msg)
	})
	if err != nil {
		return "", err
	}
	return msg.ID, nil
}

// nonced is a message to create with a nonce Discord enforces.
type nonced struct {
	*discordgo.MessageSend
	Nonce        string `json:"nonce"`
	EnforceNonce bool   `json:"enforce_nonce"`
}

// Update makes message id show m. A follow-up is edited through its
// interaction's webhook while the token lives; when it is about to die,
// the message continues in a new bot message (the old one says so), which
// later updates edit (PATCH /channels/{id}/messages/{id}); the new
// message is edited to m at once too, should Discord have answered with
// one an earlier attempt created (see below). The token's
// life is checked at every attempt, so a retry after a long wait never
// carries a dead token.
func (c *carrier) Update(ctx context.Context, channel, id string, m actions.Message) ([]string, error) {
	r := render(m)
	c.mu.Lock()
	target, moved := c.moved[id]
	ix := c.owned[id]
	c.mu.Unlock()
	switch {
	case moved:
		return nil, c.edit(ctx, channel, target, r)
	case ix != nil && c.usable(ix):
		return nil, do(ctx, func(ctx context.Context) error {
			_, err := c.s.FollowupMessageEdit(ix.interaction(), id, r.webhookEdit(), discordgo.WithContext(ctx))
			return err
		})
	case ix != nil:
		next, err := c.send(ctx, channel, r)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.moved[id] = next
		delete(c.owned, id)
		c.mu.Unlock()
		if c.now().Sub(ix.received) < TokenLife {
			note := render(actions.Message{Summary: m.Summary, Title: m.Title, Text: "Continued in a new message below: this one can no longer be edited."})
			err := do(ctx, func(ctx context.Context) error {
				_, err := c.s.FollowupMessageEdit(ix.interaction(), id, note.webhookEdit(), discordgo.WithContext(ctx))
				return err
			})
			if err != nil {
				c.log.Info("a moved message could not point to its continuation", "message", id, "err", err)
			}
		}
		// send carries the call's key as nonce, the same at every attempt,
		// and a retry sends the latest state: when an earlier attempt's
		// answer was lost, Discord answers with the message it created
		// then, from an older state. So the new message is edited to this
		// one (a retry of that edit goes through moved, above).
		return nil, c.edit(ctx, channel, next, r)
	}
	return nil, c.edit(ctx, channel, id, r)
}

func (c *carrier) edit(ctx context.Context, channel, id string, r rendered) error {
	e := discordgo.NewMessageEdit(channel, id)
	e.Content, e.Embeds, e.Components, e.AllowedMentions = &r.Content, &r.Embeds, &r.Components, r.AllowedMentions
	return do(ctx, func(ctx context.Context) error {
		_, err := c.s.ChannelMessageEditComplex(e, discordgo.WithContext(ctx))
		return err
	})
}

// Thread is never called: Discord messages have no overflow (render keeps
// a message's latest output lines in its embed and says how many earlier
// ones it left out; `run N` shows them all), and a reply per update would
// flood the channel where Slack hides a thread. It refuses, should a
// change ever call it.
func (c *carrier) Thread(ctx context.Context, channel, id string, lines []string) (int, error) {
	return 0, errNoThread
}

// OpenDM returns the DM channel with user (POST /users/@me/channels);
// the delivery queue remembers it.
func (c *carrier) OpenDM(ctx context.Context, user string) (string, error) {
	var ch *discordgo.Channel
	err := do(ctx, func(ctx context.Context) (err error) {
		ch, err = c.s.UserChannelCreate(user, discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		return "", err
	}
	return ch.ID, nil
}

// respond sends an interaction's initial response through the callback
// endpoint (gateway mode; over HTTP it is the answer to Discord's POST).
func (c *carrier) respond(ctx context.Context, ix *exchange, resp *discordgo.InteractionResponse) error {
	return do(ctx, func(ctx context.Context) error {
		return c.s.InteractionRespond(ix.interaction(), resp, discordgo.WithContext(ctx))
	})
}

// editOriginal makes the deferred response show m.
func (c *carrier) editOriginal(ctx context.Context, ix *exchange, m actions.Message) error {
	if err := c.await(ctx, ix); err != nil {
		return err
	}
	return do(ctx, func(ctx context.Context) error {
		_, err := c.s.InteractionResponseEdit(ix.interaction(), render(m).webhookEdit(), discordgo.WithContext(ctx))
		return err
	})
}

// deleteOriginal removes the deferred response ("infrabot is thinking…").
func (c *carrier) deleteOriginal(ctx context.Context, ix *exchange) error {
	if err := c.await(ctx, ix); err != nil {
		return err
	}
	return do(ctx, func(ctx context.Context) error {
		return c.s.InteractionResponseDelete(ix.interaction(), discordgo.WithContext(ctx))
	})
}

// followUp sends m as a follow-up of ix, seen only by its author when
// ephemeral (flag 64).
func (c *carrier) followUp(ctx context.Context, ix *exchange, m actions.Message, ephemeral bool) error {
	if err := c.await(ctx, ix); err != nil {
		return err
	}
	r := render(m)
	p := &discordgo.WebhookParams{Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: r.AllowedMentions}
	if ephemeral {
		p.Flags = discordgo.MessageFlagsEphemeral
	}
	return do(ctx, func(ctx context.Context) error {
		_, err := c.s.FollowupMessageCreate(ix.interaction(), true, p, discordgo.WithContext(ctx))
		return err
	})
}

// await checks, before each attempt of a call on ix's webhook, that its
// token still lives, and waits until Discord has its response.
func (c *carrier) await(ctx context.Context, ix *exchange) error {
	if !c.usable(ix) {
		return errTokenDead
	}
	return ix.ready(ctx)
}

// Classify: a 429 is rate limited for its retry_after: for the whole
// application when Discord says the limit is global (the transport reads
// X-RateLimit-Global, X-RateLimit-Scope and the body's "global"), for its
// bucket only otherwise, discordgo then holding the bucket's other calls
// until its X-RateLimit-Reset-After; 5xx and network failures are
// transient; 401, 403 and every other 4xx are refused and never retried
// (Discord bans clients that make 10,000 invalid requests in 10
// minutes), as is a call whose token was too old to make; 10008 Unknown
// Message, 10003 Unknown Channel and 50001 Missing Access say the message
// or its channel is not there for the bot any more: Gone, so that the
// message is not edited again.
func (*carrier) Classify(err error) (bot.Failure, time.Duration) {
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) && rl.RateLimit != nil && rl.TooManyRequests != nil {
		var g globalLimit
		if errors.As(err, &g) {
			return bot.RateLimited, rl.RetryAfter
		}
		return bot.RateLimitedRoute, rl.RetryAfter
	}
	if errors.Is(err, errTokenDead) || errors.Is(err, errNoThread) {
		return bot.Refused, 0
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		if re.Response.StatusCode >= http.StatusInternalServerError {
			return bot.Transient, 0
		}
		if re.Message != nil {
			switch re.Message.Code {
			case discordgo.ErrCodeUnknownMessage, discordgo.ErrCodeUnknownChannel, discordgo.ErrCodeMissingAccess:
				return bot.Gone, 0
			}
		}
		return bot.Refused, 0
	}
	// A network failure, the HTTP client's Timeout included, may go away.
	// (The caller's own cancellation is not retried: Outbox.Call checks
	// its context first.)
	return bot.Transient, 0
}

// globalLimit marks a 429 Discord said was global.
type globalLimit struct{ error }

func (g globalLimit) Unwrap() error { return g.error }

// do makes one discordgo call: the transport notes in its context
// whether a 429 was global, and the interaction token is taken out of a
// network error's URL.
func do(ctx context.Context, fn func(ctx context.Context) error) error {
	note := &limitNote{}
	err := fn(context.WithValue(ctx, limitKey{}, note))
	if err == nil {
		return nil
	}
	if note.global.Load() {
		err = globalLimit{err}
	}
	return scrub(err)
}

// tokenInURL matches the interaction token in a webhook or callback URL.
var tokenInURL = regexp.MustCompile(`(/(?:webhooks|interactions)/[^/]+/)[^/?]+`)

// scrub takes the interaction token out of a failed request's URL (a
// network error names it), so that it never reaches the log.
func scrub(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) || !tokenInURL.MatchString(ue.URL) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: tokenInURL.ReplaceAllString(ue.URL, "${1}[token]"), Err: ue.Err}
}
