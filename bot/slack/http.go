package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/slack-go/slack"
)

// maxBody bounds a request from Slack. Interactivity payloads carry the
// whole message clicked, which stays well under this.
const maxBody = 1 << 20

// Handler serves Slack's requests: POST /slack/commands (slash commands),
// /slack/interactions (button clicks) and /slack/events (Events API).
// Each is verified with the signing secret and acknowledged at once; the
// command runs afterwards on the adapter's workers.
func (a *Adapter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/commands", a.serveCommand)
	mux.HandleFunc("POST /slack/interactions", a.serveInteraction)
	mux.HandleFunc("POST /slack/events", a.serveEvent)
	return mux
}

// signed reads r's body and checks its signature, answering the request
// itself (413, 400, 401) when it fails.
func (a *Adapter) signed(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "could not read the request", http.StatusBadRequest)
		}
		return nil, false
	}
	if len(a.verify.secret) == 0 {
		a.log.Error("a request from Slack was refused: no signing secret is configured", "path", r.URL.Path)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return nil, false
	}
	if err := a.verify.verify(r.Header, body); err != nil {
		a.log.Warn("a request was refused: bad Slack signature", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

func (a *Adapter) serveCommand(w http.ResponseWriter, r *http.Request) {
	body, ok := a.signed(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	req, err := commandRequest(slackCommand(form))
	if err != nil {
		http.Error(w, "malformed slash command", http.StatusBadRequest)
		return
	}
	a.accept(w, r, req)
}

func (a *Adapter) serveInteraction(w http.ResponseWriter, r *http.Request) {
	body, ok := a.signed(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "malformed form: no payload", http.StatusBadRequest)
		return
	}
	req, err := parseInteraction([]byte(form.Get("payload")))
	if err != nil {
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	a.accept(w, r, req)
}

func (a *Adapter) serveEvent(w http.ResponseWriter, r *http.Request) {
	body, ok := a.signed(w, r)
	if !ok {
		return
	}
	req, err := parseEvent(body)
	if err != nil {
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	if req.challenge != "" {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"challenge": req.challenge})
		return
	}
	a.accept(w, r, req)
}

// accept queues req's lines unless the delivery was seen already, and
// acknowledges it. The signature is a key too: a replay of the very same
// signed request is refused even where Slack sends no trigger or event id.
func (a *Adapter) accept(w http.ResponseWriter, r *http.Request, req request) {
	if len(req.lines) == 0 {
		w.WriteHeader(http.StatusOK)
		return
	}
	keys := append(req.keys, key("sig", r.Header.Get("X-Slack-Request-Timestamp")+r.Header.Get("X-Slack-Signature")))
	if !a.seen.first(keys...) {
		a.log.Info("a repeated delivery from Slack was acknowledged and not run again", "path", r.URL.Path, "retry", r.Header.Get("X-Slack-Retry-Num"))
		w.WriteHeader(http.StatusOK)
		return
	}
	if !a.dispatch(req) {
		a.seen.forget(keys...)
		a.log.Warn("too many commands at once: a request from Slack was refused", "path", r.URL.Path)
		http.Error(w, "busy, try again", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// dispatch queues req's command, refusing at once when the queue is full.
func (a *Adapter) dispatch(req request) bool {
	// Slack sends one action per click: lines has one element, except from
	// a forged or future payload, of which the first is run only.
	return a.submit(context.Background(), req.lines[0], false)
}

func slackCommand(form url.Values) slack.SlashCommand {
	return slack.SlashCommand{
		TeamID: form.Get("team_id"), ChannelID: form.Get("channel_id"), UserID: form.Get("user_id"),
		Command: form.Get("command"), Text: form.Get("text"), TriggerID: form.Get("trigger_id"),
		ResponseURL: form.Get("response_url"),
	}
}
