package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/slack"
)

// slackAdapter builds the Slack adapter from the config's slack section,
// registers it as the engine's "slack" chat, and returns the function that
// serves it until its context ends: an HTTP server on slack.listen, or a Socket
// Mode connection.
func slackAdapter(app *App) (serve func(context.Context) error, err error) {
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
		Logger:        app.Log.With("component", "slack"),
	})
	if err != nil {
		return nil, err
	}
	app.Engine.AddChat(slack.Platform, a)
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
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("slack: listening on %s: %w", cfg.Listen, err)
		}
		srv := &http.Server{
			Handler:           a.Handler(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			MaxHeaderBytes:    64 << 10,
		}
		return func(ctx context.Context) error {
			defer closeAdapter()
			app.Log.Info("Slack: serving /slack/commands, /slack/interactions, /slack/events", "listen", ln.Addr().String())
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return fmt.Errorf("slack: %w", err)
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("slack: shutting down the HTTP server: %w", err)
			}
			<-errc
			return nil
		}, nil
	}
	return nil, fmt.Errorf("slack: mode %q is not http or socket", cfg.Mode)
}
