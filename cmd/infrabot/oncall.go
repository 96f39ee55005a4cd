package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/infrabot/infrabot/actions/oncall"
	"github.com/infrabot/infrabot/actions/pagerduty"
	"github.com/infrabot/infrabot/actions/webhook"
	"github.com/infrabot/infrabot/config"
)

// oncallModule makes the on-call module from the config's schedules and
// escalations, with a PagerDuty client per service and a sender per
// webhook, and joins it to the health module through the kernel: on-call
// is the engine's escalation policy, health its incident desk.
func (a *App) oncallModule() error {
	h, err := a.Engine.Module(oncall.Name, oncall.Buckets...)
	if err != nil {
		return err
	}
	schedules, escalations, err := onCallFrom(a.Config)
	if err != nil {
		return err
	}
	pagers := map[string]oncall.Pager{}
	for name, s := range a.Config.PagerDuty.Services {
		c, err := pagerduty.New(pagerduty.Options{URL: a.Config.PagerDuty.URL, RoutingKey: s.RoutingKey.Value()})
		if err != nil {
			return fmt.Errorf("PagerDuty service %s: %w", name, err)
		}
		pagers["pagerduty:"+name] = c
	}
	for name, w := range a.Config.Webhooks {
		s, err := webhook.New(webhook.Options{URL: w.URL, Secret: w.Secret.Value()})
		if err != nil {
			return fmt.Errorf("webhook %s: %w", name, err)
		}
		pagers["webhook:"+name] = s
	}
	a.OnCall, err = oncall.New(h, schedules, escalations, oncall.Options{Pagers: pagers})
	if err != nil {
		return err
	}
	a.Engine.SetEscalation(a.OnCall)
	a.Engine.SetIncidentDesk(a.Health)
	return nil
}

// onCallFrom reads the config's schedules and escalations, which config
// has checked.
func onCallFrom(c *config.Config) ([]oncall.Schedule, []oncall.Escalation, error) {
	var schedules []oncall.Schedule
	for name, s := range c.OnCall.Schedules {
		r, err := oncall.ParseRotation(s.Rotation, s.Handoff, s.Timezone, s.Start)
		if err != nil {
			return nil, nil, fmt.Errorf("schedule %s: %w", name, err)
		}
		schedules = append(schedules, oncall.Schedule{Name: name, Rotation: r, Members: s.Members})
	}
	sort.Slice(schedules, func(i, j int) bool { return schedules[i].Name < schedules[j].Name })
	var escalations []oncall.Escalation
	for name, levels := range c.OnCall.Escalations {
		e := oncall.Escalation{Name: name}
		for _, l := range levels {
			lv := oncall.Level{After: time.Duration(l.After), Repeat: time.Duration(l.Repeat)}
			for _, n := range l.Notify {
				t, err := oncall.ParseTarget(n)
				if err != nil {
					return nil, nil, fmt.Errorf("escalation %s: %w", name, err)
				}
				lv.Notify = append(lv.Notify, t)
			}
			e.Levels = append(e.Levels, lv)
		}
		escalations = append(escalations, e)
	}
	sort.Slice(escalations, func(i, j int) bool { return escalations[i].Name < escalations[j].Name })
	return schedules, escalations, nil
}

// pagerDutySecrets are the secrets of PagerDuty's webhook subscription.
func pagerDutySecrets(c *config.Config) []string {
	var out []string
	for _, s := range c.PagerDuty.WebhookSecrets {
		out = append(out, s.Value())
	}
	return out
}
