package config

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/oncall"
)

// OnCall is who is on call and how incidents escalate (docs/oncall.md).
type OnCall struct {
	Schedules map[string]Rotation `yaml:"schedules"`
	// Escalations are named lists of levels; a check names one with
	// escalation:.
	Escalations map[string][]EscalationLevel `yaml:"escalations"`
}

// Rotation is one on-call schedule.
type Rotation struct {
	// Rotation is daily, weekly or "every N days".
	Rotation string `yaml:"rotation"`
	// Handoff is when shifts change: "09:00", or "Mon 09:00" for a
	// weekly rotation (Monday when no day is given). Default 09:00.
	Handoff string `yaml:"handoff"`
	// Timezone is the IANA zone of the handoff; UTC by default.
	Timezone string `yaml:"timezone"`
	// Start is the date of the first member's first shift (2026-01-05);
	// shifts are counted from a fixed Monday in 2024 by default.
	Start string `yaml:"start"`
	// Members take shifts in this order.
	Members []string `yaml:"members"`
}

// EscalationLevel is one level of an escalation.
type EscalationLevel struct {
	// After is how long after the previous level, with nobody
	// acknowledging, this one is paged; the first level has none.
	After Duration `yaml:"after"`
	// Repeat is how often the last level is paged again until someone
	// acknowledges; its after by default.
	Repeat Duration `yaml:"repeat"`
	// Notify is one target or a list: schedule:NAME, person:NAME,
	// channel:NAME, pagerduty:SERVICE, webhook:NAME.
	Notify Targets `yaml:"notify"`
}

// Targets are one target or a list of them.
type Targets []string

// UnmarshalYAML takes a target or a list of targets.
func (t *Targets) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*t = Targets{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(Targets, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return lineError(c, "a page target is written like schedule:ci-oncall or person:alice")
			}
			out = append(out, c.Value)
		}
		*t = out
		return nil
	}
	return lineError(n, "notify takes a target like schedule:ci-oncall, or a list of them")
}

// PagerDuty is infrabot's PagerDuty: services it triggers through the
// Events API v2, and the v3 webhook that brings acknowledgements back.
type PagerDuty struct {
	// URL is the Events API's base; https://events.pagerduty.com by
	// default.
	URL string `yaml:"url"`
	// Services by name, as escalation levels page them
	// (pagerduty:NAME).
	Services map[string]PagerDutyService `yaml:"services"`
	// WebhookSecrets sign the v3 webhook subscription's deliveries to
	// /pagerduty/webhook (two while one is rotated); none: no endpoint.
	WebhookSecrets []Secret `yaml:"webhook_secrets"`
}

// PagerDutyService is one PagerDuty service.
type PagerDutyService struct {
	// RoutingKey is the service's Events API v2 integration key.
	RoutingKey Secret `yaml:"routing_key"`
}

// Webhook is an endpoint page events are POSTed to, signed.
type Webhook struct {
	URL    string `yaml:"url"`
	Secret Secret `yaml:"secret"`
}

