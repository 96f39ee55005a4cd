// Package slack is infrabot in Slack. It owns everything Slack-specific:
// verifying Slack's signed requests (slash commands, button clicks,
// events) or reading them from a Socket Mode connection, handing the
// commands in them to the bot's router, and saying what infrabot has to
// say in Block Kit through Slack's Web API, in order, rate-limit aware
// and without losing a message.
package slack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// Platform is Slack's platform name, in people's ids and message refs.
const Platform = "slack"

// Router runs a chat line; *bot.Router is one.
type Router interface {
	Handle(ctx context.Context, in bot.Incoming) (actions.Reply, bool)
}

// Options configures an Adapter.
type Options struct {
	// BotToken (xoxb-…) authorises Web API calls. Required.
	BotToken string
	// SigningSecret verifies requests in HTTP mode.
	SigningSecret string
	// AppToken (xapp-…) opens Socket Mode connections.
	AppToken string
	// APIURL is Slack's Web API base, "https://slack.com/api/" by default;
	// tests point it at a fake.
	APIURL string
	// HTTPClient makes the Web API calls; one with a 30s timeout by
	// default.
	HTTPClient *http.Client
	// Router runs the commands people send. Required.
	Router Router
	// Replays remembers accepted deliveries so that none runs twice, across
	// restarts when it is persistent (the store). In memory by default.
	// New reads what the store remembers (bot.Guard).
	Replays ReplayStore
	// Logger receives what the adapter has to say; nothing by default.
	// Tokens and the signing secret are never logged.
	Logger *slog.Logger

	// Workers bounds how many commands run at once; Queue how many wait,
	// and PerPerson how many of one person's. Waiting commands are run
	// round-robin between people. A request that finds no room is
	// answered at once (200, within Slack's 3 seconds) with a private
	// "busy, try again", so that a flood cannot pile up goroutines and one
	// person cannot starve the others. Workers mostly wait for the store's
	// disk, whose commits they share, so more of them make bigger
	// transactions under load: defaults 256, 1024 and 64.
	Workers, Queue, PerPerson int
	// BusyLogInterval is how often refusals are logged: one line with
	// their counts per interval. Default 10s.
	BusyLogInterval time.Duration
	// InlineWait is how long the acknowledgement of a slash command
	// waits for the command's reply, to carry it (inline.go): 2s by
	// default, at most 2.5s, within Slack's 3. Negative: acknowledge at
	// once and post every reply.
	InlineWait time.Duration
	// UpdateInterval is the least time between two updates of one
	// message. Default 1s.
	UpdateInterval time.Duration
	// UpdateBudget is the workspace-wide allowance for chat.update,
	// DefaultUpdateBudget when zero; a negative PerMinute means none.
	UpdateBudget bot.Budget
	// Now and Sleep are the clock, for tests. Sleep returns early with
	// ctx's error.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Adapter is infrabot's Slack app. It implements actions.Chat for the
// engine's live messages; Handler serves Slack's HTTP requests and
// RunSocket reads Socket Mode.
type Adapter struct {
	opts   Options
	api    *slack.Client
	log    *slog.Logger
	router Router
	verify verifier
	guard  *bot.Guard
	out    *bot.Outbox

	// commands are those accepted and not yet run; once closed it takes
	// nothing more, so nothing is acknowledged after the workers were
	// told to finish (it would never run).
	commands *bot.Commands[job]
	busy     *bot.Refusals
	// status is the link with Slack, for readiness (Status).
	status bot.Status
}

var _ actions.Chat = (*Adapter)(nil)

// job is an accepted command. inline is set while its acknowledgement
// waits to carry the reply.
type job struct {
	in     bot.Incoming
	inline *inline
}

// New returns an adapter with its workers started; Close stops them.
func New(opts Options) (*Adapter, error) {
	if opts.BotToken == "" {
		return nil, errors.New("slack: a bot token is required")
	}
	if opts.Router == nil {
		return nil, errors.New("slack: a router is required")
	}
	if opts.APIURL == "" {
		opts.APIURL = slack.APIURL
	}
	if !strings.HasSuffix(opts.APIURL, "/") {
		opts.APIURL += "/"
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Workers <= 0 {
		opts.Workers = 256
	}
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.PerPerson <= 0 {
		opts.PerPerson = min(64, opts.Queue)
	}
	if opts.BusyLogInterval <= 0 {
		opts.BusyLogInterval = 10 * time.Second
	}
	if opts.InlineWait == 0 {
		opts.InlineWait = defaultInlineWait
	}
	opts.InlineWait = min(opts.InlineWait, inlineLate)
	if opts.UpdateInterval <= 0 {
		opts.UpdateInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = actions.Sleep
	}
	if opts.UpdateBudget == (bot.Budget{}) {
		opts.UpdateBudget = DefaultUpdateBudget
	}
	apiOpts := []slack.Option{slack.OptionAPIURL(opts.APIURL), slack.OptionHTTPClient(opts.HTTPClient)}
	if opts.AppToken != "" {
		apiOpts = append(apiOpts, slack.OptionAppLevelToken(opts.AppToken))
	}
	api := slack.New(opts.BotToken, apiOpts...)
	log := opts.Logger.With("platform", Platform)
	guard, err := bot.NewGuard(opts.Replays, "", opts.Now())
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	a := &Adapter{
		opts: opts, api: api, log: log, router: opts.Router, guard: guard,
		verify: verifier{secret: []byte(opts.SigningSecret), now: opts.Now},
		out: bot.NewOutbox(newCarrier(api, log), bot.OutboxOptions{
			Platform: Platform, Logger: log, UpdateInterval: opts.UpdateInterval, UpdateBudget: opts.UpdateBudget,
			Now: opts.Now, Sleep: opts.Sleep,
		}),
		busy: bot.NewRefusals(log, "Slack", opts.Now, opts.BusyLogInterval),
	}
	a.commands = bot.StartCommands(opts.Queue, opts.PerPerson, opts.Workers, a.run)
	return a, nil
}

// Post sends m to channel and returns its reference (the message's ts),
// once Slack has it: a rate limit makes Post wait, not fail.
func (a *Adapter) Post(ctx context.Context, channel string, m actions.Message) (actions.MessageRef, error) {
	ts, err := a.out.Post(ctx, channel, m)
	if err != nil {
		return actions.MessageRef{}, err
	}
	return actions.MessageRef{Platform: Platform, Channel: channel, ID: ts}, nil
}

// Direct sends m to userID's direct conversation with infrabot and
// returns its reference. The conversation is opened (conversations.open)
// the first time and remembered.
func (a *Adapter) Direct(ctx context.Context, userID string, m actions.Message) (actions.MessageRef, error) {
	dm, ts, err := a.out.Direct(ctx, userID, m)
	if err != nil {
		return actions.MessageRef{}, err
	}
	return actions.MessageRef{Platform: Platform, Channel: dm, ID: ts}, nil
}

// Update queues the new state of a posted message and returns at once.
// Updates are coalesced to about one per second per message, and further
// when the workspace's UpdateBudget is spent; the last state is always
// delivered.
func (a *Adapter) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	if ref.Channel == "" || ref.ID == "" {
		return errors.New("slack: update of a message with no channel or ts")
	}
	a.out.Update(ref.Channel, ref.ID, m)
	return nil
}

// submit queues a command for the workers and reports whether it did. It
// does not while the adapter is closing. When there is no room (for
// anyone, or for this person) it refuses at once, to be answered "busy":
// HTTP and Socket Mode both refuse, as a wait would hold up other
// people's deliveries.
func (a *Adapter) submit(j job) bool {
	return a.commands.Submit(context.Background(), j.in.UserID, j, false)
}

// run hands one line to the router and answers: in the waiting
// acknowledgement when there is one and it can carry the reply, else
// through deliver.
func (a *Adapter) run(j job) {
	in := j.in
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("a command crashed", "user", in.UserID, "panic", r)
			if j.inline != nil {
				j.inline.offer(nil)
			}
		}
	}()
	reply, ok := a.router.Handle(context.Background(), in)
	if j.inline != nil {
		var ans *answer
		if ok {
			ans = inlineAnswer(in, reply, reply.Private && !isDM(in.Channel))
		}
		if j.inline.offer(ans) && ans != nil {
			return
		}
	}
	if ok {
		a.deliver(in, reply)
	}
}

