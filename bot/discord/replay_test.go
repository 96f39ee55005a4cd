package discord_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/bot/bottest"
	"github.com/infrabot/infrabot/bot/discord"
	"github.com/infrabot/infrabot/bot/discord/discordtest"
	"github.com/infrabot/infrabot/storage"
)

// TestSignedInteractionRunsOnceAcrossRestarts: an interaction replayed
// within its signature's window runs once, even when infrabot restarted
// in between, and a signature spelt in upper case is the same one.
func TestSignedInteractionRunsOnceAcrossRestarts(t *testing.T) {
	t.Parallel()
	db, err := storage.Open(filepath.Join(t.TempDir(), "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	fake := discordtest.NewServer(t, botToken, appID, clock)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := &bottest.LineCounter{}
	app := &discordtest.App{Key: priv, Server: fake, Now: clock}

	// start is one infrabot process's Discord side on the store; its
	// stop is returned.
	start := func() (stop func()) {
		t.Helper()
		a, err := discord.New(discord.Options{
			BotToken: botToken, PublicKey: hex.EncodeToString(pub), ApplicationID: appID,
			APIURL: fake.URL(), Router: lines, Replays: db, Now: clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.Handler())
		app.URL = srv.URL
		return func() {
			srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Drain(ctx); err != nil {
				t.Error(err)
			}
			if err := a.Close(ctx); err != nil {
				t.Error(err)
			}
		}
	}
	send := func(r *discordtest.Request) {
		t.Helper()
		if resp := app.Send(t, r); resp.Status != http.StatusOK {
			t.Fatalf("answered %d %q", resp.Status, resp.Body)
		}
	}
	lock := app.Sign(fake.Command(bob, guild, infra, "lock", map[string]any{"env": "staging"}))
	upper := &discordtest.Request{Body: lock.Body, Header: lock.Header.Clone()}
	upper.Header.Set("X-Signature-Ed25519", strings.ToUpper(lock.Header.Get("X-Signature-Ed25519")))

	stop := start()
	send(lock)
	stop()
	if n := lines.Lines(); n != 1 {
		t.Fatalf("%d lines ran, want 1", n)
	}

	// A restart, then the same signed interaction within its window.
	now = now.Add(2 * time.Minute)
	stop = start()
	send(lock)
	send(upper)
	stop()
	if n := lines.Lines(); n != 1 {
		t.Errorf("%d lines ran, want still 1: the replay after a restart ran again", n)
	}
}

// failingReplays is a store that cannot write.
type failingReplays struct{}

func (failingReplays) Remember([]string, time.Time, time.Time) func() error {
	return func() error { return errors.New("disk on fire") }
}
func (failingReplays) Remembered(time.Time, func(string, time.Time)) error { return nil }
func (failingReplays) Unremember(context.Context, map[string]time.Time) error {
	return nil
}

// When the store cannot remember an interaction, it is refused: better
// Discord shows a failure than a command runs twice after a restart.
func TestInteractionIsRefusedWhenItCannotBeRemembered(t *testing.T) {
	t.Parallel()
	fake := discordtest.NewServer(t, botToken, appID, time.Now)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := &bottest.LineCounter{}
	a, err := discord.New(discord.Options{
		BotToken: botToken, PublicKey: hex.EncodeToString(pub), ApplicationID: appID,
		APIURL: fake.URL(), Router: lines, Replays: failingReplays{},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	defer a.Close(context.Background())
	app := &discordtest.App{URL: srv.URL, Key: priv, Server: fake}
	if r := app.Send(t, app.Sign(fake.Command(bob, guild, infra, "whoami", nil))); r.Status != http.StatusServiceUnavailable {
		t.Errorf("answered %d, want 503", r.Status)
	}
	if err := a.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := lines.Lines(); n != 0 {
		t.Errorf("%d lines ran", n)
	}
}
