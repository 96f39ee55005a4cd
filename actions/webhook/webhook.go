// Package webhook sends on-call's page events to any HTTP endpoint as a
// JSON POST signed with a shared secret (an oncall.Pager), with the
// standard library.
//
// Each request carries:
//
//	Content-Type: application/json
//	X-Infrabot-Event: trigger | acknowledge | resolve
//	X-Infrabot-Timestamp: <unix seconds>
//	X-Infrabot-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>
//
// A receiver checks the signature with Verify, and refuses old
// timestamps so that a captured request cannot be replayed.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions/oncall"
)

// Options configure a Sender.
type Options struct {
	URL    string
	Secret string // signs each request; never sent or logged
	// HTTP is the client requests go through; one with a 10 s timeout
	// when nil.
	HTTP *http.Client
	// Now stamps requests; time.Now when nil.
	Now func() time.Time
}

// Sender posts page events to one webhook.
type Sender struct {
	url, secret string
	http        *http.Client
	now         func() time.Time
}

// New returns a sender to opts.URL.
func New(opts Options) (*Sender, error) {
	if !strings.HasPrefix(opts.URL, "http://") && !strings.HasPrefix(opts.URL, "https://") {
		return nil, fmt.Errorf("webhook: %q is not an http(s) URL", opts.URL)
	}
	if opts.Secret == "" {
		return nil, fmt.Errorf("webhook: a secret is required")
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Sender{url: opts.URL, secret: opts.Secret, http: opts.HTTP, now: opts.Now}, nil
}

// Body is what a webhook receives: the page event, with the event's
// action also as "event".
type Body struct {
	Event string `json:"event"`
	oncall.PagerEvent
}

// Send posts ev. A 2xx answer means it was taken; 429 is an
// *oncall.RateLimit; another 4xx an *oncall.Refusal; anything else an
// error to retry.
func (s *Sender) Send(ctx context.Context, ev oncall.PagerEvent) error {
	b, err := json.Marshal(Body{Event: ev.Action, PagerEvent: ev})
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "infrabot")
	req.Header.Set("X-Infrabot-Event", ev.Action)
	req.Header.Set("X-Infrabot-Timestamp", ts)
	req.Header.Set("X-Infrabot-Signature", "v1="+sign(s.secret, ts, b))
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return &oncall.RateLimit{After: oncall.RetryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return &oncall.Refusal{Message: "the webhook answered " + resp.Status}
	}
	return fmt.Errorf("webhook: %s", resp.Status)
}

func sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a request's signature and timestamp headers against body
// and secret: the signature must match and the timestamp be within
// tolerance of now.
func Verify(secret, signature, timestamp string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: the timestamp %q is not a number of seconds", timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: the timestamp is %s away from now", d.Round(time.Second))
	}
	got, ok := strings.CutPrefix(signature, "v1=")
	if !ok || !hmac.Equal([]byte(got), []byte(sign(secret, timestamp, body))) {
		return fmt.Errorf("webhook: the signature does not match")
	}
	return nil
}
