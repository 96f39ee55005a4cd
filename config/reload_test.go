package config_test

import (
	"strings"
	"testing"

	"github.com/infrabot/infrabot/config"
)

// reloadBase is the config a process started with: on-call that pages
// bob and the oncall channel, and staging with ssh settings and a web
// server, no bastion.
const (
	reloadChannels = "channels: {default: {slack: C0INFRA}, oncall: {slack: C0ONCALL}}\n"
	reloadPeople   = "people: {alice: {slack: U01ALICE}, bob: {slack: U02BOB}}\n"
	reloadEnvs     = `clouds: {c: {simulator: true}}
environments:
  staging:
    cloud: c
    servers: [{name: web, flavor: f, image: i}]
    ssh: {user: centos, agent: true, trust_on_first_use: true}
  qa:
    cloud: c
    servers: [{name: web, flavor: f, image: i}]
`
	reloadOnCall = `oncall:
  schedules:
    ci-oncall: {rotation: weekly, members: [bob]}
  escalations:
    day:
      - {notify: schedule:ci-oncall}
      - {after: 15m, notify: channel:oncall}
`
	reloadBase = reloadChannels + reloadPeople + reloadEnvs + reloadOnCall
)

// A reload may change checks, people and channels at once, but not
// oncall or the environments' ssh settings, which wait for a restart:
// CheckReload refuses a check that leans on what is not in force yet, and
// the removal of whom the on-call in force pages, at the new file's line.
func TestCheckReloadAgainstWhatRuns(t *testing.T) {
	t.Parallel()
	running, err := config.Parse("f.yaml", []byte(reloadBase))
	if err != nil {
		t.Fatal(err)
	}
	night := strings.Replace(reloadBase, "    day:\n", "    night:\n      - {notify: person:alice}\n    day:\n", 1)
	tests := []struct{ name, yaml, want string }{
		{"escalation in force", reloadBase + "checks:\n  - {name: registry, type: tcp, address: 'r:1', escalation: day}\n", ""},
		{"escalation added by the reload", night + "checks:\n  - {name: registry, type: tcp, address: 'r:1', escalation: night}\n",
			`f.yaml:22: check registry follows escalation "night", which is not in force: oncall takes effect at the next restart (in force: day)`},
		{"ssh check where ssh runs", reloadBase + "checks:\n  - {name: promoter, type: ssh, environment: staging, on: web, run: 'true'}\n", ""},
		{"ssh settings added by the reload", strings.Replace(reloadBase, "  qa:\n    cloud: c\n", "  qa:\n    cloud: c\n    ssh: {user: centos, agent: true, trust_on_first_use: true}\n", 1) +
			"checks:\n  - {name: promoter, type: ssh, environment: qa, on: web, run: 'true'}\n",
			"f.yaml:21: check promoter runs on qa, whose ssh settings take effect at the next restart"},
		{"server added by the reload", strings.Replace(reloadBase, "[{name: web, flavor: f, image: i}]\n    ssh", "[{name: web, flavor: f, image: i}, {name: db, flavor: f, image: i}]\n    ssh", 1) +
			"checks:\n  - {name: psql, type: ssh, environment: staging, on: db, run: 'true'}\n",
			"f.yaml:20: check psql runs on db servers, which the SSH executor of staging knows from the next restart"},
		{"bastion added by the reload", strings.Replace(reloadBase, "trust_on_first_use: true}\n  qa", "trust_on_first_use: true, bastion: {host: b}}\n  qa", 1) +
			"checks:\n  - {name: jump, type: ssh, environment: staging, on: bastion, run: 'true'}\n",
			"f.yaml:20: check jump runs on the bastion of staging, whose ssh settings take effect at the next restart"},
		{"schedule member removed", reloadChannels + "people: {alice: {slack: U01ALICE}}\n" + reloadEnvs,
			"f.yaml:2: person bob is removed, but the on-call in force pages it (schedule ci-oncall) until the next restart"},
		{"paged channel removed", "channels: {default: {slack: C0INFRA}}\n" + reloadPeople + reloadEnvs,
			"f.yaml:1: channel oncall is removed, but the on-call in force pages it (escalation day) until the next restart"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Parse("f.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatalf("the new file does not load on its own: %v", err)
			}
			got := c.CheckReload(running).Error()
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("problems = %q, want %q", got, tc.want)
			}
		})
	}
}
