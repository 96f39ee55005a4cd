// Package discordtest is a stateful fake of the parts of Discord infrabot
// talks to: the REST API (interaction callbacks, webhook edits of
// @original and follow-ups, channel messages (honouring enforce_nonce)
// and edits, DM channel creation, bulk command overwrite, /gateway) with Discord's JSON shapes
// and errors, the gateway websocket (gateway.go: HELLO, IDENTIFY, READY,
// heartbeats, RESUME, INTERACTION_CREATE), and Discord's side of an
// Interactions Endpoint (app.go: interactions signed with an Ed25519 key).
// Every call is recorded, and 429s (with retry_after and the
// X-RateLimit-* bucket headers) or other failures can be injected. The
// real discordgo client talks to it.
package discordtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TokenLife is how long an interaction token may be used, as on Discord.
const TokenLife = 15 * time.Minute

// BotUserID is the fake application's bot user.
const BotUserID = "900000000000000001"

// Server is a fake Discord. It checks the bot token on bot endpoints and
// the interaction token (and its age) on webhook endpoints, keeps every
// message, records every call and fails calls on demand.
type Server struct {
	Token string // the bot token, without "Bot "
	AppID string

	srv *httptest.Server

	mu       sync.Mutex
	now      func() time.Time
	calls    []Call
	messages []*Message
	faults   []Fault
	tokens   map[string]*token
	commands map[string][]map[string]any // scope ("global" or a guild id) → commands
	idSeq    int64
	changed  chan struct{}

	// gateway (gateway.go)
	gw gateway
}

// token is an interaction token the fake handed out.
type token struct {
	interactionID, channelID string
	issued                   time.Time
	original                 *Message // the response, once there is one
	responded                bool
	// delivery is closed when the app's answer to the interaction,
	// on its way back to App.Send, has been read; nil when none is.
	delivery chan struct{}
}

// Call is one REST call as the fake received it.
type Call struct {
	Method, Path string
	// Route is the path with ids and tokens replaced, e.g.
	// "PATCH /webhooks/{app}/{token}/messages/{id}".
	Route string
	Body  map[string]any
	// List is the body when it is an array (a bulk overwrite).
	List []map[string]any
	// Status is what the fake answered.
	Status int
	// Refused says why a message over Discord's limits was refused.
	Refused error
}

// Message is a message in the fake, in its latest state.
type Message struct {
	ID, ChannelID string
	// Interaction is the id of the interaction the message answers (the
	// response or a follow-up); "" for a bot's channel message.
	Interaction string
	Original    bool // the interaction's response (@original)
	Ephemeral   bool
	// Thinking is true while a deferred response has not been edited.
	Thinking   bool
	Content    string
	Embeds     []map[string]any
	Components []map[string]any
	Edits      int
	Deleted    bool
	// Nonce is the nonce the message was created with, and Created when
	// (Discord's clock).
	Nonce   string
	Created time.Time
}

// NonceWindow is how long Discord remembers a message's nonce: a message
// created with enforce_nonce and the nonce of one created by the bot in
// the channel within it is not created again; Discord answers with the
// first. (Discord says "the past few minutes".)
const NonceWindow = 2 * time.Minute

// Fault is a failure the fake answers with instead of doing a call.
type Fault struct {
	// Route limits the fault to calls whose Route has this prefix
	// ("POST /channels"); "" means any.
	Route string
	// Status is 429 (with RetryAfter, and Global for a global limit),
	// 401, 403 or a 5xx.
	Status     int
	RetryAfter time.Duration
	Global     bool
	// Bucket names the rate-limit bucket in X-RateLimit-Bucket.
	Bucket string
}

// NewServer starts a fake Discord for the bot token and application id;
// it stops when t ends. now is Discord's clock (tokens age by it);
// time.Now when nil.
func NewServer(t testing.TB, botToken, appID string, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	s := &Server{Token: botToken, AppID: appID, now: now, tokens: map[string]*token{},
		commands: map[string][]map[string]any{}, idSeq: 1100000000000000000, changed: make(chan struct{})}
	s.gw.init()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(s.closeGateway)
	return s
}

// URL is the fake's API base, for discord.api_url ("http://127.0.0.1:N/api/").
func (s *Server) URL() string { return s.srv.URL + "/api/" }

