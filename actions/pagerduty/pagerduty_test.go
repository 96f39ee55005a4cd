package pagerduty_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/oncall"
	"github.com/infrabot/infrabot/actions/pagerduty"
	"github.com/infrabot/infrabot/actions/pagerduty/pagerdutytest"
)

const key = "R0UT1NGKEY0000000000000000000001"

func trigger() oncall.PagerEvent {
	return oncall.PagerEvent{Action: oncall.Trigger, DedupKey: "infrabot-incident-4", Incident: 4, Check: "registry-tcp",
		Summary: "incident 4: registry-tcp failing", Source: "registry-tcp", Severity: "critical", Level: 1,
		Time: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
}

// What PagerDuty answers becomes what the outbox does with the event.
func TestSendAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		answer  int
		ev      func(*oncall.PagerEvent)
		refused string
		limited bool
		retry   bool
	}{
		{name: "taken", answer: 0},
		{name: "acknowledge needs only the key", ev: func(e *oncall.PagerEvent) { e.Action, e.Summary, e.Source = oncall.Acknowledge, "", "" }},
		{name: "invalid: no source", ev: func(e *oncall.PagerEvent) { e.Source = "" }, refused: "PagerDuty answered 400: Event object is invalid: 'payload.source' is missing or blank"},
		{name: "rate limited", answer: http.StatusTooManyRequests, limited: true},
		{name: "server error", answer: http.StatusBadGateway, retry: true},
		{name: "a long summary is cut to 1024", ev: func(e *oncall.PagerEvent) { e.Summary = strings.Repeat("x", 5000) }},
		{name: "a long accented summary is cut on a character", ev: func(e *oncall.PagerEvent) { e.Summary = strings.Repeat("é", 600) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := pagerdutytest.NewServer(t, key)
			if tc.answer != 0 {
				fake.Answer(tc.answer)
			}
			c, err := pagerduty.New(pagerduty.Options{URL: fake.URL(), RoutingKey: key})
			if err != nil {
				t.Fatal(err)
			}
			ev := trigger()
			if tc.ev != nil {
				tc.ev(&ev)
			}
			err = c.Send(context.Background(), ev)
			var refused *oncall.Refusal
			var limited *oncall.RateLimit
			switch {
			case tc.refused != "":
				if !errors.As(err, &refused) || !strings.Contains(refused.Message, tc.refused) {
					t.Errorf("error %v, want a refusal saying %q", err, tc.refused)
				}
			case tc.limited:
				if !errors.As(err, &limited) {
					t.Errorf("error %v, want a rate limit", err)
				}
			case tc.retry:
				if err == nil || errors.As(err, &refused) || errors.As(err, &limited) {
					t.Errorf("error %v, want one to retry", err)
				}
			default:
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if n := len(fake.Taken()); n != 1 {
					t.Errorf("%d events taken", n)
				}
			}
			if err != nil && strings.Contains(err.Error(), key) {
				t.Error("the error holds the routing key")
			}
		})
	}
}

func TestNetworkErrorIsRetried(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, _ := pagerduty.New(pagerduty.Options{URL: url, RoutingKey: key})
	err := c.Send(context.Background(), trigger())
	var refused *oncall.Refusal
	if err == nil || errors.As(err, &refused) {
		t.Errorf("error %v, want one to retry", err)
	}
}

// incidents records what the webhook passes on.
type incidents struct {
	mu   sync.Mutex
	seen []string
}

func (i *incidents) FromPagerDuty(ctx context.Context, dedupKey, action, by string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.seen = append(i.seen, action+" "+dedupKey+" "+by)
	return nil
}

func TestWebhookSignatures(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":{"event_type":"incident.resolved","agent":{"summary":"Jane Doe"},"data":{"type":"incident","incident_key":"infrabot-incident-2"}}}`)
	tests := []struct {
		name   string
		method string
		sig    string
		status int
		passed bool
	}{
		{"signed with the current secret", "POST", pagerduty.Sign([]string{"s2"}, body), 200, true},
		{"signed with both while rotating", "POST", pagerduty.Sign([]string{"s0", "s2"}, body), 200, true},
		{"signed with an old secret", "POST", pagerduty.Sign([]string{"s0"}, body), 401, false},
		{"unsigned", "POST", "", 401, false},
		{"the valid one among more entries than PagerDuty sends", "POST", strings.Repeat("v1=,", 10000) + pagerduty.Sign([]string{"s2"}, body), 401, false},
		{"another version", "POST", strings.Replace(pagerduty.Sign([]string{"s2"}, body), "v1=", "v0=", 1), 401, false},
		{"GET", "GET", pagerduty.Sign([]string{"s2"}, body), 405, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inc := &incidents{}
			h := pagerduty.Webhook([]string{"s1", "s2"}, inc, slog.New(slog.DiscardHandler))
			req := httptest.NewRequest(tc.method, "/pagerduty/webhook", bytes.NewReader(body))
			req.Header.Set("X-PagerDuty-Signature", tc.sig)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			if got := len(inc.seen) == 1; got != tc.passed {
				t.Errorf("passed on: %v, want %v", inc.seen, tc.passed)
			}
			if tc.passed && inc.seen[0] != "resolve infrabot-incident-2 Jane Doe" {
				t.Errorf("passed on %q", inc.seen[0])
			}
		})
	}
}

// FuzzWebhook: any body and signature header gets an answer, never a
// panic, and nothing unsigned is passed on.
func FuzzWebhook(f *testing.F) {
	f.Add([]byte(`{"event":{"event_type":"incident.acknowledged","agent":{"summary":"x"},"data":{"incident_key":"infrabot-incident-1"}}}`), "v1=00")
	f.Add([]byte(`{"event":`), "")
	f.Add([]byte(`null`), "v1=,v1=zz")
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		inc := &incidents{}
		h := pagerduty.Webhook([]string{"fuzz-secret"}, inc, slog.New(slog.DiscardHandler))
		for _, s := range []string{sig, pagerduty.Sign([]string{"fuzz-secret"}, body)} {
			req := httptest.NewRequest("POST", "/pagerduty/webhook", bytes.NewReader(body))
			req.Header.Set("X-PagerDuty-Signature", s)
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		if len(inc.seen) > 1 {
			t.Fatalf("an unsigned delivery was passed on: %v", inc.seen)
		}
	})
}
