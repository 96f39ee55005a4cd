// Package pagerdutytest is a fake PagerDuty Events API v2 on loopback:
// POST /v2/enqueue checks events as PagerDuty does (routing key, action,
// dedup key, payload fields and severity) and answers in its JSON — 202
// when taken, 400 with the reasons when not — and, on demand, 429 or 5xx
// for the next requests.
package pagerdutytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// Event is an Events API v2 event as received.
type Event struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary       string         `json:"summary"`
		Source        string         `json:"source"`
		Severity      string         `json:"severity"`
		Timestamp     string         `json:"timestamp"`
		Component     string         `json:"component"`
		CustomDetails map[string]any `json:"custom_details"`
	} `json:"payload"`
	Links []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
	Client string `json:"client"`
}

// Request is one request the fake answered.
type Request struct {
	Event  Event
	Status int
}

// Server is the fake.
type Server struct {
	srv *httptest.Server
	key string

	mu       sync.Mutex
	answers  []int
	requests []Request
	changed  chan struct{}
}

// NewServer starts a fake that takes events for routingKey; it stops
// when the test ends.
func NewServer(t testing.TB, routingKey string) *Server {
	s := &Server{key: routingKey, changed: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the fake's base URL, for pagerduty.Options.URL.
func (s *Server) URL() string { return s.srv.URL }

// Answer makes the next requests answered with these statuses (429, 500,
// 400…) whatever they hold; after them, events are judged as PagerDuty
// does.
func (s *Server) Answer(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = append(s.answers, statuses...)
}

// Requests returns every request answered, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Taken returns the events answered 202, in order.
func (s *Server) Taken() []Event {
	var out []Event
	for _, r := range s.Requests() {
		if r.Status == http.StatusAccepted {
			out = append(out, r.Event)
		}
	}
	return out
}

// WaitFor waits until cond holds, failing the test after 10 seconds.
func (s *Server) WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	limit := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-time.After(20 * time.Millisecond):
		case <-limit:
			t.Fatalf("PagerDuty never saw %s", what)
		}
	}
}

var severities = []string{"critical", "error", "warning", "info"}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 512<<10))
	var ev Event
	status, answer := http.StatusAccepted, map[string]any{}
	var errs []string
	if err := json.Unmarshal(body, &ev); err != nil {
		errs = append(errs, "Invalid JSON")
	} else {
		if ev.RoutingKey != s.key {
			errs = append(errs, "'routing_key' is invalid")
		}
		switch ev.EventAction {
		case "trigger":
			p := ev.Payload
			if p == nil {
				errs = append(errs, "'payload' is missing or blank")
				break
			}
			if p.Summary == "" || len(p.Summary) > 1024 {
				errs = append(errs, "'payload.summary' is missing, blank or longer than 1024")
			}
			if p.Source == "" {
				errs = append(errs, "'payload.source' is missing or blank")
			}
			if !slices.Contains(severities, p.Severity) {
				errs = append(errs, "'payload.severity' must be one of critical, error, warning, info")
			}
		case "acknowledge", "resolve":
			if ev.DedupKey == "" {
				errs = append(errs, "'dedup_key' is required to "+ev.EventAction)
			}
		default:
			errs = append(errs, "'event_action' is invalid")
		}
	}
	s.mu.Lock()
	if len(s.answers) > 0 {
		status = s.answers[0]
		s.answers = s.answers[1:]
	} else if len(errs) > 0 {
		status = http.StatusBadRequest
	}
	s.requests = append(s.requests, Request{Event: ev, Status: status})
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	switch status {
	case http.StatusAccepted:
		answer = map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey}
	case http.StatusBadRequest:
		if len(errs) == 0 {
			errs = []string{"forced by the test"}
		}
		answer = map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs}
	case http.StatusTooManyRequests:
		answer = map[string]any{"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."}
	default:
		answer = map[string]any{"status": "error", "message": fmt.Sprintf("status %d", status)}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(answer)
}
