package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// RunSocket reads Slack's deliveries from a Socket Mode connection (for
// teams with no public endpoint) until ctx ends. Each envelope is
// acknowledged at once and handled exactly as its HTTP twin, retries and
// duplicates included. It returns nil when ctx ends, and an error when
// Slack refuses the app token: retrying would not help.
func (a *Adapter) RunSocket(ctx context.Context) error {
	if a.opts.AppToken == "" {
		return errors.New("slack: socket mode needs an app-level token (xapp-…)")
	}
	a.setStatus(false, "connecting")
	defer a.setStatus(false, "disconnected")
	sm := socketmode.New(a.api)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	var fatal error
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case evt, ok := <-sm.Events:
				if !ok {
					return
				}
				if fatal = a.socketEvent(ctx, sm, evt); fatal != nil {
					cancel()
					return
				}
			}
		}
	}()
	err := sm.RunContext(ctx)
	cancel()
	<-done
	if fatal != nil {
		return fatal
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if rerr := refused(err); rerr != nil {
		return rerr
	}
	return err
}

// refused explains err when it is Slack refusing the app token for good.
func refused(err error) error {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || !refusals[se.Err] {
		return nil
	}
	return fmt.Errorf("slack: socket mode: Slack refused the app token (%s); slack.app_token must be an app-level token (xapp-…) with connections:write", se.Err)
}

// refusals are Slack's answers to apps.connections.open that no retry
// changes. slack-go gives up by itself on a few of them only (it retries
// not_allowed_token_type, a bot token where the app token belongs,
// forever).
var refusals = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true,
	"token_expired": true, "not_allowed_token_type": true, "missing_scope": true, "no_permission": true,
}

// ackUnreadable acknowledges an envelope slack-go could not parse (an
// unknown type, a malformed payload), so that Slack does not redeliver
// what infrabot will never understand.
func (a *Adapter) ackUnreadable(ctx context.Context, sm *socketmode.Client, bad *socketmode.ErrorBadMessage) {
	var env struct {
		EnvelopeID string `json:"envelope_id"`
		Type       string `json:"type"`
	}
	if json.Unmarshal(bad.Message, &env) != nil || env.EnvelopeID == "" {
		a.log.Warn("an unreadable message from Slack (socket mode) was ignored", "err", bad.Cause)
		return
	}
	a.log.Warn("an unreadable envelope from Slack was acknowledged and ignored", "type", env.Type, "err", bad.Cause)
	if err := sm.AckCtx(ctx, env.EnvelopeID, nil); err != nil {
		a.log.Warn("acknowledging a socket mode envelope failed", "err", err)
	}
}

// socketEvent handles one event from the socket; an error means Slack
// refused the connection for good.
func (a *Adapter) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) error {
	var (
		req request
		err error
	)
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		a.setStatus(false, "connecting")
		return nil
	case socketmode.EventTypeDisconnect:
		a.setStatus(false, "reconnecting: Slack asked to disconnect")
		return nil
	case socketmode.EventTypeConnected:
		a.setStatus(true, "connected")
		a.log.Info("connected to Slack (socket mode)")
		return nil
	case socketmode.EventTypeInvalidAuth:
		a.setStatus(false, "refused: check slack.app_token")
		a.log.Error("Slack refused the app token (invalid_auth): check slack.app_token")
		return nil
	case socketmode.EventTypeConnectionError:
		if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			if err := refused(ce.ErrorObj); err != nil {
				a.log.Error("Slack refused the app token: slack.app_token must be an app-level token (xapp-…) with connections:write", "err", ce.ErrorObj)
				return err
			}
		}
		a.setStatus(false, "connection failed, retrying")
		a.log.Warn("socket mode connection failed; retrying", "err", evt.Data)
		return nil
	case socketmode.EventTypeErrorBadMessage:
		if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
			a.ackUnreadable(ctx, sm, bad)
		}
		return nil
	case socketmode.EventTypeSlashCommand:
		cmd, _ := evt.Data.(slack.SlashCommand)
		req, err = commandRequest(cmd)
	case socketmode.EventTypeInteractive:
		cb, _ := evt.Data.(slack.InteractionCallback)
		req, err = interactionRequest(cb)
	case socketmode.EventTypeEventsAPI:
		ev, _ := evt.Data.(slackevents.EventsAPIEvent)
		var id string
		if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok {
			id = cb.EventID
		}
		req = eventRequest(id, ev)
	default:
		return nil
	}
	if evt.Request == nil {
		return nil
	}
	// Acknowledge first: Slack redelivers an envelope not acknowledged
	// within 3 seconds, and the keys below catch a redelivery.
	if aerr := sm.AckCtx(ctx, evt.Request.EnvelopeID, nil); aerr != nil {
		a.log.Warn("acknowledging a socket mode envelope failed", "err", aerr)
	}
	if err != nil {
		a.log.Warn("a malformed delivery from Slack was ignored", "type", evt.Type, "err", err)
		return nil
	}
	if req.line == nil {
		return nil
	}
	keys := append(req.keys, key("envelope", evt.Request.EnvelopeID))
	first, durable, ferr := a.firstDelivery(ctx, keys)
	if ferr != nil {
		// The envelope is acknowledged already: Slack will not send it
		// again, and running it unchecked could run it twice.
		a.log.Error("a command from Slack was not run: cannot check it is not a replay", "type", evt.Type, "err", ferr)
		a.ephemeral(req.line.Channel, req.line.UserID, notRecordedMessage(req.line.Text))
		return nil
	}
	if !first {
		a.log.Info("a repeated delivery from Slack was not run again", "type", evt.Type, "retry", evt.Request.RetryAttempt)
		return nil
	}
	if err := durable(); err != nil {
		a.log.Error("a command from Slack was not run: cannot remember it, so a replay could run it again", "type", evt.Type, "err", err)
		a.ephemeral(req.line.Channel, req.line.UserID, notRecordedMessage(req.line.Text))
		return nil
	}
	// Not waiting for room: envelopes are read one at a time, so a wait
	// for one person's full queue would hold everyone else's.
	if !a.submit(job{in: *req.line}) {
		a.forgetDelivery(ctx, keys)
		a.refuseAcknowledged(evt.Type, *req.line)
	}
	return nil
}

// refuseAcknowledged tells the author of an acknowledged command that it
// did not run: Slack will not send it again, and the ack could not carry
// the answer (it left before the command was queued). No room: as HTTP
// tells a click, in an ephemeral message at most once per bot.BusyNotice,
// counted. Shutting down (the adapter was closed): every time, and logged.
func (a *Adapter) refuseAcknowledged(typ socketmode.EventType, in bot.Incoming) {
	if a.commands.Closed() {
		a.log.Warn("a command from Slack was not run: infrabot is shutting down", "type", typ)
		a.ephemeral(in.Channel, in.UserID, shuttingDownMessage(in.Text))
		return
	}
	a.busy.Add("socket", in.UserID)
	if a.busy.Notify(in.UserID) {
		a.ephemeral(in.Channel, in.UserID, busyMessage(in.Text))
	}
}

// shuttingDownMessage tells a person their acknowledged command was not
// run because infrabot was shutting down.
func shuttingDownMessage(command string) actions.Message {
	return actions.Message{Summary: fmt.Sprintf("infrabot is shutting down and did not run `%s`; please try again once it is back.", command), Tone: actions.ToneWarning}
}
