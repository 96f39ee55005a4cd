package discord

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/bot"
)

// maxBody bounds an interaction Discord posts.
const maxBody = 1 << 20

// Handler serves the Interactions Endpoint, POST /discord/interactions.
// Every request is verified with the application's public key (a bad
// signature, or a timestamp more than 5 minutes from now, gets 401 and
// is never acted on); PING is answered PONG; a command is answered with a
// deferred response and runs afterwards on the adapter's workers.
func (a *Adapter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /discord/interactions", a.serveInteraction)
	a.setStatus(true, "serving /discord/ on the public server")
	return mux
}

func (a *Adapter) serveInteraction(w http.ResponseWriter, r *http.Request) {
	if len(a.key) == 0 {
		a.log.Error("an interaction was refused: no public key is configured (discord.public_key)")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, ok := bot.ReadBody(w, r, maxBody)
	if !ok {
		return
	}
	if err := verify(a.key, a.opts.Now(), r.Header, body); err != nil {
		// Discord sends bad signatures on purpose to test the endpoint:
		// this is routine, not an attack, unless it is frequent.
		a.log.Info("an interaction was refused: bad signature", "remote", r.RemoteAddr, "reason", err)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	var i discordgo.Interaction
	if err := json.Unmarshal(body, &i); err != nil {
		http.Error(w, "malformed interaction", http.StatusBadRequest)
		return
	}
	resp, j, err := a.read(&i)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if j != nil {
		// The command may run at once, but its replies wait until Discord
		// has this answer (exchange.ready): written and flushed below, or
		// never, when the request fails here.
		defer j.ix.markAnswered()
		keys := deliveryKeys(i.ID, r.Header.Get("X-Signature-Ed25519"))
		first, err := a.firstDelivery(r.Context(), keys)
		if err != nil {
			a.log.Error("an interaction was refused: cannot check it is not a replay", "interaction", i.ID, "err", err)
			http.Error(w, "busy, try again", http.StatusServiceUnavailable)
			return
		}
		acc := duplicate
		if first {
			acc = a.accept(r.Context(), keys, *j, false)
		} else {
			a.log.Info("an interaction delivered twice was not run again", "interaction", i.ID)
		}
		switch acc {
		case busy:
			a.busy.Add(r.URL.Path, j.in.UserID)
			resp = busyResponse(j.in.Text)
		case closing:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
	if err := http.NewResponseController(w).Flush(); err != nil {
		a.log.Warn("the answer to an interaction could not be flushed", "interaction", i.ID, "err", err)
	}
}

// acceptance is what became of an interaction handed to accept.
type acceptance int

const (
	queued    acceptance = iota
	duplicate            // delivered before: acknowledged again, not run again
	busy                 // the queue is full
	closing              // the adapter is shutting down
)

// accept queues j, an interaction recorded under keys as first seen
// (firstDelivery); when it cannot be queued the keys are forgotten, so
// that a retry of it is not taken for a replay. A refusal for want of
// room is the caller's to answer and count (bot.Refusals): no line is
// logged for each.
func (a *Adapter) accept(ctx context.Context, keys []string, j job, wait bool) acceptance {
	a.rest.remember(j.ix)
	if !a.submit(ctx, j, wait) {
		a.forgetDelivery(ctx, keys)
		if ctx.Err() != nil || a.commands.Closed() {
			return closing
		}
		return busy
	}
	return queued
}

// maxBusyCommand bounds the command a busy answer echoes: a command may
// be thousands of characters long (a lock reason), and Discord refuses an
// answer over its limits (2,000 characters of content).
const maxBusyCommand = 200

// busyText is bot.BusyText in Discord's spelling, the command cut short
// when it is long.
func busyText(command string) string {
	return bot.BusyText("⏳", truncate(command, maxBusyCommand))
}

// busyResponse answers an interaction infrabot has no room for, at once
// and only to its author (type 4, flag 64): a command or a click alike,
// Discord shows it as a message, not as "interaction failed". It pings
// no one, whatever the command says.
func busyResponse(command string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: busyText(command), Flags: discordgo.MessageFlagsEphemeral,
			AllowedMentions: &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}},
	}
}
