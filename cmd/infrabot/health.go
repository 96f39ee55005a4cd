package main

import (
	"context"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/deploy"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/schedule"
	"github.com/infrabot/infrabot/cmd/infrabot/admin"
	"github.com/infrabot/infrabot/config"
)

// healthModule makes the health-checks module from the config's checks,
// with the environments' clouds for openstack checks.
func (a *App) healthModule() error {
	h, err := a.Engine.Module(health.Name, health.Buckets...)
	if err != nil {
		return err
	}
	a.Health, err = health.New(h, checksFrom(a.Config), health.Options{
		Parse:     func(spec, tz string) (health.Schedule, error) { return schedule.Parse(spec, tz) },
		Fleet:     a.envs,
		Shell:     shell{hosts: a.deploy.Hosts, remotes: a.shells, redact: h.Redactor()},
		Lookahead: 2 * time.Second, // twice the probe job's tick, so a late tick starts nothing late
	})
	return err
}

// healthMetrics registers the health module's families on m, read from
// one Stats per scrape. Every label is by type of check (five values),
// never by check: 5,000 checks with a duration histogram each would be
// 75,000 series per scrape, for what `checks` and the incidents already
// say check by check.
func healthMetrics(m *admin.Metrics, x *health.Module) {
	type family = admin.Family[health.Stats]
	admin.ReadFrom(m, x.Stats,
		family{Kind: admin.Gauge, Name: "infrabot_health_checks", Help: "Health checks declared, by type.", Labels: []string{"type"},
			Read: func(s health.Stats, emit admin.Emit) {
				for _, k := range s.Kinds {
					emit(float64(k.Checks), string(k.Kind))
				}
			}},
		family{Kind: admin.Counter, Name: "infrabot_health_check_results_total", Help: "Results of health checks (scheduled runs, runs asked for in chat, heartbeats' pings and missed deadlines), by type and result (ok, failed).", Labels: []string{"type", "result"},
			Read: func(s health.Stats, emit admin.Emit) {
				for _, k := range s.Kinds {
					emit(float64(k.Passed), string(k.Kind), "ok")
					emit(float64(k.Failed), string(k.Kind), "failed")
				}
			}},
		family{Name: "infrabot_health_check_duration_seconds", Help: "How long health checks took to probe their target, by type (heartbeats probe nothing and are not counted).", Labels: []string{"type"},
			ReadHistogram: func(s health.Stats, emit admin.EmitHistogram) {
				for _, k := range s.Kinds {
					if k.Kind == health.Heartbeat {
						continue
					}
					buckets := make(map[float64]uint64, len(health.DurationBounds))
					for i, b := range health.DurationBounds {
						buckets[b] = k.Counts[i]
					}
					emit(k.Count, k.Sum, buckets, string(k.Kind))
				}
			}},
		family{Kind: admin.Gauge, Name: "infrabot_health_incidents_open", Help: "Incidents open now.",
			Read: func(s health.Stats, emit admin.Emit) {
				emit(float64(s.OpenIncidents))
			}},
		family{Kind: admin.Counter, Name: "infrabot_health_heartbeat_pings_total", Help: "Pings received for heartbeat checks, by kind (success, start, fail: /fail or a non-zero exit code); pings with an unknown token are not counted.", Labels: []string{"kind"},
			Read: func(s health.Stats, emit admin.Emit) {
				for _, p := range []string{health.PingSuccess, health.PingStart, health.PingFail} {
					emit(float64(s.Pings[p]), p)
				}
			}},
	)
}

// shell runs ssh checks: the hosts a deploy step with the same `on:`
// would run on, through the environment's SSH executor (the one deploys
// use: host keys verified the same way, connections shared), every host
// at once, each one's output redacted and its tail kept.
type shell struct {
	hosts   func(ctx context.Context, env, on string) ([]deploy.Host, error)
	remotes map[string]deploy.Remote
	redact  *actions.Redactor
}

func (s shell) Run(ctx context.Context, env, on, cmd string) ([]health.ShellResult, error) {
	r := s.remotes[env]
	if r == nil {
		return nil, actions.Errorf(actions.Invalid, "%s has no ssh settings to run commands with", env)
	}
	hosts, err := s.hosts(ctx, env, on)
	if err != nil {
		return nil, err
	}
	results := deploy.RunStep(ctx, r, hosts, cmd, deploy.StepOptions{
		Parallel: len(hosts), KeepGoing: true, Redact: s.redact, Head: 0, Tail: 20,
	})
	out := make([]health.ShellResult, len(results))
	for i, res := range results {
		out[i] = health.ShellResult{Host: res.Host.Name, Err: res.Err, Tail: res.Output.Last(20)}
	}
	return out, nil
}

func checksFrom(c *config.Config) []health.Check {
	var out []health.Check
	for _, ch := range c.Checks {
		hc := health.Check{
			Name: ch.Name, Kind: health.Kind(ch.Type),
			URL: ch.URL, Address: ch.Address,
			Environment: ch.Environment, On: ch.On, Run: ch.Run,
			Period: time.Duration(ch.Period), Grace: time.Duration(ch.Grace), Token: ch.Token.Value(),
			Schedule: ch.Schedule, TimeZone: ch.TimeZone, Timeout: time.Duration(ch.Timeout),
			FailuresBeforeIncident: ch.FailuresBeforeIncident, SuccessesBeforeResolve: ch.SuccessesBeforeResolve,
			Escalation: ch.Escalation,
		}
		if e := ch.Expect; e != nil {
			hc.Expect = health.Expect{Status: e.Status, BodyContains: e.BodyContains,
				MaxLatency: time.Duration(e.MaxLatency), CertValidFor: time.Duration(e.CertValidFor)}
		}
		for _, n := range ch.Notify {
			if t, err := actions.ParseTarget(n); err == nil { // config has checked them
				hc.Notify = append(hc.Notify, t)
			}
		}
		out = append(out, hc)
	}
	return out
}