// Fail makes the next matching calls fail, one fault per call, in order.
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// Calls returns every call so far, failed ones included.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo returns the calls whose Route starts with prefix.
func (s *Server) CallsTo(prefix string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if strings.HasPrefix(c.Route, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// Messages returns copies of the messages in channel (every channel when
// ""), oldest first, deleted ones left out.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if !m.Deleted && (channel == "" || m.ChannelID == channel) {
			out = append(out, *m)
		}
	}
	return out
}

// Message returns the latest state of message id.
func (s *Server) Message(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.ID == id {
			return *m, true
		}
	}
	return Message{}, false
}

// Delete deletes message id, as a person deleting it does: later calls
// on it are answered 10008 Unknown Message.
func (s *Server) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.find("", id); m != nil {
		m.Deleted = true
	}
}

// Commands returns the application commands registered in scope: a guild
// id, or "" for global ones.
func (s *Server) Commands(guild string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if guild == "" {
		guild = "global"
	}
	return append([]map[string]any(nil), s.commands[guild]...)
}

// Changed returns a channel closed at the next call the fake receives.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitFor waits until cond holds, checking it whenever the fake hears
// something; the test fails after a generous limit (a hang).
func (s *Server) WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	limit := time.After(20 * time.Second)
	for {
		changed := s.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-time.After(50 * time.Millisecond):
		case <-limit:
			t.Fatalf("Discord never saw %s", what)
		}
	}
}

// NewID returns a fresh snowflake.
func (s *Server) NewID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newIDLocked()
}

func (s *Server) newIDLocked() string {
	s.idSeq++
	return strconv.FormatInt(s.idSeq, 10)
}

// awaitDelivery waits, when the app's answer to token's interaction is on
// its way back through App.Send, until it has been read. Discord takes an
// answer as the interaction's response as soon as the app has written
// it, so a call the app makes on the webhook after writing its answer
// finds the response there; the fake reads the answer on the client
// side, a little later, and must not answer such a call first. (An app
// that calls before writing its answer is caught with App.Hold, which
// keeps no delivery open.)
func (s *Server) awaitDelivery(tok string) {
	s.mu.Lock()
	var wait chan struct{}
	if t := s.tokens[tok]; t != nil && !t.responded {
		wait = t.delivery
	}
	s.mu.Unlock()
	if wait == nil {
		return
	}
	select {
	case <-wait:
	case <-time.After(10 * time.Second):
	}
}

// delivering records that an answer to token's interaction is on its way
// back; the function returned says it has been read.
func (s *Server) delivering(tok string) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	if t == nil {
		return func() {}
	}
	ch := make(chan struct{})
	t.delivery = ch
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if t.delivery == ch {
			t.delivery = nil
		}
		close(ch)
	}
}

