package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/config"
)

func TestChecksParse(t *testing.T) {
	t.Setenv("INFRABOT_TEST_PING", "ping-token-1")
	c, err := config.Parse("f.yaml", []byte(`
channels: {default: {slack: C0INFRA}, oncall: {slack: C0ONCALL}}
people: {bob: {slack: U02BOB}}
clouds: {c: {simulator: true}}
environments:
  staging:
    cloud: c
    servers: [{name: web, flavor: f, image: i}]
    ssh: {user: centos, private_key: "${env:INFRABOT_TEST_PING}", host_keys: ["10.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]}
checks:
  - name: logserver-http
    type: http
    url: https://logs.example.org/health
    expect: {status: 200, body_contains: "ok", max_latency: 2s, cert_valid_for: 14d}
    schedule: "@every 1m"
    time_zone: Europe/Prague
    timeout: 10s
    failures_before_incident: 3
    notify: [channel:oncall, person:bob]
  - {name: registry-tcp, type: tcp, address: registry.example.org:5000, schedule: "*/30 * * * * *"}
  - {name: staging-servers, type: openstack, environment: staging}
  - {name: nightly-promotion, type: heartbeat, period: 24h, grace: 2h, token: "${env:INFRABOT_TEST_PING}"}
  - {name: promoter-service, type: ssh, environment: staging, on: web, run: "systemctl is-active promoter", timeout: 5s}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Checks) != 5 {
		t.Fatalf("%d checks", len(c.Checks))
	}
	if got := time.Duration(c.Checks[0].Expect.CertValidFor); got != 14*24*time.Hour {
		t.Errorf("cert_valid_for = %s", got)
	}
	if c.Checks[3].Token.Value() != "ping-token-1" || strings.Contains(c.Checks[3].Token.String(), "ping-token-1") {
		t.Errorf("the heartbeat token is not a resolved secret")
	}
}

func TestCheckProblemsHaveLines(t *testing.T) {
	t.Parallel()
	base := "channels: {default: {slack: C0INFRA}}\nchecks:\n"
	sshBase := `channels: {default: {slack: C0INFRA}}
clouds: {c: {simulator: true}}
environments:
  staging:
    cloud: c
    servers: [{name: promoter, flavor: f, image: i}]
    ssh: {user: centos, private_key: "${file:/dev/null}", host_keys: ["10.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]}
  dev:
    cloud: c
    servers: [{name: web, flavor: f, image: i}]
checks:
`
	tests := []struct{ name, yaml, want string }{
		{"ssh undeclared env", base + "  - {name: p, type: ssh, environment: staging, on: promoter, run: systemctl is-active promoter}\n", `3: check p runs on environment "staging", which is not declared`},
		{"ssh no env", base + "  - {name: p, type: ssh, run: 'true'}\n", "3: check p needs the environment"},
		{"ssh env without ssh", sshBase + "  - {name: p, type: ssh, environment: dev, run: 'true'}\n", "12: check p runs on dev, which has no ssh settings"},
		{"ssh unknown on", sshBase + "  - {name: p, type: ssh, environment: staging, on: promotor, run: 'true'}\n", `12: check p: on: "promotor" is not all, bastion, or a server declared in staging`},
		{"ssh no bastion", sshBase + "  - {name: p, type: ssh, environment: staging, on: bastion, run: 'true'}\n", "12: check p runs on the bastion, but environments.staging.ssh.bastion is not set"},
		{"ssh nothing to run", sshBase + "  - {name: p, type: ssh, environment: staging, on: promoter}\n", "12: check p has nothing to run"},
		{"ssh params", sshBase + "  - {name: p, type: ssh, environment: staging, on: promoter, run: 'systemctl is-active {{ .unit }}'}\n", "12: check p: a check's command takes no parameters"},
		{"unknown type", base + "  - {name: p, type: ping}\n", `3: check p: type "ping" is not http`},
		{"unknown key", base + "  - name: p\n    type: tcp\n    adress: x:1\n", `5: unknown key "adress" in checks[0] (did you mean "address"?)`},
		{"bad url", base + "  - {name: p, type: http, url: logs.example.org}\n", "3: check p needs a url"},
		{"bad address", base + "  - {name: p, type: tcp, address: registry}\n", "3: check p needs an address"},
		{"bad schedule", base + "  - name: p\n    type: tcp\n    address: r:1\n    schedule: every minute\n", `6: check p: "every minute" is not a schedule`},
		{"bad zone", base + "  - {name: p, type: tcp, address: r:1, time_zone: Mars/Olympus}\n", `3: check p: "Mars/Olympus" is not a time zone`},
		{"undeclared env", base + "  - {name: s, type: openstack, environment: prod}\n", `3: check s watches environment "prod"`},
		{"literal token", base + "  - {name: h, type: heartbeat, period: 1h, token: abc}\n", "3: this field holds a secret"},
		{"no token", base + "  - {name: h, type: heartbeat, period: 1h}\n", "3: heartbeat h needs a token"},
		{"no period", base + "  - {name: h, type: heartbeat, token: '${file:/dev/null}'}\n", "3: heartbeat h needs a period"},
		{"bad target", base + "  - name: p\n    type: tcp\n    address: r:1\n    notify: [channel:nowhere, pager]\n", `6: channel "nowhere" is not declared`},
		{"duplicate", base + "  - {name: p, type: tcp, address: r:1}\n  - {name: p, type: tcp, address: r:2}\n", "4: check p is declared twice"},
		{"no default channel", "checks:\n  - {name: p, type: tcp, address: r:1}\n", "2: check p notifies channel:default, which is not declared"},
		{"bad duration", base + "  - {name: p, type: tcp, address: r:1, timeout: 3x}\n", `3: "3x" is not a duration`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := problems(t, tc.yaml)
			if !strings.Contains(got, "f.yaml:"+tc.want) {
				t.Errorf("problems lack %q:\n%s", tc.want, got)
			}
		})
	}
}
