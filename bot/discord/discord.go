// Package discord is infrabot in Discord. It owns everything
// Discord-specific: verifying the interactions Discord posts to the
// Interactions Endpoint (or reading them from a gateway connection),
// turning /infra's typed options and button clicks into command lines for
// the bot's router, answering within Discord's three seconds with a
// deferred response and then editing it, and saying what infrabot has to
// say as embeds through Discord's REST API. What it says goes through the
// shared delivery queue (bot.Outbox), with Discord's calls behind a
// bot.Carrier (carrier.go): in order, rate-limit aware per bucket, and
// without losing a message. The /infra application command itself is
// generated from the catalogue (commands.go).
package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// Platform is Discord's platform name, in people's ids and message refs.
const Platform = "discord"

// DefaultAPIURL is Discord's REST API base.
const DefaultAPIURL = "https://discord.com/api/"

// Router runs a chat line; *bot.Router is one.
type Router interface {
	Handle(ctx context.Context, in bot.Incoming) (actions.Reply, bool)
}

// Options configures an Adapter.
type Options struct {
	// BotToken authorises REST calls and the gateway. Required.
	BotToken string
	// PublicKey is the application's Ed25519 public key, in hex as the
	// developer portal shows it; required to serve interactions over HTTP.
	PublicKey string
	// ApplicationID is the application's id. Required.
	ApplicationID string
	// GuildID is the guild /infra is registered in; "" registers it
	// globally.
	GuildID string
	// APIURL is Discord's REST base, DefaultAPIURL by default; tests point
	// it at a fake. Every REST call discordgo makes is sent there.
	APIURL string
	// HTTPClient makes the REST calls; one with a 30s timeout by default.
	// Its transport is wrapped to reach APIURL.
	HTTPClient *http.Client
	// Router runs the commands people send. Required.
	Router Router
	// Catalog is the engine's catalogue: the commands /infra offers and
	// the order of each one's options.
	Catalog *actions.Catalog
	// Environments offered as choices of environment options.
	Environments []string
	// Logger receives what the adapter has to say; nothing by default.
	// Tokens are never logged.
	Logger *slog.Logger
	// Workers bounds how many commands run at once; Queue how many wait,
	// and PerPerson how many of one person's. Waiting commands are run
	// round-robin between people (bot.Inbox). An interaction that finds no
	// room is answered at once with an ephemeral "infrabot is busy, try
	// again" (not a failure Discord would show as "interaction failed"),
	// so that a flood cannot pile up and one person cannot starve the
	// others. Defaults 8, 256 and 32.
	Workers, Queue, PerPerson int
	// BusyLogInterval is how often refusals are logged: one line with
	// their counts per interval. Default 10s.
	BusyLogInterval time.Duration
	// UpdateInterval is the least time between two edits of one message.
	// Default 1s.
	UpdateInterval time.Duration
	// UpdateBudget is an application-wide allowance for edits; none by
	// default. Discord limits calls per bucket (a channel's messages, an
	// interaction's webhook) and says so in every answer's X-RateLimit-*
	// headers, which discordgo follows, holding a spent bucket until it
	// resets; Discord asks that its limits not be hard-coded. A budget
	// makes live messages coalesce further, for a guild that wants fewer
	// edits than that.
	UpdateBudget bot.Budget
	// Replays remembers the interactions accepted so that none runs
	// twice, across restarts too (the storage package implements it);
	// one in memory, for the process's life, by default.
	Replays ReplayStore
	// Now and Sleep are the clock, for tests. Sleep returns early with
	// ctx's error.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Adapter is infrabot's Discord application. It implements actions.Chat;
// Handler serves the Interactions Endpoint and RunGateway reads the
// gateway.
type Adapter struct {
	opts    Options
	session *discordgo.Session
	log     *slog.Logger
	key     ed25519.PublicKey
	guard   *bot.Guard
	rest    *carrier
	out     *bot.Outbox

	// commands are those accepted and not yet run; once closed it takes
	// nothing more, so nothing is acknowledged after the workers were
	// told to finish (it would never run).
	commands *bot.Commands[job]
	busy     *bot.Refusals
	// status is the link with Discord, for readiness (Status).
	status bot.Status
}

var _ actions.Chat = (*Adapter)(nil)

// job is one command to run, with the interaction to answer.
type job struct {
	in bot.Incoming
	ix *exchange
}

// New returns an adapter with its workers started; Close stops them.
func New(opts Options) (*Adapter, error) {
	if opts.BotToken == "" {
		return nil, errors.New("discord: a bot token is required")
	}
	if opts.ApplicationID == "" {
		return nil, errors.New("discord: an application id is required")
	}
	if opts.Router == nil {
		return nil, errors.New("discord: a router is required")
	}
	if opts.APIURL == "" {
		opts.APIURL = DefaultAPIURL
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.Queue <= 0 {
		opts.Queue = 256
	}
	if opts.PerPerson <= 0 {
		opts.PerPerson = 32
	}
	if opts.BusyLogInterval <= 0 {
		opts.BusyLogInterval = 10 * time.Second
	}
	if opts.UpdateInterval <= 0 {
		opts.UpdateInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = actions.Sleep
	}
	guard, err := bot.NewGuard(opts.Replays, "discord:", opts.Now())
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	var key ed25519.PublicKey
	if opts.PublicKey != "" {
		b, err := hex.DecodeString(strings.TrimSpace(opts.PublicKey))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, errors.New("discord: the public key must be the application's 64 hex digits (General Information in the developer portal)")
		}
		key = b
	}
	s, err := newSession(opts)
	if err != nil {
		return nil, err
	}
	log := opts.Logger.With("platform", Platform)
	rest := newCarrier(s, opts.ApplicationID, opts.Now, log)
	a := &Adapter{
		opts: opts, session: s, log: log, key: key,
		guard: guard, rest: rest,
		out: bot.NewOutbox(rest, bot.OutboxOptions{
			Platform: Platform, Logger: log, UpdateInterval: opts.UpdateInterval, UpdateBudget: opts.UpdateBudget,
			Now: opts.Now, Sleep: opts.Sleep,
		}),
		busy: bot.NewRefusals(log, "Discord", opts.Now, opts.BusyLogInterval),
	}
	a.commands = bot.StartCommands(opts.Queue, opts.PerPerson, opts.Workers, a.run)
	return a, nil
}

// newSession returns a discordgo session whose every REST call goes to
// opts.APIURL: discordgo's endpoint strings are fixed when it is loaded,
// so the session's client rewrites them instead. A 429 is returned, not
// slept on, and nothing is retried: the delivery queue does both.
// discordgo's per-bucket limiter stays on: it holds a bucket the
// X-RateLimit-* headers say is spent.
func newSession(opts Options) (*discordgo.Session, error) {
	s, err := discordgo.New("Bot " + opts.BotToken)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	client, err := redirect(opts.HTTPClient, opts.APIURL)
	if err != nil {
		return nil, err
	}
	s.Client = client
	s.ShouldRetryOnRateLimit = false
	s.MaxRestRetries = 0
	s.LogLevel = -1 // discordgo's own log is silenced; the adapter logs
	s.Identify.Intents = discordgo.IntentsNone
	return s, nil
}

// Post sends m to channel and returns its reference once Discord has it.
// channel is a channel id, or "CHANNEL/INTERACTION" for a message about a
// request that came as an interaction: while that interaction's token
// lives the message is one of its follow-ups, afterwards a bot message
// in the channel.
// Messages to one channel leave in order, the interaction's with the
// rest; a rate limit makes Post wait, not fail.
func (a *Adapter) Post(ctx context.Context, channel string, m actions.Message) (actions.MessageRef, error) {
	ch, ix := splitChannel(channel)
	if ix != "" {
		ctx = withInteraction(ctx, ix)
	}
	id, err := a.out.Post(ctx, ch, m)
	if err != nil {
		return actions.MessageRef{}, err
	}
	return actions.MessageRef{Platform: Platform, Channel: ch, ID: id}, nil
}

// Direct sends m to userID's direct messages with the bot, creating the
// DM channel the first time (POST /users/@me/channels; it is
// remembered), and returns its reference.
func (a *Adapter) Direct(ctx context.Context, userID string, m actions.Message) (actions.MessageRef, error) {
	dm, id, err := a.out.Direct(ctx, userID, m)
	if err != nil {
		return actions.MessageRef{}, err
	}
	return actions.MessageRef{Platform: Platform, Channel: dm, ID: id}, nil
}

// Update queues the new state of a posted message and returns at once;
// edits are coalesced to about one a second per message (further within
// UpdateBudget), the last state always delivered.
func (a *Adapter) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	if ref.Channel == "" || ref.ID == "" {
		return errors.New("discord: update of a message with no channel or id")
	}
	ch, _ := splitChannel(ref.Channel)
	a.out.Update(ch, ref.ID, m)
	return nil
}

