package oncall_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/oncall"
	"github.com/infrabot/infrabot/actions/webhook"
)

const webhookSecret = "wh-secret-0f1e2d3c4b5a"

// delivery is one request a webhook receiver got, as it came.
type delivery struct {
	Method, ContentType, Event, Timestamp, Signature string
	Body                                             []byte
}

// receiver is a webhook endpoint on loopback that takes every request
// (202) and remembers it.
type receiver struct {
	URL string
	mu  sync.Mutex
	got []delivery
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, delivery{
			Method: req.Method, ContentType: req.Header.Get("Content-Type"),
			Event: req.Header.Get("X-Infrabot-Event"), Timestamp: req.Header.Get("X-Infrabot-Timestamp"),
			Signature: req.Header.Get("X-Infrabot-Signature"), Body: body,
		})
		r.mu.Unlock()
		rw.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// hmacHex is the signature the webhook package documents, computed here
// on its own: hex(HMAC-SHA256(secret, timestamp + "." + body)).
func hmacHex(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "." + string(body)))
	return hex.EncodeToString(m.Sum(nil))
}

// checkDelivery checks that d is a signed POST of action about incident
// 1, stamped at the world's time then, and returns its body's fields.
func checkDelivery(t *testing.T, d delivery, action string, at time.Time) map[string]any {
	t.Helper()
	if d.Method != http.MethodPost || d.ContentType != "application/json" {
		t.Errorf("%s: %s with Content-Type %q, want a JSON POST", action, d.Method, d.ContentType)
	}
	if d.Event != action {
		t.Errorf("X-Infrabot-Event is %q, want %q", d.Event, action)
	}
	if want := strconv.FormatInt(at.Unix(), 10); d.Timestamp != want {
		t.Errorf("%s: X-Infrabot-Timestamp is %q, want %q (the injected clock)", action, d.Timestamp, want)
	}
	if want := "v1=" + hmacHex(webhookSecret, d.Timestamp, d.Body); d.Signature != want {
		t.Errorf("%s: X-Infrabot-Signature is %q, want %q", action, d.Signature, want)
	}
	if bad := "v1=" + hmacHex("another-secret", d.Timestamp, d.Body); d.Signature == bad {
		t.Errorf("%s: the signature does not depend on the secret", action)
	}
	if strings.Contains(string(d.Body), webhookSecret) || strings.Contains(d.Signature, webhookSecret) {
		t.Errorf("%s: the secret was sent", action)
	}
	var body map[string]any
	if err := json.Unmarshal(d.Body, &body); err != nil {
		t.Fatalf("%s: the body is not JSON: %v\n%s", action, err, d.Body)
	}
	if body["event"] != action || body["action"] != action {
		t.Errorf("the body says event %v, action %v, want %s", body["event"], body["action"], action)
	}
	if body["dedup_key"] != "infrabot-incident-1" || body["incident"] != float64(1) || body["check"] != "logserver-http" {
		t.Errorf("%s is not about incident 1 of logserver-http: %s", action, d.Body)
	}
	return body
}

// A webhook as the second level of an escalation: nobody acknowledges
// bob's page in 15 minutes, so the webhook (real HTTP on loopback) gets
// a signed trigger; carol's ack sends it acknowledge, the check's
// recovery resolve, each about the same incident, with the signature
// the package's doc describes.
func TestEscalationWebhookLevelTriggerAcknowledgeResolve(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t)
	var w *world
	hook, err := webhook.New(webhook.Options{URL: recv.URL, Secret: webhookSecret, Now: func() time.Time { return w.Clock.Now() }})
	if err != nil {
		t.Fatal(err)
	}
	esc := oncall.Escalation{Name: "ci-oncall", Levels: []oncall.Level{
		{Notify: target(oncall.ToSchedule, "ci-oncall")},
		{After: 15 * time.Minute, Notify: target(oncall.ToWebhook, "ops")},
	}}
	w = newWorld(t, []oncall.Escalation{esc}, oncall.Options{Pagers: map[string]oncall.Pager{"webhook:ops": hook}})

	w.step(time.Minute)
	w.step(time.Minute) // the incident opens: bob is paged
	w.One("dm:UBOB", "page for you: incident 1")
	w.step(14 * time.Minute)
	if n := len(recv.deliveries()); n != 0 {
		t.Fatalf("the webhook got %d requests before its level came due", n)
	}
	w.step(time.Minute) // 15 minutes after bob's page
	got := recv.deliveries()
	if len(got) != 1 {
		t.Fatalf("the webhook got %d requests, want the trigger", len(got))
	}
	body := checkDelivery(t, got[0], oncall.Trigger, w.Clock.Now())
	if body["level"] != float64(2) || body["severity"] != "critical" || !strings.Contains(body["summary"].(string), "logserver-http") {
		t.Errorf("the trigger does not say level 2, critical, and what failed: %s", got[0].Body)
	}

	for range 3 {
		w.step(time.Minute)
	}
	w.Expect(w.As("carol", "ack 1"), false, "acknowledged by carol")
	w.settle()
	got = recv.deliveries()
	if len(got) != 2 {
		t.Fatalf("the webhook got %d requests, want trigger and acknowledge", len(got))
	}
	if body := checkDelivery(t, got[1], oncall.Acknowledge, w.Clock.Now()); body["by"] != "carol" {
		t.Errorf("the acknowledge does not say carol: %s", got[1].Body)
	}

	w.target.Failing.Store(false)
	w.step(time.Minute)
	w.step(time.Minute) // two successes resolve it
	got = recv.deliveries()
	if len(got) != 3 {
		t.Fatalf("the webhook got %d requests, want trigger, acknowledge and resolve\n%s\n%s", len(got), w.timeline("1"), w.Chat.Transcript())
	}
	checkDelivery(t, got[2], oncall.Resolve, w.Clock.Now())

	w.step(time.Hour)
	if n := len(recv.deliveries()); n != 3 {
		t.Errorf("the webhook got %d requests in all, want 3", n)
	}
	tl := w.timeline("1")
	for _, s := range []string{"paged level 2 of ci-oncall: webhook:ops", "webhook ops trigger taken", "webhook ops acknowledge taken", "webhook ops resolve taken"} {
		if !strings.Contains(tl, s) {
			t.Errorf("the timeline lacks %q:\n%s", s, tl)
		}
	}
	if strings.Contains(w.Chat.Transcript()+tl+w.Audited(), webhookSecret) {
		t.Error("the webhook's secret was shown")
	}
}
