package oncall_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/oncall"
	"github.com/infrabot/infrabot/actions/pagerduty"
	"github.com/infrabot/infrabot/actions/pagerduty/pagerdutytest"
)

const routingKey = "R0UT1NGKEY0000000000000000000001"

// pdWorld is the world with a PagerDuty service "ci" on a fake Events API
// (real HTTP on loopback, real JSON), paged at the first level beside the
// schedule.
func pdWorld(t *testing.T) (*world, *pagerdutytest.Server) {
	t.Helper()
	fake := pagerdutytest.NewServer(t, routingKey)
	pd, err := pagerduty.New(pagerduty.Options{URL: fake.URL(), RoutingKey: routingKey})
	if err != nil {
		t.Fatal(err)
	}
	esc := issueEscalation()
	esc.Levels[0].Notify = append(esc.Levels[0].Notify, oncall.Target{Kind: oncall.ToPagerDuty, Name: "ci"})
	w := newWorld(t, []oncall.Escalation{esc}, oncall.Options{Pagers: map[string]oncall.Pager{"pagerduty:ci": pd}})
	return w, fake
}

func eventsOf(evs []pagerdutytest.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.EventAction+" "+e.DedupKey)
	}
	return strings.Join(out, ", ")
}

// PagerDuty gets trigger, acknowledge and resolve with one dedup key:
// the incident opening, bob's ack in chat, the check's recovery.
func TestPagerDutyTriggerAcknowledgeResolve(t *testing.T) {
	t.Parallel()
	w, fake := pdWorld(t)
	w.step(time.Minute)
	w.step(time.Minute)
	taken := fake.Taken()
	if len(taken) != 1 {
		t.Fatalf("PagerDuty took %d events, want the trigger: %s", len(taken), eventsOf(taken))
	}
	tr := taken[0]
	if tr.EventAction != "trigger" || tr.DedupKey != "infrabot-incident-1" || tr.RoutingKey != routingKey {
		t.Errorf("trigger: %+v", tr)
	}
	if p := tr.Payload; p == nil || !strings.Contains(p.Summary, "incident 1: logserver-http failing: status 503") || p.Source != "logserver-http" || p.Severity != "critical" {
		t.Errorf("trigger payload: %+v", tr.Payload)
	}
	if len(tr.Links) != 1 || tr.Links[0].Href != w.target.URL {
		t.Errorf("the trigger does not link back to the check's URL: %+v", tr.Links)
	}

	w.Expect(w.As("bob", "ack 1"), false, "acknowledged by bob")
	w.settle()
	w.target.Failing.Store(false)
	w.step(time.Minute)
	w.step(time.Minute)
	want := "trigger infrabot-incident-1, acknowledge infrabot-incident-1, resolve infrabot-incident-1"
	if got := eventsOf(fake.Taken()); got != want {
		t.Errorf("PagerDuty took %s, want %s", got, want)
	}
	// One page to PagerDuty, the trigger (an acknowledge or a resolve
	// is not a page), beside bob's direct message.
	w.wantPages("1/0", "1/0", "0/0")
	tl := w.timeline("1")
	for _, s := range []string{"PagerDuty ci trigger taken", "PagerDuty ci acknowledge taken", "PagerDuty ci resolve taken"} {
		if !strings.Contains(tl, s) {
			t.Errorf("the timeline lacks %q:\n%s", s, tl)
		}
	}
}

