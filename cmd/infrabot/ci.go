package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/infrabot/infrabot/actions/cijobs"
	"github.com/infrabot/infrabot/actions/digest"
	"github.com/infrabot/infrabot/actions/jenkins"
	"github.com/infrabot/infrabot/actions/zuul"
	"github.com/infrabot/infrabot/cmd/infrabot/admin"
	"github.com/infrabot/infrabot/config"
)

// ciModules makes the CI jobs module on its sources and the digests
// module, handing the digest the sections other modules write.
func (a *App) ciModules() error {
	h, err := a.Engine.Module(cijobs.Name, cijobs.Buckets...)
	if err != nil {
		return err
	}
	watches, err := a.watchesFrom(a.Config)
	if err != nil {
		return err
	}
	ci, err := cijobs.New(h, squadsFrom(a.Config), watches)
	if err != nil {
		return err
	}
	a.ci, a.watches = ci, watches
	h, err = a.Engine.Module(digest.Name, digest.Buckets...)
	if err != nil {
		return err
	}
	sections := []digest.Section{
		{Name: digest.Jobs, Part: ci.DigestSection},
		{Name: digest.Checks, Part: a.Health.ChecksSection},
		{Name: digest.Incidents, Part: a.Health.IncidentsSection},
		{Name: digest.OnCall, Part: a.OnCall.DigestSection},
	}
	a.digests, err = digest.New(h, digestsFrom(a.Config), sections, serverCounts{a})
	return err
}

// watchesFrom makes the CI sources of c, each counted for /metrics.
func (a *App) watchesFrom(c *config.Config) ([]cijobs.Watch, error) {
	watches, err := watchesFrom(c, a.Log)
	if err != nil {
		return nil, err
	}
	for i := range watches {
		watches[i].Source = countedSource{Source: watches[i].Source, name: watches[i].Name, m: a.Metrics}
	}
	return watches, nil
}

func watchesFrom(c *config.Config, log *slog.Logger) ([]cijobs.Watch, error) {
	var out []cijobs.Watch
	for _, s := range c.CI {
		var src cijobs.Source
		var err error
		switch s.Type {
		case "zuul":
			src, err = zuul.New(zuul.Options{
				URL: s.URL, Tenant: s.Tenant, Pipelines: s.Pipelines, Projects: s.Projects,
				Branches: s.Branches, Jobs: s.Jobs, Limit: s.Limit,
				Log: log.With("ci", s.Name),
			})
		case "jenkins":
			src, err = jenkins.New(jenkins.Options{URL: s.URL, User: s.User, Token: s.Token.Value(), Jobs: s.Jobs})
		default:
			err = fmt.Errorf("type %q is not zuul or jenkins", s.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("CI source %s: %w", s.Name, err)
		}
		out = append(out, cijobs.Watch{Name: s.Name, Schedule: s.Schedule, Source: src})
	}
	return out, nil
}

func squadsFrom(c *config.Config) []cijobs.Squad {
	var out []cijobs.Squad
	for name, s := range c.Squads {
		out = append(out, cijobs.Squad{
			Name: name, Members: s.Members, Channel: s.Channel, Jobs: s.Jobs,
			FailuresBeforeNotice: s.FailuresBeforeNotice,
			RemindEvery:          time.Duration(s.RemindEvery), StaleAfter: time.Duration(s.StaleAfter),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func digestsFrom(c *config.Config) []digest.Digest {
	out := make([]digest.Digest, len(c.Digests))
	for i, d := range c.Digests {
		out[i] = digest.Digest{Schedule: d.Schedule, TimeZone: d.Timezone, Channel: d.Channel, Include: d.Include}
	}
	return out
}

// serverCounts answers the digest's server counts from the clouds and the
// declared environments.
type serverCounts struct{ a *App }

func (s serverCounts) Servers(ctx context.Context, env string) (have, declared int, err error) {
	names, servers, err := s.a.envs.Servers(ctx, env)
	return len(servers), len(names), err
}

// countedSource counts a CI source's polls and failures for /metrics.
type countedSource struct {
	cijobs.Source
	name string
	m    *admin.Metrics
}

func (s countedSource) Poll(ctx context.Context, since time.Time) (cijobs.Report, error) {
	r, err := s.Source.Poll(ctx, since)
	if ctx.Err() == nil {
		s.m.CIPolled(s.name, err)
	}
	return r, err
}