func (v *validator) checkOnCall(c *Config) {
	at := []string{"oncall", "schedules"}
	for name, s := range c.OnCall.Schedules {
		sat := append(at, name)
		if !namePattern.MatchString(name) {
			v.errorf(sat, "schedule name %q: use lower-case letters, digits and dashes", name)
		}
		if s.Rotation == "" {
			v.errorf(sat, "schedule %s needs a rotation: daily, weekly, or every N days", name)
		} else if _, err := oncall.ParseRotation(s.Rotation, s.Handoff, s.Timezone, s.Start); err != nil {
			v.errorf(sat, "schedule %s: %s", name, actions.ErrorMessage(err))
		}
		if len(s.Members) == 0 {
			v.errorf(sat, "schedule %s has no members", name)
		}
		for i, m := range s.Members {
			if _, ok := c.People[m]; !ok {
				v.errorf(append(sat, "members", strconv.Itoa(i)), "schedule %s: %q is not declared under people", name, m)
			}
		}
	}
	for name, levels := range c.OnCall.Escalations {
		eat := []string{"oncall", "escalations", name}
		if !namePattern.MatchString(name) {
			v.errorf(eat, "escalation name %q: use lower-case letters, digits and dashes", name)
		}
		if len(levels) == 0 {
			v.errorf(eat, "escalation %s has no levels", name)
		}
		for i, l := range levels {
			lat := append(eat, strconv.Itoa(i))
			switch {
			case i == 0 && l.After != 0:
				v.errorf(append(lat, "after"), "escalation %s: the first level is paged when the incident opens; remove its after", name)
			case i > 0 && l.After <= 0:
				v.errorf(lat, "escalation %s: level %d needs after (how long after level %d, with nobody acknowledging)", name, i+1, i)
			}
			if l.Repeat != 0 && i != len(levels)-1 {
				v.errorf(append(lat, "repeat"), "escalation %s: only the last level repeats", name)
			}
			if l.Repeat != 0 && time.Duration(l.Repeat) < time.Minute {
				v.errorf(append(lat, "repeat"), "escalation %s: repeat at most every minute", name)
			}
			if len(l.Notify) == 0 {
				v.errorf(lat, "escalation %s: level %d pages nobody; give notify", name, i+1)
			}
			for j, n := range l.Notify {
				v.checkPageTarget(c, append(lat, "notify", strconv.Itoa(j)), n)
			}
		}
	}
	for name, s := range c.PagerDuty.Services {
		if !namePattern.MatchString(name) {
			v.errorf([]string{"pagerduty", "services", name}, "PagerDuty service name %q: use lower-case letters, digits and dashes", name)
		}
		if !s.RoutingKey.IsSet() {
			v.errorf([]string{"pagerduty", "services", name}, "PagerDuty service %s needs routing_key, a secret reference such as ${env:PAGERDUTY_CI_KEY}", name)
		}
	}
	if u := c.PagerDuty.URL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			v.errorf([]string{"pagerduty", "url"}, "%s", notHTTPURL("pagerduty.url", u))
		}
	}
	if len(c.PagerDuty.WebhookSecrets) > 0 && c.HTTP.Listen == "" {
		v.errorf([]string{"pagerduty", "webhook_secrets"}, "PagerDuty's webhook needs the public HTTP server: add http: {listen: 127.0.0.1:3000} at the top level")
	}
	for name, w := range c.Webhooks {
		wat := []string{"webhooks", name}
		if !namePattern.MatchString(name) {
			v.errorf(wat, "webhook name %q: use lower-case letters, digits and dashes", name)
		}
		if p, err := url.Parse(w.URL); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			v.errorf(append(wat, "url"), "webhook %s needs a url starting with http:// or https://", name)
		}
		if !w.Secret.IsSet() {
			v.errorf(wat, "webhook %s needs a secret to sign with, a reference such as ${env:OPS_WEBHOOK_SECRET}", name)
		}
	}
	for i, ch := range c.Checks {
		if ch.Escalation == "" {
			continue
		}
		if _, ok := c.OnCall.Escalations[ch.Escalation]; !ok {
			v.errorf([]string{"checks", strconv.Itoa(i), "escalation"}, "check %s: escalation %q is not declared under oncall.escalations", ch.Name, ch.Escalation)
		}
	}
}

// checkPageTarget reports a level's target that names nothing declared.
func (v *validator) checkPageTarget(c *Config, path []string, s string) {
	t, err := oncall.ParseTarget(s)
	if err != nil {
		v.errorf(path, "%s", actions.ErrorMessage(err))
		return
	}
	ok, where := true, ""
	switch t.Kind {
	case oncall.ToSchedule:
		_, ok = c.OnCall.Schedules[t.Name]
		where = "oncall.schedules"
	case oncall.ToPerson:
		_, ok = c.People[t.Name]
		where = "people"
	case oncall.ToChannel:
		_, ok = c.Channels[t.Name]
		where = "channels"
	case oncall.ToPagerDuty:
		_, ok = c.PagerDuty.Services[t.Name]
		where = "pagerduty.services"
	case oncall.ToWebhook:
		_, ok = c.Webhooks[t.Name]
		where = "webhooks"
	}
	if !ok {
		v.errorf(path, "%s %q is not declared under %s", strings.TrimSuffix(string(t.Kind), ":"), t.Name, where)
	}
}