// A 429 means the event was not taken: it is retried with backoff, also
// across a restart, past the attempts a server error gets, until taken;
// an acknowledge waits behind its trigger.
func TestPagerDutyRateLimitRetriedUntilTaken(t *testing.T) {
	t.Parallel()
	w, fake := pdWorld(t)
	fake.Answer(slicesOf(http.StatusTooManyRequests, 10)...)
	w.step(time.Minute)
	w.step(time.Minute)
	if n := len(fake.Taken()); n != 0 {
		t.Fatalf("%d events taken through a 429", n)
	}
	w.Expect(w.As("bob", "ack 1"), false, "acknowledged by bob")
	w.settle()
	for i := 0; i < 4; i++ {
		w.step(5 * time.Minute)
	}
	w.restart()
	for i := 0; i < 8 && len(fake.Taken()) < 2; i++ {
		w.step(5 * time.Minute)
	}
	if got, want := eventsOf(fake.Taken()), "trigger infrabot-incident-1, acknowledge infrabot-incident-1"; got != want {
		t.Fatalf("PagerDuty took %q, want %q", got, want)
	}
	reqs := fake.Requests()
	if n := len(reqs); n != 12 {
		t.Errorf("%d requests, want 12 (ten 429s, then the trigger and the acknowledge)", n)
	}
	for _, r := range reqs[:10] {
		if r.Event.EventAction != "trigger" {
			t.Errorf("an acknowledge was sent before its trigger was taken")
		}
	}
	if tl := w.timeline("1"); !strings.Contains(tl, "PagerDuty ci trigger not taken: rate limited; retrying until it is") {
		t.Errorf("the timeline does not say the page was rate limited:\n%s", tl)
	}
	w.None("C0DEFAULT", "page failed")
	// Counted by the module started again, when PagerDuty took it; the
	// 429s are neither sent nor failed.
	w.wantPages("0/0", "1/0", "0/0")
}

// A 400 means the event is invalid: shown in the channel and on
// `incident 1`, never retried.
func TestPagerDutyInvalidShownNotRetried(t *testing.T) {
	t.Parallel()
	w, fake := pdWorld(t)
	fake.Answer(http.StatusBadRequest)
	w.step(time.Minute)
	w.step(time.Minute)
	m := w.One("C0DEFAULT", "page failed for incident 1 (logserver-http)")
	if !strings.Contains(m.Summary, "PagerDuty ci trigger refused: PagerDuty answered 400: Event object is invalid: forced by the test; not retried") {
		t.Errorf("the failure does not say why: %s", m.Summary)
	}
	for range 5 {
		w.step(5 * time.Minute)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: a 400 is not retried", n)
	}
	w.wantPages("3/0", "0/1", "0/0") // chat: bob, then alice and her mention 15 minutes on
	if tl := w.timeline("1"); !strings.Contains(tl, "page failed: PagerDuty ci trigger refused") {
		t.Errorf("`incident 1` does not show the failed page:\n%s", tl)
	}
	if strings.Contains(w.Chat.Transcript()+w.timeline("1")+w.Audited(), routingKey) {
		t.Error("the routing key was shown")
	}
}

// Server errors are retried up to MaxAttempts, then the page is shown as
// failed.
func TestPagerDutyServerErrorsGiveUpVisibly(t *testing.T) {
	t.Parallel()
	w, fake := pdWorld(t)
	fake.Answer(slicesOf(http.StatusServiceUnavailable, oncall.MaxAttempts)...)
	w.step(time.Minute)
	w.step(time.Minute)
	for range oncall.MaxAttempts {
		w.step(5 * time.Minute)
	}
	if n := len(fake.Requests()); n != oncall.MaxAttempts {
		t.Errorf("%d requests, want %d", n, oncall.MaxAttempts)
	}
	w.wantPages("3/0", "0/1", "0/0") // failed once, after its last attempt
	m := w.One("C0DEFAULT", "page failed for incident 1")
	if !strings.Contains(m.Summary, "failed after 8 attempts") {
		t.Errorf("the failure says %s", m.Summary)
	}
	if tl := w.timeline("1"); !strings.Contains(tl, "page failed: PagerDuty ci trigger failed after 8 attempts") {
		t.Errorf("`incident 1` does not show the failed page:\n%s", tl)
	}
}

