package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"

	"github.com/infrabot/infrabot/actions/schedule"
)

// CISource is a CI system infrabot watches (ci:). Zuul is read through its
// builds API, Jenkins through its JSON API; see docs/ci-jobs.md.
type CISource struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // zuul or jenkins
	URL  string `yaml:"url"`
	// Schedule is how often the source is polled; default "@every 5m".
	Schedule string `yaml:"schedule"`

	// Zuul: the tenant, and filters of the builds asked for.
	Tenant    string   `yaml:"tenant"`
	Pipelines []string `yaml:"pipelines"`
	Projects  []string `yaml:"projects"`
	Branches  []string `yaml:"branches"`
	// Limit is how many builds one Zuul request asks for (default 100).
	Limit int `yaml:"limit"`

	// Jobs: Zuul job names to ask for (optional); Jenkins job full names
	// to watch, with globs (required).
	Jobs []string `yaml:"jobs"`

	// Jenkins: Basic auth with a user and an API token.
	User  string `yaml:"user"`
	Token Secret `yaml:"token"`
}

// Squad is a group of people who own CI jobs and hear about them in their
// channel (squads:).
type Squad struct {
	Members []string `yaml:"members"`
	Channel string   `yaml:"channel"`
	// Jobs are globs over job names: * is any run of characters.
	Jobs []string `yaml:"jobs"`
	// FailuresBeforeNotice is how many failures in a row break a job;
	// default 1.
	FailuresBeforeNotice int `yaml:"failures_before_notice"`
	// RemindEvery is how often a broken job is brought up again; default
	// 24h.
	RemindEvery Duration `yaml:"remind_every"`
	// StaleAfter is how long a job may go without a build before the
	// squad is told; unset, never.
	StaleAfter Duration `yaml:"stale_after"`
}

// Digest is a status digest posted on a schedule (digests:).
type Digest struct {
	Schedule string `yaml:"schedule"`
	Timezone string `yaml:"timezone"`
	Channel  string `yaml:"channel"`
	// Include names the sections, in order: environments, checks,
	// incidents, oncall, jobs, runs. Every section when empty.
	Include []string `yaml:"include"`
}

// DigestSections are the sections a digest may include.
var DigestSections = []string{"environments", "checks", "incidents", "oncall", "jobs", "runs"}

func (v *validator) checkCI(c *Config) {
	seen := map[string]bool{}
	for i, s := range c.CI {
		at := []string{"ci", strconv.Itoa(i)}
		switch {
		case !namePattern.MatchString(s.Name):
			v.errorf(at, "CI source name %q: use lower-case letters, digits and dashes", s.Name)
		case seen[s.Name]:
			v.errorf(at, "CI source %s is declared twice", s.Name)
		}
		seen[s.Name] = true
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf(append(at, "url"), "CI source %s: %s", s.Name, notHTTPURL("url", s.URL))
		} else if u.User != nil {
			v.errorf(append(at, "url"), "CI source %s: put no credentials in the url; use user and token", s.Name)
		}
		if s.Schedule != "" {
			if _, err := schedule.Parse(s.Schedule, ""); err != nil {
				v.errorf(append(at, "schedule"), "CI source %s: %v", s.Name, err)
			}
		}
		if s.Limit < 0 || s.Limit > 1000 {
			v.errorf(append(at, "limit"), "CI source %s: limit must be between 1 and 1000", s.Name)
		}
		switch s.Type {
		case "zuul":
			if s.Tenant == "" {
				v.errorf(at, "CI source %s (zuul) needs a tenant", s.Name)
			}
			if s.User != "" || s.Token.IsSet() {
				v.errorf(at, "CI source %s (zuul): Zuul's builds API needs no user or token", s.Name)
			}
		case "jenkins":
			if len(s.Jobs) == 0 {
				v.errorf(at, "CI source %s (jenkins) needs jobs to watch (full names, globs allowed: [\"promote-*\"])", s.Name)
			}
			if s.Token.IsSet() != (s.User != "") {
				v.errorf(at, "CI source %s (jenkins): give user and token together (an API token, from a secret)", s.Name)
			}
			if s.Tenant != "" || len(s.Pipelines) > 0 || len(s.Projects) > 0 || len(s.Branches) > 0 {
				v.errorf(at, "CI source %s (jenkins): tenant, pipelines, projects and branches are Zuul's", s.Name)
			}
		default:
			v.errorf(append(at, "type"), "CI source %s: type %q is not zuul or jenkins", s.Name, s.Type)
		}
	}
	for name, sq := range c.Squads {
		at := []string{"squads", name}
		if !namePattern.MatchString(name) {
			v.errorf(at, "squad name %q: use lower-case letters, digits and dashes", name)
		}
		if len(sq.Members) == 0 {
			v.errorf(at, "squad %s has no members", name)
		}
		for i, p := range sq.Members {
			if _, ok := c.People[p]; !ok {
				v.errorf(append(at, "members", strconv.Itoa(i)), "squad %s: member %q is not declared under people", name, p)
			}
		}
		if _, ok := c.Channels[sq.Channel]; !ok {
			v.errorf(append(at, "channel"), "squad %s: channel %q is not declared under channels", name, sq.Channel)
		}
		if len(sq.Jobs) == 0 {
			v.errorf(at, "squad %s owns no jobs (jobs: [\"periodic-*\"])", name)
		}
		if sq.FailuresBeforeNotice < 0 || sq.FailuresBeforeNotice > 100 {
			v.errorf(append(at, "failures_before_notice"), "squad %s: failures_before_notice must be between 1 and 100", name)
		}
	}
	if len(c.Squads) > 0 && len(c.CI) == 0 {
		v.errorf([]string{"squads"}, "squads are declared but no CI source is (ci:)")
	}
	for i, d := range c.Digests {
		at := []string{"digests", strconv.Itoa(i)}
		if _, err := schedule.Parse(d.Schedule, d.Timezone); err != nil {
			v.errorf(at, "digest %d: %v", i+1, err)
		}
		if _, ok := c.Channels[d.Channel]; !ok {
			v.errorf(append(at, "channel"), "digest %d: channel %q is not declared under channels", i+1, d.Channel)
		}
		for j, s := range d.Include {
			if !slices.Contains(DigestSections, s) {
				v.errorf(append(at, "include", strconv.Itoa(j)), "digest %d: %q is not a section; sections: %s", i+1, s, fmt.Sprint(DigestSections))
			}
		}
	}
}
