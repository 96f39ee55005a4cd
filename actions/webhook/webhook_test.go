package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"

	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/oncall"
	"github.com/infrabot/infrabot/actions/webhook"
)

// receiver is a webhook endpoint that verifies what it gets as a
// receiver would, and answers status.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	got    []webhook.Body
	errs   []error
}

func newReceiver(t *testing.T, secret string, now time.Time) *receiver {
	r := &receiver{status: http.StatusNoContent}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.Verify(secret, req.Header.Get("X-Infrabot-Signature"), req.Header.Get("X-Infrabot-Timestamp"), body, now, 5*time.Minute); err != nil {
			r.errs = append(r.errs, err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var b webhook.Body
		if err := json.Unmarshal(body, &b); err != nil || req.Header.Get("X-Infrabot-Event") != b.Event {
			r.errs = append(r.errs, errors.New("bad body"))
		}
		r.got = append(r.got, b)
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.Close)
	return r
}

func TestSendSignedAndVerified(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	r := newReceiver(t, "hook-secret", now)
	s, err := webhook.New(webhook.Options{URL: r.URL, Secret: "hook-secret", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ev := oncall.PagerEvent{Action: oncall.Trigger, DedupKey: "infrabot-incident-3", Incident: 3, Check: "web", Summary: "incident 3: web failing", Severity: "critical"}
	if err := s.Send(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if len(r.got) != 1 || r.got[0].Event != "trigger" || r.got[0].DedupKey != "infrabot-incident-3" || r.got[0].Incident != 3 {
		t.Errorf("the receiver got %+v (errors %v)", r.got, r.errs)
	}

	wrong, _ := webhook.New(webhook.Options{URL: r.URL, Secret: "not-the-secret", Now: func() time.Time { return now }})
	var refused *oncall.Refusal
	if err := wrong.Send(context.Background(), ev); !errors.As(err, &refused) {
		t.Errorf("a bad signature: error %v, want the receiver's refusal", err)
	}
	old, _ := webhook.New(webhook.Options{URL: r.URL, Secret: "hook-secret", Now: func() time.Time { return now.Add(-time.Hour) }})
	if err := old.Send(context.Background(), ev); !errors.As(err, &refused) {
		t.Errorf("an old timestamp: error %v, want the receiver's refusal", err)
	}
}

func TestSendAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status           int
		limited, refused bool
	}{{200, false, false}, {429, true, false}, {404, false, true}, {503, false, false}} {
		now := time.Now()
		r := newReceiver(t, "k", now)
		r.status = tc.status
		s, _ := webhook.New(webhook.Options{URL: r.URL, Secret: "k", Now: func() time.Time { return now }})
		err := s.Send(context.Background(), oncall.PagerEvent{Action: oncall.Resolve, DedupKey: "d"})
		var refused *oncall.Refusal
		var limited *oncall.RateLimit
		if errors.As(err, &limited) != tc.limited || errors.As(err, &refused) != tc.refused || (tc.status >= 500) != (err != nil && !tc.limited && !tc.refused) {
			t.Errorf("status %d: error %v", tc.status, err)
		}
	}
}