// answer records the app's answer to token's interaction as its
// response, unless it has one; body is the answer's JSON.
func (s *Server) answer(tok string, body []byte) error {
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("the interaction's answer is not JSON: %w: %s", err, body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[tok]; t != nil && !t.responded {
		s.calls = append(s.calls, Call{Method: "RESPONSE", Route: "RESPONSE /discord/interactions", Body: resp, Status: 200})
		s.respondLocked(tok, resp)
		s.notifyLocked()
	}
	return nil
}

// issue records an interaction token handed to the app.
func (s *Server) issue(interactionID, channelID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := "itoken-" + interactionID
	s.tokens[tok] = &token{interactionID: interactionID, channelID: channelID, issued: s.now()}
	return tok
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/gateway" || r.URL.Path == "/gateway/" {
		s.serveGateway(w, r)
		return
	}
	// discordgo speaks API version 9; Discord serves 9 and 10 alike.
	path, ok := strings.CutPrefix(r.URL.Path, "/api/v10/")
	if !ok {
		path, ok = strings.CutPrefix(r.URL.Path, "/api/v9/")
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	var raw any
	if r.Body != nil {
		b, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if len(b) > 0 {
			if err := json.Unmarshal(b, &raw); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]any{"message": "400: Bad Request", "code": 50109})
				return
			}
		}
	}
	body, _ := raw.(map[string]any)
	list, _ := raw.([]any)
	parts := strings.Split(path, "/")
	route := r.Method + " " + routeOf(parts)
	if len(parts) >= 3 && parts[0] == "webhooks" {
		s.awaitDelivery(parts[2])
	}

	s.mu.Lock()
	defer func() {
		s.notifyLocked()
		s.mu.Unlock()
	}()
	call := Call{Method: r.Method, Path: "/" + path, Route: route, Body: body, List: maps(list)}
	for i, f := range s.faults {
		if f.Route == "" || strings.HasPrefix(route, f.Route) {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			call.Status = f.Status
			s.calls = append(s.calls, call)
			if f.Status == http.StatusTooManyRequests {
				secs := f.RetryAfter.Seconds()
				bucket := f.Bucket
				if bucket == "" {
					bucket = "b-" + routeOf(parts)
				}
				w.Header().Set("Retry-After", strconv.Itoa(int(secs+0.999)))
				w.Header().Set("X-RateLimit-Limit", "5")
				w.Header().Set("X-RateLimit-Remaining", "0")
				w.Header().Set("X-RateLimit-Reset-After", strconv.FormatFloat(secs, 'f', 3, 64))
				w.Header().Set("X-RateLimit-Bucket", bucket)
				if f.Global {
					w.Header().Set("X-RateLimit-Global", "true")
					w.Header().Set("X-RateLimit-Scope", "global")
				} else {
					w.Header().Set("X-RateLimit-Scope", "user")
				}
				writeJSON(w, f.Status, map[string]any{"message": "You are being rate limited.", "retry_after": secs, "global": f.Global})
				return
			}
			writeJSON(w, f.Status, map[string]any{"message": http.StatusText(f.Status), "code": 0})
			return
		}
	}
	if msg := messageBody(r.Method, parts, body); msg != nil {
		// Discord refuses a message over its limits, whole.
		if err := CheckMessage(msg); err != nil {
			call.Status, call.Refused = http.StatusBadRequest, err
			s.calls = append(s.calls, call)
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": errInvalidForm, "message": invalidFormBody,
				"errors": map[string]any{"_errors": []any{map[string]any{"code": "BASE_TYPE_MAX_LENGTH", "message": err.Error()}}}})
			return
		}
	}
	status, resp := s.do(r, parts, body, call.List)
	call.Status = status
	s.calls = append(s.calls, call)
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("X-RateLimit-Limit", "5")
	w.Header().Set("X-RateLimit-Remaining", "4")
	w.Header().Set("X-RateLimit-Reset-After", "1.000")
	w.Header().Set("X-RateLimit-Bucket", "b-"+routeOf(parts))
	writeJSON(w, status, resp)
}

// messageBody returns the message a call sends or edits, or nil: the
// body of a message or follow-up posted or edited, or the data of an
// interaction response.
func messageBody(method string, p []string, body map[string]any) map[string]any {
	switch {
	case body == nil || (method != http.MethodPost && method != http.MethodPatch):
		return nil
	case len(p) == 4 && p[0] == "interactions" && p[3] == "callback":
		data, _ := body["data"].(map[string]any)
		return data
	case p[0] == "webhooks" && len(p) == 3, p[0] == "webhooks" && len(p) == 5 && p[3] == "messages",
		p[0] == "channels" && len(p) >= 3 && p[2] == "messages":
		return body
	}
	return nil
}

// routeOf replaces the ids and tokens in a path with placeholders.
func routeOf(parts []string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p
		if i == 0 {
			continue
		}
		switch parts[i-1] {
		case "channels", "messages", "guilds", "applications", "interactions":
			if p != "@original" && p != "@me" {
				out[i] = "{id}"
			}
		case "webhooks":
			out[i] = "{app}"
		}
		if i >= 2 && (parts[i-2] == "webhooks" || parts[i-2] == "interactions") {
			out[i] = "{token}"
		}
	}
	return "/" + strings.Join(out, "/")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func errBody(code int, msg string) map[string]any {
	return map[string]any{"message": msg, "code": code}
}

