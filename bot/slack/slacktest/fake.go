// Package slacktest is a fake of the parts of Slack infrabot talks to: the
// Web API (chat.postMessage with metadata, chat.update,
// chat.postEphemeral, conversations.open, conversations.history and
// conversations.replies, auth.test) with Slack's JSON shapes and errors and,
// on demand, chat.update's per-workspace rate limit (LimitUpdates), and
// Slack's side of the app's endpoints — correctly signed slash commands,
// button clicks and events, as Slack sends them — and Socket Mode
// (socket.go): apps.connections.open and the WebSocket that delivers
// envelopes and records the app's acks. The real slack-go client
// talks to it through slack.OptionAPIURL(server.APIURL()).
package slacktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BotUserID is the fake workspace's user id for the app's bot.
const BotUserID = "U0INFRABOT"

// Server is a fake Slack Web API. It checks the bot token, keeps every
// message in its channels, records every call and fails calls on demand.
type Server struct {
	Token string

	srv *httptest.Server

	mu       sync.Mutex
	calls    []Call
	messages []*Message
	faults   []Fault
	missing  map[string]bool
	clock    int64
	changed  chan struct{}
	// updateLimit chat.update calls are allowed in any rolling
	// updatePer; updates holds the times of those accepted lately.
	updateLimit int
	updatePer   time.Duration
	updates     []time.Time

	// Socket Mode (socket.go).
	appToken  string
	tickets   map[string]bool
	socketSeq int
	conns     []*socketConn
	connects  int
	acks      []Ack
	pushed    []Envelope
	badFrames []string
	envSeq    int
	n         atomic.Int64
}

// Call is one Web API call as the fake received it.
type Call struct {
	Method string
	Args   url.Values
	// Blocks is the call's blocks argument, decoded.
	Blocks []map[string]any
	// Status is the HTTP status the fake answered; Error Slack's error
	// code when ok was false; RetryAfter what a 429 asked.
	Status     int
	Error      string
	RetryAfter time.Duration
	// At is when the fake received the call (time.Now, which is the
	// bubble's clock under testing/synctest).
	At time.Time
	// Refused says why a message over Slack's limits was refused.
	Refused error
}

// Message is a message in the fake workspace, in its latest state.
type Message struct {
	Channel, TS, ThreadTS string
	// User is who may see an ephemeral message; "" for everyone.
	User      string
	Ephemeral bool
	Text      string
	Blocks    []map[string]any
	// Updates counts the chat.update calls that changed it.
	Updates int
	// Metadata is the message's metadata as posted ({"event_type",
	// "event_payload"}); nil when it has none.
	Metadata map[string]any
}

// Fault is a failure the fake answers with instead of doing a call.
type Fault struct {
	// Method limits the fault to one Web API method; "" means any.
	Method string
	// Status is 429 (with RetryAfter seconds) or a 5xx.
	Status     int
	RetryAfter int
}

// NewServer starts a fake Slack accepting token; it stops when t ends.
func NewServer(t testing.TB, token string) *Server {
	s := &Server{Token: token, missing: map[string]bool{}, clock: 1767225600, changed: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(s.closeSockets)
	return s
}

// APIURL is the base of the fake's Web API, for slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// Fail makes the next calls fail, in order, one fault per call matching
// the fault's method.
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// LimitUpdates makes the fake enforce chat.update's rate limit as Slack
// does, per workspace: at most n calls in any rolling window per; the
// next is answered 429 with a Retry-After (whole seconds) saying when the
// window has room again.
func (s *Server) LimitUpdates(n int, per time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updateLimit, s.updatePer = n, per
}

// Client returns an HTTP client that hands each request to the fake
// in-process instead of over a connection, for tests in a testing/synctest
// bubble: there time moves only when every goroutine waits on something
// the bubble controls, which a socket is not. Requests and answers are
// the same bytes slack-go sends and reads over the network.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: inProcess{s}}
}

type inProcess struct{ s *Server }

func (p inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	rec := httptest.NewRecorder()
	p.s.serve(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// MissingChannel makes calls to channel fail with channel_not_found.
func (s *Server) MissingChannel(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.missing[channel] = true
}

// Delete removes message ts from channel, as a person deleting it does:
// later calls on it are answered message_not_found.
func (s *Server) Delete(channel, ts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range s.messages {
		if m.Channel == channel && m.TS == ts {
			s.messages = append(s.messages[:i:i], s.messages[i+1:]...)
			return
		}
	}
}

// Calls returns every call so far, failed ones included.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Messages returns copies of the messages in channel (every channel when
// channel is ""), oldest first.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if channel == "" || m.Channel == channel {
			out = append(out, *m)
		}
	}
	return out
}

