// Package bot connects chat platforms to the action engine. It owns what is
// common to every platform: who a platform user is, which lines are meant
// for infrabot, the text rendering of a neutral message, and the delivery
// queue (Outbox) that orders, coalesces, paces and retries what infrabot
// says, with each platform's own calls behind a Carrier; and what an
// adapter keeps of itself (Status for readiness, Pending for Drain). Each
// platform lives in its own sub-package (bot/console, bot/slack,
// bot/discord).
package bot

import (
	"context"
	"strings"

	"github.com/infrabot/infrabot/actions"
)

// Incoming is one chat line as an adapter received it.
type Incoming struct {
	Platform string
	// UserID is the platform's id of the author; the router maps it to
	// a person through the config. Person, when set, names the person
	// directly (the local console, where there is no platform identity).
	UserID string
	Person string
	// Channel is where the line was written and where messages about it go.
	Channel string
	Text    string
	// Direct is true for a slash command or a direct message: the /infra
	// prefix is then optional. In a shared channel it is required.
	Direct bool
	// Private is true where only the author reads: a direct message, the
	// console. What needs other people (an approval request) goes to a
	// shared channel instead.
	Private bool
}

// Router hands chat lines to the engine.
type Router struct {
	Engine *actions.Engine
}

// Handle runs in's command if it is meant for infrabot. ok is false for
// ordinary chat, which must be ignored.
func (r *Router) Handle(ctx context.Context, in Incoming) (reply actions.Reply, ok bool) {
	text := strings.TrimSpace(in.Text)
	if text == "" || (!in.Direct && !actions.HasPrefix(text)) {
		return actions.Reply{}, false
	}
	person := in.Person
	if person == "" {
		if p, found := r.Engine.Policy().PersonByID(in.Platform, in.UserID); found {
			person = p.Name
		}
	}
	return r.Engine.Execute(ctx, actions.Invocation{
		Person: person,
		Text:   text,
		Origin: actions.Origin{Platform: in.Platform, Channel: in.Channel, UserID: in.UserID, Private: in.Private},
	}), true
}
