package slack

import (
	"context"
	"errors"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// RunSocket reads Slack's deliveries from a Socket Mode connection (for
// teams with no public endpoint) until ctx ends. Each envelope is
// acknowledged at once and handled exactly as its HTTP twin, retries and
// duplicates included.
func (a *Adapter) RunSocket(ctx context.Context) error {
	if a.opts.AppToken == "" {
		return errors.New("slack: socket mode needs an app-level token (xapp-…)")
	}
	sm := socketmode.New(a.api)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
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
				a.socketEvent(ctx, sm, evt)
			}
		}
	}()
	err := sm.RunContext(ctx)
	cancel()
	<-done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (a *Adapter) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	var (
		req request
		err error
	)
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.log.Info("connected to Slack (socket mode)")
		return
	case socketmode.EventTypeInvalidAuth:
		a.log.Error("Slack refused the app token (invalid_auth): check slack.app_token")
		return
	case socketmode.EventTypeConnectionError:
		a.log.Warn("socket mode connection failed; retrying", "err", evt.Data)
		return
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
		return
	}
	if evt.Request == nil {
		return
	}
	// Acknowledge first: Slack redelivers an envelope not acknowledged
	// within 3 seconds, and the keys below catch a redelivery.
	if aerr := sm.AckCtx(ctx, evt.Request.EnvelopeID, nil); aerr != nil {
		a.log.Warn("acknowledging a socket mode envelope failed", "err", aerr)
	}
	if err != nil {
		a.log.Warn("a malformed delivery from Slack was ignored", "type", evt.Type, "err", err)
		return
	}
	if len(req.lines) == 0 {
		return
	}
	keys := append(req.keys, key("envelope", evt.Request.EnvelopeID))
	if !a.seen.first(keys...) {
		a.log.Info("a repeated delivery from Slack was not run again", "type", evt.Type, "retry", evt.Request.RetryAttempt)
		return
	}
	// Unlike HTTP there is no one to answer 503: wait for a worker, which
	// also slows reading the socket while the workers are busy.
	a.pending.Add(1)
	select {
	case a.jobs <- job{in: req.lines[0]}:
	case <-a.stop:
		a.pending.Add(-1)
	case <-ctx.Done():
		a.pending.Add(-1)
	}
}
