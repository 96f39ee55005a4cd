package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/cmd/infrabot/admin"
)

// slackAdapter builds the Slack adapter from the config's slack section,
// registers it as the engine's "slack" chat, and returns the function that
// serves it until its context ends: in HTTP mode its endpoints are mounted
// on the public server and it waits; in Socket Mode it holds the
// connection.
func slackAdapter(app *App, public *publicServer) (serve func(context.Context) error, err error) {
	cfg := app.Config.Slack
	a, err := newSlack(app)
	if err != nil {
		return nil, err
	}
	closeAdapter := func() {
		// Let what was accepted run and what was queued reach Slack.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			app.Log.Warn("some Slack messages were still queued at shutdown", "err", err)
		}
	}
	switch cfg.Mode {
	case "socket":
		return func(ctx context.Context) error {
			defer closeAdapter()
			app.Log.Info("Slack: socket mode")
			return a.RunSocket(ctx)
		}, nil
	case "http", "":
		if public == nil {
			return nil, errors.New("slack: http mode needs the public HTTP server (http.listen)")
		}
		public.Mount("/slack/", a.Handler())
		app.Log.Info("Slack: /slack/commands, /slack/interactions, /slack/events are served on the public HTTP server")
		return func(ctx context.Context) error {
			<-ctx.Done()
			closeAdapter()
			return nil
		}, nil
	}
	return nil, fmt.Errorf("slack: mode %q is not http or socket", cfg.Mode)
}

// newSlack builds the Slack adapter from the config's slack section and
// registers it as the engine's "slack" chat.
func newSlack(app *App) (*slack.Adapter, error) {
	cfg := app.Config.Slack
	if cfg == nil {
		return nil, errors.New("the config has no slack section")
	}
	a, err := slack.New(slack.Options{
		BotToken:      cfg.BotToken.Value(),
		SigningSecret: cfg.SigningSecret.Value(),
		AppToken:      cfg.AppToken.Value(),
		APIURL:        cfg.APIURL,
		Router:        &bot.Router{Engine: app.Engine},
		Replays:       app.DB,
		Logger:        app.Log.With("component", "slack"),
	})
	if err != nil {
		return nil, err
	}
	app.Engine.AddChat(slack.Platform, a)
	app.countDeliveries(slack.Platform, a.Deliveries, a.Queued)
	app.parts = append(app.parts, admin.Part{Name: "slack", Ready: func(context.Context) (bool, string) { return a.Status() }})
	return a, nil
}
