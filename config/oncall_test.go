package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/config"
)

const onCallBase = `
channels: {default: {slack: C0INFRA}}
people: {alice: {slack: U01ALICE}, bob: {slack: U02BOB}}
http: {listen: 127.0.0.1:3000}
`

func TestOnCallParse(t *testing.T) {
	t.Setenv("INFRABOT_TEST_PD_KEY", "R0UT1NGKEY0000000000000000000001")
	t.Setenv("INFRABOT_TEST_PD_HOOK", "pd-hook-secret")
	t.Setenv("INFRABOT_TEST_OPS_HOOK", "ops-hook-secret")
	c, err := config.Parse("f.yaml", []byte(onCallBase+`
oncall:
  schedules:
    ci-oncall: {rotation: weekly, handoff: "Mon 09:00", timezone: Europe/Prague, members: [alice, bob]}
    nightly: {rotation: every 3 days, handoff: "07:30", start: 2026-01-05, members: [bob]}
  escalations:
    ci-oncall:
      - {notify: schedule:ci-oncall}
      - {after: 15m, notify: [person:alice, pagerduty:ci]}
      - {after: 30m, repeat: 1h, notify: [channel:default, webhook:ops]}
pagerduty:
  services: {ci: {routing_key: "${env:INFRABOT_TEST_PD_KEY}"}}
  webhook_secrets: ["${env:INFRABOT_TEST_PD_HOOK}"]
webhooks:
  ops: {url: https://ops.example.org/hooks/infrabot, secret: "${env:INFRABOT_TEST_OPS_HOOK}"}
checks:
  - {name: logserver-http, type: http, url: https://logs.example.org/, escalation: ci-oncall}
`))
	if err != nil {
		t.Fatal(err)
	}
	levels := c.OnCall.Escalations["ci-oncall"]
	if len(levels) != 3 || len(levels[0].Notify) != 1 || len(levels[1].Notify) != 2 || time.Duration(levels[2].Repeat) != time.Hour {
		t.Errorf("levels: %+v", levels)
	}
	if c.Checks[0].Escalation != "ci-oncall" {
		t.Errorf("the check's escalation: %q", c.Checks[0].Escalation)
	}
	secrets := strings.Join(c.SecretValues(), " ")
	for _, s := range []string{"R0UT1NGKEY0000000000000000000001", "pd-hook-secret", "ops-hook-secret"} {
		if !strings.Contains(secrets, s) {
			t.Errorf("%s is not among the secrets the redactor knows", s)
		}
	}
}

func TestOnCallProblemsHaveLines(t *testing.T) {
	t.Parallel()
	sched := "oncall:\n  schedules:\n"
	esc := "oncall:\n  schedules: {s: {rotation: daily, members: [bob]}}\n  escalations:\n    e:\n"
	tests := []struct{ name, yaml, want string }{
		{"bad rotation", sched + "    s: {rotation: fortnightly, members: [bob]}\n", `7: schedule s: rotation "fortnightly": write daily, weekly, or every N days`},
		{"a day for daily", sched + "    s: {rotation: daily, handoff: Mon 09:00, members: [bob]}\n", "7: schedule s: handoff \"Mon 09:00\" names a day"},
		{"bad zone", sched + "    s: {rotation: weekly, timezone: Mars/Olympus, members: [bob]}\n", `7: schedule s: "Mars/Olympus" is not a time zone`},
		{"unknown member", sched + "    s:\n      rotation: daily\n      members: [bob, erin]\n", `9: schedule s: "erin" is not declared under people`},
		{"no members", sched + "    s: {rotation: daily}\n", "7: schedule s has no members"},
		{"unknown key", sched + "    s: {rotation: daily, members: [bob], handof: '10:00'}\n", `7: unknown key "handof" in oncall.schedules.s (did you mean "handoff"?)`},
		{"first level after", esc + "      - {after: 5m, notify: schedule:s}\n", "9: escalation e: the first level is paged when the incident opens"},
		{"later level without after", esc + "      - {notify: schedule:s}\n      - {notify: person:alice}\n", "10: escalation e: level 2 needs after"},
		{"unknown schedule", esc + "      - {notify: schedule:nightly}\n", `9: schedule "nightly" is not declared under oncall.schedules`},
		{"unknown pagerduty", esc + "      - {notify: [schedule:s, pagerduty:ci]}\n", `9: pagerduty "ci" is not declared under pagerduty.services`},
		{"unknown kind", esc + "      - {notify: sms:bob}\n", `9: "sms:bob" is not a page target`},
		{"repeat not last", esc + "      - {notify: schedule:s, repeat: 1h}\n      - {after: 5m, notify: person:alice}\n", "9: escalation e: only the last level repeats"},
		{"check's escalation", "checks:\n  - {name: p, type: tcp, address: r:1, escalation: ci}\n", `6: check p: escalation "ci" is not declared under oncall.escalations`},
		{"literal routing key", "pagerduty: {services: {ci: {routing_key: abc123}}}\n", "5: this field holds a secret"},
		{"no routing key", "pagerduty: {services: {ci: {}}}\n", "5: PagerDuty service ci needs routing_key"},
		{"webhook without secret", "webhooks: {ops: {url: https://ops.example.org/}}\n", "5: webhook ops needs a secret"},
		{"pagerduty url without a scheme", "pagerduty: {url: events.example.org}\n", `5: pagerduty.url "events.example.org" is not an http(s) URL`},
		{"pagerduty url whose password stops it parsing", "pagerduty: {url: \"https://u:abc123#x@events.example.org\"}\n", "5: pagerduty.url is not an http(s) URL (not shown, as it may hold a password)"},
		{"webhook bad url", "webhooks: {ops: {url: ops.example.org, secret: '${file:/dev/null}'}}\n", "5: webhook ops needs a url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := problems(t, onCallBase+tc.yaml)
			if !strings.Contains(got, "f.yaml:"+tc.want) {
				t.Errorf("problems lack %q:\n%s", tc.want, got)
			}
			if strings.Contains(got, "abc123") {
				t.Errorf("a problem shows a secret:\n%s", got)
			}
		})
	}
}
