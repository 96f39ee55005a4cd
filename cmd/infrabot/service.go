package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/cijobs"
	"github.com/infrabot/infrabot/cmd/infrabot/admin"
	"github.com/infrabot/infrabot/config"
)

// serveAdmin starts the admin listener the config asks for (admin.listen;
// nothing when it is "off"), reporting the app's parts and its metrics.
func serveAdmin(app *App) (*admin.Server, error) {
	addr := app.Config.Admin.Listen
	if addr == "off" || addr == "" {
		return nil, nil
	}
	s, err := admin.Listen(addr, app.Metrics, app.Log)
	if err != nil {
		return nil, err
	}
	s.Watch(app.parts...)
	s.Watch(admin.Part{Name: "commands", Ready: func(context.Context) (bool, string) {
		if app.Engine.Stopping() {
			return false, "shutting down: refusing new work"
		}
		return true, "accepting"
	}})
	m := app.Metrics
	m.Read(admin.Gauge, "infrabot_store_size_bytes", "Size of the store's data (the bbolt file in use).", nil, func(emit admin.Emit) {
		if n, err := app.DB.Size(context.Background()); err == nil {
			emit(float64(n))
		}
	})
	m.Read(admin.Counter, "infrabot_notifications_total", "Notifications infrabot spoke first (pages, notices, digests, approval requests) by result: sent, or failed after the adapter's retries.", []string{"result"}, func(emit admin.Emit) {
		sent, failed := app.Engine.DeliveryStats()
		emit(float64(sent), "sent")
		emit(float64(failed), "failed")
	})
	m.Read(admin.Counter, "infrabot_chat_calls_total", "Chat platform API calls by platform, call (post, update, thread, open_dm, ephemeral; answer: a reply carried in a slash command's acknowledgement, delivered only) and result: delivered, retried (an attempt made again after a transient failure), rate_limited (a 429 waited out), failed (given up, logged), coalesced (an update replaced by a newer state before it was sent).", []string{"platform", "call", "result"}, func(emit admin.Emit) {
		app.deliveryMu.Lock()
		defer app.deliveryMu.Unlock()
		for platform, d := range app.deliveries {
			for call, c := range d.counts() {
				emit(float64(c.Delivered), platform, call, "delivered")
				emit(float64(c.Retried), platform, call, "retried")
				emit(float64(c.RateLimited), platform, call, "rate_limited")
				emit(float64(c.Failed), platform, call, "failed")
				emit(float64(c.Coalesced), platform, call, "coalesced")
			}
		}
	})
	m.Read(admin.Gauge, "infrabot_chat_queue_depth", "Messages and updates waiting in a chat platform's delivery queue, by platform (what is being sent is not counted).", []string{"platform"}, func(emit admin.Emit) {
		app.deliveryMu.Lock()
		defer app.deliveryMu.Unlock()
		for platform, d := range app.deliveries {
			emit(float64(d.queued()), platform)
		}
	})
	m.Read(admin.Counter, "infrabot_pages_total", "Pages on-call sent, by way (chat: a direct message, a mention or a page in a channel; pagerduty, webhook: a trigger event) and result: sent, or failed (in chat, reaching no platform or not every one; a pager's event refused or given up after its retries).", []string{"via", "result"}, func(emit admin.Emit) {
		if app.OnCall == nil {
			return
		}
		for _, p := range app.OnCall.Pages() {
			emit(float64(p.Sent), p.Via, "sent")
			emit(float64(p.Failed), p.Via, "failed")
		}
	})
	m.Read(admin.Gauge, "infrabot_runs_in_progress", "Runs going now.", nil, func(emit admin.Emit) {
		emit(float64(app.Engine.Running()))
	})
	healthMetrics(m, app.Health)
	m.Read(admin.Gauge, "infrabot_scheduled_jobs", "Jobs the scheduler fires (the kernel's and the modules').", nil, func(emit admin.Emit) {
		_, n := app.Sched.Running()
		emit(float64(n))
	})
	return s, nil
}

