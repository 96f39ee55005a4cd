package discord_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/bottest"
	"github.com/infrabot/infrabot/bot/discord"
	"github.com/infrabot/infrabot/bot/discord/discordtest"
	"github.com/infrabot/infrabot/storage"
)

const (
	botToken = "test-bot-token-not-real"
	appID    = "123456789012345678"
	guild    = "234567890123456789"
	infra    = "345678901234567890"
)

var (
	alice = discordtest.User{ID: "401000000000000001", Name: "alice"}
	bob   = discordtest.User{ID: "402000000000000002", Name: "bob"}
	carol = discordtest.User{ID: "403000000000000003", Name: "carol"}
)

// clock is the adapter's and Discord's time: waits are recorded and move
// it on at once, and a test moves it with advance.
type clock struct {
	mu     sync.Mutex
	at     time.Time
	sleeps []time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.at }

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.at = c.at.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.at = c.at.Add(d); c.mu.Unlock() }

func (c *clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// countingRouter counts the lines that reached the engine. When slow is
// set, a line's handling takes that long on the clock.
type countingRouter struct {
	r     *bot.Router
	n     atomic.Int32
	clock *clock
	slow  atomic.Int64 // a time.Duration
}

func (c *countingRouter) Handle(ctx context.Context, in bot.Incoming) (actions.Reply, bool) {
	c.n.Add(1)
	c.clock.advance(time.Duration(c.slow.Load()))
	return c.r.Handle(ctx, in)
}

// world is infrabot in Discord: a real engine on bbolt with a
// destructive teardown and a deploy that waits for the test between its
// steps, the adapter serving its Interactions Endpoint on loopback, the
// fake Discord it calls, and Discord's side that signs interactions.
type world struct {
	t       *testing.T
	clock   *clock
	fake    *discordtest.Server
	discord *discordtest.App
	adapter *discord.Adapter
	engine  *actions.Engine
	router  *countingRouter

	teardowns atomic.Int32
	// release lets the deploy's next step go.
	release chan struct{}
}

func newWorld(t *testing.T, tweak ...func(*discord.Options)) *world {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{at: time.Now()}
	w := &world{t: t, clock: clk, release: make(chan struct{})}
	w.fake = discordtest.NewServer(t, botToken, appID, clk.Now)
	w.engine = actions.NewEngine(actions.Options{
		Policy: actions.NewPolicy(
			[]*actions.Person{
				{Name: "alice", Roles: []string{"admin"}, IDs: map[string]string{"discord": alice.ID}},
				{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{"discord": bob.ID}},
				{Name: "carol", Roles: []string{"viewer"}, IDs: map[string]string{"discord": carol.ID}},
				{Name: "dave", Roles: []string{"viewer"}}, // not on Discord
			},
			[]*actions.Role{
				{Name: "viewer", Allow: []string{"help", "whoami", "status", "plan", "runs", "run"}},
				{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"teardown", "deploy", "lock", "unlock", "approve", "deny"}, Environments: []string{"staging"}},
				{Name: "admin", Inherit: []string{"operator"}, Allow: []string{"*"}, Environments: []string{"*"}},
			},
			[]actions.ApprovalRule{{Actions: []string{"teardown"}, Environments: []string{"*"}, Approvers: []string{"operator", "admin"}, Expires: 15 * time.Minute}},
		),
		Runs: db, Locks: db, Audit: db,
		Environments: []string{"staging", "production"},
		Channels:     actions.Channels{"default": {"discord": infra}},
		Now:          clk.Now,
	})
	w.engine.Register(&actions.Action{
		Name: "teardown", Summary: "test-only destructive action",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true, Destructive: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "delete 2 servers", Lines: []string{"- staging-web-1", "- staging-db-1"}, Deletes: true}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			w.teardowns.Add(1)
			for _, s := range []string{"staging-web-1", "staging-db-1"} {
				p.Step(ctx, "delete "+s).Done(ctx, "deleted")
			}
			return nil
		},
	})
	w.engine.Register(&actions.Action{
		Name: "deploy", Summary: "test-only run that waits for the test between steps",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Flags: []actions.Flag{{Name: "force", Help: "even if locked"}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "deploy"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			for i := 1; i <= 3; i++ {
				select {
				case <-w.release:
				case <-ctx.Done():
					return ctx.Err()
				}
				p.Step(ctx, fmt.Sprintf("step %d", i)).Done(ctx, "ok")
			}
			return nil
		},
	})
	w.router = &countingRouter{r: &bot.Router{Engine: w.engine}, clock: clk}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := discord.Options{
		BotToken: botToken, PublicKey: hex.EncodeToString(pub), ApplicationID: appID, GuildID: guild,
		APIURL: w.fake.URL(), Router: w.router, Catalog: w.engine.Catalog(), Environments: w.engine.Environments(),
		Now: clk.Now, Sleep: clk.Sleep,
	}
	for _, f := range tweak {
		f(&opts)
	}
	w.adapter, err = discord.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	w.engine.AddChat(discord.Platform, w.adapter)
	srv := httptest.NewServer(w.adapter.Handler())
	w.discord = &discordtest.App{URL: srv.URL, Key: priv, Server: w.fake, Now: clk.Now}
	t.Cleanup(func() {
		srv.Close()
		w.engine.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := w.adapter.Close(ctx); err != nil {
			t.Errorf("closing the adapter: %v", err)
		}
		db.Close()
	})
	return w
}

// runGateway runs the adapter's gateway until the test ends, then stops
// it and fails the test if it returned an error.
func (w *world) runGateway() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.adapter.RunGateway(ctx) }()
	w.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("RunGateway: %v", err)
		}
	})
}

// settle waits until every accepted command has run, every run has ended
// and Discord has heard everything.
func (w *world) settle() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 3 {
		if err := w.adapter.Drain(ctx); err != nil {
			w.t.Fatal(err)
		}
		w.engine.Wait()
	}
	if err := w.adapter.Flush(ctx); err != nil {
		w.t.Fatal(err)
	}
}

// expect waits for a message (in channel, any when "") that match takes.
func (w *world) expect(channel, what string, match func(discordtest.Message) bool) discordtest.Message {
	w.t.Helper()
	var found discordtest.Message
	w.fake.WaitFor(w.t, what, func() bool {
		for _, m := range w.fake.Messages(channel) {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// expectMessage waits for a message everyone in channel sees, holding want.
func (w *world) expectMessage(channel string, want ...string) discordtest.Message {
	w.t.Helper()
	return w.expect(channel, fmt.Sprintf("a message in %s with %q", channel, want), func(m discordtest.Message) bool {
		return !m.Ephemeral && bottest.ContainsAll(discordtest.Text(m), want)
	})
}

// expectEphemeral waits for an ephemeral message holding want.
func (w *world) expectEphemeral(want ...string) discordtest.Message {
	w.t.Helper()
	return w.expect("", fmt.Sprintf("an ephemeral message with %q", want), func(m discordtest.Message) bool {
		return m.Ephemeral && bottest.ContainsAll(discordtest.Text(m), want)
	})
}

// waitFor waits until message id's latest state holds want.
func (w *world) waitFor(id string, want ...string) discordtest.Message {
	w.t.Helper()
	var m discordtest.Message
	w.fake.WaitFor(w.t, fmt.Sprintf("message %s showing %q", id, want), func() bool {
		m, _ = w.fake.Message(id)
		return bottest.ContainsAll(discordtest.Text(m), want)
	})
	return m
}

func ed25519GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(nil)
}
