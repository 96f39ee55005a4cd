// Package pagerduty speaks to PagerDuty with the standard library: it
// sends on-call's page events to a service through the Events API v2
// (Client, an oncall.Pager) and takes PagerDuty's v3 webhooks, whose
// signatures it verifies, so that an incident acknowledged or resolved in
// PagerDuty is acknowledged or resolved in infrabot (Webhook).
package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/infrabot/infrabot/actions/oncall"
)

// DefaultURL is PagerDuty's Events API.
const DefaultURL = "https://events.pagerduty.com"

// Options configure a Client.
type Options struct {
	// URL is the Events API's base URL; DefaultURL when "" (tests point
	// it at a fake on loopback).
	URL string
	// RoutingKey is the service's integration key, a secret: it is sent
	// in the body and never logged or shown.
	RoutingKey string
	// HTTP is the client requests go through; one with a 10 s timeout
	// when nil.
	HTTP *http.Client
}

// Client sends events to one PagerDuty service.
type Client struct {
	url  string
	key  string
	http *http.Client
}

// New returns a client for the service whose routing key opts give.
func New(opts Options) (*Client, error) {
	if opts.RoutingKey == "" {
		return nil, fmt.Errorf("pagerduty: a routing key is required")
	}
	if opts.URL == "" {
		opts.URL = DefaultURL
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{url: strings.TrimRight(opts.URL, "/") + "/v2/enqueue", key: opts.RoutingKey, http: opts.HTTP}, nil
}

// event is the Events API v2 body.
type event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *payload `json:"payload,omitempty"`
	Links       []link   `json:"links,omitempty"`
	Client      string   `json:"client,omitempty"`
}

type payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

type link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// answer is what the Events API says back.
type answer struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

// MaxSummary is the longest summary PagerDuty takes.
const MaxSummary = 1024

// Send posts ev to /v2/enqueue. 202 means PagerDuty took it; 400 is an
// *oncall.Refusal with PagerDuty's reasons; 429 an *oncall.RateLimit;
// anything else an error to retry.
func (c *Client) Send(ctx context.Context, ev oncall.PagerEvent) error {
	body := event{RoutingKey: c.key, EventAction: ev.Action, DedupKey: ev.DedupKey, Client: "infrabot"}
	if ev.Action == oncall.Trigger {
		summary := cut(ev.Summary, MaxSummary)
		sev := ev.Severity
		if sev == "" {
			sev = "critical"
		}
		body.Payload = &payload{
			Summary: summary, Source: ev.Source, Severity: sev, Component: ev.Check,
			CustomDetails: map[string]any{"incident": ev.Incident, "check": ev.Check, "level": ev.Level},
		}
		if !ev.Time.IsZero() {
			body.Payload.Timestamp = ev.Time.UTC().Format(time.RFC3339)
		}
		for _, l := range ev.Links {
			if strings.HasPrefix(l.URL, "http://") || strings.HasPrefix(l.URL, "https://") {
				body.Links = append(body.Links, link{Href: l.URL, Text: l.Label})
			}
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "infrabot")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("pagerduty: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var a answer
	_ = json.Unmarshal(raw, &a)
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return &oncall.RateLimit{After: oncall.RetryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode == http.StatusBadRequest:
		msg := a.Message
		if msg == "" {
			msg = "the event is invalid"
		}
		if len(a.Errors) > 0 {
			msg += ": " + strings.Join(a.Errors, "; ")
		}
		return &oncall.Refusal{Message: fmt.Sprintf("PagerDuty answered 400: %s", msg)}
	case resp.StatusCode >= 500:
		return fmt.Errorf("pagerduty: %s", resp.Status)
	}
	return &oncall.Refusal{Message: fmt.Sprintf("PagerDuty answered %s", resp.Status)}
}

// cut shortens s to at most n bytes, on a character boundary, ending
// with an ellipsis when it was cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	end := n - len(more)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + more
}
