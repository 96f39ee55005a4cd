package main_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/health/healthtest"
	"github.com/infrabot/infrabot/cmd/infrabot/admin/admintest"
)

// TestHealthChecksFromTheConfig: the built binary, `infrabot run` with a
// `checks:` section, proves the config → module wiring. An HTTP check
// against a loopback server that fails on demand opens an incident
// posted in Slack (the fake) with its buttons; alice's signed click on
// Acknowledge updates it; the server recovers and the incident resolves.
// A heartbeat is pinged over the public HTTP server (the one Slack's
// endpoint is on); a start not followed by a success within the grace
// opens an incident, and a success ping resolves it. /metrics, parsed with Prometheus' parser, counts it all
// by type; a reload that changes the checks says they change at the next
// restart.
func TestHealthChecksFromTheConfig(t *testing.T) {
	t.Parallel()
	target := healthtest.NewService(t)
	const token = "e2e-heartbeat-token-5f2c"
	tokenFile := filepath.Join(t.TempDir(), "ping-token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	sim := startSimulator(t)
	s := startService(t, sim, fmt.Sprintf(`checks:
  - name: logs-http
    type: http
    url: %s/health
    expect: {status: 200, body_contains: "ok"}
    schedule: "@every 1s"
    timeout: 2s
  - {name: nightly, type: heartbeat, period: 1m, grace: 1s, token: "${file:%s}", schedule: "@every 1s"}
`, target.URL, tokenFile))
	fake := s.fake
	public := strings.TrimPrefix(s.slack.URL, "http://")
	ping := func(suffix string) {
		t.Helper()
		resp, err := http.Post("http://"+public+"/ping/"+token+suffix, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("ping%s: %s", suffix, resp.Status)
		}
	}
	ping("")
	openIncidents := func(when string, want float64) {
		t.Helper()
		if v, ok := admintest.Scrape(t, s.admin+"/metrics").Value("infrabot_health_incidents_open"); !ok || v != want {
			t.Errorf("infrabot_health_incidents_open %s = %v (found %v), want %v", when, v, ok, want)
		}
	}
	openIncidents("before any outage", 0)

	// The HTTP check's outage: one incident, with buttons.
	target.Failing.Store(true)
	fake.WaitFor(t, "the incident posted", func() bool { return hasMessage(fake, ": logs-http ") })
	inc, _ := findMessage(fake, ": logs-http ")
	if inc.Channel != "C0INFRA" || !hasButtons(inc) || !strings.Contains(inc.Text, "status 503") {
		t.Fatalf("the incident message: %+v", inc)
	}
	s.slack.Click(t, "U01ALICE", inc, "Acknowledge")
	fake.WaitFor(t, "the incident acknowledged in place", func() bool {
		m, _ := findMessage(fake, ": logs-http ")
		return strings.Contains(m.Text, "acknowledged: alice at")
	})
	// Acknowledged is still open. The heartbeat's start is pinged only
	// after the recovery, so this incident is the only one.
	openIncidents("while logs-http's incident is open", 1)

	// Recovery resolves it, in place, without buttons; no second one.
	target.Failing.Store(false)
	fake.WaitFor(t, "the incident resolved", func() bool {
		m, _ := findMessage(fake, ": logs-http ")
		return strings.Contains(m.Text, "logs-http resolved") && strings.Contains(m.Text, "the check recovered") && !hasButtons(m)
	})
	if n := countMessages(fake, ": logs-http "); n != 1 {
		t.Errorf("%d messages about logs-http, want the one incident", n)
	}
	openIncidents("once logs-http recovered", 0)
	ping("/start")

	// The heartbeat's start is followed by no success within the grace:
	// an incident; a success ping resolves it.
	fake.WaitFor(t, "the heartbeat's incident", func() bool { return hasMessage(fake, ": nightly ") })
	hb, _ := findMessage(fake, ": nightly ")
	if !strings.Contains(hb.Text, "reported no success within 1s") {
		t.Errorf("the heartbeat's incident says %q", hb.Text)
	}
	openIncidents("while the heartbeat's incident is open", 1)
	ping("/0")
	fake.WaitFor(t, "the heartbeat's incident resolved", func() bool {
		m, _ := findMessage(fake, ": nightly ")
		return strings.Contains(m.Text, "nightly resolved")
	})

	fams := admintest.Scrape(t, s.admin+"/metrics")
	atLeast := func(name string, min float64, labels ...string) {
		t.Helper()
		if v, ok := fams.Value(name, labels...); !ok || v < min {
			t.Errorf("%s%v = %v (found %v), want at least %v", name, labels, v, ok, min)
		}
	}
	atLeast("infrabot_health_checks", 1, "type=http")
	atLeast("infrabot_health_checks", 1, "type=heartbeat")
	atLeast("infrabot_health_check_results_total", 2, "type=http", "result=failed")
	atLeast("infrabot_health_check_results_total", 2, "type=http", "result=ok")
	atLeast("infrabot_health_check_results_total", 1, "type=heartbeat", "result=failed")
	atLeast("infrabot_health_check_duration_seconds", 4, "type=http") // a histogram's count
	atLeast("infrabot_health_heartbeat_pings_total", 2, "kind=success")
	atLeast("infrabot_health_heartbeat_pings_total", 1, "kind=start")
	if v, ok := fams.Value("infrabot_health_incidents_open"); !ok || v != 0 {
		t.Errorf("infrabot_health_incidents_open = %v (found %v), want 0", v, ok)
	}

	// Checks change at a reload, which names them.
	cfg, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.config, []byte(strings.Replace(string(cfg), "name: logs-http", "name: logs-https", 1)), 0o600)
	s.signal(syscall.SIGHUP)
	rec := s.waitLog("the reload naming the checks", func(r map[string]any) bool {
		return r["msg"] == "config reloaded"
	})
	if sec, _ := rec["changed"].(string); !strings.Contains(sec, "checks (+logs-https -logs-http)") {
		t.Errorf("the reload's record: %v", rec)
	}

	s.signal(syscall.SIGTERM)
	if err := s.wait(30 * time.Second); err != nil {
		t.Errorf("infrabot run did not stop cleanly: %v\n%s", err, s.logs.String())
	}
	audit := s.b.shell("alice", "audit 60")
	expect(t, audit, "incident-opened", "incident-acknowledged", "incident-resolved", "checks (+logs-https -logs-http)")
	if strings.Contains(s.logs.String(), token) || strings.Contains(audit, token) {
		t.Error("the heartbeat's token is in the log or the audit")
	}
}