// splitChannel reads "CHANNEL/INTERACTION".
func splitChannel(s string) (channel, interaction string) {
	channel, interaction, _ = strings.Cut(s, "/")
	return channel, interaction
}

// submit queues a command for the workers, in its author's queue, and
// reports whether it did. It does not while the adapter is closing, nor
// when there is no room (for anyone, or for this person): the
// interaction is then answered "busy". wait makes it wait for room until
// ctx ends instead.
func (a *Adapter) submit(ctx context.Context, j job, wait bool) bool {
	return a.commands.Submit(ctx, j.in.UserID, j, wait)
}

// run hands one line to the router and answers the interaction: a public
// reply becomes the deferred response (or, for a click, a follow-up); a
// private one (every refusal) an ephemeral follow-up only its author
// sees.
func (a *Adapter) run(j job) {
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("a command crashed", "user", j.in.UserID, "panic", r)
		}
	}()
	reply, ok := a.opts.Router.Handle(context.Background(), j.in)
	if !ok {
		return
	}
	a.answer(j.ix, reply.Message, reply.Private)
}

// answer queues the reply to an interaction, in its channel's order:
// public replies edit a command's deferred response (@original), or
// follow a click; private ones are ephemeral follow-ups (flag 64), the
// command's "thinking…" response removed. Once the token is too old, a
// public reply is posted in the channel and a private one sent as a
// direct message.
func (a *Adapter) answer(ix *exchange, m actions.Message, private bool) {
	a.out.Do(ix.channel, func(ctx context.Context) {
		call, err := a.answerByToken(ctx, ix, m, private)
		if errors.Is(err, errTokenDead) {
			if private {
				a.out.SendDirect(ix.user, m)
				return
			}
			call = bot.CallPost
			err = a.out.Call(ctx, call, func(ctx context.Context) error {
				_, _, err := a.rest.Post(ctx, ix.channel, m)
				return err
			})
		}
		if err != nil {
			a.log.Error("a reply could not be delivered", "call", call, "channel", ix.channel, "summary", bot.Summarise(m), "err", err)
		}
	})
}