// deliver posts in's reply: privately (ephemeral) when the engine says
// so, which it does for every refusal, otherwise in the channel.
func (a *Adapter) deliver(in bot.Incoming, reply actions.Reply) {
	if reply.Private && !isDM(in.Channel) {
		a.ephemeral(in.Channel, in.UserID, reply.Message)
		return
	}
	a.out.Send(in.Channel, reply.Message)
}

// ephemeral queues m to be shown to user only, in channel. Where Slack
// refuses (a channel the bot is not in, a DM between people), it goes to
// the user's DM with infrabot instead.
func (a *Adapter) ephemeral(channel, user string, m actions.Message) {
	a.out.Do(channel, func(ctx context.Context) {
		r := render(m)
		err := a.out.Call(ctx, "ephemeral", func(ctx context.Context) error {
			_, err := a.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionBlocks(r.Blocks...), slack.MsgOptionText(r.Fallback, false))
			return err
		})
		switch {
		case isRefusal(err):
			a.out.SendDirect(user, m)
		case err != nil:
			a.log.Error("a private reply could not be delivered", "call", "ephemeral", "channel", channel, "user", user, "summary", bot.Summarise(m), "err", err)
		}
	})
}

// isDM reports whether channel is a direct message, where every reply is
// private already.
func isDM(channel string) bool { return strings.HasPrefix(channel, "D") }

// Close stops taking commands, runs those already accepted, and waits
// (until ctx ends) for everything queued for Slack to be sent. The engine
// may still update messages after Close; those are sent as well, unless
// ctx ended first: then what was left is logged and given up.
func (a *Adapter) Close(ctx context.Context) error {
	a.setStatus(false, "closed")
	a.commands.Close()
	a.busy.Flush()
	return a.out.Close(ctx)
}

// Flush waits until nothing is queued or being sent to Slack.
func (a *Adapter) Flush(ctx context.Context) error {
	return a.out.Flush(ctx)
}

// Deliveries returns what happened to infrabot's Web API calls so far, by
// call (post, update, thread, open_dm, ephemeral), for metrics.
func (a *Adapter) Deliveries() map[string]bot.Counts {
	return a.out.Counts()
}

// Queued returns how many messages and updates wait to be sent to Slack
// (the delivery queue's depth), for metrics.
func (a *Adapter) Queued() int {
	return a.out.Queued()
}

// Drain waits until every command accepted so far has been handled (tests
// and benchmarks settle with it).
func (a *Adapter) Drain(ctx context.Context) error {
	return a.commands.Drain(ctx)
}
