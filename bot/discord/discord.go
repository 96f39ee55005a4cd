// Package discord is infrabot in Discord. It owns everything
// Discord-specific: verifying the interactions Discord posts to the
// Interactions Endpoint (or reading them from a gateway connection),
// turning /infra's typed options and button clicks into command lines for
// the bot's router, answering within Discord's three seconds with a
// deferred response and then editing it, and saying what infrabot has to
// say as embeds through Discord's REST API, in order, rate-limit aware and
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
	"sync"
	"sync/atomic"
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
	// Workers bounds how many commands run at once; Queue how many wait.
	// An interaction that finds the queue full is refused with 503.
	// Defaults 8 and 256.
	Workers, Queue int
	// UpdateInterval is the least time between two edits of one message.
	// Default 1s.
	UpdateInterval time.Duration
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
	seen    *seen
	rest    *carrier
	out     *outbox

	jobs    chan job
	mu      sync.RWMutex
	closed  bool
	workers sync.WaitGroup
	pending atomic.Int64
	// status is the link with Discord, for readiness (Status).
	status atomic.Pointer[status]
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
	if opts.UpdateInterval <= 0 {
		opts.UpdateInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
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
	rest := &carrier{s: s, appID: opts.ApplicationID, now: opts.Now, log: log, exchanges: map[string]*exchange{}, owned: map[string]*exchange{}, moved: map[string]string{}, dms: map[string]string{}}
	a := &Adapter{
		opts: opts, session: s, log: log, key: key,
		seen: newSeen(opts.Now), rest: rest,
		out:  newOutbox(rest, log, opts.Now, opts.Sleep, opts.UpdateInterval),
		jobs: make(chan job, opts.Queue),
	}
	for range opts.Workers {
		a.workers.Add(1)
		go a.work()
	}
	return a, nil
}

// newSession returns a discordgo session whose every REST call goes to
// opts.APIURL: discordgo's endpoint strings are fixed when it is loaded,
// so the session's client rewrites them instead. Rate limits are left to
// the outbox (a 429 is returned, not slept on) and so are retries.
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

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Post sends m to channel and returns its reference once Discord has it.
// channel is a channel id, or "CHANNEL/INTERACTION" for a message about a
// request that came as an interaction: while that interaction's token
// lives the message is one of its follow-ups, afterwards a bot message
// in the channel.
func (a *Adapter) Post(ctx context.Context, channel string, m actions.Message) (actions.MessageRef, error) {
	id, err := a.out.post(ctx, channel, m)
	if err != nil {
		return actions.MessageRef{}, err
	}
	ch, _ := splitChannel(channel)
	return actions.MessageRef{Platform: Platform, Channel: ch, ID: id}, nil
}

// Direct sends m to userID's direct messages with the bot, creating the
// DM channel first (POST /users/@me/channels), and returns its reference.
func (a *Adapter) Direct(ctx context.Context, userID string, m actions.Message) (actions.MessageRef, error) {
	var dm string
	err := a.out.call(ctx, "create_dm", func(ctx context.Context) error {
		var err error
		dm, err = a.rest.OpenDM(ctx, userID)
		return err
	})
	if err != nil {
		return actions.MessageRef{}, err
	}
	return a.Post(ctx, dm, m)
}

// Update queues the new state of a posted message and returns at once;
// edits are coalesced to about one a second per message, the last state
// always delivered.
func (a *Adapter) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	if ref.Channel == "" || ref.ID == "" {
		return errors.New("discord: update of a message with no channel or id")
	}
	ch, _ := splitChannel(ref.Channel)
	a.out.update(ch, ref.ID, m)
	return nil
}

// splitChannel reads "CHANNEL/INTERACTION".
func splitChannel(s string) (channel, interaction string) {
	channel, interaction, _ = strings.Cut(s, "/")
	return channel, interaction
}

// submit queues a command for the workers and reports whether it did.
// Over HTTP (wait false) a full queue refuses at once (503); from the
// gateway it waits for room until ctx ends.
func (a *Adapter) submit(ctx context.Context, j job, wait bool) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return false
	}
	a.pending.Add(1)
	select {
	case a.jobs <- j:
		return true
	default:
	}
	if wait {
		select {
		case a.jobs <- j:
			return true
		case <-ctx.Done():
		}
	}
	a.pending.Add(-1)
	return false
}

func (a *Adapter) work() {
	defer a.workers.Done()
	for j := range a.jobs {
		a.run(j)
	}
}

// run hands one line to the router and answers the interaction: a public
// reply becomes the deferred response (or, for a click, a follow-up); a
// private one (every refusal) an ephemeral follow-up only its author
// sees.
func (a *Adapter) run(j job) {
	defer a.pending.Add(-1)
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("a command crashed", "user", j.in.UserID, "panic", r)
		}
	}()
	reply, ok := a.opts.Router.Handle(context.Background(), j.in)
	if !ok {
		return
	}
	a.out.answer(j.ix, reply.Message, reply.Private)
}

// Close stops taking commands, runs those already accepted, and waits
// (until ctx ends) for everything queued for Discord to be sent.
func (a *Adapter) Close(ctx context.Context) error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.jobs)
	}
	a.mu.Unlock()
	a.setStatus(false, "closed")
	a.workers.Wait()
	return a.Flush(ctx)
}

// Flush waits until nothing is queued or being sent to Discord.
func (a *Adapter) Flush(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !a.out.idle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Drain waits until every command accepted so far has been handled.
func (a *Adapter) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for a.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
