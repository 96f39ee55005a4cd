package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/infrabot/infrabot/bot"
)

// request is what a Slack delivery asks infrabot to do: a line to run, if
// any, and the keys that identify it for deduplication.
type request struct {
	line *bot.Incoming
	// keys identify the delivery across Slack's retries: the event id
	// for events, the trigger id for commands and clicks.
	keys []string
	// challenge is set for the Events API's url_verification.
	challenge string
}

var errMalformed = errors.New("malformed request")

// commandRequest reads a slash command. An empty /infra means help.
func commandRequest(c slack.SlashCommand) (request, error) {
	if c.UserID == "" || c.ChannelID == "" {
		return request{}, fmt.Errorf("%w: slash command without user_id or channel_id", errMalformed)
	}
	text := strings.TrimSpace(unescape(c.Text))
	if text == "" {
		text = "help"
	}
	return request{
		line: &bot.Incoming{Platform: Platform, UserID: c.UserID, Channel: c.ChannelID, Text: text, Direct: true, Private: isDM(c.ChannelID)},
		keys: []string{key("trigger", c.TriggerID)},
	}, nil
}

// parseInteraction reads an interactivity payload. Only clicks on
// infrabot's own buttons become commands; the button's value is the
// command, run as the person who clicked. Slack sends one action per
// click; of several (a forged payload), the first is run.
func parseInteraction(payload []byte) (request, error) {
	var cb slack.InteractionCallback
	if err := json.Unmarshal(payload, &cb); err != nil {
		return request{}, fmt.Errorf("%w: interaction payload: %v", errMalformed, err)
	}
	return interactionRequest(cb)
}

func interactionRequest(cb slack.InteractionCallback) (request, error) {
	r := request{keys: []string{key("trigger", cb.TriggerID)}}
	if cb.Type != slack.InteractionTypeBlockActions {
		return r, nil
	}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	if cb.User.ID == "" || channel == "" {
		return request{}, fmt.Errorf("%w: block_actions without user or channel", errMalformed)
	}
	for _, act := range cb.ActionCallback.BlockActions {
		if act == nil || !strings.HasPrefix(act.ActionID, ButtonPrefix) || strings.TrimSpace(act.Value) == "" {
			continue
		}
		r.line = &bot.Incoming{Platform: Platform, UserID: cb.User.ID, Channel: channel, Text: act.Value, Direct: true, Private: isDM(channel)}
		break
	}
	return r, nil
}

// parseEvent reads an Events API delivery: the url_verification
// challenge, an app mention, or a direct message. Anything else (bots'
// messages, including infrabot's own, edits, other event types) is
// acknowledged and ignored.
func parseEvent(body []byte) (request, error) {
	var outer struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
		EventID   string `json:"event_id"`
	}
	if err := json.Unmarshal(body, &outer); err != nil {
		return request{}, fmt.Errorf("%w: event: %v", errMalformed, err)
	}
	switch outer.Type {
	case slackevents.URLVerification:
		if outer.Challenge == "" {
			return request{}, fmt.Errorf("%w: url_verification without challenge", errMalformed)
		}
		return request{challenge: outer.Challenge}, nil
	case slackevents.CallbackEvent:
	default:
		return request{}, nil
	}
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		return request{}, fmt.Errorf("%w: event: %v", errMalformed, err)
	}
	return eventRequest(outer.EventID, ev), nil
}

var leadingMention = regexp.MustCompile(`^\s*<@[A-Z0-9]+(\|[^>]*)?>[\s:,]*`)

func eventRequest(eventID string, ev slackevents.EventsAPIEvent) request {
	r := request{keys: []string{key("event", eventID)}}
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		if e.BotID != "" || e.User == "" || e.Channel == "" {
			return r
		}
		text := unescape(leadingMention.ReplaceAllString(e.Text, ""))
		r.line = &bot.Incoming{Platform: Platform, UserID: e.User, Channel: e.Channel, Text: text, Direct: true, Private: isDM(e.Channel)}
	case *slackevents.MessageEvent:
		if e.ChannelType != "im" || e.SubType != "" || e.BotID != "" || e.User == "" || e.Channel == "" {
			return r
		}
		r.line = &bot.Incoming{Platform: Platform, UserID: e.User, Channel: e.Channel, Text: unescape(e.Text), Direct: true, Private: true}
	}
	return r
}

// unescaper undoes Slack's escaping of what people type.
var unescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// unescape returns the text a person typed, which Slack sends with &, <
// and > (and only those) as &amp;, &lt; and &gt;. What infrabot shows of
// it is escaped again (escape), so a <!channel> typed never pings.
func unescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return unescaper.Replace(s)
}

func key(kind, id string) string {
	if id == "" {
		return ""
	}
	return kind + ":" + id
}
