package discordtest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"testing"
	"time"
)

// User is a Discord user as interactions carry them.
type User struct {
	ID, Name string
}

// Interaction is an interaction ready to deliver, as Discord's JSON.
type Interaction map[string]any

// ID returns the interaction's id.
func (ix Interaction) ID() string { s, _ := ix["id"].(string); return s }

// Command builds the /infra SUB interaction typed by user in channel
// (guild "" for a direct message), with opts as its typed options: a
// string is a STRING option, an int an INTEGER, a bool a BOOLEAN. It
// issues the interaction's token.
func (s *Server) Command(user User, guild, channel, sub string, opts map[string]any) Interaction {
	names := make([]string, 0, len(opts))
	for n := range opts {
		names = append(names, n)
	}
	sort.Strings(names)
	var options []any
	for _, n := range names {
		typ := 3
		switch opts[n].(type) {
		case int, int64:
			typ = 4
		case bool:
			typ = 5
		}
		options = append(options, map[string]any{"name": n, "type": typ, "value": opts[n]})
	}
	sc := map[string]any{"name": sub, "type": 1}
	if options != nil {
		sc["options"] = options
	}
	ix := s.interaction(user, guild, channel, 2)
	ix["data"] = map[string]any{"id": "1200000000000000001", "name": "infra", "type": 1, "options": []any{sc}}
	return ix
}

// Autocomplete builds the interaction Discord sends while user types
// option (focused) of /infra SUB.
func (s *Server) Autocomplete(user User, guild, channel, sub, option, typed string) Interaction {
	ix := s.interaction(user, guild, channel, 4)
	ix["data"] = map[string]any{"id": "1200000000000000001", "name": "infra", "type": 1, "options": []any{
		map[string]any{"name": sub, "type": 1, "options": []any{map[string]any{"name": option, "type": 3, "value": typed, "focused": true}}},
	}}
	return ix
}

// Click builds user's click on the button labelled label of m.
func (s *Server) Click(t testing.TB, user User, guild string, m Message, label string) Interaction {
	t.Helper()
	var customID any
	for _, b := range Buttons(m) {
		if b["label"] == label {
			customID = b["custom_id"]
		}
	}
	if customID == nil {
		t.Fatalf("message %s has no button %q:\n%s", m.ID, label, Text(m))
	}
	ix := s.interaction(user, guild, m.ChannelID, 3)
	ix["data"] = map[string]any{"custom_id": customID, "component_type": 2}
	s.mu.Lock()
	ix["message"] = wire(&m)
	s.mu.Unlock()
	return ix
}

// Ping is the PING Discord sends to check an endpoint.
func (s *Server) Ping() Interaction {
	return Interaction{"id": s.NewID(), "application_id": s.AppID, "type": 1, "token": "ping-token", "version": 1}
}

func (s *Server) interaction(user User, guild, channel string, typ int) Interaction {
	id := s.NewID()
	ix := Interaction{
		"id": id, "application_id": s.AppID, "type": typ, "channel_id": channel,
		"token": s.issue(id, channel), "version": 1, "locale": "en-US", "app_permissions": "2147483648",
	}
	u := map[string]any{"id": user.ID, "username": user.Name, "discriminator": "0", "global_name": user.Name}
	if guild != "" {
		ix["guild_id"] = guild
		ix["member"] = map[string]any{"user": u, "roles": []any{}, "joined_at": "2025-01-01T00:00:00+00:00", "permissions": "2147483648"}
		ix["context"] = 0
	} else {
		ix["user"] = u
		ix["context"] = 1
	}
	return ix
}

// App is Discord's side of an Interactions Endpoint: it signs
// interactions with the application's key and posts them to the app,
// and takes the app's answer as the interaction's response.
type App struct {
	URL    string // where the app serves /discord/interactions
	Key    ed25519.PrivateKey
	Server *Server
	// Now is Discord's clock for the signature timestamp; time.Now when nil.
	Now func() time.Time
	// Client posts the interactions; http.DefaultClient when nil. Give
	// it Discord's 3-second timeout to fail on an answer that comes late.
	Client *http.Client
}

// Request is a signed delivery, kept so that a test can send it again or
// spoil it.
type Request struct {
	Body   []byte
	Header http.Header
	// Token is the interaction's token, so that the app's answer can be
	// recorded as its response.
	Token string
}

// Response is the app's answer.
type Response struct {
	Status int
	Body   string
}

// Sign signs ix as Discord does: Ed25519 over timestamp + body.
func (a *App) Sign(ix Interaction) *Request {
	body, _ := json.Marshal(ix)
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	sig := ed25519.Sign(a.Key, append([]byte(ts), body...))
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Signature-Ed25519", hex.EncodeToString(sig))
	h.Set("X-Signature-Timestamp", ts)
	tok, _ := ix["token"].(string)
	return &Request{Body: body, Header: h, Token: tok}
}

// Send posts r to the app; a 200 answer is the interaction's response.
func (a *App) Send(t testing.TB, r *Request) Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.URL+"/discord/interactions", bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.Header.Clone()
	if r.Token != "" && a.Server != nil {
		read := a.Server.delivering(r.Token)
		defer read()
	}
	client := http.DefaultClient
	if a.Client != nil {
		client = a.Client
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("posting an interaction: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && r.Token != "" && a.Server != nil {
		if err := a.Server.answer(r.Token, b); err != nil {
			t.Fatal(err)
		}
	}
	return Response{Status: resp.StatusCode, Body: string(b)}
}

// Hold hands r to h in-process, as Send would over HTTP, but holds the
// answer back as a slow network would: h's writes block until release is
// called. Discord takes what h wrote as the interaction's response when h
// flushes it or returns, as it does when the bytes reach it. release
// waits for h to return and gives its answer. An app that calls on the
// interaction's webhook before its answer is out meets Discord's refusal
// (there is no response yet), since Hold keeps no delivery open.
func (a *App) Hold(t testing.TB, h http.Handler, r *Request) (release func() Response) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/discord/interactions", bytes.NewReader(r.Body))
	req.Header = r.Header.Clone()
	hw := &heldWriter{header: http.Header{}, status: http.StatusOK, open: make(chan struct{}), app: a, token: r.Token}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(hw, req)
		hw.Flush()
	}()
	return func() Response {
		t.Helper()
		close(hw.open)
		<-done
		if hw.err != nil {
			t.Fatal(hw.err)
		}
		return Response{Status: hw.status, Body: hw.body.String()}
	}
}

// heldWriter is the ResponseWriter of Hold.
type heldWriter struct {
	header http.Header
	status int
	open   chan struct{} // closed by release
	body   bytes.Buffer
	app    *App
	token  string
	sent   bool
	err    error
}

func (w *heldWriter) Header() http.Header { return w.header }

func (w *heldWriter) WriteHeader(status int) {
	<-w.open
	w.status = status
}

func (w *heldWriter) Write(b []byte) (int, error) {
	<-w.open
	return w.body.Write(b)
}

// Flush hands what was written to Discord, once.
func (w *heldWriter) Flush() {
	<-w.open
	if w.sent {
		return
	}
	w.sent = true
	if w.status == http.StatusOK && w.token != "" && w.app.Server != nil {
		w.err = w.app.Server.answer(w.token, w.body.Bytes())
	}
}

// Deliver signs and sends ix.
func (a *App) Deliver(t testing.TB, ix Interaction) Response {
	t.Helper()
	return a.Send(t, a.Sign(ix))
}

// String shows an interaction for test failures.
func (ix Interaction) String() string {
	return fmt.Sprintf("interaction %s (type %v)", ix.ID(), ix["type"])
}
