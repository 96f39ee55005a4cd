package discord

import (
	"context"
	"errors"
	"fmt"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/actions"
)

// RunGateway reads interactions from a gateway connection (for teams that
// cannot expose an HTTP endpoint) until ctx ends. discordgo identifies,
// sends heartbeats, and resumes the session after a drop, so that
// interactions sent meanwhile still arrive; each is acknowledged through
// the callback endpoint and handled exactly as its HTTP twin, duplicates
// included. The gateway's URL is the one Discord's /gateway answers.
func (a *Adapter) RunGateway(ctx context.Context) error {
	s := a.session
	s.ShouldReconnectOnError = true
	// Interactions are handled in the order they arrive; handling one is
	// quick (the callback, then a queue).
	s.SyncEvents = true
	remove := s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
		a.gatewayInteraction(ctx, ic.Interaction)
	})
	defer remove()
	connected := s.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
		a.setStatus(true, "connected")
		a.log.Info("connected to the Discord gateway", "session", "ready")
	})
	defer connected()
	resumed := s.AddHandler(func(_ *discordgo.Session, r *discordgo.Resumed) { a.setStatus(true, "connected") })
	defer resumed()
	dropped := s.AddHandler(func(_ *discordgo.Session, d *discordgo.Disconnect) { a.setStatus(false, "disconnected, reconnecting") })
	defer dropped()
	a.setStatus(false, "connecting")
	defer a.setStatus(false, "disconnected")
	if err := s.Open(); err != nil {
		var re *discordgo.RESTError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == 401 {
			return errors.New("discord: gateway: Discord refused the bot token (401); check discord.bot_token")
		}
		return fmt.Errorf("discord: opening the gateway: %w", err)
	}
	<-ctx.Done()
	if err := s.Close(); err != nil {
		a.log.Warn("closing the gateway connection", "err", err)
	}
	return nil
}

// gatewayInteraction answers one INTERACTION_CREATE at once through the
// callback endpoint, then queues its command. discordgo calls it with no
// recover, so a panic here would end infrabot: it is recovered, logged,
// and the interaction, unless answered already, refused.
func (a *Adapter) gatewayInteraction(ctx context.Context, i *discordgo.Interaction) {
	answered := false
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("handling an interaction from the gateway panicked", "interaction", i.ID, "panic", r)
			if !answered {
				a.refuseUnreadable(ctx, i)
			}
		}
	}()
	resp, j, err := a.read(i)
	if err != nil {
		a.log.Warn("a malformed interaction from the gateway was refused", "interaction", i.ID, "err", err)
		a.refuseUnreadable(ctx, i)
		return
	}
	if i.Type == discordgo.InteractionPing {
		return
	}
	ix := newExchange(i.ID, i.Token, i.AppID, i.ChannelID, "", a.opts.Now())
	keys := deliveryKeys(i.ID, "")
	if j != nil {
		ix = j.ix
		first, err := a.firstDelivery(ctx, keys)
		if err != nil {
			a.log.Error("an interaction from the gateway was not run: cannot check it is not a replay", "interaction", i.ID, "err", err)
			return
		}
		if !first {
			a.log.Info("an interaction delivered twice was not run again", "interaction", i.ID)
			return
		}
	}
	if ix.appID == "" {
		ix.appID = a.opts.ApplicationID
	}
	// Three seconds to acknowledge: straight to Discord, not behind the
	// channel's queue.
	if err := a.out.Call(ctx, callRespond, func(ctx context.Context) error { return a.rest.respond(ctx, ix, resp) }); err != nil {
		a.log.Error("an interaction could not be acknowledged", "interaction", i.ID, "err", err)
		if j != nil {
			a.forgetDelivery(ctx, keys) // not run: a delivery of it again may be
		}
		return
	}
	ix.markAnswered()
	answered = true
	if j == nil {
		return
	}
	// Not waiting for room: interactions are handled one at a time, so a
	// wait for one person's full queue would hold everyone else's.
	switch a.accept(ctx, keys, *j, false) {
	case busy:
		a.busy.Add("gateway", j.in.UserID)
		a.answer(ix, actions.Message{Summary: busyText(j.in.Text), Tone: actions.ToneWarning}, true)
	case closing:
		a.log.Warn("a command from Discord was not run: infrabot is shutting down")
	}
}

// unreadableText tells a person infrabot could not read their command or
// click (a shape Discord should never send), so nothing ran.
const unreadableText = "⚠️ infrabot could not read this interaction, so it did not run it."

// refuseUnreadable answers an interaction that could not be read, only
// to its author (type 4, flag 64), so that they see why nothing happened
// (over HTTP the answer is a 400, which Discord shows as "interaction
// failed"). An interaction without an id or a token cannot be answered.
func (a *Adapter) refuseUnreadable(ctx context.Context, i *discordgo.Interaction) {
	if i.ID == "" || i.Token == "" || i.Type == discordgo.InteractionPing {
		return
	}
	ix := newExchange(i.ID, i.Token, i.AppID, i.ChannelID, "", a.opts.Now())
	if ix.appID == "" {
		ix.appID = a.opts.ApplicationID
	}
	resp := &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: unreadableText, Flags: discordgo.MessageFlagsEphemeral,
			AllowedMentions: &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}},
	}
	if err := a.out.Call(ctx, callRespond, func(ctx context.Context) error { return a.rest.respond(ctx, ix, resp) }); err != nil {
		a.log.Warn("an unreadable interaction could not be refused", "interaction", i.ID, "err", err)
	}
}
