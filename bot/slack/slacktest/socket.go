package slacktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode, as Slack speaks it to an app with no public endpoint:
// apps.connections.open, called with the app-level token, answers a
// one-use WebSocket URL; on that socket Slack says hello, then sends
// envelopes (slash commands, interactivity, events) that the app must
// acknowledge with {"envelope_id": …}, and pings the app now and then.

// Envelope is one Socket Mode delivery.
type Envelope struct {
	// ID is the envelope_id; Push assigns one when it is empty.
	ID string
	// Type is "slash_commands", "interactive" or "events_api".
	Type                   string
	Payload                any
	AcceptsResponsePayload bool
	RetryAttempt           int
	RetryReason            string
}

// Ack is an acknowledgement the app sent back on the socket.
type Ack struct {
	EnvelopeID string
	// Payload is the ack's payload, if it had one.
	Payload json.RawMessage
}

type socketConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	done chan struct{}
}

func (c *socketConn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// EnableSocketMode makes the fake accept appToken (xapp-…) on
// apps.connections.open and serve Socket Mode connections.
func (s *Server) EnableSocketMode(appToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appToken = appToken
	if s.tickets == nil {
		s.tickets = map[string]bool{}
	}
}

// PingInterval is how often the fake pings each socket, as Slack does;
// slack-go's client reconnects when it hears no ping for 30 seconds.
var PingInterval = 5 * time.Second

// openConnection answers apps.connections.open; the mutex is held.
func (s *Server) openConnection(token string) (map[string]any, string) {
	switch {
	case token == "":
		return nil, "not_authed"
	case s.appToken == "" || token == s.Token:
		// Slack's answer to a bot token, or to an app without Socket Mode.
		return nil, "not_allowed_token_type"
	case token != s.appToken:
		return nil, "invalid_auth"
	}
	s.socketSeq++
	ticket := fmt.Sprintf("ticket-%d", s.socketSeq)
	s.tickets[ticket] = false
	u := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link/?ticket=" + ticket + "&app_id=A0INFRABOT"
	return map[string]any{"url": u}, ""
}

// serveSocket is the WebSocket end of a ticket from apps.connections.open.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	used, known := s.tickets[ticket]
	if known && !used {
		s.tickets[ticket] = true
	}
	s.mu.Unlock()
	if !known || used {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &socketConn{ws: ws, done: make(chan struct{})}
	defer func() {
		close(c.done)
		ws.Close()
		s.mu.Lock()
		for i, o := range s.conns {
			if o == c {
				s.conns = append(s.conns[:i:i], s.conns[i+1:]...)
				break
			}
		}
		s.notifyLocked()
		s.mu.Unlock()
	}()
	s.mu.Lock()
	n := len(s.conns) + 1
	s.mu.Unlock()
	hello := map[string]any{
		"type": "hello", "num_connections": n,
		"debug_info":      map[string]any{"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": "A0INFRABOT"},
	}
	if c.write(hello) != nil {
		return
	}
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.connects++
	s.notifyLocked()
	s.mu.Unlock()
	go func() {
		t := time.NewTicker(PingInterval)
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-t.C:
				if ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(10*time.Second)) != nil {
					return
				}
			}
		}
	}()
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(b, &ack) != nil || ack.EnvelopeID == "" {
			s.mu.Lock()
			s.badFrames = append(s.badFrames, string(b))
			s.notifyLocked()
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		s.acks = append(s.acks, Ack{EnvelopeID: ack.EnvelopeID, Payload: ack.Payload})
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// Push sends env on the newest socket, waiting for the app to connect
// if it has not yet, and returns the envelope id.
func (s *Server) Push(t testing.TB, env Envelope) string {
	t.Helper()
	var c *socketConn
	s.WaitFor(t, "a Socket Mode connection", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.conns) > 0 {
			c = s.conns[len(s.conns)-1]
		}
		return c != nil
	})
	s.mu.Lock()
	if env.ID == "" {
		s.envSeq++
		env.ID = fmt.Sprintf("%08x-fake-4e0f-9d2b-%012d", s.envSeq, s.envSeq)
	}
	s.pushed = append(s.pushed, env)
	s.mu.Unlock()
	frame := map[string]any{
		"envelope_id": env.ID, "type": env.Type, "payload": env.Payload,
		"accepts_response_payload": env.AcceptsResponsePayload,
	}
	if env.RetryAttempt > 0 {
		frame["retry_attempt"], frame["retry_reason"] = env.RetryAttempt, env.RetryReason
	}
	if err := c.write(frame); err != nil {
		t.Fatalf("pushing envelope %s: %v", env.ID, err)
	}
	return env.ID
}

// Disconnect asks every open socket to reconnect, as Slack does before
// it recycles a connection ("refresh_requested").
func (s *Server) Disconnect(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	conns := append([]*socketConn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		if err := c.write(map[string]any{"type": "disconnect", "reason": "refresh_requested",
			"debug_info": map[string]any{"host": "applink-fake"}}); err != nil {
			t.Logf("sending disconnect: %v", err)
		}
	}
}

// Connects counts the Socket Mode connections the app has opened.
func (s *Server) Connects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects
}

// OpenSockets counts the Socket Mode connections open now.
func (s *Server) OpenSockets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Acks returns the acknowledgements received so far, in order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// Pushed returns the envelopes pushed so far, in order.
func (s *Server) Pushed() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Envelope(nil), s.pushed...)
}

// BadFrames returns frames from the app that were not acknowledgements.
func (s *Server) BadFrames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.badFrames...)
}

// Acked reports how many times envelope id was acknowledged.
func (s *Server) Acked(id string) int {
	n := 0
	for _, a := range s.Acks() {
		if a.EnvelopeID == id {
			n++
		}
	}
	return n
}

// WaitAck waits until envelope id has been acknowledged.
func (s *Server) WaitAck(t testing.TB, id string) {
	t.Helper()
	s.WaitFor(t, "the ack of envelope "+id, func() bool { return s.Acked(id) > 0 })
}

// CommandEnvelope is a /infra slash command typed by user in channel,
// as Socket Mode delivers it.
func (s *Server) CommandEnvelope(user, channel, text string) Envelope {
	form := commandForm(s.n.Add(1), user, channel, text)
	payload := map[string]string{}
	for k := range form {
		payload[k] = form.Get(k)
	}
	payload["is_enterprise_install"] = "false"
	return Envelope{Type: "slash_commands", Payload: payload, AcceptsResponsePayload: true}
}

// ClickEnvelope is user's click on the button labelled label of m, as
// Socket Mode delivers it.
func (s *Server) ClickEnvelope(t testing.TB, user string, m Message, label string) Envelope {
	t.Helper()
	return Envelope{Type: "interactive", Payload: clickPayload(t, s.n.Add(1), user, m, label), AcceptsResponsePayload: false}
}

// EventEnvelope is an Events API delivery of event, as Socket Mode
// delivers it.
func (s *Server) EventEnvelope(eventID string, event map[string]any) Envelope {
	return Envelope{Type: "events_api", Payload: eventCallback(eventID, event)}
}

// closeSockets ends every open socket, when the test ends.
func (s *Server) closeSockets() {
	s.mu.Lock()
	conns := append([]*socketConn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.ws.Close()
	}
}

// notifyLocked wakes WaitFor; the mutex is held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}
