package config

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/deploy"
	"github.com/infrabot/infrabot/actions/schedule"
)

// Check is one health check (see docs/health-checks.md).
type Check struct {
	Name string `yaml:"name"`
	// Type is http, tcp, ssh, openstack or heartbeat.
	Type string `yaml:"type"`

	URL     string       `yaml:"url"`     // http
	Expect  *CheckExpect `yaml:"expect"`  // http
	Address string       `yaml:"address"` // tcp: host:port

	Environment string `yaml:"environment"` // openstack, ssh
	On          string `yaml:"on"`          // ssh: the server
	Run         string `yaml:"run"`         // ssh: the command

	Period Duration `yaml:"period"` // heartbeat
	Grace  Duration `yaml:"grace"`  // heartbeat
	// Token is the heartbeat's secret: jobs ping /ping/<token>.
	Token Secret `yaml:"token"`

	Schedule string   `yaml:"schedule"`  // a cron spec; @every 1m by default
	TimeZone string   `yaml:"time_zone"` // for Schedule; UTC by default
	Timeout  Duration `yaml:"timeout"`   // 10s by default

	FailuresBeforeIncident int      `yaml:"failures_before_incident"`
	SuccessesBeforeResolve int      `yaml:"successes_before_resolve"`
	Notify                 []string `yaml:"notify"` // targets; [channel:default] by default
	// Escalation names an escalation under oncall.escalations: who is
	// paged when an incident opens, and after.
	Escalation string `yaml:"escalation"`
}

// CheckExpect is what an HTTP check requires of the answer.
type CheckExpect struct {
	Status       int      `yaml:"status"`
	BodyContains string   `yaml:"body_contains"`
	MaxLatency   Duration `yaml:"max_latency"`
	CertValidFor Duration `yaml:"cert_valid_for"`
}

func (v *validator) checkChecks(c *Config) {
	seen := map[string]bool{}
	tokens := map[string]string{}
	for i, ch := range c.Checks {
		at := []string{"checks", strconv.Itoa(i)}
		name := ch.Name
		switch {
		case !namePattern.MatchString(name):
			v.errorf(at, "check name %q: use lower-case letters, digits and dashes, starting with a letter", name)
		case seen[name]:
			v.errorf(at, "check %s is declared twice", name)
		}
		seen[name] = true
		switch ch.Type {
		case "http":
			u, err := url.Parse(ch.URL)
			if ch.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.errorf(append(at, "url"), "check %s needs a url starting with http:// or https://", name)
			}
			if e := ch.Expect; e != nil && e.Status != 0 && (e.Status < 100 || e.Status > 599) {
				v.errorf(append(at, "expect", "status"), "check %s: status %d is not an HTTP status", name, e.Status)
			}
		case "tcp":
			if _, port, err := net.SplitHostPort(ch.Address); err != nil || port == "" {
				v.errorf(append(at, "address"), "check %s needs an address like registry.example.org:5000", name)
			}
		case "ssh":
			v.checkSSHCheck(c, at, ch)
		case "openstack":
			if _, ok := c.Environments[ch.Environment]; !ok {
				v.errorf(append(at, "environment"), "check %s watches environment %q, which is not declared under environments", name, ch.Environment)
			}
		case "heartbeat":
			if ch.Period <= 0 {
				v.errorf(at, "heartbeat %s needs a period (how often the job pings, like 24h)", name)
			}
			if !ch.Token.IsSet() {
				v.errorf(at, "heartbeat %s needs a token, a secret reference such as ${env:NIGHTLY_PING_TOKEN}", name)
			} else if other, dup := tokens[ch.Token.Value()]; dup {
				v.errorf(append(at, "token"), "heartbeats %s and %s have the same token", other, name)
			} else {
				tokens[ch.Token.Value()] = name
			}
		default:
			v.errorf(append(at, "type"), "check %s: type %q is not http, tcp, ssh, openstack or heartbeat", name, ch.Type)
		}
		if ch.Schedule != "" || ch.TimeZone != "" {
			spec := ch.Schedule
			if spec == "" {
				spec = "@every 1m"
			}
			if _, err := schedule.Parse(spec, ch.TimeZone); err != nil {
				v.errorf(append(at, "schedule"), "check %s: %v", name, err)
			}
		}
		if ch.FailuresBeforeIncident < 0 || ch.FailuresBeforeIncident > 100 {
			v.errorf(append(at, "failures_before_incident"), "check %s: failures_before_incident must be between 1 and 100", name)
		}
		if ch.SuccessesBeforeResolve < 0 || ch.SuccessesBeforeResolve > 100 {
			v.errorf(append(at, "successes_before_resolve"), "check %s: successes_before_resolve must be between 1 and 100", name)
		}
		for j, n := range ch.Notify {
			t, err := actions.ParseTarget(n)
			if err != nil {
				v.errorf(append(at, "notify", strconv.Itoa(j)), "check %s: %s", name, actions.ErrorMessage(err))
				continue
			}
			v.checkTarget(c, append(at, "notify", strconv.Itoa(j)), t)
		}
		if len(ch.Notify) == 0 {
			if _, ok := c.Channels["default"]; !ok {
				v.errorf(at, "check %s notifies channel:default, which is not declared under channels; declare it or give notify", name)
			}
		}
	}
}

// checkSSHCheck: an ssh check runs on hosts of a declared environment
// with ssh settings, `on:` what a deploy step may name, a command
// without parameters.
func (v *validator) checkSSHCheck(c *Config, at []string, ch Check) {
	name := ch.Name
	e, ok := c.Environments[ch.Environment]
	switch {
	case ch.Environment == "":
		v.errorf(at, "check %s needs the environment whose hosts it runs on (environment: staging)", name)
	case !ok:
		v.errorf(append(at, "environment"), "check %s runs on environment %q, which is not declared under environments", name, ch.Environment)
	case e.SSH == nil:
		v.errorf(append(at, "environment"), "check %s runs on %s, which has no ssh settings (environments.%s.ssh)", name, ch.Environment, ch.Environment)
	default:
		switch on := ch.On; {
		case on == "" || on == "all":
		case on == "bastion":
			if e.SSH.Bastion == nil {
				v.errorf(append(at, "on"), "check %s runs on the bastion, but environments.%s.ssh.bastion is not set", name, ch.Environment)
			}
		case !slices.ContainsFunc(e.Servers, func(s ServerDecl) bool { return s.Name == on }):
			v.errorf(append(at, "on"), "check %s: on: %q is not all, bastion, or a server declared in %s", name, on, ch.Environment)
		}
	}
	if strings.TrimSpace(ch.Run) == "" {
		v.errorf(at, "check %s has nothing to run (run: COMMAND; exit status 0 is up)", name)
		return
	}
	cmd, err := deploy.ParseCommand(ch.Run)
	if err != nil {
		v.errorf(append(at, "run"), "check %s: %v", name, err)
	} else if len(cmd.Params()) > 0 {
		v.errorf(append(at, "run"), "check %s: a check's command takes no parameters ({{ .%s }})", name, cmd.Params()[0])
	}
}

// checkTarget reports a notification target that names nothing declared.
func (v *validator) checkTarget(c *Config, path []string, t actions.Target) {
	switch t.Kind {
	case actions.ToChannel:
		if _, ok := c.Channels[t.Name]; !ok {
			v.errorf(path, "channel %q is not declared under channels", t.Name)
		}
	case actions.ToPerson:
		if _, ok := c.People[t.Name]; !ok {
			v.errorf(path, "person %q is not declared under people", t.Name)
		}
	}
}
