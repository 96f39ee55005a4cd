package slacktest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// App is Slack's side of an app's endpoints: it sends requests signed
// with the app's signing secret to the app's base URL, as Slack does.
type App struct {
	// URL is where the app serves /slack/commands, /slack/interactions
	// and /slack/events.
	URL    string
	Secret string
	// Now is Slack's clock, for signing timestamps; time.Now by default.
	Now    func() time.Time
	Client *http.Client
	// Workspace, when set, is the fake Slack that shows what the app
	// answers a slash command with (Server.CommandResponse), as Slack
	// shows the body of the acknowledgement as the command's reply.
	Workspace *Server

	n atomic.Int64
}

// Request is a delivery ready to send, so that a test can send it again
// (a replay) or spoil it.
type Request struct {
	Path   string
	Body   []byte
	Header http.Header
}

// Response is the app's answer.
type Response struct {
	Status int
	Body   string
}

// Sign builds a signed delivery of body to path at Slack's current time.
func (a *App) Sign(path, contentType string, body []byte) *Request {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(a.Secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return &Request{Path: path, Body: body, Header: h}
}

// Send delivers r to the app.
func (a *App) Send(t testing.TB, r *Request) Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.URL+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.Header.Clone()
	c := a.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("sending to %s: %v", r.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if a.Workspace != nil && r.Path == "/slack/commands" && resp.StatusCode == http.StatusOK && len(bytes.TrimSpace(b)) > 0 {
		form, _ := url.ParseQuery(string(r.Body))
		if call := a.Workspace.CommandResponse(form.Get("channel_id"), form.Get("user_id"), b); call.Error != "" {
			t.Errorf("Slack could not show the answer to a slash command: %s (%v): %s", call.Error, call.Refused, b)
		}
	}
	return Response{Status: resp.StatusCode, Body: string(b)}
}

// CommandRequest is a signed /infra slash command typed by user in
// channel, form-encoded as Slack sends it.
func (a *App) CommandRequest(user, channel, text string) *Request {
	form := commandForm(a.n.Add(1), user, channel, text)
	return a.Sign("/slack/commands", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// commandForm is the n-th /infra slash command's fields, as Slack sends
// them (form-encoded over HTTP, a JSON object of strings in Socket Mode).
func commandForm(n int64, user, channel, text string) url.Values {
	return url.Values{
		"token":        {"deprecated-verification-token"},
		"team_id":      {"T0INFRA"},
		"team_domain":  {"infra"},
		"channel_id":   {channel},
		"channel_name": {"infra"},
		"user_id":      {user},
		"user_name":    {user},
		"command":      {"/infra"},
		"text":         {text},
		"api_app_id":   {"A0INFRABOT"},
		"response_url": {fmt.Sprintf("https://hooks.slack.com/commands/T0INFRA/%d/x", n)},
		"trigger_id":   {fmt.Sprintf("%d.1.trigger%d", n, n)},
	}
}

// Command sends a slash command and returns the app's answer.
func (a *App) Command(t testing.TB, user, channel, text string) Response {
	t.Helper()
	return a.Send(t, a.CommandRequest(user, channel, text))
}

// ClickRequest is a signed block_actions payload: user clicking the
// button labelled label on message m.
func (a *App) ClickRequest(t testing.TB, user string, m Message, label string) *Request {
	t.Helper()
	b, err := json.Marshal(clickPayload(t, a.n.Add(1), user, m, label))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"payload": {string(b)}}
	return a.Sign("/slack/interactions", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// clickPayload is the n-th block_actions payload: user clicking the
// button labelled label on message m.
func clickPayload(t testing.TB, n int64, user string, m Message, label string) map[string]any {
	t.Helper()
	var clicked map[string]any
	for _, b := range m.Blocks {
		if b["type"] != "actions" {
			continue
		}
		els, _ := b["elements"].([]any)
		for _, e := range els {
			el, _ := e.(map[string]any)
			text, _ := el["text"].(map[string]any)
			if text["text"] == label {
				clicked = map[string]any{
					"type": "button", "action_id": el["action_id"], "block_id": b["block_id"],
					"value": el["value"], "text": text, "action_ts": "1767225700.000001",
				}
				if st, ok := el["style"]; ok {
					clicked["style"] = st
				}
			}
		}
	}
	if clicked == nil {
		t.Fatalf("message %s has no button %q", m.TS, label)
	}
	return map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": "T0INFRA", "domain": "infra"},
		"user":       map[string]any{"id": user, "username": user, "team_id": "T0INFRA"},
		"api_app_id": "A0INFRABOT",
		"token":      "deprecated-verification-token",
		"container":  map[string]any{"type": "message", "message_ts": m.TS, "channel_id": m.Channel, "is_ephemeral": false},
		"trigger_id": fmt.Sprintf("%d.1.click%d", n, n),
		"channel":    map[string]any{"id": m.Channel, "name": "infra"},
		"message": map[string]any{
			"type": "message", "user": BotUserID, "bot_id": "B0INFRABOT", "ts": m.TS, "text": m.Text, "blocks": m.Blocks,
		},
		"response_url": fmt.Sprintf("https://hooks.slack.com/actions/T0INFRA/%d/x", n),
		"actions":      []any{clicked},
	}
}

// Click sends user's click on the button labelled label of m.
func (a *App) Click(t testing.TB, user string, m Message, label string) Response {
	t.Helper()
	return a.Send(t, a.ClickRequest(t, user, m, label))
}

// EventRequest is a signed Events API delivery of event (the inner
// event) with eventID. retry > 0 marks it as Slack's retry number retry.
func (a *App) EventRequest(eventID string, event map[string]any, retry int) *Request {
	body, _ := json.Marshal(eventCallback(eventID, event))
	r := a.Sign("/slack/events", "application/json", body)
	if retry > 0 {
		r.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		r.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	return r
}

// Mention is an app_mention event: user writing "<@bot> text" in channel.
func Mention(user, channel, text string) map[string]any {
	return map[string]any{"type": "app_mention", "user": user, "channel": channel,
		"text": "<@" + BotUserID + "> " + text, "ts": "1767225600.000100", "event_ts": "1767225600.000100"}
}

// DirectMessage is a message.im event: user writing text to the app.
func DirectMessage(user, channel, text string) map[string]any {
	return map[string]any{"type": "message", "channel_type": "im", "user": user, "channel": channel,
		"text": text, "ts": "1767225600.000200", "event_ts": "1767225600.000200"}
}

// URLVerificationRequest is the challenge Slack sends when an events URL
// is saved.
func (a *App) URLVerificationRequest(challenge string) *Request {
	body, _ := json.Marshal(map[string]any{"token": "deprecated-verification-token", "challenge": challenge, "type": "url_verification"})
	return a.Sign("/slack/events", "application/json", body)
}

// eventCallback is an Events API event_callback wrapping event.
func eventCallback(eventID string, event map[string]any) map[string]any {
	return map[string]any{
		"token": "deprecated-verification-token", "team_id": "T0INFRA", "api_app_id": "A0INFRABOT",
		"event": event, "type": "event_callback", "event_id": eventID, "event_time": 1767225600,
		"authorizations": []any{map[string]any{"team_id": "T0INFRA", "user_id": BotUserID, "is_bot": true}},
	}
}

// VerifyOnly is the least an app's endpoint can do: read the body, check
// Slack's signature with secret, and answer 200 (401 when it is wrong).
// Benchmarks measure infrabot's endpoints against it.
func VerifyOnly(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		sig, err := hex.DecodeString(strings.TrimPrefix(r.Header.Get("X-Slack-Signature"), "v0="))
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte("v0:" + r.Header.Get("X-Slack-Request-Timestamp") + ":"))
		mac.Write(body)
		if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
