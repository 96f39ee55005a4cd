package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/discord"
	"github.com/infrabot/infrabot/cmd/infrabot/admin"
)

// newDiscord builds the Discord adapter from the config's discord section.
func newDiscord(app *App) (*discord.Adapter, error) {
	cfg := app.Config.Discord
	if cfg == nil {
		return nil, errors.New("the config has no discord section")
	}
	return discord.New(discord.Options{
		BotToken:      cfg.BotToken.Value(),
		PublicKey:     cfg.PublicKey.Value(),
		ApplicationID: cfg.ApplicationID,
		GuildID:       cfg.GuildID,
		APIURL:        cfg.APIURL,
		Router:        &bot.Router{Engine: app.Engine},
		Catalog:       app.Engine.Catalog(),
		Environments:  app.Engine.Environments(),
		Logger:        app.Log.With("component", "discord"),
		Replays:       app.DB,
	})
}

// discordAdapter registers the Discord adapter as the engine's "discord"
// chat and returns the function that serves it until its context ends:
// in interactions mode /discord/interactions is mounted on the public
// server; in gateway mode it holds the gateway connection.
func discordAdapter(app *App, public *publicServer) (serve func(context.Context) error, err error) {
	a, err := newDiscord(app)
	if err != nil {
		return nil, err
	}
	app.Engine.AddChat(discord.Platform, a)
	app.countDeliveries(discord.Platform, a.Deliveries, a.Queued)
	app.parts = append(app.parts, admin.Part{Name: "discord", Ready: func(context.Context) (bool, string) { return a.Status() }})
	closeAdapter := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			app.Log.Warn("some Discord messages were still queued at shutdown", "err", err)
		}
	}
	switch mode := app.Config.Discord.Mode; mode {
	case "gateway":
		return func(ctx context.Context) error {
			defer closeAdapter()
			app.Log.Info("Discord: gateway mode")
			return a.RunGateway(ctx)
		}, nil
	case "interactions", "":
		if public == nil {
			return nil, errors.New("discord: interactions mode needs the public HTTP server (http.listen)")
		}
		public.Mount("/discord/", a.Handler())
		app.Log.Info("Discord: /discord/interactions is served on the public HTTP server")
		return func(ctx context.Context) error {
			<-ctx.Done()
			closeAdapter()
			return nil
		}, nil
	default:
		return nil, fmt.Errorf("discord: mode %q is not interactions or gateway", mode)
	}
}

// cmdDiscord runs `infrabot discord register --config FILE`: /infra, with
// one subcommand per action of this build's catalogue, overwrites the
// application's commands (bulk overwrite: never a duplicate).
func cmdDiscord(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "register" {
		return &exitError{code: 2, msg: "usage: infrabot discord register --config FILE"}
	}
	fs := newFlags("discord register", stderr)
	cfgPath := fs.String("config", "", "config file with a discord section")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *cfgPath == "" {
		return &exitError{code: 2, msg: "infrabot discord register: --config FILE is required"}
	}
	app, err := OpenApp(*cfgPath, stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	a, err := newDiscord(app)
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))
	cmds, err := a.Register(ctx)
	if err != nil {
		return err
	}
	where := "globally (it can take up to an hour to appear)"
	if g := app.Config.Discord.GuildID; g != "" {
		where = "in guild " + g
	}
	for _, c := range cmds {
		fmt.Fprintf(stdout, "registered /%s with %d subcommands %s\n", c.Name, len(c.Options), where)
	}
	return nil
}
