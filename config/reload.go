package config

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/infrabot/infrabot/actions/oncall"
)

// CheckReload reports what in c, read again at a reload, the process
// running with the config it started with (running) cannot take: some
// sections take effect only at a restart (oncall, pagerduty, webhooks,
// and the environments' ssh, bootstrap, deploy and params), while the
// checks, people and channels change at once, and the two must agree
// until the restart. A check may follow only an escalation in force, and
// an ssh check run only where an SSH executor is (an environment with
// ssh settings at the start, on a server it declared then, or on its
// bastion then); a person or channel the on-call in force pages stays
// declared. Each problem has c's file and line. Escalations page
// PagerDuty services and webhooks, which a reload does not touch: they
// agree already.
func (c *Config) CheckReload(running *Config) Problems {
	v := validator{file: c.Path, root: c.root}
	inForce := slices.Sorted(maps.Keys(running.OnCall.Escalations))
	for i, ch := range c.Checks {
		at := []string{"checks", strconv.Itoa(i)}
		if ch.Escalation != "" {
			if _, ok := running.OnCall.Escalations[ch.Escalation]; !ok {
				v.errorf(append(at, "escalation"), "check %s follows escalation %q, which is not in force: oncall takes effect at the next restart (in force: %s); restart infrabot instead of reloading, or reload with an escalation in force", ch.Name, ch.Escalation, orNone(inForce))
			}
		}
		if ch.Type != "ssh" {
			continue
		}
		env, ok := running.Environments[ch.Environment]
		switch {
		case !ok || env.SSH == nil:
			v.errorf(append(at, "environment"), "check %s runs on %s, whose ssh settings take effect at the next restart (SSH executors are made at start); restart infrabot instead of reloading", ch.Name, ch.Environment)
		case ch.On == "bastion" && env.SSH.Bastion == nil:
			v.errorf(append(at, "on"), "check %s runs on the bastion of %s, whose ssh settings take effect at the next restart; restart infrabot instead of reloading", ch.Name, ch.Environment)
		case ch.On != "" && ch.On != "all" && ch.On != "bastion" && !slices.ContainsFunc(env.Servers, func(s ServerDecl) bool { return s.Name == ch.On }):
			v.errorf(append(at, "on"), "check %s runs on %s servers, which the SSH executor of %s knows from the next restart; restart infrabot instead of reloading", ch.Name, ch.On, ch.Environment)
		}
	}
	for _, p := range running.pagedByOnCall() {
		var ok bool
		section := "people"
		switch p.kind {
		case oncall.ToPerson:
			_, ok = c.People[p.name]
		case oncall.ToChannel:
			_, ok = c.Channels[p.name]
			section = "channels"
		}
		if !ok {
			v.errorf([]string{section}, "%s %s is removed, but the on-call in force pages it (%s) until the next restart; keep it under %s until then", p.kind, p.name, p.by, section)
		}
	}
	return v.problems
}

// paged is a person or channel the on-call setup pages, and what pages
// them.
type paged struct {
	kind oncall.TargetKind // ToPerson or ToChannel
	name string
	by   string
}

// pagedByOnCall lists the people (members of a schedule, person:
// targets) and channels (channel: targets) c's on-call setup pages, each
// once, in a stable order.
func (c *Config) pagedByOnCall() []paged {
	var out []paged
	seen := map[string]bool{}
	add := func(kind oncall.TargetKind, name, by string) {
		if key := string(kind) + name; !seen[key] {
			seen[key] = true
			out = append(out, paged{kind: kind, name: name, by: by})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.OnCall.Schedules)) {
		for _, m := range c.OnCall.Schedules[name].Members {
			add(oncall.ToPerson, m, "schedule "+name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.OnCall.Escalations)) {
		for _, l := range c.OnCall.Escalations[name] {
			for _, n := range l.Notify {
				if t, err := oncall.ParseTarget(n); err == nil && (t.Kind == oncall.ToPerson || t.Kind == oncall.ToChannel) {
					add(t.Kind, t.Name, "escalation "+name)
				}
			}
		}
	}
	return out
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