// Reload reads the config file again (SIGHUP). A file that does not load
// is refused: each problem is logged with its file and line, and the
// config in force stays. A good one swaps, for every command from now
// on, the people, roles, approval rules, channels and the approvals
// channel, the environments and the clouds they use, the grace period,
// the health checks, and the CI sources, squads and digests (a check,
// source or digest that stays keeps its next slot and its stored state).
// Nothing in progress is dropped: runs going keep what they started with,
// requests waiting for approval are records in the store (approving one
// computes its plan again, so a changed environment voids it), and jobs
// keep their last runs. Sections that this process cannot take without a
// restart (the store, the listeners, the chat adapters' tokens, on-call,
// PagerDuty, webhooks, the log section, and the environments' ssh,
// bootstrap, deploy and params) are named in
// the log and the audit record, and take effect at the next start; a file
// whose checks, people or channels do not agree with those sections as
// they were at the start (a check on an escalation or ssh settings not in
// force yet, a person the on-call in force pages removed) is refused, as
// config.CheckReload says. The reload is audited, applied or refused.
func (a *App) Reload(ctx context.Context) error {
	a.reload.Lock()
	defer a.reload.Unlock()
	old := a.current.Load()
	path := old.Path
	if path == "" {
		return errors.New("the built-in demo config has no file to reload")
	}
	cfg, err := config.Load(path)
	if err == nil {
		err = checkConfig(cfg) // the names only the catalogue knows
	}
	if err == nil {
		// What changes now must agree with what waits for a restart:
		// on-call and the SSH executors are still a.Config's.
		if probs := cfg.CheckReload(a.Config); probs != nil {
			err = probs
		}
	}
	if err == nil {
		err = a.apply(ctx, old, cfg)
	}
	if err != nil {
		a.Metrics.Reloaded(false)
		var probs config.Problems
		if errors.As(err, &probs) {
			for _, p := range probs {
				a.Log.Error("config reload refused", "problem", p.String())
			}
		} else {
			a.Log.Error("config reload refused", "err", err)
		}
		a.Log.Warn("the config in force stays as it was", "file", path)
		a.Engine.Audit(ctx, actions.AuditEntry{Person: "infrabot", Event: "config-reload-refused", Detail: fmt.Sprintf("%s: %s", path, reloadError(err))})
		return err
	}
	a.Metrics.Reloaded(true)
	changes, later := describe(old, cfg)
	a.current.Store(cfg)
	a.Log.Info("config reloaded", "file", path, "changed", strings.Join(changes, "; "))
	if len(later) > 0 {
		a.Log.Warn("some changed sections take effect at the next restart", "sections", strings.Join(later, ", "))
	}
	detail := fmt.Sprintf("%s: %s", path, listOr(changes, "no change"))
	if len(later) > 0 {
		detail += "; at the next restart: " + strings.Join(later, ", ")
	}
	a.Engine.Audit(ctx, actions.AuditEntry{Person: "infrabot", Event: "config-reloaded", Detail: detail})
	return nil
}

// apply puts cfg in force. The CI sources are made first (a source that
// cannot be made refuses the config before anything changed). The
// environments module and the clouds take the new declarations next (an
// environment the engine does not route to yet harms nobody); then the
// engine's settings, which may refuse (an environment with work in
// progress cannot leave), and then the module is put back as it was.
// The health, CI jobs and digests modules come last, once the channels
// their checks, squads and digests name are in force; one that refuses
// puts everything back.
func (a *App) apply(ctx context.Context, old, cfg *config.Config) error {
	// The new config's secrets (a rotated cloud password) are redacted
	// before anything can use them, and the old ones stay redacted: what
	// is under way may still quote them. Kept even if the engine refuses
	// below: redacting one value too many leaks nothing.
	a.redact.Learn(cfg.SecretValues()...)
	var watches []cijobs.Watch
	if a.ci != nil {
		var err error
		if watches, err = a.watchesFrom(cfg); err != nil {
			return err
		}
	}
	a.Clouds.Reconfigure(cfg.Clouds)
	a.envs.Reconfigure(environmentsFrom(cfg))
	settings := func(c *config.Config) actions.Settings {
		return actions.Settings{
			Policy:           policyFrom(c),
			Environments:     slices.Collect(maps.Keys(c.Environments)),
			Channels:         channelsFrom(c),
			ApprovalsChannel: c.ApprovalsChannel,
		}
	}
	undo := func() {
		a.envs.Reconfigure(environmentsFrom(old))
		a.Clouds.Reconfigure(old.Clouds)
	}
	if err := a.Engine.Reconfigure(ctx, settings(cfg)); err != nil {
		undo()
		return err
	}
	err := a.reconfigureModules(ctx, cfg, watches)
	if err == nil {
		a.watches = watches
		return nil
	}
	// Back to the old config: it was in force a moment ago, so the
	// engine takes it again, and its CI sources are the ones in use.
	if rerr := a.reconfigureModules(ctx, old, a.watches); rerr != nil {
		a.Log.Error("putting the checks, CI jobs and digests of the config in force back failed", "err", rerr)
	}
	if rerr := a.Engine.Reconfigure(ctx, settings(old)); rerr != nil {
		a.Log.Error("putting the engine's settings of the config in force back failed", "err", rerr)
	}
	undo()
	return err
}

// reconfigureModules hands the health, CI jobs and digests modules the
// checks, squads, sources and digests of cfg; they keep their stored
// state and each kept job's schedule.
func (a *App) reconfigureModules(ctx context.Context, cfg *config.Config, watches []cijobs.Watch) error {
	if a.Health != nil {
		if err := a.Health.Reconfigure(ctx, checksFrom(cfg)); err != nil {
			return err
		}
	}
	if a.ci != nil {
		if err := a.ci.Reconfigure(squadsFrom(cfg), watches); err != nil {
			return err
		}
	}
	if a.digests != nil {
		if err := a.digests.Reconfigure(digestsFrom(cfg)); err != nil {
			return err
		}
	}
	return nil
}

func reloadError(err error) string {
	var probs config.Problems
	if errors.As(err, &probs) {
		return fmt.Sprintf("%d problems, first %s", len(probs), probs[0])
	}
	return actions.ErrorMessage(err)
}