// do carries out one call; the mutex is held.
func (s *Server) do(r *http.Request, p []string, body map[string]any, list []map[string]any) (int, any) {
	bot := r.Header.Get("Authorization") == "Bot "+s.Token
	switch {
	case len(p) == 1 && p[0] == "gateway" && r.Method == http.MethodGet:
		return http.StatusOK, map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway"}
	case len(p) == 4 && p[0] == "interactions" && p[3] == "callback" && r.Method == http.MethodPost:
		tok := s.tokens[p[2]]
		if tok == nil || tok.interactionID != p[1] {
			return http.StatusNotFound, errBody(10062, "Unknown interaction")
		}
		if tok.responded {
			return http.StatusBadRequest, errBody(40060, "Interaction has already been acknowledged.")
		}
		if s.now().Sub(tok.issued) > 3*time.Second {
			return http.StatusNotFound, errBody(10062, "Unknown interaction")
		}
		s.respondLocked(p[2], body)
		return http.StatusNoContent, nil
	case len(p) >= 3 && p[0] == "webhooks":
		if p[1] != s.AppID {
			return http.StatusNotFound, errBody(10015, "Unknown Webhook")
		}
		tok := s.tokens[p[2]]
		if tok == nil || s.now().Sub(tok.issued) > TokenLife {
			return http.StatusUnauthorized, errBody(50027, "Invalid Webhook Token")
		}
		return s.webhook(r.Method, tok, p[3:], body)
	}
	if r.Header.Get("Authorization") == "" || !bot {
		return http.StatusUnauthorized, errBody(0, "401: Unauthorized")
	}
	switch {
	case len(p) == 3 && p[0] == "channels" && p[2] == "messages" && r.Method == http.MethodPost:
		nonce := nonceOf(body["nonce"])
		if enforce, _ := body["enforce_nonce"].(bool); enforce && nonce != "" {
			for _, m := range s.messages {
				if m.ChannelID == p[1] && m.Nonce == nonce && s.now().Sub(m.Created) < NonceWindow {
					return http.StatusOK, wire(m)
				}
			}
		}
		m := &Message{ID: s.newIDLocked(), ChannelID: p[1], Nonce: nonce, Created: s.now()}
		if !setContent(m, body) {
			return http.StatusBadRequest, errBody(50006, "Cannot send an empty message")
		}
		s.messages = append(s.messages, m)
		return http.StatusOK, wire(m)
	case len(p) == 4 && p[0] == "channels" && p[2] == "messages" && r.Method == http.MethodPatch:
		m := s.find(p[1], p[3])
		if m == nil {
			return http.StatusNotFound, errBody(10008, "Unknown Message")
		}
		if m.Interaction != "" && m.Ephemeral {
			return http.StatusForbidden, errBody(50005, "Cannot edit a message authored by another user")
		}
		setContent(m, body)
		m.Edits++
		return http.StatusOK, wire(m)
	case len(p) == 3 && p[0] == "users" && p[1] == "@me" && p[2] == "channels" && r.Method == http.MethodPost:
		rcpt, _ := body["recipient_id"].(string)
		if rcpt == "" {
			return http.StatusBadRequest, errBody(50035, "Invalid Form Body")
		}
		return http.StatusOK, map[string]any{"id": "7" + rcpt[1:], "type": 1, "recipients": []any{map[string]any{"id": rcpt}}}
	case p[0] == "applications" && len(p) >= 3 && p[len(p)-1] == "commands":
		if p[1] != s.AppID {
			return http.StatusForbidden, errBody(50001, "Missing Access")
		}
		scope := "global"
		if len(p) == 5 && p[2] == "guilds" {
			scope = p[3]
		}
		switch r.Method {
		case http.MethodGet:
			return http.StatusOK, s.commands[scope]
		case http.MethodPut:
			return s.overwrite(scope, list)
		}
	}
	return http.StatusNotFound, errBody(0, "404: Not Found")
}

// overwrite replaces scope's commands (bulk overwrite): a command keeps its
// id when its name is unchanged.
func (s *Server) overwrite(scope string, cmds []map[string]any) (int, any) {
	old := map[string]string{}
	for _, c := range s.commands[scope] {
		old[c["name"].(string)], _ = c["id"].(string)
	}
	out := []map[string]any{}
	for _, c := range cmds {
		name, _ := c["name"].(string)
		if name == "" {
			return http.StatusBadRequest, errBody(50035, "Invalid Form Body: name")
		}
		id := old[name]
		if id == "" {
			id = s.newIDLocked()
		}
		c["id"], c["application_id"], c["version"] = id, s.AppID, s.newIDLocked()
		if scope != "global" {
			c["guild_id"] = scope
		}
		out = append(out, c)
	}
	s.commands[scope] = out
	return http.StatusOK, out
}

func (s *Server) find(channel, id string) *Message {
	for _, m := range s.messages {
		if m.ID == id && (channel == "" || m.ChannelID == channel) && !m.Deleted {
			return m
		}
	}
	return nil
}

// respondLocked records an interaction response (callback) for token tok.
func (s *Server) respondLocked(tok string, body map[string]any) {
	t := s.tokens[tok]
	t.responded = true
	typ, _ := body["type"].(float64)
	data, _ := body["data"].(map[string]any)
	switch int(typ) {
	case 4, 5: // CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
		m := &Message{ID: s.newIDLocked(), ChannelID: t.channelID, Interaction: t.interactionID, Original: true, Thinking: int(typ) == 5}
		if data != nil {
			setContent(m, data)
		}
		s.messages = append(s.messages, m)
		t.original = m
	}
}