func slicesOf(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// Someone acknowledges, then resolves, in PagerDuty: its v3 webhook,
// signed, acknowledges and resolves the incident in infrabot (escalation
// stops; PagerDuty is not told back what it told); a delivery with a bad
// signature changes nothing.
func TestPagerDutyWebhookAcknowledgesInInfrabot(t *testing.T) {
	t.Parallel()
	w, fake := pdWorld(t)
	const secret = "pd-webhook-secret-1"
	hook := httptest.NewServer(pagerduty.Webhook([]string{"old-secret", secret}, w.oncall, slog.New(slog.DiscardHandler)))
	t.Cleanup(hook.Close)
	w.step(time.Minute)
	w.step(time.Minute)
	w.One("dm:UBOB", "page for you: incident 1")

	deliver := func(eventType string, sign string) int {
		t.Helper()
		body := []byte(`{"event":{"id":"01DEN8YQ3V2JQW","event_type":"` + eventType + `","resource_type":"incident","occurred_at":"2026-11-21T12:05:00.000Z",` +
			`"agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","summary":"Jane Doe","type":"user_reference"},"client":null,` +
			`"data":{"id":"Q1ABCDEF","type":"incident","number":7,"status":"acknowledged","incident_key":"infrabot-incident-1","title":"incident 1: logserver-http failing"}}}`)
		if sign == "" {
			sign = pagerduty.Sign([]string{secret}, body)
		}
		req, _ := http.NewRequest(http.MethodPost, hook.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-PagerDuty-Signature", sign)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		w.settle()
		return resp.StatusCode
	}
	if got := deliver("incident.acknowledged", "v1=0000"); got != http.StatusUnauthorized {
		t.Errorf("a bad signature got %d, want 401", got)
	}
	w.Expect(w.As("alice", "incidents"), false, "not acknowledged")

	if got := deliver("incident.acknowledged", ""); got != http.StatusOK {
		t.Fatalf("the delivery got %d", got)
	}
	w.Expect(w.As("alice", "incidents"), false, "acknowledged by Jane Doe")
	if m := w.One("C0DEFAULT", "incident 1: logserver-http"); !strings.Contains(m.Summary, "acknowledged by Jane Doe") {
		t.Errorf("the incident's message was not updated: %s", m.Summary)
	}
	if tl := w.timeline("1"); !strings.Contains(tl, "acknowledged in pagerduty") {
		t.Errorf("the timeline does not say where it was acknowledged:\n%s", tl)
	}
	w.step(time.Hour)
	w.None("dm:UALICE", "incident 1") // escalation stopped

	if got := deliver("incident.resolved", ""); got != http.StatusOK {
		t.Fatalf("the delivery got %d", got)
	}
	w.Expect(w.As("alice", "incidents"), false, "no open incidents")
	if got := eventsOf(fake.Taken()); got != "trigger infrabot-incident-1" {
		t.Errorf("PagerDuty was told %s, want only the trigger", got)
	}
	if got := deliver("incident.resolved", ""); got != http.StatusOK {
		t.Errorf("a second resolve got %d, want 200 (nothing to do)", got)
	}
}

// A PagerDuty webhook about an incident with infrabot's key that is not
// one of this infrabot's (another instance's, or one from before its
// store was reset) is ignored and answered 200: a 500 would have
// PagerDuty deliver it again and again.
func TestPagerDutyWebhookOfAnUnknownIncidentIsIgnored(t *testing.T) {
	t.Parallel()
	w, _ := pdWorld(t)
	const secret = "pd-webhook-secret-1"
	hook := httptest.NewServer(pagerduty.Webhook([]string{secret}, w.oncall, slog.New(slog.DiscardHandler)))
	t.Cleanup(hook.Close)
	body := []byte(`{"event":{"id":"01DEN8YQ3V2JQX","event_type":"incident.acknowledged","resource_type":"incident","occurred_at":"2026-11-21T12:05:00.000Z",` +
		`"agent":{"summary":"Jane Doe","type":"user_reference"},"client":null,` +
		`"data":{"id":"Q1ABCDEG","type":"incident","number":8,"status":"acknowledged","incident_key":"infrabot-incident-999","title":"incident 999: elsewhere failing"}}}`)
	req, _ := http.NewRequest(http.MethodPost, hook.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-PagerDuty-Signature", pagerduty.Sign([]string{secret}, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the delivery about incident 999, unknown here, got %d, want 200 (ignored, not delivered again)", resp.StatusCode)
	}
	if err := w.oncall.FromPagerDuty(t.Context(), oncall.DedupKey(999), oncall.Resolve, "Jane Doe"); err != nil {
		t.Errorf("FromPagerDuty(%s, resolve) = %v, want nil (ignored)", oncall.DedupKey(999), err)
	}
}