// answerByToken answers through the interaction's webhook and says which
// call it made; errTokenDead when the token is too old for it.
func (a *Adapter) answerByToken(ctx context.Context, ix *exchange, m actions.Message, private bool) (string, error) {
	switch {
	case !private && ix.command:
		return callEditOriginal, a.out.Call(ctx, callEditOriginal, func(ctx context.Context) error { return a.rest.editOriginal(ctx, ix, m) })
	case private && ix.command:
		err := a.out.Call(ctx, callDeleteOriginal, func(ctx context.Context) error { return a.rest.deleteOriginal(ctx, ix) })
		if errors.Is(err, errTokenDead) {
			return callDeleteOriginal, err
		}
		if err != nil {
			a.log.Warn("the deferred response could not be removed", "err", err)
		}
	}
	return callFollowUp, a.out.Call(ctx, callFollowUp, func(ctx context.Context) error { return a.rest.followUp(ctx, ix, m, private) })
}

// Close stops taking commands, runs those already accepted, and waits
// (until ctx ends) for everything queued for Discord to be sent.
func (a *Adapter) Close(ctx context.Context) error {
	a.setStatus(false, "closed")
	a.commands.Close()
	a.busy.Flush()
	return a.out.Close(ctx)
}

// Flush waits until nothing is queued or being sent to Discord.
func (a *Adapter) Flush(ctx context.Context) error {
	return a.out.Flush(ctx)
}

// Deliveries returns what happened to infrabot's calls to Discord so far,
// by call (post, update, open_dm, edit_original, follow_up,
// delete_original, respond), for metrics.
func (a *Adapter) Deliveries() map[string]bot.Counts {
	return a.out.Counts()
}

// Queued returns how many messages and updates wait to be sent to Discord
// (the delivery queue's depth), for metrics.
func (a *Adapter) Queued() int {
	return a.out.Queued()
}

// Drain waits until every command accepted so far has been handled.
func (a *Adapter) Drain(ctx context.Context) error {
	return a.commands.Drain(ctx)
}