// describe says what changed between two configs, by section and name
// (never a value: some are secrets), and which changed sections wait for
// a restart.
func describe(old, cfg *config.Config) (changes, later []string) {
	names := func(section string, a, b []string) {
		var added, removed []string
		for _, n := range b {
			if !slices.Contains(a, n) {
				added = append(added, "+"+n)
			}
		}
		for _, n := range a {
			if !slices.Contains(b, n) {
				removed = append(removed, "-"+n)
			}
		}
		if len(added)+len(removed) > 0 {
			changes = append(changes, section+" "+strings.Join(append(added, removed...), " "))
		}
	}
	keys := func(m any) []string {
		var out []string
		for _, k := range reflect.ValueOf(m).MapKeys() {
			out = append(out, k.String())
		}
		sort.Strings(out)
		return out
	}
	changed := func(section string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			changes = append(changes, section)
		}
	}
	// named says which of a section's names (sorted) were added or
	// removed, or, when none was, whether the section changed at all.
	named := func(section string, a, b []string, va, vb any) {
		names(section, a, b)
		if slices.Equal(a, b) {
			changed(section, va, vb)
		}
	}
	named("people", keys(old.People), keys(cfg.People), old.People, cfg.People)
	named("roles", keys(old.Roles), keys(cfg.Roles), old.Roles, cfg.Roles)
	changed("approvals", old.Approvals, cfg.Approvals)
	named("environments", keys(old.Environments), keys(cfg.Environments), old.Environments, cfg.Environments)
	// The deploy module and its SSH executors are made at start.
	deploySettings := func(c *config.Config) map[string][]any {
		out := map[string][]any{}
		for name, e := range c.Environments {
			out[name] = []any{e.SSH, e.Bootstrap, e.Deploy, e.Params}
		}
		return out
	}
	if !reflect.DeepEqual(deploySettings(old), deploySettings(cfg)) {
		later = append(later, "environments' ssh, bootstrap, deploy and params")
	}
	if c := checkChanges(old.Checks, cfg.Checks); c != "" {
		changes = append(changes, "checks ("+c+")")
	}
	changed("clouds", old.Clouds, cfg.Clouds)
	// Sorted, as keys are: sources reordered and changed are changed.
	sourceNames := func(c *config.Config) []string {
		var out []string
		for _, s := range c.CI {
			out = append(out, s.Name)
		}
		return slices.Sorted(slices.Values(out))
	}
	named("ci", sourceNames(old), sourceNames(cfg), old.CI, cfg.CI)
	named("squads", keys(old.Squads), keys(cfg.Squads), old.Squads, cfg.Squads)
	changed("digests", old.Digests, cfg.Digests)
	named("channels", keys(old.Channels), keys(cfg.Channels), old.Channels, cfg.Channels)
	changed("approvals_channel", old.ApprovalsChannel, cfg.ApprovalsChannel)
	changed("shutdown", old.Shutdown, cfg.Shutdown)
	for _, s := range []struct {
		name string
		a, b any
	}{
		{"storage", old.Storage, cfg.Storage}, {"http", old.HTTP, cfg.HTTP}, {"admin", old.Admin, cfg.Admin},
		{"log", old.Log, cfg.Log},
		{"slack", old.Slack, cfg.Slack}, {"discord", old.Discord, cfg.Discord},
		{"oncall", old.OnCall, cfg.OnCall}, {"pagerduty", old.PagerDuty, cfg.PagerDuty}, {"webhooks", old.Webhooks, cfg.Webhooks},
	} {
		if !reflect.DeepEqual(s.a, s.b) {
			later = append(later, s.name)
		}
	}
	return changes, later
}

// checkChanges names the checks added (+), removed (-) and changed (~)
// between two configs, "" when none is.
func checkChanges(old, cur []config.Check) string {
	byName := func(cs []config.Check) map[string]config.Check {
		m := map[string]config.Check{}
		for _, c := range cs {
			m[c.Name] = c
		}
		return m
	}
	a, b := byName(old), byName(cur)
	var out []string
	for _, c := range cur {
		if prev, ok := a[c.Name]; !ok {
			out = append(out, "+"+c.Name)
		} else if !reflect.DeepEqual(prev, c) {
			out = append(out, "~"+c.Name)
		}
	}
	for _, c := range old {
		if _, ok := b[c.Name]; !ok {
			out = append(out, "-"+c.Name)
		}
	}
	return strings.Join(out, " ")
}

func listOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, "; ")
}

// Reconfigure puts cfg in place of the clouds' declarations. A cloud
// whose declaration changed (a rotated password, another endpoint) is
// connected again at its next use; runs already going keep the
// connection they have.
func (c *Clouds) Reconfigure(cfg map[string]config.Cloud) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, conn := range c.conns {
		if next, ok := cfg[name]; ok && reflect.DeepEqual(next, c.cfg[name]) {
			continue
		}
		// A built-in simulator may serve a run still going: it is closed
		// with the others at Close.
		c.retired = append(c.retired, conn)
		delete(c.conns, name)
	}
	c.cfg = cfg
}
