package slack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/bot/bottest"
	islack "github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
	"github.com/infrabot/infrabot/storage"
)

// replayWorld is one infrabot process's Slack side on a store that
// outlives it: start it again for a restart.
type replayWorld struct {
	t      *testing.T
	fake   *slacktest.Server
	db     *storage.DB
	lines  *bottest.LineCounter
	slack  *slacktest.App
	stopFn func()
}

func (w *replayWorld) start() {
	w.t.Helper()
	a, err := islack.New(islack.Options{
		BotToken: botToken, SigningSecret: secret, APIURL: w.fake.APIURL(),
		Router: w.lines, Replays: w.db,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	w.slack.URL = srv.URL
	w.stopFn = func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			w.t.Error(err)
		}
	}
}

func (w *replayWorld) stop() { w.stopFn() }

// send delivers r and waits for whatever it queued to run.
func (w *replayWorld) send(r *slacktest.Request) {
	w.t.Helper()
	if resp := w.slack.Send(w.t, r); resp.Status != http.StatusOK {
		w.t.Fatalf("answered %d %q", resp.Status, resp.Body)
	}
}

func TestSignedRequestRunsOnceAcrossRestartsAndSpellings(t *testing.T) {
	t.Parallel()
	db, err := storage.Open(filepath.Join(t.TempDir(), "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := &replayWorld{t: t, fake: slacktest.NewServer(t, botToken), db: db, lines: &bottest.LineCounter{}, slack: &slacktest.App{Secret: secret}}
	w.slack.Workspace = w.fake

	// A signed command, and one without a trigger id whose signature is
	// then sent again with its hex digits in upper case.
	cmd := w.slack.CommandRequest(bob, infra, "provision staging")
	bare := w.slack.Sign("/slack/commands", "application/x-www-form-urlencoded",
		[]byte("team_id=T0INFRA&channel_id="+infra+"&user_id="+bob+"&command=%2Finfra&text=provision+staging"))
	upper := &slacktest.Request{Path: bare.Path, Body: bare.Body, Header: bare.Header.Clone()}
	upper.Header.Set("X-Slack-Signature", "v0="+strings.ToUpper(strings.TrimPrefix(bare.Header.Get("X-Slack-Signature"), "v0=")))

	w.start()
	w.send(cmd)
	w.send(bare)
	w.send(upper)
	w.stop()
	if n := w.lines.Lines(); n != 2 {
		t.Fatalf("%d lines ran, want 2: a signature spelt in upper case is the same request", n)
	}

	// After a restart, within Slack's window, the same requests again.
	w.start()
	w.send(cmd)
	w.send(bare)
	w.send(upper)
	w.stop()
	if n := w.lines.Lines(); n != 2 {
		t.Errorf("%d lines ran, want still 2: the replays after a restart ran again", n)
	}
}
