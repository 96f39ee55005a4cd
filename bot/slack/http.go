package slack

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/slack-go/slack"

	"github.com/infrabot/infrabot/bot"
)

// commandsPath is where Slack sends slash commands.
const commandsPath = "/slack/commands"

// maxBody bounds a request from Slack. Interactivity payloads carry the
// whole message clicked, which stays well under this.
const maxBody = 1 << 20

// Handler serves Slack's requests: POST /slack/commands (slash commands),
// /slack/interactions (button clicks) and /slack/events (Events API).
// Each is verified with the signing secret and its command run on the
// adapter's workers. A slash command is acknowledged with its reply when
// that comes in time (inline.go); clicks and events are acknowledged at
// once.
func (a *Adapter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+commandsPath, a.serve(parseCommand))
	mux.HandleFunc("POST /slack/interactions", a.serve(parseInteractionForm))
	mux.HandleFunc("POST /slack/events", a.serve(parseEvent))
	a.setStatus(true, "serving /slack/ on the public server")
	return mux
}

// serve is one endpoint: a signed body, read by parse (400 when it
// cannot), answered with the url_verification challenge or accepted.
func (a *Adapter) serve(parse func(body []byte) (request, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		arrived := time.Now()
		body, sig, ok := a.signed(w, r)
		if !ok {
			return
		}
		req, err := parse(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if req.challenge != "" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"challenge": req.challenge})
			return
		}
		a.accept(w, r, req, sig, arrived)
	}
}

// signed reads r's body and checks its signature, which it returns
// decoded, answering the request itself (401, 413, 400) when it fails.
func (a *Adapter) signed(w http.ResponseWriter, r *http.Request) (body, sig []byte, ok bool) {
	if len(a.verify.secret) == 0 {
		a.log.Error("a request from Slack was refused: no signing secret is configured", "path", r.URL.Path)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return nil, nil, false
	}
	body, ok = bot.ReadBody(w, r, maxBody)
	if !ok {
		return nil, nil, false
	}
	sig, err := a.verify.verify(r.Header, body)
	if err != nil {
		a.log.Warn("a request was refused: bad Slack signature", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return nil, nil, false
	}
	return body, sig, true
}

// accept queues req's line unless the delivery was seen already, and
// acknowledges it. The signature's bytes are a key too (the HMAC covers
// timestamp and body): a replay of the very same signed request is
// refused even where Slack sends no trigger or event id, however its hex
// is spelt. Nothing is acknowledged before its keys are on disk (or
// their write failed twice, which is logged), so that no retry or replay
// after a restart runs it again.
func (a *Adapter) accept(w http.ResponseWriter, r *http.Request, req request, sig []byte, arrived time.Time) {
	if req.line == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	keys := append(req.keys, key("sig", hex.EncodeToString(sig)))
	first, durable, err := a.firstDelivery(r.Context(), keys)
	if err != nil {
		a.log.Error("a request from Slack was refused: cannot check it is not a replay", "path", r.URL.Path, "err", err)
		http.Error(w, "busy, try again", http.StatusServiceUnavailable)
		return
	}
	if !first {
		a.log.Info("a repeated delivery from Slack was acknowledged and not run again", "path", r.URL.Path, "retry", r.Header.Get("X-Slack-Retry-Num"))
		w.WriteHeader(http.StatusOK)
		return
	}
	j := job{in: *req.line}
	if r.URL.Path == commandsPath && a.opts.InlineWait > 0 {
		j.inline = newInline()
	}
	if !a.submit(j) {
		a.forgetDelivery(r.Context(), keys)
		a.refuse(w, r.URL.Path, *req.line)
		return
	}
	var ans *answer
	if j.inline != nil {
		ans = j.inline.wait(a.opts.InlineWait-time.Since(arrived), r.Context().Done())
	}
	if err := durable(); err != nil {
		// The command is queued or has run (the engine runs nothing it
		// cannot audit, so a disk that fails for good stops it there).
		a.log.Error("a request from Slack could not be remembered; a replay of it after a restart would be taken for new", "path", r.URL.Path, "err", err)
	}
	if j.inline != nil {
		a.acknowledge(w, arrived, ans)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// refuse answers a request infrabot has no room for: still 200, at once,
// so that Slack does not show a failure or retry, and the person is told,
// privately, that it did not run and to try again. A slash command is
// told in its answer; a click or a message, which Slack shows nothing
// for, in an ephemeral message, at most one per person per bot.BusyNotice so
// that telling does not become a flood of its own. The refusal is counted
// for the interval's log line.
func (a *Adapter) refuse(w http.ResponseWriter, path string, in bot.Incoming) {
	a.busy.Add(path, in.UserID)
	if path == commandsPath {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"response_type": "ephemeral", "text": busyText(in.Text)})
		return
	}
	w.WriteHeader(http.StatusOK)
	if a.busy.Notify(in.UserID) {
		a.ephemeral(in.Channel, in.UserID, busyMessage(in.Text))
	}
}

// parseCommand reads a form-encoded slash command.
func parseCommand(body []byte) (request, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return request{}, fmt.Errorf("%w: form: %v", errMalformed, err)
	}
	return commandRequest(slackCommand(form))
}

// parseInteractionForm reads a click: a form whose payload field is the
// interactivity JSON.
func parseInteractionForm(body []byte) (request, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		return request{}, fmt.Errorf("%w: form without a payload", errMalformed)
	}
	return parseInteraction([]byte(form.Get("payload")))
}

func slackCommand(form url.Values) slack.SlashCommand {
	return slack.SlashCommand{
		TeamID: form.Get("team_id"), ChannelID: form.Get("channel_id"), UserID: form.Get("user_id"),
		Command: form.Get("command"), Text: form.Get("text"), TriggerID: form.Get("trigger_id"),
		ResponseURL: form.Get("response_url"),
	}
}
