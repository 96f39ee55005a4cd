package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/config"
)

// ciExample is the example, with the people and channels it
// refers to. The token's reference is quoted: in a {flow: mapping} YAML
// reads the braces of an unquoted ${env:…} as the mapping's.
const ciExample = `people:
  alice: {}
  bob: {}
channels:
  default: {slack: C0INFRA}
  ci: {slack: C0CI}
ci:
  - {name: rdo-zuul, type: zuul, url: https://review.rdoproject.org/zuul, tenant: rdo, pipelines: [openstack-periodic-integration-main], schedule: "@every 5m"}
  - {name: jenkins, type: jenkins, url: https://jenkins.example.org, user: infrabot, token: "${env:INFRABOT_TEST_JENKINS_TOKEN}", jobs: ["promote-*"], schedule: "@every 5m"}
squads:
  ci:
    members: [alice, bob]
    channel: ci                    # a named channel
    jobs: ["periodic-tripleo-ci-*-standalone*", "*promote*"]
    failures_before_notice: 1      # N consecutive failures before telling
    remind_every: 24h
    stale_after: 36h               # a periodic job that stops running is news too
digests:
  - {schedule: "0 9 * * 1-5", timezone: Europe/Prague, channel: default, include: [environments, checks, incidents, jobs, runs]}
`

func TestCIExampleLoads(t *testing.T) {
	t.Setenv("INFRABOT_TEST_JENKINS_TOKEN", "jenkins-api-token")
	c, err := config.Parse("infrabot.yaml", []byte(ciExample))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CI) != 2 || c.CI[1].Token.Value() != "jenkins-api-token" || c.CI[0].Pipelines[0] != "openstack-periodic-integration-main" {
		t.Errorf("ci = %+v", c.CI)
	}
	sq := c.Squads["ci"]
	if sq.Channel != "ci" || time.Duration(sq.StaleAfter) != 36*time.Hour || len(sq.Jobs) != 2 {
		t.Errorf("squad = %+v", sq)
	}
	if d := c.Digests[0]; d.Timezone != "Europe/Prague" || len(d.Include) != 5 {
		t.Errorf("digest = %+v", d)
	}
}

func TestCIProblemsHaveLines(t *testing.T) {
	t.Parallel()
	base := "people: {alice: {}}\nchannels: {ci: {slack: C0CI}}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown member", base + "ci: [{name: z, type: zuul, url: https://z.example.org, tenant: t}]\nsquads:\n  ci:\n    members: [alice, zed]\n    channel: ci\n    jobs: [x]\n",
			`f.yaml:6: squad ci: member "zed" is not declared under people`},
		{"undeclared channel", base + "ci: [{name: z, type: zuul, url: https://z.example.org, tenant: t}]\nsquads:\n  ci:\n    members: [alice]\n    channel: infra\n    jobs: [x]\n",
			`f.yaml:7: squad ci: channel "infra" is not declared under channels`},
		{"bad digest schedule", base + "digests:\n  - schedule: \"0 9 * *\"\n    channel: ci\n",
			`f.yaml:4: digest 1: "0 9 * *" is not a schedule`},
		{"bad time zone", base + "digests:\n  - {schedule: \"0 9 * * *\", timezone: Europe/Praha, channel: ci}\n",
			`f.yaml:4: digest 1: "Europe/Praha" is not a time zone`},
		{"unknown section", base + "digests:\n  - schedule: \"@daily\"\n    channel: ci\n    include: [environments, jbos]\n",
			`f.yaml:6: digest 1: "jbos" is not a section`},
		{"bad poll schedule", base + "ci:\n  - name: z\n    type: zuul\n    url: https://z.example.org\n    tenant: t\n    schedule: every 5m\n",
			`f.yaml:8: CI source z: "every 5m" is not a schedule`},
		{"unknown type", base + "ci:\n  - name: z\n    type: gitlab\n    url: https://z.example.org\n",
			`f.yaml:5: CI source z: type "gitlab" is not zuul or jenkins`},
		{"zuul without tenant", base + "ci:\n  - {name: z, type: zuul, url: https://z.example.org}\n",
			"f.yaml:4: CI source z (zuul) needs a tenant"},
		{"jenkins token as a literal", base + "ci:\n  - {name: j, type: jenkins, url: https://j.example.org, user: u, token: abc123, jobs: [x]}\n",
			"f.yaml:4: this field holds a secret"},
		{"credentials in url", base + "ci:\n  - name: j\n    type: jenkins\n    url: https://u:p@j.example.org\n    jobs: [x]\n",
			"f.yaml:6: CI source j: put no credentials in the url"},
		{"url without a scheme", base + "ci:\n  - {name: j, type: jenkins, url: j.example.org, jobs: [x]}\n",
			`f.yaml:4: CI source j: url "j.example.org" is not an http(s) URL`},
		{"password that stops the url parsing", base + "ci:\n  - {name: j, type: jenkins, url: \"https://u:tok#abc123@j.example.org\", jobs: [x]}\n",
			"f.yaml:4: CI source j: url is not an http(s) URL (not shown, as it may hold a password)"},
		{"credentials in a url of another scheme", base + "ci:\n  - {name: j, type: jenkins, url: \"ftp://u:abc123@j.example.org\", jobs: [x]}\n",
			"f.yaml:4: CI source j: url is not an http(s) URL (not shown, as it may hold a password)"},
		{"unknown key", base + "squads:\n  ci: {members: [alice], channel: ci, jobs: [x], remind: 1h}\n",
			`f.yaml:4: unknown key "remind" in squads.ci (did you mean "remind_every"?)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := problems(t, tc.yaml)
			if !strings.Contains(got, tc.want) {
				t.Errorf("problems lack %q:\n%s", tc.want, got)
			}
			if strings.Contains(got, "abc123") {
				t.Errorf("a problem shows the literal secret:\n%s", got)
			}
		})
	}
}
