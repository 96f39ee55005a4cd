package discordtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
)

// gateway is the fake's gateway: one bot session, its dispatches
// numbered by sequence so that a RESUME replays what a dropped connection
// missed.
type gateway struct {
	// HeartbeatInterval (ms) is sent in HELLO.
	interval int

	writeMu sync.Mutex // serialises writes to conn
	conn    *websocket.Conn

	sessionID string
	seq       int64
	log       []dispatch
	ops       []GatewayOp
}

type dispatch struct {
	seq  int64
	t    string
	data any
}

// GatewayOp is one payload the app sent on the gateway.
type GatewayOp struct {
	Op int
	// Seq is the sequence a heartbeat or RESUME carried.
	Seq       int64
	SessionID string
	Intents   int
}

func (g *gateway) init() { g.interval = 45000 }

// HeartbeatInterval sets the interval (ms) the next HELLO asks for.
func (s *Server) HeartbeatInterval(ms int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gw.interval = ms
}

// GatewayOps returns what the app has sent on the gateway, in order.
func (s *Server) GatewayOps() []GatewayOp {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]GatewayOp(nil), s.gw.ops...)
}

// CountOps counts the payloads the app sent with opcode op.
func (s *Server) CountOps(op int) int {
	n := 0
	for _, o := range s.GatewayOps() {
		if o.Op == op {
			n++
		}
	}
	return n
}

// Connected reports whether the app holds a gateway connection.
func (s *Server) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gw.conn != nil
}

// Drop cuts the gateway connection without a close frame, as a network
// failure would; dispatches made before the app comes back are replayed
// when it resumes.
func (s *Server) Drop() {
	s.mu.Lock()
	c := s.gw.conn
	s.gw.conn = nil
	s.notifyLocked()
	s.mu.Unlock()
	if c != nil {
		c.UnderlyingConn().Close()
	}
}

func (s *Server) closeGateway() { s.Drop() }

// Dispatch sends an event (op 0) to the app, or keeps it for a RESUME
// while the app is not connected.
func (s *Server) Dispatch(t string, data any) {
	s.mu.Lock()
	s.gw.seq++
	d := dispatch{seq: s.gw.seq, t: t, data: data}
	s.gw.log = append(s.gw.log, d)
	c := s.gw.conn
	s.mu.Unlock()
	if c != nil {
		s.write(c, map[string]any{"op": 0, "s": d.seq, "t": d.t, "d": d.data})
	}
}

func (s *Server) write(c *websocket.Conn, v any) error {
	s.gw.writeMu.Lock()
	defer s.gw.writeMu.Unlock()
	return c.WriteJSON(v)
}

// serveGateway speaks the gateway protocol on one connection: HELLO, then
// IDENTIFY (READY) or RESUME (the missed dispatches, then RESUMED), then
// heartbeats answered with HEARTBEAT_ACK.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	if (r.URL.Query().Get("v") != "9" && r.URL.Query().Get("v") != "10") || r.URL.Query().Get("encoding") != "json" {
		http.Error(w, "bad gateway version or encoding", http.StatusBadRequest)
		return
	}
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	s.mu.Lock()
	interval := s.gw.interval
	s.mu.Unlock()
	if s.write(c, map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": interval}}) != nil {
		return
	}
	for {
		var p struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if err := c.ReadJSON(&p); err != nil {
			return
		}
		switch p.Op {
		case 1: // HEARTBEAT
			var seq int64
			json.Unmarshal(p.D, &seq)
			s.record(GatewayOp{Op: 1, Seq: seq})
			if s.write(c, map[string]any{"op": 11}) != nil {
				return
			}
		case 2: // IDENTIFY
			var id struct {
				Token   string `json:"token"`
				Intents int    `json:"intents"`
			}
			json.Unmarshal(p.D, &id)
			s.record(GatewayOp{Op: 2, Intents: id.Intents})
			if strings.TrimPrefix(id.Token, "Bot ") != s.Token {
				c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."))
				return
			}
			s.mu.Lock()
			s.gw.sessionID = "session-" + s.newIDLocked()
			s.gw.seq++
			ready := dispatch{seq: s.gw.seq, t: "READY", data: map[string]any{
				"v": 10, "session_id": s.gw.sessionID, "resume_gateway_url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway",
				"user":        map[string]any{"id": BotUserID, "username": "infrabot", "discriminator": "0", "bot": true},
				"guilds":      []any{},
				"application": map[string]any{"id": s.AppID, "flags": 0},
			}}
			s.gw.log = append(s.gw.log, ready)
			s.gw.conn = c
			s.notifyLocked()
			s.mu.Unlock()
			s.write(c, map[string]any{"op": 0, "s": ready.seq, "t": ready.t, "d": ready.data})
		case 6: // RESUME
			var res struct {
				Token     string `json:"token"`
				SessionID string `json:"session_id"`
				Seq       int64  `json:"seq"`
			}
			json.Unmarshal(p.D, &res)
			s.record(GatewayOp{Op: 6, Seq: res.Seq, SessionID: res.SessionID})
			s.mu.Lock()
			ok := res.SessionID == s.gw.sessionID && strings.TrimPrefix(res.Token, "Bot ") == s.Token
			var missed []dispatch
			for _, d := range s.gw.log {
				if d.seq > res.Seq {
					missed = append(missed, d)
				}
			}
			if ok {
				s.gw.seq++
				missed = append(missed, dispatch{seq: s.gw.seq, t: "RESUMED", data: map[string]any{}})
				s.gw.conn = c
				s.notifyLocked()
			}
			s.mu.Unlock()
			if !ok {
				s.write(c, map[string]any{"op": 9, "d": false}) // INVALID_SESSION
				continue
			}
			// As Discord does: the missed events in order, then RESUMED.
			for _, d := range missed {
				s.write(c, map[string]any{"op": 0, "s": d.seq, "t": d.t, "d": d.data})
			}
		}
	}
}

func (s *Server) record(op GatewayOp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gw.ops = append(s.gw.ops, op)
	s.notifyLocked()
}