// Changed returns a channel closed at the next call the fake receives,
// so that a test can wait for Slack to hear something without sleeping.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/link/" && r.Method == http.MethodGet {
		s.serveSocket(w, r)
		return
	}
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	args := url.Values{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body map[string]any
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err == nil {
			for k, v := range body {
				switch v := v.(type) {
				case string:
					args.Set(k, v)
				default:
					b, _ := json.Marshal(v)
					args.Set(k, string(b))
				}
			}
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		args = r.PostForm
	}
	token := args.Get("token")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = bearer
	}
	args.Del("token") // never recorded: tests print calls

	s.mu.Lock()
	defer func() {
		s.notifyLocked()
		s.mu.Unlock()
	}()
	call := Call{Method: method, Args: args, Status: http.StatusOK, At: time.Now()}
	if b := args.Get("blocks"); b != "" {
		if err := json.Unmarshal([]byte(b), &call.Blocks); err != nil {
			call.Error = "invalid_blocks"
		}
	}
	if call.Error == "" && strings.HasPrefix(method, "chat.") {
		// Slack refuses a message over its limits, whole.
		call.Error, call.Refused = CheckMessage(args.Get("text"), call.Blocks)
	}
	for i, f := range s.faults {
		if f.Method == "" || f.Method == method {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			call.Status = f.Status
			if f.Status == http.StatusTooManyRequests {
				call.RetryAfter = time.Duration(f.RetryAfter) * time.Second
			}
			s.calls = append(s.calls, call)
			if f.Status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(f.Status)
				fmt.Fprint(w, `{"ok":false,"error":"ratelimited"}`)
				return
			}
			http.Error(w, "upstream trouble", f.Status)
			return
		}
	}
	if method == "chat.update" && s.updateLimit > 0 {
		if wait := s.spendUpdateLocked(call.At); wait > 0 {
			call.Status, call.RetryAfter = http.StatusTooManyRequests, wait
			s.calls = append(s.calls, call)
			w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"ok":false,"error":"ratelimited"}`)
			return
		}
	}
	var resp map[string]any
	switch {
	case method == "apps.connections.open" && call.Error == "":
		resp, call.Error = s.openConnection(token)
	case token == "":
		call.Error = "not_authed"
	case token != s.Token:
		call.Error = "invalid_auth"
	case call.Error != "":
	default:
		resp, call.Error = s.do(method, args, call.Blocks)
	}
	s.calls = append(s.calls, call)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if call.Error != "" {
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": call.Error})
		return
	}
	resp["ok"] = true
	json.NewEncoder(w).Encode(resp)
}

// spendUpdateLocked counts a chat.update at now against the limit, or
// returns how long (in whole seconds, at least 1) until there is room.
func (s *Server) spendUpdateLocked(now time.Time) time.Duration {
	keep := s.updates[:0]
	for _, at := range s.updates {
		if now.Sub(at) < s.updatePer {
			keep = append(keep, at)
		}
	}
	s.updates = keep
	if len(s.updates) < s.updateLimit {
		s.updates = append(s.updates, now)
		return 0
	}
	wait := s.updates[0].Add(s.updatePer).Sub(now)
	return max((wait+time.Second-1)/time.Second*time.Second, time.Second)
}

// do carries out one authorised call; the mutex is held.
func (s *Server) do(method string, args url.Values, blocks []map[string]any) (map[string]any, string) {
	channel := args.Get("channel")
	switch method {
	case "auth.test":
		return map[string]any{"url": "https://infrabot-test.slack.com/", "team": "Infra", "user": "infrabot",
			"team_id": "T0INFRA", "user_id": BotUserID, "bot_id": "B0INFRABOT"}, ""
	case "conversations.open":
		users := args.Get("users")
		if users == "" || strings.Contains(users, ",") {
			return nil, "user_not_found"
		}
		return map[string]any{"channel": map[string]any{"id": "D" + strings.TrimPrefix(users, "U")}}, ""
	case "chat.postMessage", "chat.postEphemeral":
		if channel == "" || s.missing[channel] {
			return nil, "channel_not_found"
		}
		if args.Get("text") == "" && blocks == nil {
			return nil, "no_text"
		}
		s.clock++
		m := &Message{Channel: channel, TS: fmt.Sprintf("%d.%06d", s.clock, len(s.messages)+1), ThreadTS: args.Get("thread_ts"), Text: args.Get("text"), Blocks: blocks}
		if md := args.Get("metadata"); md != "" && method == "chat.postMessage" {
			if err := json.Unmarshal([]byte(md), &m.Metadata); err != nil {
				return nil, "invalid_metadata"
			}
		}
		if method == "chat.postEphemeral" {
			if args.Get("user") == "" {
				return nil, "user_not_found"
			}
			m.Ephemeral, m.User = true, args.Get("user")
			s.messages = append(s.messages, m)
			return map[string]any{"message_ts": m.TS}, ""
		}
		s.messages = append(s.messages, m)
		return map[string]any{"channel": channel, "ts": m.TS, "message": s.wire(m)}, ""
	case "chat.update":
		if channel == "" || s.missing[channel] {
			return nil, "channel_not_found"
		}
		for _, m := range s.messages {
			if m.Channel == channel && m.TS == args.Get("ts") && !m.Ephemeral {
				if args.Get("text") == "" && blocks == nil {
					return nil, "no_text"
				}
				m.Text, m.Blocks = args.Get("text"), blocks
				m.Updates++
				return map[string]any{"channel": channel, "ts": m.TS, "text": m.Text, "message": s.wire(m)}, ""
			}
		}
		return nil, "message_not_found"
	case "conversations.history":
		// The channel's messages, newest first, thread replies left out;
		// limit (default 100) of them, and has_more when there are more.
		if channel == "" || s.missing[channel] {
			return nil, "channel_not_found"
		}
		var out []any
		for i := len(s.messages) - 1; i >= 0; i-- {
			m := s.messages[i]
			if m.Channel == channel && !m.Ephemeral && (m.ThreadTS == "" || m.ThreadTS == m.TS) {
				out = append(out, s.wireWith(m, args.Get("include_all_metadata") == "1"))
			}
		}
		limit := 100
		if n, err := strconv.Atoi(args.Get("limit")); err == nil && n > 0 {
			limit = n
		}
		more := len(out) > limit
		if more {
			out = out[:limit]
		}
		return map[string]any{"messages": orNone(out), "has_more": more}, ""
	case "conversations.replies":
		// A thread: its parent, then its replies oldest first.
		if channel == "" || s.missing[channel] {
			return nil, "channel_not_found"
		}
		ts := args.Get("ts")
		var out []any
		for _, m := range s.messages {
			if m.Channel == channel && !m.Ephemeral && (m.TS == ts || m.ThreadTS == ts) {
				out = append(out, s.wireWith(m, args.Get("include_all_metadata") == "1"))
			}
		}
		if len(out) == 0 {
			return nil, "thread_not_found"
		}
		return map[string]any{"messages": out, "has_more": false}, ""
	}
	return nil, "unknown_method"
}

func orNone(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

func (s *Server) wire(m *Message) map[string]any { return s.wireWith(m, false) }

// wireWith is m as Slack's API returns a message, with its metadata when
// metadata is true (include_all_metadata).
func (s *Server) wireWith(m *Message, metadata bool) map[string]any {
	out := map[string]any{"type": "message", "user": BotUserID, "bot_id": "B0INFRABOT", "text": m.Text, "ts": m.TS}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	if metadata && m.Metadata != nil {
		out["metadata"] = m.Metadata
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	return out
}

// WaitFor waits until cond holds, checking it whenever the fake is
// called; the test fails if it does not hold within a generous limit
// (a hang, not a slow machine).
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
			t.Fatalf("Slack never saw %s", what)
		}
	}
}

// CommandResponse is what Slack does with the body of the 200 an app
// acknowledged a slash command with: a JSON message ({"response_type",
// "text", "blocks"}) becomes the command's reply in channel, shown to
// everyone (in_channel) or to user alone (ephemeral, Slack's default). An
// empty body shows nothing. It is recorded as a call of method
// "command.response"; a message over Slack's limits is refused, as
// chat.postMessage would refuse it.
func (s *Server) CommandResponse(channel, user string, body []byte) Call {
	s.mu.Lock()
	defer func() {
		s.notifyLocked()
		s.mu.Unlock()
	}()
	call := Call{Method: "command.response", Args: url.Values{"channel": {channel}, "user": {user}}, Status: http.StatusOK, At: time.Now()}
	var msg struct {
		ResponseType string           `json:"response_type"`
		Text         string           `json:"text"`
		Blocks       []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		call.Error = "invalid_json"
		s.calls = append(s.calls, call)
		return call
	}
	call.Args.Set("response_type", msg.ResponseType)
	call.Args.Set("text", msg.Text)
	call.Blocks = msg.Blocks
	call.Error, call.Refused = CheckMessage(msg.Text, msg.Blocks)
	if call.Error == "" && msg.Text == "" && msg.Blocks == nil {
		call.Error = "no_text"
	}
	s.calls = append(s.calls, call)
	if call.Error != "" {
		return call
	}
	s.clock++
	m := &Message{Channel: channel, TS: fmt.Sprintf("%d.%06d", s.clock, len(s.messages)+1), Text: msg.Text, Blocks: msg.Blocks}
	if msg.ResponseType != "in_channel" {
		m.Ephemeral, m.User = true, user
	}
	s.messages = append(s.messages, m)
	return call
}