// webhook is a call on an interaction's webhook; the mutex is held.
func (s *Server) webhook(method string, tok *token, rest []string, body map[string]any) (int, any) {
	switch {
	case len(rest) == 0 && method == http.MethodPost: // follow-up
		if !tok.responded {
			return http.StatusNotFound, errBody(10015, "Unknown Webhook")
		}
		m := &Message{ID: s.newIDLocked(), ChannelID: tok.channelID, Interaction: tok.interactionID}
		if !setContent(m, body) {
			return http.StatusBadRequest, errBody(50006, "Cannot send an empty message")
		}
		s.messages = append(s.messages, m)
		return http.StatusOK, wire(m)
	case len(rest) == 2 && rest[0] == "messages":
		var m *Message
		if rest[1] == "@original" {
			m = tok.original
		} else if found := s.find(tok.channelID, rest[1]); found != nil && found.Interaction == tok.interactionID {
			m = found
		}
		if m == nil || m.Deleted {
			return http.StatusNotFound, errBody(10008, "Unknown Message")
		}
		switch method {
		case http.MethodPatch:
			setContent(m, body)
			m.Thinking = false
			m.Edits++
			return http.StatusOK, wire(m)
		case http.MethodDelete:
			m.Deleted = true
			return http.StatusNoContent, nil
		case http.MethodGet:
			return http.StatusOK, wire(m)
		}
	}
	return http.StatusNotFound, errBody(0, "404: Not Found")
}

// setContent applies a message body's content, embeds, components and
// flags to m, and reports whether m has anything to show.
// nonceOf is a message's nonce as sent: a string or an integer.
func nonceOf(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func setContent(m *Message, body map[string]any) bool {
	if c, ok := body["content"].(string); ok {
		m.Content = c
	}
	if e, ok := body["embeds"].([]any); ok {
		m.Embeds = maps(e)
	}
	if c, ok := body["components"].([]any); ok {
		m.Components = maps(c)
	}
	if f, ok := body["flags"].(float64); ok && int(f)&64 != 0 {
		m.Ephemeral = true
	}
	return m.Content != "" || len(m.Embeds) > 0
}

func maps(v []any) []map[string]any {
	out := make([]map[string]any, 0, len(v))
	for _, x := range v {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// wire is m as Discord's API returns a message.
func wire(m *Message) map[string]any {
	out := map[string]any{
		"id": m.ID, "channel_id": m.ChannelID, "type": 0, "content": m.Content,
		"author":    map[string]any{"id": BotUserID, "username": "infrabot", "bot": true},
		"timestamp": "2026-01-01T00:00:00+00:00", "tts": false, "mention_everyone": false,
		"embeds": orEmpty(m.Embeds), "components": orEmpty(m.Components), "attachments": []any{}, "pinned": false,
	}
	if m.Ephemeral {
		out["flags"] = 64
	}
	if m.Interaction != "" {
		out["webhook_id"] = "application"
	}
	if m.Nonce != "" {
		out["nonce"] = m.Nonce
	}
	return out
}

func orEmpty(v []map[string]any) any {
	if v == nil {
		return []any{}
	}
	return v
}

// Text is everything a person sees in m: content, embed titles,
// descriptions, fields, footers and button labels.
func Text(m Message) string {
	var b strings.Builder
	b.WriteString(m.Content)
	for _, e := range m.Embeds {
		for _, k := range []string{"title", "description"} {
			if s, ok := e[k].(string); ok {
				b.WriteString("\n" + s)
			}
		}
		fields, _ := e["fields"].([]any)
		for _, f := range maps(fields) {
			fmt.Fprintf(&b, "\n%v: %v", f["name"], f["value"])
		}
		if f, ok := e["footer"].(map[string]any); ok {
			fmt.Fprintf(&b, "\n%v", f["text"])
		}
	}
	for _, l := range Buttons(m) {
		b.WriteString("\n[" + l["label"].(string) + "]")
	}
	return b.String()
}

// Buttons returns m's buttons.
func Buttons(m Message) []map[string]any {
	var out []map[string]any
	for _, row := range m.Components {
		cs, _ := row["components"].([]any)
		for _, c := range maps(cs) {
			if c["type"] == float64(2) {
				out = append(out, c)
			}
		}
	}
	return out
}
